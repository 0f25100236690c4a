/* event.c - the traffic light: threads wait for another thread's signal
 *
 * The Python version's Event: a light thread shows red for a while, then turns
 * green and calls event.set(); twenty car threads call event.wait() and drive
 * off only once it is set. POSIX has no Event, so this file builds one the way
 * Python's threading.Event is built: a flag, a mutex that guards it, and a
 * condition variable to sleep on until the flag changes.
 *
 *   event_set      flag = 1, wake every waiter (broadcast, not signal)
 *   event_clear    flag = 0 (the light turns red again)
 *   event_is_set   the flag now
 *   event_wait     sleep until the flag is 1, or until a timeout; return
 *                  the flag, so the caller can tell "set" from "timed out"
 *
 * One car is impatient: it waits with a timeout, and each time wait()
 * returns 0 it says the light is still red and waits again.
 *
 * Usage: ./event [-n CARS] [--red MS] [--patience MS]
 *        (defaults: 20 cars, red for 3000 ms, the impatient car looks
 *         up every 1000 ms)
 *
 * See also: semaphore.c, bqueue.h (more condition variables), NOTES.md.
 * Python notes: 004 (Event: the traffic light).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../lib/lab.h"
#include "say.h"

#define MAX_CARS 1000

/* An Event: a flag, its mutex, and a condition to wait on. */
struct event {
    pthread_mutex_t mutex;
    pthread_cond_t changed;
    int flag;
};

static struct event green;          /* set = the light is green */
static long red_ms = 3000, patience_ms = 1000;

/* event_init - a cleared event whose timeouts run on CLOCK_MONOTONIC */
static void event_init(struct event *ev)
{
    pthread_condattr_t attr;
    int rc;

    ev->flag = 0;
    if ((rc = pthread_mutex_init(&ev->mutex, NULL)) != 0
        || (rc = pthread_condattr_init(&attr)) != 0
        || (rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)) != 0
        || (rc = pthread_cond_init(&ev->changed, &attr)) != 0) {
        errno = rc;
        die("event_init");
    }
    pthread_condattr_destroy(&attr);
}

/* event_set - set the flag and wake every thread waiting for it */
static void event_set(struct event *ev)
{
    pthread_mutex_lock(&ev->mutex);
    ev->flag = 1;
    pthread_cond_broadcast(&ev->changed);   /* all the cars, not one */
    pthread_mutex_unlock(&ev->mutex);
}

/* event_clear - clear the flag; later wait()s block again */
static void event_clear(struct event *ev)
{
    pthread_mutex_lock(&ev->mutex);
    ev->flag = 0;
    pthread_mutex_unlock(&ev->mutex);
}

/* event_is_set - the flag, read under the mutex */
static int event_is_set(struct event *ev)
{
    int flag;

    pthread_mutex_lock(&ev->mutex);
    flag = ev->flag;
    pthread_mutex_unlock(&ev->mutex);
    return flag;
}

/* event_wait - block until the flag is set, or for at most timeout_ms
 * (negative: no limit); returns the flag, like Python's wait(timeout) */
static int event_wait(struct event *ev, long timeout_ms)
{
    struct timespec deadline;
    int flag;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&ev->mutex);
    /* A while, not an if: wake-ups can be spurious. */
    while (!ev->flag) {
        if (timeout_ms < 0)
            pthread_cond_wait(&ev->changed, &ev->mutex);
        else if (pthread_cond_timedwait(&ev->changed, &ev->mutex, &deadline) == ETIMEDOUT)
            break;
    }
    flag = ev->flag;
    pthread_mutex_unlock(&ev->mutex);
    return flag;
}

/* sleep_ms - nanosleep for ms milliseconds */
static void sleep_ms(long ms)
{
    struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&pause, &pause) == -1 && errno == EINTR)
        continue;
}

/* light - red for red_ms, then green: set the event */
static void *light(void *arg)
{
    (void)arg;
    say("light: RED");
    sleep_ms(red_ms);
    say("light: GREEN");
    event_set(&green);              /* tell every waiting car */
    return NULL;
}

/* car - wait at the light until it is green, then drive off */
static void *car(void *arg)
{
    long number = (long)(size_t)arg;

    say("car %ld waits at the red light", number);
    event_wait(&green, -1);
    say("car %ld drives off", number);
    return NULL;
}

/* impatient_car - wait(timeout) in a loop: 0 means still red */
static void *impatient_car(void *arg)
{
    (void)arg;
    say("impatient car waits, looking up every %ld ms", patience_ms);
    while (!event_wait(&green, patience_ms))
        say("impatient car: wait(%ld ms) returned 0, still red", patience_ms);
    say("impatient car: wait returned 1, drives off");
    return NULL;
}

/* start - pthread_create or die */
static pthread_t start(void *(*body)(void *), void *arg)
{
    pthread_t thread;
    int rc = pthread_create(&thread, NULL, body, arg);

    if (rc != 0) {
        errno = rc;
        die("pthread_create");
    }
    return thread;
}

static long car_count = 20;

/* on_option - the options of this demo, from lab_parse() */
static void on_option(int key, const char *arg)
{
    if (key == 'n')
        car_count = parse_number(arg, 1, MAX_CARS, "car count");
    else if (key == 'R')
        red_ms = parse_number(arg, 0, 60000, "red time");
    else if (key == 'P')
        patience_ms = parse_number(arg, 1, 60000, "patience");
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'n', NULL, "CARS", "cars waiting at the light, 1-1000 (default 20)"},
        {'R', "red", "MS", "how long the light stays red (default 3000)"},
        {'P', "patience", "MS", "the impatient car's wait(timeout) (default 1000)"},
        {0}};
    static const struct lab_command cmd = {.options = options, .on_option = on_option};
    static pthread_t cars[MAX_CARS];
    pthread_t light_thread, impatient_thread;

    lab_parse(argc, argv, &cmd);
    event_init(&green);
    /* Before the light is even switched on, nothing can set the event:
     * wait(timeout) must come back with 0 when the time is up. */
    say("main: is_set() = %d; wait(100 ms) returned %d", event_is_set(&green),
        event_wait(&green, 100));

    for (long i = 0; i < car_count; i++)
        cars[i] = start(car, (void *)(size_t)i);
    impatient_thread = start(impatient_car, NULL);
    light_thread = start(light, NULL);

    pthread_join(light_thread, NULL);
    pthread_join(impatient_thread, NULL);
    for (long i = 0; i < car_count; i++)
        pthread_join(cars[i], NULL);
    say("main: every car has gone; is_set() = %d", event_is_set(&green));
    event_clear(&green);
    say("main: clear(): the light is red again, is_set() = %d", event_is_set(&green));
    return 0;
}
