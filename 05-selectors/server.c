/* server.c - the echo-upper server on a selector: callbacks, not loops
 *
 * Python notes 001's selectors program in C. The listening socket is
 * registered with an accept callback, each client with a client callback,
 * and the main loop only waits for ready descriptors and calls what was
 * registered for them:
 *
 *     while running:  for (fd, mask) in select():  key(fd).callback(mask)
 *
 * Which kernel mechanism waits - select(2), poll(2) or epoll(7) - is chosen
 * at run time (--backend), by default the best the system has, as
 * selectors.DefaultSelector does; the callbacks are the same for all three.
 *
 * Every socket is non-blocking and interest follows the buffers: a client
 * is watched for writing only while output waits for it, and for reading
 * only while it owes less than OUTPUT_CAP and, once all clients together
 * are owed OUTPUT_BUDGET, only while it owes nothing. Clients that never
 * read cost a fixed budget, not a cap each. Out of descriptors (EMFILE), the
 * listening socket is unwatched instead of reported again and again.
 *
 * With --edge the epoll backend is edge-triggered: a wake-up means "the
 * state changed", so a callback reads until EAGAIN (within a budget, then
 * sel_rearm). The whole difference between the modes is two `if`s in
 * client_read and one at the end of client_write.
 *
 * Usage: ./server [-H ADDR] [-p PORT] [--backend select|poll|epoll] [--edge]
 *        (defaults: 127.0.0.1, 9005, the best backend: epoll, level-triggered)
 *
 * See also: selector.h (the selector and its backends), client.c,
 * edge_level.c, aio.c, NOTES.md.
 * Python notes: 001 (selectors: register with a callback, key.data
 * dispatch), 002 and 004 (select vs poll vs epoll, chosen per system).
 * Linux-specific: epoll, accept4 (hence _GNU_SOURCE).
 */
#define _GNU_SOURCE

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../lib/lab.h"
#include "selector.h"

#define BUF_SIZE 16384
#define OUTPUT_CAP (256 * 1024)             /* owed to one client: stop reading it */
#define OUTPUT_BUDGET (32 * 1024 * 1024)    /* owed to all: stop reading those who owe */
#define EDGE_READ_BUDGET 16     /* --edge: recvs per wake-up, then the others' turn */
#define ACCEPT_RETRY_MS 1000    /* out of descriptors: try again this often */

/* One connection. Its output buffer exists only while output waits. */
struct client {
    int fd;
    char peer[ADDR_LEN];
    char *out;                  /* unsent reply bytes: out[out_start..+out_len) */
    size_t out_start, out_len, out_size;
    int read_closed;            /* client half-closed: finish sending, close */
    int paused_noted;           /* said once that reading was paused */
    unsigned long long total;   /* bytes received */
};

static int listen_fd = -1;
static int accept_paused = 0;   /* out of descriptors: listener unwatched */
static size_t total_owed = 0;   /* the sum of every client's out_len */

static void on_accept(struct selector *sel, int fd, int mask, void *data);
static void resume_accepting(struct selector *sel);

/* run_event_loop - the whole server: wait, then call each ready fd's
 * callback (Python: `for key, mask in sel.select(): key.data(key.fileobj,
 * mask)`). An entry whose fd an earlier callback of the batch unregistered
 * has fd -1 (no key); one whose interest changed gets only what it still
 * wants. */
static void run_event_loop(struct selector *sel)
{
    /* LAB-BEGIN event-loop: the whole server: until a stop is requested,
     * sel_select() (a timeout of ACCEPT_RETRY_MS while accepting is paused,
     * else none; -1: die naming the backend), then for each fired entry whose
     * fd still has a key, call that key's callback with the events it still
     * wants. A wait that timed out: resume_accepting(). See NOTES.md section
     * 2, selectors: key.data is the callback.
     * Stub: (void)sel; (void)resume_accepting;
     * Tests: socat
     */
    while (!stop_requested) {
        int ready_count = sel_select(sel, accept_paused ? ACCEPT_RETRY_MS : -1);

        if (ready_count == -1)
            die("%s", sel_backend_name(sel));
        for (int i = 0; i < ready_count; i++) {
            struct sel_fired ev = sel->fired[i];
            struct sel_key *key = sel_get_key(sel, ev.fd);

            if (key != NULL && (ev.mask & key->events) != 0)
                key->callback(sel, ev.fd, ev.mask & key->events, key->data);
        }
        if (ready_count == 0)
            resume_accepting(sel);      /* the retry after EMFILE */
    }
    /* LAB-END event-loop */
}

/* close_client - unregister (before close: see selector.h), close, free */
static void close_client(struct selector *sel, struct client *c, int quiet)
{
    if (sel_unregister(sel, c->fd) == -1)
        warn("unregister %s", c->peer);
    close(c->fd);
    if (!quiet)
        note("closed %s (%llu bytes)", c->peer, c->total);
    total_owed -= c->out_len;
    free(c->out);
    free(c);
    resume_accepting(sel);              /* a descriptor just freed up */
}

/* may_read - the reading half of the interest rule: not half-closed, under
 * its own cap, and while the server owes OUTPUT_BUDGET in all, only a
 * client that owes nothing (a new or a reading client is served; those
 * that hoard replies wait until they drain) */
static int may_read(const struct client *c)
{
    return !c->read_closed && c->out_len < OUTPUT_CAP
           && (c->out_len == 0 || total_owed < OUTPUT_BUDGET);
}

/* update_interest - watch for what the buffers allow: reading while
 * may_read, writing only while output waits. Closes a client that has
 * half-closed and been sent everything. -1 if it closed the client. */
static int update_interest(struct selector *sel, struct client *c)
{
    int events = (may_read(c) ? SEL_READ : 0) | (c->out_len > 0 ? SEL_WRITE : 0);

    if (events == 0 && c->read_closed) {
        close_client(sel, c, 0);
        return -1;
    }
    if (!c->read_closed && !may_read(c) && !c->paused_noted) {
        if (c->out_len >= OUTPUT_CAP)
            note("%s is not reading: %zu bytes owed, reading paused", c->peer, c->out_len);
        else
            note("%s owes %zu bytes, %zu in all (budget %d): reading paused", c->peer,
                 c->out_len, total_owed, OUTPUT_BUDGET);
        c->paused_noted = 1;
    }
    if (sel_modify(sel, c->fd, events) == -1) {
        warn("watch %s", c->peer);
        close_client(sel, c, 0);
        return -1;
    }
    return 0;
}

/* flush_output - send waiting output until it is gone or the socket's
 * buffer is full (EAGAIN); 0, or -1 on a real error */
static int flush_output(struct client *c)
{
    while (c->out_len > 0) {
        ssize_t n = send(c->fd, c->out + c->out_start, c->out_len, MSG_NOSIGNAL);

        if (n == -1) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        }
        c->out_start += (size_t)n;
        c->out_len -= (size_t)n;
        total_owed -= (size_t)n;
    }
    free(c->out);                       /* an idle client holds no buffer */
    c->out = NULL;
    c->out_start = c->out_size = 0;
    return 0;
}

/* send_or_queue - send len reply bytes after any that already wait; keep
 * what the socket does not take, in a buffer as big as what is owed (at
 * most OUTPUT_CAP + BUF_SIZE: client_read reads only below the cap).
 * 0, or -1 on a real error. */
static int send_or_queue(struct client *c, const char *buf, size_t len)
{
    if (c->out_len == 0) {              /* the usual case: straight out */
        ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);

        if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -1;
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
        }
        if (len == 0)
            return 0;
    }
    if (c->out_start + c->out_len + len > c->out_size) {   /* make room */
        size_t size = c->out_size ? c->out_size : BUF_SIZE;

        if (c->out_len > 0)
            memmove(c->out, c->out + c->out_start, c->out_len);
        c->out_start = 0;
        while (size < c->out_len + len)
            size *= 2;
        if (size > c->out_size) {
            char *out = realloc(c->out, size);

            if (out == NULL)
                return -1;
            c->out = out;
            c->out_size = size;
        }
    }
    memcpy(c->out + c->out_start + c->out_len, buf, len);
    c->out_len += len;
    total_owed += len;
    return 0;
}

/* client_read - recv, upper-case, send back. -1 if the client was closed.
 *
 * Level-triggered: one recv per wake-up; if more waits, the next wait says
 * so. Edge-triggered: new data is reported once, so recv until EAGAIN, or
 * bytes would sit unread with no wake-up to come; after EDGE_READ_BUDGET
 * recvs, re-arm and let the others have their turn (Python notes 002: one
 * client must not hog the loop). Either way, stop when may_read says so. */
static int client_read(struct selector *sel, struct client *c)
{
    char buf[BUF_SIZE];
    int reads = 0;

    while (may_read(c)) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);

        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;                      /* drained: wait for the next event */
        if (n == -1) {
            warn("recv from %s", c->peer);
            close_client(sel, c, 1);
            return -1;
        }
        if (n == 0) {                   /* half-close: owe the rest, then close */
            c->read_closed = 1;
            break;
        }
        c->total += (unsigned long long)n;
        upper_bytes(buf, (size_t)n);
        if (send_or_queue(c, buf, (size_t)n) == -1) {
            warn("send to %s", c->peer);
            close_client(sel, c, 1);
            return -1;
        }
        if (!(sel->flags & SEL_EDGE))
            break;                      /* level: the selector will call again */
        if (++reads == EDGE_READ_BUDGET) {
            if (sel_rearm(sel, c->fd) == -1) {  /* report it again, later */
                warn("re-arm %s", c->peer);
                close_client(sel, c, 1);
                return -1;
            }
            break;
        }
    }
    return update_interest(sel, c);
}

/* client_write - the socket takes more: send what waits. With --edge, a
 * client whose reading was paused is read at once when it may read again:
 * the input that waited makes no new edge. (update_interest's
 * EPOLL_CTL_MOD, giving EPOLLIN back, would report it too, as MOD looks at
 * the current state; reading now saves a wait.) -1 if closed. */
static int client_write(struct selector *sel, struct client *c)
{
    int was_paused = !c->read_closed && !may_read(c);

    if (flush_output(c) == -1) {
        warn("send to %s", c->peer);
        close_client(sel, c, 1);
        return -1;
    }
    if (update_interest(sel, c) == -1)
        return -1;
    if ((sel->flags & SEL_EDGE) && was_paused && may_read(c))
        return client_read(sel, c);
    return 0;
}

/* on_client - the callback of every client (the Python notes' read) */
static void on_client(struct selector *sel, int fd, int mask, void *data)
{
    (void)fd;
    if ((mask & SEL_WRITE) && client_write(sel, data) == -1)
        return;                         /* closed: the client is gone */
    if (mask & SEL_READ)
        client_read(sel, data);
}

/* add_client - register a new connection with the client callback */
static void add_client(struct selector *sel, int conn_fd, const struct sockaddr *addr,
                       socklen_t addr_len)
{
    struct client *c = calloc(1, sizeof *c);

    if (c == NULL) {
        warn("calloc");
        close(conn_fd);
        return;
    }
    c->fd = conn_fd;
    format_addr(addr, addr_len, c->peer, sizeof c->peer);
    if (sel_register(sel, conn_fd, SEL_READ, on_client, c) == -1) {
        if (errno == ERANGE)            /* select: FD_SET would overflow */
            note("refused %s: fd %d is beyond what %s can watch (FD_SETSIZE %d)",
                 c->peer, conn_fd, sel_backend_name(sel), FD_SETSIZE);
        else
            warn("register %s", c->peer);
        close(conn_fd);
        free(c);
        return;
    }
    note("connection from %s", c->peer);
}

/* on_accept - the listening socket's callback (the Python notes' accept):
 * accept until EAGAIN, so that one wake-up takes a whole burst (and
 * --edge loses none). Out of descriptors, unwatch the listener: the
 * pending connection stays readable, and a level-triggered wait would
 * report it again at once, spinning on accept() for nothing. */
static void on_accept(struct selector *sel, int fd, int mask, void *data)
{
    (void)mask, (void)data;
    for (;;) {
        struct sockaddr_storage addr;
        socklen_t addr_len = sizeof addr;
        int conn_fd = accept4(fd, (struct sockaddr *)&addr, &addr_len,
                              SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (conn_fd >= 0) {
            add_client(sel, conn_fd, (struct sockaddr *)&addr, addr_len);
        } else if (errno == EINTR || errno == ECONNABORTED) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return;                     /* the queue is empty */
        } else if (is_out_of_descriptors(errno)) {
            int errnum = errno;

            if (sel_unregister(sel, listen_fd) == -1)
                warn("unwatch the listening socket");
            accept_paused = 1;
            errno = errnum;
            warn("accept (new connections wait until a descriptor frees up)");
            return;
        } else {
            warn("accept");
            return;
        }
    }
}

/* resume_accepting - after EMFILE, when a descriptor frees up or
 * ACCEPT_RETRY_MS passed: watch the listener again and accept at once
 * what queued meanwhile (with --edge no new wake-up would come for it) */
static void resume_accepting(struct selector *sel)
{
    if (!accept_paused)
        return;
    if (sel_register(sel, listen_fd, SEL_READ, on_accept, NULL) == -1) {
        warn("watch the listening socket");
        return;
    }
    accept_paused = 0;
    on_accept(sel, listen_fd, SEL_READ, NULL);
}

/* on_stop_pipe - SIGINT/SIGTERM wrote to the self-pipe (lib's handler has
 * set stop_requested, which the loop sees next): empty it */
static void on_stop_pipe(struct selector *sel, int fd, int mask, void *data)
{
    (void)sel, (void)fd, (void)mask, (void)data;
    drain_stop_pipe();
}

static const char *backend_name = NULL; /* --backend; NULL: the best */
static int sel_flags = 0;               /* --edge: SEL_EDGE */

/* on_option - this lesson's options: --backend NAME, --edge */
static void on_option(int key, const char *arg)
{
    if (key == 'b' && strcmp(arg, "select") != 0 && strcmp(arg, "poll") != 0
        && strcmp(arg, "epoll") != 0)
        usage_error("unknown backend '%s'", arg);
    if (key == 'b')
        backend_name = arg;
    if (key == 'e')
        sel_flags |= SEL_EDGE;
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'b', "backend", "NAME", "select, poll or epoll (default: the best, epoll)"},
        {'e', "edge", NULL, "edge-triggered epoll: read and write until EAGAIN"},
        {0, NULL, NULL, NULL}};
    static const struct lab_command command = {
        "The echo-upper server on a selector (lesson 05).", "9005", 0, options, on_option, NULL};
    struct lab_args args = lab_parse(argc, argv, &command);
    struct selector *sel;
    int stop_fd;

    if ((sel_flags & SEL_EDGE) && backend_name != NULL && strcmp(backend_name, "epoll") != 0)
        usage_error("--edge needs the epoll backend");
    stop_fd = stop_pipe();              /* the handler writes, the loop wakes */
    catch_stop_signals(SA_RESTART, NULL);
    listen_fd = open_listener(args.host, args.port, SOCK_NONBLOCK | SOCK_CLOEXEC, SOMAXCONN);

    sel = sel_new(backend_name, sel_flags);     /* NULL: the best */
    if (sel == NULL)
        die("selector");
    if (sel_register(sel, listen_fd, SEL_READ, on_accept, NULL) == -1
        || sel_register(sel, stop_fd, SEL_READ, on_stop_pipe, NULL) == -1)
        die("register");
    print_ready_line(listen_fd);
    note("backend %s, %s-triggered", sel_backend_name(sel),
         (sel_flags & SEL_EDGE) ? "edge" : "level");

    run_event_loop(sel);

    note("stopping");
    accept_paused = 0;                  /* closing clients must not accept anew */
    for (int fd = sel->max_fd; fd >= 0; fd--) {
        struct sel_key *key = sel_get_key(sel, fd);

        if (key != NULL && key->callback == on_client)
            close_client(sel, key->data, 1);
    }
    sel_free(sel);
    close(listen_fd);
    return 0;
}
