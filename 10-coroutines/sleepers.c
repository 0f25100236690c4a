/* sleepers.c - heng, ha and heiheihei: switching helps on waits, not on work
 *
 * The gevent demo of the Python notes. Three coroutines sleep 2, 3 and 5 seconds. With
 * green_sleep() a sleeping coroutine is parked in the scheduler's sleep
 * list and the others run, so the three waits overlap: the whole thing
 * takes about 5 seconds (the longest), not 2 + 3 + 5 = 10.
 *
 *   ./sleepers             green_sleep(): about 5 s
 *   ./sleepers --blocking  the same coroutines calling plain nanosleep():
 *                          the whole thread sleeps, nobody else runs, so
 *                          about 10 s and the lines come out one task at a
 *                          time. This is what gevent's monkey.patch_all()
 *                          prevents, and what C has no way to prevent: any
 *                          truly blocking call in a coroutine stalls all.
 *   ./sleepers --cpu       no waiting at all, only computing: first the
 *                          three tasks one after another, then as
 *                          coroutines that yield every few thousand steps.
 *                          Both take the same time (the switching version
 *                          a little more): with one CPU and nothing to wait
 *                          for, switching only adds work.
 *
 * Usage: ./sleepers [--blocking | --cpu] [-u MS]
 *        -u MS  the length of one "second" in milliseconds (default 1000),
 *               to run the demo faster
 *
 * See also: green.h (green_sleep, the sleep list), server.c, NOTES.md.
 * Python notes: 004 (gevent spawn/join and the heng/ha/heiheihei timing;
 * "switching on IO helps, switching without IO hurts").
 * Linux-specific: epoll (in green.h).
 */
#define _GNU_SOURCE             /* ucontext, epoll (green.h) */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../lib/lab.h"
#include "green.h"

#define YIELD_EVERY 4096        /* CPU steps between two green_yield() calls */

enum mode { MODE_GREEN, MODE_BLOCKING, MODE_CPU };

/* one of the Python notes' three tasks */
struct task {
    const char *name;           /* the Python function's name */
    const char *cry;            /* and what it prints */
    int units;                  /* how long it sleeps (or computes) */
};

static const struct task tasks[3] = {
    {"heng", "哼", 2}, {"ha", "哈", 3}, {"heiheihei", "heiheihei", 5},
};

static enum mode mode = MODE_GREEN;
static long unit_ms = 1000;
static unsigned long long steps_per_unit;   /* CPU steps in one unit */
static long long started_ms;
static unsigned long yields;
static volatile unsigned long long sink;    /* keeps the work from being optimised away */

/* say - one line, prefixed with the time since the start */
static void say(const char *fmt, ...)
{
    va_list ap;

    printf("[%6.2f s] ", (double)(now_ms() - started_ms) / 1000.0);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

/* blocking_sleep - nanosleep(): the whole OS thread sleeps */
static void blocking_sleep(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

/* sleeper - the Python notes' heng(): print, sleep, print */
static void sleeper(void *arg)
{
    const struct task *t = arg;
    long ms = t->units * unit_ms;

    say("%-9s going to sleep for %d units: %s", t->name, t->units, t->cry);
    if (mode == MODE_BLOCKING)
        blocking_sleep(ms);     /* the mistake: nobody else can run */
    else
        green_sleep(ms);        /* parks only this coroutine */
    say("%-9s woke up: %s", t->name, t->cry);
}

/* compute - `units` units of pure CPU work; yields now and then if asked */
static void compute(int units, int yielding)
{
    unsigned long long x = 88172645463325252ULL;
    unsigned long long steps = steps_per_unit * (unsigned long long)units;

    for (unsigned long long i = 1; i <= steps; i++) {
        x ^= x << 13;           /* xorshift: cheap work the compiler keeps */
        x ^= x >> 7;
        x ^= x << 17;
        if (yielding && i % YIELD_EVERY == 0) {
            yields++;
            green_yield();
        }
    }
    sink = x;
}

/* cruncher - a CPU-bound task as a coroutine */
static void cruncher(void *arg)
{
    const struct task *t = arg;

    say("%-9s starts computing %d units: %s", t->name, t->units, t->cry);
    compute(t->units, 1);
    say("%-9s done: %s", t->name, t->cry);
}

/* calibrate - steps_per_unit so that one unit of work takes about a
 * quarter of unit_ms on this machine (the --cpu demo stays short) */
static void calibrate(void)
{
    long long t0 = now_ms(), elapsed;

    steps_per_unit = 1000000;
    compute(1, 0);
    elapsed = now_ms() - t0;
    if (elapsed < 1)
        elapsed = 1;
    steps_per_unit = steps_per_unit * (unsigned long long)unit_ms / 4 / (unsigned long long)elapsed;
    if (steps_per_unit < YIELD_EVERY)
        steps_per_unit = YIELD_EVERY;
}

/* run_three - spawn one coroutine per task running fn, join them all
 * (the Python g1 = spawn(heng) ... g1.join()); the elapsed seconds */
static double run_three(void (*fn)(void *))
{
    struct green *g[3];

    started_ms = now_ms();
    for (int i = 0; i < 3; i++) {
        g[i] = green_spawn(fn, (void *)&tasks[i]);
        if (g[i] == NULL)
            die("spawn");
    }
    for (int i = 0; i < 3; i++)
        green_join(g[i]);
    return (double)(now_ms() - started_ms) / 1000.0;
}

/* run_cpu - the three tasks as plain calls, then as coroutines */
static void run_cpu(void)
{
    double one_by_one, green;

    calibrate();
    printf("one after another, plain function calls:\n");
    started_ms = now_ms();
    for (int i = 0; i < 3; i++) {
        say("%-9s starts computing %d units: %s", tasks[i].name, tasks[i].units,
            tasks[i].cry);
        compute(tasks[i].units, 0);
        say("%-9s done: %s", tasks[i].name, tasks[i].cry);
    }
    one_by_one = (double)(now_ms() - started_ms) / 1000.0;
    printf("total %.2f s\n\nas three coroutines, yielding every %d steps:\n", one_by_one,
           YIELD_EVERY);
    green = run_three(cruncher);
    printf("total %.2f s with %lu switches: %.2f times the plain calls.\n"
           "Nothing was waiting, so switching could only add work.\n",
           green, yields, green / one_by_one);
}

/* on_option - --blocking, --cpu, -u MS */
static void on_option(int key, const char *arg)
{
    if (key == 'b')
        mode = MODE_BLOCKING;
    else if (key == 'c')
        mode = MODE_CPU;
    else if (key == 'u')
        unit_ms = parse_number(arg, 1, 60000, "unit");
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'b', "blocking", NULL, "the same with plain nanosleep(): about 10, one at a time"},
        {'c', "cpu", NULL, "computing instead of sleeping: switching gains nothing"},
        {'u', NULL, "MS", "one unit in milliseconds (default 1000)"},
        {0}};
    const struct lab_command cmd = {
        .about = "Three coroutines green_sleep() 2, 3 and 5 units: about 5 units, not 10.",
        .options = options, .on_option = on_option};
    double total;

    lab_parse(argc, argv, &cmd);
    if (green_init() == -1)
        die("epoll_create1");
    if (mode == MODE_CPU) {
        run_cpu();
        return 0;
    }
    total = run_three(sleeper);
    printf("total %.2f s for sleeps of 2 + 3 + 5 = 10 units of %ld ms (%s)\n", total,
           unit_ms, mode == MODE_BLOCKING ? "nanosleep blocked the thread: they added up"
                                          : "green_sleep: they overlapped");
    return 0;
}
