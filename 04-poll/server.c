/* server.c - an echo-upper server that serves many clients with poll()
 *
 * The same IO multiplexing as lesson 03, with poll() instead of select().
 * Three things change, and they are the lesson:
 *   - the watch list is an array of struct pollfd {fd, events, revents},
 *     one entry per descriptor, as long as needed: no FD_SETSIZE, no
 *     bit per possible descriptor number. The array grows as clients come
 *     (doubling), and a leaving client's entry is filled with the last one;
 *   - the kernel writes its answer into `revents` and leaves `events`
 *     alone, so interest is changed only when a client's state changes,
 *     not rebuilt before every call;
 *   - the answer is a bit mask per descriptor: POLLIN, POLLOUT, and the
 *     conditions the kernel reports even when nobody asked, POLLERR and
 *     POLLHUP. A hung-up descriptor left in the array is reported again at
 *     once, forever: it must be closed, or poll() becomes a busy loop.
 * An fd-to-client map (the seed's {fileno: socket} dictionary) turns the
 * descriptor in a pollfd back into the client it belongs to.
 *
 * Flow control as in lesson 03: POLLOUT is asked for only while output
 * waits, and a client whose pending output reaches OUT_CAP is no longer
 * asked for POLLIN until it reads its replies. When accept() fails with
 * EMFILE (no descriptor left), the listener's entry is switched off
 * (a negative fd is ignored by poll()) until a client leaves, instead of
 * spinning on a listener that stays readable.
 *
 * poll() is still O(n): every call hands the kernel the whole array, the
 * kernel checks every entry, and the server scans the answers.
 *
 * Usage: ./server [-H ADDR] [-p PORT] [-v]    (defaults: 127.0.0.1, 9004)
 *
 * See also: client.c (a poll() client), bitmask.c (the event bits),
 * NOTES.md, ../03-select (the same server with select()).
 * Seeds: 002 (poll: register/unregister, POLLIN POLLOUT POLLERR POLLHUP
 * POLLPRI, events as bit masks, the fd-to-socket map), 004 (select, poll
 * and epoll compared).
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#define DEFAULT_PORT "9004"
#define BACKLOG SOMAXCONN   /* an event loop accepts in bursts: a deep queue */
#define OUT_CAP (64 * 1024) /* pending output per client; reading stops when full */
#define ACCEPT_BURST 64     /* accepts per round, so clients get turns too */
#define RETRY_MS 1000       /* while accepting is paused: poll()'s timeout */
#define ADDR_LEN (INET6_ADDRSTRLEN + 8)  /* "host:port" as text */

/* The first two entries of the pollfd array; clients follow. */
enum { LISTEN_SLOT, SIGNAL_SLOT, FIRST_CLIENT_SLOT };

static const char *prog_name = "server";

/* One connected client. */
struct client {
    int fd;
    size_t slot;                /* its entry in pfds[] */
    char addr[ADDR_LEN];
    char *out;                  /* pending output, OUT_CAP bytes, made on first use */
    size_t out_start, out_len;  /* unsent bytes are out[out_start .. +out_len) */
    int peer_done;              /* the client half-closed: send what we owe, close */
    int paused;                 /* reading stopped because output is full (for -v) */
    unsigned long long total;   /* bytes received */
};

/* The watch list handed to poll(), and the map from descriptor back to
 * client. Both grow by doubling; pfds[i].fd == clients_by_fd[...]->fd. */
static struct pollfd *pfds;
static size_t pfd_count, pfd_cap;
static struct client **clients_by_fd;
static size_t by_fd_cap;

static int listen_fd = -1;
static int accept_paused = 0;   /* out of descriptors: listener switched off */
static int verbose = 0;
static unsigned long long poll_calls = 0;

/* The self-pipe: the signal handler writes a byte, poll() wakes up. */
static int signal_pipe[2] = {-1, -1};
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
            "Usage: %s [-H ADDR] [-p PORT] [-v]\n"
            "  -H ADDR   address to listen on (default 127.0.0.1)\n"
            "  -p PORT   port to listen on, 0 = any free port (default %s)\n"
            "  -v        also log paused/resumed reading of clients\n"
            "  -h, --help  show this help\n",
            prog_name, DEFAULT_PORT);
    exit(status);
}

/* on_stop_signal - SIGINT/SIGTERM handler: set the flag and write one
 * byte to the self-pipe, which poll() watches, so the loop wakes up even
 * if the signal came just before poll() was entered */
static void on_stop_signal(int signo)
{
    int saved_errno = errno;
    ssize_t ignored;

    (void)signo;
    stop_requested = 1;
    ignored = write(signal_pipe[1], "x", 1);    /* full pipe: already woken */
    (void)ignored;
    errno = saved_errno;
}

/* set_nonblocking - O_NONBLOCK on fd; 0 or -1 with errno set */
static int set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags == -1)
        return -1;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/* install_signals - stop on SIGINT/SIGTERM through the self-pipe; never
 * die of SIGPIPE */
static void install_signals(void)
{
    struct sigaction sa;

    if (pipe(signal_pipe) == -1)
        die("pipe");
    if (set_nonblocking(signal_pipe[0]) == -1 || set_nonblocking(signal_pipe[1]) == -1)
        die("fcntl O_NONBLOCK");

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    if (sigaction(SIGINT, &sa, NULL) == -1 || sigaction(SIGTERM, &sa, NULL) == -1)
        die("sigaction");

    /* Writing to a peer that has gone raises SIGPIPE, which kills by
     * default. MSG_NOSIGNAL covers send(); ignoring it covers the rest. */
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

/* open_listener - socket, SO_REUSEADDR, bind, listen, non-blocking;
 * exit 1 on failure */
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

    fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (fd == -1)
        die("socket");
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1)
        die("setsockopt SO_REUSEADDR");
    if (bind(fd, res->ai_addr, res->ai_addrlen) == -1)
        die("bind %s:%s", host, port);
    freeaddrinfo(res);
    if (listen(fd, BACKLOG) == -1)
        die("listen");
    /* Ready to accept may be stale by the time accept() runs (the client
     * reset): non-blocking, accept() then fails with EAGAIN, not sleeps. */
    if (set_nonblocking(fd) == -1)
        die("fcntl O_NONBLOCK");
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

/* watch - append a pollfd entry (register, in the seed's words);
 * returns its slot, or -1 if the array cannot grow */
static long watch(int fd, short events)
{
    if (pfd_count == pfd_cap) {
        size_t new_cap = pfd_cap ? 2 * pfd_cap : 64;
        struct pollfd *bigger = realloc(pfds, new_cap * sizeof *bigger);

        if (bigger == NULL)
            return -1;
        pfds = bigger;
        pfd_cap = new_cap;
    }
    pfds[pfd_count].fd = fd;
    pfds[pfd_count].events = events;
    pfds[pfd_count].revents = 0;
    return (long)pfd_count++;
}

/* map_client - clients_by_fd[fd] = c, growing the map if fd is beyond it;
 * 0, or -1 if it cannot grow */
static int map_client(int fd, struct client *c)
{
    if ((size_t)fd >= by_fd_cap) {
        size_t new_cap = by_fd_cap ? by_fd_cap : 64;
        struct client **bigger;

        while (new_cap <= (size_t)fd)
            new_cap *= 2;
        bigger = realloc(clients_by_fd, new_cap * sizeof *bigger);
        if (bigger == NULL)
            return -1;
        memset(bigger + by_fd_cap, 0, (new_cap - by_fd_cap) * sizeof *bigger);
        clients_by_fd = bigger;
        by_fd_cap = new_cap;
    }
    clients_by_fd[fd] = c;
    return 0;
}

/* set_interest - the events to ask for, from the client's buffers:
 * POLLIN while there is room for more output, POLLOUT while output waits */
static void set_interest(struct client *c)
{
    int full = !c->peer_done && c->out_len == OUT_CAP;
    short events = 0;

    if (full != c->paused) {
        c->paused = full;
        if (verbose)
            note(full ? "%s: output backlog full, not reading it"
                      : "%s: output drained, reading it again", c->addr);
    }
    if (!c->peer_done && !full)
        events |= POLLIN;
    if (c->out_len > 0)
        events |= POLLOUT;
    pfds[c->slot].events = events;
}

/* close_client - unregister: fill the client's slot with the last entry
 * (order does not matter to poll()), forget it, close it. A descriptor is
 * free again, so a paused listener is switched back on. */
static void close_client(struct client *c, const char *why)
{
    size_t last = pfd_count - 1;

    if (why != NULL)
        note("closed %s (%llu bytes%s%s)", c->addr, c->total, *why ? ", " : "", why);
    if (c->slot != last) {
        pfds[c->slot] = pfds[last];
        clients_by_fd[pfds[c->slot].fd]->slot = c->slot;
    }
    pfd_count--;
    clients_by_fd[c->fd] = NULL;
    close(c->fd);
    free(c->out);
    free(c);
    if (accept_paused) {
        accept_paused = 0;
        pfds[LISTEN_SLOT].fd = listen_fd;
        note("a descriptor is free again: accepting");
    }
}

/* flush_output - one send() of the pending output; what does not fit is
 * sent when poll() reports POLLOUT. Returns -1 if the client was closed. */
static int flush_output(struct client *c)
{
    ssize_t n;

    if (c->out_len == 0)
        return 0;
    do
        n = send(c->fd, c->out + c->out_start, c->out_len, MSG_NOSIGNAL);
    while (n == -1 && errno == EINTR);
    if (n == -1) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;                   /* send buffer full: wait for POLLOUT */
        warn("send to %s", c->addr);
        close_client(c, "send failed");
        return -1;
    }
    c->out_start += (size_t)n;
    c->out_len -= (size_t)n;
    if (c->out_len == 0)
        c->out_start = 0;
    if (c->out_len == 0 && c->peer_done) {
        close_client(c, "");            /* half-closed and everything sent */
        return -1;
    }
    return 0;
}

/* read_client - one recv() straight into the free end of the output
 * buffer, upper-cased there; then one optimistic send(). Called only when
 * POLLIN was asked for, so there is room. Returns -1 if the client was
 * closed. */
static int read_client(struct client *c)
{
    ssize_t n;

    if (c->out == NULL && (c->out = malloc(OUT_CAP)) == NULL) {
        warn("malloc for %s", c->addr);
        close_client(c, "out of memory");
        return -1;
    }
    if (c->out_start > 0) {             /* free space as one block at the end */
        memmove(c->out, c->out + c->out_start, c->out_len);
        c->out_start = 0;
    }
    n = recv(c->fd, c->out + c->out_len, OUT_CAP - c->out_len, 0);
    if (n == -1) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return 0;
        warn("recv from %s", c->addr);
        close_client(c, "reset");
        return -1;
    }
    if (n == 0) {
        c->peer_done = 1;               /* end of file: the client half-closed */
        if (c->out_len == 0) {
            close_client(c, "");
            return -1;
        }
    } else {
        upper_bytes(c->out + c->out_len, (size_t)n);
        c->out_len += (size_t)n;
        c->total += (unsigned long long)n;
    }
    return flush_output(c);
}

/* handle_client - act on one client's revents (what happened), never on
 * its events (what was asked). POLLERR and POLLHUP come without being
 * asked for; left unhandled they are reported again at once, forever. */
static void handle_client(struct client *c, short revents)
{
    if (revents & POLLNVAL) {           /* not an open descriptor: our bug */
        note("%s: descriptor %d is not open (POLLNVAL)", c->addr, c->fd);
        close_client(c, "invalid");
        return;
    }
    if (revents & POLLERR) {            /* e.g. a reset: fetch the reason */
        int err = 0;
        socklen_t len = sizeof err;

        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) {
            errno = err;
            warn("%s", c->addr);
        }
        close_client(c, "error");
        return;
    }
    if ((revents & POLLOUT) && flush_output(c) == -1)
        return;
    if ((revents & POLLIN) && read_client(c) == -1)
        return;
    if (revents & POLLHUP) {            /* gone both ways: nothing can be sent */
        close_client(c, "hung up");
        return;
    }
    set_interest(c);
}

/* add_client - register a freshly accepted connection */
static void add_client(int conn_fd, const char *addr)
{
    struct client *c = calloc(1, sizeof *c);
    long slot;

    if (c == NULL || set_nonblocking(conn_fd) == -1 || map_client(conn_fd, c) == -1
        || (slot = watch(conn_fd, POLLIN)) == -1) {
        warn("new client %s", addr);
        if ((size_t)conn_fd < by_fd_cap)
            clients_by_fd[conn_fd] = NULL;
        free(c);
        close(conn_fd);
        return;
    }
    c->fd = conn_fd;
    c->slot = (size_t)slot;
    snprintf(c->addr, sizeof c->addr, "%s", addr);
    note("connection from %s", addr);
}

/* accept_clients - accept what is waiting, up to ACCEPT_BURST. Out of
 * descriptors, switch the listener off: its connection stays queued, so
 * it stays readable, and poll() would report it at once, forever. */
static void accept_clients(void)
{
    for (int i = 0; i < ACCEPT_BURST; i++) {
        struct sockaddr_storage peer_addr;
        socklen_t peer_len = sizeof peer_addr;
        char addr[ADDR_LEN];
        int conn_fd = accept(listen_fd, (struct sockaddr *)&peer_addr, &peer_len);

        if (conn_fd == -1) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;               /* the client gave up: next one */
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;                 /* nobody else waiting */
            warn("accept");             /* EMFILE, ENFILE, ENOBUFS, ENOMEM */
            note("not accepting until a descriptor is free");
            accept_paused = 1;
            pfds[LISTEN_SLOT].fd = -1;  /* poll() ignores negative fds */
            return;
        }
        format_addr((struct sockaddr *)&peer_addr, peer_len, addr, sizeof addr);
        add_client(conn_fd, addr);
    }
}

/* handle_ready - walk the array from the end: a closed client's slot is
 * filled with the last entry, which has already been handled. The
 * listener comes last, so new clients are not looked at this round. */
static void handle_ready(int ready_count)
{
    for (size_t i = pfd_count; i-- > FIRST_CLIENT_SLOT && ready_count > 0;) {
        short revents = pfds[i].revents;

        if (revents == 0)
            continue;
        ready_count--;
        handle_client(clients_by_fd[pfds[i].fd], revents);
    }
    if (pfds[SIGNAL_SLOT].revents & POLLIN)
        stop_requested = 1;
    if (pfds[LISTEN_SLOT].revents & POLLIN)
        accept_clients();
}

/* parse_args - options into the globals; exits 2 on a bad one */
static void parse_args(int argc, char *argv[], const char **host, const char **port)
{
    static const struct option long_options[] = {
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int opt;

    while ((opt = getopt_long(argc, argv, "H:p:vh", long_options, NULL)) != -1) {
        switch (opt) {
        case 'H': *host = optarg; break;
        case 'p': *port = optarg; break;
        case 'v': verbose = 1; break;
        case 'h': usage(stdout, 0); break;
        default: usage(stderr, 2);      /* getopt printed the reason */
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", prog_name, argv[optind]);
        usage(stderr, 2);
    }
    if ((*port)[0] == '\0' || strlen(*port) > 5
        || strspn(*port, "0123456789") != strlen(*port) || atol(*port) > 65535) {
        fprintf(stderr, "%s: bad port '%s'\n", prog_name, *port);
        usage(stderr, 2);
    }
}

int main(int argc, char *argv[])
{
    const char *host = "127.0.0.1", *port = DEFAULT_PORT;

    parse_args(argc, argv, &host, &port);
    install_signals();
    listen_fd = open_listener(host, port);
    if (watch(listen_fd, POLLIN) != LISTEN_SLOT || watch(signal_pipe[0], POLLIN) != SIGNAL_SLOT)
        die("malloc");
    print_ready_line(listen_fd);

    while (!stop_requested) {
        /* Paused, wake up now and then to try accept() again; otherwise
         * sleep until something happens (-1: no timeout). */
        int ready_count = poll(pfds, (nfds_t)pfd_count, accept_paused ? RETRY_MS : -1);

        poll_calls++;
        if (ready_count == -1) {
            if (errno == EINTR)
                continue;               /* a signal: the loop checks the flag */
            die("poll");
        }
        if (ready_count == 0 && accept_paused) {
            accept_paused = 0;          /* timed out: try again */
            pfds[LISTEN_SLOT].fd = listen_fd;
        }
        handle_ready(ready_count);
    }

    note("stopping after %llu poll calls", poll_calls);
    while (pfd_count > FIRST_CLIENT_SLOT)
        close_client(clients_by_fd[pfds[pfd_count - 1].fd], NULL);
    close(listen_fd);
    close(signal_pipe[0]);
    close(signal_pipe[1]);
    free(pfds);
    free(clients_by_fd);
    return 0;
}
