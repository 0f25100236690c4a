/* client.c - a crowd of buyers rushing the ticket office at the same moment
 *
 * The Python version starts nine buyer processes, each searching the tickets
 * left and then buying one. This client starts BUYERS threads that do the same
 * over the network: connect, SEARCH, BUY. They wait at a starting gate until
 * every one of them exists, then all go at once, so the server sees them
 * together, which is what makes a race visible. Each buyer prints what it saw;
 * the last line says how many tickets the crowd got:
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
 * Python notes: 004 (ticket buying: search, then buy; many buyers at once).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../lib/lab.h"

#define MAX_BUYERS 10000
#define REPLY_MAX 256

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

/* The server, resolved once by main before the crowd starts. */
static struct addrinfo *server;

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

/* run_buyer - one buyer: connect, SEARCH, BUY, note the result. A failure
 * is noted, not fatal: main reports it once, after every buyer is done. */
static void *run_buyer(void *arg)
{
    struct buyer *me = arg;
    char reply[REPLY_MAX];
    int fd;

    wait_at_gate();
    fd = socket(server->ai_family, server->ai_socktype, server->ai_protocol);
    if (fd == -1 || connect(fd, server->ai_addr, server->ai_addrlen) == -1) {
        me->failed_errno = errno;
        me->failed_what = "connect";
        if (fd != -1)
            close(fd);
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

static int buyer_total = 10;

/* on_option - -n BUYERS (lab_parse does -H, -p and --help) */
static void on_option(int key, const char *arg)
{
    if (key == 'n')
        buyer_total = (int)parse_number(arg, 1, MAX_BUYERS, "buyer count");
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'n', NULL, "BUYERS", "buyers rushing in at once, 1-10000 (default 10)"}, {0}};
    static const struct lab_command cmd = {
        .about = "Each buyer sends SEARCH then BUY; the last line is 'bought K of BUYERS'.",
        .default_port = "9008", .is_client = 1, .options = options, .on_option = on_option};
    struct lab_args args = lab_parse(argc, argv, &cmd);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV};
    struct buyer *buyers, *first_failure = NULL;
    int bought = 0, failed = 0, rc;

    /* Resolve once: a bad address is one line, not BUYERS failures. */
    if ((rc = getaddrinfo(args.host, args.port, &hints, &server)) != 0)
        fatal("bad address %s:%s: %s", args.host, args.port, gai_strerror(rc));
    if ((buyers = calloc((size_t)buyer_total, sizeof *buyers)) == NULL)
        die("calloc");
    for (int i = 0; i < buyer_total; i++) {
        buyers[i].number = i + 1;
        if ((rc = pthread_create(&buyers[i].thread, NULL, run_buyer, &buyers[i])) != 0) {
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
    if (first_failure != NULL)              /* one line: a refused server refuses all */
        fprintf(stderr, "%s: %d of %d buyers failed; first: buyer %d: %s %s:%s: %s\n",
                prog_name, failed, buyer_total, first_failure->number,
                first_failure->failed_what, args.host, args.port,
                strerror(first_failure->failed_errno));
    free(buyers);
    freeaddrinfo(server);
    return first_failure != NULL ? 1 : 0;
}
