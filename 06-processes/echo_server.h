/* echo_server.h - the helpers every echo server of this lesson shares
 *
 * The same helpers, with the same names, as lesson 01's server.c:
 * log_line, die, warn, note, format_addr, open_listener,
 * print_ready_line, upper_bytes, send_all and pause_briefly (here it
 * takes the pause in milliseconds); and check_port, parse_args (-H, -p,
 * -m) and accept_trouble besides. They live in a header
 * here only because this lesson has two servers (server.c and
 * socketserver.c) that would otherwise repeat them word for word; read
 * them once, then read the two servers for what is new: fork() per client.
 *
 * Each program that includes this file sets prog_name before it prints
 * anything, and owns the stop_requested flag its signal handler sets.
 */
#ifndef ECHO_SERVER_H
#define ECHO_SERVER_H

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

#define BACKLOG 128         /* room for a burst of forks' worth of clients */
#define BUF_SIZE 4096
#define ADDR_LEN (INET6_ADDRSTRLEN + 8)  /* "host:port" as text */

static const char *prog_name = "server";

/* Set by the SIGINT/SIGTERM handler, read by the loops. */
static volatile sig_atomic_t stop_requested = 0;

/* log_line - one whole line on stderr: "prog: message[: reason]"
 * Lesson 01's helper, made stricter: the line is built in a buffer and
 * written with one write() call, so that lines of processes (or threads)
 * writing at the same time never mix ("server: closed" from one child and
 * "server: conn" from another). */
static void log_line(int err, const char *fmt, va_list ap)
{
    char line[512];
    int len = snprintf(line, sizeof line, "%s: ", prog_name);

    if (len >= 0 && (size_t)len < sizeof line)
        vsnprintf(line + len, sizeof line - (size_t)len, fmt, ap);
    len = (int)strlen(line);
    if (err != 0) {
        char reason[128];

        /* strerror_r, not strerror: safe when threads report at once */
        if (strerror_r(err, reason, sizeof reason) != 0)
            snprintf(reason, sizeof reason, "error %d", err);
        snprintf(line + len, sizeof line - (size_t)len, ": %s", reason);
    }
    len = (int)strlen(line);
    if ((size_t)len == sizeof line - 1)
        len--;                              /* truncated: keep room for the newline */
    line[len++] = '\n';
    if (write(STDERR_FILENO, line, (size_t)len) == -1) {
        /* stderr is gone: there is nowhere left to report it */
    }
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

/* check_port - exit 2 with the usage unless port is a number 0-65535 */
static void check_port(const char *port, void (*usage)(FILE *, int))
{
    if (port[0] == '\0' || strlen(port) > 5 || strspn(port, "0123456789") != strlen(port)
        || atol(port) > 65535) {
        fprintf(stderr, "%s: bad port '%s'\n", prog_name, port);
        usage(stderr, 2);
    }
}

/* parse_args - the options every server of this lesson takes (-H, -p,
 * -m, --help) into host, port and *max; exit 2 on a bad one. usage prints
 * the calling program's own help. */
static void parse_args(int argc, char *argv[], const char **host, const char **port,
                       long *max, void (*usage)(FILE *, int))
{
    static const struct option long_options[] = {
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    char *end;
    int opt;

    while ((opt = getopt_long(argc, argv, "H:p:m:h", long_options, NULL)) != -1) {
        switch (opt) {
        case 'H': *host = optarg; break;
        case 'p': *port = optarg; break;
        case 'm':
            *max = strtol(optarg, &end, 10);
            if (*end != '\0' || end == optarg || *max < 1 || *max > 100000) {
                fprintf(stderr, "%s: bad -m '%s' (1 to 100000)\n", prog_name, optarg);
                usage(stderr, 2);
            }
            break;
        case 'h': usage(stdout, 0); break;
        default: usage(stderr, 2);          /* getopt printed the reason */
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", prog_name, argv[optind]);
        usage(stderr, 2);
    }
    check_port(*port, usage);
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

/* accept_trouble - true for the accept() errors that mean "out of a
 * resource right now" (descriptors, memory): the listening socket stays
 * readable, so retrying at once would spin; the caller pauses instead */
static int accept_trouble(int err)
{
    return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

/* pause_briefly - sleep about ms milliseconds (cut short by a signal) */
static void pause_briefly(long ms)
{
    struct timespec delay = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&delay, NULL);
}

#endif
