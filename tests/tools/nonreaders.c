/* nonreaders.c - many clients that send without end and never read
 *
 * The peers of the output-budget tests (02, 05, 09, 10): COUNT connections
 * to an echo server from one process, each sending lower-case text
 * whenever its socket takes more and never reading a byte of the replies,
 * so that the server owes every one of them output. Small socket buffers
 * (4 KiB) and a small MSS (1 KiB), set before connect(), keep what the
 * kernels hold per connection small: 400 of these take a few megabytes of
 * the machine's socket memory, not a gigabyte (loopback's 64 KiB segments
 * would size every buffer for them), so whatever piles up piles up in the
 * server, which is what the tests measure. Connections are opened with
 * non-blocking connect(): a blocking one would hang at the first that a
 * full backlog drops (09's pool accepts only a few).
 *
 * Prints "opened N" once every connect() is issued, "connected N" each
 * time ten more (and at last all) have completed, and "full" once no
 * socket has taken more for a second. Sends until killed; with -i, until
 * standard input ends, then closes everything and exits 0.
 *
 * Usage: nonreaders [-H ADDR] [-p PORT] [-n COUNT] [-i]   (IPv4; 400)
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../lib/lab.h"

static long count = 400;
static int until_eof;

static void on_option(int key, const char *arg)
{
    if (key == 'n')
        count = parse_number(arg, 1, 20000, "connection count");
    else
        until_eof = 1;
}

/* open_one - a non-blocking socket with small buffers, connecting */
static int open_one(const struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), small = 4096, mss = 1024;

    if (fd == -1)
        die("socket");
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small) == -1
        || setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == -1
        || setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof mss) == -1)
        die("setsockopt");
    if (connect(fd, (const struct sockaddr *)addr, sizeof *addr) == -1 && errno != EINPROGRESS)
        die("connect");
    return fd;
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'n', NULL, "COUNT", "connections (default 400)"},
        {'i', NULL, NULL, "hold them until standard input ends, then close them"},
        {0, NULL, NULL, NULL}};
    static const struct lab_command command = {
        "Many clients that send and never read.", "9000", 1, options, on_option, NULL};
    struct lab_args args = lab_parse(argc, argv, &command);
    struct sockaddr_in addr = {.sin_family = AF_INET};
    struct pollfd *fds = calloc((size_t)count + 1, sizeof *fds);
    char *counted = calloc((size_t)count + 1, 1);
    static char data[4096];
    long connected = 0, reported = 0;
    int full_said = 0;
    struct rlimit rl;

    addr.sin_port = htons((unsigned short)atoi(args.port));
    if (fds == NULL || counted == NULL || inet_pton(AF_INET, args.host, &addr.sin_addr) != 1)
        fatal("bad address %s", args.host);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    memset(data, 'x', sizeof data);
    fds[0].fd = until_eof ? STDIN_FILENO : -1;      /* poll skips a negative fd */
    fds[0].events = POLLIN;
    for (long i = 1; i <= count; i++) {
        fds[i].fd = open_one(&addr);
        fds[i].events = POLLOUT;
    }
    printf("opened %ld\n", count);
    fflush(stdout);

    for (;;) {
        int ready = poll(fds, (nfds_t)count + 1, 1000);

        if (ready == -1 && errno != EINTR)
            die("poll");
        if (ready == 0 && connected == count && !full_said) {
            printf("full\n");
            fflush(stdout);
            full_said = 1;
        }
        if (ready > 0 && fds[0].revents != 0)       /* -i: end of input, let go */
            break;
        for (long i = 1; i <= count && ready > 0; i++) {
            if (fds[i].revents == 0)
                continue;
            if (fds[i].revents & (POLLERR | POLLHUP)) {
                close(fds[i].fd);
                fds[i].fd = -1;                     /* reset by the server: stop */
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
            printf("connected %ld\n", connected);
            fflush(stdout);
        }
    }
    for (long i = 1; i <= count; i++)
        if (fds[i].fd >= 0)
            close(fds[i].fd);
    free(fds);
    free(counted);
    return 0;
}
