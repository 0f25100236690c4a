/* server.c - the coroutine echo-upper server: one thread, one coroutine
 * per client
 *
 * The Python notes' gevent server in C. It reads like the blocking server
 * of lesson 01 (accept, then recv / upper-case / send in a loop), but
 * every call that could block is a green_* call from green.h: when it
 * would block, only the calling coroutine stops and the scheduler runs
 * another one. So one OS thread serves thousands of clients at once,
 * without the callbacks and per-connection buffers of lesson 05: the
 * state of each conversation is the local variables on its coroutine's
 * stack.
 *
 *   accept_loop   one coroutine: accept, spawn serve_client, repeat
 *   serve_client  one coroutine per client: the communication loop
 *   stop_watcher  one coroutine reading the stop pipe: SIGINT/SIGTERM end
 *                 it, main returns from green_join() and exits 0
 *
 * Output budget: a client's coroutine holds one buffer (BUF_SIZE bytes)
 * of unsent reply, on its own stack. A client that never reads makes
 * green_send_all() park; parked, its coroutine does not call recv(), the
 * kernel's buffers fill, TCP flow control stops that client, and the
 * others are served as before. Hundreds of such clients cost hundreds of
 * parked coroutines, a page or two each: no total cap is needed, because
 * nothing is ever buffered beyond that one buffer.
 *
 * Out of descriptors (EMFILE): accept fails and the client stays in the
 * kernel's queue. The accept loop says so once, then sleeps 100 ms
 * (green_sleep: the clients are still served) and tries again.
 *
 * Usage: ./server [-H ADDR] [-p PORT]      (defaults: 127.0.0.1, 9010)
 *
 * See also: green.h (the scheduler), client.c (interactive and -c stress
 * client), sleepers.c, NOTES.md.
 * Python notes: 004 (gevent: spawn, join, monkey.patch_all, the
 * coroutine server).
 * Linux-specific: epoll (in green.h), accept4.
 */
#define _GNU_SOURCE             /* ucontext, epoll, accept4 */

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../lib/lab.h"
#include "green.h"

#define BUF_SIZE 1024       /* the Python notes' recv(1024); a stack stays one page */
#define EMFILE_RETRY_MS 100

/* what the accept loop hands to a new client coroutine (heap, freed by it) */
struct client_start {
    int conn_fd;
    char peer[ADDR_LEN];
};

/* serve_client - one client's coroutine: the communication loop, written
 * as if blocking. Its buffer and counters live on its own stack. */
static void serve_client(void *arg)
{
    struct client_start *start = arg;
    int conn_fd = start->conn_fd;
    char peer[ADDR_LEN], buf[BUF_SIZE];
    unsigned long long total = 0;

    memcpy(peer, start->peer, sizeof peer);
    free(start);
    for (;;) {
        ssize_t n = green_recv(conn_fd, buf, sizeof buf, 0);   /* parks here */

        if (n == 0) {                       /* end of file: the client is done */
            note("closed %s (%llu bytes)", peer, total);
            break;
        }
        if (n == -1) {
            warn("recv from %s", peer);
            break;
        }
        upper_bytes(buf, (size_t)n);
        if (green_send_all(conn_fd, buf, (size_t)n) == -1) {   /* and here */
            warn("send to %s", peer);
            break;
        }
        total += (unsigned long long)n;
    }
    green_close(conn_fd);
}

/* start_client - spawn a detached coroutine for a new connection */
static void start_client(int conn_fd, const struct sockaddr *addr, socklen_t len)
{
    struct client_start *start = malloc(sizeof *start);
    struct green *g;

    if (start == NULL) {
        warn("malloc");
        green_close(conn_fd);
        return;
    }
    start->conn_fd = conn_fd;
    format_addr(addr, len, start->peer, sizeof start->peer);
    g = green_spawn(serve_client, start);
    if (g == NULL) {                        /* mmap: out of memory or maps */
        warn("spawn for %s", start->peer);
        free(start);
        green_close(conn_fd);
        return;
    }
    green_detach(g);                        /* nobody joins a client */
    note("connection from %s", start->peer);
}

/* accept_loop - the connection loop, itself a coroutine: accept4() on the
 * non-blocking listener, and on EAGAIN park until a client arrives (the
 * same try-then-park as green_recv); each client gets a coroutine */
static void accept_loop(void *arg)
{
    int listen_fd = *(int *)arg;
    int out_of_fds = 0;

    for (;;) {
        struct sockaddr_storage peer_addr;
        socklen_t peer_len = sizeof peer_addr;
        int conn_fd = accept4(listen_fd, (struct sockaddr *)&peer_addr, &peer_len,
                              SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (conn_fd >= 0) {
            out_of_fds = 0;
            start_client(conn_fd, (struct sockaddr *)&peer_addr, peer_len);
            fair_share();                   /* a flood of clients yields too */
        } else if (is_out_of_descriptors(errno)) {
            /* The client stays queued in the kernel; try again later. */
            if (!out_of_fds)
                warn("accept (retrying every %d ms)", EMFILE_RETRY_MS);
            out_of_fds = 1;
            green_sleep(EMFILE_RETRY_MS);
        } else if (errno != ECONNABORTED && must_park(listen_fd, EPOLLIN) == -1) {
            warn("accept");                 /* ECONNABORTED: a client gave up */
        }
    }
}

/* stop_watcher - reads the stop pipe, parked while it is empty (try, then
 * park on EAGAIN, as everywhere); returns on SIGINT/SIGTERM */
static void stop_watcher(void *arg)
{
    int stop_fd = *(int *)arg;
    char byte;
    ssize_t n;

    while ((n = read(stop_fd, &byte, 1)) == -1 && must_park(stop_fd, EPOLLIN) == 0)
        ;
    if (n == -1)
        warn("read the stop pipe");
    else
        note("stopping");
}

int main(int argc, char *argv[])
{
    const struct lab_command cmd = {
        .default_port = "9010",
        .about = "One thread, one coroutine per client (see green.h)."};
    struct lab_args args = lab_parse(argc, argv, &cmd);
    int listen_fd, stop_fd;
    struct green *acceptor, *watcher;

    /* The handler writes a byte to the stop pipe, which the stop watcher
     * waits on like on any socket. (It runs on whatever stack is current,
     * a coroutine's too: it is a few lines and needs little room.) */
    stop_fd = stop_pipe();
    catch_stop_signals(SA_RESTART, NULL);
    listen_fd = open_listener(args.host, args.port, SOCK_NONBLOCK | SOCK_CLOEXEC, SOMAXCONN);
    if (green_init() == -1)
        die("epoll_create1");
    print_ready_line(listen_fd);

    acceptor = green_spawn(accept_loop, &listen_fd);
    watcher = green_spawn(stop_watcher, &stop_fd);
    if (acceptor == NULL || watcher == NULL)
        die("mmap");
    green_detach(acceptor);     /* runs until the process ends */
    green_join(watcher);        /* main becomes the hub until a stop signal */

    /* Every client coroutine is abandoned, never resumed: nothing on its
     * stack owns heap memory, green_shutdown() unmaps the stacks (which
     * keeps exit() fast under LeakSanitizer), and the client sockets
     * close when the process exits. */
    close(listen_fd);
    green_shutdown();
    return 0;
}
