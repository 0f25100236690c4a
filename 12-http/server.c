/* server.c - a static-file HTTP/1.1 server on an epoll event loop
 *
 * Seed 002 ends with a web server of twenty lines: accept a browser,
 * read one buffer, print its lines, send index.html back (or a "not
 * found" page), close. This program is that server done properly. It
 * reads each request head with a real parser (http_parse.h), maps the
 * target to a file under a document root and never outside it, answers
 * GET and HEAD with the right status code, Content-Type and
 * Content-Length, keeps the connection open for the next request
 * (HTTP/1.1's default) unless told "Connection: close", and refuses
 * request lines and header sections that are too long.
 *
 * Concurrency is lesson 05's: one thread, non-blocking sockets, one epoll
 * instance. Each connection is a small state machine (reading a request,
 * writing a response, lingering before the close); the loop only ever
 * does what the kernel said will not block. A big file goes out with
 * sendfile() on the non-blocking socket, a socket buffer at a time,
 * resumed when epoll reports EPOLLOUT, so one download never stalls the
 * other clients. Slow or silent clients are dropped by two timeouts: a
 * request head must arrive within --header-timeout seconds of its first
 * byte, and a kept-alive connection may sit idle --idle-timeout seconds.
 *
 * Usage: ./server [-H ADDR] [-p PORT] [-r ROOT] [-q] [--idle-timeout SECS]
 *                 [--header-timeout SECS]
 *        (defaults: 127.0.0.1, 8000, the www folder beside this program,
 *         15 s idle, 10 s for a request head; -q logs errors only)
 *
 * See also: client.c (a small HTTP/1.1 client), http_parse.h (the parser),
 * fuzz/ (the parser under libFuzzer), NOTES.md.
 * Seeds: 002 (the HTTP server on port 8000, SO_REUSEADDR), 004 (IO
 * multiplexing, epoll).
 * Linux-specific: epoll, accept4, sendfile, MSG_MORE, /proc/self/exe,
 * openat2 (hence _GNU_SOURCE).
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "http_parse.h"

#define DEFAULT_PORT "8000"
#define BACKLOG 511                /* hundreds of clients may arrive at once */
#define ADDR_LEN (INET6_ADDRSTRLEN + 8)
#define IN_CAP (MAX_HEADER_BYTES + 1024)  /* a full buffer always gets a verdict */
#define OUT_CAP 4096               /* status line, headers, an error page */
#define MAX_EVENTS 256
#define SWEEP_MS 500               /* how often timeouts are checked */
#define SEND_TIMEOUT_MS 30000      /* a reader that takes nothing for 30 s */
#define LINGER_MS 2000             /* see begin_close() */
#define MAX_SPARE 64               /* closed connections kept for reuse */

enum conn_state { READING, WRITING, LINGERING };

/* One client connection. Everything it needs between two events lives
 * here, never in a static buffer: many connections are half-way through
 * at any moment. The two buffers come last: a new connection clears the
 * fields before them (offsetof(struct conn, in) bytes), not 21 KiB. */
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
    char out[OUT_CAP];                 /* status line, headers, a small file */
};

/* The server's state: one of everything, owned by the single thread. */
static const char *prog_name = "server";
static char root_dir[PATH_MAX];        /* realpath() of the document root */
static size_t root_len;
static int root_fd = -1;               /* the root, for openat2() */
static int use_openat2 = 1;            /* 0: the realpath() fence (--no-openat2,
                                          or a kernel without openat2) */
static int quiet = 0;
static long long idle_timeout_ms = 15000, header_timeout_ms = 10000;
static int epoll_fd = -1, listen_fd = -1;
static int accept_paused = 0;
static struct conn *all_conns = NULL;
static unsigned long conn_count = 0;
static struct conn *spare_conns = NULL; /* freed ones, linked by next */
static unsigned spare_count = 0;

static volatile sig_atomic_t stop_requested = 0;

/* log_line - one whole line on stderr: "server: message[: reason]"
 * Built first and written with one fprintf (one write() on unbuffered
 * stderr), so a line never mixes with another process's output. */
static void log_line(int errnum, const char *fmt, va_list ap)
{
    char msg[512];

    vsnprintf(msg, sizeof msg, fmt, ap);
    if (errnum != 0)
        fprintf(stderr, "%s: %s: %s\n", prog_name, msg, strerror(errnum));
    else
        fprintf(stderr, "%s: %s\n", prog_name, msg);
}

/* die - report a setup failure with the reason from errno, exit 1 */
static void die(const char *fmt, ...)
{
    int saved_errno = errno;
    va_list ap;

    va_start(ap, fmt);
    log_line(saved_errno, fmt, ap);
    va_end(ap);
    exit(1);
}

/* warn - report one connection's trouble with the reason from errno */
static void warn(const char *fmt, ...)
{
    int saved_errno = errno;
    va_list ap;

    va_start(ap, fmt);
    log_line(saved_errno, fmt, ap);
    va_end(ap);
}

/* note - one line on stderr about an event (not with -q) */
static void note(const char *fmt, ...)
{
    va_list ap;

    if (quiet)
        return;
    va_start(ap, fmt);
    log_line(0, fmt, ap);
    va_end(ap);
}

/* usage - print the command line; exit with status */
static void usage(FILE *out, int status)
{
    fprintf(out,
            "Usage: %s [-H ADDR] [-p PORT] [-r ROOT] [-q] [--idle-timeout SECS]\n"
            "              [--header-timeout SECS] [--no-openat2]\n"
            "  -H ADDR   address to listen on (default 127.0.0.1)\n"
            "  -p PORT   port to listen on, 0 = any free port (default %s)\n"
            "  -r ROOT   document root (default: www/ beside this program)\n"
            "  -q        quiet: log errors only, not every connection and request\n"
            "  --idle-timeout SECS    close a kept-alive connection idle this long (15)\n"
            "  --header-timeout SECS  a request head must arrive within SECS (10)\n"
            "  --no-openat2  keep files inside the root with realpath() and a prefix\n"
            "                check, as on Linux before 5.6 (default: openat2)\n"
            "  -h, --help  show this help\n",
            prog_name, DEFAULT_PORT);
    exit(status);
}

/* now_ms - a monotonic clock in milliseconds (wall-clock jumps do not
 * make every connection time out at once) */
static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* on_stop_signal - SIGINT/SIGTERM handler: only set the flag. The signal
 * is blocked except inside epoll_pwait(), so it can only land there, and
 * epoll_pwait() then returns EINTR: no wake-up is ever lost. */
static void on_stop_signal(int signo)
{
    (void)signo;
    stop_requested = 1;
}

/* install_signals - stop on SIGINT/SIGTERM (delivered only inside
 * epoll_pwait); never die of SIGPIPE; returns the mask for epoll_pwait */
static sigset_t install_signals(void)
{
    struct sigaction sa;
    sigset_t block, wait_mask;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    if (sigaction(SIGINT, &sa, NULL) == -1 || sigaction(SIGTERM, &sa, NULL) == -1)
        die("sigaction");

    /* send() has MSG_NOSIGNAL, but sendfile() has no such flag: writing
     * a file to a client that has gone raises SIGPIPE, which kills by
     * default. Ignored, sendfile() fails with EPIPE instead. */
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL) == -1)
        die("sigaction");

    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &block, &wait_mask) == -1)
        die("sigprocmask");
    sigdelset(&wait_mask, SIGINT);
    sigdelset(&wait_mask, SIGTERM);
    return wait_mask;
}

/* format_addr - "host:port" of a socket address, into buf */
static void format_addr(const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
    char host[INET6_ADDRSTRLEN], port[8];

    if (getnameinfo(sa, len, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        snprintf(buf, size, "?:?");
    else
        snprintf(buf, size, "%s:%s", host, port);
}

/* open_listener - socket, SO_REUSEADDR, bind, listen; exit 1 on failure.
 * The socket is non-blocking: accept() in the loop must never sleep. */
static int open_listener(const char *host, const char *port)
{
    struct addrinfo hints, *res;
    int fd, one = 1, rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "%s: bad address %s:%s: %s\n", prog_name, host, port,
                gai_strerror(rc));
        exit(1);
    }

    fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                res->ai_protocol);
    if (fd == -1)
        die("socket");
    /* The seed sets it too: a restarted server can bind at once although
     * its old connections sit in TIME_WAIT. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1)
        die("setsockopt SO_REUSEADDR");
    if (bind(fd, res->ai_addr, res->ai_addrlen) == -1)
        die("bind %s:%s", host, port);
    freeaddrinfo(res);
    if (listen(fd, BACKLOG) == -1)
        die("listen");
    return fd;
}

/* print_ready_line - "listening on ADDR:PORT" on stdout, with the real port */
static void print_ready_line(int fd)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    char where[ADDR_LEN];

    if (getsockname(fd, (struct sockaddr *)&addr, &len) == -1)
        die("getsockname");
    format_addr((struct sockaddr *)&addr, len, where, sizeof where);
    printf("listening on %s\n", where);
    fflush(stdout);
}

/* openat2_beneath - open rel (relative) under the root in one system
 * call. RESOLVE_BENEATH makes the kernel itself refuse, with EXDEV, any
 * step that would leave the root while it walks the path: a "..", an
 * absolute symbolic link (even one pointing back inside), a relative link
 * that climbs out. RESOLVE_NO_MAGICLINKS refuses /proc-style links too.
 * Linux 5.6 or later; glibc has no wrapper, hence syscall(). */
static int openat2_beneath(const char *rel, int flags)
{
    struct open_how how;
    int fd, tries = 0;

    memset(&how, 0, sizeof how);            /* fields it does not know: zero */
    how.flags = (unsigned long long)flags;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    /* EAGAIN: a rename elsewhere raced with a ".." inside a link, and the
     * kernel could not be sure the walk stayed inside; it asks for a retry */
    do
        fd = (int)syscall(SYS_openat2, root_fd, rel, &how, sizeof how);
    while (fd == -1 && errno == EAGAIN && ++tries < 3);
    return fd;
}

/* set_root - resolve the document root once: -r ROOT, or the www folder
 * beside the executable (found through /proc/self/exe, so ./server works
 * from any current directory); exit 1 if it is not a directory */
static void set_root(const char *root)
{
    char exe[PATH_MAX], guess[PATH_MAX + 8];
    struct stat st;
    int fd;

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
    if (stat(root_dir, &st) == -1)
        die("document root %s", root_dir);
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        die("document root %s", root_dir);
    }
    root_len = strlen(root_dir);
    if (root_len == 1)                      /* "/": every path is inside */
        root_len = 0;
    /* Working from inside the root, realpath() of a relative path only
     * has to look at the components the client named (one readlink()
     * each), not at every folder from / down to the root again. */
    if (chdir(root_dir) == -1)
        die("chdir %s", root_dir);
    if (!use_openat2)
        return;
    /* O_PATH: a handle on the folder to resolve paths from, nothing more */
    root_fd = open(root_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root_fd == -1)
        die("document root %s", root_dir);
    /* Is openat2() there? Asked with O_PATH, which needs no permission to
     * read the folder: a root of mode 0711 serves its files all the same. */
    fd = openat2_beneath(".", O_PATH | O_CLOEXEC);
    if (fd == -1 && (errno == ENOSYS || errno == EPERM)) {
        /* Linux before 5.6 (ENOSYS), or a container whose system call
         * filter does not know openat2 (EPERM): the realpath() fence */
        warn("openat2 unavailable, using realpath() instead");
        use_openat2 = 0;
    } else if (fd == -1) {
        die("openat2 %s", root_dir);
    } else {
        close(fd);
    }
}

/* set_interest - make epoll watch c for events (no call if unchanged) */
static void set_interest(struct conn *c, unsigned events)
{
    struct epoll_event ev;

    if (c->events == events)
        return;
    ev.events = events;
    ev.data.ptr = c;
    if (epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) == -1)
        die("epoll_ctl MOD");               /* only a bug can get here */
    c->events = events;
}

/* resume_accepting - watch the listener again after EMFILE paused it */
static void resume_accepting(void)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};

    if (!accept_paused)
        return;
    if (epoll_ctl(epoll_fd, EPOLL_CTL_MOD, listen_fd, &ev) == -1)
        die("epoll_ctl MOD listener");
    accept_paused = 0;
}

/* new_conn - a struct conn with its fields cleared: a spare one if there
 * is one (no malloc(), and its pages are already in memory), else a new
 * one; NULL when out of memory. Clearing only the fields, not the two
 * buffers, is enough: a buffer is only read up to what was written to it. */
static struct conn *new_conn(void)
{
    struct conn *c = spare_conns;

    if (c != NULL) {
        spare_conns = c->next;
        spare_count--;
    } else if ((c = malloc(sizeof *c)) == NULL) {
        return NULL;
    }
    memset(c, 0, offsetof(struct conn, in));
    return c;
}

/* free_conn - keep a closed connection's struct for the next one (up to
 * MAX_SPARE, so a burst of clients does not hold its memory for ever) */
static void free_conn(struct conn *c)
{
    if (spare_count >= MAX_SPARE) {
        free(c);
        return;
    }
    c->next = spare_conns;
    spare_conns = c;
    spare_count++;
}

/* close_conn - close one connection and forget it */
static void close_conn(struct conn *c, const char *why)
{
    note("closed %s after %lu request%s (%s)", c->peer, c->requests,
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
    conn_count--;
    free_conn(c);
    resume_accepting();                     /* a descriptor is free again */
}

/* pause_accepting - out of descriptors: stop watching the listener.
 * Level-triggered epoll would otherwise report it readable again at
 * once, and accept() fail again, forever: a busy spin. New clients wait
 * in the listen backlog until a connection closes. */
static void pause_accepting(void)
{
    struct epoll_event ev = {.events = 0, .data.ptr = NULL};

    warn("accept (pausing new connections until one closes)");
    if (epoll_ctl(epoll_fd, EPOLL_CTL_MOD, listen_fd, &ev) == -1)
        die("epoll_ctl MOD listener");
    accept_paused = 1;
}

/* accept_client - accept one waiting connection. One per report, not a
 * loop until EAGAIN: the listener is level-triggered, so if more clients
 * wait, the next epoll_pwait() reports it again, along with the clients
 * already connected, which get their turn in between. A loop would end
 * each round with an accept4() that fails with EAGAIN, a system call for
 * nothing. */
static void accept_client(void)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    struct epoll_event ev;
    struct conn *c;
    int fd = accept4(listen_fd, (struct sockaddr *)&addr, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

    if (fd == -1) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
            pause_accepting();
        else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR
                 && errno != ECONNABORTED)
            warn("accept");
        return;
    }
    c = new_conn();
    if (c == NULL) {
        warn("malloc");
        close(fd);
        return;
    }
    c->fd = fd;
    c->file_fd = -1;
    c->state = READING;
    c->events = EPOLLIN;
    c->deadline_ms = now_ms() + idle_timeout_ms;
    format_addr((struct sockaddr *)&addr, len, c->peer, sizeof c->peer);
    ev.events = EPOLLIN;
    ev.data.ptr = c;
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) == -1) {
        warn("epoll_ctl ADD");
        close(fd);
        free_conn(c);
        return;
    }
    c->next = all_conns;
    if (all_conns)
        all_conns->prev = c;
    all_conns = c;
    conn_count++;
    note("connection from %s", c->peer);
}

/* status_reason - the reason phrase of a status code */
static const char *status_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 301: return "Moved Permanently";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

/* content_type - the media type for a file name, from its extension */
static const char *content_type(const char *path)
{
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"}, {".htm", "text/html; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},   {".js", "text/javascript; charset=utf-8"},
        {".txt", "text/plain; charset=utf-8"}, {".md", "text/plain; charset=utf-8"},
        {".json", "application/json"},         {".png", "image/png"},
        {".svg", "image/svg+xml"},             {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},               {".gif", "image/gif"},
        {".ico", "image/x-icon"},              {".webp", "image/webp"},
        {".pdf", "application/pdf"},           {".wasm", "application/wasm"},
    };
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');

    if (dot != NULL && (slash == NULL || dot > slash))
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcasecmp(dot, types[i][0]) == 0)
                return types[i][1];
    return "application/octet-stream";      /* "just bytes": the browser saves it */
}

/* http_date - an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") for t */
static void http_date(time_t t, char *buf, size_t size)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;

    /* Not strftime("%a %b"): those names follow the locale. A time whose
     * year does not fit an int (a file's mtime can be anything) makes
     * gmtime_r() fail and leave tm unset: show the epoch instead. */
    if (gmtime_r(&t, &tm) == NULL) {
        t = 0;
        gmtime_r(&t, &tm);
    }
    snprintf(buf, size, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
             tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
             tm.tm_sec);
}

/* A formatted date and the time it shows: formatting costs more than
 * comparing, and most requests show the same second (Date) or the same
 * file (Last-Modified) as the one before. Shared by all connections, which
 * is safe only because one thread uses it and copies the text into the
 * connection's own c->out at once. */
struct date_cache {
    time_t t;
    char text[40];
};

/* cached_date - http_date(t), formatted only if t differs from last time */
static const char *cached_date(struct date_cache *dc, time_t t)
{
    if (dc->t != t || dc->text[0] == '\0') {
        http_date(t, dc->text, sizeof dc->text);
        dc->t = t;
    }
    return dc->text;
}

/* put_head - write the status line and the headers every response has
 * into c->out; extra is more header lines ("Name: value\r\n"...) */
static void put_head(struct conn *c, int status, const char *type, long long length,
                     const char *extra)
{
    static struct date_cache now;
    int n;

    n = snprintf(c->out, sizeof c->out,
                 "HTTP/1.1 %d %s\r\n"
                 "Server: lab-12-http\r\n"
                 "Date: %s\r\n"
                 "Content-Type: %s\r\n"
                 "Content-Length: %lld\r\n"
                 "%s"
                 "Connection: %s\r\n"
                 "\r\n",
                 status, status_reason(status), cached_date(&now, time(NULL)), type,
                 length, extra, c->keep_alive ? "keep-alive" : "close");
    /* extra is bounded by the callers; a truncated head would be a bug */
    c->out_len = n > 0 && (size_t)n < sizeof c->out ? (size_t)n : 0;
    c->out_sent = 0;
}

/* start_error - queue a small HTML error page (just the head for HEAD) */
static void start_error(struct conn *c, int status, const char *detail, int is_head,
                        const char *extra)
{
    char body[512];
    int body_len = snprintf(body, sizeof body,
                            "<!DOCTYPE html>\n<html><head><title>%d %s</title></head>\n"
                            "<body><h1>%d %s</h1><p>%s</p></body></html>\n",
                            status, status_reason(status), status, status_reason(status),
                            detail);

    if (body_len < 0 || (size_t)body_len >= sizeof body)
        body_len = 0;
    put_head(c, status, "text/html; charset=utf-8", body_len, extra ? extra : "");
    if (!is_head && c->out_len + (size_t)body_len <= sizeof c->out) {
        memcpy(c->out + c->out_len, body, (size_t)body_len);
        c->out_len += (size_t)body_len;
    }
    c->file_off = c->file_end = 0;
}

/* inside_root - is this resolved path the root or below it? */
static int inside_root(const char *resolved)
{
    return strncmp(resolved, root_dir, root_len) == 0
           && (resolved[root_len] == '\0' || resolved[root_len] == '/');
}

/* open_by_realpath - the second fence where openat2() is missing:
 * realpath() follows every symbolic link and removes every "." and "..",
 * and what is left is where the kernel would really go; serve it only if
 * that is inside the root. Three steps and a window between the check
 * and the open() (section 9 of the notes). Returns a descriptor, or -1
 * with errno set (EXDEV: outside the root). */
static int open_by_realpath(const char *rel)
{
    char resolved[PATH_MAX];

    if (realpath(rel, resolved) == NULL)
        return -1;
    if (!inside_root(resolved)) {           /* a symlink that points out */
        errno = EXDEV;
        return -1;
    }
    return open(resolved, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
}

/* open_under_root - open ROOT/rel for reading if, after every symbolic
 * link is followed, it is still inside the root. rel is relative, with
 * no "." or ".." (http_target_to_path). Returns the descriptor with *st
 * filled in, or -1 with *status set (403, 404, 414, 500, 503). */
static int open_under_root(const char *rel, struct stat *st, int *status)
{
    const char *path = rel[0] ? rel : ".";
    /* O_NONBLOCK: opening a FIFO someone left in the root must not hang
     * the whole server; it does not change reads of a regular file. */
    int fd = use_openat2 ? openat2_beneath(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
                         : open_by_realpath(path);

    if (fd == -1) {
        int err = errno;                    /* note() may change errno */
        if (err == EXDEV)
            note("refused a path that leads outside the root");
        *status = (err == EXDEV || err == EACCES || err == ELOOP) ? 403
                  : err == ENAMETOOLONG ? 414
                  : (err == EMFILE || err == ENFILE || err == EAGAIN) ? 503 : 404;
        return -1;
    }
    if (fstat(fd, st) == -1) {
        close(fd);
        return *status = 500, -1;
    }
    return fd;
}

/* put_location - "Location: /rel/\r\n" into buf, every byte of rel that
 * is not plainly safe in a URL percent-encoded: rel is decoded, and a
 * decoded "%0D%0A" must not end our header line and start a forged one
 * (response splitting). An empty rel (the root, reached as "/." or
 * "/sub/..") gives "Location: /": "//" would be a network-path reference,
 * which a browser reads as "another host". Returns 0, or -1 if it does
 * not fit. */
static int put_location(char *buf, size_t size, const char *rel)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t used = (size_t)snprintf(buf, size, "Location: /");

    if (rel[0] == '\0') {
        if (used + 3 > size)
            return -1;
        memcpy(buf + used, "\r\n", 3);
        return 0;
    }

    for (const unsigned char *p = (const unsigned char *)rel; *p; p++) {
        if (used + 4 > size)
            return -1;
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')
            || strchr("-._~/", *p) != NULL) {
            buf[used++] = (char)*p;
        } else {
            buf[used++] = '%';
            buf[used++] = hex[*p >> 4];
            buf[used++] = hex[*p & 15];
        }
    }
    if (used + 4 > size || used > 1024)     /* and it must fit c->out */
        return -1;
    memcpy(buf + used, "/\r\n", 4);
    return 0;
}

/* start_ok - queue "200 OK" for the open regular file fd (closed here or
 * by send_some() once sent) */
static void start_ok(struct conn *c, int fd, const struct stat *st, const char *rel,
                     int is_head)
{
    static struct date_cache mtime;
    char extra[80];
    time_t now = time(NULL), modified = st->st_mtime;

    if (modified > now)                     /* RFC 9110 sec. 8.8.2.1: a time in */
        modified = now;                     /* the future becomes the Date */
    snprintf(extra, sizeof extra, "Last-Modified: %s\r\n", cached_date(&mtime, modified));
    put_head(c, 200, content_type(rel), (long long)st->st_size, extra);
    c->file_off = 0;
    c->file_end = is_head ? 0 : st->st_size;
    /* A small file fits behind the head in c->out: one pread() and one
     * send() cost less than send() plus sendfile(). */
    if (!is_head && (size_t)st->st_size <= sizeof c->out - c->out_len
        && pread(fd, c->out + c->out_len, (size_t)st->st_size, 0) == st->st_size) {
        c->out_len += (size_t)st->st_size;
        c->file_end = 0;
    }
    if (c->file_end == 0) {                 /* nothing left for sendfile() */
        close(fd);
        fd = -1;
    }
    c->file_fd = fd;
}

/* start_file - find the file for a request and queue its response;
 * returns the status chosen */
static int start_file(struct conn *c, const struct http_request *req, int is_head)
{
    char rel[PATH_MAX], location[PATH_MAX + 64];
    struct stat st;
    int dir_slash, status, fd = -1;

    status = http_target_to_path(req->target, req->target_len, rel, sizeof rel - 16,
                                 &dir_slash);
    if (status == 0)
        fd = open_under_root(rel, &st, &status);
    if (fd != -1 && dir_slash && !S_ISDIR(st.st_mode)) {
        close(fd);                          /* "/index.html/": a file is no
                                               folder (open() says ENOTDIR) */
        fd = -1;
        status = 404;
    }
    if (fd != -1 && S_ISDIR(st.st_mode)) {
        close(fd);
        fd = -1;
        if (!dir_slash) {                   /* "/sub" -> "/sub/", so that the
                                               page's relative links work */
            if (put_location(location, sizeof location, rel) == -1)
                status = 414;
            else {
                start_error(c, 301, "This folder lives at the address ending in /.",
                            is_head, location);
                return 301;
            }
        } else {                            /* the folder's index.html, checked
                                               again: it may be a link too */
            strcat(rel, rel[0] ? "/index.html" : "index.html");
            fd = open_under_root(rel, &st, &status);
        }
    }
    if (fd != -1 && !S_ISREG(st.st_mode)) { /* a device, a FIFO, a socket */
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
    start_error(c, status,
                status == 403 ? "That path is not yours to see." :
                status == 404 ? "No such file here." :
                status == 503 ? "The server cannot open files right now; try again." :
                "The request target could not be understood.",
                is_head, NULL);
    return status;
}

/* start_response - choose the answer to a complete request head */
static void start_response(struct conn *c, const struct http_request *req)
{
    static const char *const known[] = {"POST", "PUT", "DELETE", "OPTIONS", "PATCH",
                                        "TRACE", "CONNECT"};
    int is_head = strcmp(req->method, "HEAD") == 0, status = 0;

    c->keep_alive = req->keep_alive;
    if (is_head || strcmp(req->method, "GET") == 0) {
        status = start_file(c, req, is_head);
    } else {
        status = 501;                       /* a method this server never heard of */
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            if (strcmp(req->method, known[i]) == 0)
                status = 405;               /* a real method, not for static files */
        start_error(c, status, "This server only reads files: GET and HEAD.", 0,
                    "Allow: GET, HEAD\r\n");
    }
    note("%s \"%s %.*s HTTP/1.%d\" %d", c->peer, req->method, (int)req->target_len,
         req->target, req->version_minor, status);
}

/* next_request - parse the next request head out of c->in, if whole, and
 * queue its response; returns 1 if a response is now queued, 0 if more
 * bytes are needed */
static int next_request(struct conn *c)
{
    struct http_request req;
    int rc;

    if (c->skip_body > 0) {                 /* a body we do not use: drop it */
        size_t n = (size_t)c->skip_body < c->in_len ? (size_t)c->skip_body : c->in_len;
        memmove(c->in, c->in + n, c->in_len - n);
        c->in_len -= n;
        c->skip_body -= (long long)n;
        if (c->skip_body > 0)
            return 0;
    }
    if (c->in_len == 0)
        return 0;
    rc = http_parse_request(c->in, c->in_len, &req);
    if (rc == HTTP_INCOMPLETE)
        return 0;
    c->requests++;
    if (rc == HTTP_BAD) {
        /* After a malformed head we cannot know where the next request
         * starts: answer, then close. */
        c->keep_alive = 0;
        note("%s bad request: %s -> %d", c->peer, req.reason, req.status);
        start_error(c, req.status, req.reason, 0,
                    req.status == 501 ? "Allow: GET, HEAD\r\n" : NULL);
        /* c->in stays as it is: unparsed bytes make begin_close() linger,
         * and a client still sending (a huge header) reads our answer
         * instead of a reset. */
        return 1;
    }
    start_response(c, &req);
    memmove(c->in, c->in + req.header_bytes, c->in_len - req.header_bytes);
    c->in_len -= req.header_bytes;
    c->skip_body = req.content_length;
    return 1;
}

/* send_some - send as much of the response as the socket takes now;
 * returns 1 when all is sent, 0 when the socket is full, -1 on error */
static int send_some(struct conn *c)
{
    /* MSG_MORE: more follows, so let the kernel hold these bytes back
     * and fill the packet. Either the file follows (the head and its
     * first bytes then share a packet), or this is the last response
     * before the close: the FIN that shutdown() sends at once
     * (begin_close) then rides in the same packet as the response,
     * instead of a packet of its own. */
    int more = c->file_off < c->file_end || !c->keep_alive ? MSG_MORE : 0;

    while (c->out_sent < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent,
                         MSG_NOSIGNAL | more);
        if (n == -1)
            return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : errno == EINTR ? 0 : -1;
        c->out_sent += (size_t)n;
    }
    while (c->file_off < c->file_end) {
        /* The kernel copies from the page cache straight to the socket,
         * as much as the socket buffer holds, and moves file_off on. */
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

/* begin_close - the last response is out: close, or linger first.
 *
 * close() on a socket that still has unread bytes from the client makes
 * the kernel send a reset instead of a normal end, and a reset can
 * destroy our response before the client has read it (RFC 9112 sec. 9.6).
 * So when the client may still be sending (a pipelined request, an
 * unread body, a malformed head) we shut down our side only, then read
 * and drop what comes until the client closes or LINGER_MS passes.
 *
 * shutdown() comes first in every case: it sends the FIN, and with it
 * the response that MSG_MORE held back. Bytes can arrive after our last
 * recv(), and a close() that finds them unread resets the connection
 * and throws away what is still queued: without the shutdown(), all of
 * the last response. */
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
    if (n == -1) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        close_conn(c, strerror(errno));
        return;
    }
    c->in_len += (size_t)n;
    /* The header timeout runs from a request's first byte and is not
     * renewed by later bytes: a client trickling one byte every few
     * seconds (slowloris) is still cut off. */
    if (was_empty)
        c->deadline_ms = now_ms() + header_timeout_ms;
    advance(c);
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
        if (c->state == READING && c->in_len == 0)
            close_conn(c, "idle timeout");
        else if (c->state == READING) {
            note("%s: request head not complete in time", c->peer);
            close_conn(c, "header timeout");
        } else
            close_conn(c, c->state == WRITING ? "send timeout" : "linger over");
    }
    if (accept_paused)                      /* a descriptor may be free now */
        resume_accepting();
}

/* run_loop - the event loop: wait, dispatch, check the clock */
static void run_loop(const sigset_t *wait_mask)
{
    struct epoll_event events[MAX_EVENTS];
    long long next_sweep = now_ms() + SWEEP_MS;

    while (!stop_requested) {
        /* With no connection and no paused listener, sleep until a client
         * comes; otherwise wake by the next sweep at the latest. */
        long long wait_ms = next_sweep - now_ms();
        int timeout = (conn_count == 0 && !accept_paused) ? -1
                      : wait_ms < 0 ? 0 : (int)wait_ms;
        int ready_count = epoll_pwait(epoll_fd, events, MAX_EVENTS, timeout, wait_mask);

        if (ready_count == -1) {
            if (errno == EINTR)
                continue;                   /* a signal: the loop test sees it */
            die("epoll_pwait");
        }
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

/* parse_seconds - a whole number of seconds, 1..86400, or exit 2 */
static long long parse_seconds(const char *text, const char *what)
{
    char *end;
    long value = strtol(text, &end, 10);

    if (end == text || *end != '\0' || value < 1 || value > 86400) {
        fprintf(stderr, "%s: bad %s '%s' (1 to 86400 seconds)\n", prog_name, what, text);
        usage(stderr, 2);
    }
    return (long long)value * 1000;
}

int main(int argc, char *argv[])
{
    static const struct option long_options[] = {
        {"help", no_argument, NULL, 'h'},
        {"idle-timeout", required_argument, NULL, 'I'},
        {"header-timeout", required_argument, NULL, 'T'},
        {"no-openat2", no_argument, NULL, 'R'},
        {NULL, 0, NULL, 0}};
    const char *host = "127.0.0.1", *port = DEFAULT_PORT, *root = NULL;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    sigset_t wait_mask;
    int opt;

    while ((opt = getopt_long(argc, argv, "H:p:r:qh", long_options, NULL)) != -1) {
        switch (opt) {
        case 'H': host = optarg; break;
        case 'p': port = optarg; break;
        case 'r': root = optarg; break;
        case 'q': quiet = 1; break;
        case 'I': idle_timeout_ms = parse_seconds(optarg, "idle timeout"); break;
        case 'T': header_timeout_ms = parse_seconds(optarg, "header timeout"); break;
        case 'R': use_openat2 = 0; break;
        case 'h': usage(stdout, 0); break;
        default: usage(stderr, 2);          /* getopt printed the reason */
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", prog_name, argv[optind]);
        usage(stderr, 2);
    }
    if (port[0] == '\0' || strlen(port) > 5 || strspn(port, "0123456789") != strlen(port)
        || atol(port) > 65535) {
        fprintf(stderr, "%s: bad port '%s'\n", prog_name, port);
        usage(stderr, 2);
    }

    wait_mask = install_signals();
    set_root(root);
    listen_fd = open_listener(host, port);
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd == -1)
        die("epoll_create1");
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &ev) == -1)
        die("epoll_ctl ADD listener");
    note("serving %s", root_dir);
    print_ready_line(listen_fd);

    run_loop(&wait_mask);

    note("stopping");
    while (all_conns != NULL)
        close_conn(all_conns, "server stopping");
    while (spare_conns != NULL) {
        struct conn *c = spare_conns;
        spare_conns = c->next;
        free(c);
    }
    close(listen_fd);
    close(epoll_fd);
    return 0;
}
