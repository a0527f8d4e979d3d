/* handshake.c - checks of the opening handshake and the accept key.
 *
 * SHA-1 comes from OpenSSL's libcrypto (EVP_Digest): the accept key is not
 * a security boundary, but a library digest is one less thing to get wrong.
 */
#include "handshake.h"

#include <openssl/evp.h>
#include <string.h>

static const char fa_ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static int fa_ws_lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

int fa_ws_has_token(const char *value, size_t len, const char *token)
{
    size_t tl = strlen(token), i = 0;
    while (i < len) {
        while (i < len && (value[i] == ' ' || value[i] == '\t' || value[i] == ','))
            i++;
        size_t start = i;
        while (i < len && value[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (value[end - 1] == ' ' || value[end - 1] == '\t'))
            end--;
        if (end - start == tl) {
            size_t k = 0;
            while (k < tl && fa_ws_lower((unsigned char)value[start + k]) == token[k])
                k++;
            if (k == tl)
                return 1;
        }
    }
    return 0;
}

static const fa_header *fa_ws_find(const fa_request *req, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < req->num_headers; i++) {
        const fa_header *h = &req->headers[i];
        if (h->name_len == n && memcmp(h->name, name, n) == 0)
            return h;
    }
    return NULL;
}

/* RFC 6455 11.3.1 / 11.3.5: Sec-WebSocket-Key and Sec-WebSocket-Version
 * MUST NOT appear more than once in a handshake request. */
static int fa_ws_more_than_once(const fa_request *req, const char *name)
{
    size_t n = strlen(name), count = 0;
    for (size_t i = 0; i < req->num_headers; i++)
        if (req->headers[i].name_len == n && memcmp(req->headers[i].name, name, n) == 0)
            count++;
    return count > 1;
}

int fa_ws_is_upgrade_h1(const fa_request *req)
{
    const fa_header *h = fa_ws_find(req, "upgrade");
    return h && fa_ws_has_token(h->value, h->value_len, "websocket");
}

/* The key must be base64 of exactly 16 bytes: 22 characters and "==". */
static int fa_ws_key_ok(const char *k, size_t n)
{
    if (n != 24 || k[22] != '=' || k[23] != '=')
        return 0;
    for (size_t i = 0; i < 22; i++) {
        unsigned char c = (unsigned char)k[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return 0;
    }
    /* The last character before the padding carries 2 bits of the 16th
     * byte and 4 zero bits: only A, Q, g, w fit. */
    return k[21] == 'A' || k[21] == 'Q' || k[21] == 'g' || k[21] == 'w';
}

static void fa_ws_common(const fa_request *req, fa_ws_handshake *hs)
{
    const fa_header *h;
    if ((h = fa_ws_find(req, "sec-websocket-protocol")) != NULL) {
        hs->protocols = h->value;
        hs->protocols_len = h->value_len;
    }
    if ((h = fa_ws_find(req, "sec-websocket-extensions")) != NULL) {
        hs->extensions = h->value;
        hs->extensions_len = h->value_len;
    }
    if (fa_ws_more_than_once(req, "sec-websocket-version")) {
        hs->status = 400;
        hs->error = "Sec-WebSocket-Version must appear once";
        return;
    }
    h = fa_ws_find(req, "sec-websocket-version");
    if (!h || h->value_len != 2 || memcmp(h->value, "13", 2) != 0) {
        hs->status = 426;
        hs->error = "Sec-WebSocket-Version must be 13";
    }
}

void fa_ws_check_h1(const fa_request *req, fa_ws_handshake *hs)
{
    memset(hs, 0, sizeof(*hs));
    if (req->method_len != 3 || memcmp(req->method, "GET", 3) != 0) {
        hs->status = 400;
        hs->error = "a WebSocket handshake must be a GET";
        return;
    }
    if (req->http_version != 11) {
        hs->status = 400;
        hs->error = "a WebSocket handshake needs HTTP/1.1";
        return;
    }
    const fa_header *h = fa_ws_find(req, "connection");
    if (!h || !fa_ws_has_token(h->value, h->value_len, "upgrade")) {
        hs->status = 400;
        hs->error = "Connection must list Upgrade";
        return;
    }
    h = fa_ws_find(req, "sec-websocket-key");
    if (!h || !fa_ws_key_ok(h->value, h->value_len) ||
        fa_ws_more_than_once(req, "sec-websocket-key")) {
        hs->status = 400;
        hs->error = "Sec-WebSocket-Key must be 16 base64-encoded bytes";
        return;
    }
    hs->key = h->value;
    hs->key_len = h->value_len;
    fa_ws_common(req, hs);
}

void fa_ws_check_h2(const fa_request *req, fa_ws_handshake *hs)
{
    memset(hs, 0, sizeof(*hs));
    fa_ws_common(req, hs);
}

size_t fa_ws_base64(const unsigned char *in, size_t n, char *out)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = ((unsigned)in[i] << 16) | ((unsigned)in[i + 1] << 8) | in[i + 2];
        out[o++] = tbl[v >> 18];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = tbl[(v >> 6) & 63];
        out[o++] = tbl[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = tbl[v >> 18];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        unsigned v = ((unsigned)in[i] << 16) | ((unsigned)in[i + 1] << 8);
        out[o++] = tbl[v >> 18];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = tbl[(v >> 6) & 63];
        out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

int fa_ws_accept_key(const char *key, size_t key_len, char out[FA_WS_ACCEPT_LEN + 1])
{
    char joined[128];
    size_t glen = sizeof(fa_ws_guid) - 1;
    if (key_len > sizeof(joined) - glen)
        return -1;
    memcpy(joined, key, key_len);
    memcpy(joined + key_len, fa_ws_guid, glen);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(joined, key_len + glen, md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20)
        return -1;
    fa_ws_base64(md, mdlen, out);
    return 0;
}
