/* server.c - the echo-upper server on a selector: callbacks, not loops
 *
 * The seed 001 selectors program in C. The listening socket is registered
 * with an accept callback, each client with a client callback, and the
 * main loop does nothing but wait for ready descriptors and call what was
 * registered for them:
 *
 *     while running:  for (fd, mask) in select():  key(fd).callback(mask)
 *
 * Which kernel mechanism does the waiting - select(2), poll(2) or epoll(7)
 * - is chosen at run time (--backend); by default the best the system has,
 * as selectors.DefaultSelector does. The callbacks are the same for all
 * three, so a class can compare them on the same program.
 *
 * Every socket is non-blocking and the interest follows the buffers: a
 * client is watched for reading while its unsent output is below a cap,
 * and for writing only while output waits. A client that never reads
 * costs at most OUTPUT_CAP bytes and nobody else's time. Out of
 * descriptors (EMFILE), the server stops watching the listening socket
 * instead of waking up for it again and again, and resumes when a
 * connection closes (or a second later).
 *
 * With --edge the epoll backend is edge-triggered: a wake-up means "the
 * state changed", so each callback reads (and writes) until EAGAIN. The
 * whole difference between the modes is in client_read (one recv per
 * wake-up, or recv until EAGAIN within a budget and re-arm) and at the end
 * of client_write (a client resumed after a pause is read at once).
 *
 * Usage: ./server [-H ADDR] [-p PORT] [--backend select|poll|epoll] [--edge]
 *        (defaults: 127.0.0.1, 9005, the best backend: epoll, level-triggered)
 *
 * See also: selector.h (the selector and its backends), client.c,
 * edge_level.c, aio.c, NOTES.md.
 * Seeds: 001 (selectors: register with a callback, key.data dispatch),
 * 002 and 004 (select vs poll vs epoll, chosen per system).
 * Linux-specific: epoll, accept4, pipe2 (hence _GNU_SOURCE).
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "selector.h"

#define DEFAULT_PORT "9005"
#define BACKLOG SOMAXCONN   /* a burst of thousands of connects must queue,
                             * not wait for SYN retransmissions */
#define BUF_SIZE 16384
#define OUTPUT_CAP (256 * 1024)  /* stop reading a client owed this much */
#define EDGE_READ_BUDGET 16      /* --edge: recvs per wake-up, then others' turn */
#define ACCEPT_RETRY_MS 1000     /* out of descriptors: try again this often */
#define ADDR_LEN (INET6_ADDRSTRLEN + 8)  /* "host:port" as text */

static const char *prog_name = "server";

/* Written by the signal handler, read by the main loop. */
static volatile sig_atomic_t stop_requested = 0;
static int signal_pipe[2] = {-1, -1};   /* the handler writes, the loop wakes */

static int listen_fd = -1;
static int accept_paused = 0;           /* out of descriptors: listener unwatched */

/* One connection. The output buffer exists only while output waits. */
struct client {
    int fd;
    char peer[ADDR_LEN];
    char *out;                  /* unsent reply bytes, OUTPUT_CAP + BUF_SIZE */
    size_t out_start, out_len;  /* the waiting bytes are out[out_start..+len) */
    int read_closed;            /* client half-closed: finish sending, close */
    int paused_noted;           /* said once that reading was paused */
    unsigned long long total;   /* bytes received */
};

/* log_line - one whole line on stderr: "server: message[: reason]"
 * Built first and written with one fprintf (one write() on unbuffered
 * stderr), so lines never interleave mid-line. */
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

/* note - one line on stderr about an event (a client came, a client left) */
static void note(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_line(0, fmt, ap);
    va_end(ap);
}

/* usage - print the command line; exit with status */
static void usage(FILE *out, int status)
{
    fprintf(out,
            "Usage: %s [-H ADDR] [-p PORT] [--backend select|poll|epoll] [--edge]\n"
            "  -H ADDR    address to listen on (default 127.0.0.1)\n"
            "  -p PORT    port to listen on, 0 = any free port (default %s)\n"
            "  --backend NAME  select, poll or epoll (default: the best, epoll)\n"
            "  --edge     edge-triggered epoll: read and write until EAGAIN\n"
            "  -h, --help  show this help\n",
            prog_name, DEFAULT_PORT);
    exit(status);
}

/* on_stop_signal - SIGINT/SIGTERM handler: set the flag, wake the loop
 *
 * The flag alone could be missed: a signal that lands just before the
 * loop enters select/poll/epoll_wait would not interrupt it. A byte in
 * the self-pipe makes the pipe readable, so the wait returns anyway. */
static void on_stop_signal(int signo)
{
    int saved_errno = errno;
    char byte = 1;

    (void)signo;
    stop_requested = 1;
    if (write(signal_pipe[1], &byte, 1) == -1) {
        /* the pipe is full: the loop is waking already */
    }
    errno = saved_errno;
}

/* install_signals - stop on SIGINT/SIGTERM through a self-pipe; never die
 * of SIGPIPE */
static void install_signals(void)
{
    struct sigaction sa;

    if (pipe2(signal_pipe, O_NONBLOCK | O_CLOEXEC) == -1)
        die("pipe2");
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;   /* the self-pipe wakes the loop, not EINTR */
    if (sigaction(SIGINT, &sa, NULL) == -1 || sigaction(SIGTERM, &sa, NULL) == -1)
        die("sigaction");

    /* Writing to a peer that has gone raises SIGPIPE, which kills by
     * default; ignored, send() fails with EPIPE and we close that one
     * connection instead (MSG_NOSIGNAL says the same per call). */
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL) == -1)
        die("sigaction");
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

/* open_listener - a non-blocking listening socket; exit 1 on failure */
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

    /* Non-blocking: a client that connects and resets before accept()
     * would otherwise leave accept() asleep in the middle of the loop. */
    fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                res->ai_protocol);
    if (fd == -1)
        die("socket");

    /* Without SO_REUSEADDR a restarted server could not bind while the
     * connections of its previous run sit in TIME_WAIT. */
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

/* upper_bytes - ASCII a-z to A-Z in place, every other byte unchanged
 * (not toupper(), whose answer depends on the locale) */
static void upper_bytes(char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i] >= 'a' && buf[i] <= 'z')
            buf[i] = (char)(buf[i] - 'a' + 'A');
}

static void on_accept(struct selector *sel, int fd, int mask, void *data);

/* resume_accepting - watch the listening socket again after EMFILE, and
 * accept at once what queued meanwhile (with --edge no new wake-up would
 * come for connections that are already waiting) */
static void resume_accepting(struct selector *sel)
{
    if (!accept_paused)
        return;
    if (sel_register(sel, listen_fd, SEL_READ, on_accept, NULL) == -1) {
        warn("watch the listening socket");
        return;
    }
    accept_paused = 0;
    on_accept(sel, listen_fd, SEL_READ, NULL);
}

/* pause_accepting - out of descriptors: stop watching the listening socket
 *
 * The pending connection stays readable, so a level-triggered wait would
 * report it again at once and the loop would spin at 100% CPU calling
 * accept() for nothing. Unwatched, it waits in the kernel's queue until a
 * connection of ours closes or ACCEPT_RETRY_MS passes. */
static void pause_accepting(struct selector *sel, int errnum)
{
    if (sel_unregister(sel, listen_fd) == -1)
        warn("unwatch the listening socket");
    accept_paused = 1;
    errno = errnum;
    warn("accept (new connections wait until a descriptor frees up)");
}

/* close_client - unregister, close and free one client */
static void close_client(struct selector *sel, struct client *c, int quiet)
{
    if (sel_unregister(sel, c->fd) == -1)
        warn("unregister %s", c->peer);
    close(c->fd);
    if (!quiet)
        note("closed %s (%llu bytes)", c->peer, c->total);
    free(c->out);
    free(c);
    resume_accepting(sel);              /* a descriptor just freed up */
}

/* update_interest - watch for what the buffers allow: writability only
 * while output waits, readability only while the backlog is under the
 * cap and the client has not half-closed. Closes the client when it has
 * half-closed and everything it is owed has gone. -1 if closed. */
static int update_interest(struct selector *sel, struct client *c)
{
    int events = 0;

    if (c->read_closed && c->out_len == 0) {
        close_client(sel, c, 0);
        return -1;
    }
    if (!c->read_closed && c->out_len < OUTPUT_CAP)
        events |= SEL_READ;
    if (c->out_len > 0)
        events |= SEL_WRITE;
    if (!c->read_closed && c->out_len >= OUTPUT_CAP && !c->paused_noted) {
        note("%s is not reading: %zu bytes owed, reading paused", c->peer, c->out_len);
        c->paused_noted = 1;
    }
    if (sel_modify(sel, c->fd, events) == -1) {
        warn("watch %s", c->peer);
        close_client(sel, c, 0);
        return -1;
    }
    return 0;
}

/* flush_output - send waiting output until it is gone or the socket's
 * buffer is full (EAGAIN); 0, or -1 on a real error */
static int flush_output(struct client *c)
{
    while (c->out_len > 0) {
        ssize_t n = send(c->fd, c->out + c->out_start, c->out_len, MSG_NOSIGNAL);

        if (n == -1) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -1;
        }
        c->out_start += (size_t)n;
        c->out_len -= (size_t)n;
    }
    free(c->out);                       /* idle clients hold no buffer */
    c->out = NULL;
    c->out_start = 0;
    return 0;
}

/* send_or_queue - send len reply bytes, after any that already wait; keep
 * what the socket does not take. 0, or -1 on a real error. */
static int send_or_queue(struct client *c, const char *buf, size_t len)
{
    if (c->out_len == 0) {              /* the usual case: straight out */
        ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);

        if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -1;
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
        }
        if (len == 0)
            return 0;
    }
    if (c->out == NULL) {
        c->out = malloc(OUTPUT_CAP + BUF_SIZE);
        if (c->out == NULL)
            return -1;
    }
    if (c->out_start + c->out_len + len > OUTPUT_CAP + BUF_SIZE) {
        memmove(c->out, c->out + c->out_start, c->out_len);
        c->out_start = 0;
    }
    /* Fits: client_read reads at most BUF_SIZE and only below the cap. */
    memcpy(c->out + c->out_start + c->out_len, buf, len);
    c->out_len += len;
    return 0;
}

/* client_read - recv, upper-case, send back. -1 if the client was closed.
 *
 * Level-triggered: one recv per wake-up; if more is waiting the selector
 * reports the socket again next time. Edge-triggered: the kernel reports
 * new data once, so recv until EAGAIN, or bytes would sit unread with no
 * wake-up to come. Either way, stop below the output cap; and with
 * --edge, after EDGE_READ_BUDGET recvs, re-arm and let the others have
 * their turn (seed 002: do not let one client hog the loop). */
static int client_read(struct selector *sel, struct client *c)
{
    char buf[BUF_SIZE];
    int reads = 0;

    while (!c->read_closed && c->out_len < OUTPUT_CAP) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);

        if (n == -1) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;                  /* drained: wait for the next event */
            warn("recv from %s", c->peer);
            close_client(sel, c, 1);
            return -1;
        }
        if (n == 0) {                   /* half-close: owe the rest, then close */
            c->read_closed = 1;
            break;
        }
        c->total += (unsigned long long)n;
        upper_bytes(buf, (size_t)n);
        if (send_or_queue(c, buf, (size_t)n) == -1) {
            warn("send to %s", c->peer);
            close_client(sel, c, 1);
            return -1;
        }
        if (!(sel->flags & SEL_EDGE))
            break;                      /* level: the selector will call again */
        if (++reads == EDGE_READ_BUDGET) {
            if (sel_rearm(sel, c->fd) == -1) {  /* report it again, later */
                warn("re-arm %s", c->peer);
                close_client(sel, c, 1);
                return -1;
            }
            break;
        }
    }
    return update_interest(sel, c);
}

/* client_write - the socket can take more: send what waits. With --edge,
 * a client paused at the cap gets read at once when it drops below it:
 * its waiting input makes no new edge. (update_interest's EPOLL_CTL_MOD,
 * which gives it EPOLLIN back, would report it too, since MOD looks at
 * the current state; reading now does not depend on that and saves a
 * wait.) -1 if closed. */
static int client_write(struct selector *sel, struct client *c)
{
    int was_paused = c->out_len >= OUTPUT_CAP;

    if (flush_output(c) == -1) {
        warn("send to %s", c->peer);
        close_client(sel, c, 1);
        return -1;
    }
    if (update_interest(sel, c) == -1)
        return -1;
    if ((sel->flags & SEL_EDGE) && was_paused && c->out_len < OUTPUT_CAP)
        return client_read(sel, c);
    return 0;
}

/* on_client - the callback registered for every client (the seed's read) */
static void on_client(struct selector *sel, int fd, int mask, void *data)
{
    struct client *c = data;

    (void)fd;
    if ((mask & SEL_WRITE) && client_write(sel, c) == -1)
        return;                         /* closed: c is gone */
    if (mask & SEL_READ)
        client_read(sel, c);
}

/* add_client - register a new connection with the client callback */
static void add_client(struct selector *sel, int conn_fd, const struct sockaddr *addr,
                       socklen_t addr_len)
{
    struct client *c = calloc(1, sizeof *c);

    if (c == NULL) {
        warn("calloc");
        close(conn_fd);
        return;
    }
    c->fd = conn_fd;
    format_addr(addr, addr_len, c->peer, sizeof c->peer);
    if (sel_register(sel, conn_fd, SEL_READ, on_client, c) == -1) {
        if (errno == ERANGE)            /* select: FD_SET would overflow */
            note("refused %s: fd %d is beyond what %s can watch (FD_SETSIZE %d)",
                 c->peer, conn_fd, sel_backend_name(sel), FD_SETSIZE);
        else
            warn("register %s", c->peer);
        close(conn_fd);
        free(c);
        return;
    }
    note("connection from %s", c->peer);
}

/* on_accept - the callback of the listening socket (the seed's accept):
 * accept until EAGAIN, so that one wake-up takes a whole burst (and so
 * that --edge loses none) */
static void on_accept(struct selector *sel, int fd, int mask, void *data)
{
    (void)mask;
    (void)data;
    for (;;) {
        struct sockaddr_storage addr;
        socklen_t addr_len = sizeof addr;
        int conn_fd = accept4(fd, (struct sockaddr *)&addr, &addr_len,
                              SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (conn_fd == -1) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;                 /* the queue is empty */
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                pause_accepting(sel, errno);
                return;
            }
            warn("accept");
            return;
        }
        add_client(sel, conn_fd, (struct sockaddr *)&addr, addr_len);
    }
}

/* on_signal_pipe - SIGINT/SIGTERM arrived: empty the self-pipe (the
 * handler has set stop_requested; the main loop sees it next) */
static void on_signal_pipe(struct selector *sel, int fd, int mask, void *data)
{
    char bytes[64];

    (void)sel;
    (void)mask;
    (void)data;
    while (read(fd, bytes, sizeof bytes) > 0)
        ;
}

/* close_all - at exit: close every client, unwatch everything */
static void close_all(struct selector *sel)
{
    accept_paused = 0;                  /* closing must not accept anew */
    for (int fd = sel->max_fd; fd >= 0; fd--) {
        struct sel_key *key = sel_get_key(sel, fd);

        if (key != NULL && key->callback == on_client)
            close_client(sel, key->data, 1);
    }
}

/* parse_args - options into host, port, backend, flags; exit 2 if bad */
static void parse_args(int argc, char *argv[], const char **host, const char **port,
                       const char **backend, int *flags)
{
    static const struct option long_options[] = {
        {"help", no_argument, NULL, 'h'}, {"backend", required_argument, NULL, 'b'},
        {"edge", no_argument, NULL, 'e'}, {NULL, 0, NULL, 0}};
    int opt;

    while ((opt = getopt_long(argc, argv, "H:p:h", long_options, NULL)) != -1) {
        switch (opt) {
        case 'H': *host = optarg; break;
        case 'p': *port = optarg; break;
        case 'b': *backend = optarg; break;
        case 'e': *flags |= SEL_EDGE; break;
        case 'h': usage(stdout, 0); break;
        default: usage(stderr, 2);          /* getopt printed the reason */
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", prog_name, argv[optind]);
        usage(stderr, 2);
    }
    if ((*port)[0] == '\0' || strlen(*port) > 5 || strspn(*port, "0123456789") != strlen(*port)
        || atol(*port) > 65535) {
        fprintf(stderr, "%s: bad port '%s'\n", prog_name, *port);
        usage(stderr, 2);
    }
    if (*backend != NULL && strcmp(*backend, "select") != 0 && strcmp(*backend, "poll") != 0
        && strcmp(*backend, "epoll") != 0) {
        fprintf(stderr, "%s: unknown backend '%s'\n", prog_name, *backend);
        usage(stderr, 2);
    }
    if ((*flags & SEL_EDGE) && *backend != NULL && strcmp(*backend, "epoll") != 0) {
        fprintf(stderr, "%s: --edge needs the epoll backend\n", prog_name);
        usage(stderr, 2);
    }
}

int main(int argc, char *argv[])
{
    const char *host = "127.0.0.1", *port = DEFAULT_PORT, *backend = NULL;
    int flags = 0;
    struct selector *sel;

    parse_args(argc, argv, &host, &port, &backend, &flags);
    install_signals();
    listen_fd = open_listener(host, port);

    sel = sel_new(backend, flags);      /* NULL: the best, like DefaultSelector */
    if (sel == NULL)
        die("selector");
    if (sel_register(sel, listen_fd, SEL_READ, on_accept, NULL) == -1
        || sel_register(sel, signal_pipe[0], SEL_READ, on_signal_pipe, NULL) == -1)
        die("register");
    print_ready_line(listen_fd);
    note("backend %s, %s-triggered", sel_backend_name(sel),
         (flags & SEL_EDGE) ? "edge" : "level");

    while (!stop_requested) {           /* the event loop: wait, dispatch */
        int ready_count = sel_select(sel, accept_paused ? ACCEPT_RETRY_MS : -1);

        if (ready_count == -1)
            die("%s", sel_backend_name(sel));
        for (int i = 0; i < ready_count; i++) {
            struct sel_fired ev = sel->fired[i];
            struct sel_key *key = sel_get_key(sel, ev.fd);

            if (key != NULL && (ev.mask & key->events) != 0)
                key->callback(sel, ev.fd, ev.mask & key->events, key->data);
        }
        if (ready_count == 0)
            resume_accepting(sel);      /* the retry after EMFILE */
    }

    note("stopping");
    close_all(sel);
    sel_free(sel);
    close(listen_fd);
    close(signal_pipe[0]);
    close(signal_pipe[1]);
    return 0;
}
