/* accesslog.c - access log formats, per-worker log buffers, and the
 * request records that feed the log and the request metrics (see
 * accesslog.h for where each hook is called from).
 *
 * Everything here runs on the connection's worker thread, except
 * fa_alog_writer_free() at stop (after the worker was joined).
 */
#include "accesslog.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"
#include "proxy.h"
#include "server_internal.h"

/* ------------------------------------------------------------------ */
/* formats                                                              */

typedef enum {
    FA_A_LIT,
    FA_A_CLIENT,        /* 127.0.0.1:54321, [::1]:54321 */
    FA_A_CLIENT_IP,
    FA_A_METHOD,
    FA_A_PATH,
    FA_A_QUERY,
    FA_A_TARGET,        /* path, and ?query when there is one */
    FA_A_PROTOCOL,      /* HTTP/1.0, HTTP/1.1, HTTP/2 */
    FA_A_SCHEME,
    FA_A_STATUS,
    FA_A_STATUS_PHRASE,
    FA_A_BYTES,
    FA_A_DURATION,      /* seconds, microsecond precision */
    FA_A_DURATION_MS,
    FA_A_TIME,          /* RFC 3339, UTC, seconds */
    FA_A_PID,
    FA_A_WORKER,
    FA_A_HEADER,
} fa_atom_kind;

static const struct {
    const char *name;
    fa_atom_kind kind;
} fa_atom_names[] = {
    {"client", FA_A_CLIENT},     {"client_ip", FA_A_CLIENT_IP},
    {"method", FA_A_METHOD},     {"path", FA_A_PATH},
    {"query", FA_A_QUERY},       {"target", FA_A_TARGET},
    {"protocol", FA_A_PROTOCOL}, {"scheme", FA_A_SCHEME},
    {"status", FA_A_STATUS},     {"status_phrase", FA_A_STATUS_PHRASE},
    {"bytes", FA_A_BYTES},       {"duration", FA_A_DURATION},
    {"duration_ms", FA_A_DURATION_MS}, {"time", FA_A_TIME},
    {"pid", FA_A_PID},           {"worker", FA_A_WORKER},
};
#define FA_ATOM_LIST                                                                       \
    "client, client_ip, method, path, query, target, protocol, scheme, status, "          \
    "status_phrase, bytes, duration, duration_ms, time, pid, worker, header:NAME"

typedef struct fa_atom {
    fa_atom_kind kind;
    unsigned hdr;       /* FA_A_HEADER: index into the format's names */
    size_t off, len;    /* FA_A_LIT: bytes of lits */
} fa_atom;

struct fa_alog_format {
    fa_atom *atoms;
    size_t n;
    char *lits;
    unsigned nhdrs;
    char hdr[FA_ALOG_MAX_HEADERS][64]; /* lowercase field names */
    size_t hdr_len[FA_ALOG_MAX_HEADERS];
    int strings; /* some atom needs the request's strings */
    int ws_style; /* FA_ALOG_WS_DEFAULT_FORMAT: {status} of an accepted handshake is [accepted] */
    struct fa_alog_format *ws; /* the default format's WebSocket companion (NULL: this one serves) */
};

void fa_alog_format_free(fa_alog_format *f)
{
    if (f == NULL)
        return;
    fa_alog_format_free(f->ws);
    free(f->atoms);
    free(f->lits);
    free(f);
}

static int fa_alog_is_tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || strchr("!#$%&'*+-.^_`|~", ch);
}

fa_alog_format *fa_alog_format_compile(const char *spec, char *err, size_t err_size)
{
    size_t slen = strlen(spec);
    fa_alog_format *f = calloc(1, sizeof(*f));
    if (f == NULL || (f->atoms = calloc(slen + 1, sizeof(fa_atom))) == NULL ||
        (f->lits = malloc(slen + 1)) == NULL) {
        snprintf(err, err_size, "out of memory");
        fa_alog_format_free(f);
        return NULL;
    }
    size_t lit_len = 0;
    for (size_t i = 0; i < slen;) {
        char ch = spec[i];
        if ((ch == '{' && spec[i + 1] == '{') || (ch == '}' && spec[i + 1] == '}') ||
            (ch != '{' && ch != '}')) {
            /* literal text (a doubled brace is one brace) */
            fa_atom *a = f->n > 0 && f->atoms[f->n - 1].kind == FA_A_LIT ? &f->atoms[f->n - 1] : NULL;
            if (a == NULL) {
                a = &f->atoms[f->n++];
                a->kind = FA_A_LIT;
                a->off = lit_len;
                a->len = 0;
            }
            f->lits[lit_len++] = ch;
            a->len++;
            i += (ch == '{' || ch == '}') ? 2 : 1;
            continue;
        }
        if (ch == '}') {
            snprintf(err, err_size, "access log format: '}' at offset %zu closes nothing (write }} for a brace)", i);
            goto fail;
        }
        const char *end = strchr(spec + i + 1, '}');
        if (end == NULL) {
            snprintf(err, err_size, "access log format: '{' at offset %zu is not closed (write {{ for a brace)", i);
            goto fail;
        }
        const char *name = spec + i + 1;
        size_t nlen = (size_t)(end - name);
        fa_atom *a = &f->atoms[f->n];
        if (nlen >= 7 && memcmp(name, "header:", 7) == 0) {
            const char *h = name + 7;
            size_t hl = nlen - 7;
            if (hl == 0 || hl >= sizeof(f->hdr[0])) {
                snprintf(err, err_size, "access log format: {header:NAME} needs a field name of 1-63 characters");
                goto fail;
            }
            char lower[64];
            for (size_t k = 0; k < hl; k++) {
                unsigned char c = (unsigned char)h[k];
                lower[k] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
                if (!fa_alog_is_tchar((unsigned char)lower[k])) {
                    snprintf(err, err_size, "access log format: {header:%.*s} is not a field name", (int)hl, h);
                    goto fail;
                }
            }
            unsigned k = 0;
            while (k < f->nhdrs && !(f->hdr_len[k] == hl && memcmp(f->hdr[k], lower, hl) == 0))
                k++;
            if (k == f->nhdrs) {
                if (f->nhdrs == FA_ALOG_MAX_HEADERS) {
                    snprintf(err, err_size, "access log format: at most %d different {header:...} atoms",
                             FA_ALOG_MAX_HEADERS);
                    goto fail;
                }
                memcpy(f->hdr[k], lower, hl);
                f->hdr_len[k] = hl;
                f->nhdrs++;
            }
            a->kind = FA_A_HEADER;
            a->hdr = k;
            f->strings = 1;
        } else {
            size_t k = 0, nk = sizeof(fa_atom_names) / sizeof(fa_atom_names[0]);
            while (k < nk && !(strlen(fa_atom_names[k].name) == nlen &&
                               memcmp(fa_atom_names[k].name, name, nlen) == 0))
                k++;
            if (k == nk) {
                snprintf(err, err_size, "access log format: unknown atom {%.*s}; the atoms are " FA_ATOM_LIST,
                         (int)(nlen > 64 ? 64 : nlen), name);
                goto fail;
            }
            a->kind = fa_atom_names[k].kind;
            if (a->kind == FA_A_METHOD || a->kind == FA_A_PATH || a->kind == FA_A_QUERY ||
                a->kind == FA_A_TARGET)
                f->strings = 1;
        }
        f->n++;
        i = (size_t)(end - spec) + 1;
    }
    if (strcmp(spec, FA_ALOG_DEFAULT_FORMAT) == 0) {
        /* Uvicorn's own WebSocket line goes with Uvicorn's default line */
        if ((f->ws = fa_alog_format_compile(FA_ALOG_WS_DEFAULT_FORMAT, err, err_size)) == NULL)
            goto fail;
        f->ws->ws_style = 1;
    }
    return f;
fail:
    fa_alog_format_free(f);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* writers                                                              */

struct fa_alog_writer {
    int fd;
    size_t cap, len;
    uint64_t first_ms; /* when the oldest buffered line was added */
    int64_t time_sec;  /* {time}: cached per second */
    char time_txt[24];
    int pid;
    char *buf;
};

fa_alog_writer *fa_alog_writer_new(int fd)
{
    fa_alog_writer *wr = calloc(1, sizeof(*wr));
    if (wr == NULL)
        return NULL;
    struct stat st;
    /* a pipe or socket guarantees atomic writes only up to PIPE_BUF */
    int pipe_like = fstat(fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
    wr->cap = pipe_like ? PIPE_BUF : 64 * 1024;
    wr->fd = fd;
    wr->time_sec = -1;
    wr->pid = (int)getpid();
    wr->buf = malloc(wr->cap);
    if (wr->buf == NULL) {
        free(wr);
        return NULL;
    }
    return wr;
}

void fa_alog_writer_flush(fa_alog_writer *wr)
{
    size_t off = 0;
    int waits = 0;
    while (off < wr->len) {
        ssize_t n = write(wr->fd, wr->buf + off, wr->len - off);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && waits++ < 10) {
            /* a non-blocking stderr: wait a little rather than drop lines */
            struct pollfd pf = {wr->fd, POLLOUT, 0};
            poll(&pf, 1, 100);
            continue;
        }
        break; /* the log is gone (closed pipe...): drop the lines */
    }
    wr->len = 0;
}

void fa_alog_writer_free(fa_alog_writer *wr)
{
    if (wr == NULL)
        return;
    fa_alog_writer_flush(wr);
    free(wr->buf);
    free(wr);
}

int fa_alog_timeout(fa_worker *w, int ms)
{
    fa_alog_writer *wr = w->alog;
    if (wr == NULL || wr->len == 0)
        return ms;
    uint64_t due = wr->first_ms + FA_ALOG_FLUSH_MS, now = fa_now_ms();
    int left = due <= now ? 0 : (int)(due - now);
    return ms < 0 || left < ms ? left : ms;
}

void fa_alog_tick(fa_worker *w)
{
    fa_alog_writer *wr = w->alog;
    if (wr != NULL && wr->len > 0 && w->now_ms >= wr->first_ms + FA_ALOG_FLUSH_MS)
        fa_alog_writer_flush(wr);
}

/* ------------------------------------------------------------------ */
/* records                                                              */

struct fa_alog_rec {
    int32_t stream_id;
    uint8_t live;
    uint8_t proto_err; /* an error answer given without dispatch */
    uint8_t ws;        /* a WebSocket handshake */
    uint8_t method;    /* FA_M_* */
    int version;       /* 10, 11, 20 */
    int status;        /* 0: no answer yet */
    uint64_t start_ns;
    uint64_t bytes;    /* body bytes of the answer */
    /* the request's strings (with an access log that shows them) */
    size_t method_len, path_len, query_len;
    long hdr_len[FA_ALOG_MAX_HEADERS]; /* -1: absent */
    /* the client a trusted proxy named (proxy.c), instead of the peer */
    size_t client_off, client_len; /* client_len 0: the connection's peer */
    int client_port;
    int fwd_scheme; /* FA_FWD_SCHEME_* */
    fa_buf strs; /* method, path, query, header values, client, back to back */
};

static int fa_alog_proto_index(int version)
{
    return version == 20 ? FA_M_PROTO_2 : version == 10 ? FA_M_PROTO_10 : FA_M_PROTO_11;
}

static fa_alog_rec *fa_alog_find(fa_conn *c, int32_t stream_id)
{
    fa_alog_conn *ac = &c->alog;
    for (unsigned i = 0; i < ac->n; i++)
        if (ac->recs[i].live && ac->recs[i].stream_id == stream_id)
            return &ac->recs[i];
    return NULL;
}

static fa_alog_rec *fa_alog_new(fa_conn *c, int32_t stream_id)
{
    fa_alog_conn *ac = &c->alog;
    fa_alog_rec *r = NULL;
    if (c->dead)
        return NULL; /* its records went with fa_alog_conn_closed() */
    for (unsigned i = 0; i < ac->n && r == NULL; i++)
        if (!ac->recs[i].live)
            r = &ac->recs[i];
    if (r == NULL) {
        if (ac->n == ac->cap) {
            unsigned cap = ac->cap ? ac->cap * 2u : 1u;
            if (cap > UINT16_MAX)
                return NULL;
            fa_alog_rec *p = realloc(ac->recs, cap * sizeof(*p));
            if (p == NULL)
                return NULL;
            memset(p + ac->cap, 0, (cap - ac->cap) * sizeof(*p));
            ac->recs = p;
            ac->cap = (uint16_t)cap;
        }
        r = &ac->recs[ac->n++];
    }
    r->live = 1;
    r->stream_id = stream_id;
    r->proto_err = 0;
    r->ws = 0;
    r->status = 0;
    r->bytes = 0;
    r->method = FA_M_OTHER;
    r->method_len = r->path_len = r->query_len = 0;
    for (int k = 0; k < FA_ALOG_MAX_HEADERS; k++)
        r->hdr_len[k] = -1;
    r->client_len = 0;
    r->fwd_scheme = FA_FWD_SCHEME_NONE;
    fa_buf_reset(&r->strs);
    r->start_ns = fa_m_now_ns();
    return r;
}

/* The connection is counted under the protocol it now speaks. */
static void fa_alog_settle_proto(fa_conn *c, fa_metrics_block *mb)
{
    uint8_t kind = c->proto == FA_PROTO_H2 ? FA_M_CONN_H2 : FA_M_CONN_H1;
    if (c->alog.proto == kind)
        return;
    fa_m_gauge(&mb->conns_open[c->alog.proto], -1);
    fa_m_gauge(&mb->conns_open[kind], 1);
    c->alog.proto = kind;
}

void fa_alog_conn_opened(fa_conn *c)
{
    fa_metrics_block *mb = c->worker->mb;
    c->alog.proto = FA_M_CONN_UNKNOWN;
    if (mb == NULL)
        return;
    fa_m_add(&mb->accepted, 1);
    fa_m_gauge(&mb->conns_open[FA_M_CONN_UNKNOWN], 1);
}

void fa_alog_request_begin(fa_conn *c, int32_t stream_id, const fa_request *req)
{
    fa_worker *w = c->worker;
    if (w->mb == NULL && w->alog == NULL)
        return;
    fa_alog_rec *r = fa_alog_find(c, stream_id);
    if (r == NULL && (r = fa_alog_new(c, stream_id)) == NULL)
        return; /* out of memory: this request goes unlogged */
    r->version = req->http_version;
    r->method = (uint8_t)fa_m_method_index(req->method, req->method_len);
    const fa_alog_format *f = w->srv->alog_fmt;
    if (w->alog != NULL && f->strings) {
        fa_buf *s = &r->strs;
        int bad = fa_buf_append(s, req->method, req->method_len) | fa_buf_append(s, req->path, req->path_len) |
                  fa_buf_append(s, req->query, req->query_len);
        r->method_len = req->method_len;
        r->path_len = req->path_len;
        r->query_len = req->query_len;
        for (unsigned k = 0; k < f->nhdrs; k++)
            for (size_t i = 0; i < req->num_headers; i++) {
                const fa_header *h = &req->headers[i];
                if (h->name_len == f->hdr_len[k] && memcmp(h->name, f->hdr[k], h->name_len) == 0) {
                    bad |= fa_buf_append(s, h->value, h->value_len);
                    r->hdr_len[k] = (long)h->value_len;
                    break;
                }
            }
        if (bad) { /* out of memory: log the line without its strings */
            fa_buf_reset(s);
            r->method_len = r->path_len = r->query_len = 0;
            for (unsigned k = 0; k < f->nhdrs; k++)
                r->hdr_len[k] = -1;
        }
    }
    if (w->alog != NULL) {
        r->fwd_scheme = req->fwd_scheme;
        if (req->client != c->peer && req->client_len > 0) {
            /* forwarded by a trusted proxy: its slice dies with the request */
            r->client_off = r->strs.len;
            if (fa_buf_append(&r->strs, req->client, req->client_len) == 0) {
                r->client_len = req->client_len;
                r->client_port = req->client_port;
            }
        }
    }
    if (w->mb != NULL) {
        fa_alog_settle_proto(c, w->mb);
        fa_m_add(&w->mb->begun[fa_alog_proto_index(r->version)], 1);
    }
}

void fa_alog_request_respond(fa_conn *c, int32_t stream_id, const fa_response *resp)
{
    fa_worker *w = c->worker;
    if (w->mb == NULL && w->alog == NULL)
        return;
    fa_alog_rec *r = fa_alog_find(c, stream_id);
    if (r == NULL) {
        /* the protocol layer answers an error itself (nothing was
         * dispatched): a record for the log line and the error count */
        if ((r = fa_alog_new(c, stream_id)) == NULL)
            return;
        r->proto_err = 1;
        r->version = c->proto == FA_PROTO_H2 ? 20 : c->h1.minor_version == 0 ? 10 : 11;
    }
    if (r->status != 0)
        return; /* a second answer, which the protocol layer drops */
    r->status = resp->status;
    int no_body = fa_http_status_has_no_body(resp->status) || r->method == FA_M_HEAD;
    r->bytes = no_body ? 0 : resp->file_fd >= 0 ? resp->file_len : resp->body.len;
}

void fa_alog_request_bytes(fa_conn *c, int32_t stream_id, size_t n)
{
    if (n == 0 || (c->worker->mb == NULL && c->worker->alog == NULL))
        return;
    fa_alog_rec *r = fa_alog_find(c, stream_id);
    if (r != NULL)
        r->bytes += n;
}

/* --- formatting ------------------------------------------------------ */

typedef struct fa_out {
    char *p;
    size_t len, cap;
    int full;
} fa_out;

static void fa_out_put(fa_out *o, const char *s, size_t n)
{
    if (o->len + n > o->cap) {
        n = o->cap - o->len;
        o->full = 1;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void fa_out_puts(fa_out *o, const char *s) { fa_out_put(o, s, strlen(s)); }

static void fa_out_u64(fa_out *o, uint64_t v)
{
    char num[24], *e = num + sizeof(num), *p = e;
    do
        *--p = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    fa_out_put(o, p, (size_t)(e - p));
}

/* Request bytes as the log shows them: '"', '\' and anything outside
 * printable ASCII become \xHH, so a hostile path can neither end the
 * quoted field nor start a new line. */
static void fa_out_escaped(fa_out *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
            continue;
        fa_out_put(o, s + run, i - run);
        char e[4] = {'\\', 'x', hex[ch >> 4], hex[ch & 15]};
        fa_out_put(o, e, 4);
        run = i + 1;
    }
    fa_out_put(o, s + run, n - run);
}

static void fa_out_field(fa_out *o, const char *s, size_t n)
{
    if (n == 0)
        fa_out_put(o, "-", 1);
    else
        fa_out_escaped(o, s, n);
}

static void fa_out_fixed(fa_out *o, uint64_t ns, uint64_t unit, int decimals)
{
    /* ns / unit with `decimals` digits, without floating point */
    uint64_t scale = 1;
    for (int i = 0; i < decimals; i++)
        scale *= 10;
    uint64_t v = (ns * scale + unit / 2) / unit; /* rounded */
    fa_out_u64(o, v / scale);
    char frac[8];
    uint64_t f = v % scale;
    for (int i = decimals - 1; i >= 0; i--) {
        frac[i] = (char)('0' + f % 10);
        f /= 10;
    }
    fa_out_put(o, ".", 1);
    fa_out_put(o, frac, (size_t)decimals);
}

static void fa_alog_format_line(fa_out *o, const fa_alog_format *f, fa_worker *w, fa_conn *c,
                                const fa_alog_rec *r, uint64_t dur_ns)
{
    const char *s = r->strs.data;
    const char *method = s, *path = s + r->method_len, *query = path + r->path_len;
    for (size_t i = 0; i < f->n; i++) {
        const fa_atom *a = &f->atoms[i];
        switch (a->kind) {
        case FA_A_LIT:
            fa_out_put(o, f->lits + a->off, a->len);
            break;
        case FA_A_CLIENT:
        case FA_A_CLIENT_IP: {
            const char *ip = r->client_len ? s + r->client_off : c->peer;
            size_t ip_len = r->client_len ? r->client_len : c->peer_len;
            int port = r->client_len ? r->client_port : c->peer_port;
            int v6 = memchr(ip, ':', ip_len) != NULL;
            if (ip_len == 0) {
                fa_out_put(o, "-", 1);
                break;
            }
            if (a->kind == FA_A_CLIENT && v6)
                fa_out_put(o, "[", 1);
            fa_out_escaped(o, ip, ip_len); /* a proxy's header: not trusted to be clean */
            if (a->kind == FA_A_CLIENT && port > 0) {
                fa_out_puts(o, v6 ? "]:" : ":");
                fa_out_u64(o, (uint64_t)port);
            } else if (a->kind == FA_A_CLIENT && v6) {
                fa_out_put(o, "]", 1);
            }
            break;
        }
        case FA_A_METHOD:
            fa_out_field(o, method, r->method_len);
            break;
        case FA_A_PATH:
            fa_out_field(o, path, r->path_len);
            break;
        case FA_A_QUERY:
            fa_out_field(o, query, r->query_len);
            break;
        case FA_A_TARGET:
            fa_out_field(o, path, r->path_len);
            if (r->query_len > 0) {
                fa_out_put(o, "?", 1);
                fa_out_escaped(o, query, r->query_len);
            }
            break;
        case FA_A_PROTOCOL:
            fa_out_puts(o, r->version == 20 ? "HTTP/2" : r->version == 10 ? "HTTP/1.0" : "HTTP/1.1");
            break;
        case FA_A_SCHEME:
            fa_out_puts(o, r->fwd_scheme == FA_FWD_SCHEME_HTTPS  ? "https"
                           : r->fwd_scheme == FA_FWD_SCHEME_HTTP ? "http"
                           : c->ssl != NULL                      ? "https"
                                                                 : "http");
            break;
        case FA_A_STATUS:
            if (f->ws_style && (r->status == 101 || r->status == 200))
                fa_out_puts(o, "[accepted]");
            else
                fa_out_u64(o, (uint64_t)r->status);
            break;
        case FA_A_STATUS_PHRASE:
            fa_out_puts(o, fa_http_reason(r->status));
            break;
        case FA_A_BYTES:
            fa_out_u64(o, r->bytes);
            break;
        case FA_A_DURATION:
            fa_out_fixed(o, dur_ns, 1000000000ull, 6);
            break;
        case FA_A_DURATION_MS:
            fa_out_fixed(o, dur_ns, 1000000ull, 3);
            break;
        case FA_A_TIME: {
            fa_alog_writer *wr = w->alog;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME_COARSE, &ts);
            if ((int64_t)ts.tv_sec != wr->time_sec) {
                struct tm tm;
                time_t t = ts.tv_sec;
                gmtime_r(&t, &tm);
                strftime(wr->time_txt, sizeof(wr->time_txt), "%Y-%m-%dT%H:%M:%SZ", &tm);
                wr->time_sec = (int64_t)ts.tv_sec;
            }
            fa_out_puts(o, wr->time_txt);
            break;
        }
        case FA_A_PID:
            fa_out_u64(o, (uint64_t)w->alog->pid);
            break;
        case FA_A_WORKER:
            fa_out_u64(o, (uint64_t)w->id);
            break;
        case FA_A_HEADER: {
            const char *v = query + r->query_len;
            long len = -1;
            for (unsigned k = 0; k <= a->hdr; k++) {
                if (k == a->hdr) {
                    len = r->hdr_len[k];
                    break;
                }
                if (r->hdr_len[k] > 0)
                    v += r->hdr_len[k];
            }
            fa_out_field(o, v, len > 0 ? (size_t)len : 0);
            break;
        }
        }
    }
}

static void fa_alog_write_line(fa_worker *w, fa_conn *c, const fa_alog_rec *r, uint64_t dur_ns)
{
    fa_alog_writer *wr = w->alog;
    const fa_alog_format *f = w->srv->alog_fmt;
    if (r->ws && f->ws != NULL)
        f = f->ws;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (wr->cap - wr->len < 2)
            fa_alog_writer_flush(wr); /* no room for even a cut line */
        fa_out o = {wr->buf + wr->len, 0, wr->cap - wr->len - 1, 0}; /* - 1: room for '\n' */
        fa_alog_format_line(&o, f, w, c, r, dur_ns);
        if (o.full && wr->len > 0) {
            fa_alog_writer_flush(wr); /* try again in an empty buffer */
            continue;
        }
        if (o.full && o.len >= 3)
            memcpy(o.p + o.len - 3, "...", 3); /* longer than the buffer: cut */
        o.p[o.len++] = '\n';
        if (wr->len == 0)
            wr->first_ms = fa_now_ms();
        wr->len += o.len;
        return;
    }
}

/* The request is over: count it, log it, free its record. */
static void fa_alog_finish(fa_conn *c, fa_alog_rec *r)
{
    fa_worker *w = c->worker;
    uint64_t dur = fa_m_now_ns() - r->start_ns;
    fa_metrics_block *mb = w->mb;
    if (mb != NULL) {
        if (r->proto_err) {
            int k;
            switch (r->status) {
            case 400: k = FA_M_ERR_400; break;
            case 408: k = FA_M_ERR_408; break;
            case 413: k = FA_M_ERR_413; break;
            case 414: k = FA_M_ERR_414; break;
            case 431: k = FA_M_ERR_431; break;
            case 505: k = FA_M_ERR_505; break;
            default: k = FA_M_ERR_OTHER_STATUS; break;
            }
            fa_m_add(&mb->errors[k], 1);
        } else {
            int p = fa_alog_proto_index(r->version);
            int cls = r->status >= 100 && r->status < 600 ? r->status / 100 : FA_M_CLASS_NONE;
            fa_m_add(&mb->requests[p][r->method][cls], 1);
            fa_m_observe(mb->duration, &mb->duration_ns, dur);
            fa_m_add(&mb->ended[p], 1);
        }
    }
    /* a request that ended without an answer (reset, refused) has no line */
    if (w->alog != NULL && r->status != 0)
        fa_alog_write_line(w, c, r, dur);
    r->live = 0;
    fa_buf_shrink(&r->strs, 4096);
}

void fa_alog_request_end(fa_conn *c, int32_t stream_id)
{
    if (c->worker->mb == NULL && c->worker->alog == NULL)
        return;
    fa_alog_rec *r = fa_alog_find(c, stream_id);
    if (r != NULL)
        fa_alog_finish(c, r);
}

void fa_alog_conn_closed(fa_conn *c)
{
    fa_alog_conn *ac = &c->alog;
    for (unsigned i = 0; i < ac->n; i++) {
        if (ac->recs[i].live)
            fa_alog_finish(c, &ac->recs[i]);
        fa_buf_free(&ac->recs[i].strs);
    }
    free(ac->recs);
    ac->recs = NULL;
    ac->n = ac->cap = 0;
    if (c->worker->mb != NULL)
        fa_m_gauge(&c->worker->mb->conns_open[ac->proto], -1);
}

/* --- WebSocket handshakes ------------------------------------------------ */

void fa_alog_ws_begin(fa_conn *c, int32_t stream_id, const fa_request *req)
{
    fa_worker *w = c->worker;
    if (w->mb == NULL && w->alog == NULL)
        return;
    fa_alog_request_begin(c, stream_id, req);
    fa_alog_rec *r = fa_alog_find(c, stream_id);
    if (r != NULL)
        r->ws = 1;
}

void fa_alog_ws_answer(fa_conn *c, int32_t stream_id, int status)
{
    if (c->worker->mb == NULL && c->worker->alog == NULL)
        return;
    fa_alog_rec *r = fa_alog_find(c, stream_id);
    if (r == NULL || !r->ws)
        return;
    r->status = status;
    r->bytes = 0;
    fa_alog_finish(c, r);
}
