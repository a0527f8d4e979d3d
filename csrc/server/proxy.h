/* proxy.h - what a trusted reverse proxy says about the client.
 *
 * With proxy headers on, a request whose peer is a trusted proxy (the
 * forwarded_allow_ips list: addresses, CIDR networks, or "*") has its
 * client address, scheme and host taken from RFC 7239 `Forwarded`, or else
 * from `X-Forwarded-For` / `X-Forwarded-Proto` / `X-Forwarded-Host`.  The
 * client is the rightmost address of the chain that is not itself a
 * trusted proxy (each proxy appends the peer it saw, so everything right
 * of that address was written by proxies we trust, and everything left of
 * it may be forged by the client); when every address is trusted, or with
 * "*", it is the leftmost one (Uvicorn's rule).
 *
 * No I/O and no allocation: this works on the request's header slices, and
 * the results are slices of them (valid as long as the request).  Fuzzed
 * (fuzz/fuzz_proxy.c) and C-tested (tests/c/test_proxy.c).
 */
#ifndef FA_PROXY_H
#define FA_PROXY_H

#include <stddef.h>

#include "../common/http.h"

#define FA_PROXY_MAX_NETS 64

typedef struct fa_proxy_net {
    int family;               /* AF_INET or AF_INET6 */
    int bits;                 /* prefix length */
    unsigned char addr[16];   /* network byte order, host bits cleared */
} fa_proxy_net;

typedef struct fa_proxy {
    int enabled;    /* proxy_headers */
    int trust_all;  /* "*" in the list */
    size_t num_nets;
    fa_proxy_net nets[FA_PROXY_MAX_NETS];
} fa_proxy;

/* Scheme values of fa_forwarded.scheme. */
enum { FA_FWD_SCHEME_NONE = 0, FA_FWD_SCHEME_HTTP = 1, FA_FWD_SCHEME_HTTPS = 2 };

typedef struct fa_forwarded {
    const char *client; /* NULL: no forwarded client */
    size_t client_len;
    int client_port;    /* 0 when the header has none (X-Forwarded-For never has) */
    int scheme;         /* FA_FWD_SCHEME_* */
    const char *host;   /* NULL: no forwarded host */
    size_t host_len;
} fa_forwarded;

/* Parses a comma-separated list ("127.0.0.1, 10.0.0.0/8, ::1, *") into p
 * (p->enabled is left alone).  Returns 0, or -1 with a message naming the
 * bad entry in err. */
int fa_proxy_parse(fa_proxy *p, const char *list, char *err, size_t err_size);

/* Whether the numeric address host (no brackets; IPv4-mapped IPv6 counts as
 * its IPv4 address) is a trusted proxy.  An empty host (a Unix socket peer)
 * is trusted only with "*". */
int fa_proxy_trusts(const fa_proxy *p, const char *host, size_t len);

/* Reads the forwarding headers of a request whose peer is trusted.
 * Returns 1 when out holds something to apply, 0 when the headers say
 * nothing usable (absent or malformed: they are then ignored). */
int fa_proxy_resolve(const fa_proxy *p, const fa_header *headers, size_t num_headers, fa_forwarded *out);

#endif
