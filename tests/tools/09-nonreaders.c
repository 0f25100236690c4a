/* 09-nonreaders.c - many clients that send and never read
 *
 * A test helper for 09-pools (not a lesson program). It opens COUNT
 * connections at once with non-blocking connect() (a blocking one would
 * hang at the first connection the server's full backlog drops), then
 * sends on every connection whenever it can, without end, and never reads
 * a byte: each connection is a peer that never reads its replies. Small
 * socket buffers (4 KiB asked) keep the test's own kernel memory modest.
 * Prints "opened COUNT" once every connect() has been issued, and
 * "connected N" each time ten more have completed; holds everything
 * until standard input ends, then closes every connection.
 *
 * Usage: 09-nonreaders -p PORT [-n COUNT]      (default 400)
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../lib/lab.h"

#define MAX_CONNS 2000

/* open_one - a non-blocking socket, connecting to 127.0.0.1:port */
static int open_one(int port)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), small = 4096;

    if (fd == -1)
        die("socket");
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == -1 && errno != EINPROGRESS)
        die("connect");
    return fd;
}

int main(int argc, char *argv[])
{
    static struct pollfd fds[MAX_CONNS + 1];
    static char data[4096], counted[MAX_CONNS + 1];
    struct rlimit rl;
    int count = 400, port = 0, connected = 0, reported = 0, opt;

    prog_name = "09-nonreaders";
    while ((opt = getopt(argc, argv, "p:n:")) != -1) {
        if (opt == 'p')
            port = atoi(optarg);
        else if (opt == 'n')
            count = atoi(optarg);
        else
            return 2;
    }
    if (port <= 0 || count < 1 || count > MAX_CONNS)
        return 2;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    memset(data, 'x', sizeof data);
    fds[0].fd = STDIN_FILENO;
    fds[0].events = POLLIN;
    for (int i = 1; i <= count; i++) {
        fds[i].fd = open_one(port);
        fds[i].events = POLLOUT;
    }
    printf("opened %d\n", count);
    fflush(stdout);

    for (;;) {
        if (poll(fds, (nfds_t)count + 1, -1) == -1) {
            if (errno == EINTR)
                continue;
            die("poll");
        }
        if (fds[0].revents != 0)            /* end of input: let go */
            break;
        for (int i = 1; i <= count; i++) {
            if (fds[i].revents == 0)
                continue;
            if (fds[i].revents & (POLLERR | POLLHUP)) {
                close(fds[i].fd);
                fds[i].fd = -1;                     /* poll ignores it now */
                continue;
            }
            if (!counted[i]) {                      /* first writable: connected */
                counted[i] = 1;
                connected++;
            }
            while (send(fds[i].fd, data, sizeof data, MSG_NOSIGNAL) > 0)
                ;
        }
        if (connected >= reported + 10 || (connected == count && reported < count)) {
            reported = connected;
            printf("connected %d\n", connected);
            fflush(stdout);
        }
    }
    for (int i = 1; i <= count; i++)
        if (fds[i].fd >= 0)
            close(fds[i].fd);
    return 0;
}
