/* encoder.h - Python objects to compact UTF-8 JSON, for own-GIL interpreters.
 *
 * The output is byte for byte what
 *     json.dumps(obj, ensure_ascii=False, allow_nan=False,
 *                separators=(",", ":")).encode()
 * gives, plus native support for a few types json leaves to `default`:
 *
 *   dataclass instance     object of its fields, in order (dataclasses.fields)
 *   datetime, date, time   string, isoformat()
 *   uuid.UUID              string, str()
 *   enum.Enum member       its value, encoded
 *   decimal.Decimal        number: int when its exponent is >= 0, else float
 *                          (fasterapi.encoders' and FastAPI's rule); NaN and
 *                          infinities raise ValueError
 *
 * Dict keys are converted as json converts them (str; int, float, True,
 * False, None as their JSON text in quotes); any other key raises TypeError
 * and, as in json, is not passed to `default`.
 *
 * Where json.dumps(...).encode() cannot produce bytes, this encoder does not
 * fail: a lone surrogate in a str (which UTF-8 cannot carry) is written as a
 * \udXXX escape, which is valid JSON that json.loads reads back as the same
 * str.
 *
 * The encoder keeps no process-wide mutable state, so it runs in any
 * interpreter, own-GIL ones included.  What it caches (type objects found in
 * sys.modules, interned attribute names) lives in a fa_json_cache owned by
 * the caller: one per interpreter, typically in a module's state.  Type
 * objects are taken from sys.modules when first needed, never imported: an
 * instance of uuid.UUID cannot exist before uuid is imported.
 */
#ifndef FA_JSON_ENCODER_H
#define FA_JSON_ENCODER_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "../common/buf.h"

/* Per-interpreter cache of the encoder.  Zero it, then fa_json_cache_init();
 * report its references from the owner's tp_traverse/m_traverse with
 * fa_json_cache_traverse() and release them with fa_json_cache_clear().
 * Never share one between interpreters. */
typedef struct fa_json_cache {
    /* interned attribute names */
    PyObject *s_isoformat;
    PyObject *s_value;
    PyObject *s_int;
    PyObject *s_dataclass_fields; /* "__dataclass_fields__" */
    PyObject *s_field_type;       /* "_field_type" */
    PyObject *s_as_tuple;
    PyObject *s_exponent;
    /* type objects (and dataclasses._FIELD), NULL until found in sys.modules */
    PyObject *date_type;
    PyObject *time_type;
    PyObject *uuid_type;
    PyObject *enum_type;
    PyObject *decimal_type;
    PyObject *dc_field_marker;
    int all_found; /* every type above is set: sys.modules is not read again */
} fa_json_cache;

/* Creates the interned names.  Returns 0, or -1 with an exception set. */
int fa_json_cache_init(fa_json_cache *cache);
/* Drops every reference; the cache may be initialised again. */
void fa_json_cache_clear(fa_json_cache *cache);
/* Visits every reference (for tp_traverse / m_traverse). */
int fa_json_cache_traverse(fa_json_cache *cache, visitproc visit, void *arg);

/* Appends the JSON text of `obj` to `out`.
 *
 * `default_fn` (NULL or None: none) is called with each value the encoder
 * does not know and its result is encoded in its place, as json's `default`;
 * without it such a value raises TypeError.  `cache` may be NULL: types are
 * then looked up on every call (slower; for one-off use).
 *
 * Must be called with the interpreter attached (GIL held).  Returns 0, or -1
 * with a Python exception set and `out` back at its length before the call:
 *   TypeError      a value or dict key of an unsupported type;
 *   ValueError     NaN or infinity, a circular reference ("Circular
 *                  reference detected"), an int past sys.get_int_max_str_digits;
 *   RecursionError nesting deeper than the interpreter's C recursion limit;
 *   MemoryError    `out` could not grow;
 *   anything `default_fn`, isoformat(), an Enum's value or a dataclass
 *   field's getattr raises. */
int fa_json_encode(PyObject *obj, fa_buf *out, PyObject *default_fn, fa_json_cache *cache);

#endif
