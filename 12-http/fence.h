/* fence.h - lesson 12's path fence: from a decoded path to an open file,
 * never outside the document root
 *
 * http_target_to_path() (http_parse.h) already resolved every ".." of
 * the request target, the first fence. It cannot see symbolic links: a
 * link in the root may point anywhere. The second fence is here, on the
 * file system, in one of two forms:
 *
 *   openat2_beneath()   Linux 5.6+: the kernel walks the path from the
 *                       root and refuses (EXDEV) every step out of it
 *   open_by_realpath()  anywhere else (and --no-openat2): realpath(),
 *                       then check that the result starts with the root;
 *                       NOTES.md section 9 shows the window it leaves
 *
 * set_root() opens the root once at start-up and picks the form. The
 * server is single-threaded; this state is its own.
 */
#ifndef FENCE_H
#define FENCE_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../lib/lab.h"

static char root_dir[PATH_MAX];        /* realpath() of the document root */
static int root_fd = -1;               /* the root, for openat2() */

/* openat2_beneath - open rel under the root in one system call: with
 * RESOLVE_BENEATH the kernel itself refuses (EXDEV) any step that would
 * leave the root while it walks the path: a "..", a link that climbs out,
 * every absolute link. RESOLVE_NO_MAGICLINKS refuses /proc's links too.
 * Linux 5.6+, no glibc wrapper. EAGAIN: a rename raced; try again. */
static int openat2_beneath(const char *rel, int flags)
{
    struct open_how how = {.flags = (unsigned long long)flags,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    int fd, tries = 0;

    do
        fd = (int)syscall(SYS_openat2, root_fd, rel, &how, sizeof how);
    while (fd == -1 && errno == EAGAIN && ++tries < 3);
    return fd;
}

/* open_by_realpath - the plain fence, where openat2() is missing */
static int open_by_realpath(const char *rel, int flags)
{
    /* LAB-BEGIN realpath-fence: the plain path fence: realpath() the relative
     * path (the current folder is the root); it must be the root or below it:
     * the root's path then a '/' or the end (/srv/www-old starts with /srv/www
     * too). Outside: EXDEV, -1. Inside: open() what realpath() returned, with
     * flags. See NOTES.md section 2, the path fence, and section 9 on its window.
     * Stub: (void)rel; (void)flags; errno = EXDEV; return -1;
     * Tests: no-openat2
     */
    char resolved[PATH_MAX];
    size_t root_len = strcmp(root_dir, "/") == 0 ? 0 : strlen(root_dir);

    if (realpath(rel, resolved) == NULL)
        return -1;
    if (strncmp(resolved, root_dir, root_len) != 0
        || (resolved[root_len] != '\0' && resolved[root_len] != '/')) {
        errno = EXDEV;
        return -1;
    }
    return open(resolved, flags);
    /* LAB-END realpath-fence */
}

/* The fence in use: openat2_beneath, or open_by_realpath (--no-openat2, old kernel) */
static int (*open_beneath)(const char *rel, int flags) = openat2_beneath;

/* open_under_root - open ROOT/rel (decoded, normalised) if it stays
 * inside the root; the descriptor with *st filled in, or -1 with *status
 * set (403, 404, 414, 500, 503) */
static int open_under_root(const char *rel, struct stat *st, int *status)
{
    const char *path = rel[0] ? rel : ".";
    /* O_NONBLOCK: opening a FIFO left in the root must not hang us all */
    int fd = open_beneath(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

    /* A folder we may enter but not list (mode 0711) refuses O_RDONLY;
     * we only look inside it for index.html, and O_PATH needs no more
     * than search permission. A file we may not read stays refused. */
    if (fd == -1 && errno == EACCES) {
        fd = open_beneath(path, O_PATH | O_CLOEXEC);
        if (fd != -1 && (fstat(fd, st) == -1 || !S_ISDIR(st->st_mode))) {
            close(fd);
            fd = -1;
            errno = EACCES;
        }
    }
    if (fd == -1) {                         /* (note() keeps errno) */
        if (errno == EXDEV)                 /* logged even with -q: an attack */
            note("refused a path that leads outside the root");
        *status = (errno == EXDEV || errno == EACCES || errno == ELOOP) ? 403
                  : errno == ENAMETOOLONG ? 414
                  : (errno == EMFILE || errno == ENFILE || errno == EAGAIN) ? 503 : 404;
        return -1;
    }
    if (fstat(fd, st) == -1) {
        close(fd);
        return *status = 500, -1;
    }
    return fd;
}

/* set_root - the document root: -r ROOT, or www/ beside the executable
 * (/proc/self/exe: ./server works from any folder); exit 1 if it is not a
 * folder. Then openat2() once: where the kernel lacks it, use realpath(). */
static void set_root(const char *root)
{
    char exe[PATH_MAX], guess[PATH_MAX + 8];
    int fd = -1;

    if (root == NULL) {
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n == -1)
            die("readlink /proc/self/exe");
        exe[n] = '\0';
        *strrchr(exe, '/') = '\0';          /* the kernel's path is absolute */
        snprintf(guess, sizeof guess, "%s/www", exe);
        root = guess;
    }
    if (realpath(root, root_dir) == NULL)
        die("document root %s", root);
    /* O_PATH: a handle to resolve paths from; a root of mode 0311 works */
    root_fd = open(root_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root_fd == -1)
        die("document root %s", root_dir);
    /* realpath() then checks only the components the client named */
    if (fchdir(root_fd) == -1)
        die("chdir %s", root_dir);
    if (open_beneath == openat2_beneath && (fd = openat2_beneath(".", O_PATH)) == -1) {
        if (errno != ENOSYS && errno != EPERM)  /* Linux < 5.6, a seccomp filter */
            die("openat2 %s", root_dir);
        warn("openat2 unavailable, using realpath() instead");
        open_beneath = open_by_realpath;
    }
    if (fd != -1)
        close(fd);
}

#endif /* FENCE_H */
