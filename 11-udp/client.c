/* client.c - the seeds' UDP client, with a timeout and bounded retries
 *
 * Reads lines from standard input and sends each one (with its newline)
 * as one datagram with sendto(), to the server's address given on every
 * call, as seed 003's client does. Then it waits for the reply datagram.
 *
 * The seed's client waits in recvfrom() for ever. But UDP promises
 * nothing: a datagram (the request or the reply) can be lost, and when no
 * server is listening the request simply vanishes; an unconnected socket
 * is not even told (see noserver.c). So this client waits at most
 * TIMEOUT_MS for each reply, sends the datagram again if none came, gives
 * up after RETRIES resends, and says so clearly, with exit status 1.
 *
 * An unconnected socket receives datagrams from anyone, so replies are
 * accepted only from the server's address. A reply that arrives after its
 * retry was sent is a duplicate; such late datagrams are discarded before
 * the next line is sent, so they are never taken for its reply. (A
 * protocol that must never confuse them numbers its requests.)
 *
 * Empty lines are skipped ("if not msg: continue"); a ">>> " prompt
 * appears only when standard input is a terminal. At end of input the
 * client exits 0: there is no connection to close.
 *
 * Usage: ./client [-H ADDR] [-p PORT] [-t TIMEOUT_MS] [-r RETRIES]
 *                                  (defaults: 127.0.0.1, 9011, 1000 ms, 3)
 *
 * See also: server.c, noserver.c, NOTES.md.
 * Seed: 003 (the UDP client loop: input, sendto, recvfrom, print).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_PORT "9011"
#define DGRAM_MAX 65536
#define ADDR_LEN (INET6_ADDRSTRLEN + 8)

static const char *prog_name = "client";

/* The server: where requests go, and the only sender replies come from. */
struct server_addr {
    struct sockaddr_storage addr;
    socklen_t len;
    char text[ADDR_LEN];
};

/* die - report a failure with the reason from errno, exit 1 */
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

/* usage - print the command line; exit with status */
static void usage(FILE *out, int status)
{
    fprintf(out,
            "Usage: %s [-H ADDR] [-p PORT] [-t TIMEOUT_MS] [-r RETRIES]\n"
            "  -H ADDR        server address (default 127.0.0.1)\n"
            "  -p PORT        server UDP port (default %s)\n"
            "  -t TIMEOUT_MS  how long to wait for each reply (1-60000, default 1000)\n"
            "  -r RETRIES     how many times to resend before giving up (0-100, default 3)\n"
            "  -h, --help     show this help\n"
            "Reads lines from standard input, sends each as one datagram,\n"
            "prints each reply.\n",
            prog_name, DEFAULT_PORT);
    exit(status);
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

/* open_client_socket - an unconnected UDP socket for the server's address
 * family, and that address into *server; exit 1 on failure. No connect():
 * like the seed, every sendto() names the server. */
static int open_client_socket(const char *host, const char *port, struct server_addr *server)
{
    struct addrinfo hints, *res;
    int fd, rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICSERV;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "%s: bad address %s:%s: %s\n", prog_name, host, port,
                gai_strerror(rc));
        exit(1);
    }
    fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (fd == -1)
        die("socket");
    memcpy(&server->addr, res->ai_addr, res->ai_addrlen);
    server->len = res->ai_addrlen;
    format_addr(res->ai_addr, res->ai_addrlen, server->text, sizeof server->text);
    freeaddrinfo(res);
    return fd;
}

/* now_ms - the monotonic clock in milliseconds */
static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* same_addr - true if a datagram's sender is the server: same family,
 * address and port (field by field: the structures' padding may differ) */
static int same_addr(const struct sockaddr_storage *from, const struct server_addr *server)
{
    if (from->ss_family != server->addr.ss_family)
        return 0;
    if (from->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)from;
        const struct sockaddr_in *b = (const struct sockaddr_in *)&server->addr;

        return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
    }
    if (from->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)from;
        const struct sockaddr_in6 *b = (const struct sockaddr_in6 *)&server->addr;

        return a->sin6_port == b->sin6_port
            && memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr) == 0;
    }
    return 0;
}

/* discard_late_replies - drop datagrams already waiting (replies to an
 * earlier try that came after we resent), without waiting for any */
static void discard_late_replies(int fd, char *buf)
{
    while (recv(fd, buf, DGRAM_MAX, MSG_DONTWAIT) >= 0)
        ;
}

/* await_reply - wait until timeout_ms for a datagram from the server;
 * its length, or -1 if none came in time */
static ssize_t await_reply(int fd, char *buf, const struct server_addr *server, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;

    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        struct sockaddr_storage from;
        socklen_t from_len = sizeof from;
        long long left = deadline - now_ms();
        ssize_t n;
        int ready;

        if (left <= 0)
            return -1;
        ready = poll(&pfd, 1, (int)left);
        if (ready == -1 && errno != EINTR)
            die("poll");
        if (ready <= 0)
            continue;                       /* timed out (checked above) or EINTR */
        n = recvfrom(fd, buf, DGRAM_MAX, MSG_TRUNC, (struct sockaddr *)&from, &from_len);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            die("recvfrom");
        }
        if (!same_addr(&from, server))
            continue;                       /* a stranger's datagram: not our reply */
        if (n > DGRAM_MAX) {
            fprintf(stderr, "%s: reply of %zd bytes truncated to %d\n", prog_name, n, DGRAM_MAX);
            n = DGRAM_MAX;
        }
        return n;
    }
}

/* request - send one datagram and return the reply's length; resend up to
 * retries times; exit 1 with a clear message when no reply ever comes */
static ssize_t request(int fd, const char *msg, size_t len, char *reply,
                       const struct server_addr *server, int timeout_ms, int retries)
{
    discard_late_replies(fd, reply);
    for (int attempt = 0; attempt <= retries; attempt++) {
        ssize_t n;

        if (sendto(fd, msg, len, 0, (const struct sockaddr *)&server->addr, server->len) == -1) {
            if (errno == EMSGSIZE) {
                fprintf(stderr, "%s: a line of %zu bytes does not fit in one datagram: skipped\n",
                        prog_name, len);
                return -1;
            }
            die("sendto %s", server->text);
        }
        n = await_reply(fd, reply, server, timeout_ms);
        if (n >= 0)
            return n;
        if (attempt < retries)
            fprintf(stderr, "%s: no reply within %d ms, sending again\n", prog_name, timeout_ms);
    }
    fprintf(stderr, "%s: no reply from %s after %d tries of %d ms each: is the server running?\n",
            prog_name, server->text, retries + 1, timeout_ms);
    exit(1);
}

/* talk - the client loop: read a line, send it as one datagram, print
 * the reply; until end of input */
static void talk(int fd, const struct server_addr *server, int timeout_ms, int retries)
{
    int interactive = isatty(STDIN_FILENO);
    char *line = NULL, *reply = malloc(DGRAM_MAX);
    size_t line_cap = 0;
    ssize_t line_len, n;

    if (reply == NULL)
        die("malloc");
    for (;;) {
        if (interactive) {
            fputs(">>> ", stdout);
            fflush(stdout);
        }
        line_len = getline(&line, &line_cap, stdin);
        if (line_len == -1)
            break;                          /* end of input */
        if (line[line_len - 1] == '\n')
            line_len--;
        if (line_len == 0)
            continue;                       /* if not msg: continue */
        line[line_len++] = '\n';            /* send the line with its newline */
        n = request(fd, line, (size_t)line_len, reply, server, timeout_ms, retries);
        if (n < 0)
            continue;                       /* too long for a datagram: skipped */
        fwrite(reply, 1, (size_t)n, stdout);
        if (n == 0 || reply[n - 1] != '\n')
            fputc('\n', stdout);            /* one reply, one line */
        fflush(stdout);
    }
    free(line);
    free(reply);
}

/* parse_range - a whole number in [low, high] for option opt, or exit 2 */
static int parse_range(const char *text, char opt, long low, long high)
{
    char *end;
    long value;

    errno = 0;
    value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < low || value > high) {
        fprintf(stderr, "%s: bad -%c '%s' (%ld-%ld)\n", prog_name, opt, text, low, high);
        usage(stderr, 2);
    }
    return (int)value;
}

int main(int argc, char *argv[])
{
    static const struct option long_options[] = {
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *host = "127.0.0.1", *port = DEFAULT_PORT;
    int opt, fd, timeout_ms = 1000, retries = 3;
    struct server_addr server;

    while ((opt = getopt_long(argc, argv, "H:p:t:r:h", long_options, NULL)) != -1) {
        switch (opt) {
        case 'H': host = optarg; break;
        case 'p': port = optarg; break;
        case 't': timeout_ms = parse_range(optarg, 't', 1, 60000); break;
        case 'r': retries = parse_range(optarg, 'r', 0, 100); break;
        case 'h': usage(stdout, 0); break;
        default: usage(stderr, 2);
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

    fd = open_client_socket(host, port, &server);
    talk(fd, &server, timeout_ms, retries);
    close(fd);
    return 0;
}
