/* server.c - an echo-upper server that serves many clients with poll()
 *
 * The same IO multiplexing as lesson 03, with poll() instead of select().
 * Three things change, and they are the lesson:
 *   - the watch list is an array of struct pollfd {fd, events, revents},
 *     one entry per descriptor, as long as needed: no FD_SETSIZE, no
 *     bit per possible descriptor number. The array grows as clients come
 *     (doubling), and a leaving client's entry is filled with the last one;
 *   - the kernel writes its answer into `revents` and leaves `events`
 *     alone, so interest is changed only when a client's state changes,
 *     not rebuilt before every call;
 *   - the answer is a bit mask per descriptor: POLLIN, POLLOUT, and the
 *     conditions the kernel reports even when nobody asked, POLLERR and
 *     POLLHUP. A hung-up descriptor left in the array is reported again at
 *     once, forever: it must be closed, or poll() becomes a busy loop.
 * An fd-to-client map (the Python notes' {fileno: socket} dictionary)
 * turns the descriptor in a pollfd back into the client it belongs to.
 *
 * Flow control as in lesson 03: POLLOUT is asked for only while output
 * waits; a client whose pending output reaches OUT_CAP is no longer asked
 * for POLLIN until it reads its replies, and while all clients together
 * owe OUT_BUDGET or more, no client that owes anything is. When accept()
 * fails with EMFILE (no descriptor left), the listener's entry is switched
 * off (a negative fd is ignored by poll()) until a client leaves, instead
 * of spinning on a listener that stays readable.
 *
 * poll() is still O(n): every call hands the kernel the whole array, the
 * kernel checks every entry, and the server scans the answers.
 *
 * Usage: ./server [-H ADDR] [-p PORT] [-v]    (defaults: 127.0.0.1, 9004)
 *
 * See also: client.c (a poll() client), bitmask.c (the event bits),
 * NOTES.md, ../03-select (the same server with select()).
 * Python notes: 002 (poll: register/unregister, POLLIN POLLOUT POLLERR
 * POLLHUP POLLPRI, events as bit masks, the fd-to-socket map), 004
 * (select, poll and epoll compared).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../lib/lab.h"

#define OUT_CAP (64 * 1024)         /* pending output per client */
#define OUT_BUDGET (8 * 1024 * 1024) /* pending output of all clients together */
#define SLICE (4 * 1024)            /* over budget: most one read may take */
#define KERNEL_OUT (64 * 1024)      /* SO_SNDBUF: the kernel's share (it doubles it) */
#define ACCEPT_BURST 64             /* accepts per round, so clients get turns too */
#define RETRY_MS 1000               /* while accepting is paused: poll()'s timeout */

/* The first two entries of the pollfd array; clients follow. */
enum { LISTEN_SLOT, SIGNAL_SLOT, FIRST_CLIENT_SLOT };

/* One connected client. */
struct client {
    int fd;
    size_t slot;                /* its entry in pfds[] */
    char addr[ADDR_LEN];
    char *out;                  /* bytes owed, in a buffer as big as they are */
    size_t out_start, out_len;  /* unsent bytes are out[out_start .. +out_len) */
    int peer_done;              /* the client half-closed: send what we owe, close */
    int paused;                 /* not read, its output waits (logged with -v) */
    unsigned long long total;   /* bytes received */
};

/* The watch list handed to poll(), and the map from descriptor back to
 * client. Both grow by doubling; pfds[i].fd == clients_by_fd[...]->fd. */
static struct pollfd *pfds;
static size_t pfd_count, pfd_cap;
static struct client **clients_by_fd;
static size_t by_fd_cap;
static size_t out_total;        /* the sum of every client's out_len */

static int listen_fd = -1;
static int accept_paused = 0;   /* out of descriptors: listener switched off */
static int verbose = 0;
static unsigned long long poll_calls = 0;

/* watch - append a pollfd entry (register, in the Python notes' words);
 * returns its slot, or -1 if the array cannot grow */
static long watch(int fd, short events)
{
    if (pfd_count == pfd_cap) {
        size_t new_cap = pfd_cap ? 2 * pfd_cap : 64;
        struct pollfd *bigger = realloc(pfds, new_cap * sizeof *bigger);

        if (bigger == NULL)
            return -1;
        pfds = bigger;
        pfd_cap = new_cap;
    }
    pfds[pfd_count].fd = fd;
    pfds[pfd_count].events = events;
    pfds[pfd_count].revents = 0;
    return (long)pfd_count++;
}

/* map_client - clients_by_fd[fd] = c, growing the map if fd is beyond it;
 * 0, or -1 if it cannot grow */
static int map_client(int fd, struct client *c)
{
    if ((size_t)fd >= by_fd_cap) {
        size_t new_cap = by_fd_cap ? by_fd_cap : 64;
        struct client **bigger;

        while (new_cap <= (size_t)fd)
            new_cap *= 2;
        bigger = realloc(clients_by_fd, new_cap * sizeof *bigger);
        if (bigger == NULL)
            return -1;
        memset(bigger + by_fd_cap, 0, (new_cap - by_fd_cap) * sizeof *bigger);
        clients_by_fd = bigger;
        by_fd_cap = new_cap;
    }
    clients_by_fd[fd] = c;
    return 0;
}

static void close_client(struct client *c, const char *why);  /* further down */
static int flush_output(struct client *c);
static int read_client(struct client *c);
static void accept_clients(void);

/* set_interest - the events to ask for, from the client's buffers:
 * POLLIN while there is room for more output (and, once all clients
 * together owe OUT_BUDGET, only if this one owes nothing), POLLOUT while
 * output waits */
static void set_interest(struct client *c)
{
    /* LAB-BEGIN set-interest: events follow the buffers: the client is full
     * when it owes OUT_CAP, or owes anything while all clients owe OUT_BUDGET.
     * Say (with -v) when that changes (c->paused); ask POLLIN unless it is
     * full or half-closed, POLLOUT only while output waits; write the mask
     * into its pollfd (pfds[c->slot].events). See NOTES.md section 2.
     * Stub: (void)c;
     * Tests: 1 MiB
     */
    int full = c->out_len == OUT_CAP || (c->out_len > 0 && out_total >= OUT_BUDGET);
    short events = 0;

    if (!c->peer_done && full != c->paused) {
        c->paused = full;
        if (verbose)
            note(!full ? "%s: output drained, reading it again"
                 : c->out_len == OUT_CAP ? "%s: output backlog full, not reading it"
                                         : "%s: output budget spent, not reading it",
                 c->addr);
    }
    if (!c->peer_done && !full)
        events |= POLLIN;
    if (c->out_len > 0)
        events |= POLLOUT;
    pfds[c->slot].events = events;
    /* LAB-END set-interest */
}

/* handle_client - act on one client's revents (what happened), never on
 * its events (what was asked). POLLERR and POLLHUP come without being
 * asked for; left unhandled they are reported again at once, forever. */
static void handle_client(struct client *c, short revents)
{
    /* LAB-BEGIN handle-client: act on one client's revents: POLLNVAL: note it
     * and close; POLLERR: fetch the reason with getsockopt(SO_ERROR), warn,
     * close; POLLOUT: flush_output(); POLLIN: read_client() (either may close
     * the client: then return); POLLHUP: close (gone both ways); else
     * set_interest(). See NOTES.md section 2, "events and revents".
     * Stub: (void)c; (void)revents; (void)flush_output; (void)read_client; (void)set_interest;
     * Tests: lab client: lines come back
     */
    if (revents & POLLNVAL) {           /* not an open descriptor: our bug */
        note("%s: descriptor %d is not open (POLLNVAL)", c->addr, c->fd);
        close_client(c, "invalid");
        return;
    }
    if (revents & POLLERR) {            /* e.g. a reset: fetch the reason */
        int err = 0;
        socklen_t len = sizeof err;

        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) {
            errno = err;
            warn("%s", c->addr);
        }
        close_client(c, "error");
        return;
    }
    if ((revents & POLLOUT) && flush_output(c) == -1)
        return;
    if ((revents & POLLIN) && read_client(c) == -1)
        return;
    if (revents & POLLHUP) {            /* gone both ways: nothing can be sent */
        close_client(c, "hung up");
        return;
    }
    set_interest(c);
    /* LAB-END handle-client */
}

/* handle_ready - walk the array from the end: a closed client's slot is
 * filled with the last entry, which has already been handled. The
 * listener comes last, so new clients are not looked at this round. */
static void handle_ready(int ready_count)
{
    for (size_t i = pfd_count; i-- > FIRST_CLIENT_SLOT && ready_count > 0;) {
        short revents = pfds[i].revents;

        if (revents == 0)
            continue;
        ready_count--;
        handle_client(clients_by_fd[pfds[i].fd], revents);
    }
    if (pfds[SIGNAL_SLOT].revents & POLLIN)
        stop_requested = 1;
    if (pfds[LISTEN_SLOT].revents & POLLIN)
        accept_clients();
}

/* close_client - unregister: fill the client's slot with the last entry
 * (order does not matter to poll()), forget it, close it. A descriptor is
 * free again, so a paused listener is switched back on. */
static void close_client(struct client *c, const char *why)
{
    size_t last = pfd_count - 1;

    if (why != NULL)
        note("closed %s (%llu bytes%s%s)", c->addr, c->total, *why ? ", " : "", why);
    if (c->slot != last) {
        pfds[c->slot] = pfds[last];
        clients_by_fd[pfds[c->slot].fd]->slot = c->slot;
    }
    pfd_count--;
    clients_by_fd[c->fd] = NULL;
    out_total -= c->out_len;
    close(c->fd);
    free(c->out);
    free(c);
    if (accept_paused) {
        accept_paused = 0;
        pfds[LISTEN_SLOT].fd = listen_fd;
        note("a descriptor is free again: accepting");
    }
}

/* flush_output - one send() of the pending output; what does not fit now
 * is sent when poll() reports POLLOUT. A client that half-closed is
 * closed once it is owed nothing. Returns -1 if the client was closed. */
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

/* queue_output - keep bytes the kernel did not take, behind what the
 * client is owed already, in a buffer just as big as they are: memory
 * follows what is owed. 0, or -1 if out of memory. */
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

/* read_client - one recv() into a buffer on the stack (over budget, one
 * SLICE at most), upper-cased there, then one send() at once: the socket
 * is nearly always writable, so this saves a poll() round. Only
 * what the kernel does not take is kept in the client's own buffer and
 * waits for write interest. Returns -1 if the client was closed. */
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

/* add_client - register a freshly accepted connection */
static void add_client(int conn_fd, const char *addr)
{
    struct client *c = calloc(1, sizeof *c);
    int flags = fcntl(conn_fd, F_GETFL), kernel_out = KERNEL_OUT;
    long slot;

    if (c == NULL || flags == -1 || fcntl(conn_fd, F_SETFL, flags | O_NONBLOCK) == -1
        || setsockopt(conn_fd, SOL_SOCKET, SO_SNDBUF, &kernel_out, sizeof kernel_out) == -1
        || map_client(conn_fd, c) == -1
        || (slot = watch(conn_fd, POLLIN)) == -1) {
        warn("new client %s", addr);
        if ((size_t)conn_fd < by_fd_cap)
            clients_by_fd[conn_fd] = NULL;
        free(c);
        close(conn_fd);
        return;
    }
    c->fd = conn_fd;
    c->slot = (size_t)slot;
    snprintf(c->addr, sizeof c->addr, "%s", addr);
    note("connection from %s", addr);
}

/* accept_clients - accept what is waiting, up to ACCEPT_BURST. Out of
 * descriptors, switch the listener off: its connection stays queued, so
 * it stays readable, and poll() would report it at once, forever. */
static void accept_clients(void)
{
    for (int i = 0; i < ACCEPT_BURST; i++) {
        struct sockaddr_storage peer_addr;
        socklen_t peer_len = sizeof peer_addr;
        char addr[ADDR_LEN];
        int conn_fd = accept(listen_fd, (struct sockaddr *)&peer_addr, &peer_len);

        if (conn_fd == -1) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;               /* the client gave up: next one */
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;                 /* nobody else waiting */
            warn("accept");             /* EMFILE, ENFILE, ENOBUFS, ENOMEM */
            note("not accepting until a descriptor is free");
            accept_paused = 1;
            pfds[LISTEN_SLOT].fd = -1;  /* poll() ignores negative fds */
            return;
        }
        format_addr((struct sockaddr *)&peer_addr, peer_len, addr, sizeof addr);
        add_client(conn_fd, addr);
    }
}

static void on_option(int key, const char *arg)
{
    (void)arg;
    verbose = key == 'v';
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'v', NULL, NULL, "also log paused/resumed reading of clients"}, {0}};
    const struct lab_command cmd = {.default_port = "9004", .options = options,
                                    .on_option = on_option};
    struct lab_args args = lab_parse(argc, argv, &cmd);
    int stop_fd = stop_pipe();          /* the handler writes a byte: poll() wakes */

    catch_stop_signals(0, NULL);
    /* Non-blocking: if the queued connection is gone by the time accept()
     * runs, accept() says EAGAIN instead of sleeping (lesson 03, NOTES). */
    listen_fd = open_listener(args.host, args.port, SOCK_NONBLOCK | SOCK_CLOEXEC, SOMAXCONN);
    if (watch(listen_fd, POLLIN) != LISTEN_SLOT || watch(stop_fd, POLLIN) != SIGNAL_SLOT)
        die("malloc");
    print_ready_line(listen_fd);
    while (!stop_requested) {
        /* Paused, wake up now and then to try accept() again; otherwise
         * sleep until something happens (-1: no timeout). */
        int ready_count = poll(pfds, (nfds_t)pfd_count, accept_paused ? RETRY_MS : -1);

        poll_calls++;
        if (ready_count == -1) {
            if (errno == EINTR)
                continue;               /* a signal: the loop checks the flag */
            die("poll");
        }
        if (ready_count == 0 && accept_paused) {
            accept_paused = 0;          /* timed out: try again */
            pfds[LISTEN_SLOT].fd = listen_fd;
        }
        handle_ready(ready_count);
    }

    note("stopping after %llu poll calls", poll_calls);
    while (pfd_count > FIRST_CLIENT_SLOT)
        close_client(clients_by_fd[pfds[pfd_count - 1].fd], NULL);
    close(listen_fd);
    free(pfds);
    free(clients_by_fd);
    return 0;
}
