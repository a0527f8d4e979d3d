/* conn_io_internal.h - a connection's I/O: the layer between the worker's
 * event loop and the protocol layers.
 *
 * Internal to the server.  The layering reads
 *
 *     loop (worker.c) -> connection I/O (conn_io.c) -> protocol
 *     (http1/conn.c, http2/session.c) -> dispatch (worker.c)
 *
 * The loop hands readiness events to fa_conn_on_event().  Connection I/O
 * reads into c->rbuf and gives the bytes to the connection's protocol,
 * which parses them and appends its output to c->wbuf; fa_conn_flush()
 * writes wbuf (and a file body) to the peer.  The protocol layers never
 * touch the socket: everything that moves bytes goes through the transport
 * calls below, so a transport other than the plain socket (TLS) slots in
 * underneath without them knowing.
 *
 * Everything here runs on the connection's worker thread.
 */
#ifndef FA_CONN_IO_INTERNAL_H
#define FA_CONN_IO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "conn_internal.h"

/* Transport results besides a byte count. */
#define FA_IO_ERROR (-1) /* the connection is broken: close it */
#define FA_IO_AGAIN (-2) /* would block: wait for the poller */

/* --- the transport: moves bytes, nothing else ------------------------ */

/* Reads up to len bytes.  Returns the count (> 0), 0 at the peer's end of
 * stream, FA_IO_AGAIN or FA_IO_ERROR. */
ssize_t fa_conn_read(fa_conn *c, char *buf, size_t len);
/* Writes up to len bytes.  Returns the count written (> 0), FA_IO_AGAIN
 * or FA_IO_ERROR. */
ssize_t fa_conn_write(fa_conn *c, const char *buf, size_t len);
/* Sends up to len bytes of file descriptor fd from *off, advancing it.
 * Returns the count (> 0), FA_IO_AGAIN or FA_IO_ERROR (also when the file
 * ends early). */
ssize_t fa_conn_sendfile(fa_conn *c, int fd, uint64_t *off, size_t len);

/* --- connection life ------------------------------------------------- */

/* A connection for an accepted socket of worker w: registered for reading,
 * on the head deadline.  Returns NULL (socket closed) on failure. */
fa_conn *fa_conn_open(struct fa_worker *w, int fd, const struct sockaddr_storage *peer);
/* The poller reported `events` (FA_EV_*) for c. */
void fa_conn_on_event(fa_conn *c, uint32_t events);
/* Reads what the peer sent and hands it to the protocol layer. */
void fa_conn_on_readable(fa_conn *c);
/* Closes the socket now; the memory stays until fa_conn_free (the worker
 * frees it once no pooled answer refers to it). */
void fa_conn_close(fa_conn *c);
/* Frees a closed connection. */
void fa_conn_free(fa_conn *c);
/* Re-registers poller interest from the connection's state. */
void fa_conn_update_events(fa_conn *c);
/* Reads, at the end of the worker's loop round, what TLS connections hold
 * decrypted but unread (the poller cannot report it). */
void fa_conn_run_reads_due(struct fa_worker *w);

/* fa_conn_flush, fa_conn_pause_reading, fa_conn_buf_take and
 * fa_conn_buf_release, which the protocol layers call, are declared in
 * conn_internal.h. */

/* --- provided by worker.c -------------------------------------------- */

/* The worker's bookkeeping of a connection whose socket is about to close:
 * deadline, suspended handlers, Python objects, streamed answers, the live
 * list (c moves to the worker's closed ones). */
void fa_worker_conn_closing(fa_conn *c);
/* Cancels the connection's suspended coroutine handlers. */
void fa_conn_cancel_async(fa_conn *c);
/* Room freed on the connection: its streamed answers may pull again. */
void fa_conn_queue_outs(fa_conn *c);
/* Re-arms the connection's current deadline: progress was made. */
void fa_conn_touch_timer(fa_conn *c);
/* Adds c to the worker's live connections. */
void fa_worker_conn_opened(fa_conn *c);

#endif
