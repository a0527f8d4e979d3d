/* reader.c - received bytes to WebSocket events (see reader.h). */
#include "reader.h"

#include <string.h>

void fa_ws_reader_init(fa_ws_reader *r, uint64_t max_message, uint64_t max_frame)
{
    memset(r, 0, sizeof(*r));
    fa_ws_parser_init(&r->p, 1, max_message, max_frame);
    r->max_message = max_message;
}

void fa_ws_reader_set_deflate(fa_ws_reader *r, fa_ws_deflate *z)
{
    r->z = z;
    r->p.allow_rsv1 = z != NULL;
}

void fa_ws_reader_free(fa_ws_reader *r) { fa_buf_free(&r->msg); }

static int fa_ws_reader_fail(fa_ws_event *ev, unsigned code, const char *why)
{
    ev->close_code = code;
    ev->why = why;
    ev->data = NULL;
    ev->len = 0;
    return FA_WS_EV_ERROR;
}

static const char *fa_ws_reader_why(unsigned code)
{
    switch (code) {
    case FA_WS_CLOSE_TOO_BIG:
        return "message too big";
    case FA_WS_CLOSE_INVALID_DATA:
        return "invalid UTF-8";
    default:
        return "protocol error";
    }
}

/* Payload bytes of a data frame that is assembled (not delivered in place).
 * Returns 0, or FA_WS_EV_ERROR with ev filled. */
static int fa_ws_reader_take(fa_ws_reader *r, const uint8_t *d, size_t n, int fin, fa_ws_event *ev)
{
    if (r->drop_data)
        return 0;
    if (!r->msg_z) {
        if (n && fa_buf_append(&r->msg, d, n) < 0)
            return fa_ws_reader_fail(ev, FA_WS_CLOSE_INTERNAL, "out of memory");
        return 0;
    }
    size_t before = r->msg.len;
    size_t limit = r->max_message ? (size_t)r->max_message : ((size_t)-1) / 4;
    unsigned code = 0;
    int rc = fa_ws_inflate(r->z, d, n, fin, &r->msg, limit, &code);
    if (rc < 0 && code == FA_WS_CLOSE_TOO_BIG && r->msg_op == FA_WS_OP_TEXT) {
        /* the first error in the message's order wins, however the bytes
         * were split: bad UTF-8 within the limit comes before "too big" */
        size_t end = r->msg.len < limit ? r->msg.len : limit;
        if (end > before && fa_ws_utf8_feed(&r->msg_utf8, (const uint8_t *)r->msg.data + before,
                                            end - before) != 0)
            code = FA_WS_CLOSE_INVALID_DATA;
    }
    if (rc < 0)
        return fa_ws_reader_fail(ev, code, code == FA_WS_CLOSE_TOO_BIG ? "message too big"
                                          : code == FA_WS_CLOSE_INVALID_DATA ? "invalid data"
                                          : "out of memory");
    if (r->msg_op == FA_WS_OP_TEXT &&
        fa_ws_utf8_feed(&r->msg_utf8, (const uint8_t *)r->msg.data + before, r->msg.len - before) != 0)
        return fa_ws_reader_fail(ev, FA_WS_CLOSE_INVALID_DATA, "invalid UTF-8");
    return 0;
}

int fa_ws_reader_next(fa_ws_reader *r, uint8_t *buf, size_t len, size_t *pos_io, fa_ws_event *ev)
{
    fa_ws_parser *p = &r->p;
    size_t pos = *pos_io;
    int kind = FA_WS_EV_NONE;
    memset(ev, 0, sizeof(*ev));
    for (;;) {
        if (!r->in_frame) {
            if (pos == len)
                break;
            int n = fa_ws_parse_head(p, buf + pos, len - pos);
            if (n == FA_WS_INCOMPLETE)
                break;
            if (n < 0) {
                kind = fa_ws_reader_fail(ev, p->close_code, fa_ws_reader_why(p->close_code));
                break;
            }
            pos += (size_t)n;
            r->in_frame = 1;
            r->ctl_len = 0;
            if (p->opcode == FA_WS_OP_TEXT || p->opcode == FA_WS_OP_BINARY) {
                r->msg_op = p->opcode;
                r->msg_z = p->rsv1;
                r->msg_utf8 = 0;
                fa_buf_reset(&r->msg);
                fa_buf_shrink(&r->msg, 64u << 10);
                /* the common case: one uncompressed frame, all here, is
                 * delivered straight from the caller's buffer */
                if (p->fin && !p->rsv1 && len - pos >= p->length) {
                    size_t n2 = (size_t)p->length;
                    uint8_t *d = buf + pos;
                    r->in_frame = 0;
                    pos += n2;
                    if (fa_ws_payload(p, d, n2) < 0 || fa_ws_frame_done(p) < 0) {
                        kind = fa_ws_reader_fail(ev, p->close_code, fa_ws_reader_why(p->close_code));
                        break;
                    }
                    if (r->drop_data)
                        continue;
                    ev->opcode = r->msg_op;
                    ev->data = d;
                    ev->len = n2;
                    kind = FA_WS_EV_MESSAGE;
                    break;
                }
            }
        }
        size_t take = p->remaining < len - pos ? (size_t)p->remaining : len - pos;
        if (take > 0) {
            uint8_t *d = buf + pos;
            pos += take;
            if (fa_ws_payload(p, d, take) < 0) {
                kind = fa_ws_reader_fail(ev, p->close_code, fa_ws_reader_why(p->close_code));
                break;
            }
            if (fa_ws_is_control(p->opcode)) {
                memcpy(r->ctl + r->ctl_len, d, take); /* the parser bounds it by 125 */
                r->ctl_len += take;
            } else if ((kind = fa_ws_reader_take(r, d, take, 0, ev)) != 0) {
                break;
            }
        }
        if (p->remaining > 0)
            break; /* the rest of the payload has not arrived */
        r->in_frame = 0;
        int done = fa_ws_frame_done(p);
        if (done < 0) {
            kind = fa_ws_reader_fail(ev, p->close_code, fa_ws_reader_why(p->close_code));
            break;
        }
        if (fa_ws_is_control(p->opcode)) {
            ev->opcode = p->opcode;
            ev->data = r->ctl;
            ev->len = r->ctl_len;
            kind = FA_WS_EV_CONTROL;
            break;
        }
        if (done == 1 && !r->drop_data) {
            if (r->msg_z && (kind = fa_ws_reader_take(r, NULL, 0, 1, ev)) != 0)
                break;
            if (r->msg_z && r->msg_op == FA_WS_OP_TEXT && r->msg_utf8 != 0) {
                kind = fa_ws_reader_fail(ev, FA_WS_CLOSE_INVALID_DATA, "invalid UTF-8");
                break;
            }
            ev->opcode = r->msg_op;
            ev->data = (const uint8_t *)r->msg.data;
            ev->len = r->msg.len;
            kind = FA_WS_EV_MESSAGE;
            break;
        }
    }
    *pos_io = pos;
    return kind;
}
