/* server.c - a non-blocking echo-upper server that polls, and counts its waste
 *
 * The second IO model of the Python notes. Every socket is put in
 * non-blocking mode (Python's setblocking(False) is fcntl(O_NONBLOCK)), so
 * accept(), recv() and send() never sleep: with nothing to do they fail at
 * once with EAGAIN (Python raises BlockingIOError). The process never
 * waits, so it must keep asking. One pass of the polling loop, poll_loop()
 * below, is the Python notes' loop:
 *
 *   1. try accept(); a new client joins the client list;
 *   2. try recv() on every client; what comes in is upper-cased and added
 *      to that client's pending output (the to-send list);
 *   3. try send() on every client with pending output; whatever the
 *      kernel takes is dropped from the front of it;
 *   4. clients that left or failed were marked during the pass (the
 *      closed list); only now are they removed: never remove from the list
 *      you are walking, which is why the Python notes keep del_datas.
 *
 * One thread serves many clients at once, but it never sleeps: idle, it
 * burns a whole core asking "anything yet?" tens of thousands of times a
 * second (-v counts these wasted calls, EAGAIN). --sleep MS is the Python
 * notes' time.sleep() after an idle pass: less CPU, slower replies. Output
 * owed is capped per client and in total; out of descriptors, one
 * connection is refused, not every pass.
 *
 * Usage: ./server [-H ADDR] [-p PORT] [-v] [--sleep MS]  (127.0.0.1, 9002, 0)
 * See also: client.c, timeout.c, sigio.c, NOTES.md. Python notes: 000 and
 * 004 (the polling loop and its lists), 001 (the sleep), 004 (IO models).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../lib/lab.h"

#define BACKLOG 128
#define BUF_SIZE 16384
#define PENDING_CAP (256 * 1024)        /* most output one client may be owed */
#define OUTPUT_BUDGET (32 * 1024 * 1024) /* most output all clients may be owed */
#define ACCEPT_BURST 64                 /* most accepts in one pass */
#define MAX_SLEEP_MS 10000

/* One connected client: the Python notes' conn plus its send_datas entry. */
struct client {
    int fd;
    char peer[ADDR_LEN];
    char *pending;              /* upper-cased bytes not yet sent back */
    size_t pending_len, pending_cap;
    int peer_done;              /* it half-closed: send what we owe, then close */
    int closing;                /* on the closed list: removed after this pass */
    unsigned long long total;   /* bytes echoed, for the "closed" line */
};

/* Calls that returned EAGAIN ("wasted") and calls that moved something. */
struct counters {
    unsigned long long accept_wasted, recv_wasted, send_wasted, useful;
};

/* Everything the loop works on. */
struct server {
    int listen_fd;
    int spare_fd;               /* held in reserve for EMFILE; see refuse_one() */
    struct client *clients;     /* the client list */
    size_t count, cap;
    size_t owed;                /* pending output of all clients together */
    int over_budget;            /* owed passed OUTPUT_BUDGET; see read_from() */
    struct counters now, last_second;
};

static void accept_new_clients(struct server *srv);
static void read_from(struct server *srv, size_t i);
static void write_to(struct server *srv, size_t i);
static void remove_closed(struct server *srv);
static void report_second(struct server *srv);
static void nap(long sleep_ms);

/* set_nonblocking - O_NONBLOCK on fd: Python's sock.setblocking(False).
 * F_GETFL first, so that the other status flags are kept. */
static int set_nonblocking(int fd)
{
    /* LAB-BEGIN set-nonblocking: put fd in non-blocking mode, Python's
     * sock.setblocking(False): read the status flags with fcntl(F_GETFL), add
     * O_NONBLOCK, write them back with F_SETFL (keep the other flags). 0, or
     * -1 with errno set. See NOTES.md section 2.
     * Stub: (void)fd; return 0;
     * Tests: one thread serves two
     */
    int flags = fcntl(fd, F_GETFL);

    if (flags == -1)
        return -1;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    /* LAB-END set-nonblocking */
}

/* poll_loop - the polling loop: accept, recv from all, send to all,
 * remove the closed; until SIGINT/SIGTERM. No call in it ever sleeps. */
static void poll_loop(struct server *srv, int verbose, long sleep_ms)
{
    long long next_report = now_ms() + 1000;

    while (!stop_requested) {
        unsigned long long useful_before = srv->now.useful;

        accept_new_clients(srv);
        for (size_t i = 0; i < srv->count; i++)
            read_from(srv, i);
        for (size_t i = 0; i < srv->count; i++)
            write_to(srv, i);
        remove_closed(srv);

        if (verbose && now_ms() >= next_report) {
            report_second(srv);
            next_report += 1000;
        }
        if (sleep_ms > 0 && srv->now.useful == useful_before)
            nap(sleep_ms);              /* a pass that found nothing to do */
    }
}

/* is_eagain - "nothing to do right now" (BlockingIOError). POSIX lets
 * EWOULDBLOCK differ from EAGAIN; on Linux they are the same number. */
static int is_eagain(int err) { return err == EAGAIN || err == EWOULDBLOCK; }

/* mark_closed - put client i on the closed list; removed after the pass */
static void mark_closed(struct server *srv, size_t i)
{
    srv->clients[i].closing = 1;
}

/* add_client - append a non-blocking fd to the client list; -1 (the fd
 * left to the caller) if memory runs out */
static int add_client(struct server *srv, int fd, const char *peer)
{
    if (srv->count == srv->cap) {
        size_t new_cap = srv->cap ? srv->cap * 2 : 16;
        struct client *clients = realloc(srv->clients, new_cap * sizeof *clients);

        if (clients == NULL)
            return -1;
        srv->clients = clients;
        srv->cap = new_cap;
    }
    srv->clients[srv->count] = (struct client){.fd = fd};
    snprintf(srv->clients[srv->count].peer, ADDR_LEN, "%s", peer);
    srv->count++;
    return 0;
}

/* refuse_one - EMFILE/ENFILE on accept(): the connection stays queued in
 * the kernel, and a polling loop would fail on it again on every pass.
 * Close the spare descriptor kept for this moment, accept the connection
 * and close it at once (the client sees end of file), then take the spare
 * back. With no spare, pause a second (everyone waits: a last resort). */
static void refuse_one(struct server *srv)
{
    int fd;

    if (srv->spare_fd == -1) {
        warn("accept (no spare descriptor: pausing 1 s)");
        pause_briefly();
        return;
    }
    close(srv->spare_fd);
    fd = accept(srv->listen_fd, NULL, NULL);
    if (fd != -1) {
        close(fd);
        note("out of descriptors: refused a connection (closed at once)");
    }
    srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* accept_new_clients - step 1: accept until EAGAIN (or a burst's worth) */
static void accept_new_clients(struct server *srv)
{
    for (int burst = 0; burst < ACCEPT_BURST; burst++) {
        struct sockaddr_storage peer_addr;
        socklen_t peer_len = sizeof peer_addr;
        char peer[ADDR_LEN];
        int conn_fd = accept(srv->listen_fd, (struct sockaddr *)&peer_addr, &peer_len);

        if (conn_fd == -1) {
            if (is_eagain(errno)) {
                srv->now.accept_wasted++;   /* except BlockingIOError: */
                return;
            }
            if (errno == EINTR || errno == ECONNABORTED)
                continue;                   /* that one left before we took it */
            if (errno == EMFILE || errno == ENFILE) {
                refuse_one(srv);
                return;
            }
            warn("accept");                 /* ENOBUFS, ENOMEM: rest a second */
            pause_briefly();
            return;
        }
        srv->now.useful++;
        format_addr((struct sockaddr *)&peer_addr, peer_len, peer, sizeof peer);
        /* On Linux an accepted socket does not inherit O_NONBLOCK from the
         * listening one: set it, or the first recv() would block the loop. */
        if (set_nonblocking(conn_fd) == -1 || add_client(srv, conn_fd, peer) == -1) {
            warn("connection from %s dropped", peer);
            close(conn_fd);
            continue;
        }
        note("connection from %s", peer);
    }
}

/* check_budget - after owed changed: say once when the total passes
 * OUTPUT_BUDGET, and resume reading everyone once half of it is paid */
static void check_budget(struct server *srv)
{
    if (!srv->over_budget && srv->owed >= OUTPUT_BUDGET) {
        srv->over_budget = 1;
        note("output budget of %d MiB reached: not reading clients owed output until they read",
             OUTPUT_BUDGET >> 20);
    } else if (srv->over_budget && srv->owed < OUTPUT_BUDGET / 2) {
        srv->over_budget = 0;
        note("output budget: under half again, reading every client");
    }
}

/* make_room - grow pending (doubling, up to PENDING_CAP) for n more bytes;
 * -1 if out of memory. read_from() keeps pending_len + n <= PENDING_CAP. */
static int make_room(struct client *c, size_t n)
{
    size_t new_cap = c->pending_cap ? c->pending_cap * 2 : BUF_SIZE;
    char *grown;

    if (c->pending_len + n <= c->pending_cap)
        return 0;
    new_cap = new_cap < PENDING_CAP ? new_cap : PENDING_CAP;
    if ((grown = realloc(c->pending, new_cap)) == NULL)
        return -1;
    c->pending = grown;
    c->pending_cap = new_cap;
    return 0;
}

/* read_from - step 2 for one client: try recv(), queue the reply */
static void read_from(struct server *srv, size_t i)
{
    /* LAB-BEGIN read-from: step 2 for client i: unless it is closing, done,
     * owed PENDING_CAP, or owed anything while srv->over_budget, try one
     * recv(). EAGAIN: count a wasted call and return; another error (not
     * EINTR): warn and mark_closed(). 0: the client half-closed (peer_done).
     * Data: upper- case it, append it to c->pending (make_room), add it to
     * srv->owed and check_budget(). See NOTES.md section 2, the polling loop.
     * Stub: (void)srv; (void)i; (void)make_room; (void)is_eagain; (void)check_budget; (void)mark_closed;
     * Tests: lab client: lines come back
     */
    struct client *c = &srv->clients[i];
    char buf[BUF_SIZE];
    size_t room = PENDING_CAP - c->pending_len;
    ssize_t n;

    /* A client that sends but does not read: once it is owed PENDING_CAP,
     * or anything while all are owed OUTPUT_BUDGET, leave its bytes in the
     * kernel. Its receive buffer fills, TCP tells it to stop sending, and
     * our memory stays bounded; write_to() drains, then reading resumes.
     * Clients owed nothing are still read: a newcomer is served at once. */
    if (c->closing || c->peer_done || room == 0 || (srv->over_budget && c->pending_len > 0))
        return;
    n = recv(c->fd, buf, room < sizeof buf ? room : sizeof buf, 0);
    if (n == -1) {
        if (is_eagain(errno))
            srv->now.recv_wasted++;         /* nothing yet: ask again next pass */
        else if (errno != EINTR) {
            warn("recv from %s", c->peer);  /* ECONNRESET: ConnectionResetError */
            mark_closed(srv, i);
        }
        return;
    }
    srv->now.useful++;
    if (n == 0) {                           /* end of file: the client half-closed */
        c->peer_done = 1;
        return;
    }
    if (make_room(c, (size_t)n) == -1) {
        warn("out of memory for %s", c->peer);
        mark_closed(srv, i);
        return;
    }
    upper_bytes(buf, (size_t)n);
    memcpy(c->pending + c->pending_len, buf, (size_t)n);
    c->pending_len += (size_t)n;
    srv->owed += (size_t)n;
    check_budget(srv);
    /* LAB-END read-from */
}

/* write_to - step 3 for one client: try send() of its pending output; drop
 * what the kernel took; close once a half-closed client is owed nothing */
static void write_to(struct server *srv, size_t i)
{
    /* LAB-BEGIN write-to: step 3 for client i: if output is pending, try one
     * send() of it (MSG_NOSIGNAL). EAGAIN: count a wasted call; another error
     * (not EINTR): warn and mark_closed(). Sent: count it, drop the bytes sent
     * from c->pending, take them off srv->owed, check_budget(), free the
     * buffer once empty. A half-closed client owed nothing: note "closed PEER
     * (N bytes)" and mark_closed(). See NOTES.md section 2: send can fail when
     * the buffer is full.
     * Stub: (void)srv; (void)i; (void)is_eagain; (void)check_budget; (void)mark_closed;
     * Tests: lab client: lines come back
     */
    struct client *c = &srv->clients[i];

    if (c->closing)
        return;
    if (c->pending_len > 0) {
        /* Non-blocking send() takes what fits in the socket's send buffer
         * (possibly less than asked) and fails with EAGAIN when it is full. */
        ssize_t n = send(c->fd, c->pending, c->pending_len, MSG_NOSIGNAL);

        if (n == -1) {
            if (is_eagain(errno))
                srv->now.send_wasted++;
            else if (errno != EINTR) {
                warn("send to %s", c->peer);    /* EPIPE, ECONNRESET */
                mark_closed(srv, i);
            }
            return;
        }
        srv->now.useful++;
        c->total += (unsigned long long)n;
        c->pending_len -= (size_t)n;
        memmove(c->pending, c->pending + n, c->pending_len);
        srv->owed -= (size_t)n;
        check_budget(srv);
        if (c->pending_len == 0) {          /* idle clients hold no buffer */
            free(c->pending);
            c->pending = NULL;
            c->pending_cap = 0;
        }
    }
    if (c->peer_done && c->pending_len == 0) {
        note("closed %s (%llu bytes)", c->peer, c->total);
        mark_closed(srv, i);
    }
    /* LAB-END write-to */
}

/* remove_closed - step 4: close the clients on the closed list and
 * squeeze them out of the client list (the others keep their order).
 * Done after the pass, never while walking the list. */
static void remove_closed(struct server *srv)
{
    size_t kept = 0;

    for (size_t i = 0; i < srv->count; i++) {
        struct client *c = &srv->clients[i];

        if (!c->closing) {
            srv->clients[kept++] = *c;
            continue;
        }
        close(c->fd);
        free(c->pending);
        srv->owed -= c->pending_len;
    }
    srv->count = kept;
    check_budget(srv);
}

/* report_second - with -v: the wasted calls of the last second, on stderr */
static void report_second(struct server *srv)
{
    struct counters *a = &srv->now, *b = &srv->last_second;
    unsigned long long acc = a->accept_wasted - b->accept_wasted,
                       rcv = a->recv_wasted - b->recv_wasted, snd = a->send_wasted - b->send_wasted;

    note("last second: %llu wasted calls (accept %llu, recv %llu, send %llu), %llu useful, %zu clients",
         acc + rcv + snd, acc, rcv, snd, a->useful - b->useful, srv->count);
    *b = *a;
}

/* nap - the Python notes' time.sleep(). A signal ends nanosleep() early
 * (EINTR), but one that lands just before it starts cannot: so naps are
 * taken in slices of at most 100 ms, the stop flag checked in between. */
static void nap(long sleep_ms)
{
    while (sleep_ms > 0 && !stop_requested) {
        long slice = sleep_ms < 100 ? sleep_ms : 100;
        struct timespec ts = {0, slice * 1000000L};

        if (nanosleep(&ts, NULL) == -1 && errno != EINTR)
            warn("nanosleep");
        sleep_ms -= slice;
    }
}

static int verbose_option;          /* -v */
static long sleep_option;           /* --sleep MS */

/* on_option - -v and --sleep MS (whole milliseconds, 0..MAX_SLEEP_MS) */
static void on_option(int key, const char *arg)
{
    if (key == 'v')
        verbose_option = 1;
    else
        sleep_option = parse_number(arg, 0, MAX_SLEEP_MS, "--sleep");
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'v', NULL, NULL, "print the wasted calls (EAGAIN) every second"},
        {'s', "sleep", "MS", "sleep MS ms after a pass that found nothing to do (0: spin)"},
        {0, NULL, NULL, NULL}};
    const struct lab_command cmd = {.default_port = "9002", .options = options,
                                    .on_option = on_option};
    struct lab_args args = lab_parse(argc, argv, &cmd);
    struct server srv = {.spare_fd = -1};

    catch_stop_signals(0, NULL);            /* 0, not SA_RESTART: nap() sees EINTR */
    srv.listen_fd = open_listener(args.host, args.port, SOCK_CLOEXEC, BACKLOG);
    /* server.setblocking(False): accept() now fails with EAGAIN instead of
     * waiting for a client (open_listener() could pass SOCK_NONBLOCK; the
     * fcntl() pair is the lesson, so it is written out). */
    if (set_nonblocking(srv.listen_fd) == -1)
        die("fcntl O_NONBLOCK");
    srv.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);  /* the reserve for EMFILE */
    if (srv.spare_fd == -1)
        die("open /dev/null");
    print_ready_line(srv.listen_fd);
    long long started = now_ms();

    poll_loop(&srv, verbose_option, sleep_option);

    for (size_t i = 0; i < srv.count; i++)
        mark_closed(&srv, i);
    remove_closed(&srv);
    free(srv.clients);
    note("stopping: %llu wasted calls (accept %llu, recv %llu, send %llu), %llu useful, in %.1f s",
         srv.now.accept_wasted + srv.now.recv_wasted + srv.now.send_wasted,
         srv.now.accept_wasted, srv.now.recv_wasted, srv.now.send_wasted, srv.now.useful,
         (double)(now_ms() - started) / 1000.0);
    close(srv.listen_fd);
    close(srv.spare_fd);
    return 0;
}
