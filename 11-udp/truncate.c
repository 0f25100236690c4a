/* truncate.c - a receive buffer smaller than the datagram: the rest is gone
 *
 * Python notes 003: when recvfrom() is given less room than the datagram holds,
 * Linux (and macOS) silently drop the rest, and Windows reports an error.
 * A datagram is read whole in one call or not at all; unlike a TCP stream,
 * the bytes that did not fit do not wait for the next call, which gets the
 * next datagram.
 *
 * The program sends a SIZE-byte datagram and a short one to itself, then
 * reads with the Python notes' 1024-byte buffer:
 *   - recvmsg() returns 1024 bytes and sets MSG_TRUNC in msg_flags: the
 *     portable (POSIX) sign that something was lost; recvfrom() has no
 *     msg_flags to show it;
 *   - the next read returns the short datagram: the other bytes are gone;
 *   - Linux has a second sign: MSG_TRUNC passed *to* recvfrom() makes it
 *     return the datagram's real length (3000) while it copies only what
 *     fits (1024); the lesson's server reads that way;
 *   - and with MSG_PEEK | MSG_TRUNC it can say how long a datagram is
 *     before reading it, leaving it queued, so the program can then read
 *     it whole with a big enough buffer.
 *
 * Usage: ./truncate [-s SIZE] [-b BUFSIZE]     (defaults: 3000, 1024)
 *
 * See also: server.c (its 65,536-byte buffer never truncates), empty.c,
 * noserver.c, NOTES.md.
 * Python notes: 003 (recvfrom smaller than the datagram: data lost on Linux).
 * Linux-specific: the MSG_TRUNC flag *passed to* recv() (the MSG_TRUNC
 * flag *returned* in msg_flags is POSIX).
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
#include <unistd.h>

#include "../lib/lab.h"

#define MAX_SIZE 65507          /* the largest UDP payload over IPv4 */

/* send_to_self - sender sends len bytes of buf to the receiver's address */
static void send_to_self(int sender, const struct sockaddr_in *to, const char *buf, size_t len)
{
    if (sendto(sender, buf, len, 0, (const struct sockaddr *)to, sizeof *to) == -1)
        die("sendto");
}

/* read_with_flags - recvmsg() into buf (size bytes); prints the length and
 * whether the kernel flagged the datagram as truncated */
static ssize_t read_with_flags(int fd, char *buf, size_t size)
{
    struct iovec iov = {buf, size};
    struct msghdr msg;
    ssize_t n;

    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    n = recvmsg(fd, &msg, 0);
    if (n == -1)
        die("recvmsg");
    printf("recvmsg with a %zu-byte buffer: %zd bytes, starting \"%.*s\", MSG_TRUNC %s\n",
           size, n, n < 10 ? (int)n : 10, buf,
           (msg.msg_flags & MSG_TRUNC) ? "set: the rest was discarded" : "not set");
    return n;
}

/* open_pair - a receiver bound on 127.0.0.1 (its address into *addr, a
 * 2-second receive timeout so a lost datagram cannot hang the demo) and
 * a sender */
static void open_pair(int *receiver, int *sender, struct sockaddr_in *addr)
{
    socklen_t len = sizeof *addr;
    struct timeval tv = {2, 0};

    *receiver = socket(AF_INET, SOCK_DGRAM, 0);
    *sender = socket(AF_INET, SOCK_DGRAM, 0);
    if (*receiver == -1 || *sender == -1)
        die("socket");
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(*receiver, (struct sockaddr *)addr, sizeof *addr) == -1
        || getsockname(*receiver, (struct sockaddr *)addr, &len) == -1)
        die("bind");
    if (setsockopt(*receiver, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == -1)
        die("setsockopt SO_RCVTIMEO");
}

/* show_truncation - a big datagram into a small buffer, then the next
 * datagram: the bytes that did not fit are gone */
static void show_truncation(int receiver, int sender, const struct sockaddr_in *addr,
                            const char *big, size_t size, char *buf, size_t buf_size)
{
    ssize_t n;

    printf("sent a %zu-byte datagram, then the 4-byte datagram \"next\"\n", size);
    send_to_self(sender, addr, big, size);
    send_to_self(sender, addr, "next", 4);
    read_with_flags(receiver, buf, buf_size);
    n = read_with_flags(receiver, buf, buf_size);
    if (size > buf_size)
        printf("the next read got the next datagram (%zd bytes): the other %zu bytes"
               " of the first are gone\n", n, size - buf_size);
}

/* show_real_length - Linux: recvfrom() with MSG_TRUNC returns the real
 * length of a datagram it cut short */
static void show_real_length(int receiver, int sender, const struct sockaddr_in *addr,
                             const char *big, size_t size, char *buf, size_t buf_size)
{
    ssize_t n;

    send_to_self(sender, addr, big, size);
    n = recvfrom(receiver, buf, buf_size, MSG_TRUNC, NULL, NULL);
    if (n == -1)
        die("recvfrom MSG_TRUNC");
    printf("recvfrom(MSG_TRUNC) with a %zu-byte buffer: returned %zd, the datagram's real"
           " length (%zu bytes copied)\n", buf_size, n, (size_t)n < buf_size ? (size_t)n : buf_size);
}

/* show_peek - Linux: ask the length first, leave the datagram queued,
 * then read it whole */
static void show_peek(int receiver, int sender, const struct sockaddr_in *addr,
                      const char *big, size_t size, char *buf)
{
    ssize_t n;

    send_to_self(sender, addr, big, size);
    n = recv(receiver, buf, 0, MSG_PEEK | MSG_TRUNC);
    if (n == -1)
        die("recv MSG_PEEK|MSG_TRUNC");
    printf("recv(MSG_PEEK | MSG_TRUNC) with a 0-byte buffer: the datagram is %zd bytes"
           " (still queued)\n", n);
    read_with_flags(receiver, buf, (size_t)n);
}

static long size = 3000, buf_size = 1024;

/* on_option - -s SIZE and -b BUFSIZE */
static void on_option(int key, const char *arg)
{
    if (key == 's')
        size = parse_number(arg, 1, MAX_SIZE, "-s");
    else
        buf_size = parse_number(arg, 1, MAX_SIZE, "-b");
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'s', NULL, "SIZE", "bytes in the big datagram (1-65507, default 3000)"},
        {'b', NULL, "BUFSIZE", "the receive buffer (1-65507, default 1024, the Python notes' buffer_size)"},
        {0, NULL, NULL, NULL}};
    const struct lab_command cmd = {.options = options, .on_option = on_option};
    struct sockaddr_in addr;
    char *big, *buf;
    int receiver, sender;

    lab_parse(argc, argv, &cmd);
    big = malloc((size_t)size);
    buf = malloc(MAX_SIZE + 1);
    if (big == NULL || buf == NULL)
        die("malloc");
    for (long i = 0; i < size; i++)
        big[i] = (char)('a' + i % 26);
    open_pair(&receiver, &sender, &addr);

    show_truncation(receiver, sender, &addr, big, (size_t)size, buf, (size_t)buf_size);
    show_real_length(receiver, sender, &addr, big, (size_t)size, buf, (size_t)buf_size);
    show_peek(receiver, sender, &addr, big, (size_t)size, buf);

    close(sender);
    close(receiver);
    free(big);
    free(buf);
    return 0;
}
