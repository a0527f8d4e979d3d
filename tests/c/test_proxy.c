/* test_proxy.c - unit tests for csrc/server/proxy.c: the trusted-proxy list
 * (addresses, CIDR, "*", IPv4-mapped IPv6) and the forwarding headers
 * (X-Forwarded-For right to left, X-Forwarded-Proto/Host, RFC 7239
 * Forwarded, malformed values ignored).  The last line printed is
 * "N passed, N failed"; the exit status is non-zero on any failure.
 */
#include "../../csrc/server/proxy.h"

#include <stdio.h>
#include <string.h>

#include "check.h"

static fa_proxy fa_t_make(const char *list)
{
    fa_proxy p;
    char err[256];
    memset(&p, 0, sizeof(p));
    int rc = fa_proxy_parse(&p, list, err, sizeof(err));
    CHECK(rc == 0, "parse %s: %s", list, err);
    p.enabled = 1;
    return p;
}

static int fa_t_trusts(const fa_proxy *p, const char *host)
{
    return fa_proxy_trusts(p, host, strlen(host));
}

/* headers as "name: value" strings (names lowercase, as the protocol layers give them) */
static size_t fa_t_headers(fa_header *h, const char **lines, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *colon = strchr(lines[i], ':');
        h[i].name = lines[i];
        h[i].name_len = (size_t)(colon - lines[i]);
        h[i].value = colon + 2;
        h[i].value_len = strlen(colon + 2);
    }
    return n;
}

static int fa_t_eq(const char *p, size_t n, const char *want)
{
    if (want == NULL)
        return p == NULL;
    return p != NULL && n == strlen(want) && memcmp(p, want, n) == 0;
}

/* resolve and compare: client (NULL: none), port, scheme, host (NULL: none) */
static void fa_t_case(const fa_proxy *p, const char **lines, size_t n, int want_rc, const char *client,
                      int port, int scheme, const char *host, int line)
{
    fa_header h[16];
    fa_forwarded f;
    fa_t_headers(h, lines, n);
    int rc = fa_proxy_resolve(p, h, n, &f);
    CHECK(rc == want_rc, "line %d: rc %d, want %d", line, rc, want_rc);
    CHECK(fa_t_eq(f.client, f.client_len, client), "line %d: client %.*s, want %s", line,
          (int)f.client_len, f.client ? f.client : "(none)", client ? client : "(none)");
    CHECK(f.client_port == port, "line %d: port %d, want %d", line, f.client_port, port);
    CHECK(f.scheme == scheme, "line %d: scheme %d, want %d", line, f.scheme, scheme);
    CHECK(fa_t_eq(f.host, f.host_len, host), "line %d: host %.*s, want %s", line, (int)f.host_len,
          f.host ? f.host : "(none)", host ? host : "(none)");
}

#define CASE(p, want_rc, client, port, scheme, host, ...)                                   \
    do {                                                                                    \
        const char *lines_[] = {__VA_ARGS__};                                               \
        fa_t_case(&(p), lines_, sizeof(lines_) / sizeof(lines_[0]), want_rc, client, port, \
                  scheme, host, __LINE__);                                                  \
    } while (0)

static void test_list(void)
{
    fa_proxy p = fa_t_make("127.0.0.1");
    CHECK(fa_t_trusts(&p, "127.0.0.1"), "exact address");
    CHECK(!fa_t_trusts(&p, "127.0.0.2"), "other address");
    CHECK(fa_t_trusts(&p, "::ffff:127.0.0.1"), "IPv4-mapped IPv6 is its IPv4 address");
    CHECK(!fa_t_trusts(&p, ""), "a Unix socket peer (no address) is not trusted");
    CHECK(!fa_t_trusts(&p, "::1"), "::1 is not 127.0.0.1");

    p = fa_t_make(" 10.0.0.0/8 , 192.168.1.0/24,2001:db8::/32, ::1,");
    CHECK(fa_t_trusts(&p, "10.255.1.2"), "in 10/8");
    CHECK(!fa_t_trusts(&p, "11.0.0.1"), "outside 10/8");
    CHECK(fa_t_trusts(&p, "192.168.1.77") && !fa_t_trusts(&p, "192.168.2.1"), "/24");
    CHECK(fa_t_trusts(&p, "2001:db8:1::5") && !fa_t_trusts(&p, "2001:db9::1"), "IPv6 /32");
    CHECK(fa_t_trusts(&p, "::1") && fa_t_trusts(&p, "fe80::1%lo") == 0, "::1, a zone");
    CHECK(!fa_t_trusts(&p, "not-an-ip"), "a name is never trusted");

    p = fa_t_make("10.1.2.3/8"); /* host bits are cleared, not refused */
    CHECK(fa_t_trusts(&p, "10.9.9.9"), "10.1.2.3/8 is 10/8");
    p = fa_t_make("0.0.0.0/0");
    CHECK(fa_t_trusts(&p, "203.0.113.9") && !fa_t_trusts(&p, "::2"), "/0 covers its family only");
    p = fa_t_make("*");
    CHECK(fa_t_trusts(&p, "203.0.113.9") && fa_t_trusts(&p, ""), "* trusts every peer, Unix ones too");
    p = fa_t_make("");
    CHECK(!fa_t_trusts(&p, "127.0.0.1"), "an empty list trusts nobody");

    const char *bad[] = {"localhost", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "1.2.3.4.5",
                         "10.0.0.0/8/8", "::ffff:1.2.3.4/95"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fa_proxy q;
        char err[256] = "";
        CHECK(fa_proxy_parse(&q, bad[i], err, sizeof(err)) < 0, "%s refused", bad[i]);
        CHECK(strstr(err, "forwarded_allow_ips") != NULL, "%s: the message names the setting (%s)", bad[i],
              err);
    }
    char many[2048] = "";
    for (int i = 0; i < FA_PROXY_MAX_NETS + 1; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "10.0.%d.1,", i);
    fa_proxy q;
    char err[256];
    CHECK(fa_proxy_parse(&q, many, err, sizeof(err)) < 0, "more than %d entries refused", FA_PROXY_MAX_NETS);
}

static void test_x_forwarded(void)
{
    fa_proxy p = fa_t_make("127.0.0.1, 10.0.0.0/8");
    const int H = FA_FWD_SCHEME_HTTP, S = FA_FWD_SCHEME_HTTPS, N = FA_FWD_SCHEME_NONE;
    CASE(p, 0, NULL, 0, N, NULL, "host: a");
    CASE(p, 1, "203.0.113.7", 0, N, NULL, "x-forwarded-for: 203.0.113.7");
    /* the rightmost untrusted hop: a client cannot forge its way in from the left */
    CASE(p, 1, "198.51.100.2", 0, N, NULL, "x-forwarded-for: 6.6.6.6, 198.51.100.2, 10.0.0.5");
    CASE(p, 1, "198.51.100.2", 0, N, NULL, "x-forwarded-for: 6.6.6.6,198.51.100.2 ,10.0.0.5,127.0.0.1");
    /* several fields are one list, in order */
    CASE(p, 1, "198.51.100.2", 0, N, NULL, "x-forwarded-for: 6.6.6.6", "x-forwarded-for: 198.51.100.2",
         "x-forwarded-for: 10.0.0.5");
    /* every hop trusted: the leftmost (Uvicorn) */
    CASE(p, 1, "10.0.0.9", 0, N, NULL, "x-forwarded-for: 10.0.0.9, 127.0.0.1");
    CASE(p, 1, "2001:db8::7", 0, N, NULL, "x-forwarded-for: 2001:db8::7");
    CASE(p, 1, "2001:db8::7", 8080, N, NULL, "x-forwarded-for: [2001:db8::7]:8080");
    CASE(p, 1, "192.0.2.1", 4711, N, NULL, "x-forwarded-for: 192.0.2.1:4711");
    CASE(p, 1, "192.0.2.1", 0, N, NULL, "x-forwarded-for: , 192.0.2.1,");
    /* not an address list: ignored */
    CASE(p, 0, NULL, 0, N, NULL, "x-forwarded-for: <script>");
    CASE(p, 0, NULL, 0, N, NULL, "x-forwarded-for: 1.2.3.4 5.6.7.8");
    CASE(p, 0, NULL, 0, N, NULL, "x-forwarded-for: [::1");
    CASE(p, 0, NULL, 0, N, NULL, "x-forwarded-for: 1.2.3.4:99999");
    CASE(p, 0, NULL, 0, N, NULL, "x-forwarded-for: ");
    /* one bad entry anywhere, even left of the chosen one: the list is ignored */
    CASE(p, 0, NULL, 0, N, NULL, "x-forwarded-for: \x01, 198.51.100.2");
    CASE(p, 0, NULL, 0, N, NULL, "x-forwarded-for: bad!", "x-forwarded-for: 198.51.100.2");

    CASE(p, 1, NULL, 0, S, NULL, "x-forwarded-proto: https");
    CASE(p, 1, NULL, 0, S, NULL, "x-forwarded-proto:  HTTPS ");
    CASE(p, 1, NULL, 0, H, NULL, "x-forwarded-proto: http");
    CASE(p, 1, NULL, 0, S, NULL, "x-forwarded-proto: wss");
    CASE(p, 0, NULL, 0, N, NULL, "x-forwarded-proto: gopher");
    CASE(p, 0, NULL, 0, N, NULL, "x-forwarded-proto: https, http"); /* a list is not one scheme (Uvicorn) */
    CASE(p, 1, NULL, 0, H, NULL, "x-forwarded-proto: https", "x-forwarded-proto: http"); /* the last field */

    CASE(p, 1, NULL, 0, N, "shop.example:8443", "x-forwarded-host: shop.example:8443");
    CASE(p, 1, NULL, 0, N, "a.example", "x-forwarded-host: a.example, b.internal");
    CASE(p, 1, NULL, 0, N, "[2001:db8::1]:443", "x-forwarded-host: [2001:db8::1]:443");
    CASE(p, 0, NULL, 0, N, NULL, "x-forwarded-host: bad host");
    CASE(p, 0, NULL, 0, N, NULL, "x-forwarded-host: a/b");
    CASE(p, 1, "203.0.113.7", 0, S, "x.example", "x-forwarded-for: 203.0.113.7", "x-forwarded-proto: https",
         "x-forwarded-host: x.example", "host: internal:8000");

    fa_proxy all = fa_t_make("*");
    CASE(all, 1, "6.6.6.6", 0, N, NULL, "x-forwarded-for: 6.6.6.6, 198.51.100.2, 10.0.0.5");
}

static void test_forwarded(void)
{
    fa_proxy p = fa_t_make("127.0.0.1, 10.0.0.0/8");
    const int H = FA_FWD_SCHEME_HTTP, S = FA_FWD_SCHEME_HTTPS, N = FA_FWD_SCHEME_NONE;
    CASE(p, 1, "192.0.2.60", 0, H, "example.com", "forwarded: for=192.0.2.60;proto=http;by=203.0.113.43;host=example.com");
    CASE(p, 1, "2001:db8:cafe::17", 4711, S, NULL, "forwarded: for=\"[2001:db8:cafe::17]:4711\";proto=https");
    /* the RFC's own examples */
    CASE(p, 1, "198.51.100.17", 0, H, "example.com",
         "forwarded: for=192.0.2.43, for=198.51.100.17;by=203.0.113.60;proto=http;host=example.com",
         "forwarded: for=10.1.1.1"); /* two fields are one list */
    CASE(p, 1, "198.51.100.17", 0, H, "example.com",
         "forwarded: for=192.0.2.43, for=198.51.100.17;by=203.0.113.60;proto=http;host=example.com");
    /* the proto and host of the element that names the client */
    CASE(p, 1, "198.51.100.9", 0, S, "shop.example",
         "forwarded: for=6.6.6.6;proto=http;host=evil, for=198.51.100.9;proto=https;host=shop.example, "
         "for=10.0.0.2;proto=http;host=internal");
    CASE(p, 1, "10.0.0.3", 0, S, "first", "forwarded: for=10.0.0.3;proto=https;host=first, for=127.0.0.1;proto=http");
    CASE(p, 1, "unknown", 0, N, NULL, "forwarded: for=unknown");
    CASE(p, 1, "_hidden", 0, N, NULL, "forwarded: for=\"_hidden:_port\"");
    CASE(p, 1, "192.0.2.1", 0, N, NULL, "forwarded: FOR=192.0.2.1");
    CASE(p, 1, NULL, 0, S, NULL, "forwarded: proto=https"); /* no for: the chain stops there */
    /* Forwarded wins over X-Forwarded-* */
    CASE(p, 1, "192.0.2.5", 0, N, NULL, "x-forwarded-for: 198.51.100.1", "x-forwarded-proto: https",
         "forwarded: for=192.0.2.5");
    /* malformed: ignored, and X-Forwarded-* are read instead */
    CASE(p, 1, "198.51.100.1", 0, N, NULL, "forwarded: for=\"192.0.2.5", "x-forwarded-for: 198.51.100.1");
    CASE(p, 0, NULL, 0, N, NULL, "forwarded: for");
    CASE(p, 0, NULL, 0, N, NULL, "forwarded: =1.2.3.4");
    CASE(p, 0, NULL, 0, N, NULL, "forwarded: for=1.2.3.4 junk");
    CASE(p, 0, NULL, 0, N, NULL, "forwarded: for=\"a\\\"b\"");
    CASE(p, 0, NULL, 0, N, NULL, "forwarded: for=<script>");
    CASE(p, 0, NULL, 0, N, NULL, "forwarded: , ;");
    /* a chain longer than what is kept: the rightmost elements still decide */
    char longv[4096] = "forwarded: ";
    for (int i = 0; i < 100; i++)
        strcat(longv, "for=10.0.0.1, ");
    strcat(longv, "for=198.51.100.77, for=10.0.0.2");
    CASE(p, 1, "198.51.100.77", 0, N, NULL, longv);
    char trusted[4096] = "forwarded: for=10.9.9.9";
    for (int i = 0; i < 100; i++)
        strcat(trusted, ", for=10.0.0.1");
    CASE(p, 1, "10.9.9.9", 0, N, NULL, trusted); /* every hop trusted: the leftmost */
}

int main(void)
{
    test_list();
    test_x_forwarded();
    test_forwarded();
    printf("%d passed, %d failed\n", fa_t_passed, fa_t_failed);
    return fa_t_failed ? 1 : 0;
}
