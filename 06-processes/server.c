/* server.c - a forking echo-upper server: one child process per client
 *
 * Lesson 01's server served one client at a time because one process can
 * only sleep in one recv(). Here the parent does nothing but the
 * connection loop: accept() a client, fork() a child, go back to accept().
 * The child is a copy of the parent; it runs the communication loop for
 * its one client and exits. Each client gets its own process, so a client
 * that never sends, never reads, resets or floods stalls only its own
 * child. This is the Python notes' Process(target=talk, args=(conn,)) per
 * connection, and socketserver's ForkingTCPServer underneath.
 *
 * Three duties come with children, and this file shows each one:
 *   - reaping: a child that exits stays a zombie until its parent calls
 *     waitpid(); the SIGCHLD handler reaps every child that has ended;
 *   - descriptors: after fork() both processes hold both sockets; the child
 *     closes the listening socket and the parent closes the connection;
 *   - ending them: on SIGINT/SIGTERM the parent sends SIGTERM to every
 *     child it still has, waits for them, then exits 0.
 * It also keeps at most MAX children at once: at the limit it stops
 * calling accept() until one ends, and new clients wait in the backlog.
 *
 * Usage: ./server [-H ADDR] [-p PORT] [-m MAX]
 *        (defaults: 127.0.0.1, 9006, 1024 children at most)
 *
 * See also: socketserver.c (the same server in socketserver's shape),
 * client.c, the demos (join, isolation, lifecycle, zombie, orphan,
 * daemon, unixdaemon), NOTES.md.
 * Python notes: 004 (a process per connection; zombies), 003 (connection
 * loop and communication loop).
 */
#define _POSIX_C_SOURCE 200809L

#include "../lib/lab.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE 4096
#define DEFAULT_MAX_CHILDREN 1024
#define STOP_GRACE_MS 800       /* then SIGKILL: the contract says exit within 1 s */

/* The children still running, so that we can end them on SIGTERM. The
 * SIGCHLD handler removes entries and the main program adds them; the
 * main program touches the table only with SIGCHLD blocked, so the two
 * never meet halfway through an update. A free slot holds 0. */
static pid_t *children;
static long max_children = DEFAULT_MAX_CHILDREN;
static volatile sig_atomic_t live_children = 0;

static volatile sig_atomic_t listen_fd_for_signal = -1;
static volatile sig_atomic_t conn_fd_for_signal = -1;

/* forget_child - free the table slot of pid (called with SIGCHLD blocked
 * or from the SIGCHLD handler itself) */
static void forget_child(pid_t pid)
{
    for (long i = 0; i < max_children; i++) {
        if (children[i] == pid) {
            children[i] = 0;
            live_children--;
            return;
        }
    }
}

/* remember_child - put pid in a free slot (called with SIGCHLD blocked;
 * the caller has checked there is room) */
static void remember_child(pid_t pid)
{
    for (long i = 0; i < max_children; i++) {
        if (children[i] == 0) {
            children[i] = pid;
            live_children++;
            return;
        }
    }
}

/* on_sigchld - reap every child that has ended
 *
 * Signals do not queue: ten children ending together may raise one
 * SIGCHLD. So the handler loops until waitpid() says nobody else is
 * waiting (0) or there are no children (-1, ECHILD). WNOHANG keeps it
 * from sleeping inside a handler. waitpid() changes errno, which the code
 * we interrupted may be about to read, so errno is saved and restored. */
static void on_sigchld(int signo)
{
    /* LAB-BEGIN reap-children: the SIGCHLD handler: reap every child that has
     * ended, waitpid(-1, NULL, WNOHANG) in a loop until it returns 0 or -1
     * (signals do not queue: one SIGCHLD may stand for ten children),
     * forget_child() each pid, and save and restore errno around it. See
     * NOTES.md section 2, zombies.
     * Stub: (void)signo; (void)forget_child;
     * Tests: every child reaped
     */
    int saved_errno = errno;
    pid_t pid;

    (void)signo;
    while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
        forget_child(pid);
    errno = saved_errno;
    /* LAB-END reap-children */
}

/* wake_sleeper - run by the SIGINT/SIGTERM handler (parent and
 * children), after it set stop_requested: shutdown() the socket this
 * process may be asleep on, so that a blocked accept() or recv() returns
 * at once (shutdown() is async-signal-safe) */
static void wake_sleeper(void)
{
    if (listen_fd_for_signal >= 0)
        shutdown(listen_fd_for_signal, SHUT_RDWR);
    if (conn_fd_for_signal >= 0)
        shutdown(conn_fd_for_signal, SHUT_RDWR);
}

/* install_signals - stop on SIGINT/SIGTERM (no SA_RESTART: a blocked
 * call sees EINTR), reap on SIGCHLD; lib ignores SIGPIPE */
static void install_signals(void)
{
    struct sigaction sa;

    catch_stop_signals(0, wake_sleeper);
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);

    /* SA_RESTART: a child ending must not make accept() fail with EINTR.
     * SA_NOCLDSTOP: we care about children that end, not ones stopped. */
    sa.sa_handler = on_sigchld;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    if (sigaction(SIGCHLD, &sa, NULL) == -1)
        die("sigaction");

    /* The signal mask survives fork() and exec(): whoever started us may
     * have left SIGCHLD blocked, and then no child would ever be reaped. */
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGCHLD);
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGTERM);
    if (sigprocmask(SIG_UNBLOCK, &sa.sa_mask, NULL) == -1)
        die("sigprocmask");
}

/* block_sigchld - block SIGCHLD; old (if not NULL) gets the mask before */
static void block_sigchld(sigset_t *old)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &set, old) == -1)
        die("sigprocmask");
}

/* restore_mask - put back a signal mask saved before blocking signals */
static void restore_mask(const sigset_t *old)
{
    if (sigprocmask(SIG_SETMASK, old, NULL) == -1)
        die("sigprocmask");
}

/* wait_for_free_slot - while max_children are running, sleep until one
 * ends (or a stop signal comes). Testing the count and then sleeping
 * must be one step, or a SIGCHLD arriving in between would be missed and
 * we would sleep forever: sigsuspend() unblocks SIGCHLD and sleeps
 * atomically. */
static void wait_for_free_slot(void)
{
    sigset_t old_mask;

    block_sigchld(&old_mask);
    if (live_children >= max_children && !stop_requested)
        note("%ld children running: new clients wait in the backlog", max_children);
    while (live_children >= max_children && !stop_requested)
        sigsuspend(&old_mask);
    restore_mask(&old_mask);
}

/* serve_client - the communication loop, run in the child: recv,
 * upper-case, send back, until the client half-closes or fails */
static void serve_client(int conn_fd, const char *peer)
{
    char buf[BUF_SIZE];
    unsigned long long total = 0;

    while (!stop_requested) {
        ssize_t n = recv(conn_fd, buf, sizeof buf, 0);

        if (n == 0)                         /* end of file: the client is done */
            break;
        if (n == -1) {
            if (errno == EINTR)
                continue;
            if (!stop_requested)
                warn("recv from %s", peer);
            return;
        }
        upper_bytes(buf, (size_t)n);
        if (send_all(conn_fd, buf, (size_t)n) == -1) {
            if (!stop_requested)
                warn("send to %s", peer);
            return;
        }
        total += (unsigned long long)n;
    }
    note("closed %s (%llu bytes)", peer, total);
}

/* run_child - the child's whole life: it never returns; mask is the
 * signal mask to restore once the child has set itself up */
static void run_child(int listen_fd, int conn_fd, const char *peer, const sigset_t *mask)
{
    static char name[32];

    snprintf(name, sizeof name, "server[%ld]", (long)getpid());
    prog_name = name;

    /* The child only talks to its client. It closes its copy of the
     * listening socket: it will never accept(), and a copy left open
     * would keep the port listening after the parent has gone. */
    listen_fd_for_signal = -1;
    close(listen_fd);
    conn_fd_for_signal = conn_fd;
    restore_mask(mask);                     /* a stop signal held since fork() arrives now */

    serve_client(conn_fd, peer);
    close(conn_fd);
    /* _exit, not exit: the child must not flush stdio buffers it copied
     * from the parent, or run the parent's atexit handlers. */
    _exit(0);
}

/* fork_child - hand conn_fd to a new child process; the parent goes on */
static void fork_child(int listen_fd, int conn_fd, const char *peer)
{
    /* LAB-BEGIN fork-child: hand conn_fd to a new child process. Block
     * SIGCHLD, SIGINT and SIGTERM around fork() (the child must be in the
     * table before it can be reaped; the child must drop the listener before a
     * stop handler runs in it). fork() failed: warn, restore the mask, close
     * conn_fd, pause_briefly(), return. In the child: run_child(). In the
     * parent: remember_child(), restore the mask, close its copy of conn_fd,
     * note "connection from PEER, served by child PID". See NOTES.md section
     * 2, the fork-per-client server.
     * Stub: (void)listen_fd; (void)peer; (void)run_child; (void)remember_child; close(conn_fd);
     * Tests: socat
     */
    sigset_t held, old_mask;
    pid_t pid;

    /* SIGCHLD stays blocked from fork() until the pid is in the table:
     * a child that ends at once must not be reaped before it is added.
     * The stop signals are held too, until the child has let go of the
     * listening socket: the handler it inherits would shut that socket
     * down, and the socket is the parent's as well. */
    sigemptyset(&held);
    sigaddset(&held, SIGCHLD);
    sigaddset(&held, SIGINT);
    sigaddset(&held, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &held, &old_mask) == -1)
        die("sigprocmask");
    pid = fork();
    if (pid == -1) {
        /* EAGAIN (a process limit) or ENOMEM: this client is lost, the
         * server is not; pause so that a flood of clients cannot make us
         * spin on a limit that needs time to lift. */
        warn("fork for %s", peer);
        restore_mask(&old_mask);
        close(conn_fd);
        pause_briefly();
        return;
    }
    if (pid == 0)
        run_child(listen_fd, conn_fd, peer, &old_mask);  /* the mask is inherited too */
    remember_child(pid);
    restore_mask(&old_mask);

    /* The parent closes its copy of the connection: the child has its
     * own. Kept open here, the client would never see end of file when
     * the child closes, and the parent would run out of descriptors. */
    close(conn_fd);
    note("connection from %s, served by child %ld", peer, (long)pid);
    /* LAB-END fork-child */
}

/* end_children - SIGTERM every child, reap them all; SIGKILL any child
 * still there after STOP_GRACE_MS */
static void end_children(void)
{
    struct timespec tick = {0, 10 * 1000000L};    /* 10 ms */
    long ended = live_children;
    long long start_ms = now_ms();
    int killed = 0;

    block_sigchld(NULL);                    /* from here on we reap ourselves */
    for (long i = 0; i < max_children; i++)
        if (children[i] != 0)
            kill(children[i], SIGTERM);
    /* Loop on our own count, not until waitpid() says ECHILD: a process
     * we did not fork can be our child too (a shell may start a helper
     * of its own from the process that then execs us). The grace period
     * is measured on the clock, not by counting turns of the loop: a
     * turn that reaps a child takes no time at all. */
    while (live_children > 0) {
        pid_t pid = waitpid(-1, NULL, WNOHANG);

        if (pid > 0) {
            forget_child(pid);
            continue;
        }
        if (pid == -1)
            break;                          /* ECHILD: none left at all */
        if (!killed && now_ms() - start_ms >= STOP_GRACE_MS) {
            for (long i = 0; i < max_children; i++)
                if (children[i] != 0)
                    kill(children[i], SIGKILL);   /* stopped, or deaf to SIGTERM */
            killed = 1;
        }
        nanosleep(&tick, NULL);
    }
    if (ended > 0)
        note("ended %ld child process%s", ended, ended == 1 ? "" : "es");
}

/* on_option - -m MAX */
static void on_option(int key, const char *arg)
{
    (void)key;
    max_children = parse_number(arg, 1, 100000, "-m");
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'m', NULL, "MAX", "at most MAX child processes at once (default 1024)"}, {0}};
    const struct lab_command cmd = {"The echo-upper server, one child process per client.",
                                    "9006", 0, options, on_option, NULL};
    struct lab_args args = lab_parse(argc, argv, &cmd);
    int listen_fd, last_errno = 0;

    children = calloc((size_t)max_children, sizeof *children);
    if (children == NULL)
        die("calloc");
    install_signals();
    listen_fd = open_listener(args.host, args.port, 0, SOMAXCONN);
    listen_fd_for_signal = listen_fd;
    print_ready_line(listen_fd);

    while (!stop_requested) {               /* the connection loop */
        struct sockaddr_storage peer_addr;
        socklen_t peer_len = sizeof peer_addr;
        char peer[ADDR_LEN];
        int conn_fd;

        wait_for_free_slot();
        if (stop_requested)
            break;
        conn_fd = accept(listen_fd, (struct sockaddr *)&peer_addr, &peer_len);
        if (conn_fd == -1) {
            if (stop_requested || errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != last_errno)        /* one line per spell, not a flood */
                warn("accept");
            last_errno = errno;
            if (is_out_of_descriptors(errno))
                pause_briefly();         /* out of descriptors: do not spin */
            continue;
        }
        last_errno = 0;
        format_addr((struct sockaddr *)&peer_addr, peer_len, peer, sizeof peer);
        fork_child(listen_fd, conn_fd, peer);
    }

    note("stopping");
    close(listen_fd);
    end_children();
    free(children);
    return 0;
}
