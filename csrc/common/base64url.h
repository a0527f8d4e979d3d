/* base64url.h - base64url decoding (RFC 4648 section 5), for the
 * HTTP2-Settings field of an `Upgrade: h2c` request (RFC 9113 3.2.1), whose
 * bytes come from the network.  No allocation, no I/O. */
#ifndef FA_BASE64URL_H
#define FA_BASE64URL_H

#include <stddef.h>
#include <stdint.h>

/* Decodes s[0..n) into out (at most out_size bytes); trailing '=' padding
 * is optional, bits left over past the last whole byte are dropped.
 * Returns the number of bytes written, or -1 when s holds a character
 * outside the alphabet ('=' included, except at the end) or the result
 * would not fit. */
long fa_b64url_decode(const char *s, size_t n, uint8_t *out, size_t out_size);

#endif
