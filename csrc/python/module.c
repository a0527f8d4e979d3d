/* module.c - the Python binding: fasterapi._native.http2.PyHttp2Server.
 *
 * Modelled on CPython's Modules/xxlimited_3_13.c: multi-phase init, a heap
 * type created per module, module state instead of globals, and the
 * Py_MOD_PER_INTERPRETER_GIL_SUPPORTED slot, so the module also imports in
 * own-GIL sub-interpreters (each worker interpreter does).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdlib.h>
#include <string.h>

#include "../server/proxy.h"
#include "../server/server.h"
#include "obs_module.h"
#include "../ws/conn.h"
#include "ws.h"

typedef struct {
    PyObject *server_type;
} fa_module_state;

typedef struct {
    PyObject_HEAD
    fa_server *srv;
    PyObject *atexit_cb; /* bound stop() registered with atexit while running */
    int in_child;        /* a supervisor's server process: start() serves here */
} PyHttp2Server;

static fa_module_state *fa_get_state(PyObject *module)
{
    return (fa_module_state *)PyModule_GetState(module);
}

/* ------------------------------------------------------------------ */

static int fa_parse_size(PyObject *v, const char *name, size_t min, size_t *out)
{
    if (v == NULL)
        return 0;
    if (!PyLong_Check(v) || PyBool_Check(v)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int, not %.50s", name, Py_TYPE(v)->tp_name);
        return -1;
    }
    long long x = PyLong_AsLongLong(v);
    if (x == -1 && PyErr_Occurred())
        return -1;
    if (x < (long long)min) {
        PyErr_Format(PyExc_ValueError, "%s must be at least %zu, got %lld", name, min, x);
        return -1;
    }
    *out = (size_t)x;
    return 0;
}

static int fa_parse_int(PyObject *v, const char *name, int min, int max, int *out)
{
    if (v == NULL)
        return 0;
    if (!PyLong_Check(v) || PyBool_Check(v)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int, not %.50s", name, Py_TYPE(v)->tp_name);
        return -1;
    }
    long x = PyLong_AsLong(v);
    if (x == -1 && PyErr_Occurred())
        return -1;
    if (x < min || x > max) {
        PyErr_Format(PyExc_ValueError, "%s must be between %d and %d, got %ld", name, min, max, x);
        return -1;
    }
    *out = (int)x;
    return 0;
}

static int fa_parse_seconds(PyObject *v, const char *name, double *out)
{
    if (v == NULL)
        return 0;
    if (!PyLong_Check(v) && !PyFloat_Check(v)) {
        PyErr_Format(PyExc_TypeError, "%s must be a number of seconds, not %.50s", name,
                     Py_TYPE(v)->tp_name);
        return -1;
    }
    double x = PyFloat_AsDouble(v);
    if (x == -1.0 && PyErr_Occurred())
        return -1;
    if (!(x > 0.0 && x <= 86400.0)) {
        PyErr_Format(PyExc_ValueError, "%s must be more than 0 and at most 86400 seconds, got %R",
                     name, v);
        return -1;
    }
    *out = x;
    return 0;
}

/* An optional str or os.PathLike argument into buf (empty when None or
 * absent). */
static int fa_parse_path(PyObject *v, const char *name, char *buf, size_t size)
{
    buf[0] = '\0';
    if (v == NULL || v == Py_None)
        return 0;
    PyObject *bytes = NULL;
    if (!PyUnicode_FSConverter(v, &bytes)) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s must be a path (str or os.PathLike), not %.50s", name,
                     Py_TYPE(v)->tp_name);
        return -1;
    }
    Py_ssize_t n = PyBytes_GET_SIZE(bytes);
    if (n == 0 || (size_t)n >= size) {
        Py_DECREF(bytes);
        PyErr_Format(PyExc_ValueError, "%s must be a non-empty path shorter than %zu bytes", name, size);
        return -1;
    }
    memcpy(buf, PyBytes_AS_STRING(bytes), (size_t)n + 1);
    Py_DECREF(bytes);
    return 0;
}

/* Raises what a failed fa_tls_new / reload reported: OSError (its errno
 * subclass: FileNotFoundError, PermissionError...) for a file that cannot
 * be opened, ValueError for bad contents. */
static void fa_tls_raise(const char *err, int kind, int errnum)
{
    if (kind == FA_TLS_ERR_FILE && errnum != 0) {
        PyObject *e = PyObject_CallFunction(PyExc_OSError, "is", errnum, err);
        if (e != NULL) {
            PyErr_SetObject((PyObject *)Py_TYPE(e), e);
            Py_DECREF(e);
        }
        return;
    }
    PyErr_SetString(PyExc_ValueError, err);
}

/* The ssl_* keywords: *out is NULL when no certificate was given. */
static int fa_tls_from_args(PyObject *certfile, PyObject *keyfile, PyObject *password, PyObject *ca,
                            PyObject *reqs, PyObject *ciphers, PyObject *minv, fa_tls **out)
{
    *out = NULL;
    fa_tls_config *tc = calloc(1, sizeof(*tc));
    if (tc == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    int rc = -1;
    if (fa_parse_path(certfile, "ssl_certfile", tc->certfile, sizeof(tc->certfile)) < 0 ||
        fa_parse_path(keyfile, "ssl_keyfile", tc->keyfile, sizeof(tc->keyfile)) < 0 ||
        fa_parse_path(ca, "ssl_ca_certs", tc->ca_certs, sizeof(tc->ca_certs)) < 0)
        goto out;
    tc->cert_reqs = FA_TLS_VERIFY_NONE;
    if (reqs != NULL && reqs != Py_None) {
        const char *m = PyUnicode_Check(reqs) ? PyUnicode_AsUTF8(reqs) : NULL;
        long k = PyLong_Check(reqs) ? PyLong_AsLong(reqs) : -1; /* ssl.CERT_NONE/OPTIONAL/REQUIRED */
        PyErr_Clear();
        if ((m && strcmp(m, "none") == 0) || k == 0)
            tc->cert_reqs = FA_TLS_VERIFY_NONE;
        else if ((m && strcmp(m, "optional") == 0) || k == 1)
            tc->cert_reqs = FA_TLS_VERIFY_OPTIONAL;
        else if ((m && strcmp(m, "required") == 0) || k == 2)
            tc->cert_reqs = FA_TLS_VERIFY_REQUIRED;
        else {
            PyErr_Format(PyExc_ValueError,
                         "ssl_cert_reqs must be 'none', 'optional' or 'required' (or ssl.CERT_NONE, "
                         "CERT_OPTIONAL, CERT_REQUIRED), not %R", reqs);
            goto out;
        }
    }
    tc->min_version = FA_TLS_V12;
    if (minv != NULL && minv != Py_None) {
        const char *m = PyUnicode_Check(minv) ? PyUnicode_AsUTF8(minv) : NULL;
        PyErr_Clear();
        if (m && strcmp(m, "TLSv1.2") == 0)
            tc->min_version = FA_TLS_V12;
        else if (m && strcmp(m, "TLSv1.3") == 0)
            tc->min_version = FA_TLS_V13;
        else {
            PyErr_Format(PyExc_ValueError,
                         "ssl_min_version must be 'TLSv1.2' or 'TLSv1.3' (older versions are "
                         "broken, RFC 8996), not %R", minv);
            goto out;
        }
    }
    const char *strs[2][2] = {{"ssl_keyfile_password", NULL}, {"ssl_ciphers", NULL}};
    PyObject *objs[2] = {password, ciphers};
    char *bufs[2] = {tc->password, tc->ciphers};
    for (int i = 0; i < 2; i++) {
        if (objs[i] == NULL || objs[i] == Py_None)
            continue;
        Py_ssize_t n;
        const char *s = PyUnicode_Check(objs[i]) ? PyUnicode_AsUTF8AndSize(objs[i], &n) : NULL;
        if (s == NULL || (size_t)n >= 1024) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "%s must be a str shorter than 1024 bytes", strs[i][0]);
            goto out;
        }
        memcpy(bufs[i], s, (size_t)n + 1);
        if (i == 0)
            tc->has_password = 1;
    }
    if (tc->certfile[0] == '\0') {
        if (tc->keyfile[0] || tc->ca_certs[0] || tc->has_password || tc->ciphers[0] ||
            tc->cert_reqs != FA_TLS_VERIFY_NONE) {
            PyErr_SetString(PyExc_ValueError,
                            "TLS settings were given without ssl_certfile: pass the certificate "
                            "(PEM, with its chain) as ssl_certfile");
            goto out;
        }
        rc = 0; /* cleartext */
        goto out;
    }
    char err[2048];
    int kind = 0, errnum = 0;
    *out = fa_tls_new(tc, err, sizeof(err), &kind, &errnum);
    if (*out == NULL) {
        fa_tls_raise(err, kind, errnum);
        goto out;
    }
    rc = 0;
out:
    fa_tls_config_wipe(tc);
    free(tc);
    return rc;
}

PyDoc_STRVAR(reload_certificates_doc,
"reload_certificates()\n--\n\n"
"Load the ssl_certfile / ssl_keyfile / ssl_ca_certs files again (renewed\n"
"certificates).  New connections use them; open connections keep theirs and\n"
"are not dropped.  SIGHUP does the same while start() blocks.  Raises\n"
"OSError or ValueError (the old certificate stays) when a file is bad.");

static PyObject *PyHttp2Server_reload_certificates(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    PyHttp2Server *self = (PyHttp2Server *)op;
    if (self->srv == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "PyHttp2Server.__init__ was not called");
        return NULL;
    }
    char err[2048];
    int kind = 0, errnum = 0, rc;
    Py_BEGIN_ALLOW_THREADS
    rc = fa_server_reload_tls(self->srv, err, sizeof(err), &kind, &errnum);
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        fa_tls_raise(err, kind, errnum);
        return NULL;
    }
    Py_RETURN_NONE;
}

/* SIGHUP while start() blocks: reload; a bad file is logged, the old
 * certificate stays and the server goes on. */
static PyObject *PyHttp2Server_on_sighup(PyObject *op, PyObject *args)
{
    (void)args;
    PyObject *r = PyHttp2Server_reload_certificates(op, NULL);
    if (r == NULL) {
        PyObject *exc = PyErr_GetRaisedException();
        PyObject *s = exc ? PyObject_Str(exc) : NULL;
        fprintf(stderr, "[fasterapi] SIGHUP: certificates not reloaded: %s\n",
                s ? PyUnicode_AsUTF8(s) : "?");
        PyErr_Clear();
        Py_XDECREF(s);
        Py_XDECREF(exc);
    }
    Py_XDECREF(r);
    Py_RETURN_NONE;
}

/* proxy_headers (truth value, default off) and forwarded_allow_ips (a
 * comma-separated str or a list of str; default "127.0.0.1", Uvicorn's). */
static int fa_proxy_from_args(PyObject *enabled, PyObject *allow, fa_proxy *out)
{
    memset(out, 0, sizeof(*out));
    if (enabled != NULL && enabled != Py_None) {
        int on = PyObject_IsTrue(enabled);
        if (on < 0)
            return -1;
        out->enabled = on;
    }
    PyObject *text = NULL;
    if (allow == NULL || allow == Py_None) {
        text = PyUnicode_FromString("127.0.0.1");
    } else if (PyUnicode_Check(allow)) {
        text = Py_NewRef(allow);
    } else if (PyList_Check(allow) || PyTuple_Check(allow)) {
        PyObject *sep = PyUnicode_FromString(",");
        text = sep ? PyUnicode_Join(sep, allow) : NULL;
        Py_XDECREF(sep);
        if (text == NULL && PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            PyErr_SetString(PyExc_TypeError, "forwarded_allow_ips must be a str or a list of str");
        }
    } else {
        PyErr_Format(PyExc_TypeError, "forwarded_allow_ips must be a str (\"127.0.0.1,10.0.0.0/8\") or a "
                     "list of str, not %.50s", Py_TYPE(allow)->tp_name);
    }
    if (text == NULL)
        return -1;
    const char *s = PyUnicode_AsUTF8(text);
    char err[256];
    int rc = s ? fa_proxy_parse(out, s, err, sizeof(err)) : -1;
    Py_DECREF(text);
    if (s != NULL && rc < 0)
        PyErr_SetString(PyExc_ValueError, err);
    return rc;
}

/* server_header= and date_header= (truth values, default on) and headers=
 * (default fields: a dict, or a list of (name, value) pairs or of
 * "Name: value" strings, Uvicorn's --header), taken out of kwds. */
static int fa_fields_take_kwargs(PyObject *kwds, fa_fields *ff)
{
    if (kwds == NULL)
        return 0;
    PyObject *v;
    const char *flags[] = {"server_header", "date_header"};
    for (int k = 0; k < 2; k++) {
        if ((v = PyDict_GetItemString(kwds, flags[k])) == NULL) /* borrowed */
            continue;
        int on = PyObject_IsTrue(v);
        if (on < 0 || PyDict_DelItemString(kwds, flags[k]) < 0)
            return -1;
        if (k == 0)
            ff->no_server = !on;
        else
            ff->no_date = !on;
    }
    if ((v = PyDict_GetItemString(kwds, "headers")) == NULL || v == Py_None)
        return v == NULL ? 0 : PyDict_DelItemString(kwds, "headers");
    PyObject *items = PyDict_Check(v) ? PyDict_Items(v) : PySequence_Fast(v,
        "headers must be a dict, or a list of (name, value) pairs or 'Name: value' strings");
    if (items == NULL)
        return -1;
    int rc = 0;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(items);
    for (Py_ssize_t i = 0; i < n && rc == 0; i++) {
        PyObject *it = PySequence_Fast_GET_ITEM(items, i); /* borrowed */
        const char *name = NULL, *value = NULL;
        Py_ssize_t nl = 0, vl = 0;
        if (PyUnicode_Check(it)) {
            const char *s = PyUnicode_AsUTF8AndSize(it, &vl);
            const char *colon = s ? memchr(s, ':', (size_t)vl) : NULL;
            if (s == NULL) {
                rc = -1;
                break;
            }
            if (colon == NULL) {
                PyErr_Format(PyExc_ValueError, "headers: %R is not 'Name: value'", it);
                rc = -1;
                break;
            }
            name = s;
            nl = colon - s;
            value = colon + 1;
            vl -= nl + 1;
            while (vl > 0 && (*value == ' ' || *value == '\t'))
                value++, vl--;
            while (vl > 0 && (value[vl - 1] == ' ' || value[vl - 1] == '\t'))
                vl--;
        } else if ((PyTuple_Check(it) || PyList_Check(it)) && PySequence_Fast_GET_SIZE(it) == 2 &&
                   PyUnicode_Check(PySequence_Fast_GET_ITEM(it, 0)) &&
                   PyUnicode_Check(PySequence_Fast_GET_ITEM(it, 1))) {
            name = PyUnicode_AsUTF8AndSize(PySequence_Fast_GET_ITEM(it, 0), &nl);
            value = name ? PyUnicode_AsUTF8AndSize(PySequence_Fast_GET_ITEM(it, 1), &vl) : NULL;
            if (value == NULL) {
                rc = -1;
                break;
            }
        } else {
            PyErr_Format(PyExc_TypeError, "headers: each item must be a (name, value) pair of str or a "
                         "'Name: value' str, not %R", it);
            rc = -1;
            break;
        }
        char err[200];
        if (fa_fields_add(ff, name, (size_t)nl, value, (size_t)vl, err, sizeof(err)) < 0) {
            PyErr_SetString(PyExc_ValueError, err);
            rc = -1;
        }
    }
    Py_DECREF(items);
    return rc < 0 ? -1 : PyDict_DelItemString(kwds, "headers");
}

static int PyHttp2Server_init(PyObject *op, PyObject *args, PyObject *kwds)
{
    PyHttp2Server *self = (PyHttp2Server *)op;
    static char *kwlist[] = {"port", "host", "num_pinned_workers", "num_pooled_workers",
                             "num_pooled_interpreters", "max_header_size", "max_headers",
                             "max_target_size", "max_body_size", "max_concurrent_streams",
                             "header_timeout", "body_timeout", "keepalive_timeout",
                             "graceful_timeout", "backlog", "max_inflight", "interpreters",
                             "num_processes", "max_requests", "max_requests_jitter", "max_rss",
                             "lifetime", "kill_timeout", "ssl_certfile", "ssl_keyfile",
                             "ssl_keyfile_password", "ssl_ca_certs", "ssl_cert_reqs", "ssl_ciphers",
                             "ssl_min_version", "proxy_headers", "forwarded_allow_ips", NULL};
    PyObject *ssl_certfile = NULL, *ssl_keyfile = NULL, *ssl_password = NULL, *ssl_ca = NULL,
             *ssl_reqs = NULL, *ssl_ciphers = NULL, *ssl_min = NULL, *proxy_headers = NULL,
             *allow_ips = NULL;
    PyObject *port = NULL, *host = NULL, *pinned = NULL, *pooled = NULL, *pooled_interps = NULL,
             *max_header_size = NULL, *max_headers = NULL, *max_target = NULL, *max_body = NULL,
             *max_streams = NULL, *header_timeout = NULL, *body_timeout = NULL,
             *keepalive_timeout = NULL, *graceful_timeout = NULL, *backlog = NULL,
             *max_inflight = NULL, *interpreters = NULL, *num_processes = NULL, *max_requests = NULL,
             *max_requests_jitter = NULL, *max_rss = NULL, *lifetime = NULL, *kill_timeout = NULL;
    fa_obs_config obs; /* access_log=, metrics_port=...: taken out of kwds first */
    if (fa_obs_take_kwargs(kwds, &obs) < 0)
        return -1;
    size_t max_websockets = 0; /* max_websockets=: taken out of kwds too (python/ws.c) */
    if (fa_pyws_take_kwargs(kwds, &max_websockets) < 0)
        return -1;
    fa_fields fields; /* server_header=, date_header=, headers=: taken out too */
    memset(&fields, 0, sizeof(fields));
    if (fa_fields_take_kwargs(kwds, &fields) < 0)
        return -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|OOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOO:PyHttp2Server",
                                     kwlist, &port, &host, &pinned, &pooled, &pooled_interps,
                                     &max_header_size, &max_headers, &max_target, &max_body,
                                     &max_streams, &header_timeout, &body_timeout,
                                     &keepalive_timeout, &graceful_timeout, &backlog, &max_inflight,
                                     &interpreters, &num_processes, &max_requests,
                                     &max_requests_jitter, &max_rss, &lifetime, &kill_timeout,
                                     &ssl_certfile, &ssl_keyfile, &ssl_password, &ssl_ca, &ssl_reqs,
                                     &ssl_ciphers, &ssl_min, &proxy_headers, &allow_ips))
        return -1;
    if (self->srv != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "PyHttp2Server.__init__ called twice");
        return -1;
    }
    fa_config cfg;
    fa_config_defaults(&cfg);
    cfg.max_websockets = max_websockets;
    cfg.fields = fields;
    if (host != NULL) {
        if (!PyUnicode_Check(host)) {
            PyErr_Format(PyExc_TypeError, "host must be a str, not %.50s", Py_TYPE(host)->tp_name);
            return -1;
        }
        Py_ssize_t n;
        const char *h = PyUnicode_AsUTF8AndSize(host, &n);
        if (h == NULL)
            return -1;
        if (n == 0 || (size_t)n >= sizeof(cfg.host)) {
            PyErr_SetString(PyExc_ValueError, "host must be a non-empty host name or address");
            return -1;
        }
        memcpy(cfg.host, h, (size_t)n + 1);
    }
    if (interpreters != NULL) {
        const char *m = PyUnicode_Check(interpreters) ? PyUnicode_AsUTF8(interpreters) : NULL;
        if (m != NULL && strcmp(m, "sub") == 0)
            cfg.interpreters = FA_INTERP_SUB;
        else if (m != NULL && strcmp(m, "main") == 0)
            cfg.interpreters = FA_INTERP_MAIN;
        else if (m != NULL && strcmp(m, "auto") == 0)
            cfg.interpreters = FA_INTERP_AUTO;
        else {
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError,
                         "interpreters must be 'sub' (own-GIL sub-interpreters), 'main' (the main "
                         "interpreter, one GIL) or 'auto' (sub, else main), not %R", interpreters);
            return -1;
        }
    }
    size_t streams = cfg.max_concurrent_streams, mreq = 0, mjit = 0;
    if (fa_parse_int(port, "port", 0, 65535, &cfg.port) < 0 ||
        fa_parse_int(pinned, "num_pinned_workers", 0, 1024, &cfg.num_pinned_workers) < 0 ||
        fa_parse_int(pooled, "num_pooled_workers", 0, 1024, &cfg.num_pooled_workers) < 0 ||
        fa_parse_int(pooled_interps, "num_pooled_interpreters", 0, 1024, &cfg.num_pooled_interpreters) < 0 ||
        fa_parse_int(backlog, "backlog", 1, 65535, &cfg.backlog) < 0 ||
        fa_parse_size(max_header_size, "max_header_size", 256, &cfg.max_header_size) < 0 ||
        fa_parse_size(max_headers, "max_headers", 1, &cfg.max_headers) < 0 ||
        fa_parse_size(max_target, "max_target_size", 16, &cfg.max_target_size) < 0 ||
        fa_parse_size(max_body, "max_body_size", 0, &cfg.max_body_size) < 0 ||
        fa_parse_size(max_inflight, "max_inflight", 1, &cfg.max_inflight) < 0 ||
        fa_parse_size(max_streams, "max_concurrent_streams", 1, &streams) < 0 ||
        fa_parse_seconds(header_timeout, "header_timeout", &cfg.header_timeout) < 0 ||
        fa_parse_seconds(body_timeout, "body_timeout", &cfg.body_timeout) < 0 ||
        fa_parse_seconds(keepalive_timeout, "keepalive_timeout", &cfg.keepalive_timeout) < 0 ||
        fa_parse_seconds(graceful_timeout, "graceful_timeout", &cfg.graceful_timeout) < 0 ||
        fa_parse_int(num_processes, "num_processes", 1, 256, &cfg.num_processes) < 0 ||
        fa_parse_size(max_requests, "max_requests", 0, &mreq) < 0 ||
        fa_parse_size(max_requests_jitter, "max_requests_jitter", 0, &mjit) < 0 ||
        fa_parse_size(max_rss, "max_rss", 0, &cfg.max_rss_mib) < 0 ||
        fa_parse_seconds(kill_timeout, "kill_timeout", &cfg.kill_timeout) < 0 ||
        (lifetime != NULL && lifetime != Py_None &&
         fa_parse_seconds(lifetime, "lifetime", &cfg.lifetime) < 0))
        return -1;
    cfg.max_requests = mreq;
    cfg.max_requests_jitter = mjit;
    if (cfg.max_headers > 256) {
        PyErr_Format(PyExc_ValueError, "max_headers must be at most 256, got %zu", cfg.max_headers);
        return -1;
    }
    if (streams > 1u << 20) {
        PyErr_SetString(PyExc_ValueError, "max_concurrent_streams must be at most 1048576");
        return -1;
    }
    cfg.max_concurrent_streams = (uint32_t)streams;
    if (cfg.num_pooled_interpreters > 0 && cfg.num_pooled_workers > 0 &&
        cfg.num_pooled_interpreters > cfg.num_pooled_workers) {
        PyErr_Format(PyExc_ValueError,
                     "num_pooled_interpreters (%d) cannot exceed num_pooled_workers (%d): each "
                     "pooled interpreter needs at least one thread",
                     cfg.num_pooled_interpreters, cfg.num_pooled_workers);
        return -1;
    }
    fa_proxy proxy;
    if (fa_proxy_from_args(proxy_headers, allow_ips, &proxy) < 0)
        return -1;
    fa_tls *tls = NULL;
    if (fa_tls_from_args(ssl_certfile, ssl_keyfile, ssl_password, ssl_ca, ssl_reqs, ssl_ciphers,
                         ssl_min, &tls) < 0)
        return -1;
    self->srv = fa_server_new(&cfg);
    if (self->srv == NULL) {
        fa_tls_free(tls);
        PyErr_NoMemory();
        return -1;
    }
    if (tls != NULL)
        fa_server_set_tls(self->srv, tls);
    fa_server_set_proxy(self->srv, &proxy);
    char obs_err[512];
    if (fa_server_set_obs(self->srv, &obs, obs_err, sizeof(obs_err)) < 0) {
        PyErr_SetString(PyExc_ValueError, obs_err);
        fa_server_free(self->srv);
        self->srv = NULL;
        return -1;
    }
    return 0;
}

static int fa_check_init(PyHttp2Server *self)
{
    if (self->srv == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "PyHttp2Server.__init__ was not called");
        return -1;
    }
    return 0;
}

/* Checks that the worker interpreters can import the handler by name, and
 * returns its module and qualname (new references). */
static int fa_handler_names(PyObject *handler, PyObject **module_out, PyObject **qualname_out)
{
    *module_out = *qualname_out = NULL;
    if (!PyCallable_Check(handler)) {
        PyErr_Format(PyExc_TypeError, "handler must be callable, not %.50s", Py_TYPE(handler)->tp_name);
        return -1;
    }
    if (PyMethod_Check(handler)) {
        PyErr_SetString(PyExc_TypeError,
                        "handler is a bound method; each worker interpreter imports its own copy "
                        "of a handler by module and name, so use a module-level function");
        return -1;
    }
    PyObject *module = PyObject_GetAttrString(handler, "__module__");
    PyObject *qualname = module ? PyObject_GetAttrString(handler, "__qualname__") : NULL;
    if (module == NULL || qualname == NULL || !PyUnicode_Check(module) || !PyUnicode_Check(qualname)) {
        PyErr_Clear();
        Py_XDECREF(module);
        Py_XDECREF(qualname);
        PyErr_Format(PyExc_TypeError,
                     "handler %R has no __module__ and __qualname__; worker interpreters import "
                     "handlers by name, so use a module-level function", handler);
        return -1;
    }
    const char *q = PyUnicode_AsUTF8(qualname);
    if (q == NULL)
        goto fail;
    if (strstr(q, "<lambda>") != NULL) {
        PyErr_Format(PyExc_TypeError,
                     "handler %U is a lambda; worker interpreters import handlers by name, so "
                     "use a module-level def", qualname);
        goto fail;
    }
    if (strstr(q, "<locals>") != NULL) {
        PyErr_Format(PyExc_TypeError,
                     "handler %U is defined inside a function (a closure or nested function); "
                     "worker interpreters import handlers by name, so define it at module level",
                     qualname);
        goto fail;
    }
    /* The name must lead back to this very object. */
    PyObject *modules = PyImport_GetModuleDict(); /* borrowed */
    PyObject *obj = PyDict_GetItemWithError(modules, module);
    if (obj == NULL) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_TypeError, "handler's module %R is not imported", module);
        goto fail;
    }
    Py_INCREF(obj);
    PyObject *dot = PyUnicode_FromString(".");
    PyObject *parts = dot ? PyUnicode_Split(qualname, dot, -1) : NULL;
    Py_XDECREF(dot);
    if (parts == NULL) {
        Py_DECREF(obj);
        goto fail;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(parts) && obj; i++) {
        PyObject *next = PyObject_GetAttr(obj, PyList_GET_ITEM(parts, i));
        Py_DECREF(obj);
        obj = next;
    }
    Py_DECREF(parts);
    if (obj == NULL || obj != handler) {
        PyErr_Clear();
        Py_XDECREF(obj);
        PyErr_Format(PyExc_TypeError,
                     "handler %U.%U cannot be found again under that name; worker interpreters "
                     "import handlers by name, so use a module-level function", module, qualname);
        goto fail;
    }
    Py_DECREF(obj);
    if (PyUnicode_CompareWithASCIIString(module, "__main__") == 0) {
        PyObject *main = PyDict_GetItemString(modules, "__main__");
        if (main == NULL || !PyObject_HasAttrString(main, "__file__")) {
            PyErr_SetString(PyExc_TypeError,
                            "handlers defined in an interactive session cannot be imported by "
                            "worker interpreters; put them in a script or a module");
            goto fail;
        }
    }
    *module_out = module;
    *qualname_out = qualname;
    return 0;
fail:
    Py_DECREF(module);
    Py_DECREF(qualname);
    return -1;
}

static int fa_is_token(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s <= 32 || (unsigned char)*s >= 127 || strchr("\"(),/:;<=>?@[\\]{}", *s))
            return 0;
    return 1;
}

PyDoc_STRVAR(add_route_doc,
"add_route(method, path, handler, pooled=False, stream_body=False)\n--\n\n"
"Route requests for `method` and exact `path` to `handler(req, res)`.\n\n"
"The handler must be a module-level function: every worker interpreter\n"
"imports its own copy by module and name.  `req` is a dict with method,\n"
"path, query, headers (case-insensitive), body (bytes) and http_version;\n"
"the handler fills `res`: status (int, default 200), content_type (str),\n"
"body (str, bytes, or an iterable of chunks to stream), json (any JSON\n"
"value, encoded in C), file (a path, sent with sendfile) and headers (dict\n"
"or list of pairs).  With\n"
"pooled=True the handler runs on a pooled thread, so it may block.\n"
"With stream_body=True (async def handlers only) the handler starts when\n"
"the request head is in, req['body'] is empty and req['stream'] yields the\n"
"body as it arrives (`async for chunk in req['stream']`).\n"
"Returns the handler id.");

static PyObject *PyHttp2Server_add_route(PyObject *op, PyObject *args, PyObject *kwds)
{
    PyHttp2Server *self = (PyHttp2Server *)op;
    static char *kwlist[] = {"method", "path", "handler", "pooled", "stream_body", NULL};
    const char *method, *path;
    PyObject *handler;
    int pooled = 0, stream_body = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "ssO|pp:add_route", kwlist, &method, &path, &handler,
                                     &pooled, &stream_body))
        return NULL;
    if (stream_body) {
        if (pooled) {
            PyErr_SetString(PyExc_ValueError,
                            "stream_body=True needs a pinned route: pooled=True is not supported with it");
            return NULL;
        }
        PyObject *inspect = PyImport_ImportModule("inspect");
        PyObject *r = inspect ? PyObject_CallMethod(inspect, "iscoroutinefunction", "O", handler) : NULL;
        Py_XDECREF(inspect);
        if (r == NULL)
            return NULL;
        int is_coro = PyObject_IsTrue(r);
        Py_DECREF(r);
        if (!is_coro) {
            PyErr_SetString(PyExc_TypeError,
                            "stream_body=True needs an async def handler: it reads the body with "
                            "`async for chunk in req['stream']`");
            return NULL;
        }
    }
    if (fa_check_init(self) < 0)
        return NULL;
    if (fa_server_running(self->srv)) {
        PyErr_SetString(PyExc_RuntimeError, "add routes before start(), or stop() the server first");
        return NULL;
    }
    char m[32];
    size_t ml = strlen(method);
    if (ml == 0 || ml >= sizeof(m)) {
        PyErr_Format(PyExc_ValueError, "method must be an HTTP method name like 'GET', got %R",
                     PyTuple_GET_ITEM(args, 0));
        return NULL;
    }
    for (size_t i = 0; i <= ml; i++)
        m[i] = (method[i] >= 'a' && method[i] <= 'z') ? (char)(method[i] - 32) : method[i];
    if (!fa_is_token(m)) {
        PyErr_Format(PyExc_ValueError, "method must be an HTTP method name like 'GET', got '%s'", method);
        return NULL;
    }
    if (path[0] != '/' || strpbrk(path, " ?#\r\n\t") != NULL) {
        PyErr_Format(PyExc_ValueError,
                     "path must start with '/' and hold no spaces, '?' or '#', got '%s'", path);
        return NULL;
    }
    PyObject *module, *qualname;
    if (fa_handler_names(handler, &module, &qualname) < 0)
        return NULL;
    char err[256];
    int id = fa_server_add_route(self->srv, m, path, PyUnicode_AsUTF8(module), PyUnicode_AsUTF8(qualname),
                                 pooled, stream_body, err, sizeof(err));
    Py_DECREF(module);
    Py_DECREF(qualname);
    if (id < 0) {
        PyErr_SetString(PyExc_ValueError, err);
        return NULL;
    }
    return PyLong_FromLong(id);
}

PyDoc_STRVAR(add_websocket_doc,
"add_websocket(path, handler, *, compression=False, max_message_size=16777216,\n"
"              max_frame_size=None, ping_interval=20.0, ping_timeout=20.0)\n--\n\n"
"Serve WebSockets at `path` (the add_route pattern syntax, e.g. '/ws/{room}')\n"
"with `async def handler(ws)`, a module-level function every worker\n"
"interpreter imports by name.  HTTP/1.1 `Upgrade: websocket` and HTTP/2\n"
"extended CONNECT (RFC 8441) both reach it; see the WebSocket type for `ws`.\n"
"compression: permessage-deflate when the client offers it.\n"
"max_message_size / max_frame_size: bytes (None: no limit); a larger\n"
"message closes with 1009.  ping_interval: seconds between keepalive pings\n"
"(None or 0: none); ping_timeout: seconds to wait for the pong before the\n"
"connection is dropped (None or 0: forever).  Returns the handler id.");

/* None or a number >= 0 (seconds); None is 0. */
static int fa_parse_opt_seconds(PyObject *v, const char *name, double *out)
{
    if (v == Py_None) {
        *out = 0;
        return 0;
    }
    double d = PyFloat_AsDouble(v);
    if (d == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s must be a number of seconds or None, not %.50s", name,
                     Py_TYPE(v)->tp_name);
        return -1;
    }
    if (!(d >= 0) || d > 86400.0 * 365) {
        PyErr_Format(PyExc_ValueError, "%s must be >= 0 seconds (or None), got %R", name, v);
        return -1;
    }
    *out = d;
    return 0;
}

/* None or an int >= 1 (bytes); None is 0, no limit. */
static int fa_parse_opt_bytes(PyObject *v, const char *name, uint64_t *out)
{
    if (v == Py_None) {
        *out = 0;
        return 0;
    }
    if (!PyLong_Check(v) || PyBool_Check(v)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int (bytes) or None, not %.50s", name,
                     Py_TYPE(v)->tp_name);
        return -1;
    }
    long long n = PyLong_AsLongLong(v);
    if (n == -1 && PyErr_Occurred())
        return -1;
    if (n < 1) {
        PyErr_Format(PyExc_ValueError, "%s must be >= 1 byte (or None for no limit), got %lld", name, n);
        return -1;
    }
    *out = (uint64_t)n;
    return 0;
}

static PyObject *PyHttp2Server_add_websocket(PyObject *op, PyObject *args, PyObject *kwds)
{
    PyHttp2Server *self = (PyHttp2Server *)op;
    static char *kwlist[] = {"path", "handler", "compression", "max_message_size", "max_frame_size",
                             "ping_interval", "ping_timeout", NULL};
    const char *path;
    PyObject *handler, *max_message = NULL, *max_frame = Py_None, *interval = NULL, *timeout = NULL;
    int compression = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "sO|$pOOOO:add_websocket", kwlist, &path, &handler,
                                     &compression, &max_message, &max_frame, &interval, &timeout))
        return NULL;
    fa_ws_options opt = {.compression = compression, .max_message = 16u << 20,
                         .ping_interval = 20.0, .ping_timeout = 20.0};
    if ((max_message && fa_parse_opt_bytes(max_message, "max_message_size", &opt.max_message) < 0) ||
        fa_parse_opt_bytes(max_frame, "max_frame_size", &opt.max_frame) < 0 ||
        (interval && fa_parse_opt_seconds(interval, "ping_interval", &opt.ping_interval) < 0) ||
        (timeout && fa_parse_opt_seconds(timeout, "ping_timeout", &opt.ping_timeout) < 0))
        return NULL;
    if (path[0] != '/' || strpbrk(path, " ?#\r\n\t") != NULL) {
        PyErr_Format(PyExc_ValueError,
                     "path must start with '/' and hold no spaces, '?' or '#', got '%s'", path);
        return NULL;
    }
    PyObject *inspect = PyImport_ImportModule("inspect");
    PyObject *r = inspect ? PyObject_CallMethod(inspect, "iscoroutinefunction", "O", handler) : NULL;
    Py_XDECREF(inspect);
    if (r == NULL)
        return NULL;
    int is_coro = PyObject_IsTrue(r);
    Py_DECREF(r);
    if (!is_coro) {
        PyErr_SetString(PyExc_TypeError, "handler must be an async def function: async def handler(ws)");
        return NULL;
    }
    if (fa_check_init(self) < 0)
        return NULL;
    if (fa_server_running(self->srv)) {
        PyErr_SetString(PyExc_RuntimeError, "add routes before start(), or stop() the server first");
        return NULL;
    }
    PyObject *module, *qualname;
    if (fa_handler_names(handler, &module, &qualname) < 0)
        return NULL;
    char err[256];
    int id = fa_server_add_websocket(self->srv, path, PyUnicode_AsUTF8(module), PyUnicode_AsUTF8(qualname),
                                     &opt, err, sizeof(err));
    Py_DECREF(module);
    Py_DECREF(qualname);
    if (id < 0) {
        PyErr_SetString(PyExc_ValueError, err);
        return NULL;
    }
    return PyLong_FromLong(id);
}

/* Registers func as a hook (kind 0 startup, 1 shutdown) or as the fallback
 * handler (kind 2) while the server is stopped.  Returns a new reference to
 * func, or NULL with an exception set. */
static PyObject *fa_register(PyHttp2Server *self, PyObject *func, int kind, int pooled)
{
    if (fa_check_init(self) < 0)
        return NULL;
    if (fa_server_running(self->srv)) {
        PyErr_Format(PyExc_RuntimeError, "%s before start(), or stop() the server first",
                     kind == 2 ? "set the fallback" : "add hooks");
        return NULL;
    }
    PyObject *module, *qualname;
    if (fa_handler_names(func, &module, &qualname) < 0)
        return NULL;
    char err[256];
    const char *m = PyUnicode_AsUTF8(module), *q = PyUnicode_AsUTF8(qualname);
    int rc = kind == 2 ? fa_server_set_fallback(self->srv, m, q, pooled, err, sizeof(err))
                       : fa_server_add_hook(self->srv, kind, m, q, err, sizeof(err));
    Py_DECREF(module);
    Py_DECREF(qualname);
    if (rc < 0) {
        PyErr_SetString(PyExc_MemoryError, err);
        return NULL;
    }
    return Py_NewRef(func);
}

PyDoc_STRVAR(set_fallback_doc,
"set_fallback(handler, pooled=False)\n--\n\n"
"Send requests that no route matches to `handler(req, res)` instead of the\n"
"server's plain-text 404 / 405.  It sees req['route'] == '' and, when the\n"
"path has routes for other methods, req['allow'] (e.g. 'GET, HEAD') to\n"
"answer 405 with.  A module-level function, like route handlers; a later\n"
"call replaces it.  Returns handler.");

static PyObject *PyHttp2Server_set_fallback(PyObject *op, PyObject *args, PyObject *kwds)
{
    PyHttp2Server *self = (PyHttp2Server *)op;
    static char *kwlist[] = {"handler", "pooled", NULL};
    PyObject *handler;
    int pooled = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|p:set_fallback", kwlist, &handler, &pooled))
        return NULL;
    return fa_register(self, handler, 2, pooled);
}

PyDoc_STRVAR(on_startup_doc,
"on_startup(func)\n--\n\n"
"Run `func()` once in every worker interpreter (each pinned worker and each\n"
"pooled interpreter), on its own thread, before the server answers.  It may\n"
"be a coroutine function: it runs on that worker's asyncio loop, so what it\n"
"creates (clients, pools) belongs to the loop its handlers run on.  If it\n"
"raises, start() raises.  Like handlers, it must be a module-level function.\n"
"Returns func, so it works as a decorator.");

static PyObject *PyHttp2Server_on_startup(PyObject *op, PyObject *func)
{
    return fa_register((PyHttp2Server *)op, func, 0, 0);
}

PyDoc_STRVAR(on_shutdown_doc,
"on_shutdown(func)\n--\n\n"
"Run `func()` once in every worker interpreter when the server stops, after\n"
"in-flight requests finished and before its asyncio loop closes.  Errors are\n"
"logged.  Returns func, so it works as a decorator.");

static PyObject *PyHttp2Server_on_shutdown(PyObject *op, PyObject *func)
{
    return fa_register((PyHttp2Server *)op, func, 1, 0);
}

static void fa_release_gil(void *arg) { *(PyThreadState **)arg = PyEval_SaveThread(); }
static void fa_reacquire_gil(void *arg) { PyEval_RestoreThread(*(PyThreadState **)arg); }

static void fa_finish(PyHttp2Server *self)
{
    PyThreadState *ts = NULL;
    fa_server_finish(self->srv, fa_release_gil, fa_reacquire_gil, &ts);
}

static PyObject *fa_atexit(const char *name, PyObject *arg)
{
    PyObject *mod = PyImport_ImportModule("atexit");
    if (mod == NULL)
        return NULL;
    PyObject *r = PyObject_CallMethod(mod, name, "O", arg);
    Py_DECREF(mod);
    return r;
}

/* Collects what the interpreters need to import the application the way
 * the main interpreter did: the main script's path and sys.path. */
static int fa_app_paths(char **main_path, char ***sys_path, size_t *n)
{
    *main_path = NULL;
    *sys_path = NULL;
    *n = 0;
#if PY_VERSION_HEX >= 0x030D0000
    PyObject *main = PyImport_AddModuleRef("__main__");
#else
    PyObject *main = Py_XNewRef(PyImport_AddModule("__main__"));
#endif
    if (main == NULL)
        return -1;
    PyObject *file = PyObject_GetAttrString(main, "__file__");
    Py_DECREF(main);
    if (file == NULL) {
        PyErr_Clear();
    } else {
        PyObject *os_path = PyImport_ImportModule("os.path");
        PyObject *abs = os_path ? PyObject_CallMethod(os_path, "abspath", "O", file) : NULL;
        Py_XDECREF(os_path);
        Py_DECREF(file);
        if (abs == NULL)
            return -1;
        PyObject *b = PyUnicode_EncodeFSDefault(abs);
        Py_DECREF(abs);
        if (b == NULL)
            return -1;
        *main_path = strdup(PyBytes_AS_STRING(b));
        Py_DECREF(b);
    }
    PyObject *path = PySys_GetObject("path"); /* borrowed */
    if (path == NULL || !PyList_Check(path))
        return 0;
    Py_ssize_t len = PyList_GET_SIZE(path);
    *sys_path = calloc((size_t)len + 1, sizeof(char *));
    if (*sys_path == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < len; i++) {
        PyObject *item = PyList_GET_ITEM(path, i);
        if (!PyUnicode_Check(item))
            continue;
        PyObject *b = PyUnicode_EncodeFSDefault(item);
        if (b == NULL)
            return -1;
        (*sys_path)[(*n)++] = strdup(PyBytes_AS_STRING(b));
        Py_DECREF(b);
    }
    return 0;
}

static void fa_free_paths(char *main_path, char **sys_path, size_t n)
{
    free(main_path);
    for (size_t i = 0; i < n; i++)
        free(sys_path[i]);
    free(sys_path);
}

PyDoc_STRVAR(start_doc,
"start(blocking=True)\n--\n\n"
"Start serving.  Creates one own-GIL interpreter per pinned worker and per\n"
"pooled interpreter, imports the handlers in each, then starts the threads.\n"
"With blocking=True (the default) it returns after SIGINT, SIGTERM or a\n"
"stop() from another thread, once the graceful stop is complete.  With\n"
"blocking=False it returns at once; call stop() later.");

/* SIGTERM raises KeyboardInterrupt like SIGINT while start() blocks, so
 * both stop gracefully.  Returns the previous handler (to restore), NULL
 * with no exception when that is not possible here (not the main thread),
 * or NULL with KeyboardInterrupt set when a signal came meanwhile. */
static PyObject *fa_sigterm_as_interrupt(PyObject *signal_mod)
{
    PyObject *num = PyObject_GetAttrString(signal_mod, "SIGTERM");
    PyObject *handler = PyObject_GetAttrString(signal_mod, "default_int_handler");
    PyObject *old = (num && handler) ? PyObject_CallMethod(signal_mod, "signal", "OO", num, handler) : NULL;
    Py_XDECREF(num);
    Py_XDECREF(handler);
    if (old == NULL && !PyErr_ExceptionMatches(PyExc_KeyboardInterrupt))
        PyErr_Clear();
    return old;
}

static void fa_restore_sigterm(PyObject *signal_mod, PyObject *old)
{
    if (old == NULL)
        return;
    PyObject *exc = PyErr_GetRaisedException();
    PyObject *num = PyObject_GetAttrString(signal_mod, "SIGTERM");
    PyObject *r = num ? PyObject_CallMethod(signal_mod, "signal", "OO", num, old) : NULL;
    if (r == NULL)
        PyErr_Clear();
    Py_XDECREF(r);
    Py_XDECREF(num);
    PyErr_SetRaisedException(exc);
}

/* With TLS, SIGHUP reloads the certificates while start() blocks (as
 * nginx does).  Returns the previous handler, or NULL (nothing changed). */
static PyObject *fa_sighup_reloads(PyObject *signal_mod, PyObject *server)
{
    PyHttp2Server *self = (PyHttp2Server *)server;
    if (self->srv == NULL || !fa_server_has_tls(self->srv) || !PyObject_HasAttrString(signal_mod, "SIGHUP"))
        return NULL;
    PyObject *num = PyObject_GetAttrString(signal_mod, "SIGHUP");
    PyObject *cb = PyObject_GetAttrString(server, "_on_sighup");
    PyObject *old = (num && cb) ? PyObject_CallMethod(signal_mod, "signal", "OO", num, cb) : NULL;
    Py_XDECREF(num);
    Py_XDECREF(cb);
    if (old == NULL)
        PyErr_Clear(); /* not the main thread: no SIGHUP reload */
    return old;
}

static void fa_restore_signal(PyObject *signal_mod, const char *name, PyObject *old)
{
    if (old == NULL || signal_mod == NULL)
        return;
    PyObject *exc = PyErr_GetRaisedException();
    PyObject *num = PyObject_GetAttrString(signal_mod, name);
    PyObject *r = num ? PyObject_CallMethod(signal_mod, "signal", "OO", num, old) : NULL;
    if (r == NULL)
        PyErr_Clear();
    Py_XDECREF(r);
    Py_XDECREF(num);
    PyErr_SetRaisedException(exc);
}

static PyObject *PyHttp2Server_start(PyObject *op, PyObject *args, PyObject *kwds)
{
    PyHttp2Server *self = (PyHttp2Server *)op;
    static char *kwlist[] = {"blocking", NULL};
    int blocking = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|p:start", kwlist, &blocking))
        return NULL;
    if (fa_check_init(self) < 0)
        return NULL;
    const fa_config *pc = fa_server_config(self->srv);
    if ((pc->num_processes > 1 || pc->max_requests > 0 || pc->max_rss_mib > 0 || pc->lifetime > 0) &&
        !self->in_child) {
        /* This process becomes the supervisor: it forks the server
         * processes before any interpreter or thread exists here. */
        if (!blocking) {
            PyErr_SetString(PyExc_ValueError,
                            "num_processes > 1 and the recycling limits (max_requests, max_rss, "
                            "lifetime) need start(blocking=True): the calling process becomes the "
                            "supervisor of the server processes and must not run threads of its "
                            "own");
            return NULL;
        }
        if (fa_server_running(self->srv)) {
            PyErr_SetString(PyExc_RuntimeError, "the server is already running");
            return NULL;
        }
        PyObject *sup = PyImport_ImportModule("fasterapi._supervisor");
        if (sup == NULL)
            return NULL;
        PyObject *r = PyObject_CallMethod(sup, "supervise", "O", op);
        Py_DECREF(sup);
        return r;
    }

    /* Installed before anything starts, so a signal at any moment from here
     * on ends in a graceful stop rather than a killed process. */
    PyObject *signal_mod = NULL, *old_term = NULL, *old_hup = NULL;
    if (blocking) {
        signal_mod = PyImport_ImportModule("signal");
        if (signal_mod == NULL)
            return NULL;
        old_term = fa_sigterm_as_interrupt(signal_mod);
        if (old_term == NULL && PyErr_Occurred()) {
            Py_DECREF(signal_mod);
            return NULL; /* interrupted before anything started */
        }
        old_hup = fa_sighup_reloads(signal_mod, op);
    }

    char *main_path;
    char **sys_path;
    size_t n;
    char err[4096];
    int rc = -1;
    /* CPython 3.12/3.13.0: ending isolated interpreters that imported
     * datetime crashes the process unless the main interpreter imported it
     * first (python/cpython#136423); workers very often do. */
    PyObject *dt = PyImport_ImportModule("datetime");
    if (dt == NULL)
        PyErr_Clear();
    Py_XDECREF(dt);
    if (fa_app_paths(&main_path, &sys_path, &n) == 0) {
        PyThreadState *ts = NULL;
        rc = fa_server_start(self->srv, main_path, sys_path, n, err, sizeof(err), fa_release_gil,
                             fa_reacquire_gil, &ts);
        if (rc < 0) {
            if (strncmp(err, "cannot listen", 13) == 0 || strncmp(err, "cannot resolve", 14) == 0)
                PyErr_SetString(PyExc_OSError, err);
            else
                PyErr_Format(PyExc_RuntimeError, "the server could not start: %s", err);
        }
    }
    fa_free_paths(main_path, sys_path, n);
    if (rc < 0) {
        fa_restore_sigterm(signal_mod, old_term);
        fa_restore_signal(signal_mod, "SIGHUP", old_hup);
        Py_XDECREF(old_term);
        Py_XDECREF(old_hup);
        Py_XDECREF(signal_mod);
        return NULL;
    }

    if (!blocking) {
        /* A process that exits with a running server must still stop it:
         * exiting with live sub-interpreters is fatal on 3.12. */
        PyObject *stop = PyObject_GetAttrString(op, "stop");
        PyObject *r = stop ? fa_atexit("register", stop) : NULL;
        Py_XDECREF(r);
        if (r == NULL && PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
            /* interrupted right after starting: stop, and let it propagate */
            PyObject *exc = PyErr_GetRaisedException();
            fa_finish(self);
            Py_XDECREF(stop);
            PyErr_SetRaisedException(exc);
            return NULL;
        }
        if (r == NULL)
            PyErr_Clear();
        Py_XSETREF(self->atexit_cb, stop);
        Py_RETURN_NONE;
    }

    PyObject *raised = NULL;
    for (;;) {
        /* signals first: one may have come while the server was starting */
        if (PyErr_CheckSignals() < 0) {
            if (PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
                PyErr_Clear();
                fprintf(stderr, "[fasterapi] Stopping: finishing in-flight requests\n");
            } else {
                raised = PyErr_GetRaisedException();
            }
            break;
        }
        int done;
        Py_BEGIN_ALLOW_THREADS
        done = fa_server_wait(self->srv, 100);
        Py_END_ALLOW_THREADS
        if (done)
            break;
    }
    fa_finish(self);
    fa_restore_sigterm(signal_mod, old_term);
    fa_restore_signal(signal_mod, "SIGHUP", old_hup);
    Py_XDECREF(old_term);
    Py_XDECREF(old_hup);
    Py_XDECREF(signal_mod);
    if (raised != NULL) {
        PyErr_SetRaisedException(raised);
        return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(stop_doc,
"stop()\n--\n\n"
"Stop gracefully: stop accepting, send GOAWAY on HTTP/2 connections, let\n"
"in-flight requests finish within graceful_timeout, join every thread and\n"
"end every sub-interpreter.  Does nothing when the server is not running.");

static PyObject *PyHttp2Server_stop(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    PyHttp2Server *self = (PyHttp2Server *)op;
    if (fa_check_init(self) < 0)
        return NULL;
    if (!fa_server_running(self->srv))
        Py_RETURN_NONE;
    fa_finish(self);
    if (self->atexit_cb != NULL) {
        PyObject *r = fa_atexit("unregister", self->atexit_cb);
        if (r == NULL)
            PyErr_Clear();
        Py_XDECREF(r);
        Py_CLEAR(self->atexit_cb);
    }
    Py_RETURN_NONE;
}

static PyObject *PyHttp2Server_use_listeners(PyObject *op, PyObject *args, PyObject *kwds)
{
    PyHttp2Server *self = (PyHttp2Server *)op;
    static char *kwlist[] = {"fds", "child", NULL};
    PyObject *fds;
    int child = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|p:_use_listeners", kwlist, &fds, &child))
        return NULL;
    if (fa_check_init(self) < 0)
        return NULL;
    PyObject *seq = PySequence_Fast(fds, "fds must be a sequence of file descriptors");
    if (seq == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    int *v = PyMem_Malloc((size_t)(n > 0 ? n : 1) * sizeof(int));
    if (v == NULL) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        int fd = PyObject_AsFileDescriptor(PySequence_Fast_GET_ITEM(seq, i));
        if (fd < 0) {
            PyMem_Free(v);
            Py_DECREF(seq);
            return NULL;
        }
        v[i] = fd;
    }
    Py_DECREF(seq);
    int rc = fa_server_set_listeners(self->srv, v, (int)n);
    PyMem_Free(v);
    if (rc < 0) {
        PyErr_SetString(PyExc_RuntimeError, "listeners can only be set before start()");
        return NULL;
    }
    self->in_child = child;
    Py_RETURN_NONE;
}

static PyObject *PyHttp2Server_process_options(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    PyHttp2Server *self = (PyHttp2Server *)op;
    if (fa_check_init(self) < 0)
        return NULL;
    const fa_config *c = fa_server_config(self->srv);
    return Py_BuildValue("{s:s,s:i,s:i,s:i,s:i,s:K,s:K,s:n,s:d,s:d,s:d,s:O}", "host", c->host, "port", c->port,
                         "backlog", c->backlog, "num_pinned_workers", c->num_pinned_workers,
                         "num_processes", c->num_processes, "max_requests",
                         (unsigned long long)c->max_requests, "max_requests_jitter",
                         (unsigned long long)c->max_requests_jitter, "max_rss", (Py_ssize_t)c->max_rss_mib,
                         "lifetime", c->lifetime, "graceful_timeout", c->graceful_timeout,
                         "kill_timeout", c->kill_timeout, "tls",
                         fa_server_has_tls(self->srv) ? Py_True : Py_False);
}

static PyObject *PyHttp2Server_use_metrics(PyObject *op, PyObject *args)
{
    PyHttp2Server *self = (PyHttp2Server *)op;
    if (fa_check_init(self) < 0)
        return NULL;
    return fa_obs_use_region(fa_server_obs(self->srv), fa_server_running(self->srv), args);
}

static PyObject *PyHttp2Server_metrics_options(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    PyHttp2Server *self = (PyHttp2Server *)op;
    if (fa_check_init(self) < 0)
        return NULL;
    return fa_obs_options(fa_server_obs(self->srv));
}

static PyObject *PyHttp2Server_get_requests_served(PyObject *op, void *Py_UNUSED(closure))
{
    PyHttp2Server *self = (PyHttp2Server *)op;
    if (fa_check_init(self) < 0)
        return NULL;
    return PyLong_FromUnsignedLongLong(fa_server_requests(self->srv));
}

PyDoc_STRVAR(is_running_doc, "is_running()\n--\n\nTrue between start() and the end of stop().");

static PyObject *PyHttp2Server_is_running(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    PyHttp2Server *self = (PyHttp2Server *)op;
    if (fa_check_init(self) < 0)
        return NULL;
    return PyBool_FromLong(fa_server_running(self->srv));
}

static PyObject *PyHttp2Server_get_port(PyObject *op, void *Py_UNUSED(closure))
{
    PyHttp2Server *self = (PyHttp2Server *)op;
    if (fa_check_init(self) < 0)
        return NULL;
    return PyLong_FromLong(fa_server_port(self->srv));
}

static PyObject *PyHttp2Server_get_interpreters(PyObject *op, void *Py_UNUSED(closure))
{
    PyHttp2Server *self = (PyHttp2Server *)op;
    if (fa_check_init(self) < 0)
        return NULL;
    const fa_config *cfg = fa_server_config(self->srv);
    if (cfg->interpreters == FA_INTERP_AUTO && !fa_server_running(self->srv))
        return PyUnicode_FromString("auto");
    int main = cfg->interpreters == FA_INTERP_MAIN ||
               (cfg->interpreters == FA_INTERP_AUTO && fa_server_main_interp(self->srv));
    return PyUnicode_FromString(main ? "main" : "sub");
}

static int PyHttp2Server_traverse(PyObject *op, visitproc visit, void *arg)
{
    PyHttp2Server *self = (PyHttp2Server *)op;
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(self->atexit_cb);
    return 0;
}

static int PyHttp2Server_clear(PyObject *op)
{
    PyHttp2Server *self = (PyHttp2Server *)op;
    Py_CLEAR(self->atexit_cb);
    return 0;
}

static void PyHttp2Server_dealloc(PyObject *op)
{
    PyHttp2Server *self = (PyHttp2Server *)op;
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    if (self->srv != NULL) {
        if (fa_server_running(self->srv))
            fa_finish(self); /* dropped while running: stop rather than leak threads */
        fa_server_free(self->srv);
        self->srv = NULL;
    }
    PyHttp2Server_clear(op);
    tp->tp_free(op);
    Py_DECREF(tp);
}

static PyMethodDef PyHttp2Server_methods[] = {
    {"add_route", (PyCFunction)(void (*)(void))PyHttp2Server_add_route, METH_VARARGS | METH_KEYWORDS, add_route_doc},
    {"add_websocket", (PyCFunction)(void (*)(void))PyHttp2Server_add_websocket, METH_VARARGS | METH_KEYWORDS,
     add_websocket_doc},
    {"start", (PyCFunction)(void (*)(void))PyHttp2Server_start, METH_VARARGS | METH_KEYWORDS, start_doc},
    {"stop", PyHttp2Server_stop, METH_NOARGS, stop_doc},
    {"reload_certificates", PyHttp2Server_reload_certificates, METH_NOARGS, reload_certificates_doc},
    {"_on_sighup", PyHttp2Server_on_sighup, METH_VARARGS, NULL},
    {"is_running", PyHttp2Server_is_running, METH_NOARGS, is_running_doc},
    {"set_fallback", (PyCFunction)(void (*)(void))PyHttp2Server_set_fallback, METH_VARARGS | METH_KEYWORDS,
     set_fallback_doc},
    {"on_startup", PyHttp2Server_on_startup, METH_O, on_startup_doc},
    {"on_shutdown", PyHttp2Server_on_shutdown, METH_O, on_shutdown_doc},
    {"_use_listeners", (PyCFunction)(void (*)(void))PyHttp2Server_use_listeners, METH_VARARGS | METH_KEYWORDS,
     "_use_listeners(fds, child=False): serve on these listening sockets (the supervisor, --fd, --uds)."},
    {"_process_options", PyHttp2Server_process_options, METH_NOARGS,
     "_process_options(): the settings the supervisor reads."},
    {"_use_metrics", PyHttp2Server_use_metrics, METH_VARARGS,
     "_use_metrics(region, slot): count into a supervisor's metrics region (before start())."},
    {"_metrics_options", PyHttp2Server_metrics_options, METH_NOARGS,
     "_metrics_options(): metrics_port and metrics_host as given, for the supervisor."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef PyHttp2Server_getset[] = {
    {"port", PyHttp2Server_get_port, NULL, "The TCP port: the one bound once started (useful with port=0).", NULL},
    {"requests_served", PyHttp2Server_get_requests_served, NULL,
     "Requests dispatched by this process's workers since start() (0 when not running).", NULL},
    {"interpreters", PyHttp2Server_get_interpreters, NULL,
     "Where handlers run: 'sub' or 'main' ('auto' before start(); once started, what auto chose).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(PyHttp2Server_doc,
"PyHttp2Server(port=8080, host='0.0.0.0', num_pinned_workers=0,\n"
"              num_pooled_workers=0, num_pooled_interpreters=0, *limits)\n--\n\n"
"An HTTP/1.1 and HTTP/2 (h2c) server that runs handlers in own-GIL\n"
"sub-interpreters.\n\n"
"num_pinned_workers event-loop threads each own one interpreter (0: one\n"
"per CPU).  num_pooled_workers threads share num_pooled_interpreters\n"
"interpreters and run routes added with pooled=True (0: two threads and one\n"
"interpreter when a pooled route exists).\n\n"
"interpreters='sub' runs handlers in own-GIL sub-interpreters; 'main' runs\n"
"them in the main interpreter, every thread sharing its one GIL (for apps\n"
"that import extension modules which cannot load in sub-interpreters:\n"
"pydantic-core, numpy...); 'auto' tries 'sub' and falls back to 'main',\n"
"logging the module that could not load.\n\n"
"Limits: max_header_size=16384 bytes, max_headers=100,\n"
"max_target_size=8192, max_body_size=16 MiB, max_concurrent_streams=100,\n"
"header_timeout=10.0 s, body_timeout=30.0 s, keepalive_timeout=5.0 s,\n"
"graceful_timeout=10.0 s, backlog=4096, max_inflight=10000 (per worker:\n"
"requests awaiting a coroutine or a pooled thread; more get 503 with\n"
"Retry-After over HTTP/1.1 and REFUSED_STREAM over HTTP/2).\n\n"
"access_log=False: no access log by default here (the command line turns\n"
"it on); access_log=True writes one line per request to stderr, formatted\n"
"in C from C data and buffered per worker; access_log_format= takes\n"
"{atoms} (client, client_ip, method, path, query, target, protocol,\n"
"scheme, status, status_phrase, bytes, duration, duration_ms, time, pid,\n"
"worker, header:NAME; {{ and }} for braces), default Uvicorn's line.\n"
"metrics_port=None: no metrics; a port serves Prometheus' text format at\n"
"/metrics on its own listener and thread (metrics_host= defaults to host).");

static PyType_Slot PyHttp2Server_slots[] = {
    {Py_tp_doc, (void *)PyHttp2Server_doc},
    {Py_tp_init, PyHttp2Server_init},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_dealloc, PyHttp2Server_dealloc},
    {Py_tp_traverse, PyHttp2Server_traverse},
    {Py_tp_clear, PyHttp2Server_clear},
    {Py_tp_methods, PyHttp2Server_methods},
    {Py_tp_getset, PyHttp2Server_getset},
    {0, NULL},
};

static PyType_Spec PyHttp2Server_spec = {
    .name = "fasterapi._native.http2.PyHttp2Server",
    .basicsize = sizeof(PyHttp2Server),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .slots = PyHttp2Server_slots,
};

/* ------------------------------------------------------------------ */

static int fa_module_exec(PyObject *module)
{
    fa_module_state *st = fa_get_state(module);
    st->server_type = PyType_FromModuleAndSpec(module, &PyHttp2Server_spec, NULL);
    if (st->server_type == NULL)
        return -1;
    if (PyModule_AddType(module, (PyTypeObject *)st->server_type) < 0)
        return -1;
    return fa_pyws_add_types(module);
}

static int fa_module_traverse(PyObject *module, visitproc visit, void *arg)
{
    Py_VISIT(fa_get_state(module)->server_type);
    return 0;
}

static int fa_module_clear(PyObject *module)
{
    Py_CLEAR(fa_get_state(module)->server_type);
    return 0;
}

static void fa_module_free(void *module) { fa_module_clear((PyObject *)module); }

static PyModuleDef_Slot fa_module_slots[] = {
    {Py_mod_exec, fa_module_exec},
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#ifdef Py_mod_gil
    {Py_mod_gil, Py_MOD_GIL_USED},
#endif
    {0, NULL},
};

PyDoc_STRVAR(module_doc,
"The native HTTP/1.1 + HTTP/2 server of FasterAPI.\n\n"
"    from fasterapi._native.http2 import PyHttp2Server\n");

static struct PyModuleDef fa_module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "fasterapi._native.http2",
    .m_doc = module_doc,
    .m_size = sizeof(fa_module_state),
    .m_slots = fa_module_slots,
    .m_methods = fa_obs_methods, /* the supervisor's metrics region (obs_module.c) */
    .m_traverse = fa_module_traverse,
    .m_clear = fa_module_clear,
    .m_free = fa_module_free,
};

PyMODINIT_FUNC PyInit_http2(void) { return PyModuleDef_Init(&fa_module_def); }
