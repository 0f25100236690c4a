/* semaphore.c - 20 threads, 5 slots: a lock that lets five in at a time
 *
 * The seed's Semaphore(5): twenty paratroopers queue for a public toilet
 * with five stalls. A mutex lets one thread into a critical section; a
 * counting semaphore lets N. sem_wait() takes a slot (the count goes down;
 * at 0 it sleeps until a slot is given back), sem_post() gives one back
 * (the count goes up and wakes a sleeper). Each thread prints who is
 * inside when it enters and when it leaves; there are never more than 5.
 *
 * The list of who is inside is shared too, so it has its own mutex: the
 * semaphore bounds how many are inside, it does not protect data.
 *
 * Usage: ./semaphore [-n THREADS] [-s SLOTS] [--pause MS]
 *        (defaults: 20 threads, 5 slots, each stays a random time up to
 *         1000 ms; the seed: 1 to 5 s)
 *
 * See also: event.c, deadlock.c, NOTES.md.
 * Seed: 004 (Semaphore).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_THREADS 1000

static const char *prog_name = "semaphore";

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
            "Usage: %s [-n THREADS] [-s SLOTS] [--pause MS]\n"
            "  -n THREADS  threads, 1-%d (default 20)\n"
            "  -s SLOTS    the semaphore's count (default 5)\n"
            "  --pause MS  each stays inside a random time up to MS (default 1000)\n"
            "  -h, --help  show this help\n",
            prog_name, MAX_THREADS);
    exit(status);
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

int main(int argc, char *argv[])
{
    static const struct option long_options[] = {
        {"pause", required_argument, NULL, 'P'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    static struct trooper troopers[MAX_THREADS];
    long thread_count = 20, slot_count = 5;
    int opt, rc;

    while ((opt = getopt_long(argc, argv, "n:s:h", long_options, NULL)) != -1) {
        switch (opt) {
        case 'n': thread_count = parse_number(optarg, 1, MAX_THREADS, "thread count"); break;
        case 's': slot_count = parse_number(optarg, 1, 1000, "slot count"); break;
        case 'P': pause_ms = parse_number(optarg, 0, 60000, "pause"); break;
        case 'h': usage(stdout, 0); break;
        default: usage(stderr, 2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", prog_name, argv[optind]);
        usage(stderr, 2);
    }
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
    sem_destroy(&slots);
    printf("all %ld done; at most %d were inside at once (slots: %ld)\n", thread_count,
           most_inside, slot_count);
    return 0;
}
