/* server.c - the ticket office of the Python notes: a process per buyer,
 * one data file, and a lock around its read-modify-write
 *
 * The count of tickets lives in a JSON file, {"ticket_num": N}, as in the
 * Python version. A process of its own serves each buyer; every BUY reads the
 * file, waits a moment (the simulated network delay), then writes it back one
 * ticket fewer. Between the read and the write another buyer may read the
 * same count: two buyers are sold the same ticket, a race on shared data. The
 * cure is a lock each buyer holds from its read to its write: a queue of one.
 *
 * Processes share no memory, so the lock lives in the kernel: a POSIX record
 * lock (fcntl F_SETLKW) on a lock file, FILE.lock, dropped by the kernel if
 * its holder dies. The data file is replaced on every sale (temporary file,
 * fsync, rename): no reader and no crash sees half of it. A restart keeps its
 * count, -t N resets it, a file that is not exactly {"ticket_num": N} stops
 * the start. --no-lock skips the lock so the class can watch tickets
 * oversell; SIGUSR1 ends the delay of every buyer that has read its count.
 *
 * Protocol (lines ending in \n, \r\n accepted):
 *   SEARCH -> TICKETS <n>       BUY -> OK <n left> | SOLD OUT
 *   anything else -> ERROR <reason>, and the connection stays usable
 *
 * Usage: ./server [-H ADDR] [-p PORT] [-t N] [-f FILE] [--delay MS] [--no-lock]
 *   (127.0.0.1, 9008, kept or 5 new tickets, tickets.json, 100 ms, locked)
 *
 * See also: client.c (the buyers), money.c (the same race between
 * threads), NOTES.md. Linux-specific: PR_SET_PDEATHSIG.
 * Python notes: 004 (the mutex between processes: buying tickets).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../lib/lab.h"

#define MAX_TICKETS 1000000000L     /* a count above this is not a count */
#define LINE_MAX_LEN 256            /* a request longer than this is refused */
#define PATH_LEN 4096

/* The office, set once at start: every buyer process gets a copy. */
static const char *data_path = "tickets.json";     /* the JSON data file */
static int lock_fd = -1;            /* the lock file, -1 with --no-lock */
static long delay_ms = 100;         /* simulated network delay, up to this */

static long read_ticket_count(const char *path);            /* below */
static int write_ticket_count(const char *path, long count);
static void simulate_delay(long ms);

/* ---- The critical section: read, wait, write, under the lock ---------- */

/* set_lock - take (F_WRLCK) or drop (F_UNLCK) the lock on the whole lock
 * file (l_len 0: to its end); F_SETLKW sleeps while another holds it */
static int set_lock(int fd, short type)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};

    while (fcntl(fd, F_SETLKW, &fl) == -1)
        if (errno != EINTR)
            return -1;
    return 0;
}

/* buy_ticket - the Python version's mutex.acquire(), buy(), mutex.release() */
static void buy_ticket(char *reply, size_t size)
{
    /* LAB-BEGIN buy-ticket: take the lock (set_lock F_WRLCK, unless --no-lock);
     * read the count (read_ticket_count), note it, simulate_delay(delay_ms);
     * 0 left: reply SOLD OUT, else write count - 1 (write_ticket_count), reply
     * "OK N"; any failure: warn, reply ERROR. Unlock. See NOTES.md section 2.
     * Stub: (void)set_lock; (void)simulate_delay; snprintf(reply, size, "ERROR buy_ticket() is not written yet\n");
     * Tests: SEARCH, BUY
     */
    long me = (long)getpid(), count;
    int locked = lock_fd >= 0;

    if (locked && set_lock(lock_fd, F_WRLCK) == -1) {
        warn("pid %ld: lock %s.lock", me, data_path);
        snprintf(reply, size, "ERROR cannot lock the data file\n");
        return;
    }
    count = read_ticket_count(data_path);
    if (count == -1) {
        warn("pid %ld: read %s", me, data_path);
        snprintf(reply, size, "ERROR cannot read the data file\n");
    } else {
        note("pid %ld: %s ticket_num=%ld%s", me, locked ? "lock taken, read" : "read",
             count, locked ? "" : " (no lock)");
        simulate_delay(delay_ms);   /* without the lock, others read now */
        if (count == 0) {
            note("pid %ld: none left, sold out", me);
            snprintf(reply, size, "SOLD OUT\n");
        } else if (write_ticket_count(data_path, count - 1) == -1) {
            warn("pid %ld: write %s", me, data_path);
            snprintf(reply, size, "ERROR cannot write the data file\n");
        } else {
            note("pid %ld: wrote ticket_num=%ld", me, count - 1);
            snprintf(reply, size, "OK %ld\n", count - 1);
        }
    }
    /* (exit would unlock too; now, the next buyer need not wait for our reply) */
    if (locked && set_lock(lock_fd, F_UNLCK) == -1)
        warn("pid %ld: unlock", me);
    /* LAB-END buy-ticket */
}

/* ---- The data file: parsed strictly, replaced atomically -------------- */

/* parse_ticket_text - N of exactly {"ticket_num": N}, or -1. Blanks may come
 * between the parts; N is digits only (no sign), at most MAX_TICKETS; nothing
 * may follow the brace. In the format, a space skips any blanks, %*[0-9] skips
 * one or more digits, %n notes how far the scan got (set only if all matched). */
static long parse_ticket_text(const char *text)
{
    int digits = -1, digits_end = -1, end = -1;
    long count;

    sscanf(text, " { \"ticket_num\" : %n%*[0-9]%n } %n", &digits, &digits_end, &end);
    if (end == -1 || text[end] != '\0' || digits_end - digits > 10)
        return -1;                          /* "7abc", "-3", "", 99999999999 */
    count = strtol(text + digits, NULL, 10);
    return count <= MAX_TICKETS ? count : -1;
}

/* read_ticket_count - the count in the data file, or -1 with errno set
 * (EINVAL: not a ticket file); one read() of a file only ever renamed */
static long read_ticket_count(const char *path)
{
    char text[256];
    long count = -1;
    ssize_t len;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd == -1)
        return -1;
    len = read(fd, text, sizeof text - 1);
    close(fd);
    if (len == -1)
        return -1;
    text[len] = '\0';
    if (strlen(text) != (size_t)len || (count = parse_ticket_text(text)) == -1)
        errno = EINVAL;                     /* NUL bytes, or not a ticket file */
    return count;
}

/* write_ticket_count - rename() is atomic: a reader or a crash at any instant
 * finds the old file or the new one, whole; a stop waits, leaving no temp file */
static int write_ticket_count(const char *path, long count)
{
    /* LAB-BEGIN write-ticket-count: replace the data file atomically: with
     * SIGINT and SIGTERM blocked, write {"ticket_num": N}\n to a new file from
     * mkstemp("PATH.XXXXXX") (mode 0644), fsync(), close, rename() it over path;
     * on failure unlink it. Restore the mask. 0, or -1. See NOTES.md section 9.
     * Stub: (void)path; (void)count; errno = ENOSYS; return -1;
     * Tests: restart keeps
     */
    char tmp_path[PATH_LEN + 8];
    sigset_t stop_signals, old_mask;
    int fd, ok = 0;

    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    sigprocmask(SIG_BLOCK, &stop_signals, &old_mask);
    snprintf(tmp_path, sizeof tmp_path, "%s.XXXXXX", path);
    if ((fd = mkstemp(tmp_path)) != -1) {   /* a unique name: never shared */
        ok = fchmod(fd, 0644) == 0 && dprintf(fd, "{\"ticket_num\": %ld}\n", count) > 0
             && fsync(fd) == 0;
        ok = close(fd) == 0 && ok && rename(tmp_path, path) == 0;
        if (!ok)
            unlink(tmp_path);               /* (errno stays the first failure's) */
    }
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    return ok ? 0 : -1;
    /* LAB-END write-ticket-count */
}

/* on_wake_signal - a no-op, not SIG_IGN: an ignored blocked signal may be dropped */
static void on_wake_signal(int signo)
{
    (void)signo;
}

/* simulate_delay - wait ms/2 to ms milliseconds (the Python version's
 * time.sleep(random.randint(1, 3))), or until a SIGUSR1 comes; a blocked
 * SIGUSR1 sent just before is not lost, one from before we read is */
static void simulate_delay(long ms)
{
    static const struct timespec no_wait = {0, 0};
    long wait_ms = ms / 2 + rand() % (ms - ms / 2 + 1);
    struct timespec pause = {wait_ms / 1000, (wait_ms % 1000) * 1000000L};
    sigset_t wake;

    if (ms <= 0)
        return;
    sigemptyset(&wake);
    sigaddset(&wake, SIGUSR1);
    while (sigtimedwait(&wake, NULL, &no_wait) > 0)
        continue;                           /* an old SIGUSR1: forget it */
    sigtimedwait(&wake, NULL, &pause);      /* time up, or SIGUSR1 */
}

/* answer_request - the reply to one request line (without its \n) */
static void answer_request(char *line, size_t len, char *reply, size_t size)
{
    long count;

    if (len > 0 && line[len - 1] == '\r')
        len--;                              /* \r\n is accepted */
    if (len == 6 && memcmp(line, "SEARCH", 6) == 0) {
        if ((count = read_ticket_count(data_path)) == -1)   /* no lock */
            warn("pid %ld: read %s", (long)getpid(), data_path);
        snprintf(reply, size, count == -1 ? "ERROR cannot read the data file\n"
                                          : "TICKETS %ld\n", count);
    } else if (len == 3 && memcmp(line, "BUY", 3) == 0) {
        buy_ticket(reply, size);
    } else {
        snprintf(reply, size, "ERROR %s request (try SEARCH or BUY)\n",
                 len == 0 ? "empty" : "unknown");
    }
}

/* serve_buyer - the communication loop: answer each line that arrives; one
 * over LINE_MAX_LEN is kept short, refused at its \n. Returns tickets sold. */
static long serve_buyer(int conn_fd)
{
    char buf[4096], line[LINE_MAX_LEN], reply[128];
    size_t line_len = 0;                    /* counts on past LINE_MAX_LEN */
    long bought = 0;

    for (;;) {
        ssize_t n = recv(conn_fd, buf, sizeof buf, 0);

        if (n == -1)
            warn("pid %ld: recv", (long)getpid());
        if (n == -1 || (n == 0 && line_len == 0))
            return bought;                  /* an error, or end of file */
        if (n == 0)
            buf[n++] = '\n';                /* a last request without its \n */
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] != '\n') {
                if (line_len < sizeof line)
                    line[line_len] = buf[i];
                line_len++;
                continue;
            }
            if (line_len > sizeof line)
                snprintf(reply, sizeof reply, "ERROR request too long (max %d bytes)\n",
                         LINE_MAX_LEN);
            else
                answer_request(line, line_len, reply, sizeof reply);
            line_len = 0;
            bought += strncmp(reply, "OK ", 3) == 0;
            if (send_all(conn_fd, reply, strlen(reply)) == -1) {
                warn("pid %ld: send (buyer left)", (long)getpid());
                return bought;              /* a sale stays: a lost receipt */
            }
        }
    }
}

/* set_handler - install handler for signo without SA_RESTART */
static void set_handler(int signo, void (*handler)(int))
{
    struct sigaction sa = {.sa_handler = handler, .sa_flags = 0};

    sigemptyset(&sa.sa_mask);
    if (sigaction(signo, &sa, NULL) == -1)
        die("sigaction");
}

/* run_buyer - the child's whole life: serve one buyer, exit */
static void run_buyer(int conn_fd, const char *peer)
{
    long bought;

    srand((unsigned)getpid() ^ (unsigned)time(NULL));      /* its own delays */
    note("connection from %s (buyer pid %ld)", peer, (long)getpid());
    bought = serve_buyer(conn_fd);
    note("closed %s (pid %ld, bought %ld)", peer, (long)getpid(), bought);
    _exit(0);
}

/* ---- The parent: accept, fork a buyer, reap -------------------------- */

static volatile sig_atomic_t listen_fd_for_signal = -1;

/* wake_accept - in the SIGINT/SIGTERM handler: accept() returns at once */
static void wake_accept(void)
{
    if (listen_fd_for_signal >= 0)
        shutdown(listen_fd_for_signal, SHUT_RDWR);
}

/* on_child_signal - SIGCHLD: reap every ended buyer, so none stays a zombie */
static void on_child_signal(int signo)
{
    int saved_errno = errno;

    (void)signo;
    while (waitpid(-1, NULL, WNOHANG) > 0)
        continue;
    errno = saved_errno;
}

/* start_buyer - fork a process to serve conn_fd. Signals are held over fork():
 * the child must not run the parent's stop handler (it would shut down the
 * listening socket they share). In the child, SIGINT and SIGTERM kill at once
 * (the file is whole, the kernel drops the lock), PR_SET_PDEATHSIG sends it
 * SIGTERM when the server ends, and SIGUSR1 stays blocked (simulate_delay). */
static void start_buyer(int conn_fd, int listen_fd, const char *peer)
{
    pid_t server_pid = getpid(), pid;
    sigset_t held, old_mask;

    sigemptyset(&held);
    sigaddset(&held, SIGINT);
    sigaddset(&held, SIGTERM);
    sigaddset(&held, SIGUSR1);
    sigprocmask(SIG_BLOCK, &held, &old_mask);
    if ((pid = fork()) == 0) {
        close(listen_fd);                   /* only the parent accepts */
        set_handler(SIGINT, SIG_DFL);
        set_handler(SIGTERM, SIG_DFL);
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != server_pid)
            _exit(1);                       /* (the server ended before prctl) */
        sigdelset(&held, SIGUSR1);
        sigprocmask(SIG_UNBLOCK, &held, NULL);
        run_buyer(conn_fd, peer);           /* never returns */
    }
    if (pid == -1)
        warn("fork for %s", peer);          /* the buyer sees the door close */
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
}

/* accept_loop - the connection loop: one new process per buyer */
static void accept_loop(int listen_fd)
{
    while (!stop_requested) {
        struct sockaddr_storage peer_addr;
        socklen_t peer_len = sizeof peer_addr;
        char peer[ADDR_LEN];
        int conn_fd = accept(listen_fd, (struct sockaddr *)&peer_addr, &peer_len);

        if (conn_fd == -1 && !stop_requested && errno != EINTR && errno != ECONNABORTED) {
            warn("accept");
            if (is_out_of_descriptors(errno))
                pause_briefly();
        }
        if (conn_fd == -1)
            continue;
        format_addr((struct sockaddr *)&peer_addr, peer_len, peer, sizeof peer);
        start_buyer(conn_fd, listen_fd, peer);
        close(conn_fd);                     /* the child has its own copy */
    }
}

/* open_data_file - under the lock, before any change: keep an existing data
 * file (a restart sells no ticket twice), create a missing one with 5 tickets,
 * or write reset_to >= 0 (-t N). A non-ticket file stops the start. The count. */
static long open_data_file(int use_lock, long reset_to)
{
    char lock_path[PATH_LEN + 8];
    long count;

    snprintf(lock_path, sizeof lock_path, "%s.lock", data_path);
    /* Never replaced or removed. The buyers inherit this descriptor: fine
     * for fcntl locks (a process's own); flock() would be one for all. */
    if (use_lock && ((lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644))
                     == -1 || set_lock(lock_fd, F_WRLCK) == -1))
        die("lock file of the data file %s", data_path);
    count = read_ticket_count(data_path);
    if (count == -1 && errno == EINVAL && reset_to < 0)
        fatal("data file %s is not {\"ticket_num\": N} with N from 0 to %ld; left as it "
              "is (fix it, remove it, or start with -t N)", data_path, MAX_TICKETS);
    if (count == -1 && errno != ENOENT && errno != EINVAL)
        die("data file %s", data_path);
    if (count == -1 && reset_to < 0)
        reset_to = 5;                       /* no file yet: a new sale */
    if (reset_to >= 0 && write_ticket_count(data_path, reset_to) == -1)
        die("data file %s", data_path);
    if (use_lock && set_lock(lock_fd, F_UNLCK) == -1)
        die("unlock %s", lock_path);
    return reset_to >= 0 ? reset_to : count;
}

static long reset_to = -1;                  /* -t N, or -1: keep the file */
static int use_lock = 1;

/* on_option - the lesson's own options (lab_parse does -H, -p, --help) */
static void on_option(int key, const char *arg)
{
    if (key == 't')
        reset_to = parse_number(arg, 0, MAX_TICKETS, "ticket count");
    if (key == 'd')
        delay_ms = parse_number(arg, 0, 3600000, "delay");
    use_lock &= key != 'n';
    if (key == 'f' && arg[0] == '\0')
        usage_error("empty data file name");
    if (key == 'f')
        data_path = arg;
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'t', NULL, "N", "write a fresh data file holding N tickets (else keep it)"},
        {'f', NULL, "FILE", "the data file (default tickets.json; lock: FILE.lock)"},
        {'d', "delay", "MS", "wait up to MS ms between read and write (default 100)"},
        {'n', "no-lock", NULL, "no lock around read-wait-write: watch tickets oversell"},
        {0}};
    static const struct lab_command cmd = {
        .about = "Requests: SEARCH -> TICKETS n; BUY -> OK n | SOLD OUT; else ERROR reason.\n"
                 "SIGUSR1 ends the delay of every buyer that has read its count.",
        .default_port = "9008", .options = options, .on_option = on_option};
    struct lab_args args = lab_parse(argc, argv, &cmd);
    int listen_fd;
    long count;

    catch_stop_signals(0, wake_accept);     /* then accept() returns at once */
    set_handler(SIGCHLD, on_child_signal);
    set_handler(SIGUSR1, on_wake_signal);   /* a no-op here, for the buyers */
    /* Bind first: a server on a busy port must not touch the data file. */
    listen_fd = open_listener(args.host, args.port, SOCK_CLOEXEC, 128);
    listen_fd_for_signal = listen_fd;
    count = open_data_file(use_lock, reset_to);
    note("%ld tickets in %s, delay up to %ld ms, %s%s%s", count, data_path, delay_ms,
         use_lock ? "fcntl lock on " : "NO LOCK", use_lock ? data_path : "",
         use_lock ? ".lock" : "");
    print_ready_line(listen_fd);

    accept_loop(listen_fd);

    note("stopping");       /* the buyers get SIGTERM as we exit (PDEATHSIG) */
    close(listen_fd);
    if (lock_fd >= 0)
        close(lock_fd);
    return 0;
}
