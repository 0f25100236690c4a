/* client.c - a crowd of buyers rushing the ticket office at the same moment
 *
 * The seed starts nine buyer processes, each searching the tickets left
 * and then buying one. This client starts BUYERS threads that do the same
 * over the network: connect, SEARCH, BUY. They wait at a starting gate
 * until every one of them exists, then all go at once, so the server sees
 * them together, which is what makes a race visible. Each buyer prints
 * what it saw; the last line says how many tickets the crowd got:
 *
 *     buyer 3: TICKETS 5
 *     buyer 3: OK 4
 *     ...
 *     bought 5 of 10
 *
 * With the server's lock, "bought" never exceeds the tickets there were;
 * against `server --no-lock` it usually does.
 *
 * Usage: ./client [-H ADDR] [-p PORT] [-n BUYERS]
 *        (defaults: 127.0.0.1, 9008, 10 buyers)
 *
 * See also: server.c, NOTES.md.
 * Seed: 004 (ticket buying: search, then buy; many buyers at once).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#define DEFAULT_PORT "9008"
#define MAX_BUYERS 10000
#define REPLY_MAX 256

static const char *prog_name = "client";

/* One buyer thread's orders and results. */
struct buyer {
    pthread_t thread;
    int number;                 /* 1..BUYERS, for the printed lines */
    int bought;                 /* 1 if the BUY was answered OK */
    int failed_errno;           /* 0, or why the buyer failed */
    const char *failed_what;    /* the call that failed */
};

/* The starting gate: buyers wait here until main opens it. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_opened = PTHREAD_COND_INITIALIZER;
static int gate_open = 0;

static const char *server_host = "127.0.0.1", *server_port = DEFAULT_PORT;

/* die - report a failure with the reason from errno, exit 1 */
static void die(const char *fmt, ...)
{
    int saved_errno = errno;
    va_list ap;

    fprintf(stderr, "%s: ", prog_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, ": %s\n", strerror(saved_errno));
    exit(1);
}

/* usage - print the command line; exit with status */
static void usage(FILE *out, int status)
{
    fprintf(out,
            "Usage: %s [-H ADDR] [-p PORT] [-n BUYERS]\n"
            "  -H ADDR     server address (default 127.0.0.1)\n"
            "  -p PORT     server port (default %s)\n"
            "  -n BUYERS   buyers rushing in at once, 1-%d (default 10)\n"
            "  -h, --help  show this help\n"
            "Each buyer sends SEARCH then BUY; the last line is 'bought K of BUYERS'.\n",
            prog_name, DEFAULT_PORT, MAX_BUYERS);
    exit(status);
}

/* connect_to - a connected TCP socket to host:port, or -1 with errno set
 * (unlike lesson 01's it does not exit: one buyer's failure is reported by
 * main, once, after every buyer is done) */
static int connect_to(const char *host, const char *port)
{
    struct addrinfo hints, *res, *ai;
    int fd = -1, rc, saved_errno = ECONNREFUSED;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        errno = EHOSTUNREACH;       /* main checked the address already */
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd == -1) {
            saved_errno = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        saved_errno = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd == -1)
        errno = saved_errno;
    return fd;
}

/* check_address - resolve host:port once, before the crowd starts: a bad
 * address is then one clear line and exit 1 (as lesson 01's connect_to
 * says it), not BUYERS failed connections */
static void check_address(const char *host, const char *port)
{
    struct addrinfo hints, *res;
    int rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "%s: bad address %s:%s: %s\n", prog_name, host, port,
                gai_strerror(rc));
        exit(1);
    }
    freeaddrinfo(res);
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

/* recv_line - receive one reply line into line (without its \n), one byte
 * at a time: slow, but a reply is a dozen bytes and nothing after it is
 * taken from the socket. 0, or -1 with errno set (ECONNRESET on EOF). */
static int recv_line(int fd, char *line, size_t size)
{
    size_t len = 0;

    for (;;) {
        char c;
        ssize_t n = recv(fd, &c, 1, 0);

        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1)
            return -1;
        if (n == 0) {
            errno = ECONNRESET;     /* the server closed before the reply */
            return -1;
        }
        if (c == '\n')
            break;
        if (len + 1 < size)
            line[len++] = c;
    }
    if (len > 0 && line[len - 1] == '\r')
        len--;
    line[len] = '\0';
    return 0;
}

/* ask - send one request line and receive its reply; 0, or -1 with errno */
static int ask(int fd, const char *request, char *reply, size_t size)
{
    if (send_all(fd, request, strlen(request)) == -1)
        return -1;
    return recv_line(fd, reply, size);
}

/* print_line - one "buyer N: ..." line, flushed at once so that the
 * buyers' lines appear as they happen (printf locks stdout per call) */
static void print_line(int number, const char *text)
{
    printf("buyer %d: %s\n", number, text);
    fflush(stdout);
}

/* wait_at_gate - block until main opens the starting gate */
static void wait_at_gate(void)
{
    pthread_mutex_lock(&gate_lock);
    while (!gate_open)
        pthread_cond_wait(&gate_opened, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
}

/* run_buyer - one buyer: connect, SEARCH, BUY, note the result */
static void *run_buyer(void *arg)
{
    struct buyer *me = arg;
    char reply[REPLY_MAX];
    int fd;

    wait_at_gate();
    fd = connect_to(server_host, server_port);
    if (fd == -1) {
        me->failed_errno = errno;
        me->failed_what = "connect";
        return NULL;
    }
    if (ask(fd, "SEARCH\n", reply, sizeof reply) == -1) {
        me->failed_what = "SEARCH";
    } else {
        print_line(me->number, reply);
        if (ask(fd, "BUY\n", reply, sizeof reply) == -1) {
            me->failed_what = "BUY";
        } else {
            print_line(me->number, reply);
            me->bought = strncmp(reply, "OK ", 3) == 0;
        }
    }
    if (me->failed_what != NULL)
        me->failed_errno = errno;
    close(fd);
    return NULL;
}

/* parse_options - host, port and buyer count from the command line */
static int parse_options(int argc, char *argv[])
{
    static const struct option long_options[] = {
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int opt, buyer_total = 10;
    char *end;

    while ((opt = getopt_long(argc, argv, "H:p:n:h", long_options, NULL)) != -1) {
        switch (opt) {
        case 'H': server_host = optarg; break;
        case 'p': server_port = optarg; break;
        case 'n':
            errno = 0;
            buyer_total = (int)strtol(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || buyer_total < 1
                || buyer_total > MAX_BUYERS) {
                fprintf(stderr, "%s: bad buyer count '%s' (1-%d)\n", prog_name, optarg,
                        MAX_BUYERS);
                usage(stderr, 2);
            }
            break;
        case 'h': usage(stdout, 0); break;
        default: usage(stderr, 2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", prog_name, argv[optind]);
        usage(stderr, 2);
    }
    if (server_port[0] == '\0' || strlen(server_port) > 5
        || strspn(server_port, "0123456789") != strlen(server_port) || atol(server_port) > 65535) {
        fprintf(stderr, "%s: bad port '%s'\n", prog_name, server_port);
        usage(stderr, 2);
    }
    return buyer_total;
}

int main(int argc, char *argv[])
{
    int buyer_total = parse_options(argc, argv), bought = 0, failed = 0, rc;
    struct buyer *buyers = calloc((size_t)buyer_total, sizeof *buyers), *first_failure = NULL;

    if (buyers == NULL)
        die("calloc");
    check_address(server_host, server_port);
    for (int i = 0; i < buyer_total; i++) {
        buyers[i].number = i + 1;
        rc = pthread_create(&buyers[i].thread, NULL, run_buyer, &buyers[i]);
        if (rc != 0) {
            errno = rc;
            die("pthread_create (buyer %d)", i + 1);
        }
    }
    pthread_mutex_lock(&gate_lock);         /* everyone is at the gate: go */
    gate_open = 1;
    pthread_cond_broadcast(&gate_opened);
    pthread_mutex_unlock(&gate_lock);

    for (int i = 0; i < buyer_total; i++) {
        pthread_join(buyers[i].thread, NULL);
        bought += buyers[i].bought;
        if (buyers[i].failed_what != NULL && failed++ == 0)
            first_failure = &buyers[i];
    }
    printf("bought %d of %d\n", bought, buyer_total);
    fflush(stdout);
    if (first_failure != NULL) {
        /* One line for all failures: a refused server refuses everyone. */
        fprintf(stderr, "%s: %d of %d buyers failed; first: buyer %d: %s %s:%s: %s\n",
                prog_name, failed, buyer_total, first_failure->number,
                first_failure->failed_what, server_host, server_port,
                strerror(first_failure->failed_errno));
    }
    free(buyers);
    return first_failure != NULL ? 1 : 0;
}
