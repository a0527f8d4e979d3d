/* fuzz_ws_handshake.c - libFuzzer target for the WebSocket opening
 * handshake: csrc/ws/handshake.c (the checks of an HTTP/1.1 Upgrade or an
 * HTTP/2 extended CONNECT, Sec-WebSocket-Accept) and the permessage-deflate
 * negotiation of csrc/ws/deflate.c (Sec-WebSocket-Extensions offers).
 *
 * Input: byte 0 picks the protocol (bit 0: HTTP/2), the method (bits 1-2:
 * GET, CONNECT, POST, HEAD) and the HTTP version (bit 3: 1.0 instead of 1.1);
 * byte 1 the server's deflate configuration; byte 2 the size of the buffer
 * the response header is written into; the rest is header lines
 * "name:value", one per '\n', names folded to lower case (as the protocol
 * layers hand them over), each name and value in a block of its exact size
 * so ASan sees a read past it.
 *
 * Checked: a status of 0, 400 or 426 with an error text exactly when not 0;
 * the key, protocols and extensions the checks return are slices of the
 * request's own header values; an accepted HTTP/1.1 key gives a 28-character
 * base64 accept value; an accepted deflate offer gives parameters in range
 * and a response value that fits its buffer, and a message compressed with
 * the agreed server parameters inflates back to itself (twice: with context
 * takeover the second message uses the first one's window).  A broken rule
 * calls __builtin_trap().  Shares fuzz/corpus/ws with the frame targets and
 * has seeds of its own in fuzz/corpus/ws-handshake/.
 */
#include "../csrc/ws/deflate.h"
#include "../csrc/ws/handshake.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FZ_CHECK(cond)                                                       \
    do {                                                                     \
        if (!(cond))                                                         \
            __builtin_trap();                                                \
    } while (0)

#define FZ_MAX_HEADERS 24

/* True when [p, p+n) lies inside one of the request's header values. */
static int fz_in_values(const fa_request *req, const char *p, size_t n)
{
    for (size_t i = 0; i < req->num_headers; i++) {
        const fa_header *h = &req->headers[i];
        if (p >= h->value && p + n <= h->value + h->value_len)
            return 1;
    }
    return 0;
}

static int fz_b64(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/' || c == '=';
}

/* A message compressed with the agreed server parameters must inflate back
 * with a decompressor whose client side is those parameters. */
static void fz_round_trip(const fa_ws_deflate_params *agreed, const uint8_t *msg, size_t n)
{
    fa_ws_deflate server, peer;
    fa_ws_deflate_params mirror = *agreed;
    mirror.client_max_window_bits = agreed->server_max_window_bits;
    mirror.client_no_context_takeover = agreed->server_no_context_takeover;
    if (fa_ws_deflate_init(&server, agreed) < 0)
        return; /* out of memory */
    if (fa_ws_deflate_init(&peer, &mirror) < 0) {
        fa_ws_deflate_free(&server);
        return;
    }
    for (int round = 0; round < 2; round++) {
        fa_buf z, back;
        memset(&z, 0, sizeof z);
        memset(&back, 0, sizeof back);
        unsigned code = 0;
        if (fa_ws_deflate_message(&server, msg, n, &z) == 0) {
            FZ_CHECK(fa_ws_inflate(&peer, (const uint8_t *)z.data, z.len, 1, &back, n + 1, &code) == 0);
            FZ_CHECK(back.len == n && (n == 0 || memcmp(back.data, msg, n) == 0));
        }
        fa_buf_free(&z);
        fa_buf_free(&back);
    }
    fa_ws_deflate_free(&server);
    fa_ws_deflate_free(&peer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    uint8_t mode = data[0], dcfg = data[1], capb = data[2];
    const char *p = (const char *)data + 3, *end = (const char *)data + size;
    static const char *const methods[] = {"GET", "CONNECT", "POST", "HEAD"};

    fa_header headers[FZ_MAX_HEADERS];
    char *blocks[2 * FZ_MAX_HEADERS];
    size_t nh = 0, nb = 0;
    while (p < end && nh < FZ_MAX_HEADERS) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        const char *colon = memchr(p, ':', (size_t)(line_end - p));
        if (colon != NULL) {
            size_t name_len = (size_t)(colon - p), value_len = (size_t)(line_end - colon - 1);
            char *name = malloc(name_len ? name_len : 1), *value = malloc(value_len ? value_len : 1);
            FZ_CHECK(name != NULL && value != NULL);
            for (size_t i = 0; i < name_len; i++)
                name[i] = (p[i] >= 'A' && p[i] <= 'Z') ? (char)(p[i] + 32) : p[i];
            memcpy(value, colon + 1, value_len);
            blocks[nb++] = name;
            blocks[nb++] = value;
            headers[nh].name = name;
            headers[nh].name_len = name_len;
            headers[nh].value = value;
            headers[nh].value_len = value_len;
            nh++;
        }
        p = nl ? nl + 1 : end;
    }

    fa_request req;
    memset(&req, 0, sizeof req);
    req.method = methods[(mode >> 1) & 3];
    req.method_len = strlen(req.method);
    req.path = "/ws";
    req.path_len = 3;
    req.query = "";
    req.body = "";
    req.headers = headers;
    req.num_headers = nh;
    int h2 = mode & 1;
    req.http_version = h2 ? 20 : (mode & 8) ? 10 : 11;

    fa_ws_handshake hs;
    memset(&hs, 0, sizeof hs);
    if (h2) {
        fa_ws_check_h2(&req, &hs);
    } else {
        FZ_CHECK(fa_ws_is_upgrade_h1(&req) == 0 || fa_ws_is_upgrade_h1(&req) == 1);
        fa_ws_check_h1(&req, &hs);
    }
    FZ_CHECK(hs.status == 0 || hs.status == 400 || hs.status == 426);
    FZ_CHECK((hs.status != 0) == (hs.error != NULL));
    if (hs.protocols != NULL)
        FZ_CHECK(fz_in_values(&req, hs.protocols, hs.protocols_len));
    if (hs.extensions != NULL)
        FZ_CHECK(fz_in_values(&req, hs.extensions, hs.extensions_len));
    if (hs.status == 0 && !h2) {
        FZ_CHECK(hs.key != NULL && fz_in_values(&req, hs.key, hs.key_len));
        char accept[FA_WS_ACCEPT_LEN + 1];
        FZ_CHECK(fa_ws_accept_key(hs.key, hs.key_len, accept) == 0);
        FZ_CHECK(strlen(accept) == FA_WS_ACCEPT_LEN);
        for (size_t i = 0; i < FA_WS_ACCEPT_LEN; i++)
            FZ_CHECK(fz_b64(accept[i]));
    }
    for (size_t i = 0; i < nh; i++)
        (void)fa_ws_has_token(headers[i].value, headers[i].value_len, "upgrade");

    if (hs.extensions != NULL) {
        fa_ws_deflate_config cfg = {
            .server_max_window_bits = 9 + dcfg % 7,
            .client_max_window_bits = 8 + (dcfg >> 3) % 8,
            .server_no_context_takeover = (dcfg >> 6) & 1,
        };
        size_t cap = capb == 0 ? 512 : capb;
        char *resp = malloc(cap);
        FZ_CHECK(resp != NULL);
        memset(resp, 'x', cap);
        fa_ws_deflate_params agreed;
        int ok = fa_ws_deflate_negotiate(hs.extensions, hs.extensions_len, &cfg, &agreed, resp, cap);
        FZ_CHECK(ok == 0 || ok == 1);
        if (ok) {
            FZ_CHECK(memchr(resp, '\0', cap) != NULL);
            FZ_CHECK(agreed.server_max_window_bits >= 9 && agreed.server_max_window_bits <= 15);
            FZ_CHECK(agreed.client_max_window_bits >= 8 && agreed.client_max_window_bits <= 15);
            FZ_CHECK(agreed.server_max_window_bits <= cfg.server_max_window_bits);
            if (cfg.server_no_context_takeover)
                FZ_CHECK(agreed.server_no_context_takeover);
            fz_round_trip(&agreed, data, size);
        }
        free(resp);
    }
    for (size_t i = 0; i < nb; i++)
        free(blocks[i]);
    return 0;
}
