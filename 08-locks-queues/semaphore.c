/* semaphore.c - 20 threads, 5 slots: a counter that lets five in at a time
 *
 * The Python version's Semaphore(5): twenty paratroopers queue for a public
 * toilet with five stalls. A mutex lets one thread into a critical section;
 * a counting semaphore lets N. sem_wait() takes a slot (the count goes
 * down; at 0 it sleeps until a slot is given back), sem_post() gives one
 * back (the count goes up and wakes a sleeper). Each thread prints who is
 * inside when it enters and when it leaves; there are never more than 5.
 *
 * A semaphore is a counter, not a lock (the Python notes call it one): it
 * has no owner, any thread may sem_post(), and the count may rise past
 * where it started. A mutex is the count of 1 with an owner: only the
 * thread that locked it may unlock it (--owner shows it).
 *
 * The list of who is inside is shared too, so it has its own mutex: the
 * semaphore bounds how many are inside, it does not protect data.
 *
 * Usage: ./semaphore [-n THREADS] [-s SLOTS] [--pause MS] [--owner]
 *        (defaults: 20 threads, 5 slots, each stays a random time up to
 *         1000 ms; the Python version: 1 to 5 s)
 *
 * See also: event.c, deadlock.c, NOTES.md.
 * Python notes: 004 (Semaphore).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/lab.h"

#define MAX_THREADS 1000

static sem_t slots;                 /* the five stalls */
static pthread_mutex_t inside_lock = PTHREAD_MUTEX_INITIALIZER;
static char inside[MAX_THREADS];    /* inside[i]: thread i holds a slot */
static int inside_count = 0, most_inside = 0;
static long pause_ms = 1000;

/* One paratrooper. */
struct trooper {
    pthread_t thread;
    int number;
};

/* report - mark number as in or out and print the line with who is inside;
 * under inside_lock, so the list and the line agree */
static void report(int number, int entering)
{
    pthread_mutex_lock(&inside_lock);
    inside[number] = (char)entering;
    inside_count += entering ? 1 : -1;
    if (inside_count > most_inside)
        most_inside = inside_count;
    printf("trooper %2d %s  inside (%d):", number, entering ? "in " : "out", inside_count);
    for (int i = 0; i < MAX_THREADS; i++)
        if (inside[i])
            printf(" %d", i);
    putchar('\n');
    fflush(stdout);
    pthread_mutex_unlock(&inside_lock);
}

/* task - take a slot, stay a while, give it back */
static void *task(void *arg)
{
    struct trooper *me = arg;
    unsigned long state = (unsigned long)me->number * 2654435761UL + (unsigned long)time(NULL);
    long stay_ms;
    struct timespec stay;

    while (sem_wait(&slots) == -1) {    /* sleeps while all slots are taken */
        if (errno != EINTR)
            die("sem_wait");
    }
    report(me->number, 1);
    state = state * 6364136223846793005UL + 1442695040888963407UL;
    stay_ms = pause_ms > 0 ? (long)((state >> 33) % (unsigned long)(pause_ms + 1)) : 0;
    stay.tv_sec = stay_ms / 1000;
    stay.tv_nsec = (stay_ms % 1000) * 1000000L;
    nanosleep(&stay, NULL);
    report(me->number, 0);              /* before sem_post: still inside */
    if (sem_post(&slots) == -1)
        die("sem_post");
    return NULL;
}

static long thread_count = 20, slot_count = 5;
static int try_stranger = 0;

/* unlock_as_stranger - a thread that never locked m tries to unlock it */
static void *unlock_as_stranger(void *m)
{
    return (void *)(long)pthread_mutex_unlock(m);
}

/* show_no_owner - main, which never waited, posts the semaphore: the
 * count just goes up (a counter has no owner). With --owner, an
 * error-checking mutex locked by main refuses an unlock from another
 * thread: EPERM (a misuse on purpose, which ThreadSanitizer reports). */
static void show_no_owner(int try_stranger)
{
    pthread_mutex_t mutex;
    pthread_mutexattr_t attr;
    pthread_t stranger;
    void *result;
    int count, rc;

    sem_post(&slots);
    sem_getvalue(&slots, &count);
    printf("main never waited, yet sem_post() works: %d slots now (a counter, no owner)\n",
           count);
    if (!try_stranger)
        return;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
    pthread_mutex_init(&mutex, &attr);
    pthread_mutex_lock(&mutex);
    if ((rc = pthread_create(&stranger, NULL, unlock_as_stranger, &mutex)) != 0) {
        errno = rc;
        die("pthread_create");
    }
    pthread_join(stranger, &result);
    printf("a mutex locked by main, unlocked by another thread: %s (a lock has an owner)\n",
           strerror((int)(long)result));
    pthread_mutex_unlock(&mutex);
    pthread_mutex_destroy(&mutex);
    pthread_mutexattr_destroy(&attr);
}

/* on_option - the options of this demo, from lab_parse() */
static void on_option(int key, const char *arg)
{
    if (key == 'n')
        thread_count = parse_number(arg, 1, MAX_THREADS, "thread count");
    else if (key == 's')
        slot_count = parse_number(arg, 1, 1000, "slot count");
    else if (key == 'P')
        pause_ms = parse_number(arg, 0, 60000, "pause");
    else if (key == 'o')
        try_stranger = 1;
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'n', NULL, "THREADS", "threads, 1-1000 (default 20)"},
        {'s', NULL, "SLOTS", "the semaphore's count (default 5)"},
        {'P', "pause", "MS", "each stays inside a random time up to MS (default 1000)"},
        {'o', "owner", NULL, "then let another thread unlock main's mutex (EPERM; TSan says so)"},
        {0}};
    static const struct lab_command cmd = {.options = options, .on_option = on_option};
    static struct trooper troopers[MAX_THREADS];
    int rc;

    lab_parse(argc, argv, &cmd);
    /* pshared 0: shared between the threads of this process only. */
    if (sem_init(&slots, 0, (unsigned)slot_count) == -1)
        die("sem_init");
    printf("%ld threads, a semaphore with %ld slots\n", thread_count, slot_count);
    fflush(stdout);

    for (long i = 0; i < thread_count; i++) {
        troopers[i].number = (int)i;
        if ((rc = pthread_create(&troopers[i].thread, NULL, task, &troopers[i])) != 0) {
            errno = rc;
            die("pthread_create");
        }
    }
    for (long i = 0; i < thread_count; i++)
        pthread_join(troopers[i].thread, NULL);
    printf("all %ld done; at most %d were inside at once (slots: %ld)\n", thread_count,
           most_inside, slot_count);
    show_no_owner(try_stranger);
    sem_destroy(&slots);
    return 0;
}
