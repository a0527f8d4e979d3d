/* parser.h - HTTP/1.1 request parser (RFC 9112).  No I/O, no allocation.
 *
 * Contract (in the spirit of picohttpparser): the caller hands in everything
 * it has read so far; the parser returns how many bytes the request head
 * took, FA_H1_INCOMPLETE when it needs more bytes, or a negative error.
 * Parsed fields are slices into the caller's buffer.
 *
 * The parser is strict: it rejects what RFC 9112 says a server must or may
 * reject (obs-fold, whitespace before a colon, bare CR, NUL and other control
 * bytes in a field, invalid token characters, a bad request line).
 */
#ifndef FA_H1_PARSER_H
#define FA_H1_PARSER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../common/http.h"

/* Return codes.  Each error maps to the status the server answers with. */
enum {
    FA_H1_INCOMPLETE = -2,      /* need more bytes */
    FA_H1_EBAD = -1,            /* malformed: 400 */
    FA_H1_ETOO_LARGE = -3,      /* head larger than the limit / too many fields: 431 */
    FA_H1_EVERSION = -4,        /* HTTP/x.y other than 1.0/1.1: 505 */
    FA_H1_EURI_TOO_LONG = -5,   /* request-target over the limit: 414 */
};

/* The request head.  On input, num_headers is the capacity of `headers`. */
typedef struct fa_h1_request {
    const char *method;
    size_t method_len;
    const char *target; /* request-target as sent */
    size_t target_len;
    int minor_version; /* 0 or 1 (HTTP/1.2-1.9 count as 1) */
    fa_header *headers;
    size_t num_headers;
} fa_h1_request;

/* Parses a request head from buf[0..len).  `max_head` bounds the head size in
 * bytes (if no complete head fits in max_head bytes, FA_H1_ETOO_LARGE);
 * `max_target` bounds the request-target (FA_H1_EURI_TOO_LONG).  More than
 * req->num_headers fields also gives FA_H1_ETOO_LARGE.
 * Leading empty lines (CRLF) before the request line are skipped (RFC 9112
 * section 2.2) and count in the returned length.
 * Returns the head length including the final empty line (> 0),
 * FA_H1_INCOMPLETE, or an error.  Only LF-terminated lines preceded by CR are
 * accepted ("\r\n"); a bare LF or bare CR is an error. */
int fa_h1_parse_request(const char *buf, size_t len, fa_h1_request *req,
                        size_t max_head, size_t max_target);

/* What the head says about the message, after semantic checks. */
typedef struct fa_h1_info {
    int keep_alive;        /* connection persists after this exchange */
    int chunked;           /* body uses chunked transfer coding */
    uint64_t content_length; /* when !chunked: body length (0 if none) */
    int expect_continue;   /* "Expect: 100-continue" */
    int upgrade_h2c;       /* Upgrade: h2c + HTTP2-Settings + Connection tokens */
    const char *http2_settings; /* the HTTP2-Settings value when upgrade_h2c */
    size_t http2_settings_len;
} fa_h1_info;

/* Semantic checks on a parsed head.  Returns 0, or the HTTP status to answer
 * with: 400 for Content-Length together with Transfer-Encoding, differing
 * duplicate Content-Length values, a non-numeric/negative/overflowing
 * Content-Length, a Transfer-Encoding whose final coding is not chunked, a
 * missing or duplicated Host in HTTP/1.1, an invalid Host, a request-target
 * of no form RFC 9112 3.2 allows for the method; 501 for CONNECT; 417 for an Expect other than
 * 100-continue; 501 for a Transfer-Encoding other than chunked. */
int fa_h1_analyze(const fa_h1_request *req, fa_h1_info *info);

/* Incremental, in-place decoder of a chunked body. */
typedef struct fa_h1_chunked {
    uint64_t chunk_left; /* bytes left in the current chunk's data */
    int state;           /* internal */
    size_t hex_digits;   /* internal */
    size_t trailer_bytes;/* internal: bound on trailer section */
} fa_h1_chunked;

static inline void fa_h1_chunked_init(fa_h1_chunked *d)
{
    d->chunk_left = 0;
    d->state = 0;
    d->hex_digits = 0;
    d->trailer_bytes = 0;
}

/* Decodes the new bytes buf[0..*len) in place; pass each byte exactly once
 * (never re-pass bytes already given).  On return the first *len bytes of
 * buf hold the body data decoded from this call (framing removed).
 * Returns FA_H1_INCOMPLETE when the chunked body continues past these bytes;
 * FA_H1_EBAD for a bad chunk size, more than 16 hex digits, a missing CRLF, a
 * bare LF or a trailer section over 8 KiB; or, when the terminating chunk and
 * trailer section ended within these bytes, the count n >= 0 of bytes that
 * follow the body (they belong to the next request and are left untouched at
 * buf + original_len - n).  Chunk extensions and trailer fields are skipped. */
ssize_t fa_h1_decode_chunked(fa_h1_chunked *d, char *buf, size_t *len);

/* For an absolute-form target ("http://" or "https://", any case): the
 * slice of its authority.  Returns 1, or 0 for a target of another form. */
int fa_h1_absolute_authority(const char *t, size_t n, const char **auth, size_t *auth_len);

/* Parses a decimal Content-Length value.  Returns 0 and stores it, or -1. */
int fa_h1_parse_content_length(const char *s, size_t n, uint64_t *out);

#endif
