/* client.c - the interactive client of the Python notes, for the polling server
 *
 * Reads lines from standard input, sends each one (with its newline),
 * waits in recv() until the reply line has come back and prints it; skips
 * empty lines and shows a ">>> " prompt only on a terminal. At end of
 * input it half-closes (shutdown(SHUT_WR)), prints the replies still owed
 * and exits 0. The code is ../lib/echo_client.c, lesson 01's client; only
 * the default port is this lesson's.
 *
 * Blocking, on purpose, as in the Python notes, which change only the
 * server. A client waits for one thing at a time, its own reply, so
 * sleeping in recv() costs it nothing; a polling client would burn a core
 * while a person types. (And making standard input non-blocking is a trap:
 * O_NONBLOCK belongs to the open file, which a terminal shares with the
 * shell; see NOTES.md, pitfalls.) The server must watch many clients at
 * once: that is where polling comes in. Run several of these at once:
 * all are answered, unlike in lesson 01.
 *
 * Usage: ./client [-H ADDR] [-p PORT]      (defaults: 127.0.0.1, 9002)
 *
 * See also: server.c, ../lib/echo_client.c, NOTES.md.
 * Python notes: 000 and 004 (the client loop: input, send, recv, print).
 */
#include "../lib/lab.h"

int main(int argc, char *argv[])
{
    return echo_client_main(argc, argv, "9002",
                            "Reads lines from standard input, prints the server's replies.");
}
