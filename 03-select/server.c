/* server.c - an echo-upper server that serves many clients with select()
 *
 * IO multiplexing: instead of sleeping in accept() or in one client's
 * recv() (lesson 01), or asking every socket again and again whether it
 * has something (lesson 02), the server hands the kernel a list of
 * descriptors and sleeps in ONE call, select(), until at least one of them
 * is ready. "Readable" means accept() or recv() will not block; "writable"
 * means send() will take at least some bytes. Then it does exactly the
 * ready work and goes back to select(). One process, one thread, and a
 * second client is served while the first one is still connected.
 *
 * The sets are rebuilt before every call from the state of each client
 * (build_sets, below): read interest while its output has room (and, past
 * OUT_BUDGET owed to all, only if it owes nothing), write interest only
 * while output waits (the Python notes' `dic`; a socket with room is
 * writable nearly always, so asking with nothing to send is a busy loop).
 * select() is level-triggered: one recv() per client per round, and what is
 * left is reported again; nobody hogs the loop. Descriptors at or above
 * FD_SETSIZE are refused, never FD_SET (accept_clients).
 *
 * Usage: ./server [-H ADDR] [-p PORT] [-v] [--log FILE]   (127.0.0.1, 9003)
 *
 * See also: client.c (a select() client), logserver.c (--log FILE runs it:
 * the terminal is one more descriptor), NOTES.md, ../04-poll (poll()).
 * Python notes: 000, 001, 002, 004 (select's rlist, wlist, xlist and
 * timeout, the `dic` of pending replies, level-triggered readiness).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../lib/lab.h"

#define OUT_CAP (64 * 1024)         /* pending output per client */
#define OUT_BUDGET (8 * 1024 * 1024) /* pending output of all clients together */
#define SLICE (4 * 1024)            /* over budget: most one read may take */
#define KERNEL_OUT (64 * 1024)      /* SO_SNDBUF: the kernel's share (it doubles it) */
#define ACCEPT_BURST 64             /* accepts per round, so clients get turns too */
#define TICK_SECS 5                 /* select's timeout, as in the notes' select(..., 5) */

struct client {                 /* one connected client */
    int fd;
    char addr[ADDR_LEN];
    char *out;                  /* bytes owed, in a buffer as big as they are */
    size_t out_start, out_len;  /* unsent bytes are out[out_start .. +out_len) */
    int peer_done;              /* the client half-closed: send what we owe, close */
    int paused;                 /* not read, its output waits (logged with -v) */
    unsigned long long total;   /* bytes received */
};

/* Every client, by descriptor: all below FD_SETSIZE (see accept_clients) */
static struct client *clients[FD_SETSIZE];
static int max_client_fd = -1;
static size_t out_total;        /* the sum of every client's out_len */

static int listen_fd = -1;
static int reserve_fd = -1;     /* a spare descriptor for the EMFILE trick */
static int accept_paused = 0;   /* out of descriptors: listener not watched */
static int verbose = 0;
static unsigned long long select_calls = 0;

static void accept_clients(void);                /* further down: the work */
static int read_client(struct client *c);
static int flush_output(struct client *c);

/* wants_read - read interest from the buffers: not half-closed, output has
 * room, and it owes nothing or all clients together owe under OUT_BUDGET */
static int wants_read(const struct client *c)
{
    if (c->peer_done || c->out_len == OUT_CAP)
        return 0;
    return c->out_len == 0 || out_total < OUT_BUDGET;
}

/* build_sets - this round's interest (select() overwrites its sets) */
static int build_sets(fd_set *readable, fd_set *writable)
{
    /* LAB-BEGIN build-sets: this round's interest, from each client's state:
     * FD_ZERO both sets; the listener in readable unless accepting is paused;
     * for each client: say (with -v) when its reading pauses or resumes
     * (wants_read()), put it in readable while it is read, in writable only
     * while output waits. Return the highest descriptor that may be in a set.
     * See NOTES.md section 2, "asking for writability only when data waits".
     * Stub: (void)readable; (void)writable; (void)wants_read; return -1;
     * Tests: lab client: lines come back
     */
    FD_ZERO(readable);
    FD_ZERO(writable);
    if (!accept_paused)
        FD_SET(listen_fd, readable);
    for (int fd = 0; fd <= max_client_fd; fd++) {
        struct client *c = clients[fd];

        if (c == NULL)
            continue;
        if (c->paused != (!c->peer_done && !wants_read(c))) {
            c->paused = !c->paused;
            if (verbose)
                note(!c->paused ? "%s: output drained, reading it again"
                     : c->out_len == OUT_CAP ? "%s: output backlog full, not reading it"
                                             : "%s: output budget spent, not reading it",
                     c->addr);
        }
        if (!c->paused && !c->peer_done)
            FD_SET(fd, readable);
        if (c->out_len > 0)             /* write interest only while output waits */
            FD_SET(fd, writable);
    }
    return listen_fd > max_client_fd ? listen_fd : max_client_fd;
    /* LAB-END build-sets */
}

/* handle_ready - the work select() reported; clients before accept(), so
 * a newcomer cannot be taken for the client that just left its number */
static void handle_ready(fd_set *readable, fd_set *writable)
{
    /* LAB-BEGIN handle-ready: do the work select() reported, clients first:
     * each client in writable: flush_output() (skip it if that closed it); in
     * readable: read_client(). Then, unless paused, accept_clients() if the
     * listening socket is readable. See NOTES.md section 2.
     * Stub: (void)readable; (void)writable; (void)flush_output; (void)read_client; (void)accept_clients;
     * Tests: lab client: lines come back
     */
    for (int fd = 0, last = max_client_fd; fd <= last; fd++) {
        struct client *c = clients[fd];

        if (c == NULL)
            continue;
        if (FD_ISSET(fd, writable) && flush_output(c) == -1)
            continue;                   /* closed: its descriptor is gone */
        if (FD_ISSET(fd, readable))
            read_client(c);
    }
    if (!accept_paused && FD_ISSET(listen_fd, readable))
        accept_clients();
    /* LAB-END handle-ready */
}

/* reopen_reserve - get the spare descriptor back after it was used */
static void reopen_reserve(void)
{
    if (reserve_fd == -1)
        reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* refuse_with_reserve - EMFILE: the pending connection cannot get a
 * descriptor and stays queued: the listener stays readable, select() would
 * return at once, forever. Close the spare kept for this moment, accept
 * into it and close (the client is told at once, not left hanging), take
 * the spare back. Without a spare, stop watching the listener until a
 * descriptor frees up (close_client) or select() times out. */
static void refuse_with_reserve(void)
{
    struct sockaddr_storage peer_addr;
    socklen_t peer_len = sizeof peer_addr;
    char addr[ADDR_LEN];
    int conn_fd;

    if (reserve_fd == -1) {
        accept_paused = 1;
        note("out of descriptors: not accepting until one is free");
        return;
    }
    close(reserve_fd);
    reserve_fd = -1;
    conn_fd = accept(listen_fd, (struct sockaddr *)&peer_addr, &peer_len);
    if (conn_fd >= 0) {
        format_addr((struct sockaddr *)&peer_addr, peer_len, addr, sizeof addr);
        note("refused %s: out of descriptors (EMFILE)", addr);
        close(conn_fd);
    }
    reopen_reserve();
}

/* add_client - start tracking a freshly accepted connection */
static void add_client(int conn_fd, const char *addr)
{
    struct client *c = calloc(1, sizeof *c);
    int flags = fcntl(conn_fd, F_GETFL), kernel_out = KERNEL_OUT;

    if (c == NULL || flags == -1 || fcntl(conn_fd, F_SETFL, flags | O_NONBLOCK) == -1
        || setsockopt(conn_fd, SOL_SOCKET, SO_SNDBUF, &kernel_out, sizeof kernel_out) == -1) {
        warn("new client %s", addr);
        free(c);
        close(conn_fd);
        return;
    }
    c->fd = conn_fd;
    snprintf(c->addr, sizeof c->addr, "%s", addr);
    clients[conn_fd] = c;
    if (conn_fd > max_client_fd)
        max_client_fd = conn_fd;
    note("connection from %s", addr);
}

/* accept_clients - accept what is waiting, up to ACCEPT_BURST, FD_SETSIZE-guarded */
static void accept_clients(void)
{
    for (int i = 0; i < ACCEPT_BURST && !accept_paused; i++) {
        struct sockaddr_storage peer_addr;
        socklen_t peer_len = sizeof peer_addr;
        char addr[ADDR_LEN];
        int conn_fd = accept(listen_fd, (struct sockaddr *)&peer_addr, &peer_len);

        if (conn_fd == -1) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;               /* the client gave up: next one */
            if (errno == EMFILE) {
                refuse_with_reserve();
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                /* ENFILE, ENOBUFS, ENOMEM: the system is short, not us.
                 * Stop accepting until the next tick instead of spinning. */
                warn("accept");
                accept_paused = 1;
            }
            return;
        }
        format_addr((struct sockaddr *)&peer_addr, peer_len, addr, sizeof addr);
        /* LAB-BEGIN fd-setsize-guard: select() cannot watch a descriptor at or
         * above FD_SETSIZE: FD_SET on it writes past the end of the fd_set.
         * Refuse it: note "refused ADDR: descriptor N is not below FD_SETSIZE
         * (M)", close it, take the next one. See NOTES.md section 2, "FD_SETSIZE".
         * Tests: FD_SETSIZE
         */
        if (conn_fd >= FD_SETSIZE) {     /* FD_SET would corrupt memory */
            note("refused %s: descriptor %d is not below FD_SETSIZE (%d)",
                 addr, conn_fd, FD_SETSIZE);
            close(conn_fd);
            continue;
        }
        /* LAB-END fd-setsize-guard */
        add_client(conn_fd, addr);
    }
}

/* close_client - forget a client and close its socket; a descriptor is
 * free again, so a paused listener may accept again */
static void close_client(struct client *c, const char *why)
{
    if (why != NULL)
        note("closed %s (%llu bytes%s%s)", c->addr, c->total, *why ? ", " : "", why);
    clients[c->fd] = NULL;
    while (max_client_fd >= 0 && clients[max_client_fd] == NULL)
        max_client_fd--;
    out_total -= c->out_len;
    close(c->fd);
    free(c->out);
    free(c);
    reopen_reserve();
    if (accept_paused) {
        accept_paused = 0;
        note("a descriptor is free again: accepting");
    }
}

/* flush_output - one send() of the pending output; the rest waits until
 * select() reports the socket writable. A client that half-closed is closed
 * once it is owed nothing. Returns -1 if the client was closed. */
static int flush_output(struct client *c)
{
    ssize_t n = 0;

    if (c->out_len > 0) {
        do
            n = send(c->fd, c->out + c->out_start, c->out_len, MSG_NOSIGNAL);
        while (n == -1 && errno == EINTR);
        if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK) {
            warn("send to %s", c->addr);
            close_client(c, "send failed");
            return -1;
        }
    }
    if (n > 0) {
        c->out_start += (size_t)n;
        c->out_len -= (size_t)n;
        out_total -= (size_t)n;
    }
    if (c->out_len == 0) {              /* owes nothing: costs nothing */
        free(c->out);
        c->out = NULL;
        c->out_start = 0;
        if (c->peer_done) {
            close_client(c, "");        /* half-closed and everything sent */
            return -1;
        }
    }
    return 0;
}

/* queue_output - keep bytes the kernel did not take behind what is owed, in
 * a buffer just as big: memory follows what is owed. 0, or -1 if no memory. */
static int queue_output(struct client *c, const char *data, size_t len)
{
    char *bigger;

    if (c->out_start > 0) {             /* the unsent bytes to the front */
        memmove(c->out, c->out + c->out_start, c->out_len);
        c->out_start = 0;
    }
    if ((bigger = realloc(c->out, c->out_len + len)) == NULL)
        return -1;
    c->out = bigger;
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    out_total += len;
    return 0;
}

/* read_client - one recv() into a stack buffer (over budget, one SLICE at
 * most), upper-cased there, then one send() at once: the socket is nearly
 * always writable, so this saves a select() round. Only what the kernel does
 * not take waits in the client's buffer for write interest; -1 if closed. */
static int read_client(struct client *c)
{
    char buf[OUT_CAP];
    size_t room = OUT_CAP - c->out_len, sent = 0;
    ssize_t n;

    if (out_total >= OUT_BUDGET && room > SLICE)
        room = SLICE;
    n = recv(c->fd, buf, room, 0);
    if (n == -1) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return 0;
        warn("recv from %s", c->addr);
        close_client(c, "reset");
        return -1;
    }
    c->total += (unsigned long long)n;
    if (n == 0)
        c->peer_done = 1;               /* end of file: the client half-closed */
    upper_bytes(buf, (size_t)n);
    if (c->out_len == 0 && n > 0) {     /* nothing waits: straight to the kernel */
        ssize_t w = send(c->fd, buf, (size_t)n, MSG_NOSIGNAL);

        sent = w > 0 ? (size_t)w : 0;
    }
    if (sent < (size_t)n && queue_output(c, buf + sent, (size_t)n - sent) == -1) {
        warn("malloc for %s", c->addr);
        close_client(c, "out of memory");
        return -1;
    }
    return flush_output(c);
}

/* block_stop_signals - a flag checked before select() has a gap: the
 * signal may land just after the check, and select() would sleep on.
 * So SIGINT and SIGTERM stay blocked while we work, and pselect() lets
 * them in only atomically with the wait; *wait_mask is that mask. */
static void block_stop_signals(sigset_t *wait_mask)
{
    sigset_t stop_signals;

    catch_stop_signals(0, NULL);        /* sets stop_requested; SIGPIPE ignored */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &stop_signals, wait_mask) == -1)
        die("sigprocmask");
    sigdelset(wait_mask, SIGINT);
    sigdelset(wait_mask, SIGTERM);
}

/* run_logserver - --log FILE: the Python notes 002 application is its own
 * program, logserver (logserver.c), beside this one; the option runs it */
static void run_logserver(const char *argv0, struct lab_args args, const char *file)
{
    const char *slash = strrchr(argv0, '/');
    char path[4096];
    char *argv[] = {path, "-H", (char *)args.host, "-p", (char *)args.port,
                    verbose ? "-v" : "--", (char *)file, NULL};

    snprintf(path, sizeof path, "%.*slogserver", slash ? (int)(slash - argv0 + 1) : 0, argv0);
    execvp(path, argv);
    die("exec %s", path);
}

static const char *log_path = NULL;

static void on_option(int key, const char *arg)
{
    verbose |= key == 'v';
    log_path = key == 'l' ? arg : log_path;
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'v', NULL, NULL, "also log select() timeouts and paused/resumed reading"},
        {'l', "log", "FILE", "run ./logserver FILE, the Python notes 002 application"},
        {0}};
    const struct lab_command cmd = {.default_port = "9003", .options = options,
                                    .on_option = on_option};
    struct lab_args args = lab_parse(argc, argv, &cmd);
    sigset_t wait_mask;

    if (log_path != NULL)
        run_logserver(argv[0], args, log_path);
    block_stop_signals(&wait_mask);
    if ((reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1)
        die("open /dev/null");
    /* Non-blocking: if the queued connection is gone (another process took it),
     * accept() says EAGAIN, not sleeping while all clients wait (NOTES section 2). */
    listen_fd = open_listener(args.host, args.port, SOCK_NONBLOCK | SOCK_CLOEXEC, SOMAXCONN);
    if (listen_fd >= FD_SETSIZE)
        fatal("listening descriptor %d is not below FD_SETSIZE", listen_fd);
    print_ready_line(listen_fd);

    while (!stop_requested) {
        fd_set readable, writable;
        int max_fd = build_sets(&readable, &writable);
        struct timespec tick = {TICK_SECS, 0};
        int ready_count = pselect(max_fd + 1, &readable, &writable, NULL, &tick, &wait_mask);

        select_calls++;
        if (ready_count == -1) {
            if (errno == EINTR)
                continue;               /* a signal: the loop checks the flag */
            die("select");
        }
        if (ready_count > 0) {
            handle_ready(&readable, &writable);
            continue;
        }
        if (verbose)                    /* nothing for TICK_SECS seconds */
            note("select timed out after %d s: nothing to do", TICK_SECS);
        reopen_reserve();
        accept_paused = 0;              /* paused: try accept() again */
    }

    note("stopping after %llu select calls", select_calls);
    for (int fd = 0; fd <= max_client_fd; fd++)
        if (clients[fd] != NULL)
            close_client(clients[fd], NULL);
    close(listen_fd);
    return 0;
}
