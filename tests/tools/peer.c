/* peer.c - a test peer that checks echo-upper servers and abuses them
 *
 * Independent of every lesson's client, so the tests check each server
 * against a second implementation.
 *
 * Usage: peer MODE [-H ADDR] [-p PORT] [-n COUNT] [-c CHUNK] [-s TEXT]
 *   echo     send COUNT pseudo-random bytes (every byte value) in CHUNK-sized
 *            writes while reading the reply, half-close, read to end of file;
 *            exit 0 and print "ok COUNT" if the reply is exactly the input
 *            upper-cased (ASCII a-z only), else print where it differs, exit 1
 *   reset    connect, send TEXT, then close with SO_LINGER 0 (a TCP reset)
 *   garbage  send COUNT random bytes, close without reading a byte
 *   flood    send COUNT bytes (default: without end), never read; prints
 *            "sent N" when done or when the server resets it
 *   hold     open COUNT connections (each sends TEXT if given), print
 *            "holding N" (N = how many connected), keep them until standard
 *            input ends, then close them
 * Exit status: 0 done, 1 failed, 2 bad usage.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *host = "127.0.0.1", *port = "9001", *text = "";
static unsigned long long count = 0;
static size_t chunk = 65536;

static void die(const char *what)
{
    fprintf(stderr, "peer: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* connect_to - a connected socket, or -1 with errno set */
static int connect_to(void)
{
    struct addrinfo hints = {0}, *res;
    int fd;

    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    if (getaddrinfo(host, port, &hints, &res) != 0) {
        errno = EINVAL;
        return -1;
    }
    fd = socket(res->ai_family, SOCK_STREAM, 0);
    if (fd != -1 && connect(fd, res->ai_addr, res->ai_addrlen) == -1) {
        int saved = errno;
        close(fd);
        fd = -1;
        errno = saved;
    }
    freeaddrinfo(res);
    return fd;
}

/* byte_at - the test pattern: a cheap pseudo-random byte for offset i */
static unsigned char byte_at(unsigned long long i)
{
    unsigned long long x = (i + 1) * 0x9E3779B97F4A7C15ULL;
    x ^= x >> 29;
    return (unsigned char)(x * 0xBF58476D1CE4E5B9ULL >> 56);
}

static unsigned char upper(unsigned char c)
{
    return (c >= 'a' && c <= 'z') ? (unsigned char)(c - 'a' + 'A') : c;
}

static int mode_echo(void)
{
    int fd = connect_to();
    unsigned long long sent = 0, got = 0;
    char *out = malloc(chunk), in[65536];

    if (fd == -1)
        die("connect");
    if (out == NULL)
        die("malloc");
    fcntl(fd, F_SETFL, O_NONBLOCK);
    if (count == 0)
        shutdown(fd, SHUT_WR);
    for (;;) {
        struct pollfd pfd = {fd, POLLIN | (sent < count ? POLLOUT : 0), 0};

        if (poll(&pfd, 1, -1) == -1 && errno != EINTR)
            die("poll");
        if (sent < count && (pfd.revents & POLLOUT)) {
            size_t len = count - sent < chunk ? (size_t)(count - sent) : chunk;
            ssize_t n;

            for (size_t i = 0; i < len; i++)
                out[i] = (char)byte_at(sent + i);
            n = send(fd, out, len, MSG_NOSIGNAL);
            if (n == -1 && errno != EAGAIN)
                die("send");
            if (n > 0)
                sent += (unsigned long long)n;
            if (sent == count)
                shutdown(fd, SHUT_WR);
        }
        if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = recv(fd, in, sizeof in, 0);

            if (n == -1 && errno == EAGAIN)
                continue;
            if (n == -1)
                die("recv");
            if (n == 0)
                break;
            for (ssize_t i = 0; i < n; i++, got++) {
                if (got >= count || (unsigned char)in[i] != upper(byte_at(got))) {
                    printf("mismatch at offset %llu\n", got);
                    return 1;
                }
            }
        }
    }
    free(out);
    close(fd);
    if (got != count) {
        printf("short reply: %llu of %llu bytes\n", got, count);
        return 1;
    }
    printf("ok %llu\n", count);
    return 0;
}

static int mode_reset(void)
{
    struct linger lg = {1, 0};
    int fd = connect_to();

    if (fd == -1)
        die("connect");
    if (text[0] != '\0' && send(fd, text, strlen(text), MSG_NOSIGNAL) == -1)
        die("send");
    if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == -1)
        die("setsockopt SO_LINGER");
    close(fd);                              /* with linger 0: RST, not FIN */
    printf("reset\n");
    return 0;
}

/* send_pattern - blocking sends of COUNT bytes (0 = forever); bytes sent */
static unsigned long long send_pattern(int fd)
{
    static char buf[65536];
    unsigned long long sent = 0;

    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (char)byte_at(i);
    while (count == 0 || sent < count) {
        size_t len = sizeof buf;
        ssize_t n;

        if (count != 0 && count - sent < len)
            len = (size_t)(count - sent);
        n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            break;
        }
        sent += (unsigned long long)n;
    }
    return sent;
}

static int mode_garbage(void)
{
    int fd = connect_to();

    if (fd == -1)
        die("connect");
    printf("sent %llu\n", send_pattern(fd));
    close(fd);
    return 0;
}

static int mode_flood(void)
{
    int fd = connect_to();

    if (fd == -1)
        die("connect");
    printf("sent %llu\n", send_pattern(fd));
    return 0;
}

static int mode_hold(void)
{
    struct rlimit rl;
    int *fds = calloc(count ? count : 1, sizeof *fds);
    unsigned long long held = 0;
    char buf[256];

    if (fds == NULL)
        die("calloc");
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    for (unsigned long long i = 0; i < count; i++) {
        int fd = connect_to();

        if (fd == -1) {
            fprintf(stderr, "peer: connection %llu: %s\n", i + 1, strerror(errno));
            break;
        }
        if (text[0] != '\0')
            send(fd, text, strlen(text), MSG_NOSIGNAL);
        fds[held++] = fd;
    }
    printf("holding %llu\n", held);
    fflush(stdout);
    while (read(STDIN_FILENO, buf, sizeof buf) > 0)
        ;
    for (unsigned long long i = 0; i < held; i++)
        close(fds[i]);
    free(fds);
    return 0;
}

int main(int argc, char *argv[])
{
    const char *mode;
    int opt;

    if (argc < 2) {
        fprintf(stderr, "usage: peer echo|reset|garbage|flood|hold [-H ADDR] [-p PORT] "
                        "[-n COUNT] [-c CHUNK] [-s TEXT]\n");
        return 2;
    }
    mode = argv[1];
    optind = 2;
    while ((opt = getopt(argc, argv, "H:p:n:c:s:")) != -1) {
        switch (opt) {
        case 'H': host = optarg; break;
        case 'p': port = optarg; break;
        case 'n': count = strtoull(optarg, NULL, 10); break;
        case 'c': chunk = (size_t)strtoull(optarg, NULL, 10); break;
        case 's': text = optarg; break;
        default: return 2;
        }
    }
    if (chunk == 0 || chunk > 1 << 24)
        chunk = 65536;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (strcmp(mode, "echo") == 0) return mode_echo();
    if (strcmp(mode, "reset") == 0) return mode_reset();
    if (strcmp(mode, "garbage") == 0) return mode_garbage();
    if (strcmp(mode, "flood") == 0) return mode_flood();
    if (strcmp(mode, "hold") == 0) return mode_hold();
    fprintf(stderr, "peer: unknown mode '%s'\n", mode);
    return 2;
}
