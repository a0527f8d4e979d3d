/* deflate.h - permessage-deflate (RFC 7692) on zlib.
 *
 * Negotiation reads the client's Sec-WebSocket-Extensions offers and writes
 * the response header value; a compressor/decompressor pair then handles
 * whole messages.  Inflating is bounded: a message that would inflate past
 * the limit fails with 1009 before the excess is kept (a decompression bomb
 * costs at most the limit plus one output chunk).
 */
#ifndef FA_WS_DEFLATE_H
#define FA_WS_DEFLATE_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "../common/buf.h"

/* What the server is willing to do. */
typedef struct fa_ws_deflate_config {
    int server_max_window_bits;     /* 9..15: the window we compress with */
    int client_max_window_bits;     /* 8..15: asked of the client when it allows it */
    int server_no_context_takeover; /* reset our compressor after each message */
} fa_ws_deflate_config;

/* What was agreed with one client. */
typedef struct fa_ws_deflate_params {
    int server_no_context_takeover;
    int client_no_context_takeover;
    int server_max_window_bits; /* 9..15 */
    int client_max_window_bits; /* 8..15 */
} fa_ws_deflate_params;

/* Picks the first permessage-deflate offer of the header value we can
 * accept (an offer with an unknown, repeated or out-of-range parameter is
 * declined, RFC 7692 section 5) and writes the response value into resp
 * (NUL-terminated, at most cap bytes).  Returns 1 when accepted, 0 when no
 * offer fits (the connection then runs without compression). */
int fa_ws_deflate_negotiate(const char *offers, size_t len, const fa_ws_deflate_config *cfg,
                            fa_ws_deflate_params *out, char *resp, size_t cap);

typedef struct fa_ws_deflate {
    z_stream in, out;
    fa_ws_deflate_params params;
    unsigned in_ready : 1, out_ready : 1;
} fa_ws_deflate;

/* Sets up both directions (zlib allocates its windows here, once).
 * Returns 0, or -1 when zlib refused (out of memory). */
int fa_ws_deflate_init(fa_ws_deflate *d, const fa_ws_deflate_params *params);
void fa_ws_deflate_free(fa_ws_deflate *d);

/* Inflates the next piece of a compressed message, appending to out; `fin`
 * marks the message's last piece (the 00 00 ff ff tail is added).  Returns 0,
 * or -1 with *close_code 1009 (out would pass max_out bytes) or 1007
 * (corrupt data) or 1011 (out of memory). */
int fa_ws_inflate(fa_ws_deflate *d, const uint8_t *in, size_t len, int fin, fa_buf *out,
                  size_t max_out, unsigned *close_code);

/* Compresses a whole message, appending the payload to send with RSV1 (the
 * sync-flush tail removed) to out.  Returns 0, or -1 (out of memory). */
int fa_ws_deflate_message(fa_ws_deflate *d, const uint8_t *in, size_t len, fa_buf *out);

#endif
