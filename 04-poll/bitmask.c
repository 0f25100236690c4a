/* bitmask.c - the bit operators of the Python notes 002, then poll()'s masks
 *
 * poll() packs what a program wants to know about a descriptor (events)
 * and what happened to it (revents) into the bits of a short: POLLIN is
 * one bit, POLLOUT another, and so on. Reading and writing such masks
 * takes the operators Python notes 002 introduce with 11 and 14: & (and),
 * | (or), ^ (xor), << and >> (shifts). This program
 *   1. redoes the notes' table with 11 and 14 (or two numbers you give),
 *      in decimal and binary;
 *   2. prints the poll() bits of this system and builds, changes, tests
 *      and filters an events mask with those operators;
 *   3. asks the kernel for real, decoding each revents bit by bit: poll()
 *      on a Unix-domain socket pair, where the peer's close() gives
 *      POLLHUP even when events is 0; then on a TCP connection, as every
 *      lab server has, where the peer's close() (a FIN) gives POLLIN only
 *      if asked and nothing at all if not, and a reset gives POLLERR and
 *      POLLHUP unasked; and POLLNVAL for a descriptor that is not open.
 *
 * Usage: ./bitmask [A B]        (default: 11 14, the notes' numbers)
 *
 * See also: server.c (handle_client() filters revents this way), NOTES.md.
 * Python notes: 002 (bit operators, "filtering flags", POLLIN POLLOUT
 * POLLERR POLLHUP POLLPRI).
 */
#define _POSIX_C_SOURCE 200809L

#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../lib/lab.h"

#define SHIFT 2             /* the notes shift by 2 */
#define MAX_INPUT 65535     /* keeps every result small enough to print */

/* The poll() bits, with what each one means. */
static const struct {
    short bit;
    const char *name, *meaning;
} poll_bits[] = {
    {POLLIN, "POLLIN", "data to read, or a connection to accept (rlist)"},
    {POLLPRI, "POLLPRI", "urgent data: TCP out-of-band (xlist)"},
    {POLLOUT, "POLLOUT", "room to write (wlist)"},
    {POLLERR, "POLLERR", "an error; reported even if not asked for"},
    {POLLHUP, "POLLHUP", "hang-up; reported even if not asked for"},
    {POLLNVAL, "POLLNVAL", "not an open descriptor; reported even if not asked for"},
};
#define N_BITS (sizeof poll_bits / sizeof poll_bits[0])

/* binary - value in binary, at least `width` digits, into buf */
static const char *binary(unsigned long value, int width, char *buf, size_t size)
{
    int digits = 1;
    size_t i = 0;

    while (digits < 63 && (value >> digits) != 0)
        digits++;
    if (digits < width)
        digits = width;
    for (int d = digits - 1; d >= 0 && i + 1 < size; d--)
        buf[i++] = (char)('0' + ((value >> d) & 1));
    buf[i] = '\0';
    return buf;
}

/* flag_names - "POLLIN|POLLOUT" for a mask, "0" for none, into buf */
static const char *flag_names(short mask, char *buf, size_t size)
{
    buf[0] = '\0';
    for (size_t i = 0; i < N_BITS; i++) {
        if (mask & poll_bits[i].bit) {          /* filter: is this bit set? */
            if (buf[0] != '\0')
                strncat(buf, "|", size - strlen(buf) - 1);
            strncat(buf, poll_bits[i].name, size - strlen(buf) - 1);
        }
    }
    if (buf[0] == '\0')
        snprintf(buf, size, "0");
    return buf;
}

/* show_row - one line of the table: expression, decimal, binary, comment */
static void show_row(const char *expr, unsigned long value, int width, const char *comment)
{
    char bits[80];

    printf("  %-9s = %-6lu %s%s%s\n", expr, value, binary(value, width, bits, sizeof bits),
           *comment ? "  " : "", comment);
}

/* show_operators - the Python notes' table for a and b */
static void show_operators(unsigned long a, unsigned long b)
{
    char expr[40], bits[80];
    /* every row as wide as the widest result, a << SHIFT or b << SHIFT */
    int width = (int)strlen(binary((a > b ? a : b) << SHIFT, 4, bits, sizeof bits));

    printf("The Python notes' bit operators, a = %lu, b = %lu:\n", a, b);
    snprintf(expr, sizeof expr, "%lu", a);
    show_row(expr, a, width, "");
    snprintf(expr, sizeof expr, "%lu", b);
    show_row(expr, b, width, "");
    snprintf(expr, sizeof expr, "%lu & %lu", a, b);
    show_row(expr, a & b, width, "and: 1 where both are 1");
    snprintf(expr, sizeof expr, "%lu | %lu", a, b);
    show_row(expr, a | b, width, "or: 1 where either is 1");
    snprintf(expr, sizeof expr, "%lu ^ %lu", a, b);
    show_row(expr, a ^ b, width, "xor: 1 where they differ");
    snprintf(expr, sizeof expr, "%lu << %d", a, SHIFT);
    show_row(expr, a << SHIFT, width, "zeros come in on the right: times 2, twice");
    snprintf(expr, sizeof expr, "%lu >> %d", b, SHIFT);
    show_row(expr, b >> SHIFT, width, "right bits fall off: floor-divide by 2, twice");
}

/* show_masks - the poll() bits of this system, and a mask built with them */
static void show_masks(void)
{
    char names[96], bits[80];
    short events;

    printf("\nThe poll() bits on this system (<poll.h>), one bit each:\n");
    for (size_t i = 0; i < N_BITS; i++)
        printf("  %-8s = 0x%04x  %s  %s\n", poll_bits[i].name, (unsigned)poll_bits[i].bit,
               binary((unsigned long)poll_bits[i].bit, 6, bits, sizeof bits),
               poll_bits[i].meaning);

    printf("\nBuilding and filtering an events mask:\n");
    events = POLLIN | POLLOUT;
    printf("  events = POLLIN | POLLOUT         -> 0x%04x %s (ask for both)\n",
           (unsigned)events, flag_names(events, names, sizeof names));
    events &= (short)~POLLOUT;
    printf("  events &= ~POLLOUT                -> 0x%04x %s (output sent: stop asking)\n",
           (unsigned)events, flag_names(events, names, sizeof names));
    events |= POLLOUT;
    printf("  events |= POLLOUT                 -> 0x%04x %s (output waits again)\n",
           (unsigned)events, flag_names(events, names, sizeof names));
    events ^= POLLIN;
    printf("  events ^= POLLIN                  -> 0x%04x %s (toggle: pause reading)\n",
           (unsigned)events, flag_names(events, names, sizeof names));
    printf("  events & POLLIN                   -> %d (0: not set; nonzero: set)\n",
           events & POLLIN);
    printf("  (events & POLLOUT) != 0           -> %d\n", (events & POLLOUT) != 0);
    printf("  1 << 4 == POLLHUP                 -> %d (on Linux the bits are 1, 2, 4, 8, 16, 32)\n",
           (1 << 4) == POLLHUP);
}

/* show_poll - poll() one descriptor (waiting up to wait_ms for something
 * to happen), then print what was asked and what came */
static void show_poll(const char *situation, int fd, short events, int wait_ms)
{
    char asked[96], got[96];
    struct pollfd entry = {.fd = fd, .events = events, .revents = 0};

    if (poll(&entry, 1, wait_ms) == -1)
        die("poll");
    printf("  %-34s events=%s  revents=0x%04x %s\n", situation,
           flag_names(events, asked, sizeof asked), (unsigned)entry.revents,
           flag_names(entry.revents, got, sizeof got));
}

/* show_unix_revents - poll() a Unix-domain socket pair through its life */
static void show_unix_revents(void)
{
    int pair[2];
    char buf[16];
    ssize_t n;

    printf("\nReal revents from poll() on an AF_UNIX socket pair (timeout 0):\n");
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == -1)
        die("socketpair");
    show_poll("fresh:", pair[0], POLLIN | POLLOUT, 0);
    if (write(pair[1], "abc", 3) != 3)
        die("write");
    show_poll("the peer wrote 3 bytes:", pair[0], POLLIN | POLLOUT, 0);
    show_poll("the same, asking only POLLOUT:", pair[0], POLLOUT, 0);
    close(pair[1]);
    show_poll("peer closed, asking POLLIN:", pair[0], POLLIN, 0);
    show_poll("peer closed, asking nothing:", pair[0], 0, 0);
    n = read(pair[0], buf, sizeof buf);
    printf("  read() -> %zd bytes, ", n);
    n = read(pair[0], buf, sizeof buf);
    printf("then read() -> %zd (end of file)\n", n);
    close(pair[0]);
    show_poll("a closed descriptor:", pair[0], POLLIN, 0);
    show_poll("a negative fd (skipped):", -1, POLLIN, 0);
}

/* tcp_pair - a TCP connection over the loopback: *ours and *peer */
static void tcp_pair(int listen_fd, int *ours, int *peer)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    char where[ADDR_LEN], *colon;

    if (getsockname(listen_fd, (struct sockaddr *)&addr, &len) == -1)
        die("getsockname");
    format_addr((struct sockaddr *)&addr, len, where, sizeof where);
    colon = strrchr(where, ':');
    *colon = '\0';
    *peer = connect_to(where, colon + 1);
    if ((*ours = accept(listen_fd, NULL, NULL)) == -1)
        die("accept");
}

/* show_tcp_revents - the same questions on TCP, as a lab server asks them:
 * a FIN is news only to POLLIN; a reset comes as POLLERR|POLLHUP unasked.
 * (The first poll() after each event waits up to a second for it.) */
static void show_tcp_revents(void)
{
    int listen_fd = open_listener("127.0.0.1", "0", 0, 2), ours, peer;
    struct linger reset_on_close = {1, 0};

    printf("\nThe same on a TCP connection over the loopback:\n");
    tcp_pair(listen_fd, &ours, &peer);
    if (write(peer, "abc", 3) != 3)
        die("write");
    show_poll("the peer wrote 3 bytes:", ours, POLLIN | POLLOUT, 1000);
    close(peer);
    show_poll("peer closed (FIN), asking POLLIN:", ours, POLLIN, 1000);
    show_poll("peer closed (FIN), asking nothing:", ours, 0, 0);
    close(ours);

    tcp_pair(listen_fd, &ours, &peer);
    if (setsockopt(peer, SOL_SOCKET, SO_LINGER, &reset_on_close, sizeof reset_on_close) == -1)
        die("setsockopt SO_LINGER");
    close(peer);                        /* linger 0: a reset (RST), not a FIN */
    show_poll("peer reset (RST), asking POLLIN:", ours, POLLIN, 1000);
    show_poll("peer reset (RST), asking nothing:", ours, 0, 0);
    close(ours);
    close(listen_fd);
}

int main(int argc, char *argv[])
{
    const struct lab_command cmd = {
        .about = "A and B: two whole numbers from 0 to 65535 (default 11 14, as in "
                 "the Python notes).",
        .operands = "[A B]"};
    struct lab_args args = lab_parse(argc, argv, &cmd);
    unsigned long a = 11, b = 14;

    if (args.operand_count == 2) {
        a = (unsigned long)parse_number(args.operands[0], 0, MAX_INPUT, "A");
        b = (unsigned long)parse_number(args.operands[1], 0, MAX_INPUT, "B");
    } else if (args.operand_count != 0) {
        usage_error("give two numbers or none");
    }
    show_operators(a, b);
    show_masks();
    show_unix_revents();
    show_tcp_revents();
    return 0;
}
