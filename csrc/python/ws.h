/* ws.h - the handler's `ws` object and WebSocketDisconnect (python/ws.c).
 *
 * Internal to csrc/python/: module.c adds the types to every interpreter's
 * fasterapi._native.http2, interp.c creates one object per WebSocket and
 * fills its attributes.  The C side of a WebSocket (ws/conn.h) reaches the
 * object only through the fa_pythread_ws_* functions of interp.h.
 */
#ifndef FA_PY_WS_H
#define FA_PY_WS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>

struct fa_wsc;

typedef struct fa_pyws {
    PyObject_HEAD
    struct fa_wsc *wsc; /* NULL once the WebSocket closed for the handler */
    pthread_t owner;    /* the worker thread: the only one that may use it */
    const char *label;  /* the handler's, for log lines (lives with the interpreter) */
    PyObject *loop, *disconnect_type, *ready_type;
    PyObject *names;    /* fa_pyws_names_new(): method names, shared per interpreter */
    /* attributes */
    PyObject *path, *raw_path, *query, *headers, *client, *server, *scheme, *http_version,
        *subprotocols, *path_params;
    /* messages not yet received (bounded: the connection stops reading) */
    PyObject *inbox;    /* list, oldest first */
    Py_ssize_t inbox_head; /* index of the oldest */
    size_t inbox_bytes;
    int inbox_full;     /* told the C side to stop reading */
    PyObject *recv_waiter; /* the future a receive() waits on */
    int recv_iter;      /* ... for `async for`: ends with StopAsyncIteration */
    PyObject *send_waiters; /* futures of send() calls waiting for the output to drain */
    PyObject *task;     /* the handler's Task, until it is done */
    int accepted, closed;
    int close_code;
    PyObject *close_reason;
} fa_pyws;

/* Adds WebSocket, _WebSocketReady and WebSocketDisconnect to the module.
 * Returns 0, or -1 with an exception set. */
int fa_pyws_add_types(PyObject *module);
/* Takes max_websockets= (an int >= 0) out of PyHttp2Server's keywords
 * (kwds may be NULL); *max_ws keeps its value when absent.  Returns 0, or
 * -1 with TypeError / ValueError saying what to pass. */
int fa_pyws_take_kwargs(PyObject *kwds, size_t *max_ws);
/* The interned method names the objects call (a tuple; one per interpreter). */
PyObject *fa_pyws_names_new(void);
/* A new `ws` object (attributes unset: the caller fills them). */
fa_pyws *fa_pyws_new(PyObject *type, PyObject *disconnect_type, PyObject *ready_type, PyObject *names,
                     PyObject *loop, struct fa_wsc *wsc);

#endif
