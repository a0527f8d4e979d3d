/* conn_bytes.c - heap bytes the libraries hold per idle HTTP/2 connection.
 *
 *   conn_bytes CERT.pem KEY.pem [N]
 *
 * libnghttp2: N server sessions made as csrc/http2/session.c makes them
 * (its options, our SETTINGS, through an nghttp2_mem that counts), each
 * given a client preface and SETTINGS, our answer taken with mem_send and
 * the client's SETTINGS ack given back: the bytes still allocated, per
 * session, and the largest single allocation.
 *
 * OpenSSL: N TLS 1.3 handshakes over memory BIOs, server side set up as
 * csrc/tls/tls.c sets it up (SSL_MODE_RELEASE_BUFFERS, ALPN h2); bytes
 * allocated by server-side calls and still live after the handshake, per
 * connection.  CRYPTO_set_mem_functions is process-wide, which is why this
 * is a program of its own and not part of the server.
 *
 * Counts are of requested bytes (malloc headers and page rounding not
 * included): RSS per connection, as bench/tls.py measures it, is higher.
 */
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- counting allocators ---- */

typedef struct {
    size_t size;
    int owner; /* 1: counted */
    int pad;
} blk;

static size_t live, peak, largest;
static int counting; /* allocations made now belong to the counted side */

static void *cnt_alloc(size_t n)
{
    blk *b = malloc(sizeof(blk) + n);
    if (b == NULL)
        return NULL;
    b->size = n;
    b->owner = counting;
    if (counting) {
        live += n;
        if (live > peak)
            peak = live;
        if (n > largest)
            largest = n;
    }
    return b + 1;
}

static void cnt_free(void *p)
{
    if (p == NULL)
        return;
    blk *b = (blk *)p - 1;
    if (b->owner)
        live -= b->size;
    free(b);
}

static void *cnt_realloc(void *p, size_t n)
{
    if (p == NULL)
        return cnt_alloc(n);
    blk *old = (blk *)p - 1;
    void *q = cnt_alloc(n);
    if (q == NULL)
        return NULL;
    memcpy(q, p, old->size < n ? old->size : n);
    cnt_free(p);
    return q;
}

static void *ng_malloc(size_t n, void *u) { (void)u; return cnt_alloc(n); }
static void ng_free(void *p, void *u) { (void)u; cnt_free(p); }
static void *ng_calloc(size_t a, size_t b, void *u)
{
    (void)u;
    void *p = cnt_alloc(a * b);
    if (p != NULL)
        memset(p, 0, a * b);
    return p;
}
static void *ng_realloc(void *p, size_t n, void *u) { (void)u; return cnt_realloc(p, n); }

static void *ossl_malloc(size_t n, const char *f, int l) { (void)f; (void)l; return cnt_alloc(n); }
static void *ossl_realloc(void *p, size_t n, const char *f, int l)
{
    (void)f;
    (void)l;
    return cnt_realloc(p, n);
}
static void ossl_free(void *p, const char *f, int l) { (void)f; (void)l; cnt_free(p); }

/* ---- libnghttp2 ---- */

static int h2_sessions(int n)
{
    static const uint8_t client_hello[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                                          "\x00\x00\x00\x04\x00\x00\x00\x00\x00";
    static const uint8_t settings_ack[] = "\x00\x00\x00\x04\x01\x00\x00\x00\x00";
    nghttp2_mem mem = {NULL, ng_malloc, ng_free, ng_calloc, ng_realloc};
    nghttp2_session_callbacks *cbs;
    nghttp2_option *opt;
    nghttp2_session **ss = calloc((size_t)n, sizeof *ss);
    if (ss == NULL || nghttp2_session_callbacks_new(&cbs) != 0 || nghttp2_option_new(&opt) != 0)
        return -1;
    /* the options of h2_new_session() */
    nghttp2_option_set_max_settings(opt, 32);
    nghttp2_option_set_max_outbound_ack(opt, 1000);
    nghttp2_option_set_no_closed_streams(opt, 1);
    nghttp2_option_set_no_auto_window_update(opt, 1);
    live = peak = largest = 0;
    counting = 1;
    for (int i = 0; i < n; i++) {
        if (nghttp2_session_server_new3(&ss[i], cbs, NULL, opt, &mem) != 0)
            return -1;
        nghttp2_settings_entry iv[] = {
            {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100},
            {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 16384},
            {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20},
        };
        nghttp2_submit_settings(ss[i], NGHTTP2_FLAG_NONE, iv, 3);
        nghttp2_session_set_local_window_size(ss[i], NGHTTP2_FLAG_NONE, 0, 8 << 20);
        if (nghttp2_session_mem_recv(ss[i], client_hello, sizeof client_hello - 1) < 0)
            return -1;
        const uint8_t *out;
        while (nghttp2_session_mem_send(ss[i], &out) > 0)
            ;
        if (nghttp2_session_mem_recv(ss[i], settings_ack, sizeof settings_ack - 1) < 0)
            return -1;
    }
    counting = 0;
    printf("libnghttp2: %.0f bytes per idle server session (largest allocation %zu bytes, "
           "%d sessions)\n", (double)live / n, largest, n);
    for (int i = 0; i < n; i++)
        nghttp2_session_del(ss[i]);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    free(ss);
    return 0;
}

/* ---- OpenSSL ---- */

static int alpn_h2(SSL *s, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)s;
    (void)arg;
    static const unsigned char h2[] = "\x02h2";
    unsigned char *o;
    if (SSL_select_next_proto(&o, outlen, h2, 3, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = o;
    return SSL_TLSEXT_ERR_OK;
}

static int tls_conns(const char *cert, const char *key, int n)
{
    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method()), *cctx = SSL_CTX_new(TLS_client_method());
    if (sctx == NULL || cctx == NULL || SSL_CTX_use_certificate_chain_file(sctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(sctx, key, SSL_FILETYPE_PEM) != 1)
        return -1;
    SSL_CTX_set_mode(sctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                               SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_options(sctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_session_cache_mode(sctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_set_alpn_select_cb(sctx, alpn_h2, NULL);
    SSL_CTX_set_alpn_protos(cctx, (const unsigned char *)"\x02h2", 3);
    SSL **srv = calloc((size_t)n, sizeof *srv), **cli = calloc((size_t)n, sizeof *cli);
    if (srv == NULL || cli == NULL)
        return -1;
    live = peak = largest = 0;
    for (int i = 0; i < n; i++) {
        BIO *sb, *cb;
        if (BIO_new_bio_pair(&sb, 0, &cb, 0) != 1)
            return -1;
        counting = 1;
        srv[i] = SSL_new(sctx);
        SSL_set_bio(srv[i], sb, sb); /* the server's BIO half: counted */
        SSL_set_accept_state(srv[i]);
        counting = 0;
        cli[i] = SSL_new(cctx);
        SSL_set_bio(cli[i], cb, cb);
        SSL_set_connect_state(cli[i]);
        for (int round = 0; round < 20; round++) {
            int c = SSL_do_handshake(cli[i]);
            counting = 1;
            int s = SSL_do_handshake(srv[i]);
            counting = 0;
            if (c == 1 && s == 1)
                break;
        }
        /* the client reads the tickets; the server's side is idle now */
        char b;
        SSL_read(cli[i], &b, 1);
        counting = 1;
        SSL_read(srv[i], &b, 1); /* nothing to read: WANT_READ, as on an idle connection */
        counting = 0;
        if (!SSL_is_init_finished(srv[i]))
            return -1;
    }
    printf("OpenSSL: %.0f bytes per idle TLS 1.3 server connection after the handshake "
           "(largest allocation %zu bytes, %d connections, %s)\n",
           (double)live / n, largest, n, SSL_get_cipher(srv[0]));
    for (int i = 0; i < n; i++) {
        SSL_free(srv[i]);
        SSL_free(cli[i]);
    }
    free(srv);
    free(cli);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s CERT.pem KEY.pem [N]\n", argv[0]);
        return 2;
    }
    int n = argc > 3 ? atoi(argv[3]) : 100;
    if (n < 1)
        n = 1;
    if (!CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free)) {
        fprintf(stderr, "CRYPTO_set_mem_functions refused (OpenSSL allocated already)\n");
        return 1;
    }
    if (h2_sessions(n) < 0) {
        fprintf(stderr, "nghttp2 part failed\n");
        return 1;
    }
    if (tls_conns(argv[1], argv[2], n) < 0) {
        fprintf(stderr, "OpenSSL part failed\n");
        ERR_print_errors_fp(stderr);
        return 1;
    }
    return 0;
}
