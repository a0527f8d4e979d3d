/* ws.c - the `ws` object a WebSocket handler gets, and WebSocketDisconnect.
 *
 * One object per WebSocket, in the interpreter of the worker that owns the
 * connection; only that worker's thread may use it (its asyncio loop runs
 * there).  accept/receive/send/close return awaitables: a completed one
 * (_WebSocketReady, which costs no loop iteration) when the answer is
 * already known, else a future of the loop that the C side resolves when a
 * message arrives (fa_pythread_ws_deliver), the output drains
 * (fa_pythread_ws_drained) or the WebSocket closes (fa_pythread_ws_detach).
 *
 * The inbox is bounded: past FA_PYWS_INBOX_HIGH messages or bytes the C
 * side stops reading, and receive() tells it to go on once the handler is
 * back under the low-water marks.
 */
#include "ws.h"

#include <string.h>

#include "../common/http.h"
#include "../ws/conn.h"
#include "../ws/frame.h"
#include "interp.h"

#define FA_PYWS_INBOX_HIGH 32
#define FA_PYWS_INBOX_LOW 8
#define FA_PYWS_INBOX_HIGH_BYTES (1u << 20)
#define FA_PYWS_INBOX_LOW_BYTES (256u << 10)
#define FA_PYWS_MAX_HEADERS 64

/* ws->names: method names called on every message, interned once */
enum { FA_N_DONE, FA_N_SET_RESULT, FA_N_SET_EXCEPTION, FA_N_CREATE_FUTURE, FA_N_COUNT };
static const char *const fa_pyws_name_strs[FA_N_COUNT] = {"done", "set_result", "set_exception",
                                                          "create_future"};
#define FA_NAME(ws, i) PyTuple_GET_ITEM((ws)->names, (i))

PyObject *fa_pyws_names_new(void)
{
    PyObject *t = PyTuple_New(FA_N_COUNT);
    for (int i = 0; t != NULL && i < FA_N_COUNT; i++) {
        PyObject *s = PyUnicode_InternFromString(fa_pyws_name_strs[i]);
        if (s == NULL)
            Py_CLEAR(t);
        else
            PyTuple_SET_ITEM(t, i, s);
    }
    return t;
}

/* ------------------------------------------------------------------------ */
/* _WebSocketReady: an awaitable that is already done */

typedef struct {
    PyObject_HEAD
    PyObject *value;
} fa_ready;

static void fa_ready_dealloc(PyObject *op)
{
    fa_ready *r = (fa_ready *)op;
    PyTypeObject *tp = Py_TYPE(op);
    Py_XDECREF(r->value);
    tp->tp_free(op);
    Py_DECREF(tp);
}

static PyObject *fa_ready_await(PyObject *op) { return Py_NewRef(op); }

static PyObject *fa_ready_next(PyObject *op)
{
    fa_ready *r = (fa_ready *)op;
    if (r->value == NULL || r->value == Py_None) {
        PyErr_SetNone(PyExc_StopIteration);
        return NULL;
    }
    /* wrapped, so that a tuple or an exception instance is the value itself */
    PyObject *stop = PyObject_CallOneArg(PyExc_StopIteration, r->value);
    if (stop != NULL) {
        PyErr_SetObject(PyExc_StopIteration, stop);
        Py_DECREF(stop);
    }
    Py_CLEAR(r->value); /* awaited once */
    return NULL;
}

static PyType_Slot fa_ready_slots[] = {
    {Py_tp_dealloc, fa_ready_dealloc},
    {Py_am_await, fa_ready_await},
    {Py_tp_iter, fa_ready_await},
    {Py_tp_iternext, fa_ready_next},
    {Py_tp_doc, "The result of a WebSocket call that did not have to wait."},
    {0, NULL},
};

static PyType_Spec fa_ready_spec = {
    .name = "fasterapi._native.http2._WebSocketReady",
    .basicsize = sizeof(fa_ready),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = fa_ready_slots,
};

/* Steals value (NULL: None). */
static PyObject *fa_ready_new(fa_pyws *ws, PyObject *value)
{
    PyTypeObject *tp = (PyTypeObject *)ws->ready_type;
    fa_ready *r = (fa_ready *)tp->tp_alloc(tp, 0);
    if (r == NULL) {
        Py_XDECREF(value);
        return NULL;
    }
    r->value = value;
    return (PyObject *)r;
}

/* ------------------------------------------------------------------------ */
/* helpers */

static PyObject *fa_disconnect(fa_pyws *ws)
{
    return PyObject_CallFunction(ws->disconnect_type, "iO", ws->close_code,
                                 ws->close_reason ? ws->close_reason : Py_None);
}

static PyObject *fa_raise_disconnect(fa_pyws *ws)
{
    PyObject *exc = fa_disconnect(ws);
    if (exc != NULL) {
        PyErr_SetObject(ws->disconnect_type, exc);
        Py_DECREF(exc);
    }
    return NULL;
}

static int fa_pyws_check_thread(fa_pyws *ws)
{
    if (!pthread_equal(ws->owner, pthread_self())) {
        PyErr_SetString(PyExc_RuntimeError,
                        "a WebSocket is used only from the event loop of the worker that serves it "
                        "(not from another thread)");
        return -1;
    }
    return 0;
}

static void fa_pyws_mark_closed(fa_pyws *ws, int code, const char *reason, size_t n)
{
    if (ws->closed)
        return;
    ws->closed = 1;
    ws->close_code = code;
    Py_XSETREF(ws->close_reason, PyUnicode_DecodeUTF8(reason ? reason : "", (Py_ssize_t)n, "replace"));
    if (ws->close_reason == NULL) {
        PyErr_Clear();
        ws->close_reason = PyUnicode_FromString("");
    }
}

/* True when a future is still pending; -1 on error. */
static int fa_future_pending(fa_pyws *ws, PyObject *fut)
{
    PyObject *r = PyObject_CallMethodNoArgs(fut, FA_NAME(ws, FA_N_DONE));
    if (r == NULL)
        return -1;
    int done = PyObject_IsTrue(r);
    Py_DECREF(r);
    return done < 0 ? -1 : !done;
}

static void fa_future_call(fa_pyws *ws, PyObject *fut, int method, PyObject *arg)
{
    int pending = fa_future_pending(ws, fut);
    if (pending > 0) {
        PyObject *r = PyObject_CallMethodOneArg(fut, FA_NAME(ws, method), arg);
        Py_XDECREF(r);
    }
    if (PyErr_Occurred())
        PyErr_WriteUnraisable(fut);
}

static Py_ssize_t fa_inbox_count(fa_pyws *ws) { return PyList_GET_SIZE(ws->inbox) - ws->inbox_head; }

static size_t fa_msg_size(PyObject *m)
{
    return PyBytes_Check(m) ? (size_t)PyBytes_GET_SIZE(m) : (size_t)PyUnicode_GET_LENGTH(m);
}

/* ------------------------------------------------------------------------ */
/* the C side's calls (interp.h) */

int fa_pythread_ws_deliver(void *op, int binary, const uint8_t *data, size_t len)
{
    fa_pyws *ws = op;
    PyObject *msg = binary ? PyBytes_FromStringAndSize((const char *)data, (Py_ssize_t)len)
                           : PyUnicode_DecodeUTF8((const char *)data, (Py_ssize_t)len, NULL);
    if (msg == NULL) {
        PyErr_WriteUnraisable(op);
        return -1;
    }
    if (ws->recv_waiter != NULL) {
        PyObject *fut = ws->recv_waiter;
        ws->recv_waiter = NULL;
        /* set_result on a future that was cancelled meanwhile (a timeout)
         * raises InvalidStateError: the message then waits in the inbox */
        PyObject *r = PyObject_CallMethodOneArg(fut, FA_NAME(ws, FA_N_SET_RESULT), msg);
        if (r != NULL) {
            Py_DECREF(r);
            Py_DECREF(fut);
            Py_DECREF(msg);
            return 0;
        }
        PyErr_Clear();
        Py_DECREF(fut);
    }
    size_t size = fa_msg_size(msg);
    int rc = PyList_Append(ws->inbox, msg);
    Py_DECREF(msg);
    if (rc < 0) {
        PyErr_WriteUnraisable(op);
        return -1;
    }
    ws->inbox_bytes += size;
    if (fa_inbox_count(ws) >= FA_PYWS_INBOX_HIGH || ws->inbox_bytes >= FA_PYWS_INBOX_HIGH_BYTES) {
        ws->inbox_full = 1;
        return 1;
    }
    return 0;
}

void fa_pythread_ws_detach(void *op, unsigned code, const char *reason, size_t reason_len)
{
    fa_pyws *ws = op;
    ws->wsc = NULL;
    fa_pyws_mark_closed(ws, (int)code, reason, reason_len);
    if (ws->recv_waiter != NULL) {
        PyObject *fut = ws->recv_waiter;
        ws->recv_waiter = NULL;
        PyObject *exc = ws->recv_iter ? PyObject_CallNoArgs(PyExc_StopAsyncIteration) : fa_disconnect(ws);
        if (exc != NULL) {
            fa_future_call(ws, fut, FA_N_SET_EXCEPTION, exc);
            Py_DECREF(exc);
        } else {
            PyErr_WriteUnraisable(fut);
        }
        Py_DECREF(fut);
    }
    if (PyList_GET_SIZE(ws->send_waiters) > 0) {
        PyObject *exc = fa_disconnect(ws);
        for (Py_ssize_t i = 0; exc && i < PyList_GET_SIZE(ws->send_waiters); i++)
            fa_future_call(ws, PyList_GET_ITEM(ws->send_waiters, i), FA_N_SET_EXCEPTION, exc);
        Py_XDECREF(exc);
        if (PyErr_Occurred())
            PyErr_WriteUnraisable(op);
        PyList_SetSlice(ws->send_waiters, 0, PyList_GET_SIZE(ws->send_waiters), NULL);
    }
    Py_DECREF(op); /* the C side's reference */
}

void fa_pythread_ws_drained(void *op)
{
    fa_pyws *ws = op;
    Py_ssize_t n = PyList_GET_SIZE(ws->send_waiters);
    if (n == 0)
        return;
    PyObject *list = ws->send_waiters;
    ws->send_waiters = PyList_New(0);
    if (ws->send_waiters == NULL) { /* keep the old list: waiters stay */
        PyErr_WriteUnraisable(op);
        ws->send_waiters = list;
        return;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        fa_future_call(ws, PyList_GET_ITEM(list, i), FA_N_SET_RESULT, Py_None);
    Py_DECREF(list);
}

/* ------------------------------------------------------------------------ */
/* methods */

PyDoc_STRVAR(accept_doc,
"accept(subprotocol=None, headers=None)\n--\n\n"
"Accept the WebSocket: 101 Switching Protocols on HTTP/1.1, 200 on HTTP/2.\n"
"`subprotocol` (one of ws.subprotocols) is sent as Sec-WebSocket-Protocol;\n"
"`headers` is a list of (name, value) pairs (str or bytes) added to the\n"
"answer.  Awaitable.  A second call raises RuntimeError.");

static int fa_header_part(PyObject *o, const char **p, size_t *n, int is_name, const char *fn)
{
    Py_ssize_t len;
    if (PyUnicode_Check(o)) {
        *p = PyUnicode_AsUTF8AndSize(o, &len);
        if (*p == NULL)
            return -1;
    } else if (PyBytes_Check(o)) {
        *p = PyBytes_AS_STRING(o);
        len = PyBytes_GET_SIZE(o);
    } else {
        PyErr_Format(PyExc_TypeError, "%s(): header %s must be str or bytes, not %.50s", fn,
                     is_name ? "names" : "values", Py_TYPE(o)->tp_name);
        return -1;
    }
    for (Py_ssize_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)(*p)[i];
        if (ch == '\r' || ch == '\n' || ch == 0 || (is_name && (ch <= 32 || ch == ':' || ch >= 127))) {
            PyErr_Format(PyExc_ValueError, "%s(): header %s %R holds a character not allowed there", fn,
                         is_name ? "name" : "value", o);
            return -1;
        }
    }
    if (is_name && len == 0) {
        PyErr_Format(PyExc_ValueError, "%s(): a header name is empty", fn);
        return -1;
    }
    *n = (size_t)len;
    return 0;
}

/* headers (None or a list of (name, value) pairs) into hdrs; *seq holds
 * the strings' owner until the caller releases it.  Returns 0, or -1 with
 * an exception naming fn. */
static int fa_parse_headers(PyObject *headers, fa_header *hdrs, size_t *nh, PyObject **seq, const char *fn)
{
    *nh = 0;
    *seq = NULL;
    if (headers == Py_None)
        return 0;
    char what[96];
    snprintf(what, sizeof(what), "%s(): headers must be a list of (name, value) pairs", fn);
    if ((*seq = PySequence_Fast(headers, what)) == NULL)
        return -1;
    if (PySequence_Fast_GET_SIZE(*seq) > FA_PYWS_MAX_HEADERS) {
        PyErr_Format(PyExc_ValueError, "%s(): at most %d headers", fn, FA_PYWS_MAX_HEADERS);
        goto fail;
    }
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(*seq); i++) {
        PyObject *pair = PySequence_Fast_GET_ITEM(*seq, i), *k, *v;
        if (!PyTuple_Check(pair) && !PyList_Check(pair)) {
            PyErr_SetString(PyExc_TypeError, what);
            goto fail;
        }
        if (PySequence_Size(pair) != 2) {
            PyErr_Format(PyExc_ValueError, "%s(): each header is a (name, value) pair", fn);
            goto fail;
        }
        if (PyList_Check(pair)) {
            k = PyList_GET_ITEM(pair, 0);
            v = PyList_GET_ITEM(pair, 1);
        } else {
            k = PyTuple_GET_ITEM(pair, 0);
            v = PyTuple_GET_ITEM(pair, 1);
        }
        /* a list pair's items are borrowed from it; the pair is held by *seq */
        if (fa_header_part(k, &hdrs[*nh].name, &hdrs[*nh].name_len, 1, fn) < 0 ||
            fa_header_part(v, &hdrs[*nh].value, &hdrs[*nh].value_len, 0, fn) < 0)
            goto fail;
        (*nh)++;
    }
    return 0;
fail:
    Py_CLEAR(*seq);
    return -1;
}

static PyObject *fa_pyws_accept(PyObject *op, PyObject *args, PyObject *kwds)
{
    fa_pyws *ws = (fa_pyws *)op;
    static char *kwlist[] = {"subprotocol", "headers", NULL};
    PyObject *sub = Py_None, *headers = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|OO:accept", kwlist, &sub, &headers))
        return NULL;
    if (fa_pyws_check_thread(ws) < 0)
        return NULL;
    if (ws->accepted) {
        PyErr_SetString(PyExc_RuntimeError, "accept() was already called on this WebSocket");
        return NULL;
    }
    const char *sp = NULL;
    Py_ssize_t sn = 0;
    if (sub != Py_None) {
        if (!PyUnicode_Check(sub)) {
            PyErr_Format(PyExc_TypeError, "accept(): subprotocol must be a str or None, not %.50s",
                         Py_TYPE(sub)->tp_name);
            return NULL;
        }
        sp = PyUnicode_AsUTF8AndSize(sub, &sn);
        if (sp == NULL)
            return NULL;
        int ok = sn > 0;
        for (Py_ssize_t i = 0; i < sn; i++)
            if ((unsigned char)sp[i] <= 32 || (unsigned char)sp[i] >= 127 ||
                strchr("\"(),/:;<=>?@[\\]{}", sp[i]))
                ok = 0;
        if (!ok) {
            PyErr_Format(PyExc_ValueError, "accept(): subprotocol %R is not a token (RFC 6455 4.1)", sub);
            return NULL;
        }
        /* RFC 6455 4.2.2: the server picks one of those the client offered */
        int offered = ws->subprotocols ? PySequence_Contains(ws->subprotocols, sub) : 0;
        if (offered < 0)
            return NULL;
        if (!offered) {
            PyErr_Format(PyExc_ValueError,
                         "accept(): subprotocol %R was not offered by the client (ws.subprotocols is %R)",
                         sub, ws->subprotocols ? ws->subprotocols : Py_None);
            return NULL;
        }
    }
    fa_header hdrs[FA_PYWS_MAX_HEADERS];
    size_t nh = 0;
    PyObject *seq = NULL;
    if (fa_parse_headers(headers, hdrs, &nh, &seq, "accept") < 0)
        return NULL;
    if (ws->closed || ws->wsc == NULL) {
        Py_XDECREF(seq);
        if (!ws->closed)
            fa_pyws_mark_closed(ws, FA_WS_CLOSE_ABNORMAL, "", 0);
        return fa_raise_disconnect(ws);
    }
    ws->accepted = 1;
    int rc = fa_wsc_accept(ws->wsc, sp, (size_t)sn, hdrs, nh);
    Py_XDECREF(seq);
    if (rc < 0) {
        fa_pyws_mark_closed(ws, FA_WS_CLOSE_ABNORMAL, "", 0);
        return fa_raise_disconnect(ws);
    }
    return fa_ready_new(ws, NULL);
}

PyDoc_STRVAR(deny_doc,
"deny(status, headers=None, body=b'')\n--\n\n"
"Awaitable, before accept(): refuse the handshake with this HTTP response\n"
"instead (Starlette's WebSocket Denial Response; RFC 8441 section 5 on\n"
"HTTP/2: a non-2xx answer to the CONNECT).  status: 200-599 but not 101\n"
"(HTTP/1.1), 300-599 (HTTP/2, where a 2xx would accept); headers: list of\n"
"(name, value) pairs; body: bytes.  The WebSocket is then closed for the\n"
"handler (receive() raises WebSocketDisconnect).");

static PyObject *fa_pyws_deny(PyObject *op, PyObject *args, PyObject *kwds)
{
    fa_pyws *ws = (fa_pyws *)op;
    static char *kwlist[] = {"status", "headers", "body", NULL};
    int status;
    PyObject *headers = Py_None;
    Py_buffer body = {0};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "i|Oy*:deny", kwlist, &status, &headers, &body))
        return NULL;
    PyObject *seq = NULL, *result = NULL;
    fa_header hdrs[FA_PYWS_MAX_HEADERS];
    size_t nh = 0;
    if (fa_pyws_check_thread(ws) < 0)
        goto out;
    int h2 = ws->http_version != NULL && PyUnicode_Check(ws->http_version) &&
             PyUnicode_CompareWithASCIIString(ws->http_version, "2") == 0;
    if (status < (h2 ? 300 : 200) || status > 599 || status == 101) {
        PyErr_Format(PyExc_ValueError, "deny(): status %d cannot refuse a WebSocket handshake; use %s", status,
                     h2 ? "300-599 (over HTTP/2 a 2xx answer accepts it, RFC 8441)" : "200-599");
        goto out;
    }
    if (ws->accepted || ws->closed) {
        PyErr_SetString(PyExc_RuntimeError, ws->accepted ? "deny() after accept(): the handshake was answered"
                                                         : "deny() after close(): the handshake was answered");
        goto out;
    }
    if (fa_parse_headers(headers, hdrs, &nh, &seq, "deny") < 0)
        goto out;
    if (ws->wsc != NULL)
        fa_wsc_deny(ws->wsc, status, hdrs, nh, body.buf, (size_t)body.len);
    fa_pyws_mark_closed(ws, FA_WS_CLOSE_NORMAL, "", 0);
    result = fa_ready_new(ws, NULL);
out:
    Py_XDECREF(seq);
    if (body.obj != NULL)
        PyBuffer_Release(&body);
    return result;
}

/* receive() and __anext__ (iter: the end is StopAsyncIteration). */
static PyObject *fa_pyws_recv(fa_pyws *ws, int iter)
{
    if (fa_pyws_check_thread(ws) < 0)
        return NULL;
    if (fa_inbox_count(ws) > 0) {
        PyObject *msg = Py_NewRef(PyList_GET_ITEM(ws->inbox, ws->inbox_head));
        ws->inbox_head++;
        ws->inbox_bytes -= fa_msg_size(msg);
        if (ws->inbox_head == PyList_GET_SIZE(ws->inbox)) {
            PyList_SetSlice(ws->inbox, 0, ws->inbox_head, NULL);
            ws->inbox_head = 0;
        } else if (ws->inbox_head >= 64) {
            PyList_SetSlice(ws->inbox, 0, ws->inbox_head, NULL);
            ws->inbox_head = 0;
        }
        if (ws->inbox_full && fa_inbox_count(ws) <= FA_PYWS_INBOX_LOW &&
            ws->inbox_bytes <= FA_PYWS_INBOX_LOW_BYTES) {
            ws->inbox_full = 0;
            if (ws->wsc != NULL)
                fa_wsc_inbox_low(ws->wsc);
        }
        return fa_ready_new(ws, msg);
    }
    if (ws->closed) {
        if (iter) {
            PyErr_SetNone(PyExc_StopAsyncIteration);
            return NULL;
        }
        return fa_raise_disconnect(ws);
    }
    if (!ws->accepted) {
        PyErr_SetString(PyExc_RuntimeError, "receive() before accept(): accept the WebSocket first");
        return NULL;
    }
    if (ws->recv_waiter != NULL) {
        int pending = fa_future_pending(ws, ws->recv_waiter);
        if (pending < 0)
            return NULL;
        if (pending) {
            PyErr_SetString(PyExc_RuntimeError,
                            "another coroutine is already waiting in receive() on this WebSocket");
            return NULL;
        }
        Py_CLEAR(ws->recv_waiter);
    }
    PyObject *fut = PyObject_CallMethodNoArgs(ws->loop, FA_NAME(ws, FA_N_CREATE_FUTURE));
    if (fut == NULL)
        return NULL;
    ws->recv_waiter = Py_NewRef(fut);
    ws->recv_iter = iter;
    return fut;
}

PyDoc_STRVAR(receive_doc,
"receive()\n--\n\n"
"Awaitable: the next whole message, str (text) or bytes (binary).  Raises\n"
"WebSocketDisconnect (.code, .reason) once the WebSocket is closed: the\n"
"peer's close code, 1006 when the connection dropped without one, 1001\n"
"when the server stops.");

static PyObject *fa_pyws_receive(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    return fa_pyws_recv((fa_pyws *)op, 0);
}

PyDoc_STRVAR(send_doc,
"send(data)\n--\n\n"
"Awaitable: sends a str as a text message, bytes / bytearray / memoryview\n"
"as a binary one.  Waits while the peer does not read (the output is\n"
"above its high-water mark).  Raises WebSocketDisconnect once closed.");

static PyObject *fa_pyws_send(PyObject *op, PyObject *data)
{
    fa_pyws *ws = (fa_pyws *)op;
    if (fa_pyws_check_thread(ws) < 0)
        return NULL;
    int binary;
    const char *p;
    Py_ssize_t n;
    Py_buffer view = {0};
    if (PyUnicode_Check(data)) {
        binary = 0;
        p = PyUnicode_AsUTF8AndSize(data, &n);
        if (p == NULL)
            return NULL;
    } else if (PyObject_CheckBuffer(data)) {
        if (PyObject_GetBuffer(data, &view, PyBUF_CONTIG_RO) < 0)
            return NULL;
        binary = 1;
        p = view.buf;
        n = view.len;
    } else {
        PyErr_Format(PyExc_TypeError, "send() takes str (text) or bytes-like (binary), not %.50s",
                     Py_TYPE(data)->tp_name);
        return NULL;
    }
    PyObject *result = NULL;
    if (ws->closed || ws->wsc == NULL) {
        if (!ws->closed)
            fa_pyws_mark_closed(ws, FA_WS_CLOSE_ABNORMAL, "", 0);
        fa_raise_disconnect(ws);
        goto done;
    }
    if (!ws->accepted) {
        PyErr_SetString(PyExc_RuntimeError, "send() before accept(): accept the WebSocket first");
        goto done;
    }
    int rc = fa_wsc_send(ws->wsc, binary, (const uint8_t *)p, (size_t)n);
    if (rc < 0) {
        fa_pyws_mark_closed(ws, FA_WS_CLOSE_ABNORMAL, "", 0);
        fa_raise_disconnect(ws);
    } else if (rc == 1) {
        PyObject *fut = PyObject_CallMethodNoArgs(ws->loop, FA_NAME(ws, FA_N_CREATE_FUTURE));
        if (fut != NULL && PyList_Append(ws->send_waiters, fut) < 0)
            Py_CLEAR(fut);
        result = fut;
    } else {
        result = fa_ready_new(ws, NULL);
    }
done:
    if (view.obj != NULL)
        PyBuffer_Release(&view);
    return result;
}

PyDoc_STRVAR(close_doc,
"close(code=1000, reason='')\n--\n\n"
"Awaitable: starts the close handshake with `code` (1000-1003, 1007-1014\n"
"or 3000-4999) and `reason` (at most 123 bytes of UTF-8).  Before accept()\n"
"the handshake is refused with HTTP 403.  Closing twice does nothing.");

static PyObject *fa_pyws_close(PyObject *op, PyObject *args, PyObject *kwds)
{
    fa_pyws *ws = (fa_pyws *)op;
    static char *kwlist[] = {"code", "reason", NULL};
    int code = FA_WS_CLOSE_NORMAL;
    PyObject *reason = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|iU:close", kwlist, &code, &reason))
        return NULL;
    if (fa_pyws_check_thread(ws) < 0)
        return NULL;
    if (!fa_ws_close_code_valid((unsigned)code)) {
        PyErr_Format(PyExc_ValueError,
                     "close(): code %d cannot be sent; use 1000-1003, 1007-1014 or 3000-4999", code);
        return NULL;
    }
    const char *rp = "";
    Py_ssize_t rn = 0;
    if (reason != NULL && (rp = PyUnicode_AsUTF8AndSize(reason, &rn)) == NULL)
        return NULL;
    if (rn > FA_WS_MAX_CONTROL - 2) {
        PyErr_Format(PyExc_ValueError, "close(): reason is %zd bytes of UTF-8; at most %d fit in a close frame",
                     rn, FA_WS_MAX_CONTROL - 2);
        return NULL;
    }
    if (!ws->closed && ws->wsc != NULL) {
        if (!ws->accepted)
            fa_wsc_reject(ws->wsc);
        else
            fa_wsc_close(ws->wsc, (unsigned)code, rp, (size_t)rn);
    }
    fa_pyws_mark_closed(ws, code, rp, (size_t)rn);
    return fa_ready_new(ws, NULL);
}

/* Done callback of the handler's Task. */
static PyObject *fa_pyws_done(PyObject *op, PyObject *task)
{
    fa_pyws *ws = (fa_pyws *)op;
    Py_CLEAR(ws->task);
    int failed = 0;
    PyObject *r = PyObject_CallMethod(task, "cancelled", NULL);
    if (r == NULL)
        return NULL;
    int cancelled = PyObject_IsTrue(r);
    Py_DECREF(r);
    if (cancelled) {
        failed = 1;
    } else {
        PyObject *exc = PyObject_CallMethod(task, "exception", NULL);
        if (exc == NULL)
            return NULL;
        /* a WebSocketDisconnect that escapes the handler is how it learned
         * the peer left: nothing to report */
        if (exc != Py_None && !(ws->closed && PyObject_IsInstance(exc, ws->disconnect_type) == 1)) {
            failed = 1;
            fprintf(stderr, "fasterapi: WebSocket handler %s raised%s\n", ws->label ? ws->label : "?",
                    ws->accepted ? "; closing with 1011" : "; answering 500");
            fflush(stderr);
            PyErr_DisplayException(exc);
        }
        Py_DECREF(exc);
        PyErr_Clear();
    }
    if (ws->wsc != NULL)
        fa_wsc_handler_done(ws->wsc, failed);
    Py_RETURN_NONE;
}

static PyObject *fa_pyws_aiter(PyObject *op) { return Py_NewRef(op); }

static PyObject *fa_pyws_anext(PyObject *op) { return fa_pyws_recv((fa_pyws *)op, 1); }

static PyObject *fa_pyws_repr(PyObject *op)
{
    fa_pyws *ws = (fa_pyws *)op;
    return PyUnicode_FromFormat("<WebSocket %R %s>", ws->path ? ws->path : Py_None,
                                ws->closed ? "closed" : ws->accepted ? "open" : "connecting");
}

static int fa_pyws_traverse(PyObject *op, visitproc visit, void *arg)
{
    fa_pyws *ws = (fa_pyws *)op;
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(ws->loop);
    Py_VISIT(ws->disconnect_type);
    Py_VISIT(ws->ready_type);
    Py_VISIT(ws->names);
    Py_VISIT(ws->path);
    Py_VISIT(ws->raw_path);
    Py_VISIT(ws->query);
    Py_VISIT(ws->headers);
    Py_VISIT(ws->client);
    Py_VISIT(ws->server);
    Py_VISIT(ws->scheme);
    Py_VISIT(ws->http_version);
    Py_VISIT(ws->subprotocols);
    Py_VISIT(ws->path_params);
    Py_VISIT(ws->inbox);
    Py_VISIT(ws->recv_waiter);
    Py_VISIT(ws->send_waiters);
    Py_VISIT(ws->task);
    Py_VISIT(ws->close_reason);
    return 0;
}

static int fa_pyws_clear(PyObject *op)
{
    fa_pyws *ws = (fa_pyws *)op;
    Py_CLEAR(ws->loop);
    Py_CLEAR(ws->disconnect_type);
    Py_CLEAR(ws->ready_type);
    Py_CLEAR(ws->names);
    Py_CLEAR(ws->path);
    Py_CLEAR(ws->raw_path);
    Py_CLEAR(ws->query);
    Py_CLEAR(ws->headers);
    Py_CLEAR(ws->client);
    Py_CLEAR(ws->server);
    Py_CLEAR(ws->scheme);
    Py_CLEAR(ws->http_version);
    Py_CLEAR(ws->subprotocols);
    Py_CLEAR(ws->path_params);
    Py_CLEAR(ws->inbox);
    Py_CLEAR(ws->recv_waiter);
    Py_CLEAR(ws->send_waiters);
    Py_CLEAR(ws->task);
    Py_CLEAR(ws->close_reason);
    return 0;
}

static void fa_pyws_dealloc(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    fa_pyws_clear(op);
    tp->tp_free(op);
    Py_DECREF(tp);
}

static PyMethodDef fa_pyws_methods[] = {
    {"accept", (PyCFunction)(void (*)(void))fa_pyws_accept, METH_VARARGS | METH_KEYWORDS, accept_doc},
    {"receive", fa_pyws_receive, METH_NOARGS, receive_doc},
    {"send", fa_pyws_send, METH_O, send_doc},
    {"close", (PyCFunction)(void (*)(void))fa_pyws_close, METH_VARARGS | METH_KEYWORDS, close_doc},
    {"deny", (PyCFunction)(void (*)(void))fa_pyws_deny, METH_VARARGS | METH_KEYWORDS, deny_doc},
    {"_done", fa_pyws_done, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

#define FA_MEMBER(name, doc) {#name, Py_T_OBJECT_EX, offsetof(fa_pyws, name), Py_READONLY, doc}
static PyMemberDef fa_pyws_members[] = {
    FA_MEMBER(path, "The request path (str), as req['path']."),
    FA_MEMBER(raw_path, "The request path as sent (bytes)."),
    FA_MEMBER(query, "The query string without '?' (str)."),
    FA_MEMBER(headers, "The request headers, as req['headers'] (case-insensitive)."),
    FA_MEMBER(client, "(host, port) of the peer, as req['client']."),
    FA_MEMBER(server, "(host, port) of the local end."),
    FA_MEMBER(scheme, "'ws', or 'wss' over TLS."),
    FA_MEMBER(http_version, "'1.1' (Upgrade) or '2' (extended CONNECT, RFC 8441)."),
    FA_MEMBER(subprotocols, "The subprotocols the client offered, in its order (list of str)."),
    FA_MEMBER(path_params, "Parameters of the route pattern (dict of str), as req['path_params']."),
    {NULL, 0, 0, 0, NULL},
};
#undef FA_MEMBER

PyDoc_STRVAR(fa_pyws_doc,
"The WebSocket a handler added with add_websocket() gets:\n\n"
"    async def handler(ws):\n"
"        await ws.accept()\n"
"        async for msg in ws:       # ends when the peer closes\n"
"            await ws.send(msg)\n\n"
"Made by the server only; used only on the worker's event loop.");

static PyType_Slot fa_pyws_slots[] = {
    {Py_tp_dealloc, fa_pyws_dealloc},
    {Py_tp_traverse, fa_pyws_traverse},
    {Py_tp_clear, fa_pyws_clear},
    {Py_tp_methods, fa_pyws_methods},
    {Py_tp_members, fa_pyws_members},
    {Py_tp_repr, fa_pyws_repr},
    {Py_tp_doc, (void *)fa_pyws_doc},
    {Py_am_aiter, fa_pyws_aiter},
    {Py_am_anext, fa_pyws_anext},
    {0, NULL},
};

static PyType_Spec fa_pyws_spec = {
    .name = "fasterapi._native.http2.WebSocket",
    .basicsize = sizeof(fa_pyws),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = fa_pyws_slots,
};

fa_pyws *fa_pyws_new(PyObject *type, PyObject *disconnect_type, PyObject *ready_type, PyObject *names,
                     PyObject *loop, struct fa_wsc *wsc)
{
    PyTypeObject *tp = (PyTypeObject *)type;
    fa_pyws *ws = (fa_pyws *)tp->tp_alloc(tp, 0);
    if (ws == NULL)
        return NULL;
    ws->wsc = wsc;
    ws->owner = pthread_self();
    ws->loop = Py_NewRef(loop);
    ws->disconnect_type = Py_NewRef(disconnect_type);
    ws->ready_type = Py_NewRef(ready_type);
    ws->names = Py_NewRef(names);
    ws->inbox = PyList_New(0);
    ws->send_waiters = PyList_New(0);
    ws->close_code = FA_WS_CLOSE_ABNORMAL;
    if (ws->inbox == NULL || ws->send_waiters == NULL) {
        Py_DECREF(ws);
        return NULL;
    }
    return ws;
}

/* WebSocketDisconnect is plain Python: an Exception with code and reason. */
static const char fa_disconnect_src[] =
    "class WebSocketDisconnect(Exception):\n"
    "    \"\"\"The WebSocket is closed: `code` is the close code (the peer's, 1006 when\n"
    "    the connection dropped without a close frame, 1001 when the server\n"
    "    stops), `reason` its reason text.\"\"\"\n"
    "    def __init__(self, code=1000, reason=''):\n"
    "        super().__init__(code, reason)\n"
    "        self.code = code\n"
    "        self.reason = reason or ''\n"
    "    def __str__(self):\n"
    "        return f'WebSocket closed with code {self.code}' + (f': {self.reason}' if self.reason else '')\n";

int fa_pyws_take_kwargs(PyObject *kwds, size_t *max_ws)
{
    if (kwds == NULL)
        return 0;
    PyObject *v = PyDict_GetItemString(kwds, "max_websockets"); /* borrowed */
    if (v == NULL)
        return 0;
    if (!PyLong_Check(v) || PyBool_Check(v)) {
        PyErr_Format(PyExc_TypeError, "max_websockets must be an int (0: no cap), not %.50s",
                     Py_TYPE(v)->tp_name);
        return -1;
    }
    long long n = PyLong_AsLongLong(v);
    if (n == -1 && PyErr_Occurred())
        return -1;
    if (n < 0) {
        PyErr_Format(PyExc_ValueError, "max_websockets must be >= 0 (0: no cap), not %lld", n);
        return -1;
    }
    *max_ws = (size_t)n;
    return PyDict_DelItemString(kwds, "max_websockets");
}

int fa_pyws_add_types(PyObject *module)
{
    PyObject *ready = PyType_FromModuleAndSpec(module, &fa_ready_spec, NULL);
    if (ready == NULL)
        return -1;
    int rc = PyModule_AddObjectRef(module, "_WebSocketReady", ready);
    Py_DECREF(ready);
    if (rc < 0)
        return -1;
    PyObject *type = PyType_FromModuleAndSpec(module, &fa_pyws_spec, NULL);
    if (type == NULL)
        return -1;
    rc = PyModule_AddObjectRef(module, "WebSocket", type);
    Py_DECREF(type);
    if (rc < 0)
        return -1;
    PyObject *ns = Py_BuildValue("{s:s,s:O}", "__name__", "fasterapi._native.http2", "__builtins__",
                                 PyEval_GetBuiltins());
    if (ns == NULL)
        return -1;
    PyObject *r = PyRun_String(fa_disconnect_src, Py_file_input, ns, ns);
    PyObject *cls = r ? PyDict_GetItemString(ns, "WebSocketDisconnect") : NULL;
    Py_XDECREF(r);
    rc = cls ? PyModule_AddObjectRef(module, "WebSocketDisconnect", cls) : -1;
    Py_DECREF(ns);
    return rc;
}
