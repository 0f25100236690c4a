/* server.c - a UDP echo-upper server: one datagram in, one datagram back
 *
 * The UDP server of the Python notes (003), in C. UDP has no connections: no
 * listen(), no accept(), no per-client socket. One socket, bound to a
 * port, receives every client's datagrams; recvfrom() returns each one
 * whole together with its sender's address, and sendto() answers to that
 * address. So one loop, one socket and no concurrency at all serve any
 * number of clients "at once": their datagrams simply queue up in the
 * socket's receive buffer, one after another, and each is answered in
 * turn. Nothing ties one datagram to the next; the server keeps no state
 * about its clients.
 *
 * Each datagram comes back with ASCII a-z turned into A-Z, every other
 * byte unchanged, as one datagram of the same length. An empty datagram
 * is still a datagram (with a sender) and gets an empty reply. The buffer
 * is 65,536 bytes, more than the largest UDP payload (65,507 bytes over
 * IPv4, 65,527 over IPv6), so no datagram is ever cut short.
 *
 * A UDP server answers whatever address a datagram claims to come from,
 * and that address can be forged. A datagram that claims to come from our
 * own port would make us answer ourselves, for ever; two echo servers on
 * the same port of two addresses would bounce one datagram between them
 * for ever (the classic echo/chargen loop). So a datagram from our own
 * port is dropped, as BSD's inetd drops one from the port of its own echo
 * service, and the log is kept to LOG_PER_SECOND lines a second whatever
 * arrives.
 *
 * Usage: ./server [-H ADDR] [-p PORT]      (defaults: 127.0.0.1, 9011)
 *
 * See also: client.c, empty.c, truncate.c, noserver.c, NOTES.md.
 * Python notes: 003 (UDP sockets: sendto/recvfrom, no listen, empty datagrams).
 * Linux-specific in two details: shutdown() on an unconnected UDP socket
 * is what wakes recvfrom() for SIGTERM (see wake_recvfrom), and
 * MSG_TRUNC passed to recvfrom() makes it return a datagram's real length.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../lib/lab.h"

#define DGRAM_MAX 65536     /* above any UDP payload: nothing is ever truncated */
#define LOG_PER_SECOND 100  /* a datagram storm must not become a log storm */

static volatile sig_atomic_t sock_fd_for_signal = -1;
static struct sockaddr_storage own_addr;   /* where we are bound */

/* port_of - the port of an IPv4 or IPv6 address, in network byte order */
static in_port_t port_of(const struct sockaddr_storage *addr)
{
    if (addr->ss_family == AF_INET6)
        return ((const struct sockaddr_in6 *)addr)->sin6_port;
    return ((const struct sockaddr_in *)addr)->sin_port;
}

/* may_log - 1 if this second still has room in the log; says once a
 * second how many lines were left out */
static int may_log(void)
{
    static long long second;
    static long lines, skipped;
    long long now = now_ms() / 1000;

    if (now != second) {
        if (skipped > 0)
            note("%ld more datagrams in one second, not logged", skipped);
        second = now;
        lines = skipped = 0;
    }
    if (lines < LOG_PER_SECOND) {
        lines++;
        return 1;
    }
    skipped++;
    return 0;
}

/* is_loop - the datagram claims to come from our own port. Answering it
 * would send it to ourselves (or to a twin server on that port), whose
 * answer comes back to us: an endless loop for one forged datagram. */
static int is_loop(const struct sockaddr_storage *from)
{
    /* LAB-BEGIN is-loop: refuse a datagram that claims our own port. Compare
     * port_of(from) with port_of(&own_addr): different, return 0. Same: count
     * it, return 1, and at most once a second note how many were dropped and
     * the last sender ("dropped N datagram(s) claiming our own port (last from
     * ADDR:PORT): an echo loop"). See NOTES.md section 9, "Answering whoever a
     * datagram claims to be from".
     * Stub: (void)from; (void)port_of; return 0;
     * Tests: forged
     */
    static long long last_said;
    static long dropped;

    if (port_of(from) != port_of(&own_addr))
        return 0;
    dropped++;
    if (now_ms() - last_said >= 1000) {     /* at most one line a second */
        char peer[ADDR_LEN];

        format_addr((const struct sockaddr *)from, sizeof *from, peer, sizeof peer);
        note("dropped %ld datagram(s) claiming our own port (last from %s): an echo loop",
             dropped, peer);
        last_said = now_ms();
        dropped = 0;
    }
    return 1;
    /* LAB-END is-loop */
}

/* serve_datagrams - the communication loop, and the only loop: receive a
 * datagram from anyone, send it back upper-cased to whoever sent it */
static void serve_datagrams(int fd)
{
    /* LAB-BEGIN serve-datagrams: the one loop of a UDP server. Until a stop is
     * requested: recvfrom() one datagram from anyone, with its sender's
     * address (MSG_TRUNC: the real length); skip EINTR and is_loop() senders;
     * a datagram longer than the buffer is noted and not answered; note "N
     * bytes from ADDR:PORT" (if may_log()), upper-case it and sendto() it back
     * to that address; warn if sendto() fails. See NOTES.md section 2, "sendto
     * and recvfrom: datagrams".
     * Stub: (void)fd; (void)is_loop; (void)may_log;
     * Tests: lab client: lines come back
     */
    static char buf[DGRAM_MAX];     /* one datagram at a time: one buffer will do */

    while (!stop_requested) {
        struct sockaddr_storage peer_addr;
        socklen_t peer_len = sizeof peer_addr;
        char peer[ADDR_LEN];
        /* MSG_TRUNC (Linux): return the datagram's real length even if it
         * was longer than the buffer, so a cut could not go unnoticed. */
        ssize_t n = recvfrom(fd, buf, sizeof buf, MSG_TRUNC,
                             (struct sockaddr *)&peer_addr, &peer_len);

        if (stop_requested)
            break;
        if (n == -1) {
            if (errno != EINTR && may_log())
                warn("recvfrom");           /* e.g. ENOMEM: this datagram is lost */
            continue;
        }
        if (is_loop(&peer_addr))
            continue;
        format_addr((struct sockaddr *)&peer_addr, peer_len, peer, sizeof peer);
        if ((size_t)n > sizeof buf) {
            if (may_log())
                note("%zd bytes from %s truncated to %zu: not answered", n, peer, sizeof buf);
            continue;
        }
        if (may_log())
            note("%zd bytes from %s", n, peer);
        upper_bytes(buf, (size_t)n);
        /* sendto() of a datagram is all or nothing: no partial sends. */
        if (sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&peer_addr, peer_len) == -1
            && !stop_requested && may_log())
            warn("sendto %s", peer);
    }
    /* LAB-END serve-datagrams */
}

/* open_udp_socket - socket(SOCK_DGRAM) and bind; exit 1 on failure.
 * No listen() and no accept(): there are no connections to queue. No
 * SO_REUSEADDR either: UDP has no TIME_WAIT to wait out, and on Linux the
 * option would let a second server (setting it too) bind the same port and
 * steal the datagrams: the socket bound last receives them. */
static int open_udp_socket(const char *host, const char *port)
{
    struct addrinfo hints = {0}, *res;
    socklen_t own_len = sizeof own_addr;
    int fd, rc;

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0)
        fatal("bad address %s:%s: %s", host, port, gai_strerror(rc));
    fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (fd == -1)
        die("socket");
    if (bind(fd, res->ai_addr, res->ai_addrlen) == -1)
        die_bind(host, port);
    freeaddrinfo(res);
    if (getsockname(fd, (struct sockaddr *)&own_addr, &own_len) == -1)
        die("getsockname");
    return fd;
}

/* wake_recvfrom - runs in the SIGINT/SIGTERM handler, after the flag is
 * set. A signal that lands while recvfrom() sleeps interrupts it (EINTR,
 * no SA_RESTART); one that lands just before the loop enters recvfrom()
 * would leave it asleep with the flag set. shutdown() closes that gap: on
 * Linux it marks even an unconnected UDP socket as shut for reading (the
 * call itself reports ENOTCONN), and every recvfrom() after that returns
 * at once. shutdown() is async-signal-safe. */
static void wake_recvfrom(void)
{
    if (sock_fd_for_signal >= 0)
        shutdown(sock_fd_for_signal, SHUT_RDWR);
}

int main(int argc, char *argv[])
{
    const struct lab_command cmd = {.default_port = "9011"};
    struct lab_args args = lab_parse(argc, argv, &cmd);
    int fd;

    catch_stop_signals(0, wake_recvfrom);   /* 0: a blocked recvfrom() sees EINTR */
    fd = open_udp_socket(args.host, args.port);
    sock_fd_for_signal = fd;
    print_ready_line(fd);

    serve_datagrams(fd);

    note("stopping");
    close(fd);
    return 0;
}
