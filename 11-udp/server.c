/* server.c - a UDP echo-upper server: one datagram in, one datagram back
 *
 * The seeds' UDP server (seed 003), in C. UDP has no connections: no
 * listen(), no accept(), no per-client socket. One socket, bound to a
 * port, receives every client's datagrams; recvfrom() returns each one
 * whole together with its sender's address, and sendto() answers to that
 * address. So one loop, one socket and no concurrency at all serve any
 * number of clients "at once": their datagrams simply queue up in the
 * socket's receive buffer, one after another, and each is answered in
 * turn. Nothing ties one datagram to the next; the server keeps no state
 * about its clients.
 *
 * Each datagram comes back with ASCII a-z turned into A-Z, every other
 * byte unchanged, as one datagram of the same length. An empty datagram
 * is still a datagram (with a sender) and gets an empty reply. The buffer
 * is 65,536 bytes, more than the largest UDP payload (65,507 bytes over
 * IPv4, 65,527 over IPv6), so no datagram is ever cut short.
 *
 * Usage: ./server [-H ADDR] [-p PORT]      (defaults: 127.0.0.1, 9011)
 *
 * See also: client.c, empty.c, truncate.c, noserver.c, NOTES.md.
 * Seed: 003 (UDP sockets: sendto/recvfrom, no listen, empty datagrams).
 * Linux-specific in two details: shutdown() on an unconnected UDP socket
 * is what wakes recvfrom() for SIGTERM (see on_stop_signal), and
 * MSG_TRUNC passed to recvfrom() makes it return a datagram's real length.
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
#include <unistd.h>

#define DEFAULT_PORT "9011"
#define DGRAM_MAX 65536     /* above any UDP payload: nothing is ever truncated */
#define ADDR_LEN (INET6_ADDRSTRLEN + 8)  /* "host:port" as text */

static const char *prog_name = "server";

/* Written by the signal handler, read by the loop. */
static volatile sig_atomic_t stop_requested = 0;
static volatile sig_atomic_t sock_fd_for_signal = -1;

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

/* warn - report one datagram's trouble with the reason from errno */
static void warn(const char *fmt, ...)
{
    int saved_errno = errno;
    va_list ap;

    va_start(ap, fmt);
    log_line(saved_errno, fmt, ap);
    va_end(ap);
}

/* note - one line on stderr about an event (a datagram came and went) */
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
            "  -H ADDR   address to receive on (default 127.0.0.1)\n"
            "  -p PORT   UDP port, 0 = any free port (default %s)\n"
            "  -h, --help  show this help\n",
            prog_name, DEFAULT_PORT);
    exit(status);
}

/* on_stop_signal - SIGINT/SIGTERM handler: set the flag, wake the loop
 *
 * A signal that lands while recvfrom() sleeps interrupts it (EINTR, no
 * SA_RESTART). But one that lands just before the loop enters recvfrom()
 * would leave it asleep with the flag set. shutdown() closes that gap: on
 * Linux it marks even an unconnected UDP socket as shut for reading (the
 * call itself reports ENOTCONN), and every recvfrom() after that returns
 * at once. shutdown() is async-signal-safe. */
static void on_stop_signal(int signo)
{
    int saved_errno = errno;

    (void)signo;
    stop_requested = 1;
    if (sock_fd_for_signal >= 0)
        shutdown(sock_fd_for_signal, SHUT_RDWR);
    errno = saved_errno;
}

/* install_signals - stop on SIGINT/SIGTERM; never die of SIGPIPE */
static void install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;        /* no SA_RESTART: let a blocked recvfrom() see EINTR */
    if (sigaction(SIGINT, &sa, NULL) == -1 || sigaction(SIGTERM, &sa, NULL) == -1)
        die("sigaction");

    /* UDP never raises SIGPIPE; ignored anyway, as in every lab server. */
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

/* open_udp_socket - socket(SOCK_DGRAM) and bind; exit 1 on failure.
 * No listen() and no accept(): there are no connections to queue. No
 * SO_REUSEADDR either: UDP has no TIME_WAIT to wait out, and on Linux the
 * option would let a second server (setting it too) bind the same port and
 * steal the datagrams: the socket bound last receives them. */
static int open_udp_socket(const char *host, const char *port)
{
    struct addrinfo hints, *res;
    int fd, rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
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
    if (bind(fd, res->ai_addr, res->ai_addrlen) == -1)
        die("bind %s:%s", host, port);
    freeaddrinfo(res);
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

/* serve_datagrams - the communication loop, and the only loop: receive a
 * datagram from anyone, send it back upper-cased to whoever sent it */
static void serve_datagrams(int fd)
{
    static char buf[DGRAM_MAX];     /* one datagram at a time: one buffer will do */

    while (!stop_requested) {
        struct sockaddr_storage peer_addr;
        socklen_t peer_len = sizeof peer_addr;
        char peer[ADDR_LEN];
        /* MSG_TRUNC (Linux): return the datagram's real length even if it
         * was longer than the buffer, so a cut could not go unnoticed. */
        ssize_t n = recvfrom(fd, buf, sizeof buf, MSG_TRUNC,
                             (struct sockaddr *)&peer_addr, &peer_len);

        if (stop_requested)
            break;
        if (n == -1) {
            if (errno != EINTR)
                warn("recvfrom");           /* e.g. ENOMEM: this datagram is lost */
            continue;
        }
        format_addr((struct sockaddr *)&peer_addr, peer_len, peer, sizeof peer);
        if ((size_t)n > sizeof buf) {
            note("%zd bytes from %s truncated to %zu: not answered", n, peer, sizeof buf);
            continue;
        }
        note("%zd bytes from %s", n, peer);
        upper_bytes(buf, (size_t)n);
        /* sendto() of a datagram is all or nothing: no partial sends. */
        if (sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&peer_addr, peer_len) == -1
            && !stop_requested)
            warn("sendto %s", peer);
    }
}

int main(int argc, char *argv[])
{
    static const struct option long_options[] = {
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *host = "127.0.0.1", *port = DEFAULT_PORT;
    int opt, fd;

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
    fd = open_udp_socket(host, port);
    sock_fd_for_signal = fd;
    print_ready_line(fd);

    serve_datagrams(fd);

    note("stopping");
    close(fd);
    return 0;
}
