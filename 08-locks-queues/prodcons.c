/* prodcons.c - producers and consumers joined by a queue (JoinableQueue)
 *
 * The Python version's kitchen: two cooks (egon makes baozi, tank makes swill)
 * each put five dishes on a queue; two eaters (chunge and xinge) take dishes
 * off it and eat them. Producers and consumers never talk to each other, only
 * to the queue, so either side can be slow, or more numerous, without the
 * other knowing. Each eater calls task_done() after a dish; main waits for the
 * cooks, then calls join() on the queue, which returns only when every dish
 * put has been eaten, not just taken.
 *
 * In the Python version the eaters are daemon processes that loop forever and
 * die with main. Here they are threads, and after join() main stops them the
 * way the Python version's commented-out q.put(None) does: one "poison pill"
 * per eater, then pthread_join, so no thread is left behind.
 *
 * Usage: ./prodcons [--pause MS]   (default 1000: cooking and eating each
 *                                   take a random time up to MS)
 *
 * See also: bqueue.h (the queue), queues.c, ipc_queue.c, NOTES.md.
 * Python notes: 004 (producer-consumer model, JoinableQueue, task_done, join).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../lib/lab.h"
#include "say.h"

#include "bqueue.h"

#define DISHES_PER_COOK 5
#define QUEUE_SIZE 4                /* small, so a fast cook must wait */
#define POISON_PILL ""              /* an empty dish: "stop eating" */

/* One producer or consumer thread. */
struct worker {
    pthread_t thread;
    const char *name;
    const char *food;               /* producers only */
    struct queue *q;
    long pause_ms;
    unsigned long random_state;
};

/* random_pause - sleep a random time up to the worker's pause (the Python version's
 * time.sleep(random.randint(1, 3))); each thread has its own generator */
static void random_pause(struct worker *me)
{
    struct timespec pause;
    long ms;

    if (me->pause_ms <= 0)
        return;
    me->random_state = me->random_state * 6364136223846793005UL + 1442695040888963407UL;
    ms = (long)((me->random_state >> 33) % (unsigned long)(me->pause_ms + 1));
    pause.tv_sec = ms / 1000;
    pause.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&pause, &pause) == -1 && errno == EINTR)
        continue;
}

/* producer - cook DISHES_PER_COOK dishes and put each on the queue; put()
 * blocks while the queue is full, so a fast cook waits for the eaters */
static void *producer(void *arg)
{
    struct worker *me = arg;
    struct queue_item dish;

    for (int i = 0; i < DISHES_PER_COOK; i++) {
        random_pause(me);
        dish.priority = 0;
        snprintf(dish.text, sizeof dish.text, "%s's %s %d", me->name, me->food, i);
        say("%s made %s %d", me->name, me->food, i);
        queue_put(me->q, &dish, QUEUE_FOREVER);
    }
    return NULL;
}

/* consumer - take dishes and eat them until the poison pill; task_done()
 * after each dish tells join() that one more is fully handled */
static void *consumer(void *arg)
{
    struct worker *me = arg;
    struct queue_item dish;

    for (;;) {
        queue_get(me->q, &dish, QUEUE_FOREVER);   /* sleeps while empty */
        if (strcmp(dish.text, POISON_PILL) == 0) {
            queue_task_done(me->q);
            return NULL;
        }
        random_pause(me);
        say("    %s ate %s", me->name, dish.text);
        queue_task_done(me->q);
    }
}

/* start - launch one worker thread, or die */
static void start(struct worker *w, void *(*body)(void *))
{
    int rc = pthread_create(&w->thread, NULL, body, w);

    if (rc != 0) {
        errno = rc;
        die("pthread_create (%s)", w->name);
    }
}

static long pause_ms = 1000;

/* on_option - --pause MS, from lab_parse() */
static void on_option(int key, const char *arg)
{
    if (key == 'P')
        pause_ms = parse_number(arg, 0, 60000, "pause");
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'P', "pause", "MS", "cooking and eating take a random time up to MS (default 1000)"},
        {0}};
    static const struct lab_command cmd = {.options = options, .on_option = on_option};
    struct queue q;
    struct worker cooks[2] = {{.name = "egon", .food = "baozi"}, {.name = "tank", .food = "swill"}};
    struct worker eaters[2] = {{.name = "chunge"}, {.name = "xinge"}};
    struct queue_item pill = {0, POISON_PILL};
    int rc;

    lab_parse(argc, argv, &cmd);
    rc = queue_init(&q, QUEUE_FIFO, QUEUE_SIZE);

    if (rc != 0) {
        errno = rc;
        die("queue_init");
    }
    for (int i = 0; i < 2; i++) {
        cooks[i].q = eaters[i].q = &q;
        cooks[i].pause_ms = eaters[i].pause_ms = pause_ms;
        cooks[i].random_state = (unsigned long)time(NULL) + 2 * (unsigned long)i;
        eaters[i].random_state = (unsigned long)time(NULL) + 2 * (unsigned long)i + 1;
        start(&cooks[i], producer);
        start(&eaters[i], consumer);
    }

    for (int i = 0; i < 2; i++)
        pthread_join(cooks[i].thread, NULL);
    say("main: both cooks are done; q.join() waits for the eaters...");
    queue_join(&q);                 /* every dish put has been task_done() */
    say("main: q.join() returned: all %d dishes eaten", 2 * DISHES_PER_COOK);

    for (int i = 0; i < 2; i++)     /* the Python version's q.put(None), once per eater */
        queue_put(&q, &pill, QUEUE_FOREVER);
    for (int i = 0; i < 2; i++)
        pthread_join(eaters[i].thread, NULL);
    say("main: eaters stopped, nothing left running");
    queue_destroy(&q);
    return 0;
}
