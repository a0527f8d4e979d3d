/* obs_args.c - PyHttp2Server's access log and metrics keywords (see
 * obs_args.h). */
#include "obs_args.h"

#include <string.h>

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
    long port = -1, slot = 0;
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
