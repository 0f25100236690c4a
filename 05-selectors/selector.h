/* selector.h - Python's selectors module in C, on select, poll or epoll
 *
 * A program registers a descriptor with the events it wants (SEL_READ,
 * SEL_WRITE), a callback and a data pointer (the Python notes'
 * `sel.register(conn, EVENT_READ, read)`), changes its interest with
 * sel_modify, removes it with sel_unregister, and calls sel_select to wait.
 * sel_select fills `sel->fired` with (fd, mask) pairs; the caller looks up
 * each fd's key and calls key->callback, as Python's loop does
 * `callback = key.data; callback(key.fileobj, mask)`.
 *
 * The shape is that of Redis's ae and of state-threads' event systems:
 *   - a table of registrations (`keys`) indexed by descriptor number: the
 *     key of a ready fd is one array access away;
 *   - a fired-events array, written by the backend and read by the
 *     dispatcher: the backend knows nothing about callbacks;
 *   - a backend of five small functions (create, destroy, resize, watch,
 *     wait) per kernel mechanism, chosen at run time through a table of
 *     function pointers, or the best one (sel_new(NULL, ...), like
 *     selectors.DefaultSelector).
 *
 * Two guards are the lesson's, not decoration. Stale events: unregistering
 * an fd cancels its entry in the batch being dispatched (its fd becomes
 * -1), so that when a callback closes another descriptor whose number is
 * reused at once, the old descriptor's event never reaches the new owner
 * (libuv does the same). FD_SETSIZE: the select backend refuses fd >= 1024
 * (ERANGE), because FD_SET there writes outside the fd_set.
 *
 * SEL_EDGE (epoll only) is edge-triggered: one report per change of state,
 * so the program reads until EAGAIN, or calls sel_rearm when it stops
 * early. Every function returns -1 with errno set on failure and prints
 * nothing. Linux-specific: epoll; define _GNU_SOURCE before any header.
 *
 * See also: server.c, edge_level.c, NOTES.md section 2.
 * Python notes: 001 and 004 (DefaultSelector, register/unregister,
 * key.data dispatch; epoll's readiness list instead of a scan).
 */
#ifndef SELECTOR_H
#define SELECTOR_H

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <unistd.h>

#define SEL_READ  1             /* selectors.EVENT_READ */
#define SEL_WRITE 2             /* selectors.EVENT_WRITE */
#define SEL_EDGE  1             /* sel_new flag, epoll only: edge-triggered */

struct selector;

/* sel_callback - what a registration calls when its fd is ready; mask
 * holds the ready events */
typedef void sel_callback(struct selector *sel, int fd, int mask, void *data);

/* One registration: Python's SelectorKey. events == 0 means a free slot. */
struct sel_key {
    int fd;
    int events;                 /* SEL_READ | SEL_WRITE we wait for */
    sel_callback *callback;     /* Python keeps it in key.data; ISO C cannot
                                 * store a function in a void * */
    void *data;                 /* the caller's own pointer (a client) */
    int fired_index;            /* its entry in fired[] this batch, if any */
};

/* One ready descriptor, as the backend reports it. */
struct sel_fired {
    int fd;
    int mask;
};

/* A backend: five small functions over one kernel mechanism. watch()
 * changes fd's interest from old_events to new_events: old 0 adds it,
 * new 0 removes it. */
struct sel_backend {
    const char *name;
    int fd_limit;               /* descriptors must be below this */
    int (*create)(struct selector *sel);
    void (*destroy)(struct selector *sel);
    int (*resize)(struct selector *sel, int capacity);
    int (*watch)(struct selector *sel, int fd, int old_events, int new_events);
    int (*wait)(struct selector *sel, int timeout_ms);  /* fills fired[] */
};

struct selector {
    const struct sel_backend *backend;
    int flags;                  /* SEL_EDGE */
    int capacity;               /* size of keys[] and fired[] */
    int max_fd;                 /* highest registered fd, -1 if none */
    int count;                  /* registrations */
    struct sel_key *keys;       /* indexed by fd */
    struct sel_fired *fired;    /* the current batch, filled by wait */
    int fired_count;
    void *state;                /* the backend's own data */
};

/* ---- select(2): two interest sets, copied before each call (select
 * overwrites its arguments), then a scan of every fd up to max_fd ---- */

struct select_state {
    fd_set read_set, write_set;
};

static int select_create(struct selector *sel)
{
    struct select_state *st = malloc(sizeof *st);

    if (st == NULL)
        return -1;
    FD_ZERO(&st->read_set);
    FD_ZERO(&st->write_set);
    sel->state = st;
    return 0;
}

static void select_destroy(struct selector *sel)
{
    free(sel->state);
}

/* select_resize - nothing to do: an fd_set has a fixed size */
static int select_resize(struct selector *sel, int capacity)
{
    (void)sel, (void)capacity;
    return 0;
}

/* select_watch - set or clear fd's bits; sel_register has refused
 * fd >= FD_SETSIZE, so FD_SET stays inside the set */
static int select_watch(struct selector *sel, int fd, int old_events, int new_events)
{
    struct select_state *st = sel->state;

    (void)old_events;
    FD_CLR(fd, &st->read_set);
    FD_CLR(fd, &st->write_set);
    if (new_events & SEL_READ)
        FD_SET(fd, &st->read_set);
    if (new_events & SEL_WRITE)
        FD_SET(fd, &st->write_set);
    return 0;
}

/* select_wait - one select(), then the O(highest fd) scan the
 * benchmark measures */
static int select_wait(struct selector *sel, int timeout_ms)
{
    struct select_state *st = sel->state;
    fd_set readable = st->read_set, writable = st->write_set;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    int ready_count, fired = 0;

    ready_count = select(sel->max_fd + 1, &readable, &writable, NULL,
                         timeout_ms >= 0 ? &tv : NULL);
    for (int fd = 0; fd <= sel->max_fd && fired < ready_count; fd++) {
        int mask = (FD_ISSET(fd, &readable) ? SEL_READ : 0)
                   | (FD_ISSET(fd, &writable) ? SEL_WRITE : 0);

        if (mask != 0)
            sel->fired[fired++] = (struct sel_fired){fd, mask};
    }
    return ready_count <= 0 ? ready_count : fired;
}

static const struct sel_backend select_backend = {
    "select", FD_SETSIZE, select_create, select_destroy, select_resize,
    select_watch, select_wait,
};

/* ---- poll(2): a dense pollfd array, scanned after each call; slot_of[fd]
 * says where fd sits in it, so that watch needs no search ---- */

struct poll_state {
    struct pollfd *fds;         /* sel->count entries in use */
    int *slot_of;               /* indexed by fd; -1 = not in fds */
    int size;                   /* entries allocated in both */
};

static int poll_resize(struct selector *sel, int capacity)
{
    struct poll_state *st = sel->state;
    struct pollfd *fds = realloc(st->fds, (size_t)capacity * sizeof *fds);
    int *slot_of;

    if (fds == NULL)
        return -1;
    st->fds = fds;
    slot_of = realloc(st->slot_of, (size_t)capacity * sizeof *slot_of);
    if (slot_of == NULL)
        return -1;
    for (int fd = st->size; fd < capacity; fd++)
        slot_of[fd] = -1;
    st->slot_of = slot_of;
    st->size = capacity;
    return 0;
}

static int poll_create(struct selector *sel)
{
    sel->state = calloc(1, sizeof(struct poll_state));
    return sel->state == NULL ? -1 : poll_resize(sel, sel->capacity);
}

static void poll_destroy(struct selector *sel)
{
    struct poll_state *st = sel->state;

    free(st->fds);
    free(st->slot_of);
    free(st);
}

/* poll_watch - append fd, change its events, or remove it by moving the
 * last entry into its slot (poll does not care about order); sel->count
 * is updated by the caller after this */
static int poll_watch(struct selector *sel, int fd, int old_events, int new_events)
{
    struct poll_state *st = sel->state;
    int slot = old_events == 0 ? sel->count : st->slot_of[fd];

    if (new_events == 0) {
        st->fds[slot] = st->fds[sel->count - 1];
        st->slot_of[st->fds[slot].fd] = slot;
        st->slot_of[fd] = -1;
        return 0;
    }
    st->slot_of[fd] = slot;
    st->fds[slot].fd = fd;
    st->fds[slot].events = (short)(((new_events & SEL_READ) ? POLLIN : 0)
                                   | ((new_events & SEL_WRITE) ? POLLOUT : 0));
    return 0;
}

/* poll_wait - one poll(), then a scan of every entry. POLLERR, POLLHUP
 * (and POLLNVAL, a bug) come whatever we asked; they count as both events
 * so that the callback meets the error in its own recv() or send(), as
 * Python's PollSelector does. */
static int poll_wait(struct selector *sel, int timeout_ms)
{
    struct poll_state *st = sel->state;
    int ready_count = poll(st->fds, (nfds_t)sel->count, timeout_ms), fired = 0;

    for (int i = 0; i < sel->count && fired < ready_count; i++) {
        short revents = st->fds[i].revents;
        int mask = ((revents & POLLIN) ? SEL_READ : 0) | ((revents & POLLOUT) ? SEL_WRITE : 0);

        if (revents & (POLLERR | POLLHUP | POLLNVAL))
            mask = SEL_READ | SEL_WRITE;
        if (mask != 0)
            sel->fired[fired++] = (struct sel_fired){st->fds[i].fd, mask};
    }
    return ready_count <= 0 ? ready_count : fired;
}

static const struct sel_backend poll_backend = {
    "poll", 1 << 30, poll_create, poll_destroy, poll_resize, poll_watch, poll_wait,
};

/* ---- epoll(7): the interest list lives in the kernel (watch is one
 * epoll_ctl) and epoll_wait returns only the ready descriptors: a wait
 * costs O(ready), not O(registered) ---- */

struct epoll_state {
    int epoll_fd;
    struct epoll_event *events; /* capacity entries, for epoll_wait */
};

static int epoll_resize(struct selector *sel, int capacity)
{
    struct epoll_state *st = sel->state;
    struct epoll_event *events = realloc(st->events, (size_t)capacity * sizeof *events);

    if (events == NULL)
        return -1;
    st->events = events;
    return 0;
}

/* epoll_create_backend - EPOLL_CLOEXEC: a child that execs does not keep
 * the instance open */
static int epoll_create_backend(struct selector *sel)
{
    struct epoll_state *st = calloc(1, sizeof *st);

    if (st == NULL)
        return -1;
    sel->state = st;
    st->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    return st->epoll_fd == -1 ? -1 : epoll_resize(sel, sel->capacity);
}

static void epoll_destroy(struct selector *sel)
{
    struct epoll_state *st = sel->state;

    if (st->epoll_fd >= 0)
        close(st->epoll_fd);
    free(st->events);
    free(st);
}

/* epoll_watch - EPOLL_CTL_ADD, MOD or DEL. DEL must come before close(fd):
 * the kernel drops an fd by itself only when the last descriptor of the
 * open file closes (a dup or a child would keep it in the list). */
static int epoll_watch(struct selector *sel, int fd, int old_events, int new_events)
{
    /* LAB-BEGIN epoll-watch: the epoll backend's watch: build an epoll_event
     * from new_events (SEL_READ: EPOLLIN, SEL_WRITE: EPOLLOUT, EPOLLET with
     * SEL_EDGE) with data.fd = fd, and epoll_ctl() it: EPOLL_CTL_DEL when
     * new_events is 0, ADD when old_events was 0, MOD otherwise. 0, or -1 with
     * errno set. See NOTES.md section 2, "epoll".
     * Stub: (void)sel; (void)fd; (void)old_events; (void)new_events; errno = ENOSYS; return -1;
     * Tests: epoll backend: echo
     */
    struct epoll_state *st = sel->state;
    struct epoll_event ev = {0};

    ev.events = ((new_events & SEL_READ) ? EPOLLIN : 0u)
                | ((new_events & SEL_WRITE) ? EPOLLOUT : 0u)
                | ((sel->flags & SEL_EDGE) ? EPOLLET : 0u);
    ev.data.fd = fd;
    return epoll_ctl(st->epoll_fd, new_events == 0 ? EPOLL_CTL_DEL
                                   : old_events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev);
    /* LAB-END epoll-watch */
}

/* epoll_wait_backend - nothing to scan: the kernel hands back only the
 * ready descriptors; errors and hang-ups count as both events, as in poll */
static int epoll_wait_backend(struct selector *sel, int timeout_ms)
{
    /* LAB-BEGIN epoll-wait: the epoll backend's wait: epoll_wait() on the
     * state's epoll descriptor for at most sel->capacity events; for each,
     * fill sel->fired[i] with its fd and a mask (EPOLLIN: SEL_READ, EPOLLOUT:
     * SEL_WRITE; an error or hang-up counts as both). Return how many fired,
     * or -1. See NOTES.md section 2: the kernel hands back only the ready
     * descriptors.
     * Stub: (void)sel; (void)timeout_ms; errno = ENOSYS; return -1;
     * Tests: epoll backend: echo
     */
    struct epoll_state *st = sel->state;
    int ready_count = epoll_wait(st->epoll_fd, st->events, sel->capacity, timeout_ms);

    for (int i = 0; i < ready_count; i++) {
        unsigned revents = st->events[i].events;
        int mask = ((revents & EPOLLIN) ? SEL_READ : 0) | ((revents & EPOLLOUT) ? SEL_WRITE : 0);

        if (revents & (EPOLLERR | EPOLLHUP))
            mask = SEL_READ | SEL_WRITE;
        sel->fired[i] = (struct sel_fired){st->events[i].data.fd, mask};
    }
    return ready_count;
    /* LAB-END epoll-wait */
}

static const struct sel_backend epoll_backend = {
    "epoll", 1 << 30, epoll_create_backend, epoll_destroy, epoll_resize,
    epoll_watch, epoll_wait_backend,
};

/* ---- the selector ------------------------------------------------------ */

/* Best first: sel_new(NULL, ...) takes the first, as DefaultSelector
 * prefers epoll to poll to select. */
static const struct sel_backend *const sel_backends[] = {
    &epoll_backend, &poll_backend, &select_backend,
};

#define SEL_INITIAL_CAPACITY 64

/* sel_free - release what sel_new made (not the registered fds) */
static inline void sel_free(struct selector *sel)
{
    if (sel == NULL)
        return;
    if (sel->state != NULL)
        sel->backend->destroy(sel);
    free(sel->keys);
    free(sel->fired);
    free(sel);
}

/* sel_new - a selector on the named backend ("select", "poll", "epoll"),
 * or the best for NULL; NULL with EINVAL for an unknown name or SEL_EDGE
 * on another backend than epoll */
static inline struct selector *sel_new(const char *backend_name, int flags)
{
    const struct sel_backend *backend = NULL;
    struct selector *sel;

    for (size_t i = 0; i < sizeof sel_backends / sizeof sel_backends[0] && !backend; i++)
        if (backend_name == NULL || strcmp(backend_name, sel_backends[i]->name) == 0)
            backend = sel_backends[i];
    if (backend == NULL || ((flags & SEL_EDGE) && backend != &epoll_backend)) {
        errno = EINVAL;
        return NULL;
    }
    sel = calloc(1, sizeof *sel);
    if (sel == NULL)
        return NULL;
    *sel = (struct selector){backend, flags, SEL_INITIAL_CAPACITY, -1, 0, NULL, NULL, 0, NULL};
    sel->keys = calloc((size_t)sel->capacity, sizeof *sel->keys);
    sel->fired = calloc((size_t)sel->capacity, sizeof *sel->fired);
    if (sel->keys == NULL || sel->fired == NULL || backend->create(sel) == -1) {
        int saved_errno = errno;

        sel_free(sel);
        errno = saved_errno;
        return NULL;
    }
    return sel;
}

/* sel_grow - make room in every table for descriptor fd */
static int sel_grow(struct selector *sel, int fd)
{
    int capacity = sel->capacity;
    struct sel_key *keys;
    struct sel_fired *fired;

    while (capacity <= fd)
        capacity *= 2;
    keys = realloc(sel->keys, (size_t)capacity * sizeof *keys);
    if (keys == NULL)
        return -1;
    memset(keys + sel->capacity, 0, (size_t)(capacity - sel->capacity) * sizeof *keys);
    sel->keys = keys;
    fired = realloc(sel->fired, (size_t)capacity * sizeof *fired);
    if (fired == NULL)
        return -1;
    sel->fired = fired;
    if (sel->backend->resize(sel, capacity) == -1)
        return -1;
    sel->capacity = capacity;
    return 0;
}

/* sel_get_key - the registration of fd, or NULL if fd is not registered */
static inline struct sel_key *sel_get_key(struct selector *sel, int fd)
{
    if (fd < 0 || fd >= sel->capacity || sel->keys[fd].events == 0)
        return NULL;
    return &sel->keys[fd];
}

/* sel_register - watch fd for events (non-zero), calling callback(data).
 * Errors: EEXIST already registered, EINVAL no events, ERANGE fd beyond
 * what the backend can watch (select: FD_SETSIZE). */
static inline int sel_register(struct selector *sel, int fd, int events,
                               sel_callback *callback, void *data)
{
    if (fd < 0 || (events & (SEL_READ | SEL_WRITE)) == 0) {
        errno = EINVAL;
        return -1;
    }
    if (fd >= sel->backend->fd_limit) {
        errno = ERANGE;
        return -1;
    }
    if (fd >= sel->capacity && sel_grow(sel, fd) == -1)
        return -1;
    if (sel->keys[fd].events != 0) {
        errno = EEXIST;
        return -1;
    }
    if (sel->backend->watch(sel, fd, 0, events) == -1)
        return -1;
    /* fired_index = fired_count: no entry in the batch being dispatched */
    sel->keys[fd] = (struct sel_key){fd, events, callback, data, sel->fired_count};
    sel->count++;
    if (fd > sel->max_fd)
        sel->max_fd = fd;
    return 0;
}

/* sel_modify - change the events fd waits for (non-zero); the kernel is
 * asked only on a change, since with epoll each change is a syscall */
static inline int sel_modify(struct selector *sel, int fd, int events)
{
    struct sel_key *key = sel_get_key(sel, fd);

    if (key == NULL || (events & (SEL_READ | SEL_WRITE)) == 0) {
        errno = key == NULL ? ENOENT : EINVAL;
        return -1;
    }
    if (events != key->events && sel->backend->watch(sel, fd, key->events, events) == -1)
        return -1;
    key->events = events;
    return 0;
}

/* sel_rearm - edge-triggered: have the kernel look at fd again. With
 * epoll, EPOLL_CTL_MOD checks the descriptor at once and queues an event
 * if it is ready. A callback that stops before EAGAIN (to give others
 * their turn) calls this, or the bytes it left would never be reported.
 * Level-triggered: nothing to do, a ready fd is reported on every wait. */
static inline int sel_rearm(struct selector *sel, int fd)
{
    struct sel_key *key = sel_get_key(sel, fd);

    if (key == NULL) {
        errno = ENOENT;
        return -1;
    }
    if (!(sel->flags & SEL_EDGE))
        return 0;
    return sel->backend->watch(sel, fd, key->events, key->events);
}

/* sel_unregister - stop watching fd (before close(fd)), and cancel its
 * entry in the batch being dispatched: once fd is closed its number may be
 * reused at once, and the entry is not the new owner's */
static inline int sel_unregister(struct selector *sel, int fd)
{
    struct sel_key *key = sel_get_key(sel, fd);

    if (key == NULL) {
        errno = ENOENT;
        return -1;
    }
    if (key->fired_index < sel->fired_count && sel->fired[key->fired_index].fd == fd)
        sel->fired[key->fired_index].fd = -1;   /* sel_get_key(-1) is NULL */
    /* epoll fails only if fd was closed too early: nothing left to remove */
    (void)sel->backend->watch(sel, fd, key->events, 0);
    sel->count--;
    memset(key, 0, sizeof *key);
    while (sel->max_fd >= 0 && sel->keys[sel->max_fd].events == 0)
        sel->max_fd--;
    return 0;
}

/* sel_select - wait up to timeout_ms (-1: for ever); fill sel->fired and
 * return how many, 0 on timeout or on a signal (EINTR: the caller checks
 * its flags), -1 on error. By the time an entry is dispatched, an earlier
 * callback of the batch may have changed its key's events (dispatch only
 * those still wanted) or unregistered it (its fd is then -1). */
static inline int sel_select(struct selector *sel, int timeout_ms)
{
    int ready_count;

    sel->fired_count = 0;
    ready_count = sel->backend->wait(sel, timeout_ms);
    if (ready_count == -1 && errno == EINTR)
        return 0;
    for (int i = 0; i < ready_count; i++)       /* for sel_unregister */
        sel->keys[sel->fired[i].fd].fired_index = i;
    sel->fired_count = ready_count > 0 ? ready_count : 0;
    return ready_count;
}

/* sel_backend_name - "select", "poll" or "epoll" */
static inline const char *sel_backend_name(const struct selector *sel)
{
    return sel->backend->name;
}

#endif /* SELECTOR_H */
