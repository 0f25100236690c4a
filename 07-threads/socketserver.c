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
 *            -> process_request()          the mix-in: here, a new thread
 *                 (in the thread: process_request_thread)
 *                 -> finish_request()      BaseServer: make the handler
 *                      -> setup(), handle(), finish()   the handler's methods
 *                 -> shutdown_request()    TCPServer: shutdown + close
 *       -> service_actions()               the mix-in: wait while at the limit
 *
 * A "class" is a struct of function pointers; "self" is a pointer to a
 * struct. The mix-in is a struct of three functions (process_request,
 * service_actions, server_close). This file is lesson 06's socketserver.c
 * with this threading mix-in in place of the forking one: diff the two.
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

#include <getopt.h>
#include <poll.h>
#include <pthread.h>

#define DEFAULT_PORT "9007"
#define DEFAULT_MAX_WORKERS 40  /* (ThreadingMixIn has no limit) */
#define POLL_INTERVAL_MS 500    /* serve_forever(poll_interval=0.5) */
#define STOP_GRACE_MS 800       /* the contract says exit within 1 s */

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

/* A mix-in supplies how a request gets a worker of its own. */
struct mixin {
    void (*process_request)(struct server *self, int request, const char *client_address);
    void (*service_actions)(struct server *self);
    void (*server_close)(struct server *self);
};

struct server {
    int socket;                                     /* self.socket */
    const struct request_handler_class *handler_class;
    const struct mixin *mixin;
    long max_workers;
};

static long max_workers = DEFAULT_MAX_WORKERS;
static volatile sig_atomic_t listen_fd_for_signal = -1;  /* for on_stop_signal */

/* server_init - TCPServer.__init__: server_bind() and server_activate() */
static void server_init(struct server *self, const char *host, const char *port,
                        const struct request_handler_class *handler_class,
                        const struct mixin *mixin)
{
    self->socket = open_listener(host, port);
    self->handler_class = handler_class;
    self->mixin = mixin;
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
    self->mixin->process_request(self, request, client_address);
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
        self->mixin->service_actions(self);
    }
}

/* server_close - BaseServer.server_close: close the listening socket and
 * let the mix-in end its workers */
static void server_close(struct server *self)
{
    close(self->socket);
    self->mixin->server_close(self);
}

/* ---- ThreadingMixIn ---------------------------------------------------- */

/* The requests being served, shared by all threads: touch them only while
 * holding active_lock. A free slot holds -1. */
static int *active_requests;
static long active_count = 0;
static pthread_mutex_t active_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t active_changed = PTHREAD_COND_INITIALIZER;

/* What a request's thread is given; it frees it when done. */
struct thread_args {
    struct server *server;
    int request;
    long slot;
    char client_address[ADDR_LEN];
};

/* deadline_in - the CLOCK_REALTIME time ms milliseconds from now, the
 * form pthread_cond_timedwait() wants */
static struct timespec deadline_in(long ms)
{
    struct timespec deadline;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_nsec += ms * 1000000L;
    deadline.tv_sec += deadline.tv_nsec / 1000000000L;
    deadline.tv_nsec %= 1000000000L;
    return deadline;
}

/* wait_a_while - wait on active_changed (active_lock held) for at most ms:
 * a signal handler cannot signal a condition variable, so a wait that must
 * notice stop_requested is bounded */
static void wait_a_while(long ms)
{
    struct timespec deadline = deadline_in(ms);

    pthread_cond_timedwait(&active_changed, &active_lock, &deadline);
}

/* process_request_thread - ThreadingMixIn.process_request_thread: run
 * finish_request(), then shutdown_request(), in the new thread */
static void *process_request_thread(void *arg)
{
    struct thread_args *args = arg;

    finish_request(args->server, args->request, args->client_address);
    pthread_mutex_lock(&active_lock);       /* leave the table before close() */
    active_requests[args->slot] = -1;
    pthread_mutex_unlock(&active_lock);
    shutdown_request(args->request);
    free(args);
    pthread_mutex_lock(&active_lock);
    active_count--;
    pthread_cond_broadcast(&active_changed);
    pthread_mutex_unlock(&active_lock);
    return NULL;
}

/* threading_process_request - ThreadingMixIn.process_request: start a
 * detached thread for the request; the main thread goes on */
static void threading_process_request(struct server *self, int request, const char *client_address)
{
    struct thread_args *args = malloc(sizeof *args);
    sigset_t stop_signals, old_mask;
    pthread_attr_t attr;
    pthread_t tid;
    int rc;

    if (args == NULL) {
        warn("malloc for %s", client_address);
        close(request);
        return;
    }
    *args = (struct thread_args){self, request, 0, ""};
    snprintf(args->client_address, sizeof args->client_address, "%s", client_address);
    pthread_mutex_lock(&active_lock);       /* service_actions() left a free slot */
    while (active_requests[args->slot] != -1)
        args->slot++;
    active_requests[args->slot] = request;
    active_count++;
    pthread_mutex_unlock(&active_lock);

    /* Only the main thread takes SIGINT/SIGTERM: the new thread inherits
     * this mask. */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, &old_mask);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&tid, &attr, process_request_thread, args);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    if (rc != 0) {                          /* EAGAIN: lose this client only */
        errno = rc;
        warn("pthread_create for %s", client_address);
        pthread_mutex_lock(&active_lock);
        active_requests[args->slot] = -1;
        active_count--;
        pthread_mutex_unlock(&active_lock);
        close(request);
        free(args);
        pause_briefly(100);
    }
}

/* threading_service_actions - while at the limit, wait for a thread to end */
static void threading_service_actions(struct server *self)
{
    pthread_mutex_lock(&active_lock);
    while (active_count >= self->max_workers && !stop_requested)
        wait_a_while(100);
    pthread_mutex_unlock(&active_lock);
}

/* threading_server_close - wake every thread with shutdown() on its
 * request, wait (at most STOP_GRACE_MS) until all have ended */
static void threading_server_close(struct server *self)
{
    struct timespec deadline = deadline_in(STOP_GRACE_MS);

    (void)self;
    pthread_mutex_lock(&active_lock);
    for (long i = 0; i < max_workers; i++)
        if (active_requests[i] != -1)
            shutdown(active_requests[i], SHUT_RDWR);
    /* One deadline for the whole wait: every ending thread wakes us, so a
     * budget counted in wake-ups would run out long before the time. */
    while (active_count > 0)
        if (pthread_cond_timedwait(&active_changed, &active_lock, &deadline) == ETIMEDOUT)
            break;
    if (active_count > 0)
        note("%ld threads did not end in time", active_count);
    pthread_mutex_unlock(&active_lock);
}

static const struct mixin threading_mixin = {
    threading_process_request, threading_service_actions, threading_server_close};

/* mixin_init - allocate what the mix-in keeps per worker */
static void mixin_init(void)
{
    active_requests = malloc((size_t)max_workers * sizeof *active_requests);
    if (active_requests == NULL)
        die("malloc");
    for (long i = 0; i < max_workers; i++)
        active_requests[i] = -1;
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

/* on_stop_signal - SIGINT/SIGTERM in the server: set the flag, and
 * shutdown() the listening socket so that serve_forever's poll() returns
 * at once even if the signal came just before poll() was called */
static void on_stop_signal(int signo)
{
    int saved_errno = errno;

    (void)signo;
    stop_requested = 1;
    if (listen_fd_for_signal >= 0)
        shutdown(listen_fd_for_signal, SHUT_RDWR);
    errno = saved_errno;
}

/* install_signals - stop on SIGINT/SIGTERM; never die of SIGPIPE */
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

/* parse_args - the options into host, port and max_workers; exit 2 on a
 * bad one */
static void parse_args(int argc, char *argv[], const char **host, const char **port)
{
    static const struct option long_options[] = {
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    char *end;
    int opt;

    while ((opt = getopt_long(argc, argv, "H:p:m:h", long_options, NULL)) != -1) {
        switch (opt) {
        case 'H': *host = optarg; break;
        case 'p': *port = optarg; break;
        case 'm':
            max_workers = strtol(optarg, &end, 10);
            if (*end != '\0' || end == optarg || max_workers < 1 || max_workers > 100000) {
                fprintf(stderr, "%s: bad -m '%s' (1 to 100000)\n", prog_name, optarg);
                usage(stderr, 2);
            }
            break;
        case 'h': usage(stdout, 0); break;
        default: usage(stderr, 2);          /* getopt printed the reason */
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", prog_name, argv[optind]);
        usage(stderr, 2);
    }
    check_port(*port, usage);
}

int main(int argc, char *argv[])
{
    const char *host = "127.0.0.1", *port = DEFAULT_PORT;
    /* static: the threads reach it through self->server, and one still
     * running when main returns must not read a dead stack frame */
    static struct server server;

    prog_name = "socketserver";
    parse_args(argc, argv, &host, &port);
    install_signals();
    mixin_init();

    /* server = ThreadingTCPServer((host, port), EchoHandler) */
    server_init(&server, host, port, &echo_handler, &threading_mixin);
    listen_fd_for_signal = server.socket;
    print_ready_line(server.socket);
    serve_forever(&server);
    note("stopping");
    listen_fd_for_signal = -1;              /* a second signal must not touch it */
    server_close(&server);
    return 0;
}
