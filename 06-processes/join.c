/* join.c - start three child processes and wait for all of them
 *
 * Python notes 004 start three processes that sleep 1, 2 and 3 seconds, then
 * join()s each one: the whole run takes about 3 seconds, not 6, because
 * the children sleep at the same time; join() only makes the parent wait
 * for the slowest. Started and joined one at a time (--serial: start,
 * join, start, join...) the same work takes 6 seconds.
 *
 * Python's Process object is rebuilt here as a tiny struct with start()
 * and join(), in the Python notes' two ways of saying what the child runs:
 *   1. Process(target=task, args=(...)): a function and its arguments;
 *   2. class MyProcess(Process): def run(self): a "subclass" that brings
 *      its own run(): in C, a struct whose first member is the base struct
 *      and whose run pointer is set to its own function.
 * Underneath, start() is fork() (the child runs run() and exits) and
 * join() is waitpid() on that child.
 *
 * Usage: ./join [--serial] [-u MS]     (-u: one "second" of the story
 *        lasts MS milliseconds; default 1000)
 *
 * See also: isolation.c, lifecycle.c, NOTES.md.
 * Python notes: 004 (two ways to start a process; join).
 */
#define _POSIX_C_SOURCE 200809L

#include "../lib/lab.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long unit_ms = 1000;             /* how long one "second" lasts */

/* sleep_units - sleep n "seconds" of the story */
static void sleep_units(long n)
{
    long ms = n * unit_ms;
    struct timespec left = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&left, &left) == -1 && errno == EINTR)
        continue;
}

/* ---- a small Process "class" -------------------------------------------- */

struct process {
    void (*run)(struct process *self);          /* what the child does */
    void (*target)(const char *name, long n);   /* way 1: Process(target=...) */
    const char *name;                           /* args=(name, n) */
    long n;
    pid_t pid;                                  /* set by start() */
};

/* run_target - the default run(): call target(*args), as Process.run does */
static void run_target(struct process *self)
{
    self->target(self->name, self->n);
}

/* process_start - Process.start(): fork; the child runs run() and exits */
static void process_start(struct process *self)
{
    fflush(stdout);                 /* or the child would print our buffer too */
    self->pid = fork();
    if (self->pid == -1)
        die("fork");
    if (self->pid == 0) {
        self->run(self);
        fflush(stdout);
        _exit(0);
    }
}

/* process_join - Process.join(): wait until that one child has ended */
static void process_join(struct process *self)
{
    while (waitpid(self->pid, NULL, 0) == -1)
        if (errno != EINTR)
            die("waitpid");
}

/* ---- way 1: a target function ------------------------------------------- */

/* task - the Python notes' task(name, n): announce, sleep n, announce */
static void task(const char *name, long n)
{
    printf("%s is running (pid %ld)\n", name, (long)getpid());
    fflush(stdout);
    sleep_units(n);
    printf("%s is over\n", name);
}

/* ---- way 2: a "subclass" with its own run() ------------------------------ */

struct my_process {
    struct process base;            /* first member: a my_process is a process */
    const char *greeting;
};

/* my_process_run - MyProcess.run() of the Python notes */
static void my_process_run(struct process *self)
{
    struct my_process *me = (struct my_process *)self;

    printf("%s (pid %ld)\n", me->greeting, (long)getpid());
    fflush(stdout);
    sleep_units(1);
    printf("get out!\n");
}

static int serial = 0;

/* on_option - --serial, -u MS */
static void on_option(int key, const char *arg)
{
    if (key == 's')
        serial = 1;
    else
        unit_ms = parse_number(arg, 1, 60000, "-u");
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'s', "serial", NULL, "start and join one child at a time"},
        {'u', NULL, "MS", "one second of the story lasts MS ms (default 1000)"}, {0}};
    const struct lab_command cmd = {"Three children sleep 1, 2 and 3 s; join() waits for all.",
                                    NULL, 0, options, on_option, NULL};
    struct process children[3];
    struct my_process mine = {{my_process_run, NULL, NULL, 0, 0}, "hello world"};
    char names[3][16];
    long long start;

    lab_parse(argc, argv, &cmd);
    start = now_ms();
    for (int i = 0; i < 3; i++) {   /* Process(target=task, args=(name, i+1)) */
        snprintf(names[i], sizeof names[i], "child %d", i + 1);
        children[i] = (struct process){run_target, task, names[i], i + 1, 0};
        process_start(&children[i]);
        if (serial)
            process_join(&children[i]);
    }
    for (int i = 0; i < 3 && !serial; i++)
        process_join(&children[i]);
    printf("main: all three joined after %.1f s of sleeps worth 1+2+3 = 6 s (%s)\n",
           (double)(now_ms() - start) / (double)unit_ms,
           serial ? "one at a time: they add up" : "side by side: the longest wins");

    process_start(&mine.base);      /* MyProcess().start() */
    process_join(&mine.base);
    printf("main: the subclass-style child has ended too\n");
    return 0;
}
