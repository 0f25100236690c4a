/* server.c - the seed's ticket office: one process per buyer, one data file
 *
 * The count of tickets lives in a small JSON file, {"ticket_num": N}, as in
 * the seed. Every buyer is served by a process of its own (fork per
 * connection), and every BUY reads the file, waits a moment (the seed's
 * simulated network delay), then writes the file back with one ticket
 * fewer. Read, wait, write: between the read and the write another buyer
 * may read the same count, and then two buyers are sold the same ticket.
 * That is a race on shared data, and the cure is the seed's: turn the
 * critical section into a queue of one with a lock that every buyer
 * process respects.
 *
 * Processes share no memory, so the lock must live where all of them can
 * see it. This server uses a POSIX record lock (fcntl F_SETLKW) on a
 * separate lock file, FILE.lock, beside the data file. Why a separate
 * file: the data file is replaced on every sale (write a temporary file,
 * fsync it, rename it over the old one) so that a reader or a crash never
 * sees half a file; a lock taken on the data file itself would stay on the
 * old inode, and the next buyer would open, and lock, the new one. The
 * lock file is never replaced, so its lock guards every generation of the
 * data file. The kernel drops a record lock when its process dies, so a
 * buyer killed in the middle of a purchase cannot wedge the others.
 *
 * --no-lock skips the lock so the class can watch tickets oversell.
 * SIGUSR1 ends the delay of every buyer that has already read its count
 * ("the network answers now"), so an instructor or a test can let a race
 * happen exactly when it chooses, without depending on timing.
 *
 * Protocol (lines ending in \n, \r\n accepted):
 *   SEARCH -> TICKETS <n>       BUY -> OK <n left> | SOLD OUT
 *   anything else -> ERROR <reason>, and the connection stays usable
 *
 * Usage: ./server [-H ADDR] [-p PORT] [-t N] [-f FILE] [--delay MS] [--no-lock]
 *        (defaults: 127.0.0.1, 9008, 5 tickets, tickets.json, 100 ms, locked)
 *
 * See also: client.c (concurrent buyers), money.c (the same race between
 * threads), NOTES.md.
 * Seed: 004 (the mutex between processes: ticket buying with a data file).
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_PORT "9008"
#define DEFAULT_FILE "tickets.json"
#define BACKLOG 128
#define BUF_SIZE 4096
#define LINE_MAX_LEN 256            /* a request longer than this is refused */
#define MAX_BUYERS 4096             /* buyer processes alive at once */
#define NOTE_MAX 512
#define ADDR_LEN (INET6_ADDRSTRLEN + 8)

static const char *prog_name = "server";

/* Everything a buyer process needs to know, set once from the options. */
struct office {
    const char *data_path;          /* the JSON data file */
    int lock_fd;                    /* the lock file, -1 with --no-lock */
    long delay_ms;                  /* simulated network delay, up to this */
};

/* Written by the signal handlers, read by the loops. */
static volatile sig_atomic_t stop_requested = 0;
static volatile sig_atomic_t listen_fd_for_signal = -1;

/* The parent's table of live buyer processes, so that it can end them. */
static pid_t buyers[MAX_BUYERS];
static int buyer_count = 0;

/* log_line - one whole line on stderr: "server: message[: reason]"
 * Built first and written with one fprintf (one write() on unbuffered
 * stderr), so lines from several processes never interleave mid-line.
 * That matters here: every buyer process writes to the server's stderr,
 * and a line written with several calls could be cut by another's. */
static void log_line(int errnum, const char *fmt, va_list ap)
{
    char msg[NOTE_MAX];

    vsnprintf(msg, sizeof msg, fmt, ap);
    if (errnum != 0)
        fprintf(stderr, "%s: %s: %s\n", prog_name, msg, strerror(errnum));
    else
        fprintf(stderr, "%s: %s\n", prog_name, msg);
}

/* die - report a setup failure with the reason from errno, exit 1 */
static void die(const char *fmt, ...)
{
    int saved_errno = errno;
    va_list ap;

    va_start(ap, fmt);
    log_line(saved_errno, fmt, ap);
    va_end(ap);
    exit(1);
}

/* warn - report one buyer's trouble with the reason from errno */
static void warn(const char *fmt, ...)
{
    int saved_errno = errno;
    va_list ap;

    va_start(ap, fmt);
    log_line(saved_errno, fmt, ap);
    va_end(ap);
    errno = saved_errno;        /* the caller may still look at it (accept_loop) */
}

/* note - one line on stderr about an event */
static void note(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_line(0, fmt, ap);
    va_end(ap);
}

/* usage - print the command line; exit with status */
static void usage(FILE *out, int status)
{
    fprintf(out,
            "Usage: %s [-H ADDR] [-p PORT] [-t N] [-f FILE] [--delay MS] [--no-lock]\n"
            "  -H ADDR     address to listen on (default 127.0.0.1)\n"
            "  -p PORT     port to listen on, 0 = any free port (default %s)\n"
            "  -t N        write a fresh data file holding N tickets (default 5)\n"
            "  -f FILE     the data file (default %s; the lock file is FILE.lock)\n"
            "  --delay MS  wait up to MS ms between reading and writing the count\n"
            "              (the seed's network delay; default 100)\n"
            "  --no-lock   no lock around read-wait-write: watch tickets oversell\n"
            "  -h, --help  show this help\n"
            "Requests: SEARCH -> TICKETS n; BUY -> OK n | SOLD OUT; else ERROR reason.\n"
            "SIGUSR1 ends the delay of every buyer that has read its count.\n",
            prog_name, DEFAULT_PORT, DEFAULT_FILE);
    exit(status);
}

/* on_stop_signal - SIGINT/SIGTERM in the parent: set the flag, wake accept() */
static void on_stop_signal(int signo)
{
    int saved_errno = errno;

    (void)signo;
    stop_requested = 1;
    if (listen_fd_for_signal >= 0)
        shutdown(listen_fd_for_signal, SHUT_RDWR);
    errno = saved_errno;
}

/* on_wake_signal - SIGUSR1's disposition in a buyer; never runs (SIGUSR1
 * is kept blocked there and taken by sigtimedwait). It exists because
 * POSIX leaves it unspecified whether a blocked signal whose disposition
 * is SIG_IGN is discarded or kept pending (Linux keeps it; other systems
 * may not); with a handler it is kept pending everywhere. */
static void on_wake_signal(int signo)
{
    (void)signo;
}

/* forget_buyer - remove pid from the table of live buyers */
static void forget_buyer(pid_t pid)
{
    for (int i = 0; i < buyer_count; i++) {
        if (buyers[i] == pid) {
            buyers[i] = buyers[--buyer_count];
            return;
        }
    }
}

/* on_child_signal - SIGCHLD in the parent: reap every ended buyer (no
 * zombies) and forget it. waitpid() is async-signal-safe; the table is
 * safe to touch here because the main program blocks SIGCHLD whenever it
 * touches the table itself (start_buyer, stop_buyers). */
static void on_child_signal(int signo)
{
    int saved_errno = errno;
    pid_t pid;

    (void)signo;
    while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
        forget_buyer(pid);
    errno = saved_errno;
}

/* set_handler - install handler for signo without SA_RESTART */
static void set_handler(int signo, void (*handler)(int))
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;        /* no SA_RESTART: blocked calls return EINTR */
    if (sigaction(signo, &sa, NULL) == -1)
        die("sigaction");
}

/* install_signals - the parent's signals: stop on SIGINT/SIGTERM, reap on
 * SIGCHLD, ignore SIGUSR1 (meant for buyers) and SIGPIPE */
static void install_signals(void)
{
    set_handler(SIGINT, on_stop_signal);
    set_handler(SIGTERM, on_stop_signal);
    set_handler(SIGCHLD, on_child_signal);
    set_handler(SIGUSR1, SIG_IGN);
    /* A buyer gone away makes send() fail with EPIPE instead of killing. */
    set_handler(SIGPIPE, SIG_IGN);
}

/* format_addr - "host:port" of a socket address, into buf */
static void format_addr(const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
    char host[INET6_ADDRSTRLEN], port[8];

    if (getnameinfo(sa, len, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        snprintf(buf, size, "?:?");
    else
        snprintf(buf, size, "%s:%s", host, port);
}

/* open_listener - socket, SO_REUSEADDR, bind, listen; exit 1 on failure */
static int open_listener(const char *host, const char *port)
{
    struct addrinfo hints, *res;
    int listen_fd, one = 1, rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "%s: bad address %s:%s: %s\n", prog_name, host, port,
                gai_strerror(rc));
        exit(1);
    }

    listen_fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (listen_fd == -1)
        die("socket");
    if (setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1)
        die("setsockopt SO_REUSEADDR");
    if (bind(listen_fd, res->ai_addr, res->ai_addrlen) == -1)
        die("bind %s:%s", host, port);
    freeaddrinfo(res);
    if (listen(listen_fd, BACKLOG) == -1)
        die("listen");
    return listen_fd;
}

/* print_ready_line - "listening on ADDR:PORT" on stdout, with the real port */
static void print_ready_line(int listen_fd)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    char where[ADDR_LEN];

    if (getsockname(listen_fd, (struct sockaddr *)&addr, &len) == -1)
        die("getsockname");
    format_addr((struct sockaddr *)&addr, len, where, sizeof where);
    printf("listening on %s\n", where);
    fflush(stdout);
}

/* send_all - send every byte of buf, looping over partial sends and EINTR;
 * 0 on success, -1 with errno set */
static int send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

        if (n == -1) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* parse_count - a whole decimal number in [min, max], or -1 */
static long parse_count(const char *text, long min, long max)
{
    char *end;
    long value;

    errno = 0;
    value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < min || value > max)
        return -1;
    return value;
}

/* --- the data file ------------------------------------------------------ */

/* write_all - write every byte of buf to a file, looping over partial
 * writes and EINTR; 0 on success, -1 with errno set */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n == -1) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* read_ticket_count - the ticket_num of the JSON data file, or -1 with errno
 *
 * Reads the file as it is now. The file is only ever replaced by rename(),
 * so this sees the old contents or the new, never a mixture. */
static long read_ticket_count(const char *path)
{
    char text[256], *key, *end;
    ssize_t len;
    long count;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd == -1)
        return -1;
    len = read(fd, text, sizeof text - 1);
    close(fd);
    if (len == -1)
        return -1;
    text[len] = '\0';
    /* A small tolerant reader for {"ticket_num": N}: the key, a colon,
     * a number. */
    key = strstr(text, "\"ticket_num\"");
    if (key == NULL || (key = strchr(key, ':')) == NULL) {
        errno = EINVAL;
        return -1;
    }
    errno = 0;
    count = strtol(key + 1, &end, 10);
    if (errno != 0 || end == key + 1 || count < 0) {
        errno = EINVAL;
        return -1;
    }
    return count;
}

/* replace_data_file - replace the data file with {"ticket_num": count}
 *
 * Written to a fresh temporary file in the same folder, flushed to disk
 * with fsync(), then renamed over the data file. rename() within one file
 * system is atomic: any reader opens either the old file or the new one,
 * and a crash (or kill -9) at any instant leaves one of the two whole.
 * Returns 0, or -1 with errno set. */
static int replace_data_file(const char *path, long count)
{
    char tmp_path[4096], text[64];
    int fd, len, saved_errno;

    if (snprintf(tmp_path, sizeof tmp_path, "%s.XXXXXX", path) >= (int)sizeof tmp_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    len = snprintf(text, sizeof text, "{\"ticket_num\": %ld}\n", count);
    fd = mkstemp(tmp_path);          /* unique name: writers never share it */
    if (fd == -1)
        return -1;
    if (fchmod(fd, 0644) == -1 || write_all(fd, text, (size_t)len) == -1
        || fsync(fd) == -1) {
        saved_errno = errno;
        close(fd);
        unlink(tmp_path);
        errno = saved_errno;
        return -1;
    }
    if (close(fd) == -1 || rename(tmp_path, path) == -1) {
        saved_errno = errno;
        unlink(tmp_path);
        errno = saved_errno;
        return -1;
    }
    return 0;
}

/* write_ticket_count - replace_data_file() with SIGINT and SIGTERM held
 * back while the temporary file exists. They kill a buyer at once (the
 * default action); held, they wait until the new file is renamed into
 * place, so stopping the server never leaves a tickets.json.XXXXXX behind
 * (only kill -9 could). 0, or -1 with errno set. */
static int write_ticket_count(const char *path, long count)
{
    sigset_t stop_signals, old_mask;
    int rc, saved_errno;

    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    sigprocmask(SIG_BLOCK, &stop_signals, &old_mask);
    rc = replace_data_file(path, count);
    saved_errno = errno;
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    errno = saved_errno;
    return rc;
}

/* --- one buyer's process ------------------------------------------------- */

/* set_lock - take (F_WRLCK) or drop (F_UNLCK) the record lock on the whole
 * lock file; F_SETLKW sleeps while another process holds it. 0, or -1 */
static int set_lock(int lock_fd, short type)
{
    struct flock fl;

    memset(&fl, 0, sizeof fl);
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = 0;
    fl.l_len = 0;                   /* 0 = to the end of the file, however long */
    while (fcntl(lock_fd, F_SETLKW, &fl) == -1) {
        if (errno != EINTR)
            return -1;
    }
    return 0;
}

/* wake_signals - the set holding SIGUSR1, the signal that ends a delay */
static sigset_t wake_signals(void)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    return set;
}

/* forget_wake_signals - discard a SIGUSR1 left pending from earlier (one
 * meant for the buyer that held the lock before us), so that only a
 * SIGUSR1 sent after this buyer has read the count can end its delay */
static void forget_wake_signals(void)
{
    static const struct timespec no_wait = {0, 0};
    sigset_t set = wake_signals();

    while (sigtimedwait(&set, NULL, &no_wait) > 0)
        continue;
}

/* simulate_delay - wait between ms/2 and ms milliseconds, at random (the
 * seed's time.sleep(random.randint(1, 3))), or until a SIGUSR1 comes.
 *
 * SIGUSR1 stays blocked in a buyer process and sigtimedwait() takes it:
 * a blocked signal waits, pending, so one sent just before this call is
 * not lost (a handler plus nanosleep() would lose it in that gap). */
static void simulate_delay(long ms)
{
    static unsigned long state = 0;
    struct timespec pause;
    sigset_t set = wake_signals();
    long wait_ms;

    if (ms <= 0)
        return;
    if (state == 0)
        state = (unsigned long)getpid() * 2654435761UL + (unsigned long)time(NULL);
    state = state * 6364136223846793005UL + 1442695040888963407UL;
    wait_ms = ms / 2 + (long)((state >> 33) % (unsigned long)(ms - ms / 2 + 1));
    pause.tv_sec = wait_ms / 1000;
    pause.tv_nsec = (wait_ms % 1000) * 1000000L;
    /* EAGAIN: the time is up; a signal number: SIGUSR1 ended it early. */
    sigtimedwait(&set, NULL, &pause);
}

/* buy_ticket - the critical section: read the count, wait, write it back
 * with one fewer; the reply goes into reply */
static void buy_ticket(const struct office *office, char *reply, size_t size)
{
    long me = (long)getpid(), count;
    int locked = office->lock_fd >= 0;

    if (locked && set_lock(office->lock_fd, F_WRLCK) == -1) {
        warn("pid %ld: lock %s.lock", me, office->data_path);
        snprintf(reply, size, "ERROR cannot lock the data file\n");
        return;
    }
    forget_wake_signals();
    count = read_ticket_count(office->data_path);
    if (count == -1) {
        warn("pid %ld: read %s", me, office->data_path);
        snprintf(reply, size, "ERROR cannot read the data file\n");
    } else {
        note("pid %ld: %s ticket_num=%ld%s", me, locked ? "lock taken, read" : "read",
             count, locked ? "" : " (no lock)");
        simulate_delay(office->delay_ms);
        if (count == 0) {
            note("pid %ld: none left, sold out", me);
            snprintf(reply, size, "SOLD OUT\n");
        } else if (write_ticket_count(office->data_path, count - 1) == -1) {
            warn("pid %ld: write %s", me, office->data_path);
            snprintf(reply, size, "ERROR cannot write the data file\n");
        } else {
            note("pid %ld: wrote ticket_num=%ld", me, count - 1);
            snprintf(reply, size, "OK %ld\n", count - 1);
        }
    }
    /* Unlocking is also what process exit does; doing it here lets the
     * next buyer in before this one has even sent its reply. */
    if (locked && set_lock(office->lock_fd, F_UNLCK) == -1)
        warn("pid %ld: unlock", me);
}

/* answer_request - the reply to one request line (without its \n) */
static void answer_request(const struct office *office, char *line, size_t len,
                           char *reply, size_t size)
{
    long count;

    if (len > 0 && line[len - 1] == '\r')
        len--;                              /* \r\n is accepted */
    if (len == 6 && memcmp(line, "SEARCH", 6) == 0) {
        count = read_ticket_count(office->data_path);   /* no lock: a look */
        if (count == -1) {
            warn("pid %ld: read %s", (long)getpid(), office->data_path);
            snprintf(reply, size, "ERROR cannot read the data file\n");
        } else {
            snprintf(reply, size, "TICKETS %ld\n", count);
        }
    } else if (len == 3 && memcmp(line, "BUY", 3) == 0) {
        buy_ticket(office, reply, size);
    } else if (len == 0) {
        snprintf(reply, size, "ERROR empty request (try SEARCH or BUY)\n");
    } else {
        snprintf(reply, size, "ERROR unknown request (try SEARCH or BUY)\n");
    }
}

/* serve_buyer - the communication loop: split what arrives into lines and
 * answer each. A line longer than LINE_MAX_LEN gets one ERROR and the rest
 * of it is skipped up to its \n; the connection goes on. Returns the
 * number of tickets this buyer was sold. */
static long serve_buyer(int conn_fd, const struct office *office)
{
    char buf[BUF_SIZE], line[LINE_MAX_LEN], reply[128];
    size_t line_len = 0;
    int skipping = 0;               /* inside an overlong line */
    long bought = 0;

    for (;;) {
        ssize_t n = recv(conn_fd, buf, sizeof buf, 0);

        if (n == -1 && errno == EINTR)
            continue;               /* no handler runs here; be safe anyway */
        if (n == -1) {
            warn("pid %ld: recv", (long)getpid());
            return bought;
        }
        if (n == 0) {
            /* End of file: a last request without its \n still counts. */
            if (line_len > 0 && !skipping) {
                answer_request(office, line, line_len, reply, sizeof reply);
                bought += strncmp(reply, "OK ", 3) == 0;
                if (send_all(conn_fd, reply, strlen(reply)) == -1)
                    warn("pid %ld: send", (long)getpid());
            }
            return bought;
        }
        for (ssize_t i = 0; i < n; i++) {
            reply[0] = '\0';
            if (buf[i] == '\n') {
                if (!skipping)
                    answer_request(office, line, line_len, reply, sizeof reply);
                line_len = 0;
                skipping = 0;
            } else if (skipping) {
                continue;
            } else if (line_len == sizeof line) {
                snprintf(reply, sizeof reply, "ERROR request too long (max %d bytes)\n",
                         LINE_MAX_LEN);
                skipping = 1;
            } else {
                line[line_len++] = buf[i];
            }
            if (reply[0] == '\0')
                continue;
            bought += strncmp(reply, "OK ", 3) == 0;
            if (send_all(conn_fd, reply, strlen(reply)) == -1) {
                /* The buyer hung up mid-purchase: a sale already written
                 * stays written (the ticket is gone, like a paid order
                 * whose receipt was lost); nobody else is affected. */
                warn("pid %ld: send (buyer left)", (long)getpid());
                return bought;
            }
        }
    }
}

/* run_buyer_process - the child's whole life: serve one buyer, exit.
 * Called with SIGCHLD/SIGINT/SIGTERM/SIGUSR1 blocked (see start_buyer). */
static void run_buyer_process(int conn_fd, int listen_fd, const struct office *office,
                              const char *peer)
{
    sigset_t blocked;
    long bought;

    close(listen_fd);               /* only the parent accepts */
    /* SIGINT/SIGTERM kill a buyer at once (the default action; held back
     * only while write_ticket_count() has a temporary file): the data
     * file is always whole thanks to rename(), and the kernel releases
     * the lock of a dead process. SIGUSR1 stays blocked and is taken by
     * sigtimedwait() in simulate_delay(); it gets a handler rather than
     * the parent's SIG_IGN, because a blocked signal that is ignored may
     * be discarded instead of kept pending (POSIX leaves it open). */
    set_handler(SIGINT, SIG_DFL);
    set_handler(SIGTERM, SIG_DFL);
    set_handler(SIGCHLD, SIG_DFL);
    set_handler(SIGUSR1, on_wake_signal);
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGCHLD);
    sigaddset(&blocked, SIGINT);
    sigaddset(&blocked, SIGTERM);
    sigprocmask(SIG_UNBLOCK, &blocked, NULL);

    note("connection from %s (buyer pid %ld)", peer, (long)getpid());
    bought = serve_buyer(conn_fd, office);
    note("closed %s (pid %ld, bought %ld)", peer, (long)getpid(), bought);
    close(conn_fd);
    _exit(0);
}

/* --- the parent: accept, fork, reap -------------------------------------- */

/* start_buyer - fork a process to serve conn_fd and remember its pid */
static void start_buyer(int conn_fd, int listen_fd, const struct office *office,
                        const char *peer)
{
    static const char busy[] = "ERROR server busy, try again later\n";
    sigset_t held_signals, old_mask;
    pid_t pid;

    /* Hold back these signals while we fork and update the table; they
     * wait, pending, until the mask is restored:
     *   SIGCHLD, so its handler never edits the table under our feet
     *     (a buyer that ends at once is forgotten after it is added);
     *   SIGINT/SIGTERM, so a new child never runs the parent's handler
     *     (it would shut down the shared listening socket) before it has
     *     installed its own; SIGUSR1 stays blocked in the child for good. */
    sigemptyset(&held_signals);
    sigaddset(&held_signals, SIGCHLD);
    sigaddset(&held_signals, SIGINT);
    sigaddset(&held_signals, SIGTERM);
    sigaddset(&held_signals, SIGUSR1);
    sigprocmask(SIG_BLOCK, &held_signals, &old_mask);
    if (buyer_count == MAX_BUYERS) {
        note("refused %s: %d buyers already", peer, MAX_BUYERS);
        send_all(conn_fd, busy, sizeof busy - 1);
        sigprocmask(SIG_SETMASK, &old_mask, NULL);
        return;
    }
    pid = fork();
    if (pid == 0)
        run_buyer_process(conn_fd, listen_fd, office, peer);    /* never returns */
    if (pid == -1) {
        warn("fork for %s", peer);
        send_all(conn_fd, busy, sizeof busy - 1);
    } else {
        buyers[buyer_count++] = pid;
    }
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
}

/* stop_buyers - SIGTERM every buyer process still alive and wait for each */
static void stop_buyers(void)
{
    sigset_t child_signal;

    /* From here on main reaps by itself: the handler must not take a
     * child out of the table, or from under waitpid(). */
    sigemptyset(&child_signal);
    sigaddset(&child_signal, SIGCHLD);
    sigprocmask(SIG_BLOCK, &child_signal, NULL);
    for (int i = 0; i < buyer_count; i++)
        kill(buyers[i], SIGTERM);
    for (int i = 0; i < buyer_count; i++)
        while (waitpid(buyers[i], NULL, 0) == -1 && errno == EINTR)
            continue;
    buyer_count = 0;
}

/* accept_loop - the connection loop: one new process per buyer (ended
 * ones are reaped by on_child_signal, which makes accept() fail with
 * EINTR: no SA_RESTART) */
static void accept_loop(int listen_fd, const struct office *office)
{
    static const struct timespec fd_pause = {0, 100 * 1000000L};

    while (!stop_requested) {
        struct sockaddr_storage peer_addr;
        socklen_t peer_len = sizeof peer_addr;
        char peer[ADDR_LEN];
        int conn_fd;

        conn_fd = accept(listen_fd, (struct sockaddr *)&peer_addr, &peer_len);
        if (conn_fd == -1) {
            if (stop_requested || errno == EINTR || errno == ECONNABORTED)
                continue;
            warn("accept");
            /* Out of descriptors: the connection stays queued and accept()
             * would fail again at once; pause instead of spinning. */
            if (errno == EMFILE || errno == ENFILE)
                nanosleep(&fd_pause, NULL);
            continue;
        }
        format_addr((struct sockaddr *)&peer_addr, peer_len, peer, sizeof peer);
        start_buyer(conn_fd, listen_fd, office, peer);
        close(conn_fd);             /* the child has its own copy */
    }
}

/* parse_options - fill office and the rest from the command line; exit 2
 * with the usage on a bad option */
static void parse_options(int argc, char *argv[], const char **host, const char **port,
                          long *tickets, struct office *office, int *use_lock)
{
    static const struct option long_options[] = {
        {"delay", required_argument, NULL, 'd'},
        {"no-lock", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int opt;

    while ((opt = getopt_long(argc, argv, "H:p:t:f:h", long_options, NULL)) != -1) {
        switch (opt) {
        case 'H': *host = optarg; break;
        case 'p': *port = optarg; break;
        case 'f': office->data_path = optarg; break;
        case 'n': *use_lock = 0; break;
        case 'h': usage(stdout, 0); break;
        case 't':
            if ((*tickets = parse_count(optarg, 0, 1000000000L)) == -1) {
                fprintf(stderr, "%s: bad ticket count '%s'\n", prog_name, optarg);
                usage(stderr, 2);
            }
            break;
        case 'd':
            if ((office->delay_ms = parse_count(optarg, 0, 3600000L)) == -1) {
                fprintf(stderr, "%s: bad delay '%s' (0 to 3600000 ms)\n", prog_name, optarg);
                usage(stderr, 2);
            }
            break;
        default: usage(stderr, 2);          /* getopt printed the reason */
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", prog_name, argv[optind]);
        usage(stderr, 2);
    }
    if (parse_count(*port, 0, 65535) == -1) {
        fprintf(stderr, "%s: bad port '%s'\n", prog_name, *port);
        usage(stderr, 2);
    }
    if (office->data_path[0] == '\0') {
        fprintf(stderr, "%s: empty data file name\n", prog_name);
        usage(stderr, 2);
    }
}

int main(int argc, char *argv[])
{
    struct office office = {DEFAULT_FILE, -1, 100};
    const char *host = "127.0.0.1", *port = DEFAULT_PORT;
    char lock_path[4096];
    long tickets = 5;
    int use_lock = 1, listen_fd;

    parse_options(argc, argv, &host, &port, &tickets, &office, &use_lock);
    install_signals();
    /* Bind first: a second server on a busy port must not reset the data
     * file of the one already running. */
    listen_fd = open_listener(host, port);
    listen_fd_for_signal = listen_fd;

    if (write_ticket_count(office.data_path, tickets) == -1)
        die("data file %s", office.data_path);
    if (use_lock) {
        /* The lock file is created once and never replaced or removed:
         * removing it while a buyer waits on it would let the next buyer
         * lock a new file and enter beside the first. Every buyer inherits
         * this descriptor; that is fine for fcntl() locks, which belong to
         * a process, but a flock() through it would be ONE lock shared by
         * all the buyers (flock locks belong to the open file description
         * the children inherit), so with flock each buyer must open the
         * file itself. */
        snprintf(lock_path, sizeof lock_path, "%s.lock", office.data_path);
        office.lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (office.lock_fd == -1)
            die("lock file %s", lock_path);
    }
    note("%ld tickets in %s, delay up to %ld ms, %s%s", tickets, office.data_path,
         office.delay_ms, use_lock ? "fcntl lock on " : "NO LOCK",
         use_lock ? lock_path : "");
    print_ready_line(listen_fd);

    accept_loop(listen_fd, &office);

    note("stopping");
    close(listen_fd);
    stop_buyers();
    if (office.lock_fd >= 0)
        close(office.lock_fd);
    return 0;
}
