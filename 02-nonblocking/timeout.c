/* timeout.c - blocking calls with a deadline: SO_RCVTIMEO, SO_SNDTIMEO and
 * a connect() that gives up
 *
 * Between "block forever" (lesson 01) and "never block" (this lesson's
 * server) lies the Python notes' third choice, sock.settimeout(sec): block, but
 * at most so long. The kernel offers it per socket as two options:
 *
 *   SO_RCVTIMEO  a blocked recv()/accept() returns after the timeout with
 *                -1 and EAGAIN (or the bytes it got, if any);
 *   SO_SNDTIMEO  a blocked send() returns after the timeout with the
 *                count it managed to queue, or -1 and EAGAIN if none.
 *
 * connect() is the third place a TCP program waits (for the SYN's answer,
 * up to about two minutes by default). The portable deadline is: make the
 * socket non-blocking, start connect() (EINPROGRESS), wait for it to
 * become writable with poll() and the deadline, then read the outcome
 * with getsockopt(SO_ERROR).
 *
 * The program shows all three against itself on 127.0.0.1, so it needs
 * no server: a peer that accepts and never writes (recv times out), a
 * peer that never reads (send fills the buffers, then times out), and a
 * listener whose accept queue is full, so the kernel drops our SYN
 * (connect times out).
 *
 * Usage: ./timeout [-t SECS]            (default: 1 second; fractions allowed)
 *
 * See also: server.c (never block), sigio.c (be told), NOTES.md.
 * Python notes: 002 (settimeout, "timeout detection").
 * Linux-specific in one detail: a listener whose accept queue is full
 * drops new SYNs (other systems may refuse the connection instead, and
 * then the connect part reports "Connection refused").
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
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "../lib/lab.h"

#define CHUNK (64 * 1024)
#define MAX_QUEUE_FILL 16     /* connections tried before the SYN is dropped */

/* local_listener - a TCP listener on 127.0.0.1, any free port; its
 * address into *addr (for connect()) */
static int local_listener(int backlog, struct sockaddr_in *addr)
{
    socklen_t len = sizeof *addr;
    int fd = open_listener("127.0.0.1", "0", 0, backlog);

    if (getsockname(fd, (struct sockaddr *)addr, &len) == -1)
        die("getsockname");
    return fd;
}

/* set_timeout - SO_RCVTIMEO or SO_SNDTIMEO of secs on fd: Python's
 * sock.settimeout(secs) in effect (CPython itself does it differently,
 * see NOTES.md) */
static void set_timeout(int fd, int option, double secs)
{
    struct timeval tv;

    tv.tv_sec = (time_t)secs;
    tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
    if (setsockopt(fd, SOL_SOCKET, option, &tv, sizeof tv) == -1)
        die("setsockopt");
}

/* show_recv_timeout - recv() on a connection whose peer never writes */
static void show_recv_timeout(int conn_fd, double secs)
{
    char buf[256];
    long long started;
    ssize_t n;

    set_timeout(conn_fd, SO_RCVTIMEO, secs);
    printf("recv: waiting for data that never comes (SO_RCVTIMEO %.2f s)...\n", secs);
    fflush(stdout);
    started = now_ms();
    n = recv(conn_fd, buf, sizeof buf, 0);
    if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
        printf("recv: gave up after %.2f s: %s (Python: socket.timeout)\n",
               (double)(now_ms() - started) / 1000, strerror(errno));
    else if (n == -1)
        die("recv");
    else
        printf("recv: unexpectedly got %zd bytes\n", n);
}

/* show_send_timeout - send() to a peer that never reads, until the
 * kernel's buffers (ours and the peer's) are full and the timeout hits */
static void show_send_timeout(int conn_fd, double secs)
{
    static char chunk[CHUNK];
    unsigned long long total = 0;
    long long started = now_ms();

    set_timeout(conn_fd, SO_SNDTIMEO, secs);
    printf("send: writing to a peer that never reads (SO_SNDTIMEO %.2f s)...\n", secs);
    fflush(stdout);
    for (;;) {
        ssize_t n;

        started = now_ms();
        n = send(conn_fd, chunk, sizeof chunk, MSG_NOSIGNAL);
        if (n == -1) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            die("send");
        }
        total += (unsigned long long)n;
        if ((size_t)n < sizeof chunk)       /* timed out part-way: a short count */
            printf("send: a short count, %zd of %d bytes, when the timeout hit\n", n, CHUNK);
    }
    printf("send: %llu bytes went into the kernel's buffers, then gave up after %.2f s: %s\n",
           total, (double)(now_ms() - started) / 1000, strerror(errno));
}

/* connect_with_deadline - non-blocking connect, poll() for writability
 * until the deadline, then SO_ERROR; 0 connected, -1 with errno
 * (ETIMEDOUT when the deadline passed) */
static int connect_with_deadline(int fd, const struct sockaddr_in *addr, double secs)
{
    struct pollfd pfd = {fd, POLLOUT, 0};
    int flags = fcntl(fd, F_GETFL), err = 0, ready;
    socklen_t err_len = sizeof err;

    if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
        die("fcntl");
    if (connect(fd, (const struct sockaddr *)addr, sizeof *addr) == 0)
        return 0;                           /* at once (possible on loopback) */
    if (errno != EINPROGRESS)
        return -1;
    do
        ready = poll(&pfd, 1, (int)(secs * 1000));
    while (ready == -1 && errno == EINTR);  /* (a real program would shorten the wait) */
    if (ready == -1)
        die("poll");
    if (ready == 0) {
        errno = ETIMEDOUT;                  /* our deadline, not the kernel's */
        return -1;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) == -1)
        die("getsockopt SO_ERROR");
    if (err != 0) {
        errno = err;
        return -1;
    }
    return 0;
}

/* show_connect_timeout - connect to a listener that never accepts, with
 * backlog 0: once its queue is full, Linux drops further SYNs, and only
 * our deadline ends the wait */
static void show_connect_timeout(double secs)
{
    struct sockaddr_in addr;
    int listen_fd = local_listener(0, &addr);
    int fds[MAX_QUEUE_FILL];
    int opened = 0, timed_out = 0;

    printf("connect: to a listener that never calls accept() (deadline %.2f s)...\n", secs);
    fflush(stdout);
    while (opened < MAX_QUEUE_FILL && !timed_out) {
        double started = now_ms();
        int fd = socket(AF_INET, SOCK_STREAM, 0);

        if (fd == -1)
            die("socket");
        fds[opened++] = fd;
        if (connect_with_deadline(fd, &addr, secs) == 0) {
            printf("connect: connection %d completed: it waits in the accept queue\n", opened);
        } else if (errno == ETIMEDOUT) {
            printf("connect: connection %d timed out after %.2f s: the queue is full,"
                   " the SYN went unanswered\n", opened, (double)(now_ms() - started) / 1000);
            timed_out = 1;
        } else {
            printf("connect: connection %d failed: %s\n", opened, strerror(errno));
            timed_out = 1;
        }
    }
    while (opened > 0)
        close(fds[--opened]);
    close(listen_fd);
}

static double secs = 1.0;           /* -t */

/* on_option - -t SECS: a positive number of seconds, at most an hour */
static void on_option(int key, const char *arg)
{
    char *end;

    (void)key;
    errno = 0;
    secs = strtod(arg, &end);
    if (errno != 0 || end == arg || *end != '\0' || !(secs >= 0.001 && secs <= 3600))
        usage_error("bad -t '%s' (seconds, 0.001-3600)", arg);
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'t', NULL, "SECS", "the deadline for recv, send and connect (default 1, e.g. 0.5)"},
        {0, NULL, NULL, NULL}};
    const struct lab_command cmd = {
        .about = "Shows SO_RCVTIMEO, SO_SNDTIMEO and a connect() with a deadline on 127.0.0.1.",
        .options = options, .on_option = on_option};
    struct sockaddr_in addr;
    int listen_fd, client_fd, server_side_fd;

    lab_parse(argc, argv, &cmd);
    /* A connected pair on loopback: client_fd is ours, server_side_fd is
     * the peer that neither writes nor reads. */
    listen_fd = local_listener(1, &addr);
    client_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (client_fd == -1 || connect(client_fd, (struct sockaddr *)&addr, sizeof addr) == -1)
        die("connect");
    server_side_fd = accept(listen_fd, NULL, NULL);
    if (server_side_fd == -1)
        die("accept");

    show_recv_timeout(client_fd, secs);
    show_send_timeout(client_fd, secs);
    show_connect_timeout(secs);

    close(client_fd);
    close(server_side_fd);
    close(listen_fd);
    return 0;
}
