/* test_http1_parser.c - unit tests for csrc/http1/parser.c.
 *
 * Plain C, no framework.  Every head is parsed once whole and then once per
 * prefix, each prefix copied into a buffer of exactly its size so that the
 * sanitizers catch a read past `len`; a prefix must answer FA_H1_INCOMPLETE
 * until the answer is known and the whole-input answer from then on.  The
 * chunked decoder is likewise run one-shot and in every piece size.
 * The last line printed is "N passed, N failed"; the exit status is non-zero
 * on any failure.
 */
#include "../../csrc/http1/parser.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* A string literal and its length, so inputs can hold NUL bytes. */
#define S(lit) lit, sizeof(lit) - 1

#define MAX_HEADERS 128
#define BIG 65536

static fa_header fa_t_headers[MAX_HEADERS];

static int fa_t_streq(const char *p, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(p, lit, n) == 0;
}

static void *fa_t_dup(const char *s, size_t n)
{
    /* Exactly n bytes, so ASan flags any read past the end. */
    char *p = malloc(n ? n : 1);
    if (p == NULL) {
        perror("malloc");
        exit(2);
    }
    memcpy(p, s, n);
    return p;
}

/* Parses s[0..n) in one go into *req (slices point into s), then checks the
 * incremental contract over every prefix.  Returns the one-shot result. */
static int fa_t_parse_ex(const char *name, const char *s, size_t n, fa_h1_request *req,
                         size_t cap, size_t max_head, size_t max_target)
{
    memset(req, 0, sizeof *req);
    req->headers = fa_t_headers;
    req->num_headers = cap;
    int whole = fa_h1_parse_request(s, n, req, max_head, max_target);

    /* Prefixes, re-using one request struct without resetting num_headers:
     * the parser must leave it alone unless it succeeds. */
    fa_header hdrs[MAX_HEADERS];
    fa_h1_request inc;
    memset(&inc, 0, sizeof inc);
    inc.headers = hdrs;
    inc.num_headers = cap;
    size_t first = n + 1; /* first prefix length with a final answer */
    int bad = 0;
    for (size_t k = 0; k <= n && !bad; k++) {
        char *copy = fa_t_dup(s, k);
        int r = fa_h1_parse_request(copy, k, &inc, max_head, max_target);
        if (r == FA_H1_INCOMPLETE) {
            if (first <= n) {
                CHECK(0, "%s: prefix %zu incomplete after a final answer at %zu", name, k, first);
                bad = 1;
            } else if (inc.num_headers != cap) {
                CHECK(0, "%s: prefix %zu changed num_headers", name, k);
                bad = 1;
            }
        } else {
            if (first > n)
                first = k;
            if (r != whole) {
                CHECK(0, "%s: prefix %zu gives %d, whole input %d", name, k, r, whole);
                bad = 1;
            } else if (r > 0) {
                /* Same slices, relative to the buffer start. */
                int same = inc.method - copy == req->method - s &&
                           inc.method_len == req->method_len &&
                           inc.target - copy == req->target - s &&
                           inc.target_len == req->target_len &&
                           inc.minor_version == req->minor_version &&
                           inc.num_headers == req->num_headers;
                for (size_t i = 0; same && i < inc.num_headers; i++)
                    same = hdrs[i].name - copy == req->headers[i].name - s &&
                           hdrs[i].name_len == req->headers[i].name_len &&
                           hdrs[i].value - copy == req->headers[i].value - s &&
                           hdrs[i].value_len == req->headers[i].value_len;
                if (!same) {
                    CHECK(0, "%s: prefix %zu parsed differently", name, k);
                    bad = 1;
                }
                inc.num_headers = cap;
            }
        }
        free(copy);
    }
    if (!bad) {
        if (whole > 0)
            CHECK(first == (size_t)whole, "%s: first answer at prefix %zu, head is %d bytes",
                  name, first, whole);
        else if (whole == FA_H1_INCOMPLETE)
            CHECK(first > n, "%s: incomplete input gave an answer", name);
        else
            CHECK(first <= n, "%s: error not seen in prefixes", name);
    }
    return whole;
}

static int fa_t_parse(const char *name, const char *s, size_t n, fa_h1_request *req)
{
    return fa_t_parse_ex(name, s, n, req, MAX_HEADERS, BIG, BIG);
}

static void fa_t_expect(const char *name, const char *s, size_t n, int want)
{
    fa_h1_request req;
    int r = fa_t_parse(name, s, n, &req);
    CHECK(r == want, "%s: got %d, want %d", name, r, want);
}

/* ------------------------------------------------------------------------ */

static void test_valid(void)
{
    fa_h1_request req;
    int r;

    r = fa_t_parse("simple GET", S("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), &req);
    CHECK(r == 27, "simple GET: %d", r);
    CHECK(fa_t_streq(req.method, req.method_len, "GET"), "method");
    CHECK(fa_t_streq(req.target, req.target_len, "/"), "target");
    CHECK(req.minor_version == 1, "minor version");
    CHECK(req.num_headers == 1, "num_headers %zu", req.num_headers);
    CHECK(fa_t_streq(req.headers[0].name, req.headers[0].name_len, "Host"), "name");
    CHECK(fa_t_streq(req.headers[0].value, req.headers[0].value_len, "a"), "value");

    r = fa_t_parse("HTTP/1.0 no fields", S("GET /x?y=1 HTTP/1.0\r\n\r\n"), &req);
    CHECK(r == 23 && req.minor_version == 0 && req.num_headers == 0, "1.0: %d", r);
    CHECK(fa_t_streq(req.target, req.target_len, "/x?y=1"), "1.0 target");

    /* RFC 9110 2.5: a higher minor version is served as HTTP/1.1 */
    r = fa_t_parse("HTTP/1.2", S("GET / HTTP/1.2\r\n\r\n"), &req);
    CHECK(r == 18 && req.minor_version == 1, "HTTP/1.2: %d minor %d", r, req.minor_version);

    static const char post[] = "POST /submit HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
    r = fa_t_parse("POST", S(post), &req);
    CHECK(r == (int)(sizeof post - 1 - 5), "POST head length %d", r);
    CHECK(fa_t_streq(req.method, req.method_len, "POST"), "POST method");
    CHECK(req.num_headers == 2 &&
              fa_t_streq(req.headers[1].value, req.headers[1].value_len, "5"),
          "POST fields");

    r = fa_t_parse("OWS trimmed",
                   S("GET / HTTP/1.1\r\nHost: a\r\nX-A: \t v a l \t \r\nX-B:\r\nX-C:   \r\n"
                     "X-D:tight\r\n\r\n"),
                   &req);
    CHECK(r > 0 && req.num_headers == 5, "OWS: %d", r);
    if (r > 0 && req.num_headers == 5) {
        CHECK(fa_t_streq(req.headers[1].value, req.headers[1].value_len, "v a l"), "OWS both");
        CHECK(req.headers[2].value_len == 0, "empty value");
        CHECK(req.headers[3].value_len == 0, "blank value");
        CHECK(fa_t_streq(req.headers[4].value, req.headers[4].value_len, "tight"), "no OWS");
    }

    r = fa_t_parse("obs-text value", S("GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\xff\r\n\r\n"),
                   &req);
    CHECK(r > 0 && req.headers[1].value_len == 6, "obs-text: %d", r);

    static const char lead[] = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    r = fa_t_parse("leading CRLF", S(lead), &req);
    CHECK(r == (int)sizeof lead - 1, "leading CRLF: %d", r);
    CHECK(req.method == lead + 4, "leading CRLF method offset");

    fa_t_expect("OPTIONS *", S("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), 31);
    fa_t_expect("CONNECT authority", S("CONNECT a.b:443 HTTP/1.1\r\nHost: a.b:443\r\n\r\n"), 43);
    fa_t_expect("absolute-form", S("GET http://a/b?c#d HTTP/1.1\r\nHost: a\r\n\r\n"), 40);
    fa_t_expect("token method", S("M-SEARCH * HTTP/1.1\r\nHost: a\r\n\r\n"), 32);
    fa_t_expect("shortest head", S("A / HTTP/1.0\r\n\r\n"), 16);
    fa_t_expect("lowercase method", S("get / HTTP/1.1\r\n\r\n"), 18);
    /* Non-ASCII bytes are not CTLs; some clients send raw UTF-8 paths. */
    fa_t_expect("obs bytes in target", S("GET /\xc3\xa9 HTTP/1.1\r\n\r\n"), 20);
    fa_t_expect("token chars in name", S("GET / HTTP/1.1\r\n!#$%&'*+-.^_`|~09az: v\r\n\r\n"), 42);
    fa_t_expect("incomplete head", S("GET / HTTP/1.1\r\nHost: a\r\n"), FA_H1_INCOMPLETE);
    fa_t_expect("only CRLFs", S("\r\n\r\n\r\n"), FA_H1_INCOMPLETE);
    fa_t_expect("empty input", "", 0, FA_H1_INCOMPLETE);
    req.headers = fa_t_headers;
    req.num_headers = 1;
    CHECK(fa_h1_parse_request(NULL, 0, &req, 100, 100) == FA_H1_INCOMPLETE, "NULL, 0");
    CHECK(fa_h1_parse_request(NULL, 0, &req, 0, 100) == FA_H1_ETOO_LARGE, "NULL, 0, limit 0");
}

static void test_pipelined(void)
{
    static const char two[] = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
                              "GET /2 HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n"
                              "GET /3 HTTP/1.1\r\n";
    fa_h1_request req;
    size_t off = 0;
    int r = fa_t_parse("pipelined 1", two, sizeof two - 1, &req);
    CHECK(r == 28 && fa_t_streq(req.target, req.target_len, "/1"), "pipelined 1: %d", r);
    off += (size_t)r;
    r = fa_t_parse("pipelined 2", two + off, sizeof two - 1 - off, &req);
    CHECK(r == 34 && fa_t_streq(req.target, req.target_len, "/2") && req.num_headers == 2,
          "pipelined 2: %d", r);
    off += (size_t)r;
    r = fa_t_parse("pipelined 3", two + off, sizeof two - 1 - off, &req);
    CHECK(r == FA_H1_INCOMPLETE, "pipelined 3: %d", r);
}

static void test_many_headers(void)
{
    static char buf[16384];
    fa_h1_request req;
    size_t n = (size_t)snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "X-Field-%d: value %d\r\n", i, i);
    n += (size_t)snprintf(buf + n, sizeof buf - n, "\r\n");

    int r = fa_t_parse_ex("100 fields", buf, n, &req, 100, BIG, BIG);
    CHECK(r == (int)n && req.num_headers == 100, "100 fields: %d", r);
    CHECK(fa_t_streq(req.headers[99].name, req.headers[99].name_len, "X-Field-99"), "field 99");
    CHECK(fa_t_streq(req.headers[99].value, req.headers[99].value_len, "value 99"), "value 99");
    r = fa_t_parse_ex("101st field", buf, n, &req, 99, BIG, BIG);
    CHECK(r == FA_H1_ETOO_LARGE, "too many fields: %d", r);
    r = fa_t_parse_ex("zero capacity", S("GET / HTTP/1.1\r\n\r\n"), &req, 0, BIG, BIG);
    CHECK(r == 18, "zero capacity, no fields: %d", r);
}

static void test_rejections(void)
{
    static const struct {
        const char *name;
        const char *s;
        size_t n;
        int want;
    } cases[] = {
        /* line endings */
        {"bare LF request line", S("GET / HTTP/1.1\nHost: a\r\n\r\n"), FA_H1_EBAD},
        {"bare LF field line", S("GET / HTTP/1.1\r\nHost: a\n\r\n"), FA_H1_EBAD},
        {"bare LF end", S("GET / HTTP/1.1\r\nHost: a\r\n\n"), FA_H1_EBAD},
        {"bare CR in value", S("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n"), FA_H1_EBAD},
        {"bare CR end", S("GET / HTTP/1.1\r\nHost: a\r\n\rX"), FA_H1_EBAD},
        {"bare CR after version", S("GET / HTTP/1.1\rX"), FA_H1_EBAD},
        {"leading bare LF", S("\nGET / HTTP/1.1\r\n\r\n"), FA_H1_EBAD},
        {"leading bare CR", S("\rGET / HTTP/1.1\r\n\r\n"), FA_H1_EBAD},
        {"leading SP", S(" GET / HTTP/1.1\r\n\r\n"), FA_H1_EBAD},
        /* request line */
        {"empty method", S(" / HTTP/1.1\r\n\r\n"), FA_H1_EBAD},
        {"non-token method", S("GE(T / HTTP/1.1\r\n\r\n"), FA_H1_EBAD},
        {"tab after method", S("GET\t/ HTTP/1.1\r\n\r\n"), FA_H1_EBAD},
        {"empty target", S("GET  HTTP/1.1\r\n\r\n"), FA_H1_EBAD},
        {"double SP", S("GET  / HTTP/1.1\r\n\r\n"), FA_H1_EBAD},
        {"CTL in target", S("GET /a\x01z HTTP/1.1\r\n\r\n"), FA_H1_EBAD},
        {"NUL in target", S("GET /a\0z HTTP/1.1\r\n\r\n"), FA_H1_EBAD},
        {"DEL in target", S("GET /a\x7fz HTTP/1.1\r\n\r\n"), FA_H1_EBAD},
        {"tab in target", S("GET /a\tz HTTP/1.1\r\n\r\n"), FA_H1_EBAD},
        {"HTTP/0.9 line", S("GET /\r\n\r\n"), FA_H1_EBAD},
        {"no version", S("GET / \r\n\r\n"), FA_H1_EBAD},
        {"lowercase http", S("GET / http/1.1\r\n\r\n"), FA_H1_EBAD},
        {"version trailing SP", S("GET / HTTP/1.1 \r\n\r\n"), FA_H1_EBAD},
        {"version two digits", S("GET / HTTP/1.10\r\n\r\n"), FA_H1_EBAD},
        {"version no dot", S("GET / HTTP/11\r\n\r\n"), FA_H1_EBAD},
        {"version letter", S("GET / HTTP/1.x\r\n\r\n"), FA_H1_EBAD},
        {"version short", S("GET / HTTP/1\r\n\r\n"), FA_H1_EBAD},
        {"extra token", S("GET / HTTP/1.1 x\r\n\r\n"), FA_H1_EBAD},
        {"HTTP/2.0", S("GET / HTTP/2.0\r\n\r\n"), FA_H1_EVERSION},
        {"HTTP/0.9", S("GET / HTTP/0.9\r\n\r\n"), FA_H1_EVERSION},
        {"HTTP/9.9", S("GET / HTTP/9.9\r\nHost: a\r\n\r\n"), FA_H1_EVERSION},
        {"h2 preface", S("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), FA_H1_EVERSION},
        {"HTTP/1.2 bare CR", S("GET / HTTP/1.2\rX"), FA_H1_EBAD},
        /* field lines */
        {"SP before colon", S("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), FA_H1_EBAD},
        {"HTAB before colon", S("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n"), FA_H1_EBAD},
        {"obs-fold", S("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n"), FA_H1_EBAD},
        {"obs-fold HTAB", S("GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n"), FA_H1_EBAD},
        {"SP before first field", S("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), FA_H1_EBAD},
        {"empty name", S("GET / HTTP/1.1\r\n: a\r\n\r\n"), FA_H1_EBAD},
        {"no colon", S("GET / HTTP/1.1\r\nHost\r\n\r\n"), FA_H1_EBAD},
        {"SP in name", S("GET / HTTP/1.1\r\nX Y: a\r\n\r\n"), FA_H1_EBAD},
        {"non-token name", S("GET / HTTP/1.1\r\nX(y): a\r\n\r\n"), FA_H1_EBAD},
        {"non-ASCII name", S("GET / HTTP/1.1\r\nX\xc3\xa9: a\r\n\r\n"), FA_H1_EBAD},
        {"NUL in name", S("GET / HTTP/1.1\r\nX\0: a\r\n\r\n"), FA_H1_EBAD},
        {"NUL in value", S("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n"), FA_H1_EBAD},
        {"NUL at value start", S("GET / HTTP/1.1\r\nX: \0\r\n\r\n"), FA_H1_EBAD},
        {"CTL in value", S("GET / HTTP/1.1\r\nX: a\x01 b\r\n\r\n"), FA_H1_EBAD},
        {"ESC in value", S("GET / HTTP/1.1\r\nX: a\x1b[0m\r\n\r\n"), FA_H1_EBAD},
        {"DEL in value", S("GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n"), FA_H1_EBAD},
        {"VT in value", S("GET / HTTP/1.1\r\nX: a\x0b\r\n\r\n"), FA_H1_EBAD},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        fa_t_expect(cases[i].name, cases[i].s, cases[i].n, cases[i].want);

    fa_t_expect("HTAB in value ok", S("GET / HTTP/1.1\r\nX: a\tb\r\n\r\n"), 26);
}

static void test_limits(void)
{
    static const char get[] = "GET /abcd HTTP/1.1\r\nHost: a\r\n\r\n";
    const size_t len = sizeof get - 1;
    fa_h1_request req;
    int r;

    r = fa_t_parse_ex("head == max_head", S(get), &req, MAX_HEADERS, len, BIG);
    CHECK(r == (int)len, "head == max_head: %d", r);
    r = fa_t_parse_ex("head > max_head", S(get), &req, MAX_HEADERS, len - 1, BIG);
    CHECK(r == FA_H1_ETOO_LARGE, "head > max_head: %d", r);
    /* Still incomplete but already as long as the limit: it cannot fit. */
    r = fa_t_parse_ex("incomplete at limit", get, 20, &req, MAX_HEADERS, 20, BIG);
    CHECK(r == FA_H1_ETOO_LARGE, "incomplete at limit: %d", r);
    r = fa_t_parse_ex("incomplete under limit", get, 19, &req, MAX_HEADERS, 20, BIG);
    CHECK(r == FA_H1_INCOMPLETE, "incomplete under limit: %d", r);
    r = fa_t_parse_ex("max_head 0", S(get), &req, MAX_HEADERS, 0, BIG);
    CHECK(r == FA_H1_ETOO_LARGE, "max_head 0: %d", r);
    /* Bytes past the limit are never looked at. */
    r = fa_t_parse_ex("error past limit", S("GET / HTTP/1.1\r\nX: a\0\r\n\r\n"), &req,
                      MAX_HEADERS, 20, BIG);
    CHECK(r == FA_H1_ETOO_LARGE, "error past limit: %d", r);
    r = fa_t_parse_ex("error before limit", S("GET / HTTP/1.1\r\nX\0: a\r\n\r\n"), &req,
                      MAX_HEADERS, 20, BIG);
    CHECK(r == FA_H1_EBAD, "error before limit: %d", r);
    /* Leading empty lines count against the limit. */
    r = fa_t_parse_ex("leading CRLF limit", S("\r\n\r\nGET / HTTP/1.1\r\n\r\n"), &req,
                      MAX_HEADERS, 21, BIG);
    CHECK(r == FA_H1_ETOO_LARGE, "leading CRLF limit: %d", r);
    r = fa_t_parse_ex("pipelined at limit", S("GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n"), &req,
                      MAX_HEADERS, 18, BIG);
    CHECK(r == 18, "next request past the limit: %d", r);

    r = fa_t_parse_ex("target == max_target", S(get), &req, MAX_HEADERS, BIG, 5);
    CHECK(r == (int)len, "target == max_target: %d", r);
    r = fa_t_parse_ex("target > max_target", S(get), &req, MAX_HEADERS, BIG, 4);
    CHECK(r == FA_H1_EURI_TOO_LONG, "target > max_target: %d", r);
    r = fa_t_parse_ex("long target incomplete", get, 10, &req, MAX_HEADERS, BIG, 4);
    CHECK(r == FA_H1_EURI_TOO_LONG, "long target known early: %d", r);
    r = fa_t_parse_ex("long target then garbage", S("GET /abcde\x01"), &req, MAX_HEADERS, BIG, 4);
    CHECK(r == FA_H1_EURI_TOO_LONG, "long target then garbage: %d", r);
    r = fa_t_parse_ex("max_target 0", S(get), &req, MAX_HEADERS, BIG, 0);
    CHECK(r == FA_H1_EURI_TOO_LONG, "max_target 0: %d", r);
}

/* ------------------------------------------------------------------------ */

/* Parses and analyzes a head that must parse. */
static int fa_t_analyze(const char *name, const char *s, size_t n, fa_h1_info *info)
{
    fa_h1_request req;
    int r = fa_t_parse(name, s, n, &req);
    CHECK(r > 0, "%s: does not parse (%d)", name, r);
    if (r <= 0) {
        memset(info, 0, sizeof *info);
        return -1;
    }
    return fa_h1_analyze(&req, info);
}

static void fa_t_status(const char *name, const char *s, size_t n, int want)
{
    fa_h1_info info;
    int st = fa_t_analyze(name, s, n, &info);
    CHECK(st == want, "%s: status %d, want %d", name, st, want);
    if (want != 0)
        CHECK(info.keep_alive == 0, "%s: keep-alive after an error", name);
}

#define H11(fields) "POST / HTTP/1.1\r\nHost: h\r\n" fields "\r\n"
#define H10(fields) "POST / HTTP/1.0\r\n" fields "\r\n"

static void test_analyze(void)
{
    fa_h1_info info;
    int st;

    st = fa_t_analyze("plain 1.1", S(H11("")), &info);
    CHECK(st == 0 && info.keep_alive == 1 && !info.chunked && info.content_length == 0 &&
              !info.expect_continue && !info.upgrade_h2c,
          "plain 1.1");
    st = fa_t_analyze("plain 1.0", S(H10("")), &info);
    CHECK(st == 0 && info.keep_alive == 0, "plain 1.0: %d %d", st, info.keep_alive);

    /* Host */
    fa_t_status("1.1 no Host", S("GET / HTTP/1.1\r\n\r\n"), 400);
    fa_t_status("1.1 two Hosts", S(H11("Host: h\r\n")), 400);
    fa_t_status("1.0 two Hosts", S(H10("Host: a\r\nhost: b\r\n")), 400);
    fa_t_status("Host lowercase name", S("GET / HTTP/1.1\r\nhOsT: x\r\n\r\n"), 0);
    fa_t_status("Host empty", S("GET / HTTP/1.1\r\nHost:\r\n\r\n"), 0);
    fa_t_status("Host IPv6 port", S("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"), 0);
    fa_t_status("Host with slash", S("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400);
    fa_t_status("Host with userinfo", S("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n"), 400);
    fa_t_status("Host with space", S("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400);
    fa_t_status("Host unclosed bracket", S("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"), 400);
    fa_t_status("Host port not digits", S("GET / HTTP/1.1\r\nHost: a:b\r\n\r\n"), 400);
    fa_t_status("Host two colons", S("GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n"), 400);
    fa_t_status("Host bracket in name", S("GET / HTTP/1.1\r\nHost: a]b\r\n\r\n"), 400);

    /* request-target forms (RFC 9112 3.2) */
    fa_t_status("absolute-form", S("GET http://a/x?q HTTP/1.1\r\nHost: b\r\n\r\n"), 0);
    fa_t_status("absolute-form HTTPS", S("GET HTTPS://a:1 HTTP/1.1\r\nHost: b\r\n\r\n"), 0);
    fa_t_status("absolute-form userinfo", S("GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    fa_t_status("absolute-form no host", S("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    fa_t_status("absolute-form other scheme", S("GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    fa_t_status("asterisk OPTIONS", S("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    fa_t_status("asterisk GET", S("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    fa_t_status("authority-form GET", S("GET a:80 HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    fa_t_status("CONNECT", S("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"), 501);
    fa_t_status("CONNECT no port", S("CONNECT a HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    fa_t_status("CONNECT origin-form", S("CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    fa_t_status("fragment", S("GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    fa_t_status("query first", S("GET ?q HTTP/1.1\r\nHost: a\r\n\r\n"), 400);

    /* Connection */
    st = fa_t_analyze("1.1 close", S(H11("Connection: close\r\n")), &info);
    CHECK(st == 0 && info.keep_alive == 0, "1.1 close");
    st = fa_t_analyze("1.1 CLOSE list", S(H11("Connection: foo, CLOSE\r\n")), &info);
    CHECK(st == 0 && info.keep_alive == 0, "1.1 close in list");
    st = fa_t_analyze("1.1 close 2nd field", S(H11("Connection: te\r\nConnection: close\r\n")),
                      &info);
    CHECK(st == 0 && info.keep_alive == 0, "1.1 close in second field");
    st = fa_t_analyze("1.1 closed not close", S(H11("Connection: closed\r\n")), &info);
    CHECK(st == 0 && info.keep_alive == 1, "1.1 'closed' is not close");
    st = fa_t_analyze("1.0 keep-alive", S(H10("Connection: Keep-Alive\r\n")), &info);
    CHECK(st == 0 && info.keep_alive == 1, "1.0 keep-alive");
    st = fa_t_analyze("1.0 keep-alive, close", S(H10("Connection: keep-alive,close\r\n")), &info);
    CHECK(st == 0 && info.keep_alive == 0, "1.0 close wins");

    /* Content-Length */
    st = fa_t_analyze("CL 5", S(H11("Content-Length: 5\r\n")), &info);
    CHECK(st == 0 && info.content_length == 5 && !info.chunked, "CL 5");
    st = fa_t_analyze("CL list equal", S(H11("content-length: 5, 5\r\n")), &info);
    CHECK(st == 0 && info.content_length == 5, "CL 5, 5");
    st = fa_t_analyze("CL two equal", S(H11("Content-Length: 7\r\nContent-Length: 7\r\n")), &info);
    CHECK(st == 0 && info.content_length == 7, "CL 7 twice");
    st = fa_t_analyze("CL leading zeros", S(H11("Content-Length: 007\r\n")), &info);
    CHECK(st == 0 && info.content_length == 7, "CL 007");
    st = fa_t_analyze("CL max", S(H11("Content-Length: 9223372036854775807\r\n")), &info);
    CHECK(st == 0 && info.content_length == 9223372036854775807ull, "CL INT64_MAX");
    fa_t_status("CL list differ", S(H11("Content-Length: 5, 6\r\n")), 400);
    fa_t_status("CL two differ", S(H11("Content-Length: 5\r\nContent-Length: 6\r\n")), 400);
    fa_t_status("CL negative", S(H11("Content-Length: -1\r\n")), 400);
    fa_t_status("CL plus", S(H11("Content-Length: +1\r\n")), 400);
    fa_t_status("CL empty", S(H11("Content-Length:\r\n")), 400);
    fa_t_status("CL empty element", S(H11("Content-Length: 5,\r\n")), 400);
    fa_t_status("CL hex", S(H11("Content-Length: 0x10\r\n")), 400);
    fa_t_status("CL inner space", S(H11("Content-Length: 1 2\r\n")), 400);
    fa_t_status("CL over INT64_MAX", S(H11("Content-Length: 9223372036854775808\r\n")), 400);
    fa_t_status("CL over UINT64_MAX", S(H11("Content-Length: 18446744073709551616\r\n")), 400);
    fa_t_status("CL huge", S(H11("Content-Length: 99999999999999999999999999\r\n")), 400);

    /* Transfer-Encoding */
    st = fa_t_analyze("TE chunked", S(H11("Transfer-Encoding: chunked\r\n")), &info);
    CHECK(st == 0 && info.chunked && info.content_length == 0, "TE chunked");
    st = fa_t_analyze("TE Chunked", S(H11("transfer-encoding: ChUnKeD\r\n")), &info);
    CHECK(st == 0 && info.chunked, "TE case");
    st = fa_t_analyze("TE empty element", S(H11("Transfer-Encoding: , chunked\r\n")), &info);
    CHECK(st == 0 && info.chunked, "TE empty element ignored");
    fa_t_status("TE gzip, chunked", S(H11("Transfer-Encoding: gzip, chunked\r\n")), 501);
    fa_t_status("TE gzip then chunked", S(H11("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n")), 501);
    fa_t_status("TE chunked, gzip", S(H11("Transfer-Encoding: chunked, gzip\r\n")), 400);
    fa_t_status("TE gzip", S(H11("Transfer-Encoding: gzip\r\n")), 400);
    fa_t_status("TE identity", S(H11("Transfer-Encoding: identity\r\n")), 400);
    fa_t_status("TE chunked twice", S(H11("Transfer-Encoding: chunked, chunked\r\n")), 400);
    fa_t_status("TE chunked with param", S(H11("Transfer-Encoding: chunked;a=b\r\n")), 400);
    fa_t_status("TE empty", S(H11("Transfer-Encoding:\r\n")), 400);
    fa_t_status("TE non-token", S(H11("Transfer-Encoding: \"chunked\"\r\n")), 400);
    fa_t_status("TE + CL", S(H11("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n")), 400);
    fa_t_status("CL + TE", S(H11("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n")), 400);
    fa_t_status("TE in 1.0", S(H10("Transfer-Encoding: chunked\r\n")), 400);
    fa_t_status("TE chunkedx", S(H11("Transfer-Encoding: chunkedx\r\n")), 400);

    /* Expect */
    st = fa_t_analyze("Expect 100", S(H11("Expect: 100-continue\r\nContent-Length: 3\r\n")), &info);
    CHECK(st == 0 && info.expect_continue && info.content_length == 3, "Expect 100");
    st = fa_t_analyze("Expect 100 case", S(H11("expect: 100-Continue\r\n")), &info);
    CHECK(st == 0 && info.expect_continue, "Expect case");
    st = fa_t_analyze("Expect 1.0", S(H10("Expect: 100-continue\r\n")), &info);
    CHECK(st == 0 && !info.expect_continue, "Expect ignored in 1.0");
    fa_t_status("Expect other", S(H11("Expect: something\r\n")), 417);
    fa_t_status("Expect list", S(H11("Expect: 100-continue, x\r\n")), 417);
    fa_t_status("Expect empty", S(H11("Expect:\r\n")), 417);
    fa_t_status("Expect param", S(H11("Expect: 100-continue;a=b\r\n")), 417);

    /* Priority: framing errors first, then unsupported coding, then 417. */
    fa_t_status("400 over 417", S(H11("Expect: x\r\nContent-Length: x\r\n")), 400);
    fa_t_status("501 over 417", S(H11("Expect: x\r\nTransfer-Encoding: gzip, chunked\r\n")), 501);

    /* h2c upgrade */
#define UPG "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n"
    st = fa_t_analyze("h2c", S("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\n" UPG "\r\n"), &info);
    CHECK(st == 0 && info.upgrade_h2c && info.keep_alive &&
              fa_t_streq(info.http2_settings, info.http2_settings_len, "AAMAAABkAAQAAP__"),
          "h2c upgrade");
    st = fa_t_analyze("h2c case list", S(H11("connection: keep-alive, upgrade\r\nConnection: http2-settings\r\nupgrade: websocket, H2C\r\nhttp2-settings: x\r\n")), &info);
    CHECK(st == 0 && info.upgrade_h2c, "h2c case and lists");
    st = fa_t_analyze("h2c no settings field", S(H11("Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n")), &info);
    CHECK(st == 0 && !info.upgrade_h2c, "h2c without HTTP2-Settings");
    st = fa_t_analyze("h2c two settings", S(H11("Connection: Upgrade, HTTP2-Settings\r\n" UPG "HTTP2-Settings: y\r\n")), &info);
    CHECK(st == 0 && !info.upgrade_h2c, "h2c with two HTTP2-Settings");
    st = fa_t_analyze("h2c no conn settings", S(H11("Connection: Upgrade\r\n" UPG)), &info);
    CHECK(st == 0 && !info.upgrade_h2c, "h2c without the Connection token");
    st = fa_t_analyze("h2c no conn upgrade", S(H11("Connection: HTTP2-Settings\r\n" UPG)), &info);
    CHECK(st == 0 && !info.upgrade_h2c, "h2c without Connection: upgrade");
    st = fa_t_analyze("h2c websocket", S(H11("Connection: Upgrade, HTTP2-Settings\r\nUpgrade: websocket\r\nHTTP2-Settings: x\r\n")), &info);
    CHECK(st == 0 && !info.upgrade_h2c, "Upgrade without h2c");
    st = fa_t_analyze("h2c token only", S(H11("Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2cx\r\nHTTP2-Settings: x\r\n")), &info);
    CHECK(st == 0 && !info.upgrade_h2c, "h2cx is not h2c");
    st = fa_t_analyze("h2c in 1.0", S(H10("Connection: Upgrade, HTTP2-Settings\r\n" UPG)), &info);
    CHECK(st == 0 && !info.upgrade_h2c, "h2c ignored in 1.0");
#undef UPG

    /* fa_h1_parse_content_length directly */
    uint64_t v = 1;
    CHECK(fa_h1_parse_content_length("0", 1, &v) == 0 && v == 0, "CL 0");
    CHECK(fa_h1_parse_content_length("123", 3, &v) == 0 && v == 123, "CL 123");
    CHECK(fa_h1_parse_content_length("", 0, &v) == -1, "CL empty");
    CHECK(fa_h1_parse_content_length(" 1", 2, &v) == -1, "CL space");
    CHECK(fa_h1_parse_content_length("1a", 2, &v) == -1, "CL 1a");
    CHECK(fa_h1_parse_content_length("12", 1, &v) == 0 && v == 1, "CL uses only n bytes");
}

/* ------------------------------------------------------------------------ */

typedef struct fa_t_decoded {
    ssize_t result;  /* EBAD, INCOMPLETE or the number of bytes left over */
    char out[16384]; /* body data */
    size_t out_len;
} fa_t_decoded;

/* Feeds s[0..n) to a fresh decoder in pieces of `step` bytes (0: all at
 * once), each piece in a buffer of exactly its size.  Stops at the first
 * answer other than FA_H1_INCOMPLETE; a final answer then counts every byte
 * not consumed, in that piece and in the pieces never fed. */
static void fa_t_decode(const char *s, size_t n, size_t step, fa_t_decoded *res)
{
    fa_h1_chunked d;
    fa_h1_chunked_init(&d);
    res->out_len = 0;
    res->result = FA_H1_INCOMPLETE;
    if (step == 0)
        step = n ? n : 1;
    for (size_t off = 0; off < n || n == 0; off += step) {
        size_t piece = n - off < step ? n - off : step;
        char *copy = fa_t_dup(s + off, piece);
        size_t len = piece;
        ssize_t r = fa_h1_decode_chunked(&d, copy, &len);
        if (len > piece || res->out_len + len > sizeof res->out) {
            CHECK(0, "decoder output length %zu of %zu", len, piece);
            free(copy);
            res->result = -100;
            return;
        }
        memcpy(res->out + res->out_len, copy, len);
        res->out_len += len;
        if (r >= 0) {
            /* The bytes after the body must be untouched. */
            CHECK((size_t)r <= piece && memcmp(copy + piece - r, s + off + piece - r, (size_t)r) == 0,
                  "leftover bytes changed");
            res->result = (ssize_t)(n - off - piece) + r;
            free(copy);
            return;
        }
        free(copy);
        if (r != FA_H1_INCOMPLETE) {
            res->result = r;
            return;
        }
        if (n == 0)
            break;
    }
}

/* One-shot, then every piece size: all must agree.  Returns the one-shot
 * result and leaves its output in *out. */
static ssize_t fa_t_chunked(const char *name, const char *s, size_t n, fa_t_decoded *out)
{
    static fa_t_decoded split;
    fa_t_decode(s, n, 0, out);
    for (size_t step = 1; step < n; step++) {
        fa_t_decode(s, n, step, &split);
        int same = split.result == out->result;
        /* Before an error the data given back is not meaningful. */
        if (same && out->result != FA_H1_EBAD)
            same = split.out_len == out->out_len && memcmp(split.out, out->out, out->out_len) == 0;
        if (!same) {
            CHECK(0, "%s: pieces of %zu give %zd, one-shot %zd", name, step, split.result,
                  out->result);
            break;
        }
    }
    return out->result;
}

static void fa_t_chunk_ok(const char *name, const char *s, size_t n, const char *body,
                          ssize_t leftover)
{
    static fa_t_decoded res;
    ssize_t r = fa_t_chunked(name, s, n, &res);
    CHECK(r == leftover, "%s: result %zd, want %zd", name, r, leftover);
    if (body)
        CHECK(fa_t_streq(res.out, res.out_len, body), "%s: body '%.*s'", name,
              (int)res.out_len, res.out);
}

static void test_chunked(void)
{
    static char big[20000];
    fa_t_decoded *res = malloc(sizeof *res);
    size_t n;

    fa_t_chunk_ok("one chunk", S("5\r\nhello\r\n0\r\n\r\n"), "hello", 0);
    fa_t_chunk_ok("two chunks", S("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), "hello world", 0);
    fa_t_chunk_ok("empty body", S("0\r\n\r\n"), "", 0);
    fa_t_chunk_ok("hex upper", S("A\r\n0123456789\r\n0\r\n\r\n"), "0123456789", 0);
    fa_t_chunk_ok("hex lower", S("a\r\n0123456789\r\n0\r\n\r\n"), "0123456789", 0);
    fa_t_chunk_ok("leading zeros", S("0005\r\nhello\r\n000\r\n\r\n"), "hello", 0);
    fa_t_chunk_ok("16 digits", S("0000000000000005\r\nhello\r\n0\r\n\r\n"), "hello", 0);
    fa_t_chunk_ok("CRLF in data", S("4\r\n\r\n\r\n\r\n0\r\n\r\n"), "\r\n\r\n", 0);
    fa_t_chunk_ok("extensions", S("5;name=val\r\nhello\r\n3;a;b=\"c d\"\r\nabc\r\n0;last\r\n\r\n"),
                  "helloabc", 0);
    fa_t_chunk_ok("BWS before ext", S("5 \t;x\r\nhello\r\n0\r\n\r\n"), "hello", 0);
    fa_t_chunk_ok("trailers", S("5\r\nhello\r\n0\r\nX-Sum: 1\r\nY:\r\n\r\n"), "hello", 0);
    fa_t_chunk_ok("leftover", S("5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n"), "hello", 16);
    fa_t_chunk_ok("leftover CRLF", S("1\r\nx\r\n0\r\n\r\n\r\n"), "x", 2);
    fa_t_chunk_ok("unfinished", S("5\r\nhel"), "hel", FA_H1_INCOMPLETE);
    fa_t_chunk_ok("no final CRLF", S("5\r\nhello\r\n0\r\n"), "hello", FA_H1_INCOMPLETE);
    fa_t_chunk_ok("huge size", S("ffffffffffffffff\r\nabc"), "abc", FA_H1_INCOMPLETE);

    fa_t_chunk_ok("17 digits", S("00000000000000005\r\nhello\r\n0\r\n\r\n"), NULL, FA_H1_EBAD);
    fa_t_chunk_ok("17 digits big", S("10000000000000000\r\n"), NULL, FA_H1_EBAD);
    fa_t_chunk_ok("empty size", S("\r\nhello\r\n0\r\n\r\n"), NULL, FA_H1_EBAD);
    fa_t_chunk_ok("non-hex size", S("g\r\n"), NULL, FA_H1_EBAD);
    fa_t_chunk_ok("negative size", S("-1\r\n"), NULL, FA_H1_EBAD);
    fa_t_chunk_ok("0x size", S("0x5\r\nhello\r\n0\r\n\r\n"), NULL, FA_H1_EBAD);
    fa_t_chunk_ok("size then SP", S("5 \r\nhello\r\n0\r\n\r\n"), NULL, FA_H1_EBAD);
    fa_t_chunk_ok("SP then size", S(" 5\r\nhello\r\n0\r\n\r\n"), NULL, FA_H1_EBAD);
    fa_t_chunk_ok("bare LF size", S("5\nhello\r\n0\r\n\r\n"), NULL, FA_H1_EBAD);
    fa_t_chunk_ok("bare CR size", S("5\rhello\r\n0\r\n\r\n"), NULL, FA_H1_EBAD);
    fa_t_chunk_ok("bare LF ext", S("5;a\nhello\r\n0\r\n\r\n"), NULL, FA_H1_EBAD);
    fa_t_chunk_ok("NUL in ext", S("5;a\0\r\nhello\r\n0\r\n\r\n"), NULL, FA_H1_EBAD);
    fa_t_chunk_ok("data too long", S("5\r\nhelloX\r\n0\r\n\r\n"), NULL, FA_H1_EBAD);
    fa_t_chunk_ok("data bare LF", S("5\r\nhello\n0\r\n\r\n"), NULL, FA_H1_EBAD);
    fa_t_chunk_ok("data no CRLF", S("5\r\nhello0\r\n\r\n"), NULL, FA_H1_EBAD);
    fa_t_chunk_ok("final bare LF", S("0\r\n\n"), NULL, FA_H1_EBAD);
    fa_t_chunk_ok("trailer bare LF", S("0\r\nX: y\n\r\n"), NULL, FA_H1_EBAD);
    fa_t_chunk_ok("trailer obs-fold", S("0\r\nX: y\r\n z\r\n\r\n"), NULL, FA_H1_EBAD);
    fa_t_chunk_ok("trailer no colon", S("0\r\nXy\r\n\r\n"), NULL, FA_H1_EBAD);
    fa_t_chunk_ok("trailer SP before colon", S("0\r\nX : y\r\n\r\n"), NULL, FA_H1_EBAD);
    fa_t_chunk_ok("trailer NUL", S("0\r\nX: \0\r\n\r\n"), NULL, FA_H1_EBAD);

    /* Extensions are bounded: 4096 bytes after the size are fine, more
     * are not. */
    n = (size_t)snprintf(big, sizeof big, "1;");
    memset(big + n, 'e', 4095);
    n += 4095;
    n += (size_t)snprintf(big + n, sizeof big - n, "\r\nx\r\n0\r\n\r\n");
    fa_t_decode(big, n, 0, res);
    CHECK(res->result == 0 && fa_t_streq(res->out, res->out_len, "x"), "4096-byte extension");
    n = (size_t)snprintf(big, sizeof big, "1;");
    memset(big + n, 'e', 4096);
    n += 4096;
    n += (size_t)snprintf(big + n, sizeof big - n, "\r\nx\r\n0\r\n\r\n");
    fa_t_decode(big, n, 0, res);
    CHECK(res->result == FA_H1_EBAD, "4097-byte extension: %zd", res->result);
    fa_t_decode(big, n, 7, res);
    CHECK(res->result == FA_H1_EBAD, "4097-byte extension in pieces: %zd", res->result);

    /* Trailers are bounded at 8 KiB (final CRLF included). */
    n = (size_t)snprintf(big, sizeof big, "0\r\nX: ");
    memset(big + n, 'v', 8192 - 5 - 2);
    n += 8192 - 5 - 2;
    n += (size_t)snprintf(big + n, sizeof big - n, "\r\n\r\n");
    fa_t_decode(big, n, 0, res);
    CHECK(res->result == 0, "8 KiB trailer: %zd", res->result);
    n = (size_t)snprintf(big, sizeof big, "0\r\nX: ");
    memset(big + n, 'v', 8192 - 5 - 1);
    n += 8192 - 5 - 1;
    n += (size_t)snprintf(big + n, sizeof big - n, "\r\n\r\n");
    fa_t_decode(big, n, 0, res);
    CHECK(res->result == FA_H1_EBAD, "trailer over 8 KiB: %zd", res->result);
    n = (size_t)snprintf(big, sizeof big, "0\r\n");
    for (int i = 0; i < 3000; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "A:\r\n");
    fa_t_decode(big, n, 3, res);
    CHECK(res->result == FA_H1_EBAD, "many trailer lines: %zd", res->result);

    /* A large body in odd pieces. */
    n = 0;
    for (int i = 0; i < 40; i++) {
        n += (size_t)snprintf(big + n, sizeof big - n, "%x\r\n", 100 + i);
        for (int j = 0; j < 100 + i; j++)
            big[n++] = (char)('a' + (i + j) % 26);
        n += (size_t)snprintf(big + n, sizeof big - n, "\r\n");
    }
    n += (size_t)snprintf(big + n, sizeof big - n, "0\r\n\r\n");
    size_t steps[] = {0, 1, 2, 3, 7, 64, 101, 1000};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        fa_t_decode(big, n, steps[i], res);
        CHECK(res->result == 0 && res->out_len == 40 * 100 + 780, "40 chunks in %zu: %zd %zu",
              steps[i], res->result, res->out_len);
    }

    /* After the end, a call hands everything back; an error is sticky. */
    fa_h1_chunked d;
    char buf[64];
    size_t len;
    fa_h1_chunked_init(&d);
    memcpy(buf, "0\r\n\r\n", 5);
    len = 5;
    CHECK(fa_h1_decode_chunked(&d, buf, &len) == 0 && len == 0, "end");
    memcpy(buf, "GET", 3);
    len = 3;
    CHECK(fa_h1_decode_chunked(&d, buf, &len) == 3 && len == 0, "after the end");
    fa_h1_chunked_init(&d);
    memcpy(buf, "z", 1);
    len = 1;
    CHECK(fa_h1_decode_chunked(&d, buf, &len) == FA_H1_EBAD, "error");
    memcpy(buf, "0\r\n\r\n", 5);
    len = 5;
    CHECK(fa_h1_decode_chunked(&d, buf, &len) == FA_H1_EBAD && len == 0, "error is sticky");
    fa_h1_chunked_init(&d);
    len = 0;
    CHECK(fa_h1_decode_chunked(&d, buf, &len) == FA_H1_INCOMPLETE && len == 0, "no bytes");
    memcpy(buf, "3\r\nab", 5);
    len = 5;
    CHECK(fa_h1_decode_chunked(&d, buf, &len) == FA_H1_INCOMPLETE && len == 2 &&
              d.chunk_left == 1 && memcmp(buf, "ab", 2) == 0,
          "partial chunk");
    free(res);
}

/* A request head followed by a chunked body, as a server would see it. */
static void test_request_with_body(void)
{
    static const char msg[] = "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n"
                              "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";
    fa_h1_request req;
    fa_h1_info info;
    static fa_t_decoded res;
    int r = fa_t_parse("chunked POST", S(msg), &req);
    CHECK(r > 0, "chunked POST head: %d", r);
    if (r <= 0)
        return;
    CHECK(fa_h1_analyze(&req, &info) == 0 && info.chunked && info.keep_alive, "chunked POST info");
    ssize_t left = fa_t_chunked("chunked POST body", msg + r, sizeof msg - 1 - (size_t)r, &res);
    CHECK(fa_t_streq(res.out, res.out_len, "Wikipedia"), "chunked POST body");
    CHECK(left == 31, "chunked POST leftover: %zd", left);
    r = fa_t_parse("after body", msg + sizeof msg - 1 - left, (size_t)left, &req);
    CHECK(r == 31 && fa_t_streq(req.target, req.target_len, "/next"), "next request: %d", r);
}

int main(void)
{
    test_valid();
    test_pipelined();
    test_many_headers();
    test_rejections();
    test_limits();
    test_analyze();
    test_chunked();
    test_request_with_body();
    printf("%d passed, %d failed\n", fa_t_passed, fa_t_failed);
    return fa_t_failed != 0;
}
