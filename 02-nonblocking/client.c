/* client.c - the interactive client, with a non-blocking socket: it asks
 *
 * The lesson from the client's side. Like every client of the lab it
 * reads lines from standard input, sends each one (with its newline) and
 * prints the reply line; it skips empty lines and shows a ">>> " prompt
 * only on a terminal; at end of input it half-closes (shutdown(SHUT_WR)),
 * prints the replies still owed and exits 0. But its socket is
 * non-blocking, so it never sleeps in recv() or send(): while a reply is
 * owed it runs the server's polling loop in small, "try send() what is
 * left, try recv() what came", over and over, and every EAGAIN is a
 * wasted call. -v prints how many each reply cost, on standard error.
 *
 * What it shows: the waiting does not go away, it moves into the
 * program, which now spins a core until the bytes arrive (a reply from a
 * server run with --sleep 100 costs about a hundred thousand calls). It
 * also shows why the two directions are tried in turn: a long line is sent
 * in pieces while its reply is read, so neither side's buffers fill up and
 * stall the other (a 12 MB line deadlocks lesson 01's blocking client). Standard input stays blocking, on purpose: O_NONBLOCK
 * belongs to the open file, which a terminal shares with the shell (see
 * NOTES.md, pitfalls), and waiting for a person to type is fine.
 *
 * Usage: ./client [-H ADDR] [-p PORT] [-v]      (defaults: 127.0.0.1, 9002)
 *
 * See also: server.c (the same loop, for many clients), NOTES.md,
 * ../lib/echo_client.c (lesson 01's blocking client, for comparison).
 * Python notes: 000 and 004 (the client loop: input, send, recv, print).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../lib/lab.h"

#define BUF_SIZE 4096

static int verbose_option;                  /* -v */
static unsigned long long wasted;           /* calls that returned EAGAIN */

/* try_recv - one non-blocking recv(): print what came; 0 when the server
 * has closed, 1 otherwise. *lines_owed drops with each newline. A reset
 * ends the program (exit 1). */
static int try_recv(int fd, long *lines_owed)
{
    char buf[BUF_SIZE];
    ssize_t n = recv(fd, buf, sizeof buf, 0);

    if (n == -1) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            die("recv");
        wasted++;                           /* nothing yet: ask again */
        return 1;
    }
    if (n == 0)
        return 0;
    fwrite(buf, 1, (size_t)n, stdout);
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == '\n' && *lines_owed > 0)
            (*lines_owed)--;
    if (memchr(buf, '\n', (size_t)n) != NULL)
        fflush(stdout);                     /* a whole line has arrived: show it */
    return 1;
}

/* exchange - send len bytes and poll until lines_owed reply lines are
 * back (lines_owed == -1: until the server closes): try send(), try
 * recv(), again and again, never sleeping */
static void exchange(int fd, const char *data, size_t len, long lines_owed)
{
    unsigned long long wasted_before = wasted;

    while (len > 0 || lines_owed != 0) {
        if (len > 0) {
            ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

            if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                die("send");
            if (n == -1) {
                wasted++;                   /* our send buffer is full */
            } else {
                data += n;
                len -= (size_t)n;
            }
        }
        if (try_recv(fd, &lines_owed) == 0) {
            if (lines_owed > 0)
                fatal("server closed the connection");
            break;                          /* lines_owed == -1: all read */
        }
    }
    if (verbose_option)
        note("that took %llu wasted calls (EAGAIN)", wasted - wasted_before);
}

/* on_option - -v */
static void on_option(int key, const char *arg)
{
    (void)key;
    (void)arg;
    verbose_option = 1;
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'v', NULL, NULL, "say on stderr how many calls each reply wasted"},
        {0, NULL, NULL, NULL}};
    const struct lab_command cmd = {
        .about = "Reads lines from standard input, prints the server's replies.",
        .default_port = "9002", .is_client = 1, .options = options, .on_option = on_option};
    struct lab_args args = lab_parse(argc, argv, &cmd);
    int fd = connect_to(args.host, args.port);  /* a blocking connect, then: */
    int flags = fcntl(fd, F_GETFL);
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t line_len;

    if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
        die("fcntl O_NONBLOCK");            /* sock.setblocking(False) */

    /* input, send, poll until the reply is back, print: line by line */
    while ((line_len = read_input_line(&line, &line_cap)) != -1)
        exchange(fd, line, (size_t)line_len, 1);
    free(line);

    /* Half-close: the server sees end of file, sends what it still owes
     * and closes; we print it all. */
    /* ENOTCONN: a reset has already ended the connection; the
     * recv() below reports it ("Connection reset by peer"). */
    if (shutdown(fd, SHUT_WR) == -1 && errno != ENOTCONN)
        die("shutdown");
    exchange(fd, NULL, 0, -1);
    if (verbose_option)
        note("%llu wasted calls in all", wasted);
    close(fd);
    return 0;
}
