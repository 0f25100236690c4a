/* futures.c - the Python notes' pool examples: 20 tasks of n**n on 5 workers
 *
 * Python notes 004 submit task(n) for n = 0..19 to a pool of 5 workers.
 * Each task prints its n, sleeps (2 s in Python), and returns n**n. Two
 * listings:
 *
 *   1. thread pool: keep the futures in a list, shutdown() (wait for every
 *      task), then print each result in the order submitted;
 *   2. process pool: add_done_callback(call_back) on each future, so each
 *      result is printed by the callback as soon as it is ready.
 *
 * Run without --pool, this program plays both listings in that order.
 * Watch the tasks start five at a time: only five workers exist, so task
 * 5 starts when one of the first five ends, and 20 tasks take 4 rounds.
 * On the way it shows the rest of a future's interface: done(),
 * result(timeout), and a callback added to a future already done, which
 * runs at once in the thread that adds it.
 *
 * n**n is exact: Python's integers have no size limit, C's do. 15**15 fits
 * in 64 bits; 16**16 = 2**64 does not. So the task computes in decimal,
 * digit by digit, as school multiplication does, and returns the digits.
 *
 * Usage: ./futures [--pool threads|processes] [--callbacks] [-w N] [-n TASKS] [-d MS]
 *        (defaults: both listings, 5 workers, 20 tasks, 500 ms per task;
 *        -w 0 uses Python's default size)
 *
 * See also: pool.h, server.c, NOTES.md.
 * Python notes: 004 (ThreadPoolExecutor, ProcessPoolExecutor, submit, result,
 * shutdown, add_done_callback).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../lib/lab.h"
#include "pool.h"

#define MAX_TASKS 60        /* 59**59 has 105 digits: within MAX_N_DIGITS * 2 */
#define MAX_N_DIGITS 100

/* What one task is given: copied into the pool (and, for a process pool,
 * sent to the worker as bytes). */
struct task_arg {
    int n;
    int delay_ms;
};

/* power_decimal - n**n, exactly, as decimal digits into out (NUL-ended).
 * digits[] holds the number least significant digit first; each step
 * multiplies it by n with a carry, as on paper. */
static size_t power_decimal(int n, char *out)
{
    unsigned char digits[2 * MAX_N_DIGITS] = {1};
    size_t len = 1;

    for (int step = 0; step < n; step++) {
        unsigned carry = 0;

        for (size_t i = 0; i < len; i++) {
            unsigned d = digits[i] * (unsigned)n + carry;
            digits[i] = (unsigned char)(d % 10);
            carry = d / 10;
        }
        while (carry > 0) {
            digits[len++] = (unsigned char)(carry % 10);
            carry /= 10;
        }
    }
    for (size_t i = 0; i < len; i++)
        out[i] = (char)('0' + digits[len - 1 - i]);
    out[len] = '\0';
    return len + 1;
}

/* task - the Python notes' task(n): say where it runs, sleep, return n**n */
static size_t task(const void *arg, void *result)
{
    struct task_arg job;
    struct timespec pause;

    memcpy(&job, arg, sizeof job);
    printf("task %d runs in pid %ld, worker %d\n", job.n, (long)getpid(),
           pool_worker_number());
    pause.tv_sec = job.delay_ms / 1000;
    pause.tv_nsec = (long)(job.delay_ms % 1000) * 1000000L;
    while (nanosleep(&pause, &pause) == -1 && errno == EINTR)
        ;
    return power_decimal(job.n, result);
}

/* call_back - the Python notes' call_back: print the result of a finished future */
static void call_back(struct future *f, void *data)
{
    const int *n = data;
    const char *value = future_result(f, 0, NULL);

    printf("call_back>>>: %d ** %d = %s\n", *n, *n, value != NULL ? value : "(worker died)");
}

/* late_callback - added after the future is done: runs at once, here */
static void late_callback(struct future *f, void *data)
{
    const int *n = data;
    const char *value = future_result(f, 0, NULL);   /* NULL: its worker died */

    printf("already done: the callback ran at once, in the thread that added it: "
           "%d ** %d = %s\n", *n, *n, value != NULL ? value : "(worker died)");
}

/* seconds_since - elapsed time on the monotonic clock */
static double seconds_since(const struct timespec *start)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* ask_the_last - done() and result(timeout) on the last future, while the
 * pool is still busy with the first ones */
static void ask_the_last(struct future *f, int n)
{
    const char *value;

    printf("future %d: done() = %s\n", n, future_done(f) ? "true" : "false");
    value = future_result(f, 0.1, NULL);
    if (value == NULL && errno == ETIMEDOUT)
        printf("future %d: result(timeout=0.1) timed out: no worker has finished it yet\n", n);
    else if (value == NULL)                 /* EPIPE: Python's BrokenProcessPool */
        printf("future %d: result(timeout=0.1): its worker died\n", n);
    else
        printf("future %d: result(timeout=0.1) = %s\n", n, value);
}

/* run_listing - submit the tasks to one pool, then print the results in
 * order after shutdown, or from callbacks as they come */
static void run_listing(bool processes, bool callbacks, int workers, int tasks, int delay_ms)
{
    static int numbers[MAX_TASKS];          /* callback data: outlives the pool */
    struct future *futures[MAX_TASKS];
    struct pool *pool = processes ? process_pool_new(workers) : thread_pool_new(workers, 0);
    struct timespec start;

    printf("\n== %s pool of %d workers, %d tasks of n**n, %d ms each, results %s ==\n",
           processes ? "process" : "thread", pool->max_workers, tasks, delay_ms,
           callbacks ? "from done-callbacks" : "in order after shutdown");
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (int i = 0; i < tasks; i++) {
        struct task_arg job = {i, delay_ms};

        numbers[i] = i;
        futures[i] = pool_submit(pool, task, &job, sizeof job);     /* returns at once */
        if (futures[i] == NULL)
            die("submit");
        if (callbacks)
            future_add_done_callback(futures[i], call_back, &numbers[i]);
    }
    printf("submitted %d tasks: each submit returned a future at once\n", tasks);
    ask_the_last(futures[tasks - 1], tasks - 1);

    pool_shutdown(pool, true);              /* wait for every task */
    printf("shutdown(wait=true) returned after %.1f s: every task is done\n",
           seconds_since(&start));
    for (int i = 0; i < tasks && !callbacks; i++)
        printf(">>> %d ** %d = %s\n", i, i, (const char *)future_result(futures[i], -1, NULL));

    future_add_done_callback(futures[0], late_callback, &numbers[0]);
    for (int i = 0; i < tasks; i++)
        future_release(futures[i]);
    pool_free(pool);
}

/* The command line, with the Python notes' values as defaults. */
static const char *pool_kind = NULL;        /* NULL: both listings */
static bool callbacks = false;
static int workers = 5, tasks = 20, delay_ms = 500;

/* on_option - --pool, --callbacks, -w, -n, -d */
static void on_option(int key, const char *arg)
{
    if (key == 'C')
        callbacks = true;
    else if (key == 'w')
        workers = (int)parse_number(arg, 0, 64, "worker count");
    else if (key == 'n')
        tasks = (int)parse_number(arg, 1, MAX_TASKS, "task count");
    else if (key == 'd')
        delay_ms = (int)parse_number(arg, 0, 60000, "delay");
    else if (strcmp(arg, "threads") == 0 || strcmp(arg, "processes") == 0)
        pool_kind = arg;
    else
        usage_error("bad pool '%s' (threads or processes)", arg);
}

int main(int argc, char *argv[])
{
    char workers_help[128];
    const struct lab_option options[] = {
        {'P', "pool", "threads|processes",
         "run one pool only (default: threads in order, then processes with callbacks)"},
        {'C', "callbacks", NULL, "print each result from a done-callback, as it comes"},
        {'w', NULL, "N", workers_help},
        {'n', NULL, "TASKS", "tasks, n = 0 .. TASKS-1 (default 20, at most 60)"},
        {'d', NULL, "MS", "how long each task sleeps (default 500)"},
        {0}};
    const struct lab_command cmd = {
        .about = "The Python notes' pool listings: 20 tasks of n**n on a pool of 5.",
        .options = options, .on_option = on_option};

    snprintf(workers_help, sizeof workers_help,
             "workers (default 5; 0 = Python's default: threads min(32, cpus + 4) = %d,"
             " processes cpus = %d)", pool_default_threads(), pool_default_processes());
    lab_parse(argc, argv, &cmd);

    /* One line at a time even into a pipe, so that lines from the workers
     * and from this process come out in the order they were printed. A
     * forked worker inherits this setting with the rest of stdout. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("main runs in pid %ld; Python's default sizes here: "
           "ThreadPoolExecutor %d, ProcessPoolExecutor %d\n",
           (long)getpid(), pool_default_threads(), pool_default_processes());

    if (pool_kind == NULL) {                /* the Python notes' two listings */
        run_listing(false, false, workers, tasks, delay_ms);
        run_listing(true, true, workers, tasks, delay_ms);
    } else {
        run_listing(strcmp(pool_kind, "processes") == 0, callbacks, workers, tasks, delay_ms);
    }
    return 0;
}
