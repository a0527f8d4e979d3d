/* frame.h - the RFC 6455 frame codec: no I/O, no allocation.
 *
 * The parser follows the picohttpparser contract: the caller owns the bytes,
 * hands in what it has, and gets back how much was consumed, "need more"
 * (FA_WS_INCOMPLETE) or an error (FA_WS_ERROR, with the close code RFC 6455
 * names in `close_code`).  It keeps the state that spans frames (the open
 * fragmented message, its size, the UTF-8 decoder) so that a control frame
 * may arrive between two fragments, and a frame's payload may arrive in any
 * number of pieces.
 *
 * Use:
 *     n = fa_ws_parse_head(&p, buf, len);        // FA_WS_INCOMPLETE: read more
 *     ... consume n bytes, then while p.remaining > 0:
 *     fa_ws_payload(&p, data, k);                // unmasks in place, checks UTF-8
 *     ... when p.remaining == 0:
 *     r = fa_ws_frame_done(&p);                  // 1: a message is complete
 */
#ifndef FA_WS_FRAME_H
#define FA_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>

enum {
    FA_WS_OP_CONT = 0x0,
    FA_WS_OP_TEXT = 0x1,
    FA_WS_OP_BINARY = 0x2,
    FA_WS_OP_CLOSE = 0x8,
    FA_WS_OP_PING = 0x9,
    FA_WS_OP_PONG = 0xA,
};

/* Close codes (RFC 6455 section 7.4.1). */
enum {
    FA_WS_CLOSE_NORMAL = 1000,
    FA_WS_CLOSE_GOING_AWAY = 1001,
    FA_WS_CLOSE_PROTOCOL = 1002,
    FA_WS_CLOSE_UNSUPPORTED = 1003,
    FA_WS_CLOSE_NO_STATUS = 1005,   /* never on the wire */
    FA_WS_CLOSE_ABNORMAL = 1006,    /* never on the wire */
    FA_WS_CLOSE_INVALID_DATA = 1007,
    FA_WS_CLOSE_POLICY = 1008,
    FA_WS_CLOSE_TOO_BIG = 1009,
    FA_WS_CLOSE_EXTENSION = 1010,
    FA_WS_CLOSE_INTERNAL = 1011,
};

#define FA_WS_INCOMPLETE (-2)
#define FA_WS_ERROR (-1)

/* Largest frame head: 2 bytes, 8 of extended length, 4 of mask. */
#define FA_WS_MAX_HEAD 14
/* Control frames carry at most 125 bytes (section 5.5). */
#define FA_WS_MAX_CONTROL 125

typedef struct fa_ws_parser {
    /* configuration, set before the first frame */
    uint64_t max_message;  /* bytes of one message's payload on the wire; 0: no limit */
    uint64_t max_frame;    /* bytes of one frame's payload; 0: no limit */
    unsigned require_mask : 1; /* a server: every frame must be masked */
    unsigned allow_rsv1 : 1;   /* permessage-deflate was negotiated */

    /* the current frame (valid after fa_ws_parse_head returned > 0) */
    uint8_t opcode;     /* of this frame (FA_WS_OP_CONT for a continuation) */
    uint8_t fin;
    uint8_t rsv1;       /* this frame's RSV1 (set only on a message's first frame) */
    uint8_t masked;
    uint8_t mask[4];
    uint64_t length;    /* payload length */
    uint64_t remaining; /* payload bytes not yet passed to fa_ws_payload */

    /* the message the data frames belong to */
    uint8_t msg_opcode;     /* FA_WS_OP_TEXT/BINARY while one is open, else 0 */
    uint8_t msg_compressed; /* its first frame had RSV1 */
    uint64_t msg_length;    /* payload bytes of the message so far (heads seen) */
    uint32_t utf8;          /* decoder state across fragments (fa_ws_utf8_feed) */

    uint16_t close_code; /* after FA_WS_ERROR: the code to close with */
} fa_ws_parser;

/* Sets up a parser with the given limits (0: none). */
void fa_ws_parser_init(fa_ws_parser *p, int server, uint64_t max_message, uint64_t max_frame);

/* Parses one frame head from buf[0..len).  Returns the head's length (2..14)
 * and fills the frame fields, FA_WS_INCOMPLETE when more bytes are needed
 * (nothing changed), or FA_WS_ERROR with p->close_code set (1002 protocol
 * error, 1009 over a limit).  Must not be called while p->remaining > 0. */
int fa_ws_parse_head(fa_ws_parser *p, const uint8_t *buf, size_t len);

/* Takes the next `len` payload bytes of the current frame (len <=
 * p->remaining): unmasks them in place and, for an uncompressed text
 * message, checks UTF-8 as far as it goes (fails at the first bad byte, also
 * across fragments).  Returns 0, or FA_WS_ERROR with close_code 1007. */
int fa_ws_payload(fa_ws_parser *p, uint8_t *data, size_t len);

/* Ends the current frame once its payload is all taken.  Returns 1 when the
 * frame ended a data message (the caller delivers it; for text the UTF-8 is
 * complete), 0 otherwise (a control frame or a middle fragment), or
 * FA_WS_ERROR (1007: a text message ended inside a UTF-8 sequence). */
int fa_ws_frame_done(fa_ws_parser *p);

/* True for control opcodes (close, ping, pong). */
static inline int fa_ws_is_control(uint8_t opcode) { return (opcode & 0x8) != 0; }

/* XORs data with the mask, `offset` bytes into the payload. */
void fa_ws_unmask(uint8_t *data, size_t len, const uint8_t mask[4], uint64_t offset);

/* Incremental UTF-8 validation.  `state` starts at 0; returns 0 while the
 * bytes are a valid prefix, -1 at the first byte that cannot be (overlongs,
 * surrogates and code points above U+10FFFF included).  The text is complete
 * when the state is back to 0. */
int fa_ws_utf8_feed(uint32_t *state, const uint8_t *s, size_t len);
int fa_ws_utf8_valid(const uint8_t *s, size_t len);

/* Writes a frame head for a payload of `len` bytes into out (at least
 * FA_WS_MAX_HEAD bytes); `mask` NULL for a server's unmasked frame.  Returns
 * the head's length.  (The payload of a masked frame is masked by the
 * caller with fa_ws_unmask.) */
size_t fa_ws_write_head(uint8_t *out, int fin, int rsv1, uint8_t opcode, uint64_t len,
                        const uint8_t *mask);

/* True for a close code an endpoint may send (section 7.4 and the IANA
 * registry): 1000-1003, 1007-1014 and 3000-4999. */
int fa_ws_close_code_valid(unsigned code);

/* Checks a close frame's (unmasked) payload: empty, or a valid code and a
 * UTF-8 reason.  Returns 0 with *code (1005 when empty) and the reason as a
 * slice, or FA_WS_ERROR with *code set to the code to answer (1002 for a
 * bad code or a 1-byte payload, 1007 for a reason that is not UTF-8). */
int fa_ws_parse_close(const uint8_t *payload, size_t len, unsigned *code,
                      const uint8_t **reason, size_t *reason_len);

/* Writes a close payload (code, then as much of the reason as fits in a
 * control frame, cut at a UTF-8 boundary) into out (FA_WS_MAX_CONTROL bytes).
 * Returns its length; code 0 writes an empty payload. */
size_t fa_ws_write_close(uint8_t *out, unsigned code, const char *reason, size_t reason_len);

#endif
