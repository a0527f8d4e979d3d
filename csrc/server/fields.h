/* fields.h - the fields the server adds to every answer.
 *
 * `server: fasterapi` and `date:` (each can be switched off), then the
 * operator's defaults (PyHttp2Server(headers=...), the CLI's --header).  A
 * field the handler set itself replaces ours of the same name, on HTTP/1.1
 * and HTTP/2 alike.  The table lives in fa_config: filled once by the
 * constructor, read-only while the server runs, so workers share it. */
#ifndef FA_FIELDS_H
#define FA_FIELDS_H

#include <stddef.h>
#include <stdint.h>

struct fa_response;

#define FA_FIELDS_MAX 16      /* default fields */
#define FA_FIELDS_BYTES 4096  /* their names and values together */

typedef struct fa_field_ref {
    uint16_t name, name_len, value, value_len; /* offsets into fa_fields.bytes */
} fa_field_ref;

typedef struct fa_fields {
    uint8_t no_server;  /* leave out `server: fasterapi` */
    uint8_t no_date;    /* leave out `date:` */
    uint8_t n;
    fa_field_ref f[FA_FIELDS_MAX];
    uint16_t used;
    char bytes[FA_FIELDS_BYTES]; /* names stored lowercase */
} fa_fields;

/* Bits of fa_fields_replaced(): which of ours the handler's fields replace. */
#define FA_FIELD_SERVER 1u
#define FA_FIELD_DATE 2u
#define FA_FIELD_DEFAULT(i) (4u << (i))

/* Adds a default field.  A `server` or `date` default replaces the
 * built-in one.  Returns 0, or -1 with a message in err: the name is not a
 * token, the value holds CR, LF or NUL, or the table is full. */
int fa_fields_add(fa_fields *ff, const char *name, size_t name_len, const char *value,
                  size_t value_len, char *err, size_t err_size);

/* The fields of ours that the response's own fields replace (names match
 * case-insensitively), as FA_FIELD_* bits. */
uint32_t fa_fields_replaced(const fa_fields *ff, const struct fa_response *r);

static inline const char *fa_field_name(const fa_fields *ff, unsigned i)
{
    return ff->bytes + ff->f[i].name;
}
static inline const char *fa_field_value(const fa_fields *ff, unsigned i)
{
    return ff->bytes + ff->f[i].value;
}

#endif
