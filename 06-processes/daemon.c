/* daemon.c - a "daemon" child in Python's sense: it dies with its parent
 *
 * Python notes 004 set p.daemon = True on a child (the steward "egon", who
 * announces he is alive, sleeps 3 s, then would announce his death) and
 * lets the main process (the emperor "jason") end at once: the daemon
 * child is ended with it, so its last line never appears.
 *
 * C has no daemon flag. Linux gives a child the same fate with
 * prctl(PR_SET_PDEATHSIG, SIGKILL): "send me SIGKILL when my parent dies".
 * Two details make it reliable: the parent may already have died before
 * the child calls prctl() (so the child checks getppid() afterwards), and
 * the signal comes when the parent *thread* that forked ends, which is
 * the whole process here because it has one thread.
 *
 * With --no-daemon the child does not ask for that signal: it outlives
 * its parent as an orphan and prints its last line. (Python would instead
 * make the main process wait for a non-daemon child before exiting.)
 *
 * A "daemon" in Unix is something else: a server detached from any
 * terminal (fork, setsid, fork again, chdir /, close its descriptors),
 * started at boot and ended at shutdown. NOTES.md contrasts the two.
 *
 * Usage: ./daemon [--no-daemon] [-u MS]   (-u: one "second" of the story
 *        lasts MS milliseconds; default 1000)
 *
 * See also: orphan.c, ../07-threads/daemon.c (daemon threads), NOTES.md.
 * Python notes: 004 (daemon processes).
 * Linux-specific: prctl(PR_SET_PDEATHSIG).
 */
#define _GNU_SOURCE                     /* prctl constants */

#include "../lib/lab.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static long unit_ms = 1000;

/* sleep_units - sleep n "seconds" of the story */
static void sleep_units(long n)
{
    long ms = n * unit_ms;
    struct timespec left = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&left, &left) == -1 && errno == EINTR)
        continue;
}

/* task - the steward's life; with as_daemon, tied to the parent's */
static void task(int as_daemon, pid_t parent, int ready_fd)
{
    if (as_daemon) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0L, 0L, 0L) == -1)
            die("prctl PR_SET_PDEATHSIG");
        if (getppid() != parent)            /* it died before prctl(): too late */
            _exit(0);
    }
    printf("child  (pid %ld): egon the steward is alive%s\n", (long)getpid(),
           as_daemon ? " (a daemon: dies with his master)" : "");
    fflush(stdout);
    if (write(ready_fd, "r", 1) == -1)      /* tell the parent we are set up */
        die("write");
    close(ready_fd);
    sleep_units(3);
    printf("child  (pid %ld): egon the steward is dying of old age\n", (long)getpid());
    fflush(stdout);
    _exit(0);
}

static int as_daemon = 1;

/* on_option - --no-daemon, -u MS */
static void on_option(int key, const char *arg)
{
    if (key == 'n')
        as_daemon = 0;
    else
        unit_ms = parse_number(arg, 1, 60000, "-u");
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'n', "no-daemon", NULL, "the child outlives its parent, as an orphan"},
        {'u', NULL, "MS", "one second of the story lasts MS ms (default 1000)"}, {0}};
    const struct lab_command cmd = {"Python's daemon flag: a child that dies with its parent.",
                                    NULL, 0, options, on_option, NULL};
    pid_t parent = getpid(), pid;
    int ready[2];
    char byte;

    lab_parse(argc, argv, &cmd);

    if (pipe(ready) == -1)
        die("pipe");
    fflush(stdout);
    pid = fork();
    if (pid == -1)
        die("fork");
    if (pid == 0) {
        close(ready[0]);
        task(as_daemon, parent, ready[1]);
    }
    close(ready[1]);
    if (read(ready[0], &byte, 1) != 1)      /* wait until the child is set up */
        die("read");
    printf("parent (pid %ld): jason the emperor dies peacefully; child %ld %s\n",
           (long)getpid(), (long)pid,
           as_daemon ? "will be killed by the kernel (PR_SET_PDEATHSIG)"
                     : "lives on as an orphan");
    return 0;
}
