/* 09-poolbreak.c - submit to a process pool while its last worker dies
 *
 * A test helper for 09-pools (not a lesson program). Each round makes a
 * process pool of one worker, submits a task that kills that worker, and
 * keeps submitting until pool_submit() refuses. Meanwhile the pool's
 * collector thread sees every worker gone and marks each future still in
 * flight broken: the submitter and the collector race for the same
 * future, and each must release it exactly once. A use after free or a
 * lost future shows under AddressSanitizer (make SANITIZE=address); any
 * build checks that every future ends broken or done and nothing hangs.
 *
 * It includes the lesson's pool.h (and through it ../lib/lab.h, for die()).
 *
 * Usage: 09-poolbreak [ROUNDS]      (default 300); prints "ok ROUNDS"
 */
#define _POSIX_C_SOURCE 200809L

#include "../../09-pools/pool.h"

/* kill_worker - a task that ends the worker process running it */
static size_t kill_worker(const void *arg, void *result)
{
    (void)arg;
    (void)result;
    _exit(0);
}

/* nothing - a task that returns at once */
static size_t nothing(const void *arg, void *result)
{
    (void)arg;
    (void)result;
    return 0;
}

int main(int argc, char *argv[])
{
    int rounds = argc > 1 ? atoi(argv[1]) : 300, arg = 0;

    for (int round = 0; round < rounds; round++) {
        struct pool *pool = process_pool_new(1);
        struct future *killer = pool_submit(pool, kill_worker, &arg, sizeof arg);

        if (killer == NULL) {
            fprintf(stderr, "09-poolbreak: the first submit failed\n");
            return 1;
        }
        for (;;) {                          /* until the pool knows it is broken */
            struct future *f = pool_submit(pool, nothing, &arg, sizeof arg);

            if (f == NULL)
                break;
            future_release(f);              /* no waiting: keep the race tight */
        }
        if (future_result(killer, -1, NULL) != NULL || errno != EPIPE) {
            fprintf(stderr, "09-poolbreak: the killed task did not end broken\n");
            return 1;
        }
        future_release(killer);
        pool_free(pool);
    }
    printf("ok %d\n", rounds);
    return 0;
}
