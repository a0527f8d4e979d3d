/* reader.h - from received bytes to WebSocket events: whole messages
 * (fragments joined, permessage-deflate inflated, text checked), control
 * frames, or the error to close with.
 *
 * No I/O: the caller (ws/conn.c; the fuzzer) owns the bytes and hands in
 * what it has; fa_ws_reader_next() consumes up to the next event and says
 * how far it got.  A message that is one uncompressed frame already wholly
 * in the buffer comes back as a slice of it (unmasked in place), with no
 * copy; anything else is assembled in the reader's buffer, which the event
 * borrows until the next call.
 */
#ifndef FA_WS_READER_H
#define FA_WS_READER_H

#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "deflate.h"
#include "frame.h"

enum {
    FA_WS_EV_NONE = 0, /* everything given was consumed: read more */
    FA_WS_EV_MESSAGE,  /* a whole text or binary message */
    FA_WS_EV_CONTROL,  /* a ping, pong or close frame (payload unmasked) */
    FA_WS_EV_ERROR,    /* fail the WebSocket with close_code */
};

typedef struct fa_ws_event {
    uint8_t opcode;        /* MESSAGE: FA_WS_OP_TEXT/BINARY; CONTROL: its opcode */
    const uint8_t *data;   /* payload (valid until the next call) */
    size_t len;
    unsigned close_code;   /* ERROR: 1002, 1007, 1009 or 1011 */
    const char *why;       /* ERROR: for the close reason and the log */
} fa_ws_event;

typedef struct fa_ws_reader {
    fa_ws_parser p;
    fa_ws_deflate *z;       /* permessage-deflate when negotiated (not owned) */
    uint64_t max_message;   /* bytes of an inflated message; 0: no limit */
    fa_buf msg;             /* the message being assembled */
    uint8_t msg_op, msg_z;
    uint32_t msg_utf8;      /* UTF-8 state of inflated text */
    uint8_t ctl[FA_WS_MAX_CONTROL];
    size_t ctl_len;
    unsigned in_frame : 1;  /* a head was parsed; payload follows */
    unsigned drop_data : 1; /* closing: data frames are parsed, not kept */
} fa_ws_reader;

/* A server-side reader (client frames must be masked) with the limits. */
void fa_ws_reader_init(fa_ws_reader *r, uint64_t max_message, uint64_t max_frame);
/* Turns permessage-deflate on (RSV1 allowed on first frames). */
void fa_ws_reader_set_deflate(fa_ws_reader *r, fa_ws_deflate *z);
void fa_ws_reader_free(fa_ws_reader *r);

/* Consumes bytes of buf[*pos..len) up to the next event, advancing *pos.
 * Returns FA_WS_EV_*; after FA_WS_EV_ERROR the reader must not be fed
 * again. */
int fa_ws_reader_next(fa_ws_reader *r, uint8_t *buf, size_t len, size_t *pos, fa_ws_event *ev);

#endif
