/* parser.c - strict HTTP/1.1 request-head parser, the semantic checks that
 * decide body framing and connection reuse, and the chunked body decoder.
 *
 * Everything here works on the caller's bytes: no allocation, no I/O, and
 * parsed fields are slices of the caller's buffer.  The head parser is a
 * single left-to-right scan that never looks past the bytes it was given, so
 * a call on any prefix of a request either answers FA_H1_INCOMPLETE or
 * already gives the answer the whole request will give.  That is what makes
 * the "re-call with everything read so far" contract safe at any split.
 */
#include "parser.h"

#include <limits.h>
#include <string.h>

/* Byte classes, one bit each, looked up in fa_h1_class[]. */
#define FA_C_TCHAR 1  /* token character (RFC 9110 5.6.2) */
#define FA_C_TARGET 2 /* allowed in a request-target: not CTL, SP or DEL */
#define FA_C_VALUE 4  /* field-vchar, SP, HTAB and obs-text (0x80-0xFF) */
#define FA_C_HOST 8   /* allowed in a Host value: unreserved, sub-delims,
                       * ':' '[' ']' '%' */

static const unsigned char fa_h1_class[256] = {
     0,  0,  0,  0,  0,  0,  0,  0,  0,  4,  0,  0,  0,  0,  0,  0, /* 0x00 */
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0, /* 0x10 */
     4, 15,  6,  7, 15, 15, 15, 15, 14, 14, 15, 15, 14, 15, 15,  6, /* 0x20 */
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 14, 14,  6, 14,  6,  6, /* 0x30 */
     6, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, /* 0x40 */
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 14,  6, 14,  7, 15, /* 0x50 */
     7, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, /* 0x60 */
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,  6,  7,  6, 15,  0, /* 0x70 */
     6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6, /* 0x80 */
     6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6, /* 0x90 */
     6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6, /* 0xa0 */
     6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6, /* 0xb0 */
     6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6, /* 0xc0 */
     6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6, /* 0xd0 */
     6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6, /* 0xe0 */
     6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6, /* 0xf0 */
};

static inline int fa_h1_is(unsigned char c, int cls)
{
    return (fa_h1_class[c] & cls) != 0;
}

/* ------------------------------------------------------------------------ */
/* Request head                                                             */

/* Scans the request line at *pp.  On success stores the slices, leaves *pp
 * after its CRLF and returns 0. */
static int fa_h1_request_line(const unsigned char **pp, const unsigned char *end,
                              fa_h1_request *out, size_t max_target)
{
    const unsigned char *p = *pp;

    /* method SP */
    const unsigned char *method = p;
    while (p < end && fa_h1_is(*p, FA_C_TCHAR))
        p++;
    if (p == end)
        return FA_H1_INCOMPLETE;
    if (p == method || *p != ' ')
        return FA_H1_EBAD;
    out->method = (const char *)method;
    out->method_len = (size_t)(p - method);
    p++;

    /* request-target SP.  Scan at most max_target + 1 bytes so that an
     * over-long target is refused as soon as it is known to be too long,
     * whatever follows it. */
    const unsigned char *target = p;
    size_t avail = (size_t)(end - p);
    size_t scan = max_target < avail ? max_target + 1 : avail;
    size_t i = 0;
    while (i < scan && fa_h1_is(p[i], FA_C_TARGET))
        i++;
    if (i == scan)
        return i > max_target ? FA_H1_EURI_TOO_LONG : FA_H1_INCOMPLETE;
    if (i == 0 || p[i] != ' ')
        return FA_H1_EBAD;
    out->target = (const char *)target;
    out->target_len = i;
    p += i + 1;

    /* HTTP-version CRLF, checked byte by byte so a prefix never decides
     * differently from the whole line: "HTTP/" DIGIT "." DIGIT CR LF. */
    static const char shape[] = "HTTP/0.0\r\n";
    for (i = 0; i < sizeof shape - 1; i++) {
        if (p + i == end)
            return FA_H1_INCOMPLETE;
        unsigned char c = p[i];
        int ok = (i == 5 || i == 7) ? (c >= '0' && c <= '9') : c == (unsigned char)shape[i];
        if (!ok)
            return FA_H1_EBAD;
    }
    /* RFC 9110 2.5: a higher minor version of a major version we speak is
     * served as the highest minor we implement (HTTP/1.9 as HTTP/1.1). */
    if (p[5] != '1')
        return FA_H1_EVERSION;
    out->minor_version = p[7] == '0' ? 0 : 1;
    *pp = p + sizeof shape - 1;
    return 0;
}

/* Scans one field line at *pp (which is not the empty line) into *h. */
static int fa_h1_field_line(const unsigned char **pp, const unsigned char *end,
                            fa_header *h)
{
    const unsigned char *p = *pp;

    /* field-name ":" with nothing in between.  A line that starts with SP or
     * HTAB (obs-fold) or has whitespace before the colon fails here. */
    const unsigned char *name = p;
    while (p < end && fa_h1_is(*p, FA_C_TCHAR))
        p++;
    if (p == end)
        return FA_H1_INCOMPLETE;
    if (p == name || *p != ':')
        return FA_H1_EBAD;
    size_t name_len = (size_t)(p - name);
    p++;

    /* OWS field-value OWS CRLF */
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    const unsigned char *value = p;
    while (p < end && fa_h1_is(*p, FA_C_VALUE))
        p++;
    if (p == end)
        return FA_H1_INCOMPLETE;
    if (*p != '\r') /* NUL, bare LF, other controls */
        return FA_H1_EBAD;
    if (p + 1 == end)
        return FA_H1_INCOMPLETE;
    if (p[1] != '\n') /* bare CR */
        return FA_H1_EBAD;
    const unsigned char *vend = p;
    while (vend > value && (vend[-1] == ' ' || vend[-1] == '\t'))
        vend--;

    h->name = (const char *)name;
    h->name_len = name_len;
    h->value = (const char *)value;
    h->value_len = (size_t)(vend - value);
    *pp = p + 2;
    return 0;
}

/* Parses the head within buf[0..n); the caller has already cut n down to the
 * head size limit. */
static int fa_h1_parse_head(const unsigned char *buf, size_t n, fa_h1_request *req,
                            size_t max_target)
{
    const unsigned char *p = buf, *end = buf + n;
    fa_h1_request out;
    int r;

    /* RFC 9112 2.2: ignore empty lines before the request line. */
    while (p < end && *p == '\r') {
        if (p + 1 == end)
            return FA_H1_INCOMPLETE;
        if (p[1] != '\n')
            return FA_H1_EBAD;
        p += 2;
    }
    if (p == end)
        return FA_H1_INCOMPLETE;

    r = fa_h1_request_line(&p, end, &out, max_target);
    if (r != 0)
        return r;

    /* Field lines until the empty line.  The capacity is read once and
     * req->num_headers is written only on success, so a caller that gets
     * FA_H1_INCOMPLETE can call again without resetting it. */
    size_t cap = req->num_headers, count = 0;
    for (;;) {
        if (p == end)
            return FA_H1_INCOMPLETE;
        if (*p == '\r') {
            if (p + 1 == end)
                return FA_H1_INCOMPLETE;
            if (p[1] != '\n')
                return FA_H1_EBAD;
            p += 2;
            break;
        }
        if (count == cap)
            return FA_H1_ETOO_LARGE;
        r = fa_h1_field_line(&p, end, &req->headers[count]);
        if (r != 0)
            return r;
        count++;
    }

    req->method = out.method;
    req->method_len = out.method_len;
    req->target = out.target;
    req->target_len = out.target_len;
    req->minor_version = out.minor_version;
    req->num_headers = count;
    return (int)(p - buf);
}

int fa_h1_parse_request(const char *buf, size_t len, fa_h1_request *req,
                        size_t max_head, size_t max_target)
{
    /* The head length is returned as an int. */
    size_t limit = max_head < (size_t)INT_MAX ? max_head : (size_t)INT_MAX;

    /* Never look past the limit: the bytes beyond it cannot be part of an
     * acceptable head, and ignoring them keeps the answer the same whether
     * they have arrived yet or not. */
    size_t n = len < limit ? len : limit;
    /* An empty connection buffer may still be (NULL, 0): no pointer maths. */
    int r = n == 0 ? FA_H1_INCOMPLETE
                   : fa_h1_parse_head((const unsigned char *)buf, n, req, max_target);
    if (r == FA_H1_INCOMPLETE && len >= limit)
        return FA_H1_ETOO_LARGE;
    return r;
}

/* ------------------------------------------------------------------------ */
/* Semantic checks                                                          */

/* Case-insensitive comparison of s[0..n) with a lowercase literal. */
static int fa_h1_ieq(const char *s, size_t n, const char *lit)
{
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        if (lit[i] == '\0' || c != (unsigned char)lit[i])
            return 0;
    }
    return lit[i] == '\0';
}

/* Walks the elements of a comma-separated field value.  *cur starts at the
 * value and becomes NULL after the last element.  Elements come out with OWS
 * trimmed; empty elements are returned (with length 0) so the caller decides
 * whether they are acceptable. */
static int fa_h1_list_next(const char **cur, const char *end, const char **elem,
                           size_t *elem_len)
{
    const char *p = *cur;
    if (p == NULL)
        return 0;
    const char *comma = memchr(p, ',', (size_t)(end - p));
    const char *stop = comma ? comma : end;
    while (p < stop && (*p == ' ' || *p == '\t'))
        p++;
    while (stop > p && (stop[-1] == ' ' || stop[-1] == '\t'))
        stop--;
    *elem = p;
    *elem_len = (size_t)(stop - p);
    *cur = comma ? comma + 1 : NULL;
    return 1;
}

int fa_h1_parse_content_length(const char *s, size_t n, uint64_t *out)
{
    /* Values above INT64_MAX count as overflow: body sizes end up in signed
     * types (off_t, ssize_t) elsewhere, and no real body is that large. */
    const uint64_t max = (uint64_t)INT64_MAX;
    uint64_t v = 0;
    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned char)s[i] - (unsigned)'0';
        if (d > 9)
            return -1;
        if (v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* What the header loop of fa_h1_analyze collects. */
typedef struct fa_h1_scan {
    int bad;            /* a 400 condition */
    int expect_bad;     /* an expectation other than 100-continue */
    int expect_continue;
    int host_count;
    int have_cl;
    uint64_t cl;
    int have_te;
    int te_codings;     /* non-empty transfer codings seen */
    int te_chunked;     /* how many of them were "chunked" */
    int te_last_chunked;
    int te_other;       /* a coding other than chunked */
    int conn_close, conn_keep_alive, conn_upgrade, conn_settings;
    int upgrade_h2c;
    int settings_count;
    const char *settings;
    size_t settings_len;
} fa_h1_scan;

static void fa_h1_scan_content_length(fa_h1_scan *s, const fa_header *h)
{
    /* A list of identical values ("5, 5") or repeated identical fields are
     * accepted as one value, as RFC 9112 6.3 allows; anything else with more
     * than one value, an empty element included, is a 400. */
    const char *cur = h->value, *e;
    size_t n;
    while (fa_h1_list_next(&cur, h->value + h->value_len, &e, &n)) {
        uint64_t v;
        if (fa_h1_parse_content_length(e, n, &v) != 0 || (s->have_cl && v != s->cl)) {
            s->bad = 1;
            return;
        }
        s->have_cl = 1;
        s->cl = v;
    }
}

static void fa_h1_scan_transfer_encoding(fa_h1_scan *s, const fa_header *h)
{
    const char *cur = h->value, *e;
    size_t n;
    s->have_te = 1;
    while (fa_h1_list_next(&cur, h->value + h->value_len, &e, &n)) {
        if (n == 0) /* empty list elements are ignored (RFC 9110 5.6.1) */
            continue;
        /* transfer-coding = token *( OWS ";" OWS transfer-parameter ) */
        size_t tok = 0;
        while (tok < n && fa_h1_is((unsigned char)e[tok], FA_C_TCHAR))
            tok++;
        if (tok == 0 || (tok < n && e[tok] != ';' && e[tok] != ' ' && e[tok] != '\t')) {
            s->bad = 1;
            return;
        }
        /* "chunked" takes no parameters; with some it is not the chunked we
         * know how to decode. */
        int chunked = tok == n && fa_h1_ieq(e, n, "chunked");
        s->te_codings++;
        s->te_chunked += chunked;
        s->te_last_chunked = chunked;
        if (!chunked)
            s->te_other = 1;
    }
}

static void fa_h1_scan_connection(fa_h1_scan *s, const fa_header *h)
{
    const char *cur = h->value, *e;
    size_t n;
    while (fa_h1_list_next(&cur, h->value + h->value_len, &e, &n)) {
        if (fa_h1_ieq(e, n, "close"))
            s->conn_close = 1;
        else if (fa_h1_ieq(e, n, "keep-alive"))
            s->conn_keep_alive = 1;
        else if (fa_h1_ieq(e, n, "upgrade"))
            s->conn_upgrade = 1;
        else if (fa_h1_ieq(e, n, "http2-settings"))
            s->conn_settings = 1;
    }
}

static void fa_h1_scan_expect(fa_h1_scan *s, const fa_header *h)
{
    /* Every element must be 100-continue; an empty Expect is not one. */
    const char *cur = h->value, *e;
    size_t n;
    while (fa_h1_list_next(&cur, h->value + h->value_len, &e, &n)) {
        if (fa_h1_ieq(e, n, "100-continue"))
            s->expect_continue = 1;
        else
            s->expect_bad = 1;
    }
}

static void fa_h1_scan_upgrade(fa_h1_scan *s, const fa_header *h)
{
    const char *cur = h->value, *e;
    size_t n;
    while (fa_h1_list_next(&cur, h->value + h->value_len, &e, &n))
        if (fa_h1_ieq(e, n, "h2c"))
            s->upgrade_h2c = 1;
}

/* uri-host [":" port] (RFC 3986 3.2.2-3.2.3): an IP-literal in brackets or
 * a reg-name / IPv4address (no ':' '[' ']'), then at most one ':' and
 * digits.  An empty value is valid (a target without authority). */
static int fa_h1_host_valid(const char *v, size_t n)
{
    size_t i = 0;
    if (n > 0 && v[0] == '[') {
        const char *close = memchr(v, ']', n);
        if (close == NULL || close == v + 1)
            return 0;
        for (const char *p = v + 1; p < close; p++)
            if (*p == '[' || !fa_h1_is((unsigned char)*p, FA_C_HOST))
                return 0;
        i = (size_t)(close - v) + 1;
    } else {
        while (i < n && v[i] != ':') {
            unsigned char c = (unsigned char)v[i++];
            if (c == '[' || c == ']' || !fa_h1_is(c, FA_C_HOST))
                return 0;
        }
    }
    if (i == n)
        return 1;
    if (v[i] != ':')
        return 0;
    for (i++; i < n; i++)
        if (v[i] < '0' || v[i] > '9')
            return 0;
    return 1;
}

static void fa_h1_scan_host(fa_h1_scan *s, const fa_header *h)
{
    /* RFC 9112 3.2: a Host with an invalid value is a 400. */
    s->host_count++;
    if (!fa_h1_host_valid(h->value, h->value_len))
        s->bad = 1;
}

int fa_h1_absolute_authority(const char *t, size_t n, const char **auth, size_t *auth_len)
{
    /* absolute-form for the schemes we serve: "http://" or "https://",
     * case-insensitive, then the authority up to '/', '?' or the end. */
    size_t skip;
    if (n >= 7 && fa_h1_ieq(t, 7, "http://"))
        skip = 7;
    else if (n >= 8 && fa_h1_ieq(t, 8, "https://"))
        skip = 8;
    else
        return 0;
    size_t e = skip;
    while (e < n && t[e] != '/' && t[e] != '?')
        e++;
    *auth = t + skip;
    *auth_len = e - skip;
    return 1;
}

/* RFC 9112 3.2: the four forms of request-target and the methods they go
 * with.  Returns 0, 400 (no such form, or the wrong method for it) or 501
 * (CONNECT: we are an origin server, not a tunnel; RFC 9110 9.1). */
static int fa_h1_target_status(const fa_h1_request *req)
{
    const char *t = req->target, *auth;
    size_t n = req->target_len, auth_len;
    int connect = req->method_len == 7 && memcmp(req->method, "CONNECT", 7) == 0;
    int options = req->method_len == 7 && memcmp(req->method, "OPTIONS", 7) == 0;
    if (memchr(t, '#', n) != NULL) /* a fragment is never sent (RFC 9110 4.2.5) */
        return 400;
    if (connect) {
        /* authority-form only: uri-host ":" port, the port given */
        const char *colon = NULL;
        for (size_t i = 0; i < n; i++)
            if (t[i] == ':')
                colon = t + i;
        if (colon == NULL || colon + 1 == t + n || !fa_h1_host_valid(t, n) ||
            memchr(t, '@', n) != NULL)
            return 400;
        return 501;
    }
    if (t[0] == '/')
        return 0; /* origin-form */
    if (n == 1 && t[0] == '*')
        return options ? 0 : 400; /* asterisk-form: OPTIONS only */
    /* absolute-form, with a valid authority and no userinfo (RFC 9110
     * 4.2.4: a recipient SHOULD treat userinfo as an error) */
    if (!fa_h1_absolute_authority(t, n, &auth, &auth_len) || auth_len == 0 ||
        memchr(auth, '@', auth_len) != NULL || !fa_h1_host_valid(auth, auth_len))
        return 400;
    return 0;
}

int fa_h1_analyze(const fa_h1_request *req, fa_h1_info *info)
{
    fa_h1_scan s;
    int http11 = req->minor_version == 1;

    memset(&s, 0, sizeof s);
    memset(info, 0, sizeof *info);

    for (size_t i = 0; i < req->num_headers; i++) {
        const fa_header *h = &req->headers[i];
        switch (h->name_len) {
        case 4:
            if (fa_h1_ieq(h->name, 4, "host"))
                fa_h1_scan_host(&s, h);
            break;
        case 6:
            if (fa_h1_ieq(h->name, 6, "expect"))
                fa_h1_scan_expect(&s, h);
            break;
        case 7:
            if (fa_h1_ieq(h->name, 7, "upgrade"))
                fa_h1_scan_upgrade(&s, h);
            break;
        case 10:
            if (fa_h1_ieq(h->name, 10, "connection"))
                fa_h1_scan_connection(&s, h);
            break;
        case 14:
            if (fa_h1_ieq(h->name, 14, "content-length")) {
                fa_h1_scan_content_length(&s, h);
            } else if (fa_h1_ieq(h->name, 14, "http2-settings")) {
                s.settings_count++;
                s.settings = h->value;
                s.settings_len = h->value_len;
            }
            break;
        case 17:
            if (fa_h1_ieq(h->name, 17, "transfer-encoding"))
                fa_h1_scan_transfer_encoding(&s, h);
            break;
        default:
            break;
        }
    }

    if (s.have_te) {
        /* An HTTP/1.0 message with Transfer-Encoding has faulty framing
         * (RFC 9112 6.1), and with Content-Length too the framing is
         * ambiguous: both are request-smuggling vectors. */
        if (!http11 || s.have_cl || s.te_codings == 0 || !s.te_last_chunked ||
            s.te_chunked > 1)
            s.bad = 1;
    }
    /* RFC 9112 3.2: more than one Host is a 400 in any version; none is a
     * 400 in HTTP/1.1. */
    if (s.host_count > 1 || (http11 && s.host_count == 0))
        s.bad = 1;

    int status = fa_h1_target_status(req);
    if (status == 400 || s.bad)
        status = 400;
    else if (status == 0 && s.have_te && s.te_other)
        status = 501;
    else if (status == 0 && s.expect_bad)
        status = 417;
    if (status != 0) {
        /* The body's framing cannot be trusted: the connection must close. */
        return status;
    }

    info->chunked = s.have_te;
    info->content_length = s.have_te ? 0 : s.cl;
    info->keep_alive = s.conn_close ? 0 : (http11 ? 1 : s.conn_keep_alive);
    /* RFC 9110 10.1.1: a 100-continue in an HTTP/1.0 request is ignored. */
    info->expect_continue = http11 && s.expect_continue;
    /* RFC 9110 7.8: Upgrade in an HTTP/1.0 request is ignored. */
    if (http11 && s.upgrade_h2c && s.settings_count == 1 && s.conn_upgrade &&
        s.conn_settings) {
        info->upgrade_h2c = 1;
        info->http2_settings = s.settings;
        info->http2_settings_len = s.settings_len;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Chunked body                                                             */

#define FA_H1_MAX_CHUNK_EXT 4096 /* bytes after the size on one size line */
#define FA_H1_MAX_TRAILER 8192   /* whole trailer section, final CRLF included */

enum {
    FA_CH_SIZE = 0,      /* hex digits of a chunk size; 0 so that init works */
    FA_CH_SIZE_WS,       /* BWS between the size and ';' */
    FA_CH_EXT,           /* chunk extensions, up to CR */
    FA_CH_SIZE_LF,       /* CR of the size line seen */
    FA_CH_DATA,          /* chunk data, chunk_left bytes to go */
    FA_CH_DATA_CR,       /* CRLF after the data */
    FA_CH_DATA_LF,
    FA_CH_TRAILER_START, /* start of a trailer line or of the final CRLF */
    FA_CH_TRAILER_NAME,
    FA_CH_TRAILER_VALUE,
    FA_CH_TRAILER_LF,
    FA_CH_END_LF,        /* CR of the final empty line seen */
    FA_CH_DONE,
    FA_CH_ERROR,
};

static inline int fa_h1_hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20; /* ASCII lowercase; non-letters stay out of range below */
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

ssize_t fa_h1_decode_chunked(fa_h1_chunked *d, char *buf, size_t *len)
{
    size_t in = *len, r = 0, w = 0;

    if (d->state == FA_CH_DONE) {
        *len = 0;
        return (ssize_t)in;
    }
    if (d->state == FA_CH_ERROR) {
        *len = 0;
        return FA_H1_EBAD;
    }
    while (r < in) {
        if (d->state == FA_CH_DATA) {
            /* The hot path: move a run of data over the framing removed so
             * far.  w <= r always, so nothing not yet read is overwritten. */
            size_t take = in - r;
            if (d->chunk_left < take)
                take = (size_t)d->chunk_left;
            if (w != r)
                memmove(buf + w, buf + r, take);
            w += take;
            r += take;
            d->chunk_left -= take;
            if (d->chunk_left == 0)
                d->state = FA_CH_DATA_CR;
            continue;
        }

        unsigned char c = (unsigned char)buf[r++];
        switch (d->state) {
        case FA_CH_SIZE: {
            int v = fa_h1_hexval(c);
            if (v >= 0) {
                if (d->hex_digits == 16)
                    goto bad;
                d->hex_digits++;
                d->chunk_left = (d->chunk_left << 4) | (uint64_t)v;
                break;
            }
            if (d->hex_digits == 0)
                goto bad;
            /* From here to the end of the line hex_digits counts the bytes
             * after the size (this one included), to bound extensions. */
            d->hex_digits = 1;
            if (c == '\r')
                d->state = FA_CH_SIZE_LF;
            else if (c == ';')
                d->state = FA_CH_EXT;
            else if (c == ' ' || c == '\t')
                d->state = FA_CH_SIZE_WS;
            else
                goto bad;
            break;
        }
        case FA_CH_SIZE_WS:
            if (++d->hex_digits > FA_H1_MAX_CHUNK_EXT)
                goto bad;
            if (c == ';')
                d->state = FA_CH_EXT;
            else if (c != ' ' && c != '\t')
                goto bad;
            break;
        case FA_CH_EXT:
            if (c == '\r') {
                d->state = FA_CH_SIZE_LF;
                break;
            }
            /* Extensions are skipped, but bare LF, NUL and other controls
             * are refused like in a field value. */
            if (!fa_h1_is(c, FA_C_VALUE) || ++d->hex_digits > FA_H1_MAX_CHUNK_EXT)
                goto bad;
            break;
        case FA_CH_SIZE_LF:
            if (c != '\n')
                goto bad;
            d->hex_digits = 0;
            d->state = d->chunk_left != 0 ? FA_CH_DATA : FA_CH_TRAILER_START;
            break;
        case FA_CH_DATA_CR:
            if (c != '\r')
                goto bad;
            d->state = FA_CH_DATA_LF;
            break;
        case FA_CH_DATA_LF:
            if (c != '\n')
                goto bad;
            d->state = FA_CH_SIZE;
            d->hex_digits = 0;
            d->chunk_left = 0;
            break;
        case FA_CH_TRAILER_START:
        case FA_CH_TRAILER_NAME:
        case FA_CH_TRAILER_VALUE:
        case FA_CH_TRAILER_LF:
        case FA_CH_END_LF:
            if (++d->trailer_bytes > FA_H1_MAX_TRAILER)
                goto bad;
            switch (d->state) {
            case FA_CH_TRAILER_START:
                /* Trailer fields are discarded, but must still look like
                 * field lines: a name token, a colon, no obs-fold. */
                if (c == '\r')
                    d->state = FA_CH_END_LF;
                else if (fa_h1_is(c, FA_C_TCHAR))
                    d->state = FA_CH_TRAILER_NAME;
                else
                    goto bad;
                break;
            case FA_CH_TRAILER_NAME:
                if (c == ':')
                    d->state = FA_CH_TRAILER_VALUE;
                else if (!fa_h1_is(c, FA_C_TCHAR))
                    goto bad;
                break;
            case FA_CH_TRAILER_VALUE:
                if (c == '\r')
                    d->state = FA_CH_TRAILER_LF;
                else if (!fa_h1_is(c, FA_C_VALUE))
                    goto bad;
                break;
            case FA_CH_TRAILER_LF:
                if (c != '\n')
                    goto bad;
                d->state = FA_CH_TRAILER_START;
                break;
            default: /* FA_CH_END_LF */
                if (c != '\n')
                    goto bad;
                d->state = FA_CH_DONE;
                *len = w;
                return (ssize_t)(in - r);
            }
            break;
        default: /* FA_CH_ERROR, or a state that was never set here */
            goto bad;
        }
    }
    *len = w;
    return FA_H1_INCOMPLETE;

bad:
    /* Sticky, so a caller that ignores one error cannot resync mid-body. */
    d->state = FA_CH_ERROR;
    *len = w;
    return FA_H1_EBAD;
}
