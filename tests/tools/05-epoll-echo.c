/* 05-epoll-echo.c - the floor for lesson 05's benchmark: a plain epoll loop
 *
 * An echo-upper server with nothing but epoll_wait, recv and send in one
 * loop: no selector layer, no callbacks, no per-client state, no output
 * buffer. 05-selectors/bench.sh runs it beside ./server --backend epoll to
 * show what the selector's table, fired array and callbacks cost per
 * request. Not a lab server: a reply the socket does not take at once
 * closes that client (fine for the benchmark's 64-byte requests, wrong
 * for a peer that does not read).
 *
 * Usage: 05-epoll-echo [-H ADDR] [-p PORT]     (default port 9005)
 */
#define _GNU_SOURCE

#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../lib/lab.h"

int main(int argc, char *argv[])
{
    static const struct lab_command command = {
        "A plain epoll echo-upper loop, the benchmark's floor.", "9005", 0, NULL, NULL, NULL};
    struct lab_args args = lab_parse(argc, argv, &command);
    struct epoll_event ev = {0}, ready[256];
    int listen_fd, epoll_fd;
    char buf[16384];

    catch_stop_signals(0, NULL);        /* epoll_wait returns EINTR */
    listen_fd = open_listener(args.host, args.port, SOCK_NONBLOCK | SOCK_CLOEXEC, SOMAXCONN);
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    ev.events = EPOLLIN;
    ev.data.fd = listen_fd;
    if (epoll_fd == -1 || epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &ev) == -1)
        die("epoll");
    print_ready_line(listen_fd);
    while (!stop_requested) {
        int n = epoll_wait(epoll_fd, ready, 256, -1);

        for (int i = 0; i < n; i++) {
            int fd = ready[i].data.fd;
            ssize_t got;

            if (fd == listen_fd) {
                while ((fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    ev.data.fd = fd;
                    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) == -1)
                        close(fd);
                }
                continue;
            }
            got = recv(fd, buf, sizeof buf, 0);
            if (got == -1 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (got > 0)
                upper_bytes(buf, (size_t)got);
            if (got <= 0 || send(fd, buf, (size_t)got, MSG_NOSIGNAL) != got) {
                epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, &ev);
                close(fd);
            }
        }
    }
    close(epoll_fd);
    close(listen_fd);
    return 0;
}
