/* green_asan.h - what AddressSanitizer must be told about green.h's stacks
 *
 * No part of the lesson: read it only if you build with
 * SANITIZE=address. ASan keeps its own idea of the current stack; when
 * swapcontext() changes the stack under it, it reports false errors. So
 * every switch is announced before (start) and confirmed after (finish).
 * LeakSanitizer scans thread stacks and globals, not memory from mmap(),
 * so each coroutine stack is registered as a root region: memory a
 * suspended coroutine still points to is not a leak. And a stack whose
 * frames never returned leaves poisoned bytes in ASan's shadow memory,
 * which must be cleared before the next stack at that address is used.
 * Without ASan every function here is empty.
 */
#ifndef GREEN_ASAN_H
#define GREEN_ASAN_H

#include <stddef.h>

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
#define ASAN_STACK_FACTOR 4     /* ASan's frames are several times larger */
#else
#define ASAN_STACK_FACTOR 1
#endif

/* main's stack (where the hub runs), as ASan knows it, and ASan's
 * bookkeeping for it while a coroutine runs */
static struct {
    const void *bottom;
    size_t size;
    void *fake_stack;
} asan_hub;

/* asan_switch_start - about to switch to the stack [bottom, bottom+size),
 * or to the hub's when bottom is NULL; save_fake: where ASan keeps the
 * leaving side's bookkeeping, NULL if it will never be resumed */
static inline void asan_switch_start(void **save_fake, const void *bottom, size_t size)
{
#ifdef GREEN_ASAN
    if (bottom == NULL) {
        bottom = asan_hub.bottom;
        size = asan_hub.size;
    }
    __sanitizer_start_switch_fiber(save_fake, bottom, size);
#else
    (void)save_fake, (void)bottom, (void)size;
#endif
}

/* asan_switch_finish - the switch is done: fake is this side's saved
 * bookkeeping; from_hub: a coroutine resumed by the hub, which learns
 * from ASan where main's stack is (to switch back to it later) */
static inline void asan_switch_finish(void *fake, int from_hub)
{
#ifdef GREEN_ASAN
    const void *old_bottom;
    size_t old_size;

    __sanitizer_finish_switch_fiber(fake, &old_bottom, &old_size);
    if (from_hub) {
        asan_hub.bottom = old_bottom;
        asan_hub.size = old_size;
    }
#else
    (void)fake, (void)from_hub;
#endif
}

/* asan_stack_mapped, asan_stack_unmapped - a stack appears, disappears */
static inline void asan_stack_mapped(void *bottom, size_t size)
{
#ifdef GREEN_ASAN
    __lsan_register_root_region(bottom, size);
#else
    (void)bottom, (void)size;
#endif
}

static inline void asan_stack_unmapped(void *bottom, size_t size)
{
#ifdef GREEN_ASAN
    __asan_unpoison_memory_region(bottom, size);
    __lsan_unregister_root_region(bottom, size);
#else
    (void)bottom, (void)size;
#endif
}

/* asan_stack_reused - a finished coroutine's stack, given to the next */
static inline void asan_stack_reused(void *bottom, size_t size)
{
#ifdef GREEN_ASAN
    __asan_unpoison_memory_region(bottom, size);
#else
    (void)bottom, (void)size;
#endif
}

#endif /* GREEN_ASAN_H */
