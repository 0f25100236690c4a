/* load.c - the lab's load generator for echo-upper servers
 *
 * One thread, one epoll loop, any number of connections. Each active
 * connection sends a request of SIZE bytes, reads the SIZE-byte reply,
 * checks it is the request upper-cased, and starts the next request: on
 * the same connection (long connections, the default) or on a new one
 * (--short: connect, send, receive, half-close, wait for the server's
 * close). --idle N holds N more
 * connections open that never send, to see what idle clients cost.
 *
 * With --pid, it also reads the server's CPU time and resident memory
 * from /proc, summed over the server's process group when it leads one
 * (start it with setsid: a forking server's children count, reaped ones
 * through the leader's cutime), else of that one process.
 *
 * Usage: load -p PORT [-H ADDR] [-c CONNS] [-s SIZE] [-d SECS | -n REQUESTS]
 *             [--short] [--idle N] [--pid PID] [--label TEXT] [--csv] [--csv-header]
 * Defaults: 127.0.0.1, 10 connections, 64 bytes, 5 seconds.
 * Prints one line: label mode conns idle size secs requests errors rps
 * p50_us p99_us cpu_us_per_req rss_kib starved (key=value, or CSV with
 * --csv); starved counts active connections that got no reply at all.
 * Linux-specific (epoll, /proc).
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum state { IDLE, CONNECTING, SENDING, RECEIVING, CLOSING };

struct conn {
    int fd;
    enum state state;
    size_t sent, received;
    double started;                 /* when the current request began */
    unsigned long long done;        /* requests this connection completed */
};

static struct sockaddr_in server_addr;
static size_t req_size = 64;
static int short_mode = 0;
static char *request, *expected;
static int epoll_fd;

static double *latencies;           /* microseconds, one per request */
static size_t lat_count, lat_cap;
static unsigned long long errors = 0;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "load: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* start_connect - a new non-blocking connection to the server, or -1 */
static int start_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

    if (fd == -1)
        return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&server_addr, sizeof server_addr) == -1
        && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

/* open_conn - connect c and register it; on failure count an error */
static void open_conn(struct conn *c)
{
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};

    c->fd = start_connect();
    if (c->fd == -1) {
        errors++;
        return;
    }
    c->state = CONNECTING;
    c->sent = c->received = 0;
    c->started = now();
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, c->fd, &ev) == -1)
        die("epoll_ctl");
}

static void record_latency(double usec)
{
    if (lat_count == lat_cap) {
        lat_cap = lat_cap ? lat_cap * 2 : 1 << 16;
        latencies = realloc(latencies, lat_cap * sizeof *latencies);
        if (latencies == NULL)
            die("realloc");
    }
    latencies[lat_count++] = usec;
}

static void set_events(struct conn *c, unsigned events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* fail_conn - count an error, drop the connection, start a fresh one */
static void fail_conn(struct conn *c)
{
    errors++;
    close(c->fd);
    open_conn(c);
}

/* step - advance connection c after epoll reported it ready */
static void step(struct conn *c)
{
    if (c->state == CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;

        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            fail_conn(c);
            return;
        }
        c->state = SENDING;
        if (!short_mode)
            c->started = now();
    }
    if (c->state == SENDING) {
        ssize_t n = send(c->fd, request + c->sent, req_size - c->sent, MSG_NOSIGNAL);

        if (n == -1 && errno != EAGAIN) {
            fail_conn(c);
            return;
        }
        if (n > 0)
            c->sent += (size_t)n;
        if (c->sent == req_size) {
            c->state = RECEIVING;
            set_events(c, EPOLLIN);
        } else {
            set_events(c, EPOLLOUT);
        }
        return;
    }
    if (c->state == CLOSING) {          /* --short: wait for the server's close */
        char buf[256];
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);

        if (n == -1 && errno == EAGAIN)
            return;
        if (n != 0)
            errors++;
        close(c->fd);
        open_conn(c);
        return;
    }
    if (c->state == RECEIVING) {
        char buf[65536];
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);

        if (n == -1 && errno == EAGAIN)
            return;
        if (n <= 0 || c->received + (size_t)n > req_size
            || memcmp(buf, expected + c->received, (size_t)n) != 0) {
            fail_conn(c);
            return;
        }
        c->received += (size_t)n;
        if (c->received < req_size)
            return;
        record_latency((now() - c->started) * 1e6);
        c->done++;
        if (short_mode) {
            /* Half-close and let the server close first, as a real
             * client does: TIME_WAIT then lands on the server's side. */
            shutdown(c->fd, SHUT_WR);
            c->state = CLOSING;
        } else {
            c->sent = c->received = 0;
            c->state = SENDING;
            c->started = now();
            set_events(c, EPOLLOUT);
        }
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* group_usage - CPU seconds and RSS KiB of the process group of pid */
static void group_usage(pid_t pid, double *cpu_sec, long *rss_kib)
{
    long ticks = sysconf(_SC_CLK_TCK), page_kib = sysconf(_SC_PAGESIZE) / 1024;
    pid_t pgrp = getpgid(pid);
    DIR *dir = opendir("/proc");
    struct dirent *de;

    *cpu_sec = 0;
    *rss_kib = 0;
    if (dir == NULL || pgrp == -1) {
        if (dir)
            closedir(dir);
        return;
    }
    while ((de = readdir(dir)) != NULL) {
        char path[300], text[1024], *p;
        unsigned long long utime, stime, cutime, cstime;
        long proc_pgrp, rss;
        FILE *f;

        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
        if ((f = fopen(path, "r")) == NULL)
            continue;
        p = fgets(text, sizeof text, f);
        fclose(f);
        if (p == NULL || (p = strrchr(text, ')')) == NULL)
            continue;
        /* after "pid (comm)": state ppid pgrp ... utime(14) stime cutime cstime ... rss(24) */
        if (sscanf(p + 2, "%*c %*d %ld %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu "
                          "%*d %*d %*d %*d %*u %*u %ld",
                   &proc_pgrp, &utime, &stime, &cutime, &cstime, &rss) != 6
            || proc_pgrp != pgrp)
            continue;
        /* A server that does not lead its own group (started with & from
         * a script) shares it with the script: count the server alone. */
        if (pgrp != pid && atoi(de->d_name) != pid)
            continue;
        *cpu_sec += (double)(utime + stime) / (double)ticks;
        if (atoi(de->d_name) == pid)
            *cpu_sec += (double)(cutime + cstime) / (double)ticks;
        *rss_kib += rss * page_kib;
    }
    closedir(dir);
}

static void usage(int status)
{
    fprintf(status ? stderr : stdout,
            "Usage: load -p PORT [-H ADDR] [-c CONNS] [-s SIZE] [-d SECS | -n REQUESTS]\n"
            "            [--short] [--idle N] [--pid PID] [--label TEXT] [--csv] [--csv-header]\n");
    exit(status);
}

int main(int argc, char *argv[])
{
    static const struct option opts[] = {
        {"short", no_argument, NULL, 'S'}, {"idle", required_argument, NULL, 'i'},
        {"pid", required_argument, NULL, 'P'}, {"label", required_argument, NULL, 'l'},
        {"csv", no_argument, NULL, 'C'}, {"csv-header", no_argument, NULL, 'E'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *host = "127.0.0.1", *label = "-";
    int port = 0, conns = 10, idle = 0, csv = 0, opt;
    double secs = 5, cpu_before = 0, cpu_after = 0, t_start, t_end;
    unsigned long long max_requests = 0;
    pid_t server_pid = 0;
    long rss = 0;
    struct rlimit rl;
    struct conn *all;
    struct epoll_event events[512];

    while ((opt = getopt_long(argc, argv, "H:p:c:s:d:n:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'H': host = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'c': conns = atoi(optarg); break;
        case 's': req_size = (size_t)atol(optarg); break;
        case 'd': secs = atof(optarg); break;
        case 'n': max_requests = strtoull(optarg, NULL, 10); break;
        case 'S': short_mode = 1; break;
        case 'i': idle = atoi(optarg); break;
        case 'P': server_pid = (pid_t)atoi(optarg); break;
        case 'l': label = optarg; break;
        case 'C': csv = 1; break;
        case 'E':
            puts("label,mode,conns,idle,size,secs,requests,errors,rps,p50_us,p99_us,"
                 "cpu_us_per_req,rss_kib,starved");
            return 0;
        case 'h': usage(0); break;
        default: usage(2);
        }
    }
    if (port <= 0 || conns <= 0 || req_size == 0 || idle < 0)
        usage(2);
    server_addr.sin_family = AF_INET;
    server_addr.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, host, &server_addr.sin_addr) != 1)
        usage(2);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    request = malloc(req_size);
    expected = malloc(req_size);
    all = calloc((size_t)conns + (size_t)idle, sizeof *all);
    if (request == NULL || expected == NULL || all == NULL)
        die("malloc");
    for (size_t i = 0; i < req_size; i++) {
        request[i] = (char)('a' + i % 26);
        expected[i] = (char)('A' + i % 26);
    }
    if ((epoll_fd = epoll_create1(EPOLL_CLOEXEC)) == -1)
        die("epoll_create1");

    /* Idle connections first: connected, then left alone. */
    for (int i = 0; i < idle; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd == -1 || connect(fd, (struct sockaddr *)&server_addr, sizeof server_addr) == -1)
            die("idle connection");
        all[conns + i].fd = fd;
        all[conns + i].state = IDLE;
    }

    if (server_pid > 0)
        group_usage(server_pid, &cpu_before, &rss);
    t_start = now();
    for (int i = 0; i < conns; i++)
        open_conn(&all[i]);
    for (;;) {
        int ready = epoll_wait(epoll_fd, events, 512, 100);

        if (ready == -1 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < ready; i++)
            step(events[i].data.ptr);
        if (max_requests ? lat_count >= max_requests : now() - t_start >= secs)
            break;
    }
    t_end = now();
    if (server_pid > 0)
        group_usage(server_pid, &cpu_after, &rss);

    if (lat_count > 0)
        qsort(latencies, lat_count, sizeof *latencies, cmp_double);
    {
        double elapsed = t_end - t_start;
        double p50 = lat_count ? latencies[lat_count / 2] : 0;
        double p99 = lat_count ? latencies[(size_t)((double)lat_count * 0.99)] : 0;
        double rps = (double)lat_count / elapsed;
        double cpu_per_req = lat_count ? (cpu_after - cpu_before) * 1e6 / (double)lat_count : 0;
        const char *mode = short_mode ? "short" : "long";
        int starved = 0;

        for (int i = 0; i < conns; i++)
            starved += all[i].done == 0;

        if (csv)
            printf("%s,%s,%d,%d,%zu,%.2f,%zu,%llu,%.0f,%.0f,%.0f,%.1f,%ld,%d\n", label, mode,
                   conns, idle, req_size, elapsed, lat_count, errors, rps, p50, p99,
                   cpu_per_req, rss, starved);
        else
            printf("label=%s mode=%s conns=%d idle=%d size=%zu secs=%.2f requests=%zu "
                   "errors=%llu rps=%.0f p50_us=%.0f p99_us=%.0f cpu_us_per_req=%.1f "
                   "rss_kib=%ld starved=%d\n", label, mode, conns, idle, req_size, elapsed,
                   lat_count, errors, rps, p50, p99, cpu_per_req, rss, starved);
    }
    for (int i = 0; i < conns + idle; i++)
        if (all[i].fd > 0)
            close(all[i].fd);
    free(all);
    free(latencies);
    free(request);
    free(expected);
    return 0;
}
