/* selector.h - a small selector API with select, poll and epoll backends
 *
 * Python's selectors module in C, about 650 lines with the comments. A
 * program registers a descriptor with the events it wants (SEL_READ,
 * SEL_WRITE) and a callback plus a data pointer (the seeds'
 * `sel.register(conn, EVENT_READ, read)`), changes its interest with
 * sel_modify, removes it with sel_unregister, and calls sel_select to
 * wait for ready descriptors.
 * sel_select fills `sel->fired` with (fd, mask) pairs; the caller looks up
 * each fd's key and calls key->callback, as the seed's loop does
 * `callback = key.data; callback(key.fileobj, mask)`. Unregistering an fd
 * cancels its entry in the current batch (its fd becomes -1), so that a
 * callback that closes another descriptor, whose number is then reused,
 * never hands the old descriptor's event to the new owner (libuv does
 * the same).
 *
 * The shape is that of Redis's ae and of state-threads' event systems:
 *
 *   - a table of registrations (`keys`) indexed by the descriptor number,
 *     so finding the key of a ready fd costs one array access;
 *   - a fired-events array, written by the backend and read by the
 *     dispatcher, so that the backend knows nothing about callbacks;
 *   - a backend: a table of six small functions (create, destroy, resize,
 *     watch, unwatch, wait) for each mechanism - select(2), poll(2),
 *     epoll(7) - chosen at run time by name, or the best the system has
 *     (sel_new(NULL, ...), like selectors.DefaultSelector).
 *
 * The select backend refuses descriptors >= FD_SETSIZE (errno ERANGE):
 * FD_SET on such a descriptor writes outside the fd_set, silently
 * corrupting memory. Python's select.select() raises ValueError instead.
 *
 * Edge-triggered mode (SEL_EDGE) exists only for epoll: the kernel
 * reports a descriptor once per change of state, not once per call while
 * the state lasts, so the program must read (and write) until EAGAIN, or
 * call sel_rearm when it stops early.
 *
 * Every function returns -1 with errno set on failure; nothing here
 * prints or exits: the program decides what a failure means. The API
 * functions are `static inline` only so that a program using part of the
 * API gets no "unused function" warning; the backends are reached through
 * their tables.
 *
 * Linux-specific: the epoll backend (epoll_create1, EPOLL_CLOEXEC). The
 * including file must define _GNU_SOURCE before any header.
 *
 * See also: server.c (the echo server built on it), edge_level.c, NOTES.md.
 * Seeds: 001 and 004 (selectors.DefaultSelector, register/unregister,
 * key.data dispatch; epoll's callbacks instead of scanning).
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

/* Events, as selectors.EVENT_READ and EVENT_WRITE: bits of a mask. */
#define SEL_READ  1
#define SEL_WRITE 2

/* Flags for sel_new. */
#define SEL_EDGE  1             /* epoll only: edge-triggered notification */

struct selector;

/* sel_callback - what a registration calls when its descriptor is ready;
 * mask holds the ready events (SEL_READ and/or SEL_WRITE) */
typedef void sel_callback(struct selector *sel, int fd, int mask, void *data);

/* One registration: Python's SelectorKey. events == 0 means a free slot. */
struct sel_key {
    int fd;
    int events;                 /* SEL_READ | SEL_WRITE we are waiting for */
    sel_callback *callback;     /* the seed keeps it in key.data; C cannot
                                 * store a function in a void * portably */
    void *data;                 /* the caller's own pointer (a client) */
    int fired_index;            /* where its entry sits in fired[], if any */
};

/* One ready descriptor, as the backend reports it. */
struct sel_fired {
    int fd;
    int mask;
};

struct selector;

/* A backend: six small functions over one kernel mechanism. */
struct sel_backend {
    const char *name;
    int fd_limit;               /* descriptors must be below this */
    int (*create)(struct selector *sel);
    void (*destroy)(struct selector *sel);
    int (*resize)(struct selector *sel, int capacity);
    int (*watch)(struct selector *sel, int fd, int old_events, int new_events);
    void (*unwatch)(struct selector *sel, int fd, int old_events);
    int (*wait)(struct selector *sel, int timeout_ms);
};

struct selector {
    const struct sel_backend *backend;
    int flags;                  /* SEL_EDGE */
    int capacity;               /* size of keys[] and fired[] */
    int max_fd;                 /* highest registered fd, -1 if none */
    int count;                  /* how many registrations */
    struct sel_key *keys;       /* indexed by fd */
    struct sel_fired *fired;    /* filled by backend->wait */
    int fired_count;            /* entries of the current batch */
    void *state;                /* the backend's own data */
};

/* ---- the select(2) backend ------------------------------------------- */

/* select keeps two interest sets and copies them before each call,
 * because select() overwrites its arguments with the result. */
struct select_state {
    fd_set read_set, write_set;
};

/* select_create - empty interest sets */
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

/* select_destroy - free the sets */
static void select_destroy(struct selector *sel)
{
    free(sel->state);
}

/* select_resize - nothing to do: an fd_set has a fixed size */
static int select_resize(struct selector *sel, int capacity)
{
    (void)sel;
    (void)capacity;
    return 0;
}

/* select_watch - set or clear the fd's bits; sel_register already
 * refused fd >= FD_SETSIZE, so FD_SET stays inside the set */
static int select_watch(struct selector *sel, int fd, int old_events, int new_events)
{
    struct select_state *st = sel->state;

    (void)old_events;
    if (new_events & SEL_READ)
        FD_SET(fd, &st->read_set);
    else
        FD_CLR(fd, &st->read_set);
    if (new_events & SEL_WRITE)
        FD_SET(fd, &st->write_set);
    else
        FD_CLR(fd, &st->write_set);
    return 0;
}

/* select_unwatch - clear both bits */
static void select_unwatch(struct selector *sel, int fd, int old_events)
{
    select_watch(sel, fd, old_events, 0);
}

/* select_wait - one select() call, then a scan of every fd up to max_fd:
 * the O(highest fd) cost that the benchmark measures */
static int select_wait(struct selector *sel, int timeout_ms)
{
    struct select_state *st = sel->state;
    fd_set readable = st->read_set, writable = st->write_set;
    struct timeval tv, *tvp = NULL;
    int ready_count, fired = 0;

    if (timeout_ms >= 0) {
        tv.tv_sec = timeout_ms / 1000;
        tv.tv_usec = (timeout_ms % 1000) * 1000;
        tvp = &tv;
    }
    ready_count = select(sel->max_fd + 1, &readable, &writable, NULL, tvp);
    if (ready_count <= 0)
        return ready_count;
    for (int fd = 0; fd <= sel->max_fd && fired < ready_count; fd++) {
        int mask = 0;

        if (FD_ISSET(fd, &readable))
            mask |= SEL_READ;
        if (FD_ISSET(fd, &writable))
            mask |= SEL_WRITE;
        if (mask != 0) {
            sel->fired[fired].fd = fd;
            sel->fired[fired].mask = mask;
            fired++;
        }
    }
    return fired;
}

static const struct sel_backend select_backend = {
    "select", FD_SETSIZE, select_create, select_destroy, select_resize,
    select_watch, select_unwatch, select_wait,
};

/* ---- the poll(2) backend --------------------------------------------- */

/* poll wants a dense array of pollfd; slot_of[fd] says where fd sits in
 * it, so that watch and unwatch need no search. */
struct poll_state {
    struct pollfd *fds;         /* count entries in use */
    int *slot_of;               /* indexed by fd; -1 = not in fds */
    int size;                   /* entries allocated in both */
};

/* poll_resize - grow both arrays to capacity */
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

/* poll_create - empty arrays, sized like the key table */
static int poll_create(struct selector *sel)
{
    struct poll_state *st = calloc(1, sizeof *st);

    if (st == NULL)
        return -1;
    sel->state = st;
    return poll_resize(sel, sel->capacity);
}

/* poll_destroy - free the arrays */
static void poll_destroy(struct selector *sel)
{
    struct poll_state *st = sel->state;

    free(st->fds);
    free(st->slot_of);
    free(st);
}

/* poll_watch - add the fd at the end of the array, or change its events */
static int poll_watch(struct selector *sel, int fd, int old_events, int new_events)
{
    struct poll_state *st = sel->state;
    int slot = st->slot_of[fd];

    (void)old_events;
    if (slot == -1) {
        slot = sel->count;      /* sel_register counts it after this call */
        st->slot_of[fd] = slot;
        st->fds[slot].fd = fd;
    }
    st->fds[slot].events = (short)(((new_events & SEL_READ) ? POLLIN : 0)
                                   | ((new_events & SEL_WRITE) ? POLLOUT : 0));
    st->fds[slot].revents = 0;
    return 0;
}

/* poll_unwatch - move the last entry into the freed slot (order does not
 * matter to poll) */
static void poll_unwatch(struct selector *sel, int fd, int old_events)
{
    struct poll_state *st = sel->state;
    int slot = st->slot_of[fd], last = sel->count - 1;

    (void)old_events;
    st->fds[slot] = st->fds[last];
    st->slot_of[st->fds[slot].fd] = slot;
    st->slot_of[fd] = -1;
}

/* poll_wait - one poll() call, then a scan of every registered entry.
 * POLLERR and POLLHUP arrive whatever we asked for; they are reported as
 * both events so that the read or write callback meets the error in its
 * own recv() or send() (what Python's PollSelector does too). */
static int poll_wait(struct selector *sel, int timeout_ms)
{
    struct poll_state *st = sel->state;
    int ready_count, fired = 0;

    ready_count = poll(st->fds, (nfds_t)sel->count, timeout_ms);
    if (ready_count <= 0)
        return ready_count;
    for (int i = 0; i < sel->count && fired < ready_count; i++) {
        short revents = st->fds[i].revents;
        int mask = 0;

        if (revents == 0)
            continue;
        if (revents & (POLLIN | POLLERR | POLLHUP))
            mask |= SEL_READ;
        if (revents & (POLLOUT | POLLERR | POLLHUP))
            mask |= SEL_WRITE;
        if (revents & POLLNVAL)         /* closed while registered: a bug */
            mask |= SEL_READ | SEL_WRITE;
        sel->fired[fired].fd = st->fds[i].fd;
        sel->fired[fired].mask = mask;
        fired++;
    }
    return fired;
}

static const struct sel_backend poll_backend = {
    "poll", 1 << 30, poll_create, poll_destroy, poll_resize,
    poll_watch, poll_unwatch, poll_wait,
};

/* ---- the epoll(7) backend (Linux) ------------------------------------ */

/* The interest list lives in the kernel: watch and unwatch are
 * epoll_ctl calls, and epoll_wait returns only the ready descriptors,
 * so a wait costs O(ready), not O(registered). */
struct epoll_state {
    int epoll_fd;
    struct epoll_event *events; /* capacity entries, for epoll_wait */
};

/* epoll_resize - grow the result array */
static int epoll_resize(struct selector *sel, int capacity)
{
    struct epoll_state *st = sel->state;
    struct epoll_event *events = realloc(st->events, (size_t)capacity * sizeof *events);

    if (events == NULL)
        return -1;
    st->events = events;
    return 0;
}

/* epoll_create_backend - an epoll instance that a fork+exec does not
 * inherit (EPOLL_CLOEXEC: a child would otherwise hold it open) */
static int epoll_create_backend(struct selector *sel)
{
    struct epoll_state *st = calloc(1, sizeof *st);

    if (st == NULL)
        return -1;
    sel->state = st;
    st->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (st->epoll_fd == -1)
        return -1;
    return epoll_resize(sel, sel->capacity);
}

/* epoll_destroy - close the instance, free the array */
static void epoll_destroy(struct selector *sel)
{
    struct epoll_state *st = sel->state;

    if (st->epoll_fd >= 0)
        close(st->epoll_fd);
    free(st->events);
    free(st);
}

/* epoll_watch - EPOLL_CTL_ADD the first time, EPOLL_CTL_MOD after */
static int epoll_watch(struct selector *sel, int fd, int old_events, int new_events)
{
    struct epoll_state *st = sel->state;
    struct epoll_event ev;

    memset(&ev, 0, sizeof ev);
    ev.events = ((new_events & SEL_READ) ? EPOLLIN : 0u)
                | ((new_events & SEL_WRITE) ? EPOLLOUT : 0u)
                | ((sel->flags & SEL_EDGE) ? EPOLLET : 0u);
    ev.data.fd = fd;
    return epoll_ctl(st->epoll_fd, old_events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev);
}

/* epoll_unwatch - EPOLL_CTL_DEL; must come before close(fd), because the
 * kernel drops an fd from the interest list only when the last descriptor
 * of the open file is closed (a dup or a child would keep it there) */
static void epoll_unwatch(struct selector *sel, int fd, int old_events)
{
    struct epoll_state *st = sel->state;
    struct epoll_event ev;

    (void)old_events;
    memset(&ev, 0, sizeof ev);
    /* It fails only if fd is no longer in the list (closed too early):
     * then there is nothing left to remove. */
    if (epoll_ctl(st->epoll_fd, EPOLL_CTL_DEL, fd, &ev) == -1) {
        /* nothing to undo */
    }
}

/* epoll_wait_backend - one epoll_wait(); the kernel hands back only the
 * ready descriptors, so there is nothing to scan */
static int epoll_wait_backend(struct selector *sel, int timeout_ms)
{
    struct epoll_state *st = sel->state;
    int ready_count = epoll_wait(st->epoll_fd, st->events, sel->capacity, timeout_ms);

    for (int i = 0; i < ready_count; i++) {
        unsigned int revents = st->events[i].events;
        int mask = 0;

        if (revents & (EPOLLIN | EPOLLERR | EPOLLHUP))
            mask |= SEL_READ;
        if (revents & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            mask |= SEL_WRITE;
        sel->fired[i].fd = st->events[i].data.fd;
        sel->fired[i].mask = mask;
    }
    return ready_count;
}

static const struct sel_backend epoll_backend = {
    "epoll", 1 << 30, epoll_create_backend, epoll_destroy, epoll_resize,
    epoll_watch, epoll_unwatch, epoll_wait_backend,
};

/* ---- the selector ---------------------------------------------------- */

/* Best first: sel_new(NULL, ...) takes the first one, like DefaultSelector
 * preferring epoll over poll over select. */
static const struct sel_backend *const sel_backends[] = {
    &epoll_backend, &poll_backend, &select_backend,
};

#define SEL_INITIAL_CAPACITY 64

/* sel_free - release everything sel_new made (not the registered fds) */
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
 * or the best one for NULL; flags: SEL_EDGE (epoll only). NULL with
 * errno EINVAL for an unknown name or SEL_EDGE on another backend. */
static inline struct selector *sel_new(const char *backend_name, int flags)
{
    const struct sel_backend *backend = NULL;
    struct selector *sel;
    int saved_errno;

    for (size_t i = 0; i < sizeof sel_backends / sizeof sel_backends[0]; i++)
        if (backend_name == NULL || strcmp(backend_name, sel_backends[i]->name) == 0) {
            backend = sel_backends[i];
            break;
        }
    if (backend == NULL || ((flags & SEL_EDGE) && backend != &epoll_backend)) {
        errno = EINVAL;
        return NULL;
    }
    sel = calloc(1, sizeof *sel);
    if (sel == NULL)
        return NULL;
    sel->backend = backend;
    sel->flags = flags;
    sel->capacity = SEL_INITIAL_CAPACITY;
    sel->max_fd = -1;
    sel->keys = calloc((size_t)sel->capacity, sizeof *sel->keys);
    sel->fired = calloc((size_t)sel->capacity, sizeof *sel->fired);
    if (sel->keys == NULL || sel->fired == NULL || backend->create(sel) == -1) {
        saved_errno = errno;
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
    struct sel_key *key;

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
    key = &sel->keys[fd];
    key->fd = fd;
    key->events = events;
    key->callback = callback;
    key->data = data;
    key->fired_index = sel->fired_count;    /* no entry in this batch */
    sel->count++;
    if (fd > sel->max_fd)
        sel->max_fd = fd;
    return 0;
}

/* sel_modify - change the events fd waits for (non-zero); the kernel is
 * asked only when they change, since with epoll each change is a syscall */
static inline int sel_modify(struct selector *sel, int fd, int events)
{
    struct sel_key *key = sel_get_key(sel, fd);

    if (key == NULL || (events & (SEL_READ | SEL_WRITE)) == 0) {
        errno = key == NULL ? ENOENT : EINVAL;
        return -1;
    }
    if (events == key->events)
        return 0;
    if (sel->backend->watch(sel, fd, key->events, events) == -1)
        return -1;
    key->events = events;
    return 0;
}

/* sel_rearm - edge-triggered: ask the kernel to look at fd again. With
 * epoll, EPOLL_CTL_MOD checks the descriptor's state at once and, if it
 * is ready, queues an event for the next wait, edge or not. A callback
 * that stops before EAGAIN (to give other clients their turn) calls this,
 * or the bytes it left would never be reported. No-op for level-triggered
 * backends, which report a ready descriptor on every wait anyway. */
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

/* sel_unregister - stop watching fd (call it before close(fd)); if fd has
 * an entry in the batch being dispatched, cancel it: once closed, the
 * number may be reused at once, and the entry is not the new owner's */
static inline int sel_unregister(struct selector *sel, int fd)
{
    struct sel_key *key = sel_get_key(sel, fd);
    int index;

    if (key == NULL) {
        errno = ENOENT;
        return -1;
    }
    index = key->fired_index;
    if (index < sel->fired_count && sel->fired[index].fd == fd)
        sel->fired[index].fd = -1;      /* sel_get_key(-1) is NULL */
    sel->backend->unwatch(sel, fd, key->events);
    sel->count--;
    memset(key, 0, sizeof *key);
    while (sel->max_fd >= 0 && sel->keys[sel->max_fd].events == 0)
        sel->max_fd--;
    return 0;
}

/* sel_select - wait up to timeout_ms (-1: for ever) for registered
 * descriptors to become ready; fills sel->fired and returns how many, 0
 * on timeout or on a signal (EINTR: the caller checks its flags), -1 on
 * error. By the time an entry is dispatched, an earlier callback of the
 * same batch may have changed its key's events (keep only those it still
 * wants) or unregistered it (its fd is then -1, which sel_get_key
 * refuses, even if the number has been reused meanwhile). */
static inline int sel_select(struct selector *sel, int timeout_ms)
{
    int ready_count;

    sel->fired_count = 0;
    ready_count = sel->backend->wait(sel, timeout_ms);
    if (ready_count == -1 && errno == EINTR)
        return 0;
    for (int i = 0; i < ready_count; i++)   /* for sel_unregister */
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
