/* 05-hoarders.c - N clients that send and never read, in one process
 *
 * The peers of issue 14's test: each connection sends without end and
 * never reads a byte of the replies, so a server that kept every reply
 * would grow by a per-connection cap times N. One process watches all N
 * sockets with poll() and sends wherever the kernel takes more, until
 * every socket is full; then it sleeps in poll() until killed.
 *
 * Each socket sets TCP_MAXSEG to 1448 bytes before connect, an Ethernet
 * segment: on loopback (MSS 65483) the kernel would size each socket's
 * send buffer for 64 KiB segments, about 2.6 MB per connection, and 400
 * such connections on both ends put the whole machine under TCP memory
 * pressure (sockstat "mem" past tcp_mem) instead of testing the server.
 *
 * Usage: 05-hoarders [-H ADDR] [-p PORT] [-n COUNT]   (IPv4; default 400)
 * Prints "connected N" once all N are connected, "full" once no socket
 * takes more for a second.
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../lib/lab.h"

static long count = 400;

static void on_option(int key, const char *arg)
{
    if (key == 'n')
        count = parse_number(arg, 1, 100000, "connection count");
}

/* connect_small_mss - a blocking connect with Ethernet-sized segments,
 * then non-blocking */
static int connect_small_mss(const struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), mss = 1448;

    if (fd == -1 || setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof mss) == -1
        || connect(fd, (const struct sockaddr *)addr, sizeof *addr) == -1)
        die("connect");
    if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1)
        die("fcntl");
    return fd;
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'n', NULL, "COUNT", "connections (default 400)"}, {0, NULL, NULL, NULL}};
    static const struct lab_command command = {
        "N clients that send and never read.", "9005", 1, options, on_option, NULL};
    struct lab_args args = lab_parse(argc, argv, &command);
    struct sockaddr_in addr = {0};
    struct pollfd *fds = calloc((size_t)count, sizeof *fds);
    static char chunk[16384];
    int full_announced = 0;

    memset(chunk, 'a', sizeof chunk);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)atoi(args.port));
    if (fds == NULL || inet_pton(AF_INET, args.host, &addr.sin_addr) != 1)
        fatal("bad address %s", args.host);
    for (long i = 0; i < count; i++) {
        fds[i].fd = connect_small_mss(&addr);
        fds[i].events = POLLOUT;
    }
    printf("connected %ld\n", count);
    fflush(stdout);
    for (;;) {
        int ready = poll(fds, (nfds_t)count, 1000);

        if (ready == -1 && errno != EINTR)
            die("poll");
        if (ready == 0 && !full_announced) {
            printf("full\n");
            fflush(stdout);
            full_announced = 1;
        }
        for (long i = 0; i < count && ready > 0; i++) {
            if (fds[i].revents & (POLLERR | POLLHUP))
                fds[i].events = 0;      /* reset by the server: stop */
            else if (fds[i].revents & POLLOUT)
                while (send(fds[i].fd, chunk, sizeof chunk, MSG_NOSIGNAL) > 0)
                    ;
        }
    }
}
