/* server.c - a threaded echo-upper server: one thread per client
 *
 * Lesson 06 gave each client a process; here each client gets a thread,
 * the Python notes' Thread(target=talk, args=(conn,)) per connection. The main
 * thread runs the connection loop (accept, start a thread, accept again);
 * each thread runs the communication loop for its client. Threads share
 * the process's memory and descriptors, so there is nothing to copy and
 * nothing to close twice: the thread owns its connection and closes it
 * when done; the listening socket is never touched by the threads.
 *
 * What sharing costs, and how this file pays for it:
 *   - detached threads: nobody joins them, so they must free their own
 *     things; the count of live threads is shared, so a mutex guards it;
 *   - a bound: at MAX live threads the main thread stops accepting until
 *     one ends (a condition variable), and new clients wait in the backlog;
 *   - stopping: a thread asleep in recv() would sleep on after the main
 *     thread decided to quit. On SIGINT/SIGTERM the main thread calls
 *     shutdown() on every live connection, which wakes each recv() and
 *     send() at once, waits for the count to reach zero and exits 0;
 *   - signals: only the main thread takes SIGINT/SIGTERM (the others block
 *     them), so the handler always interrupts the accept() loop.
 *
 * Usage: ./server [-H ADDR] [-p PORT] [-m MAX]
 *        (defaults: 127.0.0.1, 9007, 1024 threads at most)
 *
 * See also: socketserver.c (ThreadingTCPServer's shape),
 * ../06-processes/server.c (a process per client), client.c, the demos
 * (basics, daemon, cpu_vs_io), NOTES.md.
 * Python notes: 004 (a thread per connection), 003 (socketserver's
 * ThreadingTCPServer).
 */
#define _POSIX_C_SOURCE 200809L

#include "../lib/lab.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE 4096
#define DEFAULT_MAX_THREADS 1024
#define STOP_GRACE_MS 800       /* the contract says exit within 1 s */

/* What a client's thread is given; it frees it when done. */
struct client {
    int conn_fd;
    long slot;                      /* its place in live_fds */
    char peer[ADDR_LEN];
};

/* The connections being served, so that a stop can wake their threads.
 * Everything below is shared between threads: touch it only while
 * holding `lock`. A free slot of live_fds holds -1. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t thread_ended;    /* set up by init_thread_ended() */
static int *live_fds;
static long live_threads = 0;
static long max_threads = DEFAULT_MAX_THREADS;

static volatile sig_atomic_t listen_fd_for_signal = -1;

/* wake_accept - run by the SIGINT/SIGTERM handler (main thread only),
 * after it set stop_requested: shutdown() the listening socket, so that
 * accept() returns at once even if the signal came just before it was
 * called (shutdown() is async-signal-safe) */
static void wake_accept(void)
{
    if (listen_fd_for_signal >= 0)
        shutdown(listen_fd_for_signal, SHUT_RDWR);
}

/* install_signals - stop on SIGINT/SIGTERM (no SA_RESTART: accept() sees
 * EINTR); lib ignores SIGPIPE. The signal mask survives exec(): unblock
 * what we rely on. */
static void install_signals(void)
{
    sigset_t stop_signals;

    catch_stop_signals(0, wake_accept);
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    if (sigprocmask(SIG_UNBLOCK, &stop_signals, NULL) == -1)
        die("sigprocmask");
}

/* lock_or_die, unlock_or_die - pthread_mutex_lock/unlock, checked: they
 * fail only on a programming error, which must not pass silently */
static void lock_or_die(void)
{
    int rc = pthread_mutex_lock(&lock);

    if (rc != 0) {
        errno = rc;
        die("pthread_mutex_lock");
    }
}

static void unlock_or_die(void)
{
    int rc = pthread_mutex_unlock(&lock);

    if (rc != 0) {
        errno = rc;
        die("pthread_mutex_unlock");
    }
}

/* init_thread_ended - make thread_ended's timed waits read
 * CLOCK_MONOTONIC: by default they read the wall clock, and a clock set
 * back while the main thread waits would stretch the wait by as much,
 * deaf to a stop */
static void init_thread_ended(void)
{
    pthread_condattr_t attr;
    int rc;

    if ((rc = pthread_condattr_init(&attr)) != 0
        || (rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)) != 0
        || (rc = pthread_cond_init(&thread_ended, &attr)) != 0) {
        errno = rc;
        die("pthread_cond_init");
    }
    pthread_condattr_destroy(&attr);
}

/* deadline_in - the CLOCK_MONOTONIC time ms milliseconds from now, the
 * form pthread_cond_timedwait() on thread_ended wants */
static struct timespec deadline_in(long ms)
{
    struct timespec deadline;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_nsec += ms * 1000000L;
    deadline.tv_sec += deadline.tv_nsec / 1000000000L;
    deadline.tv_nsec %= 1000000000L;
    return deadline;
}

/* wait_a_while - wait on thread_ended (lock held) for at most ms; a
 * signal handler cannot signal a condition variable, so the waits that
 * must notice stop_requested are bounded */
static void wait_a_while(long ms)
{
    struct timespec deadline = deadline_in(ms);

    pthread_cond_timedwait(&thread_ended, &lock, &deadline);
}

/* serve_client - the communication loop: recv, upper-case, send back,
 * until the client half-closes or fails (or a stop shuts the socket) */
static void serve_client(int conn_fd, const char *peer)
{
    char buf[BUF_SIZE];
    unsigned long long total = 0;

    for (;;) {
        ssize_t n = recv(conn_fd, buf, sizeof buf, 0);

        if (n == 0)                         /* end of file: the client is done */
            break;
        if (n == -1) {
            if (errno == EINTR)
                continue;
            warn("recv from %s", peer);
            return;
        }
        upper_bytes(buf, (size_t)n);
        if (send_all(conn_fd, buf, (size_t)n) == -1) {
            warn("send to %s", peer);
            return;
        }
        total += (unsigned long long)n;
    }
    note("closed %s (%llu bytes)", peer, total);
}

/* client_thread - a client's thread: serve it, then clean up after itself
 * (it is detached: nobody will join it) */
static void *client_thread(void *arg)
{
    /* LAB-BEGIN client-thread: the body of one client's thread:
     * serve_client(), then, under the lock, give its slot in live_fds back
     * (before close: the number may be reused at once), close the connection,
     * free the struct, and under the lock again count the thread out and
     * broadcast thread_ended. Return NULL. See NOTES.md section 2.
     * Stub: (void)arg; (void)serve_client; return NULL;
     * Tests: two threads of one process
     */
    struct client *client = arg;

    serve_client(client->conn_fd, client->peer);

    /* Leave the table before closing: once closed, the descriptor number
     * can be reused by the next accept(), and a stop must never shut
     * down somebody else's connection. */
    lock_or_die();
    live_fds[client->slot] = -1;
    unlock_or_die();
    close(client->conn_fd);
    free(client);

    lock_or_die();
    live_threads--;
    pthread_cond_broadcast(&thread_ended);
    unlock_or_die();
    return NULL;
    /* LAB-END client-thread */
}

/* wait_for_free_slot - while max_threads are live, wait for one to end */
static void wait_for_free_slot(void)
{
    lock_or_die();
    if (live_threads >= max_threads)
        note("%ld threads running: new clients wait in the backlog", max_threads);
    while (live_threads >= max_threads && !stop_requested)
        wait_a_while(100);
    unlock_or_die();
}

/* start_thread - hand conn_fd to a new detached thread; the main thread
 * goes on. On failure only this client is lost. */
static void start_thread(int conn_fd, const char *peer)
{
    /* LAB-BEGIN start-thread: hand conn_fd to a new detached thread. Allocate
     * its struct client (conn_fd, peer); note "connection from PEER, served by
     * a new thread"; take a free slot in live_fds under the lock and count it
     * in live_threads. Block SIGINT/SIGTERM while calling pthread_create()
     * with a detached attribute (a new thread inherits the mask: only the main
     * thread should take them), then restore the mask. pthread_create()
     * failed: warn, give the slot back, close, free, pause_briefly(). See
     * NOTES.md section 2, the thread-per-client server.
     * Stub: (void)peer; (void)client_thread; close(conn_fd);
     * Tests: socat
     */
    struct client *client = malloc(sizeof *client);
    pthread_attr_t attr;
    sigset_t stop_signals, old_mask;
    pthread_t tid;
    int rc;

    if (client == NULL) {
        warn("malloc for %s", peer);
        close(conn_fd);
        return;
    }
    client->conn_fd = conn_fd;
    snprintf(client->peer, sizeof client->peer, "%s", peer);
    note("connection from %s, served by a new thread", peer);

    lock_or_die();                          /* take a slot in the table */
    for (client->slot = 0; live_fds[client->slot] != -1; client->slot++)
        continue;                           /* there is one: live_threads < max */
    live_fds[client->slot] = conn_fd;
    live_threads++;
    unlock_or_die();

    /* A new thread inherits the creator's signal mask: block the stop
     * signals around pthread_create() so that only the main thread
     * takes them. Detached: its resources go back when it returns. */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, &old_mask);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&tid, &attr, client_thread, client);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);

    if (rc != 0) {                          /* EAGAIN: out of threads or memory */
        errno = rc;
        warn("pthread_create for %s", peer);
        lock_or_die();
        live_fds[client->slot] = -1;
        live_threads--;
        unlock_or_die();
        close(conn_fd);
        free(client);
        pause_briefly();
    }
    /* LAB-END start-thread */
}

/* end_threads - wake every live thread with shutdown() and wait (at most
 * STOP_GRACE_MS) until all have ended */
static void end_threads(void)
{
    struct timespec deadline = deadline_in(STOP_GRACE_MS);
    long ended;

    lock_or_die();
    ended = live_threads;
    for (long i = 0; i < max_threads; i++)
        if (live_fds[i] != -1)
            shutdown(live_fds[i], SHUT_RDWR);   /* recv() returns 0, send() EPIPE */
    /* One deadline for the whole wait: every ending thread wakes us, so a
     * budget counted in wake-ups would run out long before the time. */
    while (live_threads > 0)
        if (pthread_cond_timedwait(&thread_ended, &lock, &deadline) == ETIMEDOUT)
            break;
    if (live_threads > 0)
        note("%ld threads did not end in time", live_threads);
    unlock_or_die();
    if (ended > 0)
        note("ended %ld thread%s", ended, ended == 1 ? "" : "s");
}

/* on_option - -m MAX */
static void on_option(int key, const char *arg)
{
    (void)key;
    max_threads = parse_number(arg, 1, 100000, "-m");
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'m', NULL, "MAX", "at most MAX client threads at once (default 1024)"}, {0}};
    const struct lab_command cmd = {"The echo-upper server, one thread per client.",
                                    "9007", 0, options, on_option, NULL};
    struct lab_args args = lab_parse(argc, argv, &cmd);
    int listen_fd, last_errno = 0;

    live_fds = malloc((size_t)max_threads * sizeof *live_fds);
    if (live_fds == NULL)
        die("malloc");
    for (long i = 0; i < max_threads; i++)
        live_fds[i] = -1;
    init_thread_ended();
    install_signals();
    listen_fd = open_listener(args.host, args.port, 0, SOMAXCONN);
    listen_fd_for_signal = listen_fd;
    print_ready_line(listen_fd);

    while (!stop_requested) {               /* the connection loop */
        struct sockaddr_storage peer_addr;
        socklen_t peer_len = sizeof peer_addr;
        char peer[ADDR_LEN];
        int conn_fd;

        wait_for_free_slot();
        if (stop_requested)
            break;
        conn_fd = accept(listen_fd, (struct sockaddr *)&peer_addr, &peer_len);
        if (conn_fd == -1) {
            if (stop_requested || errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != last_errno)        /* one line per spell, not a flood */
                warn("accept");
            last_errno = errno;
            if (is_out_of_descriptors(errno))
                pause_briefly();         /* out of descriptors: do not spin */
            continue;
        }
        last_errno = 0;
        format_addr((struct sockaddr *)&peer_addr, peer_len, peer, sizeof peer);
        start_thread(conn_fd, peer);
    }

    note("stopping");
    listen_fd_for_signal = -1;              /* a second signal must not touch it */
    close(listen_fd);
    end_threads();
    return 0;
}
