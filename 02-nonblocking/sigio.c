/* sigio.c - signal-driven IO, the fourth IO model: the kernel says when
 *
 * The polling server asks the kernel "anything yet?" over and over. Here
 * the kernel tells the process instead: with O_ASYNC set on a socket and
 * the process named as its owner (F_SETOWN), the kernel sends SIGIO when
 * the socket becomes readable. In between, the process does other work
 * and makes no calls about the socket at all. The first phase of the IO
 * (waiting for data) is off its hands; the second (copying the data in,
 * recvfrom) is still its own, and still done by a normal call.
 *
 * Three rules make it correct, and the program follows them:
 *   - the handler only sets a flag (few calls are safe inside a handler);
 *   - signals are not queued: two datagrams may bring one SIGIO, so on
 *     each signal read until EAGAIN, with the socket non-blocking;
 *   - the work loop checks the flag between slices of work.
 *
 * The program binds a UDP socket on 127.0.0.1, forks a child that sends
 * it COUNT datagrams INTERVAL milliseconds apart, and meanwhile counts
 * primes; each time SIGIO arrives it reads what came and says how much
 * work it did in between. UDP, because on a TCP socket SIGIO fires for
 * many events (connect, each segment, each ACK that frees buffer space,
 * errors) and tells you little.
 *
 * Usage: ./sigio [-n COUNT] [-i INTERVAL_MS]     (defaults: 5, 500)
 *
 * See also: server.c (polling), timeout.c, NOTES.md.
 * Python notes: 004 (the five IO models: signal-driven IO is named, not
 * shown).
 * Linux-specific in part: F_SETOWN is POSIX (there for SIGURG), but
 * O_ASYNC and SIGIO on readiness are not in POSIX 2008; Linux and the BSDs
 * have them, and glibc declares them also under _POSIX_C_SOURCE.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../lib/lab.h"

#define MAX_COUNT 1000
#define MAX_INTERVAL_MS 10000
#define WORK_SLICE 2000           /* numbers tested for primality per slice */

/* Set by the SIGIO handler, cleared by the work loop. */
static volatile sig_atomic_t io_ready = 0;
static volatile sig_atomic_t sigio_count = 0;

/* on_sigio - the kernel says the socket is readable: note it, nothing more */
static void on_sigio(int signo)
{
    (void)signo;
    io_ready = 1;
    sigio_count++;
}

/* install_sigio - the handler; SA_RESTART so that the work loop's own
 * calls (printf to a pipe) are not cut short by the signal */
static void install_sigio(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigio;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGIO, &sa, NULL) == -1)
        die("sigaction SIGIO");
}

/* open_signal_driven_socket - a UDP socket on 127.0.0.1 (any port) that
 * raises SIGIO in this process when a datagram arrives */
static int open_signal_driven_socket(struct sockaddr_in *addr)
{
    socklen_t len = sizeof *addr;
    int fd = socket(AF_INET, SOCK_DGRAM, 0), flags;

    if (fd == -1)
        die("socket");
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)addr, sizeof *addr) == -1)
        die("bind");
    if (getsockname(fd, (struct sockaddr *)addr, &len) == -1)
        die("getsockname");

    /* Who gets the signal: this process. */
    if (fcntl(fd, F_SETOWN, getpid()) == -1)
        die("fcntl F_SETOWN");
    /* O_ASYNC switches the signals on; O_NONBLOCK lets us drain until
     * EAGAIN without ever sleeping in recvfrom(). */
    flags = fcntl(fd, F_GETFL);
    if (flags == -1 || fcntl(fd, F_SETFL, flags | O_ASYNC | O_NONBLOCK) == -1)
        die("fcntl O_ASYNC");
    return fd;
}

/* run_sender - the child: COUNT datagrams to addr, interval_ms apart */
static void run_sender(const struct sockaddr_in *addr, int count, long interval_ms)
{
    struct timespec gap = {interval_ms / 1000, (interval_ms % 1000) * 1000000L};
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    if (fd == -1)
        die("child: socket");
    for (int i = 1; i <= count; i++) {
        char msg[64];
        int len;

        nanosleep(&gap, NULL);
        len = snprintf(msg, sizeof msg, "datagram %d of %d", i, count);
        if (sendto(fd, msg, (size_t)len, 0, (const struct sockaddr *)addr, sizeof *addr) == -1)
            die("child: sendto");
    }
    close(fd);
    _exit(0);
}

/* drain - read every datagram waiting, until EAGAIN; how many were read */
static int drain(int fd, unsigned long work_done)
{
    int got = 0;

    for (;;) {
        char buf[256];
        ssize_t n = recvfrom(fd, buf, sizeof buf - 1, 0, NULL, NULL);

        if (n == -1) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return got;                 /* all read: back to work */
            if (errno == EINTR)
                continue;
            die("recvfrom");
        }
        buf[n] = '\0';
        got++;
        printf("SIGIO #%d: read \"%s\" (primes found so far: %lu)\n",
               (int)sigio_count, buf, work_done);
    }
}

/* is_prime - trial division: deliberately plain work to keep the CPU busy */
static int is_prime(unsigned long n)
{
    if (n < 2)
        return 0;
    for (unsigned long d = 2; d * d <= n; d++)
        if (n % d == 0)
            return 0;
    return 1;
}

/* work_and_read - the work loop: count primes, and between slices of
 * work look at the flag the SIGIO handler sets; stop when count datagrams
 * are read or the sender has finished. Returns how many were read. */
static int work_and_read(int fd, pid_t child, int count)
{
    unsigned long number = 0, primes = 0;
    int received = 0, status;

    while (received < count) {
        for (int i = 0; i < WORK_SLICE; i++)
            primes += (unsigned long)is_prime(number++);
        if (io_ready) {
            io_ready = 0;                   /* clear first: a later signal sets it again */
            received += drain(fd, primes);
        }
        if (waitpid(child, &status, WNOHANG) == child) {
            child = -1;                     /* the sender is done; what it sent is queued */
            received += drain(fd, primes);
            break;
        }
    }
    if (child != -1 && waitpid(child, &status, 0) == -1)
        die("waitpid");
    printf("read %d of %d datagrams after %d SIGIO signals; %lu primes found meanwhile\n",
           received, count, (int)sigio_count, primes);
    return received;
}

static int count = 5;               /* -n */
static long interval_ms = 500;      /* -i */

/* on_option - -n COUNT and -i INTERVAL_MS */
static void on_option(int key, const char *arg)
{
    if (key == 'n')
        count = (int)parse_number(arg, 1, MAX_COUNT, "-n");
    else
        interval_ms = parse_number(arg, 0, MAX_INTERVAL_MS, "-i");
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'n', NULL, "COUNT", "datagrams the child sends (default 5)"},
        {'i', NULL, "INTERVAL_MS", "milliseconds between them (default 500)"},
        {0, NULL, NULL, NULL}};
    const struct lab_command cmd = {
        .about = "Counts primes while a child sends datagrams; SIGIO says when one came.",
        .options = options, .on_option = on_option};
    struct sockaddr_in addr;
    int fd, received;
    pid_t child;

    lab_parse(argc, argv, &cmd);
    install_sigio();
    fd = open_signal_driven_socket(&addr);
    printf("waiting for %d datagrams on 127.0.0.1:%d, counting primes meanwhile\n", count,
           ntohs(addr.sin_port));
    fflush(stdout);                         /* before fork: no output twice */
    child = fork();
    if (child == -1)
        die("fork");
    if (child == 0) {
        close(fd);
        run_sender(&addr, count, interval_ms);
    }

    received = work_and_read(fd, child, count);
    close(fd);
    return received == count ? 0 : 1;
}
