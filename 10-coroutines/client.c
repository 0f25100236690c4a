/* client.c - the interactive client, and the seed's 500-connection stress
 * client, both on the green-thread scheduler of green.h
 *
 * Interactive (the default): like lesson 01's client. Reads lines from
 * standard input, skips empty ones, sends each with its newline, prints
 * the reply line. A ">>> " prompt appears only when standard input is a
 * terminal. At end of input it half-closes, prints what is still owed and
 * exits 0. It runs as a single coroutine: waiting for the keyboard or the
 * server parks it, and the hub waits in epoll_wait().
 *
 * Stress (-c N): the seed starts 500 threads, each with its own socket,
 * sending "... say hello n" and printing the reply forever. Here N
 * coroutines in one thread each connect, send M messages one at a time
 * and check that every reply is the message upper-cased; then one summary
 * line: connections, messages, errors, messages per second. Exit 0 when
 * there were no errors, else 1. All the connections are opened at once,
 * so this is also how to watch one server thread serve 500 clients.
 *
 * Usage: ./client [-H ADDR] [-p PORT] [-c CONNS | --stress] [-n MESSAGES]
 *        (defaults: 127.0.0.1, 9010; --stress is -c 500, the seed's count;
 *        -n 20 messages per connection)
 *
 * See also: server.c, green.h, NOTES.md.
 * Seeds: 000 and 003 (the client loop), 004 (the 500-thread client).
 * Linux-specific: epoll (in green.h).
 */
#define _GNU_SOURCE             /* ucontext, epoll (green.h) */

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "green.h"

#define DEFAULT_PORT "9010"
#define DEFAULT_MESSAGES 20
#define SEED_CONNS 500
#define MAX_CONNS 100000
#define BUF_SIZE 4096
#define MSG_MAX 96

static const char *prog_name = "client";

static const char *server_host = "127.0.0.1", *server_port = DEFAULT_PORT;

/* the server's address, resolved once in main: getaddrinfo() may block
 * (DNS), and a blocking call inside a coroutine would stall all of them */
static struct addrinfo *server_addr;

/* stress mode's totals, updated by every coroutine. No lock: only one
 * coroutine runs at a time and none is pre-empted in the middle of an
 * update. */
static struct {
    unsigned long messages_per_conn;
    unsigned long connected;
    unsigned long messages_ok;
    unsigned long errors;
} stress;

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

/* warn - report one connection's trouble with the reason from errno */
static void warn(const char *fmt, ...)
{
    int saved_errno = errno;
    va_list ap;

    fprintf(stderr, "%s: ", prog_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, ": %s\n", strerror(saved_errno));
}

/* usage - print the command line; exit with status */
static void usage(FILE *out, int status)
{
    fprintf(out,
            "Usage: %s [-H ADDR] [-p PORT] [-c CONNS | --stress] [-n MESSAGES]\n"
            "  -H ADDR      server address (default 127.0.0.1)\n"
            "  -p PORT      server port (default %s)\n"
            "  -c CONNS     stress mode: CONNS concurrent connections\n"
            "  --stress     stress mode with the seed's %d connections (-c %d)\n"
            "  -n MESSAGES  stress mode: messages per connection (default %d)\n"
            "  -h, --help   show this help\n"
            "Without -c: reads lines from standard input, prints the server's replies.\n",
            prog_name, DEFAULT_PORT, SEED_CONNS, SEED_CONNS, DEFAULT_MESSAGES);
    exit(status);
}

/* resolve - look up host:port once, before any coroutine runs */
static void resolve(const char *host, const char *port)
{
    struct addrinfo hints;
    int rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    rc = getaddrinfo(host, port, &hints, &server_addr);
    if (rc != 0) {
        fprintf(stderr, "%s: bad address %s:%s: %s\n", prog_name, host, port,
                gai_strerror(rc));
        exit(1);
    }
}

/* connect_to - a connected, non-blocking socket to the server,
 * or -1 with errno set; green_connect parks during the handshake */
static int connect_to(void)
{
    int fd = -1, saved_errno = 0;

    for (struct addrinfo *ai = server_addr; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd == -1) {
            saved_errno = errno;
            continue;
        }
        if (green_attach(fd) == 0 && green_connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            return fd;
        saved_errno = errno;
        green_close(fd);
        fd = -1;
    }
    errno = saved_errno;
    return -1;
}

/* send_all - send every byte of buf (green_send parks when the socket's
 * buffer is full); 0, or -1 with errno set */
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

/* --- interactive mode ------------------------------------------------------ */

/* a line reader for standard input that parks instead of blocking; a
 * global so the buffer stays reachable (and not reported as a leak) if
 * the client exits from inside a coroutine */
static struct line_reader {
    char *buf;
    size_t len, cap;
    size_t consumed;            /* bytes of the previous line to drop */
    int at_eof;
} stdin_reader;

/* read_line - the next line of fd without its newline, NUL-terminated, in
 * *line (valid until the next call); its length, or -1 at end of input */
static ssize_t read_line(int fd, struct line_reader *in, char **line)
{
    char *newline;

    if (in->buf == NULL) {
        in->cap = 2 * BUF_SIZE;
        in->buf = malloc(in->cap);
        if (in->buf == NULL)
            die("malloc");
    }
    if (in->consumed > 0) {
        memmove(in->buf, in->buf + in->consumed, in->len - in->consumed);
        in->len -= in->consumed;
        in->consumed = 0;
    }
    while ((newline = memchr(in->buf, '\n', in->len)) == NULL) {
        ssize_t n;

        if (in->at_eof) {
            if (in->len == 0)
                return -1;
            newline = in->buf + in->len;    /* a last line without newline */
            break;
        }
        if (in->cap - in->len < BUF_SIZE + 1) {
            char *grown = realloc(in->buf, in->cap * 2 + BUF_SIZE + 1);
            if (grown == NULL)
                die("realloc");
            in->buf = grown;
            in->cap = in->cap * 2 + BUF_SIZE + 1;
        }
        /* stdin stays blocking (it is shared with the shell); wait for it
         * to be readable first, so that read() returns at once */
        if (green_wait_readable(fd) == -1)
            die("poll stdin");
        n = read(fd, in->buf + in->len, BUF_SIZE);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            die("read stdin");
        }
        if (n == 0)
            in->at_eof = 1;
        in->len += (size_t)n;
    }
    in->consumed = (size_t)(newline - in->buf) + (newline < in->buf + in->len);
    *newline = '\0';
    *line = in->buf;
    return newline - in->buf;
}

/* receive_replies - recv and print until lines_owed newlines have come
 * (or, with lines_owed == -1, until the server closes) */
static void receive_replies(int fd, long lines_owed)
{
    char buf[BUF_SIZE];

    while (lines_owed != 0) {
        ssize_t n = green_recv(fd, buf, sizeof buf, 0);

        if (n == -1)
            die("recv");
        if (n == 0) {
            if (lines_owed > 0) {
                fprintf(stderr, "%s: server closed the connection\n", prog_name);
                exit(1);
            }
            break;                      /* lines_owed == -1: drained */
        }
        fwrite(buf, 1, (size_t)n, stdout);
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] == '\n' && lines_owed > 0)
                lines_owed--;
        if (memchr(buf, '\n', (size_t)n) != NULL)
            fflush(stdout);             /* a whole line has arrived: show it */
    }
}

/* talk - the interactive session, run as one coroutine */
static void talk(void *arg)
{
    int fd = connect_to(), interactive;
    char *line;
    ssize_t line_len;

    (void)arg;
    if (fd == -1)
        die("connect %s:%s", server_host, server_port);
    interactive = isatty(STDIN_FILENO);
    for (;;) {
        if (interactive) {
            fputs(">>> ", stdout);
            fflush(stdout);
        }
        line_len = read_line(STDIN_FILENO, &stdin_reader, &line);
        if (line_len == -1)
            break;                          /* end of input */
        if (line_len == 0)
            continue;                       /* if not msg: continue */
        line[line_len++] = '\n';            /* send the line with its newline */
        if (send_all(fd, line, (size_t)line_len) == -1)
            die("send");
        receive_replies(fd, 1);
    }
    free(stdin_reader.buf);
    stdin_reader.buf = NULL;
    if (shutdown(fd, SHUT_WR) == -1)        /* half-close: "I am done" */
        die("shutdown");
    receive_replies(fd, -1);
    green_close(fd);
}

/* --- stress mode ------------------------------------------------------------- */

/* check_reply - read exactly len bytes and compare with want; 0 if equal */
static int check_reply(int fd, const char *want, size_t len)
{
    char got[MSG_MAX];
    size_t have = 0;

    while (have < len) {
        ssize_t n = green_recv(fd, got + have, len - have, 0);

        if (n <= 0) {
            if (n == 0)
                errno = ECONNRESET;     /* closed with a reply owed */
            return -1;
        }
        have += (size_t)n;
    }
    if (memcmp(got, want, len) != 0) {
        errno = EBADMSG;
        return -1;
    }
    return 0;
}

/* stress_one - one of the seed's x_client threads, as a coroutine:
 * connect, then send and check messages_per_conn messages */
static void stress_one(void *arg)
{
    unsigned long id = (unsigned long)(uintptr_t)arg;
    int fd = connect_to();

    if (fd == -1) {
        warn("connection %lu: connect", id);
        stress.errors++;
        return;
    }
    stress.connected++;
    for (unsigned long i = 0; i < stress.messages_per_conn; i++) {
        char msg[MSG_MAX], want[MSG_MAX];
        int len = snprintf(msg, sizeof msg, "client %lu say hello %lu\n", id, i);

        for (int k = 0; k <= len; k++)  /* the reply we expect */
            want[k] = (msg[k] >= 'a' && msg[k] <= 'z') ? (char)(msg[k] - 'a' + 'A') : msg[k];
        if (send_all(fd, msg, (size_t)len) == -1 || check_reply(fd, want, (size_t)len) == -1) {
            warn("connection %lu, message %lu", id, i);
            stress.errors++;
            break;
        }
        stress.messages_ok++;
    }
    green_close(fd);
}

/* raise_fd_limit - N connections need N descriptors: lift the soft limit
 * to the hard one (an ordinary user may do that) */
static void raise_fd_limit(unsigned long conns)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < conns + 16) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
            warn("setrlimit RLIMIT_NOFILE");
    }
}

/* run_stress - spawn every connection, join them all, print the summary */
static int run_stress(unsigned long conns)
{
    struct green **all = calloc(conns, sizeof *all);
    long long start = green_now_ms();
    double secs;

    if (all == NULL)
        die("calloc");
    raise_fd_limit(conns);
    for (unsigned long i = 0; i < conns; i++) {
        all[i] = green_spawn(stress_one, (void *)(uintptr_t)(i + 1));
        if (all[i] == NULL)
            die("spawn");
    }
    for (unsigned long i = 0; i < conns; i++)   /* like the seed's g.join() */
        green_join(all[i]);
    free(all);
    secs = (double)(green_now_ms() - start) / 1000.0;
    if (secs <= 0)
        secs = 0.001;
    printf("connections %lu, messages %lu, errors %lu, %.0f messages/s (%.2f s)\n",
           stress.connected, stress.messages_ok, stress.errors,
           (double)stress.messages_ok / secs, secs);
    return stress.errors == 0 ? 0 : 1;
}

/* ignore_sigpipe - a server that vanished gives EPIPE, not death by SIGPIPE
 * (MSG_NOSIGNAL on every send says the same; this covers everything else) */
static void ignore_sigpipe(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    if (sigaction(SIGPIPE, &sa, NULL) == -1)
        die("sigaction");
}

/* parse_count - a positive decimal number no larger than max, or exit 2 */
static unsigned long parse_count(const char *text, const char *what, unsigned long max)
{
    char *end;
    unsigned long value;

    errno = 0;
    value = strtoul(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || value == 0
        || value > max) {
        fprintf(stderr, "%s: bad %s '%s' (1 to %lu)\n", prog_name, what, text, max);
        usage(stderr, 2);
    }
    return value;
}

int main(int argc, char *argv[])
{
    static const struct option long_options[] = {
        {"help", no_argument, NULL, 'h'}, {"stress", no_argument, NULL, 's'},
        {NULL, 0, NULL, 0}};
    unsigned long conns = 0;
    int opt;

    stress.messages_per_conn = DEFAULT_MESSAGES;
    while ((opt = getopt_long(argc, argv, "H:p:c:n:h", long_options, NULL)) != -1) {
        switch (opt) {
        case 'H': server_host = optarg; break;
        case 'p': server_port = optarg; break;
        case 's': conns = SEED_CONNS; break;
        case 'c': conns = parse_count(optarg, "connection count", MAX_CONNS); break;
        case 'n': stress.messages_per_conn = parse_count(optarg, "message count", 1000000); break;
        case 'h': usage(stdout, 0); break;
        default: usage(stderr, 2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", prog_name, argv[optind]);
        usage(stderr, 2);
    }
    if (server_port[0] == '\0' || strlen(server_port) > 5
        || strspn(server_port, "0123456789") != strlen(server_port) || atol(server_port) > 65535) {
        fprintf(stderr, "%s: bad port '%s'\n", prog_name, server_port);
        usage(stderr, 2);
    }

    ignore_sigpipe();
    resolve(server_host, server_port);
    if (green_init() == -1)
        die("epoll_create1");
    if (conns > 0) {
        int status = run_stress(conns);
        freeaddrinfo(server_addr);
        return status;
    }
    {
        struct green *session = green_spawn(talk, NULL);
        if (session == NULL)
            die("spawn");
        green_join(session);
    }
    freeaddrinfo(server_addr);
    return 0;
}
