/* tls.c - TLS on OpenSSL 3 (see tls.h).
 *
 * OpenSSL objects stay where they were made: the SSL_CTX is shared by the
 * workers (OpenSSL locks what it shares, such as the session cache), and
 * each SSL lives on its connection's worker thread.
 */
#include "tls.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

struct fa_tls {
    fa_tls_config cfg;
    pthread_mutex_t mu;   /* guards cur */
    SSL_CTX *cur;         /* the context new connections use */
    _Atomic unsigned gen; /* bumped on every swap */
};

/* The protocols we offer, in our order of preference (ALPN wire format). */
static const unsigned char fa_alpn_offer[] = "\x02h2\x08http/1.1";

/* The last OpenSSL error as text, and the queue emptied. */
static void fa_tls_errstr(char *out, size_t n)
{
    unsigned long e = ERR_peek_last_error();
    if (e == 0)
        snprintf(out, n, "no detail from OpenSSL");
    else
        ERR_error_string_n(e, out, n);
    ERR_clear_error();
}

/* Our preference wins among what the client offers; no common protocol
 * means no ALPN, hence HTTP/1.1. */
static int fa_tls_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                              const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    unsigned char *sel;
    unsigned char sel_len;
    if (SSL_select_next_proto(&sel, &sel_len, fa_alpn_offer, sizeof(fa_alpn_offer) - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    *outlen = sel_len;
    return SSL_TLSEXT_ERR_OK;
}

/* Gives OpenSSL the key's password; without one, an encrypted key fails
 * instead of prompting on the terminal. */
static int fa_tls_password_cb(char *buf, int size, int rwflag, void *userdata)
{
    (void)rwflag;
    const fa_tls_config *cfg = userdata;
    if (!cfg->has_password)
        return 0;
    size_t n = strlen(cfg->password);
    if (n > (size_t)size)
        return 0;
    memcpy(buf, cfg->password, n);
    return (int)n;
}

/* errno of opening path for reading, 0 when it opens. */
static int fa_tls_check_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return errno ? errno : ENOENT;
    fclose(f);
    return 0;
}

static SSL_CTX *fa_tls_build(const fa_tls_config *cfg, char *err, size_t err_size, int *kind, int *errnum)
{
    char why[256];
    *errnum = 0;
    const char *keyfile = cfg->keyfile[0] ? cfg->keyfile : cfg->certfile;
    const char *files[3][2] = {{"ssl_certfile", cfg->certfile}, {"ssl_keyfile", keyfile},
                               {"ssl_ca_certs", cfg->ca_certs}};
    for (int i = 0; i < 3; i++) {
        if (files[i][1][0] == '\0')
            continue;
        int e = fa_tls_check_file(files[i][1]);
        if (e != 0) {
            snprintf(err, err_size, "%s %s: %s", files[i][0], files[i][1], strerror(e));
            *kind = FA_TLS_ERR_FILE;
            *errnum = e;
            return NULL;
        }
    }
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        fa_tls_errstr(why, sizeof(why));
        snprintf(err, err_size, "cannot create a TLS context: %s", why);
        *kind = FA_TLS_ERR_OTHER;
        return NULL;
    }
    *kind = FA_TLS_ERR_CONTENT;
    SSL_CTX_set_min_proto_version(ctx, cfg->min_version);
    /* IGNORE_UNEXPECTED_EOF: a client that closes without close_notify
     * reads as a plain end of stream, as most HTTPS clients do that. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_IGNORE_UNEXPECTED_EOF |
                                 SSL_OP_ENABLE_KTLS);
    /* RELEASE_BUFFERS: an idle connection gives its 16 KiB record buffers
     * back.  Partial and moving writes: the write buffer may grow between
     * a write that would block and its retry. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* Read-ahead: one read(2) takes every record the socket holds, instead
     * of two per record (its 5-byte header, then its body).  Records read
     * but not yet decrypted are seen by SSL_has_pending() (fa_tls_pending). */
    SSL_CTX_set_read_ahead(ctx, 1);
    /* TLS 1.3 suites in Mozilla's "intermediate" order (AES-128-GCM first,
     * as h2o and most browsers prefer; OpenSSL's own default puts
     * AES-256-GCM first).  ssl_ciphers= governs the TLS 1.2 list. */
    SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                                  "TLS_CHACHA20_POLY1305_SHA256");
    /* Resumption: TLS 1.3 tickets (stateless) and a server-side cache for
     * TLS 1.2 session ids, shared by the workers. */
    static const unsigned char sid_ctx[] = "fasterapi";
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(ctx, 20480);
    SSL_CTX_set_timeout(ctx, 3600);
    SSL_CTX_set_alpn_select_cb(ctx, fa_tls_alpn_select, NULL);
    SSL_CTX_set_default_passwd_cb(ctx, fa_tls_password_cb);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, (void *)cfg);

    if (cfg->ciphers[0] && SSL_CTX_set_cipher_list(ctx, cfg->ciphers) != 1) {
        fa_tls_errstr(why, sizeof(why));
        snprintf(err, err_size, "ssl_ciphers %s: no usable cipher (%s)", cfg->ciphers, why);
        goto fail;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->certfile) != 1) {
        fa_tls_errstr(why, sizeof(why));
        snprintf(err, err_size, "ssl_certfile %s: not a PEM certificate (%s)", cfg->certfile, why);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, keyfile, SSL_FILETYPE_PEM) != 1) {
        int mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
        fa_tls_errstr(why, sizeof(why));
        if (mismatch) {
            snprintf(err, err_size, "ssl_keyfile %s does not match ssl_certfile %s (%s)", keyfile,
                     cfg->certfile, why);
            goto fail;
        }
        snprintf(err, err_size, "ssl_keyfile %s: %s (%s)", keyfile,
                 cfg->has_password ? "wrong password, or not a PEM private key"
                                   : "not a PEM private key, or encrypted and no ssl_keyfile_password",
                 why);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        fa_tls_errstr(why, sizeof(why));
        snprintf(err, err_size, "ssl_keyfile %s does not match ssl_certfile %s (%s)", keyfile,
                 cfg->certfile, why);
        goto fail;
    }
    /* the password is needed only while loading */
    SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
    if (cfg->ca_certs[0]) {
        if (SSL_CTX_load_verify_locations(ctx, cfg->ca_certs, NULL) != 1) {
            fa_tls_errstr(why, sizeof(why));
            snprintf(err, err_size, "ssl_ca_certs %s: no PEM certificate (%s)", cfg->ca_certs, why);
            goto fail;
        }
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->ca_certs);
        if (names != NULL)
            SSL_CTX_set_client_CA_list(ctx, names);
        ERR_clear_error();
    } else if (cfg->cert_reqs != FA_TLS_VERIFY_NONE) {
        snprintf(err, err_size, "ssl_cert_reqs %s needs ssl_ca_certs (the CAs that sign client certificates)",
                 cfg->cert_reqs == FA_TLS_VERIFY_REQUIRED ? "required" : "optional");
        *kind = FA_TLS_ERR_OTHER;
        goto fail;
    }
    int mode = SSL_VERIFY_NONE;
    if (cfg->cert_reqs == FA_TLS_VERIFY_OPTIONAL)
        mode = SSL_VERIFY_PEER;
    else if (cfg->cert_reqs == FA_TLS_VERIFY_REQUIRED)
        mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx, mode, NULL);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

fa_tls *fa_tls_new(const fa_tls_config *cfg, char *err, size_t err_size, int *kind, int *errnum)
{
    fa_tls *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        snprintf(err, err_size, "out of memory");
        *kind = FA_TLS_ERR_OTHER;
        *errnum = 0;
        return NULL;
    }
    t->cfg = *cfg;
    pthread_mutex_init(&t->mu, NULL);
    t->cur = fa_tls_build(&t->cfg, err, err_size, kind, errnum);
    if (t->cur == NULL) {
        fa_tls_free(t);
        return NULL;
    }
    atomic_store(&t->gen, 1);
    return t;
}

void fa_tls_free(fa_tls *t)
{
    if (t == NULL)
        return;
    SSL_CTX_free(t->cur);
    pthread_mutex_destroy(&t->mu);
    OPENSSL_cleanse(t->cfg.password, sizeof(t->cfg.password));
    free(t);
}

void fa_tls_config_wipe(fa_tls_config *cfg)
{
    OPENSSL_cleanse(cfg->password, sizeof(cfg->password));
}

int fa_tls_reload(fa_tls *t, char *err, size_t err_size, int *kind, int *errnum)
{
    SSL_CTX *ctx = fa_tls_build(&t->cfg, err, err_size, kind, errnum);
    if (ctx == NULL)
        return -1;
    pthread_mutex_lock(&t->mu);
    SSL_CTX *old = t->cur;
    t->cur = ctx;
    atomic_fetch_add(&t->gen, 1);
    pthread_mutex_unlock(&t->mu);
    SSL_CTX_free(old); /* connections and workers still holding it keep it alive */
    return 0;
}

void fa_tls_ctx_refresh(fa_tls *t, SSL_CTX **ctx, unsigned *gen)
{
    unsigned g = atomic_load_explicit(&t->gen, memory_order_acquire);
    if (*ctx != NULL && g == *gen)
        return;
    pthread_mutex_lock(&t->mu);
    SSL_CTX *cur = t->cur;
    SSL_CTX_up_ref(cur);
    *gen = atomic_load(&t->gen);
    pthread_mutex_unlock(&t->mu);
    SSL_CTX_free(*ctx);
    *ctx = cur;
}

void fa_tls_ctx_release(SSL_CTX **ctx)
{
    SSL_CTX_free(*ctx);
    *ctx = NULL;
}

void fa_tls_describe(fa_tls *t, char *out, size_t out_size)
{
    char subject[256] = "?", expiry[64] = "?";
    pthread_mutex_lock(&t->mu);
    X509 *x = SSL_CTX_get0_certificate(t->cur);
    if (x != NULL) {
        BIO *b = BIO_new(BIO_s_mem());
        if (b != NULL) {
            X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253);
            int n = BIO_read(b, subject, (int)sizeof(subject) - 1);
            subject[n > 0 ? n : 0] = '\0';
            (void)BIO_reset(b);
            ASN1_TIME_print(b, X509_get0_notAfter(x));
            n = BIO_read(b, expiry, (int)sizeof(expiry) - 1);
            expiry[n > 0 ? n : 0] = '\0';
            BIO_free(b);
        }
    }
    int minv = t->cfg.min_version;
    pthread_mutex_unlock(&t->mu);
    snprintf(out, out_size, "TLS (%s and up; ALPN h2, http/1.1): certificate %s, expires %s",
             minv == FA_TLS_V13 ? "TLSv1.3" : "TLSv1.2", subject, expiry);
}

/* --------------------------------------------------------------------- */
/* A connection */

/* Notes, after each read(2) OpenSSL makes on the socket, whether it came
 * back short (or would block, or hit the end): then the socket is drained,
 * as a short recv() tells a cleartext connection. */
static long fa_tls_bio_read_cb(BIO *b, int oper, const char *argp, size_t len, int argi, long argl,
                               int ret, size_t *processed)
{
    (void)argp;
    (void)argi;
    (void)argl;
    if (oper == (BIO_CB_READ | BIO_CB_RETURN)) {
        unsigned char *drained = (unsigned char *)BIO_get_callback_arg(b);
        if (drained != NULL)
            *drained = ret <= 0 || processed == NULL || *processed < len;
    }
    return ret;
}

SSL *fa_tls_conn_new(SSL_CTX *ctx, int fd, unsigned char *drained)
{
    SSL *ssl = SSL_new(ctx);
    if (ssl == NULL) {
        ERR_clear_error();
        return NULL;
    }
    if (SSL_set_fd(ssl, fd) != 1) {
        ERR_clear_error();
        SSL_free(ssl);
        return NULL;
    }
    if (drained != NULL) {
        BIO *rb = SSL_get_rbio(ssl);
        *drained = 0;
        BIO_set_callback_arg(rb, (char *)drained);
        BIO_set_callback_ex(rb, fa_tls_bio_read_cb);
    }
    SSL_set_accept_state(ssl);
    return ssl;
}

void fa_tls_conn_free(SSL *ssl, int clean)
{
    if (ssl == NULL)
        return;
    if (clean && SSL_is_init_finished(ssl))
        (void)fa_tls_close_notify(ssl);
    SSL_free(ssl);
    ERR_clear_error();
}

/* Maps SSL_get_error() for a call that returned r <= 0. */
static int fa_tls_result(SSL *ssl, int r)
{
    int e = SSL_get_error(ssl, r);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        return FA_TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return FA_TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        return FA_TLS_EOF;
    default:
        /* a broken session must not send close_notify: mark it shut */
        SSL_set_quiet_shutdown(ssl, 1);
        ERR_clear_error();
        return FA_TLS_FAIL;
    }
}

int fa_tls_handshake(SSL *ssl, char *why, size_t why_size)
{
    ERR_clear_error();
    int r = SSL_do_handshake(ssl);
    if (r == 1)
        return FA_TLS_OK;
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ)
        return FA_TLS_WANT_READ;
    if (e == SSL_ERROR_WANT_WRITE)
        return FA_TLS_WANT_WRITE;
    if (e == SSL_ERROR_SSL)
        fa_tls_errstr(why, why_size);
    else if (e == SSL_ERROR_SYSCALL && errno != 0)
        snprintf(why, why_size, "%s", strerror(errno));
    else
        snprintf(why, why_size, "the peer closed the connection");
    SSL_set_quiet_shutdown(ssl, 1);
    ERR_clear_error();
    return FA_TLS_FAIL;
}

ssize_t fa_tls_read(SSL *ssl, char *buf, size_t len)
{
    size_t got = 0;
    ERR_clear_error();
    if (SSL_read_ex(ssl, buf, len, &got) == 1)
        return (ssize_t)got;
    return fa_tls_result(ssl, 0);
}

ssize_t fa_tls_write(SSL *ssl, const char *buf, size_t len)
{
    size_t put = 0;
    ERR_clear_error();
    if (SSL_write_ex(ssl, buf, len, &put) == 1)
        return (ssize_t)put;
    int r = fa_tls_result(ssl, 0);
    return r == FA_TLS_EOF ? FA_TLS_FAIL : r;
}

ssize_t fa_tls_sendfile(SSL *ssl, int fd, uint64_t *off, size_t len)
{
    if (fa_tls_ktls_send(ssl)) {
        ERR_clear_error();
        ossl_ssize_t n = SSL_sendfile(ssl, fd, (off_t)*off, len, 0);
        if (n > 0) {
            *off += (uint64_t)n;
            return (ssize_t)n;
        }
        if (n == 0)
            return FA_TLS_FAIL; /* the file is shorter than it was */
        int r = fa_tls_result(ssl, (int)n);
        return r == FA_TLS_EOF ? FA_TLS_FAIL : r;
    }
    /* Read + encrypt, one record at a time.  A write that would block is
     * retried with the same bytes read again from the same offset: OpenSSL
     * has the record encrypted already and only finishes sending it. */
    char buf[16384];
    size_t want = len < sizeof(buf) ? len : sizeof(buf);
    ssize_t got;
    do
        got = pread(fd, buf, want, (off_t)*off);
    while (got < 0 && errno == EINTR);
    if (got <= 0)
        return FA_TLS_FAIL;
    ssize_t n = fa_tls_write(ssl, buf, (size_t)got);
    if (n > 0)
        *off += (uint64_t)n;
    return n;
}

int fa_tls_close_notify(SSL *ssl)
{
    if (SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN)
        return FA_TLS_OK;
    ERR_clear_error();
    int r = SSL_shutdown(ssl);
    if (r >= 0)
        return FA_TLS_OK; /* sent (0: the peer's has not come, and need not) */
    int e = SSL_get_error(ssl, r);
    ERR_clear_error();
    if (e == SSL_ERROR_WANT_WRITE)
        return FA_TLS_WANT_WRITE;
    if (e == SSL_ERROR_WANT_READ)
        return FA_TLS_WANT_READ;
    return FA_TLS_FAIL;
}

int fa_tls_pending(SSL *ssl) { return SSL_has_pending(ssl); }

int fa_tls_ktls_send(SSL *ssl)
{
    BIO *b = SSL_get_wbio(ssl);
    return b != NULL && BIO_get_ktls_send(b) ? 1 : 0;
}

const char *fa_tls_alpn(SSL *ssl)
{
    const unsigned char *p = NULL;
    unsigned int n = 0;
    SSL_get0_alpn_selected(ssl, &p, &n);
    if (n == 2 && memcmp(p, "h2", 2) == 0)
        return "h2";
    if (n == 8 && memcmp(p, "http/1.1", 8) == 0)
        return "http/1.1";
    return NULL;
}

const char *fa_tls_version(SSL *ssl) { return SSL_get_version(ssl); }

const char *fa_tls_cipher(SSL *ssl)
{
    const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
    return c ? SSL_CIPHER_get_name(c) : "";
}

char *fa_tls_peer_subject(SSL *ssl)
{
    X509 *x = SSL_get0_peer_certificate(ssl);
    if (x == NULL || SSL_get_verify_result(ssl) != X509_V_OK)
        return NULL;
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL)
        return NULL;
    X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253);
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s != NULL) {
        memcpy(s, data, (size_t)n);
        s[n] = '\0';
    }
    BIO_free(b);
    return s;
}

int fa_tls_resumed(SSL *ssl) { return SSL_session_reused(ssl); }

_Static_assert(FA_TLS_V12 == TLS1_2_VERSION && FA_TLS_V13 == TLS1_3_VERSION,
               "tls.h numbers TLS versions as OpenSSL does");
