/* interp.h - own-GIL sub-interpreters that run the Python handlers.
 *
 * Each fa_interp is one CPython sub-interpreter created with its own GIL.
 * Creation and ending happen on one thread at a time with the main
 * interpreter's GIL held (concurrent creation races in CPython 3.12/3.13).
 * After creation the interpreter has no thread state; worker threads make
 * their own with fa_pythread_new() and attach around handler calls.
 *
 * No Python object crosses interpreters: every interpreter imports the
 * handler modules itself and keeps its own references, indexed by handler
 * id, and turns requests (C slices) into its own objects.
 */
#ifndef FA_INTERP_H
#define FA_INTERP_H

#include <stddef.h>
#include <stdint.h>

#include "../common/http.h"

/* Where a handler lives, as importable names (no Python object). */
typedef struct fa_handler_ref {
    char *module;   /* "__main__" for the main script */
    char *qualname; /* "hello_handler" */
    char *label;    /* "GET:/" for log lines */
    char *route;    /* the path pattern it was added under: req['route'] */
    int stream_body; /* gets req['stream'] and the body as it arrives */
} fa_handler_ref;

/* What every interpreter needs to load the application. */
typedef struct fa_app_spec {
    const fa_handler_ref *handlers;
    size_t num_handlers;
    const char *main_path;   /* __main__.__file__, or NULL */
    char **sys_path;         /* the main interpreter's sys.path */
    size_t sys_path_len;
    int main_interp;         /* load into the main interpreter instead */
} fa_app_spec;

typedef struct fa_interp fa_interp;
typedef struct fa_pythread fa_pythread;

/* Creates an own-GIL interpreter and loads every handler in it.  Call with
 * the main interpreter's GIL held; it is held again on return.  On failure
 * returns NULL and writes the reason (the Python traceback when there is one)
 * into err.  With spec->main_interp set, no interpreter is created: the
 * record refers to the main interpreter (the caller's), whose GIL every
 * thread then shares; the main script is the real __main__ module and
 * sys.path is left alone. */
fa_interp *fa_interp_new(const fa_app_spec *spec, char *err, size_t err_size);
/* CPython 3.12.0-3.12.3 (python/cpython#119213): an extension function
 * called with keywords for the first time builds a tuple of its keyword
 * names with the calling interpreter's object allocator and keeps it in
 * process-wide storage; when that interpreter is an own-GIL sub-interpreter,
 * the main interpreter frees it with its own allocator at exit and the
 * process aborts ("free(): invalid pointer").  3.12.4 fixed it.  On those
 * versions sub-interpreters are safe only when every interpreter allocates
 * objects with the C library's malloc (PYTHONMALLOC=malloc, read when the
 * process starts).  Returns 0 when sub-interpreters are safe here, else -1
 * with the reason and the remedies in msg.  Call with the GIL held. */
int fa_interp_check_subinterp_safe(char *msg, size_t msg_size);
/* Ends the interpreter (for a main-interpreter record: drops its
 * references).  Call with the main interpreter's GIL held, after every
 * fa_pythread of it was freed. */
void fa_interp_end(fa_interp *in);
/* The text CPython's import error carries when an extension module cannot
 * load in an own-GIL sub-interpreter. */
#define FA_NOT_SUBINTERP_MSG "does not support loading in subinterpreters"


/* A thread's state in an interpreter.  new/free run on the thread that uses
 * it, detached (not holding any GIL). */
fa_pythread *fa_pythread_new(fa_interp *in);
void fa_pythread_free(fa_pythread *pt);
/* Takes / releases the interpreter's GIL for this thread. */
void fa_pythread_attach(fa_pythread *pt);
void fa_pythread_detach(fa_pythread *pt);

enum { FA_CALL_DONE = 0, FA_CALL_DEFERRED = 1 };

/* Called (attached, from inside fa_pythread_aio_step) when a deferred
 * handler finished: resp holds the answer, or is NULL when the handler was
 * cancelled. */
typedef void (*fa_async_done_fn)(void *token, fa_response *resp);

/* Runs handler `handler_id` on the request and fills `out` (which the caller
 * reset).  Must be attached.  A handler that raises, or fills `res` with
 * wrong types, yields a 500 (traceback or reason on stderr).
 * A coroutine handler runs inline until it first suspends; if it finishes
 * without suspending the call is FA_CALL_DONE like any other.  If it
 * suspends: on a thread with an asyncio loop set up non-blocking it becomes
 * a Task, *handle gets a reference to it (for fa_pythread_cancel and
 * fa_pythread_release), `token` goes to the done function later, and the
 * call returns FA_CALL_DEFERRED; on a blocking thread the loop runs it to
 * the end. */
int fa_pythread_call(fa_pythread *pt, int handler_id, const fa_request *req, fa_response *out,
                     void *token, void **handle, void **body);

/* res['after']: a callable the handler wants run once its answer has been
 * handed to the connection (background work, cleanup).  Converting a
 * result queues it on the thread; the caller runs the queue with
 * fa_pythread_run_after() once the answers are written (the worker: at the
 * end of each loop iteration; a pooled thread: after passing the response
 * on).  For a streamed answer it is queued when the producer closes (the
 * stream ended or the connection went away).  A coroutine it returns
 * becomes a Task on the thread's loop (runs to the end on a blocking
 * thread); exceptions are logged.  _pending needs no GIL; _run is
 * attached. */
int fa_pythread_after_pending(const fa_pythread *pt);
void fa_pythread_run_after(fa_pythread *pt);

/* Streamed request bodies.  For a stream_body handler, fa_pythread_call
 * stores in *body a handle on req['stream'] (NULL otherwise); the caller
 * feeds it the body as it arrives and releases it when done.  All attached.
 * feed returns the bytes waiting in the stream, or -1 if it failed. */
long fa_pythread_body_feed(fa_pythread *pt, void *body, const char *data, size_t len, int end);
long fa_pythread_body_buffered(fa_pythread *pt, void *body);
void fa_pythread_body_release(void *body);

/* Called (attached) when an awaited chunk of a streamed body arrived:
 * pull again. */
typedef void (*fa_stream_ready_fn)(void *token);

/* Streamed bodies.  When a handler sets res['body'] to an iterable of
 * str/bytes chunks (a generator, an async generator, a list...), the
 * response comes back with `stream` set and the caller pulls the chunks:
 * on an event-loop thread an awaited chunk makes the pull return WAIT; on
 * a blocking (pooled) thread the pull waits for it, and never returns
 * WAIT. */
enum { FA_PULL_MORE = 0, FA_PULL_WAIT, FA_PULL_END, FA_PULL_ERROR };
/* Appends chunks to out until it grew by at least `max` bytes (MORE), the
 * iterator awaits (WAIT: ready(token) is called later), it ends (END) or it
 * raised (ERROR, logged).  Attached. */
int fa_pythread_pull(fa_pythread *pt, void *stream, fa_buf *out, size_t max, void *token);
/* Closes and frees a producer (the generator gets GeneratorExit).  Attached. */
void fa_pythread_stream_close(fa_pythread *pt, void *stream);

/* WebSockets (the `ws` object is python/ws.c; its C side ws/conn.c).  All
 * attached, on the worker thread that owns the connection.
 * Starts handler `handler_id` as a Task on the thread's loop with a new
 * `ws` object for the request (protocols: the Sec-WebSocket-Protocol value
 * as sent, or NULL; server_host/port: the local address).  *slot gets a
 * reference to the object before the handler's first step runs (the step
 * may already accept or close).  Returns 0, or -1 when the handler could
 * not start (logged: answer 500). */
struct fa_wsc;
int fa_pythread_ws_start(fa_pythread *pt, int handler_id, const fa_request *req, const char *protocols,
                         size_t protocols_len, const char *server_host, int server_port,
                         struct fa_wsc *wsc, void **slot);
/* A whole message (binary, or UTF-8 text) for the handler.  Returns 0, 1
 * when its inbox is now full (stop reading until fa_wsc_inbox_low), or -1
 * on failure (logged). */
int fa_pythread_ws_deliver(void *ws, int binary, const uint8_t *data, size_t len);
/* The WebSocket closed for the handler with this code: waiters get
 * WebSocketDisconnect, the object forgets its C side, and the caller's
 * reference is dropped. */
void fa_pythread_ws_detach(void *ws, unsigned code, const char *reason, size_t reason_len);
/* The output drained: send() calls waiting on it return. */
void fa_pythread_ws_drained(void *ws);

/* Runs a startup/shutdown hook (a handler id that takes no arguments; a
 * coroutine runs to its end).  Attached.  Returns 0, or -1 after printing
 * the traceback. */
int fa_pythread_run_hook(fa_pythread *pt, int handler_id);

/* asyncio.  All attached.  For an event-loop thread (blocking = 0) returns
 * the descriptor to poll for asyncio I/O; for a thread that may block
 * (pooled), returns 0.  -1 on failure (logged). */
int fa_pythread_aio_init(fa_pythread *pt, int blocking, fa_async_done_fn done,
                         fa_stream_ready_fn ready);
/* Runs one asyncio iteration without blocking.  Returns the milliseconds
 * until asyncio needs another step (0: now), or -1 when only I/O on its
 * descriptor can give it work. */
int fa_pythread_aio_step(fa_pythread *pt);
/* Cancels the task behind a handle; its done function still runs later. */
void fa_pythread_cancel(fa_pythread *pt, void *handle);
/* Drops the reference a deferred call handed out. */
void fa_pythread_release(void *handle);
/* Cancels what is left and closes the loop. */
void fa_pythread_aio_close(fa_pythread *pt);

#endif
