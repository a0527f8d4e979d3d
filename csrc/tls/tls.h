/* tls.h - TLS on OpenSSL 3: the server's context and a connection's
 * session, as the connection I/O layer (server/conn_io.c) uses them.
 *
 * One fa_tls per server holds the SSL_CTX built from the certificate files
 * (ALPN h2 and http/1.1, session cache and tickets, released buffers,
 * kTLS when the kernel has it).  Workers take a reference to the current
 * SSL_CTX and make one SSL per connection from it; an SSL never leaves its
 * worker thread.  fa_tls_reload() builds a new SSL_CTX from the same files
 * and swaps it in: new connections use it, open ones keep theirs (each SSL
 * holds a reference to its SSL_CTX).
 *
 * Every call on a connection is non-blocking: FA_TLS_WANT_READ and
 * FA_TLS_WANT_WRITE say which readiness to wait for before calling again.
 */
#ifndef FA_TLS_H
#define FA_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ssl_st;
struct ssl_ctx_st;

/* TLS versions, as on the wire (and as OpenSSL numbers them) */
#define FA_TLS_V12 0x0303
#define FA_TLS_V13 0x0304

enum { FA_TLS_VERIFY_NONE = 0, FA_TLS_VERIFY_OPTIONAL = 1, FA_TLS_VERIFY_REQUIRED = 2 };

typedef struct fa_tls_config {
    char certfile[1024];
    char keyfile[1024];   /* empty: the key is in certfile */
    char password[1024];  /* of the key file */
    int has_password;
    char ca_certs[1024];  /* CA bundle that verifies client certificates */
    int cert_reqs;        /* FA_TLS_VERIFY_* */
    char ciphers[1024];   /* TLS 1.2 cipher list (OpenSSL syntax); empty: default */
    int min_version;      /* FA_TLS_V12 or FA_TLS_V13 */
} fa_tls_config;

typedef struct fa_tls fa_tls;

/* What went wrong building a context. */
enum { FA_TLS_ERR_FILE = 1, FA_TLS_ERR_CONTENT = 2, FA_TLS_ERR_OTHER = 3 };

/* Builds the server's context.  Returns NULL with err set (naming the file
 * at fault) and *kind one of FA_TLS_ERR_*; for FA_TLS_ERR_FILE, *errnum is
 * the errno of opening it. */
fa_tls *fa_tls_new(const fa_tls_config *cfg, char *err, size_t err_size, int *kind, int *errnum);
void fa_tls_free(fa_tls *t);
/* Wipes a configuration's password. */
void fa_tls_config_wipe(fa_tls_config *cfg);
/* Loads the certificate files again into a new SSL_CTX and makes it the
 * current one.  Any thread.  Returns 0, or -1 with err set (the old
 * context stays). */
int fa_tls_reload(fa_tls *t, char *err, size_t err_size, int *kind, int *errnum);
/* One line for the startup log: protocols, certificate subject, expiry. */
void fa_tls_describe(fa_tls *t, char *out, size_t out_size);

/* A worker's view: *ctx is its reference to the current SSL_CTX; when the
 * server's changed since *gen, it is swapped for the new one.  Any thread;
 * cheap when nothing changed.  Release with fa_tls_ctx_release(). */
void fa_tls_ctx_refresh(fa_tls *t, struct ssl_ctx_st **ctx, unsigned *gen);
void fa_tls_ctx_release(struct ssl_ctx_st **ctx);

/* --- a connection ------------------------------------------------------ */

/* Results besides byte counts. */
#define FA_TLS_OK 0
#define FA_TLS_EOF 0         /* reads: the peer closed (close_notify or not) */
#define FA_TLS_WANT_READ (-2)
#define FA_TLS_WANT_WRITE (-3)
#define FA_TLS_FAIL (-1)

/* A server-side session on socket fd.  NULL when out of memory.  When
 * drained is not NULL, *drained is set after every read(2) the session makes
 * on fd: 1 when it came back short, would block or hit the end (the socket
 * holds nothing more), else 0. */
struct ssl_st *fa_tls_conn_new(struct ssl_ctx_st *ctx, int fd, unsigned char *drained);
/* Frees it; sends close_notify first when clean != 0 (best effort: the
 * socket is non-blocking and about to close). */
void fa_tls_conn_free(struct ssl_st *ssl, int clean);
/* Drives the handshake.  FA_TLS_OK when done, FA_TLS_WANT_*, or FA_TLS_FAIL
 * with a short reason in why (for the debug log). */
int fa_tls_handshake(struct ssl_st *ssl, char *why, size_t why_size);
ssize_t fa_tls_read(struct ssl_st *ssl, char *buf, size_t len);
ssize_t fa_tls_write(struct ssl_st *ssl, const char *buf, size_t len);
/* Sends file bytes: SSL_sendfile() when kTLS carries the session's
 * writes, else pread() + encrypt (at most one record per call).  Advances
 * *off by what was sent. */
ssize_t fa_tls_sendfile(struct ssl_st *ssl, int fd, uint64_t *off, size_t len);
/* Sends close_notify (once); FA_TLS_OK, FA_TLS_WANT_* or FA_TLS_FAIL. */
int fa_tls_close_notify(struct ssl_st *ssl);
/* 1 when OpenSSL holds bytes the poller cannot see: decrypted ones, or
 * records read ahead from the socket and not yet decrypted (possibly an
 * incomplete one, which needs more bytes from the socket). */
int fa_tls_pending(struct ssl_st *ssl);
/* 1 when the session's writes go through kernel TLS. */
int fa_tls_ktls_send(struct ssl_st *ssl);
/* The protocol ALPN chose: "h2", "http/1.1", or NULL when none. */
const char *fa_tls_alpn(struct ssl_st *ssl);
/* Static strings: "TLSv1.3", "TLS_AES_256_GCM_SHA384"... */
const char *fa_tls_version(struct ssl_st *ssl);
const char *fa_tls_cipher(struct ssl_st *ssl);
/* The verified client certificate's subject (RFC 2253, malloc'd, caller
 * frees), or NULL when the client sent none. */
char *fa_tls_peer_subject(struct ssl_st *ssl);
/* 1 when the session was resumed. */
int fa_tls_resumed(struct ssl_st *ssl);

#endif
