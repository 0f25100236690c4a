/* deadlock.c - two locks taken in opposite orders, and the recursive lock
 *
 * The Python version's MyThread: each of ten threads runs func1 (take A, take
 * B, release both) and then func2 (take B, sleep, take A, release both).
 * Thread-1 finishes func1 and, in func2, takes B and sleeps. Meanwhile
 * Thread-2 enters func1 and takes A. Thread-1 wakes up and waits for A (held
 * by Thread-2); Thread-2 waits for B (held by Thread-1). Neither will ever let
 * go: a deadlock. The program goes quiet, as the Python version does.
 *
 * The Python version hangs forever. This one asks for its second lock with
 * pthread_mutex_timedlock(): after --timeout seconds without it, the
 * thread reports the deadlock, lets go of the lock it holds and gives up,
 * and so does everyone after it; the program exits with status 1.
 * (A timeout only detects a deadlock, it does not prevent it; the real
 * cures are a fixed lock order for everybody, or one lock.)
 *
 * --recursive is the Python version's fix: mutexA = mutexB = RLock(). One
 * recursive mutex stands for both names; the thread that holds it may take it
 * again (a count goes up and down), everyone else waits for the count to reach
 * 0. With one lock there is no second lock to wait for, and every thread
 * finishes; exit status 0.
 *
 * Usage: ./deadlock [--recursive] [-n THREADS] [--pause MS] [--timeout S]
 *        (defaults: two plain mutexes, 10 threads, 2000 ms in func2,
 *         3 s before a wait counts as a deadlock)
 *
 * See also: money.c, semaphore.c, NOTES.md.
 * Python notes: 004 (deadlock and the recursive lock).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/lab.h"
#include "say.h"

#define MAX_THREADS 100

/* The two locks of the Python version; with --recursive both point at one. */
static pthread_mutex_t mutex_a, mutex_b, one_recursive_mutex;
static pthread_mutex_t *lock_a = &mutex_a, *lock_b = &mutex_b;

static struct timespec pause_time;  /* func2's sleep */
static long timeout_s = 3;
static atomic_int gave_up = 0;      /* set by the thread that found the deadlock */

/* One thread of the Python version's MyThread class. */
struct my_thread {
    pthread_t thread;
    char name[32];                  /* "Thread-1", as Python names them */
    const char *func;               /* "func1" or "func2": where it is now */
    int finished;                   /* written by the thread, read after join */
};

/* acquire - take lock (called name) for me, holding the lock called
 * holding (NULL: none). 0 when taken; -1 when another thread has already
 * declared the deadlock, or when this wait is the deadlock.
 *
 * Only a thread that holds one lock and waits for the other can be part
 * of this deadlock; a thread waiting for its first lock just keeps
 * waiting (checking every timeout_s whether the game is over). */
static int acquire(struct my_thread *me, pthread_mutex_t *lock, const char *name,
                   const char *holding)
{
    struct timespec deadline;
    int rc;

    for (;;) {
        if (atomic_load(&gave_up))
            return -1;
        /* timedlock takes an absolute time on CLOCK_REALTIME (POSIX). */
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += timeout_s;
        rc = pthread_mutex_timedlock(lock, &deadline);
        if (rc == 0 && atomic_load(&gave_up)) {
            pthread_mutex_unlock(lock);     /* too late: the game is over */
            return -1;
        }
        if (rc == 0) {
            say("%s (%s) got lock %s", me->name, me->func, name);
            return 0;
        }
        if (rc != ETIMEDOUT) {
            errno = rc;
            die("pthread_mutex_timedlock");
        }
        if (holding != NULL)
            break;
    }
    if (!atomic_exchange(&gave_up, 1)) {
        say("%s (%s): waited %ld s for lock %s while holding lock %s: DEADLOCK.",
            me->name, me->func, timeout_s, name, holding);
        say("%s: whoever holds %s is waiting for %s; neither can go on. Giving up.",
            me->name, name, holding);
    }
    return -1;
}

/* func1 - take A then B, release both */
static int func1(struct my_thread *me)
{
    me->func = "func1";
    if (acquire(me, lock_a, "A", NULL) == -1)
        return -1;
    if (acquire(me, lock_b, "B", "A") == -1) {
        pthread_mutex_unlock(lock_a);
        return -1;
    }
    pthread_mutex_unlock(lock_b);
    pthread_mutex_unlock(lock_a);
    return 0;
}

/* func2 - take B, sleep, then take A: the opposite order to func1 */
static int func2(struct my_thread *me)
{
    me->func = "func2";
    if (acquire(me, lock_b, "B", NULL) == -1)
        return -1;
    nanosleep(&pause_time, NULL);
    if (acquire(me, lock_a, "A", "B") == -1) {
        pthread_mutex_unlock(lock_b);
        return -1;
    }
    pthread_mutex_unlock(lock_a);
    pthread_mutex_unlock(lock_b);
    return 0;
}

/* run - the thread's body: func1 then func2, as the Python version's run() */
static void *run(void *arg)
{
    struct my_thread *me = arg;

    me->finished = func1(me) == 0 && func2(me) == 0;
    return NULL;
}

/* init_locks - two plain mutexes, or one recursive mutex under both names */
static void init_locks(int recursive)
{
    pthread_mutexattr_t attr;
    int rc;

    if (!recursive) {
        if ((rc = pthread_mutex_init(&mutex_a, NULL)) != 0
            || (rc = pthread_mutex_init(&mutex_b, NULL)) != 0) {
            errno = rc;
            die("pthread_mutex_init");
        }
        return;
    }
    if ((rc = pthread_mutexattr_init(&attr)) != 0
        || (rc = pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE)) != 0
        || (rc = pthread_mutex_init(&one_recursive_mutex, &attr)) != 0) {
        errno = rc;
        die("recursive mutex");
    }
    pthread_mutexattr_destroy(&attr);
    lock_a = lock_b = &one_recursive_mutex;     /* mutexA = mutexB = RLock() */
}

static long thread_count = 10, pause_ms = 2000;
static int recursive = 0;

/* on_option - the options of this demo, from lab_parse() */
static void on_option(int key, const char *arg)
{
    if (key == 'R')
        recursive = 1;
    else if (key == 'n')
        thread_count = parse_number(arg, 1, MAX_THREADS, "thread count");
    else if (key == 'P')
        pause_ms = parse_number(arg, 0, 60000, "pause");
    else if (key == 'T')
        timeout_s = parse_number(arg, 1, 600, "timeout");
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'R', "recursive", NULL, "one recursive mutex for both A and B (the fix)"},
        {'n', NULL, "THREADS", "threads, 1-100 (default 10)"},
        {'P', "pause", "MS", "sleep in func2 while holding B (default 2000)"},
        {'T', "timeout", "S", "a wait this long for a lock is called a deadlock (default 3)"},
        {0}};
    static const struct lab_command cmd = {.options = options, .on_option = on_option};
    static struct my_thread threads[MAX_THREADS];
    long finished = 0;
    int rc;

    lab_parse(argc, argv, &cmd);
    pause_time.tv_sec = pause_ms / 1000;
    pause_time.tv_nsec = (pause_ms % 1000) * 1000000L;
    init_locks(recursive);
    say("%ld threads, %s", thread_count,
        recursive ? "A and B are one recursive mutex" : "A and B are two plain mutexes");

    for (long i = 0; i < thread_count; i++) {
        snprintf(threads[i].name, sizeof threads[i].name, "Thread-%ld", i + 1);
        if ((rc = pthread_create(&threads[i].thread, NULL, run, &threads[i])) != 0) {
            errno = rc;
            die("pthread_create");
        }
    }
    for (long i = 0; i < thread_count; i++) {
        pthread_join(threads[i].thread, NULL);
        finished += threads[i].finished;
    }
    if (finished < thread_count) {
        say("%ld of %ld threads finished: deadlock detected (without the timeout the "
            "program would hang here forever; try --recursive)", finished, thread_count);
        return 1;
    }
    say("all %ld threads finished: no deadlock", thread_count);
    return 0;
}
