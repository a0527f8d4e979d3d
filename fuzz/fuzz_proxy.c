/* fuzz_proxy.c - libFuzzer target for csrc/server/proxy.c.
 *
 * The input is split at its first NUL: the part before is a
 * forwarded_allow_ips list (parsed; on failure a fixed list is used), the
 * rest is header fields, one per line, "name: value" (names as given: the
 * protocol layers lowercase them, the fuzzer may not).  Contracts checked:
 * results are slices inside the header values, ports are 0..65535, the
 * scheme is one of the three, a forwarded client is never empty, resolve
 * gives the same answer twice, and for X-Forwarded-For alone "*" finds a
 * client whenever the list does.  A broken contract calls __builtin_trap().
 */
#include "../csrc/server/proxy.h"

#include <stdint.h>
#include <string.h>

#define FA_F_CHECK(cond)       \
    do {                       \
        if (!(cond))           \
            __builtin_trap();  \
    } while (0)

#define FA_F_MAX_HEADERS 32

static int fa_f_inside(const char *p, size_t n, const fa_header *h, size_t nh)
{
    for (size_t i = 0; i < nh; i++)
        if (p >= h[i].value && p + n <= h[i].value + h[i].value_len)
            return 1;
    return 0;
}

static void fa_f_check(const fa_proxy *p, const fa_header *h, size_t nh)
{
    fa_forwarded a, b;
    int ra = fa_proxy_resolve(p, h, nh, &a);
    int rb = fa_proxy_resolve(p, h, nh, &b);
    FA_F_CHECK(ra == rb && memcmp(&a, &b, sizeof(a)) == 0);
    FA_F_CHECK(ra == 0 || ra == 1);
    FA_F_CHECK(a.scheme == FA_FWD_SCHEME_NONE || a.scheme == FA_FWD_SCHEME_HTTP ||
               a.scheme == FA_FWD_SCHEME_HTTPS);
    FA_F_CHECK(a.client_port >= 0 && a.client_port <= 65535);
    if (a.client != NULL)
        FA_F_CHECK(a.client_len > 0 && fa_f_inside(a.client, a.client_len, h, nh));
    if (a.host != NULL)
        FA_F_CHECK(a.host_len > 0 && fa_f_inside(a.host, a.host_len, h, nh));
    FA_F_CHECK(ra == (a.client != NULL || a.scheme != FA_FWD_SCHEME_NONE || a.host != NULL));
    if (a.client != NULL) /* the address parser must cope with whatever it picked */
        (void)fa_proxy_trusts(p, a.client, a.client_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *nul = memchr(s, '\0', size);
    char list[512];
    size_t ln = nul ? (size_t)(nul - s) : 0;
    if (ln >= sizeof(list))
        ln = sizeof(list) - 1;
    memcpy(list, s, ln);
    list[ln] = '\0';
    fa_proxy p;
    char err[256];
    if (fa_proxy_parse(&p, list, err, sizeof(err)) < 0) {
        FA_F_CHECK(err[0] != '\0');
        FA_F_CHECK(fa_proxy_parse(&p, "127.0.0.1, 10.0.0.0/8, ::1", err, sizeof(err)) == 0);
    }
    p.enabled = 1;
    const char *rest = nul ? nul + 1 : s;
    size_t rn = nul ? size - (size_t)(nul + 1 - s) : size;
    fa_header h[FA_F_MAX_HEADERS];
    size_t nh = 0;
    while (rn > 0 && nh < FA_F_MAX_HEADERS) {
        const char *eol = memchr(rest, '\n', rn);
        size_t len = eol ? (size_t)(eol - rest) : rn;
        const char *colon = memchr(rest, ':', len);
        if (colon != NULL) {
            h[nh].name = rest;
            h[nh].name_len = (size_t)(colon - rest);
            h[nh].value = colon + 1;
            h[nh].value_len = len - h[nh].name_len - 1;
            nh++;
        }
        rest += len + (eol ? 1 : 0);
        rn -= len + (eol ? 1 : 0);
    }
    fa_f_check(&p, h, nh);
    fa_proxy all = p;
    all.trust_all = 1;
    fa_f_check(&all, h, nh);
    /* X-Forwarded-For alone: trusting more never finds less (Forwarded may
     * pick an element without "for" either way) */
    int xff_only = 1;
    for (size_t i = 0; i < nh; i++)
        if (!(h[i].name_len == 15 && memcmp(h[i].name, "x-forwarded-for", 15) == 0))
            xff_only = 0;
    fa_forwarded a, b;
    if (xff_only && fa_proxy_resolve(&p, h, nh, &a) && a.client != NULL)
        FA_F_CHECK(fa_proxy_resolve(&all, h, nh, &b) && b.client != NULL);
    return 0;
}
