/* socketserver.c - the forking echo server again, in the shape of Python's
 * socketserver.ForkingTCPServer
 *
 *     ForkingTCPServer = ForkingMixIn + TCPServer (+ BaseServer)
 *
 * TCPServer, BaseServer and the request handler are Python's library, and
 * so they are the lab's: ../lib/socketserver.c, with Python's names and
 * the call chain of Python notes 003 (read it once). This file is only
 * the mix-in: the few functions that say what a worker is. Here a
 * worker is a child process: start_worker() forks, reap_workers()
 * collects ended children with waitpid(), stop_worker() sends SIGTERM.
 * Lesson 07's socketserver.c is the same mix-in written for threads: diff
 * the two, and what shows is the difference between a process and a
 * thread.
 *
 * Like Python's ForkingMixIn it reaps children in service_actions(),
 * after every turn of the loop, not in a SIGCHLD handler as server.c
 * does. Unlike Python's, its SIGCHLD handler (which does nothing) makes a
 * child's end wake the loop at once (nearly always: see NOTES.md), and the
 * wait at the limit is a pselect() that a stop signal cannot slip past.
 * With one thread, blocking signals plays the part of lesson 07's mutex.
 *
 * Usage: ./socketserver [-H ADDR] [-p PORT] [-m MAX]
 *        (defaults: 127.0.0.1, 9006, 40 children at most)
 *
 * See also: server.c (the same server written straight through),
 * ../lib/socketserver.c (the server and the handler),
 * ../07-threads/socketserver.c (ThreadingMixIn), NOTES.md.
 * Python notes: 003 (socketserver, its classes and its call chain), 004
 * (a process per connection).
 */
#define _POSIX_C_SOURCE 200809L

#include "../lib/socketserver.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- ForkingMixIn: a worker is a child process -------------------------- */

static sigset_t wake_signals;           /* what may end a wait: SIGCHLD, SIGINT, SIGTERM */
static sigset_t unlocked_mask;          /* the signal mask before lock_workers() */

/* on_sigchld - a child has ended: nothing to do but interrupt a wait */
static void on_sigchld(int signo)
{
    (void)signo;
}

/* mixin_init - a handler for SIGCHLD, the kernel's word that a child has
 * ended (at its default, SIGCHLD is discarded and wakes nobody;
 * SA_NOCLDSTOP: a child stopped, not ended, frees no slot) */
static void mixin_init(void)
{
    struct sigaction sa;

    sigemptyset(&wake_signals);
    sigaddset(&wake_signals, SIGCHLD);
    sigaddset(&wake_signals, SIGINT);
    sigaddset(&wake_signals, SIGTERM);
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_sigchld;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    if (sigaction(SIGCHLD, &sa, NULL) == -1)
        die("sigaction");
}

/* lock_workers - hold back SIGCHLD and the stop signals while the table
 * and stop_requested are tested: one arriving between a test and the
 * sleep after it would wake nobody; held back, it ends the sleep at once */
static void lock_workers(void)
{
    sigprocmask(SIG_BLOCK, &wake_signals, &unlocked_mask);
}

/* unlock_workers - let them in again */
static void unlock_workers(void)
{
    sigprocmask(SIG_SETMASK, &unlocked_mask, NULL);
}

/* wait_for_change - sleep until a signal comes (a child ended, or stop),
 * at most ms: pselect() lets the signals in and sleeps in one step */
static void wait_for_change(long ms)
{
    struct timespec timeout = {ms / 1000, (ms % 1000) * 1000000L};

    pselect(0, NULL, NULL, NULL, &timeout, &unlocked_mask);
}

/* forget_child - free the slot of the child pid, which has been reaped */
static void forget_child(struct server *self, pid_t pid)
{
    for (long i = 0; i < self->max_workers; i++)
        if (self->workers[i].busy && self->workers[i].id.pid == pid)
            remove_worker(&self->workers[i]);
}

/* reap_workers - ForkingMixIn.collect_children: waitpid() each child that
 * has ended (a zombie until then), without waiting for the others */
static void reap_workers(struct server *self)
{
    pid_t pid;

    while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
        forget_child(self, pid);
}

/* serve_in_child - a child's whole life: serve the request, then exit */
static void serve_in_child(struct worker *worker, const sigset_t *old_mask)
{
    close(worker->server->socket);          /* a child never accepts */
    socket_for_signal = worker->request;    /* a stop signal now wakes its recv() */
    pthread_sigmask(SIG_SETMASK, old_mask, NULL);   /* a held stop arrives now */
    finish_request(worker->server, worker->request, worker->client_address);
    shutdown_request(worker->request);
    _exit(0);                               /* os._exit(0) */
}

/* start_worker - ForkingMixIn.process_request: fork() a child to serve
 * the request; the parent closes its copy of the socket. 0 if no worker
 * could start. */
static int start_worker(struct worker *worker, const sigset_t *old_mask)
{
    /* LAB-BEGIN start-worker: ForkingMixIn's process_request: fork();
     * failed: warn "fork for ADDR" and return 0 (the caller drops this
     * client only); in the child: serve_in_child() (it never returns); in
     * the parent: keep the pid in worker->id.pid, close the parent's copy
     * of the request (self.close_request) and return 1. See NOTES.md
     * section 2, socketserver.
     * Stub: (void)worker; (void)old_mask; (void)serve_in_child; return 0;
     * Tests: socat
     */
    pid_t pid = fork();

    if (pid == -1) {                        /* EAGAIN or ENOMEM */
        warn("fork for %s", worker->client_address);
        return 0;
    }
    if (pid == 0)
        serve_in_child(worker, old_mask);
    worker->id.pid = pid;
    close(worker->request);                 /* self.close_request(request) */
    return 1;
    /* LAB-END start-worker */
}

/* stop_worker - ask a child to stop: SIGTERM (its handler shuts down its
 * socket) */
static void stop_worker(struct worker *worker)
{
    kill(worker->id.pid, SIGTERM);
}

/* end_stragglers - the children still there are stopped or deaf to
 * SIGTERM: SIGKILL them, and reap them */
static void end_stragglers(struct server *self)
{
    pid_t pid;

    for (long i = 0; i < self->max_workers; i++)
        if (self->workers[i].busy)
            kill(self->workers[i].id.pid, SIGKILL);
    while (self->active_count > 0 && (pid = waitpid(-1, NULL, 0)) > 0)
        forget_child(self, pid);
}

static const struct mixin forking_mixin = {
    "a child process", mixin_init, lock_workers, unlock_workers, wait_for_change,
    reap_workers, start_worker, stop_worker, end_stragglers,
};

/* ---- the program ---------------------------------------------------------- */

int main(int argc, char *argv[])
{
    /* server = ForkingTCPServer((host, port), EchoHandler); serve_forever() */
    return socketserver_main(argc, argv, "9006", &forking_mixin,
                             "The echo-upper server as socketserver.ForkingTCPServer.");
}
