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
 * A request may carry a body even where it means nothing (a GET); the
 * head says how long it is (Content-Length) or that it comes in chunks
 * (Transfer-Encoding: chunked), and http_body_skip() walks it to its end
 * so that the next request starts where the client thinks it does. The
 * rules that decide the framing are strict: where two parsers could
 * disagree about where a body ends, the request is refused (400) and the
 * connection closed (request smuggling, NOTES.md section 9).
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
#define MAX_CHUNK_LINE 1024        /* a chunk-size line or a trailer line, CRLF included */
#define MAX_LIST_LINES 8           /* If-Match / If-None-Match lines in one request */

enum http_result { HTTP_INCOMPLETE = 0, HTTP_COMPLETE = 1, HTTP_BAD = -1 };

/* A header value: p == NULL if the field was absent; len == 0 if it was
 * sent but cannot be used (empty, or repeated where only one may be). */
struct http_slice {
    const char *p;
    size_t len;
};

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
    int chunked;                   /* Transfer-Encoding: chunked: the body comes in chunks */
    int expect_continue;           /* Expect: 100-continue (HTTP/1.1 only) */
    /* For conditional requests and ranges (http_cond.h), as sent: */
    struct http_slice if_match[MAX_LIST_LINES], if_none_match[MAX_LIST_LINES];
    int if_match_lines, if_none_match_lines;
    struct http_slice if_modified_since, if_unmodified_since, range, if_range;
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

/* http_list_next - the next element of a comma-separated list value
 * (RFC 9110 sec. 5.6.1), whitespace trimmed, empty elements skipped;
 * 0 when the list is over */
static int http_list_next(const char *v, size_t len, size_t *pos, const char **elem,
                          size_t *elem_len)
{
    size_t i = *pos, start, end;

    while (i < len && (v[i] == ',' || v[i] == ' ' || v[i] == '\t'))
        i++;
    if (i == len)
        return 0;
    for (start = i; i < len && v[i] != ','; i++)
        ;
    for (end = i; end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'); end--)
        ;
    *pos = i;
    *elem = v + start;
    *elem_len = end - start;
    return 1;
}

/* What the header lines of one request add up to, known only at the end */
struct http_head_state {
    int saw_close, saw_keep;           /* Connection: close, keep-alive */
    int te_lines, te_chunked, te_chunked_last, te_unknown, te_malformed;
};

/* http_note_codings - one Transfer-Encoding line's codings, in order
 * (RFC 9112 sec. 6.1): is chunked last, is it there twice, is a coding
 * unknown, or is the list no list of tokens? */
static void http_note_codings(const char *v, size_t len, struct http_head_state *st)
{
    const char *e;
    size_t e_len, pos = 0, t;

    st->te_lines++;
    while (http_list_next(v, len, &pos, &e, &e_len)) {
        for (t = 0; t < e_len && http_is_tchar((unsigned char)e[t]); t++)
            ;
        st->te_chunked_last = t == e_len && http_token_equal(e, e_len, "chunked");
        if (st->te_chunked_last)
            st->te_chunked++;
        else if (t > 0 && (t == e_len || e[t] == ';' || e[t] == ' ' || e[t] == '\t'))
            st->te_unknown = 1;              /* gzip, or a coding with parameters */
        else
            st->te_malformed = 1;
    }
}

/* http_note_once - record a field that may appear once; a second one
 * makes the value unusable (len 0), as an empty one is */
static void http_note_once(struct http_slice *s, const char *v, size_t len)
{
    s->len = s->p == NULL ? len : 0;
    s->p = v;
}

/* http_split_field - check a field line "name: value" (RFC 9112 sec. 5);
 * the name's length and the value without the whitespace around it, or
 * the reason it is malformed. Header and trailer lines alike. */
static const char *http_split_field(const char *line, size_t len, size_t *name_len,
                                    size_t *v, size_t *end)
{
    size_t n = 0;

    if (line[0] == ' ' || line[0] == '\t')   /* obs-fold: must be rejected */
        return "folded header line";
    while (n < len && http_is_tchar((unsigned char)line[n]))
        n++;
    /* No whitespace is allowed between the name and the colon (sec. 5.1). */
    if (n == 0 || n >= len || line[n] != ':')
        return "malformed header line";
    for (*v = n + 1; *v < len && (line[*v] == ' ' || line[*v] == '\t'); ++*v)
        ;
    for (*end = len; *end > *v && (line[*end - 1] == ' ' || line[*end - 1] == '\t'); --*end)
        ;
    for (size_t i = *v; i < *end; i++) {     /* CR, LF, NUL, controls: no */
        unsigned char c = (unsigned char)line[i];
        if ((c < ' ' && c != '\t') || c == 127)
            return "control character in header value";
    }
    *name_len = n;
    return NULL;
}

/* http_parse_field - one header line: check it, note what we use */
static int http_parse_field(const char *line, size_t len, struct http_request *req,
                            struct http_head_state *st)
{
    size_t name_len = 0, v = 0, end = 0, pos = 0, e_len;
    const char *why = http_split_field(line, len, &name_len, &v, &end), *e;
    const char *value = line + v;

    if (why != NULL)
        return http_bad(req, 400, why);
#define NAME_IS(word) http_token_equal(line, name_len, word)
    if (NAME_IS("host")) {
        if (req->has_host)
            return http_bad(req, 400, "more than one Host header");
        if (!http_valid_host(value, end - v))   /* RFC 9112 sec. 3.2 */
            return http_bad(req, 400, "invalid Host header");
        req->has_host = 1;
    } else if (NAME_IS("content-length")) {
        long long n = http_parse_content_length(value, end - v);
        if (n < 0 || (req->content_length >= 0 && req->content_length != n))
            return http_bad(req, 400, "bad Content-Length");
        req->content_length = n;
    } else if (NAME_IS("transfer-encoding")) {
        http_note_codings(value, end - v, st);
    } else if (NAME_IS("connection")) {
        while (http_list_next(value, end - v, &pos, &e, &e_len)) {
            st->saw_close |= http_token_equal(e, e_len, "close");
            st->saw_keep |= http_token_equal(e, e_len, "keep-alive");
        }
    } else if (NAME_IS("expect")) {
        while (http_list_next(value, end - v, &pos, &e, &e_len))
            req->expect_continue |= http_token_equal(e, e_len, "100-continue");
    } else if (NAME_IS("if-match") || NAME_IS("if-none-match")) {
        int *lines = NAME_IS("if-match") ? &req->if_match_lines : &req->if_none_match_lines;
        struct http_slice *list = NAME_IS("if-match") ? req->if_match : req->if_none_match;
        if (*lines == MAX_LIST_LINES)
            return http_bad(req, 400, "too many If-Match or If-None-Match lines");
        list[(*lines)++] = (struct http_slice){value, end - v};
    } else if (NAME_IS("if-modified-since")) {
        http_note_once(&req->if_modified_since, value, end - v);
    } else if (NAME_IS("if-unmodified-since")) {
        http_note_once(&req->if_unmodified_since, value, end - v);
    } else if (NAME_IS("range")) {
        http_note_once(&req->range, value, end - v);
    } else if (NAME_IS("if-range")) {
        http_note_once(&req->if_range, value, end - v);
    }
#undef NAME_IS
    return HTTP_COMPLETE;
}

/* http_framing - after the last header line: how long is the body?
 * RFC 9112 sec. 6.1-6.3. Every case in which a proxy in front of us and
 * this server could disagree about where this request ends is a 400, and
 * the server closes the connection after it (every HTTP_BAD does). */
static int http_framing(struct http_request *req, const struct http_head_state *st)
{
    if (st->te_lines == 0) {
        if (req->content_length < 0)
            req->content_length = 0;         /* neither: no body (sec. 6.3) */
        return HTTP_COMPLETE;
    }
    if (req->version_minor == 0)             /* sec. 6.1: "faulty framing" */
        return http_bad(req, 400, "Transfer-Encoding in an HTTP/1.0 request");
    if (req->content_length >= 0)            /* which one would a proxy use? */
        return http_bad(req, 400, "both Content-Length and Transfer-Encoding");
    if (st->te_malformed || !st->te_chunked_last || st->te_chunked > 1)
        return http_bad(req, 400, "Transfer-Encoding does not end in one chunked");
    if (st->te_unknown)                      /* sec. 6.1: SHOULD be 501 */
        return http_bad(req, 501, "unknown transfer coding");
    req->content_length = 0;
    req->chunked = 1;
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
    struct http_head_state st = {0};
    int rc;

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
        rc = http_parse_field(buf + pos, line_len, req, &st);
        if (rc != HTTP_COMPLETE)
            return rc;
    }

    req->header_bytes = line_end + 1;
    if (req->version_minor == 1 && !req->has_host)   /* RFC 9112 sec. 3.2 */
        return http_bad(req, 400, "HTTP/1.1 request without Host");
    /* Persistence (RFC 9112 sec. 9.3): 1.1 keeps the connection open unless
     * told "close"; 1.0 closes it unless told "keep-alive". */
    req->keep_alive = req->version_minor == 1 ? !st.saw_close : (st.saw_keep && !st.saw_close);
    req->expect_continue &= req->version_minor == 1;  /* RFC 9110 sec. 10.1.1 */
    return http_framing(req, &st);
}

/* ---- The body: walked to its end and dropped ---- */

enum http_body_phase { BODY_DONE, BODY_LENGTH, CHUNK_SIZE, CHUNK_DATA, CHUNK_CRLF, TRAILER };

/* Where a body skipper stands between two calls */
struct http_body {
    enum http_body_phase phase;
    unsigned long long left;           /* bytes of the body or of this chunk */
    size_t trailer_bytes;
    int status;                        /* with HTTP_BAD: 400 or 431 */
    const char *reason;
};

/* http_body_begin - start skipping the body of the request just parsed */
static void http_body_begin(struct http_body *b, const struct http_request *req)
{
    memset(b, 0, sizeof *b);
    b->phase = req->chunked ? CHUNK_SIZE : req->content_length > 0 ? BODY_LENGTH : BODY_DONE;
    b->left = (unsigned long long)req->content_length;
}

/* http_body_bad - record why the body's framing is wrong */
static int http_body_bad(struct http_body *b, int status, const char *reason)
{
    b->status = status;
    b->reason = reason;
    return HTTP_BAD;
}

/* http_chunk_size_line - chunk-size [chunk-ext], CRLF gone (RFC 9112
 * sec. 7.1): hex digits only, no sign, no space before them, no overflow;
 * the extensions are checked and ignored (sec. 7.1.1) */
static int http_chunk_size_line(struct http_body *b, const char *line, size_t len)
{
    size_t i = 0;
    int d;

    for (b->left = 0; i < len && (d = http_hex_value(line[i])) >= 0; i++) {
        if (b->left > (1ULL << 59))          /* 15 hex digits are plenty */
            return http_body_bad(b, 400, "chunk size too large");
        b->left = b->left * 16 + (unsigned)d;
    }
    if (i == 0 || (i < len && line[i] != ';' && line[i] != ' ' && line[i] != '\t'))
        return http_body_bad(b, 400, "chunk size is not hexadecimal");
    while (i < len) {                        /* *( BWS ";" BWS name [BWS "=" BWS value] ) */
        while (i < len && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i == len || line[i++] != ';')
            return http_body_bad(b, 400, "malformed chunk extension");
        while (i < len && (line[i] == ' ' || line[i] == '\t'))
            i++;
        size_t name = i;
        while (i < len && http_is_tchar((unsigned char)line[i]))
            i++;
        size_t after_name = i;
        while (i < len && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (after_name == name)              /* no name after the ";" */
            return http_body_bad(b, 400, "malformed chunk extension");
        if (i == len || line[i] != '=') {
            i = after_name;                  /* a name alone; BWS may not end the line */
            continue;
        }
        for (i++; i < len && (line[i] == ' ' || line[i] == '\t'); i++)
            ;
        size_t value = i;
        if (i < len && line[i] == '"') {     /* quoted-string, RFC 9110 sec. 5.6.4 */
            for (i++; i < len && line[i] != '"'; i++) {
                unsigned char c = (unsigned char)line[i];
                if (c == '\\' && i + 1 < len)
                    c = (unsigned char)line[++i];
                if ((c < ' ' && c != '\t') || c == 127)
                    return http_body_bad(b, 400, "malformed chunk extension");
            }
            if (i++ == len)
                return http_body_bad(b, 400, "malformed chunk extension");
        } else {
            while (i < len && http_is_tchar((unsigned char)line[i]))
                i++;
        }
        if (i == value)
            return http_body_bad(b, 400, "malformed chunk extension");
    }
    b->phase = b->left > 0 ? CHUNK_DATA : TRAILER;
    return HTTP_INCOMPLETE;
}

/* http_body_skip - walk body bytes from buf[0..len) and say in *used how
 * many were taken (the caller drops them). HTTP_COMPLETE: the body is
 * over and *used bytes ended it; HTTP_INCOMPLETE: send more; HTTP_BAD:
 * the framing is wrong (b->status, b->reason). The lines of the chunked
 * framing must end in CRLF: a bare LF or CR is exactly where two parsers
 * could count differently. A whole line must fit MAX_CHUNK_LINE. */
static int http_body_skip(struct http_body *b, const char *buf, size_t len, size_t *used)
{
    size_t pos = 0;
    int rc = HTTP_INCOMPLETE;

    while (rc == HTTP_INCOMPLETE && b->phase != BODY_DONE && pos < len) {
        if (b->phase == BODY_LENGTH || b->phase == CHUNK_DATA) {
            size_t n = b->left < len - pos ? (size_t)b->left : len - pos;
            pos += n;
            b->left -= n;
            if (b->left == 0)
                b->phase = b->phase == BODY_LENGTH ? BODY_DONE : CHUNK_CRLF;
        } else if (b->phase == CHUNK_CRLF) { /* the CRLF after the data */
            if (buf[pos] != '\r' || (pos + 1 < len && buf[pos + 1] != '\n'))
                rc = http_body_bad(b, 400, "chunk data not followed by CRLF");
            else if (pos + 1 < len)
                pos += 2, b->phase = CHUNK_SIZE;
            else
                break;                       /* the LF is yet to come */
        } else {                             /* a chunk-size line or a trailer line */
            size_t end = http_find_line_end(buf, len, pos), line_len;
            if (end == (size_t)-1) {
                if (len - pos >= MAX_CHUNK_LINE)
                    rc = http_body_bad(b, 400, "chunk line too long");
                break;
            }
            line_len = end - pos;
            if (line_len + 1 > MAX_CHUNK_LINE)
                rc = http_body_bad(b, 400, "chunk line too long");
            else if (line_len == 0 || buf[end - 1] != '\r' || memchr(buf + pos, '\r', line_len - 1))
                rc = http_body_bad(b, 400, "chunk line not ended by CRLF");
            else if (b->phase == CHUNK_SIZE)
                rc = http_chunk_size_line(b, buf + pos, line_len - 1);
            else if (line_len == 1)          /* the empty line: the body is over */
                b->phase = BODY_DONE;
            else if ((b->trailer_bytes += line_len + 1) > MAX_HEADER_BYTES)
                rc = http_body_bad(b, 431, "trailer section too large");
            else {                           /* a trailer field: checked, then dropped */
                size_t name_len, v, v_end;
                const char *why = http_split_field(buf + pos, line_len - 1, &name_len, &v, &v_end);
                if (why != NULL)
                    rc = http_body_bad(b, 400, why);
            }
            pos = end + 1;
        }
    }
    *used = pos;
    if (rc == HTTP_BAD)
        return HTTP_BAD;
    return b->phase == BODY_DONE ? HTTP_COMPLETE : HTTP_INCOMPLETE;
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
