/* fields.c - the fields the server adds to every answer (fields.h). */
#include "fields.h"

#include <stdio.h>
#include <string.h>

#include "../common/http.h"

/* RFC 9110 5.6.2: tchar */
static int fa_tchar(unsigned char ch)
{
    if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))
        return 1;
    return ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

int fa_fields_add(fa_fields *ff, const char *name, size_t name_len, const char *value,
                  size_t value_len, char *err, size_t err_size)
{
    if (name_len == 0) {
        snprintf(err, err_size, "a default header needs a name ('Name: value')");
        return -1;
    }
    for (size_t i = 0; i < name_len; i++)
        if (!fa_tchar((unsigned char)name[i])) {
            snprintf(err, err_size, "default header name %.*s: only letters, digits and !#$%%&'*+-.^_`|~",
                     (int)(name_len > 64 ? 64 : name_len), name);
            return -1;
        }
    for (size_t i = 0; i < value_len; i++)
        if (value[i] == '\r' || value[i] == '\n' || value[i] == '\0') {
            snprintf(err, err_size, "default header %.*s: the value must not hold CR, LF or NUL",
                     (int)(name_len > 64 ? 64 : name_len), name);
            return -1;
        }
    if (ff->n >= FA_FIELDS_MAX || name_len + value_len + 2 > (size_t)(FA_FIELDS_BYTES - ff->used)) {
        snprintf(err, err_size, "too many default headers: at most %d, %d bytes together",
                 FA_FIELDS_MAX, FA_FIELDS_BYTES);
        return -1;
    }
    fa_field_ref *f = &ff->f[ff->n++];
    f->name = ff->used;
    f->name_len = (uint16_t)name_len;
    for (size_t i = 0; i < name_len; i++) {
        char ch = name[i];
        ff->bytes[ff->used++] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
    }
    ff->bytes[ff->used++] = '\0';
    f->value = ff->used;
    f->value_len = (uint16_t)value_len;
    memcpy(ff->bytes + ff->used, value, value_len);
    ff->used = (uint16_t)(ff->used + value_len);
    ff->bytes[ff->used++] = '\0';
    if (name_len == 6 && memcmp(fa_field_name(ff, ff->n - 1u), "server", 6) == 0)
        ff->no_server = 1;
    if (name_len == 4 && memcmp(fa_field_name(ff, ff->n - 1u), "date", 4) == 0)
        ff->no_date = 1;
    return 0;
}

uint32_t fa_fields_replaced(const fa_fields *ff, const fa_response *r)
{
    uint32_t bits = 0;
    for (uint32_t i = 0; i < r->num_headers; i++) {
        const char *name = fa_resp_hname(r, i);
        size_t nl = r->headers[i].name_len;
        /* fa_response_add_header() stores names lowercase, as we do */
        if (nl == 6 && memcmp(name, "server", 6) == 0)
            bits |= FA_FIELD_SERVER;
        else if (nl == 4 && memcmp(name, "date", 4) == 0)
            bits |= FA_FIELD_DATE;
        for (unsigned k = 0; k < ff->n; k++)
            if (ff->f[k].name_len == nl && memcmp(fa_field_name(ff, k), name, nl) == 0)
                bits |= FA_FIELD_DEFAULT(k);
    }
    return bits;
}
