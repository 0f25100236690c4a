/* socketserver.c - the forking echo server again, in the shape of Python's
 * socketserver.ForkingTCPServer
 *
 * Seed 003 reads the socketserver module and finds two kinds of class: a
 * server class that owns the connection loop and a request-handler class
 * that owns the communication loop. The user writes only the handler (its
 * handle() method); the server is assembled from parts:
 *
 *     ForkingTCPServer = ForkingMixIn + TCPServer (+ BaseServer)
 *
 * This file builds the same parts in C, with the same names, so that the
 * seed's call chain can be followed line by line:
 *
 *     serve_forever()                      BaseServer: the connection loop
 *       -> handle_request_noblock()
 *            -> get_request()              TCPServer: accept()
 *            -> process_request()          the mix-in: start_worker(), fork()
 *                 (in the child: serve_in_child)
 *                 -> finish_request()      BaseServer: make the handler
 *                      -> setup(), handle(), finish()   the handler's methods
 *                 -> shutdown_request()    TCPServer: shutdown + close
 *       -> service_actions()               the mix-in: reap_workers(), waitpid()
 *     server_close()                       BaseServer, then the mix-in's
 *       -> stop_workers()                  stop_worker(): SIGTERM
 *
 * A "class" is a struct of function pointers; "self" is a pointer to a
 * struct. C has no inheritance, so the mix-in is a section of this file:
 * a table of workers and the methods process_request, service_actions and
 * stop_workers, the same in lessons 06 and 07, built on a few small
 * functions that say what a worker is. Lesson 07's socketserver.c is this
 * file with those functions written for threads: diff the two, and what
 * shows is the difference between a process and a thread.
 *
 * Like Python's ForkingMixIn it reaps children in service_actions(),
 * after every turn of the loop (serve_forever wakes at least every 0.5 s),
 * not in a SIGCHLD handler as server.c does, and it keeps at most
 * max_children (Python: 40) by waiting for one to end. Unlike Python's,
 * its SIGCHLD handler (which does nothing) makes a child's end wake the
 * loop at once (nearly always: see NOTES.md), the wait at the limit is a
 * pselect() that a stop signal cannot slip past, and server_close() ends
 * the children (SIGTERM, SIGKILL after a grace period) instead of waiting
 * for their clients to go.
 *
 * Usage: ./socketserver [-H ADDR] [-p PORT] [-m MAX]
 *        (defaults: 127.0.0.1, 9006, 40 children at most)
 *
 * See also: server.c (the same server written straight through),
 * ../07-threads/socketserver.c (ThreadingTCPServer), NOTES.md.
 * Seeds: 003 (socketserver, its classes and its call chain), 004 (a
 * process per connection).
 */
#define _POSIX_C_SOURCE 200809L

#include "echo_server.h"

#include <poll.h>
#include <sys/select.h>
#include <sys/wait.h>

#define DEFAULT_PORT "9006"
#define DEFAULT_MAX_WORKERS 40  /* ForkingMixIn.max_children */
#define POLL_INTERVAL_MS 500    /* serve_forever(poll_interval=0.5) */
#define STOP_GRACE_MS 800       /* then end the rest: the contract says exit within 1 s */

typedef pid_t worker_id;        /* a worker is a child process */

/* ---- BaseRequestHandler ------------------------------------------------ */

struct server;

/* One request handler instance: Python's `self` inside handle(). */
struct request {
    int request;                        /* self.request: the connected socket */
    const char *client_address;         /* self.client_address */
    struct server *server;              /* self.server */
    unsigned long long bytes_echoed;    /* this handler's own state */
};

/* The handler class: the three methods BaseRequestHandler.__init__ calls. */
struct request_handler_class {
    void (*setup)(struct request *self);
    void (*handle)(struct request *self);
    void (*finish)(struct request *self);
};

/* ---- BaseServer and TCPServer ------------------------------------------ */

struct server {
    int socket;                                     /* self.socket */
    const struct request_handler_class *handler_class;
    long max_workers;
};

static long max_workers = DEFAULT_MAX_WORKERS;

/* The socket that on_stop_signal() shuts down: the listening socket in
 * the server, the client's socket in lesson 06's children. */
static volatile sig_atomic_t socket_for_signal = -1;

/* The three methods the mix-in supplies, further down. Python finds them
 * in the mix-in class, first among the server's bases; C has no classes,
 * so each file is compiled with its one mix-in. */
static void process_request(struct server *self, int request, const char *client_address);
static void service_actions(struct server *self);
static void stop_workers(struct server *self);

/* server_init - TCPServer.__init__: server_bind() and server_activate() */
static void server_init(struct server *self, const char *host, const char *port,
                        const struct request_handler_class *handler_class)
{
    self->socket = open_listener(host, port);
    self->handler_class = handler_class;
    self->max_workers = max_workers;
}

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
        if (accept_trouble(errno))
            pause_briefly(100);             /* out of descriptors: do not spin */
        return -1;
    }
    last_errno = 0;
    format_addr((struct sockaddr *)&addr, len, client_address, size);
    return request;
}

/* finish_request - BaseServer.finish_request: instantiate the handler
 * class, which runs setup(), handle() and finish() */
static void finish_request(struct server *self, int request, const char *client_address)
{
    struct request handler = {request, client_address, self, 0};

    self->handler_class->setup(&handler);
    self->handler_class->handle(&handler);
    self->handler_class->finish(&handler);
}

/* shutdown_request - TCPServer.shutdown_request: say "no more" to the
 * client (shutdown SHUT_WR), then close the socket */
static void shutdown_request(int request)
{
    shutdown(request, SHUT_WR);             /* may fail if the peer is gone: fine */
    close(request);
}

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

/* ---- the mix-in: what both mix-ins share ---------------------------------
 *
 * A worker serves one request: a child process in lesson 06, a thread
 * in lesson 07. Both mix-ins keep this table of workers and the three
 * methods at the end of this section; they differ only in the block of
 * small functions in the middle: what guards the table, how a worker
 * starts, how it is asked to stop, and how its end is noticed. */

/* One slot per worker that may run at once. Touch the table only between
 * lock_workers() and unlock_workers(). */
struct worker {
    int busy;                           /* 0: a free slot */
    worker_id id;                       /* the worker's pid, or its thread */
    int request;                        /* the socket it serves (lesson 06's
                                         * parent has closed its own copy) */
    char client_address[ADDR_LEN];
    struct server *server;
};

static struct worker *workers;          /* max_workers slots */
static long active_count = 0;           /* busy slots */

/* add_worker - take a free slot for a new request (service_actions()
 * made sure there is one) */
static struct worker *add_worker(struct server *self, int request, const char *client_address)
{
    struct worker *worker = workers;

    while (worker->busy)
        worker++;
    worker->busy = 1;
    worker->request = request;
    snprintf(worker->client_address, sizeof worker->client_address, "%s", client_address);
    worker->server = self;
    active_count++;
    return worker;
}

/* remove_worker - free the slot of a worker that has ended */
static void remove_worker(struct worker *worker)
{
    worker->busy = 0;
    active_count--;
}

/* ---- ForkingMixIn: a worker is a child process -------------------------- */

static sigset_t wake_signals;           /* what may end a wait: SIGCHLD, SIGINT, SIGTERM */
static sigset_t unlocked_mask;          /* the signal mask before lock_workers() */

/* on_sigchld - a child has ended: nothing to do but interrupt a wait */
static void on_sigchld(int signo)
{
    (void)signo;
}

/* mixin_init - the table, and a handler for SIGCHLD, the kernel's word
 * that a child has ended (at its default, SIGCHLD is discarded and wakes
 * nobody; SA_NOCLDSTOP: a child stopped, not ended, frees no slot) */
static void mixin_init(void)
{
    struct sigaction sa;

    workers = calloc((size_t)max_workers, sizeof *workers);
    if (workers == NULL)
        die("calloc");
    sigemptyset(&wake_signals);
    sigaddset(&wake_signals, SIGCHLD);
    sigaddset(&wake_signals, SIGINT);
    sigaddset(&wake_signals, SIGTERM);
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_sigchld;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    if (sigaction(SIGCHLD, &sa, NULL) == -1)
        die("sigaction");
}

/* lock_workers - hold back SIGCHLD and the stop signals while the table
 * and stop_requested are tested: one arriving between a test and the
 * sleep after it would wake nobody; held back, it ends the sleep at once */
static void lock_workers(void)
{
    sigprocmask(SIG_BLOCK, &wake_signals, &unlocked_mask);
}

/* unlock_workers - let them in again */
static void unlock_workers(void)
{
    sigprocmask(SIG_SETMASK, &unlocked_mask, NULL);
}

/* wait_for_change - sleep until a signal comes (a child ended, or stop),
 * at most ms: pselect() lets the signals in and sleeps in one step */
static void wait_for_change(long ms)
{
    struct timespec timeout = {ms / 1000, (ms % 1000) * 1000000L};

    pselect(0, NULL, NULL, NULL, &timeout, &unlocked_mask);
}

/* forget_child - free the slot of the child pid, which has been reaped */
static void forget_child(pid_t pid)
{
    for (long i = 0; i < max_workers; i++)
        if (workers[i].busy && workers[i].id == pid)
            remove_worker(&workers[i]);
}

/* reap_workers - ForkingMixIn.collect_children: waitpid() each child that
 * has ended (a zombie until then), without waiting for the others */
static void reap_workers(void)
{
    pid_t pid;

    while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
        forget_child(pid);
}

/* serve_in_child - a child's whole life: serve the request, then exit */
static void serve_in_child(struct worker *worker, const sigset_t *old_mask)
{
    close(worker->server->socket);          /* a child never accepts */
    socket_for_signal = worker->request;    /* a stop signal now wakes its recv() */
    pthread_sigmask(SIG_SETMASK, old_mask, NULL);   /* a held stop arrives now */
    finish_request(worker->server, worker->request, worker->client_address);
    shutdown_request(worker->request);
    _exit(0);                               /* os._exit(0) */
}

/* start_worker - ForkingMixIn.process_request: fork() a child to serve
 * the request; the parent closes its copy of the socket. 0 if no worker
 * could start. */
static int start_worker(struct worker *worker, const sigset_t *old_mask)
{
    pid_t pid = fork();

    if (pid == -1) {                        /* EAGAIN or ENOMEM */
        warn("fork for %s", worker->client_address);
        return 0;
    }
    if (pid == 0)
        serve_in_child(worker, old_mask);
    worker->id = pid;
    close(worker->request);                 /* self.close_request(request) */
    return 1;
}

/* stop_worker - ask a child to stop: SIGTERM (its handler shuts down its
 * socket) */
static void stop_worker(struct worker *worker)
{
    kill(worker->id, SIGTERM);
}

/* end_stragglers - the children still there are stopped or deaf to
 * SIGTERM: SIGKILL them, and reap them */
static void end_stragglers(void)
{
    pid_t pid;

    for (long i = 0; i < max_workers; i++)
        if (workers[i].busy)
            kill(workers[i].id, SIGKILL);
    while (active_count > 0 && (pid = waitpid(-1, NULL, 0)) > 0)
        forget_child(pid);
}

/* process_request - ForkingMixIn/ThreadingMixIn.process_request: give the
 * request a worker of its own; the connection loop goes on at once */
static void process_request(struct server *self, int request, const char *client_address)
{
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
    lock_workers();
    worker = add_worker(self, request, client_address);
    started = start_worker(worker, &old_mask);
    if (!started) {                         /* out of processes or threads: */
        remove_worker(worker);              /* lose this client only */
        close(request);
    }
    unlock_workers();
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    if (!started)
        pause_briefly(100);                 /* and do not spin */
}

/* service_actions - BaseServer.service_actions, after every turn of the
 * connection loop: free the slots of workers that have ended; while all
 * are busy, wait for one to end (new clients wait in the listen backlog) */
static void service_actions(struct server *self)
{
    lock_workers();
    reap_workers();
    while (active_count >= self->max_workers && !stop_requested) {
        wait_for_change(100);
        reap_workers();
    }
    unlock_workers();
}

/* now_ms - milliseconds on a clock that never jumps (for deadlines) */
static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* stop_workers - server_close()'s part: ask every worker to stop, wait
 * for them (STOP_GRACE_MS at most, on the clock), then end the rest */
static void stop_workers(struct server *self)
{
    long long deadline = now_ms() + STOP_GRACE_MS;

    lock_workers();
    for (long i = 0; i < self->max_workers; i++)
        if (workers[i].busy)
            stop_worker(&workers[i]);
    reap_workers();
    while (active_count > 0 && now_ms() < deadline) {
        wait_for_change((long)(deadline - now_ms()));
        reap_workers();
    }
    if (active_count > 0)
        end_stragglers();
    unlock_workers();
}

/* ---- the user's part: a request handler -------------------------------- */

/* echo_setup - EchoHandler.setup: runs before handle() */
static void echo_setup(struct request *self)
{
    note("connection from %s, served by process %ld", self->client_address, (long)getpid());
}

/* echo_handle - EchoHandler.handle: the communication loop of seed 003's
 * FTPserver.handle, recv then send(data.upper()) until end of file */
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
            if (!stop_requested)            /* not our own shutdown() on SIGTERM */
                warn("recv from %s", self->client_address);
            return;
        }
        upper_bytes(buf, (size_t)n);
        if (send_all(self->request, buf, (size_t)n) == -1) {
            if (!stop_requested)
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

static const struct request_handler_class echo_handler = {echo_setup, echo_handle, echo_finish};

/* ---- the program ---------------------------------------------------------- */

/* on_stop_signal - SIGINT/SIGTERM: set the flag, and shutdown() the
 * socket the process may be asleep on, so that the sleep ends at once even
 * if the signal came just before it began: the server's poll() on the
 * listening socket, or a child's recv() or send() on its client's */
static void on_stop_signal(int signo)
{
    int saved_errno = errno;

    (void)signo;
    stop_requested = 1;
    if (socket_for_signal >= 0)
        shutdown(socket_for_signal, SHUT_RDWR);
    errno = saved_errno;
}

/* install_signals - stop on SIGINT/SIGTERM; never die of SIGPIPE; let
 * SIGCHLD in (used by lesson 06's mix-in) */
static void install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = 0;        /* no SA_RESTART: let blocked calls see EINTR */
    if (sigaction(SIGINT, &sa, NULL) == -1 || sigaction(SIGTERM, &sa, NULL) == -1)
        die("sigaction");
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL) == -1)
        die("sigaction");

    /* The signal mask survives exec(): unblock what we rely on, in case
     * whoever started us had blocked it. */
    sigaddset(&sa.sa_mask, SIGCHLD);
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGTERM);
    if (sigprocmask(SIG_UNBLOCK, &sa.sa_mask, NULL) == -1)
        die("sigprocmask");
}

/* usage - print the command line; exit with status */
static void usage(FILE *out, int status)
{
    fprintf(out,
            "Usage: %s [-H ADDR] [-p PORT] [-m MAX]\n"
            "  -H ADDR   address to listen on (default 127.0.0.1)\n"
            "  -p PORT   port to listen on, 0 = any free port (default %s)\n"
            "  -m MAX    at most MAX clients served at once (default %d)\n"
            "  -h, --help  show this help\n",
            prog_name, DEFAULT_PORT, DEFAULT_MAX_WORKERS);
    exit(status);
}

int main(int argc, char *argv[])
{
    const char *host = "127.0.0.1", *port = DEFAULT_PORT;
    /* static: a worker reaches it through its server pointer, and a thread
     * still running when main returns must not read a dead stack frame */
    static struct server server;

    prog_name = "socketserver";
    parse_args(argc, argv, &host, &port, &max_workers, usage);
    install_signals();
    mixin_init();

    /* server = ForkingTCPServer((host, port), EchoHandler) */
    server_init(&server, host, port, &echo_handler);
    socket_for_signal = server.socket;
    print_ready_line(server.socket);
    serve_forever(&server);
    note("stopping");
    socket_for_signal = -1;                 /* a second signal must not touch it */
    server_close(&server);
    return 0;
}
