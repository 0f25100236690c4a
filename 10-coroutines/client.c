/* client.c - the Python notes' 500-connection stress client, as 500
 * coroutines in one thread; without -c, the lab's interactive client
 *
 * Stress (-c N, or --stress for the notes' 500): the Python version starts
 * 500 threads, each with its own socket, sending "... say hello n" and
 * printing the reply for ever. Here N coroutines of green.h in one thread
 * each connect (a connect() that parks during the handshake), send M
 * messages one at a time and check that every reply is the message
 * upper-cased; then one summary line: connections, messages, errors,
 * messages per second. Exit 0 when there were no errors, else 1. All the
 * connections are opened at once, so this is how to watch one server
 * thread serve 500 clients, and one client thread drive 500 connections.
 *
 * Interactive (no -c): lines from standard input, replies on standard
 * output, as lesson 01's client (../lib/echo_client.c). One connection
 * waits for one thing at a time: blocking costs it nothing, and a
 * coroutine would add nothing.
 *
 * Usage: ./client [-H ADDR] [-p PORT] [-c CONNS | --stress] [-n MESSAGES]
 *        (defaults: 127.0.0.1, 9010; --stress is -c 500; -n 20)
 *
 * See also: server.c, green.h, NOTES.md.
 * Python notes: 000 and 003 (the client loop), 004 (the 500-thread client).
 * Linux-specific: epoll (in green.h).
 */
#define _GNU_SOURCE             /* ucontext, epoll (green.h) */

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../lib/lab.h"
#include "green.h"

#define DEFAULT_PORT "9010"
#define PYTHON_NOTES_CONNS 500
#define MAX_CONNS 100000
#define MSG_MAX 96

/* the server's address, resolved once in main: getaddrinfo() may block
 * (DNS), and a blocking call inside a coroutine would stall all of them */
static struct addrinfo *server_addr;

/* the totals, updated by every coroutine. No lock: one coroutine runs at
 * a time, and none is pre-empted in the middle of an update. */
static struct {
    unsigned long conns, messages_per_conn;
    unsigned long connected, messages_ok, errors;
} stress = {.messages_per_conn = 20};

/* finish_connect - park until the handshake of a non-blocking connect()
 * is over (the socket turns writable); 0, or -1 with errno saying how it
 * failed (SO_ERROR) */
static int finish_connect(int fd)
{
    int err = 0;
    socklen_t err_len = sizeof err;

    if (green_wait_fd(fd, EPOLLOUT) == -1
        || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) == -1)
        return -1;
    errno = err;
    return err == 0 ? 0 : -1;
}

/* green_connect - a non-blocking socket connected to the server, or -1
 * with errno set: connect() says EINPROGRESS, and the coroutine parks
 * while the others go on */
static int green_connect(void)
{
    for (const struct addrinfo *ai = server_addr; ai != NULL; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        ai->ai_protocol);
        int saved_errno;

        if (fd == -1)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0
            || (errno == EINPROGRESS && finish_connect(fd) == 0))
            return fd;
        saved_errno = errno;
        green_close(fd);
        errno = saved_errno;
    }
    return -1;
}

/* check_reply - read exactly len bytes and compare with want; 0 if equal */
static int check_reply(int fd, const char *want, size_t len)
{
    char got[MSG_MAX];
    size_t have = 0;

    while (have < len) {
        ssize_t n = green_recv(fd, got + have, len - have, 0);

        if (n <= 0) {
            if (n == 0)
                errno = ECONNRESET;     /* closed with a reply owed */
            return -1;
        }
        have += (size_t)n;
    }
    if (memcmp(got, want, len) != 0) {
        errno = EBADMSG;
        return -1;
    }
    return 0;
}

/* stress_one - one of the Python version's x_client threads, as a
 * coroutine: connect, then send and check messages_per_conn messages */
static void stress_one(void *arg)
{
    unsigned long id = (unsigned long)(uintptr_t)arg;
    int fd = green_connect();

    if (fd == -1) {
        warn("connection %lu: connect", id);
        stress.errors++;
        return;
    }
    stress.connected++;
    for (unsigned long i = 0; i < stress.messages_per_conn; i++) {
        char msg[MSG_MAX], want[MSG_MAX];
        int len = snprintf(msg, sizeof msg, "client %lu say hello %lu\n", id, i);

        memcpy(want, msg, (size_t)len);
        upper_bytes(want, (size_t)len);     /* the reply we expect */
        if (green_send_all(fd, msg, (size_t)len) == -1
            || check_reply(fd, want, (size_t)len) == -1) {
            warn("connection %lu, message %lu", id, i);
            stress.errors++;
            break;
        }
        stress.messages_ok++;
    }
    green_close(fd);
}

/* raise_fd_limit - N connections need N descriptors: lift the soft limit
 * to the hard one (an ordinary user may do that) */
static void raise_fd_limit(unsigned long conns)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < conns + 16) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
            warn("setrlimit RLIMIT_NOFILE");
    }
}

/* run_stress - spawn every connection, join them all, print the summary */
static int run_stress(unsigned long conns)
{
    struct green **all = calloc(conns, sizeof *all);
    long long start = now_ms();
    double secs;

    if (all == NULL)
        die("calloc");
    raise_fd_limit(conns);
    for (unsigned long i = 0; i < conns; i++) {
        all[i] = green_spawn(stress_one, (void *)(uintptr_t)(i + 1));
        if (all[i] == NULL)
            die("spawn");
    }
    for (unsigned long i = 0; i < conns; i++)   /* like the Python g.join() */
        green_join(all[i]);
    free(all);
    secs = (double)(now_ms() - start) / 1000.0;
    if (secs <= 0)
        secs = 0.001;
    printf("connections %lu, messages %lu, errors %lu, %.0f messages/s (%.2f s)\n",
           stress.connected, stress.messages_ok, stress.errors,
           (double)stress.messages_ok / secs, secs);
    return stress.errors == 0 ? 0 : 1;
}

/* on_option - the lesson's own options */
static void on_option(int key, const char *arg)
{
    if (key == 'c')
        stress.conns = (unsigned long)parse_number(arg, 1, MAX_CONNS, "connection count");
    else if (key == 's')
        stress.conns = PYTHON_NOTES_CONNS;
    else if (key == 'n')
        stress.messages_per_conn = (unsigned long)parse_number(arg, 1, 1000000, "message count");
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'c', NULL, "CONNS", "stress mode: CONNS concurrent connections"},
        {'s', "stress", NULL, "stress mode with the Python notes' 500 connections"},
        {'n', NULL, "MESSAGES", "stress mode: messages per connection (default 20)"},
        {0}};
    const struct lab_command cmd = {
        .about = "Without -c: reads lines from standard input, prints the server's replies.",
        .default_port = DEFAULT_PORT, .is_client = 1, .options = options,
        .on_option = on_option};
    struct lab_args args = lab_parse(argc, argv, &cmd);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    int rc;

    if (stress.conns == 0) {        /* interactive: lesson 01's client */
        char *plain[] = {argv[0], "-H", (char *)args.host, "-p", (char *)args.port, NULL};
        return echo_client_main(5, plain, DEFAULT_PORT, cmd.about);
    }
    rc = getaddrinfo(args.host, args.port, &hints, &server_addr);
    if (rc != 0)
        fatal("bad address %s:%s: %s", args.host, args.port, gai_strerror(rc));
    if (green_init() == -1)
        die("epoll_create1");
    rc = run_stress(stress.conns);
    freeaddrinfo(server_addr);
    return rc;
}
