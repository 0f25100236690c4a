/* server.c - an iterative (one client at a time) echo-upper server
 *
 * The simplest TCP server there is, and the model of every other lesson.
 * It has two loops, as the seeds put it: the connection loop accepts one
 * client, the communication loop serves that client until it leaves, and
 * only then does the connection loop accept the next one. Every socket is
 * in blocking mode, so the process sleeps inside accept() until a client
 * arrives and inside recv() until that client sends something. While it
 * sleeps in recv() for client 1, client 2 can connect (the kernel completes
 * the handshake and queues it) but nobody calls accept() for it: client 2
 * waits. That wait is the point of this lesson.
 *
 * Each byte received is sent back with ASCII a-z turned into A-Z (Python's
 * data.upper() on bytes); nothing else changes.
 *
 * Usage: ./server [-H ADDR] [-p PORT]      (defaults: 127.0.0.1, 9001)
 *
 * See also: client.c (the interactive client), NOTES.md.
 * Seeds: 000 and 004 (blocking IO), 003 (connection loop and
 * communication loop), 000 and 002 (SO_REUSEADDR).
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
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

#define DEFAULT_PORT "9001"
#define BACKLOG 16          /* the seeds say listen(5); a little more room */
#define BUF_SIZE 4096
#define ADDR_LEN (INET6_ADDRSTRLEN + 8)  /* "host:port" as text */

static const char *prog_name = "server";

/* Written by the signal handler, read by the loops. */
static volatile sig_atomic_t stop_requested = 0;
static volatile sig_atomic_t listen_fd_for_signal = -1;
static volatile sig_atomic_t conn_fd_for_signal = -1;

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
            "Usage: %s [-H ADDR] [-p PORT]\n"
            "  -H ADDR   address to listen on (default 127.0.0.1)\n"
            "  -p PORT   port to listen on, 0 = any free port (default %s)\n"
            "  -h, --help  show this help\n",
            prog_name, DEFAULT_PORT);
    exit(status);
}

/* on_stop_signal - SIGINT/SIGTERM handler: set the flag, wake the loops
 *
 * Setting a flag is not enough on its own: if the signal lands just
 * before the main loop enters accept() or recv(), that call would sleep
 * with the flag already set. shutdown() is async-signal-safe and makes a
 * blocked or future accept()/recv() on that socket return at once. */
static void on_stop_signal(int signo)
{
    int saved_errno = errno;

    (void)signo;
    stop_requested = 1;
    if (listen_fd_for_signal >= 0)
        shutdown(listen_fd_for_signal, SHUT_RDWR);
    if (conn_fd_for_signal >= 0)
        shutdown(conn_fd_for_signal, SHUT_RDWR);
    errno = saved_errno;
}

/* install_signals - stop on SIGINT/SIGTERM; never die of SIGPIPE */
static void install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;        /* no SA_RESTART: let blocked calls see EINTR */
    if (sigaction(SIGINT, &sa, NULL) == -1 || sigaction(SIGTERM, &sa, NULL) == -1)
        die("sigaction");

    /* Writing to a peer that has gone raises SIGPIPE, which kills by
     * default; ignored, send() fails with EPIPE and we close that one
     * connection instead. */
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

/* send_all - send every byte of buf, looping over partial sends and EINTR;
 * 0 on success, -1 with errno set */
static int send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

        if (n == -1) {
            if (errno == EINTR && !stop_requested)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* pause_briefly - sleep one second (a signal cuts it short) */
static void pause_briefly(void)
{
    struct timespec one_second = {1, 0};

    nanosleep(&one_second, NULL);
}

/* serve_client - the communication loop: recv, upper-case, send back,
 * until the client half-closes or fails. Blocks in recv() between
 * messages and in send() while the client is not reading. */
static void serve_client(int conn_fd, const char *peer)
{
    char buf[BUF_SIZE];
    unsigned long long total = 0;

    for (;;) {
        ssize_t n = recv(conn_fd, buf, sizeof buf, 0);

        if (n == 0) {                       /* end of file: the client is done */
            note("closed %s (%llu bytes)", peer, total);
            return;
        }
        if (n == -1) {
            if (errno == EINTR && !stop_requested)
                continue;
            if (!stop_requested)
                warn("recv from %s", peer);
            return;
        }
        upper_bytes(buf, (size_t)n);
        if (send_all(conn_fd, buf, (size_t)n) == -1) {
            if (!stop_requested)
                warn("send to %s", peer);
            return;
        }
        total += (unsigned long long)n;
    }
}

int main(int argc, char *argv[])
{
    static const struct option long_options[] = {
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *host = "127.0.0.1", *port = DEFAULT_PORT;
    int opt, listen_fd;

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

    install_signals();
    listen_fd = open_listener(host, port);
    listen_fd_for_signal = listen_fd;
    print_ready_line(listen_fd);

    while (!stop_requested) {               /* the connection loop */
        struct sockaddr_storage peer_addr;
        socklen_t peer_len = sizeof peer_addr;
        char peer[ADDR_LEN];
        int conn_fd = accept(listen_fd, (struct sockaddr *)&peer_addr, &peer_len);

        if (conn_fd == -1) {
            if (stop_requested || errno == EINTR || errno == ECONNABORTED)
                continue;
            warn("accept");
            /* Out of descriptors (EMFILE, ENFILE) or memory: accept()
             * would fail again at once, so pause instead of spinning.
             * The client waits in the backlog; a signal ends the pause. */
            pause_briefly();
            continue;
        }
        conn_fd_for_signal = conn_fd;
        if (stop_requested) {
            /* The signal came after accept() returned but before the
             * handler could see conn_fd: it did not shut it down, so
             * recv() on it would sleep until the client spoke. */
            conn_fd_for_signal = -1;
            close(conn_fd);
            break;
        }
        format_addr((struct sockaddr *)&peer_addr, peer_len, peer, sizeof peer);
        note("connection from %s", peer);
        serve_client(conn_fd, peer);        /* the communication loop */
        conn_fd_for_signal = -1;
        close(conn_fd);
    }

    note("stopping");
    close(listen_fd);
    return 0;
}
