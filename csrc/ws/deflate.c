/* deflate.c - permessage-deflate negotiation and bounded (de)compression. */
#include "deflate.h"

#include <stdio.h>
#include <string.h>

/* ---- negotiation --------------------------------------------------------- */

static int fa_ws_ieq(const char *a, size_t n, const char *lit)
{
    size_t m = strlen(lit);
    if (n != m)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = a[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c + 32);
        if (c != lit[i])
            return 0;
    }
    return 1;
}

static void fa_ws_trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

/* Window bits as a parameter value: 1-2 digits, 8..15, possibly quoted. */
static int fa_ws_bits(const char *v, size_t n)
{
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        v++;
        n -= 2;
    }
    if (n == 0 || n > 2)
        return -1;
    int x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        x = x * 10 + (v[i] - '0');
    }
    if (n == 2 && v[0] == '0')
        return -1;
    return x >= 8 && x <= 15 ? x : -1;
}

/* One offer: "permessage-deflate; a; b=1".  Returns 1 with *out filled when
 * we can accept it. */
static int fa_ws_offer(const char *s, size_t n, const fa_ws_deflate_config *cfg,
                       fa_ws_deflate_params *out, int *client_bits_offered)
{
    size_t i = 0;
    int first = 1, seen_snct = 0, seen_cnct = 0, seen_smwb = 0, seen_cmwb = 0;
    fa_ws_deflate_params p = {0, 0, 15, 15};
    int client_bits = 0; /* 0: not offered; -1: offered without a value */
    while (i <= n) {
        size_t start = i;
        while (i < n && s[i] != ';')
            i++;
        const char *part = s + start;
        size_t plen = i - start;
        i++; /* past ';' (or the end) */
        fa_ws_trim(&part, &plen);
        if (first) {
            if (!fa_ws_ieq(part, plen, "permessage-deflate"))
                return 0;
            first = 0;
            continue;
        }
        const char *eq = memchr(part, '=', plen);
        const char *name = part, *val = NULL;
        size_t nlen = plen, vlen = 0;
        if (eq) {
            nlen = (size_t)(eq - part);
            val = eq + 1;
            vlen = plen - nlen - 1;
            fa_ws_trim(&name, &nlen);
            fa_ws_trim(&val, &vlen);
        }
        if (fa_ws_ieq(name, nlen, "server_no_context_takeover")) {
            if (seen_snct++ || val)
                return 0;
            p.server_no_context_takeover = 1;
        } else if (fa_ws_ieq(name, nlen, "client_no_context_takeover")) {
            if (seen_cnct++ || val)
                return 0;
            p.client_no_context_takeover = 1;
        } else if (fa_ws_ieq(name, nlen, "server_max_window_bits")) {
            int b = val ? fa_ws_bits(val, vlen) : -1;
            if (seen_smwb++ || b < 0)
                return 0;
            /* zlib cannot make a raw deflate stream with a 256-byte window. */
            if (b < 9)
                return 0;
            p.server_max_window_bits = b;
        } else if (fa_ws_ieq(name, nlen, "client_max_window_bits")) {
            int b = val ? fa_ws_bits(val, vlen) : -1;
            if (seen_cmwb++ || (val && b < 0))
                return 0;
            client_bits = val ? b : -1;
        } else {
            return 0; /* unknown parameter: decline this offer */
        }
    }
    if (first)
        return 0;
    if (cfg->server_no_context_takeover)
        p.server_no_context_takeover = 1;
    if (cfg->server_max_window_bits >= 9 && cfg->server_max_window_bits < p.server_max_window_bits)
        p.server_max_window_bits = cfg->server_max_window_bits;
    /* The client's window: 15 unless it let us choose (client_max_window_bits
     * offered) and we want smaller, or it named a smaller one itself. */
    p.client_max_window_bits = 15;
    if (client_bits > 0)
        p.client_max_window_bits = client_bits;
    if (client_bits != 0 && cfg->client_max_window_bits >= 8 &&
        cfg->client_max_window_bits < p.client_max_window_bits)
        p.client_max_window_bits = cfg->client_max_window_bits;
    *client_bits_offered = client_bits != 0;
    *out = p;
    return 1;
}

int fa_ws_deflate_negotiate(const char *offers, size_t len, const fa_ws_deflate_config *cfg,
                            fa_ws_deflate_params *out, char *resp, size_t cap)
{
    size_t i = 0;
    while (offers && i < len) {
        size_t start = i;
        int quoted = 0;
        while (i < len && (quoted || offers[i] != ',')) {
            if (offers[i] == '"')
                quoted = !quoted;
            i++;
        }
        int cbits = 0;
        if (fa_ws_offer(offers + start, i - start, cfg, out, &cbits)) {
            int n = snprintf(resp, cap, "permessage-deflate%s%s", out->server_no_context_takeover
                                 ? "; server_no_context_takeover" : "",
                             out->client_no_context_takeover ? "; client_no_context_takeover" : "");
            if (n < 0 || (size_t)n >= cap)
                return 0;
            if (out->server_max_window_bits < 15) {
                int m = snprintf(resp + n, cap - (size_t)n, "; server_max_window_bits=%d",
                                 out->server_max_window_bits);
                if (m < 0 || (size_t)m >= cap - (size_t)n)
                    return 0;
                n += m;
            }
            if (cbits && out->client_max_window_bits < 15) {
                int m = snprintf(resp + n, cap - (size_t)n, "; client_max_window_bits=%d",
                                 out->client_max_window_bits);
                if (m < 0 || (size_t)m >= cap - (size_t)n)
                    return 0;
            }
            return 1;
        }
        i++;
    }
    return 0;
}

/* ---- compression --------------------------------------------------------- */

int fa_ws_deflate_init(fa_ws_deflate *d, const fa_ws_deflate_params *params)
{
    memset(d, 0, sizeof(*d));
    d->params = *params;
    /* Inflating with a window at least as large as the peer's is always
     * safe; zlib's raw inflate takes 8..15 but 9 is the smallest deflate
     * makes, so 8 is read with 9. */
    int ibits = params->client_max_window_bits < 9 ? 9 : params->client_max_window_bits;
    if (inflateInit2(&d->in, -ibits) != Z_OK)
        return -1;
    d->in_ready = 1;
    if (deflateInit2(&d->out, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -params->server_max_window_bits,
                     8, Z_DEFAULT_STRATEGY) != Z_OK) {
        fa_ws_deflate_free(d);
        return -1;
    }
    d->out_ready = 1;
    return 0;
}

void fa_ws_deflate_free(fa_ws_deflate *d)
{
    if (d->in_ready)
        inflateEnd(&d->in);
    if (d->out_ready)
        deflateEnd(&d->out);
    d->in_ready = d->out_ready = 0;
}

#define FA_WS_ZCHUNK 16384

static int fa_ws_inflate_some(fa_ws_deflate *d, const uint8_t *in, size_t len, fa_buf *out,
                              size_t max_out, unsigned *close_code)
{
    z_stream *z = &d->in;
    z->next_in = (Bytef *)(uintptr_t)in;
    z->avail_in = (uInt)len;
    for (;;) {
        /* Never offer zlib more room than the limit leaves (+1 byte, so
         * that reaching past it is seen). */
        size_t room = max_out - out->len + 1;
        if (room > FA_WS_ZCHUNK)
            room = FA_WS_ZCHUNK;
        if (fa_buf_reserve(out, room) != 0) {
            *close_code = 1011;
            return -1;
        }
        z->next_out = (Bytef *)out->data + out->len;
        z->avail_out = (uInt)room;
        int rc = inflate(z, Z_SYNC_FLUSH);
        out->len += room - z->avail_out;
        if (out->len > max_out) {
            *close_code = 1009;
            return -1;
        }
        if (rc == Z_STREAM_END) {
            /* A final block ends zlib's stream; the next bytes (if any)
             * start a new one. */
            inflateReset(z);
            if (z->avail_in == 0)
                return 0;
            continue;
        }
        if (rc == Z_BUF_ERROR || (rc == Z_OK && z->avail_in == 0 && z->avail_out != 0))
            return 0; /* all input used */
        if (rc != Z_OK) {
            *close_code = rc == Z_MEM_ERROR ? 1011 : 1007;
            return -1;
        }
    }
}

int fa_ws_inflate(fa_ws_deflate *d, const uint8_t *in, size_t len, int fin, fa_buf *out,
                  size_t max_out, unsigned *close_code)
{
    static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
    if (len && fa_ws_inflate_some(d, in, len, out, max_out, close_code) != 0)
        return -1;
    if (fin) {
        if (fa_ws_inflate_some(d, tail, sizeof(tail), out, max_out, close_code) != 0)
            return -1;
        if (d->params.client_no_context_takeover)
            inflateReset(&d->in);
    }
    return 0;
}

int fa_ws_deflate_message(fa_ws_deflate *d, const uint8_t *in, size_t len, fa_buf *out)
{
    z_stream *z = &d->out;
    size_t start = out->len;
    z->next_in = (Bytef *)(uintptr_t)in;
    z->avail_in = (uInt)len;
    for (;;) {
        size_t room = deflateBound(z, z->avail_in) + 16;
        if (fa_buf_reserve(out, room) != 0)
            return -1;
        z->next_out = (Bytef *)out->data + out->len;
        z->avail_out = (uInt)room;
        int rc = deflate(z, Z_SYNC_FLUSH);
        out->len += room - z->avail_out;
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            return -1;
        if (z->avail_in == 0 && z->avail_out != 0)
            break;
    }
    /* Section 7.2.1: drop the sync flush's empty stored block tail. */
    if (out->len - start >= 4 && memcmp(out->data + out->len - 4, "\x00\x00\xff\xff", 4) == 0)
        out->len -= 4;
    if (out->len == start) {
        /* an empty message is sent as one 0x00 (section 7.2.3.6) */
        if (fa_buf_append(out, "\x00", 1) != 0)
            return -1;
    }
    if (d->params.server_no_context_takeover)
        deflateReset(z);
    return 0;
}
