/* empty.c - an empty datagram is still a datagram
 *
 * Python notes 003 point out that sendto() with empty data still sends
 * something: a datagram carries its sender's address, so the receiver's
 * recvfrom() wakes up, returns 0 bytes, and knows who sent them. That
 * makes 0 mean something quite different in UDP and in TCP:
 *
 *   UDP  recvfrom() == 0   an empty datagram arrived (from this address);
 *                          the socket goes on as before;
 *   TCP  recv() == 0       end of file: the peer will send no more.
 *
 * and a TCP send() of 0 bytes sends nothing at all: a byte stream has no
 * empty message to carry.
 *
 * The program shows both on 127.0.0.1, then, with -p, sends an empty
 * datagram to the lesson's echo server and shows its empty reply.
 *
 * Usage: ./empty [-p PORT]       (-p: also ask the echo server on 127.0.0.1:PORT)
 *
 * See also: server.c (answers an empty datagram with an empty one),
 * truncate.c, noserver.c, NOTES.md.
 * Python notes: 003 (sendto with empty data; recvfrom gets the address).
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <unistd.h>

#include "../lib/lab.h"

/* bound_socket - a socket of type on 127.0.0.1, any port; address into *addr */
static int bound_socket(int type, struct sockaddr_in *addr)
{
    socklen_t len = sizeof *addr;
    int fd = socket(AF_INET, type, 0);

    if (fd == -1)
        die("socket");
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)addr, sizeof *addr) == -1)
        die("bind");
    if (getsockname(fd, (struct sockaddr *)addr, &len) == -1)
        die("getsockname");
    return fd;
}

/* set_recv_timeout - SO_RCVTIMEO, so that a lost datagram cannot hang the demo */
static void set_recv_timeout(int fd, int secs)
{
    struct timeval tv = {secs, 0};

    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == -1)
        die("setsockopt SO_RCVTIMEO");
}

/* receive_and_show - recvfrom() one datagram on fd and say what came, from whom */
static void receive_and_show(int fd, const char *who)
{
    struct sockaddr_storage from;
    socklen_t from_len = sizeof from;
    char buf[64], sender[ADDR_LEN];
    ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &from_len);

    if (n == -1) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            printf("%s: nothing came within the timeout\n", who);
        else
            die("recvfrom");
        return;
    }
    format_addr((struct sockaddr *)&from, from_len, sender, sizeof sender);
    printf("%s: recvfrom() returned %zd bytes from %s: %s\n", who, n, sender,
           n == 0 ? "an empty datagram, and the socket goes on" : "data");
}

/* show_udp - an empty datagram from one local socket to another */
static void show_udp(void)
{
    struct sockaddr_in receiver_addr, sender_addr;
    int receiver = bound_socket(SOCK_DGRAM, &receiver_addr);
    int sender = bound_socket(SOCK_DGRAM, &sender_addr);
    ssize_t n;

    set_recv_timeout(receiver, 2);
    n = sendto(sender, "", 0, 0, (struct sockaddr *)&receiver_addr, sizeof receiver_addr);
    if (n == -1)
        die("sendto");
    printf("UDP: sendto() of 0 bytes returned %zd, from 127.0.0.1:%d\n", n,
           ntohs(sender_addr.sin_port));
    receive_and_show(receiver, "UDP");
    /* ...and the socket is still open for more: */
    if (sendto(sender, "more", 4, 0, (struct sockaddr *)&receiver_addr, sizeof receiver_addr) == -1)
        die("sendto");
    receive_and_show(receiver, "UDP");
    close(sender);
    close(receiver);
}

/* show_tcp - the same in a TCP stream: 0 bytes send nothing; 0 from
 * recv() means end of file */
static void show_tcp(void)
{
    struct sockaddr_in listen_addr;
    int listen_fd = bound_socket(SOCK_STREAM, &listen_addr);
    int client = socket(AF_INET, SOCK_STREAM, 0), conn;
    char buf[64];
    ssize_t n;

    if (client == -1)
        die("socket");
    if (listen(listen_fd, 1) == -1)
        die("listen");
    if (connect(client, (struct sockaddr *)&listen_addr, sizeof listen_addr) == -1)
        die("connect");
    conn = accept(listen_fd, NULL, NULL);
    if (conn == -1)
        die("accept");

    n = send(client, "", 0, MSG_NOSIGNAL);
    printf("TCP: send() of 0 bytes returned %zd...\n", n);
    n = recv(conn, buf, sizeof buf, MSG_DONTWAIT);
    if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
        printf("TCP: ...and nothing arrived: recv() says EAGAIN (a stream has no empty message)\n");
    else
        printf("TCP: recv() returned %zd\n", n);
    if (shutdown(client, SHUT_WR) == -1)
        die("shutdown");
    set_recv_timeout(conn, 2);
    n = recv(conn, buf, sizeof buf, 0);
    printf("TCP: after the peer's shutdown(SHUT_WR), recv() returned %zd: end of file\n", n);
    close(conn);
    close(client);
    close(listen_fd);
}

/* ask_server - an empty datagram to the echo server on 127.0.0.1:port */
static void ask_server(int port)
{
    struct sockaddr_in me, server;
    int fd = bound_socket(SOCK_DGRAM, &me);

    memset(&server, 0, sizeof server);
    server.sin_family = AF_INET;
    server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    server.sin_port = htons((unsigned short)port);
    set_recv_timeout(fd, 2);
    if (sendto(fd, "", 0, 0, (struct sockaddr *)&server, sizeof server) == -1)
        die("sendto");
    printf("ask the server: sent an empty datagram to 127.0.0.1:%d\n", port);
    receive_and_show(fd, "ask the server");
    close(fd);
}

static int server_port;      /* -p: also ask the echo server there */

/* on_option - -p PORT */
static void on_option(int key, const char *arg)
{
    (void)key;
    server_port = (int)parse_number(arg, 1, 65535, "port");
}

int main(int argc, char *argv[])
{
    static const struct lab_option options[] = {
        {'p', NULL, "PORT", "also send an empty datagram to the echo server on 127.0.0.1:PORT"},
        {0, NULL, NULL, NULL}};
    const struct lab_command cmd = {.options = options, .on_option = on_option};

    lab_parse(argc, argv, &cmd);
    show_udp();
    show_tcp();
    if (server_port != 0)
        ask_server(server_port);
    return 0;
}
