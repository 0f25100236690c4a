/* client.c - the UDP client of the Python notes, with a timeout and retries
 *
 * Reads lines from standard input and sends each one (with its newline)
 * as one datagram with sendto(), to the server's address given on every
 * call, as the client of Python notes 003 does. Then it waits for the reply datagram.
 *
 * The Python client waits in recvfrom() for ever. But UDP promises
 * nothing: a datagram (the request or the reply) can be lost, and when no
 * server is listening the request simply vanishes; an unconnected socket
 * is not even told (see noserver.c). So this client waits at most
 * TIMEOUT_MS for each reply, sends the datagram again if none came, gives
 * up after RETRIES resends, and says so clearly, with exit status 1.
 *
 * An unconnected socket receives datagrams from anyone, so replies are
 * accepted only from the server's address. A reply that arrives after its
 * retry was sent is a duplicate; such late datagrams are discarded before
 * the next line is sent, so they are never taken for its reply. (A
 * protocol that must never confuse them numbers its requests.)
 *
 * Empty lines are skipped ("if not msg: continue"); a ">>> " prompt
 * appears only when standard input is a terminal. At end of input the
 * client exits 0: there is no connection to close.
 *
 * Usage: ./client [-H ADDR] [-p PORT] [-t TIMEOUT_MS] [-r RETRIES]
 *                                  (defaults: 127.0.0.1, 9011, 1000 ms, 3)
 *
 * See also: server.c, noserver.c, NOTES.md.
 * Python notes: 003 (the UDP client loop: input, sendto, recvfrom, print).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../lib/lab.h"

#define DGRAM_MAX 65536

static int timeout_ms = 1000, retries = 3;

/* The server: where requests go, and the only sender replies come from. */
struct server_addr {
    struct sockaddr_storage addr;
    socklen_t len;
    char text[ADDR_LEN];
};

/* open_client_socket - an unconnected UDP socket for the server's address
 * family, and that address into *server; exit 1 on failure. No connect():
 * like the Python client, every sendto() names the server. */
static int open_client_socket(const char *host, const char *port, struct server_addr *server)
{
    struct addrinfo hints = {0}, *res;
    int fd, rc;

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICSERV;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0)
        fatal("bad address %s:%s: %s", host, port, gai_strerror(rc));
    fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (fd == -1)
        die("socket");
    memcpy(&server->addr, res->ai_addr, res->ai_addrlen);
    server->len = res->ai_addrlen;
    format_addr(res->ai_addr, res->ai_addrlen, server->text, sizeof server->text);
    freeaddrinfo(res);
    return fd;
}

/* same_addr - true if a datagram's sender is the server: same family,
 * address and port (field by field: the structures' padding may differ) */
static int same_addr(const struct sockaddr_storage *from, const struct server_addr *server)
{
    if (from->ss_family != server->addr.ss_family)
        return 0;
    if (from->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)from;
        const struct sockaddr_in *b = (const struct sockaddr_in *)&server->addr;

        return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
    }
    if (from->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)from;
        const struct sockaddr_in6 *b = (const struct sockaddr_in6 *)&server->addr;

        return a->sin6_port == b->sin6_port
            && memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr) == 0;
    }
    return 0;
}

/* discard_late_replies - drop datagrams already waiting (replies to an
 * earlier try that came after we resent), without waiting for any */
static void discard_late_replies(int fd, char *buf)
{
    while (recv(fd, buf, DGRAM_MAX, MSG_DONTWAIT) >= 0)
        ;
}

/* await_reply - wait until timeout_ms for a datagram from the server;
 * its length, or -1 if none came in time */
static ssize_t await_reply(int fd, char *buf, const struct server_addr *server, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;

    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        struct sockaddr_storage from;
        socklen_t from_len = sizeof from;
        long long left = deadline - now_ms();
        ssize_t n;
        int ready;

        if (left <= 0)
            return -1;
        ready = poll(&pfd, 1, (int)left);
        if (ready == -1 && errno != EINTR)
            die("poll");
        if (ready <= 0)
            continue;                       /* timed out (checked above) or EINTR */
        n = recvfrom(fd, buf, DGRAM_MAX, MSG_TRUNC, (struct sockaddr *)&from, &from_len);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            die("recvfrom");
        }
        if (!same_addr(&from, server))
            continue;                       /* a stranger's datagram: not our reply */
        if (n > DGRAM_MAX) {
            note("reply of %zd bytes truncated to %d", n, DGRAM_MAX);
            n = DGRAM_MAX;
        }
        return n;
    }
}

/* request - send one datagram and return the reply's length; resend up to
 * retries times; exit 1 with a clear message when no reply ever comes */
static ssize_t request(int fd, const char *msg, size_t len, char *reply,
                       const struct server_addr *server)
{
    discard_late_replies(fd, reply);
    for (int attempt = 0; attempt <= retries; attempt++) {
        ssize_t n;

        if (sendto(fd, msg, len, 0, (const struct sockaddr *)&server->addr, server->len) == -1) {
            if (errno == EMSGSIZE) {
                note("a line of %zu bytes does not fit in one datagram: skipped", len);
                return -1;
            }
            die("sendto %s", server->text);
        }
        n = await_reply(fd, reply, server, timeout_ms);
        if (n >= 0)
            return n;
        if (attempt < retries)
            note("no reply within %d ms, sending again", timeout_ms);
    }
    fatal("no reply from %s after %d tries of %d ms each: is the server running?",
          server->text, retries + 1, timeout_ms);
}

/* talk - the client loop: read a line, send it as one datagram, print
 * the reply; until end of input */
static void talk(int fd, const struct server_addr *server)
{
    char *line = NULL, *reply = malloc(DGRAM_MAX);
    size_t line_cap = 0;
    ssize_t line_len, n;

    if (reply == NULL)
        die("malloc");
    while ((line_len = read_input_line(&line, &line_cap)) != -1) {
        n = request(fd, line, (size_t)line_len, reply, server);
        if (n < 0)
            continue;                       /* too long for a datagram: skipped */
        fwrite(reply, 1, (size_t)n, stdout);
        if (n == 0 || reply[n - 1] != '\n')
            fputc('\n', stdout);            /* one reply, one line */
        fflush(stdout);
    }
    free(line);
    free(reply);
}

/* on_option - -t TIMEOUT_MS and -r RETRIES */
static void on_option(int key, const char *arg)
{
    if (key == 't')
        timeout_ms = (int)parse_number(arg, 1, 60000, "-t");
    else
        retries = (int)parse_number(arg, 0, 100, "-r");
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'t', NULL, "TIMEOUT_MS", "how long to wait for each reply (1-60000, default 1000)"},
        {'r', NULL, "RETRIES", "how many times to resend before giving up (0-100, default 3)"},
        {0, NULL, NULL, NULL}};
    const struct lab_command cmd = {
        .about = "Reads lines from standard input, sends each as one datagram, prints each reply.",
        .default_port = "9011", .is_client = 1, .options = options, .on_option = on_option};
    struct lab_args args = lab_parse(argc, argv, &cmd);
    struct server_addr server;
    int fd = open_client_socket(args.host, args.port, &server);

    talk(fd, &server);
    close(fd);
    return 0;
}
