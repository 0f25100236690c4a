/* client.c - the interactive client, multiplexed with poll()
 *
 * The Python notes' client does input(), send(), recv(), print() in turn, so it
 * can wait for only one thing at a time. This client waits for standard
 * input and the socket in one poll() call: an array of two struct pollfd,
 * whose `events` say what it wants from each and whose `revents` say what
 * happened. Nothing here holds a whole line, so a line of any length
 * streams through in pieces while replies come back at the same time.
 *
 * Like the Python notes' client it skips empty lines and shows a ">>> " prompt,
 * but only when standard input is a terminal. At end of input it
 * half-closes (shutdown(SHUT_WR)), prints the replies still owed and
 * exits 0.
 *
 * Standard input is read with read(2), not with stdio: stdio may pull
 * several lines into its own buffer, where poll() cannot see them.
 *
 * Usage: ./client [-H ADDR] [-p PORT]      (defaults: 127.0.0.1, 9004)
 *
 * See also: server.c, bitmask.c, NOTES.md.
 * Python notes: 002 (poll, POLLIN/POLLOUT/POLLHUP as bit masks), 000 and 003
 * (the client loop).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../lib/lab.h"

#define BUF_SIZE 65536

/* What is on its way to the server. */
static char pending[2 * BUF_SIZE];
static size_t pending_len = 0;
static int at_line_start = 1;       /* the next input byte begins a line */
static long lines_owed = 0;         /* lines sent whose reply is not whole yet */

/* prompt - ">>> " when a person is typing and no reply is owed */
static void prompt(int interactive)
{
    if (interactive && lines_owed == 0) {
        fputs(">>> ", stdout);
        fflush(stdout);
    }
}

/* take_input - copy input bytes into `pending`, dropping empty lines
 * (the Python notes' "if not msg: continue") and counting the lines sent */
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

/* run - the poll() loop over standard input and the socket */
static void run(int fd, int interactive)
{
    struct pollfd watched[2] = {{.fd = fd}, {.fd = STDIN_FILENO}};
    int input_open = 1, write_open = 1;

    prompt(interactive);
    for (;;) {
        if (!input_open && pending_len == 0 && write_open) {
            /* Half-close: the server sees end of file, sends what it
             * still owes, then closes; we print it all. */
            /* ENOTCONN: a reset has already ended the connection; the
             * recv() below reports it ("Connection reset by peer"). */
            if (shutdown(fd, SHUT_WR) == -1 && errno != ENOTCONN)
                die("shutdown");
            write_open = 0;
        }
        watched[0].events = POLLIN | (pending_len > 0 ? POLLOUT : 0);
        /* Read input only while there is room for a whole read of it; a
         * negative fd takes the entry out of the watch. */
        watched[1].fd = input_open && sizeof pending - pending_len >= BUF_SIZE
                            ? STDIN_FILENO : -1;
        watched[1].events = POLLIN;

        if (poll(watched, 2, -1) == -1) {
            if (errno == EINTR)
                continue;
            die("poll");
        }
        if (watched[0].revents & POLLOUT)
            send_pending(fd);
        /* POLLHUP and POLLERR come unasked: recv() then says what happened. */
        if ((watched[0].revents & (POLLIN | POLLHUP | POLLERR)) && !read_replies(fd, interactive)) {
            if (write_open || lines_owed > 0) {
                fatal("server closed the connection");
            }
            return;                     /* everything owed has come */
        }
        /* A pipe whose writer has gone reports POLLHUP, maybe without
         * POLLIN: read() then returns 0, the end of input. */
        if (watched[1].revents & (POLLIN | POLLHUP | POLLERR))
            input_open = read_input();
    }
}

int main(int argc, char *argv[])
{
    const struct lab_command cmd = {
        .about = "Reads lines from standard input, prints the server's replies.",
        .default_port = "9004", .is_client = 1};
    struct lab_args args = lab_parse(argc, argv, &cmd);
    int fd = connect_to(args.host, args.port), flags;

    flags = fcntl(fd, F_GETFL);
    if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
        die("fcntl O_NONBLOCK");
    run(fd, isatty(STDIN_FILENO));
    close(fd);
    return 0;
}
