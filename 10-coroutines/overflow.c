/* overflow.c - a coroutine that overflows its stack dies at the guard page
 *
 * Coroutine stacks are small (64 KiB here, against 8 MiB for a thread) and
 * sit next to each other in memory. A coroutine that recurses too deeply
 * runs off the bottom of its stack. Without protection it would go on
 * writing into whatever lies below: often the mapping of another
 * coroutine, whose saved registers live in the record at the top of its
 * stack. That coroutine would later resume with a garbage stack pointer or
 * return address, far from the bug: the worst kind of failure.
 *
 * green.h makes the lowest page of every stack mapping PROT_NONE (the
 * guard page). The first write into it faults, and the process gets
 * SIGSEGV at once, at the guilty line. This program shows it: it spawns
 * "deep" (which will recurse) and then "neighbour" (whose mapping the
 * kernel places right below deep's), prints where everything lies,
 * and lets deep recurse. A SIGSEGV handler, running on an alternate signal
 * stack (the coroutine's own stack is the one that is full), reports the
 * faulting address and whether it is in deep's guard page, then restores
 * the default action: the process dies of SIGSEGV (shell status 139), and
 * the neighbour's record was never touched.
 *
 * Usage: ./overflow        (no options; -h, --help: the usage)
 *
 * See also: green.h (green_spawn: mmap and mprotect), NOTES.md (pitfalls).
 * Python notes: 004 (coroutines "save state" on switching: that state
 * lives on each coroutine's stack).
 * Linux-specific: epoll (in green.h), MAP_STACK.
 */
#define _GNU_SOURCE             /* ucontext, epoll (green.h), sigaltstack */

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/lab.h"
#include "green.h"

#define FRAME_BYTES 1024        /* stack used by each level of recursion */

static struct green *deep, *neighbour;
static char alt_stack[64 * 1024];   /* where the SIGSEGV handler runs */

/* put_text - write a string with write(2), async-signal-safe */
static void put_text(const char *text)
{
    ssize_t unused = write(STDOUT_FILENO, text, strlen(text));
    (void)unused;               /* nothing better to do in a dying handler */
}

/* put_hex - write a number in hex, async-signal-safe (no printf) */
static void put_hex(uintptr_t value)
{
    char buf[2 + 2 * sizeof value + 1];
    int pos = (int)sizeof buf - 1;

    buf[pos] = '\0';
    do {
        buf[--pos] = "0123456789abcdef"[value & 15];
        value >>= 4;
    } while (value != 0);
    buf[--pos] = 'x';
    buf[--pos] = '0';
    put_text(buf + pos);
}

/* on_segv - report where the fault is, then die of SIGSEGV for real */
static void on_segv(int signo, siginfo_t *info, void *context)
{
    uintptr_t addr = (uintptr_t)info->si_addr;
    uintptr_t guard = (uintptr_t)deep->map_base;

    (void)context;
    put_text("[overflow] SIGSEGV at ");
    put_hex(addr);
    if (addr >= guard && addr < guard + sched.page_size)
        put_text(": inside deep's guard page. The neighbour was not touched.\n");
    else
        put_text(": outside deep's guard page\n");
    /* Back to the default action; returning re-runs the faulting
     * instruction, which faults again and now kills the process. */
    signal(signo, SIG_DFL);
}

/* install_segv_handler - SIGSEGV handler on a stack of its own */
static void install_segv_handler(void)
{
    stack_t ss;
    struct sigaction sa;

    ss.ss_sp = alt_stack;
    ss.ss_size = sizeof alt_stack;
    ss.ss_flags = 0;
    if (sigaltstack(&ss, NULL) == -1)
        die("sigaltstack");
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;  /* the full stack cannot host it */
    if (sigaction(SIGSEGV, &sa, NULL) == -1)
        die("sigaction");
}

/* recurse - use at least FRAME_BYTES of stack per level, until the
 * (unreachable) limit: the stack is far too small for it */
static unsigned long recurse(unsigned long depth)
{
    volatile char frame[FRAME_BYTES];
    char *stack_top = (char *)deep->stack_bottom + deep->stack_size;

    frame[0] = (char)depth;             /* touch the frame: it must exist */
    frame[FRAME_BYTES - 1] = (char)depth;
    if (depth % 8 == 0)
        printf("[deep]      depth %3lu: %3ld KiB of its stack used\n", depth,
               (long)(stack_top - (char *)frame) / 1024);
    if (depth == 1000000)
        return depth;
    return recurse(depth + 1) + (unsigned long)frame[0];   /* not a tail call */
}

/* deep_main - the coroutine that overflows */
static void deep_main(void *arg)
{
    (void)arg;
    green_yield();              /* let the neighbour park first */
    printf("[deep]      recursing, %d bytes per level...\n", FRAME_BYTES);
    recurse(1);
}

/* neighbour_main - a coroutine with a value on its stack, parked */
static void neighbour_main(void *arg)
{
    volatile char canary[16] = "still intact";

    (void)arg;
    green_sleep(60000);         /* parked: its saved registers wait in its record */
    printf("[neighbour] canary: %s\n", (const char *)canary);
}

/* show_layout - where each mapping, stack and record lies */
static void show_layout(const char *name, const struct green *g)
{
    printf("[overflow]  %-9s mapping %p-%p: guard page %p, stack %p-%p, record %p\n",
           name, g->map_base, (void *)((char *)g->map_base + MAPPING_SIZE), g->map_base,
           g->stack_bottom, (void *)((char *)g->stack_bottom + g->stack_size), (void *)g);
}

int main(int argc, char *argv[])
{
    const struct lab_command cmd = {
        .about = "Spawns a coroutine that recurses until it hits its guard page:\n"
                 "the process dies of SIGSEGV (shell status 139) on purpose."};

    lab_parse(argc, argv, &cmd);
    setvbuf(stdout, NULL, _IOLBF, 0);
    install_segv_handler();
    if (green_init() == -1)
        die("epoll_create1");
    deep = green_spawn(deep_main, NULL);
    neighbour = green_spawn(neighbour_main, NULL);
    if (deep == NULL || neighbour == NULL)
        die("spawn");
    show_layout("deep", deep);
    show_layout("neighbour", neighbour);
    if ((char *)neighbour + sizeof *neighbour <= (char *)deep->map_base)
        printf("[overflow]  the neighbour's record ends %ld bytes below deep's guard page\n",
               (long)((char *)deep->map_base - ((char *)neighbour + sizeof *neighbour)));
    green_join(deep);           /* never returns: deep dies of SIGSEGV */
    green_join(neighbour);
    return 0;
}
