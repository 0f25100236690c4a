/* daemon.c - what happens to the other threads when main ends: the C side
 * of Python's daemon threads
 *
 * Python notes 004: the main thread does not end the program at once; it waits
 * for every non-daemon thread, and the process ends when the main thread
 * ends. Its example: t1 (daemon) prints 123, sleeps 1 s, prints end123;
 * t2 (not a daemon) prints 456, sleeps 3 s, prints end456; main prints
 * "main......". Python waits for t2, and t1, which needs only 1 s, finishes
 * too: all four lines appear.
 *
 * C has no daemon flag on threads. What matters is how main ends:
 *   (default)        main joins the threads it must wait for (t2), then
 *                    returns: Python's behaviour, written out by hand;
 *   --return         main returns at once: return from main() is exit(),
 *                    which ends the whole process, every thread with it:
 *                    as if all threads were daemons, nothing is "over";
 *   --pthread-exit   main calls pthread_exit(): only the main thread ends;
 *                    the process lives on until its last thread returns:
 *                    as if no thread were a daemon.
 *
 * Usage: ./daemon [--return | --pthread-exit] [-u MS]   (-u: one "second"
 *        of the story lasts MS milliseconds; default 1000)
 *
 * See also: basics.c, ../06-processes/daemon.c (daemon processes), NOTES.md.
 * Python notes: 004 (daemon threads, the main thread and the end of the process).
 */
#define _POSIX_C_SOURCE 200809L

#include "../lib/lab.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long unit_ms = 1000;

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

/* foo - the Python notes' daemon thread t1 */
static sem_t started;    /* posted by each thread after its first line */

static void *foo(void *arg)
{
    (void)arg;
    printf("123\n");
    sem_post(&started);
    sleep_units(1);
    printf("end123\n");
    return NULL;
}

/* func - the Python notes' non-daemon thread t2 */
static void *func(void *arg)
{
    (void)arg;
    printf("456\n");
    sem_post(&started);
    sleep_units(3);
    printf("end456\n");
    return NULL;
}

static int how = 'j';                   /* 'j' join, 'r' return, 'x' pthread_exit */

/* on_option - --return, --pthread-exit, -u MS */
static void on_option(int key, const char *arg)
{
    if (key == 'u')
        unit_ms = parse_number(arg, 1, 60000, "-u");
    else
        how = key;
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'r', "return", NULL, "main() returns at once: every thread ends"},
        {'x', "pthread-exit", NULL, "main thread calls pthread_exit(): the others go on"},
        {'u', NULL, "MS", "one second of the story lasts MS ms (default 1000)"}, {0}};
    const struct lab_command cmd = {"Daemon threads: what ends when main() ends.", NULL, 0,
                                    options, on_option, NULL};
    pthread_t t1, t2;
    int rc;

    lab_parse(argc, argv, &cmd);
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* Each thread says its first line before main goes on, so that the
     * output is the same every run (123, 456, main......), as the Python
     * notes print it; what happens after that is what the modes differ in. */
    if (sem_init(&started, 0, 0) == -1)
        die("sem_init");
    if ((rc = pthread_create(&t1, NULL, foo, NULL)) != 0)
        die_rc("pthread_create", rc);
    while (sem_wait(&started) == -1)
        ;
    if ((rc = pthread_create(&t2, NULL, func, NULL)) != 0)
        die_rc("pthread_create", rc);
    while (sem_wait(&started) == -1)
        ;
    printf("main......\n");

    /* Nobody will join t1, the "daemon": detach it, so that its resources
     * go back when it returns (an unjoined, undetached thread that has
     * returned is a leak, like a zombie process). */
    if ((rc = pthread_detach(t1)) != 0)
        die_rc("pthread_detach", rc);
    if (how != 'j' && (rc = pthread_detach(t2)) != 0)
        die_rc("pthread_detach", rc);

    if (how == 'r') {
        printf("main: return from main() = exit(): every thread ends now\n");
        return 0;
    }
    if (how == 'x') {
        printf("main: pthread_exit(): the process lives until its last thread ends\n");
        pthread_exit(NULL);
    }
    printf("main: joining the non-daemon thread t2 (t1, the \"daemon\", is detached)\n");
    if ((rc = pthread_join(t2, NULL)) != 0)
        die_rc("pthread_join", rc);
    printf("main: t2 is over; returning ends t1 too if it were still running\n");
    return 0;
}
