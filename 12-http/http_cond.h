/* http_cond.h - validators, conditional requests and byte ranges (lesson 12)
 *
 * A browser that has a file already asks "has it changed?" instead of
 * fetching it again, and a download that broke off asks for the rest
 * only. Both are decided here, from the request's header values (kept by
 * http_parse.h) and three facts about the file: its size, its time of
 * last modification and its entity tag. Pure functions again: no sockets,
 * no clock but the one the caller passes, so that tests/tools/12-parse.c
 * can try every case without a server.
 *
 *   http_make_etag()   a strong entity tag: "inode-size-mtime", in hex
 *   http_describe_file() a file's validators, from stat()
 *   http_date()        a time as an HTTP-date, for Date and Last-Modified
 *   http_parse_date()  an HTTP-date, in any of its three formats
 *   http_choose()      RFC 9110 sec. 13.2.2: 200, 206, 304, 412 or 416,
 *                      and for 206 the byte range to send
 *   http_file_lines()  the header lines that go with the answer
 *
 * Written from RFC 9110: validators sec. 8.8, conditional requests sec.
 * 13, ranges sec. 14; the HTTP-date sec. 5.6.7.
 */
#ifndef HTTP_COND_H
#define HTTP_COND_H

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "http_parse.h"

/* What the conditions are checked against */
struct http_file {
    long long size;
    time_t mtime;                      /* as Last-Modified says it: whole seconds */
    char etag[64];                     /* with its quotes */
    char modified[40];                 /* mtime as an HTTP-date */
};

/* http_put_digits - n as exactly width decimal digits at p */
static void http_put_digits(char *p, int n, int width)
{
    for (int i = width - 1; i >= 0; i--, n /= 10)
        p[i] = (char)('0' + n % 10);
}

/* http_date - an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") for t,
 * into buf (size: at least HTTP_DATE_SIZE). Not strftime("%a %b"): those
 * names follow the locale. Every field has a fixed width, so it is put
 * together by hand: two dates per response through snprintf() cost more
 * than parsing the request (callgrind, NOTES.md section 7). A time whose
 * year does not fit an int (a file's mtime can be anything) makes
 * gmtime_r() fail; one outside the years 0 to 9999 has no 4-digit
 * form: show the epoch for both. */
#define HTTP_DATE_SIZE 30
static void http_date(time_t t, char *buf, size_t size)
{
    static const char days[] = "SunMonTueWedThuFriSat";
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    struct tm tm;

    if (size < HTTP_DATE_SIZE)
        return;
    if (gmtime_r(&t, &tm) == NULL || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900) {
        t = 0;
        gmtime_r(&t, &tm);
    }
    memcpy(buf, "Sun, 06 Nov 1994 08:49:37 GMT", HTTP_DATE_SIZE);
    memcpy(buf, days + 3 * tm.tm_wday, 3);
    http_put_digits(buf + 5, tm.tm_mday, 2);
    memcpy(buf + 8, months + 3 * tm.tm_mon, 3);
    http_put_digits(buf + 12, tm.tm_year + 1900, 4);
    http_put_digits(buf + 17, tm.tm_hour, 2);
    http_put_digits(buf + 20, tm.tm_min, 2);
    http_put_digits(buf + 23, tm.tm_sec, 2);
}

/* http_make_etag - a strong validator (sec. 8.8.3): it changes whenever
 * the bytes may have: another file (inode), another size, another write
 * (the modification time to the nanosecond). */
static void http_make_etag(char *buf, size_t size, unsigned long long inode,
                           long long length, long long mtime_sec, long mtime_nsec)
{
    snprintf(buf, size, "\"%llx-%llx-%llx.%lx\"", inode, (unsigned long long)length,
             (unsigned long long)mtime_sec, (unsigned long)mtime_nsec);
}

/* http_describe_file - the validators of a file: its ETag, and its time
 * of modification, never later than now (RFC 9110 sec. 8.8.2.1: a time
 * in the future would be a lie the client caches) */
static void http_describe_file(struct http_file *f, const struct stat *st, time_t now)
{
    f->size = st->st_size;
    f->mtime = st->st_mtime > now ? now : st->st_mtime;
    http_make_etag(f->etag, sizeof f->etag, (unsigned long long)st->st_ino, st->st_size,
                   (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
    http_date(f->mtime, f->modified, sizeof f->modified);
}

/* http_file_lines - the header lines that describe the file in a
 * response of this status: its validators (only the ETag on a 304);
 * Accept-Ranges (this server does ranges); Content-Range for 206 and 416
 * (sec. 14.4) */
static void http_file_lines(char *buf, size_t size, int status, const struct http_file *f,
                            long long first, long long last)
{
    int n = status == 304   /* sec. 15.4.5: a 304 carries the ETag, not the rest */
                ? snprintf(buf, size, "ETag: %s\r\n", f->etag)
                : snprintf(buf, size, "ETag: %s\r\nLast-Modified: %s\r\nAccept-Ranges: bytes\r\n",
                           f->etag, f->modified);

    if (status == 206)
        snprintf(buf + n, size - (size_t)n, "Content-Range: bytes %lld-%lld/%lld\r\n", first,
                 last, f->size);
    else if (status == 416)
        snprintf(buf + n, size - (size_t)n, "Content-Range: bytes */%lld\r\n", f->size);
}

/* http_number - digits [i, i+n) of s as a number, or -1 */
static long http_number(const char *s, size_t len, size_t i, size_t n)
{
    long v = 0;

    if (i + n > len)
        return -1;
    for (size_t k = i; k < i + n; k++) {
        if (s[k] < '0' || s[k] > '9')
            return -1;
        v = v * 10 + (s[k] - '0');
    }
    return v;
}

/* http_name_index - which of the names (3 letters each) starts s+i, or -1 */
static int http_name_index(const char *s, size_t len, size_t i, const char *names, int count)
{
    for (int k = 0; k < count && i + 3 <= len; k++)
        if (memcmp(s + i, names + 3 * k, 3) == 0)
            return k;
    return -1;
}

/* http_parse_date - an HTTP-date (sec. 5.6.7) into *t. A recipient MUST
 * accept all three formats, all in GMT:
 *   Sun, 06 Nov 1994 08:49:37 GMT     IMF-fixdate (the one we send)
 *   Sunday, 06-Nov-94 08:49:37 GMT    RFC 850: a two-digit year that
 *                                      seems over 50 years ahead is in
 *                                      the past century (now: the clock)
 *   Sun Nov  6 08:49:37 1994          C's asctime()
 * Returns 0, or -1 if the value is none of them. */
static int http_parse_date(const char *s, size_t len, time_t now, time_t *t)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    static const char days[] = "SunMonTueWedThuFriSat";
    long day, mon, year, hh, mm, ss;
    size_t i = 0, clock;

    if (http_name_index(s, len, 0, days, 7) < 0)
        return -1;
    if (len == 29 && s[3] == ',') {          /* IMF-fixdate */
        day = http_number(s, len, 5, 2), mon = http_name_index(s, len, 8, months, 12);
        year = http_number(s, len, 12, 4), clock = 17;
        if (s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' '
            || memcmp(s + 25, " GMT", 4) != 0)
            return -1;
    } else if (len == 24 && s[3] == ' ') {   /* asctime: "Nov  6" or "Nov 16" */
        mon = http_name_index(s, len, 4, months, 12);
        day = s[8] == ' ' ? http_number(s, len, 9, 1) : http_number(s, len, 8, 2);
        year = http_number(s, len, 20, 4), clock = 11;
        if (s[7] != ' ' || s[10] != ' ' || s[19] != ' ')
            return -1;
    } else {                                 /* RFC 850: "Sunday, 06-Nov-94 ..." */
        while (i < len && s[i] != ',')
            i++;
        if (i < 6 || i > 9 || len != i + 24 || s[i + 1] != ' ' || s[i + 4] != '-'
            || s[i + 8] != '-' || s[i + 11] != ' ' || memcmp(s + i + 20, " GMT", 4) != 0)
            return -1;
        day = http_number(s, len, i + 2, 2), mon = http_name_index(s, len, i + 5, months, 12);
        year = http_number(s, len, i + 9, 2), clock = i + 12;
        if (year >= 0) {
            struct tm now_tm;
            long this_year = gmtime_r(&now, &now_tm) ? now_tm.tm_year + 1900 : 1970;
            year += this_year - this_year % 100;
            if (year > this_year + 50)
                year -= 100;
        }
    }
    hh = http_number(s, len, clock, 2), mm = http_number(s, len, clock + 3, 2);
    ss = http_number(s, len, clock + 6, 2);
    if (day < 1 || day > 31 || mon < 0 || year < 1970 || hh < 0 || hh > 23 || mm < 0
        || mm > 59 || ss < 0 || ss > 60 || s[clock + 2] != ':' || s[clock + 5] != ':')
        return -1;
    /* days since 1970-01-01 of a proleptic Gregorian date (no timegm(),
     * which is not in POSIX and would look at the time zone) */
    long y = mon < 2 ? year - 1 : year, m = mon < 2 ? mon + 10 : mon - 2;   /* March: 0 */
    long days_since = 365 * y + y / 4 - y / 100 + y / 400 + (153 * m + 2) / 5 + day - 719469;
    *t = (time_t)(days_since * 86400 + hh * 3600 + mm * 60 + ss);
    return 0;
}

/* http_etag_matches - does any entity-tag of the list lines match etag?
 * "*" matches any existing file. Weak comparison (sec. 8.8.3.2) ignores
 * a "W/" prefix on either side; strong comparison lets no weak tag match
 * (ours are strong). A line that is no list of entity-tags matches
 * nothing. */
static int http_etag_matches(const struct http_slice *lines, int count, const char *etag,
                             int weak)
{
    size_t etag_len = strlen(etag);

    for (int k = 0; k < count; k++) {
        const char *e, *v = lines[k].p;
        size_t pos = 0, e_len, len = lines[k].len;

        if (len == 1 && v[0] == '*')
            return 1;
        while (http_list_next(v, len, &pos, &e, &e_len)) {
            int is_weak = e_len >= 2 && memcmp(e, "W/", 2) == 0;
            if (is_weak) {
                e += 2;
                e_len -= 2;
            }
            if ((weak || !is_weak) && e_len == etag_len && memcmp(e, etag, etag_len) == 0)
                return 1;
        }
    }
    return 0;
}

/* http_digits - a run of digits at s+*i as a number; -1 if none, and a
 * huge value (clamped) where it would overflow */
static long long http_digits(const char *s, size_t len, size_t *i)
{
    long long v = 0;
    size_t start = *i;

    for (; *i < len && s[*i] >= '0' && s[*i] <= '9'; ++*i)
        v = v > (1LL << 58) ? (1LL << 62) : v * 10 + (s[*i] - '0');
    return *i == start ? -1 : v;
}

/* http_byte_range - a Range value against a file of size bytes (sec.
 * 14.1.2): one range "bytes=a-b", "bytes=a-" or "bytes=-n" gives 206 and
 * [*first, *last]; one that starts at or past the end, 416. Anything else
 * (another unit, several ranges, bad syntax, last < first) is ignored:
 * 200, the whole file, which sec. 14.2 always allows. */
static int http_byte_range(const struct http_slice *range, long long size, long long *first,
                           long long *last)
{
    const char *s = range->p;
    size_t len = range->len, i = 6;
    long long a, b;

    if (len < 7 || !http_token_equal(s, 6, "bytes="))
        return 200;
    a = http_digits(s, len, &i);
    if (i == len || s[i++] != '-')
        return 200;
    b = http_digits(s, len, &i);
    if (i != len || (a < 0 && b < 0) || (a >= 0 && b >= 0 && b < a))
        return 200;                          /* several ranges too: a ',' here */
    if (a < 0) {                             /* the last b bytes */
        if (b == 0 || size == 0)
            return b == 0 ? 416 : 200;
        a = b > size ? 0 : size - b;
        b = size - 1;
    }
    if (a >= size)
        return 416;
    *first = a;
    *last = b < 0 || b >= size ? size - 1 : b;
    return 206;
}

/* http_choose - the answer to GET (is_get) or HEAD of an existing file,
 * in the order of RFC 9110 sec. 13.2.2: 412 if If-Match (or, without it,
 * If-Unmodified-Since) fails; 304 if If-None-Match (or, without it,
 * If-Modified-Since) says the client's copy is current; then for GET a
 * Range, if If-Range (when sent) names this version's ETag: 206 or 416.
 * Else 200. A date that is not an HTTP-date is ignored, as are several. */
static int http_choose(const struct http_request *req, int is_get, const struct http_file *f,
                       time_t now, long long *first, long long *last)
{
    time_t t;

    if (req->if_match_lines > 0) {           /* step 1 */
        if (!http_etag_matches(req->if_match, req->if_match_lines, f->etag, 0))
            return 412;
    } else if (req->if_unmodified_since.p != NULL   /* step 2 */
               && http_parse_date(req->if_unmodified_since.p, req->if_unmodified_since.len,
                                  now, &t) == 0
               && f->mtime > t) {
        return 412;
    }
    if (req->if_none_match_lines > 0) {      /* step 3 */
        if (http_etag_matches(req->if_none_match, req->if_none_match_lines, f->etag, 1))
            return 304;
    } else if (req->if_modified_since.p != NULL     /* step 4 */
               && http_parse_date(req->if_modified_since.p, req->if_modified_since.len,
                                  now, &t) == 0
               && f->mtime <= t) {
        return 304;
    }
    if (!is_get || req->range.p == NULL)     /* step 5: Range is for GET only */
        return 200;
    if (req->if_range.p != NULL) {
        /* an entity-tag, compared strongly. A date never matches: it is a
         * strong validator only if the file cannot have changed twice in
         * that second (sec. 8.8.2.2), which a server that keeps no history
         * cannot know. The whole file is always a safe answer. */
        const struct http_slice *v = &req->if_range;
        if (v->len != strlen(f->etag) || memcmp(v->p, f->etag, v->len) != 0)
            return 200;
    }
    return http_byte_range(&req->range, f->size, first, last);
}

#endif /* HTTP_COND_H */
