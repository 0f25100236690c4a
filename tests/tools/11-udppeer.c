/* 11-udppeer.c - a test peer for the UDP echo-upper server (lesson 11)
 *
 * Independent of the lesson's client, so the tests check the server
 * against a second implementation.
 *
 * Usage: 11-udppeer MODE [-H ADDR] -p PORT [-n COUNT] [-c CLIENTS] [-s SIZE]
 *   echo   send one datagram of SIZE pseudo-random bytes (every byte value;
 *          0 = an empty datagram) and check the reply is one datagram of
 *          the same length, upper-cased (ASCII a-z only); prints "ok SIZE"
 *   many   CLIENTS sockets at once, each sending COUNT datagrams of SIZE
 *          bytes one after another (the next when the reply is in), all
 *          interleaved; every reply must come back to the socket that
 *          asked, with its own content; a datagram with no reply after a
 *          second is sent again (UDP may drop it). Prints "ok TOTAL"
 *   forge  send one datagram of SIZE bytes whose IPv4 source is FROM
 *          (-f ADDR:PORT), through a raw socket (needs root or
 *          CAP_NET_RAW): what an attacker's forged datagram looks like.
 *          Prints "forged" (exit 3 if a raw socket cannot be had)
 * Exit status: 0 all good, 1 a wrong or missing reply, 2 bad usage.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DGRAM_MAX 65536
#define RESEND_MS 1000
#define MAX_TRIES 10

static const char *host = "127.0.0.1", *from = NULL;
static int port = 0;
static long count = 1, clients = 1, size = 64;
static struct sockaddr_in server;

static void die(const char *what)
{
    fprintf(stderr, "udppeer: %s: %s\n", what, strerror(errno));
    exit(1);
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* fill - the datagram for (client, seq): a text header, then pattern bytes */
static size_t fill(char *buf, long client, long seq)
{
    unsigned long long x = (unsigned long long)(client * 1000003 + seq + 1);
    int head = 0;

    if (size >= 24)
        head = snprintf(buf, 24, "c%ld n%ld ", client, seq);
    for (long i = head; i < size; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        buf[i] = (char)(x >> 56);
    }
    return (size_t)size;
}

static void upper(char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i] >= 'a' && buf[i] <= 'z')
            buf[i] = (char)(buf[i] - 'a' + 'A');
}

static int open_socket(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    if (fd == -1)
        die("socket");
    return fd;
}

/* Buffers of the modes, global so that leaving early leaks nothing. */
static char out[DGRAM_MAX], in[DGRAM_MAX];

static int mode_echo(void)
{
    int fd = open_socket();
    struct pollfd pfd = {fd, POLLIN, 0};
    ssize_t n;

    fill(out, 0, 0);
    if (sendto(fd, out, (size_t)size, 0, (struct sockaddr *)&server, sizeof server) == -1)
        die("sendto");
    if (poll(&pfd, 1, 10000) <= 0) {
        printf("no reply\n");
        return 1;
    }
    n = recv(fd, in, DGRAM_MAX, MSG_TRUNC);
    if (n == -1)
        die("recv");
    upper(out, (size_t)size);
    if (n != size) {
        printf("reply of %zd bytes, sent %ld\n", n, size);
        return 1;
    }
    if (memcmp(in, out, (size_t)size) != 0) {
        printf("reply differs from the datagram upper-cased\n");
        return 1;
    }
    printf("ok %ld\n", size);
    close(fd);
    return 0;
}

struct peer {
    int fd;
    long seq;               /* datagram in flight; == count when done */
    int tries;
    long long sent_at;
};

static void send_current(struct peer *p, long id, char *buf)
{
    fill(buf, id, p->seq);
    if (sendto(p->fd, buf, (size_t)size, 0, (struct sockaddr *)&server, sizeof server) == -1)
        die("sendto");
    p->tries++;
    p->sent_at = now_ms();
}

static int mode_many(void)
{
    static struct peer peers[10000];
    static struct pollfd pfds[10000];
    long done = 0, resent = 0;

    for (long i = 0; i < clients; i++) {
        peers[i].fd = open_socket();
        pfds[i].fd = peers[i].fd;
        pfds[i].events = POLLIN;
        send_current(&peers[i], i, out);
    }
    while (done < clients) {
        if (poll(pfds, (nfds_t)clients, 100) == -1 && errno != EINTR)
            die("poll");
        for (long i = 0; i < clients; i++) {
            struct peer *p = &peers[i];

            if (p->seq == count)
                continue;
            if (pfds[i].revents & POLLIN) {
                ssize_t n = recv(p->fd, in, DGRAM_MAX, MSG_TRUNC);

                if (n == -1)
                    die("recv");
                fill(out, i, p->seq);
                upper(out, (size_t)size);
                if (n != size || memcmp(in, out, (size_t)size) != 0) {
                    /* a late duplicate of an earlier datagram is fine */
                    if (p->seq > 0 && n == size) {
                        fill(out, i, p->seq - 1);
                        upper(out, (size_t)size);
                        if (memcmp(in, out, (size_t)size) == 0)
                            continue;
                    }
                    printf("client %ld, datagram %ld: wrong reply (%zd bytes)\n", i, p->seq, n);
                    return 1;
                }
                p->seq++;
                p->tries = 0;
                if (p->seq == count)
                    done++;
                else
                    send_current(p, i, out);
            } else if (now_ms() - p->sent_at >= RESEND_MS) {
                if (p->tries >= MAX_TRIES) {
                    printf("client %ld, datagram %ld: no reply after %d tries\n", i, p->seq,
                           p->tries);
                    return 1;
                }
                resent++;
                send_current(p, i, out);
            }
        }
    }
    printf("ok %ld\n", clients * count);
    if (resent > 0)
        fprintf(stderr, "udppeer: %ld datagrams were sent again\n", resent);
    return 0;
}

/* mode_forge - an IPv4 header and a UDP header written by hand, the
 * source address and port taken from -f: the kernel does not check them */
static int mode_forge(void)
{
    static char packet[sizeof(struct iphdr) + sizeof(struct udphdr) + 1024];
    struct iphdr *ip = (struct iphdr *)packet;
    struct udphdr *udp = (struct udphdr *)(packet + sizeof *ip);
    char addr[64], *colon;
    size_t len = sizeof *ip + sizeof *udp + (size_t)size;
    int fd, one = 1;

    if (from == NULL || size > 1024 || strlen(from) >= sizeof addr)
        return 2;
    strcpy(addr, from);
    colon = strrchr(addr, ':');
    if (colon == NULL)
        return 2;
    *colon = '\0';
    fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
    if (fd == -1) {
        printf("no raw socket: %s\n", strerror(errno));
        return 3;
    }
    if (setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof one) == -1)
        die("setsockopt IP_HDRINCL");
    fill(packet + sizeof *ip + sizeof *udp, 0, 0);
    ip->version = 4;
    ip->ihl = 5;
    ip->ttl = 64;
    ip->protocol = IPPROTO_UDP;
    ip->tot_len = htons((unsigned short)len);   /* the kernel fills the checksum */
    if (inet_pton(AF_INET, addr, &ip->saddr) != 1)
        return 2;
    ip->daddr = server.sin_addr.s_addr;
    udp->source = htons((unsigned short)atoi(colon + 1));
    udp->dest = server.sin_port;
    udp->len = htons((unsigned short)(len - sizeof *ip));
    udp->check = 0;                             /* IPv4: no checksum */
    if (sendto(fd, packet, len, 0, (struct sockaddr *)&server, sizeof server) == -1)
        die("sendto (raw)");
    printf("forged\n");
    return 0;
}

int main(int argc, char *argv[])
{
    const char *mode;
    int opt;

    if (argc < 2) {
        fprintf(stderr, "usage: 11-udppeer echo|many|forge [-H ADDR] -p PORT [-n COUNT] "
                        "[-c CLIENTS] [-s SIZE] [-f FROM_ADDR:PORT]\n");
        return 2;
    }
    mode = argv[1];
    optind = 2;
    while ((opt = getopt(argc, argv, "H:p:n:c:s:f:")) != -1) {
        switch (opt) {
        case 'H': host = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'n': count = atol(optarg); break;
        case 'c': clients = atol(optarg); break;
        case 's': size = atol(optarg); break;
        case 'f': from = optarg; break;
        default: return 2;
        }
    }
    if (port <= 0 || port > 65535 || count < 1 || clients < 1 || clients > 10000
        || size < 0 || size > 65507)
        return 2;
    server.sin_family = AF_INET;
    server.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, host, &server.sin_addr) != 1)
        return 2;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (strcmp(mode, "echo") == 0) return mode_echo();
    if (strcmp(mode, "many") == 0) return mode_many();
    if (strcmp(mode, "forge") == 0) return mode_forge();
    fprintf(stderr, "udppeer: unknown mode '%s'\n", mode);
    return 2;
}
