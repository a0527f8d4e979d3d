/* handshake.h - the opening handshake's checks and Sec-WebSocket-Accept.
 *
 * Protocol-neutral: the HTTP/1.1 Upgrade (RFC 6455 section 4.2) and the
 * HTTP/2 extended CONNECT (RFC 8441 section 5) both come here with the
 * request's header slices; each protocol layer writes its own answer.
 */
#ifndef FA_WS_HANDSHAKE_H
#define FA_WS_HANDSHAKE_H

#include <stddef.h>

#include "../common/http.h"

/* base64 of a SHA-1 digest: 28 characters. */
#define FA_WS_ACCEPT_LEN 28

/* The outcome of checking a handshake request. */
typedef struct fa_ws_handshake {
    int status;             /* 0: acceptable; else 400 or 426 to answer */
    const char *error;      /* why, for the answer's body */
    const char *key;        /* Sec-WebSocket-Key (HTTP/1.1 only) */
    size_t key_len;
    const char *protocols;  /* Sec-WebSocket-Protocol as sent (may be NULL) */
    size_t protocols_len;
    const char *extensions; /* Sec-WebSocket-Extensions as sent (may be NULL) */
    size_t extensions_len;
} fa_ws_handshake;

/* Case-insensitive search of a comma-separated header list for a token
 * ("Connection: keep-alive, Upgrade" has "upgrade"). */
int fa_ws_has_token(const char *value, size_t len, const char *token);

/* True when an HTTP/1.1 request asks for a WebSocket (Upgrade lists
 * "websocket"); the request then goes through fa_ws_check_h1. */
int fa_ws_is_upgrade_h1(const fa_request *req);

/* Checks an HTTP/1.1 upgrade request (headers lowercase): GET, HTTP/1.1,
 * Connection: upgrade, Sec-WebSocket-Key of 16 base64-encoded bytes,
 * Sec-WebSocket-Version 13.  A wrong version is 426 (answered with
 * Sec-WebSocket-Version: 13), anything else 400. */
void fa_ws_check_h1(const fa_request *req, fa_ws_handshake *hs);

/* Checks an HTTP/2 extended CONNECT (:protocol websocket already seen):
 * Sec-WebSocket-Version 13; no key (RFC 8441 section 5.1). */
void fa_ws_check_h2(const fa_request *req, fa_ws_handshake *hs);

/* Computes Sec-WebSocket-Accept for a key: base64(SHA-1(key + GUID)).
 * Writes FA_WS_ACCEPT_LEN characters and a NUL into out.  Returns 0, or -1
 * if the digest failed. */
int fa_ws_accept_key(const char *key, size_t key_len, char out[FA_WS_ACCEPT_LEN + 1]);

/* Standard base64 with padding; out has room for 4 * ((n + 2) / 3) + 1. */
size_t fa_ws_base64(const unsigned char *in, size_t n, char *out);

#endif
