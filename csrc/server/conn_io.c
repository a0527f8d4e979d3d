/* conn_io.c - a connection's I/O: reading, writing, sending files,
 * closing, and the poller interest that goes with them.
 *
 * The worker's loop calls in here with readiness events; this layer moves
 * bytes between the socket and the connection's buffers and calls the
 * protocol layer (http1/conn.c or http2/session.c) with what it read, or
 * to fill the write buffer.  The transport calls at the top are the only
 * place that touches the socket's bytes.
 */
#include "conn_io_internal.h"

#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../http2/session.h"
#include "../tls/tls.h"
#include "server_internal.h"

#define FA_READ_CHUNK 16384
/* rounds of reading per readiness event, so one busy client cannot starve
 * the others of the worker */
#define FA_READ_ROUNDS 8

/* --------------------------------------------------------------------- */
/* The transport */

/* A TLS call's result as a transport result; a read that needs to write
 * (or a write that needs to read) records which readiness to wait for. */
static ssize_t fa_conn_tls_result(fa_conn *c, ssize_t n, int reading)
{
    if (n >= 0)
        return n;
    if (n == FA_TLS_WANT_READ) {
        if (!reading)
            c->tls_write_wants_read = 1;
        return FA_IO_AGAIN;
    }
    if (n == FA_TLS_WANT_WRITE) {
        if (reading)
            c->tls_read_wants_write = 1;
        return FA_IO_AGAIN;
    }
    c->tls_failed = 1;
    return FA_IO_ERROR;
}

ssize_t fa_conn_read(fa_conn *c, char *buf, size_t len)
{
    if (c->ssl != NULL) {
        c->tls_read_wants_write = 0;
        return fa_conn_tls_result(c, fa_tls_read(c->ssl, buf, len), 1);
    }
    for (;;) {
        ssize_t n = recv(c->io.fd, buf, len, 0);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? FA_IO_AGAIN : FA_IO_ERROR;
    }
}

ssize_t fa_conn_write(fa_conn *c, const char *buf, size_t len)
{
    if (c->ssl != NULL) {
        c->tls_write_wants_read = 0;
        return fa_conn_tls_result(c, fa_tls_write(c->ssl, buf, len), 0);
    }
    for (;;) {
        ssize_t n = send(c->io.fd, buf, len, MSG_NOSIGNAL);
        if (n > 0)
            return n;
        if (n < 0 && errno == EINTR)
            continue;
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? FA_IO_AGAIN : FA_IO_ERROR;
    }
}

ssize_t fa_conn_sendfile(fa_conn *c, int fd, uint64_t *off, size_t len)
{
    if (c->ssl != NULL) {
        fa_worker *w = c->worker;
        if (!w->tls_file_logged) {
            w->tls_file_logged = 1;
            fa_log("worker %d: files over TLS go by %s", w->id,
                   fa_tls_ktls_send(c->ssl) ? "sendfile (kernel TLS)"
                                            : "read + encrypt (no kernel TLS for this session)");
        }
        c->tls_write_wants_read = 0;
        return fa_conn_tls_result(c, fa_tls_sendfile(c->ssl, fd, off, len), 0);
    }
    for (;;) {
        off_t o = (off_t)*off;
        ssize_t n = sendfile(c->io.fd, fd, &o, len);
        if (n > 0) {
            *off += (uint64_t)n;
            return n;
        }
        if (n < 0 && errno == EINTR)
            continue;
        /* 0: the file is shorter than it was when opened */
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? FA_IO_AGAIN : FA_IO_ERROR;
    }
}

/* Ends our sending side (after close_notify on TLS).  Returns 0 or -1. */
static int fa_conn_shutdown_write(fa_conn *c)
{
    if (c->ssl != NULL && !c->tls_failed && !c->tls_handshake)
        (void)fa_tls_close_notify(c->ssl); /* best effort: we are done writing */
    return shutdown(c->io.fd, SHUT_WR);
}

/* --------------------------------------------------------------------- */
/* Buffers: blocks of FA_CHUNK bytes from the worker's free list */

void fa_conn_buf_take(fa_conn *c, fa_buf *b)
{
    if (b->cap != 0)
        return;
    fa_worker *w = c->worker;
    char *p = w->num_chunks > 0 ? w->chunks[--w->num_chunks] : malloc(FA_CHUNK);
    if (p == NULL)
        return; /* fa_buf_reserve will try again and report */
    b->data = p;
    b->cap = FA_CHUNK;
    b->len = 0;
}

void fa_conn_buf_release(fa_conn *c, fa_buf *b)
{
    if (b->cap == 0 || b->len != 0)
        return;
    fa_worker *w = c->worker;
    if (b->cap == FA_CHUNK && w->num_chunks < FA_CHUNK_POOL) {
        w->chunks[w->num_chunks++] = b->data;
        b->data = NULL;
        b->cap = 0;
    } else {
        fa_buf_free(b);
    }
}

/* --------------------------------------------------------------------- */
/* Opening and closing */

/* The peer's numeric address and port, kept for req['client']. */
static void fa_conn_set_peer(fa_conn *c, const struct sockaddr_storage *ss)
{
    const void *addr = NULL;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        addr = &in->sin_addr;
        c->peer_port = ntohs(in->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        addr = &in6->sin6_addr;
        c->peer_port = ntohs(in6->sin6_port);
    }
    c->peer_len = 0;
    if (addr != NULL && inet_ntop(ss->ss_family, addr, c->peer, sizeof(c->peer)) != NULL)
        c->peer_len = (uint8_t)strlen(c->peer);
}

fa_conn *fa_conn_open(fa_worker *w, int fd, const struct sockaddr_storage *peer)
{
    fa_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        return NULL;
    }
    c->io.kind = FA_IO_CONN;
    c->io.fd = fd;
    c->worker = w;
    c->proto = FA_PROTO_DETECT;
    c->timer = FA_TIMER_NONE;
    fa_conn_set_peer(c, peer);
    fa_h1_init(c);
    fa_worker_conn_opened(c);
    if (w->srv->tls != NULL) {
        fa_tls_ctx_refresh(w->srv->tls, &w->tls_ctx, &w->tls_gen);
        c->ssl = fa_tls_conn_new(w->tls_ctx, fd, &c->tls_drained);
        if (c->ssl == NULL) {
            fa_conn_close(c);
            return NULL;
        }
        c->tls_handshake = 1;
    }
    if (fa_loop_add(w->loop, fd, FA_EV_READ, &c->io) < 0) {
        c->io.events = 0;
        fa_conn_close(c);
        return NULL;
    }
    c->io.events = FA_EV_READ;
    /* The head timeout runs from accept: a client that connects and sends
     * nothing is a slowloris too. */
    fa_conn_set_timer(c, FA_TIMER_HEAD);
    return c;
}

void fa_conn_close(fa_conn *c)
{
    if (c->dead)
        return;
    fa_worker *w = c->worker;
    fa_worker_conn_closing(c);
    if (c->ssl != NULL) {
        /* close_notify tells the client the end is not a truncation */
        fa_tls_conn_free(c->ssl, !c->tls_failed && !c->tls_handshake);
        c->ssl = NULL;
    }
    if (c->io.events)
        fa_loop_del(w->loop, c->io.fd, c->io.events);
    close(c->io.fd);
    c->io.fd = -1;
    c->io.events = 0;
    c->dead = 1;
}

void fa_conn_free(fa_conn *c)
{
    if (c->ws != NULL)
        fa_wsc_conn_free(c);
    if (c->h1.file_fd >= 0)
        close(c->h1.file_fd);
    fa_buf_reset(&c->rbuf);
    fa_buf_reset(&c->wbuf);
    fa_conn_buf_release(c, &c->rbuf);
    fa_conn_buf_release(c, &c->wbuf);
    if (c->h2)
        fa_h2_free(c);
    if (c->ssl != NULL)
        fa_tls_conn_free(c->ssl, 0);
    free(c->tls_subject);
    free(c);
}

static void fa_conn_set_events(fa_conn *c, uint32_t events)
{
    if (c->dead || c->io.events == events)
        return;
    fa_worker *w = c->worker;
    int rc;
    if (c->io.events == 0)
        rc = fa_loop_add(w->loop, c->io.fd, events, &c->io);
    else if (events == 0)
        rc = fa_loop_del(w->loop, c->io.fd, c->io.events);
    else
        rc = fa_loop_mod(w->loop, c->io.fd, c->io.events, events, &c->io);
    if (rc < 0) {
        fa_conn_close(c);
        return;
    }
    c->io.events = events;
}

/* Closing right after an error answer while the peer is still sending
 * would make the kernel send RST, which can destroy the answer before the
 * peer reads it.  So shut our side down and discard input until the peer
 * closes or a short deadline passes (what RFC 9112 section 9.6 calls a
 * staged close). */
static void fa_conn_close_lingering(fa_conn *c)
{
    /* Also while the worker stops: a graceful stop's GOAWAY must reach a
     * client that sent requests in the meantime (they are above its last
     * stream id, so the client may retry them elsewhere).  The stop waits
     * for lingering connections no longer than FA_TIMER_LINGER. */
    if (c->read_eof || c->lingering) {
        fa_conn_close(c);
        return;
    }
    if (fa_conn_shutdown_write(c) < 0) {
        fa_conn_close(c);
        return;
    }
    c->lingering = 1;
    c->read_paused = 0;
    fa_conn_cancel_async(c);
    fa_buf_free(&c->rbuf);
    fa_buf_free(&c->wbuf);
    c->wpos = 0;
    fa_conn_set_events(c, FA_EV_READ);
    fa_conn_set_timer(c, FA_TIMER_NONE);
    fa_conn_set_timer(c, FA_TIMER_LINGER);
}

/* Lingering: what the peer still sends is read from the socket and
 * dropped, undecoded. */
static void fa_conn_discard_input(fa_conn *c)
{
    char sink[4096];
    for (int i = 0; i < 16; i++) {
        ssize_t n = recv(c->io.fd, sink, sizeof(sink), 0);
        if (n > 0)
            continue;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        break; /* EOF or error */
    }
    fa_conn_close(c);
}

/* --------------------------------------------------------------------- */
/* Poller interest and deadlines */

void fa_conn_update_events(fa_conn *c)
{
    uint32_t ev = 0;
    if (c->tls_handshake) {
        fa_conn_set_events(c, c->tls_hs_write ? FA_EV_WRITE : FA_EV_READ);
        return;
    }
    /* TLS: a read may wait for writability, a write for readability */
    if (c->tls_read_wants_write)
        ev |= FA_EV_WRITE;
    if (c->tls_write_wants_read)
        ev |= FA_EV_READ;
    if (!c->read_paused && !c->read_eof)
        ev |= FA_EV_READ;
    else if (!c->read_eof)
        ev |= FA_EV_HUP; /* not reading, but a client that leaves is noticed */
    if (c->wpos < c->wbuf.len || c->want_file)
        ev |= FA_EV_WRITE;
    fa_conn_set_events(c, ev);
}

/* TLS: OpenSSL may hold decrypted bytes the poller cannot see; the worker
 * reads them at the end of its loop round (fa_conn_run_reads_due). */
static void fa_conn_queue_read(fa_conn *c)
{
    if (c->read_queued || c->dead || c->read_paused || c->ssl == NULL || c->tls_handshake ||
        fa_tls_pending(c->ssl) <= 0)
        return;
    c->read_queued = 1;
    c->read_next = c->worker->reads_due;
    c->worker->reads_due = c;
}

void fa_conn_run_reads_due(fa_worker *w)
{
    fa_conn *list = w->reads_due;
    w->reads_due = NULL;
    while (list) {
        fa_conn *c = list;
        list = c->read_next;
        c->read_queued = 0;
        c->read_next = NULL;
        if (!c->dead && !c->read_paused && !c->lingering)
            fa_conn_on_readable(c);
    }
}

void fa_conn_pause_reading(fa_conn *c, int paused)
{
    c->read_paused = paused ? 1 : 0;
    fa_conn_update_events(c);
    if (!paused)
        fa_conn_queue_read(c);
}

/* Picks the deadline list that fits the connection's state. */
static void fa_conn_update_timer(fa_conn *c)
{
    if (c->dead || c->lingering)
        return;
    if (c->wpos < c->wbuf.len || c->want_file) {
        fa_conn_set_timer(c, FA_TIMER_WRITE);
    } else if (c->proto == FA_PROTO_H2) {
        /* h2: see fa_h2_timer_state(); the body timer is reset by reads */
        static const fa_timer_kind h2_timer[] = {
            [FA_H2_IDLE] = FA_TIMER_IDLE, [FA_H2_BUSY] = FA_TIMER_NONE,
            [FA_H2_RECEIVING] = FA_TIMER_BODY, [FA_H2_STALLED] = FA_TIMER_WRITE};
        int progress;
        fa_conn_set_timer(c, h2_timer[fa_h2_timer_state(c, &progress)]);
        if (progress && c->timer == FA_TIMER_IDLE)
            fa_conn_touch_timer(c);
    } else if (c->proto == FA_PROTO_WS) {
        fa_conn_set_timer(c, FA_TIMER_NONE); /* WebSockets have keepalive pings */
    } else if (c->h1.in_flight) {
        fa_conn_set_timer(c, FA_TIMER_NONE);
    } else if (c->h1.head_len > 0) {
        fa_conn_set_timer(c, FA_TIMER_BODY);
    } else if (c->rbuf.len > 0) {
        fa_conn_set_timer(c, FA_TIMER_HEAD);
    } else {
        fa_conn_set_timer(c, FA_TIMER_IDLE);
    }
}

/* --------------------------------------------------------------------- */
/* Writing */

void fa_conn_flush(fa_conn *c)
{
    for (;;) {
        if (c->dead || c->lingering)
            return;
        if (c->proto == FA_PROTO_H2 && c->h2)
            fa_conn_buf_take(c, &c->wbuf);
        if (c->proto == FA_PROTO_H2 && c->h2 && fa_h2_flush(c) < 0) {
            fa_conn_close(c);
            return;
        }
        size_t before = c->wpos;
        while (c->wpos < c->wbuf.len) {
            ssize_t n = fa_conn_write(c, c->wbuf.data + c->wpos, c->wbuf.len - c->wpos);
            if (n == FA_IO_AGAIN)
                break;
            if (n < 0) {
                fa_conn_close(c);
                return;
            }
            c->wpos += (size_t)n;
        }
        fa_obs_io(c, 0, c->wpos - before);
        if (c->wpos > before && c->timer == FA_TIMER_WRITE)
            fa_conn_touch_timer(c);
        if (c->wpos < c->wbuf.len)
            break; /* socket full: wait for writability */
        if (c->h1.file_fd >= 0) {
            /* a file body follows the head */
            int r = fa_h1_send_file(c);
            if (r < 0) {
                fa_conn_close(c);
                return;
            }
            if (r == 0) {
                if (c->want_file && c->timer == FA_TIMER_WRITE)
                    fa_conn_touch_timer(c); /* woken by writability: progress */
                c->want_file = 1;
                break;
            }
            if (!c->h1.in_flight && !c->close_after_write) {
                fa_conn_pause_reading(c, 0); /* the exchange is over: read again */
                if (c->rbuf.len > 0) {
                    fa_h1_process(c); /* pipelined requests waiting behind it */
                    continue;
                }
            }
        }
        c->want_file = 0;
        size_t wrote = c->wpos - before;
        fa_buf_reset(&c->wbuf);
        c->wpos = 0;
        fa_conn_buf_release(c, &c->wbuf);
        /* HTTP/2 may have stopped at its high-water mark: go again when it
         * still has frames to send. */
        if (!(c->proto == FA_PROTO_H2 && c->h2 && wrote > 0))
            break;
    }
    if (c->wpos >= c->wbuf.len && !c->want_file) {
        if (c->close_after_write) {
            fa_conn_close_lingering(c);
            return;
        }
        if (c->proto == FA_PROTO_H2 && c->h2 && fa_h2_done(c)) {
            /* lingering: a GOAWAY just written must reach a peer that is
             * still sending, not be destroyed by the RST of a close() */
            fa_conn_close_lingering(c);
            return;
        }
    }
    if (c->outs != NULL && c->wbuf.len - c->wpos < FA_STREAM_HIGH)
        fa_conn_queue_outs(c);
    if (c->ws != NULL)
        fa_wsc_conn_drained(c);
    fa_conn_update_events(c);
    fa_conn_update_timer(c);
}

/* --------------------------------------------------------------------- */
/* Reading */

/* Gives what rbuf holds to the connection's protocol; the first bytes
 * decide it (the 24-byte HTTP/2 preface means h2 with prior knowledge).
 * Returns 0, 1 when more bytes are needed to decide, 2 when the session
 * failed (stop reading; what is queued goes out, then the connection
 * closes), -1 when the connection was closed. */
static int fa_conn_deliver(fa_conn *c)
{
    static const char preface[] = FA_H2_PREFACE;
    if (c->proto == FA_PROTO_DETECT) {
        size_t k = c->rbuf.len < FA_H2_PREFACE_LEN ? c->rbuf.len : FA_H2_PREFACE_LEN;
        /* "PRI " starts only the HTTP/2 preface (RFC 9113 3.4): bytes
         * that begin so and then differ are a bad preface, which the
         * HTTP/2 layer answers with GOAWAY(PROTOCOL_ERROR). */
        size_t m = k < FA_H2_PRI_LEN ? k : FA_H2_PRI_LEN;
        if (memcmp(c->rbuf.data, preface, m) != 0) {
            c->proto = FA_PROTO_H1;
        } else if (k == FA_H2_PREFACE_LEN || memcmp(c->rbuf.data, preface, k) != 0) {
            c->proto = FA_PROTO_H2;
            if (fa_h2_start(c, NULL, 0, NULL) < 0) {
                fa_conn_close(c);
                return -1;
            }
        } else {
            return 1; /* a prefix of the preface: need more */
        }
    }
    if (c->proto == FA_PROTO_H2) {
        int rc = fa_h2_recv(c, (const uint8_t *)c->rbuf.data, c->rbuf.len);
        fa_buf_reset(&c->rbuf);
        if (rc < 0) {
            c->close_after_write = 1;
            return 2;
        }
    } else if (c->proto == FA_PROTO_WS) {
        fa_wsc_h1_process(c);
    } else {
        fa_h1_process(c);
    }
    return 0;
}

/* Drives the TLS handshake; once done, ALPN picks the protocol ("h2":
 * HTTP/2, anything else or none: HTTP/1.1) and reading begins. */
static void fa_conn_tls_handshake(fa_conn *c)
{
    char why[256];
    int r = fa_tls_handshake(c->ssl, why, sizeof(why));
    if (r == FA_TLS_WANT_READ || r == FA_TLS_WANT_WRITE) {
        c->tls_hs_write = r == FA_TLS_WANT_WRITE;
        fa_conn_update_events(c);
        return;
    }
    if (r != FA_TLS_OK) {
        fa_debug(c->worker->srv, "worker %d: TLS handshake with %.*s:%u failed: %s", c->worker->id,
                 (int)c->peer_len, c->peer, c->peer_port, why);
        c->tls_failed = 1;
        fa_conn_close(c);
        return;
    }
    c->tls_handshake = 0;
    c->tls_hs_write = 0;
    c->tls_subject = fa_tls_peer_subject(c->ssl);
    const char *alpn = fa_tls_alpn(c->ssl);
    if (alpn != NULL && alpn[0] == 'h' && alpn[1] == '2') {
        c->proto = FA_PROTO_H2;
        if (fa_h2_start(c, NULL, 0, NULL) < 0) {
            fa_conn_close(c);
            return;
        }
    } else {
        c->proto = FA_PROTO_H1;
    }
    /* the client's first bytes may have come with its Finished */
    fa_conn_on_readable(c);
}

void fa_conn_on_readable(fa_conn *c)
{
    if (c->tls_handshake) {
        fa_conn_tls_handshake(c);
        return;
    }
    int again = 0;
    for (int round = 0; round < FA_READ_ROUNDS && !c->dead && !c->read_paused; round++) {
        fa_conn_buf_take(c, &c->rbuf);
        if (c->rbuf.cap - c->rbuf.len < 4096 && fa_buf_reserve(&c->rbuf, FA_READ_CHUNK) < 0) {
            fa_conn_close(c);
            return;
        }
        size_t room = c->rbuf.cap - c->rbuf.len;
        ssize_t n = fa_conn_read(c, c->rbuf.data + c->rbuf.len, room);
        if (n == FA_IO_AGAIN) {
            again = 1;
            break;
        }
        if (n < 0) {
            fa_conn_close(c);
            return;
        }
        if (n == 0) {
            c->read_eof = 1;
            break;
        }
        c->rbuf.len += (size_t)n;
        fa_obs_io(c, (size_t)n, 0);
        /* progress re-arms the body deadline; and the keep-alive one of an
         * HTTP/1.1 connection that gets a request: it counts from the last
         * exchange (a request answered inline leaves the connection on the
         * idle list, where it would keep its first deadline).  HTTP/2 keeps
         * its own account (fa_h2_timer_state) */
        if (c->timer == FA_TIMER_BODY || (c->timer == FA_TIMER_IDLE && c->proto != FA_PROTO_H2))
            fa_conn_touch_timer(c);
        int r = fa_conn_deliver(c);
        if (r < 0)
            return;
        if (r == 1)
            continue;
        if (r == 2)
            break;
        /* a short read drained the socket.  Over TLS a read gives one
         * record at most: it is done when OpenSSL's last read(2) came back
         * short and it holds no record read ahead */
        if ((size_t)n < room && (c->ssl == NULL || (c->tls_drained && !fa_tls_pending(c->ssl))))
            break;
    }
    if (c->dead)
        return;
    /* TLS bytes OpenSSL holds are read at the end of the loop round; not
     * after AGAIN: then all it holds is an incomplete record, which waits
     * for the socket (the poller wakes us) */
    if (!again)
        fa_conn_queue_read(c);
    if (c->read_eof && c->ws != NULL && !c->close_after_write) {
        /* a WebSocket peer that leaves without a close frame: 1006 */
        fa_conn_close(c);
        return;
    }
    if (c->read_eof && c->async_reqs != NULL) {
        /* The client went away while a coroutine handler awaits: cancel it
         * (it gets CancelledError) rather than compute an answer nobody
         * reads. */
        fa_conn_close(c);
        return;
    }
    if (c->read_eof) {
        /* The peer will send nothing more.  HTTP/1: answer what is in flight
         * then close; HTTP/2: the session cannot go on. */
        if (c->proto == FA_PROTO_H2 || !c->h1.in_flight)
            c->close_after_write = 1;
    }
    if (c->rbuf.len == 0)
        fa_conn_buf_release(c, &c->rbuf); /* idle connections hold no buffer */
    fa_conn_flush(c);
}

void fa_conn_on_event(fa_conn *c, uint32_t events)
{
    if (c->dead)
        return;
    if (c->lingering) {
        fa_conn_discard_input(c);
        return;
    }
    if (c->tls_handshake) {
        fa_conn_tls_handshake(c);
        return;
    }
    if ((events & FA_EV_WRITE) && c->tls_read_wants_write) {
        c->tls_read_wants_write = 0;
        fa_conn_on_readable(c);
        if (c->dead)
            return;
    }
    if ((events & FA_EV_READ) && c->tls_write_wants_read) {
        c->tls_write_wants_read = 0;
        fa_conn_flush(c);
        if (c->dead)
            return;
    }
    if (events & FA_EV_WRITE)
        fa_conn_flush(c);
    if (!c->dead && c->read_paused && (events & FA_EV_HUP)) {
        /* the client hung up while we were not reading */
        c->read_eof = 1;
        if (c->async_reqs != NULL || (c->ws != NULL && !c->close_after_write)) {
            fa_conn_close(c); /* cancels its coroutine handlers (WebSockets: 1006) */
            return;
        }
        if (c->proto != FA_PROTO_H2 && !c->h1.in_flight) {
            fa_conn_close(c);
            return;
        }
        c->close_after_write = 1;
        fa_conn_update_events(c);
        return;
    }
    if (!c->dead && (events & FA_EV_READ))
        fa_conn_on_readable(c);
}
