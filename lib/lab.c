/* lab.c - the plumbing every program of the lab shares (see lab.h)
 *
 * Read lab.h first: it says what each function is for and which lesson
 * explains it. Nothing here is any lesson's idea.
 */
#define _POSIX_C_SOURCE 200809L

#include "lab.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *prog_name = "lab";
volatile sig_atomic_t stop_requested = 0;

static const struct lab_command *command;   /* for usage_error() */
static int stop_pipe_fds[2] = {-1, -1};
static void (*stop_also)(void);

/* log_line - build the whole line, then write it with one fprintf (one
 * write() on unbuffered stderr): lines from several processes or threads
 * never interleave mid-line */
static void log_line(int errnum, const char *fmt, va_list ap)
{
    char msg[512];

    vsnprintf(msg, sizeof msg, fmt, ap);
    if (errnum != 0)
        fprintf(stderr, "%s: %s: %s\n", prog_name, msg, strerror(errnum));
    else
        fprintf(stderr, "%s: %s\n", prog_name, msg);
}

void die(const char *fmt, ...)
{
    int saved_errno = errno;
    va_list ap;

    va_start(ap, fmt);
    log_line(saved_errno, fmt, ap);
    va_end(ap);
    exit(1);
}

void fatal(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_line(0, fmt, ap);
    va_end(ap);
    exit(1);
}

void die_bind(const char *host, const char *port)
{
    /* The setup failure a class meets most: the port is still held by a
     * server of an earlier run, of another lesson, or a neighbour's. */
    if (errno == EADDRINUSE && strcmp(port, "0") != 0)
        fatal("bind %s:%s: %s (is another server on port %s? use -p PORT, or -p 0 for any free port)",
              host, port, strerror(EADDRINUSE), port);
    die("bind %s:%s", host, port);
}

void warn(const char *fmt, ...)
{
    int saved_errno = errno;
    va_list ap;

    va_start(ap, fmt);
    log_line(saved_errno, fmt, ap);
    va_end(ap);
    errno = saved_errno;
}

void note(const char *fmt, ...)
{
    int saved_errno = errno;
    va_list ap;

    va_start(ap, fmt);
    log_line(0, fmt, ap);
    va_end(ap);
    errno = saved_errno;
}

/* option_text - "-w N", "--backend NAME" or "--edge", into buf */
static void option_text(const struct lab_option *opt, char *buf, size_t size)
{
    const char *space = opt->arg ? " " : "", *arg = opt->arg ? opt->arg : "";

    if (opt->name != NULL)
        snprintf(buf, size, "--%s%s%s", opt->name, space, arg);
    else
        snprintf(buf, size, "-%c%s%s", opt->key, space, arg);
}

/* print_usage - "Usage: NAME [-H ADDR] [-p PORT] [options] [OPERANDS]",
 * then one line per option */
static void print_usage(FILE *out)
{
    const struct lab_command *cmd = command;
    const struct lab_option *opt;
    char text[64];

    fprintf(out, "Usage: %s%s", prog_name, cmd->default_port ? " [-H ADDR] [-p PORT]" : "");
    for (opt = cmd->options; opt != NULL && opt->key != 0; opt++) {
        option_text(opt, text, sizeof text);
        fprintf(out, " [%s]", text);
    }
    fprintf(out, "%s%s\n", cmd->operands ? " " : "", cmd->operands ? cmd->operands : "");
    if (cmd->default_port != NULL)
        fprintf(out, "  %-16s %s (default 127.0.0.1)\n  %-16s %s (default %s)\n", "-H ADDR",
                cmd->is_client ? "server address" : "address to listen on", "-p PORT",
                cmd->is_client ? "server port" : "port to listen on, 0 = any free port",
                cmd->default_port);
    for (opt = cmd->options; opt != NULL && opt->key != 0; opt++) {
        option_text(opt, text, sizeof text);
        fprintf(out, "  %-16s %s\n", text, opt->help);
    }
    fprintf(out, "  %-16s %s\n", "-h, --help", "show this help");
    if (cmd->about != NULL)
        fprintf(out, "%s\n", cmd->about);
}

void usage_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_line(0, fmt, ap);
    va_end(ap);
    print_usage(stderr);
    exit(2);
}

long parse_number(const char *text, long min, long max, const char *what)
{
    char *end;
    long value;

    errno = 0;
    value = strtol(text, &end, 10);
    if (text[0] == '\0' || *end != '\0' || errno != 0 || value < min || value > max)
        usage_error("bad %s '%s' (a whole number from %ld to %ld)", what, text, min, max);
    return value;
}

/* is_port - 0 to 65535, in decimal digits only */
static int is_port(const char *text)
{
    size_t len = strlen(text);

    return len > 0 && len <= 5 && strspn(text, "0123456789") == len && atol(text) <= 65535;
}

struct lab_args lab_parse(int argc, char *argv[], const struct lab_command *cmd)
{
    struct option long_options[32] = {{"help", no_argument, NULL, 'h'}};
    char short_options[64] = ":h";
    struct lab_args args = {"127.0.0.1", cmd->default_port, 0, NULL};
    const struct lab_option *o;
    int n_long = 1, opt;

    prog_name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    command = cmd;
    if (cmd->default_port != NULL)
        strcat(short_options, "H:p:");
    for (o = cmd->options; o != NULL && o->key != 0; o++) {
        size_t used = strlen(short_options);

        if (o->name != NULL && n_long < 31) {
            long_options[n_long].name = o->name;
            long_options[n_long].has_arg = o->arg ? required_argument : no_argument;
            long_options[n_long++].val = o->key;
        } else if (o->name == NULL && used + 3 < sizeof short_options) {
            short_options[used] = (char)o->key;
            if (o->arg != NULL)
                short_options[used + 1] = ':';
        }
    }

    opterr = 0;                         /* our own messages, in our format */
    while ((opt = getopt_long(argc, argv, short_options, long_options, NULL)) != -1) {
        if (opt == 'h') {
            print_usage(stdout);
            exit(0);
        } else if (opt == '?') {
            if (optopt != 0)
                usage_error("unknown option '-%c'", optopt);
            usage_error("unknown option '%s'", argv[optind - 1]);
        } else if (opt == ':') {
            usage_error("option '%s' needs an argument", argv[optind - 1]);
        } else if (opt == 'H' && cmd->default_port != NULL) {
            args.host = optarg;
        } else if (opt == 'p' && cmd->default_port != NULL) {
            args.port = optarg;
        } else if (cmd->on_option != NULL) {
            cmd->on_option(opt, optarg);
        }
    }
    if (args.port != NULL && !is_port(args.port))
        usage_error("bad port '%s'", args.port);
    if (optind < argc && cmd->operands == NULL)
        usage_error("unexpected argument '%s'", argv[optind]);
    args.operand_count = argc - optind;
    args.operands = argv + optind;
    return args;
}

void format_addr(const struct sockaddr *addr, socklen_t len, char *buf, size_t size)
{
    char host[INET6_ADDRSTRLEN], port[8];

    if (getnameinfo(addr, len, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        snprintf(buf, size, "?:?");
    else
        snprintf(buf, size, "%s:%s", host, port);
}

void print_ready_line(int fd)
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

/* resolve - the first address for host:port (numeric only); exit 1 if bad */
static struct addrinfo *resolve(const char *host, const char *port, int type, int flags)
{
    struct addrinfo hints = {0}, *res;
    int rc;

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = type;
    hints.ai_flags = flags | AI_NUMERICSERV;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0)
        fatal("bad address %s:%s: %s", host, port, gai_strerror(rc));
    return res;
}

int open_listener(const char *host, const char *port, int sock_flags, int backlog)
{
    struct addrinfo *res = resolve(host, port, SOCK_STREAM, AI_PASSIVE | AI_NUMERICHOST);
    int fd, one = 1;

    fd = socket(res->ai_family, res->ai_socktype | sock_flags, res->ai_protocol);
    if (fd == -1)
        die("socket");
    /* A restarted server can bind while its old connections sit in TIME_WAIT. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1)
        die("setsockopt SO_REUSEADDR");
    if (bind(fd, res->ai_addr, res->ai_addrlen) == -1)
        die_bind(host, port);
    freeaddrinfo(res);
    if (listen(fd, backlog) == -1)
        die("listen");
    return fd;
}

int connect_to(const char *host, const char *port)
{
    struct addrinfo *res = resolve(host, port, SOCK_STREAM, 0), *ai;
    int fd = -1, saved_errno = 0;

    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd == -1)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        saved_errno = errno;
        close(fd);
        fd = -1;
        errno = saved_errno;
    }
    freeaddrinfo(res);
    if (fd == -1)
        die("connect %s:%s", host, port);
    return fd;
}

int send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n == -1) {
            if (errno == EINTR && !stop_requested)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

void upper_bytes(char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i] >= 'a' && buf[i] <= 'z')
            buf[i] = (char)(buf[i] - 'a' + 'A');
}

/* on_stop_signal - the SIGINT/SIGTERM handler: flag, pipe byte, hook */
static void on_stop_signal(int signo)
{
    int saved_errno = errno;
    char byte = 1;

    (void)signo;
    stop_requested = 1;
    if (stop_pipe_fds[1] != -1 && write(stop_pipe_fds[1], &byte, 1) == -1) {
        /* full: the loop is being woken already */
    }
    if (stop_also != NULL)
        stop_also();
    errno = saved_errno;
}

void catch_stop_signals(int sa_flags, void (*also)(void))
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    stop_also = also;
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = sa_flags;
    if (sigaction(SIGINT, &sa, NULL) == -1 || sigaction(SIGTERM, &sa, NULL) == -1)
        die("sigaction");
    sa.sa_handler = SIG_IGN;
    sa.sa_flags = 0;
    if (sigaction(SIGPIPE, &sa, NULL) == -1)
        die("sigaction SIGPIPE");
}

int stop_pipe(void)
{
    int flags;

    if (stop_pipe_fds[0] != -1)
        return stop_pipe_fds[0];
    if (pipe(stop_pipe_fds) == -1)
        die("pipe");
    for (int i = 0; i < 2; i++) {
        flags = fcntl(stop_pipe_fds[i], F_GETFL);
        if (flags == -1 || fcntl(stop_pipe_fds[i], F_SETFL, flags | O_NONBLOCK) == -1
            || fcntl(stop_pipe_fds[i], F_SETFD, FD_CLOEXEC) == -1)
            die("fcntl on the stop pipe");
    }
    return stop_pipe_fds[0];
}

void drain_stop_pipe(void)
{
    char bytes[64];

    while (read(stop_pipe_fds[0], bytes, sizeof bytes) > 0)
        ;
}

int is_out_of_descriptors(int errnum)
{
    return errnum == EMFILE || errnum == ENFILE || errnum == ENOBUFS || errnum == ENOMEM;
}

void pause_briefly(void)
{
    struct timespec one_second = {1, 0};

    nanosleep(&one_second, NULL);
}

ssize_t read_input_line(char **line, size_t *cap)
{
    int interactive = isatty(STDIN_FILENO);
    ssize_t len;

    do {
        if (interactive) {
            fputs(">>> ", stdout);
            fflush(stdout);
        }
        len = getline(line, cap, stdin);
        if (len == -1)
            return -1;                      /* end of input */
        if ((*line)[len - 1] == '\n')
            len--;
    } while (len == 0);                     /* if not msg: continue */
    (*line)[len++] = '\n';                  /* getline left room: its '\0' */
    return len;
}

long long now_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}
