/* 02-owe.c - many clients that send without end and never read
 *
 * The attack that a total output budget answers: COUNT connections to an
 * echo server, each sending lower-case text as fast as the server takes it
 * and never reading a byte of the replies, so that the server owes every
 * one of them output. Small socket buffers (SO_SNDBUF and SO_RCVBUF of
 * 4 KiB) and a small MSS (1 KiB), set before connect(), keep what the
 * kernel holds per connection small: what piles up, piles up in the
 * server, and a test of 400 clients does not take a gigabyte of the
 * machine's socket memory. One process, non-blocking
 * sockets and poll(), so that 400 clients cost one process.
 *
 * Prints "owing N" once N connections are open, then sends until killed.
 *
 * Usage: 02-owe [-H ADDR] [-p PORT] [-n COUNT]     (default 400 connections)
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "../../lib/lab.h"

static long count = 400;

/* on_option - -n COUNT */
static void on_option(int key, const char *arg)
{
    (void)key;
    count = parse_number(arg, 1, 10000, "-n");
}

/* connect_small - a connected non-blocking socket with 4 KiB buffers */
static int connect_small(const struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, SOCK_STREAM, 0), small = 4096, mss = 1024, flags;

    if (fd == -1)
        die("socket");
    /* The MSS we announce bounds the server's segments, and with them how
     * far its kernel grows the send buffer (on loopback the MSS is 64 KiB,
     * and the server's send buffer grows to megabytes per connection). */
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small) == -1
        || setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == -1
        || setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof mss) == -1)
        die("setsockopt");
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1)
        die("connect");
    flags = fcntl(fd, F_GETFL);
    if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
        die("fcntl");
    return fd;
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'n', NULL, "COUNT", "connections (default 400)"}, {0, NULL, NULL, NULL}};
    const struct lab_command cmd = {.about = "Many clients that send and never read.",
                                    .default_port = "9002", .is_client = 1,
                                    .options = options, .on_option = on_option};
    struct lab_args args = lab_parse(argc, argv, &cmd);
    struct addrinfo hints = {0}, *res;
    struct pollfd *fds = calloc((size_t)count, sizeof *fds);
    struct rlimit rl;
    static char text[16384];

    if (fds == NULL)
        die("calloc");
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    if (getaddrinfo(args.host, args.port, &hints, &res) != 0)
        fatal("bad address %s:%s", args.host, args.port);
    for (long i = 0; i < count; i++)
        fds[i] = (struct pollfd){.fd = connect_small(res), .events = POLLOUT};
    freeaddrinfo(res);
    memset(text, 'a', sizeof text);
    printf("owing %ld\n", count);
    fflush(stdout);

    for (;;) {
        if (poll(fds, (nfds_t)count, -1) == -1 && errno != EINTR)
            die("poll");
        for (long i = 0; i < count; i++)
            if (fds[i].revents & POLLOUT)
                if (send(fds[i].fd, text, sizeof text, MSG_NOSIGNAL) == -1 && errno != EAGAIN)
                    die("send");
    }
}
