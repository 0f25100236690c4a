/* socketserver.c - the threaded echo server again, in the shape of Python's
 * socketserver.ThreadingTCPServer
 *
 *     ThreadingTCPServer = ThreadingMixIn + TCPServer (+ BaseServer)
 *
 * TCPServer, BaseServer and the request handler are Python's library, and
 * so they are the lab's: ../lib/socketserver.c, with Python's names and
 * the call chain of Python notes 003 (read it once). This file is only
 * the mix-in: the few functions that say what a worker is. Here a
 * worker is a thread: start_worker() starts a detached thread, each
 * thread frees its own slot as it ends, stop_worker() calls shutdown() on
 * its socket. Lesson 06's
 * socketserver.c is the same mix-in written for processes: diff the two,
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
 * ../lib/socketserver.c (the server and the handler),
 * ../06-processes/socketserver.c (ForkingMixIn), NOTES.md.
 * Python notes: 003 (socketserver, ThreadingTCPServer and its call
 * chain), 004 (a thread per connection).
 */
#define _POSIX_C_SOURCE 200809L

#include "../lib/socketserver.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

/* ---- ThreadingMixIn: a worker is a thread ------------------------------- */

static pthread_mutex_t workers_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t worker_ended;     /* set up in mixin_init() */

/* mixin_init - the condition variable a thread signals as it ends (its
 * end sends no signal, and a detached thread leaves nothing behind to
 * collect). Its timed waits read CLOCK_MONOTONIC: by default they read
 * the wall clock, and a clock set back while the main thread waits would
 * stretch the wait by as much, deaf to a stop. */
static void mixin_init(void)
{
    pthread_condattr_t attr;
    int rc;

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
static void reap_workers(struct server *self)
{
    (void)self;
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
    /* LAB-BEGIN start-worker: ThreadingMixIn's process_request: start a
     * detached thread (pthread_attr_setdetachstate) running
     * process_request_thread(worker), its id in worker->id.thread; the
     * stop signals stay blocked in it (the caller blocked them).
     * pthread_create() failed: set errno, warn "pthread_create for ADDR",
     * return 0; else 1. See NOTES.md section 2, socketserver.
     * Stub: (void)worker; (void)old_mask; (void)process_request_thread; return 0;
     * Tests: socat
     */
    pthread_attr_t attr;
    int rc;

    (void)old_mask;                         /* the thread keeps stop signals blocked */
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&worker->id.thread, &attr, process_request_thread, worker);
    pthread_attr_destroy(&attr);
    if (rc != 0) {                          /* EAGAIN */
        errno = rc;
        warn("pthread_create for %s", worker->client_address);
        return 0;
    }
    return 1;
    /* LAB-END start-worker */
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
static void end_stragglers(struct server *self)
{
    note("%ld threads did not end in time", self->active_count);
}

static const struct mixin threading_mixin = {
    "a thread", mixin_init, lock_workers, unlock_workers, wait_for_change,
    reap_workers, start_worker, stop_worker, end_stragglers,
};

/* ---- the program ---------------------------------------------------------- */

int main(int argc, char *argv[])
{
    /* server = ThreadingTCPServer((host, port), EchoHandler); serve_forever() */
    return socketserver_main(argc, argv, "9007", &threading_mixin,
                             "The echo-upper server as socketserver.ThreadingTCPServer.");
}
