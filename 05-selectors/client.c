/* client.c - the interactive client of the Python notes, in blocking C
 *
 * Reads lines from standard input, sends each one (with its newline),
 * waits in recv() until the reply line has come back and prints it; skips
 * empty lines and shows a ">>> " prompt only on a terminal. At end of
 * input it half-closes (shutdown(SHUT_WR)), prints the replies still owed
 * and exits 0.
 *
 * The client's code is ../lib/echo_client.c, lesson 01's client: the
 * selector changes the server only. A client waits for one thing at a
 * time, its own reply, so blocking costs it nothing; a client that waits
 * for two things (the keyboard and the socket) on a selector is exercise
 * 8 of NOTES.md. Run several of these against ./server, with any
 * --backend: each is answered at once, by one process with one thread.
 *
 * Usage: ./client [-H ADDR] [-p PORT]      (defaults: 127.0.0.1, 9005)
 *
 * See also: server.c, ../lib/echo_client.c, NOTES.md.
 * Python notes: 001 (the selectors program's client loop: input, send,
 * recv, print).
 */
#include "../lib/lab.h"

int main(int argc, char *argv[])
{
    return echo_client_main(argc, argv, "9005",
                            "Reads lines from standard input, prints the server's replies.");
}
