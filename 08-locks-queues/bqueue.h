/* bqueue.h - a bounded blocking queue for threads, shaped like Python's
 * queue.Queue, queue.LifoQueue and queue.PriorityQueue
 *
 * The Python notes say a queue is a pipe plus a lock; that is
 * multiprocessing.Queue (see ipc_queue.c). queue.Queue, the one threads
 * use, has no pipe: it is a deque plus a lock and three conditions, and so
 * is this one, with an array: one mutex guards the items, and three
 * condition variables let threads sleep until something changes:
 *
 *   not_empty       get() waits here while the queue is empty
 *   not_full        put() waits here while the queue holds maxsize items
 *   all_tasks_done  join() waits here until every item put has been
 *                   marked done with task_done() (JoinableQueue)
 *
 * Every wait is in a while loop: a condition variable may wake a thread
 * spuriously, or another thread may take the item first, so the condition
 * is tested again after every wake-up.
 *
 * The three kinds differ only in where put() stores and get() takes:
 *   QUEUE_FIFO      a ring buffer: first in, first out
 *   QUEUE_LIFO      a stack: last in, first out
 *   QUEUE_PRIORITY  a binary heap: the smallest (priority, text) first, as
 *                   Python's PriorityQueue compares (priority, data) tuples
 *
 * Timeouts are in milliseconds: QUEUE_FOREVER blocks (Python's
 * block=True, timeout=None), 0 does not block (put_nowait/get_nowait),
 * n > 0 waits at most n ms. Deadlines are taken on CLOCK_MONOTONIC, so
 * setting the wall clock does not stretch or cut a timeout.
 *
 * Unlike Python's, maxsize must be at least 1: this queue is always
 * bounded, so a producer faster than its consumers is slowed down instead
 * of filling memory.
 *
 * Used by queues.c and prodcons.c. Python notes: 004 (queue, LifoQueue,
 * PriorityQueue, JoinableQueue).
 */
#ifndef BQUEUE_H
/* Static inline: each program that includes this gets its own copy, and
 * the compiler does not warn about the functions a program does not use. */
#define BQUEUE_H

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QUEUE_FOREVER (-1L)
#define QUEUE_TEXT_MAX 96

enum queue_kind { QUEUE_FIFO, QUEUE_LIFO, QUEUE_PRIORITY };
enum queue_status { QUEUE_OK = 0, QUEUE_FULL, QUEUE_EMPTY };

struct queue_item {
    long priority;                  /* used by QUEUE_PRIORITY only */
    char text[QUEUE_TEXT_MAX];
};

struct queue {
    enum queue_kind kind;
    size_t maxsize;
    size_t count;                   /* items in the queue now */
    size_t head;                    /* QUEUE_FIFO: index of the oldest item */
    struct queue_item *items;       /* maxsize slots */
    unsigned long unfinished_tasks; /* put() minus task_done() */
    pthread_mutex_t mutex;
    pthread_cond_t not_empty, not_full, all_tasks_done;
};

/* queue_init - an empty queue of kind holding at most maxsize items;
 * 0, or an errno value */
static inline int queue_init(struct queue *q, enum queue_kind kind, size_t maxsize)
{
    pthread_condattr_t attr;
    int rc;

    if (maxsize == 0)
        return EINVAL;
    memset(q, 0, sizeof *q);
    q->kind = kind;
    q->maxsize = maxsize;
    q->items = calloc(maxsize, sizeof *q->items);
    if (q->items == NULL)
        return ENOMEM;
    if ((rc = pthread_mutex_init(&q->mutex, NULL)) != 0)
        return rc;
    /* Condition variables measure timeouts on the clock set here. */
    if ((rc = pthread_condattr_init(&attr)) != 0
        || (rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)) != 0
        || (rc = pthread_cond_init(&q->not_empty, &attr)) != 0
        || (rc = pthread_cond_init(&q->not_full, &attr)) != 0
        || (rc = pthread_cond_init(&q->all_tasks_done, &attr)) != 0)
        return rc;
    pthread_condattr_destroy(&attr);
    return 0;
}

/* queue_destroy - free what queue_init made (no thread may be using it) */
static inline void queue_destroy(struct queue *q)
{
    pthread_cond_destroy(&q->all_tasks_done);
    pthread_cond_destroy(&q->not_full);
    pthread_cond_destroy(&q->not_empty);
    pthread_mutex_destroy(&q->mutex);
    free(q->items);
}

/* queue_deadline - now + ms on CLOCK_MONOTONIC */
static inline struct timespec queue_deadline(long ms)
{
    struct timespec when;

    clock_gettime(CLOCK_MONOTONIC, &when);
    when.tv_sec += ms / 1000;
    when.tv_nsec += (ms % 1000) * 1000000L;
    if (when.tv_nsec >= 1000000000L) {
        when.tv_sec++;
        when.tv_nsec -= 1000000000L;
    }
    return when;
}

/* queue_wait - wait on cond for as long as blocked(q) is true, honouring
 * timeout_ms; called and returns with q->mutex held. 1 if the wait ended
 * because the condition cleared, 0 on timeout. */
static inline int queue_wait(struct queue *q, pthread_cond_t *cond, int (*blocked)(const struct queue *),
                      long timeout_ms)
{
    struct timespec deadline = {0, 0};

    if (timeout_ms > 0)
        deadline = queue_deadline(timeout_ms);
    while (blocked(q)) {
        if (timeout_ms == 0)
            return 0;
        if (timeout_ms < 0) {
            pthread_cond_wait(cond, &q->mutex);
        } else if (pthread_cond_timedwait(cond, &q->mutex, &deadline) == ETIMEDOUT) {
            return !blocked(q);     /* a last look: it may have just changed */
        }
    }
    return 1;
}

static inline int queue_is_full(const struct queue *q) { return q->count == q->maxsize; }
static inline int queue_is_empty(const struct queue *q) { return q->count == 0; }

/* queue_before - heap order for QUEUE_PRIORITY: (priority, text) tuples */
static inline int queue_before(const struct queue_item *a, const struct queue_item *b)
{
    if (a->priority != b->priority)
        return a->priority < b->priority;
    return strcmp(a->text, b->text) < 0;
}

/* queue_store - add item where this kind keeps it; q->mutex held, not full */
static inline void queue_store(struct queue *q, const struct queue_item *item)
{
    size_t i = q->count, parent;
    struct queue_item swap;

    switch (q->kind) {
    case QUEUE_FIFO:
        q->items[(q->head + q->count) % q->maxsize] = *item;
        break;
    case QUEUE_LIFO:
        q->items[q->count] = *item;
        break;
    case QUEUE_PRIORITY:            /* sift up from the new leaf */
        q->items[i] = *item;
        while (i > 0 && queue_before(&q->items[i], &q->items[parent = (i - 1) / 2])) {
            swap = q->items[i];
            q->items[i] = q->items[parent];
            q->items[parent] = swap;
            i = parent;
        }
        break;
    }
    q->count++;
}

/* queue_take - remove the next item for this kind; q->mutex held, not empty */
static inline void queue_take(struct queue *q, struct queue_item *item)
{
    size_t i = 0, child;
    struct queue_item swap;

    q->count--;
    switch (q->kind) {
    case QUEUE_FIFO:
        *item = q->items[q->head];
        q->head = (q->head + 1) % q->maxsize;
        break;
    case QUEUE_LIFO:
        *item = q->items[q->count];
        break;
    case QUEUE_PRIORITY:            /* the root; the last leaf sifts down */
        *item = q->items[0];
        q->items[0] = q->items[q->count];
        while ((child = 2 * i + 1) < q->count) {
            if (child + 1 < q->count && queue_before(&q->items[child + 1], &q->items[child]))
                child++;
            if (!queue_before(&q->items[child], &q->items[i]))
                break;
            swap = q->items[i];
            q->items[i] = q->items[child];
            q->items[child] = swap;
            i = child;
        }
        break;
    }
}

/* queue_put - add item, waiting up to timeout_ms for room;
 * QUEUE_OK, or QUEUE_FULL if there was no room in time (Python: queue.Full) */
static inline enum queue_status queue_put(struct queue *q, const struct queue_item *item,
                                   long timeout_ms)
{
    enum queue_status status = QUEUE_FULL;

    pthread_mutex_lock(&q->mutex);
    if (queue_wait(q, &q->not_full, queue_is_full, timeout_ms)) {
        queue_store(q, item);
        q->unfinished_tasks++;
        pthread_cond_signal(&q->not_empty);     /* one getter can go on */
        status = QUEUE_OK;
    }
    pthread_mutex_unlock(&q->mutex);
    return status;
}

/* queue_get - take the next item, waiting up to timeout_ms for one;
 * QUEUE_OK, or QUEUE_EMPTY if none came in time (Python: queue.Empty) */
static inline enum queue_status queue_get(struct queue *q, struct queue_item *item, long timeout_ms)
{
    enum queue_status status = QUEUE_EMPTY;

    pthread_mutex_lock(&q->mutex);
    if (queue_wait(q, &q->not_empty, queue_is_empty, timeout_ms)) {
        queue_take(q, item);
        pthread_cond_signal(&q->not_full);      /* one putter can go on */
        status = QUEUE_OK;
    }
    pthread_mutex_unlock(&q->mutex);
    return status;
}

/* queue_put_nowait, queue_get_nowait - never block */
static inline enum queue_status queue_put_nowait(struct queue *q, const struct queue_item *item)
{
    return queue_put(q, item, 0);
}

static inline enum queue_status queue_get_nowait(struct queue *q, struct queue_item *item)
{
    return queue_get(q, item, 0);
}

/* queue_qsize, queue_empty, queue_full - a snapshot: by the time the
 * caller acts on the answer another thread may have changed it, which is
 * why Python's documentation warns against relying on them */
static inline size_t queue_qsize(struct queue *q)
{
    size_t count;

    pthread_mutex_lock(&q->mutex);
    count = q->count;
    pthread_mutex_unlock(&q->mutex);
    return count;
}

static inline int queue_empty(struct queue *q) { return queue_qsize(q) == 0; }
static inline int queue_full(struct queue *q) { return queue_qsize(q) == q->maxsize; }

/* queue_task_done - a consumer has finished with an item it got; 0, or -1
 * if called more times than items were put (Python raises ValueError) */
static inline int queue_task_done(struct queue *q)
{
    int rc = 0;

    pthread_mutex_lock(&q->mutex);
    if (q->unfinished_tasks == 0) {
        rc = -1;
    } else if (--q->unfinished_tasks == 0) {
        pthread_cond_broadcast(&q->all_tasks_done);     /* every joiner */
    }
    pthread_mutex_unlock(&q->mutex);
    return rc;
}

static inline int queue_has_unfinished(const struct queue *q) { return q->unfinished_tasks > 0; }

/* queue_join - block until every item ever put has been task_done() */
static inline void queue_join(struct queue *q)
{
    pthread_mutex_lock(&q->mutex);
    queue_wait(q, &q->all_tasks_done, queue_has_unfinished, QUEUE_FOREVER);
    pthread_mutex_unlock(&q->mutex);
}

#endif
