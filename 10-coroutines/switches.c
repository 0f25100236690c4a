/* switches.c - what one switch costs: coroutine, thread, process
 *
 * The seeds rank processes > threads > coroutines by cost. This program
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
 * Built with -DGREEN_HAND_SWITCH (x86-64), green_yield uses the
 * hand-written switch of green.h instead of swapcontext (bench.sh does
 * that too).
 *
 * Each figure is the elapsed time divided by the number of hand-overs.
 * The pipe figures include the system calls that make the switch happen:
 * that is what a switch between threads or processes costs in practice.
 *
 * Usage: ./switches [-n ROUNDS]     (default 200000 round trips)
 *
 * See also: green.h, bench.sh (which runs this), NOTES.md ("Measured").
 * Seeds: 004 (switching and saving state; processes, threads, coroutines).
 * Linux-specific: sched_setaffinity, epoll (in green.h).
 */
#define _GNU_SOURCE             /* ucontext, sched_setaffinity, epoll */

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "green.h"

static const char *prog_name = "switches";
static unsigned long rounds = 200000;

/* for the bare swapcontext test */
static ucontext_t main_context, other_context;

/* die - report a failure with the reason from errno, exit 1 */
static void die(const char *what)
{
    fprintf(stderr, "%s: %s: %s\n", prog_name, what, strerror(errno));
    exit(1);
}

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
#if defined(GREEN_HAND_SWITCH) && defined(__x86_64__)
    report("green_yield, hand-written switch", now_ns() - start, 2 * rounds);
#else
    report("green_yield (coroutine -> coroutine)", now_ns() - start, 2 * rounds);
#endif
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

/* usage - print the command line; exit with status */
static void usage(FILE *out, int status)
{
    fprintf(out,
            "Usage: %s [-n ROUNDS]\n"
            "  -n ROUNDS   round trips per kind of switch, 1 to 100000000 (default 200000)\n"
            "  -h, --help  show this help\n",
            prog_name);
    exit(status);
}

int main(int argc, char *argv[])
{
    static const struct option long_options[] = {
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    cpu_set_t one_cpu;
    int opt;
    char *end;

    while ((opt = getopt_long(argc, argv, "n:h", long_options, NULL)) != -1) {
        switch (opt) {
        case 'n':
            errno = 0;
            rounds = strtoul(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || optarg[0] == '-'
                || rounds == 0 || rounds > 100000000) {
                fprintf(stderr, "%s: bad round count '%s'\n", prog_name, optarg);
                usage(stderr, 2);
            }
            break;
        case 'h': usage(stdout, 0); break;
        default: usage(stderr, 2);          /* getopt printed the reason */
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", prog_name, argv[optind]);
        usage(stderr, 2);
    }
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
