/* lifecycle.c - a child's life seen from its parent: pid and ppid,
 * terminate(), is_alive() and the exit code
 *
 * Python notes 004 start a process that prints its pid (os.getpid()) and its
 * parent's (os.getppid()) and sleeps 30 s, then calls p.terminate() and,
 * 0.1 s later, p.is_alive(). This program does the same with the calls
 * Python makes underneath, and shows each state on the way:
 *
 *   - the child's state letter from /proc/PID/stat (Linux): S while it
 *     sleeps (blocked), Z once it is dead but not yet reaped;
 *   - terminate() is kill(pid, SIGTERM): the signal is delivered
 *     asynchronously, which is why the Python notes wait 0.1 s before asking;
 *   - is_alive() is waitpid(pid, WNOHANG): 0 means still running, the pid
 *     means it ended (and is now reaped). kill(pid, 0) is NOT a test of
 *     life: it succeeds for a zombie too;
 *   - the exit code: WEXITSTATUS for a child that called exit(3), and for
 *     one killed by signal N Python reports exitcode -N (here -15).
 *
 * Usage: ./lifecycle
 *
 * See also: zombie.c, orphan.c, NOTES.md.
 * Python notes: 004 (pid/ppid, terminate, is_alive; process states).
 * Linux-specific: reads /proc/PID/stat.
 */
#define _POSIX_C_SOURCE 200809L

#include "../lib/lab.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* state_of - the state letter of pid from /proc/PID/stat ('?' if gone) */
static char state_of(pid_t pid)
{
    char path[64], comm[64];
    char state = '?';
    FILE *f;

    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return '?';
    /* "PID (COMM) STATE ...": our own children's names have no spaces */
    if (fscanf(f, "%*d (%63[^)]) %c", comm, &state) != 2)
        state = '?';
    fclose(f);
    return state;
}

/* wait_for_state - poll until pid is in state want (at most ~5 s) */
static void wait_for_state(pid_t pid, char want)
{
    struct timespec tick = {0, 10 * 1000000L};

    for (int i = 0; i < 500 && state_of(pid) != want; i++)
        nanosleep(&tick, NULL);
}

/* is_alive - Process.is_alive(): has our child pid not ended yet? Reaps
 * it if it has, and leaves its status in *status. */
static int is_alive(pid_t pid, int *status)
{
    pid_t r = waitpid(pid, status, WNOHANG);

    if (r == -1)
        die("waitpid");
    return r == 0;
}

/* exitcode - Python's Process.exitcode from a wait status */
static int exitcode(int status)
{
    if (WIFSIGNALED(status))
        return -WTERMSIG(status);
    return WEXITSTATUS(status);
}

/* start_child - fork a child that prints its ids and sleeps (exit_with < 0)
 * or exits at once with exit_with */
static pid_t start_child(int exit_with)
{
    pid_t pid;

    fflush(stdout);
    pid = fork();
    if (pid == -1)
        die("fork");
    if (pid > 0)
        return pid;
    if (exit_with >= 0)
        _exit(exit_with);
    printf("child:  my pid is %ld, my parent's (getppid) is %ld\n",
           (long)getpid(), (long)getppid());
    fflush(stdout);
    sleep(30);                      /* the Python notes' time.sleep(30) */
    _exit(0);
}

int main(int argc, char *argv[])
{
    int status = 0, alive;
    const struct lab_command cmd = {.about = "A child's life: sleeping, terminated, zombie, reaped."};
    pid_t pid;

    lab_parse(argc, argv, &cmd);
    printf("parent: my pid is %ld, my parent's is %ld (the shell)\n",
           (long)getpid(), (long)getppid());
    pid = start_child(-1);
    wait_for_state(pid, 'S');
    printf("parent: child %ld is in state %c (sleeping), is_alive() = %s\n",
           (long)pid, state_of(pid), is_alive(pid, &status) ? "True" : "False");

    printf("parent: terminate() = kill(%ld, SIGTERM)\n", (long)pid);
    if (kill(pid, SIGTERM) == -1)
        die("kill");
    wait_for_state(pid, 'Z');
    printf("parent: child %ld is in state %c (a zombie: dead, not reaped); "
           "kill(pid, 0) %s\n", (long)pid, state_of(pid),
           kill(pid, 0) == 0 ? "still succeeds: no proof of life" : "fails");
    alive = is_alive(pid, &status);         /* before the printf reads status */
    printf("parent: is_alive() = %s (waitpid reaped it), exitcode = %d (killed by signal %d)\n",
           alive ? "True" : "False", exitcode(status), WTERMSIG(status));
    printf("parent: now /proc/%ld is %s\n", (long)pid,
           state_of(pid) == '?' ? "gone" : "still there");

    pid = start_child(3);
    if (waitpid(pid, &status, 0) == -1)
        die("waitpid");
    printf("parent: a child that called _exit(3): exitcode = %d\n", exitcode(status));
    return 0;
}
