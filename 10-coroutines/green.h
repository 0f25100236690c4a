/* green.h - green threads (coroutines) for one OS thread, gevent-style
 *
 * The lesson's scheduler, shared by the programs of this folder. A
 * coroutine is a function with a stack of its own. It runs until it stops
 * by itself: in green_yield(), green_sleep(), green_join(), or in a socket
 * call below that would block. Then its registers are saved
 * (swapcontext) and the next ready coroutine's loaded, or, when none is
 * ready, the hub's: the scheduler's loop, which waits in epoll_wait().
 * Nothing is pre-empted, so no lock is needed between two such calls, and
 * one truly blocking call (sleep(), a blocking recv()) stalls them all.
 *
 * The socket calls follow state-threads' rule, "EAGAIN parks the thread"
 * (gevent's monkey patching, by hand): the socket is non-blocking;
 * green_recv() tries recv(), on EAGAIN parks the coroutine on that
 * descriptor and lets the others run; the hub waits for every parked
 * descriptor at once and wakes the coroutine when the kernel reports it
 * ready; green_recv() tries again. To the caller it is one blocking recv().
 *
 *   green_init()                       once, before anything else
 *   green_spawn(fn, arg)               a new coroutine running fn(arg)
 *   green_join(g) / green_detach(g)    wait for it and free it / free it when done
 *   green_yield()  green_sleep(ms)     let the others run / for ms milliseconds
 *   green_attach(fd)  green_close(fd)  make fd non-blocking / close it safely
 *   green_recv() green_send_all() green_wait_fd() must_park()
 *   green_shutdown()                   from main, at the end: free everything
 *
 * Invariants (read these before changing anything):
 *   - One OS thread: one coroutine runs at a time, or the hub (on main's
 *     stack, in green_join()). sched.current is the running one, NULL in
 *     the hub.
 *   - Where each stack lives: each coroutine has one mmap() mapping,
 *         [guard page, PROT_NONE][stack, grows down ...][struct green]
 *     An overflow touches the guard page: SIGSEGV at once, not a write
 *     over another coroutine. Untouched pages cost no memory: an idle
 *     client costs one page, its record and the top of its stack.
 *   - A pointer into a suspended coroutine's stack stays valid while the
 *     frame it points into has not returned (nothing else runs on that
 *     stack). Once the coroutine is joined, or detached and ended, its
 *     mapping is unmapped or reused by the next spawn: the pointer dangles.
 *   - Hand-over: a coroutine that stops switches straight to the next one
 *     of the round (one swapcontext). A round is what was ready when the
 *     hub last polled; what becomes ready meanwhile (a yielder too) waits
 *     for the next poll, so yielders cannot keep the descriptors waiting.
 *     A coroutine that ends switches to the hub, which frees its stack.
 *   - A coroutine is in at most one list: the run queue (READY), the sleep
 *     list (SLEEPING), a joiner slot (JOINING). Parked on a descriptor
 *     (WAITING_IO) it is in none: only an event naming it, or
 *     green_close() of that descriptor, makes it READY.
 *   - No table of descriptors: on its first park on a descriptor a
 *     coroutine registers it with epoll (edge-triggered, both directions),
 *     its own address as data.ptr: an event names whom to wake. It keeps
 *     that one registration for the next park (no system call); parking
 *     elsewhere, or ending, removes it: epoll never names a freed coroutine.
 *   - Edge-triggered is safe because a coroutine parks only right after
 *     its call failed with EAGAIN: readiness after that is a new edge. An
 *     event for a coroutine not parked for it is dropped (it tries its call
 *     before it parks again); a spurious wake-up just fails again.
 *   - All events of one epoll_wait() are handled before any coroutine
 *     runs: no event names a coroutine ended, or a descriptor closed, since.
 *   - One coroutine waits on a descriptor at a time (another gets EBUSY).
 *     green_close() makes one parked on it, or woken for it and not yet
 *     run, fail with EBADF, not retry on the next socket with that number.
 *   - Each coroutine is joined once or detached once, as with pthreads.
 *   - swapcontext() restores the signal mask saved in each context: set
 *     the mask before green_init(), and never change it after.
 *
 * ucontext was specified in POSIX.1-2001, marked obsolescent in 2004 and
 * removed in POSIX.1-2008; glibc keeps it, and it is still the clearest
 * way to show a switch: saved registers, a stack, a function to start.
 * Its cost: swapcontext() sets the signal mask, one system call per
 * switch. Linux-specific: epoll, accept4, MAP_STACK (_GNU_SOURCE).
 */
#ifndef GREEN_H
#define GREEN_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "green_asan.h"          /* only for SANITIZE=address builds */

#ifndef GREEN_STACK_SIZE        /* virtual size; only touched pages use memory */
#define GREEN_STACK_SIZE (ASAN_STACK_FACTOR * 64 * 1024)
#endif

#define GREEN_MAX_EVENTS 256   /* events taken from epoll per wait */
#define GREEN_FAIR_CALLS 16    /* socket calls in a row before a forced yield */
#define GREEN_STACK_CACHE 64   /* finished coroutines' stacks kept for reuse */
#define MAPPING_SIZE (sched.page_size + GREEN_STACK_SIZE)   /* guard + stack */

enum green_state {
    GREEN_READY,        /* in the run queue */
    GREEN_RUNNING,      /* on the CPU: sched.current */
    GREEN_SLEEPING,     /* in the sleep list until wake_at_ms */
    GREEN_WAITING_IO,   /* parked on wait_fd until epoll reports it */
    GREEN_JOINING,      /* in another coroutine's joiner slot */
    GREEN_DONE          /* its function returned; mapping kept for join */
};

/* struct green - one coroutine; lives at the top of its own stack mapping */
struct green {
    ucontext_t context;         /* registers saved while it is not running */
    void (*fn)(void *);
    void *arg;
    enum green_state state;
    int detached, joined;       /* detached: freed when it ends; joined: green_join() */
    unsigned calls_in_a_row;    /* socket calls since it last parked */
    long long wake_at_ms;       /* GREEN_SLEEPING: when to wake */
    int armed_fd;               /* registered with epoll, data.ptr = us; -1 */
    int wait_fd;                /* parked on it, or woken for it; -1 if none */
    uint32_t wait_events;       /* which events of armed_fd wake us */
    struct green *next;         /* link in the run queue or sleep list */
    struct green *joiner;       /* who is parked in green_join() on us */
    struct green *all_prev, *all_next;  /* every coroutine not yet freed */
    void *map_base;             /* the mapping: guard, stack, record */
    void *stack_bottom;         /* lowest usable stack address */
    size_t stack_size;
    void *asan_fake_stack;      /* ASan's bookkeeping while suspended */
};

static struct {
    ucontext_t hub_context;     /* main's registers while a coroutine runs */
    struct green *current;      /* the running coroutine; NULL in the hub */
    struct green *ready_head, *ready_tail;
    unsigned ready_count, round_left;   /* in the run queue; of them, still this round */
    struct green *ended;        /* just ended: for the hub to finish off */
    struct green *sleepers;     /* sorted by wake_at_ms, earliest first */
    struct green *all;          /* every coroutine not yet freed */
    int epoll_fd;
    size_t page_size;
    char *stack_cache[GREEN_STACK_CACHE];   /* mappings ready for reuse */
    unsigned cached;
    struct green *previous;     /* who switched to the running one */
} sched = {.epoll_fd = -1};

/* green_now_ms - monotonic clock in milliseconds */
static inline long long green_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* green_init - create the epoll instance; 0, or -1 with errno set */
static inline int green_init(void)
{
    sched.page_size = (size_t)sysconf(_SC_PAGESIZE);
    sched.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    return sched.epoll_fd == -1 ? -1 : 0;
}

/* --- switching ------------------------------------------------------------ */

/* green_switch - save the running context (sched.current, or the hub when
 * NULL) and resume `to` (a coroutine, or NULL for the hub): every switch
 * of the scheduler is this one swapcontext(). `ending`: the running stack
 * will never be resumed. Returns when someone switches back. */
static inline void green_switch(struct green *to, int ending)
{
    struct green *from = sched.current;
    ucontext_t *save = from != NULL ? &from->context : &sched.hub_context;
    ucontext_t *load = to != NULL ? &to->context : &sched.hub_context;
    void **fake_stack = from != NULL ? &from->asan_fake_stack : &asan_hub.fake_stack;

    asan_switch_start(ending ? NULL : fake_stack, to != NULL ? to->stack_bottom : NULL,
                      to != NULL ? to->stack_size : 0);
    sched.previous = from;
    sched.current = to;
    if (to != NULL)
        to->state = GREEN_RUNNING;
    if (swapcontext(save, load) == -1)
        abort();                /* only fails on a bad context: a bug */
    /* Resumed: whoever switched here has set sched.current to `from`. */
    asan_switch_finish(*fake_stack, from != NULL && sched.previous == NULL);
}

/* green_trampoline - first code run on a new stack: call fn(arg), then
 * hand over to the hub for good (the hub frees or keeps the mapping) */
static inline void green_trampoline(void)
{
    struct green *self = sched.current;

    asan_switch_finish(NULL, sched.previous == NULL);
    self->fn(self->arg);
    if (self->armed_fd != -1)   /* the kernel must forget our address */
        epoll_ctl(sched.epoll_fd, EPOLL_CTL_DEL, self->armed_fd, NULL);
    self->armed_fd = -1;
    self->state = GREEN_DONE;
    sched.ended = self;
    green_switch(NULL, 1);
    abort();                    /* never resumed */
}

/* --- the run queue ---------------------------------------------------------- */

/* make_ready - append g to the run queue */
static inline void make_ready(struct green *g)
{
    g->state = GREEN_READY;
    g->next = NULL;
    if (sched.ready_tail != NULL)
        sched.ready_tail->next = g;
    else
        sched.ready_head = g;
    sched.ready_tail = g;
    sched.ready_count++;
}

/* next_in_round - take the next coroutine of this round off the run
 * queue (the round's members are at its head); NULL when it is over */
static inline struct green *next_in_round(void)
{
    struct green *g = sched.ready_head;

    if (sched.round_left == 0)
        return NULL;
    sched.round_left--;
    sched.ready_head = g->next;
    if (sched.ready_head == NULL)
        sched.ready_tail = NULL;
    sched.ready_count--;
    return g;
}

/* park - stop the running coroutine (the caller has put it where it waits)
 * until someone make_ready()s it; the CPU goes straight to the next of the
 * round, or to the hub (a yielder queues behind the round: never itself) */
static inline void park(void)
{
    sched.current->calls_in_a_row = 0;
    green_switch(next_in_round(), 0);
}

/* --- stacks ------------------------------------------------------------------ */

/* new_mapping - a guard page and a stack: from the cache if possible, else
 * from mmap(); NULL with errno set (ENOMEM also past vm.max_map_count) */
static inline char *new_mapping(void)
{
    char *base;

    if (sched.cached > 0)
        return sched.stack_cache[--sched.cached];
    base = mmap(NULL, MAPPING_SIZE, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (base == MAP_FAILED)
        return NULL;
    if (mprotect(base, sched.page_size, PROT_NONE) == -1) {    /* the guard */
        int saved_errno = errno;
        munmap(base, MAPPING_SIZE);
        errno = saved_errno;
        return NULL;
    }
    asan_stack_mapped(base + sched.page_size, GREEN_STACK_SIZE);
    return base;
}

/* unmap_stack - give a mapping back to the kernel */
static inline void unmap_stack(char *base)
{
    asan_stack_unmapped(base + sched.page_size, GREEN_STACK_SIZE);
    munmap(base, MAPPING_SIZE);
}

/* free_mapping - a finished coroutine's mapping goes to the cache (the next
 * spawn costs no mmap, mprotect or page fault), or if full to the kernel */
static inline void free_mapping(char *base)
{
    if (sched.cached < GREEN_STACK_CACHE) {
        asan_stack_reused(base + sched.page_size, GREEN_STACK_SIZE);
        sched.stack_cache[sched.cached++] = base;
    } else {
        unmap_stack(base);
    }
}

/* free_green - free a finished coroutine (its record is in the mapping) */
static inline void free_green(struct green *g)
{
    if (g->all_prev != NULL)
        g->all_prev->all_next = g->all_next;
    else
        sched.all = g->all_next;
    if (g->all_next != NULL)
        g->all_next->all_prev = g->all_prev;
    free_mapping(g->map_base);
}

/* --- spawn, join, the hub ------------------------------------------------------ */

/* prepare_context - the first switch to g runs green_trampoline() on g's
 * stack: getcontext() fills in the registers and the signal mask,
 * makecontext() points them at the function and the stack. No argument
 * (makecontext passes only ints): the trampoline reads sched.current. */
static inline int prepare_context(struct green *g)
{
    if (getcontext(&g->context) == -1)
        return -1;
    g->context.uc_stack.ss_sp = g->stack_bottom;
    g->context.uc_stack.ss_size = g->stack_size;
    g->context.uc_link = NULL;                  /* the trampoline never returns */
    makecontext(&g->context, green_trampoline, 0);
    return 0;
}

/* green_spawn - a new coroutine that will run fn(arg); it starts when the
 * spawner next parks or yields. NULL with errno set if no memory. */
static inline struct green *green_spawn(void (*fn)(void *), void *arg)
{
    size_t record = (sizeof(struct green) + 63) & ~(size_t)63;
    char *base = new_mapping();
    struct green *g;

    if (base == NULL)
        return NULL;
    g = (struct green *)(base + MAPPING_SIZE - record);
    memset(g, 0, sizeof *g);
    g->fn = fn;
    g->arg = arg;
    g->map_base = base;
    g->stack_bottom = base + sched.page_size;
    g->stack_size = (size_t)((char *)g - (char *)g->stack_bottom);
    g->armed_fd = g->wait_fd = -1;
    if (prepare_context(g) == -1) {
        int saved_errno = errno;
        free_mapping(base);
        errno = saved_errno;
        return NULL;
    }
    g->all_next = sched.all;                    /* for green_shutdown() */
    if (sched.all != NULL)
        sched.all->all_prev = g;
    sched.all = g;
    make_ready(g);
    return g;
}

/* wake_sleepers - make every sleeper whose time has come runnable */
static inline void wake_sleepers(void)
{
    long long now = green_now_ms();

    while (sched.sleepers != NULL && sched.sleepers->wake_at_ms <= now) {
        struct green *g = sched.sleepers;

        sched.sleepers = g->next;
        make_ready(g);
    }
}

/* poll_timeout_ms - how long the hub may sleep in epoll_wait */
static inline int poll_timeout_ms(void)
{
    long long wait;

    if (sched.ready_head != NULL)
        return 0;
    if (sched.sleepers == NULL)
        return -1;
    wait = sched.sleepers->wake_at_ms - green_now_ms();
    return wait < 0 ? 0 : wait > 60000 ? 60000 : (int)wait;
}

/* hub_poll - wait for descriptors or the next sleeper, wake their
 * coroutines, and make everyone now in the run queue the next round */
static inline void hub_poll(void)
{
    struct epoll_event events[GREEN_MAX_EVENTS];
    int ready_count = epoll_wait(sched.epoll_fd, events, GREEN_MAX_EVENTS, poll_timeout_ms());

    if (ready_count == -1 && errno != EINTR) {
        perror("green: epoll_wait");
        abort();
    }
    for (int i = 0; i < ready_count; i++) {
        struct green *g = events[i].data.ptr;   /* who registered the fd */

        if (g->state == GREEN_WAITING_IO && (events[i].events & g->wait_events))
            make_ready(g);
    }
    wake_sleepers();
    sched.round_left = sched.ready_count;       /* a new round */
}

/* hub_run_until - the scheduler loop, on main's stack, until g is DONE:
 * poll when a round is over, then switch to the round's first coroutine.
 * The CPU comes back here when the round is over or a coroutine ended. */
static inline void hub_run_until(struct green *g)
{
    while (g->state != GREEN_DONE) {
        struct green *next, *ended;

        if (sched.round_left == 0)
            hub_poll();
        next = next_in_round();
        if (next == NULL)
            continue;           /* nothing woke (a timeout, EINTR) */
        green_switch(next, 0);
        ended = sched.ended;
        sched.ended = NULL;
        if (ended != NULL && ended->joiner != NULL)
            make_ready(ended->joiner);
        if (ended != NULL && ended->detached)
            free_green(ended);
    }
}

/* green_join - wait until g has ended, then free it. From main this runs
 * the scheduler; from a coroutine it parks. 0, or -1 with errno EINVAL (g
 * is detached or already being joined) or EDEADLK (g is the caller). */
static inline int green_join(struct green *g)
{
    struct green *self = sched.current;

    if (g == self) {
        errno = EDEADLK;
        return -1;
    }
    if (g->detached || g->joined) {
        errno = EINVAL;         /* its record is, or will be, freed by another */
        return -1;
    }
    g->joined = 1;
    if (self == NULL) {
        hub_run_until(g);
    } else if (g->state != GREEN_DONE) {
        g->joiner = self;
        self->state = GREEN_JOINING;
        park();
    }
    free_green(g);
    return 0;
}

/* green_detach - nobody will join g: free it as soon as it ends. 0, or
 * -1 with errno EINVAL if g is already detached or being joined. */
static inline int green_detach(struct green *g)
{
    if (g->detached || g->joined) {
        errno = EINVAL;
        return -1;
    }
    g->detached = 1;
    if (g->state == GREEN_DONE)
        free_green(g);
    return 0;
}

/* green_shutdown - from main, at the end: unmap every stack, also those of
 * coroutines still parked (abandoned, never resumed: heap memory only they
 * pointed to leaks), then the cache and the epoll instance. It keeps exit()
 * fast under LeakSanitizer, which would read every stack (256 KiB each). */
static inline void green_shutdown(void)
{
    if (sched.current != NULL)
        return;                 /* only main may pull the stacks away */
    while (sched.all != NULL) {
        struct green *g = sched.all;

        sched.all = g->all_next;
        unmap_stack(g->map_base);
    }
    while (sched.cached > 0)
        unmap_stack(sched.stack_cache[--sched.cached]);
    close(sched.epoll_fd);
    sched.epoll_fd = -1;
}

/* green_yield - let every other ready coroutine run, then go on */
static inline void green_yield(void)
{
    if (sched.current == NULL)
        return;                 /* main is not a coroutine */
    make_ready(sched.current);
    park();
}

/* green_sleep - park the caller for ms milliseconds; others run meanwhile */
static inline void green_sleep(long ms)
{
    struct green *self = sched.current, **link;

    if (self == NULL) {         /* from main: an ordinary sleep */
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
            ;
        return;
    }
    self->wake_at_ms = green_now_ms() + ms;
    link = &sched.sleepers;     /* keep the list sorted: earliest first */
    while (*link != NULL && (*link)->wake_at_ms <= self->wake_at_ms)
        link = &(*link)->next;
    self->next = *link;
    *link = self;
    self->state = GREEN_SLEEPING;
    park();
}

/* --- descriptors ------------------------------------------------------------- */

/* fd_owner - the coroutine whose address epoll holds for fd, or NULL. A
 * walk over every coroutine: only when a descriptor changes hands, never
 * on the path of an ordinary park. */
static inline struct green *fd_owner(int fd)
{
    for (struct green *g = sched.all; g != NULL; g = g->all_next)
        if (g->armed_fd == fd)
            return g;
    return NULL;
}

/* arm - make epoll's registration of fd name self. 0; 1 if fd is a
 * regular file (epoll refuses it with EPERM; it never blocks); -1 with
 * errno EBUSY (another coroutine is parked on fd) or epoll_ctl's */
static inline int arm(struct green *self, int fd)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                             .data.ptr = self};
    struct green *owner;

    if (self->armed_fd == fd)
        return 0;               /* the usual case: no system call */
    if (self->armed_fd != -1) { /* one registration per coroutine */
        epoll_ctl(sched.epoll_fd, EPOLL_CTL_DEL, self->armed_fd, NULL);
        self->armed_fd = -1;
    }
    if (epoll_ctl(sched.epoll_fd, EPOLL_CTL_ADD, fd, &ev) == 0) {
        self->armed_fd = fd;
        return 0;
    }
    if (errno == EPERM)
        return 1;
    if (errno != EEXIST)
        return -1;
    /* Registered by the last coroutine that parked on it: take it over,
     * unless that one is parked on it now (or woken and about to run). */
    owner = fd_owner(fd);
    if (owner != NULL && owner->wait_fd == fd) {
        errno = EBUSY;          /* two coroutines waiting on one fd: a bug */
        return -1;
    }
    if (epoll_ctl(sched.epoll_fd, EPOLL_CTL_MOD, fd, &ev) == -1)
        return -1;
    if (owner != NULL)
        owner->armed_fd = -1;
    self->armed_fd = fd;
    return 0;
}

/* green_attach - make fd non-blocking, for the green_* calls */
static inline int green_attach(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    return flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1 ? -1 : 0;
}

/* green_close - close fd, which also drops it from epoll (the lab never
 * dup()s a descriptor it waits on); its waiter fails with EBADF (above) */
static inline int green_close(int fd)
{
    struct green *g = sched.current;

    if (g == NULL || g->armed_fd != fd) {
        /* Someone else's registration? EPOLL_CTL_DEL says whether there is
         * one (ENOENT: nobody ever parked on it); only then walk. */
        g = NULL;
        if (epoll_ctl(sched.epoll_fd, EPOLL_CTL_DEL, fd, NULL) == 0)
            g = fd_owner(fd);
    }
    if (g != NULL) {
        g->armed_fd = -1;
        if (g->wait_fd == fd) {
            g->wait_fd = -1;    /* tells green_wait_fd: closed */
            if (g->state == GREEN_WAITING_IO)
                make_ready(g);
        }
    }
    return close(fd);
}

/* green_wait_fd - park the caller until fd is ready for EPOLLIN or EPOLLOUT */
static inline int green_wait_fd(int fd, uint32_t events)
{
    /* LAB-BEGIN green-wait-fd: park the calling coroutine until fd is ready
     * for events. From main (no current coroutine) an ordinary poll() will do.
     * Else arm() fd in epoll for self (1: a regular file, always ready: return
     * 0; -1: error); note wait_fd and wait_events (EPOLLIN with RDHUP, HUP and
     * ERR, or EPOLLOUT with HUP and ERR), state GREEN_WAITING_IO, park().
     * Woken: if wait_fd changed, green_close() took fd meanwhile: EBADF, -1;
     * else clear wait_fd, 0. See NOTES.md section 2: EAGAIN parks the
     * coroutine, epoll wakes it.
     * Stub: (void)fd; (void)events; (void)arm; errno = ENOSYS; return -1;
     * Tests: lab client: lines come back
     */
    struct green *self = sched.current;
    int armed;

    if (self == NULL) {
        struct pollfd pfd = {fd, events & EPOLLIN ? POLLIN : POLLOUT, 0};
        return poll(&pfd, 1, -1) == -1 ? -1 : 0;
    }
    armed = arm(self, fd);
    if (armed != 0)
        return armed == 1 ? 0 : -1;     /* a regular file is always ready */
    self->wait_fd = fd;
    self->wait_events = (events & EPOLLIN) ? EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR
                                           : EPOLLOUT | EPOLLHUP | EPOLLERR;
    self->state = GREEN_WAITING_IO;
    park();
    if (self->wait_fd != fd) {          /* green_close() meanwhile */
        errno = EBADF;
        return -1;
    }
    self->wait_fd = -1;
    return 0;
    /* LAB-END green-wait-fd */
}

/* fair_share - after each call that did not block: a coroutine whose peer
 * always has data would never give the CPU away, so it yields now and then */
static inline void fair_share(void)
{
    struct green *self = sched.current;

    if (self != NULL && ++self->calls_in_a_row >= GREEN_FAIR_CALLS)
        green_yield();
}

/* must_park - after a call failed: EINTR, try again (0); EAGAIN, park
 * until fd is ready for `events`, then try again (0, or -1 if it was
 * closed meanwhile); any other error, -1 */
static inline int must_park(int fd, uint32_t events)
{
    if (errno == EINTR)
        return 0;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
        return -1;
    return green_wait_fd(fd, events);
}

/* green_recv - recv() that parks instead of blocking */
static inline ssize_t green_recv(int fd, void *buf, size_t len, int flags)
{
    /* LAB-BEGIN green-recv: recv() that parks instead of blocking: try recv();
     * data or end of file: fair_share(), return it; failed: must_park(fd,
     * EPOLLIN) (EINTR or EAGAIN: wait and try again; -1: return -1). See
     * NOTES.md section 2, monkey patching.
     * Stub: (void)fd; (void)buf; (void)len; (void)flags; errno = ENOSYS; return -1;
     * Tests: lab client: lines come back
     */
    for (;;) {
        ssize_t n = recv(fd, buf, len, flags);

        if (n >= 0) {
            fair_share();
            return n;
        }
        if (must_park(fd, EPOLLIN) == -1)
            return -1;
    }
    /* LAB-END green-recv */
}

/* green_send_all - send() that parks instead of blocking, until every byte
 * is sent; 0, or -1 with errno set. While the peer's window is full, the
 * caller is parked, holding nothing but its own buffer. */
static inline int green_send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n >= 0) {
            p += n;
            len -= (size_t)n;
            fair_share();
        } else if (must_park(fd, EPOLLOUT) == -1) {
            return -1;
        }
    }
    return 0;
}

#endif /* GREEN_H */
