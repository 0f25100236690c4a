/* say.h - one whole line on standard output, flushed at once: the print
 * of lesson 08's demos
 *
 * In these demos several threads, or several processes, print at the same
 * time. flockfile() keeps each line whole (another thread's printf waits
 * for funlockfile()), and fflush() shows the line the moment it happens,
 * so a hang is seen as a hang, and nothing is left in a stdio buffer that
 * fork() would copy into a child and print twice.
 *
 * Used by deadlock.c, event.c, queues.c, prodcons.c and ipc_queue.c.
 */
#ifndef SAY_H
#define SAY_H

#include <stdarg.h>
#include <stdio.h>

static inline void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* say - fmt and a newline on stdout, as one line, flushed */
static inline void say(const char *fmt, ...)
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

#endif
