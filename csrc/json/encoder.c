/* encoder.c - Python objects to compact UTF-8 JSON (see encoder.h).
 *
 * One recursive pass writes straight into the caller's fa_buf.  Exact
 * builtin types are tested first, by pointer, because they are nearly every
 * value; subclasses, the natively supported library types and `default`
 * take the slow path in enc_other().
 *
 * Circular references: json keeps a dict of the ids of the containers being
 * encoded.  Here each container level is a frame on the C stack linked to
 * its parent, and the ancestors are only searched once nesting passes
 * FA_JSON_CYCLE_DEPTH: a cycle nests forever so it is still caught, while
 * ordinary documents pay nothing for the check.
 */
#include "encoder.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Nesting depth past which each new container is looked for among its
 * ancestors. */
#define FA_JSON_CYCLE_DEPTH 64
/* Code points written per buffer reservation by the non-ASCII str path
 * (each takes at most 6 bytes). */
#define FA_JSON_STR_CHUNK 512

typedef struct fa_json_frame {
    PyObject *obj;
    const struct fa_json_frame *up;
    unsigned depth;
} fa_json_frame;

typedef struct {
    fa_buf *out;
    PyObject *default_fn; /* NULL: none */
    fa_json_cache *cache;
} fa_json_enc;

static int enc_obj(fa_json_enc *e, PyObject *obj, const fa_json_frame *up);

/* ------------------------------------------------------------------ */
/* output                                                              */

static inline int enc_reserve(fa_json_enc *e, size_t n)
{
    if (e->out->cap - e->out->len >= n)
        return 0;
    if (fa_buf_reserve(e->out, n) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static inline int enc_raw(fa_json_enc *e, const char *s, size_t n)
{
    if (enc_reserve(e, n) < 0)
        return -1;
    memcpy(e->out->data + e->out->len, s, n);
    e->out->len += n;
    return 0;
}

static inline int enc_char(fa_json_enc *e, char c)
{
    if (enc_reserve(e, 1) < 0)
        return -1;
    e->out->data[e->out->len++] = c;
    return 0;
}

/* ------------------------------------------------------------------ */
/* strings                                                             */

static const char hex_digits[] = "0123456789abcdef";

/* For each byte below 0x80: 0 when it is copied as is, else the letter that
 * follows the backslash ('u' for \u00XX).  The same escapes as json with
 * ensure_ascii=False: control characters, '"' and '\\'; DEL stays raw. */
static const char escape_table[128] = {
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'b', 't', 'n', 'u', 'f', 'r', 'u', 'u',
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
    ['"'] = '"',
    ['\\'] = '\\',
};

/* Writes the escape of ASCII byte c (escape_table[c] != 0); at most 6 bytes. */
static inline char *put_escape(char *p, unsigned char c)
{
    char k = escape_table[c];
    *p++ = '\\';
    *p++ = k;
    if (k == 'u') {
        *p++ = '0';
        *p++ = '0';
        *p++ = hex_digits[c >> 4];
        *p++ = hex_digits[c & 15];
    }
    return p;
}

/* Whether any of 8 ASCII bytes needs an escape: a byte below 0x20, '"' or
 * '\\'.  Exact for bytes below 0x80 (the classic "has zero byte" and "has
 * byte less than n" bit tricks). */
static inline int word_needs_escape(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t quote = w ^ (ones * '"');
    uint64_t bslash = w ^ (ones * '\\');
    uint64_t lt = (w - ones * 0x20) & ~w;
    uint64_t q = (quote - ones) & ~quote;
    uint64_t b = (bslash - ones) & ~bslash;
    return ((lt | q | b) & highs) != 0;
}

/* An ASCII string, copied 8 bytes at a time while no byte needs an escape. */
static inline int enc_ascii(fa_json_enc *e, const unsigned char *s, size_t n)
{
    if (enc_reserve(e, n + 2) < 0)
        return -1;
    fa_buf *b = e->out;
    char *p = b->data + b->len;
    *p++ = '"';
    size_t i = 0;
    while (i < n) {
        size_t end;
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!word_needs_escape(w)) {
                memcpy(p, &w, 8);
                p += 8;
                i += 8;
                continue;
            }
            end = i + 8;
        } else {
            end = n;
        }
        for (; i < end; i++) {
            unsigned char c = s[i];
            if (escape_table[c] == 0) {
                *p++ = (char)c;
                continue;
            }
            b->len = (size_t)(p - b->data);
            /* the escape, the rest of the string and the closing quote */
            if (enc_reserve(e, 6 + (n - i - 1) + 1) < 0)
                return -1;
            p = put_escape(b->data + b->len, c);
        }
    }
    *p++ = '"';
    b->len = (size_t)(p - b->data);
    return 0;
}

/* Writes code point c as UTF-8 or as an escape; at most 6 bytes.  Lone
 * surrogates, which UTF-8 cannot carry, become \udXXX escapes. */
static inline char *put_code_point(char *p, Py_UCS4 c)
{
    if (c < 0x80) {
        if (escape_table[c])
            return put_escape(p, (unsigned char)c);
        *p++ = (char)c;
    } else if (c < 0x800) {
        *p++ = (char)(0xC0 | (c >> 6));
        *p++ = (char)(0x80 | (c & 0x3F));
    } else if (c >= 0xD800 && c <= 0xDFFF) {
        *p++ = '\\';
        *p++ = 'u';
        *p++ = hex_digits[(c >> 12) & 15];
        *p++ = hex_digits[(c >> 8) & 15];
        *p++ = hex_digits[(c >> 4) & 15];
        *p++ = hex_digits[c & 15];
    } else if (c < 0x10000) {
        *p++ = (char)(0xE0 | (c >> 12));
        *p++ = (char)(0x80 | ((c >> 6) & 0x3F));
        *p++ = (char)(0x80 | (c & 0x3F));
    } else {
        *p++ = (char)(0xF0 | (c >> 18));
        *p++ = (char)(0x80 | ((c >> 12) & 0x3F));
        *p++ = (char)(0x80 | ((c >> 6) & 0x3F));
        *p++ = (char)(0x80 | (c & 0x3F));
    }
    return p;
}

/* A non-ASCII string of the given kind (a constant at each call, so the
 * compiler makes one loop per kind). */
static inline int enc_wide(fa_json_enc *e, int kind, const void *data, Py_ssize_t n)
{
    if (enc_char(e, '"') < 0)
        return -1;
    Py_ssize_t i = 0;
    while (i < n) {
        Py_ssize_t end = n - i > FA_JSON_STR_CHUNK ? i + FA_JSON_STR_CHUNK : n;
        if (enc_reserve(e, (size_t)(end - i) * 6) < 0)
            return -1;
        char *p = e->out->data + e->out->len;
        for (; i < end; i++)
            p = put_code_point(p, PyUnicode_READ(kind, data, i));
        e->out->len = (size_t)(p - e->out->data);
    }
    return enc_char(e, '"');
}

static inline int enc_str(fa_json_enc *e, PyObject *s)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    const void *data = PyUnicode_DATA(s);
    if (PyUnicode_IS_ASCII(s))
        return enc_ascii(e, (const unsigned char *)data, (size_t)n);
    switch (PyUnicode_KIND(s)) {
    case PyUnicode_1BYTE_KIND:
        return enc_wide(e, PyUnicode_1BYTE_KIND, data, n);
    case PyUnicode_2BYTE_KIND:
        return enc_wide(e, PyUnicode_2BYTE_KIND, data, n);
    default:
        return enc_wide(e, PyUnicode_4BYTE_KIND, data, n);
    }
}

/* ------------------------------------------------------------------ */
/* numbers                                                             */

static const char digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* Writes the decimal digits of v; at most 20 bytes. */
static char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    char *t = tmp + sizeof tmp;
    while (v >= 100) {
        unsigned d = (unsigned)(v % 100) * 2;
        v /= 100;
        *--t = digit_pairs[d + 1];
        *--t = digit_pairs[d];
    }
    if (v >= 10) {
        *--t = digit_pairs[v * 2 + 1];
        *--t = digit_pairs[v * 2];
    } else {
        *--t = (char)('0' + v);
    }
    size_t len = (size_t)(tmp + sizeof tmp - t);
    memcpy(p, t, len);
    return p + len;
}

static int enc_i64(fa_json_enc *e, long long x)
{
    if (enc_reserve(e, 21) < 0)
        return -1;
    char *p = e->out->data + e->out->len;
    uint64_t u = (uint64_t)x;
    if (x < 0) {
        *p++ = '-';
        u = 0 - u;
    }
    p = put_u64(p, u);
    e->out->len = (size_t)(p - e->out->data);
    return 0;
}

/* Text of a str known to be ASCII (an int's or a float's repr). */
static int enc_ascii_text(fa_json_enc *e, PyObject *s)
{
    Py_ssize_t n;
    const char *p = PyUnicode_AsUTF8AndSize(s, &n);
    if (p == NULL)
        return -1;
    return enc_raw(e, p, (size_t)n);
}

/* An int, or an int subclass as int.__repr__ writes it (json does not call
 * a subclass's __repr__, so IntEnum members come out as numbers). */
static int enc_long(fa_json_enc *e, PyObject *v)
{
    if (PyUnstable_Long_IsCompact((PyLongObject *)v))
        return enc_i64(e, (long long)PyUnstable_Long_CompactValue((PyLongObject *)v));
    int overflow;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (!overflow) {
        if (x == -1 && PyErr_Occurred())
            return -1;
        return enc_i64(e, x);
    }
    PyObject *r = PyLong_Type.tp_repr(v); /* may refuse: int_max_str_digits */
    if (r == NULL)
        return -1;
    int rc = enc_ascii_text(e, r);
    Py_DECREF(r);
    return rc;
}

static const double powers_of_ten[16] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
};

/* The repr of a non-integral x with 1e-4 <= |x| < 1e16 when it has at most
 * 15 significant digits (prices, measurements): 0 when written, 1 when the
 * caller must use the general path.
 *
 * Why it is exact: repr is the shortest decimal that reads back as x, in
 * fixed notation in this range.  For k = 1, 2, ... fractional digits, m is
 * x * 10^k rounded; m / 10^k is one correctly rounded IEEE division of two
 * exact doubles (m < 10^15 < 2^53), so it equals x exactly when the decimal
 * m * 10^-k reads back as x.  The first k that works gives the fewest
 * digits, and with at most 15 significant digits (DBL_DIG) no other decimal
 * of that length reads back as x, so it is the one repr picks.  The rounding
 * of x * 10^k errs by far less than 0.5 for m < 10^15, so the right m is
 * never missed. */
static int enc_float_short(fa_json_enc *e, double x)
{
    double a = fabs(x);
    if (!(a >= 1e-4 && a < 1e15))
        return 1;
    for (int k = 1; k < 16; k++) {
        double scaled = a * powers_of_ten[k];
        if (scaled >= 1e15)
            return 1;
        double m = nearbyint(scaled);
        if (m / powers_of_ten[k] != a)
            continue;
        uint64_t mi = (uint64_t)m;
        uint64_t scale = (uint64_t)powers_of_ten[k];
        uint64_t ip = mi / scale, frac = mi % scale;
        if (enc_reserve(e, 40) < 0)
            return -1;
        char *p = e->out->data + e->out->len;
        if (x < 0)
            *p++ = '-';
        p = put_u64(p, ip);
        *p++ = '.';
        char digits[16];
        for (int i = k - 1; i >= 0; i--) { /* k digits, leading zeros kept */
            digits[i] = (char)('0' + frac % 10);
            frac /= 10;
        }
        memcpy(p, digits, (size_t)k);
        p += k;
        e->out->len = (size_t)(p - e->out->data);
        return 0;
    }
    return 1;
}

/* A float as float.__repr__ writes it: the shortest repr that round-trips. */
static int enc_float(fa_json_enc *e, PyObject *v)
{
    double x = PyFloat_AS_DOUBLE(v);
    if (!isfinite(x)) {
        PyErr_Format(PyExc_ValueError, "Out of range float values are not JSON compliant: %R", v);
        return -1;
    }
    /* Integral values below 1e16 print as the integer and ".0" (repr uses
     * exponent notation from 1e16 on); -0.0 takes the general path. */
    if (fabs(x) < 1e16 && x == floor(x) && !(x == 0.0 && signbit(x))) {
        if (enc_i64(e, (long long)x) < 0 || enc_reserve(e, 2) < 0)
            return -1;
        memcpy(e->out->data + e->out->len, ".0", 2);
        e->out->len += 2;
        return 0;
    }
    int rc = enc_float_short(e, x);
    if (rc <= 0)
        return rc;
    char *s = PyOS_double_to_string(x, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (s == NULL)
        return -1;
    rc = enc_raw(e, s, strlen(s));
    PyMem_Free(s);
    return rc;
}

/* ------------------------------------------------------------------ */
/* containers                                                          */

/* Opens a nesting level for obj.  Pair with frame_leave() on success. */
static int frame_enter(fa_json_frame *f, PyObject *obj, const fa_json_frame *up)
{
    f->obj = obj;
    f->up = up;
    f->depth = up != NULL ? up->depth + 1 : 1;
    if (f->depth > FA_JSON_CYCLE_DEPTH) {
        for (const fa_json_frame *a = up; a != NULL; a = a->up) {
            if (a->obj == obj) {
                PyErr_SetString(PyExc_ValueError, "Circular reference detected");
                return -1;
            }
        }
    }
    return Py_EnterRecursiveCall(" while encoding a JSON object") ? -1 : 0;
}

static inline void frame_leave(void) { Py_LeaveRecursiveCall(); }

/* A dict key, converted as json does: str as is; True, False, None, int
 * and float as the JSON text of the value, in quotes. */
static int enc_key(fa_json_enc *e, PyObject *key)
{
    if (PyUnicode_Check(key))
        return enc_str(e, key);
    if (key == Py_True)
        return enc_raw(e, "\"true\"", 6);
    if (key == Py_False)
        return enc_raw(e, "\"false\"", 7);
    if (key == Py_None)
        return enc_raw(e, "\"null\"", 6);
    if (PyLong_Check(key)) {
        if (enc_char(e, '"') < 0 || enc_long(e, key) < 0)
            return -1;
        return enc_char(e, '"');
    }
    if (PyFloat_Check(key)) {
        if (enc_char(e, '"') < 0 || enc_float(e, key) < 0)
            return -1;
        return enc_char(e, '"');
    }
    PyErr_Format(PyExc_TypeError, "keys must be str, int, float, bool or None, not %.100s",
                 Py_TYPE(key)->tp_name);
    return -1;
}

static int enc_member(fa_json_enc *e, int first, PyObject *key, PyObject *value,
                      const fa_json_frame *f)
{
    if (!first && enc_char(e, ',') < 0)
        return -1;
    if (enc_key(e, key) < 0 || enc_char(e, ':') < 0)
        return -1;
    return enc_obj(e, value, f);
}

/* A dict.  An exact dict is walked in place (key and value held while they
 * are encoded, since `default` may change the dict); a subclass through its
 * items(), as json does, so an OrderedDict keeps its own order. */
static int enc_dict(fa_json_enc *e, PyObject *d, const fa_json_frame *up)
{
    if (PyDict_GET_SIZE(d) == 0)
        return enc_raw(e, "{}", 2);
    fa_json_frame f;
    if (frame_enter(&f, d, up) < 0)
        return -1;
    int rc = enc_char(e, '{');
    if (rc == 0 && PyDict_CheckExact(d)) {
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        int first = 1;
        while (rc == 0 && PyDict_Next(d, &pos, &k, &v)) {
            Py_INCREF(k);
            Py_INCREF(v);
            rc = enc_member(e, first, k, v, &f);
            Py_DECREF(k);
            Py_DECREF(v);
            first = 0;
        }
    } else if (rc == 0) {
        PyObject *items = PyMapping_Items(d);
        if (items == NULL)
            rc = -1;
        for (Py_ssize_t i = 0; rc == 0 && i < PyList_GET_SIZE(items); i++) {
            PyObject *item = PyList_GET_ITEM(items, i);
            if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
                PyErr_SetString(PyExc_ValueError, "items must return 2-tuples");
                rc = -1;
                break;
            }
            rc = enc_member(e, i == 0, PyTuple_GET_ITEM(item, 0), PyTuple_GET_ITEM(item, 1), &f);
        }
        Py_XDECREF(items);
    }
    if (rc == 0)
        rc = enc_char(e, '}');
    frame_leave();
    return rc;
}

/* A list or tuple (exact: subclasses are first copied with list()).  The
 * length is read again at each item and the item held while it is encoded,
 * since `default` may change the list.  `ident` is the object the frame
 * stands for (the original, when seq is a copy). */
static int enc_seq(fa_json_enc *e, PyObject *seq, PyObject *ident, const fa_json_frame *up)
{
    int is_list = PyList_CheckExact(seq);
    if ((is_list ? PyList_GET_SIZE(seq) : PyTuple_GET_SIZE(seq)) == 0)
        return enc_raw(e, "[]", 2);
    fa_json_frame f;
    if (frame_enter(&f, ident, up) < 0)
        return -1;
    int rc = enc_char(e, '[');
    for (Py_ssize_t i = 0; rc == 0; i++) {
        PyObject *item;
        if (is_list) {
            if (i >= PyList_GET_SIZE(seq))
                break;
            item = PyList_GET_ITEM(seq, i);
        } else {
            if (i >= PyTuple_GET_SIZE(seq))
                break;
            item = PyTuple_GET_ITEM(seq, i);
        }
        if (i > 0 && enc_char(e, ',') < 0) {
            rc = -1;
            break;
        }
        Py_INCREF(item);
        rc = enc_obj(e, item, &f);
        Py_DECREF(item);
    }
    if (rc == 0)
        rc = enc_char(e, ']');
    frame_leave();
    return rc;
}

/* Encodes `repl` (a new reference, or NULL after an error) in place of obj:
 * the result of default(), isoformat(), an Enum's value. */
static int enc_replacement(fa_json_enc *e, PyObject *obj, PyObject *repl, const fa_json_frame *up)
{
    if (repl == NULL)
        return -1;
    fa_json_frame f;
    int rc = frame_enter(&f, obj, up);
    if (rc == 0) {
        rc = enc_obj(e, repl, &f);
        frame_leave();
    }
    Py_DECREF(repl);
    return rc;
}

/* ------------------------------------------------------------------ */
/* library types                                                       */

/* obj.name, or *out = NULL when it has none.  1, 0 or -1 with an error. */
static int get_optional_attr(PyObject *obj, PyObject *name, PyObject **out)
{
#if PY_VERSION_HEX >= 0x030D0000
    return PyObject_GetOptionalAttr(obj, name, out);
#else
    *out = PyObject_GetAttr(obj, name);
    if (*out != NULL)
        return 1;
    if (!PyErr_ExceptionMatches(PyExc_AttributeError))
        return -1;
    PyErr_Clear();
    return 0;
#endif
}

/* *slot = sys.modules[module].attr when the module is imported and slot is
 * still empty.  0 (slot may stay NULL), or -1 with an error. */
static int find_in_sys_modules(const char *module, const char *attr, PyObject **slot)
{
    if (*slot != NULL)
        return 0;
    PyObject *name = PyUnicode_InternFromString(module);
    if (name == NULL)
        return -1;
    PyObject *m = PyImport_GetModule(name);
    Py_DECREF(name);
    if (m == NULL)
        return PyErr_Occurred() ? -1 : 0;
    PyObject *a = PyObject_GetAttrString(m, attr);
    Py_DECREF(m);
    if (a == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError))
            return -1;
        PyErr_Clear();
        return 0;
    }
    if (!PyType_Check(a)) {
        Py_DECREF(a);
        return 0;
    }
    *slot = a;
    return 0;
}

/* Fills the cache's type slots whose modules have been imported since. */
static int find_types(fa_json_cache *c)
{
    if (c->all_found)
        return 0;
    if (find_in_sys_modules("datetime", "date", &c->date_type) < 0
        || find_in_sys_modules("datetime", "time", &c->time_type) < 0
        || find_in_sys_modules("uuid", "UUID", &c->uuid_type) < 0
        || find_in_sys_modules("enum", "Enum", &c->enum_type) < 0
        || find_in_sys_modules("decimal", "Decimal", &c->decimal_type) < 0)
        return -1;
    c->all_found = c->date_type && c->time_type && c->uuid_type && c->enum_type
                   && c->decimal_type;
    return 0;
}

static inline int is_instance(PyObject *obj, PyObject *type)
{
    return type != NULL && PyObject_TypeCheck(obj, (PyTypeObject *)type);
}

/* An exact uuid.UUID from its `int`, as str() formats it (8-4-4-4-12 hex).
 * Returns 1 when written, 0 to fall back to str(), -1 on error. */
static int enc_uuid_fast(fa_json_enc *e, PyObject *obj)
{
#if PY_VERSION_HEX >= 0x030D0000
    PyObject *v = PyObject_GetAttr(obj, e->cache->s_int);
    if (v == NULL)
        return -1;
    if (!PyLong_Check(v)) {
        Py_DECREF(v);
        return 0;
    }
    unsigned char u[16];
    Py_ssize_t need = PyLong_AsNativeBytes(v, u, sizeof u,
                                           Py_ASNATIVEBYTES_BIG_ENDIAN
                                               | Py_ASNATIVEBYTES_UNSIGNED_BUFFER
                                               | Py_ASNATIVEBYTES_REJECT_NEGATIVE);
    Py_DECREF(v);
    if (need < 0) {
        PyErr_Clear();
        return 0;
    }
    if (need > (Py_ssize_t)sizeof u)
        return 0;
    if (enc_reserve(e, 38) < 0)
        return -1;
    char *p = e->out->data + e->out->len;
    *p++ = '"';
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex_digits[u[i] >> 4];
        *p++ = hex_digits[u[i] & 15];
    }
    *p++ = '"';
    e->out->len = (size_t)(p - e->out->data);
    return 1;
#else
    (void)e;
    (void)obj;
    return 0;
#endif
}

/* A Decimal the way fasterapi.encoders converts it: int when its exponent
 * is >= 0, else float; NaN and infinities are refused like float ones. */
static PyObject *decimal_to_number(fa_json_enc *e, PyObject *obj)
{
    PyObject *t = PyObject_CallMethodNoArgs(obj, e->cache->s_as_tuple);
    if (t == NULL)
        return NULL;
    PyObject *exp = PyObject_GetAttr(t, e->cache->s_exponent);
    Py_DECREF(t);
    if (exp == NULL)
        return NULL;
    if (!PyLong_Check(exp)) { /* 'n', 'N', 'F': NaN, sNaN, Infinity */
        Py_DECREF(exp);
        PyErr_Format(PyExc_ValueError, "Out of range float values are not JSON compliant: %R", obj);
        return NULL;
    }
    int overflow;
    long x = PyLong_AsLongAndOverflow(exp, &overflow);
    Py_DECREF(exp);
    if (x == -1 && !overflow && PyErr_Occurred())
        return NULL;
    int nonnegative = overflow ? overflow > 0 : x >= 0;
    return nonnegative ? PyNumber_Long(obj) : PyNumber_Float(obj);
}

/* The dataclasses._FIELD marker (which fields() keeps; ClassVar and InitVar
 * pseudo-fields have others), or NULL with an error. */
static PyObject *dataclass_field_marker(fa_json_cache *c)
{
    if (c->dc_field_marker == NULL) {
        PyObject *m = PyImport_ImportModule("dataclasses");
        if (m == NULL)
            return NULL;
        c->dc_field_marker = PyObject_GetAttrString(m, "_FIELD");
        Py_DECREF(m);
    }
    return c->dc_field_marker;
}

/* A dataclass instance as an object of its fields, in definition order.
 * `fields` is type(obj).__dataclass_fields__ (borrowed). */
static int enc_dataclass(fa_json_enc *e, PyObject *obj, PyObject *fields, const fa_json_frame *up)
{
    PyObject *marker = dataclass_field_marker(e->cache);
    if (marker == NULL)
        return -1;
    fa_json_frame f;
    if (frame_enter(&f, obj, up) < 0)
        return -1;
    int rc = enc_char(e, '{');
    Py_ssize_t pos = 0;
    PyObject *name, *field;
    int first = 1;
    while (rc == 0 && PyDict_Next(fields, &pos, &name, &field)) {
        Py_INCREF(name);
        Py_INCREF(field);
        PyObject *kind = PyObject_GetAttr(field, e->cache->s_field_type);
        if (kind == NULL) {
            rc = -1;
        } else if (kind == marker) {
            PyObject *value = PyObject_GetAttr(obj, name);
            if (value == NULL) {
                rc = -1;
            } else {
                rc = enc_member(e, first, name, value, &f);
                Py_DECREF(value);
                first = 0;
            }
        }
        Py_XDECREF(kind);
        Py_DECREF(name);
        Py_DECREF(field);
    }
    if (rc == 0)
        rc = enc_char(e, '}');
    frame_leave();
    return rc;
}

/* Everything but the exact builtin types: subclasses of them (in json's
 * order), the library types of encoder.h, then `default`. */
static int enc_other(fa_json_enc *e, PyObject *obj, const fa_json_frame *up)
{
    if (PyUnicode_Check(obj))
        return enc_str(e, obj);
    if (PyLong_Check(obj))
        return enc_long(e, obj);
    if (PyFloat_Check(obj))
        return enc_float(e, obj);
    if (PyList_Check(obj) || PyTuple_Check(obj)) {
        PyObject *copy = PySequence_List(obj); /* honours an overridden __iter__ */
        if (copy == NULL)
            return -1;
        int rc = enc_seq(e, copy, obj, up);
        Py_DECREF(copy);
        return rc;
    }
    if (PyDict_Check(obj))
        return enc_dict(e, obj, up);

    fa_json_cache *c = e->cache;
    if (find_types(c) < 0)
        return -1;
    if (is_instance(obj, c->date_type) || is_instance(obj, c->time_type))
        return enc_replacement(e, obj, PyObject_CallMethodNoArgs(obj, c->s_isoformat), up);
    if (is_instance(obj, c->uuid_type)) {
        if (Py_IS_TYPE(obj, (PyTypeObject *)c->uuid_type)) {
            int rc = enc_uuid_fast(e, obj);
            if (rc != 0)
                return rc < 0 ? -1 : 0;
        }
        return enc_replacement(e, obj, PyObject_Str(obj), up);
    }
    if (is_instance(obj, c->decimal_type))
        return enc_replacement(e, obj, decimal_to_number(e, obj), up);

    PyObject *fields;
    int has = get_optional_attr((PyObject *)Py_TYPE(obj), c->s_dataclass_fields, &fields);
    if (has < 0)
        return -1;
    if (has) {
        int rc = 1;
        if (PyDict_Check(fields) && !PyType_Check(obj))
            rc = enc_dataclass(e, obj, fields, up);
        Py_DECREF(fields);
        if (rc <= 0)
            return rc;
    }
    if (is_instance(obj, c->enum_type))
        return enc_replacement(e, obj, PyObject_GetAttr(obj, c->s_value), up);

    if (e->default_fn != NULL)
        return enc_replacement(e, obj, PyObject_CallOneArg(e->default_fn, obj), up);
    PyObject *type_name = PyType_GetName(Py_TYPE(obj));
    if (type_name != NULL) {
        PyErr_Format(PyExc_TypeError, "Object of type %U is not JSON serializable", type_name);
        Py_DECREF(type_name);
    }
    return -1;
}

static int enc_obj(fa_json_enc *e, PyObject *obj, const fa_json_frame *up)
{
    PyTypeObject *t = Py_TYPE(obj);
    if (t == &PyUnicode_Type)
        return enc_str(e, obj);
    if (t == &PyLong_Type)
        return enc_long(e, obj);
    if (t == &PyDict_Type)
        return enc_dict(e, obj, up);
    if (t == &PyList_Type || t == &PyTuple_Type)
        return enc_seq(e, obj, obj, up);
    if (t == &PyFloat_Type)
        return enc_float(e, obj);
    if (obj == Py_None)
        return enc_raw(e, "null", 4);
    if (obj == Py_True)
        return enc_raw(e, "true", 4);
    if (obj == Py_False)
        return enc_raw(e, "false", 5);
    return enc_other(e, obj, up);
}

/* ------------------------------------------------------------------ */
/* public API                                                          */

int fa_json_cache_init(fa_json_cache *c)
{
    memset(c, 0, sizeof *c);
#define FA_INTERN(field, text)                              \
    if ((c->field = PyUnicode_InternFromString(text)) == NULL) \
        goto error;
    FA_INTERN(s_isoformat, "isoformat")
    FA_INTERN(s_value, "value")
    FA_INTERN(s_int, "int")
    FA_INTERN(s_dataclass_fields, "__dataclass_fields__")
    FA_INTERN(s_field_type, "_field_type")
    FA_INTERN(s_as_tuple, "as_tuple")
    FA_INTERN(s_exponent, "exponent")
#undef FA_INTERN
    return 0;
error:
    fa_json_cache_clear(c);
    return -1;
}

void fa_json_cache_clear(fa_json_cache *c)
{
    Py_CLEAR(c->s_isoformat);
    Py_CLEAR(c->s_value);
    Py_CLEAR(c->s_int);
    Py_CLEAR(c->s_dataclass_fields);
    Py_CLEAR(c->s_field_type);
    Py_CLEAR(c->s_as_tuple);
    Py_CLEAR(c->s_exponent);
    Py_CLEAR(c->date_type);
    Py_CLEAR(c->time_type);
    Py_CLEAR(c->uuid_type);
    Py_CLEAR(c->enum_type);
    Py_CLEAR(c->decimal_type);
    Py_CLEAR(c->dc_field_marker);
    c->all_found = 0;
}

int fa_json_cache_traverse(fa_json_cache *c, visitproc visit, void *arg)
{
    /* the interned names are not GC-tracked: only the types */
    Py_VISIT(c->date_type);
    Py_VISIT(c->time_type);
    Py_VISIT(c->uuid_type);
    Py_VISIT(c->enum_type);
    Py_VISIT(c->decimal_type);
    Py_VISIT(c->dc_field_marker);
    return 0;
}

int fa_json_encode(PyObject *obj, fa_buf *out, PyObject *default_fn, fa_json_cache *cache)
{
    fa_json_cache local;
    if (cache == NULL) {
        if (fa_json_cache_init(&local) < 0)
            return -1;
        cache = &local;
    }
    fa_json_enc e = {
        .out = out,
        .default_fn = default_fn == Py_None ? NULL : default_fn,
        .cache = cache,
    };
    size_t start = out->len;
    int rc = enc_obj(&e, obj, NULL);
    if (rc < 0)
        out->len = start;
    if (cache == &local)
        fa_json_cache_clear(&local);
    return rc;
}
