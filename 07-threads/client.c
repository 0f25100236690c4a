/* client.c - the interactive client of the seeds, in blocking C
 *
 * The same program as lesson 01's client (only the default port differs).
 *
 * Reads lines from standard input, sends each one (with its newline) to
 * the server, then waits in recv() until the reply line has come back and
 * prints it. Like the seeds' client it skips empty lines ("if not msg:
 * continue") and shows a ">>> " prompt, but only when standard input is a
 * terminal, so that it can also be driven from a pipe or a file.
 *
 * At end of input it half-closes the connection (shutdown(SHUT_WR): "I
 * will send no more"), prints whatever replies are still owed and exits 0.
 *
 * Run two of these against this lesson's server: each is served by its
 * own thread, so both are answered at once (in lesson 01 the
 * second waited for the first to quit).
 *
 * Usage: ./client [-H ADDR] [-p PORT]      (defaults: 127.0.0.1, 9007)
 *
 * See also: server.c, socketserver.c, NOTES.md.
 * Seeds: 000 and 003 (the client loop: input, send, recv, print).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#define DEFAULT_PORT "9007"
#define BUF_SIZE 4096

static const char *prog_name = "client";

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
            "Usage: %s [-H ADDR] [-p PORT]\n"
            "  -H ADDR   server address (default 127.0.0.1)\n"
            "  -p PORT   server port (default %s)\n"
            "  -h, --help  show this help\n"
            "Reads lines from standard input, prints the server's replies.\n",
            prog_name, DEFAULT_PORT);
    exit(status);
}

/* connect_to - a connected TCP socket to host:port; exit 1 on failure */
static int connect_to(const char *host, const char *port)
{
    struct addrinfo hints, *res, *ai;
    int fd = -1, rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "%s: bad address %s:%s: %s\n", prog_name, host, port,
                gai_strerror(rc));
        exit(1);
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd == -1)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        rc = errno;
        close(fd);
        fd = -1;
        errno = rc;
    }
    freeaddrinfo(res);
    if (fd == -1)
        die("connect %s:%s", host, port);
    return fd;
}

/* send_all - send every byte of buf, looping over partial sends and EINTR;
 * 0 on success, -1 with errno set */
static int send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

        if (n == -1) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* receive_replies - recv and print until `lines_owed` newlines have come
 * (or, with lines_owed == -1, until the server closes). Returns the number
 * of lines still owed; a reset, or a close while lines are owed, ends the
 * program with exit 1. Partial lines wait in stdout's buffer and are
 * flushed once whole. */
static long receive_replies(int fd, long lines_owed)
{
    char buf[BUF_SIZE];

    while (lines_owed != 0) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);

        if (n == -1) {
            if (errno == EINTR)
                continue;
            die("recv");
        }
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
    return lines_owed;
}

int main(int argc, char *argv[])
{
    static const struct option long_options[] = {
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *host = "127.0.0.1", *port = DEFAULT_PORT;
    int opt, fd, interactive;
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t line_len;

    while ((opt = getopt_long(argc, argv, "H:p:h", long_options, NULL)) != -1) {
        switch (opt) {
        case 'H': host = optarg; break;
        case 'p': port = optarg; break;
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

    fd = connect_to(host, port);
    interactive = isatty(STDIN_FILENO);

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
        if (send_all(fd, line, (size_t)line_len) == -1)
            die("send");
        receive_replies(fd, 1);             /* blocks until the reply is whole */
    }
    free(line);

    /* Half-close: the server sees end of file, sends what it still owes
     * and closes; we print it all. */
    if (shutdown(fd, SHUT_WR) == -1)
        die("shutdown");
    receive_replies(fd, -1);
    close(fd);
    return 0;
}
