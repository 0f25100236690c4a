/* orphan.c - a child whose parent dies first is adopted
 *
 * Python notes 004: an orphan is a child still running after its parent has died;
 * the system takes care of it. On Linux the orphan is re-parented at once:
 * its parent becomes the nearest ancestor that has declared itself a
 * "child subreaper" (prctl(PR_SET_CHILD_SUBREAPER), as systemd, tini and
 * some shells and container runtimes do) or, if there is none, the init
 * process of its pid namespace (pid 1). The new parent reaps it when it
 * ends, so an orphan never stays a zombie for long.
 *
 * Three generations: main forks a "parent", the parent forks a "child"
 * and exits, the child watches its getppid() change and says who adopted
 * it. With --subreaper, main first marks itself as a subreaper, so it is
 * main that adopts its grandchild (and reaps it: waitpid() in main returns
 * the grandchild's pid); without it, the orphan goes to whichever
 * subreaper or init is above main, and main, which cannot wait for a
 * process that is not its child, waits instead for the end of file on a
 * pipe the grandchild holds open until it exits, so that its last line
 * is printed before main ends (and the shell prompt comes back).
 *
 * Usage: ./orphan [--subreaper]
 *
 * See also: zombie.c, daemon.c, NOTES.md.
 * Python notes: 004 (orphan processes).
 * Linux-specific: prctl(PR_SET_CHILD_SUBREAPER), /proc/PID/comm.
 */
#define _GNU_SOURCE                     /* prctl constants */

#include "../lib/lab.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* name_of - the command name of pid, from /proc/PID/comm */
static const char *name_of(pid_t pid, char *buf, size_t size)
{
    char path[64];
    FILE *f;

    snprintf(path, sizeof path, "/proc/%ld/comm", (long)pid);
    snprintf(buf, size, "?");
    f = fopen(path, "r");
    if (f != NULL) {
        if (fgets(buf, (int)size, f) != NULL)
            buf[strcspn(buf, "\n")] = '\0';
        fclose(f);
    }
    return buf;
}

/* run_child - the grandchild: wait until its parent is gone, say who
 * adopted it (it keeps the write end of main's pipe open until it exits) */
static void run_child(pid_t original_parent)
{
    struct timespec tick = {0, 10 * 1000000L};
    char name[64];
    pid_t adopter;

    printf("child  (pid %ld): my parent is %ld\n", (long)getpid(), (long)original_parent);
    fflush(stdout);
    while ((adopter = getppid()) == original_parent)
        nanosleep(&tick, NULL);             /* still its child: wait */
    printf("child  (pid %ld): my parent died; my parent is now %ld (%s)%s\n",
           (long)getpid(), (long)adopter, name_of(adopter, name, sizeof name),
           adopter == 1 ? ", the init process" : ", a subreaper");
    fflush(stdout);
    _exit(0);
}

/* run_parent - the middle generation: start the child, then die first */
static void run_parent(void)
{
    pid_t me = getpid(), child;

    child = fork();
    if (child == -1)
        die("fork");
    if (child == 0)
        run_child(me);              /* not getppid(): we may be gone already */
    printf("parent (pid %ld): started child %ld, now exiting without waiting for it\n",
           (long)getpid(), (long)child);
    fflush(stdout);
    _exit(0);
}

static int subreaper = 0;

/* on_option - --subreaper */
static void on_option(int key, const char *arg)
{
    (void)key, (void)arg;
    subreaper = 1;
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'s', "subreaper", NULL, "be a child subreaper: adopt the orphan"}, {0}};
    const struct lab_command cmd = {"Who adopts a child whose parent has died.", NULL, 0,
                                    options, on_option, NULL};
    int done[2];
    pid_t parent, reaped;
    char byte;

    lab_parse(argc, argv, &cmd);
    if (subreaper && prctl(PR_SET_CHILD_SUBREAPER, 1L, 0L, 0L, 0L) == -1)
        die("prctl PR_SET_CHILD_SUBREAPER");
    printf("main   (pid %ld): %s\n", (long)getpid(),
           subreaper ? "I am a child subreaper: orphans below me become mine"
                     : "not a subreaper: an orphan goes to init or a subreaper above me");
    fflush(stdout);

    if (pipe(done) == -1)
        die("pipe");
    parent = fork();
    if (parent == -1)
        die("fork");
    if (parent == 0) {
        close(done[0]);
        run_parent();                       /* done[1] goes down to the grandchild */
    }
    close(done[1]);
    if (waitpid(parent, NULL, 0) == -1)
        die("waitpid");
    printf("main   (pid %ld): reaped the parent %ld\n", (long)getpid(), (long)parent);
    fflush(stdout);
    /* read() returns 0 once the grandchild, the last holder of the write
     * end, has exited: whoever adopted it, its lines are all printed. */
    while (read(done[0], &byte, 1) == -1 && errno == EINTR)
        continue;
    close(done[0]);
    if (subreaper) {
        /* The grandchild is ours now: waitpid(-1) waits for it. */
        while ((reaped = waitpid(-1, NULL, 0)) == -1 && errno == EINTR)
            continue;
        if (reaped == -1)
            die("waitpid");
        printf("main   (pid %ld): reaped the orphan %ld, adopted by me\n",
               (long)getpid(), (long)reaped);
    }
    return 0;
}
