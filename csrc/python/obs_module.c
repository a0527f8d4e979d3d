/* obs_module.c - PyHttp2Server's access log and metrics keywords, and the
 * metrics region functions of a supervisor (see obs_module.h). */
#include "obs_module.h"

#include <limits.h>
#include <string.h>

#include "../common/buf.h"
#include "../server/metrics.h"

/* Removes kwds[name] and returns it (a new reference), or NULL (no
 * exception) when absent or None. */
static PyObject *fa_take(PyObject *kwds, const char *name)
{
    if (kwds == NULL)
        return NULL;
    PyObject *v = PyDict_GetItemString(kwds, name); /* borrowed */
    if (v == NULL)
        return NULL;
    Py_INCREF(v);
    if (PyDict_DelItemString(kwds, name) < 0)
        PyErr_Clear();
    if (v == Py_None) {
        Py_DECREF(v);
        return NULL;
    }
    return v;
}

static int fa_take_str(PyObject *kwds, const char *name, char *out, size_t size)
{
    PyObject *v = fa_take(kwds, name);
    if (v == NULL)
        return 0;
    int rc = -1;
    Py_ssize_t n;
    const char *s;
    if (!PyUnicode_Check(v))
        PyErr_Format(PyExc_TypeError, "%s must be a str, not %.50s", name, Py_TYPE(v)->tp_name);
    else if ((s = PyUnicode_AsUTF8AndSize(v, &n)) == NULL)
        ;
    else if ((size_t)n >= size || memchr(s, '\0', (size_t)n) != NULL)
        PyErr_Format(PyExc_ValueError, "%s must be shorter than %zu characters and hold no NUL", name,
                     size);
    else {
        memcpy(out, s, (size_t)n + 1);
        rc = 0;
    }
    Py_DECREF(v);
    return rc;
}

static int fa_take_int(PyObject *kwds, const char *name, long min, long max, long *out)
{
    PyObject *v = fa_take(kwds, name);
    if (v == NULL)
        return 0;
    if (!PyLong_Check(v) || PyBool_Check(v)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int, not %.50s", name, Py_TYPE(v)->tp_name);
        Py_DECREF(v);
        return -1;
    }
    long x = PyLong_AsLong(v);
    Py_DECREF(v);
    if (x == -1 && PyErr_Occurred())
        return -1;
    if (x < min || x > max) {
        PyErr_Format(PyExc_ValueError, "%s must be between %ld and %ld, got %ld", name, min, max, x);
        return -1;
    }
    *out = x;
    return 1;
}

int fa_obs_take_kwargs(PyObject *kwds, fa_obs_config *cfg)
{
    fa_obs_config_defaults(cfg);
    if (kwds != NULL && !PyDict_Check(kwds))
        return 0;
    PyObject *v = fa_take(kwds, "access_log");
    if (v != NULL) {
        int on = PyObject_IsTrue(v);
        Py_DECREF(v);
        if (on < 0)
            return -1;
        cfg->access_log = on;
    }
    if (fa_take_str(kwds, "access_log_format", cfg->access_log_format,
                    sizeof(cfg->access_log_format)) < 0 ||
        fa_take_str(kwds, "metrics_host", cfg->metrics_host, sizeof(cfg->metrics_host)) < 0)
        return -1;
    long port = -1, slot = 0, log_fd = cfg->access_log_fd;
    /* access_log_fd: a descriptor the caller opened (the CLI's
     * --access-logfile, which it reopens onto the same number on SIGUSR1) */
    if (fa_take_int(kwds, "access_log_fd", 0, INT_MAX, &log_fd) < 0)
        return -1;
    cfg->access_log_fd = (int)log_fd;
    if (fa_take_int(kwds, "metrics_port", 0, 65535, &port) < 0 ||
        fa_take_int(kwds, "_metrics_slot", 0, 1 << 20, &slot) < 0)
        return -1;
    cfg->metrics_port = (int)port;
    cfg->region_slot = (unsigned)slot;
    if (cfg->access_log_format[0] && !cfg->access_log) {
        PyErr_SetString(PyExc_ValueError,
                        "access_log_format is set but access_log is off: pass access_log=True too");
        return -1;
    }
    /* A region the supervisor mapped before it forked (shared memory that
     * it keeps alive for the life of this process). */
    PyObject *region = fa_take(kwds, "_metrics_region");
    if (region != NULL) {
        Py_buffer view;
        if (PyObject_GetBuffer(region, &view, PyBUF_WRITABLE) < 0) {
            Py_DECREF(region);
            return -1;
        }
        cfg->region_mem = view.buf;
        cfg->region_size = (size_t)view.len;
        PyBuffer_Release(&view);
        Py_DECREF(region);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* the region, for a supervisor                                         */

static fa_metrics_region *fa_region_of(PyObject *obj, Py_buffer *view, unsigned slots, unsigned blocks);

PyObject *fa_obs_use_region(fa_obs_config *cfg, int running, PyObject *args)
{
    PyObject *obj;
    unsigned slot;
    if (!PyArg_ParseTuple(args, "OI:_use_metrics", &obj, &slot))
        return NULL;
    if (running) {
        PyErr_SetString(PyExc_RuntimeError, "_use_metrics() must come before start()");
        return NULL;
    }
    Py_buffer view;
    fa_metrics_region *r = fa_region_of(obj, &view, 0, 0);
    if (r == NULL)
        return NULL;
    unsigned nslots = fa_metrics_region_slots(r);
    /* the supervisor keeps the mapping for the life of the process */
    cfg->region_mem = view.buf;
    cfg->region_size = (size_t)view.len;
    PyBuffer_Release(&view);
    if (slot >= nslots)
        return PyErr_Format(PyExc_ValueError, "slot %u is beyond the region's %u", slot, nslots);
    cfg->region_slot = slot;
    cfg->metrics_port = -1; /* the supervisor serves the scrapes */
    Py_RETURN_NONE;
}

PyObject *fa_obs_options(const fa_obs_config *cfg)
{
    if (cfg->metrics_port < 0)
        return PyDict_New();
    return Py_BuildValue("{s:i,s:s}", "metrics_port", cfg->metrics_port, "metrics_host", cfg->metrics_host);
}

/* The region behind a writable buffer (an mmap), or NULL with an exception.
 * view must be released by the caller. */
static fa_metrics_region *fa_region_of(PyObject *obj, Py_buffer *view, unsigned slots, unsigned blocks)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_WRITABLE) < 0)
        return NULL;
    fa_metrics_region *r = fa_metrics_region_attach(view->buf, (size_t)view->len, slots, blocks);
    if (r == NULL) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_ValueError,
                        "not a metrics region: map _metrics_region_size(slots, blocks) bytes "
                        "(mmap.mmap(-1, size)) and lay it out with _metrics_init() first");
    }
    return r;
}

static PyObject *fa_py_region_size(PyObject *self, PyObject *args)
{
    (void)self;
    unsigned slots, blocks;
    if (!PyArg_ParseTuple(args, "II:_metrics_region_size", &slots, &blocks))
        return NULL;
    if (slots == 0 || blocks == 0 || slots > 4096 || blocks > 4096) {
        PyErr_SetString(PyExc_ValueError, "slots and blocks must be between 1 and 4096");
        return NULL;
    }
    return PyLong_FromSize_t(fa_metrics_region_size(slots, blocks));
}

static PyObject *fa_py_region_init(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *obj;
    unsigned slots, blocks;
    if (!PyArg_ParseTuple(args, "OII:_metrics_init", &obj, &slots, &blocks))
        return NULL;
    if (slots == 0 || blocks == 0) {
        PyErr_SetString(PyExc_ValueError, "slots and blocks must be at least 1");
        return NULL;
    }
    Py_buffer view;
    fa_metrics_region *r = fa_region_of(obj, &view, slots, blocks);
    if (r == NULL)
        return NULL;
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

static PyObject *fa_py_region_render(PyObject *self, PyObject *obj)
{
    (void)self;
    Py_buffer view;
    fa_metrics_region *r = fa_region_of(obj, &view, 0, 0);
    if (r == NULL)
        return NULL;
    fa_buf out = FA_BUF_INIT;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = fa_metrics_render(r, &out);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    PyObject *res = rc < 0 ? PyErr_NoMemory() : PyBytes_FromStringAndSize(out.data ? out.data : "", (Py_ssize_t)out.len);
    fa_buf_free(&out);
    return res;
}

static PyObject *fa_py_region_retire(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *obj;
    unsigned slot;
    if (!PyArg_ParseTuple(args, "OI:_metrics_retire", &obj, &slot))
        return NULL;
    Py_buffer view;
    fa_metrics_region *r = fa_region_of(obj, &view, 0, 0);
    if (r == NULL)
        return NULL;
    if (slot >= fa_metrics_region_slots(r)) {
        PyBuffer_Release(&view);
        return PyErr_Format(PyExc_ValueError, "slot %u is beyond the region's %u", slot,
                            fa_metrics_region_slots(r));
    }
    Py_BEGIN_ALLOW_THREADS
    fa_metrics_retire(r, slot);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

static PyObject *fa_py_region_count(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *obj;
    const char *kind, *cause;
    if (!PyArg_ParseTuple(args, "Oss:_metrics_count", &obj, &kind, &cause))
        return NULL;
    int restart = strcmp(kind, "restart") == 0;
    if (!restart && strcmp(kind, "recycle") != 0) {
        PyErr_Format(PyExc_ValueError, "kind must be 'restart' or 'recycle', not %R", PyTuple_GET_ITEM(args, 1));
        return NULL;
    }
    int c = restart ? fa_metrics_restart_cause(cause) : fa_metrics_recycle_cause(cause);
    if (c < 0) {
        PyErr_Format(PyExc_ValueError,
                     restart ? "restart cause must be 'exit' or 'signal', not %R"
                             : "recycle cause must be 'max_requests', 'max_rss', 'lifetime', 'sighup' or "
                               "'reload', not %R",
                     PyTuple_GET_ITEM(args, 2));
        return NULL;
    }
    Py_buffer view;
    fa_metrics_region *r = fa_region_of(obj, &view, 0, 0);
    if (r == NULL)
        return NULL;
    if (restart)
        fa_metrics_count_restart(r, c);
    else
        fa_metrics_count_recycle(r, c);
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

/* A scrape listener serving a region: the capsule keeps the region's
 * buffer exported (so the mmap cannot go away under the thread) until it
 * is stopped or collected. */
typedef struct fa_serve_handle {
    fa_metrics_http *http;
    Py_buffer view;
} fa_serve_handle;

#define FA_SERVE_CAPSULE "fasterapi._native.http2.metrics_listener"

static void fa_serve_stop(fa_serve_handle *h)
{
    if (h->http == NULL)
        return;
    fa_metrics_http *http = h->http;
    h->http = NULL;
    Py_BEGIN_ALLOW_THREADS
    fa_metrics_http_stop(http);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&h->view);
}

static void fa_serve_capsule_free(PyObject *cap)
{
    fa_serve_handle *h = PyCapsule_GetPointer(cap, FA_SERVE_CAPSULE);
    if (h == NULL) {
        PyErr_Clear();
        return;
    }
    fa_serve_stop(h);
    PyMem_Free(h);
}

static PyObject *fa_py_region_serve(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *obj;
    const char *host;
    int port;
    if (!PyArg_ParseTuple(args, "Osi:_metrics_serve", &obj, &host, &port))
        return NULL;
    if (port < 0 || port > 65535)
        return PyErr_Format(PyExc_ValueError, "metrics_port must be between 0 and 65535, got %d", port);
    fa_serve_handle *h = PyMem_Calloc(1, sizeof(*h));
    if (h == NULL)
        return PyErr_NoMemory();
    fa_metrics_region *r = fa_region_of(obj, &h->view, 0, 0);
    if (r == NULL) {
        PyMem_Free(h);
        return NULL;
    }
    char err[512];
    Py_BEGIN_ALLOW_THREADS
    h->http = fa_metrics_http_start(r, host, port, err, sizeof(err));
    Py_END_ALLOW_THREADS
    if (h->http == NULL) {
        PyBuffer_Release(&h->view);
        PyMem_Free(h);
        PyErr_SetString(PyExc_OSError, err);
        return NULL;
    }
    PyObject *cap = PyCapsule_New(h, FA_SERVE_CAPSULE, fa_serve_capsule_free);
    if (cap == NULL) {
        fa_serve_stop(h);
        PyMem_Free(h);
    }
    return cap;
}

static PyObject *fa_py_region_serve_port(PyObject *self, PyObject *cap)
{
    (void)self;
    fa_serve_handle *h = PyCapsule_GetPointer(cap, FA_SERVE_CAPSULE);
    if (h == NULL)
        return NULL;
    return PyLong_FromLong(h->http != NULL ? fa_metrics_http_port(h->http) : -1);
}

static PyObject *fa_py_region_serve_stop(PyObject *self, PyObject *cap)
{
    (void)self;
    fa_serve_handle *h = PyCapsule_GetPointer(cap, FA_SERVE_CAPSULE);
    if (h == NULL)
        return NULL;
    fa_serve_stop(h);
    Py_RETURN_NONE;
}

PyMethodDef fa_obs_methods[] = {
    {"_metrics_serve", fa_py_region_serve, METH_VARARGS,
     "_metrics_serve(region, host, port): serves the region's metrics at /metrics from a thread of "
     "its own (C, blocking sockets); returns a handle for _metrics_serve_port/_metrics_serve_stop."},
    {"_metrics_serve_port", fa_py_region_serve_port, METH_O, "The port a _metrics_serve handle listens on."},
    {"_metrics_serve_stop", fa_py_region_serve_stop, METH_O, "Stops a _metrics_serve listener."},
    {"_metrics_region_size", fa_py_region_size, METH_VARARGS,
     "_metrics_region_size(slots, blocks): bytes of a metrics region for `slots` server processes of "
     "`blocks` threads each."},
    {"_metrics_init", fa_py_region_init, METH_VARARGS,
     "_metrics_init(region, slots, blocks): lays out a metrics region in a writable shared buffer "
     "(mmap.mmap(-1, size)) before the supervisor forks."},
    {"_metrics_render", fa_py_region_render, METH_O,
     "_metrics_render(region): the Prometheus text exposition of every process's counters, as bytes."},
    {"_metrics_retire", fa_py_region_retire, METH_VARARGS,
     "_metrics_retire(region, slot): the process of `slot` exited; its counters move to the retired "
     "sums and the slot is free again."},
    {"_metrics_count", fa_py_region_count, METH_VARARGS,
     "_metrics_count(region, kind, cause): counts a process restart ('restart': 'exit' or 'signal') "
     "or recycle ('recycle': 'max_requests', 'max_rss', 'lifetime', 'sighup', 'reload')."},
    {NULL, NULL, 0, NULL},
};
