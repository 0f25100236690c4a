/* server.c - the coroutine echo-upper server: one thread, one coroutine
 * per client
 *
 * The seed's gevent server in C. It reads like the blocking server of
 * lesson 01 (accept, then recv / upper-case / send in a loop), but every
 * call that could block is a green_* call from green.h: when the call
 * would block, only the calling coroutine stops and the scheduler runs
 * another one. So one OS thread serves thousands of clients at once,
 * without the callbacks and per-connection buffers of lesson 05: the
 * state of each conversation is simply the local variables on its
 * coroutine's stack.
 *
 *   accept loop   one coroutine: green_accept(), spawn serve_client, repeat
 *   serve_client  one coroutine per client: the seed's communication loop
 *   stop watcher  one coroutine reading a signalfd: SIGINT/SIGTERM end it,
 *                 main returns from green_join() and the process exits 0
 *
 * Output cap: each client's coroutine holds at most one buffer (BUF_SIZE
 * bytes) of unsent reply. A client that never reads makes green_send()
 * park; while parked its coroutine does not call recv(), the kernel
 * buffers fill, TCP flow control stops that client, and everyone else is
 * served as before.
 *
 * Out of descriptors (EMFILE): accept fails and the connection stays in
 * the kernel's queue. The accept loop says so once, then sleeps 100 ms
 * (green_sleep, so the clients are still served) and tries again: no busy
 * spin, and the waiting client is accepted as soon as a descriptor frees.
 *
 * Usage: ./server [-H ADDR] [-p PORT]      (defaults: 127.0.0.1, 9010)
 *
 * See also: green.h (the scheduler), client.c (interactive and -c stress
 * client), sleepers.c, NOTES.md.
 * Seeds: 004 (gevent: spawn, join, monkey.patch_all, the coroutine server).
 * Linux-specific: epoll (in green.h), signalfd, accept4.
 */
#define _GNU_SOURCE             /* ucontext, epoll, signalfd, accept4 */

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "green.h"

#define DEFAULT_PORT "9010"
#define BACKLOG SOMAXCONN   /* hundreds of clients may connect at once */
#define BUF_SIZE 1024       /* the seed's recv(1024); keeps a stack in one page */
#define ADDR_LEN (INET6_ADDRSTRLEN + 8)  /* "host:port" as text */
#define EMFILE_RETRY_MS 100

static const char *prog_name = "server";

/* what the accept loop hands to a new client coroutine (heap, freed by it) */
struct client_start {
    int conn_fd;
    char peer[ADDR_LEN];
};

/* die - report a setup failure with the reason from errno, exit 1 */
static void die(const char *fmt, ...)
{
    int saved_errno = errno;
    va_list ap;

    fprintf(stderr, "%s: ", prog_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, ": %s\n", strerror(saved_errno));
    exit(1);
}

/* warn - report one connection's trouble with the reason from errno.
 * The line is formatted first and printed by one fprintf: stderr is
 * unbuffered, so that is one write(2) per line instead of three, which
 * counts when thousands of clients come and go. */
static void warn(const char *fmt, ...)
{
    int saved_errno = errno;
    char what[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: %s: %s\n", prog_name, what, strerror(saved_errno));
}

/* note - one line on stderr about an event (a client came, a client left),
 * in one write(2) like warn() */
static void note(const char *fmt, ...)
{
    char what[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: %s\n", prog_name, what);
}

/* usage - print the command line; exit with status */
static void usage(FILE *out, int status)
{
    fprintf(out,
            "Usage: %s [-H ADDR] [-p PORT]\n"
            "  -H ADDR   address to listen on (default 127.0.0.1)\n"
            "  -p PORT   port to listen on, 0 = any free port (default %s)\n"
            "  -h, --help  show this help\n"
            "One thread, one coroutine per client (see green.h).\n",
            prog_name, DEFAULT_PORT);
    exit(status);
}

/* install_signals - SIGINT/SIGTERM arrive through a signalfd that the stop
 * watcher reads; SIGPIPE is ignored. Returns the signalfd.
 *
 * The signals are blocked (so they stay pending for the signalfd instead
 * of running a handler) before any coroutine exists: swapcontext()
 * restores the mask saved in each context, and every context must carry
 * this one. */
static int install_signals(void)
{
    struct sigaction sa;
    sigset_t stop_signals;
    int signal_fd;

    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &stop_signals, NULL) == -1)
        die("sigprocmask");
    signal_fd = signalfd(-1, &stop_signals, SFD_NONBLOCK | SFD_CLOEXEC);
    if (signal_fd == -1)
        die("signalfd");

    /* Writing to a peer that has gone raises SIGPIPE, which kills by
     * default; ignored, send() fails with EPIPE and we close that one
     * connection instead. (MSG_NOSIGNAL below says the same per call.) */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGPIPE, &sa, NULL) == -1)
        die("sigaction");
    return signal_fd;
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

/* open_listener - socket, SO_REUSEADDR, bind, listen; exit 1 on failure */
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

    listen_fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
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

/* send_all - send every byte of buf; green_send parks this coroutine
 * while the client's receive window is full. 0, or -1 with errno set */
static int send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = green_send(fd, buf, len, MSG_NOSIGNAL);

        if (n == -1)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* serve_client - one client's coroutine: the seed's communication loop,
 * written as if blocking. Its buffer and counters live on its own stack. */
static void serve_client(void *arg)
{
    struct client_start *start = arg;
    int conn_fd = start->conn_fd;
    char peer[ADDR_LEN], buf[BUF_SIZE];
    unsigned long long total = 0;

    memcpy(peer, start->peer, sizeof peer);
    free(start);
    for (;;) {
        ssize_t n = green_recv(conn_fd, buf, sizeof buf, 0);

        if (n == 0) {                       /* end of file: the client is done */
            note("closed %s (%llu bytes)", peer, total);
            break;
        }
        if (n == -1) {
            warn("recv from %s", peer);
            break;
        }
        upper_bytes(buf, (size_t)n);
        if (send_all(conn_fd, buf, (size_t)n) == -1) {
            warn("send to %s", peer);
            break;
        }
        total += (unsigned long long)n;
    }
    green_close(conn_fd);
}

/* start_client - spawn a detached coroutine for a new connection */
static void start_client(int conn_fd, const struct sockaddr *addr, socklen_t len)
{
    struct client_start *start = malloc(sizeof *start);
    struct green *g;

    if (start == NULL) {
        warn("malloc");
        green_close(conn_fd);
        return;
    }
    start->conn_fd = conn_fd;
    format_addr(addr, len, start->peer, sizeof start->peer);
    g = green_spawn(serve_client, start);
    if (g == NULL) {                        /* mmap: out of memory or maps */
        warn("spawn for %s", start->peer);
        free(start);
        green_close(conn_fd);
        return;
    }
    green_detach(g);                        /* nobody joins a client */
    note("connection from %s", start->peer);
}

/* accept_loop - the connection loop, itself a coroutine: accept parks it
 * until a client arrives, and each client gets a coroutine of its own */
static void accept_loop(void *arg)
{
    int listen_fd = *(int *)arg;
    int out_of_fds = 0;

    for (;;) {
        struct sockaddr_storage peer_addr;
        socklen_t peer_len = sizeof peer_addr;
        int conn_fd = green_accept(listen_fd, (struct sockaddr *)&peer_addr, &peer_len);

        if (conn_fd >= 0) {
            out_of_fds = 0;
            start_client(conn_fd, (struct sockaddr *)&peer_addr, peer_len);
            continue;
        }
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* The client stays queued in the kernel; try again later. */
            if (!out_of_fds)
                warn("accept (retrying every %d ms)", EMFILE_RETRY_MS);
            out_of_fds = 1;
            green_sleep(EMFILE_RETRY_MS);
            continue;
        }
        if (errno != ECONNABORTED)          /* a client that gave up: ignore */
            warn("accept");
    }
}

/* stop_watcher - parks reading the signalfd; returns on SIGINT/SIGTERM */
static void stop_watcher(void *arg)
{
    int signal_fd = *(int *)arg;
    struct signalfd_siginfo info;

    if (green_read(signal_fd, &info, sizeof info) == -1)
        warn("read signalfd");
    else
        note("stopping (%s)", strsignal((int)info.ssi_signo));
}

int main(int argc, char *argv[])
{
    static const struct option long_options[] = {
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *host = "127.0.0.1", *port = DEFAULT_PORT;
    int opt, listen_fd, signal_fd;
    struct green *acceptor, *watcher;

    while ((opt = getopt_long(argc, argv, "H:p:h", long_options, NULL)) != -1) {
        switch (opt) {
        case 'H': host = optarg; break;
        case 'p': port = optarg; break;
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

    signal_fd = install_signals();
    listen_fd = open_listener(host, port);
    if (green_init() == -1)
        die("epoll_create1");
    if (green_attach(listen_fd) == -1 || green_attach(signal_fd) == -1)
        die("fcntl O_NONBLOCK");
    print_ready_line(listen_fd);

    acceptor = green_spawn(accept_loop, &listen_fd);
    watcher = green_spawn(stop_watcher, &signal_fd);
    if (acceptor == NULL || watcher == NULL)
        die("mmap");
    green_detach(acceptor);     /* runs until the process ends */
    green_join(watcher);        /* main becomes the hub until a stop signal */

    /* Every client coroutine is simply abandoned, never resumed: nothing
     * on its stack owns heap memory, green_shutdown() unmaps the stacks
     * (which keeps exit() fast under LeakSanitizer), and the client
     * sockets close when the process exits. */
    close(listen_fd);
    green_shutdown();
    return 0;
}
