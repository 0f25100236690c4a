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
 *            -> process_request()          the mix-in: here, fork()
 *                 (in the child)
 *                 -> finish_request()      BaseServer: make the handler
 *                      -> setup(), handle(), finish()   the handler's methods
 *                 -> shutdown_request()    TCPServer: shutdown + close
 *       -> service_actions()               the mix-in: reap ended children
 *
 * A "class" is a struct of function pointers; "self" is a pointer to a
 * struct. The mix-in is a struct of three functions (process_request,
 * service_actions, server_close). Lesson 07's socketserver.c is this file
 * with a threading mix-in in place of the forking one: diff the two.
 *
 * Like Python's ForkingMixIn it reaps children in service_actions() on
 * every turn of the loop (serve_forever wakes at least every 0.5 s), not
 * in a SIGCHLD handler as server.c does, and it keeps at most max_children
 * (Python: 40) by waiting for one to end. Unlike Python's, its SIGCHLD
 * handler (which does nothing) makes a child's end wake the loop at once,
 * the wait at the limit is a sigsuspend() that a stop signal cannot slip
 * past, and server_close() ends the children (SIGTERM) instead of waiting
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

#include <getopt.h>
#include <poll.h>
#include <sys/wait.h>

#define DEFAULT_PORT "9006"
#define DEFAULT_MAX_WORKERS 40  /* ForkingMixIn.max_children */
#define POLL_INTERVAL_MS 500    /* serve_forever(poll_interval=0.5) */
#define STOP_GRACE_MS 800       /* then SIGKILL: the contract says exit within 1 s */

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

/* ---- ForkingMixIn ------------------------------------------------------- */

static pid_t *active_children;          /* ForkingMixIn.active_children; 0 = free */
static long active_count = 0;
static volatile sig_atomic_t request_for_signal = -1;  /* in a child: its socket */

/* on_child_stop - a child's SIGTERM handler: stop, and wake the recv() or
 * send() this child may be asleep in */
static void on_child_stop(int signo)
{
    int saved_errno = errno;

    (void)signo;
    stop_requested = 1;
    if (request_for_signal >= 0)
        shutdown(request_for_signal, SHUT_RDWR);
    errno = saved_errno;
}

/* forget_child - ForkingMixIn's active_children.discard(pid) */
static void forget_child(pid_t pid)
{
    for (long i = 0; i < max_workers; i++)
        if (active_children[i] == pid) {
            active_children[i] = 0;
            active_count--;
            return;
        }
}

/* on_sigchld - does nothing but interrupt: it lets a child's end wake the
 * sigsuspend() in collect_children() and the poll() in serve_forever()
 * (left at its default, SIGCHLD would be discarded and wake nobody). The
 * reaping itself stays in collect_children(), as in Python. */
static void on_sigchld(int signo)
{
    (void)signo;
}

/* collect_children - ForkingMixIn.collect_children: reap the children that
 * have ended; while at the limit, sleep until one ends
 *
 * Python sleeps in os.waitpid(-1, 0) here. In C that would be a race: a
 * SIGTERM landing after the test of stop_requested but before waitpid()
 * would leave the server asleep until some client chose to leave. So the
 * signals that can end the wait are blocked while we test, and
 * sigsuspend() unblocks them and sleeps in one step. */
static void collect_children(struct server *self, int blocking)
{
    sigset_t wake_signals, old_mask;
    pid_t pid;

    sigemptyset(&wake_signals);
    sigaddset(&wake_signals, SIGCHLD);
    sigaddset(&wake_signals, SIGINT);
    sigaddset(&wake_signals, SIGTERM);
    sigprocmask(SIG_BLOCK, &wake_signals, &old_mask);
    while (active_count >= self->max_workers && !stop_requested) {
        pid = waitpid(-1, NULL, WNOHANG);
        if (pid > 0)
            forget_child(pid);
        else if (pid == -1)
            break;                          /* ECHILD: none left */
        else
            sigsuspend(&old_mask);          /* wakes on SIGCHLD, SIGINT, SIGTERM */
    }
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    while ((pid = waitpid(-1, NULL, blocking ? 0 : WNOHANG)) > 0)
        forget_child(pid);
}

/* forking_process_request - ForkingMixIn.process_request: fork; the child
 * runs finish_request() and exits, the parent closes its copy */
static void forking_process_request(struct server *self, int request, const char *client_address)
{
    struct sigaction sa;
    sigset_t stop_signals, old_mask;
    pid_t pid;

    /* Hold SIGINT/SIGTERM until the child has its own handler: the
     * server's handler would shut down the listening socket, which the
     * child shares with the parent until it closes its copy. */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    sigprocmask(SIG_BLOCK, &stop_signals, &old_mask);
    pid = fork();
    if (pid != 0)
        sigprocmask(SIG_SETMASK, &old_mask, NULL);
    if (pid == -1) {                        /* EAGAIN or ENOMEM: lose this client only */
        warn("fork for %s", client_address);
        close(request);
        pause_briefly(100);
        return;
    }
    if (pid > 0) {                          /* parent */
        for (long i = 0; i < max_workers; i++)
            if (active_children[i] == 0) {
                active_children[i] = pid;
                active_count++;
                break;
            }
        close(request);                     /* self.close_request(request) */
        return;
    }
    /* child: it never accepts, so it drops the listening socket */
    listen_fd_for_signal = -1;
    close(self->socket);
    request_for_signal = request;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_child_stop;
    if (sigaction(SIGTERM, &sa, NULL) == -1 || sigaction(SIGINT, &sa, NULL) == -1)
        die("sigaction");
    sigprocmask(SIG_SETMASK, &old_mask, NULL);  /* a held stop arrives now */
    finish_request(self, request, client_address);
    shutdown_request(request);
    _exit(0);                               /* os._exit(status) */
}

/* forking_service_actions - ForkingMixIn.service_actions */
static void forking_service_actions(struct server *self)
{
    collect_children(self, 0);
}

/* forking_server_close - SIGTERM every child, reap them all (SIGKILL after
 * STOP_GRACE_MS) */
static void forking_server_close(struct server *self)
{
    long long start_ms = now_ms();
    int killed = 0;

    (void)self;
    for (long i = 0; i < max_workers; i++)
        if (active_children[i] != 0)
            kill(active_children[i], SIGTERM);
    /* The grace period is measured on the clock, not in turns of the
     * loop: a turn that reaps a child takes no time at all. */
    while (active_count > 0) {
        pid_t pid = waitpid(-1, NULL, WNOHANG);

        if (pid > 0) {
            forget_child(pid);
            continue;
        }
        if (pid == -1)
            break;                          /* ECHILD: none left */
        if (!killed && now_ms() - start_ms >= STOP_GRACE_MS) {
            for (long i = 0; i < max_workers; i++)
                if (active_children[i] != 0)
                    kill(active_children[i], SIGKILL);   /* stopped, or deaf to SIGTERM */
            killed = 1;
        }
        pause_briefly(10);
    }
    free(active_children);
}

static const struct mixin forking_mixin = {
    forking_process_request, forking_service_actions, forking_server_close};

/* mixin_init - allocate what the mix-in keeps per worker */
static void mixin_init(void)
{
    active_children = calloc((size_t)max_workers, sizeof *active_children);
    if (active_children == NULL)
        die("calloc");
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

/* install_signals - stop on SIGINT/SIGTERM; wake on SIGCHLD; never die of
 * SIGPIPE */
static void install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = 0;        /* no SA_RESTART: let blocked calls see EINTR */
    if (sigaction(SIGINT, &sa, NULL) == -1 || sigaction(SIGTERM, &sa, NULL) == -1)
        die("sigaction");
    /* SA_NOCLDSTOP: a child stopped (not ended) frees no slot. */
    sa.sa_handler = on_sigchld;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    if (sigaction(SIGCHLD, &sa, NULL) == -1)
        die("sigaction");
    sa.sa_handler = SIG_IGN;
    sa.sa_flags = 0;
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
    struct server server;

    prog_name = "socketserver";
    parse_args(argc, argv, &host, &port);
    install_signals();
    mixin_init();

    /* server = ForkingTCPServer((host, port), EchoHandler) */
    server_init(&server, host, port, &echo_handler, &forking_mixin);
    listen_fd_for_signal = server.socket;
    print_ready_line(server.socket);
    serve_forever(&server);
    note("stopping");
    server_close(&server);
    return 0;
}
