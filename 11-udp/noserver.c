/* noserver.c - sending UDP with nobody listening: silence, or ECONNREFUSED
 *
 * Python notes 003: UDP has no connection, so sendto() does not care whether a
 * server is running; the sender can send all it likes, and the data is
 * simply lost. This program shows that, and the one exception:
 *
 *   unconnected socket  sendto() succeeds; the receiving host answers with
 *                       an ICMP "port unreachable" message, but Linux does
 *                       not report that error on an unconnected socket
 *                       (which peer would it belong to?), so a recvfrom()
 *                       waiting for the reply hears nothing until its
 *                       timeout: silence;
 *   connected socket    connect() on a UDP socket sends nothing; it only
 *                       fixes the peer. send() succeeds as before, but now
 *                       the kernel can match the ICMP error to the socket,
 *                       and the next recv() (or send()) fails with
 *                       ECONNREFUSED.
 *
 * It finds a port where nobody listens on 127.0.0.1 (binds one, notes its
 * number, closes it) unless -p names one.
 *
 * Usage: ./noserver [-p PORT] [-t SECS]      (defaults: a free port, 1 second)
 *
 * See also: client.c (its timeout and retries are for exactly this),
 * empty.c, truncate.c, NOTES.md.
 * Python notes: 003 (sendto with no server running: the data is lost).
 * Linux-specific: whether an unconnected socket hears of ICMP errors
 * differs between systems (Linux: only with the IP_RECVERR option).
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "../lib/lab.h"

/* unused_port - a UDP port on 127.0.0.1 with nobody behind it: bind to
 * port 0, read the number the kernel chose, close the socket */
static int unused_port(void)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    if (fd == -1)
        die("socket");
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) == -1
        || getsockname(fd, (struct sockaddr *)&addr, &len) == -1)
        die("bind");
    close(fd);
    return ntohs(addr.sin_port);
}

/* udp_socket_with_timeout - a new UDP socket whose recv gives up after secs */
static int udp_socket_with_timeout(int secs)
{
    struct timeval tv = {secs, 0};
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    if (fd == -1)
        die("socket");
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == -1)
        die("setsockopt SO_RCVTIMEO");
    return fd;
}

/* report_recv - wait for a reply on fd and say how the wait ended */
static void report_recv(int fd, const char *label)
{
    char buf[64];
    long long started = now_ms();
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    double waited = (double)(now_ms() - started) / 1000;

    if (n >= 0)
        printf("%s: recv got a %zd-byte reply (so somebody is listening)\n", label, n);
    else if (errno == EAGAIN || errno == EWOULDBLOCK)
        printf("%s: recv: no reply and no error after %.2f s: silence\n", label, waited);
    else
        printf("%s: recv failed after %.2f s: %s\n", label, waited, strerror(errno));
}

/* show_unconnected - sendto() then wait: the error never reaches us */
static void show_unconnected(const struct sockaddr_in *to, int secs)
{
    int fd = udp_socket_with_timeout(secs);

    if (sendto(fd, "hello", 5, 0, (const struct sockaddr *)to, sizeof *to) == -1)
        die("sendto");
    printf("unconnected: sendto 127.0.0.1:%d returned 5: the kernel sent it,"
           " nobody checks for a listener\n", ntohs(to->sin_port));
    report_recv(fd, "unconnected");
    close(fd);
}

/* show_connected - connect(), send() then wait: ECONNREFUSED arrives */
static void show_connected(const struct sockaddr_in *to, int secs)
{
    int fd = udp_socket_with_timeout(secs);

    if (connect(fd, (const struct sockaddr *)to, sizeof *to) == -1)
        die("connect");
    printf("connected: connect() returned 0 at once: it sends no packet, only fixes the peer\n");
    if (send(fd, "hello", 5, 0) == -1)
        die("send");
    printf("connected: send returned 5, just as before\n");
    report_recv(fd, "connected");
    close(fd);
}

static int port, secs = 1;

/* on_option - -p PORT and -t SECS */
static void on_option(int key, const char *arg)
{
    if (key == 'p')
        port = (int)parse_number(arg, 1, 65535, "port");
    else
        secs = (int)parse_number(arg, 1, 60, "-t");
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'p', NULL, "PORT", "the UDP port on 127.0.0.1 to send to (default: one nobody uses)"},
        {'t', NULL, "SECS", "how long to wait for a reply (1-60, default 1)"},
        {0, NULL, NULL, NULL}};
    const struct lab_command cmd = {.options = options, .on_option = on_option};
    struct sockaddr_in to;

    lab_parse(argc, argv, &cmd);
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons((unsigned short)(port != 0 ? port : unused_port()));

    show_unconnected(&to, secs);
    show_connected(&to, secs);
    return 0;
}
