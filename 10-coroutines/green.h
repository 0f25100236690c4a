/* green.h - green threads (coroutines) for one OS thread, gevent-style
 *
 * The lesson's own small scheduler, shared by every program of the folder.
 * A coroutine is a function with a stack of its own. It runs until it
 * decides to stop: when it calls green_yield(), green_sleep(), green_join()
 * or one of the socket calls below at a moment when the call would block.
 * Then its registers are saved and the next ready coroutine's are loaded
 * (swapcontext), or, when none is ready, those of the scheduler's own
 * loop, the "hub", which waits for the kernel. Nothing is ever pre-empted: between two such calls a
 * coroutine has the CPU to itself, which is why no lock is needed and why a
 * coroutine that calls a truly blocking function (sleep(), a blocking
 * recv(), getaddrinfo() on a slow DNS server) stalls every coroutine.
 *
 * The socket calls look blocking but are not (gevent's monkey patching,
 * done by hand, and state-threads' "EAGAIN parks the thread"): every
 * socket is non-blocking; green_recv() tries recv(), and on EAGAIN it
 * parks the coroutine on that descriptor and lets the others run; the hub
 * waits in epoll_wait() for all parked descriptors at once and makes the
 * coroutine runnable again when the kernel reports its descriptor ready;
 * green_recv() then tries again. To the caller it looks like one blocking
 * recv().
 *
 *   green_init()                     once, before anything else
 *   green_spawn(fn, arg)             a new coroutine running fn(arg)
 *   green_join(g) / green_detach(g)  wait for it and free it / free it when done
 *   green_shutdown()                 from main, at the end: free everything
 *   green_yield()  green_sleep(ms)
 *   green_attach(fd)  green_close(fd)
 *   green_accept() green_connect() green_recv() green_send() green_read()
 *   green_wait_readable(fd)
 *
 * Invariants (read these before changing anything):
 *   - One OS thread. Exactly one coroutine runs at a time, or the hub.
 *     sched.current names the running coroutine, NULL while the hub runs.
 *   - The hub runs on the caller's own stack (main's), inside green_join().
 *     A coroutine that stops hands the CPU straight to the next one in the
 *     run queue: one switch (one swapcontext) per hand-over. Only when the
 *     queue is empty, or the current round is over, does it switch to the
 *     hub, which calls epoll_wait(), puts every coroutine the kernel or the
 *     clock wakes in the run queue, and switches to the first of them.
 *   - Rounds: the coroutines that are ready when the hub hands over form
 *     a round (sched.round_left counts what is left of it). Those made
 *     ready meanwhile, a yielding one included, wait for the next round,
 *     after the hub has polled: coroutines that keep yielding to each
 *     other cannot keep the hub, and so every descriptor, waiting.
 *   - A coroutine that ends switches to the hub, never to another
 *     coroutine: its stack cannot be freed while it still runs on it, so
 *     the hub frees it (detached) or wakes its joiner.
 *   - Where each stack lives: every coroutine has one private mapping from
 *     mmap(), laid out from low to high addresses as
 *         [guard page, PROT_NONE][stack, grows down ...][struct green]
 *     The record sits at the very top, so an idle coroutine's record and
 *     the top of its stack share one page. A stack that grows past its
 *     bottom touches the guard page and the process dies of SIGSEGV at
 *     once, instead of silently writing over another coroutine's memory.
 *     Pages are only backed by memory once touched: a 64 KiB stack of
 *     which 3 KiB are used costs one resident page.
 *   - A pointer into a suspended coroutine's stack is valid while the
 *     frame it points into has not returned, and the mapping lives until
 *     the coroutine is joined (or, detached, until it ends). The bytes it
 *     points to do not change while that coroutine is suspended, because
 *     nothing else runs on that stack; so passing &local to another
 *     coroutine is fine for exactly as long as the owner stays inside that
 *     frame. After green_join() returns the mapping is unmapped, or kept
 *     in a small cache and given to the next coroutine spawned: either way
 *     a pointer into it is dangling.
 *   - A coroutine is in at most one of: the run queue (READY), the sleep
 *     list (SLEEPING), another coroutine's joiner slot (JOINING). Parked on
 *     a descriptor (WAITING_IO) it is in no list: only an event naming it,
 *     or green_close() of that descriptor, makes it READY. RUNNING and
 *     DONE are in no list either.
 *   - No table of descriptors. The first time a coroutine parks on a
 *     descriptor, it registers it with epoll (edge-triggered, both
 *     directions) with its own address as the event's data.ptr: an event
 *     names the coroutine to wake. Its record keeps that descriptor
 *     (armed_fd) so that the next park on it costs no system call. A
 *     coroutine has at most one descriptor registered: parking on another
 *     one first removes the old one (EPOLL_CTL_DEL), and so does ending,
 *     so the kernel never holds the address of a freed coroutine.
 *   - Edge-triggered is safe because a coroutine parks only right after
 *     its call returned EAGAIN (or, in green_recv(), a short read, which
 *     on a stream socket says the same, unless urgent data stopped it
 *     short: see there): any readiness after that
 *     produces a new edge (and EPOLL_CTL_ADD reports readiness present at
 *     that moment).
 *     An event for a coroutine that is not parked, or that waits for the
 *     other direction, is dropped: it will try its call before it parks
 *     again. A wake-up may still be spurious (the edge came from data
 *     already read): the woken call just tries again and parks again.
 *   - Every event of one epoll_wait() is handled (its coroutine put in
 *     the run queue) before any coroutine runs, so no event can name a
 *     coroutine that has ended, or a descriptor closed, since the kernel
 *     reported it.
 *   - One coroutine waits on a descriptor at a time: a second one gets
 *     EBUSY. Passing a descriptor on is fine: the next coroutine to park
 *     on it takes the registration over (EPOLL_CTL_MOD). Closing goes
 *     through green_close(), which wakes a coroutine still parked on the
 *     descriptor, or woken but not yet run: its call fails with EBADF,
 *     instead of retrying on whatever new socket took the same number.
 *   - Each coroutine is joined once or detached once, as with pthreads.
 *     green_join() refuses a detached coroutine that is still running,
 *     one that already has a joiner, and the caller itself. A coroutine
 *     already joined, or detached and ended, has been freed (its record
 *     is gone or given to the next spawn): joining it is a bug nothing
 *     can catch.
 *   - Signals: swapcontext() saves and restores the signal mask. Block the
 *     signals you take through signalfd before green_init(), so that every
 *     context carries the same mask.
 *
 * ucontext (getcontext/makecontext/swapcontext) was specified in
 * POSIX.1-2001, marked obsolescent by its 2004 edition (Technical
 * Corrigendum 2) and removed in POSIX.1-2008, but glibc keeps it and it is
 * still the clearest way to show a switch: a struct of saved registers, a
 * stack, a function to start. Its cost is one system call per switch, because
 * swapcontext() also saves and restores the signal mask (rt_sigprocmask);
 * hand-written switches (boost.context, Go) skip that, and so does the
 * optional one below.
 *
 * AddressSanitizer: ASan must be told when the stack changes under it, or
 * it mistakes the coroutine stacks for overflows. Every switch (all go
 * through green_switch()) is wrapped in __sanitizer_start_switch_fiber /
 * __sanitizer_finish_switch_fiber when ASan is on, and nothing when it is
 * off. Its leak checker scans thread
 * stacks and globals, not our mmap()ed stacks, so each mapping is also
 * registered as a "root region": memory a suspended coroutine still points
 * to at exit is then not reported as leaked.
 *
 * Every function here is `static inline` only because each program of the
 * folder uses part of the header: inline keeps the unused ones from
 * drawing warnings. The compiler decides what to really inline.
 *
 * Linux-specific: epoll, accept4, MAP_STACK. Needs _GNU_SOURCE (defined by
 * each program before its first #include) for ucontext and those.
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

/* --- AddressSanitizer fiber annotations (no-ops without ASan) ----------- */
#if defined(__SANITIZE_ADDRESS__)
#define GREEN_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GREEN_ASAN 1
#endif
#endif

#ifdef GREEN_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#include <sanitizer/lsan_interface.h>
#endif

/* Virtual size of each coroutine's stack. Only the pages it touches use
 * memory. ASan's frames are several times larger, hence more room. */
#ifndef GREEN_STACK_SIZE
#ifdef GREEN_ASAN
#define GREEN_STACK_SIZE (256 * 1024)
#else
#define GREEN_STACK_SIZE (64 * 1024)
#endif
#endif

#define GREEN_MAX_EVENTS 256   /* events taken from epoll per wait */
#define GREEN_FAIR_CALLS 16    /* socket calls in a row before a forced yield */
#define GREEN_STACK_CACHE 64   /* finished coroutines' stacks kept for reuse */

/* --- the switch itself ----------------------------------------------------
 *
 * Two operations, two implementations. The default is ucontext. With
 * -DGREEN_HAND_SWITCH on x86-64 a dozen lines of assembly do the same job
 * without the signal-mask system call (bench.sh builds the server both
 * ways to show what that call costs).
 *   context_prepare(ctx, stack, size, entry)  the first switch to ctx runs
 *                                             entry() on that stack
 *   context_switch(save, load)                save the running registers in
 *                                             save, resume those in load
 */
#if defined(GREEN_HAND_SWITCH) && defined(__x86_64__)

/* A suspended context is just its stack pointer: the switch pushes the
 * registers the x86-64 System V ABI says a function must preserve (rbx,
 * rbp, r12-r15; the return address is already there), saves rsp, loads
 * the other rsp and pops the other side's registers. Everything else is
 * caller-saved, so the compiler has already saved it around the call.
 * (The ABI also preserves the x87 control word and MXCSR; nothing in
 * the lab changes them, so they are left alone.) */
typedef struct {
    void *sp;
} green_context;

void green_swap_stacks(void **save_sp, void *load_sp);
__asm__(".pushsection .text\n"        /* whatever section the compiler is in */
        "green_swap_stacks:\n"         /* rdi = save_sp, rsi = load_sp */
        "    pushq %rbp\n"
        "    pushq %rbx\n"
        "    pushq %r12\n"
        "    pushq %r13\n"
        "    pushq %r14\n"
        "    pushq %r15\n"
        "    movq  %rsp, (%rdi)\n"
        "    movq  %rsi, %rsp\n"
        "    popq  %r15\n"
        "    popq  %r14\n"
        "    popq  %r13\n"
        "    popq  %r12\n"
        "    popq  %rbx\n"
        "    popq  %rbp\n"
        "    ret\n"
        ".popsection\n");

static inline void context_switch(green_context *save, green_context *load)
{
    green_swap_stacks(&save->sp, load->sp);
}

/* context_prepare - lay out a new stack as if green_swap_stacks had
 * been called from entry(): six zero registers, then entry's address
 * for the `ret`, then a fake return address for entry (which never
 * returns), keeping the 16-byte alignment the ABI expects at a call */
static inline int context_prepare(green_context *ctx, void *stack, size_t size,
                                  void (*entry)(void))
{
    uintptr_t top = ((uintptr_t)stack + size) & ~(uintptr_t)15;
    void **frame = (void **)(top - 64);

    memset(frame, 0, 64);
    memcpy(&frame[6], &entry, sizeof entry);    /* the `ret` lands here */
    ctx->sp = frame;
    return 0;
}

#else /* ucontext: obsolescent, but the clearest */

typedef ucontext_t green_context;

static inline void context_switch(green_context *save, green_context *load)
{
    if (swapcontext(save, load) == -1)
        abort();                /* only fails on a bad context: a bug */
}

/* context_prepare - getcontext fills in the signal mask and the
 * registers, makecontext points the context at entry on the new stack */
static inline int context_prepare(green_context *ctx, void *stack, size_t size,
                                  void (*entry)(void))
{
    if (getcontext(ctx) == -1)
        return -1;
    ctx->uc_stack.ss_sp = stack;
    ctx->uc_stack.ss_size = size;
    ctx->uc_link = NULL;                /* entry never returns */
    makecontext(ctx, entry, 0);
    return 0;
}

#endif

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
    green_context context;      /* registers saved while it is not running */
    void (*fn)(void *);
    void *arg;
    enum green_state state;
    int detached;               /* free the mapping as soon as it ends */
    unsigned id;                /* 1, 2, 3... for messages */
    int joined;                 /* green_join() was called on it */
    unsigned calls_in_a_row;    /* socket calls since it last parked */
    long long wake_at_ms;       /* GREEN_SLEEPING: when to wake */
    int armed_fd;               /* registered with epoll, data.ptr = us; -1 */
    int wait_fd;                /* parked on it, or woken for it; -1 if none */
    uint32_t wait_events;       /* which events of armed_fd wake us */
    int may_read;               /* armed_fd: epoll said readable since the
                                   last short read (see green_recv) */
    int no_shortcut;            /* armed_fd: epoll said the peer is gone,
                                   or sent urgent data (see green_recv) */
    struct green *next;         /* link in the run queue or sleep list */
    struct green *joiner;       /* who is parked in green_join() on us */
    struct green *all_prev, *all_next;  /* every coroutine not yet freed */
    void *map_base;             /* the whole mapping: guard, stack, record */
    size_t map_size;
    void *stack_bottom;         /* lowest usable stack address */
    size_t stack_size;
    void *asan_fake_stack;      /* ASan's bookkeeping while suspended */
};

static struct {
    green_context hub_context;  /* main's registers while a coroutine runs */
    struct green *current;      /* the running coroutine; NULL in the hub */
    struct green *ready_head, *ready_tail;
    unsigned ready_count;       /* coroutines in the run queue */
    unsigned round_left;        /* of them, still to run in this round */
    struct green *ended;        /* just ended: for the hub to finish off */
    struct green *sleepers;     /* sorted by wake_at_ms, earliest first */
    struct green *all;          /* every coroutine not yet freed */
    unsigned io_waiters;        /* coroutines parked on descriptors */
    unsigned live;              /* spawned and not yet DONE */
    unsigned next_id;
    int epoll_fd;
    size_t page_size;
    char *stack_cache[GREEN_STACK_CACHE];   /* mappings ready for reuse */
    unsigned cached;
    struct green *previous;     /* for ASan: who switched to the running one */
    const void *hub_stack_bottom;   /* for ASan: main's stack */
    size_t hub_stack_size;
    void *hub_fake_stack;
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

/* green_self - the running coroutine, NULL when called from main */
static inline struct green *green_self(void)
{
    return sched.current;
}

/* --- switching ----------------------------------------------------------- */

/* green_switch - save the running context (sched.current, or the hub
 * when that is NULL) and resume `to` (a coroutine, or NULL for the hub).
 * Every switch of the scheduler is this one call: one context_switch().
 * `ending` says the running stack will never be resumed (ASan may then
 * drop what it keeps for it). Returns when someone switches back. */
static inline void green_switch(struct green *to, int ending)
{
    struct green *from = sched.current;
    green_context *save = from != NULL ? &from->context : &sched.hub_context;
    green_context *load = to != NULL ? &to->context : &sched.hub_context;
#ifdef GREEN_ASAN
    void **fake_stack = from != NULL ? &from->asan_fake_stack : &sched.hub_fake_stack;
    const void *old_bottom;
    size_t old_size;

    __sanitizer_start_switch_fiber(ending ? NULL : fake_stack,
                                   to != NULL ? to->stack_bottom : sched.hub_stack_bottom,
                                   to != NULL ? to->stack_size : sched.hub_stack_size);
#else
    (void)ending;
#endif
    sched.previous = from;
    sched.current = to;
    if (to != NULL)
        to->state = GREEN_RUNNING;
    context_switch(save, load);
    /* Resumed: whoever switched here has set sched.current to `from`. */
#ifdef GREEN_ASAN
    __sanitizer_finish_switch_fiber(*fake_stack, &old_bottom, &old_size);
    if (from != NULL && sched.previous == NULL) {
        sched.hub_stack_bottom = old_bottom;    /* main's stack, as ASan knows it */
        sched.hub_stack_size = old_size;
    }
#endif
}

/* green_trampoline - first code run on a new stack: call fn(arg), then
 * hand over to the hub for good (the hub frees or keeps the mapping) */
static inline void green_trampoline(void)
{
    struct green *self = sched.current;

#ifdef GREEN_ASAN
    {
        const void *old_bottom;
        size_t old_size;

        __sanitizer_finish_switch_fiber(NULL, &old_bottom, &old_size);
        if (sched.previous == NULL) {           /* started by the hub */
            sched.hub_stack_bottom = old_bottom;
            sched.hub_stack_size = old_size;
        }
    }
#endif
    self->fn(self->arg);
    if (self->armed_fd != -1)   /* the kernel must forget our address */
        epoll_ctl(sched.epoll_fd, EPOLL_CTL_DEL, self->armed_fd, NULL);
    self->armed_fd = -1;
    self->state = GREEN_DONE;
    sched.ended = self;
    green_switch(NULL, 1);
    abort();                    /* never resumed */
}

/* --- queues ---------------------------------------------------------------- */

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
 * queue; NULL when the round is over (time for the hub to poll) */
static inline struct green *next_in_round(void)
{
    struct green *g = sched.ready_head;

    if (sched.round_left == 0)
        return NULL;
    sched.round_left--;         /* the round's members are at the head */
    sched.ready_head = g->next;
    if (sched.ready_head == NULL)
        sched.ready_tail = NULL;
    sched.ready_count--;
    return g;
}

/* park - the running coroutine stops until someone calls make_ready on
 * it; the caller has already put it on the list it waits in. The CPU
 * goes straight to the next coroutine of the round, or to the hub. */
static inline void park(void)
{
    struct green *self = sched.current, *next;

    self->calls_in_a_row = 0;
    next = next_in_round();
    if (next == self) {         /* cannot happen (a yielder queues behind */
        self->state = GREEN_RUNNING;    /* the round), but costs nothing */
        return;
    }
    green_switch(next, 0);
}

/* new_mapping - a guard page and a stack, `size` bytes in all: a finished
 * coroutine's from the cache if there is one, else fresh from mmap();
 * NULL with errno set (mmap fails with ENOMEM also when the process has
 * vm.max_map_count mappings) */
static inline char *new_mapping(size_t size)
{
    char *base;

    if (sched.cached > 0)
        return sched.stack_cache[--sched.cached];
    base = mmap(NULL, size, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (base == MAP_FAILED)
        return NULL;
    /* The lowest page becomes the guard: any access to it faults. */
    if (mprotect(base, sched.page_size, PROT_NONE) == -1) {
        int saved_errno = errno;
        munmap(base, size);
        errno = saved_errno;
        return NULL;
    }
#ifdef GREEN_ASAN
    __lsan_register_root_region(base + sched.page_size, size - sched.page_size);
#endif
    return base;
}

/* unmap_stack - give a mapping back to the kernel */
static inline void unmap_stack(char *base, size_t size)
{
#ifdef GREEN_ASAN
    /* ASan's shadow outlives the mapping: the next mmap() at this address
     * must not inherit poisoned bytes */
    __asan_unpoison_memory_region(base + sched.page_size, size - sched.page_size);
    __lsan_unregister_root_region(base + sched.page_size, size - sched.page_size);
#endif
    munmap(base, size);
}

/* free_mapping - give a mapping back: to the cache, so that the next
 * spawn costs no mmap, mprotect or page fault (a server with short
 * connections spawns all the time), or to the kernel when it is full */
static inline void free_mapping(char *base, size_t size)
{
    if (sched.cached < GREEN_STACK_CACHE) {
#ifdef GREEN_ASAN
        /* Frames that never returned left poisoned bytes in ASan's shadow;
         * the next coroutine on this stack must not inherit them. */
        __asan_unpoison_memory_region(base + sched.page_size, size - sched.page_size);
#endif
        sched.stack_cache[sched.cached++] = base;
        return;
    }
    unmap_stack(base, size);
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
    free_mapping(g->map_base, g->map_size);
}

/* --- spawn and join ---------------------------------------------------------- */

/* green_spawn - a new coroutine that will run fn(arg); it starts when the
 * spawner next parks or yields. NULL with errno set if no memory. */
static inline struct green *green_spawn(void (*fn)(void *), void *arg)
{
    size_t record = (sizeof(struct green) + 63) & ~(size_t)63;
    size_t size = sched.page_size + GREEN_STACK_SIZE;   /* guard + stack */
    char *base;
    struct green *g;

    base = new_mapping(size);
    if (base == NULL)
        return NULL;
    g = (struct green *)(base + size - record);
    memset(g, 0, sizeof *g);
    g->fn = fn;
    g->arg = arg;
    g->id = ++sched.next_id;
    g->map_base = base;
    g->map_size = size;
    g->stack_bottom = base + sched.page_size;
    g->stack_size = (size_t)((char *)g - (char *)g->stack_bottom);
    g->armed_fd = g->wait_fd = -1;

    if (context_prepare(&g->context, g->stack_bottom, g->stack_size, green_trampoline) == -1) {
        int saved_errno = errno;
        free_mapping(base, size);
        errno = saved_errno;
        return NULL;
    }
    sched.live++;
    g->all_next = sched.all;            /* for green_shutdown() */
    if (sched.all != NULL)
        sched.all->all_prev = g;
    sched.all = g;
    make_ready(g);
    return g;
}

/* coroutine_ended - the hub's bookkeeping once g's function has returned */
static inline void coroutine_ended(struct green *g)
{
    sched.live--;
    if (g->joiner != NULL)
        make_ready(g->joiner);
    if (g->detached)
        free_green(g);
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
    int timeout = poll_timeout_ms();
    int ready_count;

    if (timeout == -1 && sched.io_waiters == 0) {
        /* Nothing runnable, nobody sleeping, nobody waiting on IO: no
         * event can ever wake anyone. That is a bug in the program. */
        fprintf(stderr, "green: deadlock: every coroutine waits for another\n");
        abort();
    }
    ready_count = epoll_wait(sched.epoll_fd, events, GREEN_MAX_EVENTS, timeout);
    if (ready_count == -1 && errno != EINTR) {
        perror("green: epoll_wait");
        abort();
    }
    for (int i = 0; i < ready_count; i++) {
        struct green *g = events[i].data.ptr;   /* who registered the fd */

        if (events[i].events & (EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            g->may_read = 1;
        if (events[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLPRI))
            g->no_shortcut = 1; /* for good: see green_recv */
        if (g->state == GREEN_WAITING_IO && (events[i].events & g->wait_events)) {
            sched.io_waiters--;
            make_ready(g);
        }
    }
    wake_sleepers();
    sched.round_left = sched.ready_count;       /* a new round */
}

/* hub_run_until - the scheduler loop, on main's stack, until g is DONE:
 * poll when a round is over, then start the next round by switching to
 * its first coroutine. The coroutines hand the CPU on among themselves;
 * it comes back here when the round is over or a coroutine has ended. */
static inline void hub_run_until(struct green *g)
{
    while (g->state != GREEN_DONE) {
        struct green *next;

        if (sched.round_left == 0)
            hub_poll();
        next = next_in_round();
        if (next == NULL)
            continue;           /* nothing woke (a timeout, EINTR) */
        green_switch(next, 0);
        if (sched.ended != NULL) {
            struct green *ended = sched.ended;

            sched.ended = NULL;
            coroutine_ended(ended);
        }
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

/* green_shutdown - from main, when the program is done with coroutines:
 * unmap every coroutine's stack, also those still parked (abandoned, never
 * resumed: nothing on their stacks is unwound, so heap memory only they
 * pointed to becomes a leak), then the stack cache and the epoll
 * instance. The descriptors themselves stay open. A server
 * calls it on its way out: it keeps exit() fast under LeakSanitizer, which
 * would otherwise read every byte of every registered stack (256 KiB each
 * under ASan: seconds for a few hundred clients). */
static inline void green_shutdown(void)
{
    size_t size = sched.page_size + GREEN_STACK_SIZE;

    if (sched.current != NULL)
        return;                 /* only main may pull the stacks away */
    while (sched.all != NULL) {
        struct green *g = sched.all;

        sched.all = g->all_next;
        unmap_stack(g->map_base, g->map_size);
    }
    while (sched.cached > 0)
        unmap_stack(sched.stack_cache[--sched.cached], size);
    sched.ready_head = sched.ready_tail = sched.sleepers = NULL;
    sched.ready_count = sched.round_left = 0;
    sched.io_waiters = sched.live = 0;
    if (sched.epoll_fd != -1)
        close(sched.epoll_fd);
    sched.epoll_fd = -1;
}

/* green_yield - let every other ready coroutine run, then go on */
static inline void green_yield(void)
{
    struct green *self = sched.current;

    if (self == NULL)
        return;                 /* main is not a coroutine */
    make_ready(self);
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

/* fd_owner - the coroutine whose address epoll holds for fd, or NULL.
 * A walk over every coroutine: only for the rare cases where a descriptor
 * changes hands (closed or waited on by another coroutine than the last
 * one to park on it), never on the path of an ordinary park. */
static inline struct green *fd_owner(int fd)
{
    for (struct green *g = sched.all; g != NULL; g = g->all_next)
        if (g->armed_fd == fd)
            return g;
    return NULL;
}

/* arm - make sure epoll's registration of fd names self, so that its
 * events wake self. 0; 1 if fd is a regular file (epoll refuses it with
 * EPERM, and it never blocks); -1 with errno EBUSY (another coroutine is
 * parked on fd) or epoll_ctl's */
static inline int arm(struct green *self, int fd)
{
    struct epoll_event ev;
    struct green *owner;

    if (self->armed_fd == fd)
        return 0;               /* the usual case: no system call */
    if (self->armed_fd != -1) { /* one registration per coroutine */
        epoll_ctl(sched.epoll_fd, EPOLL_CTL_DEL, self->armed_fd, NULL);
        self->armed_fd = -1;
    }
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = self;
    self->may_read = self->no_shortcut = 0; /* ADD and MOD report it anew */
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

/* green_attach - make fd non-blocking, for the green_* calls. (It is
 * registered with epoll the first time a coroutine parks on it.) */
static inline int green_attach(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
        return -1;
    return 0;
}

/* green_close - close fd (closing also drops it from epoll, since this
 * lab never dup()s a descriptor it waits on). A coroutine parked on fd is
 * woken, and its call fails with EBADF; so does the call of one that was
 * woken for fd but has not run yet: the number may be reused at once by
 * the next socket, and it must not retry its call on that one. */
static inline int green_close(int fd)
{
    struct green *g = sched.current;

    if (g == NULL || g->armed_fd != fd) {
        /* Not the caller's registration. Anyone's? EPOLL_CTL_DEL says so
         * (ENOENT: nobody ever parked on it), and only then is it worth
         * walking over every coroutine to find whose. */
        g = NULL;
        if (epoll_ctl(sched.epoll_fd, EPOLL_CTL_DEL, fd, NULL) == 0)
            g = fd_owner(fd);
    }
    if (g != NULL) {
        g->armed_fd = -1;
        if (g->wait_fd == fd) {
            g->wait_fd = -1;    /* tells green_wait_fd: closed */
            if (g->state == GREEN_WAITING_IO) {
                sched.io_waiters--;
                make_ready(g);
            }
        }
    }
    return close(fd);
}

/* green_wait_fd - park the caller until fd is ready for `events`
 * (EPOLLIN or EPOLLOUT); from main, an ordinary poll() */
static inline int green_wait_fd(int fd, uint32_t events)
{
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
    sched.io_waiters++;
    park();
    if (self->wait_fd != fd) {          /* green_close() meanwhile */
        errno = EBADF;
        return -1;
    }
    self->wait_fd = -1;
    return 0;
}

/* fair_share - called after each socket call that did not block: a
 * coroutine whose peer always has data would otherwise never give the
 * CPU away, so every GREEN_FAIR_CALLS calls it yields */
static inline void fair_share(void)
{
    struct green *self = sched.current;

    if (self != NULL && ++self->calls_in_a_row >= GREEN_FAIR_CALLS)
        green_yield();
}

/* would_block - true for the errno of a non-blocking call that must wait */
static inline int would_block(int err)
{
    return err == EAGAIN || err == EWOULDBLOCK;
}

/* green_accept - accept() that parks instead of blocking; the new socket
 * is non-blocking and close-on-exec */
static inline int green_accept(int listen_fd, struct sockaddr *addr, socklen_t *len)
{
    for (;;) {
        int conn_fd = accept4(listen_fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (conn_fd >= 0) {
            fair_share();
            return conn_fd;
        }
        if (errno == EINTR)
            continue;
        if (!would_block(errno) || green_wait_fd(listen_fd, EPOLLIN) == -1)
            return -1;
    }
}

/* green_connect - connect() that parks until the handshake is over;
 * fd must have been given to green_attach() */
static inline int green_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    int err = 0;
    socklen_t err_len = sizeof err;

    if (connect(fd, addr, len) == 0)
        return 0;
    if (errno != EINPROGRESS)
        return -1;
    if (green_wait_fd(fd, EPOLLOUT) == -1)
        return -1;
    /* Writable means the handshake ended; SO_ERROR says how. */
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) == -1)
        return -1;
    if (err != 0) {
        errno = err;
        return -1;
    }
    return 0;
}

/* green_recv - recv() that parks instead of blocking, for stream
 * sockets (TCP, Unix stream).
 *
 * It saves the recv() that would fail with EAGAIN, as nginx does: when a
 * recv() on a stream socket returns fewer bytes than asked, the kernel's
 * receive queue was empty at that moment, and any byte that arrives later
 * makes an edge epoll reports (the hub then sets may_read). So until that
 * edge has come, the next green_recv() parks at once instead of trying.
 * Except once epoll has reported (no_shortcut, for as long as the
 * registration lasts):
 *   - the peer's end of file (EPOLLRDHUP) or an error: the short read may
 *     have taken the last bytes and the end of file with them, and the
 *     recv() that returns 0 would then wait for an edge that never comes;
 *   - urgent data (EPOLLPRI, a peer's send with MSG_OOB): recv() stops
 *     short at the urgent mark with the bytes behind it still queued, and
 *     they too made their edge already. (The hub learns of the urgent
 *     data before that short read, or wakes us after it: either way no
 *     wait on an empty edge.)
 * Not for datagram sockets: a short datagram says nothing about the next
 * one; nor for a Unix stream socket that receives descriptors or
 * credentials (SCM_RIGHTS, SO_PASSCRED): a read stops where they change.
 * Not with flags: MSG_PEEK leaves the bytes where they are. */
static inline ssize_t green_recv(int fd, void *buf, size_t len, int flags)
{
    struct green *self = sched.current;
    int hint = self != NULL && flags == 0;

    if (hint && self->armed_fd == fd && !self->may_read && green_wait_fd(fd, EPOLLIN) == -1)
        return -1;
    for (;;) {
        ssize_t n = recv(fd, buf, len, flags);

        if (n >= 0) {
            if (hint && n > 0 && (size_t)n < len && self->armed_fd == fd && !self->no_shortcut)
                self->may_read = 0;     /* drained: wait for the next edge */
            fair_share();
            return n;
        }
        if (errno == EINTR)
            continue;
        if (!would_block(errno) || green_wait_fd(fd, EPOLLIN) == -1)
            return -1;
    }
}

/* green_send - send() that parks instead of blocking (it may still send
 * fewer bytes than asked: loop over it as with a blocking send) */
static inline ssize_t green_send(int fd, const void *buf, size_t len, int flags)
{
    for (;;) {
        ssize_t n = send(fd, buf, len, flags);

        if (n >= 0) {
            fair_share();
            return n;
        }
        if (errno == EINTR)
            continue;
        if (!would_block(errno) || green_wait_fd(fd, EPOLLOUT) == -1)
            return -1;
    }
}

/* green_read - read() that parks instead of blocking, for non-blocking
 * descriptors that are not sockets (a signalfd, a pipe) */
static inline ssize_t green_read(int fd, void *buf, size_t len)
{
    for (;;) {
        ssize_t n = read(fd, buf, len);

        if (n >= 0) {
            fair_share();
            return n;
        }
        if (errno == EINTR)
            continue;
        if (!would_block(errno) || green_wait_fd(fd, EPOLLIN) == -1)
            return -1;
    }
}

/* green_wait_readable - park until a read() on fd will not block, for a
 * descriptor we must not make non-blocking (standard input is shared with
 * the shell: O_NONBLOCK on it would leak into the shell). The poll() with
 * timeout 0 first catches data left over from an earlier edge. */
static inline int green_wait_readable(int fd)
{
    struct pollfd pfd = {fd, POLLIN, 0};

    for (;;) {
        int ready = poll(&pfd, 1, 0);

        if (ready == -1 && errno != EINTR)
            return -1;
        if (ready == 1)
            return 0;
        if (green_wait_fd(fd, EPOLLIN) == -1)
            return -1;
    }
}

#endif /* GREEN_H */
