/* logserver.c - the Python notes 002 application: one select() watches the
 * listening socket, every client AND the terminal
 *
 * The terminal is a descriptor too (0, standard input), and select()
 * watches it like a socket. Every line a client sends is appended to FILE
 * as "[ADDR] line" and acknowledged with "received N bytes"; every line
 * typed at the terminal is appended as "[terminal] line". Lines are cut at
 * '\n' (a '\r' before it is dropped), so two clients typing at once never
 * mix inside a line; a line longer than LINE_CAP is saved in pieces.
 *
 * Read server.c first: this is its loop with two changes to look for.
 *   - At end of input the terminal is taken out of the read set. A
 *     descriptor at end of file is always readable (read() returns 0 at
 *     once, every time): left in the set, it would make a busy loop.
 *   - A client is owed acknowledgements, at most one per line, so a read
 *     takes only as many bytes as there is room for acknowledgements; a
 *     client that never reads them fills ACKS_CAP and is no longer read.
 *     ACKS_CAP times FD_SETSIZE clients (16 MiB) bounds it all, and
 *     SO_SNDBUF bounds the kernel's share likewise.
 * It waits for the stop signals with lib's self-pipe in the read set,
 * where server.c uses pselect(): either closes the gap between checking a
 * flag and going to sleep.
 *
 * Usage: ./logserver [-H ADDR] [-p PORT] [-v] FILE
 *        (defaults: 127.0.0.1, 9003; ./server --log FILE runs this)
 *
 * See also: server.c, client.c, NOTES.md section 2.
 * Python notes: 002 (the select server that also watches the terminal).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../lib/lab.h"

#define LINE_CAP 4096               /* a longer line is saved in pieces */
#define ACKS_CAP (16 * 1024)        /* acknowledgements one client may owe */
#define ACK_MAX 24                  /* "received 4096 bytes\n" and its NUL */
#define TICK_SECS 5

/* A client, or the terminal: the line so far, the acknowledgements owed. */
struct source {
    int fd;
    char addr[ADDR_LEN];
    char line[LINE_CAP];
    size_t line_len;
    char acks[ACKS_CAP];
    size_t acks_start, acks_len;
    int peer_done, paused;
};

static struct source *sources[FD_SETSIZE];     /* by descriptor: 0 is the terminal */
static int max_fd_in_use = -1;
static int listen_fd, accept_paused, verbose;
static FILE *log_file;
static const char *log_path;
static unsigned long long select_calls;

/* save_line - append the line to the file; acknowledge it to a client */
static void save_line(struct source *s)
{
    size_t len = s->line_len;

    if (len > 0 && s->line[len - 1] == '\r')
        len--;                          /* "\r\n" is accepted as a line end */
    fprintf(log_file, "[%s] %.*s\n", s->addr, (int)len, s->line);
    if (fflush(log_file) == EOF)
        warn("write %s", log_path);
    note("saved %zu bytes from %s", len, s->addr);
    if (s->fd != STDIN_FILENO && ACKS_CAP - s->acks_start - s->acks_len >= ACK_MAX)
        s->acks_len += (size_t)snprintf(s->acks + s->acks_start + s->acks_len, ACK_MAX,
                                        "received %zu bytes\n", len);
    s->line_len = 0;
}

/* take_bytes - cut received bytes into lines. A full line buffer is saved
 * only when one more byte of the same line comes, so a line of exactly
 * LINE_CAP bytes is one entry (saved at its newline), not two. */
static void take_bytes(struct source *s, const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (data[i] == '\n') {
            save_line(s);
            continue;
        }
        if (s->line_len == LINE_CAP)
            save_line(s);
        s->line[s->line_len++] = data[i];
    }
}

/* forget - stop watching a source; close it unless it is the terminal */
static void forget(struct source *s, const char *why)
{
    if (s->line_len > 0)
        save_line(s);                   /* what came of a last line */
    sources[s->fd] = NULL;
    while (max_fd_in_use >= 0 && sources[max_fd_in_use] == NULL)
        max_fd_in_use--;
    if (s->fd == STDIN_FILENO) {
        note("terminal: end of input, no longer watched");
    } else {
        if (why != NULL)
            note("closed %s (%s)", s->addr, why);
        close(s->fd);
        accept_paused = 0;              /* a descriptor is free again */
    }
    free(s);
}

/* send_acks - one send() of the acknowledgements owed; -1 if closed */
static int send_acks(struct source *s)
{
    ssize_t n = send(s->fd, s->acks + s->acks_start, s->acks_len, MSG_NOSIGNAL);

    if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        warn("send to %s", s->addr);
        forget(s, "send failed");
        return -1;
    }
    if (n > 0) {
        s->acks_start += (size_t)n;
        s->acks_len -= (size_t)n;
    }
    if (s->acks_len == 0)
        s->acks_start = 0;
    if (s->acks_len == 0 && s->peer_done) {
        forget(s, "done");
        return -1;
    }
    return 0;
}

/* read_source - one read(): no more bytes than there is room to
 * acknowledge (every byte may end a line); end of file ends the source */
static void read_source(struct source *s)
{
    char buf[LINE_CAP];
    size_t room = (ACKS_CAP - s->acks_start - s->acks_len) / ACK_MAX;
    ssize_t n = read(s->fd, buf, room < sizeof buf ? room : sizeof buf);

    if (n == -1) {
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        warn("read %s", s->addr);
        forget(s, "reset");
        return;
    }
    if (n > 0) {
        take_bytes(s, buf, (size_t)n);
        if (s->fd != STDIN_FILENO)
            send_acks(s);
        return;
    }
    if (s->line_len > 0)
        save_line(s);                   /* a last line without its newline */
    if (s->fd == STDIN_FILENO) {
        forget(s, NULL);
        return;
    }
    s->peer_done = 1;                   /* the client half-closed */
    send_acks(s);                       /* closes it once nothing is owed */
}

/* watch - a new source in the table (descriptor below FD_SETSIZE) */
static void watch(int fd, const char *addr)
{
    struct source *s = calloc(1, sizeof *s);

    if (s == NULL) {
        warn("new client %s", addr);
        close(fd);
        return;
    }
    s->fd = fd;
    snprintf(s->addr, sizeof s->addr, "%s", addr);
    sources[fd] = s;
    if (fd > max_fd_in_use)
        max_fd_in_use = fd;
}

/* accept_client - one accept(); a descriptor select() cannot watch is
 * refused, never FD_SET; out of descriptors, stop watching the listener
 * until a client leaves or select() times out */
static void accept_client(void)
{
    struct sockaddr_storage peer_addr;
    socklen_t peer_len = sizeof peer_addr;
    char addr[ADDR_LEN];
    int fd = accept(listen_fd, (struct sockaddr *)&peer_addr, &peer_len), flags;
    int kernel_acks = ACKS_CAP;         /* the kernel's share fixed too, as in server.c */

    if (fd == -1) {
        if (is_out_of_descriptors(errno)) {
            warn("accept");
            accept_paused = 1;
        }
        return;
    }
    format_addr((struct sockaddr *)&peer_addr, peer_len, addr, sizeof addr);
    flags = fcntl(fd, F_GETFL);
    if (fd >= FD_SETSIZE || flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1
        || setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &kernel_acks, sizeof kernel_acks) == -1) {
        note("refused %s: descriptor %d cannot be watched", addr, fd);
        close(fd);
        return;
    }
    note("connection from %s", addr);
    watch(fd, addr);
}

/* build_sets - read interest for the listener, the stop pipe, the
 * terminal and every client with room for acknowledgements; write
 * interest only while acknowledgements wait */
static int build_sets(fd_set *readable, fd_set *writable, int stop_fd)
{
    int max_fd = stop_fd > listen_fd ? stop_fd : listen_fd;

    FD_ZERO(readable);
    FD_ZERO(writable);
    FD_SET(stop_fd, readable);
    if (!accept_paused)
        FD_SET(listen_fd, readable);
    for (int fd = 0; fd <= max_fd_in_use; fd++) {
        struct source *s = sources[fd];
        int full;

        if (s == NULL)
            continue;
        full = ACKS_CAP - s->acks_start - s->acks_len < ACK_MAX;
        if (full != s->paused && verbose)
            note(full ? "%s: output backlog full, not reading it"
                      : "%s: output drained, reading it again", s->addr);
        s->paused = full;
        if (!full && !s->peer_done)
            FD_SET(fd, readable);
        if (s->acks_len > 0)
            FD_SET(fd, writable);
        max_fd = fd > max_fd ? fd : max_fd;
    }
    return max_fd;
}

static void on_option(int key, const char *arg)
{
    (void)arg;
    verbose = key == 'v';
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'v', NULL, NULL, "also log select() timeouts and paused/resumed reading"}, {0}};
    const struct lab_command cmd = {
        .about = "Appends client lines and terminal lines to FILE; acknowledges client lines.",
        .default_port = "9003", .options = options, .on_option = on_option,
        .operands = "FILE"};
    struct lab_args args = lab_parse(argc, argv, &cmd);
    int stop_fd;

    if (args.operand_count != 1)
        usage_error("one FILE, please");
    log_path = args.operands[0];
    if ((log_file = fopen(log_path, "a")) == NULL)
        die("open %s", log_path);
    stop_fd = stop_pipe();
    catch_stop_signals(0, NULL);
    listen_fd = open_listener(args.host, args.port, SOCK_NONBLOCK | SOCK_CLOEXEC, SOMAXCONN);
    if (listen_fd >= FD_SETSIZE || stop_fd >= FD_SETSIZE)
        fatal("descriptor %d is not below FD_SETSIZE", listen_fd);
    watch(STDIN_FILENO, "terminal");
    print_ready_line(listen_fd);

    while (!stop_requested) {
        fd_set readable, writable;
        struct timeval tick = {TICK_SECS, 0};
        int max_fd = build_sets(&readable, &writable, stop_fd);
        int ready_count = select(max_fd + 1, &readable, &writable, NULL, &tick);

        select_calls++;
        if (ready_count == -1 && errno != EINTR)
            die("select");
        if (ready_count == 0) {
            accept_paused = 0;          /* a quiet tick: try accept() again */
            if (verbose)
                note("select timed out after %d s", TICK_SECS);
        }
        for (int fd = 0; ready_count > 0 && fd <= max_fd_in_use; fd++) {
            if (sources[fd] != NULL && FD_ISSET(fd, &writable) && send_acks(sources[fd]) == -1)
                continue;
            if (sources[fd] != NULL && FD_ISSET(fd, &readable))
                read_source(sources[fd]);
        }
        if (ready_count > 0 && !accept_paused && FD_ISSET(listen_fd, &readable))
            accept_client();
    }

    note("stopping after %llu select calls", select_calls);
    free(sources[STDIN_FILENO]);        /* the terminal, if still watched */
    sources[STDIN_FILENO] = NULL;
    for (int fd = 0; fd <= max_fd_in_use; fd++)
        if (sources[fd] != NULL)
            forget(sources[fd], NULL);
    fclose(log_file);
    return 0;
}
