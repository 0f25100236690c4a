/* green.h - green threads (coroutines) for one OS thread, gevent-style
 *
 * The lesson's own small scheduler, shared by every program of the folder.
 * A coroutine is a function with a stack of its own. It runs until it
 * decides to stop: when it calls green_yield(), green_sleep(), green_join()
 * or one of the socket calls below at a moment when the call would block.
 * Then its registers are saved (swapcontext) and the scheduler, the "hub",
 * picks another one. Nothing is ever pre-empted: between two such calls a
 * coroutine has the CPU to itself, which is why no lock is needed and why a
 * coroutine that calls a truly blocking function (sleep(), a blocking
 * recv(), getaddrinfo() on a slow DNS server) stalls every coroutine.
 *
 * The socket calls look blocking but are not (gevent's monkey patching,
 * done by hand, and state-threads' "EAGAIN parks the thread"): every
 * socket is non-blocking; green_recv() tries recv(), and on EAGAIN it
 * parks the coroutine on that descriptor and switches to the hub; the hub
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
 *   green_watch(fd)  green_attach(fd)  green_close(fd)
 *   green_accept() green_connect() green_recv() green_send() green_read()
 *   green_wait_readable(fd)
 *
 * Invariants (read these before changing anything):
 *   - One OS thread. Exactly one coroutine runs at a time, or the hub.
 *     sched.current names the running coroutine, NULL while the hub runs.
 *   - The hub runs on the caller's own stack (main's), inside green_join().
 *     Every switch goes through it: coroutine -> hub -> coroutine. That is
 *     two swapcontext() calls per hand-over, and it keeps the code simple.
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
 *     list (SLEEPING), one fd's reader or writer slot (WAITING_IO), another
 *     coroutine's joiner slot (JOINING). RUNNING and DONE are in none.
 *   - Every descriptor given to green_watch() is registered once with
 *     epoll, edge-triggered, for both directions. Edge-triggered is safe
 *     because a coroutine parks only right after its call returned EAGAIN:
 *     any readiness after that produces a new edge. A wake-up may be
 *     spurious (the edge came from data already read): the woken call just
 *     tries again and parks again.
 *   - At most one coroutine reads and one writes a descriptor at a time.
 *     Closing goes through green_close(), which wakes a coroutine still
 *     parked on the descriptor; its call fails with EBADF. Each slot has a
 *     generation, bumped on every close: a coroutine that was woken but
 *     had not run yet when its descriptor was closed also gets EBADF,
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
 * hand-written switches (boost.context, Go) skip that.
 *
 * AddressSanitizer: ASan must be told when the stack changes under it, or
 * it mistakes the coroutine stacks for overflows. Every switch is wrapped
 * in __sanitizer_start_switch_fiber / __sanitizer_finish_switch_fiber when
 * ASan is on, and nothing when it is off. Its leak checker scans thread
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
    GREEN_WAITING_IO,   /* in one fd's reader or writer slot */
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
    struct green *next;         /* link in the run queue or sleep list */
    struct green *joiner;       /* who is parked in green_join() on us */
    struct green *all_prev, *all_next;  /* every coroutine not yet freed */
    void *map_base;             /* the whole mapping: guard, stack, record */
    size_t map_size;
    void *stack_bottom;         /* lowest usable stack address */
    size_t stack_size;
    void *asan_fake_stack;      /* ASan's bookkeeping while suspended */
};

/* who waits on one descriptor; the table is indexed by fd */
struct green_fd {
    struct green *reader;       /* parked until the fd is readable */
    struct green *writer;       /* parked until the fd is writable */
    unsigned generation;        /* bumped by each green_close() */
    unsigned char watched;      /* registered with epoll (or a file) */
    unsigned char always_ready; /* a regular file: epoll refuses it */
};

static struct {
    green_context hub_context;  /* main's registers while a coroutine runs */
    struct green *current;      /* the running coroutine; NULL in the hub */
    struct green *ready_head, *ready_tail;
    struct green *sleepers;     /* sorted by wake_at_ms, earliest first */
    struct green *all;          /* every coroutine not yet freed */
    struct green_fd *fds;
    size_t fd_slots;
    unsigned io_waiters;        /* coroutines parked on descriptors */
    unsigned live;              /* spawned and not yet DONE */
    unsigned next_id;
    int epoll_fd;
    size_t page_size;
    char *stack_cache[GREEN_STACK_CACHE];   /* mappings ready for reuse */
    unsigned cached;
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

/* switch_to_hub - save the running coroutine, resume the hub. `ending`
 * says this stack will never be resumed (ASan may then drop its state). */
static inline void switch_to_hub(struct green *self, int ending)
{
#ifdef GREEN_ASAN
    __sanitizer_start_switch_fiber(ending ? NULL : &self->asan_fake_stack,
                                   sched.hub_stack_bottom, sched.hub_stack_size);
#else
    (void)ending;
#endif
    context_switch(&self->context, &sched.hub_context);
#ifdef GREEN_ASAN
    __sanitizer_finish_switch_fiber(self->asan_fake_stack, &sched.hub_stack_bottom,
                                    &sched.hub_stack_size);
#endif
}

/* hub_switch_to - from the hub, run coroutine g until it switches back */
static inline void hub_switch_to(struct green *g)
{
    sched.current = g;
    g->state = GREEN_RUNNING;
#ifdef GREEN_ASAN
    __sanitizer_start_switch_fiber(&sched.hub_fake_stack, g->stack_bottom, g->stack_size);
#endif
    context_switch(&sched.hub_context, &g->context);
#ifdef GREEN_ASAN
    __sanitizer_finish_switch_fiber(sched.hub_fake_stack, NULL, NULL);
#endif
    sched.current = NULL;
}

/* green_trampoline - first code run on a new stack: call fn(arg), then
 * hand back to the hub for good (the hub frees or keeps the mapping) */
static inline void green_trampoline(void)
{
    struct green *self = sched.current;

#ifdef GREEN_ASAN
    __sanitizer_finish_switch_fiber(NULL, &sched.hub_stack_bottom, &sched.hub_stack_size);
#endif
    self->fn(self->arg);
    self->state = GREEN_DONE;
    switch_to_hub(self, 1);
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
}

/* park - the running coroutine stops until someone calls make_ready on it.
 * The caller has already put it on the list it waits in. */
static inline void park(void)
{
    struct green *self = sched.current;

    self->calls_in_a_row = 0;
    switch_to_hub(self, 0);
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

/* wake_io - make the coroutine in a reader/writer slot runnable */
static inline void wake_io(struct green **slot)
{
    struct green *g = *slot;

    if (g != NULL) {
        *slot = NULL;
        sched.io_waiters--;
        make_ready(g);
    }
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

/* run_ready_round - run every coroutine that is ready now, once each.
 * Those made ready during the round wait for the next one, so a
 * coroutine that keeps yielding cannot keep the hub from epoll. */
static inline void run_ready_round(void)
{
    struct green *g = sched.ready_head;

    sched.ready_head = sched.ready_tail = NULL;
    while (g != NULL) {
        struct green *next = g->next;

        hub_switch_to(g);
        if (g->state == GREEN_DONE)
            coroutine_ended(g);
        g = next;
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

/* hub_poll - wait for descriptors or the next sleeper, wake their owners */
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
        struct green_fd *w = &sched.fds[events[i].data.fd];
        uint32_t ev = events[i].events;

        if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            wake_io(&w->reader);
        if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))
            wake_io(&w->writer);
    }
    wake_sleepers();
}

/* hub_run_until - the scheduler loop, on main's stack, until g is DONE */
static inline void hub_run_until(struct green *g)
{
    while (g->state != GREEN_DONE) {
        run_ready_round();
        if (g->state == GREEN_DONE)
            break;
        hub_poll();
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
 * pointed to becomes a leak), then the stack cache, the descriptor table
 * and the epoll instance. The descriptors themselves stay open. A server
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
    sched.io_waiters = sched.live = 0;
    free(sched.fds);
    sched.fds = NULL;
    sched.fd_slots = 0;
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

/* fd_slot - the table entry for fd, growing the table; NULL if no memory */
static inline struct green_fd *fd_slot(int fd)
{
    if ((size_t)fd >= sched.fd_slots) {
        size_t slots = sched.fd_slots ? sched.fd_slots : 64;
        struct green_fd *grown;

        while (slots <= (size_t)fd)
            slots *= 2;
        grown = realloc(sched.fds, slots * sizeof *grown);
        if (grown == NULL)
            return NULL;
        memset(grown + sched.fd_slots, 0, (slots - sched.fd_slots) * sizeof *grown);
        sched.fds = grown;
        sched.fd_slots = slots;
    }
    return &sched.fds[fd];
}

/* green_watch - register fd with the hub's epoll (edge-triggered, both
 * directions) without changing its flags; 0, or -1 with errno set */
static inline int green_watch(int fd)
{
    struct green_fd *w = fd_slot(fd);
    struct epoll_event ev;
    unsigned generation;

    if (w == NULL)
        return -1;
    generation = w->generation + 1;     /* a new life for this number */
    memset(w, 0, sizeof *w);
    w->generation = generation;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.fd = fd;
    if (epoll_ctl(sched.epoll_fd, EPOLL_CTL_ADD, fd, &ev) == -1) {
        if (errno != EPERM)
            return -1;
        w->always_ready = 1;    /* a regular file never blocks */
    }
    w->watched = 1;
    return 0;
}

/* green_attach - make fd non-blocking and watch it */
static inline int green_attach(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
        return -1;
    return green_watch(fd);
}

/* green_close - forget fd and close it (closing also drops it from epoll,
 * since this lab never dup()s a watched descriptor). A coroutine parked
 * on fd is woken, and its call fails with EBADF: the number may be reused
 * at once by the next socket, and an event for that one must not be taken
 * for the old one's. */
static inline int green_close(int fd)
{
    if ((size_t)fd < sched.fd_slots) {
        struct green_fd *w = &sched.fds[fd];

        wake_io(&w->reader);
        wake_io(&w->writer);
        w->generation++;
        w->watched = 0;
        w->always_ready = 0;
    }
    return close(fd);
}

/* green_wait_fd - park the caller until fd is ready for `events`
 * (EPOLLIN or EPOLLOUT); from main, an ordinary poll() */
static inline int green_wait_fd(int fd, uint32_t events)
{
    struct green *self = sched.current, **slot;
    struct green_fd *w;
    unsigned generation;

    if (self == NULL) {
        struct pollfd pfd = {fd, events & EPOLLIN ? POLLIN : POLLOUT, 0};
        return poll(&pfd, 1, -1) == -1 ? -1 : 0;
    }
    if ((size_t)fd >= sched.fd_slots || !sched.fds[fd].watched) {
        errno = EBADF;          /* green_watch() was never called for it */
        return -1;
    }
    w = &sched.fds[fd];
    if (w->always_ready)
        return 0;
    slot = (events & EPOLLIN) ? &w->reader : &w->writer;
    if (*slot != NULL) {
        errno = EBUSY;          /* two coroutines reading one socket: a bug */
        return -1;
    }
    *slot = self;
    self->state = GREEN_WAITING_IO;
    sched.io_waiters++;
    generation = w->generation;
    park();
    /* Closed while we were parked, or after we were woken but before we
     * ran? (Index again: the table may have grown and moved meanwhile.) */
    if (sched.fds[fd].generation != generation) {
        errno = EBADF;
        return -1;
    }
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
 * is non-blocking, close-on-exec and already watched */
static inline int green_accept(int listen_fd, struct sockaddr *addr, socklen_t *len)
{
    for (;;) {
        int conn_fd = accept4(listen_fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (conn_fd >= 0) {
            if (green_watch(conn_fd) == -1) {
                int saved_errno = errno;
                close(conn_fd);
                errno = saved_errno;
                return -1;
            }
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

/* green_recv - recv() that parks instead of blocking */
static inline ssize_t green_recv(int fd, void *buf, size_t len, int flags)
{
    for (;;) {
        ssize_t n = recv(fd, buf, len, flags);

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
