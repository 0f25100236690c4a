/* lab.h - the plumbing every program of the lab shares
 *
 * No lesson is about what is in here: how a program reports trouble, reads
 * its command line, prints its ready line and writes an address as text.
 * Lesson 01 shows the rest inline (socket, bind, listen, a loop over
 * partial sends) and then hands it to this library too, so that every
 * later listing opens with its own idea instead of with two hundred lines
 * of set-up. Read this file once, in lesson 01, the way TLPI's readers read
 * tlpi_hdr.h or CS:APP's read csapp.h; the code is in lab.c.
 *
 * Where each piece is explained:
 *   die, fatal, warn, note, the log line      01 NOTES section 2 (and lab.c)
 *   die_bind (a port in use: what to do)      01 server.c, NOTES "SO_REUSEADDR"
 *   lab_parse, parse_number, usage_error      01 NOTES section 2
 *   open_listener, print_ready_line           01 server.c (shown inline there)
 *   send_all, upper_bytes                     01 server.c (shown inline there)
 *   connect_to                                01 client (lib/echo_client.c)
 *   catch_stop_signals, stop_pipe             01 (flag), 03 (the self-pipe)
 *   is_out_of_descriptors, pause_briefly      01 NOTES (EMFILE), 03 (in a loop)
 *   echo_client_main                          the blocking echo client of 01,
 *                                             used as is by 06, 07 and 09
 *   socketserver.h (its own header)           Python's socketserver module:
 *                                             the server part of 06 and 07,
 *                                             whose mix-ins are the lesson
 *
 * Not in here, on purpose: anything a lesson is about. There are no
 * wrappers such as UNP's Socket() or Accept(): the call being taught is
 * always written out where it is made, with its error check.
 */
#ifndef LAB_H
#define LAB_H

#include <netinet/in.h>         /* INET6_ADDRSTRLEN */
#include <signal.h>             /* sig_atomic_t */
#include <stddef.h>
#include <sys/socket.h>         /* struct sockaddr, socklen_t */
#include <sys/types.h>          /* ssize_t */

/* ---- Reporting: one whole line on stderr, "NAME: message[: reason]" ---- */

/* The program's name in every line it prints: argv[0] without its folder
 * ("server", "client", "zombie"); set by lab_parse(). */
extern const char *prog_name;

/* die - a setup failure: the line, the reason from errno, exit 1 */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* fatal - a setup failure with no errno to show: the line, exit 1 */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* warn - one connection's (or one call's) trouble, with errno's reason */
void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* note - an event worth a line: a client came, a client left */
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* die_bind - bind() of host:port failed: die("bind HOST:PORT"); a port in
 * use gets, on the same line, what to do: "... Address already in use (is
 * another server on port 9001? use -p PORT, or -p 0 for any free port)" */
void die_bind(const char *host, const char *port) __attribute__((noreturn));

/* ---- The command line: -H, -p, -h/--help, and a lesson's own options --- */

/* One option of a lesson: -k ARG when name is NULL, --name ARG otherwise;
 * arg names the argument in the usage, NULL for a switch with none. */
struct lab_option {
    int key;                    /* the letter; for --name any unused letter */
    const char *name;           /* long name, or NULL for a one-letter option */
    const char *arg;            /* "N", "FILE", or NULL: a switch */
    const char *help;           /* one line for --help */
};

/* What a program accepts, for lab_parse() and its usage message. */
struct lab_command {
    const char *about;          /* one line printed under the usage */
    const char *default_port;   /* "9001"; NULL: no -H and -p (a demo) */
    int is_client;              /* -H and -p name the server to reach */
    const struct lab_option *options;   /* ended by {0}; or NULL */
    void (*on_option)(int key, const char *arg);  /* called for each one */
    const char *operands;       /* "URL": words allowed after the options */
};

/* The result: -H and -p (or their defaults) and the words after options. */
struct lab_args {
    const char *host, *port;
    int operand_count;
    char **operands;
};

/* lab_parse - read the command line; --help prints the usage and exits 0;
 * anything wrong (unknown option, bad port, stray word) exits 2 */
struct lab_args lab_parse(int argc, char *argv[], const struct lab_command *cmd);
/* usage_error - a bad option value: the line, the usage, exit 2 */
void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* parse_number - text as a whole decimal number in [min, max], or
 * usage_error() naming it: "bad worker count 'x' (a whole number from 1
 * to 64)" for what = "worker count" */
long parse_number(const char *text, long min, long max, const char *what);

/* ---- Addresses and the ready line ---- */

#define ADDR_LEN (INET6_ADDRSTRLEN + 8)     /* "host:port" as text */

/* format_addr - "host:port" of a socket address, into buf */
void format_addr(const struct sockaddr *addr, socklen_t len, char *buf, size_t size);
/* print_ready_line - "listening on ADDR:PORT" on stdout, flushed, with the
 * real port (also after -p 0); the first line a server prints */
void print_ready_line(int fd);

/* ---- Sockets (after lesson 01 has shown them step by step) ---- */

/* open_listener - socket (with sock_flags, e.g. SOCK_NONBLOCK|SOCK_CLOEXEC),
 * SO_REUSEADDR, bind host:port, listen(backlog); exit 1 on failure */
int open_listener(const char *host, const char *port, int sock_flags, int backlog);
/* connect_to - a connected TCP socket to host:port; exit 1 on failure */
int connect_to(const char *host, const char *port);
/* send_all - send every byte, looping over partial sends and EINTR (until
 * a stop is requested); 0, or -1 with errno set. Blocking sockets only. */
int send_all(int fd, const void *buf, size_t len);
/* upper_bytes - ASCII a-z to A-Z in place, every other byte unchanged
 * (Python's data.upper(); not toupper(), which depends on the locale) */
void upper_bytes(char *buf, size_t len);

/* ---- Stopping on a signal, and running out of descriptors ---- */

/* Set by SIGINT and SIGTERM once catch_stop_signals() has run. */
extern volatile sig_atomic_t stop_requested;

/* catch_stop_signals - SIGINT/SIGTERM set stop_requested, write a byte to
 * the stop pipe if there is one, then call also() if given (it runs in the
 * handler: async-signal-safe calls only); sa_flags as given to sigaction
 * (0: a blocked call returns EINTR; SA_RESTART: it goes on). SIGPIPE is
 * ignored: a send to a vanished peer fails with EPIPE instead of killing. */
void catch_stop_signals(int sa_flags, void (*also)(void));
/* stop_pipe - the read end of a non-blocking self-pipe that becomes
 * readable on SIGINT/SIGTERM, for a loop that sleeps in select/poll/epoll;
 * call before catch_stop_signals(). drain_stop_pipe() empties it. */
int stop_pipe(void);
void drain_stop_pipe(void);

/* is_out_of_descriptors - errnum is one that accept() will fail with again
 * at once until something is freed: EMFILE, ENFILE, ENOBUFS, ENOMEM */
int is_out_of_descriptors(int errnum);
/* pause_briefly - sleep one second instead of spinning; a signal ends it */
void pause_briefly(void);

/* now_ms - a monotonic clock in milliseconds (never set back) */
long long now_ms(void);

/* ---- Clients ---- */

/* read_input_line - a client's next line of input: a ">>> " prompt when
 * stdin is a terminal, empty lines skipped (Python's "if not msg:
 * continue"); its length with the '\n' (always there), or -1 at the end
 * of input. *line and *cap as for getline(). */
ssize_t read_input_line(char **line, size_t *cap);

/* echo_client_main - lesson 01's interactive client: lines from stdin,
 * replies to stdout, half-close at end of input; "about" is its --help line */
int echo_client_main(int argc, char *argv[], const char *default_port,
                     const char *about);

#endif
