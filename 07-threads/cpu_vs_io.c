/* cpu_vs_io.c - CPU-bound and IO-bound tasks on threads and on processes,
 * timed, beside the Python notes' Python figures
 *
 * Python notes 004 run 8 CPU-bound tasks (a loop of 100,000,000 multiplications)
 * and 400 IO-bound tasks (time.sleep(2)) on processes and on threads, and
 * concludes: CPU-bound work wants processes, IO-bound work wants threads.
 * Its figures: CPU 9.7 s on processes, 38.7 s on threads; IO 11.8 s on
 * processes, 2.0 s on threads. Both results come from CPython: its global
 * interpreter lock (GIL) lets one thread run Python bytecode at a time, so
 * CPU-bound threads take turns on one core; and its processes are costly
 * to start (a new interpreter each, when started by spawn).
 *
 * This program repeats the experiment in C and prints the table. C has no
 * GIL: threads of one process run on all cores at once, so CPU-bound
 * threads are as fast as CPU-bound processes (both limited by the number
 * of cores). And fork() of a small C program is cheap, so 400 sleeping
 * processes finish in about the same 2 s as 400 sleeping threads.
 *
 * Usage: ./cpu_vs_io [-c TASKS] [-i LOOPS] [-n TASKS] [-s MS]
 *        (defaults: 8 CPU tasks of 100000000 loops, 400 IO tasks of 2000 ms)
 *
 * See also: basics.c, NOTES.md (the GIL).
 * Python notes: 004 (multi-process vs multi-thread, CPU-bound vs IO-bound).
 */
#define _POSIX_C_SOURCE 200809L

#include "../lib/lab.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_TASKS 2000

static long cpu_loops = 100000000;
static long sleep_ms = 2000;

/* cpu_work - the Python notes' work(): res *= i, a hundred million times. (With
 * res = 0 it would stay 0 and the compiler would drop the loop; this
 * keeps a running product that depends on every step.) */
static void *cpu_work(void *arg)
{
    unsigned long res = 1;

    for (long i = 1; i <= cpu_loops; i++)
        res = res * (unsigned long)i + 1;
    /* Each task writes its own slot; volatile so that the compiler cannot
     * decide nobody reads it and drop the whole loop. */
    *(volatile unsigned long *)arg = res;
    return NULL;
}

/* io_work - the Python notes' IO-bound work(): time.sleep(2) */
static void *io_work(void *arg)
{
    struct timespec left = {sleep_ms / 1000, (sleep_ms % 1000) * 1000000L};

    (void)arg;
    while (nanosleep(&left, &left) == -1 && errno == EINTR)
        continue;
    return NULL;
}

/* on_threads - run count tasks on count threads, return the wall time */
static double on_threads(void *(*work)(void *), int count)
{
    static pthread_t ids[MAX_TASKS];
    static unsigned long results[MAX_TASKS];
    long long start = now_ms();

    for (int i = 0; i < count; i++) {
        int rc = pthread_create(&ids[i], NULL, work, &results[i]);

        if (rc != 0) {
            errno = rc;
            die("pthread_create");
        }
    }
    for (int i = 0; i < count; i++)
        pthread_join(ids[i], NULL);
    return (double)(now_ms() - start) / 1000.0;
}

/* on_processes - run count tasks in count child processes, return the
 * wall time */
static double on_processes(void *(*work)(void *), int count)
{
    unsigned long result;
    long long start = now_ms();

    fflush(stdout);
    for (int i = 0; i < count; i++) {
        pid_t pid = fork();

        if (pid == -1)
            die("fork");
        if (pid == 0) {
            work(&result);
            _exit(0);
        }
    }
    for (int i = 0; i < count; i++)
        if (wait(NULL) == -1)
            die("wait");
    return (double)(now_ms() - start) / 1000.0;
}

static int cpu_tasks = 8, io_tasks = 400;

/* on_option - -c TASKS, -i LOOPS, -n TASKS, -s MS */
static void on_option(int key, const char *arg)
{
    switch (key) {
    case 'c': cpu_tasks = (int)parse_number(arg, 1, MAX_TASKS, "-c"); break;
    case 'i': cpu_loops = parse_number(arg, 1, 100000000000L, "-i"); break;
    case 'n': io_tasks = (int)parse_number(arg, 1, MAX_TASKS, "-n"); break;
    default: sleep_ms = parse_number(arg, 1, 60000, "-s"); break;
    }
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'c', NULL, "TASKS", "CPU-bound tasks (default 8)"},
        {'i', NULL, "LOOPS", "loops per CPU-bound task (default 100000000)"},
        {'n', NULL, "TASKS", "IO-bound tasks (default 400)"},
        {'s', NULL, "MS", "sleep per IO-bound task (default 2000)"}, {0}};
    const struct lab_command cmd = {"CPU-bound and IO-bound work on threads and processes.",
                                    NULL, 0, options, on_option, NULL};
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    double serial, threads, processes;
    char label[64];

    lab_parse(argc, argv, &cmd);
    printf("cores: %ld (os.cpu_count())\n", cores);
    serial = on_threads(cpu_work, 1);
    printf("one CPU task alone: %.2f s, so %d of them need %.2f s of CPU in all\n\n",
           serial, cpu_tasks, serial * cpu_tasks);
    printf("%-34s %10s %12s %10s %12s\n", "", "C", "C", "Python", "Python");
    printf("%-34s %10s %12s %10s %12s\n", "wall time", "threads", "processes",
           "threads", "processes");

    threads = on_threads(cpu_work, cpu_tasks);
    processes = on_processes(cpu_work, cpu_tasks);
    snprintf(label, sizeof label, "%d CPU-bound tasks (%ld loops)", cpu_tasks, cpu_loops);
    printf("%-34s %8.2f s %10.2f s %10s %12s\n", label, threads, processes,
           "38.7 s", "9.7 s");

    threads = on_threads(io_work, io_tasks);
    processes = on_processes(io_work, io_tasks);
    snprintf(label, sizeof label, "%d IO-bound tasks (sleep %ld ms)", io_tasks, sleep_ms);
    printf("%-34s %8.2f s %10.2f s %10s %12s\n", label, threads, processes,
           "2.0 s", "11.8 s");
    printf("\n(Python: the Python notes' figures for 8 x 100000000 loops and 400 x sleep(2),\n"
           " on the notes' author's machine; C: this machine, now.)\n");
    return 0;
}
