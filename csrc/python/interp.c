/* interp.c - own-GIL sub-interpreters and handler calls (see interp.h).
 *
 * Thread-state discipline (CPython 3.12/3.13, public API only):
 *  - creation: Py_NewInterpreterFromConfig() on the calling thread, load the
 *    handlers, then swap the main thread state back in. The creation thread
 *    state stays in the interpreter, unused, until the end (see below);
 *  - workers: PyThreadState_New() on the worker thread, then
 *    PyEval_RestoreThread()/PyEval_SaveThread() around handler calls
 *    (PyGILState_* is tied to the main interpreter and is not used);
 *  - ending: the creation thread state, swapped in on the ending thread,
 *    calls Py_EndInterpreter() once every worker's thread state is gone.
 *
 * Why the creation thread state is kept: an interpreter must never be left
 * with no thread state at all. CPython 3.12 hands an interpreter's first
 * thread state out of storage inside the interpreter and never marks it
 * free again once deleted, so the next PyThreadState_New() on an interpreter
 * whose list went empty aborts the process ("init_threadstate: thread state
 * already initialized"). 3.13 resets that storage; keeping one thread state
 * alive is right on both.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "interp.h"
#include "../json/encoder.h"
#include "ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* Request header names and values seen before, as str objects: most
 * requests repeat the names (and many the values) of the last ones, so
 * fa_build_headers() reuses the objects instead of decoding them again,
 * and a reused name keeps its hash.  Slots are picked by a hash of the
 * name; a miss replaces the slot.  str objects are immutable, so sharing
 * them between requests is safe. */
enum { FA_HCACHE_SLOTS = 32, FA_HCACHE_NAME = 32, FA_HCACHE_VALUE = 96 };
typedef struct fa_hcache_slot {
    PyObject *name, *value; /* NULL: empty */
    uint8_t name_len, value_len;
    char name_bytes[FA_HCACHE_NAME];
    char value_bytes[FA_HCACHE_VALUE];
} fa_hcache_slot;

struct fa_interp {
    PyInterpreterState *state;
    PyThreadState *creation_ts; /* kept so the interpreter never has no thread state (3.12) */
    int is_main; /* a record on the main interpreter: nothing to create or end */
    /* objects owned by this interpreter; only touched with its GIL held */
    PyObject **handlers;
    size_t num_handlers;
    char **labels; /* borrowed from the spec's handler refs */
    PyObject *headers_type;
    int headers_new; /* it is made by its tp_new alone (fa_build_headers) */
    fa_hcache_slot hcache[FA_HCACHE_SLOTS];
    /* req's keys, every value None: each request's dict is a copy of it,
     * sized once, instead of a fresh dict resized twice on the way */
    PyObject *req_template;
    PyObject **routes; /* req['route'] per handler id */
    PyObject *k_path_params, *k_route, *k_file, *k_file_range, *k_stream, *k_json, *k_after;
    PyObject *k_client, *k_scheme, *v_http, *k_allow, *v_https, *k_tls;
    PyObject *k_tls_version, *k_tls_cipher, *k_tls_alpn, *k_tls_subject;
    /* req['tls'] values: OpenSSL's version and cipher names and the ALPN
     * choice are static C strings, so their str objects are made once per
     * interpreter, keyed by the C pointer (fa_tls_str) */
    struct {
        const char *c;
        PyObject *o;
    } tls_strs[16];
    fa_json_cache json_cache;
    int *stream_body; /* per handler id */
    PyObject *k_method, *k_path, *k_query, *k_headers, *k_body, *k_status,
        *k_content_type, *k_http_version;
    PyObject *v_200, *v_11, *v_10, *v_20;
    /* WebSockets (python/ws.c): this interpreter's types */
    PyObject *ws_type, *ws_disconnect, *ws_ready, *ws_names, *v_ws, *v_wss;
};

struct fa_pythread {
    fa_interp *in;
    PyThreadState *ts;
    /* asyncio (see fa_pythread_aio_init) */
    PyObject *loop;
    PyObject *step;     /* loop.step */
    PyObject *resume;   /* fasterapi._worker.resume */
    PyObject *start_task; /* fasterapi._worker.start_task */
    PyObject *run_hook;   /* fasterapi._worker.run_hook */
    PyObject *run_coro; /* fasterapi._worker.run_coroutine */
    PyObject *make_body; /* fasterapi._worker.make_body */
    PyObject *run_after_fn; /* fasterapi._worker.run_after */
    PyObject *afters;   /* res['after'] callables waiting to run (list), */
    int num_after;      /* and how many: read without the GIL */
    int blocking;
    fa_async_done_fn done;
    fa_stream_ready_fn ready;
    fa_response aresp; /* answer of a deferred handler, handed to done() */
};

/* A streamed body being pulled. */
typedef struct fa_pystream {
    fa_pythread *pt;
    PyObject *iter;  /* iterator or async iterator */
    int is_async;
    PyObject *task;  /* the Task awaiting the next async chunk */
    PyObject *after; /* res['after']: runs when the stream is closed */
    PyObject *chunk; /* a chunk that arrived through the Task */
    int ended, failed;
    void *token;
} fa_pystream;

/* A suspended handler: what its Task's done callback needs. */
typedef struct fa_deferred {
    fa_pythread *pt;
    void *token;
    int handler_id;
    PyObject *res;
} fa_deferred;

/* Formats the current Python exception (with traceback) into err. */
static void fa_format_exception(char *err, size_t err_size)
{
    PyObject *exc = PyErr_GetRaisedException();
    if (exc == NULL) {
        snprintf(err, err_size, "unknown error");
        return;
    }
    PyObject *tb = PyImport_ImportModule("traceback");
    PyObject *lines = tb ? PyObject_CallMethod(tb, "format_exception", "O", exc) : NULL;
    PyObject *empty = lines ? PyUnicode_FromString("") : NULL;
    PyObject *joined = empty ? PyUnicode_Join(empty, lines) : NULL;
    const char *s = joined ? PyUnicode_AsUTF8(joined) : NULL;
    if (s == NULL) {
        PyErr_Clear();
        PyObject *str = PyObject_Str(exc);
        s = str ? PyUnicode_AsUTF8(str) : NULL;
        snprintf(err, err_size, "%s", s ? s : "unprintable error");
        Py_XDECREF(str);
    } else {
        snprintf(err, err_size, "%s", s);
    }
    PyErr_Clear();
    Py_XDECREF(joined);
    Py_XDECREF(empty);
    Py_XDECREF(lines);
    Py_XDECREF(tb);
    Py_DECREF(exc);
}

static void fa_interp_clear_objects(fa_interp *in)
{
    for (size_t i = 0; i < in->num_handlers; i++) {
        Py_CLEAR(in->handlers[i]);
        Py_CLEAR(in->routes[i]);
    }
    Py_CLEAR(in->headers_type);
    Py_CLEAR(in->req_template);
    for (size_t i = 0; i < FA_HCACHE_SLOTS; i++) {
        Py_CLEAR(in->hcache[i].name);
        Py_CLEAR(in->hcache[i].value);
    }
    Py_CLEAR(in->ws_type);
    Py_CLEAR(in->ws_disconnect);
    Py_CLEAR(in->ws_ready);
    Py_CLEAR(in->ws_names);
    Py_CLEAR(in->v_ws);
    Py_CLEAR(in->v_wss);
    Py_CLEAR(in->k_path_params);
    Py_CLEAR(in->k_route);
    Py_CLEAR(in->k_file);
    Py_CLEAR(in->k_file_range);
    Py_CLEAR(in->k_stream);
    Py_CLEAR(in->k_json);
    Py_CLEAR(in->k_after);
    Py_CLEAR(in->k_client);
    Py_CLEAR(in->k_scheme);
    Py_CLEAR(in->v_http);
    Py_CLEAR(in->v_https);
    Py_CLEAR(in->k_tls);
    Py_CLEAR(in->k_tls_version);
    Py_CLEAR(in->k_tls_cipher);
    Py_CLEAR(in->k_tls_alpn);
    Py_CLEAR(in->k_tls_subject);
    for (size_t i = 0; i < sizeof in->tls_strs / sizeof in->tls_strs[0]; i++) {
        in->tls_strs[i].c = NULL;
        Py_CLEAR(in->tls_strs[i].o);
    }
    Py_CLEAR(in->k_allow);
    fa_json_cache_clear(&in->json_cache);
    Py_CLEAR(in->k_method);
    Py_CLEAR(in->k_path);
    Py_CLEAR(in->k_query);
    Py_CLEAR(in->k_headers);
    Py_CLEAR(in->k_body);
    Py_CLEAR(in->k_status);
    Py_CLEAR(in->k_content_type);
    Py_CLEAR(in->k_http_version);
    Py_CLEAR(in->v_200);
    Py_CLEAR(in->v_10);
    Py_CLEAR(in->v_11);
    Py_CLEAR(in->v_20);
}

/* Runs inside the new interpreter: imports fasterapi._worker and asks it to
 * load the handlers.  Returns 0, or -1 with a Python exception set. */
static int fa_interp_load(fa_interp *in, const fa_app_spec *spec)
{
    int rc = -1;
    PyObject *worker = NULL, *path = NULL, *refs = NULL, *loaded = NULL;

    /* The package itself must be importable before sys.path is replaced:
     * the main interpreter's sys.path, copied, makes sure of that. */
    if (!spec->main_interp) {
        path = PyList_New((Py_ssize_t)spec->sys_path_len);
        if (path == NULL)
            goto done;
        for (size_t i = 0; i < spec->sys_path_len; i++) {
            PyObject *s = PyUnicode_DecodeFSDefault(spec->sys_path[i]);
            if (s == NULL)
                goto done;
            PyList_SET_ITEM(path, (Py_ssize_t)i, s);
        }
        if (PySys_SetObject("path", path) < 0)
            goto done;
    }

    worker = PyImport_ImportModule("fasterapi._worker");
    if (worker == NULL)
        goto done;
    refs = PyList_New((Py_ssize_t)spec->num_handlers);
    if (refs == NULL)
        goto done;
    for (size_t i = 0; i < spec->num_handlers; i++) {
        PyObject *t = Py_BuildValue("(ss)", spec->handlers[i].module, spec->handlers[i].qualname);
        if (t == NULL)
            goto done;
        PyList_SET_ITEM(refs, (Py_ssize_t)i, t);
    }
    loaded = PyObject_CallMethod(worker, "load_handlers", "zOi",
                                 spec->main_path, refs, spec->main_interp);
    if (loaded == NULL)
        goto done;
    if (!PyList_Check(loaded) || (size_t)PyList_GET_SIZE(loaded) != spec->num_handlers) {
        PyErr_SetString(PyExc_RuntimeError, "fasterapi._worker.load_handlers returned a bad list");
        goto done;
    }
    for (size_t i = 0; i < spec->num_handlers; i++) {
        in->handlers[i] = Py_NewRef(PyList_GET_ITEM(loaded, (Py_ssize_t)i));
        in->routes[i] = PyUnicode_InternFromString(spec->handlers[i].route);
        if (in->routes[i] == NULL)
            goto done;
    }
    in->headers_type = PyObject_GetAttrString(worker, "Headers");
    if (in->headers_type == NULL)
        goto done;
    in->headers_new = PyType_Check(in->headers_type) &&
                      PyType_IsSubtype((PyTypeObject *)in->headers_type, &PyDict_Type) &&
                      ((PyTypeObject *)in->headers_type)->tp_init == PyDict_Type.tp_init;
    {
        PyObject *native = PyImport_ImportModule("fasterapi._native.http2");
        if (native == NULL)
            goto done;
        in->ws_type = PyObject_GetAttrString(native, "WebSocket");
        in->ws_disconnect = in->ws_type ? PyObject_GetAttrString(native, "WebSocketDisconnect") : NULL;
        in->ws_ready = in->ws_disconnect ? PyObject_GetAttrString(native, "_WebSocketReady") : NULL;
        Py_DECREF(native);
        if (in->ws_ready == NULL || (in->ws_names = fa_pyws_names_new()) == NULL)
            goto done;
    }

#define FA_INTERN(field, s)                                  \
    if ((in->field = PyUnicode_InternFromString(s)) == NULL) \
        goto done;
    FA_INTERN(k_method, "method");
    FA_INTERN(k_path, "path");
    FA_INTERN(k_query, "query");
    FA_INTERN(k_headers, "headers");
    FA_INTERN(k_body, "body");
    FA_INTERN(k_status, "status");
    FA_INTERN(k_content_type, "content_type");
    FA_INTERN(k_http_version, "http_version");
    FA_INTERN(k_path_params, "path_params");
    FA_INTERN(k_route, "route");
    FA_INTERN(k_file, "file");
    FA_INTERN(k_file_range, "file_range");
    FA_INTERN(k_stream, "stream");
    FA_INTERN(k_json, "json");
    FA_INTERN(k_after, "after");
    FA_INTERN(k_client, "client");
    FA_INTERN(k_scheme, "scheme");
    FA_INTERN(v_http, "http");
    FA_INTERN(v_https, "https");
    FA_INTERN(k_tls, "tls");
    FA_INTERN(k_tls_version, "version");
    FA_INTERN(k_tls_cipher, "cipher");
    FA_INTERN(k_tls_alpn, "alpn");
    FA_INTERN(k_tls_subject, "client_subject");
    FA_INTERN(k_allow, "allow");
    FA_INTERN(v_ws, "ws");
    FA_INTERN(v_wss, "wss");
    if (fa_json_cache_init(&in->json_cache) < 0)
        goto done;
    FA_INTERN(v_10, "1.0");
    FA_INTERN(v_11, "1.1");
    FA_INTERN(v_20, "2");
#undef FA_INTERN
    if ((in->v_200 = PyLong_FromLong(200)) == NULL)
        goto done;
    rc = 0;
done:
    Py_XDECREF(worker);
    Py_XDECREF(path);
    Py_XDECREF(refs);
    Py_XDECREF(loaded);
    return rc;
}

/* Frees the C side of an interpreter record (its Python objects are gone). */
static void fa_interp_free_record(fa_interp *in)
{
    free(in->handlers);
    free(in->labels);
    free(in->routes);
    free(in->stream_body);
    free(in);
}

fa_interp *fa_interp_new(const fa_app_spec *spec, char *err, size_t err_size)
{
    fa_interp *in = calloc(1, sizeof(*in));
    if (in == NULL) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    size_t n = spec->num_handlers ? spec->num_handlers : 1;
    in->num_handlers = spec->num_handlers;
    in->handlers = calloc(n, sizeof(PyObject *));
    in->labels = calloc(n, sizeof(char *));
    in->routes = calloc(n, sizeof(PyObject *));
    in->stream_body = calloc(n, sizeof(int));
    if (in->handlers == NULL || in->labels == NULL || in->routes == NULL || in->stream_body == NULL) {
        fa_interp_free_record(in);
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < spec->num_handlers; i++) {
        in->labels[i] = spec->handlers[i].label;
        in->stream_body[i] = spec->handlers[i].stream_body;
    }

    if (spec->main_interp) {
        /* the caller holds the main interpreter's GIL: load right here */
        in->is_main = 1;
        in->state = PyInterpreterState_Main();
        if (fa_interp_load(in, spec) < 0) {
            fa_format_exception(err, err_size);
            fa_interp_clear_objects(in);
            fa_interp_free_record(in);
            return NULL;
        }
        return in;
    }

    PyInterpreterConfig config = {
        .use_main_obmalloc = 0,
        .allow_fork = 0,
        .allow_exec = 0,
        .allow_threads = 1,
        .allow_daemon_threads = 0,
        .check_multi_interp_extensions = 1,
        .gil = PyInterpreterConfig_OWN_GIL,
    };
    PyThreadState *main_ts = PyThreadState_Get();
    PyThreadState *ts = NULL;
    PyStatus status = Py_NewInterpreterFromConfig(&ts, &config);
    if (PyStatus_Exception(status) || ts == NULL) {
        PyThreadState_Swap(main_ts);
        snprintf(err, err_size, "cannot create a sub-interpreter: %s",
                 status.err_msg ? status.err_msg : "unknown error");
        fa_interp_free_record(in);
        return NULL;
    }
    in->state = PyThreadState_GetInterpreter(ts);
    int ok = fa_interp_load(in, spec) == 0;
    if (!ok) {
        fa_format_exception(err, err_size);
        fa_interp_clear_objects(in);
        Py_EndInterpreter(ts);
        PyThreadState_Swap(main_ts);
        fa_interp_free_record(in);
        return NULL;
    }
    /* Workers make their own thread states; the creation one is only kept
     * (see the top of this file) and deleted by fa_interp_end(). */
    in->creation_ts = ts;
    PyThreadState_Swap(main_ts);
    return in;
}

int fa_interp_check_subinterp_safe(char *msg, size_t msg_size)
{
    /* Py_Version: the running CPython, not the headers we were built with */
    if (!(Py_Version >= 0x030C0000 && Py_Version < 0x030C0400))
        return 0;
    /* PYTHONMALLOC=malloc sets the object domain to the raw (libc) one */
    PyMemAllocatorEx obj, raw;
    PyMem_GetAllocator(PYMEM_DOMAIN_OBJ, &obj);
    PyMem_GetAllocator(PYMEM_DOMAIN_RAW, &raw);
    if (obj.malloc == raw.malloc && obj.free == raw.free)
        return 0;
    snprintf(msg, msg_size,
             "Python %d.%d.%d cannot run own-GIL sub-interpreters safely: its keyword-argument "
             "cache crashes the process at exit (CPython bug gh-119213, fixed in 3.12.4). "
             "Upgrade to Python 3.12.4 or newer, or start Python with PYTHONMALLOC=malloc "
             "in the environment, or use interpreters=\"main\"",
             (int)(Py_Version >> 24) & 0xff, (int)(Py_Version >> 16) & 0xff,
             (int)(Py_Version >> 8) & 0xff);
    return -1;
}

void fa_interp_end(fa_interp *in)
{
    if (in == NULL)
        return;
    if (in->is_main) {
        fa_interp_clear_objects(in);
        fa_interp_free_record(in);
        return;
    }
    /* The creation thread state ends the interpreter: by now it is the
     * last one, and to the interpreter's threading module it is the main
     * thread, whose lock must still be held when threading._shutdown()
     * runs (3.12 asserts it). */
    PyThreadState *ts = in->creation_ts;
    in->creation_ts = NULL;
    PyThreadState *save = PyThreadState_Swap(ts);
    fa_interp_clear_objects(in);
    Py_EndInterpreter(ts);
    PyThreadState_Swap(save);
    fa_interp_free_record(in);
}

fa_pythread *fa_pythread_new(fa_interp *in)
{
    fa_pythread *pt = calloc(1, sizeof(*pt));
    if (pt == NULL)
        return NULL;
    pt->in = in;
    fa_response_init(&pt->aresp);
    pt->ts = PyThreadState_New(in->state);
    if (pt->ts == NULL) {
        free(pt);
        return NULL;
    }
    return pt;
}

void fa_pythread_free(fa_pythread *pt)
{
    if (pt == NULL)
        return;
    PyEval_RestoreThread(pt->ts);
    fa_pythread_aio_close(pt);
    PyThreadState_Clear(pt->ts);
    PyThreadState_DeleteCurrent();
    fa_response_free(&pt->aresp);
    free(pt);
}

void fa_pythread_attach(fa_pythread *pt) { PyEval_RestoreThread(pt->ts); }

void fa_pythread_detach(fa_pythread *pt)
{
    PyThreadState *ts = PyEval_SaveThread();
    (void)ts;
    (void)pt; /* the thread state to resume is pt->ts */
}

/* ---------------------------------------------------------------------- */
/* request -> Python objects */

static PyObject *fa_str(const char *p, size_t n)
{
    /* Paths and queries are normally ASCII; bytes that are not valid UTF-8
     * survive as lone surrogates instead of failing the request. */
    return PyUnicode_DecodeUTF8(p, (Py_ssize_t)n, "surrogateescape");
}

/* New references to the str objects of one header field (see fa_hcache_slot). */
static int fa_header_strs(fa_interp *in, const fa_header *f, PyObject **k, PyObject **v)
{
    *k = *v = NULL;
    fa_hcache_slot *sl = NULL;
    if (f->name_len > 0 && f->name_len <= FA_HCACHE_NAME) {
        unsigned hsh = (unsigned)f->name_len * 31u + (unsigned char)f->name[0] * 7u +
                       (unsigned char)f->name[f->name_len - 1];
        sl = &in->hcache[hsh % FA_HCACHE_SLOTS];
        if (sl->name != NULL && sl->name_len == f->name_len &&
            memcmp(sl->name_bytes, f->name, f->name_len) == 0) {
            *k = Py_NewRef(sl->name);
            if (sl->value != NULL && sl->value_len == f->value_len &&
                memcmp(sl->value_bytes, f->value, f->value_len) == 0) {
                *v = Py_NewRef(sl->value);
                return 0;
            }
        }
    }
    if (*k == NULL && (*k = PyUnicode_DecodeLatin1(f->name, (Py_ssize_t)f->name_len, NULL)) == NULL)
        return -1;
    if ((*v = PyUnicode_DecodeLatin1(f->value, (Py_ssize_t)f->value_len, NULL)) == NULL) {
        Py_CLEAR(*k);
        return -1;
    }
    if (sl != NULL) {
        if (sl->name != *k) {
            Py_XSETREF(sl->name, Py_NewRef(*k));
            sl->name_len = (uint8_t)f->name_len;
            memcpy(sl->name_bytes, f->name, f->name_len);
            Py_CLEAR(sl->value);
        }
        if (f->value_len <= FA_HCACHE_VALUE) {
            Py_XSETREF(sl->value, Py_NewRef(*v));
            sl->value_len = (uint8_t)f->value_len;
            memcpy(sl->value_bytes, f->value, f->value_len);
        }
    }
    return 0;
}

static PyObject *fa_build_headers(fa_interp *in, const fa_request *rq)
{
    /* _worker.Headers is a dict subclass with no __init__ of its own (checked
     * at load: headers_new):
     * its tp_new is all a call would run that matters (dict's __init__
     * without arguments does nothing), at a fraction of the cost */
    PyObject *h;
    if (in->headers_new) {
        PyTypeObject *ht = (PyTypeObject *)in->headers_type;
        PyObject *none = PyTuple_New(0);
        h = none != NULL ? ht->tp_new(ht, none, NULL) : NULL;
        Py_XDECREF(none);
    } else {
        h = PyObject_CallNoArgs(in->headers_type);
    }
    if (h == NULL)
        return NULL;
    for (size_t i = 0; i < rq->num_headers; i++) {
        const fa_header *f = &rq->headers[i];
        PyObject *k, *v;
        if (fa_header_strs(in, f, &k, &v) < 0)
            goto fail;
        PyObject *old = PyDict_GetItemWithError(h, k); /* borrowed */
        int rc;
        if (old != NULL) {
            /* Repeated fields combine as a list (RFC 9110 5.3); cookies
             * combine with "; " (RFC 9113 8.2.3). */
            int is_cookie = f->name_len == 6 && memcmp(f->name, "cookie", 6) == 0;
            PyObject *joined = PyUnicode_FromFormat(is_cookie ? "%U; %U" : "%U, %U", old, v);
            rc = joined ? PyDict_SetItem(h, k, joined) : -1;
            Py_XDECREF(joined);
        } else if (PyErr_Occurred()) {
            rc = -1;
        } else {
            rc = PyDict_SetItem(h, k, v);
        }
        Py_DECREF(k);
        Py_DECREF(v);
        if (rc < 0)
            goto fail;
    }
    return h;
fail:
    Py_DECREF(h);
    return NULL;
}

static int fa_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Path parameters, percent-decoded (as UTF-8, invalid bytes kept as
 * surrogates), like Starlette's. */
static PyObject *fa_build_params(const fa_request *rq)
{
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
    for (size_t i = 0; i < rq->num_params; i++) {
        const fa_header *p = &rq->params[i];
        char small[256];
        char *buf = p->value_len <= sizeof(small) ? small : PyMem_Malloc(p->value_len);
        if (buf == NULL) {
            Py_DECREF(d);
            PyErr_NoMemory();
            return NULL;
        }
        size_t n = 0;
        for (size_t k = 0; k < p->value_len; k++) {
            int hi, lo;
            if (p->value[k] == '%' && k + 2 < p->value_len && (hi = fa_hexval(p->value[k + 1])) >= 0 &&
                (lo = fa_hexval(p->value[k + 2])) >= 0) {
                buf[n++] = (char)(hi * 16 + lo);
                k += 2;
            } else {
                buf[n++] = p->value[k];
            }
        }
        PyObject *k = PyUnicode_DecodeUTF8(p->name, (Py_ssize_t)p->name_len, NULL);
        PyObject *v = PyUnicode_DecodeUTF8(buf, (Py_ssize_t)n, "surrogateescape");
        if (buf != small)
            PyMem_Free(buf);
        int rc = (k && v) ? PyDict_SetItem(d, k, v) : -1;
        Py_XDECREF(k);
        Py_XDECREF(v);
        if (rc < 0) {
            Py_DECREF(d);
            return NULL;
        }
    }
    return d;
}

/* req['client']: (host, port), kept on the connection once built. */
static PyObject *fa_build_client(const fa_request *rq)
{
    if (rq->client_obj != NULL && *rq->client_obj != NULL)
        return Py_NewRef((PyObject *)*rq->client_obj);
    if (rq->client_len == 0)
        return Py_NewRef(Py_None);
    PyObject *host = PyUnicode_DecodeLatin1(rq->client, (Py_ssize_t)rq->client_len, NULL);
    PyObject *port = host ? PyLong_FromLong(rq->client_port) : NULL;
    PyObject *t = port ? PyTuple_Pack(2, host, port) : NULL;
    Py_XDECREF(host);
    Py_XDECREF(port);
    if (t != NULL && rq->client_obj != NULL)
        *rq->client_obj = Py_NewRef(t);
    return t;
}

/* The str for one of the static C strings of req['tls'] (NULL: None),
 * made once per interpreter. */
static PyObject *fa_tls_str(fa_interp *in, const char *c)
{
    if (c == NULL)
        return Py_NewRef(Py_None);
    size_t n = sizeof in->tls_strs / sizeof in->tls_strs[0], i;
    for (i = 0; i < n && in->tls_strs[i].c != NULL; i++)
        if (in->tls_strs[i].c == c)
            return Py_NewRef(in->tls_strs[i].o);
    PyObject *o = PyUnicode_FromString(c);
    if (o != NULL && i < n) {
        in->tls_strs[i].c = c;
        in->tls_strs[i].o = Py_NewRef(o);
    }
    return o;
}

/* req['tls'] on an https connection: {"version", "cipher", "alpn",
 * "client_subject"}; alpn and client_subject may be None.  A new dict per
 * request (handlers may change it); keys interned, values cached. */
static PyObject *fa_build_tls(fa_interp *in, const fa_request *rq)
{
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
    PyObject *keys[4] = {in->k_tls_version, in->k_tls_cipher, in->k_tls_alpn, in->k_tls_subject};
    PyObject *vals[4] = {
        fa_tls_str(in, rq->tls_version ? rq->tls_version : ""),
        fa_tls_str(in, rq->tls_cipher ? rq->tls_cipher : ""),
        fa_tls_str(in, rq->tls_alpn),
        rq->tls_subject != NULL ? fa_str(rq->tls_subject, rq->tls_subject_len) : Py_NewRef(Py_None),
    };
    int rc = 0;
    for (int i = 0; i < 4; i++) {
        if (rc == 0 && (vals[i] == NULL || PyDict_SetItem(d, keys[i], vals[i]) < 0))
            rc = -1;
        Py_XDECREF(vals[i]);
    }
    if (rc < 0)
        Py_CLEAR(d);
    return d;
}

static PyObject *fa_build_request(fa_interp *in, const fa_request *rq, int handler_id)
{
    if (in->req_template == NULL) {
        PyObject *t = PyDict_New();
        PyObject *keys[] = {in->k_method, in->k_path, in->k_query, in->k_headers, in->k_body,
                            in->k_path_params, in->k_route, in->k_http_version, in->k_scheme,
                            in->k_client};
        for (size_t i = 0; t != NULL && i < sizeof keys / sizeof keys[0]; i++)
            if (PyDict_SetItem(t, keys[i], Py_None) < 0)
                Py_CLEAR(t);
        if (t == NULL)
            return NULL;
        in->req_template = t;
    }
    PyObject *d = PyDict_Copy(in->req_template);
    if (d == NULL)
        return NULL;
    PyObject *v;
#define FA_SET(key, expr)                                  \
    do {                                                   \
        v = (expr);                                        \
        if (v == NULL || PyDict_SetItem(d, in->key, v) < 0) { \
            Py_XDECREF(v);                                 \
            goto fail;                                     \
        }                                                  \
        Py_DECREF(v);                                      \
    } while (0)
    FA_SET(k_method, PyUnicode_DecodeLatin1(rq->method, (Py_ssize_t)rq->method_len, NULL));
    FA_SET(k_path, fa_str(rq->path, rq->path_len));
    FA_SET(k_query, fa_str(rq->query, rq->query_len));
    FA_SET(k_headers, fa_build_headers(in, rq));
    FA_SET(k_body, PyBytes_FromStringAndSize(rq->body, (Py_ssize_t)rq->body_len));
    FA_SET(k_path_params, fa_build_params(rq));
    FA_SET(k_route, Py_NewRef(in->routes[handler_id]));
    FA_SET(k_http_version, Py_NewRef(rq->http_version == 20 ? in->v_20
                                      : rq->http_version == 10 ? in->v_10 : in->v_11));
    FA_SET(k_scheme, Py_NewRef(rq->fwd_scheme ? (rq->fwd_scheme == 2 ? in->v_https : in->v_http)
                                : rq->tls ? in->v_https : in->v_http));
    FA_SET(k_client, fa_build_client(rq));
    if (rq->tls)
        FA_SET(k_tls, fa_build_tls(in, rq));
    if (rq->allow_len)
        FA_SET(k_allow, fa_str(rq->allow, rq->allow_len));
#undef FA_SET
    return d;
fail:
    Py_DECREF(d);
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* Python result -> fa_response */

/* A header name must be a token; a value may not hold CR, LF or NUL (they
 * would let a handler split the response). */
static int fa_valid_name(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 32 || c >= 127 || strchr("\"(),/:;<=>?@[\\]{}", c) != NULL)
            return 0;
    }
    return 1;
}

static int fa_valid_value(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
            return 0;
    return 1;
}

/* Gets the bytes of a str (UTF-8; latin-1 for header values would be
 * stricter, UTF-8 is what users mean) or bytes-like object. */
static int fa_text(PyObject *o, const char **p, Py_ssize_t *n, Py_buffer *view)
{
    view->obj = NULL;
    if (PyUnicode_Check(o)) {
        *p = PyUnicode_AsUTF8AndSize(o, n);
        return *p ? 0 : -1;
    }
    if (PyBytes_Check(o)) {
        *p = PyBytes_AS_STRING(o);
        *n = PyBytes_GET_SIZE(o);
        return 0;
    }
    if (PyObject_CheckBuffer(o)) {
        if (PyObject_GetBuffer(o, view, PyBUF_SIMPLE) < 0)
            return -1;
        *p = view->buf;
        *n = view->len;
        return 0;
    }
    return -2;
}

static void fa_bad_result(const fa_interp *in, int handler_id, fa_response *out, const char *what)
{
    fprintf(stderr, "fasterapi: handler %s: %s; answering 500\n",
            in->labels[handler_id] ? in->labels[handler_id] : "?", what);
    fa_response_simple(out, 500, "Internal Server Error");
}

static int fa_add_header_obj(fa_interp *in, int hid, fa_response *out, PyObject *k, PyObject *v)
{
    const char *kp, *vp;
    Py_ssize_t kn, vn;
    Py_buffer kv, vv;
    char msg[200];
    int rk = fa_text(k, &kp, &kn, &kv);
    if (rk == -1)
        return -1;
    int rv = fa_text(v, &vp, &vn, &vv);
    if (rv == -1) {
        if (kv.obj)
            PyBuffer_Release(&kv);
        return -1;
    }
    int rc = 0;
    if (rk == -2 || rv == -2) {
        snprintf(msg, sizeof(msg), "res['headers'] names and values must be str or bytes, got %.40s: %.40s",
                 Py_TYPE(k)->tp_name, Py_TYPE(v)->tp_name);
        rc = -2;
    } else if (!fa_valid_name(kp, (size_t)kn) || !fa_valid_value(vp, (size_t)vn)) {
        snprintf(msg, sizeof(msg), "res['headers'] has an invalid header name or a value with CR, LF or NUL");
        rc = -2;
    } else if (fa_response_add_header(out, kp, (size_t)kn, vp, (size_t)vn) < 0) {
        snprintf(msg, sizeof(msg), "res['headers'] has more than %d headers", FA_RESP_MAX_HEADERS);
        rc = -2;
    }
    if (kv.obj)
        PyBuffer_Release(&kv);
    if (vv.obj)
        PyBuffer_Release(&vv);
    if (rc == -2)
        fa_bad_result(in, hid, out, msg);
    return rc;
}

/* Fills out from the res dict.  Returns 0; on a bad value logs, sets a 500
 * and returns -2; on a Python error returns -1 with the error set. */
static int fa_stream_start(fa_pythread *pt, PyObject *body, fa_response *out);

/* res['file']: a path (str, bytes or os.PathLike) whose bytes are the body,
 * optionally narrowed by res['file_range'] = (offset, length).  The file is
 * opened here, in the handler's thread, so a missing file is the handler's
 * 404 and not a broken response later. */
static int fa_open_file(fa_interp *in, int hid, PyObject *res, PyObject *file, fa_response *out)
{
    char msg[300];
    PyObject *fs = NULL;
    if (!PyUnicode_FSConverter(file, &fs)) {
        PyErr_Clear();
        snprintf(msg, sizeof(msg), "res['file'] must be a path (str, bytes or os.PathLike), got %.60s",
                 Py_TYPE(file)->tp_name);
        fa_bad_result(in, hid, out, msg);
        return -2;
    }
    const char *path = PyBytes_AS_STRING(fs);
    int fd;
    Py_BEGIN_ALLOW_THREADS
    fd = open(path, O_RDONLY | O_CLOEXEC);
    Py_END_ALLOW_THREADS
    struct stat stt;
    if (fd < 0 || fstat(fd, &stt) < 0 || !S_ISREG(stt.st_mode)) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        if (fd < 0 && (e == ENOENT || e == ENOTDIR)) {
            Py_DECREF(fs);
            fa_response_simple(out, 404, "Not Found");
            return -2;
        }
        snprintf(msg, sizeof(msg), "res['file'] %.200s cannot be sent: %s", path,
                 fd < 0 ? strerror(e) : "not a regular file");
        Py_DECREF(fs);
        fa_bad_result(in, hid, out, msg);
        return -2;
    }
    Py_DECREF(fs);
    uint64_t size = (uint64_t)stt.st_size, off = 0, len = size;
    PyObject *range = PyDict_GetItemWithError(res, in->k_file_range);
    if (range == NULL && PyErr_Occurred()) {
        close(fd);
        return -1;
    }
    if (range != NULL && range != Py_None) {
        unsigned long long a, b;
        if (!PyTuple_Check(range) || !PyArg_ParseTuple(range, "KK", &a, &b) || a > size || b > size - a) {
            PyErr_Clear();
            close(fd);
            fa_bad_result(in, hid, out,
                          "res['file_range'] must be (offset, length) within the file");
            return -2;
        }
        off = a;
        len = b;
    }
    out->file_fd = fd;
    out->file_off = off;
    out->file_len = len;
    return 0;
}

/* Queues an `after` callable (reference stolen) to run once the answer is
 * on its way. */
static void fa_after_push(fa_pythread *pt, PyObject *after)
{
    if (pt->afters == NULL && (pt->afters = PyList_New(0)) == NULL) {
        PyErr_Clear();
        PyObject *r = PyObject_CallNoArgs(after); /* out of memory: run it now rather than drop it */
        if (r == NULL)
            PyErr_PrintEx(0);
        Py_XDECREF(r);
        Py_DECREF(after);
        return;
    }
    if (PyList_Append(pt->afters, after) < 0)
        PyErr_PrintEx(0);
    else
        pt->num_after++;
    Py_DECREF(after);
}

static int fa_convert_body(fa_pythread *pt, int hid, PyObject *res, fa_response *out);

static int fa_convert_result(fa_pythread *pt, int hid, PyObject *res, fa_response *out)
{
    /* res['after'] first: a cleanup promise holds even if the rest of res
     * turns out to be wrong */
    PyObject *after = PyDict_GetItemWithError(res, pt->in->k_after);
    if (after == NULL && PyErr_Occurred())
        return -1;
    if (after == Py_None)
        after = NULL;
    if (after != NULL && !PyCallable_Check(after)) {
        char msg[200];
        snprintf(msg, sizeof(msg), "res['after'] must be a callable taking no arguments, got %.60s",
                 Py_TYPE(after)->tp_name);
        fa_bad_result(pt->in, hid, out, msg);
        return -2;
    }
    Py_XINCREF(after);
    int rc = fa_convert_body(pt, hid, res, out);
    if (after != NULL) {
        if (rc == 0 && out->stream != NULL)
            ((fa_pystream *)out->stream)->after = after; /* over when the producer closes */
        else
            fa_after_push(pt, after);
    }
    return rc;
}

static int fa_convert_body(fa_pythread *pt, int hid, PyObject *res, fa_response *out)
{
    fa_interp *in = pt->in;
    char msg[200];
    PyObject *status = PyDict_GetItemWithError(res, in->k_status);
    if (status == NULL && PyErr_Occurred())
        return -1;
    if (status != NULL) {
        long s = PyLong_Check(status) && !PyBool_Check(status) ? PyLong_AsLong(status) : -1;
        if (s == -1 && PyErr_Occurred())
            PyErr_Clear();
        if (s < 100 || s > 599) {
            snprintf(msg, sizeof(msg), "res['status'] must be an int from 100 to 599, got %.60s",
                     Py_TYPE(status)->tp_name);
            fa_bad_result(in, hid, out, msg);
            return -2;
        }
        out->status = (int)s;
    }

    /* res['json']: encoded here, in C, without building a str first */
    PyObject *json = PyDict_GetItemWithError(res, in->k_json);
    if (json == NULL && PyErr_Occurred())
        return -1;
    int is_json = 0;
    if (json != NULL) {
        if (fa_json_encode(json, &out->body, NULL, &in->json_cache) < 0) {
            PyObject *exc = PyErr_GetRaisedException();
            PyObject *str = exc ? PyObject_Str(exc) : NULL;
            const char *m = str ? PyUnicode_AsUTF8(str) : NULL;
            PyErr_Clear();
            snprintf(msg, sizeof(msg), "res['json'] cannot be encoded: %.120s", m ? m : "?");
            Py_XDECREF(str);
            Py_XDECREF(exc);
            fa_bad_result(in, hid, out, msg);
            return -2;
        }
        is_json = 1;
    }

    PyObject *body = is_json ? NULL : PyDict_GetItemWithError(res, in->k_body);
    if (body == NULL && PyErr_Occurred())
        return -1;
    int body_is_text = 1;
    PyObject *stream_body = NULL;
    if (body != NULL && body != Py_None) {
        const char *p;
        Py_ssize_t n;
        Py_buffer view;
        int r = fa_text(body, &p, &n, &view);
        if (r == -1)
            return -1;
        if (r == -2 && !PyDict_Check(body) &&
            (PyIter_Check(body) || Py_TYPE(body)->tp_iter != NULL ||
             (Py_TYPE(body)->tp_as_async && Py_TYPE(body)->tp_as_async->am_aiter))) {
            stream_body = body; /* started last, once nothing else can fail */
            body_is_text = 0;
            r = 1; /* streamed: nothing to copy now */
            p = NULL;
            n = 0;
        }
        if (r == -2) {
            snprintf(msg, sizeof(msg),
                     "res['body'] must be str, bytes or an iterable of str/bytes chunks, got %.60s",
                     Py_TYPE(body)->tp_name);
            fa_bad_result(in, hid, out, msg);
            return -2;
        }
        if (r == 0)
            body_is_text = PyUnicode_Check(body);
        int rc = fa_buf_append(&out->body, p, (size_t)n);
        if (view.obj)
            PyBuffer_Release(&view);
        if (rc < 0) {
            PyErr_NoMemory();
            return -1;
        }
    }

    PyObject *file = PyDict_GetItemWithError(res, in->k_file);
    if (file == NULL && PyErr_Occurred())
        return -1;
    if (file != NULL && file != Py_None) {
        int r = fa_open_file(in, hid, res, file, out);
        if (r < 0)
            return r;
    }

    PyObject *ct = PyDict_GetItemWithError(res, in->k_content_type);
    if (ct == NULL && PyErr_Occurred())
        return -1;
    if (ct != NULL && ct != Py_None) {
        if (!PyUnicode_Check(ct)) {
            snprintf(msg, sizeof(msg), "res['content_type'] must be str, got %.60s", Py_TYPE(ct)->tp_name);
            fa_bad_result(in, hid, out, msg);
            return -2;
        }
        Py_ssize_t n;
        const char *p = PyUnicode_AsUTF8AndSize(ct, &n);
        if (p == NULL)
            return -1;
        if (!fa_valid_value(p, (size_t)n)) {
            fa_bad_result(in, hid, out, "res['content_type'] contains CR, LF or NUL");
            return -2;
        }
        if (fa_response_add_header(out, "content-type", 12, p, (size_t)n) < 0) {
            PyErr_NoMemory();
            return -1;
        }
    } else if (is_json) {
        if (fa_response_add_header(out, "content-type", 12, "application/json", 16) < 0) {
            PyErr_NoMemory();
            return -1;
        }
    } else if (out->body.len > 0 || body != NULL || (file != NULL && file != Py_None)) {
        const char *d = body_is_text && (file == NULL || file == Py_None) ? "text/plain; charset=utf-8" : "application/octet-stream";
        if (fa_response_add_header(out, "content-type", 12, d, strlen(d)) < 0) {
            PyErr_NoMemory();
            return -1;
        }
    }

    PyObject *headers = PyDict_GetItemWithError(res, in->k_headers);
    if (headers == NULL && PyErr_Occurred())
        return -1;
    if (headers != NULL && headers != Py_None) {
        if (PyDict_Check(headers)) {
            Py_ssize_t pos = 0;
            PyObject *k, *v;
            while (PyDict_Next(headers, &pos, &k, &v)) {
                int r = fa_add_header_obj(in, hid, out, k, v);
                if (r < 0)
                    return r;
            }
        } else if (PyList_Check(headers) || PyTuple_Check(headers)) {
            PyObject *seq = PySequence_Fast(headers, "headers");
            if (seq == NULL)
                return -1;
            for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
                PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
                if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
                    Py_DECREF(seq);
                    fa_bad_result(in, hid, out, "res['headers'] list items must be (name, value) tuples");
                    return -2;
                }
                int r = fa_add_header_obj(in, hid, out, PyTuple_GET_ITEM(item, 0), PyTuple_GET_ITEM(item, 1));
                if (r < 0) {
                    Py_DECREF(seq);
                    return r;
                }
            }
            Py_DECREF(seq);
        } else {
            snprintf(msg, sizeof(msg), "res['headers'] must be a dict or a list of (name, value) pairs, got %.60s",
                     Py_TYPE(headers)->tp_name);
            fa_bad_result(in, hid, out, msg);
            return -2;
        }
    }
    if (stream_body != NULL && fa_stream_start(pt, stream_body, out) < 0)
        return -1;
    return 0;
}

/* Calls an `after` callable (reference stolen) through _worker.run_after:
 * a coroutine it returns becomes a Task on this thread's loop (or runs to
 * the end on a blocking thread); an exception is logged. */
static void fa_run_after_obj(fa_pythread *pt, PyObject *after)
{
    PyObject *r = pt->run_after_fn
                      ? PyObject_CallFunctionObjArgs(pt->run_after_fn, after, pt->loop ? pt->loop : Py_None,
                                                     pt->blocking ? Py_True : Py_False, NULL)
                      : PyObject_CallNoArgs(after);
    if (r == NULL) {
        fprintf(stderr, "fasterapi: res['after'] raised\n");
        fflush(stderr);
        PyErr_PrintEx(0);
    }
    Py_XDECREF(r);
    Py_DECREF(after);
}

int fa_pythread_after_pending(const fa_pythread *pt) { return pt->num_after > 0; }

void fa_pythread_run_after(fa_pythread *pt)
{
    if (pt->num_after == 0)
        return;
    /* one at a time from the front: an `after` may queue more */
    while (pt->afters != NULL && PyList_GET_SIZE(pt->afters) > 0) {
        PyObject *after = Py_NewRef(PyList_GET_ITEM(pt->afters, 0));
        if (PyList_SetSlice(pt->afters, 0, 1, NULL) < 0) {
            PyErr_Clear();
            Py_DECREF(after);
            break;
        }
        pt->num_after--;
        fa_run_after_obj(pt, after);
    }
    pt->num_after = 0;
    Py_CLEAR(pt->afters);
}

/* Logs a handler's exception (with traceback) and answers 500. */
static void fa_handler_failed(fa_interp *in, int handler_id, fa_response *out)
{
    fprintf(stderr, "fasterapi: handler %s raised; answering 500\n",
            in->labels[handler_id] ? in->labels[handler_id] : "?");
    fflush(stderr);
    PyErr_PrintEx(0);
    fa_response_simple(out, 500, "Internal Server Error");
}

static void fa_deferred_free(PyObject *capsule)
{
    fa_deferred *d = PyCapsule_GetPointer(capsule, NULL);
    if (d == NULL) {
        PyErr_Clear();
        return;
    }
    Py_XDECREF(d->res);
    PyMem_Free(d);
}

/* Done callback of a handler's Task (METH_O; self is a capsule). */
static PyObject *fa_task_done(PyObject *capsule, PyObject *task)
{
    fa_deferred *d = PyCapsule_GetPointer(capsule, NULL);
    if (d == NULL)
        return NULL;
    fa_pythread *pt = d->pt;
    fa_interp *in = pt->in;
    PyObject *cancelled = PyObject_CallMethod(task, "cancelled", NULL);
    if (cancelled == NULL)
        return NULL;
    int was_cancelled = PyObject_IsTrue(cancelled);
    Py_DECREF(cancelled);
    if (was_cancelled) {
        pt->done(d->token, NULL);
        Py_RETURN_NONE;
    }
    fa_response_reset(&pt->aresp);
    PyObject *exc = PyObject_CallMethod(task, "exception", NULL);
    if (exc == NULL) {
        fa_handler_failed(in, d->handler_id, &pt->aresp);
    } else if (exc != Py_None) {
        PyErr_SetRaisedException(exc); /* steals */
        fa_handler_failed(in, d->handler_id, &pt->aresp);
    } else {
        Py_DECREF(exc);
        if (fa_convert_result(pt, d->handler_id, d->res, &pt->aresp) == -1)
            fa_handler_failed(in, d->handler_id, &pt->aresp);
    }
    pt->done(d->token, &pt->aresp);
    Py_RETURN_NONE;
}

static PyMethodDef fa_task_done_def = {"_fasterapi_task_done", fa_task_done, METH_O, NULL};

/* A coroutine handler's Task suspended: its done callback answers later.
 * Takes the reference to `task`.  Returns FA_CALL_DEFERRED, or FA_CALL_DONE
 * with `out` filled when that failed. */
static int fa_defer(fa_pythread *pt, int handler_id, PyObject *task, PyObject *res,
                    fa_response *out, void *token, void **handle)
{
    fa_interp *in = pt->in;
    fa_deferred *d = PyMem_Malloc(sizeof(*d));
    if (d == NULL) {
        Py_DECREF(task);
        PyErr_NoMemory();
        fa_handler_failed(in, handler_id, out);
        return FA_CALL_DONE;
    }
    d->pt = pt;
    d->token = token;
    d->handler_id = handler_id;
    d->res = Py_NewRef(res);
    PyObject *capsule = PyCapsule_New(d, NULL, fa_deferred_free);
    if (capsule == NULL) {
        Py_DECREF(d->res);
        PyMem_Free(d);
        Py_DECREF(task);
        fa_handler_failed(in, handler_id, out);
        return FA_CALL_DONE;
    }
    PyObject *cb = PyCFunction_New(&fa_task_done_def, capsule);
    Py_DECREF(capsule);
    PyObject *r = cb ? PyObject_CallMethod(task, "add_done_callback", "O", cb) : NULL;
    Py_XDECREF(cb);
    if (r == NULL) {
        PyObject *c = PyObject_CallMethod(task, "cancel", NULL);
        Py_XDECREF(c);
        Py_DECREF(task);
        fa_handler_failed(in, handler_id, out);
        return FA_CALL_DONE;
    }
    Py_DECREF(r);
    *handle = task;
    return FA_CALL_DEFERRED;
}

int fa_pythread_call(fa_pythread *pt, int handler_id, const fa_request *rq, fa_response *out,
                     void *token, void **handle, void **body)
{
    fa_interp *in = pt->in;
    PyObject *req = NULL, *res = NULL, *ret = NULL;
    int outcome = FA_CALL_DONE;
    *body = NULL;
    if (handler_id < 0 || (size_t)handler_id >= in->num_handlers) {
        fa_response_simple(out, 500, "Internal Server Error");
        return FA_CALL_DONE;
    }
    req = fa_build_request(in, rq, handler_id);
    if (req == NULL)
        goto error;
    if (in->stream_body[handler_id] && pt->make_body != NULL && !pt->blocking) {
        PyObject *bs = PyObject_CallOneArg(pt->make_body, pt->loop);
        if (bs == NULL || PyDict_SetItem(req, in->k_stream, bs) < 0) {
            Py_XDECREF(bs);
            goto error;
        }
        *body = bs; /* the caller's reference, for feeding */
    }
    res = PyDict_New();
    if (res == NULL || PyDict_SetItem(res, in->k_status, in->v_200) < 0)
        goto error;
    PyObject *args[2] = {req, res};
    ret = PyObject_Vectorcall(in->handlers[handler_id], args, 2, NULL);
    if (ret == NULL)
        goto error;
    if (PyCoro_CheckExact(ret)) {
        if (pt->blocking || pt->loop == NULL) {
            PyObject *r = pt->run_coro ? PyObject_CallFunctionObjArgs(pt->run_coro, pt->loop, ret, NULL)
                                       : NULL;
            if (r == NULL) {
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_RuntimeError, "no asyncio loop in this thread");
                goto error;
            }
            Py_DECREF(r);
        } else {
            /* An eager Task: the first step runs now, inside the Task, so a
             * handler that never suspends is answered at once, with no loop
             * iteration. */
            PyObject *task = PyObject_CallFunctionObjArgs(pt->start_task, pt->loop, ret, NULL);
            if (task == NULL)
                goto error;
            PyObject *is_done = PyObject_CallMethod(task, "done", NULL);
            int finished = is_done ? PyObject_IsTrue(is_done) : -1;
            Py_XDECREF(is_done);
            if (finished < 0) {
                Py_DECREF(task);
                goto error;
            }
            if (!finished) {
                outcome = fa_defer(pt, handler_id, task, res, out, token, handle);
                goto done;
            }
            /* result() re-raises the handler's exception (or CancelledError) */
            PyObject *r = PyObject_CallMethod(task, "result", NULL);
            Py_DECREF(task);
            if (r == NULL)
                goto error;
            Py_DECREF(r);
        }
    }
    if (fa_convert_result(pt, handler_id, res, out) == -1)
        goto error;
    goto done;
error:
    fa_handler_failed(in, handler_id, out);
done:
    Py_XDECREF(ret);
    Py_XDECREF(res);
    Py_XDECREF(req);
    return outcome;
}

int fa_pythread_aio_init(fa_pythread *pt, int blocking, fa_async_done_fn done,
                         fa_stream_ready_fn ready)
{
    int fd = -1;
    pt->ready = ready;
    PyObject *worker = PyImport_ImportModule("fasterapi._worker");
    if (worker == NULL)
        goto fail;
    pt->blocking = blocking;
    pt->done = done;
    pt->resume = PyObject_GetAttrString(worker, "resume");
    pt->run_coro = pt->resume ? PyObject_GetAttrString(worker, "run_coroutine") : NULL;
    pt->make_body = pt->run_coro ? PyObject_GetAttrString(worker, "make_body") : NULL;
    pt->start_task = pt->make_body ? PyObject_GetAttrString(worker, "start_task") : NULL;
    pt->run_hook = pt->start_task ? PyObject_GetAttrString(worker, "run_hook") : NULL;
    pt->run_after_fn = pt->run_hook ? PyObject_GetAttrString(worker, "run_after") : NULL;
    pt->loop = pt->run_coro ? PyObject_CallMethod(worker, blocking ? "make_blocking_loop" : "make_loop", NULL)
                            : NULL;
    Py_DECREF(worker);
    if (pt->loop == NULL)
        goto fail;
    if (blocking)
        return 0;
    pt->step = PyObject_GetAttrString(pt->loop, "step");
    PyObject *fileno = pt->step ? PyObject_CallMethod(pt->loop, "fileno", NULL) : NULL;
    if (fileno == NULL)
        goto fail;
    fd = (int)PyLong_AsLong(fileno);
    Py_DECREF(fileno);
    if (fd < 0)
        goto fail;
    return fd;
fail:
    fprintf(stderr, "fasterapi: cannot set up asyncio in a worker interpreter:\n");
    PyErr_PrintEx(0);
    Py_CLEAR(pt->loop);
    Py_CLEAR(pt->step);
    Py_CLEAR(pt->resume);
    Py_CLEAR(pt->run_coro);
    Py_CLEAR(pt->make_body);
    Py_CLEAR(pt->start_task);
    Py_CLEAR(pt->run_hook);
    Py_CLEAR(pt->run_after_fn);
    return -1;
}

int fa_pythread_aio_step(fa_pythread *pt)
{
    if (pt->step == NULL)
        return -1;
    PyObject *r = PyObject_CallNoArgs(pt->step);
    if (r == NULL) {
        fprintf(stderr, "fasterapi: asyncio step failed:\n");
        PyErr_PrintEx(0);
        return 10; /* try again soon rather than spin */
    }
    double secs = PyFloat_AsDouble(r);
    Py_DECREF(r);
    if (secs < 0)
        return -1;
    if (secs > 3600)
        secs = 3600;
    /* round up: waking before the timer is due would spin */
    return (int)(secs * 1000.0) + (secs > 0 ? 1 : 0);
}

void fa_pythread_cancel(fa_pythread *pt, void *handle)
{
    (void)pt;
    PyObject *r = PyObject_CallMethod((PyObject *)handle, "cancel", NULL);
    if (r == NULL)
        PyErr_Clear();
    Py_XDECREF(r);
}

void fa_pythread_release(void *handle) { Py_XDECREF((PyObject *)handle); }

void fa_pythread_aio_close(fa_pythread *pt)
{
    fa_pythread_run_after(pt); /* nothing promised is dropped */
    if (pt->loop != NULL) {
        PyObject *r = PyObject_CallMethod(pt->loop, pt->blocking ? "close" : "close_all", NULL);
        if (r == NULL) {
            fprintf(stderr, "fasterapi: closing the asyncio loop failed:\n");
            PyErr_PrintEx(0);
        }
        Py_XDECREF(r);
    }
    Py_CLEAR(pt->loop);
    Py_CLEAR(pt->step);
    Py_CLEAR(pt->resume);
    Py_CLEAR(pt->run_coro);
    Py_CLEAR(pt->make_body);
    Py_CLEAR(pt->start_task);
    Py_CLEAR(pt->run_hook);
    Py_CLEAR(pt->run_after_fn);
}

/* ---------------------------------------------------------------------- */
/* streamed bodies */

/* Appends a chunk (str as UTF-8, or bytes-like).  Returns 0, or -1 with an
 * exception set. */
static int fa_append_chunk(PyObject *chunk, fa_buf *out)
{
    const char *p;
    Py_ssize_t n;
    Py_buffer view;
    int r = fa_text(chunk, &p, &n, &view);
    if (r == -2) {
        PyErr_Format(PyExc_TypeError, "a streamed body must yield str or bytes, not %.60s",
                     Py_TYPE(chunk)->tp_name);
        return -1;
    }
    if (r < 0)
        return -1;
    int rc = fa_buf_append(out, p, (size_t)n);
    if (view.obj)
        PyBuffer_Release(&view);
    if (rc < 0) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* res['body'] is an iterable: make a producer the caller pulls from (a
 * pooled thread pulls it blocking); without an asyncio loop, join the
 * chunks now. */
static int fa_stream_start(fa_pythread *pt, PyObject *body, fa_response *out)
{
    int is_async = Py_TYPE(body)->tp_as_async && Py_TYPE(body)->tp_as_async->am_aiter;
    PyObject *it = is_async ? PyObject_CallMethod(body, "__aiter__", NULL) : PyObject_GetIter(body);
    if (it == NULL)
        return -1;
    if (pt->loop != NULL) {
        fa_pystream *ps = PyMem_Calloc(1, sizeof(*ps));
        if (ps == NULL) {
            Py_DECREF(it);
            PyErr_NoMemory();
            return -1;
        }
        ps->pt = pt;
        ps->iter = it;
        ps->is_async = is_async;
        out->stream = ps;
        return 0;
    }
    /* no loop to pull with: drain it here */
    fa_pystream tmp = {.pt = pt, .iter = it, .is_async = is_async};
    int rc = 0;
    for (;;) {
        if (is_async) {
            PyObject *aw = PyObject_CallMethod(it, "__anext__", NULL);
            PyObject *chunk = aw && pt->run_coro ? PyObject_CallFunctionObjArgs(pt->run_coro, pt->loop, aw, NULL)
                                                 : NULL;
            Py_XDECREF(aw);
            if (chunk == NULL) {
                if (PyErr_ExceptionMatches(PyExc_StopAsyncIteration))
                    PyErr_Clear();
                else
                    rc = -1;
                break;
            }
            rc = fa_append_chunk(chunk, &out->body);
            Py_DECREF(chunk);
        } else {
            PyObject *chunk = PyIter_Next(it);
            if (chunk == NULL) {
                rc = PyErr_Occurred() ? -1 : 0;
                break;
            }
            rc = fa_append_chunk(chunk, &out->body);
            Py_DECREF(chunk);
        }
        if (rc < 0)
            break;
    }
    (void)tmp;
    Py_DECREF(it);
    return rc;
}

/* Done callback of the Task that awaits an async chunk (self: capsule). */
static PyObject *fa_chunk_done(PyObject *capsule, PyObject *task)
{
    fa_pystream *ps = PyCapsule_GetPointer(capsule, NULL);
    if (ps == NULL)
        return NULL;
    Py_CLEAR(ps->task);
    if (ps->iter == NULL) {
        /* closed while the chunk was awaited: only the memory is left */
        PyMem_Free(ps);
        Py_RETURN_NONE;
    }
    PyObject *cancelled = PyObject_CallMethod(task, "cancelled", NULL);
    int was_cancelled = cancelled ? PyObject_IsTrue(cancelled) : 1;
    Py_XDECREF(cancelled);
    PyErr_Clear();
    if (was_cancelled) {
        ps->failed = 1;
    } else {
        PyObject *exc = PyObject_CallMethod(task, "exception", NULL);
        if (exc == NULL) {
            PyErr_Clear();
            ps->failed = 1;
        } else if (exc == Py_None) {
            Py_DECREF(exc);
            ps->chunk = PyObject_CallMethod(task, "result", NULL);
            if (ps->chunk == NULL) {
                PyErr_Clear();
                ps->failed = 1;
            }
        } else if (PyErr_GivenExceptionMatches(exc, PyExc_StopAsyncIteration)) {
            Py_DECREF(exc);
            ps->ended = 1;
        } else {
            fprintf(stderr, "fasterapi: a streamed body raised; ending the response early\n");
            PyErr_DisplayException(exc);
            Py_DECREF(exc);
            ps->failed = 1;
        }
    }
    if (ps->pt->ready)
        ps->pt->ready(ps->token);
    Py_RETURN_NONE;
}

static PyMethodDef fa_chunk_done_def = {"_fasterapi_chunk_done", fa_chunk_done, METH_O, NULL};

int fa_pythread_pull(fa_pythread *pt, void *stream, fa_buf *out, size_t max, void *token)
{
    fa_pystream *ps = stream;
    size_t start = out->len;
    ps->token = token;
    for (;;) {
        if (ps->chunk != NULL) {
            int rc = fa_append_chunk(ps->chunk, out);
            Py_CLEAR(ps->chunk);
            if (rc < 0)
                goto error;
        }
        if (ps->failed)
            return FA_PULL_ERROR;
        if (ps->ended)
            return FA_PULL_END;
        if (ps->task != NULL)
            return FA_PULL_WAIT;
        if (out->len - start >= max)
            return FA_PULL_MORE;
        if (!ps->is_async) {
            PyObject *chunk = PyIter_Next(ps->iter);
            if (chunk == NULL) {
                if (PyErr_Occurred())
                    goto error;
                ps->ended = 1;
                continue;
            }
            ps->chunk = chunk;
            continue;
        }
        /* async: run __anext__ inline until it suspends, like handlers */
        PyObject *aw = PyObject_CallMethod(ps->iter, "__anext__", NULL);
        if (aw == NULL)
            goto error;
        if (pt->blocking) { /* a pooled thread: wait for the chunk right here */
            PyObject *chunk = PyObject_CallFunctionObjArgs(pt->run_coro, pt->loop, aw, NULL);
            Py_DECREF(aw);
            if (chunk == NULL) {
                if (!PyErr_ExceptionMatches(PyExc_StopAsyncIteration))
                    goto error;
                PyErr_Clear();
                ps->ended = 1;
                continue;
            }
            ps->chunk = chunk;
            continue;
        }
        PyObject *yielded = NULL;
        PySendResult sr = PyIter_Send(aw, Py_None, &yielded);
        if (sr == PYGEN_RETURN) {
            ps->chunk = yielded;
            Py_DECREF(aw);
            continue;
        }
        if (sr == PYGEN_ERROR) {
            Py_DECREF(aw);
            if (PyErr_ExceptionMatches(PyExc_StopAsyncIteration)) {
                PyErr_Clear();
                ps->ended = 1;
                continue;
            }
            goto error;
        }
        PyObject *capsule = PyCapsule_New(ps, NULL, NULL);
        PyObject *cb = capsule ? PyCFunction_New(&fa_chunk_done_def, capsule) : NULL;
        Py_XDECREF(capsule);
        ps->task = cb ? PyObject_CallFunctionObjArgs(pt->resume, pt->loop, aw, yielded, cb, NULL) : NULL;
        Py_XDECREF(cb);
        Py_DECREF(yielded);
        Py_DECREF(aw);
        if (ps->task == NULL)
            goto error;
        return FA_PULL_WAIT;
    }
error:
    fprintf(stderr, "fasterapi: a streamed body raised; ending the response early\n");
    PyErr_PrintEx(0);
    ps->failed = 1;
    return FA_PULL_ERROR;
}

void fa_pythread_stream_close(fa_pythread *pt, void *stream)
{
    (void)pt;
    fa_pystream *ps = stream;
    if (ps == NULL)
        return;
    Py_CLEAR(ps->chunk);
    if (ps->iter != NULL && !ps->ended) {
        /* let the generator run its finally blocks now, not at GC time;
         * an async one closes on the loop */
        PyObject *r;
        if (ps->is_async) {
            PyObject *worker = PyImport_ImportModule("fasterapi._worker");
            r = worker ? PyObject_CallMethod(worker, "close_async_iter", "OO", pt->loop, ps->iter) : NULL;
            Py_XDECREF(worker);
        } else {
            r = PyObject_CallMethod(ps->iter, "close", NULL);
        }
        if (r == NULL)
            PyErr_Clear();
        Py_XDECREF(r);
    }
    Py_CLEAR(ps->iter);
    if (ps->after != NULL) {
        fa_after_push(pt, ps->after); /* runs once the last bytes were written */
        ps->after = NULL;
    }
    if (ps->task != NULL) {
        /* its done callback frees ps once the cancellation lands */
        PyObject *r = PyObject_CallMethod(ps->task, "cancel", NULL);
        if (r == NULL)
            PyErr_Clear();
        Py_XDECREF(r);
        return;
    }
    PyMem_Free(ps);
}

/* ---------------------------------------------------------------------- */
/* streamed request bodies */

long fa_pythread_body_feed(fa_pythread *pt, void *body, const char *data, size_t len, int end)
{
    (void)pt;
    PyObject *chunk = PyBytes_FromStringAndSize(data, (Py_ssize_t)len);
    PyObject *r = chunk ? PyObject_CallMethod((PyObject *)body, "_feed", "OO", chunk,
                                             end ? Py_True : Py_False)
                        : NULL;
    Py_XDECREF(chunk);
    if (r == NULL) {
        PyErr_PrintEx(0);
        return -1;
    }
    long n = PyLong_AsLong(r);
    Py_DECREF(r);
    if (n == -1 && PyErr_Occurred())
        PyErr_Clear();
    return n;
}

long fa_pythread_body_buffered(fa_pythread *pt, void *body)
{
    (void)pt;
    PyObject *r = PyObject_CallMethod((PyObject *)body, "_buffered", NULL);
    if (r == NULL) {
        PyErr_Clear();
        return 0;
    }
    long n = PyLong_AsLong(r);
    Py_DECREF(r);
    if (n == -1 && PyErr_Occurred())
        PyErr_Clear();
    return n;
}

void fa_pythread_body_release(void *body) { Py_XDECREF((PyObject *)body); }

int fa_pythread_run_hook(fa_pythread *pt, int handler_id)
{
    fa_interp *in = pt->in;
    if (handler_id < 0 || (size_t)handler_id >= in->num_handlers || pt->run_hook == NULL) {
        fprintf(stderr, "fasterapi: hook %d cannot run (no asyncio loop in this thread)\n", handler_id);
        return -1;
    }
    PyObject *r = PyObject_CallFunctionObjArgs(pt->run_hook, pt->loop ? pt->loop : Py_None,
                                               in->handlers[handler_id], NULL);
    if (r == NULL) {
        fprintf(stderr, "fasterapi: %s failed:\n", in->labels[handler_id] ? in->labels[handler_id] : "hook");
        fflush(stderr);
        PyErr_PrintEx(0);
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* WebSockets: the handler's start (the `ws` object itself is python/ws.c) */

/* "chat, superchat" -> ["chat", "superchat"] */
static PyObject *fa_split_protocols(PyObject *headers)
{
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    PyObject *v = PyDict_GetItemString(headers, "sec-websocket-protocol"); /* borrowed */
    if (v == NULL || !PyUnicode_Check(v))
        return out;
    PyObject *comma = PyUnicode_FromString(",");
    PyObject *parts = comma ? PyUnicode_Split(v, comma, -1) : NULL;
    Py_XDECREF(comma);
    if (parts == NULL) {
        Py_DECREF(out);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(parts); i++) {
        PyObject *p = PyObject_CallMethod(PyList_GET_ITEM(parts, i), "strip", "s", " \t");
        int rc = p == NULL ? -1 : PyUnicode_GET_LENGTH(p) > 0 ? PyList_Append(out, p) : 0;
        Py_XDECREF(p);
        if (rc < 0) {
            Py_DECREF(parts);
            Py_DECREF(out);
            return NULL;
        }
    }
    Py_DECREF(parts);
    return out;
}

int fa_pythread_ws_start(fa_pythread *pt, int handler_id, const fa_request *rq, const char *protocols,
                         size_t protocols_len, const char *server_host, int server_port,
                         struct fa_wsc *wsc, void **slot)
{
    (void)protocols;
    (void)protocols_len;
    fa_interp *in = pt->in;
    *slot = NULL;
    if (handler_id < 0 || (size_t)handler_id >= in->num_handlers || pt->loop == NULL || pt->blocking ||
        pt->start_task == NULL) {
        fprintf(stderr, "fasterapi: no asyncio loop to run a WebSocket handler on\n");
        return -1;
    }
    fa_pyws *ws = fa_pyws_new(in->ws_type, in->ws_disconnect, in->ws_ready, in->ws_names, pt->loop, wsc);
    PyObject *coro = NULL, *task = NULL, *done = NULL, *r = NULL;
    if (ws == NULL)
        goto fail;
    ws->label = in->labels[handler_id];
    if ((ws->path = fa_str(rq->path, rq->path_len)) == NULL ||
        (ws->raw_path = PyBytes_FromStringAndSize(rq->path, (Py_ssize_t)rq->path_len)) == NULL ||
        (ws->query = fa_str(rq->query, rq->query_len)) == NULL ||
        (ws->headers = fa_build_headers(in, rq)) == NULL ||
        (ws->client = fa_build_client(rq)) == NULL ||
        (ws->server = Py_BuildValue("(si)", server_host, server_port)) == NULL ||
        (ws->subprotocols = fa_split_protocols(ws->headers)) == NULL ||
        (ws->path_params = fa_build_params(rq)) == NULL)
        goto fail;
    ws->scheme = Py_NewRef(rq->tls ? in->v_wss : in->v_ws);
    ws->http_version = Py_NewRef(rq->http_version == 20 ? in->v_20 : in->v_11);
    coro = PyObject_CallOneArg(in->handlers[handler_id], (PyObject *)ws);
    if (coro == NULL)
        goto fail;
    if (!PyCoro_CheckExact(coro)) {
        PyErr_Format(PyExc_TypeError, "a WebSocket handler must be an async def function; %s returned %.50s",
                     in->labels[handler_id], Py_TYPE(coro)->tp_name);
        goto fail;
    }
    /* the C side holds the object from here: the first step (eager, inside
     * the Task) may already accept, send or close */
    *slot = Py_NewRef(ws);
    task = PyObject_CallFunctionObjArgs(pt->start_task, pt->loop, coro, NULL);
    if (task == NULL)
        goto fail;
    ws->task = Py_NewRef(task);
    done = PyObject_GetAttrString((PyObject *)ws, "_done");
    r = done ? PyObject_CallMethod(task, "add_done_callback", "O", done) : NULL;
    if (r == NULL) {
        PyObject *c = PyObject_CallMethod(task, "cancel", NULL);
        Py_XDECREF(c);
        goto fail;
    }
    Py_DECREF(r);
    Py_DECREF(done);
    Py_DECREF(task);
    Py_DECREF(coro);
    Py_DECREF(ws);
    return 0;
fail:
    fprintf(stderr, "fasterapi: WebSocket handler %s could not start; answering 500\n",
            in->labels[handler_id] ? in->labels[handler_id] : "?");
    fflush(stderr);
    PyErr_PrintEx(0);
    Py_XDECREF(done);
    Py_XDECREF(task);
    Py_XDECREF(coro);
    if (ws != NULL && *slot == NULL)
        *slot = Py_NewRef(ws); /* the caller detaches, which drops it */
    Py_XDECREF(ws);
    return -1;
}
