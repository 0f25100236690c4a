/* server.c - an echo-upper server whose connections are served by a
 * fixed pool of workers: threads or pre-forked processes
 *
 * Lessons 06 and 07 start a new process or thread for every client: the
 * cost of starting it is paid on every connection, and a thousand clients
 * mean a thousand workers. A pool starts N workers once, and N is all the
 * server will ever use, whatever arrives. That bound is the point of the
 * seeds' pools ("use the machine as much as is safe"), and its price is
 * visible too: with N workers busy, client N+1 waits.
 *
 * The two modes differ in where a worker gets its next connection (UNP
 * chapter 30 measures both designs):
 *
 *   --pool threads    the main thread accepts, and submits each connection
 *                     to a thread pool; at most WAITING_MAX accepted
 *                     connections wait in the pool's queue, then submit
 *                     blocks and the rest wait in the kernel's backlog.
 *   --pool processes  the pool's N processes are forked before any client
 *                     comes; each one runs an accept loop on the listening
 *                     socket it inherited, so the kernel hands each new
 *                     connection to one waiting worker. The backlog is the
 *                     queue. The parent only waits.
 *
 * SIGINT/SIGTERM: the handler shuts down the listening socket (so every
 * accept() returns), shuts down every connection being served (so every
 * worker blocked in recv() or send() returns), and, in the parent of a
 * process pool, sends SIGTERM to each worker. Then the pool shuts down,
 * waits for every worker, and the server exits 0.
 *
 * Usage: ./server [-H ADDR] [-p PORT] [--pool threads|processes] [-w N]
 *        (defaults: 127.0.0.1, 9009, threads, N as in Python: threads
 *        min(32, cpus + 4), processes cpus)
 *
 * See also: pool.h (the pools), client.c, futures.c, NOTES.md.
 * Seeds: 004 (why pools; thread and process pools), 003 (the connection
 * loop and the communication loop).
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "pool.h"

#define DEFAULT_PORT "9009"
#define BACKLOG 128         /* connections the kernel queues before accept() */
#define WAITING_MAX 16      /* thread mode: accepted, waiting for a free worker */
#define MAX_WORKERS 256
#define BUF_SIZE 4096
#define ADDR_LEN (INET6_ADDRSTRLEN + 8)  /* "host:port" as text */

/* The handler reads these while other threads change them: each must be
 * a lock-free atomic (safe in a handler AND between threads; a volatile
 * sig_atomic_t is only the first). */
#if ATOMIC_INT_LOCK_FREE != 2 || ATOMIC_POINTER_LOCK_FREE != 2
#error "this server needs lock-free atomic int and pointer"
#endif

static const char *prog_name = "server";

static atomic_int stop_requested = 0;
static atomic_int listen_fd_for_signal = -1;
static atomic_int active_fds[MAX_WORKERS];      /* connections being served */
static _Atomic(struct pool *) pool_for_signal = NULL;

/* What the thread mode submits for one connection: copied into the pool. */
struct conn_job {
    int conn_fd;
    char peer[ADDR_LEN];
};

/* log_line - one whole line on stderr: "server: message[: reason]"
 * Built first and written with one fprintf (one write() on unbuffered
 * stderr), so lines from several threads or worker processes never
 * interleave mid-line. */
static void log_line(int errnum, const char *fmt, va_list ap)
{
    char msg[512];

    vsnprintf(msg, sizeof msg, fmt, ap);
    if (errnum != 0)
        fprintf(stderr, "%s: %s: %s\n", prog_name, msg, strerror(errnum));
    else
        fprintf(stderr, "%s: %s\n", prog_name, msg);
}

/* die - report a setup failure with the reason from errno, exit 1 */
static void die(const char *fmt, ...)
{
    int saved_errno = errno;
    va_list ap;

    va_start(ap, fmt);
    log_line(saved_errno, fmt, ap);
    va_end(ap);
    exit(1);
}

/* warn - report one connection's trouble with the reason from errno */
static void warn(const char *fmt, ...)
{
    int saved_errno = errno;
    va_list ap;

    va_start(ap, fmt);
    log_line(saved_errno, fmt, ap);
    va_end(ap);
}

/* note - one line on stderr about an event (a client came, a client left) */
static void note(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_line(0, fmt, ap);
    va_end(ap);
}

/* usage - print the command line; exit with status */
static void usage(FILE *out, int status)
{
    fprintf(out,
            "Usage: %s [-H ADDR] [-p PORT] [--pool threads|processes] [-w N]\n"
            "  -H ADDR     address to listen on (default 127.0.0.1)\n"
            "  -p PORT     port to listen on, 0 = any free port (default %s)\n"
            "  --pool KIND threads: the main thread accepts, a thread pool serves\n"
            "              processes: pre-forked workers, each accepting (default threads)\n"
            "  -w N        workers, 1-%d (default as Python: threads min(32, cpus + 4) = %d,\n"
            "              processes cpus = %d)\n"
            "  -h, --help  show this help\n",
            prog_name, DEFAULT_PORT, MAX_WORKERS, pool_default_threads(),
            pool_default_processes());
    exit(status);
}

/* on_stop_signal - SIGINT/SIGTERM: set the flag and wake every blocked call
 *
 * shutdown() and kill() are async-signal-safe. Shutting a socket down
 * makes a blocked (or later) accept(), recv() or send() on it return at
 * once, whichever thread or process is blocked in it. */
static void on_stop_signal(int signo)
{
    int saved_errno = errno, fd;
    struct pool *pool;

    (void)signo;
    stop_requested = 1;
    fd = listen_fd_for_signal;
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
    for (int i = 0; i < MAX_WORKERS; i++) {
        fd = active_fds[i];
        if (fd >= 0)
            shutdown(fd, SHUT_RDWR);
    }
    pool = pool_for_signal;
    if (pool != NULL)
        pool_terminate_workers(pool);
    errno = saved_errno;
}

/* install_signals - stop on SIGINT/SIGTERM; never die of SIGPIPE */
static void install_signals(void)
{
    struct sigaction sa;

    for (int i = 0; i < MAX_WORKERS; i++)
        active_fds[i] = -1;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;        /* no SA_RESTART: let blocked calls see EINTR */
    if (sigaction(SIGINT, &sa, NULL) == -1 || sigaction(SIGTERM, &sa, NULL) == -1)
        die("sigaction");

    /* Writing to a peer that has gone raises SIGPIPE, which kills by
     * default; ignored, send() fails with EPIPE and we close that one
     * connection instead. */
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL) == -1)
        die("sigaction");
}

/* format_addr - "host:port" of a socket address, into buf */
static void format_addr(const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
    char host[INET6_ADDRSTRLEN], port[8];

    if (getnameinfo(sa, len, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        snprintf(buf, size, "?:?");
    else
        snprintf(buf, size, "%s:%s", host, port);
}

/* open_listener - socket, SO_REUSEADDR, bind, listen; exit 1 on failure */
static int open_listener(const char *host, const char *port)
{
    struct addrinfo hints, *res;
    int listen_fd, one = 1, rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "%s: bad address %s:%s: %s\n", prog_name, host, port,
                gai_strerror(rc));
        exit(1);
    }

    listen_fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (listen_fd == -1)
        die("socket");

    /* Without SO_REUSEADDR a restarted server could not bind while the
     * connections of its previous run sit in TIME_WAIT. */
    if (setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1)
        die("setsockopt SO_REUSEADDR");

    if (bind(listen_fd, res->ai_addr, res->ai_addrlen) == -1)
        die("bind %s:%s", host, port);
    freeaddrinfo(res);

    if (listen(listen_fd, BACKLOG) == -1)
        die("listen");
    return listen_fd;
}

/* print_ready_line - "listening on ADDR:PORT" on stdout, with the real port */
static void print_ready_line(int listen_fd)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    char where[ADDR_LEN];

    if (getsockname(listen_fd, (struct sockaddr *)&addr, &len) == -1)
        die("getsockname");
    format_addr((struct sockaddr *)&addr, len, where, sizeof where);
    printf("listening on %s\n", where);
    fflush(stdout);
}

/* upper_bytes - ASCII a-z to A-Z in place, every other byte unchanged
 * (not toupper(), whose answer depends on the locale) */
static void upper_bytes(char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i] >= 'a' && buf[i] <= 'z')
            buf[i] = (char)(buf[i] - 'a' + 'A');
}

/* send_all - send every byte of buf, looping over partial sends and EINTR;
 * 0 on success, -1 with errno set */
static int send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

        if (n == -1) {
            if (errno == EINTR && !stop_requested)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* pause_briefly - sleep one second (a signal cuts it short) */
static void pause_briefly(void)
{
    struct timespec one_second = {1, 0};

    nanosleep(&one_second, NULL);
}

/* accept_client - accept one connection and name its peer; -1 if none
 * (interrupted, aborted, or an error already reported) */
static int accept_client(int listen_fd, char *peer, size_t peer_size)
{
    struct sockaddr_storage peer_addr;
    socklen_t peer_len = sizeof peer_addr;
    int conn_fd = accept(listen_fd, (struct sockaddr *)&peer_addr, &peer_len);

    if (conn_fd == -1) {
        if (stop_requested || errno == EINTR || errno == ECONNABORTED)
            return -1;
        if (errno == EINVAL) {
            /* The listening socket was shut down: the server is stopping
             * (in a worker process, the parent's handler did it). */
            stop_requested = 1;
            return -1;
        }
        warn("accept");
        /* Out of descriptors (EMFILE, ENFILE) or memory: accept() would
         * fail again at once, so pause instead of spinning. The client
         * waits in the backlog; a signal ends the pause. */
        pause_briefly();
        return -1;
    }
    format_addr((struct sockaddr *)&peer_addr, peer_len, peer, peer_size);
    return conn_fd;
}

/* claim_slot - publish conn_fd where the signal handler can shut it down */
static int claim_slot(int conn_fd)
{
    for (;;) {
        for (int i = 0; i < MAX_WORKERS; i++) {
            int free_slot = -1;

            if (atomic_compare_exchange_strong(&active_fds[i], &free_slot, conn_fd))
                return i;
        }
    }   /* never loops: there are never more connections served than workers */
}

/* serve_connection - the communication loop: recv, upper-case, send back,
 * until the client half-closes or fails; then close the connection */
static void serve_connection(int conn_fd, const char *peer)
{
    char buf[BUF_SIZE];
    unsigned long long total = 0;
    int slot = claim_slot(conn_fd);
    int worker = pool_worker_number();
    long pid = (long)getpid();

    /* Checked after claim_slot, against the handler's order (flag first,
     * then the slots): either the handler saw this socket, or we see the
     * flag. Both are sequentially consistent atomics. */
    if (stop_requested) {
        active_fds[slot] = -1;
        close(conn_fd);
        return;
    }
    note("worker %d (pid %ld): connection from %s", worker, pid, peer);
    for (;;) {
        ssize_t n = recv(conn_fd, buf, sizeof buf, 0);

        if (n == 0) {                       /* end of file: the client is done */
            note("worker %d (pid %ld): closed %s (%llu bytes)", worker, pid, peer, total);
            break;
        }
        if (n == -1) {
            if (errno == EINTR && !stop_requested)
                continue;
            if (!stop_requested)
                warn("recv from %s", peer);
            break;
        }
        upper_bytes(buf, (size_t)n);
        if (send_all(conn_fd, buf, (size_t)n) == -1) {
            if (!stop_requested)
                warn("send to %s", peer);
            break;
        }
        total += (unsigned long long)n;
    }
    active_fds[slot] = -1;                  /* before close: the fd number is reused */
    close(conn_fd);
}

/* serve_task - thread pool task: serve the connection in the job */
static size_t serve_task(const void *arg, void *result)
{
    const struct conn_job *job = arg;

    (void)result;
    serve_connection(job->conn_fd, job->peer);
    return 0;
}

/* run_thread_pool - the main thread accepts; a pool of threads serves */
static void run_thread_pool(int listen_fd, int workers)
{
    struct pool *pool = thread_pool_new(workers, WAITING_MAX);

    note("thread pool: %d worker threads in pid %ld, at most %d connections waiting",
         pool->max_workers, (long)getpid(), WAITING_MAX);
    while (!stop_requested) {               /* the connection loop */
        struct conn_job job;
        struct future *served;

        job.conn_fd = accept_client(listen_fd, job.peer, sizeof job.peer);
        if (job.conn_fd == -1)
            continue;
        note("accepted %s, %zu already waiting for a worker", job.peer, pool_waiting(pool));
        /* Blocks while WAITING_MAX connections wait: the queue is bounded. */
        served = pool_submit(pool, serve_task, &job, sizeof job);
        if (served == NULL)
            close(job.conn_fd);
        future_release(served);             /* we never need its result */
    }
    /* Connections still queued are taken by workers that see the flag and
     * close them; shutdown(wait) returns when every thread has ended. */
    pool_shutdown(pool, true);
    pool_free(pool);
}

/* accept_loop - process pool task: accept and serve until the server
 * stops; the result is how many connections this worker served */
static size_t accept_loop(const void *arg, void *result)
{
    int listen_fd;
    unsigned long served = 0;

    memcpy(&listen_fd, arg, sizeof listen_fd);
    note("worker %d (pid %ld): accepting", pool_worker_number(), (long)getpid());
    while (!stop_requested) {
        char peer[ADDR_LEN];
        int conn_fd = accept_client(listen_fd, peer, sizeof peer);

        if (conn_fd == -1)
            continue;
        serve_connection(conn_fd, peer);
        served++;
    }
    memcpy(result, &served, sizeof served);
    return sizeof served;
}

/* run_process_pool - pre-forked workers each accept; the parent waits */
static void run_process_pool(int listen_fd, int workers)
{
    struct pool *pool;
    struct future *loops[MAX_WORKERS];

    /* Forked while listen_fd_for_signal is -1, no worker's handler ever
     * shuts the shared listening socket down: a SIGTERM sent to one
     * worker alone ends that worker alone. Only the parent stops them all. */
    listen_fd_for_signal = -1;
    pool = process_pool_new(workers);
    listen_fd_for_signal = listen_fd;
    pool_for_signal = pool;
    if (stop_requested) {                   /* the signal came while we forked */
        shutdown(listen_fd, SHUT_RDWR);
        pool_terminate_workers(pool);
    }
    note("process pool: %d worker processes, each accepting", pool->max_workers);
    /* One accept loop per worker: a worker in its loop reads no other
     * task, so each loop lands on a different worker. The fd number means
     * the same socket there: the worker inherited it at fork. */
    for (int i = 0; i < pool->max_workers; i++)
        loops[i] = pool_submit(pool, accept_loop, &listen_fd, sizeof listen_fd);
    pool_shutdown(pool, false);             /* no more tasks: EOF after the loops */

    for (int i = 0; i < pool->max_workers; i++) {
        const unsigned long *served = future_result(loops[i], -1, NULL);

        if (served != NULL)
            note("a worker stopped; it served %lu connection(s)", *served);
        else
            note("a worker died before it stopped");
        future_release(loops[i]);
    }
    pool_for_signal = NULL;
    pool_free(pool);                        /* waits for every worker process */
}

/* Options from the command line, with their defaults. */
struct options {
    const char *host, *port, *kind;
    int workers;                            /* 0: the pool's default size */
};

/* parse_options - fill opts from argv; exit 2 with the usage on a bad one */
static void parse_options(int argc, char *argv[], struct options *opts)
{
    static const struct option long_options[] = {
        {"help", no_argument, NULL, 'h'}, {"pool", required_argument, NULL, 'P'},
        {NULL, 0, NULL, 0}};
    int opt;

    opts->host = "127.0.0.1";
    opts->port = DEFAULT_PORT;
    opts->kind = "threads";
    opts->workers = 0;
    while ((opt = getopt_long(argc, argv, "H:p:w:h", long_options, NULL)) != -1) {
        switch (opt) {
        case 'H': opts->host = optarg; break;
        case 'p': opts->port = optarg; break;
        case 'P': opts->kind = optarg; break;
        case 'w':
            if (optarg[0] == '\0' || strlen(optarg) > 3
                || strspn(optarg, "0123456789") != strlen(optarg)
                || (opts->workers = atoi(optarg)) < 1 || opts->workers > MAX_WORKERS) {
                fprintf(stderr, "%s: bad worker count '%s' (1-%d)\n", prog_name, optarg,
                        MAX_WORKERS);
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
    if (opts->port[0] == '\0' || strlen(opts->port) > 5
        || strspn(opts->port, "0123456789") != strlen(opts->port) || atol(opts->port) > 65535) {
        fprintf(stderr, "%s: bad port '%s'\n", prog_name, opts->port);
        usage(stderr, 2);
    }
    if (strcmp(opts->kind, "threads") != 0 && strcmp(opts->kind, "processes") != 0) {
        fprintf(stderr, "%s: bad pool '%s' (threads or processes)\n", prog_name, opts->kind);
        usage(stderr, 2);
    }
}

int main(int argc, char *argv[])
{
    struct options opts;
    int listen_fd;

    parse_options(argc, argv, &opts);
    install_signals();
    listen_fd = open_listener(opts.host, opts.port);
    listen_fd_for_signal = listen_fd;
    print_ready_line(listen_fd);

    /* The one difference between the modes: who calls accept(). */
    if (strcmp(opts.kind, "threads") == 0)
        run_thread_pool(listen_fd, opts.workers);       /* the main thread */
    else
        run_process_pool(listen_fd, opts.workers);      /* every worker */

    note("stopping");
    close(listen_fd);
    return 0;
}
