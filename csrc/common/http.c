/* http.c - request/response helpers shared by HTTP/1.1 and HTTP/2. */
#include "http.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

void fa_response_init(fa_response *r)
{
    r->status = 200;
    r->stream = NULL;
    r->streaming = 0;
    r->file_fd = -1;
    r->file_off = r->file_len = 0;
    r->num_headers = 0;
    r->strs = (fa_buf)FA_BUF_INIT;
    r->body = (fa_buf)FA_BUF_INIT;
}

void fa_response_reset(fa_response *r)
{
    r->status = 200;
    r->stream = NULL; /* whoever took the producer owns it */
    r->streaming = 0;
    if (r->file_fd >= 0)
        close(r->file_fd); /* not taken by a protocol layer */
    r->file_fd = -1;
    r->file_off = r->file_len = 0;
    r->num_headers = 0;
    fa_buf_shrink(&r->strs, 1 << 16);
    fa_buf_reset(&r->strs);
    fa_buf_reset(&r->body);
    fa_buf_shrink(&r->body, 1 << 20);
}

void fa_response_free(fa_response *r)
{
    if (r->file_fd >= 0)
        close(r->file_fd);
    r->file_fd = -1;
    fa_buf_free(&r->strs);
    fa_buf_free(&r->body);
    r->num_headers = 0;
}

int fa_response_add_header(fa_response *r, const char *name, size_t name_len,
                           const char *value, size_t value_len)
{
    if (r->num_headers >= FA_RESP_MAX_HEADERS)
        return -1;
    if (name_len > UINT32_MAX / 2 || value_len > UINT32_MAX / 2 ||
        r->strs.len > UINT32_MAX / 2)
        return -1;
    /* NUL-terminate both so HTTP/1 and logging can treat them as strings. */
    if (fa_buf_reserve(&r->strs, name_len + value_len + 2) < 0)
        return -1;
    fa_resp_header *h = &r->headers[r->num_headers];
    h->name_off = (uint32_t)r->strs.len;
    h->name_len = (uint32_t)name_len;
    char *dst = r->strs.data + r->strs.len;
    for (size_t i = 0; i < name_len; i++) {
        char c = name[i];
        dst[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    dst[name_len] = '\0';
    r->strs.len += name_len + 1;
    h->value_off = (uint32_t)r->strs.len;
    h->value_len = (uint32_t)value_len;
    memcpy(r->strs.data + r->strs.len, value, value_len);
    r->strs.data[r->strs.len + value_len] = '\0';
    r->strs.len += value_len + 1;
    r->num_headers++;
    return 0;
}

int fa_response_simple(fa_response *r, int status, const char *text)
{
    fa_response_reset(r);
    r->status = status;
    static const char ct[] = "text/plain; charset=utf-8";
    if (fa_response_add_header(r, "content-type", 12, ct, sizeof(ct) - 1) < 0)
        return -1;
    if (text != NULL && !fa_http_status_has_no_body(status))
        return fa_buf_appends(&r->body, text);
    return 0;
}

int fa_http_status_has_no_body(int status)
{
    return (status >= 100 && status < 200) || status == 204 || status == 304;
}

const char *fa_http_reason(int status)
{
    /* The IANA registry's phrases (RFC 9110 15, 8297 for 103, 6585, 7725,
     * 4918, 8470), as Python's http.HTTPStatus spells them.  A code it does
     * not name gets an empty phrase, which RFC 9112 4 allows. */
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 102: return "Processing";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 207: return "Multi-Status";
    case 208: return "Already Reported";
    case 226: return "IM Used";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 305: return "Use Proxy";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 418: return "I'm a Teapot";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 423: return "Locked";
    case 424: return "Failed Dependency";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 506: return "Variant Also Negotiates";
    case 507: return "Insufficient Storage";
    case 508: return "Loop Detected";
    case 510: return "Not Extended";
    case 511: return "Network Authentication Required";
    default: return "";
    }
}
