/* 03-crowd.c - a crowd of clients that send and never read
 *
 * Opens COUNT connections to an echo server and sends on all of them,
 * without end, never reading a byte of the replies: the server owes every
 * one of them more and more. Each socket has small kernel buffers (4 KiB
 * to receive, 16 KiB to send), so the crowd costs the kernel little and
 * what piles up is the server's own memory. It prints "flooding N" once
 * connected, and "stalled" the first time no connection could send for
 * 200 ms: the server has stopped reading every one of them. It goes on
 * until its standard input ends.
 *
 * Usage: 03-crowd [-H ADDR] [-p PORT] [-n COUNT]   (default COUNT 400)
 * Used by tests/event-loop.bash (lessons 03 and 04: the total output
 * budget).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../lib/lab.h"

#define QUIET_MS 200

static long count = 400;

static void on_option(int key, const char *arg)
{
    (void)key;
    count = parse_number(arg, 1, 20000, "-n");
}

/* small_buffers - keep the kernel's share of the crowd small */
static void small_buffers(int fd)
{
    int rcv = 4096, snd = 16384, flags = fcntl(fd, F_GETFL);

    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv) == -1
        || setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd) == -1
        || flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
        die("socket options");
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {{'n', NULL, "COUNT", "connections"}, {0}};
    const struct lab_command cmd = {.default_port = "9003", .is_client = 1,
                                    .options = options, .on_option = on_option};
    struct lab_args args = lab_parse(argc, argv, &cmd);
    struct pollfd *pfds = calloc((size_t)count + 1, sizeof *pfds);
    static char junk[65536];
    struct rlimit rl;
    int stalled = 0;

    if (pfds == NULL)
        die("calloc");
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)('a' + i % 26);
    for (long i = 0; i < count; i++) {
        pfds[i].fd = connect_to(args.host, args.port);
        pfds[i].events = POLLOUT;
        small_buffers(pfds[i].fd);
    }
    pfds[count].fd = STDIN_FILENO;          /* its end stops the crowd */
    pfds[count].events = POLLIN;
    printf("flooding %ld\n", count);
    fflush(stdout);

    for (;;) {
        int ready = poll(pfds, (nfds_t)count + 1, QUIET_MS);

        if (ready == -1 && errno != EINTR)
            die("poll");
        if (ready == 0 && !stalled) {
            printf("stalled\n");
            fflush(stdout);
            stalled = 1;
        }
        if (ready > 0 && pfds[count].revents != 0) {
            char buf[256];

            if (read(STDIN_FILENO, buf, sizeof buf) <= 0)
                break;
        }
        for (long i = 0; ready > 0 && i < count; i++) {
            if (pfds[i].revents & (POLLERR | POLLHUP))
                die("the server closed a connection");
            if ((pfds[i].revents & POLLOUT)
                && send(pfds[i].fd, junk, sizeof junk, MSG_NOSIGNAL) == -1 && errno != EAGAIN)
                die("send");
        }
    }
    for (long i = 0; i < count; i++)
        close(pfds[i].fd);
    free(pfds);
    return 0;
}
