/* server.c - an echo-upper server whose clients are served by a fixed pool
 * of workers: threads, or pre-forked processes that the server replaces
 * when they die
 *
 * Lessons 06 and 07 start a process or a thread for every client: the cost
 * of starting it is paid on every connection, and a thousand clients mean
 * a thousand workers. A pool starts N workers once, and N is all the
 * server ever uses, whatever arrives. That bound is the point of the
 * Python notes' pools ("use the machine as much as is safe"), and its
 * price is visible too: with N workers busy, client N+1 waits.
 *
 * The two modes differ in where a worker gets its next connection (UNP
 * chapter 30 measures both designs):
 *
 *   --pool threads    the main thread accepts and submits each connection
 *                     to a thread pool (pool.h); at most WAITING_MAX
 *                     accepted connections wait in the pool's queue, then
 *                     submit blocks and the rest wait in the kernel.
 *   --pool processes  N processes are forked before the ready line; each
 *                     runs its own accept loop on the listening socket it
 *                     inherited, so the kernel hands each new connection
 *                     to one waiting worker. The parent only supervises:
 *                     it reaps a worker that dies, logs one line and forks
 *                     another, so the pool never shrinks (UNP 30.6, and
 *                     what Apache's prefork and nginx's master do).
 *
 * The whole pool exists before the ready line; if it cannot be made, the
 * server exits 1 with no ready line and no worker left behind. Only
 * SIGINT/SIGTERM stop it: the handler shuts down the listening socket and
 * every connection being served (so every blocked accept, recv or send
 * returns) and, in the parent of a process pool, sends SIGTERM to every
 * worker; then the server waits for all of them and exits 0.
 *
 * Usage: ./server [-H ADDR] [-p PORT] [--pool threads|processes] [-w N]
 *        (defaults: 127.0.0.1, 9009, threads, N as in Python: threads
 *        min(32, cpus + 4), processes cpus)
 *
 * See also: pool.h (the thread pool), client.c, futures.c, NOTES.md.
 * Python notes: 004 (why pools; thread and process pools), 003 (the
 * connection loop and the communication loop).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../lib/lab.h"
#include "pool.h"

#define BACKLOG 128         /* connections the kernel queues before accept() */
#define WAITING_MAX 16      /* thread mode: accepted, waiting for a free worker */
#define MAX_WORKERS 256
#define BUF_SIZE 4096

/* What the signal handler reaches, read and written by several threads:
 * lock-free atomics (safe in a handler AND between threads; lib's
 * volatile sig_atomic_t stop_requested is only the first, so worker
 * threads read `stopping` instead). */
#if ATOMIC_INT_LOCK_FREE != 2
#error "this server needs a lock-free atomic int"
#endif
static atomic_int stopping = 0;
static atomic_int listen_fd_to_shut = -1;       /* -1 in a worker process */
static atomic_int active_fds[MAX_WORKERS];      /* connections being served */
static atomic_int worker_pids[MAX_WORKERS];     /* the parent's workers; 0: none */

static void serve_connection(int conn_fd, const char *peer, int worker);
static int accept_client(int listen_fd, char *peer, size_t peer_size);

/* ---- --pool threads: the main thread accepts, a thread pool serves ---- */

/* What the thread mode submits for one connection: copied into the pool. */
struct conn_job {
    int conn_fd;
    char peer[ADDR_LEN];
};

/* serve_task - a task of the thread pool: serve the connection in the job */
static size_t serve_task(const void *arg, void *result)
{
    const struct conn_job *job = arg;

    (void)result;
    serve_connection(job->conn_fd, job->peer, pool_worker_number());
    return 0;
}

/* run_thread_pool - start the pool, say ready, then the connection loop */
static void run_thread_pool(int listen_fd, int workers)
{
    struct pool *pool = thread_pool_new(workers, WAITING_MAX);  /* exit 1 if not */

    note("thread pool: %d worker threads in pid %ld, at most %d connections waiting",
         pool->max_workers, (long)getpid(), WAITING_MAX);
    print_ready_line(listen_fd);
    while (!stopping) {                     /* the connection loop */
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
    /* Connections still queued go to workers that see `stopping` and close
     * them; pool_free waits until every thread has ended. */
    pool_free(pool);
}

/* ---- --pool processes: pre-forked workers accept, the parent supervises */

/* worker_main - one worker process: accept and serve until stopped */
static void worker_main(int listen_fd, int number)
{
    note("worker %d (pid %ld): accepting", number, (long)getpid());
    while (!stopping) {
        char peer[ADDR_LEN];
        int conn_fd = accept_client(listen_fd, peer, sizeof peer);

        if (conn_fd != -1)
            serve_connection(conn_fd, peer, number);
    }
}

/* start_worker - fork the worker of slot; its pid, or -1 with errno set.
 * SIGINT and SIGTERM are blocked across fork(): the child must forget the
 * parent's role (the listening socket to shut, the workers to kill)
 * before a handler may run in it, or one worker's SIGTERM would shut the
 * listening socket that every worker shares. */
static pid_t start_worker(int listen_fd, int slot)
{
    sigset_t stop_signals, old;
    pid_t pid;

    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    sigprocmask(SIG_BLOCK, &stop_signals, &old);
    pid = fork();
    if (pid == 0) {                         /* the worker */
        listen_fd_to_shut = -1;
        for (int i = 0; i < MAX_WORKERS; i++)
            worker_pids[i] = 0;
        sigprocmask(SIG_SETMASK, &old, NULL);
        worker_main(listen_fd, slot + 1);
        _exit(0);       /* not exit(): the parent's atexit work is not ours */
    }
    if (pid > 0)
        worker_pids[slot] = pid;
    sigprocmask(SIG_SETMASK, &old, NULL);
    return pid;
}

/* stop_workers - shut the listening socket (every accept returns), SIGTERM
 * every worker, and reap them all */
static void stop_workers(int listen_fd)
{
    shutdown(listen_fd, SHUT_RDWR);
    for (int slot = 0; slot < MAX_WORKERS; slot++)
        if (worker_pids[slot] > 0)
            kill(worker_pids[slot], SIGTERM);
    for (int slot = 0; slot < MAX_WORKERS; slot++) {
        if (worker_pids[slot] <= 0)
            continue;
        while (waitpid(worker_pids[slot], NULL, 0) == -1 && errno == EINTR)
            ;
        worker_pids[slot] = 0;
    }
}

/* note_death - the one line about a worker that ended */
static void note_death(int slot, pid_t pid, int status)
{
    if (WIFSIGNALED(status))
        note("a worker died before it stopped: worker %d (pid %ld), killed by signal %d (%s);"
             " starting another", slot + 1, (long)pid, WTERMSIG(status),
             strsignal(WTERMSIG(status)));
    else
        note("worker %d (pid %ld) ended with status %d; starting another", slot + 1,
             (long)pid, WEXITSTATUS(status));
}

/* run_process_pool - fork every worker, say ready, then replace each one
 * that dies until a signal stops the server */
static void run_process_pool(int listen_fd, int workers)
{
    for (int slot = 0; slot < workers; slot++) {
        if (start_worker(listen_fd, slot) == -1) {
            int fork_errno = errno;

            stop_workers(listen_fd);        /* no half pool, no orphan */
            errno = fork_errno;
            die("fork (worker %d of %d)", slot + 1, workers);
        }
    }
    note("process pool: %d worker processes, each accepting", workers);
    print_ready_line(listen_fd);

    /* LAB-BEGIN supervise: the supervisor's loop. Until a stop: wait for any
     * child (waitpid(-1), EINTR: go round); find its slot among the workers
     * (not one of ours: go round); clear the slot (never signal a reaped pid);
     * unless stopping, note_death() and fork a replacement with
     * start_worker(), retrying each second (warn, pause_briefly()) while fork
     * fails and no stop has come. See NOTES.md section 9, a pool that heals
     * itself.
     * Stub: (void)note_death;
     * Tests: killed with SIGKILL
     */
    while (!stopping) {                     /* the supervisor's loop */
        int status, slot = 0;
        pid_t pid = waitpid(-1, &status, 0);    /* a signal: EINTR */

        if (pid == -1)
            continue;
        while (slot < workers && worker_pids[slot] != pid)
            slot++;
        if (slot == workers)
            continue;
        worker_pids[slot] = 0;              /* reaped: never signal that pid again */
        if (stopping)
            continue;
        note_death(slot, pid, status);
        /* Out of processes (EAGAIN): keep trying, once a second; the
         * other workers serve meanwhile. */
        while (start_worker(listen_fd, slot) == -1 && !stopping) {
            warn("fork (worker %d), trying again in a second", slot + 1);
            pause_briefly();
        }
    }
    /* LAB-END supervise */
    stop_workers(listen_fd);
}

/* ---- what both modes share ----------------------------------------------- */

/* accept_client - accept one connection and name its peer; -1 if none
 * (interrupted, aborted, the server stopping, or an error reported) */
static int accept_client(int listen_fd, char *peer, size_t peer_size)
{
    struct sockaddr_storage peer_addr;
    socklen_t peer_len = sizeof peer_addr;
    int conn_fd = accept(listen_fd, (struct sockaddr *)&peer_addr, &peer_len);

    if (conn_fd == -1) {
        if (stopping || errno == EINTR || errno == ECONNABORTED)
            return -1;
        if (errno == EINVAL) {
            /* The listening socket was shut down: the server is stopping
             * (in a worker process, the parent did it). */
            stopping = 1;
            return -1;
        }
        warn("accept");
        if (is_out_of_descriptors(errno))
            pause_briefly();                /* the client waits in the backlog */
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
static void serve_connection(int conn_fd, const char *peer, int worker)
{
    char buf[BUF_SIZE];
    unsigned long long total = 0;
    int slot = claim_slot(conn_fd);
    long pid = (long)getpid();

    /* Checked after claim_slot, against the handler's order (flag first,
     * then the slots): either the handler saw this socket, or we see the
     * flag. Both are sequentially consistent atomics. */
    if (stopping) {
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
            if (errno == EINTR && !stopping)
                continue;
            if (!stopping)
                warn("recv from %s", peer);
            break;
        }
        upper_bytes(buf, (size_t)n);
        if (send_all(conn_fd, buf, (size_t)n) == -1) {
            if (!stopping)
                warn("send to %s", peer);
            break;
        }
        total += (unsigned long long)n;
    }
    active_fds[slot] = -1;                  /* before close: the fd number is reused */
    close(conn_fd);
}

/* wake_everyone - runs in the SIGINT/SIGTERM handler (lib's, which has set
 * stop_requested). shutdown() and kill() are async-signal-safe: a blocked
 * (or later) accept, recv or send on a shut socket returns at once,
 * whichever thread or process is blocked in it. */
static void wake_everyone(void)
{
    int fd = listen_fd_to_shut;

    stopping = 1;
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
    for (int i = 0; i < MAX_WORKERS; i++) {
        fd = active_fds[i];
        if (fd >= 0)
            shutdown(fd, SHUT_RDWR);
        if (worker_pids[i] > 0)
            kill(worker_pids[i], SIGTERM);
    }
}

/* The command line: the pool's kind and size. */
static const char *pool_kind = "threads";
static int pool_size = 0;                   /* 0: Python's default for the kind */

/* on_option - --pool KIND and -w N */
static void on_option(int key, const char *arg)
{
    if (key == 'w')
        pool_size = (int)parse_number(arg, 1, MAX_WORKERS, "worker count");
    else if (strcmp(arg, "threads") == 0 || strcmp(arg, "processes") == 0)
        pool_kind = arg;
    else
        usage_error("bad pool '%s' (threads or processes)", arg);
}

int main(int argc, char *argv[])
{
    char size_help[128];
    const struct lab_option options[] = {
        {'P', "pool", "threads|processes",
         "threads: the main thread accepts, a thread pool serves;"
         " processes: pre-forked workers, each accepting (default threads)"},
        {'w', NULL, "N", size_help},
        {0}};
    const struct lab_command cmd = {
        .default_port = "9009", .options = options, .on_option = on_option};
    struct lab_args args;
    int listen_fd;

    snprintf(size_help, sizeof size_help,
             "workers, 1-%d (default as Python: threads min(32, cpus + 4) = %d,"
             " processes cpus = %d)", MAX_WORKERS, pool_default_threads(),
             pool_default_processes());
    args = lab_parse(argc, argv, &cmd);
    for (int i = 0; i < MAX_WORKERS; i++)
        active_fds[i] = -1;
    catch_stop_signals(0, wake_everyone);   /* 0: no SA_RESTART, blocked calls see EINTR */
    listen_fd = open_listener(args.host, args.port, SOCK_CLOEXEC, BACKLOG);
    listen_fd_to_shut = listen_fd;

    /* The one difference between the modes: who calls accept(). */
    if (strcmp(pool_kind, "threads") == 0)
        run_thread_pool(listen_fd, pool_size);      /* the main thread */
    else
        run_process_pool(listen_fd, pool_size > 0 ? pool_size : pool_default_processes());

    note("stopping");
    close(listen_fd);
    return 0;
}
