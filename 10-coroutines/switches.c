/* switches.c - what one switch costs: coroutine, thread, process
 *
 * The Python notes rank processes > threads > coroutines by cost. This program
 * measures the switch itself, on one CPU:
 *
 *   swapcontext      one ucontext switch between two contexts, nothing
 *                    else (it includes one rt_sigprocmask system call,
 *                    because ucontext saves and restores the signal mask)
 *   green_yield      one hand-over between two coroutines of green.h,
 *                    a and b: a yields straight to b (one swapcontext),
 *                    b ends the round, so it yields to the hub, which
 *                    calls epoll_wait(..., 0) and switches to a: three
 *                    swapcontext calls and one system call for two
 *                    hand-overs
 *   thread switch    two threads pinned to the same CPU passing a byte
 *                    back and forth through two pipes: each hand-over is
 *                    a write, a read and a trip through the kernel's
 *                    scheduler
 *   process switch   the same between two processes (fork)
 *
 * Each figure is the elapsed time divided by the number of hand-overs.
 * The pipe figures include the system calls that make the switch happen:
 * that is what a switch between threads or processes costs in practice.
 *
 * Usage: ./switches [-n ROUNDS]     (default 200000 round trips)
 *
 * See also: green.h, bench.sh (which runs this), NOTES.md ("Measured").
 * Python notes: 004 (switching and saving state; processes, threads,
 * coroutines).
 * Linux-specific: sched_setaffinity, epoll (in green.h).
 */
#define _GNU_SOURCE             /* ucontext, sched_setaffinity, epoll */

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../lib/lab.h"
#include "green.h"

static unsigned long rounds = 200000;

/* for the bare swapcontext test */
static ucontext_t main_context, other_context;

/* now_ns - monotonic clock in nanoseconds */
static long long now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* report - one line: what, nanoseconds per switch */
static void report(const char *what, long long elapsed_ns, unsigned long switches)
{
    printf("%-44s %8.0f ns\n", what, (double)elapsed_ns / (double)switches);
}

/* other_side - the second context of the bare test: switch straight back */
static void other_side(void)
{
    for (;;)
        swapcontext(&other_context, &main_context);
}

/* bench_swapcontext - main <-> other_context, 2 switches per round */
static void bench_swapcontext(void)
{
    static char stack[64 * 1024];
    long long start;

    if (getcontext(&other_context) == -1)
        die("getcontext");
    other_context.uc_stack.ss_sp = stack;
    other_context.uc_stack.ss_size = sizeof stack;
    other_context.uc_link = NULL;
    makecontext(&other_context, other_side, 0);
    start = now_ns();
    for (unsigned long i = 0; i < rounds; i++)
        swapcontext(&main_context, &other_context);
    report("swapcontext (one ucontext switch)", now_ns() - start, 2 * rounds);
}

/* yielder - a coroutine that yields `rounds` times */
static void yielder(void *arg)
{
    (void)arg;
    for (unsigned long i = 0; i < rounds; i++)
        green_yield();
}

/* bench_green_yield - two coroutines yielding to each other */
static void bench_green_yield(void)
{
    struct green *a = green_spawn(yielder, NULL), *b = green_spawn(yielder, NULL);
    long long start = now_ns();

    if (a == NULL || b == NULL)
        die("spawn");
    green_join(a);
    green_join(b);
    report("green_yield (coroutine -> coroutine)", now_ns() - start, 2 * rounds);
}

/* ping_pong - read a byte from `in`, write it to `out`, `rounds` times */
static void ping_pong(int in, int out, int first)
{
    char byte = 'x';

    for (unsigned long i = 0; i < rounds; i++) {
        if (first && write(out, &byte, 1) != 1)
            die("write");
        if (read(in, &byte, 1) != 1)
            die("read");
        if (!first && write(out, &byte, 1) != 1)
            die("write");
    }
}

static int pipe_ab[2], pipe_ba[2];

/* thread_side - the second thread of the pipe ping-pong */
static void *thread_side(void *arg)
{
    (void)arg;
    ping_pong(pipe_ab[0], pipe_ba[1], 0);
    return NULL;
}

/* bench_pipes - ping-pong between two threads or two processes */
static void bench_pipes(int use_processes)
{
    pthread_t thread;
    pid_t child = -1;
    long long start;
    int rc;

    if (pipe(pipe_ab) == -1 || pipe(pipe_ba) == -1)
        die("pipe");
    start = now_ns();
    if (use_processes) {
        child = fork();
        if (child == -1)
            die("fork");
        if (child == 0) {
            ping_pong(pipe_ab[0], pipe_ba[1], 0);
            _exit(0);
        }
    } else if ((rc = pthread_create(&thread, NULL, thread_side, NULL)) != 0) {
        errno = rc;
        die("pthread_create");
    }
    ping_pong(pipe_ba[0], pipe_ab[1], 1);
    if (use_processes)
        waitpid(child, NULL, 0);
    else
        pthread_join(thread, NULL);
    report(use_processes ? "process switch (pipe ping-pong, one CPU)"
                         : "thread switch (pipe ping-pong, one CPU)",
           now_ns() - start, 2 * rounds);
    close(pipe_ab[0]); close(pipe_ab[1]); close(pipe_ba[0]); close(pipe_ba[1]);
}

/* on_option - -n ROUNDS */
static void on_option(int key, const char *arg)
{
    if (key == 'n')
        rounds = (unsigned long)parse_number(arg, 1, 100000000, "round count");
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'n', NULL, "ROUNDS", "round trips per kind of switch (default 200000)"}, {0}};
    const struct lab_command cmd = {
        .about = "Nanoseconds per switch: ucontext, green_yield, thread, process.",
        .options = options, .on_option = on_option};
    cpu_set_t one_cpu;

    lab_parse(argc, argv, &cmd);
    /* One CPU for everything: a thread or process switch must then really
     * switch, instead of the two sides running side by side on two cores. */
    CPU_ZERO(&one_cpu);
    CPU_SET(0, &one_cpu);
    if (sched_setaffinity(0, sizeof one_cpu, &one_cpu) == -1)
        die("sched_setaffinity");
    if (green_init() == -1)
        die("epoll_create1");

    printf("%lu round trips each, pinned to CPU 0:\n", rounds);
    bench_swapcontext();
    bench_green_yield();
    bench_pipes(0);
    bench_pipes(1);
    return 0;
}
