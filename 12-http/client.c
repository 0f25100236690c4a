/* client.c - a small HTTP/1.1 client: GET one URL, print the body
 *
 * The other half of the conversation a browser has with server.c: open a
 * TCP connection, send a request head (request line, Host, Connection:
 * close, a blank line), read the status line and the header fields, then
 * the body. How long the body is, the headers say: Content-Length gives
 * the byte count, "Transfer-Encoding: chunked" cuts it into pieces each
 * preceded by its size in hex, and with neither the body runs to the end
 * of the connection. An interim 1xx answer (103 Early Hints) has no body
 * and is passed over to the final one. Redirects are not followed: a 301
 * is printed and counts as a failure, as with curl without -L.
 *
 * Usage: ./client [-i] [-H ADDR] [-p PORT] URL
 *   URL is http://HOST[:PORT]/PATH, or just /PATH; -H and -p give the host
 *   and port a URL leaves out (defaults 127.0.0.1 and 8000).
 *   -i prints the status line and the headers before the body, as curl -i.
 *   Exit status: 0 on a 2xx answer, 1 otherwise, 2 on bad usage.
 *
 * See also: server.c, NOTES.md. Python notes: 002 (the browser's side of
 * HTTP). Connecting (connect_to) and the error lines come from ../lib/lab.h.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "../lib/lab.h"

#define MAX_LINE 16384              /* a status or header line longer: refused */
#define BUF_SIZE 65536
#define READ_TIMEOUT_SECS 30

/* split_url - take host, port and path out of URL (all point into copies
 * owned by the caller's buffers); exit 2 if it is not an http URL */
static void split_url(char *url, const char **host, const char **port, const char **path)
{
    char *rest, *slash, *colon, *hash = strchr(url, '#');

    if (hash != NULL)                       /* a fragment is the browser's own */
        *hash = '\0';                       /* business: it is never sent */
    if (url[0] == '/') {                    /* just a path */
        *path = url;
        return;
    }
    if (strncasecmp(url, "http://", 7) != 0)
        usage_error("only http:// URLs are supported: '%s'", url);
    rest = url + 7;
    slash = strchr(rest, '/');
    *path = "/";
    if (slash != NULL) {
        /* keep the path in place by moving the host one byte left */
        memmove(rest - 1, rest, (size_t)(slash - rest));
        slash[-1] = '\0';
        *path = slash;
        rest--;
    }
    if (rest[0] == '[') {                   /* [IPv6]:port */
        char *close_bracket = strchr(rest, ']');
        if (close_bracket == NULL)
            usage_error("bad URL '%s'", url);
        *close_bracket = '\0';
        colon = close_bracket[1] == ':' ? close_bracket + 1 : NULL;
        rest++;
    } else {
        colon = strrchr(rest, ':');
    }
    if (colon != NULL) {
        *colon = '\0';
        if (colon[1] != '\0')
            *port = colon + 1;
    }
    if (rest[0] != '\0')
        *host = rest;
}

/* read_line - one header line (CRLF or LF stripped) into line[size];
 * NULL at end of input. A line that does not fit is refused at once,
 * after size bytes: a server sending one endless line must not make us
 * buffer it without bound (getline() would). */
static char *read_line(FILE *in, char *line, size_t size)
{
    size_t n;

    if (fgets(line, (int)size, in) == NULL) {
        if (ferror(in))
            die("recv");
        return NULL;
    }
    n = strlen(line);
    if (n == size - 1 && line[n - 1] != '\n')
        fatal("a header line longer than %zu bytes: refused", size - 2);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    return line;
}

/* copy_bytes - copy count bytes (or, with count < 0, all up to end of
 * input) from in to stdout */
static void copy_bytes(FILE *in, long long count)
{
    char buf[BUF_SIZE];

    while (count != 0) {
        size_t want = count < 0 || count > BUF_SIZE ? BUF_SIZE : (size_t)count;
        size_t n = fread(buf, 1, want, in);
        if (n == 0) {
            if (ferror(in))
                die("recv");
            if (count > 0)
                fatal("the connection ended %lld bytes before the body did", count);
            return;
        }
        if (fwrite(buf, 1, n, stdout) != n)
            die("write");
        if (count > 0)
            count -= (long long)n;
    }
}

/* copy_chunked - decode a chunked body: "SIZE-in-hex\r\n DATA \r\n" ...
 * "0\r\n", then optional trailer lines and a blank line */
static void copy_chunked(FILE *in, char *line, size_t size)
{
    for (;;) {
        char *end;
        long long chunk;

        if (read_line(in, line, size) == NULL)
            fatal("the connection ended inside a chunked body");
        errno = 0;
        chunk = strtoll(line, &end, 16);    /* ";ext=..." after the size is allowed */
        if (end == line || errno != 0 || chunk < 0 || (*end != '\0' && *end != ';'
                                                       && *end != ' ' && *end != '\t'))
            fatal("bad chunk size line '%s'", line);
        if (chunk == 0)
            break;
        copy_bytes(in, chunk);
        if (read_line(in, line, size) == NULL || line[0] != '\0')
            fatal("a chunk not followed by CRLF");
    }
    while (read_line(in, line, size) != NULL && line[0] != '\0')
        ;                                   /* trailer fields: ignored */
}

/* send_request - the request head: GET, Host, Connection: close */
static void send_request(FILE *out, const char *host, const char *port, const char *path)
{
    int ipv6 = strchr(host, ':') != NULL;

    fprintf(out,
            "GET %s HTTP/1.1\r\n"
            "Host: %s%s%s%s%s\r\n"
            "User-Agent: lab-12-http-client\r\n"
            "Accept: */*\r\n"
            "Connection: close\r\n"
            "\r\n",
            path, ipv6 ? "[" : "", host, ipv6 ? "]" : "", strcmp(port, "80") ? ":" : "",
            strcmp(port, "80") ? port : "");
    if (fflush(out) == EOF)
        die("send");
}

/* read_head - a status line and its header fields (echoed with -i);
 * notes the body's framing in *length and *chunked; returns the status */
static int read_head(FILE *in, char *line, size_t size, int show_headers,
                     long long *length, int *chunked)
{
    char *colon;
    int status;

    if (read_line(in, line, size) == NULL)
        fatal("the server closed the connection without an answer");
    if (sscanf(line, "HTTP/%*d.%*d %3d", &status) != 1)
        fatal("not an HTTP status line: '%.80s'", line);
    if (show_headers)
        printf("%s\r\n", line);
    while (read_line(in, line, size) != NULL && line[0] != '\0') {
        if (show_headers)
            printf("%s\r\n", line);
        colon = strchr(line, ':');
        if (colon == NULL)
            continue;
        *colon = '\0';
        for (colon++; *colon == ' ' || *colon == '\t'; colon++)
            ;
        if (strcasecmp(line, "Content-Length") == 0)
            *length = strtoll(colon, NULL, 10);
        else if (strcasecmp(line, "Transfer-Encoding") == 0 && strstr(colon, "chunked"))
            *chunked = 1;
    }
    if (show_headers)
        printf("\r\n");
    return status;
}

/* read_response - the head, then the body; returns the status code.
 * A 1xx answer (103 Early Hints, a stray 100 Continue) is interim: it has
 * no body, and the real answer follows on the same connection. */
static int read_response(FILE *in, int show_headers)
{
    char line[MAX_LINE + 2];                /* MAX_LINE bytes (a CR too), LF, NUL */
    long long length;
    int status, chunked;

    do {
        length = -1;
        chunked = 0;
        status = read_head(in, line, sizeof line, show_headers, &length, &chunked);
    } while (status >= 100 && status < 200 && status != 101);

    if (status == 204 || status == 304 || status == 101)
        ;                                   /* these never carry a body */
    else if (chunked)                       /* chunked wins over a length */
        copy_chunked(in, line, sizeof line);
    else
        copy_bytes(in, length);             /* -1: to the end of the connection */
    if (fflush(stdout) == EOF)
        die("write");
    return status;
}

static int show_headers = 0;

/* on_option - -i, the client's one option of its own */
static void on_option(int key, const char *arg)
{
    (void)arg;
    if (key == 'i')
        show_headers = 1;
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'i', NULL, NULL, "print the status line and headers before the body"}, {0}};
    static const struct lab_command command = {
        "URL is http://HOST[:PORT]/PATH, or /PATH (then -H and -p name the server).\n"
        "Prints the body on standard output; exit 0 on a 2xx status, else 1.",
        "8000", 1, options, on_option, "URL"};
    struct lab_args args = lab_parse(argc, argv, &command);
    const char *host = args.host, *port = args.port, *path = "/";
    struct timeval timeout = {.tv_sec = READ_TIMEOUT_SECS, .tv_usec = 0};
    int fd, status;
    FILE *conn;

    if (args.operand_count != 1)
        usage_error("%s", args.operand_count > 1 ? "one URL only" : "no URL given");
    split_url(args.operands[0], &host, &port, &path);
    parse_number(port, 0, 65535, "port in the URL");
    if (strpbrk(path, " \r\n\t") != NULL)
        usage_error("spaces or line breaks in the URL must be %%-encoded");
    /* A server that closes early must cost us an error line, not our
     * life: with SIGPIPE ignored a failed write returns EPIPE. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        die("signal");

    fd = connect_to(host, port);
    /* A server that accepts and then says nothing must not hang us. */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) == -1)
        die("setsockopt SO_RCVTIMEO");
    conn = fdopen(fd, "r+");
    if (conn == NULL)
        die("fdopen");
    send_request(conn, host, port, path);
    status = read_response(conn, show_headers);
    fclose(conn);
    if (status < 200 || status > 299)
        note("the server answered %d", status);
    return status >= 200 && status <= 299 ? 0 : 1;
}
