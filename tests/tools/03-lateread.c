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
 * Usage: 03-lateread -p PORT [-H ADDR] [-n COUNT]   (default COUNT 1048576)
 * Prints "ok COUNT" and exits 0, or says where the reply differs, exit 1.
 * Used by tests/03-select.bats and tests/04-poll.bats.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char *what)
{
    fprintf(stderr, "03-lateread: %s: %s\n", what, strerror(errno));
    exit(1);
}

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
    struct addrinfo hints, *res;
    int fd, small = 4096;

    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    if (getaddrinfo(host, port, &hints, &res) != 0) {
        fprintf(stderr, "03-lateread: bad address %s:%s\n", host, port);
        exit(2);
    }
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

/* send_count - blocking sends of the pattern, count bytes in all */
static void send_count(int fd, unsigned long long count)
{
    char buf[65536];
    unsigned long long sent = 0;

    while (sent < count) {
        size_t len = count - sent < sizeof buf ? (size_t)(count - sent) : sizeof buf;
        ssize_t n;

        for (size_t i = 0; i < len; i++)
            buf[i] = (char)pattern(sent + i);
        n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            die("send");
        }
        sent += (unsigned long long)n;
    }
}

/* check_reply - read to end of file; 0 if the reply is the input upper-cased */
static int check_reply(int fd, unsigned long long count)
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

int main(int argc, char *argv[])
{
    const char *host = "127.0.0.1", *port = NULL;
    unsigned long long count = 1048576;
    char gate[256];
    int opt, fd;

    while ((opt = getopt(argc, argv, "H:p:n:")) != -1) {
        switch (opt) {
        case 'H': host = optarg; break;
        case 'p': port = optarg; break;
        case 'n': count = strtoull(optarg, NULL, 10); break;
        default: return 2;
        }
    }
    if (port == NULL) {
        fprintf(stderr, "usage: 03-lateread -p PORT [-H ADDR] [-n COUNT]\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    fd = connect_small(host, port);
    send_count(fd, count);
    if (shutdown(fd, SHUT_WR) == -1)
        die("shutdown");
    printf("sent %llu\n", count);
    while (read(STDIN_FILENO, gate, sizeof gate) > 0)
        ;                                   /* wait until told to read */
    return check_reply(fd, count);
}
