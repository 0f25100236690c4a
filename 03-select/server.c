/* server.c - an echo-upper server that serves many clients with select()
 *
 * IO multiplexing: instead of sleeping in accept() or in one client's
 * recv() (lesson 01), or asking every socket again and again whether it
 * has something (lesson 02), the server hands the kernel a list of
 * descriptors and sleeps in ONE call, select(), until at least one of them
 * is ready. "Readable" means accept() or recv() will not block; "writable"
 * means send() will take at least some bytes. Then it does exactly the
 * ready work and goes back to select(). One process, one thread, and a
 * second client is served while the first one is still connected.
 *
 * The sets are rebuilt before every call from the state of each client:
 *   - read interest while the client's pending output is below OUT_CAP, so
 *     a client that sends but never reads its replies is simply no longer
 *     read once its backlog is full (the kernel then slows the sender down);
 *   - write interest only while output waits (the seed's `dic`): a socket
 *     with room in its send buffer is writable nearly all the time, and
 *     asking for it without data would wake select() at once, again and
 *     again: a busy loop.
 * select() is level-triggered: a descriptor stays ready as long as the
 * condition holds, so each client gets one recv() per round and nobody can
 * hog the loop; whatever is left is reported again on the next round.
 *
 * select() can only watch descriptors below FD_SETSIZE (1024 with glibc);
 * FD_SET on a larger one writes outside the fd_set. A connection that gets
 * such a descriptor is refused: logged and closed, never FD_SET.
 *
 * `--log FILE` is the seed 002 application: the server also watches the
 * terminal (standard input), appends every line a client sends and every
 * line typed at the terminal to FILE, and answers each client line with an
 * acknowledgement instead of the echo.
 *
 * Usage: ./server [-H ADDR] [-p PORT] [-v] [--log FILE]
 *        (defaults: 127.0.0.1, 9003)
 *
 * See also: client.c (a select() client: terminal and socket in one
 * select), NOTES.md, ../04-poll (the same server with poll()).
 * Seeds: 000, 001, 002, 004 (IO multiplexing, select's rlist/wlist/xlist
 * and timeout, the `dic` of pending replies, level-triggered readiness,
 * the seed 002 "select server that also watches the terminal" application).
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
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_PORT "9003"
#define BACKLOG SOMAXCONN   /* an event loop accepts in bursts: a deep queue */
#define OUT_CAP (64 * 1024) /* pending output per client; reading stops when full */
#define LINE_CAP 4096       /* --log: a longer line is saved in pieces */
#define ACK_MAX 48          /* --log: room one acknowledgement may need */
#define ACCEPT_BURST 64     /* accepts per round, so clients get turns too */
#define TICK_SECS 5         /* select's timeout, as in the seed's select(..., 5) */
#define ADDR_LEN (INET6_ADDRSTRLEN + 8)  /* "host:port" as text */

static const char *prog_name = "server";

/* One connected client (or, with --log, the terminal). */
struct client {
    int fd;
    char addr[ADDR_LEN];
    char *out;                  /* pending output, OUT_CAP bytes, made on first use */
    size_t out_start, out_len;  /* unsent bytes are out[out_start .. +out_len) */
    char *line;                 /* --log: the line received so far */
    size_t line_len;
    int peer_done;              /* the client half-closed: send what we owe, close */
    int paused;                 /* reading stopped because output is full (for -v) */
    unsigned long long total;   /* bytes received */
};

/* Every client, indexed by its descriptor. All are below FD_SETSIZE,
 * because no larger descriptor is ever kept (see accept_clients). */
static struct client *clients[FD_SETSIZE];
static int max_client_fd = -1;

static int listen_fd = -1;
static int reserve_fd = -1;     /* a spare descriptor for the EMFILE trick */
static int accept_paused = 0;   /* out of descriptors: listener not watched */
static int verbose = 0;
static unsigned long long select_calls = 0;

static FILE *log_file = NULL;   /* --log FILE; NULL in echo mode */
static const char *log_path = NULL;
static struct client terminal = {.fd = STDIN_FILENO, .addr = "terminal"};
static int watch_terminal = 0;

/* Set by the signal handler; signals are blocked except inside pselect(). */
static volatile sig_atomic_t stop_requested = 0;

/* log_line - one whole line on stderr: "server: message[: reason]"
 * Built first and written with one fprintf (one write() on unbuffered
 * stderr), so lines from several processes never interleave mid-line. */
static void log_line(int errnum, const char *fmt, va_list ap)
{
    char msg[512];

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

/* warn - report one connection's trouble with the reason from errno */
static void warn(const char *fmt, ...)
{
    int saved_errno = errno;
    va_list ap;

    va_start(ap, fmt);
    log_line(saved_errno, fmt, ap);
    va_end(ap);
}

/* note - one line on stderr about an event (a client came, a client left) */
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
            "Usage: %s [-H ADDR] [-p PORT] [-v] [--log FILE]\n"
            "  -H ADDR     address to listen on (default 127.0.0.1)\n"
            "  -p PORT     port to listen on, 0 = any free port (default %s)\n"
            "  -v          also log select() timeouts and paused/resumed reading\n"
            "  --log FILE  seed 002 mode: watch the terminal too, append every client\n"
            "              line and every terminal line to FILE, acknowledge each\n"
            "              client line instead of echoing it\n"
            "  -h, --help  show this help\n",
            prog_name, DEFAULT_PORT);
    exit(status);
}

/* on_stop_signal - SIGINT/SIGTERM handler: only set the flag. The signal
 * can only arrive inside pselect() (it is blocked everywhere else), which
 * then returns EINTR, and the loop sees the flag. */
static void on_stop_signal(int signo)
{
    (void)signo;
    stop_requested = 1;
}

/* install_signals - stop on SIGINT/SIGTERM; never die of SIGPIPE.
 * Blocks SIGINT and SIGTERM and stores in *run_mask the mask to use
 * while waiting in pselect(). */
static void install_signals(sigset_t *run_mask)
{
    struct sigaction sa;
    sigset_t stop_signals;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    if (sigaction(SIGINT, &sa, NULL) == -1 || sigaction(SIGTERM, &sa, NULL) == -1)
        die("sigaction");

    /* Writing to a peer that has gone raises SIGPIPE, which kills by
     * default. MSG_NOSIGNAL covers send(); ignoring it covers the rest. */
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL) == -1)
        die("sigaction");

    /* A flag checked before select() has a gap: the signal may land just
     * after the check and select() would sleep on. pselect() closes the
     * gap: the signals stay blocked while we work and are let in only
     * atomically with the wait. */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &stop_signals, run_mask) == -1)
        die("sigprocmask");
    sigdelset(run_mask, SIGINT);
    sigdelset(run_mask, SIGTERM);
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

/* set_nonblocking - O_NONBLOCK on fd; 0 or -1 with errno set */
static int set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags == -1)
        return -1;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/* open_listener - socket, SO_REUSEADDR, bind, listen; exit 1 on failure */
static int open_listener(const char *host, const char *port)
{
    struct addrinfo hints, *res;
    int fd, one = 1, rc;

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

    fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (fd == -1)
        die("socket");
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1)
        die("setsockopt SO_REUSEADDR");
    if (bind(fd, res->ai_addr, res->ai_addrlen) == -1)
        die("bind %s:%s", host, port);
    freeaddrinfo(res);
    if (listen(fd, BACKLOG) == -1)
        die("listen");

    /* select() says "a connection is waiting", but the client may reset
     * it before we call accept(); a blocking accept() would then sleep
     * and stall every client. Non-blocking, it fails with EAGAIN. */
    if (set_nonblocking(fd) == -1)
        die("fcntl O_NONBLOCK");
    if (fd >= FD_SETSIZE) {
        fprintf(stderr, "%s: listening descriptor %d is beyond FD_SETSIZE\n", prog_name, fd);
        exit(1);
    }
    return fd;
}

/* print_ready_line - "listening on ADDR:PORT" on stdout, with the real port */
static void print_ready_line(int fd)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    char where[ADDR_LEN];

    if (getsockname(fd, (struct sockaddr *)&addr, &len) == -1)
        die("getsockname");
    format_addr((struct sockaddr *)&addr, len, where, sizeof where);
    printf("listening on %s\n", where);
    fflush(stdout);
}

/* upper_bytes - ASCII a-z to A-Z in place, every other byte unchanged
 * (not toupper(), whose answer depends on the locale) */
static void upper_bytes(char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i] >= 'a' && buf[i] <= 'z')
            buf[i] = (char)(buf[i] - 'a' + 'A');
}

/* out_room - bytes of output the client can still take before the cap */
static size_t out_room(const struct client *c)
{
    return OUT_CAP - c->out_len;
}

/* wants_read - read interest: not half-closed, and room for what a read
 * may produce (the echo itself, or acknowledgements in --log mode) */
static int wants_read(const struct client *c)
{
    if (c->peer_done)
        return 0;
    return log_file ? out_room(c) >= ACK_MAX : out_room(c) > 0;
}

/* reopen_reserve - get the spare descriptor back after it was used */
static void reopen_reserve(void)
{
    if (reserve_fd == -1)
        reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* close_client - forget a client and close its socket; a descriptor is
 * free again, so a paused listener may accept again */
static void close_client(struct client *c, const char *why)
{
    if (why != NULL)
        note("closed %s (%llu bytes%s%s)", c->addr, c->total, *why ? ", " : "", why);
    clients[c->fd] = NULL;
    while (max_client_fd >= 0 && clients[max_client_fd] == NULL)
        max_client_fd--;
    close(c->fd);
    free(c->out);
    free(c->line);
    free(c);
    reopen_reserve();
    if (accept_paused) {
        accept_paused = 0;
        note("a descriptor is free again: accepting");
    }
}

/* flush_output - one send() of the pending output. Level-triggered: what
 * does not fit now is sent when select() reports the socket writable.
 * Returns -1 if the client was closed. */
static int flush_output(struct client *c)
{
    ssize_t n;

    if (c->out_len == 0)
        return 0;
    do
        n = send(c->fd, c->out + c->out_start, c->out_len, MSG_NOSIGNAL);
    while (n == -1 && errno == EINTR);
    if (n == -1) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;                   /* send buffer full: wait for writable */
        warn("send to %s", c->addr);
        close_client(c, "send failed");
        return -1;
    }
    c->out_start += (size_t)n;
    c->out_len -= (size_t)n;
    if (c->out_len == 0)
        c->out_start = 0;
    if (c->out_len == 0 && c->peer_done) {
        close_client(c, "");            /* half-closed and everything sent */
        return -1;
    }
    return 0;
}

/* make_room - allocate the output buffer on first use and move the unsent
 * bytes to its front, so that the free space is one block at the end */
static int make_room(struct client *c)
{
    if (c->out == NULL && (c->out = malloc(OUT_CAP)) == NULL)
        return -1;
    if (c->out_start > 0) {
        memmove(c->out, c->out + c->out_start, c->out_len);
        c->out_start = 0;
    }
    return 0;
}

/* queue_output - append bytes to the pending output (room is checked by
 * the caller through wants_read) */
static void queue_output(struct client *c, const char *data, size_t len)
{
    if (c->out == NULL || len > OUT_CAP - c->out_start - c->out_len)
        return;
    memcpy(c->out + c->out_start + c->out_len, data, len);
    c->out_len += len;
}

/* save_line - --log mode: append one line to the file; acknowledge it to
 * a client as the seed does ("received successfully") */
static void save_line(struct client *c)
{
    char ack[ACK_MAX];
    size_t len = c->line_len;

    if (len > 0 && c->line[len - 1] == '\r')
        len--;                          /* "\r\n" is accepted as a line end */
    fprintf(log_file, "[%s] %.*s\n", c->addr, (int)len, c->line);
    if (fflush(log_file) == EOF)
        warn("write %s", log_path);
    note("saved %zu bytes from %s", len, c->addr);
    if (c != &terminal) {
        int n = snprintf(ack, sizeof ack, "received %zu bytes\n", len);
        queue_output(c, ack, (size_t)n);
    }
    c->line_len = 0;
}

/* log_bytes - --log mode: cut received bytes into lines and save each one.
 * A full line buffer is saved only when one more byte of the same line
 * comes, so a line of exactly LINE_CAP bytes is still one entry (saved at
 * its newline), not a piece followed by an empty line. */
static int log_bytes(struct client *c, const char *data, size_t len)
{
    if (c->line == NULL && (c->line = malloc(LINE_CAP)) == NULL)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (data[i] == '\n') {
            save_line(c);
            continue;
        }
        if (c->line_len == LINE_CAP)
            save_line(c);               /* a very long line: saved in pieces */
        c->line[c->line_len++] = data[i];
    }
    return 0;
}

/* read_client - one recv() for a readable client: echo mode upper-cases
 * into the output buffer, --log mode saves lines. Then one optimistic
 * send(): the socket is nearly always writable, so trying at once saves a
 * select() round; only what does not fit waits for write interest.
 * Returns -1 if the client was closed. */
static int read_client(struct client *c)
{
    char line_buf[LINE_CAP];
    char *dest;
    size_t room;
    ssize_t n;

    if (make_room(c) == -1) {
        warn("malloc for %s", c->addr);
        close_client(c, "out of memory");
        return -1;
    }
    if (log_file) {                     /* each byte may end a line: one ack */
        dest = line_buf;
        room = out_room(c) / ACK_MAX;
        if (room > sizeof line_buf)
            room = sizeof line_buf;
    } else {                            /* echo: straight into the output */
        dest = c->out + c->out_len;
        room = out_room(c);
    }

    n = recv(c->fd, dest, room, 0);
    if (n == -1) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return 0;
        warn("recv from %s", c->addr);
        close_client(c, "reset");
        return -1;
    }
    if (n == 0) {                       /* end of file: the client half-closed */
        c->peer_done = 1;
        if (log_file && c->line_len > 0)
            save_line(c);               /* a last line without its newline */
    } else {
        c->total += (unsigned long long)n;
        if (log_file) {
            if (log_bytes(c, dest, (size_t)n) == -1) {
                warn("malloc for %s", c->addr);
                close_client(c, "out of memory");
                return -1;
            }
        } else {
            upper_bytes(dest, (size_t)n);
            c->out_len += (size_t)n;
        }
    }
    if (c->out_len == 0 && c->peer_done) {
        close_client(c, "");
        return -1;
    }
    return flush_output(c);
}

/* add_client - start tracking a freshly accepted connection */
static void add_client(int conn_fd, const char *addr)
{
    struct client *c = calloc(1, sizeof *c);

    if (c == NULL || set_nonblocking(conn_fd) == -1) {
        warn("new client %s", addr);
        free(c);
        close(conn_fd);
        return;
    }
    c->fd = conn_fd;
    snprintf(c->addr, sizeof c->addr, "%s", addr);
    clients[conn_fd] = c;
    if (conn_fd > max_client_fd)
        max_client_fd = conn_fd;
    note("connection from %s", addr);
}

/* refuse_with_reserve - EMFILE: the pending connection cannot get a
 * descriptor, and it stays in the queue, so the listener stays readable:
 * select() would return at once, forever (a busy spin). Close the spare
 * descriptor kept for this moment, accept the connection into it, close
 * it (the client sees the connection closed, not a hang), and take the
 * spare back. Without a spare, stop watching the listener until a
 * descriptor frees up (close_client) or select() times out. */
static void refuse_with_reserve(void)
{
    struct sockaddr_storage peer_addr;
    socklen_t peer_len = sizeof peer_addr;
    char addr[ADDR_LEN];
    int conn_fd;

    if (reserve_fd == -1) {
        accept_paused = 1;
        note("out of descriptors: not accepting until one is free");
        return;
    }
    close(reserve_fd);
    reserve_fd = -1;
    conn_fd = accept(listen_fd, (struct sockaddr *)&peer_addr, &peer_len);
    if (conn_fd >= 0) {
        format_addr((struct sockaddr *)&peer_addr, peer_len, addr, sizeof addr);
        note("refused %s: out of descriptors (EMFILE)", addr);
        close(conn_fd);
    }
    reopen_reserve();
}

/* accept_clients - accept what is waiting, up to ACCEPT_BURST */
static void accept_clients(void)
{
    for (int i = 0; i < ACCEPT_BURST && !accept_paused; i++) {
        struct sockaddr_storage peer_addr;
        socklen_t peer_len = sizeof peer_addr;
        char addr[ADDR_LEN];
        int conn_fd = accept(listen_fd, (struct sockaddr *)&peer_addr, &peer_len);

        if (conn_fd == -1) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;               /* the client gave up: next one */
            if (errno == EMFILE) {
                refuse_with_reserve();
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                /* ENFILE, ENOBUFS, ENOMEM: the system is short, not us.
                 * Stop accepting until the next tick instead of spinning. */
                warn("accept");
                accept_paused = 1;
            }
            return;
        }
        format_addr((struct sockaddr *)&peer_addr, peer_len, addr, sizeof addr);
        if (conn_fd >= FD_SETSIZE) {
            /* FD_SET(conn_fd) would write beyond the fd_set: memory
             * corruption. select() cannot watch it, so refuse it. */
            note("refused %s: descriptor %d is not below FD_SETSIZE (%d)",
                 addr, conn_fd, FD_SETSIZE);
            close(conn_fd);
            continue;
        }
        add_client(conn_fd, addr);
    }
}

/* read_terminal - --log mode: save what was typed at the terminal. At end
 * of input stop watching it: a descriptor at end of file stays readable,
 * and watching it would wake select() at once, every time. */
static void read_terminal(void)
{
    char buf[LINE_CAP];
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);

    if (n == -1) {
        if (errno == EINTR || errno == EAGAIN)
            return;
        warn("read terminal");
    } else if (n > 0) {
        if (log_bytes(&terminal, buf, (size_t)n) == -1)
            warn("malloc");
        return;
    }
    if (terminal.line_len > 0)
        save_line(&terminal);
    note("terminal: end of input, no longer watched");
    watch_terminal = 0;
}

/* build_sets - the interest of this round, from the state of each client.
 * select() overwrites its sets with the answer, so they are rebuilt every
 * time. Returns the highest descriptor put in a set. */
static int build_sets(fd_set *readable, fd_set *writable)
{
    int max_fd = -1;

    FD_ZERO(readable);
    FD_ZERO(writable);
    if (!accept_paused) {
        FD_SET(listen_fd, readable);
        max_fd = listen_fd;
    }
    if (watch_terminal) {
        FD_SET(STDIN_FILENO, readable);
        if (STDIN_FILENO > max_fd)
            max_fd = STDIN_FILENO;
    }
    for (int fd = 0; fd <= max_client_fd; fd++) {
        struct client *c = clients[fd];

        if (c == NULL)
            continue;
        if ((!c->peer_done && !wants_read(c)) != c->paused) {
            c->paused = !c->paused;
            if (verbose)
                note(c->paused ? "%s: output backlog full, not reading it"
                               : "%s: output drained, reading it again", c->addr);
        }
        if (!c->paused && !c->peer_done)
            FD_SET(fd, readable);
        if (c->out_len > 0)             /* write interest only while output waits */
            FD_SET(fd, writable);
        if ((!c->paused && !c->peer_done) || c->out_len > 0)
            if (fd > max_fd)
                max_fd = fd;
    }
    return max_fd;
}

/* handle_ready - do the work select() reported, clients first: a new
 * connection accepted in the same round cannot be mistaken for the old
 * client that just left the same descriptor number */
static void handle_ready(fd_set *readable, fd_set *writable)
{
    int last = max_client_fd;

    for (int fd = 0; fd <= last; fd++) {
        struct client *c = clients[fd];

        if (c == NULL)
            continue;
        if (FD_ISSET(fd, writable) && flush_output(c) == -1)
            continue;
        if (FD_ISSET(fd, readable))
            read_client(c);
    }
    if (watch_terminal && FD_ISSET(STDIN_FILENO, readable))
        read_terminal();
    if (!accept_paused && FD_ISSET(listen_fd, readable))
        accept_clients();
}

/* on_tick - select() timed out: nothing happened for TICK_SECS seconds */
static void on_tick(void)
{
    int count = 0;

    for (int fd = 0; fd <= max_client_fd; fd++)
        count += clients[fd] != NULL;
    if (verbose)
        note("select timed out after %d s: %d clients connected", TICK_SECS, count);
    reopen_reserve();
    if (accept_paused) {
        accept_paused = 0;              /* try accept() again */
        note("trying to accept again");
    }
}

/* parse_args - options into the globals; exits 2 on a bad one */
static void parse_args(int argc, char *argv[], const char **host, const char **port)
{
    static const struct option long_options[] = {
        {"help", no_argument, NULL, 'h'}, {"log", required_argument, NULL, 'l'},
        {NULL, 0, NULL, 0}};
    int opt;

    while ((opt = getopt_long(argc, argv, "H:p:vh", long_options, NULL)) != -1) {
        switch (opt) {
        case 'H': *host = optarg; break;
        case 'p': *port = optarg; break;
        case 'v': verbose = 1; break;
        case 'l': log_path = optarg; break;
        case 'h': usage(stdout, 0); break;
        default: usage(stderr, 2);      /* getopt printed the reason */
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", prog_name, argv[optind]);
        usage(stderr, 2);
    }
    if ((*port)[0] == '\0' || strlen(*port) > 5
        || strspn(*port, "0123456789") != strlen(*port) || atol(*port) > 65535) {
        fprintf(stderr, "%s: bad port '%s'\n", prog_name, *port);
        usage(stderr, 2);
    }
}

int main(int argc, char *argv[])
{
    const char *host = "127.0.0.1", *port = DEFAULT_PORT;
    sigset_t run_mask;

    parse_args(argc, argv, &host, &port);
    install_signals(&run_mask);
    if (log_path != NULL) {
        if ((log_file = fopen(log_path, "a")) == NULL)
            die("open %s", log_path);
        watch_terminal = 1;
    }
    reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (reserve_fd == -1)
        die("open /dev/null");
    listen_fd = open_listener(host, port);
    print_ready_line(listen_fd);

    while (!stop_requested) {
        fd_set readable, writable;
        int max_fd = build_sets(&readable, &writable);
        struct timespec tick = {TICK_SECS, 0};
        int ready_count = pselect(max_fd + 1, &readable, &writable, NULL, &tick, &run_mask);

        select_calls++;
        if (ready_count == -1) {
            if (errno == EINTR)
                continue;               /* a signal: the loop checks the flag */
            die("select");
        }
        if (ready_count == 0)
            on_tick();
        else
            handle_ready(&readable, &writable);
    }

    note("stopping after %llu select calls", select_calls);
    for (int fd = 0; fd <= max_client_fd; fd++)
        if (clients[fd] != NULL)
            close_client(clients[fd], NULL);
    close(listen_fd);
    if (log_file != NULL)
        fclose(log_file);
    free(terminal.line);
    return 0;
}
