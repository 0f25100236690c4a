/* server.c - a non-blocking echo-upper server that polls, and counts its waste
 *
 * The seeds' second IO model. Every socket is put in non-blocking mode
 * (Python's setblocking(False) is fcntl(O_NONBLOCK)), so accept(), recv()
 * and send() never sleep: when there is nothing to do they fail at once
 * with EAGAIN (Python raises BlockingIOError). The process never waits, so
 * it must keep asking. One pass of the polling loop is the seeds' loop:
 *
 *   1. try accept(); a new client joins the client list;
 *   2. try recv() on every client; what comes in is upper-cased and
 *      appended to that client's pending output (the seeds' to-send list);
 *   3. try send() on every client with pending output; whatever the
 *      kernel takes is dropped from the front of it;
 *   4. clients that left or failed were put on the closed list during the
 *      pass; only now are they removed (never remove from the list you are
 *      walking, which is why the seeds keep del_datas and closed_cs).
 *
 * It serves many clients at once with one thread, but it never sleeps:
 * idle, it burns a whole CPU core asking "anything yet?" hundreds of
 * thousands of times a second. It counts those wasted calls (calls that
 * returned EAGAIN); -v prints the count every second, and the total is
 * printed at exit.
 * --sleep MS adds the seeds' time.sleep(): after a pass that found nothing
 * to do the loop sleeps MS milliseconds, trading reply latency for CPU.
 *
 * The busy loop is the lesson; the rest is kept honest: a client's
 * pending output is capped and the server stops reading a client whose
 * output is over the cap (so one client that never reads costs at most
 * PENDING_CAP bytes and stalls nobody), resets and half-closes are handled,
 * and running out of descriptors refuses the one connection instead of
 * leaving it queued and retried on every pass.
 *
 * Usage: ./server [-H ADDR] [-p PORT] [-v] [--sleep MS]
 *                                        (defaults: 127.0.0.1, 9002, no sleep)
 *
 * See also: client.c, timeout.c (settimeout), sigio.c (signal-driven IO),
 * NOTES.md.
 * Seeds: 000 and 004 (the polling loop with its lists), 001 (the sleep),
 * 004 (the IO models).
 */
#define _POSIX_C_SOURCE 200809L

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
#include <time.h>
#include <unistd.h>

#define DEFAULT_PORT "9002"
#define BACKLOG 128
#define BUF_SIZE 16384
#define PENDING_CAP (256 * 1024)   /* most unsent output one client may have */
#define ACCEPT_BURST 64            /* most accepts in one pass */
#define MAX_SLEEP_MS 10000
#define ADDR_LEN (INET6_ADDRSTRLEN + 8)  /* "host:port" as text */

/* One connected client: the seeds' conn plus its entries in send_datas. */
struct client {
    int fd;
    char peer[ADDR_LEN];
    char *pending;              /* upper-cased bytes not yet sent back */
    size_t pending_len, pending_cap;
    int peer_done;              /* it half-closed: send what we owe, then close */
    int closing;                /* on the closed list; skip it for the rest of the pass */
    unsigned long long total;   /* bytes echoed, for the "closed" line */
};

/* Calls that returned EAGAIN ("wasted") and calls that moved something. */
struct counters {
    unsigned long long accept_wasted, recv_wasted, send_wasted, useful;
};

/* Everything the loop works on. */
struct server {
    int listen_fd;
    int spare_fd;               /* held in reserve for EMFILE; see refuse_one() */
    struct client *clients;     /* the client list */
    size_t count, cap;
    size_t *closed;             /* the closed list: indices into clients */
    size_t closed_count;
    struct counters now, last_second;
    double accept_paused_until; /* no spare descriptor: rest accept() until then */
};

static const char *prog_name = "server";

/* Written by the signal handler, read by the loop. */
static volatile sig_atomic_t stop_requested = 0;

/* log_line - one whole line on stderr: "server: message[: reason]"
 * Built first and written with one fprintf (one write() on unbuffered
 * stderr), so lines from several processes never interleave mid-line. */
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
            "Usage: %s [-H ADDR] [-p PORT] [-v] [--sleep MS]\n"
            "  -H ADDR     address to listen on (default 127.0.0.1)\n"
            "  -p PORT     port to listen on, 0 = any free port (default %s)\n"
            "  -v          print the wasted calls (EAGAIN) every second\n"
            "  --sleep MS  sleep MS milliseconds (0-%d) after a pass that found\n"
            "              nothing to do (default 0: never sleep, spin)\n"
            "  -h, --help  show this help\n",
            prog_name, DEFAULT_PORT, MAX_SLEEP_MS);
    exit(status);
}

/* on_stop_signal - SIGINT/SIGTERM handler: only set the flag. The loop
 * never blocks (its one sleep, nanosleep, returns early with EINTR), so it
 * sees the flag within one pass. */
static void on_stop_signal(int signo)
{
    (void)signo;
    stop_requested = 1;
}

/* install_signals - stop on SIGINT/SIGTERM; never die of SIGPIPE */
static void install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;        /* no SA_RESTART: let nanosleep() see EINTR */
    if (sigaction(SIGINT, &sa, NULL) == -1 || sigaction(SIGTERM, &sa, NULL) == -1)
        die("sigaction");

    /* send() also passes MSG_NOSIGNAL; ignoring SIGPIPE as well covers
     * every other way of writing to a socket. */
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL) == -1)
        die("sigaction");
}

/* now_seconds - the monotonic clock in seconds (never jumps with the date) */
static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* set_nonblocking - O_NONBLOCK on fd: Python's sock.setblocking(False) */
static int set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags == -1)
        return -1;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
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

/* open_listener - socket, SO_REUSEADDR, bind, listen, O_NONBLOCK; exit 1
 * on failure */
static int open_listener(const char *host, const char *port)
{
    struct addrinfo hints, *res;
    int listen_fd, one = 1, rc;

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

    listen_fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (listen_fd == -1)
        die("socket");

    /* Without SO_REUSEADDR a restarted server could not bind while the
     * connections of its previous run sit in TIME_WAIT. */
    if (setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1)
        die("setsockopt SO_REUSEADDR");

    if (bind(listen_fd, res->ai_addr, res->ai_addrlen) == -1)
        die("bind %s:%s", host, port);
    freeaddrinfo(res);

    if (listen(listen_fd, BACKLOG) == -1)
        die("listen");

    /* server.setblocking(False): accept() now fails with EAGAIN instead
     * of sleeping until a client comes. */
    if (set_nonblocking(listen_fd) == -1)
        die("fcntl O_NONBLOCK");
    return listen_fd;
}

/* print_ready_line - "listening on ADDR:PORT" on stdout, with the real port */
static void print_ready_line(int listen_fd)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    char where[ADDR_LEN];

    if (getsockname(listen_fd, (struct sockaddr *)&addr, &len) == -1)
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

/* is_eagain - true for "nothing to do right now". POSIX allows
 * EWOULDBLOCK to differ from EAGAIN; on Linux they are the same number. */
static int is_eagain(int err)
{
    return err == EAGAIN || err == EWOULDBLOCK;
}

/* mark_closed - put client i on the closed list; it is removed after the pass */
static void mark_closed(struct server *srv, size_t i)
{
    if (srv->clients[i].closing)
        return;
    srv->clients[i].closing = 1;
    srv->closed[srv->closed_count++] = i;   /* room for every client: see add_client */
}

/* add_client - append a freshly accepted, non-blocking fd to the client
 * list; -1 (fd left to the caller) if memory runs out */
static int add_client(struct server *srv, int fd, const char *peer)
{
    if (srv->count == srv->cap) {
        size_t new_cap = srv->cap ? srv->cap * 2 : 16;
        struct client *clients = realloc(srv->clients, new_cap * sizeof *clients);
        size_t *closed;

        if (clients == NULL)
            return -1;
        srv->clients = clients;
        /* The closed list never holds more entries than the client list. */
        closed = realloc(srv->closed, new_cap * sizeof *closed);
        if (closed == NULL)
            return -1;
        srv->closed = closed;
        srv->cap = new_cap;
    }
    memset(&srv->clients[srv->count], 0, sizeof srv->clients[0]);
    srv->clients[srv->count].fd = fd;
    snprintf(srv->clients[srv->count].peer, ADDR_LEN, "%s", peer);
    srv->count++;
    return 0;
}

/* refuse_one - EMFILE/ENFILE on accept(): the connection stays queued in
 * the kernel, and a polling loop would fail on it again on every pass.
 * Close the spare descriptor kept for this moment, accept the connection
 * and close it at once (the client sees end of file), then take the
 * spare back. With no spare, rest accept() for a second instead. */
static void refuse_one(struct server *srv)
{
    int fd;

    if (srv->spare_fd == -1) {
        warn("accept (no spare descriptor: not accepting for 1 s)");
        srv->accept_paused_until = now_seconds() + 1.0;
        return;
    }
    close(srv->spare_fd);
    fd = accept(srv->listen_fd, NULL, NULL);
    if (fd != -1) {
        close(fd);
        note("out of descriptors: refused a connection (closed at once)");
    }
    srv->spare_fd = open("/dev/null", O_RDONLY);
}

/* accept_new_clients - step 1: accept until EAGAIN (or a burst's worth) */
static void accept_new_clients(struct server *srv)
{
    if (srv->accept_paused_until > 0.0) {
        if (now_seconds() < srv->accept_paused_until)
            return;
        srv->accept_paused_until = 0.0;
    }
    for (int burst = 0; burst < ACCEPT_BURST; burst++) {
        struct sockaddr_storage peer_addr;
        socklen_t peer_len = sizeof peer_addr;
        char peer[ADDR_LEN];
        int conn_fd = accept(srv->listen_fd, (struct sockaddr *)&peer_addr, &peer_len);

        if (conn_fd == -1) {
            if (is_eagain(errno)) {
                srv->now.accept_wasted++;   /* except BlockingIOError: */
                return;
            }
            if (errno == EINTR || errno == ECONNABORTED)
                continue;                   /* that one left before we took it */
            if (errno == EMFILE || errno == ENFILE) {
                refuse_one(srv);
                return;
            }
            warn("accept");                 /* ENOBUFS, ENOMEM: rest a while */
            srv->accept_paused_until = now_seconds() + 0.1;
            return;
        }
        srv->now.useful++;
        format_addr((struct sockaddr *)&peer_addr, peer_len, peer, sizeof peer);
        /* On Linux an accepted socket does not inherit O_NONBLOCK from the
         * listening one: set it, or the first recv() would block the loop. */
        if (set_nonblocking(conn_fd) == -1 || add_client(srv, conn_fd, peer) == -1) {
            warn("connection from %s dropped", peer);
            close(conn_fd);
            continue;
        }
        note("connection from %s", peer);
    }
}

/* append_pending - add n bytes to a client's pending output; -1 if out of
 * memory. The caller keeps pending_len + n <= PENDING_CAP. */
static int append_pending(struct client *c, const char *data, size_t n)
{
    if (c->pending_len + n > c->pending_cap) {
        size_t new_cap = c->pending_cap ? c->pending_cap : BUF_SIZE;
        char *grown;

        while (new_cap < c->pending_len + n)
            new_cap *= 2;
        if (new_cap > PENDING_CAP)
            new_cap = PENDING_CAP;
        grown = realloc(c->pending, new_cap);
        if (grown == NULL)
            return -1;
        c->pending = grown;
        c->pending_cap = new_cap;
    }
    memcpy(c->pending + c->pending_len, data, n);
    c->pending_len += n;
    return 0;
}

/* read_from - step 2 for one client: try recv(), queue the reply */
static void read_from(struct server *srv, size_t i)
{
    struct client *c = &srv->clients[i];
    char buf[BUF_SIZE];
    size_t room = PENDING_CAP - c->pending_len;
    ssize_t n;

    /* Over the cap (a client that sends but does not read): leave its
     * bytes in the kernel. Its receive buffer fills, TCP tells it to stop
     * sending, and our memory stays bounded. Reading resumes once
     * write_to() has drained some of the backlog. */
    if (c->closing || c->peer_done || room == 0)
        return;
    n = recv(c->fd, buf, room < sizeof buf ? room : sizeof buf, 0);
    if (n == -1) {
        if (is_eagain(errno))
            srv->now.recv_wasted++;         /* nothing yet: ask again next pass */
        else if (errno != EINTR) {
            warn("recv from %s", c->peer);  /* ECONNRESET: the seeds' ConnectionResetError */
            mark_closed(srv, i);
        }
        return;
    }
    srv->now.useful++;
    if (n == 0) {                           /* end of file: the client half-closed */
        c->peer_done = 1;
        return;
    }
    upper_bytes(buf, (size_t)n);
    if (append_pending(c, buf, (size_t)n) == -1) {
        warn("out of memory for %s", c->peer);
        mark_closed(srv, i);
    }
}

/* write_to - step 3 for one client: try send() of its pending output; drop
 * what the kernel took; close once a half-closed client is owed nothing */
static void write_to(struct server *srv, size_t i)
{
    struct client *c = &srv->clients[i];

    if (c->closing)
        return;
    if (c->pending_len > 0) {
        /* Non-blocking send() takes what fits in the socket's send buffer
         * (possibly less than asked) and fails with EAGAIN when it is full. */
        ssize_t n = send(c->fd, c->pending, c->pending_len, MSG_NOSIGNAL);

        if (n == -1) {
            if (is_eagain(errno))
                srv->now.send_wasted++;
            else if (errno != EINTR) {
                warn("send to %s", c->peer);    /* EPIPE, ECONNRESET */
                mark_closed(srv, i);
            }
            return;
        }
        srv->now.useful++;
        c->total += (unsigned long long)n;
        c->pending_len -= (size_t)n;
        memmove(c->pending, c->pending + n, c->pending_len);
        if (c->pending_len == 0) {          /* idle clients hold no buffer */
            free(c->pending);
            c->pending = NULL;
            c->pending_cap = 0;
        }
    }
    if (c->peer_done && c->pending_len == 0) {
        note("closed %s (%llu bytes)", c->peer, c->total);
        mark_closed(srv, i);
    }
}

/* remove_closed - step 4: close the clients on the closed list, then
 * squeeze them out of the client list (keeping the others in order of
 * arrival). Done after the pass, never while walking the list. */
static void remove_closed(struct server *srv)
{
    size_t kept = 0;

    if (srv->closed_count == 0)
        return;
    for (size_t k = 0; k < srv->closed_count; k++) {
        struct client *c = &srv->clients[srv->closed[k]];

        close(c->fd);
        free(c->pending);
    }
    srv->closed_count = 0;
    for (size_t i = 0; i < srv->count; i++)
        if (!srv->clients[i].closing)
            srv->clients[kept++] = srv->clients[i];
    srv->count = kept;
}

/* report_second - with -v: the wasted calls of the last second, on stderr */
static void report_second(struct server *srv)
{
    struct counters *a = &srv->now, *b = &srv->last_second;
    unsigned long long accept_w = a->accept_wasted - b->accept_wasted;
    unsigned long long recv_w = a->recv_wasted - b->recv_wasted;
    unsigned long long send_w = a->send_wasted - b->send_wasted;

    note("last second: %llu wasted calls (accept %llu, recv %llu, send %llu), %llu useful, %zu clients",
         accept_w + recv_w + send_w, accept_w, recv_w, send_w, a->useful - b->useful, srv->count);
    *b = *a;
}

/* nap - the seeds' time.sleep(): after a pass with nothing to do, sleep.
 * A signal ends the sleep early (EINTR). A signal that lands just before
 * nanosleep() starts cannot end it, so long naps are taken in slices of at
 * most 100 ms with the stop flag checked in between: SIGTERM is always
 * seen within 0.1 s. */
static void nap(long sleep_ms)
{
    while (sleep_ms > 0 && !stop_requested) {
        long slice = sleep_ms < 100 ? sleep_ms : 100;
        struct timespec ts = {0, slice * 1000000L};

        if (nanosleep(&ts, NULL) == -1 && errno != EINTR)
            warn("nanosleep");
        sleep_ms -= slice;
    }
}

/* poll_loop - the polling loop: accept, recv from all, send to all,
 * remove the closed; until SIGINT/SIGTERM */
static void poll_loop(struct server *srv, int verbose, long sleep_ms)
{
    double next_report = now_seconds() + 1.0;

    while (!stop_requested) {
        unsigned long long useful_before = srv->now.useful;

        accept_new_clients(srv);
        for (size_t i = 0; i < srv->count; i++)
            read_from(srv, i);
        for (size_t i = 0; i < srv->count; i++)
            write_to(srv, i);
        remove_closed(srv);

        if (verbose && now_seconds() >= next_report) {
            report_second(srv);
            next_report += 1.0;
        }
        if (sleep_ms > 0 && srv->now.useful == useful_before)
            nap(sleep_ms);
    }
}

/* shut_down - close every client and the sockets, free everything, and
 * print the totals: the wasted calls of the whole run */
static void shut_down(struct server *srv, double run_seconds)
{
    for (size_t i = 0; i < srv->count; i++)
        mark_closed(srv, i);
    remove_closed(srv);
    free(srv->clients);
    free(srv->closed);
    note("stopping: %llu wasted calls (accept %llu, recv %llu, send %llu), %llu useful, in %.1f s",
         srv->now.accept_wasted + srv->now.recv_wasted + srv->now.send_wasted,
         srv->now.accept_wasted, srv->now.recv_wasted, srv->now.send_wasted, srv->now.useful,
         run_seconds);
    close(srv->listen_fd);
    if (srv->spare_fd != -1)
        close(srv->spare_fd);
}

/* parse_sleep - the --sleep argument: whole milliseconds 0..MAX_SLEEP_MS */
static long parse_sleep(const char *text)
{
    char *end;
    long ms;

    errno = 0;
    ms = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || ms < 0 || ms > MAX_SLEEP_MS) {
        fprintf(stderr, "%s: bad --sleep '%s' (milliseconds, 0-%d)\n", prog_name, text,
                MAX_SLEEP_MS);
        usage(stderr, 2);
    }
    return ms;
}

int main(int argc, char *argv[])
{
    static const struct option long_options[] = {
        {"help", no_argument, NULL, 'h'}, {"sleep", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0}};
    const char *host = "127.0.0.1", *port = DEFAULT_PORT;
    struct server srv = {.listen_fd = -1, .spare_fd = -1};
    int opt, verbose = 0;
    long sleep_ms = 0;
    double started;

    while ((opt = getopt_long(argc, argv, "H:p:vh", long_options, NULL)) != -1) {
        switch (opt) {
        case 'H': host = optarg; break;
        case 'p': port = optarg; break;
        case 'v': verbose = 1; break;
        case 's': sleep_ms = parse_sleep(optarg); break;
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

    install_signals();
    srv.listen_fd = open_listener(host, port);
    srv.spare_fd = open("/dev/null", O_RDONLY);     /* the reserve for EMFILE */
    if (srv.spare_fd == -1)
        die("open /dev/null");
    print_ready_line(srv.listen_fd);
    started = now_seconds();

    poll_loop(&srv, verbose, sleep_ms);
    shut_down(&srv, now_seconds() - started);
    return 0;
}
