/* fuzz_base64url.c - libFuzzer target for fa_b64url_decode()
 * (csrc/common/base64url.c), which decodes the HTTP2-Settings field of an
 * `Upgrade: h2c` request.
 *
 * The first input byte is the output buffer's size (0-255), the rest the
 * field.  The buffer is allocated at exactly that size, so ASan catches a
 * write past it.  The result is checked against a second decoder written
 * differently (a 256-entry table, whole 4-character groups, then the tail),
 * so a wrong byte, length or verdict aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../csrc/common/base64url.h"

static int8_t ref_table[256];
static int ref_ready;

static void ref_init(void)
{
    static const char std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    memset(ref_table, -1, sizeof(ref_table));
    for (int i = 0; i < 62; i++)
        ref_table[(unsigned char)std[i]] = (int8_t)i;
    ref_table['-'] = ref_table['+'] = 62;
    ref_table['_'] = ref_table['/'] = 63;
    ref_ready = 1;
}

/* Returns the decoded length, or -1 (bad character, or more than cap bytes). */
static long ref_decode(const uint8_t *s, size_t n, uint8_t *out, size_t cap)
{
    while (n > 0 && s[n - 1] == '=')
        n--;
    for (size_t i = 0; i < n; i++)
        if (ref_table[s[i]] < 0)
            return -1;
    size_t whole = n / 4, rest = n % 4;
    size_t len = whole * 3 + (rest == 3 ? 2 : rest == 2 ? 1 : 0);
    if (len > cap)
        return -1;
    size_t o = 0;
    for (size_t g = 0; g < whole; g++) {
        const uint8_t *q = s + 4 * g;
        uint32_t v = (uint32_t)ref_table[q[0]] << 18 | (uint32_t)ref_table[q[1]] << 12 |
                     (uint32_t)ref_table[q[2]] << 6 | (uint32_t)ref_table[q[3]];
        out[o++] = (uint8_t)(v >> 16);
        out[o++] = (uint8_t)(v >> 8);
        out[o++] = (uint8_t)v;
    }
    const uint8_t *q = s + 4 * whole;
    if (rest >= 2) {
        uint32_t v = (uint32_t)ref_table[q[0]] << 18 | (uint32_t)ref_table[q[1]] << 12 |
                     (rest == 3 ? (uint32_t)ref_table[q[2]] << 6 : 0);
        out[o++] = (uint8_t)(v >> 16);
        if (rest == 3)
            out[o++] = (uint8_t)(v >> 8);
    }
    return (long)o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (!ref_ready)
        ref_init();
    size_t cap = data[0];
    const uint8_t *s = data + 1;
    size_t n = size - 1;
    uint8_t *got = malloc(cap ? cap : 1), *want = malloc(cap ? cap : 1);
    if (got == NULL || want == NULL)
        abort();
    long g = fa_b64url_decode((const char *)s, n, got, cap);
    long w = ref_decode(s, n, want, cap);
    if (g != w || (g > 0 && memcmp(got, want, (size_t)g) != 0))
        abort();
    free(got);
    free(want);
    return 0;
}
