/* client.c - the interactive client of the Python notes, in blocking C
 *
 * Reads lines from standard input, sends each one (with its newline),
 * waits in recv() until the reply line has come back and prints it; skips
 * empty lines and shows a ">>> " prompt only on a terminal. At end of
 * input it half-closes, prints the replies still owed and exits 0.
 *
 * The client's code is ../lib/echo_client.c, lesson 01's client shared by
 * every echo lesson whose idea is on the server side: read it there. Only
 * the default port is this lesson's.
 *
 * What to try with it: start the server with -w 2 and run three of these.
 * Two are answered at once; the third connects (the kernel completes the
 * handshake and queues it), but its first reply comes only when one of the
 * first two leaves, because until then every worker of the pool is busy.
 * That wait is what a pool costs, and its bound is what a pool buys.
 *
 * Usage: ./client [-H ADDR] [-p PORT]      (defaults: 127.0.0.1, 9009)
 *
 * See also: server.c, ../lib/echo_client.c, NOTES.md.
 * Python notes: 000 and 003 (the client loop: input, send, recv, print).
 */
#include "../lib/lab.h"

int main(int argc, char *argv[])
{
    return echo_client_main(argc, argv, "9009",
                            "Reads lines from standard input, prints the server's replies.");
}
