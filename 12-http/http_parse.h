/* http_parse.h - the HTTP/1.x request parser of lesson 12, on its own
 *
 * Everything that looks at bytes a stranger sent lives here, away from
 * the sockets, so that three programs can use the same code: the server,
 * the fuzz harness (fuzz/fuzz_parse.c, built with libFuzzer) and the test
 * driver (tests/tools/12-parse.c) that replays the fuzz corpus.
 *
 * The parser is a pure function of a byte buffer. It never allocates,
 * never writes outside the request structure it is given, and answers one
 * of three things: "not complete yet", "here is a request", or "this is
 * wrong, answer with status N". Every limit is checked before a byte is
 * copied: the request line must fit MAX_REQUEST_LINE (else 414 URI Too
 * Long), the whole header section MAX_HEADER_BYTES (else 431 Request
 * Header Fields Too Large).
 *
 * Then http_target_to_path() turns the request target into a path the
 * server may open: split off the query, percent-decode, refuse NUL bytes,
 * drop "." and empty segments, resolve ".." and refuse any that would
 * climb above the root. It is the first of two fences; the server adds
 * the second (openat2() with RESOLVE_BENEATH, or realpath() and a prefix
 * check) because symbolic links can still point outside.
 *
 * Written from RFC 9112 (HTTP/1.1 message syntax) and RFC 9110 (HTTP
 * semantics); section numbers are given where a rule comes from.
 */
#ifndef HTTP_PARSE_H
#define HTTP_PARSE_H

#include <stddef.h>
#include <string.h>

#define MAX_REQUEST_LINE 8192      /* longer: 414 URI Too Long */
#define MAX_HEADER_BYTES 16384     /* whole header section; longer: 431 */
#define MAX_HEADER_FIELDS 100      /* more fields: 431 as well */
#define MAX_METHOD 16

enum http_result { HTTP_INCOMPLETE = 0, HTTP_COMPLETE = 1, HTTP_BAD = -1 };

/* What the parser learned about one request. Pointers point into the
 * caller's buffer and are valid while that buffer is. */
struct http_request {
    char method[MAX_METHOD + 1];
    const char *target;            /* request-target as sent, not decoded */
    size_t target_len;
    int version_minor;             /* 0 = HTTP/1.0, 1 = HTTP/1.1 */
    int keep_alive;                /* after the Connection header and version */
    int has_host;
    long long content_length;      /* body bytes that follow, 0 if none */
    size_t header_bytes;           /* bytes up to and including the blank line */
    int status;                    /* with HTTP_BAD: the status to answer */
    const char *reason;            /* with HTTP_BAD: a short explanation */
};

/* http_is_tchar - may this byte appear in a token (method, field name)?
 * RFC 9110 section 5.6.2 */
static int http_is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* http_lower - ASCII tolower that ignores the locale */
static unsigned char http_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

/* http_token_equal - case-insensitive compare of [s, s+len) with word */
static int http_token_equal(const char *s, size_t len, const char *word)
{
    if (strlen(word) != len)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (http_lower((unsigned char)s[i]) != http_lower((unsigned char)word[i]))
            return 0;
    return 1;
}

/* http_hex_value - value of one hex digit, or -1 */
static int http_hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* http_bad - record an error status and its reason; returns HTTP_BAD */
static int http_bad(struct http_request *req, int status, const char *reason)
{
    req->status = status;
    req->reason = reason;
    return HTTP_BAD;
}

/* http_find_line_end - index of the '\n' ending the line that starts at
 * from, or (size_t)-1 if the buffer holds no complete line yet */
static size_t http_find_line_end(const char *buf, size_t len, size_t from)
{
    const char *nl = from < len ? memchr(buf + from, '\n', len - from) : NULL;

    return nl ? (size_t)(nl - buf) : (size_t)-1;
}

/* http_parse_request_line - METHOD SP target SP HTTP/1.x; RFC 9112 sec. 3 */
static int http_parse_request_line(const char *line, size_t len, struct http_request *req)
{
    size_t i = 0, start;

    while (i < len && http_is_tchar((unsigned char)line[i]))
        i++;
    if (i == 0 || i >= len || line[i] != ' ')
        return http_bad(req, 400, "malformed request line");
    if (i > MAX_METHOD)
        return http_bad(req, 501, "method not implemented");
    memcpy(req->method, line, i);
    req->method[i] = '\0';

    start = ++i;                     /* the target: visible ASCII only */
    while (i < len && line[i] > ' ' && line[i] < 127)
        i++;
    if (i == start || i >= len || line[i] != ' ')
        return http_bad(req, 400, "malformed request target");
    req->target = line + start;
    req->target_len = i - start;

    i++;                             /* the version: exactly HTTP/D.D */
    if (len - i != 8 || memcmp(line + i, "HTTP/", 5) != 0 || line[i + 6] != '.'
        || line[i + 5] < '0' || line[i + 5] > '9' || line[i + 7] < '0' || line[i + 7] > '9')
        return http_bad(req, 400, "malformed HTTP version");
    if (line[i + 5] != '1')          /* HTTP/0.9, HTTP/2.0 ... over this syntax */
        return http_bad(req, 505, "only HTTP/1.0 and HTTP/1.1 are supported");
    /* A later 1.x is answered as 1.1 (RFC 9110 sec. 2.5). */
    req->version_minor = line[i + 7] == '0' ? 0 : 1;
    return HTTP_COMPLETE;
}

/* http_parse_content_length - digits only, no sign, no overflow; -1 if bad */
static long long http_parse_content_length(const char *value, size_t len)
{
    long long n = 0;

    if (len == 0 || len > 15)        /* 15 digits: far more than any file */
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (value[i] < '0' || value[i] > '9')
            return -1;
        n = n * 10 + (value[i] - '0');
    }
    return n;
}

/* http_valid_host - is [v, v+len) a Host value, uri-host [":" port]?
 * (RFC 9110 sec. 7.2 and RFC 3986 sec. 3.2.2: a name of letters, digits,
 * "-._~", %XX and "!$&'()*+,;=", or an IPv6 address in brackets.) An
 * empty host is invalid: an "http" URI always has one, and RFC 9110 sec.
 * 4.2.1 makes a recipient reject one without (so does ":8000"). */
static int http_valid_host(const char *v, size_t len)
{
    size_t i = 0;

    if (len == 0 || v[0] == ':')
        return 0;

    if (len > 0 && v[0] == '[') {            /* [IPv6 address] */
        for (i = 1; i < len && v[i] != ']'; i++)
            if (http_hex_value(v[i]) < 0 && v[i] != ':' && v[i] != '.')
                return 0;
        if (i == len || i == 1)              /* no "]", or "[]" */
            return 0;
        i++;
    } else {
        for (; i < len && v[i] != ':'; i++) {
            unsigned char c = (unsigned char)v[i];
            if (c == '%') {
                if (i + 2 >= len || http_hex_value(v[i + 1]) < 0
                    || http_hex_value(v[i + 2]) < 0)
                    return 0;
                i += 2;
            } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
                         || (c >= 'A' && c <= 'Z') || strchr("-._~!$&'()*+,;=", c) != NULL)
                       || c == '\0') {
                return 0;
            }
        }
    }
    if (i < len && v[i++] != ':')            /* only ":port" may follow */
        return 0;
    for (; i < len; i++)
        if (v[i] < '0' || v[i] > '9')
            return 0;
    return 1;
}

/* http_note_connection - read the tokens of a Connection header */
static void http_note_connection(const char *value, size_t len, int *saw_close, int *saw_keep)
{
    size_t i = 0;

    while (i < len) {
        size_t start, end;

        while (i < len && (value[i] == ',' || value[i] == ' ' || value[i] == '\t'))
            i++;
        start = i;
        while (i < len && value[i] != ',')
            i++;
        end = i;
        while (end > start && (value[end - 1] == ' ' || value[end - 1] == '\t'))
            end--;
        if (http_token_equal(value + start, end - start, "close"))
            *saw_close = 1;
        else if (http_token_equal(value + start, end - start, "keep-alive"))
            *saw_keep = 1;
    }
}

/* http_parse_field - one "name: value" line; RFC 9112 sec. 5 */
static int http_parse_field(const char *line, size_t len, struct http_request *req,
                            int *saw_close, int *saw_keep)
{
    size_t name_len = 0, v, end;

    if (line[0] == ' ' || line[0] == '\t')   /* obs-fold: must be rejected */
        return http_bad(req, 400, "folded header line");
    while (name_len < len && http_is_tchar((unsigned char)line[name_len]))
        name_len++;
    /* No whitespace is allowed between the name and the colon (sec. 5.1). */
    if (name_len == 0 || name_len >= len || line[name_len] != ':')
        return http_bad(req, 400, "malformed header line");
    for (v = name_len + 1; v < len && (line[v] == ' ' || line[v] == '\t'); v++)
        ;
    for (end = len; end > v && (line[end - 1] == ' ' || line[end - 1] == '\t'); end--)
        ;
    for (size_t i = v; i < end; i++) {       /* CR, LF, NUL, controls: no */
        unsigned char c = (unsigned char)line[i];
        if ((c < ' ' && c != '\t') || c == 127)
            return http_bad(req, 400, "control character in header value");
    }

    if (http_token_equal(line, name_len, "host")) {
        if (req->has_host)
            return http_bad(req, 400, "more than one Host header");
        if (!http_valid_host(line + v, end - v))   /* RFC 9112 sec. 3.2 */
            return http_bad(req, 400, "invalid Host header");
        req->has_host = 1;
    } else if (http_token_equal(line, name_len, "content-length")) {
        long long n = http_parse_content_length(line + v, end - v);
        if (n < 0 || (req->content_length >= 0 && req->content_length != n))
            return http_bad(req, 400, "bad Content-Length");
        req->content_length = n;
    } else if (http_token_equal(line, name_len, "transfer-encoding")) {
        /* This server reads no request bodies but by Content-Length;
         * guessing the length of a chunked body would let a request hide
         * inside another one (request smuggling). */
        return http_bad(req, 501, "Transfer-Encoding in a request is not supported");
    } else if (http_token_equal(line, name_len, "connection")) {
        http_note_connection(line + v, end - v, saw_close, saw_keep);
    }
    return HTTP_COMPLETE;
}

/* http_parse_request - parse one request head from buf[0..len)
 *
 * Returns HTTP_COMPLETE with req filled in (req->header_bytes tells how
 * many bytes the head took), HTTP_INCOMPLETE if more bytes are needed,
 * or HTTP_BAD with req->status and req->reason set. Lines may end in
 * CRLF or a bare LF (RFC 9112 sec. 2.2 allows a server to accept LF).
 * Up to two empty lines before the request line are skipped (sec. 2.2). */
static int http_parse_request(const char *buf, size_t len, struct http_request *req)
{
    size_t pos = 0, line_end, line_len, fields = 0;
    int saw_close = 0, saw_keep = 0, rc;

    memset(req, 0, sizeof *req);
    req->content_length = -1;

    /* A few empty lines, CR LF or a bare LF, never a lone CR: a CR not
     * followed by LF is no line end anywhere in HTTP/1.1 (sec. 2.2). */
    for (int skipped = 0; skipped < 2 && pos < len; skipped++) {
        if (buf[pos] == '\n')
            pos++;
        else if (buf[pos] == '\r' && pos + 1 < len && buf[pos + 1] == '\n')
            pos += 2;
        else
            break;
    }
    /* A method longer than any this server knows is a 501 as soon as it
     * shows: a 100 KB method in a short request is no long URI (414). */
    for (size_t m = pos; m < len && http_is_tchar((unsigned char)buf[m]); m++)
        if (m - pos >= MAX_METHOD)
            return http_bad(req, 501, "method not implemented");
    line_end = http_find_line_end(buf, len, pos);
    if (line_end == (size_t)-1)
        return len - pos > MAX_REQUEST_LINE ? http_bad(req, 414, "request line too long")
                                            : HTTP_INCOMPLETE;
    line_len = line_end - pos;
    if (line_len > 0 && buf[line_end - 1] == '\r')
        line_len--;
    if (line_len > MAX_REQUEST_LINE)
        return http_bad(req, 414, "request line too long");
    if (memchr(buf + pos, '\r', line_len) != NULL)
        return http_bad(req, 400, "stray CR in request line");
    rc = http_parse_request_line(buf + pos, line_len, req);
    if (rc != HTTP_COMPLETE)
        return rc;

    for (pos = line_end + 1;; pos = line_end + 1) {
        line_end = http_find_line_end(buf, len, pos);
        if (line_end == (size_t)-1)
            return len > MAX_HEADER_BYTES ? http_bad(req, 431, "header section too large")
                                          : HTTP_INCOMPLETE;
        if (line_end + 1 > MAX_HEADER_BYTES)
            return http_bad(req, 431, "header section too large");
        line_len = line_end - pos;
        if (line_len > 0 && buf[line_end - 1] == '\r')
            line_len--;
        if (line_len == 0)
            break;                   /* the blank line: the head is complete */
        if (memchr(buf + pos, '\r', line_len) != NULL)
            return http_bad(req, 400, "stray CR in header line");
        if (++fields > MAX_HEADER_FIELDS)
            return http_bad(req, 431, "too many header fields");
        rc = http_parse_field(buf + pos, line_len, req, &saw_close, &saw_keep);
        if (rc != HTTP_COMPLETE)
            return rc;
    }

    req->header_bytes = line_end + 1;
    if (req->content_length < 0)
        req->content_length = 0;
    if (req->version_minor == 1 && !req->has_host)   /* RFC 9112 sec. 3.2 */
        return http_bad(req, 400, "HTTP/1.1 request without Host");
    /* Persistence (RFC 9112 sec. 9.3): 1.1 keeps the connection open unless
     * told "close"; 1.0 closes it unless told "keep-alive". */
    req->keep_alive = req->version_minor == 1 ? !saw_close : (saw_keep && !saw_close);
    return HTTP_COMPLETE;
}

/* http_target_to_path - request target -> relative path under the root
 *
 * Writes into out (size out_size) a path with no leading '/', no "." or
 * ".." and no empty segments, e.g. "/a/./b/../c.html?x=1" -> "a/c.html";
 * "/" gives "". Sets *dir_slash when the target ended in '/'. Accepts the
 * origin form "/path" and the absolute form "http://host/path" (RFC 9112
 * sec. 3.2.2). Returns 0, or the status to answer: 400 for a malformed
 * target (bad %-escape, a NUL byte), 403 for one that climbs above the
 * root, 404 for a name longer than any file name, 414 if the decoded
 * path does not fit. */
static int http_target_to_path(const char *target, size_t len, char *out, size_t out_size,
                               int *dir_slash)
{
    size_t i = 0, used = 0;

    if (out_size == 0)
        return 414;
    if (len >= 7 && http_token_equal(target, 7, "http://")) {
        i = 7;                       /* skip the authority: host[:port] */
        while (i < len && target[i] != '/' && target[i] != '?' && target[i] != '#')
            i++;
        if (i == len || target[i] != '/')
            return out[0] = '\0', *dir_slash = 1, 0;    /* "http://host" = "/" */
    }
    if (i >= len || target[i] != '/')
        return 400;
    for (size_t q = i; q < len; q++)
        if (target[q] == '?' || target[q] == '#') {
            len = q;                 /* the query names no file */
            break;
        }
    *dir_slash = target[len - 1] == '/';

    while (i < len) {
        char segment[256];           /* NAME_MAX + 1: no longer name exists */
        size_t seg_len = 0;

        if (target[i] == '/')
            i++;
        while (i < len && target[i] != '/') {
            char c = target[i++];
            if (c == '%') {          /* decode %XX before looking at it */
                int hi = i + 1 < len ? http_hex_value(target[i]) : -1;
                int lo = hi >= 0 ? http_hex_value(target[i + 1]) : -1;
                if (lo < 0)
                    return 400;
                c = (char)(hi * 16 + lo);
                i += 2;
                if (c == '\0')
                    return 400;
                if (c == '/')        /* "%2F" separates segments like '/' */
                    break;
            }
            if (seg_len + 1 >= sizeof segment)
                return 404;
            segment[seg_len++] = c;
        }
        if (seg_len == 0 || (seg_len == 1 && segment[0] == '.'))
            continue;
        if (seg_len == 2 && segment[0] == '.' && segment[1] == '.') {
            if (used == 0)
                return 403;          /* would climb above the root */
            while (used > 0 && out[used - 1] != '/')
                used--;
            if (used > 0)
                used--;              /* drop the '/' before the last segment */
            continue;
        }
        if (used + (used > 0) + seg_len + 1 > out_size)
            return 414;
        if (used > 0)
            out[used++] = '/';
        memcpy(out + used, segment, seg_len);
        used += seg_len;
    }
    out[used] = '\0';
    return 0;
}

#endif /* HTTP_PARSE_H */
