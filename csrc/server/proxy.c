/* proxy.c - client, scheme and host from a trusted proxy's headers.
 * See proxy.h for the rules. */
#include "proxy.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* Elements of a Forwarded header kept for the right-to-left walk; a longer
 * chain keeps its last (rightmost) ones, the only ones that can matter
 * unless every hop is trusted. */
#define FA_FWD_MAX_ELEMENTS 32
#define FA_FWD_MAX_HOST 255

typedef struct fa_slice {
    const char *p;
    size_t n;
} fa_slice;

static int fa_is_ows(char c) { return c == ' ' || c == '\t'; }

static fa_slice fa_trim(const char *p, size_t n)
{
    while (n > 0 && fa_is_ows(p[0])) {
        p++;
        n--;
    }
    while (n > 0 && fa_is_ows(p[n - 1]))
        n--;
    return (fa_slice){p, n};
}

static int fa_ieq(fa_slice s, const char *lit)
{
    size_t n = strlen(lit);
    if (s.n != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s.p[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != lit[i])
            return 0;
    }
    return 1;
}

static int fa_name_is(const fa_header *h, const char *lit)
{
    return h->name_len == strlen(lit) && memcmp(h->name, lit, h->name_len) == 0;
}

/* An address as text into family + 16 bytes; IPv4-mapped IPv6 becomes IPv4.
 * A zone ("fe80::1%eth0") is ignored. */
static int fa_addr_parse(const char *s, size_t n, int *family, unsigned char out[16])
{
    char buf[64];
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *zone = strchr(buf, '%');
    if (zone != NULL)
        *zone = '\0';
    memset(out, 0, 16);
    if (inet_pton(AF_INET, buf, out) == 1) {
        *family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, out) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(out, mapped, 12) == 0) {
            memmove(out, out + 12, 4);
            memset(out + 4, 0, 12);
            *family = AF_INET;
        } else {
            *family = AF_INET6;
        }
        return 0;
    }
    return -1;
}

static void fa_mask(unsigned char addr[16], int bits)
{
    for (int i = 0; i < 16; i++) {
        int keep = bits - i * 8;
        if (keep >= 8)
            continue;
        addr[i] &= keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));
    }
}

int fa_proxy_parse(fa_proxy *p, const char *list, char *err, size_t err_size)
{
    p->trust_all = 0;
    p->num_nets = 0;
    const char *s = list;
    while (*s) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        fa_slice e = fa_trim(s, len);
        s += len + (comma ? 1 : 0);
        if (e.n == 0)
            continue;
        if (e.n == 1 && e.p[0] == '*') {
            p->trust_all = 1;
            continue;
        }
        if (p->num_nets == FA_PROXY_MAX_NETS) {
            snprintf(err, err_size, "forwarded_allow_ips: more than %d entries", FA_PROXY_MAX_NETS);
            return -1;
        }
        fa_proxy_net *net = &p->nets[p->num_nets];
        const char *slash = memchr(e.p, '/', e.n);
        size_t alen = slash ? (size_t)(slash - e.p) : e.n;
        if (fa_addr_parse(e.p, alen, &net->family, net->addr) < 0) {
            snprintf(err, err_size,
                     "forwarded_allow_ips: %.*s is not an IP address or network (give addresses, CIDR "
                     "networks like 10.0.0.0/8, or *)",
                     (int)(e.n > 100 ? 100 : e.n), e.p);
            return -1;
        }
        int max = net->family == AF_INET ? 32 : 128;
        net->bits = max;
        if (slash != NULL) {
            const char *d = slash + 1;
            size_t dn = e.n - alen - 1;
            int bits = 0;
            if (dn == 0 || dn > 3)
                bits = -1;
            for (size_t i = 0; i < dn && bits >= 0; i++)
                bits = (d[i] >= '0' && d[i] <= '9') ? bits * 10 + (d[i] - '0') : -1;
            /* a mapped ::ffff:a.b.c.d/n counts its prefix over the IPv4 part */
            if (bits >= 0 && net->family == AF_INET && memchr(e.p, ':', alen) != NULL)
                bits = bits >= 96 ? bits - 96 : -1;
            if (bits < 0 || bits > max) {
                snprintf(err, err_size, "forwarded_allow_ips: bad prefix length in %.*s (0..%d)",
                         (int)(e.n > 100 ? 100 : e.n), e.p, max);
                return -1;
            }
            net->bits = bits;
        }
        fa_mask(net->addr, net->bits);
        p->num_nets++;
    }
    return 0;
}

int fa_proxy_trusts(const fa_proxy *p, const char *host, size_t len)
{
    if (p->trust_all)
        return 1;
    int family;
    unsigned char a[16];
    if (fa_addr_parse(host, len, &family, a) < 0)
        return 0;
    for (size_t i = 0; i < p->num_nets; i++) {
        const fa_proxy_net *net = &p->nets[i];
        if (net->family != family)
            continue;
        unsigned char m[16];
        memcpy(m, a, 16);
        fa_mask(m, net->bits);
        if (memcmp(m, net->addr, 16) == 0)
            return 1;
    }
    return 0;
}

/* A node ("192.0.2.1", "192.0.2.1:80", "[2001:db8::1]:4711", "unknown",
 * "_hidden") into its address part and port (0 when absent or obfuscated).
 * Returns -1 for characters no node has. */
static int fa_node_split(fa_slice v, fa_slice *addr, int *port)
{
    *port = 0;
    if (v.n == 0)
        return -1;
    for (size_t i = 0; i < v.n; i++) {
        char c = v.p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
              c == ':' || c == '[' || c == ']' || c == '_' || c == '-' || c == '%'))
            return -1;
    }
    fa_slice portpart = {NULL, 0};
    if (v.p[0] == '[') {
        const char *close = memchr(v.p, ']', v.n);
        if (close == NULL)
            return -1;
        *addr = (fa_slice){v.p + 1, (size_t)(close - v.p - 1)};
        size_t rest = v.n - (size_t)(close - v.p) - 1;
        if (rest > 0) {
            if (close[1] != ':')
                return -1;
            portpart = (fa_slice){close + 2, rest - 1};
        }
    } else {
        const char *colon = memchr(v.p, ':', v.n);
        if (colon != NULL && memchr(colon + 1, ':', v.n - (size_t)(colon - v.p) - 1) == NULL) {
            *addr = (fa_slice){v.p, (size_t)(colon - v.p)};
            portpart = (fa_slice){colon + 1, v.n - (size_t)(colon - v.p) - 1};
        } else {
            *addr = v; /* no port, or a bare IPv6 address */
        }
    }
    if (addr->n == 0 || memchr(addr->p, '[', addr->n) || memchr(addr->p, ']', addr->n))
        return -1;
    if (portpart.p != NULL) {
        int n = 0, digits = 1;
        if (portpart.n == 0 || portpart.n > 5)
            digits = 0;
        for (size_t i = 0; i < portpart.n && digits; i++)
            if (portpart.p[i] >= '0' && portpart.p[i] <= '9')
                n = n * 10 + (portpart.p[i] - '0');
            else
                digits = 0;
        if (digits && n <= 65535)
            *port = n;
        else if (!(portpart.n > 0 && portpart.p[0] == '_')) /* "_obf" is an obfuscated port */
            return -1;
    }
    return 0;
}

static int fa_host_ok(fa_slice h)
{
    if (h.n == 0 || h.n > FA_FWD_MAX_HOST)
        return 0;
    for (size_t i = 0; i < h.n; i++) {
        char c = h.p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
              c == '-' || c == ':' || c == '[' || c == ']' || c == '_'))
            return 0;
    }
    return 1;
}

static int fa_scheme_of(fa_slice v)
{
    if (fa_ieq(v, "https") || fa_ieq(v, "wss"))
        return FA_FWD_SCHEME_HTTPS;
    if (fa_ieq(v, "http") || fa_ieq(v, "ws"))
        return FA_FWD_SCHEME_HTTP;
    return FA_FWD_SCHEME_NONE;
}

typedef struct fa_fwd_element {
    fa_slice for_, proto, host;
} fa_fwd_element;

/* RFC 7239 section 4: element *( "," element ), element = pair *( ";" pair ),
 * pair = token "=" ( token / quoted-string ); optional whitespace around the
 * separators, as proxies write it.  Returns the number of elements seen
 * (the last FA_FWD_MAX_ELEMENTS are in els, as a ring), -1 if malformed. */
static long fa_forwarded_parse(const char *p, size_t n, fa_fwd_element *els, fa_fwd_element *leftmost,
                               long seen)
{
    size_t i = 0;
    fa_fwd_element cur;
    memset(&cur, 0, sizeof(cur));
    int have_pair = 0;
    for (;;) {
        while (i < n && fa_is_ows(p[i]))
            i++;
        if (i == n)
            break;
        if (p[i] == ',' || p[i] == ';') { /* empty list members are allowed */
            if (p[i] == ',' && have_pair) {
                if (seen == 0)
                    *leftmost = cur;
                els[seen % FA_FWD_MAX_ELEMENTS] = cur;
                seen++;
                memset(&cur, 0, sizeof(cur));
                have_pair = 0;
            }
            i++;
            continue;
        }
        size_t k = i;
        while (i < n && p[i] != '=' && p[i] != ',' && p[i] != ';' && !fa_is_ows(p[i]) && p[i] != '"')
            i++;
        fa_slice name = {p + k, i - k};
        if (name.n == 0 || i == n || p[i] != '=')
            return -1;
        i++;
        fa_slice value;
        if (i < n && p[i] == '"') {
            size_t q = ++i;
            while (i < n && p[i] != '"') {
                if (p[i] == '\\') /* no escapes in what we read: addresses, schemes, hosts */
                    return -1;
                i++;
            }
            if (i == n)
                return -1;
            value = (fa_slice){p + q, i - q};
            i++;
        } else {
            size_t q = i;
            while (i < n && p[i] != ',' && p[i] != ';' && !fa_is_ows(p[i]) && p[i] != '"')
                i++;
            value = (fa_slice){p + q, i - q};
        }
        if (fa_ieq(name, "for"))
            cur.for_ = value;
        else if (fa_ieq(name, "proto"))
            cur.proto = value;
        else if (fa_ieq(name, "host"))
            cur.host = value;
        have_pair = 1;
        while (i < n && fa_is_ows(p[i]))
            i++;
        if (i < n && p[i] != ',' && p[i] != ';')
            return -1;
    }
    if (have_pair) {
        if (seen == 0)
            *leftmost = cur;
        els[seen % FA_FWD_MAX_ELEMENTS] = cur;
        seen++;
    }
    return seen;
}

static int fa_from_forwarded(const fa_proxy *p, const fa_header *h, size_t nh, fa_forwarded *out)
{
    fa_fwd_element els[FA_FWD_MAX_ELEMENTS], leftmost;
    long seen = 0;
    int present = 0;
    for (size_t i = 0; i < nh; i++) {
        if (!fa_name_is(&h[i], "forwarded"))
            continue;
        present = 1;
        seen = fa_forwarded_parse(h[i].value, h[i].value_len, els, &leftmost, seen);
        if (seen < 0)
            return -1; /* malformed: ignored as a whole */
    }
    if (!present || seen == 0)
        return 0;
    long first = seen > FA_FWD_MAX_ELEMENTS ? seen - FA_FWD_MAX_ELEMENTS : 0;
    long chosen = -1;
    const fa_fwd_element *e = &leftmost; /* every hop trusted, or "*": the first one (Uvicorn) */
    if (!p->trust_all) {
        for (long k = seen - 1; k >= first && chosen < 0; k--) {
            fa_slice addr;
            int port;
            const fa_fwd_element *e = &els[k % FA_FWD_MAX_ELEMENTS];
            if (e->for_.p == NULL || fa_node_split(e->for_, &addr, &port) < 0 ||
                !fa_proxy_trusts(p, addr.p, addr.n))
                chosen = k;
        }
    }
    if (chosen >= 0)
        e = &els[chosen % FA_FWD_MAX_ELEMENTS];
    fa_slice addr;
    int port;
    if (e->for_.p != NULL && fa_node_split(e->for_, &addr, &port) == 0) {
        out->client = addr.p;
        out->client_len = addr.n;
        out->client_port = port;
    }
    if (e->proto.p != NULL)
        out->scheme = fa_scheme_of(e->proto);
    if (e->host.p != NULL && fa_host_ok(e->host)) {
        out->host = e->host.p;
        out->host_len = e->host.n;
    }
    return out->client != NULL || out->scheme != FA_FWD_SCHEME_NONE || out->host != NULL;
}

/* Whether every entry of every X-Forwarded-For field is a node: a list
 * with anything else in it is ignored whole, whoever is trusted. */
static int fa_xff_valid(const fa_header *h, size_t nh)
{
    for (size_t i = 0; i < nh; i++) {
        if (!fa_name_is(&h[i], "x-forwarded-for"))
            continue;
        const char *v = h[i].value;
        size_t n = h[i].value_len, start = 0;
        while (start <= n) {
            const char *comma = memchr(v + start, ',', n - start);
            size_t end = comma ? (size_t)(comma - v) : n;
            fa_slice entry = fa_trim(v + start, end - start), addr;
            int port;
            if (entry.n > 0 && fa_node_split(entry, &addr, &port) < 0)
                return 0;
            start = end + 1;
        }
    }
    return 1;
}

/* X-Forwarded-For, right to left over every field and every entry. */
static void fa_from_xff(const fa_proxy *p, const fa_header *h, size_t nh, fa_forwarded *out)
{
    if (!fa_xff_valid(h, nh))
        return; /* not an address list: ignored */
    fa_slice leftmost = {NULL, 0};
    int leftmost_port = 0;
    for (size_t i = nh; i-- > 0;) {
        if (!fa_name_is(&h[i], "x-forwarded-for"))
            continue;
        const char *v = h[i].value;
        size_t end = h[i].value_len;
        for (;;) {
            size_t start = end;
            while (start > 0 && v[start - 1] != ',')
                start--;
            fa_slice entry = fa_trim(v + start, end - start);
            if (entry.n > 0) {
                fa_slice addr;
                int port;
                if (fa_node_split(entry, &addr, &port) < 0)
                    return; /* checked above */
                leftmost = addr;
                leftmost_port = port;
                if (!p->trust_all && !fa_proxy_trusts(p, addr.p, addr.n)) {
                    out->client = addr.p;
                    out->client_len = addr.n;
                    out->client_port = port;
                    return;
                }
            }
            if (start == 0)
                break;
            end = start - 1;
        }
    }
    if (leftmost.p != NULL) {
        out->client = leftmost.p;
        out->client_len = leftmost.n;
        out->client_port = leftmost_port;
    }
}

static const fa_header *fa_last_named(const fa_header *h, size_t nh, const char *name)
{
    for (size_t i = nh; i-- > 0;)
        if (fa_name_is(&h[i], name))
            return &h[i];
    return NULL;
}

int fa_proxy_resolve(const fa_proxy *p, const fa_header *headers, size_t num_headers, fa_forwarded *out)
{
    memset(out, 0, sizeof(*out));
    /* RFC 7239 first: when a proxy sends it, it is the whole story */
    int r = fa_from_forwarded(p, headers, num_headers, out);
    if (r > 0)
        return 1;
    memset(out, 0, sizeof(*out));
    fa_from_xff(p, headers, num_headers, out);
    const fa_header *proto = fa_last_named(headers, num_headers, "x-forwarded-proto");
    if (proto != NULL)
        out->scheme = fa_scheme_of(fa_trim(proto->value, proto->value_len));
    const fa_header *host = fa_last_named(headers, num_headers, "x-forwarded-host");
    if (host != NULL) {
        /* several proxies: the leftmost is the host the client asked for */
        const char *comma = memchr(host->value, ',', host->value_len);
        fa_slice hs = fa_trim(host->value, comma ? (size_t)(comma - host->value) : host->value_len);
        if (fa_host_ok(hs)) {
            out->host = hs.p;
            out->host_len = hs.n;
        }
    }
    return out->client != NULL || out->scheme != FA_FWD_SCHEME_NONE || out->host != NULL;
}
