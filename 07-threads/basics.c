/* basics.c - threads: two ways to start one, join, shared data, names,
 * and how many are alive
 *
 * Python notes 004 call a process the unit of resources (its own memory, its own
 * descriptors) and a thread the unit of execution (a flow of control that
 * uses its process's resources). Every process has at least one thread;
 * the threads of a process share its memory, so starting one needs no new
 * address space and no copy. This program walks through the Python notes' thread
 * examples in order:
 *
 *   1. Thread(target=task, args=('egon',)): pthread_create() with a
 *      function and its argument; "main" prints before the thread is over;
 *   2. class MyThread(Thread) with its own run(): a struct whose first
 *      member is the base struct, whose run pointer is its own function;
 *   3. join(): pthread_join() waits until that thread has returned;
 *   4. shared data: the thread sets the global money to 666 and main sees
 *      666 (lesson 06's isolation demo saw 100 with a process);
 *   5. names and active_count(): pthread_setname_np()/getname_np(), and the
 *      number of threads the kernel lists in /proc/self/task.
 *
 * Usage: ./basics [-u MS]      (-u: one "second" of the story lasts MS
 *        milliseconds; default 1000)
 *
 * See also: daemon.c, cpu_vs_io.c, ../06-processes/join.c and
 * isolation.c (the same with processes), NOTES.md.
 * Python notes: 004 (threads: two ways to start, join, shared data, names,
 * active_count).
 * Linux-specific: pthread_setname_np, pthread_getname_np, /proc/self/task.
 */
#define _GNU_SOURCE                     /* pthread_setname_np, getname_np */

#include "../lib/lab.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long unit_ms = 1000;
static int money = 100;                 /* shared by every thread */

/* die_rc - report a failed pthread call (they return the error number) */
static void die_rc(const char *what, int rc)
{
    errno = rc;
    die("%s", what);
}

/* sleep_units - sleep n "seconds" of the story */
static void sleep_units(long n)
{
    long ms = n * unit_ms;
    struct timespec left = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&left, &left) == -1 && errno == EINTR)
        continue;
}

/* active_count - threads alive in this process, as the kernel lists them */
static int active_count(void)
{
    DIR *dir = opendir("/proc/self/task");
    struct dirent *entry;
    int count = 0;

    if (dir == NULL)
        return -1;
    while ((entry = readdir(dir)) != NULL)
        if (entry->d_name[0] != '.')
            count++;
    closedir(dir);
    return count;
}

/* current_name - current_thread().name: this thread's name, into buf */
static const char *current_name(char *buf, size_t size)
{
    if (pthread_getname_np(pthread_self(), buf, size) != 0)
        snprintf(buf, size, "?");
    return buf;
}

/* ---- 1. a target function ---------------------------------------------- */

/* task - the Python notes' task(name): announce, sleep 1, announce */
static void *task(void *arg)
{
    const char *name = arg;

    printf("%s is running\n", name);
    sleep_units(1);
    printf("%s is over\n", name);
    return NULL;
}

/* ---- 2. a "subclass" with its own run() --------------------------------- */

struct thread {
    void (*run)(struct thread *self);
    pthread_t id;
};

struct my_thread {
    struct thread base;             /* first member: a my_thread is a thread */
    const char *name;
};

/* thread_main - what pthread_create() runs: the object's run() */
static void *thread_main(void *arg)
{
    struct thread *self = arg;

    self->run(self);
    return NULL;
}

/* thread_start, thread_join - Thread.start() and Thread.join() */
static void thread_start(struct thread *self)
{
    int rc = pthread_create(&self->id, NULL, thread_main, self);

    if (rc != 0)
        die_rc("pthread_create", rc);
}

static void thread_join(struct thread *self)
{
    int rc = pthread_join(self->id, NULL);

    if (rc != 0)
        die_rc("pthread_join", rc);
}

/* my_thread_run - MyThread.run() of the Python notes */
static void my_thread_run(struct thread *self)
{
    struct my_thread *me = (struct my_thread *)self;

    printf("%s is running (MyThread)\n", me->name);
    sleep_units(1);
    printf("%s is over (MyThread)\n", me->name);
}

/* ---- 4. shared data, 5. names ------------------------------------------- */

/* set_money - the Python notes' task(): global money = 666 */
static void *set_money(void *arg)
{
    (void)arg;
    money = 666;                    /* main reads it only after join: no race */
    return NULL;
}

/* The arguments of a named task: its name and how long it sleeps. */
struct named {
    const char *name;
    long n;
};

/* named_task - name this thread, print the name, sleep n "seconds" */
static void *named_task(void *arg)
{
    const struct named *args = arg;
    char name[16];

    /* The thread names itself, first thing: named from main, it could
     * print its line before the name was set. (Python names a Thread
     * object before it starts.) */
    pthread_setname_np(pthread_self(), args->name);
    printf("hello world from %s\n", current_name(name, sizeof name));
    sleep_units(args->n);
    return NULL;
}

/* on_option - -u MS */
static void on_option(int key, const char *arg)
{
    (void)key;
    unit_ms = parse_number(arg, 1, 60000, "-u");
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'u', NULL, "MS", "one second of the story lasts MS ms (default 1000)"}, {0}};
    const struct lab_command cmd = {"Threads: start, join, shared data, names.", NULL, 0,
                                    options, on_option, NULL};
    struct my_thread mine = {{my_thread_run, 0}, "egon"};
    struct named first = {"Thread-1", 1}, second = {"Thread-2", 2};
    pthread_t t, t1;
    char name[16];
    int rc;

    lab_parse(argc, argv, &cmd);
    setvbuf(stdout, NULL, _IOLBF, 0);       /* one line at a time, in order */

    printf("-- 1. Thread(target=task, args=('egon',))\n");
    if ((rc = pthread_create(&t, NULL, task, "egon")) != 0)
        die_rc("pthread_create", rc);
    printf("main (the thread runs on its own: main does not wait for it)\n");
    if ((rc = pthread_join(t, NULL)) != 0)  /* 3. join */
        die_rc("pthread_join", rc);

    printf("-- 2. class MyThread(Thread), 3. join\n");
    thread_start(&mine.base);
    thread_join(&mine.base);
    printf("main: joined MyThread\n");

    printf("-- 4. shared data: money = %d before the thread\n", money);
    if ((rc = pthread_create(&t, NULL, set_money, NULL)) != 0)
        die_rc("pthread_create", rc);
    if ((rc = pthread_join(t, NULL)) != 0)
        die_rc("pthread_join", rc);
    printf("main: money = %d after the thread (one memory, shared)\n", money);

    printf("-- 5. names and active_count()\n");
    pthread_setname_np(pthread_self(), "MainThread");
    if ((rc = pthread_create(&t, NULL, named_task, &first)) != 0)
        die_rc("pthread_create", rc);
    if ((rc = pthread_create(&t1, NULL, named_task, &second)) != 0)
        die_rc("pthread_create", rc);
    printf("main: %d threads alive (main, Thread-1, Thread-2, and any helper\n"
           "      thread of the runtime, such as a sanitizer's)\n", active_count());
    if ((rc = pthread_join(t1, NULL)) != 0)
        die_rc("pthread_join", rc);
    printf("main (%s): %d thread alive after joining Thread-2\n",
           current_name(name, sizeof name), active_count());
    if ((rc = pthread_join(t, NULL)) != 0)
        die_rc("pthread_join", rc);
    return 0;
}
