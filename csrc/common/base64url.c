/* base64url.c - the decoder of HTTP2-Settings (base64url.h). */
#include "base64url.h"

/* Either alphabet's 62nd and 63rd characters are taken (RFC 4648 sections
 * 4 and 5): some clients send HTTP2-Settings in the plain one. */
static int fa_b64url_value(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '-' || ch == '+')
        return 62;
    if (ch == '_' || ch == '/')
        return 63;
    return -1;
}

long fa_b64url_decode(const char *s, size_t n, uint8_t *out, size_t out_size)
{
    while (n > 0 && s[n - 1] == '=')
        n--;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = fa_b64url_value((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= out_size)
                return -1;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return (long)o;
}
