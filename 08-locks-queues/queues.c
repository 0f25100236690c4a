/* queues.c - the Python version's tour of Python's queue module, in C
 *
 * Walks through what a bounded blocking queue does, the way the Python notes
 * do it in the interpreter: a Queue(5) filled with 111..555, full() and
 * empty(), a put() that would block on a full queue, five get()s in the order
 * of the puts, get_nowait() and get(timeout) on an empty queue. Then the
 * blocking itself, with a second thread: a get() that sleeps until the other
 * thread puts, a put() that sleeps until the other thread gets. Then the two
 * variants: LifoQueue(3) (a stack) and PriorityQueue(4) (smallest priority
 * first).
 *
 * The queue (bqueue.h) is what queue.Queue is inside: a buffer (an array
 * here, a deque there), one mutex and condition variables; no pipe (the
 * Python notes' "a queue is a pipe plus a lock" is multiprocessing.Queue,
 * see ipc_queue.c). Output is deterministic apart from the timeouts'
 * length.
 *
 * Usage: ./queues [--timeout MS]   (default 1000: how long the timed
 *                                    put/get wait; the Python version: 3 s)
 *
 * See also: bqueue.h (the queue), prodcons.c (task_done/join), ipc_queue.c (a
 * queue between processes), NOTES.md. Python notes: 004 (queue.Queue,
 * LifoQueue, PriorityQueue; multiprocessing.Queue).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../lib/lab.h"
#include "say.h"

#include "bqueue.h"

/* make_item - an item with this priority and text */
static struct queue_item make_item(long priority, const char *text)
{
    struct queue_item item;

    item.priority = priority;
    snprintf(item.text, sizeof item.text, "%s", text);
    return item;
}

/* new_queue - queue_init or die */
static void new_queue(struct queue *q, enum queue_kind kind, size_t maxsize)
{
    int rc = queue_init(q, kind, maxsize);

    if (rc != 0) {
        errno = rc;
        die("queue_init");
    }
}

/* sleep_ms - nanosleep for ms milliseconds */
static void sleep_ms(long ms)
{
    struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&pause, &pause) == -1 && errno == EINTR)
        continue;
}

/* show_fifo - the Python version's Queue(5) session, one thread */
static void show_fifo(long timeout_ms)
{
    static const char *const numbers[] = {"111", "222", "333", "444", "555"};
    struct queue q;
    struct queue_item item = make_item(0, "666");

    say("== Queue(5): first in, first out ==");
    new_queue(&q, QUEUE_FIFO, 5);
    for (int i = 0; i < 5; i++) {
        struct queue_item number = make_item(0, numbers[i]);

        queue_put(&q, &number, QUEUE_FOREVER);
        say("put(%s)            qsize() = %zu", numbers[i], queue_qsize(&q));
    }
    say("full() = %s, empty() = %s", queue_full(&q) ? "True" : "False",
        queue_empty(&q) ? "True" : "False");
    say("put_nowait(666) -> %s", queue_put_nowait(&q, &item) == QUEUE_FULL ? "Full at once" : "?");
    say("put(666, timeout=%ld ms) blocks: the queue is full...", timeout_ms);
    say("  ...%s", queue_put(&q, &item, timeout_ms) == QUEUE_FULL
                       ? "Full: nobody made room in time" : "?");
    for (int i = 0; i < 5; i++) {
        queue_get(&q, &item, QUEUE_FOREVER);
        say("get() -> %s", item.text);
    }
    say("full() = %s, empty() = %s", queue_full(&q) ? "True" : "False",
        queue_empty(&q) ? "True" : "False");
    say("get_nowait() -> %s", queue_get_nowait(&q, &item) == QUEUE_EMPTY ? "Empty at once" : "?");
    say("get(timeout=%ld ms) blocks: the queue is empty...", timeout_ms);
    say("  ...%s", queue_get(&q, &item, timeout_ms) == QUEUE_EMPTY
                       ? "Empty: none left (the Python version prints 'none left' here)" : "?");
    queue_destroy(&q);
}

/* The helper thread's orders for show_blocking. */
struct helper_job {
    struct queue *q;
    int do_put;                     /* 1: put "hello", 0: get one item */
};

/* helper - a second thread: after a short pause, put or get one item */
static void *helper(void *arg)
{
    struct helper_job *job = arg;
    struct queue_item item = make_item(0, "hello");

    sleep_ms(200);                  /* let main fall asleep first (not needed
                                     * for correctness, only to show it) */
    if (job->do_put) {
        say("  helper: put(hello)");
        queue_put(job->q, &item, QUEUE_FOREVER);
    } else {
        say("  helper: get() makes room");
        queue_get(job->q, &item, QUEUE_FOREVER);
    }
    return NULL;
}

/* run_helper - start helper with do_put, or die */
static pthread_t run_helper(struct helper_job *job)
{
    pthread_t thread;
    int rc = pthread_create(&thread, NULL, helper, job);

    if (rc != 0) {
        errno = rc;
        die("pthread_create");
    }
    return thread;
}

/* show_blocking - get() sleeps until another thread puts; put() on a full
 * queue sleeps until another thread gets */
static void show_blocking(void)
{
    struct queue q;
    struct queue_item item = make_item(0, "first");
    struct helper_job job = {&q, 1};
    pthread_t thread;

    say("== blocking: a second thread wakes the first ==");
    new_queue(&q, QUEUE_FIFO, 1);
    say("main: get() on an empty queue blocks...");
    thread = run_helper(&job);
    queue_get(&q, &item, QUEUE_FOREVER);
    say("main: ...get() -> %s", item.text);
    pthread_join(thread, NULL);

    item = make_item(0, "first");
    queue_put(&q, &item, QUEUE_FOREVER);
    job.do_put = 0;
    item = make_item(0, "second");
    say("main: put(second) on a full Queue(1) blocks...");
    thread = run_helper(&job);
    queue_put(&q, &item, QUEUE_FOREVER);
    say("main: ...put(second) done");
    pthread_join(thread, NULL);
    queue_destroy(&q);
}

/* show_lifo - LifoQueue(3): last in, first out */
static void show_lifo(void)
{
    struct queue q;
    struct queue_item item;
    char text[8];

    say("== LifoQueue(3): last in, first out (a stack) ==");
    new_queue(&q, QUEUE_LIFO, 3);
    for (int i = 1; i <= 3; i++) {
        snprintf(text, sizeof text, "%d", i);
        item = make_item(0, text);
        queue_put(&q, &item, QUEUE_FOREVER);
        say("put(%d)", i);
    }
    while (queue_get_nowait(&q, &item) == QUEUE_OK)
        say("get() -> %s", item.text);
    queue_destroy(&q);
}

/* show_priority - PriorityQueue(4): the smallest priority first */
static void show_priority(void)
{
    static const long priorities[] = {10, 100, 0, -5};
    static const char *const texts[] = {"111", "222", "333", "444"};
    struct queue q;
    struct queue_item item;

    say("== PriorityQueue(4): smallest priority first ==");
    new_queue(&q, QUEUE_PRIORITY, 4);
    for (int i = 0; i < 4; i++) {
        item = make_item(priorities[i], texts[i]);
        queue_put(&q, &item, QUEUE_FOREVER);
        say("put((%ld, '%s'))", priorities[i], texts[i]);
    }
    while (queue_get_nowait(&q, &item) == QUEUE_OK)
        say("get() -> (%ld, '%s')", item.priority, item.text);
    queue_destroy(&q);
}

static long timeout_ms = 1000;

/* on_option - --timeout MS, from lab_parse() */
static void on_option(int key, const char *arg)
{
    if (key == 't')
        timeout_ms = parse_number(arg, 1, 60000, "timeout");
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'t', "timeout", "MS", "how long the timed put()/get() wait (default 1000)"}, {0}};
    static const struct lab_command cmd = {.options = options, .on_option = on_option};

    lab_parse(argc, argv, &cmd);
    show_fifo(timeout_ms);
    show_blocking();
    show_lifo();
    show_priority();
    return 0;
}
