/* edge_level.c - level- vs edge-triggered readiness, counted
 *
 * Python notes 001 noticed that its select() loop printed "hellow" again and again
 * as long as it did not call accept(): select is level-triggered, it says
 * "ready" every time it is asked, for as long as the condition lasts.
 * epoll can also be edge-triggered (EPOLLET): it says "ready" once per
 * change - a new connection, new bytes arriving - and then stays quiet
 * however much is still waiting.
 *
 * This program makes both visible with the lesson's selector (selector.h),
 * without a server or a network peer of its own:
 *
 *   1. a listening socket with one pending connection that nobody
 *      accepts, asked 5 times: how many of the 5 waits report it?
 *   2. a socket pair: 3 messages of 12 bytes arrive one after another,
 *      and a handler that reads only READ_SIZE bytes per wake-up; how many
 *      wake-ups, and how many bytes are left unread? Then the edge-
 *      triggered discipline: on each wake-up, read until EAGAIN.
 *
 * Waits use a timeout of 0 after the first, so "no wake-up" shows up as a
 * count rather than as a hang. (That hang is what an edge-triggered server
 * that reads too little gets: bytes sit in the kernel, nobody is told.)
 *
 * Usage: ./edge_level [-r READ_SIZE]      (default 5 bytes per read)
 *
 * See also: selector.h, server.c (--edge), NOTES.md; man 7 epoll.
 * Python notes: 001 (level- and edge-triggered; select's repeated "hellow").
 * Linux-specific: epoll (hence _GNU_SOURCE).
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../lib/lab.h"
#include "selector.h"

#define WAITS 5                 /* part 1: how often we ask */
#define MESSAGES 3              /* part 2: how many messages arrive */
#define MESSAGE "hello world\n" /* 12 bytes each */
#define MAX_WAKEUPS 1000        /* a runaway loop stops here */

/* pending_connection - a listening socket (fd in *listen_fd) with one
 * connection waiting in its queue; returns the client's end */
static int pending_connection(int *listen_fd)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    int client_fd;

    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;                          /* any free port */
    *listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (*listen_fd == -1)
        die("socket");
    if (bind(*listen_fd, (struct sockaddr *)&addr, sizeof addr) == -1
        || listen(*listen_fd, 5) == -1
        || getsockname(*listen_fd, (struct sockaddr *)&addr, &len) == -1)
        die("listen");
    client_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (client_fd == -1)
        die("socket");
    if (connect(client_fd, (struct sockaddr *)&addr, sizeof addr) == -1)
        die("connect");
    return client_fd;
}

/* count_ready_waits - ask WAITS times whether the listening socket is
 * readable, never accepting; returns how many waits said yes */
static int count_ready_waits(const char *backend, int flags)
{
    struct selector *sel = sel_new(backend, flags);
    int listen_fd, client_fd, ready = 0;

    if (sel == NULL)
        die("selector %s", backend);
    client_fd = pending_connection(&listen_fd);
    if (sel_register(sel, listen_fd, SEL_READ, NULL, NULL) == -1)
        die("register");
    for (int i = 0; i < WAITS; i++) {
        /* The first wait may have to let the handshake finish. */
        int n = sel_select(sel, i == 0 ? 2000 : 0);

        if (n == -1)
            die("wait");
        if (n > 0)
            ready++;                            /* Python: print("hellow") */
    }
    sel_unregister(sel, listen_fd);
    close(client_fd);
    close(listen_fd);
    sel_free(sel);
    return ready;
}

/* read_some - the handler: one recv of read_size bytes, or (drain) recv
 * until EAGAIN; returns the bytes read */
static size_t read_some(int fd, size_t read_size, int drain)
{
    char buf[64];
    size_t total = 0;

    for (;;) {
        ssize_t n = recv(fd, buf, read_size, 0);

        if (n == -1) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;                          /* drained */
            die("recv");
        }
        if (n == 0)
            break;
        total += (size_t)n;
        if (!drain)
            break;
    }
    return total;
}

/* count_wakeups - MESSAGES messages arrive one by one; after each, wait
 * (timeout 0) and handle until no wake-up comes. Prints the counts. */
static void count_wakeups(const char *label, int flags, size_t read_size, int drain)
{
    struct selector *sel = sel_new("epoll", flags);
    int pair[2], wakeups = 0;
    size_t bytes_read = 0, sent = 0;

    if (sel == NULL)
        die("selector");
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) == -1)
        die("socketpair");
    if (sel_register(sel, pair[0], SEL_READ, NULL, NULL) == -1)
        die("register");
    for (int m = 0; m < MESSAGES; m++) {
        /* On a local socket pair the bytes are in pair[0]'s queue, and
         * pair[0] is ready, by the time send() returns. */
        if (send(pair[1], MESSAGE, strlen(MESSAGE), 0) != (ssize_t)strlen(MESSAGE))
            die("send");
        sent += strlen(MESSAGE);
        while (wakeups < MAX_WAKEUPS) {
            int n = sel_select(sel, 0);

            if (n == -1)
                die("wait");
            if (n == 0)
                break;                          /* no (more) wake-ups */
            wakeups++;
            bytes_read += read_some(pair[0], read_size, drain);
        }
    }
    printf("    %-34s %2d wake-ups, %2zu bytes read, %2zu left unread\n",
           label, wakeups, bytes_read, sent - bytes_read);
    sel_unregister(sel, pair[0]);
    close(pair[0]);
    close(pair[1]);
    sel_free(sel);
}

static long read_size = 5;      /* -r: bytes the handler reads per wake-up */

/* on_option - -r READ_SIZE */
static void on_option(int key, const char *arg)
{
    if (key == 'r')
        read_size = parse_number(arg, 1, 64, "read size");
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'r', NULL, "READ_SIZE", "bytes the handler reads per wake-up (1-64, default 5)"},
        {0, NULL, NULL, NULL}};
    static const struct lab_command command = {
        "Level- vs edge-triggered readiness, counted.", NULL, 0, options, on_option, NULL};

    lab_parse(argc, argv, &command);
    setvbuf(stdout, NULL, _IOLBF, 0);

    printf("1. a pending connection nobody accepts, asked %d times\n", WAITS);
    printf("    select (level-triggered):          ready in %d of %d waits\n",
           count_ready_waits("select", 0), WAITS);
    printf("    poll (level-triggered):            ready in %d of %d waits\n",
           count_ready_waits("poll", 0), WAITS);
    printf("    epoll (level-triggered):           ready in %d of %d waits\n",
           count_ready_waits("epoll", 0), WAITS);
    printf("    epoll EPOLLET (edge-triggered):    ready in %d of %d waits\n",
           count_ready_waits("epoll", SEL_EDGE), WAITS);

    printf("2. %d messages of %zu bytes, one after another; %ld bytes read per wake-up\n",
           MESSAGES, strlen(MESSAGE), read_size);
    count_wakeups("level-triggered:", 0, (size_t)read_size, 0);
    count_wakeups("edge-triggered:", SEL_EDGE, (size_t)read_size, 0);
    count_wakeups("edge-triggered, read until EAGAIN:", SEL_EDGE, (size_t)read_size, 1);
    return 0;
}
