/* ipc_queue.c - a queue between processes: parent and child, child and child
 *
 * Threads share memory, so a queue for threads is an array and a lock
 * (bqueue.h). Processes share nothing after fork() except what the kernel
 * keeps for them, so a queue between processes must live in the kernel. The
 * Python version's multiprocessing.Queue is exactly that: a pipe plus a lock
 * (plus a thread that feeds the pipe). This program shows two kernel queues,
 * chosen with --via:
 *
 *   pipe  a pipe created before fork(), so every process holds both ends.
 *         Each message is one fixed-size record of at most PIPE_BUF bytes:
 *         POSIX makes such a write() atomic, so records from several
 *         writers never interleave, and a read() of one record's size
 *         takes exactly one. The kernel's pipe lock is the "plus a lock".
 *         The bound (maxsize) is the pipe's capacity, 64 KiB on Linux.
 *   mq    a POSIX message queue (mq_open): the kernel keeps whole
 *         messages with a priority, up to mq_maxmsg of them (the bound:
 *         mq_send blocks when it is full), and mq_timedreceive is a
 *         get(timeout) ready-made. Linux-specific in one detail only: a
 *         message queue descriptor is a file descriptor here.
 *
 * Scenes, as in the Python version: a child puts and the parent gets; a
 * producer child puts and a consumer child gets; then three children put at
 * once and the parent gets every message whole; last, get(timeout) on an empty
 * queue comes back empty.
 *
 * Usage: ./ipc_queue [--via pipe|mq]      (default: pipe)
 *
 * See also: queues.c (a queue between threads), server.c (processes
 * sharing a file under a lock), NOTES.md.
 * Python notes: 004 (IPC: multiprocessing.Queue between parent and child, and
 * between two children).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mqueue.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../lib/lab.h"
#include "say.h"

#define TEXT_MAX 120
#define MQ_DEPTH 10                 /* Linux's default ceiling for mq_maxmsg */
#define WRITERS 3
#define MESSAGES_EACH 5

/* One message: a fixed-size record, so a pipe can carry it whole. */
struct message {
    long sender;                    /* the pid that put it */
    char text[TEXT_MAX];
};

_Static_assert(sizeof(struct message) <= PIPE_BUF,
               "a message must fit in one atomic pipe write");

/* A queue shared by every process forked after ipc_open(). */
struct ipc_queue {
    int use_mq;
    int pipe_fds[2];                /* [0] read end, [1] write end */
    mqd_t mq;
};

/* ipc_open - create the kernel queue, before any fork() */
static void ipc_open(struct ipc_queue *q, int use_mq)
{
    char name[64];
    struct mq_attr attr;

    q->use_mq = use_mq;
    if (!use_mq) {
        if (pipe(q->pipe_fds) == -1)
            die("pipe");
        return;
    }
    memset(&attr, 0, sizeof attr);
    attr.mq_maxmsg = MQ_DEPTH;
    attr.mq_msgsize = sizeof(struct message);
    snprintf(name, sizeof name, "/lab08-ipc-queue-%ld", (long)getpid());
    q->mq = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
    if (q->mq == (mqd_t)-1)
        die("mq_open %s", name);
    /* Remove the name at once: the queue lives on while a descriptor is
     * open (inherited by every child), and nothing is left behind in
     * the system however this program ends. */
    if (mq_unlink(name) == -1)
        die("mq_unlink %s", name);
}

/* ipc_put - put one message; blocks while the queue is full */
static void ipc_put(struct ipc_queue *q, const char *text)
{
    struct message msg;
    ssize_t n;

    memset(&msg, 0, sizeof msg);
    msg.sender = (long)getpid();
    snprintf(msg.text, sizeof msg.text, "%s", text);
    if (q->use_mq) {
        while (mq_send(q->mq, (const char *)&msg, sizeof msg, 0) == -1)
            if (errno != EINTR)
                die("mq_send");
        return;
    }
    /* One write() of <= PIPE_BUF bytes: all of it or (blocking) none yet. */
    while ((n = write(q->pipe_fds[1], &msg, sizeof msg)) == -1)
        if (errno != EINTR)
            die("write to the pipe");
    if (n != (ssize_t)sizeof msg) {
        errno = EIO;
        die("short write to the pipe");
    }
}

/* ipc_get - take one message, waiting at most timeout_ms (-1: forever);
 * 1 when msg was filled, 0 when the queue stayed empty */
static int ipc_get(struct ipc_queue *q, struct message *msg, long timeout_ms)
{
    struct pollfd pfd = {q->pipe_fds[0], POLLIN, 0};
    struct timespec deadline;
    ssize_t n;
    int ready;

    if (q->use_mq) {
        /* mq_timedreceive wants an absolute CLOCK_REALTIME time. */
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += timeout_ms < 0 ? 365L * 24 * 3600 : timeout_ms / 1000;
        deadline.tv_nsec += timeout_ms < 0 ? 0 : (timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        while (mq_timedreceive(q->mq, (char *)msg, sizeof *msg, NULL, &deadline) == -1) {
            if (errno == ETIMEDOUT)
                return 0;
            if (errno != EINTR)
                die("mq_timedreceive");
        }
        return 1;
    }
    while ((ready = poll(&pfd, 1, (int)timeout_ms)) == -1)
        if (errno != EINTR)
            die("poll");
    if (ready == 0)
        return 0;
    /* Every record was written whole, so a read of one record's size
     * returns exactly one, even with other readers on the same pipe. */
    while ((n = read(q->pipe_fds[0], msg, sizeof *msg)) == -1)
        if (errno != EINTR)
            die("read from the pipe");
    if (n != (ssize_t)sizeof *msg) {
        errno = EIO;
        die("read %zd bytes, not one whole message", n);
    }
    return 1;
}

/* spawn - fork a child that runs body(q, arg) and exits; the child's pid */
static pid_t spawn(void (*body)(struct ipc_queue *, int), struct ipc_queue *q, int arg)
{
    pid_t pid;

    fflush(stdout);                 /* nothing buffered may be copied */
    pid = fork();
    if (pid == -1)
        die("fork");
    if (pid == 0) {
        body(q, arg);
        fflush(stdout);
        _exit(0);
    }
    return pid;
}

/* wait_child - waitpid for pid, or die */
static void wait_child(pid_t pid)
{
    int status;

    while (waitpid(pid, &status, 0) == -1)
        if (errno != EINTR)
            die("waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        note("child %ld failed", (long)pid);
        exit(1);
    }
}

/* technician - a child that puts the Python version's greeting */
static void technician(struct ipc_queue *q, int arg)
{
    (void)arg;
    ipc_put(q, "I am technician No. 23, glad to be of service");
}

/* consumer - a child that gets one message and prints it */
static void consumer(struct ipc_queue *q, int arg)
{
    struct message msg;

    (void)arg;
    ipc_get(q, &msg, -1);
    say("  consumer child %ld got from child %ld: %s", (long)getpid(), msg.sender, msg.text);
}

/* writer - a child that puts MESSAGES_EACH numbered messages */
static void writer(struct ipc_queue *q, int number)
{
    char text[TEXT_MAX];

    for (int i = 1; i <= MESSAGES_EACH; i++) {
        snprintf(text, sizeof text, "writer %d, message %d of %d", number, i, MESSAGES_EACH);
        ipc_put(q, text);
    }
}

/* scene_many_writers - WRITERS children put at once, the parent gets all */
static void scene_many_writers(struct ipc_queue *q)
{
    pid_t pids[WRITERS];
    struct message msg;
    int per_writer[WRITERS] = {0};

    say("== %d children put %d messages each at once; the parent gets them ==", WRITERS,
        MESSAGES_EACH);
    for (int i = 0; i < WRITERS; i++)
        pids[i] = spawn(writer, q, i + 1);
    for (int got = 0; got < WRITERS * MESSAGES_EACH; got++) {
        int number = 0, index = 0;

        ipc_get(q, &msg, -1);
        if (sscanf(msg.text, "writer %d, message %d", &number, &index) != 2 || number < 1
            || number > WRITERS || index != per_writer[number - 1] + 1) {
            say("  BROKEN message: %s", msg.text);
            exit(1);
        }
        per_writer[number - 1] = index;
        say("  parent got: %s", msg.text);
    }
    for (int i = 0; i < WRITERS; i++)
        wait_child(pids[i]);
    say("  all %d messages whole, each writer's in its own order", WRITERS * MESSAGES_EACH);
}

static int use_mq = 0;

/* on_option - --via pipe|mq, from lab_parse() */
static void on_option(int key, const char *arg)
{
    if (key == 'v' && strcmp(arg, "pipe") != 0 && strcmp(arg, "mq") != 0)
        usage_error("--via takes pipe or mq, not '%s'", arg);
    if (key == 'v')
        use_mq = strcmp(arg, "mq") == 0;
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'v', "via", "pipe|mq", "the queue: a pipe of fixed-size records (default) or a POSIX "
                                "message queue"}, {0}};
    static const struct lab_command cmd = {.options = options, .on_option = on_option};
    struct ipc_queue q;
    struct message msg;
    pid_t producer_pid, consumer_pid;

    lab_parse(argc, argv, &cmd);
    ipc_open(&q, use_mq);
    say("queue: %s", use_mq ? "a POSIX message queue" : "a pipe of fixed-size records");

    say("== a child puts, the parent gets ==");
    producer_pid = spawn(technician, &q, 0);
    ipc_get(&q, &msg, -1);
    say("  parent %ld got from child %ld: %s", (long)getpid(), msg.sender, msg.text);
    wait_child(producer_pid);

    say("== a child puts, another child gets ==");
    consumer_pid = spawn(consumer, &q, 0);
    producer_pid = spawn(technician, &q, 0);
    wait_child(producer_pid);
    wait_child(consumer_pid);

    scene_many_writers(&q);

    say("== get(timeout=200 ms) on an empty queue ==");
    say("  %s", ipc_get(&q, &msg, 200) ? "got a message?" : "Empty: nothing came in time");
    return 0;
}
