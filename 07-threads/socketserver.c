/* socketserver.c - the threaded echo server again, in the shape of Python's
 * socketserver.ThreadingTCPServer
 *
 * Seed 003 reads the socketserver module and finds two kinds of class: a
 * server class that owns the connection loop and a request-handler class
 * that owns the communication loop. The user writes only the handler (its
 * handle() method); the server is assembled from parts:
 *
 *     ThreadingTCPServer = ThreadingMixIn + TCPServer (+ BaseServer)
 *
 * This file builds the same parts in C, with the same names, so that the
 * seed's call chain can be followed line by line:
 *
 *     serve_forever()                      BaseServer: the connection loop
 *       -> handle_request_noblock()
 *            -> get_request()              TCPServer: accept()
 *            -> process_request()          the mix-in: start_worker(), a thread
 *                 (in the thread: process_request_thread)
 *                 -> finish_request()      BaseServer: make the handler
 *                      -> setup(), handle(), finish()   the handler's methods
 *                 -> shutdown_request()    TCPServer: shutdown + close
 *       -> service_actions()               the mix-in: wait while at the limit
 *     server_close()                       BaseServer, then the mix-in's
 *       -> stop_workers()                  stop_worker(): shutdown()
 *
 * A "class" is a struct of function pointers; "self" is a pointer to a
 * struct. C has no inheritance, so the mix-in is a section of this file:
 * a table of workers and the methods process_request, service_actions and
 * stop_workers, the same in lessons 06 and 07, built on a few small
 * functions that say what a worker is. This file is lesson 06's
 * socketserver.c with those functions written for threads: diff the two,
 * and what shows is the difference between a process and a thread.
 *
 * Python's ThreadingMixIn starts a thread per request and, at
 * server_close(), joins them all (block_on_close). Here the threads are
 * detached and counted instead, at most max_workers of them run at once
 * (Python sets no limit), and server_close() first wakes every thread
 * with shutdown() on its socket so that none stays asleep in recv().
 *
 * Usage: ./socketserver [-H ADDR] [-p PORT] [-m MAX]
 *        (defaults: 127.0.0.1, 9007, 40 threads at most)
 *
 * See also: server.c (the same server written straight through),
 * ../06-processes/socketserver.c (ForkingTCPServer), NOTES.md.
 * Seeds: 003 (socketserver, ThreadingTCPServer and its call chain), 004
 * (a thread per connection).
 */
#define _POSIX_C_SOURCE 200809L

#include "echo_server.h"

#include <poll.h>
#include <pthread.h>

#define DEFAULT_PORT "9007"
#define DEFAULT_MAX_WORKERS 40  /* (ThreadingMixIn has no limit) */
#define POLL_INTERVAL_MS 500    /* serve_forever(poll_interval=0.5) */
#define STOP_GRACE_MS 800       /* then end the rest: the contract says exit within 1 s */

typedef pthread_t worker_id;    /* a worker is a thread */

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

/* ---- ThreadingMixIn: a worker is a thread ------------------------------- */

static pthread_mutex_t workers_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t worker_ended;     /* set up in mixin_init() */

/* mixin_init - the table, and the condition variable a thread signals
 * as it ends (its end sends no signal, and a detached thread leaves
 * nothing behind to collect). Its timed waits read CLOCK_MONOTONIC: by
 * default they read the wall clock, and a clock set back while the main
 * thread waits would stretch the wait by as much, deaf to a stop. */
static void mixin_init(void)
{
    pthread_condattr_t attr;
    int rc;

    workers = calloc((size_t)max_workers, sizeof *workers);
    if (workers == NULL)
        die("calloc");
    if ((rc = pthread_condattr_init(&attr)) != 0
        || (rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)) != 0
        || (rc = pthread_cond_init(&worker_ended, &attr)) != 0) {
        errno = rc;
        die("pthread_cond_init");
    }
    pthread_condattr_destroy(&attr);
}

/* lock_workers - lock the table's mutex: the threads write it as they end */
static void lock_workers(void)
{
    pthread_mutex_lock(&workers_lock);
}

/* unlock_workers - unlock it */
static void unlock_workers(void)
{
    pthread_mutex_unlock(&workers_lock);
}

/* wait_for_change - sleep until a thread ends, at most ms:
 * pthread_cond_timedwait() unlocks the mutex and sleeps in one step.
 * (Bounded because a signal handler cannot signal a condition variable.) */
static void wait_for_change(long ms)
{
    struct timespec deadline;

    clock_gettime(CLOCK_MONOTONIC, &deadline);  /* the clock worker_ended reads */
    deadline.tv_sec += ms / 1000;
    deadline.tv_nsec += (ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&worker_ended, &workers_lock, &deadline);
}

/* reap_workers - nothing to collect: each thread frees its own slot */
static void reap_workers(void)
{
}

/* process_request_thread - ThreadingMixIn.process_request_thread: a
 * thread's whole life: serve the request, free the slot, close the socket
 * (in that order: a closed descriptor's number is reused by the next
 * accept(), and stop_worker() must not shut down a stranger's socket) */
static void *process_request_thread(void *arg)
{
    struct worker *worker = arg;
    int request = worker->request;

    finish_request(worker->server, request, worker->client_address);
    lock_workers();
    remove_worker(worker);
    pthread_cond_broadcast(&worker_ended);
    unlock_workers();
    shutdown_request(request);
    return NULL;
}

/* start_worker - ThreadingMixIn.process_request: start a detached thread
 * to serve the request. 0 if no worker could start. */
static int start_worker(struct worker *worker, const sigset_t *old_mask)
{
    pthread_attr_t attr;
    int rc;

    (void)old_mask;                         /* the thread keeps stop signals blocked */
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&worker->id, &attr, process_request_thread, worker);
    pthread_attr_destroy(&attr);
    if (rc != 0) {                          /* EAGAIN */
        errno = rc;
        warn("pthread_create for %s", worker->client_address);
        return 0;
    }
    return 1;
}

/* stop_worker - ask a thread to stop: shutdown() its socket, which wakes
 * the recv() or send() it sleeps in (a SIGTERM would go to the process) */
static void stop_worker(struct worker *worker)
{
    shutdown(worker->request, SHUT_RDWR);
}

/* end_stragglers - a thread cannot safely be killed alone (pthread_cancel
 * would leave its locks and memory behind): the ones still running end
 * with the process when main() returns */
static void end_stragglers(void)
{
    note("%ld threads did not end in time", active_count);
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
    note("connection from %s, served by a thread", self->client_address);
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
            warn("recv from %s", self->client_address);
            return;
        }
        upper_bytes(buf, (size_t)n);
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

    /* server = ThreadingTCPServer((host, port), EchoHandler) */
    server_init(&server, host, port, &echo_handler);
    socket_for_signal = server.socket;
    print_ready_line(server.socket);
    serve_forever(&server);
    note("stopping");
    socket_for_signal = -1;                 /* a second signal must not touch it */
    server_close(&server);
    return 0;
}
