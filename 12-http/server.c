/* server.c - a static-file HTTP/1.1 server on an epoll event loop
 *
 * Python notes 002 end with a twenty-line web server: accept, read one
 * buffer, send index.html back, close. This is that server done properly:
 * a real parser reads each request head (http_parse.h) and walks a body,
 * if one came, to its end; the target is decoded, normalised and opened
 * under the document root, never outside it (fence.h); GET and HEAD get
 * the right status code and an exact Content-Length; a browser that has
 * the file already gets 304, a resumed download the part it lacks (206,
 * http_cond.h); connections stay open for the next request (HTTP/1.1)
 * unless told "Connection: close".
 *
 * Concurrency is lesson 05's: one thread, non-blocking sockets, epoll,
 * and a small state machine per connection (reading, writing, lingering
 * before the close). A file goes out with sendfile(), a socket buffer at
 * a time, so one download never stalls the others; slow or silent
 * clients are dropped by timeouts (slowloris included).
 *
 * Usage: ./server [-H ADDR] [-p PORT] [-r ROOT] [-q] [--idle-timeout SECS]
 *                 [--header-timeout SECS] [--no-openat2]
 *        (defaults: 127.0.0.1, 8000, the www folder beside this program,
 *         15 s idle, 10 s for a request head; -q logs errors only)
 *
 * See also: client.c (a small HTTP/1.1 client), http_parse.h (the parser,
 * fuzzed in fuzz/), http_cond.h (validators, conditions, ranges), fence.h
 * (the path fence), http_reply.h (the words of a response), NOTES.md.
 * Python notes: 002 (the HTTP server on port 8000), 004 (epoll). Linux:
 * epoll, accept4, sendfile, MSG_MORE, openat2, O_PATH, /proc/self/exe.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>                 /* offsetof */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../lib/lab.h"
#include "http_parse.h"
#include "http_reply.h"
#include "http_cond.h"
#include "fence.h"

#define BACKLOG 511                /* hundreds of clients may arrive at once */
#define IN_CAP (MAX_HEADER_BYTES + 2 * MAX_CHUNK_LINE)  /* full: always a verdict */
#define OUT_CAP 4096               /* head, error page, or small file */
#define MAX_EVENTS 256
#define SWEEP_MS 500               /* how often timeouts are checked */
#define SEND_TIMEOUT_MS 30000      /* a reader that takes nothing for 30 s */
#define LINGER_MS 2000             /* see begin_close() */

enum conn_state { READING, WRITING, LINGERING };

/* One client connection: everything it needs between two events, never
 * in a static buffer (many connections are half-way through at once).
 * The buffers come last: a new one clears only the fields before them
 * (a buffer page costs memory once used). */
struct conn {
    int fd;
    enum conn_state state;
    unsigned events;                   /* what epoll watches for now */
    char peer[ADDR_LEN];
    size_t in_len;                     /* bytes of requests in in[] */
    int have_head;                     /* req: a head at the front of in[]... */
    struct http_request req;
    struct http_body body;             /* ...whose body is being skipped */
    size_t out_len, out_sent;          /* bytes of the response in out[] */
    int file_fd;                       /* the file being sent, or -1 */
    off_t file_off, file_end;
    int keep_alive;                    /* after this response, read another */
    long long deadline_ms;             /* close it if still here by then */
    unsigned long requests;
    struct conn *prev, *next;          /* the list the timeout sweep walks */
    char in[IN_CAP];                   /* bytes of requests not yet handled */
    char out[OUT_CAP];                 /* the head, and an error page or a small file */
};

/* The server's state: one of everything, owned by the single thread. */
static long long idle_timeout_ms = 15000, header_timeout_ms = 10000;
static int quiet = 0, epoll_fd = -1, listen_fd = -1, accept_paused = 0;
static struct conn *all_conns = NULL;  /* every open connection */
static const char *root_option = NULL;  /* -r ROOT */

/* log_event - note() a connection or a request, unless -q */
#define log_event(...) do { if (!quiet) note(__VA_ARGS__); } while (0)

/* ---- Responses: a head in c->out, then perhaps a file ---- */

/* put_head - the head of a response; extra: more lines ("Name: value\r\n"...) */
static void put_head(struct conn *c, int status, const char *type, long long length,
                     const char *extra)
{
    /* LAB-BEGIN put-head: into c->out, each line ending in CRLF: "HTTP/1.1
     * STATUS REASON", Server, Date (http_date of now), Content-Type and
     * Content-Length (neither when type is NULL: a 304 has no body), the
     * extra lines, Connection (keep-alive or close), an empty line. Set
     * c->out_len (0 if it did not fit), c->out_sent and the file range to 0.
     * See NOTES.md section 2, the response.
     * Stub: (void)status; (void)type; (void)length; (void)extra; (void)status_reason; c->out_len = c->out_sent = 0; c->file_off = c->file_end = 0;
     * Tests: GET / answers 200
     */
    char date[HTTP_DATE_SIZE];
    int n;

    http_date(time(NULL), date, sizeof date);
    if (type == NULL)                       /* a 304: no body to describe */
        n = snprintf(c->out, sizeof c->out, "HTTP/1.1 %d %s\r\nServer: lab-12-http\r\n"
                     "Date: %s\r\n%sConnection: %s\r\n\r\n", status, status_reason(status),
                     date, extra, c->keep_alive ? "keep-alive" : "close");
    else
        n = snprintf(c->out, sizeof c->out, "HTTP/1.1 %d %s\r\nServer: lab-12-http\r\n"
                     "Date: %s\r\nContent-Type: %s\r\nContent-Length: %lld\r\n%s"
                     "Connection: %s\r\n\r\n", status, status_reason(status), date, type,
                     length, extra, c->keep_alive ? "keep-alive" : "close");
    /* extra is bounded by the callers; a truncated head would be a bug */
    c->out_len = n > 0 && (size_t)n < sizeof c->out ? (size_t)n : 0;
    c->out_sent = 0;
    c->file_off = c->file_end = 0;
    /* LAB-END put-head */
}

/* start_error - queue a small HTML error page (just the head for HEAD) */
static void start_error(struct conn *c, int status, const char *detail, int is_head,
                        const char *extra)
{
    char body[512];
    size_t body_len = error_page(status, detail, body, sizeof body);

    put_head(c, status, "text/html; charset=utf-8", (long long)body_len, extra ? extra : "");
    if (!is_head && c->out_len + body_len <= sizeof c->out) {
        memcpy(c->out + c->out_len, body, body_len);
        c->out_len += body_len;
    }
}

/* start_ok - queue the answer for the open regular file fd: 200 with the
 * file, or what the request's conditions and Range make of it (304, 412,
 * 206, 416: http_cond.h decides); send_some() sends the file and closes
 * it. Returns the status. */
static int start_ok(struct conn *c, const struct http_request *req, int fd,
                    const struct stat *st, const char *rel, int is_head)
{
    struct http_file f;
    char extra[320];
    time_t now = time(NULL);
    long long first = 0, last = st->st_size - 1;
    int status;

    http_describe_file(&f, st, now);
    status = http_choose(req, !is_head, &f, now, &first, &last);
    http_file_lines(extra, sizeof extra, status, &f, first, last);
    if (status == 304)                      /* no body, so no Content-Type or -Length */
        put_head(c, 304, NULL, -1, extra);
    else if (status == 412 || status == 416)
        start_error(c, status, NULL, is_head, extra);
    else
        put_head(c, status, content_type(rel), last - first + 1, extra);
    c->file_off = first;
    c->file_end = (status == 200 || status == 206) && !is_head ? last + 1 : first;
    /* SPEED, NOT THE LESSON (NOTES section 7: without it, more CPU per
     * request than nginx): a file that fits behind the head goes out in
     * the same send(), read by one pread(), and the FIN rides along. */
    if (c->file_end > first && (size_t)(c->file_end - first) <= sizeof c->out - c->out_len
        && pread(fd, c->out + c->out_len, (size_t)(c->file_end - first), first)
               == c->file_end - first) {
        c->out_len += (size_t)(c->file_end - first);
        c->file_end = first;
    }
    if (c->file_end == first)               /* nothing for sendfile() */
        close(fd);
    c->file_fd = c->file_end > first ? fd : -1;
    return status;
}

/* start_file - find the file for a request and queue its response;
 * returns the status chosen */
static int start_file(struct conn *c, const struct http_request *req, int is_head)
{
    char rel[PATH_MAX], location[PATH_MAX + 64];
    struct stat st;
    int dir_slash, status, fd;

    status = http_target_to_path(req->target, req->target_len, rel, sizeof rel - 16,
                                 &dir_slash);
    fd = status == 0 ? open_under_root(rel, &st, &status) : -1;
    if (fd != -1 && S_ISDIR(st.st_mode) && !dir_slash) {
        close(fd);                          /* "/sub" -> "/sub/": relative links work */
        if (put_location(location, sizeof location, rel) == 0)
            return start_error(c, 301, NULL, is_head, location), 301;
        fd = -1;
        status = 414;
    } else if (fd != -1 && S_ISDIR(st.st_mode)) {
        close(fd);                          /* its index.html, checked again: may be a link */
        strcat(rel, rel[0] ? "/index.html" : "index.html");
        fd = open_under_root(rel, &st, &status);
    } else if (fd != -1 && dir_slash) {     /* "/index.html/": a file is no folder */
        close(fd);
        fd = -1;
        status = 404;
    }
    if (fd != -1 && !S_ISREG(st.st_mode)) { /* a folder, a device, a FIFO */
        close(fd);
        fd = -1;
        status = 403;
    }
    if (fd != -1)
        return start_ok(c, req, fd, &st, rel, is_head);
    if (status == 400 || status == 500 || status == 503)
        c->keep_alive = 0;
    start_error(c, status, NULL, is_head, NULL);
    return status;
}

/* start_response - choose the answer to a complete request head */
static void start_response(struct conn *c, const struct http_request *req)
{
    int is_head = strcmp(req->method, "HEAD") == 0, status = 0;

    c->keep_alive = req->keep_alive;
    if (is_head || strcmp(req->method, "GET") == 0) {
        status = start_file(c, req, is_head);
    } else {
        status = method_status(req->method);    /* 405 or 501 */
        start_error(c, status, NULL, 0, "Allow: GET, HEAD\r\n");
    }
    log_event("%s \"%s %.*s HTTP/1.%d\" %d", c->peer, req->method, (int)req->target_len,
              req->target, req->version_minor, status);
}

/* next_request - take the next request out of c->in: its head, then its
 * body (skipped: GET and HEAD give it no meaning, but it must not be read
 * as the next request). Once both are in, queue the response; 1 if a
 * response is now queued, 0 if bytes are needed. The head stays at the
 * front of c->in (c->req points into it) while the body behind it is
 * dropped as it arrives. */
static int next_request(struct conn *c)
{
    size_t head, used;
    int rc = HTTP_COMPLETE;

    if (!c->have_head) {
        if (c->in_len == 0 || (rc = http_parse_request(c->in, c->in_len, &c->req)) == 0)
            return 0;                       /* HTTP_INCOMPLETE */
        c->requests++;
        c->have_head = rc == HTTP_COMPLETE;
        http_body_begin(&c->body, &c->req);
        /* RFC 9110 sec. 10.1.1: a client that asked "Expect: 100-continue"
         * waits for an answer before it sends the body: answer now, close. */
        if (c->req.expect_continue && c->body.phase != BODY_DONE)
            c->req.keep_alive = 0;
    }
    head = c->req.header_bytes;
    if (rc == HTTP_COMPLETE && c->body.phase != BODY_DONE && !c->req.expect_continue) {
        rc = http_body_skip(&c->body, c->in + head, c->in_len - head, &used);
        memmove(c->in + head, c->in + head + used, c->in_len - head - used);
        c->in_len -= used;
        if (rc == HTTP_INCOMPLETE)
            return 0;
        if (rc == HTTP_BAD) {
            c->req.status = c->body.status;
            c->req.reason = c->body.reason;
        }
    }
    c->have_head = 0;
    if (rc == HTTP_BAD) {
        /* Where would the next request start? Answer, then close; c->in
         * keeps its bytes, so that begin_close() lingers (a client still
         * sending a huge head reads our answer, not a reset). */
        c->keep_alive = 0;
        log_event("%s bad request: %s -> %d", c->peer, c->req.reason, c->req.status);
        start_error(c, c->req.status, c->req.reason, 0,
                    c->req.status == 501 ? "Allow: GET, HEAD\r\n" : NULL);
        return 1;
    }
    start_response(c, &c->req);
    memmove(c->in, c->in + head, c->in_len - head);
    c->in_len -= head;
    return 1;
}

/* ---- A connection's life: read, write, linger, close ---- */

/* set_interest - make epoll watch c for events (no call if unchanged) */
static void set_interest(struct conn *c, unsigned events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};

    if (c->events == events)
        return;
    if (epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) == -1)
        die("epoll_ctl MOD");               /* only a bug can get here */
    c->events = events;
}

/* watch_listener - watch the listener (on), or stop while out of descriptors
 * (level-triggered epoll would report it and accept() fail, forever) */
static void watch_listener(int on)
{
    struct epoll_event ev = {.events = on ? EPOLLIN : 0, .data.ptr = NULL};

    if (accept_paused == !on)
        return;
    if (!on)
        warn("accept (pausing new connections until one closes)");
    if (epoll_ctl(epoll_fd, EPOLL_CTL_MOD, listen_fd, &ev) == -1)
        die("epoll_ctl MOD listener");
    accept_paused = !on;
}

/* close_conn - close one connection and forget it */
static void close_conn(struct conn *c, const char *why)
{
    log_event("closed %s after %lu request%s (%s)", c->peer, c->requests,
              c->requests == 1 ? "" : "s", why);
    if (c->file_fd != -1)
        close(c->file_fd);
    close(c->fd);                           /* also removes it from epoll */
    if (c->prev)
        c->prev->next = c->next;
    else
        all_conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
    watch_listener(1);                      /* a descriptor is free again */
}

/* send_some - send as much of the response as the socket takes now;
 * returns 1 when all is sent, 0 when the socket is full, -1 on error */
static int send_some(struct conn *c)
{
    /* MSG_MORE: hold these bytes back to fill the packet, as the file
     * follows, or the FIN of begin_close()'s shutdown() does. */
    int more = c->file_off < c->file_end || !c->keep_alive ? MSG_MORE : 0;

    while (c->out_sent < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent,
                         MSG_NOSIGNAL | more);
        if (n == -1)
            return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
        c->out_sent += (size_t)n;
    }
    while (c->file_off < c->file_end) {
        /* page cache to socket, as much as fits; moves file_off on */
        ssize_t n = sendfile(c->fd, c->file_fd, &c->file_off,
                             (size_t)(c->file_end - c->file_off));
        if (n == -1)
            return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
        if (n == 0) {                       /* the file shrank under us */
            errno = EIO;
            return -1;
        }
    }
    if (c->file_fd != -1) {
        close(c->file_fd);
        c->file_fd = -1;
    }
    return 1;
}

/* begin_close - the last response is out: close, or linger first. close()
 * with unread input sends a reset, which can destroy our response before
 * the client reads it (RFC 9112 sec. 9.6). So shutdown() comes first: it
 * sends the response (and what MSG_MORE held back) with the FIN; then, if
 * the client may still send, read and drop until it closes or LINGER_MS. */
static void begin_close(struct conn *c, const char *why)
{
    if (shutdown(c->fd, SHUT_WR) == -1 || (c->in_len == 0 && c->body.phase == BODY_DONE)) {
        close_conn(c, why);
        return;
    }
    c->state = LINGERING;
    c->deadline_ms = now_ms() + LINGER_MS;
    set_interest(c, EPOLLIN);
}

/* advance - drive one connection as far as it goes without blocking:
 * write the response under way, then take the next request already
 * received (pipelining), until the socket is full or input runs out */
static void advance(struct conn *c)
{
    for (;;) {
        if (c->state == WRITING) {
            int rc = send_some(c);
            if (rc == -1) {
                if (errno != EPIPE && errno != ECONNRESET)
                    warn("send to %s", c->peer);
                close_conn(c, "client gone while sending");
                return;
            }
            if (rc == 0) {                  /* socket full: wait for EPOLLOUT */
                c->deadline_ms = now_ms() + SEND_TIMEOUT_MS;
                set_interest(c, EPOLLOUT);
                return;
            }
            if (!c->keep_alive) {
                begin_close(c, "Connection: close");
                return;
            }
            c->state = READING;
            c->deadline_ms = now_ms() + (c->in_len > 0 ? header_timeout_ms : idle_timeout_ms);
        }
        if (!next_request(c)) {             /* need more bytes from the client */
            set_interest(c, EPOLLIN);
            return;
        }
        c->state = WRITING;
    }
}

/* on_readable - bytes (or the end) from a client */
static void on_readable(struct conn *c)
{
    int was_empty = c->in_len == 0;
    ssize_t n;

    if (c->state == LINGERING) {            /* read and forget */
        char sink[4096];
        n = recv(c->fd, sink, sizeof sink, 0);
        if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
            close_conn(c, "closed after the last response");
        return;
    }
    n = recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
    if (n == 0) {
        close_conn(c, c->in_len > 0 ? "client left mid-request" : "client closed");
        return;
    }
    if (n == -1) {                          /* EAGAIN: a false alarm */
        if (errno != EAGAIN && errno != EINTR)
            close_conn(c, strerror(errno));
        return;
    }
    c->in_len += (size_t)n;
    /* The header timeout runs from a request's first byte, not renewed by
     * later ones: a client trickling a byte at a time is cut off too. */
    if (was_empty)
        c->deadline_ms = now_ms() + header_timeout_ms;
    advance(c);
}

/* ---- The event loop ---- */

/* accept_client - accept one waiting connection. One per report: the
 * listener is level-triggered, so the next epoll_pwait() reports it again
 * if more wait, and the open connections get their turn in between. */
static void accept_client(void)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    struct epoll_event ev = {.events = EPOLLIN};
    struct conn *c;
    int fd = accept4(listen_fd, (struct sockaddr *)&addr, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

    if (fd == -1) {
        if (is_out_of_descriptors(errno))
            watch_listener(0);
        else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
            warn("accept");
        return;
    }
    if ((c = malloc(sizeof *c)) == NULL) {
        warn("malloc");
        close(fd);
        return;
    }
    memset(c, 0, offsetof(struct conn, in));
    c->fd = fd;
    c->file_fd = -1;
    c->state = READING;
    c->events = EPOLLIN;
    c->deadline_ms = now_ms() + idle_timeout_ms;
    format_addr((struct sockaddr *)&addr, len, c->peer, sizeof c->peer);
    ev.data.ptr = c;
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) == -1) {
        warn("epoll_ctl ADD");
        close(fd);
        free(c);
        return;
    }
    c->next = all_conns;
    if (all_conns)
        all_conns->prev = c;
    all_conns = c;
    log_event("connection from %s", c->peer);
}

/* sweep_timeouts - close every connection past its deadline */
static void sweep_timeouts(void)
{
    long long now = now_ms();
    struct conn *c = all_conns, *next;

    for (; c != NULL; c = next) {
        next = c->next;
        if (now < c->deadline_ms)
            continue;
        if (c->state == READING && c->in_len > 0)
            log_event("%s: request head not complete in time", c->peer);
        close_conn(c, c->state == WRITING ? "send timeout" : c->state == LINGERING ? "linger over"
                      : c->in_len > 0 ? "header timeout" : "idle timeout");
    }
    watch_listener(1);                      /* a descriptor may be free now */
}

/* run_loop - the event loop: wait, dispatch, check the clock. SIGINT and
 * SIGTERM are blocked except inside epoll_pwait(), which swaps the mask
 * atomically: a stop signal lands only there, and no wake-up is lost. */
static void run_loop(const sigset_t *wait_mask)
{
    struct epoll_event events[MAX_EVENTS];
    long long next_sweep = now_ms() + SWEEP_MS;

    while (!stop_requested) {
        /* nothing to time out: sleep until a client comes */
        long long wait_ms = next_sweep - now_ms();
        int timeout = (all_conns == NULL && !accept_paused) ? -1
                      : wait_ms < 0 ? 0 : (int)wait_ms;
        int ready_count = epoll_pwait(epoll_fd, events, MAX_EVENTS, timeout, wait_mask);

        if (ready_count == -1 && errno != EINTR)    /* EINTR: a stop signal */
            die("epoll_pwait");
        for (int i = 0; i < ready_count; i++) {
            struct conn *c = events[i].data.ptr;
            if (c == NULL)
                accept_client();
            else if (c->state == WRITING)
                advance(c);                 /* EPOLLOUT, or EPOLLERR: send says */
            else
                on_readable(c);
        }
        if (now_ms() >= next_sweep) {
            sweep_timeouts();
            next_sweep = now_ms() + SWEEP_MS;
        }
    }
}

/* ---- Start-up ---- */

/* on_option - the lesson's own options, from lab_parse() */
static void on_option(int key, const char *arg)
{
    switch (key) {
    case 'r': root_option = arg; break;
    case 'q': quiet = 1; break;
    case 'R': open_beneath = open_by_realpath; break;
    case 'I': idle_timeout_ms = parse_number(arg, 1, 86400, "idle timeout") * 1000LL; break;
    case 'T': header_timeout_ms = parse_number(arg, 1, 86400, "header timeout") * 1000LL; break;
    }
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'r', NULL, "ROOT", "document root (default: www/ beside this program)"},
        {'q', NULL, NULL, "quiet: log errors only, not every connection and request"},
        {'I', "idle-timeout", "SECS", "close a kept-alive connection idle this long (15)"},
        {'T', "header-timeout", "SECS", "a request head must arrive within SECS (10)"},
        {'R', "no-openat2", NULL, "keep files inside the root with realpath() and a prefix check"},
        {0}};
    static const struct lab_command command = {
        "Serves GET and HEAD for the files under ROOT over HTTP/1.1 (and 1.0).",
        "8000", 0, options, on_option, NULL};
    struct lab_args args = lab_parse(argc, argv, &command);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    sigset_t stop_signals, wait_mask;

    catch_stop_signals(0, NULL);            /* SIGPIPE too: sendfile() lacks MSG_NOSIGNAL */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &stop_signals, &wait_mask) == -1)
        die("sigprocmask");
    sigdelset(&wait_mask, SIGINT);
    sigdelset(&wait_mask, SIGTERM);

    set_root(root_option);
    listen_fd = open_listener(args.host, args.port, SOCK_NONBLOCK | SOCK_CLOEXEC, BACKLOG);
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd == -1)
        die("epoll_create1");
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &ev) == -1)
        die("epoll_ctl ADD listener");
    log_event("serving %s", root_dir);
    print_ready_line(listen_fd);

    run_loop(&wait_mask);

    log_event("stopping");
    while (all_conns != NULL)
        close_conn(all_conns, "server stopping");
    close(listen_fd);
    close(epoll_fd);
    close(root_fd);
    return 0;
}
