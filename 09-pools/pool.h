/* pool.h - a thread pool and a process pool shaped like Python's
 * concurrent.futures
 *
 * Starting a thread or a process for every job costs time and, without a
 * limit, can use up the machine. A pool starts a fixed number of workers
 * once and hands them jobs: the number of workers bounds what the program
 * takes from the machine, whatever arrives. This header gives C the shape
 * the Python notes use:
 *
 *     Python                              C (this header)
 *     pool = ThreadPoolExecutor(5)        pool = thread_pool_new(5, 0)
 *     pool = ProcessPoolExecutor(5)       pool = process_pool_new(5)
 *     f = pool.submit(task, n)            f = pool_submit(pool, task, &n, sizeof n)
 *     f.result(timeout=2)                 future_result(f, 2.0, &len)
 *     f.done()                            future_done(f)
 *     f.add_done_callback(cb)             future_add_done_callback(f, cb, data)
 *     pool.shutdown(wait=True)            pool_shutdown(pool, true)
 *     (the garbage collector)             future_release(f), pool_free(pool)
 *
 * A task is a plain C function `size_t task(const void *arg, void *result)`.
 * Its argument is copied into the pool at submit (at most POOL_ARG_MAX
 * bytes) and its result out of it (at most POOL_RESULT_MAX; the task
 * returns how many). Copying lets one API serve both pools: a process
 * worker has its own memory, so an argument travels to it as bytes, like
 * Python's pickled arguments. Bytes, not pointers: a pointer into the
 * parent's memory means nothing there.
 *
 * The thread pool: N threads started at once, a FIFO queue of waiting
 * tasks (bounded if queue_max > 0: submit then blocks while it is full),
 * one mutex and two condition variables: lesson 08's producer-consumer.
 *
 * The process pool: N processes forked at once, one AF_UNIX SOCK_SEQPACKET
 * socket pair between the parent and all its workers. The parent sends
 * each task as one message; the first idle worker to call recv() gets the
 * whole of it; it runs the task and sends back one result message, which
 * a collector thread in the parent turns into a finished future (Python's
 * executor manager thread). The socket's buffer is the bounded queue. A
 * worker that dies breaks the pool, as in Python (BrokenProcessPool): its
 * futures end broken. server.c's pre-forked pool replaces dead workers
 * instead; NOTES.md section 6 says why the two differ.
 *
 * Done-callbacks run in the thread that completes the future (a worker
 * thread, or the collector), or at once in the thread that adds one to a
 * future already done: what Python does too.
 *
 * Every function is static inline (no warning for those a program does
 * not use). Linux-specific: SOCK_CLOEXEC in socketpair(). C11.
 *
 * See also: futures.c (the Python notes' pool examples), server.c (a pool
 * serving connections), NOTES.md. Python notes: 004.
 */
#ifndef POOL_H
#define POOL_H

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../lib/lab.h"

#define POOL_ARG_MAX 128
#define POOL_RESULT_MAX 128

typedef size_t pool_task(const void *arg, void *result);

struct future;
typedef void future_callback(struct future *future, void *data);

enum future_state { FUTURE_PENDING, FUTURE_FINISHED, FUTURE_BROKEN };

struct callback_node {
    future_callback *fn;
    void *data;
    struct callback_node *next;
};

struct future {
    pthread_mutex_t lock;
    pthread_cond_t finished;            /* broadcast when state leaves PENDING */
    enum future_state state;
    int refs;                           /* the submitter's and the pool's */
    uint64_t id;                        /* names the task in result messages */
    pool_task *fn;
    unsigned char arg[POOL_ARG_MAX];
    size_t result_len;
    unsigned char result[POOL_RESULT_MAX];
    struct callback_node *callbacks;    /* in the order they were added */
    struct future *next;                /* link in the pool's queue or list */
};

enum pool_kind { POOL_THREADS, POOL_PROCESSES };

struct pool {
    enum pool_kind kind;
    int max_workers;
    pthread_mutex_t lock;
    pthread_cond_t work_ready;          /* threads: a task was queued, or shutdown */
    pthread_cond_t space_free;          /* threads: a task left a full queue */
    bool shutting_down;
    bool joined;                        /* every worker has been waited for */
    int started;                        /* threads: workers numbered so far */
    /* thread pool */
    pthread_t *threads;
    struct future *queue_head, *queue_tail;
    size_t queued, queue_max;           /* queue_max 0: no bound, as in Python */
    /* process pool */
    pid_t *pids;
    int channel;                        /* the parent's end of the socket pair */
    pthread_t collector;
    struct future *in_flight;           /* sent to the workers, no result yet */
    uint64_t next_id;
};

/* The messages of the process pool: one task, one result, each sent as
 * one SEQPACKET message. fn is a code address: valid in the worker only
 * because the worker is a fork of this very program. */
struct task_message {
    uint64_t id;
    pool_task *fn;
    unsigned char arg[POOL_ARG_MAX];
};

struct result_message {
    uint64_t id;
    size_t len;
    unsigned char result[POOL_RESULT_MAX];
};

/* Which worker this thread or process is: 1..N in a worker, 0 elsewhere
 * (thread-local: each worker thread has its own). */
static _Thread_local int pool_worker_no = 0;

/* pool_worker_number - 1..N inside a pool's worker, 0 outside */
static inline int pool_worker_number(void)
{
    return pool_worker_no;
}

/* pool_default_threads - ThreadPoolExecutor's default: min(32, cpus + 4) */
static inline int pool_default_threads(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);      /* Python's os.cpu_count() */

    return cpus < 1 ? 5 : cpus + 4 < 32 ? (int)cpus + 4 : 32;
}

/* pool_default_processes - ProcessPoolExecutor's default: one per cpu */
static inline int pool_default_processes(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    return cpus < 1 ? 1 : (int)cpus;
}

/* ---- futures ------------------------------------------------------------ */

/* future_new - a pending future for fn(arg), held by submitter and pool */
static inline struct future *future_new(pool_task *fn, const void *arg, size_t arg_len)
{
    struct future *f = calloc(1, sizeof *f);
    pthread_condattr_t attr;

    if (f == NULL)
        die("calloc");
    pthread_mutex_init(&f->lock, NULL);
    /* result(timeout) measures time on the monotonic clock, which a change
     * of the wall clock cannot move. */
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&f->finished, &attr);
    pthread_condattr_destroy(&attr);
    f->state = FUTURE_PENDING;
    f->refs = 2;
    f->fn = fn;
    memcpy(f->arg, arg, arg_len);
    return f;
}

/* future_release - drop one reference; the last one frees the future */
static inline void future_release(struct future *f)
{
    bool last;

    if (f == NULL)
        return;
    pthread_mutex_lock(&f->lock);
    last = --f->refs == 0;
    pthread_mutex_unlock(&f->lock);
    if (!last)
        return;
    while (f->callbacks != NULL) {          /* a future that never finished */
        struct callback_node *node = f->callbacks;
        f->callbacks = node->next;
        free(node);
    }
    pthread_cond_destroy(&f->finished);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

/* future_finish - store the result (or mark broken), wake every waiter,
 * then run the callbacks in the order added, outside the lock so that a
 * callback may call future_result() on this future */
static inline void future_finish(struct future *f, enum future_state state,
                          const void *result, size_t len)
{
    struct callback_node *node;

    pthread_mutex_lock(&f->lock);
    if (len > POOL_RESULT_MAX)
        len = POOL_RESULT_MAX;
    memcpy(f->result, result, len);
    f->result_len = len;
    f->state = state;
    node = f->callbacks;
    f->callbacks = NULL;
    pthread_cond_broadcast(&f->finished);
    pthread_mutex_unlock(&f->lock);

    while (node != NULL) {
        struct callback_node *next = node->next;
        node->fn(f, node->data);
        free(node);
        node = next;
    }
}

/* future_done - true once the future has a result (or its pool broke) */
static inline bool future_done(struct future *f)
{
    bool done;

    pthread_mutex_lock(&f->lock);
    done = f->state != FUTURE_PENDING;
    pthread_mutex_unlock(&f->lock);
    return done;
}

/* future_result - wait up to timeout seconds (< 0: forever) for the
 * result; return it (valid until future_release) and its length, or NULL
 * with errno ETIMEDOUT (not done yet) or EPIPE (the worker died) */
static inline const void *future_result(struct future *f, double timeout, size_t *len)
{
    struct timespec deadline;
    const void *result = NULL;
    int err = 0;

    if (timeout >= 0) {
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += (time_t)timeout;
        deadline.tv_nsec += (long)((timeout - (double)(time_t)timeout) * 1e9);
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&f->lock);
    while (f->state == FUTURE_PENDING && err == 0) {
        if (timeout < 0)
            pthread_cond_wait(&f->finished, &f->lock);
        else
            err = pthread_cond_timedwait(&f->finished, &f->lock, &deadline);
    }
    if (f->state == FUTURE_FINISHED) {
        result = f->result;
        if (len != NULL)
            *len = f->result_len;
    } else {
        err = f->state == FUTURE_BROKEN ? EPIPE : ETIMEDOUT;
    }
    pthread_mutex_unlock(&f->lock);
    if (result == NULL)
        errno = err;
    return result;
}

/* future_add_done_callback - call fn(f, data) when f is done; at once, in
 * this thread, if it already is */
static inline void future_add_done_callback(struct future *f, future_callback *fn, void *data)
{
    struct callback_node *node, **tail;

    pthread_mutex_lock(&f->lock);
    if (f->state == FUTURE_PENDING) {
        node = malloc(sizeof *node);
        if (node == NULL)
            die("malloc");
        node->fn = fn;
        node->data = data;
        node->next = NULL;
        for (tail = &f->callbacks; *tail != NULL; tail = &(*tail)->next)
            ;
        *tail = node;
        pthread_mutex_unlock(&f->lock);
        return;
    }
    pthread_mutex_unlock(&f->lock);
    fn(f, data);
}

/* ---- the thread pool ---------------------------------------------------- */

/* pool_new - the parts both kinds of pool share */
static inline struct pool *pool_new(enum pool_kind kind, int max_workers)
{
    struct pool *pool = calloc(1, sizeof *pool);

    if (pool == NULL)
        die("calloc");
    pool->kind = kind;
    pool->max_workers = max_workers;
    pool->channel = -1;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->work_ready, NULL);
    pthread_cond_init(&pool->space_free, NULL);
    return pool;
}

/* thread_worker - one worker thread: take the oldest task, run it, finish
 * its future; leave when the pool shuts down and the queue is empty */
static inline void *thread_worker(void *arg)
{
    /* LAB-BEGIN thread-worker: one worker thread: number itself under the lock
     * (pool_worker_no = ++pool->started); then for ever: under the lock, wait
     * on work_ready while the queue is empty and the pool is not shutting
     * down; empty and shutting down: unlock and return NULL; else take the
     * oldest future off the queue, signal space_free, unlock; run
     * f->fn(f->arg, result), future_finish() it as FUTURE_FINISHED,
     * future_release() the pool's reference. See NOTES.md section 2, the
     * thread pool.
     * Stub: (void)arg; return NULL;
     * Tests: futures: 20 tasks
     */
    struct pool *pool = arg;
    unsigned char result[POOL_RESULT_MAX];

    pthread_mutex_lock(&pool->lock);
    pool_worker_no = ++pool->started;       /* 1..N, in the order they start */
    pthread_mutex_unlock(&pool->lock);
    for (;;) {
        struct future *f;
        size_t len;

        pthread_mutex_lock(&pool->lock);
        while (pool->queue_head == NULL && !pool->shutting_down)
            pthread_cond_wait(&pool->work_ready, &pool->lock);
        f = pool->queue_head;
        if (f == NULL) {                    /* shut down, nothing left */
            pthread_mutex_unlock(&pool->lock);
            return NULL;
        }
        pool->queue_head = f->next;
        if (pool->queue_head == NULL)
            pool->queue_tail = NULL;
        pool->queued--;
        pthread_cond_signal(&pool->space_free);
        pthread_mutex_unlock(&pool->lock);

        len = f->fn(f->arg, result);
        future_finish(f, FUTURE_FINISHED, result, len);
        future_release(f);                  /* the pool's reference */
    }
    /* LAB-END thread-worker */
}

/* thread_pool_new - start max_workers threads (0: Python's default);
 * queue_max > 0 bounds the tasks waiting for a free thread */
static inline struct pool *thread_pool_new(int max_workers, size_t queue_max)
{
    struct pool *pool;
    sigset_t all, old;
    int err;

    if (max_workers <= 0)
        max_workers = pool_default_threads();
    pool = pool_new(POOL_THREADS, max_workers);
    pool->queue_max = queue_max;
    pool->threads = calloc((size_t)max_workers, sizeof *pool->threads);
    if (pool->threads == NULL)
        die("calloc");

    /* A new thread inherits the creator's signal mask. Workers block every
     * signal, so SIGINT and SIGTERM are handled by the main thread, as
     * in Python, where only the main thread runs signal handlers. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (int i = 0; i < max_workers; i++) {
        err = pthread_create(&pool->threads[i], NULL, thread_worker, pool);
        if (err != 0) {                     /* out of threads: the program ends */
            errno = err;
            die("pthread_create (worker %d of %d)", i + 1, max_workers);
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return pool;
}

/* thread_pool_submit - queue the future; block while the queue is full */
static inline int thread_pool_submit(struct pool *pool, struct future *f)
{
    pthread_mutex_lock(&pool->lock);
    while (!pool->shutting_down && pool->queue_max > 0 && pool->queued >= pool->queue_max)
        pthread_cond_wait(&pool->space_free, &pool->lock);
    if (pool->shutting_down) {
        pthread_mutex_unlock(&pool->lock);
        return -1;
    }
    if (pool->queue_tail != NULL)
        pool->queue_tail->next = f;
    else
        pool->queue_head = f;
    pool->queue_tail = f;
    pool->queued++;
    pthread_cond_signal(&pool->work_ready);
    pthread_mutex_unlock(&pool->lock);
    return 0;
}

/* pool_waiting - tasks submitted to a thread pool and not started yet */
static inline size_t pool_waiting(struct pool *pool)
{
    size_t n;

    pthread_mutex_lock(&pool->lock);
    n = pool->queued;
    pthread_mutex_unlock(&pool->lock);
    return n;
}

/* ---- the process pool --------------------------------------------------- */

/* process_worker - one worker process: recv a task, run it, send the
 * result; end when the parent shuts the channel down */
static inline void process_worker(int channel)
{
    struct task_message task;
    struct result_message reply;

    for (;;) {
        ssize_t n = recv(channel, &task, sizeof task, 0);

        if (n == 0)                         /* the pool was shut down */
            return;
        if (n == -1) {
            if (errno == EINTR)
                continue;
            return;
        }
        memset(&reply, 0, sizeof reply);
        reply.id = task.id;
        reply.len = task.fn(task.arg, reply.result);
        fflush(NULL);                       /* the task's printing, now */
        while (send(channel, &reply, sizeof reply, MSG_NOSIGNAL) == -1)
            if (errno != EINTR)
                return;
    }
}

/* collector - the parent's thread that turns result messages into
 * finished futures (and so runs their callbacks); when every worker has
 * gone, it marks whatever is still in flight broken */
static inline void *collector(void *arg)
{
    struct pool *pool = arg;
    struct result_message reply;

    for (;;) {
        ssize_t n = recv(pool->channel, &reply, sizeof reply, 0);
        struct future *f, **link;

        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0)                         /* every worker has closed its end */
            break;
        pthread_mutex_lock(&pool->lock);
        for (link = &pool->in_flight; *link != NULL && (*link)->id != reply.id;
             link = &(*link)->next)
            ;
        f = *link;
        if (f != NULL)
            *link = f->next;
        pthread_mutex_unlock(&pool->lock);
        if (f == NULL)
            continue;
        future_finish(f, FUTURE_FINISHED, reply.result, reply.len);
        future_release(f);                  /* the pool's reference */
    }

    /* Python calls this a BrokenProcessPool: a task whose worker died
     * will never get a result. Wake whoever waits for one. */
    for (;;) {
        struct future *f;

        pthread_mutex_lock(&pool->lock);
        f = pool->in_flight;
        if (f != NULL)
            pool->in_flight = f->next;
        pthread_mutex_unlock(&pool->lock);
        if (f == NULL)
            return NULL;
        future_finish(f, FUTURE_BROKEN, "", 0);
        future_release(f);
    }
}

/* process_pool_new - fork max_workers worker processes (0: Python's
 * default), then start the collector thread. Call it while the program
 * has no other thread: fork copies only the calling thread, so a lock
 * another thread held then (malloc's, stdio's) stays locked in the child
 * for ever. Hence the workers are forked before the collector starts. */
static inline struct pool *process_pool_new(int max_workers)
{
    struct pool *pool;
    int pair[2], err;
    sigset_t all, old;

    if (max_workers <= 0)
        max_workers = pool_default_processes();
    pool = pool_new(POOL_PROCESSES, max_workers);
    pool->pids = calloc((size_t)max_workers, sizeof *pool->pids);
    if (pool->pids == NULL)
        die("calloc");
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) == -1)
        die("socketpair");

    fflush(NULL);       /* else each child inherits, and prints, our buffer */
    for (int i = 0; i < max_workers; i++) {
        pid_t pid = fork();

        if (pid == -1)
            die("fork");
        if (pid == 0) {                     /* the worker */
            close(pair[0]);
            pool_worker_no = i + 1;
            process_worker(pair[1]);
            fflush(NULL);
            _exit(0);   /* not exit(): the parent's atexit work is not ours */
        }
        pool->pids[i] = pid;
    }
    close(pair[1]);     /* only workers hold it now: all gone = end of file */
    pool->channel = pair[0];

    sigfillset(&all);   /* the collector, like thread workers, takes no signal */
    pthread_sigmask(SIG_SETMASK, &all, &old);
    err = pthread_create(&pool->collector, NULL, collector, pool);
    if (err != 0) {
        errno = err;
        die("pthread_create (the collector)");
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return pool;
}

/* process_pool_submit - list the future as in flight, send its task;
 * send() blocks while the socket's buffer (the queue) is full */
static inline int process_pool_submit(struct pool *pool, struct future *f)
{
    struct task_message task;

    pthread_mutex_lock(&pool->lock);
    if (pool->shutting_down) {
        pthread_mutex_unlock(&pool->lock);
        return -1;
    }
    f->id = ++pool->next_id;
    f->next = pool->in_flight;
    pool->in_flight = f;
    pthread_mutex_unlock(&pool->lock);

    memset(&task, 0, sizeof task);
    task.id = f->id;
    task.fn = f->fn;
    memcpy(task.arg, f->arg, sizeof task.arg);
    while (send(pool->channel, &task, sizeof task, MSG_NOSIGNAL) == -1) {
        struct future **link;

        if (errno == EINTR)
            continue;
        /* Every worker is gone: take f back off the list, unless the
         * collector got there first (then f is finished broken, and the
         * caller's like any other future). */
        pthread_mutex_lock(&pool->lock);
        for (link = &pool->in_flight; *link != NULL && *link != f; link = &(*link)->next)
            ;
        if (*link == NULL) {
            pthread_mutex_unlock(&pool->lock);
            return 0;
        }
        *link = f->next;
        pthread_mutex_unlock(&pool->lock);
        return -1;
    }
    return 0;
}

/* ---- both pools ----------------------------------------------------------- */

/* pool_submit - run fn(arg) on a worker; return its future (release it
 * with future_release), or NULL if the pool is shut down */
static inline struct future *pool_submit(struct pool *pool, pool_task *fn, const void *arg,
                                  size_t arg_len)
{
    struct future *f;
    int rc;

    if (arg_len > POOL_ARG_MAX) {
        errno = EMSGSIZE;
        return NULL;
    }
    f = future_new(fn, arg, arg_len);
    rc = pool->kind == POOL_THREADS ? thread_pool_submit(pool, f) : process_pool_submit(pool, f);
    if (rc == -1) {                         /* nobody else holds f */
        future_release(f);
        future_release(f);
        errno = EINVAL;
        return NULL;
    }
    return f;
}

/* pool_shutdown - accept no more tasks; the workers finish those already
 * submitted and end. With wait, return only when they all have. */
static inline void pool_shutdown(struct pool *pool, bool wait)
{
    bool first;

    pthread_mutex_lock(&pool->lock);
    first = !pool->shutting_down;
    pool->shutting_down = true;
    pthread_cond_broadcast(&pool->work_ready);
    pthread_cond_broadcast(&pool->space_free);
    pthread_mutex_unlock(&pool->lock);
    /* Process workers see end of file once they have read every task
     * already sent: "no more tasks", in the socket itself. */
    if (first && pool->kind == POOL_PROCESSES)
        shutdown(pool->channel, SHUT_WR);
    if (!wait || pool->joined)
        return;
    for (int i = 0; i < pool->max_workers; i++) {       /* wait for every worker */
        if (pool->kind == POOL_THREADS)
            pthread_join(pool->threads[i], NULL);
        else
            while (waitpid(pool->pids[i], NULL, 0) == -1 && errno == EINTR)
                ;
    }
    if (pool->kind == POOL_PROCESSES)
        pthread_join(pool->collector, NULL);    /* ends at the workers' end of file */
    pool->joined = true;
}

/* pool_free - shut down, wait for the workers, free the pool. C has no
 * garbage collector: a pool must outlive its workers, so free waits. */
static inline void pool_free(struct pool *pool)
{
    pool_shutdown(pool, true);
    if (pool->channel != -1)
        close(pool->channel);
    free(pool->threads);
    free(pool->pids);
    pthread_cond_destroy(&pool->space_free);
    pthread_cond_destroy(&pool->work_ready);
    pthread_mutex_destroy(&pool->lock);
    free(pool);
}

#endif
