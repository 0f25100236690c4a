/* server.c - an iterative (one client at a time) echo-upper server
 *
 * The simplest TCP server there is, and the model of every other lesson.
 * It has two loops, as the Python notes put it: the connection loop accepts one
 * client, the communication loop serves that client until it leaves, and
 * only then does the connection loop accept the next one. Every socket is
 * in blocking mode, so the process sleeps inside accept() until a client
 * arrives and inside recv() until that client sends something. While it
 * sleeps in recv() for client 1, client 2 can connect (the kernel completes
 * the handshake and queues it) but nobody calls accept() for it: client 2
 * waits. That wait is the point of this lesson.
 *
 * Each byte received is sent back with ASCII a-z turned into A-Z (Python's
 * data.upper() on bytes); nothing else changes.
 *
 * Every step of a server is written out here, in the order a server takes
 * it: socket(), setsockopt(SO_REUSEADDR), bind(), listen(), then accept()
 * and recv()/send() in the two loops. What no lesson is about (the log
 * line, the command line, the ready line) comes from ../lib/lab.h; read it
 * once now. From lesson 02 on, open_listener() and send_all() in lib/ do
 * what this file shows step by step.
 *
 * Usage: ./server [-H ADDR] [-p PORT]      (defaults: 127.0.0.1, 9001)
 *
 * See also: client.c (the interactive client), NOTES.md.
 * Python notes: 000 and 004 (blocking IO), 003 (connection loop and
 * communication loop), 000 and 002 (SO_REUSEADDR).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../lib/lab.h"

#define BACKLOG 16          /* the Python notes say listen(5); a little more room */
#define BUF_SIZE 4096

/* The sockets the signal handler shuts down (-1: none). */
static volatile sig_atomic_t listen_fd_for_signal = -1;
static volatile sig_atomic_t conn_fd_for_signal = -1;

/* wake_blocked_calls - runs in the SIGINT/SIGTERM handler, after
 * stop_requested is set. The flag alone is not enough: a signal that lands
 * just before accept() or recv() is entered would leave that call asleep
 * with the flag already set. shutdown() is async-signal-safe and makes a
 * blocked or future accept()/recv() on that socket return at once. */
static void wake_blocked_calls(void)
{
    if (listen_fd_for_signal >= 0)
        shutdown(listen_fd_for_signal, SHUT_RDWR);
    if (conn_fd_for_signal >= 0)
        shutdown(conn_fd_for_signal, SHUT_RDWR);
}

/* serve_client - the communication loop: recv, upper-case, send back,
 * until the client half-closes or fails. Blocks in recv() between
 * messages and in send() while the client is not reading. */
static void serve_client(int conn_fd, const char *peer)
{
    /* LAB-BEGIN communication-loop: serve one client until it leaves. recv()
     * into a buffer; 0 means end of file: note "closed PEER (N bytes)" and
     * return; -1: retry on EINTR (unless stop_requested), else warn and
     * return. Upper-case ASCII a-z of what came, and send() it all back,
     * looping over partial sends (MSG_NOSIGNAL). Count the bytes for the
     * closing note. See NOTES.md section 2, "The connection loop and the
     * communication loop".
     * Stub: (void)conn_fd; (void)peer;
     * Tests: lab client: lines come back
     */
    char buf[BUF_SIZE];
    unsigned long long total = 0;

    for (;;) {
        ssize_t n = recv(conn_fd, buf, sizeof buf, 0), sent = 0;

        if (n == 0) {                       /* end of file: the client is done */
            note("closed %s (%llu bytes)", peer, total);
            return;
        }
        if (n == -1) {
            if (errno == EINTR && !stop_requested)
                continue;
            if (!stop_requested)
                warn("recv from %s", peer);
            return;
        }
        for (ssize_t i = 0; i < n; i++)     /* data.upper(): ASCII a-z only */
            if (buf[i] >= 'a' && buf[i] <= 'z')
                buf[i] = (char)(buf[i] - 'a' + 'A');

        /* send() may take fewer bytes than asked (a full socket buffer,
         * a signal): loop until all n are gone. MSG_NOSIGNAL: a vanished
         * peer gives EPIPE here instead of killing us with SIGPIPE. */
        while (sent < n) {
            ssize_t w = send(conn_fd, buf + sent, (size_t)(n - sent), MSG_NOSIGNAL);

            if (w == -1) {
                if (errno == EINTR && !stop_requested)
                    continue;
                if (!stop_requested)
                    warn("send to %s", peer);
                return;
            }
            sent += w;
        }
        total += (unsigned long long)n;
    }
    /* LAB-END communication-loop */
}

/* listen_on - socket, SO_REUSEADDR, bind, listen: the four steps of every
 * TCP server (Python: socket(), setsockopt(), bind(), listen()) */
static int listen_on(const char *host, const char *port)
{
    /* LAB-BEGIN listen-on: the four steps of a TCP server. getaddrinfo() for
     * host:port (AI_PASSIVE, numeric only; a bad one: fatal()), then socket(),
     * setsockopt(SO_REUSEADDR), bind() and listen(BACKLOG), each checked with
     * die() naming the call; for bind(), die_bind(host, port), which also
     * says what to do when the port is taken. Return the listening socket.
     * See NOTES.md section 2, "SO_REUSEADDR", and section 3.
     * Stub: (void)host; (void)port; fatal("listen_on() is not written yet");
     * Tests: ready line
     */
    struct addrinfo hints = {0}, *res;
    int listen_fd, one = 1, rc;

    hints.ai_family = AF_UNSPEC;        /* IPv4 or IPv6, as -H says */
    hints.ai_socktype = SOCK_STREAM;    /* TCP */
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0)
        fatal("bad address %s:%s: %s", host, port, gai_strerror(rc));

    listen_fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (listen_fd == -1)
        die("socket");

    /* Without SO_REUSEADDR a restarted server could not bind while the
     * connections of its previous run sit in TIME_WAIT. */
    if (setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1)
        die("setsockopt SO_REUSEADDR");
    if (bind(listen_fd, res->ai_addr, res->ai_addrlen) == -1)
        die_bind(host, port);           /* die(), plus a hint if the port is taken */
    freeaddrinfo(res);
    if (listen(listen_fd, BACKLOG) == -1)
        die("listen");
    return listen_fd;
    /* LAB-END listen-on */
}

int main(int argc, char *argv[])
{
    const struct lab_command cmd = {.default_port = "9001"};
    struct lab_args args = lab_parse(argc, argv, &cmd);
    int listen_fd;

    catch_stop_signals(0, wake_blocked_calls);  /* 0: no SA_RESTART, see EINTR */
    listen_fd = listen_on(args.host, args.port);
    listen_fd_for_signal = listen_fd;
    print_ready_line(listen_fd);

    /* LAB-BEGIN connection-loop: accept clients one after another. While no
     * stop is requested: accept() a client (EINTR, ECONNABORTED or a stop: go
     * round again; any other error: warn and pause_briefly(), it would fail
     * again at once); publish conn_fd for the signal handler and close it at
     * once if a stop came meanwhile; note "connection from PEER"
     * (format_addr), serve_client(), close. See NOTES.md section 2, "Why the
     * second client waits".
     * Stub: (void)serve_client;
     * Tests: one after another
     */
    while (!stop_requested) {               /* the connection loop */
        struct sockaddr_storage peer_addr;
        socklen_t peer_len = sizeof peer_addr;
        char peer[ADDR_LEN];
        int conn_fd = accept(listen_fd, (struct sockaddr *)&peer_addr, &peer_len);

        if (conn_fd == -1) {
            if (stop_requested || errno == EINTR || errno == ECONNABORTED)
                continue;
            warn("accept");
            /* Out of descriptors (EMFILE, ENFILE) or memory: accept()
             * would fail again at once, so pause instead of spinning.
             * The client waits in the backlog; a signal ends the pause. */
            pause_briefly();
            continue;
        }
        conn_fd_for_signal = conn_fd;
        if (stop_requested) {
            /* The signal came after accept() returned but before the
             * handler could see conn_fd: it did not shut it down, so
             * recv() on it would sleep until the client spoke. */
            conn_fd_for_signal = -1;
            close(conn_fd);
            break;
        }
        format_addr((struct sockaddr *)&peer_addr, peer_len, peer, sizeof peer);
        note("connection from %s", peer);
        serve_client(conn_fd, peer);        /* the communication loop */
        conn_fd_for_signal = -1;
        close(conn_fd);
    }
    /* LAB-END connection-loop */

    note("stopping");
    close(listen_fd);
    return 0;
}
