/* event.c - the traffic light: threads wait for another thread's signal
 *
 * The seed's Event: a light thread shows red for a while, then turns green
 * and calls event.set(); twenty car threads call event.wait() and drive
 * off only once it is set. POSIX has no Event, so this file builds one the
 * way Python's threading.Event is built: a flag, a mutex that guards it,
 * and a condition variable to sleep on until the flag changes.
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
 * Seed: 004 (Event: the traffic light).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CARS 1000

static const char *prog_name = "event";

/* An Event: a flag, its mutex, and a condition to wait on. */
struct event {
    pthread_mutex_t mutex;
    pthread_cond_t changed;
    int flag;
};

static struct event green;          /* set = the light is green */
static long red_ms = 3000, patience_ms = 1000;

/* die - report a failure with the reason from errno, exit 1 */
static void die(const char *fmt, ...)
{
    int saved_errno = errno;
    va_list ap;

    fprintf(stderr, "%s: ", prog_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, ": %s\n", strerror(saved_errno));
    exit(1);
}

/* usage - print the command line; exit with status */
static void usage(FILE *out, int status)
{
    fprintf(out,
            "Usage: %s [-n CARS] [--red MS] [--patience MS]\n"
            "  -n CARS        cars waiting at the light, 1-%d (default 20)\n"
            "  --red MS       how long the light stays red (default 3000)\n"
            "  --patience MS  the impatient car's wait(timeout) (default 1000)\n"
            "  -h, --help     show this help\n",
            prog_name, MAX_CARS);
    exit(status);
}

/* say - one line on stdout, flushed */
static void say(const char *fmt, ...)
{
    va_list ap;

    flockfile(stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    funlockfile(stdout);
}

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

/* parse_number - a whole number in [min, max] for option name, or exit 2 */
static long parse_number(const char *text, long min, long max, const char *name)
{
    char *end;
    long value;

    errno = 0;
    value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < min || value > max) {
        fprintf(stderr, "%s: bad %s '%s' (%ld-%ld)\n", prog_name, name, text, min, max);
        usage(stderr, 2);
    }
    return value;
}

int main(int argc, char *argv[])
{
    static const struct option long_options[] = {
        {"red", required_argument, NULL, 'R'}, {"patience", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    static pthread_t cars[MAX_CARS];
    pthread_t light_thread, impatient_thread;
    long car_count = 20;
    int opt;

    while ((opt = getopt_long(argc, argv, "n:h", long_options, NULL)) != -1) {
        switch (opt) {
        case 'n': car_count = parse_number(optarg, 1, MAX_CARS, "car count"); break;
        case 'R': red_ms = parse_number(optarg, 0, 60000, "red time"); break;
        case 'P': patience_ms = parse_number(optarg, 1, 60000, "patience"); break;
        case 'h': usage(stdout, 0); break;
        default: usage(stderr, 2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", prog_name, argv[optind]);
        usage(stderr, 2);
    }
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
