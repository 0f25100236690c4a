/* zombie.c - children that have ended but are not reaped yet: zombies
 *
 * When a process ends, the kernel frees its memory and descriptors but
 * keeps a small entry (its pid, exit status, CPU times) until the parent
 * asks for it with wait()/waitpid(). Until then the child is a zombie:
 * `ps` shows it with state Z and the name <defunct>. Every child passes
 * through this state, as Python notes 004 say; it becomes a problem only when a
 * parent never reaps, because each zombie keeps a pid, and pids run out.
 *
 * This program starts N children that exit at once, does not reap them
 * for SECS seconds (look at them with ps meanwhile: the command is
 * printed), then reaps them and shows they are gone. A forking server
 * that forgot to reap would collect one zombie per client served.
 *
 * Usage: ./zombie [-n N] [-s SECS]       (defaults: 3 children, 10 s)
 *
 * See also: lifecycle.c, orphan.c, server.c (reaping in a SIGCHLD
 * handler), NOTES.md.
 * Python notes: 004 (zombie processes).
 * Linux-specific: reads /proc/PID/stat.
 */
#define _POSIX_C_SOURCE 200809L

#include "../lib/lab.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CHILDREN 100

/* state_of - the state letter of pid from /proc/PID/stat ('?' if gone) */
static char state_of(pid_t pid)
{
    char path[64], state = '?';
    FILE *f;

    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return '?';
    if (fscanf(f, "%*d (%*[^)]) %c", &state) != 1)
        state = '?';
    fclose(f);
    return state;
}

static int count = 3, secs = 10;

/* on_option - -n N, -s SECS */
static void on_option(int key, const char *arg)
{
    if (key == 'n')
        count = (int)parse_number(arg, 1, MAX_CHILDREN, "-n");
    else
        secs = (int)parse_number(arg, 0, 3600, "-s");
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'n', NULL, "N", "fork N children (default 3)"},
        {'s', NULL, "SECS", "leave them unreaped SECS seconds (default 10)"}, {0}};
    const struct lab_command cmd = {"Children that exit and are not reaped: zombies.", NULL, 0,
                                    options, on_option, NULL};
    pid_t pids[MAX_CHILDREN];
    struct timespec tick = {0, 10 * 1000000L};

    lab_parse(argc, argv, &cmd);

    for (int i = 0; i < count; i++) {
        pids[i] = fork();
        if (pids[i] == -1)
            die("fork");
        if (pids[i] == 0)
            _exit(0);               /* the child ends at once */
    }
    for (int i = 0; i < count; i++)         /* until each has really ended */
        while (state_of(pids[i]) != 'Z')
            nanosleep(&tick, NULL);

    printf("zombie: %d children have exited and nobody has reaped them:\n", count);
    for (int i = 0; i < count; i++)
        printf("  child %ld: state %c\n", (long)pids[i], state_of(pids[i]));
    printf("zombie: see them with: ps -o pid,ppid,stat,cmd --ppid %ld\n", (long)getpid());
    printf("zombie: reaping them in %d s\n", secs);
    fflush(stdout);
    sleep((unsigned)secs);

    for (int i = 0; i < count; i++) {
        int status;

        if (waitpid(pids[i], &status, 0) == -1)
            die("waitpid");
        printf("  reaped child %ld (exit status %d): /proc/%ld %s\n", (long)pids[i],
               WEXITSTATUS(status), (long)pids[i],
               state_of(pids[i]) == '?' ? "is gone" : "is still there");
    }
    return 0;
}
