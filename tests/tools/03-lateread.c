/* 03-lateread.c - a test client that reads nothing until it has half-closed
 *
 * It makes an echo server owe a lot to a client that has already
 * half-closed: with a tiny receive buffer it sends COUNT bytes (every byte
 * value) without reading a byte, half-closes (shutdown(SHUT_WR)) and
 * prints "sent COUNT". The replies now wait in the server, in its own
 * buffer or in its kernel send buffer (which may take them all and let the
 * server close first). Only when its standard input ends does the client
 * read, to end of file, and check that the reply is exactly the input
 * upper-cased (ASCII a-z only): a server that drops or resets what it owes
 * once it sees end of file fails here.
 *
 * Usage: 03-lateread [-H ADDR] [-p PORT] [-n COUNT]   (default COUNT 1048576)
 * Prints "ok COUNT" and exits 0, or says where the reply differs, exit 1.
 * Used by tests/03-select.bats and tests/04-poll.bats.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../lib/lab.h"

static unsigned long long count = 1048576;

/* pattern - byte i of the message: every value 0..255, letters included */
static unsigned char pattern(unsigned long long i)
{
    return (unsigned char)((i * 7 + i / 251) & 0xff);
}

static unsigned char upper(unsigned char c)
{
    return (c >= 'a' && c <= 'z') ? (unsigned char)(c - 'a' + 'A') : c;
}

/* connect_small - a socket with a small receive buffer, connected */
static int connect_small(const char *host, const char *port)
{
    struct addrinfo hints = {0}, *res;
    int fd, small = 4096;

    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        usage_error("bad address %s:%s", host, port);
    fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (fd == -1)
        die("socket");
    /* Set before connect() so the advertised window is small from the start. */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == -1)
        die("setsockopt SO_RCVBUF");
    if (connect(fd, res->ai_addr, res->ai_addrlen) == -1)
        die("connect");
    freeaddrinfo(res);
    return fd;
}

/* send_count - the pattern, count bytes in all, with blocking sends */
static void send_count(int fd)
{
    char buf[65536];

    for (unsigned long long sent = 0; sent < count; sent += sizeof buf) {
        size_t len = count - sent < sizeof buf ? (size_t)(count - sent) : sizeof buf;

        for (size_t i = 0; i < len; i++)
            buf[i] = (char)pattern(sent + i);
        if (send_all(fd, buf, len) == -1)
            die("send");
    }
}

/* check_reply - read to end of file; 0 if the reply is the input upper-cased */
static int check_reply(int fd)
{
    char buf[65536];
    unsigned long long got = 0;

    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);

        if (n == -1) {
            if (errno == EINTR)
                continue;
            die("recv");
        }
        if (n == 0)
            break;
        for (ssize_t i = 0; i < n; i++, got++) {
            if (got >= count || (unsigned char)buf[i] != upper(pattern(got))) {
                printf("mismatch at offset %llu\n", got);
                return 1;
            }
        }
    }
    if (got != count) {
        printf("short reply: %llu of %llu bytes\n", got, count);
        return 1;
    }
    printf("ok %llu\n", count);
    return 0;
}

static void on_option(int key, const char *arg)
{
    (void)key;
    count = (unsigned long long)parse_number(arg, 1, 1L << 30, "-n");
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {{'n', NULL, "COUNT", "bytes to send"}, {0}};
    const struct lab_command cmd = {.default_port = "9003", .is_client = 1,
                                    .options = options, .on_option = on_option};
    struct lab_args args = lab_parse(argc, argv, &cmd);
    char gate[256];
    int fd;

    setvbuf(stdout, NULL, _IOLBF, 0);
    fd = connect_small(args.host, args.port);
    send_count(fd);
    if (shutdown(fd, SHUT_WR) == -1)
        die("shutdown");
    printf("sent %llu\n", count);
    while (read(STDIN_FILENO, gate, sizeof gate) > 0)
        ;                                   /* wait until told to read */
    return check_reply(fd);
}
