/* money.c - 100 threads take 1 each from a shared 100: the mutex
 *
 * The Python version's example of a race between threads. money starts at 100;
 * 100 threads each read it into tmp, pause, and write tmp - 1 back. Without a
 * lock, every thread reads 100 before any of them writes, and they all write
 * 99: ninety-nine decrements are lost. With a mutex around read-pause-write,
 * the threads go through one at a time and money ends at 0 (and the run takes
 * 100 pauses instead of one: a lock turns concurrency back into a queue, which
 * is its price).
 *
 * The second half of the Python version's point is the GIL. CPython lets only
 * one thread run Python code at a time, and switches threads only every few
 * milliseconds or at a blocking call, so without the pause the Python version
 * nearly always prints 0 even without a lock. C has no GIL: on two cores, two
 * threads really run tmp = money; money = tmp - 1 at the same instant. Run
 * with --pause 0 -i 100000 --no-lock and updates are lost without any pause at
 * all.
 *
 * --no-lock races ON PURPOSE: it is a data race, undefined behaviour in
 * C11, and ThreadSanitizer (make SANITIZE=thread) reports it; that report
 * is part of the lesson. money is volatile so that every read and write
 * of it is a real memory access that the two cores fight over, instead of
 * a value the optimiser keeps in a register; volatile makes nothing atomic.
 *
 * Usage: ./money [--no-lock] [-n THREADS] [-i TIMES] [--pause MS]
 *        (defaults: locked, 100 threads, 1 decrement each, 100 ms pause)
 *
 * See also: server.c (the same race between processes), NOTES.md.
 * Python notes: 004 (thread mutex, GIL vs a user lock).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../lib/lab.h"

#define MAX_THREADS 1000

/* What every thread shares. */
static volatile long money;
static pthread_mutex_t money_lock = PTHREAD_MUTEX_INITIALIZER;
static int use_lock = 1;
static long decrements = 1;         /* per thread */
static long thread_count = 100, pause_ms = 100;
static struct timespec pause_time;  /* inside the critical section */

/* The starting gate: all threads begin together. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_opened = PTHREAD_COND_INITIALIZER;
static int gate_open = 0;

/* take_one - the Python version's task(): tmp = money; pause; money = tmp - 1 */
static void take_one(void)
{
    long tmp = money;

    if (pause_time.tv_sec != 0 || pause_time.tv_nsec != 0)
        nanosleep(&pause_time, NULL);   /* the Python version's time.sleep(0.1) */
    money = tmp - 1;
}

/* task - one thread: wait at the gate, then take its decrements */
static void *task(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&gate_lock);
    while (!gate_open)
        pthread_cond_wait(&gate_opened, &gate_lock);
    pthread_mutex_unlock(&gate_lock);

    for (long i = 0; i < decrements; i++) {
        if (use_lock)
            pthread_mutex_lock(&money_lock);
        take_one();
        if (use_lock)
            pthread_mutex_unlock(&money_lock);
    }
    return NULL;
}

/* on_option - the options of this demo, from lab_parse() */
static void on_option(int key, const char *arg)
{
    if (key == 'L')
        use_lock = 0;
    else if (key == 'n')
        thread_count = parse_number(arg, 1, MAX_THREADS, "thread count");
    else if (key == 'i')
        decrements = parse_number(arg, 1, 100000000, "decrement count");
    else if (key == 'P')
        pause_ms = parse_number(arg, 0, 10000, "pause");
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'L', "no-lock", NULL, "no mutex: the threads race (on purpose; TSan reports it)"},
        {'n', NULL, "THREADS", "threads, 1-1000 (default 100)"},
        {'i', NULL, "TIMES", "decrements per thread (default 1)"},
        {'P', "pause", "MS", "pause between reading and writing money, 0 = none (default 100)"},
        {0}};
    static const struct lab_command cmd = {
        .about = "money starts at THREADS * TIMES; the right answer is 0.",
        .options = options, .on_option = on_option};
    static pthread_t threads[MAX_THREADS];
    int rc;

    lab_parse(argc, argv, &cmd);
    pause_time.tv_sec = pause_ms / 1000;
    pause_time.tv_nsec = (pause_ms % 1000) * 1000000L;
    money = thread_count * decrements;
    printf("money = %ld; %ld threads take 1 each, %ld time%s, %s, pause %ld ms\n", money,
           thread_count, decrements, decrements == 1 ? "" : "s",
           use_lock ? "with the mutex" : "WITHOUT a lock (racing on purpose)", pause_ms);
    fflush(stdout);

    for (long i = 0; i < thread_count; i++) {
        if ((rc = pthread_create(&threads[i], NULL, task, NULL)) != 0) {
            errno = rc;
            die("pthread_create");
        }
    }
    pthread_mutex_lock(&gate_lock);
    gate_open = 1;
    pthread_cond_broadcast(&gate_opened);
    pthread_mutex_unlock(&gate_lock);
    for (long i = 0; i < thread_count; i++)
        pthread_join(threads[i], NULL);

    printf("money = %ld (expected 0; %ld decrement%s lost)\n", money, money,
           money == 1 ? "" : "s");
    return 0;
}
