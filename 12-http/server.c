/* server.c - a static-file HTTP/1.1 server on an epoll event loop
 *
 * Python notes 002 end with a twenty-line web server: accept, read one
 * buffer, send index.html back, close. This is that server done properly:
 * a real parser reads each request head (http_parse.h); the target is
 * decoded, normalised and opened under the document root, never outside
 * it (the path fence, below); GET and HEAD get the right status code and
 * an exact Content-Length; connections stay open for the next request
 * (HTTP/1.1) unless told "Connection: close".
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
 * fuzzed in fuzz/), http_reply.h (the words of a response), NOTES.md.
 * Python notes: 002 (the HTTP server on port 8000), 004 (epoll). Linux:
 * epoll, accept4, sendfile, MSG_MORE, openat2, O_PATH, /proc/self/exe.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stddef.h>                 /* offsetof */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../lib/lab.h"
#include "http_parse.h"
#include "http_reply.h"

#define BACKLOG 511                /* hundreds of clients may arrive at once */
#define IN_CAP (MAX_HEADER_BYTES + 1024)  /* a full buffer always gets a verdict */
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
    long long skip_body;               /* request body bytes still to discard */
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
static char root_dir[PATH_MAX];        /* realpath() of the document root */
static int root_fd = -1;               /* the root, for openat2() */
static long long idle_timeout_ms = 15000, header_timeout_ms = 10000;
static int quiet = 0, epoll_fd = -1, listen_fd = -1, accept_paused = 0;
static struct conn *all_conns = NULL;  /* every open connection */
static const char *root_option = NULL;  /* -r ROOT */

/* log_event - note() a connection or a request, unless -q */
#define log_event(...) do { if (!quiet) note(__VA_ARGS__); } while (0)

/* ---- From a decoded path to an open file, never outside the root ---- */

/* openat2_beneath - open rel under the root in one system call: with
 * RESOLVE_BENEATH the kernel itself refuses (EXDEV) any step that would
 * leave the root while it walks the path: a "..", a link that climbs out,
 * every absolute link. RESOLVE_NO_MAGICLINKS refuses /proc's links too.
 * Linux 5.6+, no glibc wrapper. EAGAIN: a rename raced; try again. */
static int openat2_beneath(const char *rel, int flags)
{
    struct open_how how = {.flags = (unsigned long long)flags,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    int fd, tries = 0;

    do
        fd = (int)syscall(SYS_openat2, root_fd, rel, &how, sizeof how);
    while (fd == -1 && errno == EAGAIN && ++tries < 3);
    return fd;
}

/* open_by_realpath - the plain fence, where openat2() is missing */
static int open_by_realpath(const char *rel, int flags)
{
    /* LAB-BEGIN realpath-fence: the plain path fence: realpath() the relative
     * path (the current folder is the root); it must be the root or below it:
     * the root's path then a '/' or the end (/srv/www-old starts with /srv/www
     * too). Outside: EXDEV, -1. Inside: open() what realpath() returned, with
     * flags. See NOTES.md section 2, the path fence, and section 9 on its window.
     * Stub: (void)rel; (void)flags; errno = EXDEV; return -1;
     * Tests: no-openat2
     */
    char resolved[PATH_MAX];
    size_t root_len = strcmp(root_dir, "/") == 0 ? 0 : strlen(root_dir);

    if (realpath(rel, resolved) == NULL)
        return -1;
    if (strncmp(resolved, root_dir, root_len) != 0
        || (resolved[root_len] != '\0' && resolved[root_len] != '/')) {
        errno = EXDEV;
        return -1;
    }
    return open(resolved, flags);
    /* LAB-END realpath-fence */
}

/* The fence in use: openat2_beneath, or open_by_realpath (--no-openat2, old kernel) */
static int (*open_beneath)(const char *rel, int flags) = openat2_beneath;

/* open_under_root - open ROOT/rel (decoded, normalised) if it stays
 * inside the root; the descriptor with *st filled in, or -1 with *status
 * set (403, 404, 414, 500, 503) */
static int open_under_root(const char *rel, struct stat *st, int *status)
{
    const char *path = rel[0] ? rel : ".";
    /* O_NONBLOCK: opening a FIFO left in the root must not hang us all */
    int fd = open_beneath(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

    /* A folder we may enter but not list (mode 0711) refuses O_RDONLY;
     * we only look inside it for index.html, and O_PATH needs no more
     * than search permission. A file we may not read stays refused. */
    if (fd == -1 && errno == EACCES) {
        fd = open_beneath(path, O_PATH | O_CLOEXEC);
        if (fd != -1 && (fstat(fd, st) == -1 || !S_ISDIR(st->st_mode))) {
            close(fd);
            fd = -1;
            errno = EACCES;
        }
    }
    if (fd == -1) {                         /* (note() keeps errno) */
        if (errno == EXDEV)
            log_event("refused a path that leads outside the root");
        *status = (errno == EXDEV || errno == EACCES || errno == ELOOP) ? 403
                  : errno == ENAMETOOLONG ? 414
                  : (errno == EMFILE || errno == ENFILE || errno == EAGAIN) ? 503 : 404;
        return -1;
    }
    if (fstat(fd, st) == -1) {
        close(fd);
        return *status = 500, -1;
    }
    return fd;
}

/* ---- Responses: a head in c->out, then perhaps a file ---- */

/* put_head - the head of a response; extra: more lines ("Name: value\r\n"...) */
static void put_head(struct conn *c, int status, const char *type, long long length,
                     const char *extra)
{
    /* LAB-BEGIN put-head: into c->out, each line ending in CRLF: "HTTP/1.1
     * STATUS REASON", Server, Date (http_date of now), Content-Type,
     * Content-Length, the extra lines, Connection (keep-alive or close), an
     * empty line. Set c->out_len (0 if it did not fit), c->out_sent and the
     * file range to 0. See NOTES.md section 2, the response.
     * Stub: (void)status; (void)type; (void)length; (void)extra; (void)status_reason; c->out_len = c->out_sent = 0; c->file_off = c->file_end = 0;
     * Tests: GET / answers 200
     */
    char date[40];
    int n;

    http_date(time(NULL), date, sizeof date);
    n = snprintf(c->out, sizeof c->out,
                 "HTTP/1.1 %d %s\r\nServer: lab-12-http\r\nDate: %s\r\n"
                 "Content-Type: %s\r\nContent-Length: %lld\r\n"
                 "%sConnection: %s\r\n\r\n",
                 status, status_reason(status), date, type, length, extra,
                 c->keep_alive ? "keep-alive" : "close");
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

/* start_ok - queue "200 OK" for the open regular file fd, which
 * send_some() sends after the head and closes */
static void start_ok(struct conn *c, int fd, const struct stat *st, const char *rel,
                     int is_head)
{
    char modified[40], extra[64];
    time_t now = time(NULL);

    /* RFC 9110 sec. 8.8.2.1: a time in the future becomes the Date */
    http_date(st->st_mtime > now ? now : st->st_mtime, modified, sizeof modified);
    snprintf(extra, sizeof extra, "Last-Modified: %s\r\n", modified);
    put_head(c, 200, content_type(rel), (long long)st->st_size, extra);
    c->file_end = is_head ? 0 : st->st_size;
    /* SPEED, NOT THE LESSON (NOTES section 7: without it, more CPU per
     * request than nginx): a file that fits behind the head goes out in
     * the same send(), read by one pread(), and the FIN rides along. */
    if (c->file_end > 0 && (size_t)c->file_end <= sizeof c->out - c->out_len
        && pread(fd, c->out + c->out_len, (size_t)c->file_end, 0) == c->file_end) {
        c->out_len += (size_t)c->file_end;
        c->file_end = 0;
    }
    if (c->file_end == 0)                   /* nothing for sendfile() */
        close(fd);
    c->file_fd = c->file_end > 0 ? fd : -1;
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
    if (fd != -1) {
        start_ok(c, fd, &st, rel, is_head);
        return 200;
    }
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

/* next_request - parse the next request head out of c->in, if whole, and
 * queue its response; 1 if a response is now queued, 0 if bytes are needed */
static int next_request(struct conn *c)
{
    struct http_request req;
    int rc;

    if (c->skip_body > 0) {                 /* a body we do not use: drop it */
        size_t n = (size_t)c->skip_body < c->in_len ? (size_t)c->skip_body : c->in_len;
        memmove(c->in, c->in + n, c->in_len - n);
        c->in_len -= n;
        c->skip_body -= (long long)n;
    }
    if (c->skip_body > 0 || c->in_len == 0)
        return 0;
    rc = http_parse_request(c->in, c->in_len, &req);
    if (rc == HTTP_INCOMPLETE)
        return 0;
    c->requests++;
    if (rc == HTTP_BAD) {
        /* Where would the next request start? Answer, then close; c->in
         * keeps its bytes, so that begin_close() lingers (a client still
         * sending a huge head reads our answer, not a reset). */
        c->keep_alive = 0;
        log_event("%s bad request: %s -> %d", c->peer, req.reason, req.status);
        start_error(c, req.status, req.reason, 0,
                    req.status == 501 ? "Allow: GET, HEAD\r\n" : NULL);
        return 1;
    }
    start_response(c, &req);
    memmove(c->in, c->in + req.header_bytes, c->in_len - req.header_bytes);
    c->in_len -= req.header_bytes;
    c->skip_body = req.content_length;
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
    if (shutdown(c->fd, SHUT_WR) == -1 || (c->in_len == 0 && c->skip_body == 0)) {
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
    int was_empty = c->in_len == 0 && c->skip_body == 0;
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

/* set_root - the document root: -r ROOT, or www/ beside the executable
 * (/proc/self/exe: ./server works from any folder); exit 1 if it is not a
 * folder. Then openat2() once: where the kernel lacks it, use realpath(). */
static void set_root(const char *root)
{
    char exe[PATH_MAX], guess[PATH_MAX + 8];
    int fd = -1;

    if (root == NULL) {
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n == -1)
            die("readlink /proc/self/exe");
        exe[n] = '\0';
        *strrchr(exe, '/') = '\0';          /* the kernel's path is absolute */
        snprintf(guess, sizeof guess, "%s/www", exe);
        root = guess;
    }
    if (realpath(root, root_dir) == NULL)
        die("document root %s", root);
    /* O_PATH: a handle to resolve paths from; a root of mode 0311 works */
    root_fd = open(root_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root_fd == -1)
        die("document root %s", root_dir);
    /* realpath() then checks only the components the client named */
    if (fchdir(root_fd) == -1)
        die("chdir %s", root_dir);
    if (open_beneath == openat2_beneath && (fd = openat2_beneath(".", O_PATH)) == -1) {
        if (errno != ENOSYS && errno != EPERM)  /* Linux < 5.6, a seccomp filter */
            die("openat2 %s", root_dir);
        warn("openat2 unavailable, using realpath() instead");
        open_beneath = open_by_realpath;
    }
    if (fd != -1)
        close(fd);
}

/* on_option - the lesson's own options, from lab_parse() */
static void on_option(int key, const char *arg)
{
    char *end;
    long secs;

    switch (key) {
    case 'r': root_option = arg; break;
    case 'q': quiet = 1; break;
    case 'R': open_beneath = open_by_realpath; break;
    case 'I': case 'T':
        secs = strtol(arg, &end, 10);
        if (end == arg || *end != '\0' || secs < 1 || secs > 86400)
            usage_error("bad %s timeout '%s' (1 to 86400 seconds)",
                        key == 'I' ? "idle" : "header", arg);
        *(key == 'I' ? &idle_timeout_ms : &header_timeout_ms) = secs * 1000LL;
        break;
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
