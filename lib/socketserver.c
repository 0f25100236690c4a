/* socketserver.c - BaseServer, TCPServer and a request handler, in C, with
 * the names of Python's socketserver module (see socketserver.h)
 *
 * The call chain of Python notes 003, as this file runs it:
 *
 *     serve_forever()                      BaseServer: the connection loop
 *       -> handle_request_noblock()
 *            -> get_request()              TCPServer: accept()
 *            -> process_request()          the mix-in's start_worker()
 *                 (in the worker)
 *                 -> finish_request()      BaseServer: make the handler
 *                      -> setup(), handle(), finish()   the handler's methods
 *                 -> shutdown_request()    TCPServer: shutdown + close
 *       -> service_actions()               the mix-in's reap_workers()
 *     server_close()                       BaseServer, then
 *       -> stop_workers()                  the mix-in's stop_worker()
 *
 * process_request, service_actions and stop_workers are the same for
 * both mix-ins: they keep the table of workers and call the mix-in's
 * small functions (lesson 06's or 07's socketserver.c) for what differs.
 *
 * Like Python's mix-ins it keeps at most max_workers (Python's
 * ForkingMixIn: 40) by waiting for one to end in service_actions(), after
 * every turn of the loop (serve_forever wakes at least every 0.5 s).
 * Unlike Python's, server_close() ends the workers (stop_worker(), then
 * end_stragglers() after a grace period) instead of waiting for their
 * clients to go: the lab's contract says a server exits within a second.
 */
#define _POSIX_C_SOURCE 200809L

#include "socketserver.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_MAX_WORKERS 40  /* ForkingMixIn.max_children */
#define POLL_INTERVAL_MS 500    /* serve_forever(poll_interval=0.5) */
#define STOP_GRACE_MS 800       /* then end the rest: exit within 1 s */
#define BUF_SIZE 4096

volatile sig_atomic_t socket_for_signal = -1;

/* ---- BaseServer and TCPServer ------------------------------------------ */

/* get_request - TCPServer.get_request: accept(); -1 if nothing came */
static int get_request(struct server *self, char *client_address, size_t size)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    int request = accept(self->socket, (struct sockaddr *)&addr, &len);
    static int last_errno = 0;

    if (request == -1) {
        if (errno == EINTR || errno == ECONNABORTED || stop_requested)
            return -1;
        if (errno != last_errno)            /* one line per spell, not a flood */
            warn("accept");
        last_errno = errno;
        if (is_out_of_descriptors(errno))
            pause_briefly();                /* out of descriptors: do not spin */
        return -1;
    }
    last_errno = 0;
    format_addr((struct sockaddr *)&addr, len, client_address, size);
    return request;
}

void finish_request(struct server *self, int request, const char *client_address)
{
    struct request handler = {request, client_address, self, 0};

    self->handler_class->setup(&handler);
    self->handler_class->handle(&handler);
    self->handler_class->finish(&handler);
}

void shutdown_request(int request)
{
    shutdown(request, SHUT_WR);             /* may fail if the peer is gone: fine */
    close(request);
}

/* ---- the mix-ins' common part: the worker table --------------------------- */

/* add_worker - take a free slot for a new request (service_actions()
 * made sure there is one) */
static struct worker *add_worker(struct server *self, int request, const char *client_address)
{
    struct worker *worker = self->workers;

    while (worker->busy)
        worker++;
    worker->busy = 1;
    worker->request = request;
    snprintf(worker->client_address, sizeof worker->client_address, "%s", client_address);
    worker->server = self;
    self->active_count++;
    return worker;
}

void remove_worker(struct worker *worker)
{
    worker->busy = 0;
    worker->server->active_count--;
}

/* process_request - ForkingMixIn/ThreadingMixIn.process_request: give the
 * request a worker of its own; the connection loop goes on at once */
static void process_request(struct server *self, int request, const char *client_address)
{
    const struct mixin *mixin = self->mixin;
    sigset_t stop_signals, old_mask;
    struct worker *worker;
    int started;

    /* The worker starts with SIGINT and SIGTERM blocked: a thread keeps
     * them so (only the main thread takes a stop signal), a child lets
     * them in once its socket_for_signal is set. */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, &old_mask);
    mixin->lock_workers();
    worker = add_worker(self, request, client_address);
    started = mixin->start_worker(worker, &old_mask);
    if (!started) {                         /* out of processes or threads: */
        remove_worker(worker);              /* lose this client only */
        close(request);
    }
    mixin->unlock_workers();
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    if (!started)
        pause_briefly();                    /* and do not spin */
}

/* service_actions - BaseServer.service_actions, after every turn of the
 * connection loop: free the slots of workers that have ended; while all
 * are busy, wait for one to end (new clients wait in the listen backlog) */
static void service_actions(struct server *self)
{
    const struct mixin *mixin = self->mixin;

    mixin->lock_workers();
    mixin->reap_workers(self);
    while (self->active_count >= self->max_workers && !stop_requested) {
        mixin->wait_for_change(100);
        mixin->reap_workers(self);
    }
    mixin->unlock_workers();
}

/* stop_workers - server_close()'s part: ask every worker to stop, wait
 * for them (STOP_GRACE_MS at most, on the clock), then end the rest */
static void stop_workers(struct server *self)
{
    const struct mixin *mixin = self->mixin;
    long long deadline = now_ms() + STOP_GRACE_MS;

    mixin->lock_workers();
    for (long i = 0; i < self->max_workers; i++)
        if (self->workers[i].busy)
            mixin->stop_worker(&self->workers[i]);
    mixin->reap_workers(self);
    while (self->active_count > 0 && now_ms() < deadline) {
        mixin->wait_for_change((long)(deadline - now_ms()));
        mixin->reap_workers(self);
    }
    if (self->active_count > 0)
        mixin->end_stragglers(self);
    mixin->unlock_workers();
}

/* ---- the connection loop ------------------------------------------------ */

/* handle_request_noblock - BaseServer._handle_request_noblock: one turn of
 * the connection loop, called when the listening socket is readable */
static void handle_request_noblock(struct server *self)
{
    char client_address[ADDR_LEN];
    int request = get_request(self, client_address, sizeof client_address);

    if (request == -1)
        return;
    process_request(self, request, client_address);
}

/* serve_forever - BaseServer.serve_forever: the connection loop. It waits
 * in poll() with a timeout, like Python's selector, so that it notices a
 * stop request and runs service_actions() even when nobody connects. */
static void serve_forever(struct server *self)
{
    struct pollfd listening = {self->socket, POLLIN, 0};

    while (!stop_requested) {
        int ready = poll(&listening, 1, POLL_INTERVAL_MS);

        if (ready == -1 && errno != EINTR)
            die("poll");
        if (ready > 0 && !stop_requested)
            handle_request_noblock(self);
        service_actions(self);
    }
}

/* server_close - BaseServer.server_close: close the listening socket and
 * let the mix-in end its workers */
static void server_close(struct server *self)
{
    close(self->socket);
    stop_workers(self);
}

/* ---- the user's part: a request handler -------------------------------- */

/* echo_setup - EchoHandler.setup: runs before handle() */
static void echo_setup(struct request *self)
{
    note("connection from %s, served by %s", self->client_address,
         self->server->mixin->worker_word);
}

/* echo_handle - EchoHandler.handle: the communication loop of Python
 * notes 003's handle(), recv then send(data.upper()), until end of file
 * (which the notes forget to check: see lesson 06's notes, section 9) */
static void echo_handle(struct request *self)
{
    char buf[BUF_SIZE];

    for (;;) {
        ssize_t n = recv(self->request, buf, sizeof buf, 0);

        if (n == 0)
            return;                         /* the client half-closed or left */
        if (n == -1) {
            if (errno == EINTR)
                continue;
            warn("recv from %s", self->client_address);
            return;
        }
        upper_bytes(buf, (size_t)n);
        /* (no test of stop_requested here: a thread reading the flag that
         * the main thread's handler writes would be a data race) */
        if (send_all(self->request, buf, (size_t)n) == -1) {
            warn("send to %s", self->client_address);
            return;
        }
        self->bytes_echoed += (unsigned long long)n;
    }
}

/* echo_finish - EchoHandler.finish: runs after handle(), however it ended */
static void echo_finish(struct request *self)
{
    note("closed %s (%llu bytes)", self->client_address, self->bytes_echoed);
}

const struct request_handler_class echo_handler = {echo_setup, echo_handle, echo_finish};

/* ---- the program ---------------------------------------------------------- */

static long max_workers = DEFAULT_MAX_WORKERS;

/* wake_sleeper - in the stop signal's handler: shutdown() the socket this
 * process may be asleep on (async-signal-safe), so that the sleep ends at
 * once even if the signal came just before it began */
static void wake_sleeper(void)
{
    if (socket_for_signal >= 0)
        shutdown(socket_for_signal, SHUT_RDWR);
}

/* on_option - -m MAX */
static void on_option(int key, const char *arg)
{
    (void)key;
    max_workers = parse_number(arg, 1, 100000, "-m");
}

int socketserver_main(int argc, char *argv[], const char *default_port,
                      const struct mixin *mixin, const char *about)
{
    char help[64];
    const struct lab_option options[] = {{'m', NULL, "MAX", help}, {0}};
    const struct lab_command cmd = {about, default_port, 0, options, on_option, NULL};
    struct lab_args args;
    /* static: a worker reaches it through its server pointer, and a thread
     * still running when main returns must not read a dead stack frame */
    static struct server server;
    sigset_t wanted;

    snprintf(help, sizeof help, "at most MAX clients served at once (default %d)",
             DEFAULT_MAX_WORKERS);
    args = lab_parse(argc, argv, &cmd);
    catch_stop_signals(0, wake_sleeper);    /* 0: a blocked call sees EINTR */
    /* The signal mask survives exec(): unblock what we rely on, in case
     * whoever started us had blocked it. */
    sigemptyset(&wanted);
    sigaddset(&wanted, SIGCHLD);
    sigaddset(&wanted, SIGINT);
    sigaddset(&wanted, SIGTERM);
    if (sigprocmask(SIG_UNBLOCK, &wanted, NULL) == -1)
        die("sigprocmask");

    /* server = <Mixin>TCPServer((host, port), EchoHandler): server_bind()
     * and server_activate() are open_listener() */
    server.socket = open_listener(args.host, args.port, 0, SOMAXCONN);
    server.handler_class = &echo_handler;
    server.mixin = mixin;
    server.max_workers = max_workers;
    server.workers = calloc((size_t)max_workers, sizeof *server.workers);
    if (server.workers == NULL)
        die("calloc");
    mixin->init();

    socket_for_signal = server.socket;
    print_ready_line(server.socket);
    serve_forever(&server);
    note("stopping");
    socket_for_signal = -1;                 /* a second signal must not touch it */
    server_close(&server);
    return 0;
}
