/* module.c - the Python binding of the JSON encoder: fasterapi._native.json.
 *
 * Multi-phase init with module state and the
 * Py_MOD_PER_INTERPRETER_GIL_SUPPORTED slot (the model is CPython's
 * Modules/xxlimited_3_13.c), so each own-GIL interpreter gets its own
 * module object, encoder cache and scratch buffer.
 */
#include "encoder.h"

/* Scratch buffers that grew past this are freed after the call. */
#define FA_JSON_SCRATCH_KEEP (64 * 1024)

typedef struct {
    fa_json_cache cache;
    /* Reused by dumps() so that small documents do not allocate twice.
     * Only one thread runs in an interpreter at a time, but dumps() can be
     * re-entered (from `default`, or by another thread of the interpreter
     * while a callee released the GIL): then it uses a buffer of its own. */
    fa_buf scratch;
    int scratch_busy;
} fa_json_state;

static fa_json_state *fa_json_get_state(PyObject *module)
{
    return (fa_json_state *)PyModule_GetState(module);
}

PyDoc_STRVAR(dumps_doc,
"dumps($module, obj, /, *, default=None)\n--\n\n"
"Serialize obj to compact UTF-8 JSON bytes.\n\n"
"The result is json.dumps(obj, ensure_ascii=False, allow_nan=False,\n"
"separators=(',', ':')).encode(), byte for byte, for every value json\n"
"accepts.  In addition, without `default`:\n\n"
"  dataclass instance    an object of its fields, in definition order\n"
"  datetime, date, time  isoformat() string\n"
"  uuid.UUID             str() string\n"
"  enum.Enum member      its value\n"
"  decimal.Decimal       a number: int when its exponent is >= 0, else float\n\n"
"A lone surrogate in a str is written as a \\udXXX escape (UTF-8 cannot\n"
"carry it; json.loads reads it back as the same str).\n\n"
"default(o) is called with any other value and its result is encoded in\n"
"its place.  Raises TypeError for values and dict keys that cannot be\n"
"encoded, ValueError for NaN, infinities and circular references, and\n"
"RecursionError for too deep nesting.");

static PyObject *fa_json_dumps(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames)
{
    if (nargs != 1) {
        PyErr_Format(PyExc_TypeError, "dumps() takes exactly 1 positional argument (%zd given)",
                     nargs);
        return NULL;
    }
    PyObject *default_fn = NULL;
    Py_ssize_t nkw = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, i);
        if (PyUnicode_CompareWithASCIIString(name, "default") != 0) {
            PyErr_Format(PyExc_TypeError, "dumps() got an unexpected keyword argument '%U'", name);
            return NULL;
        }
        default_fn = args[nargs + i];
    }
    if (default_fn == Py_None)
        default_fn = NULL;
    if (default_fn != NULL && !PyCallable_Check(default_fn)) {
        PyErr_Format(PyExc_TypeError, "default must be callable or None, not %.100s",
                     Py_TYPE(default_fn)->tp_name);
        return NULL;
    }

    fa_json_state *st = fa_json_get_state(module);
    fa_buf own = FA_BUF_INIT;
    fa_buf *buf = &own;
    if (!st->scratch_busy) {
        buf = &st->scratch;
        buf->len = 0;
        st->scratch_busy = 1;
    }
    PyObject *result = NULL;
    if (fa_json_encode(args[0], buf, default_fn, &st->cache) == 0)
        result = PyBytes_FromStringAndSize(buf->data, (Py_ssize_t)buf->len);
    if (buf == &st->scratch) {
        buf->len = 0;
        fa_buf_shrink(buf, FA_JSON_SCRATCH_KEEP);
        st->scratch_busy = 0;
    } else {
        fa_buf_free(&own);
    }
    return result;
}

static PyMethodDef fa_json_methods[] = {
    {"dumps", (PyCFunction)(void (*)(void))fa_json_dumps, METH_FASTCALL | METH_KEYWORDS,
     dumps_doc},
    {NULL, NULL, 0, NULL},
};

/* ------------------------------------------------------------------ */

static int fa_json_module_exec(PyObject *module)
{
    fa_json_state *st = fa_json_get_state(module);
    return fa_json_cache_init(&st->cache);
}

static int fa_json_module_traverse(PyObject *module, visitproc visit, void *arg)
{
    fa_json_state *st = fa_json_get_state(module);
    return st != NULL ? fa_json_cache_traverse(&st->cache, visit, arg) : 0;
}

static int fa_json_module_clear(PyObject *module)
{
    fa_json_state *st = fa_json_get_state(module);
    if (st != NULL)
        fa_json_cache_clear(&st->cache);
    return 0;
}

static void fa_json_module_free(void *module)
{
    fa_json_state *st = fa_json_get_state((PyObject *)module);
    if (st != NULL) {
        fa_json_cache_clear(&st->cache);
        fa_buf_free(&st->scratch);
    }
}

static PyModuleDef_Slot fa_json_module_slots[] = {
    {Py_mod_exec, fa_json_module_exec},
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#ifdef Py_mod_gil
    {Py_mod_gil, Py_MOD_GIL_USED},
#endif
    {0, NULL},
};

PyDoc_STRVAR(module_doc,
"FasterAPI's JSON encoder in C; it loads in own-GIL sub-interpreters.\n\n"
"    from fasterapi._native.json import dumps\n"
"    dumps({\"message\": \"Hello, World!\"})  # b'{\"message\":\"Hello, World!\"}'\n");

static struct PyModuleDef fa_json_module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "fasterapi._native.json",
    .m_doc = module_doc,
    .m_size = sizeof(fa_json_state),
    .m_methods = fa_json_methods,
    .m_slots = fa_json_module_slots,
    .m_traverse = fa_json_module_traverse,
    .m_clear = fa_json_module_clear,
    .m_free = fa_json_module_free,
};

PyMODINIT_FUNC PyInit_json(void) { return PyModuleDef_Init(&fa_json_module_def); }
