/* bitmask.c - the bit operators of seed 002, then poll()'s event masks
 *
 * poll() packs what a program wants to know about a descriptor (events)
 * and what happened to it (revents) into the bits of a short: POLLIN is
 * one bit, POLLOUT another, and so on. Reading and writing such masks
 * takes the operators seed 002 introduces with 11 and 14: & (and),
 * | (or), ^ (xor), << and >> (shifts). This program
 *   1. redoes the seed's table with 11 and 14 (or two numbers you give),
 *      in decimal and binary;
 *   2. prints the poll() bits of this system and builds, changes, tests
 *      and filters an events mask with those operators;
 *   3. asks the kernel for real: poll() on a socket pair, decoding each
 *      revents bit by bit, including POLLHUP, which comes even when
 *      events is 0, and POLLNVAL for a descriptor that is not open.
 *
 * Usage: ./bitmask [A B]        (default: 11 14, the seed's numbers)
 *
 * See also: server.c (handle_client() filters revents this way), NOTES.md.
 * Seed: 002 (bit operators, "filtering flags", POLLIN POLLOUT POLLERR
 * POLLHUP POLLPRI).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SHIFT 2             /* the seed shifts by 2 */
#define MAX_INPUT 65535     /* keeps every result small enough to print */

static const char *prog_name = "bitmask";

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

/* die - report a failure with the reason from errno, exit 1 */
static void die(const char *what)
{
    fprintf(stderr, "%s: %s: %s\n", prog_name, what, strerror(errno));
    exit(1);
}

/* usage - print the command line; exit with status */
static void usage(FILE *out, int status)
{
    fprintf(out,
            "Usage: %s [A B]\n"
            "  A, B   two whole numbers from 0 to %d (default 11 14, as in the seed)\n"
            "  -h, --help  show this help\n",
            prog_name, MAX_INPUT);
    exit(status);
}

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

/* parse_number - a whole number 0..MAX_INPUT, or exit 2 */
static unsigned long parse_number(const char *text)
{
    char *end;
    unsigned long value;

    errno = 0;
    value = strtoul(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0 || value > MAX_INPUT) {
        fprintf(stderr, "%s: not a number from 0 to %d: '%s'\n", prog_name, MAX_INPUT, text);
        usage(stderr, 2);
    }
    return value;
}

/* show_row - one line of the table: expression, decimal, binary, comment */
static void show_row(const char *expr, unsigned long value, int width, const char *comment)
{
    char bits[80];

    printf("  %-9s = %-6lu %s%s%s\n", expr, value, binary(value, width, bits, sizeof bits),
           *comment ? "  " : "", comment);
}

/* show_operators - the seed's table for a and b */
static void show_operators(unsigned long a, unsigned long b)
{
    char expr[40], bits[80];
    /* every row as wide as the widest result, a << SHIFT or b << SHIFT */
    int width = (int)strlen(binary((a > b ? a : b) << SHIFT, 4, bits, sizeof bits));

    printf("The seed's bit operators, a = %lu, b = %lu:\n", a, b);
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

/* show_poll - poll_once with a description: what was asked, what came */
static void show_poll(const char *situation, int fd, short events)
{
    char asked[96], got[96];
    struct pollfd entry = {.fd = fd, .events = events, .revents = 0};

    if (poll(&entry, 1, 0) == -1)
        die("poll");
    printf("  %-34s events=%s  revents=0x%04x %s\n", situation,
           flag_names(events, asked, sizeof asked), (unsigned)entry.revents,
           flag_names(entry.revents, got, sizeof got));
}

/* show_real_revents - poll() a socket pair through its life */
static void show_real_revents(void)
{
    int pair[2];
    char buf[16];
    ssize_t n;

    printf("\nReal revents from poll() on a socket pair (timeout 0):\n");
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == -1)
        die("socketpair");
    show_poll("fresh:", pair[0], POLLIN | POLLOUT);
    if (write(pair[1], "abc", 3) != 3)
        die("write");
    show_poll("the peer wrote 3 bytes:", pair[0], POLLIN | POLLOUT);
    show_poll("the same, asking only POLLOUT:", pair[0], POLLOUT);
    close(pair[1]);
    show_poll("peer closed, asking POLLIN:", pair[0], POLLIN);
    show_poll("peer closed, asking nothing:", pair[0], 0);
    n = read(pair[0], buf, sizeof buf);
    printf("  read() -> %zd bytes, ", n);
    n = read(pair[0], buf, sizeof buf);
    printf("then read() -> %zd (end of file)\n", n);
    close(pair[0]);
    show_poll("a closed descriptor:", pair[0], POLLIN);
    show_poll("a negative fd (skipped):", -1, POLLIN);
}

int main(int argc, char *argv[])
{
    unsigned long a = 11, b = 14;

    if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))
        usage(stdout, 0);
    if (argc == 3) {
        a = parse_number(argv[1]);
        b = parse_number(argv[2]);
    } else if (argc != 1) {
        fprintf(stderr, "%s: give two numbers or none\n", prog_name);
        usage(stderr, 2);
    }
    show_operators(a, b);
    show_masks();
    show_real_revents();
    return 0;
}
