/* unixdaemon.c - a daemon in the Unix sense: detached from any terminal
 *
 * Python's p.daemon = True (daemon.c) means "a child that dies with its
 * parent". Python note 004 also calls a daemon "a process that starts and
 * stops with the operating system": that is the Unix daemon, a server
 * that outlives the shell that started it, belongs to no terminal, and
 * is stopped by a signal. This program becomes one, step by step, the
 * way Stevens (APUE 13.3) and Kerrisk (TLPI 37.2) teach it:
 *
 *   1. fork(), and the parent exits: the shell gets its prompt back, and
 *      the child is not a process group leader, so that step 2 can work;
 *   2. setsid(): a new session and process group, with no controlling
 *      terminal, so a hang-up or a Ctrl-C on the old terminal reaches it no
 *      more;
 *   3. fork() again, and the session leader exits: the daemon is not a
 *      session leader, so opening a terminal can never make it that
 *      session's controlling terminal;
 *   4. umask(0): files are created with exactly the mode asked for;
 *   5. chdir("/"): it keeps no directory busy (an unmountable disk);
 *   6. close every descriptor it inherited, then open /dev/null as 0, 1
 *      and 2, so that a stray printf() goes nowhere instead of into a
 *      file or socket that happens to get descriptor 1;
 *   7. log to a file (-l FILE, an absolute path: the daemon is in /) or,
 *      by default, to syslog: it has no terminal to print on.
 *
 * Then it waits for SIGTERM (the way init and systemd stop a service),
 * logs that it stops, and exits 0. The first process waits on a pipe
 * until the daemon is ready and prints its pid: without that, "started"
 * would be said before anything had been checked. Today systemd does
 * steps 1-7 for a service (and prefers one that does not fork at all);
 * the steps still explain what a service is.
 *
 * Usage: ./unixdaemon [-l FILE]     (default: syslog, facility daemon)
 *        then: kill -TERM PID
 *
 * See also: daemon.c (Python's daemon flag), orphan.c (who adopts the
 * daemon), NOTES.md section 8.
 * Python notes: 004 (daemons "start and stop with the system").
 */
#define _POSIX_C_SOURCE 200809L

#include "../lib/lab.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <syslog.h>
#include <unistd.h>

static const char *log_path = NULL;     /* NULL: syslog */
static FILE *log_file;

/* daemon_log - one line to the log file (with the pid) or to syslog */
static void daemon_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void daemon_log(const char *fmt, ...)
{
    char line[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (log_file != NULL) {
        fprintf(log_file, "unixdaemon[%ld]: %s\n", (long)getpid(), line);
        fflush(log_file);
    } else {
        syslog(LOG_INFO, "%s", line);
    }
}

/* close_inherited - steps 6: close every descriptor but keep_fd, then
 * 0, 1 and 2 on /dev/null */
static void close_inherited(int keep_fd)
{
    long max_fd = sysconf(_SC_OPEN_MAX);
    int null_fd;

    if (max_fd == -1 || max_fd > 65536)
        max_fd = 65536;
    for (int fd = 0; fd < max_fd; fd++)
        if (fd != keep_fd)
            close(fd);                      /* EBADF for most: fine */
    null_fd = open("/dev/null", O_RDWR);    /* the lowest free number: 0 */
    if (null_fd != 0 || dup2(0, 1) != 1 || dup2(0, 2) != 2)
        _exit(1);                           /* nowhere left to say it */
}

/* become_daemon - steps 1 to 6; returns in the daemon only. ready_fd is
 * the write end of the pipe the first process waits on. */
static void become_daemon(int ready_fd)
{
    switch (fork()) {                       /* 1 */
    case -1: die("fork");
    case 0: break;
    default: _exit(0);                      /* the first child's parent waits on the pipe */
    }
    if (setsid() == -1)                     /* 2 */
        die("setsid");
    switch (fork()) {                       /* 3 */
    case -1: die("fork");
    case 0: break;
    default: _exit(0);                      /* the session leader goes */
    }
    umask(0);                               /* 4 */
    if (chdir("/") == -1)                   /* 5 */
        die("chdir /");
    close_inherited(ready_fd);              /* 6 */
}

/* open_log - step 7: the file (append, mode 0644) or syslog */
static void open_log(void)
{
    if (log_path == NULL) {
        openlog("unixdaemon", LOG_PID, LOG_DAEMON);
        return;
    }
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

    if (fd == -1 || (log_file = fdopen(fd, "a")) == NULL)
        _exit(1);                           /* the first process reports it */
}

/* on_option - -l FILE */
static void on_option(int key, const char *arg)
{
    (void)key;
    if (arg[0] != '/')
        usage_error("-l needs an absolute path (a daemon runs in /), not '%s'", arg);
    log_path = arg;
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'l', NULL, "FILE", "log to FILE (absolute path) instead of syslog"}, {0}};
    const struct lab_command cmd = {"Becomes a Unix daemon; stop it with kill -TERM PID.",
                                    NULL, 0, options, on_option, NULL};
    sigset_t term, old_mask;
    int ready[2], tty;
    long pid = 0;

    lab_parse(argc, argv, &cmd);
    if (pipe(ready) == -1)
        die("pipe");
    fflush(stdout);
    switch (fork()) {
    case -1:
        die("fork");
    case 0:
        close(ready[0]);
        break;                              /* on to become the daemon */
    default:
        /* The first process: wait until the daemon says it is ready (its
         * pid), or until the pipe closes without it (it failed). */
        close(ready[1]);
        if (read(ready[0], &pid, sizeof pid) != (ssize_t)sizeof pid)
            fatal("the daemon did not start (log: %s)", log_path ? log_path : "syslog");
        printf("unixdaemon: started, pid %ld; stop it with: kill -TERM %ld\n", pid, pid);
        return 0;
    }

    become_daemon(ready[1]);
    open_log();

    /* SIGTERM is held from here on and taken only inside sigsuspend(): a
     * signal that comes before the wait ends the wait at once. */
    catch_stop_signals(0, NULL);
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigaddset(&term, SIGINT);
    sigprocmask(SIG_BLOCK, &term, &old_mask);
    sigdelset(&old_mask, SIGTERM);
    sigdelset(&old_mask, SIGINT);
    signal(SIGHUP, SIG_IGN);                /* no terminal to hang up: ignore */

    tty = open("/dev/tty", O_RDWR | O_NOCTTY);     /* fails: no controlling terminal */
    daemon_log("started: pid %ld, parent %ld, session %ld, process group %ld, "
               "controlling terminal: %s", (long)getpid(), (long)getppid(),
               (long)getsid(0), (long)getpgrp(), tty == -1 ? "none" : "one (a bug)");
    if (tty != -1)
        close(tty);
    pid = (long)getpid();
    if (write(ready[1], &pid, sizeof pid) != (ssize_t)sizeof pid)
        daemon_log("the first process is gone: %s", strerror(errno));
    close(ready[1]);

    while (!stop_requested)                 /* a real daemon would serve here */
        sigsuspend(&old_mask);
    daemon_log("stopping on a stop signal");
    return 0;
}
