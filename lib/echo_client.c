/* echo_client.c - the interactive blocking client of the Python notes, in C
 *
 * Reads lines from standard input, sends each one (with its newline) to
 * the server, then waits in recv() until the reply line has come back and
 * prints it. Like the Python client it skips empty lines ("if not msg:
 * continue") and shows a ">>> " prompt, but only when standard input is a
 * terminal, so that it can also be driven from a pipe or a file.
 *
 * At end of input it half-closes the connection (shutdown(SHUT_WR): "I
 * will send no more"), prints whatever replies are still owed and exits 0.
 *
 * One source for every lesson whose idea is on the server side: 01's
 * client.c and those of 06, 07 and 09 are a main() that calls
 * echo_client_main() with the lesson's port. The client waits for one
 * thing at a time, its own reply, so blocking costs it nothing.
 */
#define _POSIX_C_SOURCE 200809L

#include "lab.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUF_SIZE 4096

/* receive_replies - recv and print until lines_owed newlines have come
 * (or, with lines_owed == -1, until the server closes). A reset, or a
 * close while lines are owed, ends the program with exit 1. Partial lines
 * wait in stdout's buffer and are flushed once whole. */
static void receive_replies(int fd, long lines_owed)
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
            if (lines_owed > 0)
                fatal("server closed the connection");
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

int echo_client_main(int argc, char *argv[], const char *default_port, const char *about)
{
    const struct lab_command cmd = {.about = about, .default_port = default_port,
                                    .is_client = 1};
    struct lab_args args = lab_parse(argc, argv, &cmd);
    int fd = connect_to(args.host, args.port);
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t line_len;

    /* input, send, recv, print: one line at a time */
    while ((line_len = read_input_line(&line, &line_cap)) != -1) {
        if (send_all(fd, line, (size_t)line_len) == -1)
            die("send");
        receive_replies(fd, 1);             /* blocks until the reply is whole */
    }
    free(line);

    /* Half-close: the server sees end of file, sends what it still owes
     * and closes; we print it all. */
    /* ENOTCONN: a reset has already ended the connection; the
     * recv() below reports it ("Connection reset by peer"). */
    if (shutdown(fd, SHUT_WR) == -1 && errno != ENOTCONN)
        die("shutdown");
    receive_replies(fd, -1);
    close(fd);
    return 0;
}
