/* aio.c - asynchronous IO, the fifth IO model: io_uring and POSIX AIO
 *
 * In every model so far the process itself did the second phase of IO:
 * readiness (select, poll, epoll) only says "recv() will not block now",
 * and then the process calls recv() and waits while the kernel copies.
 * In asynchronous IO the process hands over the whole operation - "read
 * into this buffer" - and is told when it is done, the bytes already in
 * its buffer: no recv() call appears in the program. Who does the copy is
 * the kernel's business. With io_uring on a socket (IORING_FEAT_FAST_POLL,
 * Linux 5.7): a first try at submission finds no data, so the kernel arms
 * a poll; when the bytes arrive it queues "task work" that runs the recv,
 * and the copy, in our own thread, in kernel mode, while it waits in
 * io_uring_enter (or on its next return from a system call). Before 5.7 a
 * kernel worker thread did a blocking recv instead. NOTES.md section 2.6.
 *
 * Python notes 004 show asyncio's two hello() tasks, each sleeping 1 s,
 * finishing together in about 1 s. This program does the same with two 1-second
 * timeouts and, beside them, a receive on a socket:
 *
 *   io_uring (default): the Linux interface, used here through its three
 *     system calls and two shared-memory rings, without liburing. One
 *     io_uring_enter() submits all three operations; the program then
 *     plays the remote peer and sends the bytes itself; completions come
 *     back on the completion ring, with the bytes already in our buffer.
 *   --posix: POSIX aio_read()/aio_suspend(). glibc implements it with
 *     threads doing ordinary blocking reads: the program counts its own
 *     threads while the read is in flight to show it. (strace -f shows the
 *     helper thread's pread64 failing with ESPIPE on a socket, then read.)
 *
 * Note asyncio itself is not asynchronous IO in this sense: it is an event
 * loop on a selector (epoll on Linux) with coroutines on top - lesson 05's
 * server with nicer syntax.
 *
 * Usage: ./aio [--posix]
 *
 * See also: server.c (readiness, not completion), NOTES.md; man 7 io_uring
 * (with liburing installed), man 7 aio.
 * Python notes: 004 (asynchronous IO, the fifth IO model; asyncio's hello()).
 * Linux-specific: io_uring (kernel 5.6 or later for IORING_OP_RECV).
 */
#define _GNU_SOURCE

#include <aio.h>
#include <dirent.h>
#include <errno.h>
#include <linux/io_uring.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../lib/lab.h"

#define MESSAGE "hello from the other end"
#define TAG_RECV 1              /* user_data: which operation completed */
#define TAG_SLEEP_1 2
#define TAG_SLEEP_2 3

static struct timespec started;

/* say - one line on stdout, stamped with the seconds since start */
static void say(const char *fmt, ...)
{
    struct timespec now;
    va_list ap;

    clock_gettime(CLOCK_MONOTONIC, &now);
    printf("[%5.2f s] ", (double)(now.tv_sec - started.tv_sec)
                         + (double)(now.tv_nsec - started.tv_nsec) / 1e9);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

/* thread_count - how many threads this process has (/proc/self/task) */
static int thread_count(void)
{
    DIR *dir = opendir("/proc/self/task");
    struct dirent *entry;
    int count = 0;

    if (dir == NULL)
        return -1;
    while ((entry = readdir(dir)) != NULL)
        if (entry->d_name[0] != '.')
            count++;
    closedir(dir);
    return count;
}

/* ---- io_uring without liburing ---------------------------------------- */

/* The two rings live in memory shared with the kernel. We produce
 * submission entries and move the SQ tail; the kernel consumes them and
 * moves the SQ head. The kernel produces completion entries and moves the
 * CQ tail; we consume them and move the CQ head. Each side publishes its
 * index with a release store and reads the other's with an acquire load,
 * so that the entry is visible before the index that announces it. */
struct ring {
    int fd;
    unsigned *sq_tail, *sq_mask, *sq_array;
    unsigned *cq_head, *cq_tail, *cq_mask;
    struct io_uring_sqe *sqes;
    struct io_uring_cqe *cqes;
};

/* ring_setup - io_uring_setup, then map the rings and the entry array */
static int ring_setup(struct ring *ring, unsigned entries)
{
    struct io_uring_params params;
    size_t sq_len, cq_len;
    char *sq_ptr, *cq_ptr;

    memset(&params, 0, sizeof params);
    ring->fd = (int)syscall(__NR_io_uring_setup, entries, &params);
    if (ring->fd == -1)
        return -1;
    sq_len = params.sq_off.array + params.sq_entries * sizeof(unsigned);
    cq_len = params.cq_off.cqes + params.cq_entries * sizeof(struct io_uring_cqe);
    if (params.features & IORING_FEAT_SINGLE_MMAP)  /* one mapping for both */
        sq_len = cq_len = sq_len > cq_len ? sq_len : cq_len;
    sq_ptr = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                  ring->fd, IORING_OFF_SQ_RING);
    if (sq_ptr == MAP_FAILED)
        return -1;
    cq_ptr = sq_ptr;
    if (!(params.features & IORING_FEAT_SINGLE_MMAP)) {
        cq_ptr = mmap(NULL, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                      ring->fd, IORING_OFF_CQ_RING);
        if (cq_ptr == MAP_FAILED)
            return -1;
    }
    ring->sqes = mmap(NULL, params.sq_entries * sizeof(struct io_uring_sqe),
                      PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                      ring->fd, IORING_OFF_SQES);
    if (ring->sqes == MAP_FAILED)
        return -1;
    ring->sq_tail = (unsigned *)(sq_ptr + params.sq_off.tail);
    ring->sq_mask = (unsigned *)(sq_ptr + params.sq_off.ring_mask);
    ring->sq_array = (unsigned *)(sq_ptr + params.sq_off.array);
    ring->cq_head = (unsigned *)(cq_ptr + params.cq_off.head);
    ring->cq_tail = (unsigned *)(cq_ptr + params.cq_off.tail);
    ring->cq_mask = (unsigned *)(cq_ptr + params.cq_off.ring_mask);
    ring->cqes = (struct io_uring_cqe *)(cq_ptr + params.cq_off.cqes);
    return 0;
}

/* ring_queue - fill the next submission entry (the kernel sees it only
 * after io_uring_enter) */
static void ring_queue(struct ring *ring, const struct io_uring_sqe *sqe)
{
    unsigned tail = *ring->sq_tail;             /* only we write the SQ tail */
    unsigned index = tail & *ring->sq_mask;

    ring->sqes[index] = *sqe;
    ring->sq_array[index] = index;
    __atomic_store_n(ring->sq_tail, tail + 1, __ATOMIC_RELEASE);
}

/* ring_enter - submit `submit` entries and/or wait for `wait` completions */
static int ring_enter(struct ring *ring, unsigned submit, unsigned wait)
{
    int rc;

    do
        rc = (int)syscall(__NR_io_uring_enter, ring->fd, submit, wait,
                          wait > 0 ? IORING_ENTER_GETEVENTS : 0, NULL, 0);
    while (rc == -1 && errno == EINTR);
    return rc;
}

/* ring_reap - take one completion off the ring, if there is one */
static int ring_reap(struct ring *ring, struct io_uring_cqe *out)
{
    unsigned head = *ring->cq_head;             /* only we write the CQ head */

    if (head == __atomic_load_n(ring->cq_tail, __ATOMIC_ACQUIRE))
        return 0;
    *out = ring->cqes[head & *ring->cq_mask];
    __atomic_store_n(ring->cq_head, head + 1, __ATOMIC_RELEASE);
    return 1;
}

/* run_io_uring - submit a recv and two 1-second timeouts at once, send
 * the bytes ourselves, collect the three completions */
static int run_io_uring(int recv_fd, int peer_fd)
{
    static struct __kernel_timespec one_second = {1, 0};
    char buf[64] = "";
    struct io_uring_sqe sqe;
    struct io_uring_cqe cqe;
    struct ring ring;

    if (ring_setup(&ring, 8) == -1) {
        if (errno == ENOSYS || errno == EPERM)
            fatal("io_uring is not available here (%s); try --posix", strerror(errno));
        die("io_uring_setup");
    }

    memset(&sqe, 0, sizeof sqe);                /* receive into buf */
    sqe.opcode = IORING_OP_RECV;
    sqe.fd = recv_fd;
    sqe.addr = (uint64_t)(uintptr_t)buf;
    sqe.len = sizeof buf - 1;
    sqe.user_data = TAG_RECV;
    ring_queue(&ring, &sqe);
    for (int i = 0; i < 2; i++) {               /* asyncio.sleep(1), twice */
        memset(&sqe, 0, sizeof sqe);
        sqe.opcode = IORING_OP_TIMEOUT;
        sqe.addr = (uint64_t)(uintptr_t)&one_second;
        sqe.len = 1;
        sqe.user_data = i == 0 ? TAG_SLEEP_1 : TAG_SLEEP_2;
        ring_queue(&ring, &sqe);
    }
    if (ring_enter(&ring, 3, 0) != 3)
        die("io_uring_enter");
    say("submitted recv + 2 x sleep(1) with one io_uring_enter; it returned at once");
    say("threads in this process while they run: %d", thread_count());
    say("our buffer still holds \"%s\"; the other end now sends", buf);
    if (send(peer_fd, MESSAGE, strlen(MESSAGE), MSG_NOSIGNAL) == -1)
        die("send");

    for (int done = 0; done < 3;) {
        if (ring_enter(&ring, 0, 1) == -1)      /* sleep until a completion */
            die("io_uring_enter");
        while (ring_reap(&ring, &cqe)) {
            done++;
            if (cqe.user_data == TAG_RECV)
                say("completed: recv, %d bytes, already in our buffer: \"%s\"",
                    cqe.res, cqe.res >= 0 ? buf : strerror(-cqe.res));
            else
                say("completed: sleep(1) number %d (%s)", (int)cqe.user_data - 1,
                    cqe.res == -ETIME ? "timer expired" : strerror(-cqe.res));
        }
    }
    say("no recv() or sleep() call in this program: the kernel waited, and copied as task work");
    close(ring.fd);
    return 0;
}

/* ---- POSIX AIO ------------------------------------------------------- */

/* run_posix_aio - aio_read the socket, look at our threads, send, wait */
static int run_posix_aio(int recv_fd, int peer_fd)
{
    static char buf[64];                        /* must outlive the request */
    const struct aiocb *list[1];
    struct aiocb request;
    ssize_t n;

    memset(&request, 0, sizeof request);
    request.aio_fildes = recv_fd;
    request.aio_buf = buf;
    request.aio_nbytes = sizeof buf - 1;
    request.aio_sigevent.sigev_notify = SIGEV_NONE;
    if (aio_read(&request) == -1)
        die("aio_read");
    say("aio_read returned at once (status: %s)",
        aio_error(&request) == EINPROGRESS ? "in progress" : "finished");
    say("threads in this process while it runs: %d (glibc's helper, blocked in read)",
        thread_count());
    say("the other end now sends");
    if (send(peer_fd, MESSAGE, strlen(MESSAGE), MSG_NOSIGNAL) == -1)
        die("send");

    list[0] = &request;
    while (aio_error(&request) == EINPROGRESS)
        if (aio_suspend(list, 1, NULL) == -1 && errno != EINTR)
            die("aio_suspend");
    n = aio_return(&request);
    if (n == -1) {
        errno = aio_error(&request);
        die("aio_read");
    }
    say("completed: %zd bytes, in our buffer: \"%.*s\"", n, (int)n, buf);
    say("asynchronous to us, but a thread of ours did a blocking read to get it");
    return 0;
}

static int use_posix = 0;       /* --posix */

/* on_option - --posix */
static void on_option(int key, const char *arg)
{
    (void)arg;
    if (key == 'P')
        use_posix = 1;
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'P', "posix", NULL, "POSIX AIO (aio_read, aio_suspend): glibc's helper threads"},
        {0, NULL, NULL, NULL}};
    static const struct lab_command command = {
        "Asynchronous IO: io_uring (default, through its system calls) or POSIX AIO.",
        NULL, 0, options, on_option, NULL};
    int pair[2], status;

    lab_parse(argc, argv, &command);
    setvbuf(stdout, NULL, _IOLBF, 0);
    clock_gettime(CLOCK_MONOTONIC, &started);

    /* A connected pair of sockets: we read pair[0]; pair[1] stands for
     * the remote peer. Blocking sockets: nothing here relies on EAGAIN. */
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == -1)
        die("socketpair");
    say("%s: threads in this process: %d", use_posix ? "POSIX AIO" : "io_uring", thread_count());
    status = use_posix ? run_posix_aio(pair[0], pair[1]) : run_io_uring(pair[0], pair[1]);
    close(pair[0]);
    close(pair[1]);
    return status;
}
