/* client.c - the interactive client, multiplexed with select()
 *
 * The seeds' client does input(), send(), recv(), print() in turn, so it
 * can wait for only one thing at a time: while it sleeps in input() a
 * reply cannot be shown, and while it sleeps in recv() it cannot read the
 * next line. This client waits for both in one select(): standard input
 * and the socket. Whatever is ready is handled, and the client goes back
 * to select(). Nothing here holds a whole line, so a line of any length
 * (a 1 MiB line from a pipe) streams through in pieces while replies come
 * back at the same time.
 *
 * Like the seeds' client it skips empty lines and shows a ">>> " prompt,
 * but only when standard input is a terminal. At end of input it
 * half-closes (shutdown(SHUT_WR)), prints the replies still owed and
 * exits 0.
 *
 * Standard input is read with read(2), not with stdio: stdio may pull
 * several lines into its own buffer, where select() cannot see them, and
 * the client would then sleep with a line already read.
 *
 * Usage: ./client [-H ADDR] [-p PORT]      (defaults: 127.0.0.1, 9003)
 *
 * See also: server.c, NOTES.md.
 * Seeds: 002 (the select client/server pair and the terminal as one more
 * descriptor to watch), 000 and 003 (the client loop).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#define DEFAULT_PORT "9003"
#define BUF_SIZE 65536

static const char *prog_name = "client";

/* What is on its way to the server. */
static char pending[2 * BUF_SIZE];
static size_t pending_len = 0;
static int at_line_start = 1;       /* the next input byte begins a line */
static long lines_owed = 0;         /* lines sent whose reply is not whole yet */

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

/* prompt - ">>> " when a person is typing and no reply is owed */
static void prompt(int interactive)
{
    if (interactive && lines_owed == 0) {
        fputs(">>> ", stdout);
        fflush(stdout);
    }
}

/* take_input - copy input bytes into `pending`, dropping empty lines
 * (the seeds' "if not msg: continue") and counting the lines sent */
static void take_input(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '\n') {
            if (at_line_start)
                continue;               /* an empty line: skip it */
            lines_owed++;
            at_line_start = 1;
        } else {
            at_line_start = 0;
        }
        pending[pending_len++] = buf[i];
    }
}

/* read_input - one read() of standard input; returns 0 at end of input */
static int read_input(void)
{
    char buf[BUF_SIZE];
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);

    if (n == -1) {
        if (errno == EINTR || errno == EAGAIN)
            return 1;
        die("read standard input");
    }
    if (n == 0) {
        if (!at_line_start)
            take_input("\n", 1);        /* a last line without its newline */
        return 0;
    }
    take_input(buf, (size_t)n);
    return 1;
}

/* send_pending - one send() of what waits; the socket is non-blocking, so
 * a full send buffer costs nothing but a later turn */
static void send_pending(int fd)
{
    ssize_t n = send(fd, pending, pending_len, MSG_NOSIGNAL);

    if (n == -1) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        die("send");
    }
    memmove(pending, pending + n, pending_len - (size_t)n);
    pending_len -= (size_t)n;
}

/* read_replies - one recv() from the server, printed; returns 0 when the
 * server has closed the connection */
static int read_replies(int fd, int interactive)
{
    char buf[BUF_SIZE];
    ssize_t n = recv(fd, buf, sizeof buf, 0);

    if (n == -1) {
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
            return 1;
        die("recv");
    }
    if (n == 0)
        return 0;
    fwrite(buf, 1, (size_t)n, stdout);
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == '\n' && lines_owed > 0)
            lines_owed--;
    if (memchr(buf, '\n', (size_t)n) != NULL) {
        fflush(stdout);                 /* a whole line has arrived: show it */
        prompt(interactive);
    }
    return 1;
}

/* run - the select() loop over standard input and the socket */
static void run(int fd, int interactive)
{
    int input_open = 1, write_open = 1;

    prompt(interactive);
    for (;;) {
        fd_set readable, writable;

        if (!input_open && pending_len == 0 && write_open) {
            /* Half-close: the server sees end of file, sends what it
             * still owes, then closes; we print it all. */
            if (shutdown(fd, SHUT_WR) == -1)
                die("shutdown");
            write_open = 0;
        }
        FD_ZERO(&readable);
        FD_ZERO(&writable);
        FD_SET(fd, &readable);
        /* Read input only while there is room for a whole read of it. */
        if (input_open && sizeof pending - pending_len >= BUF_SIZE)
            FD_SET(STDIN_FILENO, &readable);
        if (pending_len > 0)
            FD_SET(fd, &writable);

        if (select(fd + 1, &readable, &writable, NULL, NULL) == -1) {
            if (errno == EINTR)
                continue;
            die("select");
        }
        if (FD_ISSET(fd, &writable))
            send_pending(fd);
        if (FD_ISSET(fd, &readable) && !read_replies(fd, interactive)) {
            if (write_open || lines_owed > 0) {
                fprintf(stderr, "%s: server closed the connection\n", prog_name);
                exit(1);
            }
            return;                     /* everything owed has come */
        }
        if (input_open && FD_ISSET(STDIN_FILENO, &readable))
            input_open = read_input();
    }
}

int main(int argc, char *argv[])
{
    static const struct option long_options[] = {
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *host = "127.0.0.1", *port = DEFAULT_PORT;
    int opt, fd, flags;

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
    if (fd >= FD_SETSIZE) {             /* never FD_SET a descriptor this high */
        fprintf(stderr, "%s: descriptor %d is not below FD_SETSIZE\n", prog_name, fd);
        return 1;
    }
    flags = fcntl(fd, F_GETFL);
    if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
        die("fcntl O_NONBLOCK");
    run(fd, isatty(STDIN_FILENO));
    close(fd);
    return 0;
}
