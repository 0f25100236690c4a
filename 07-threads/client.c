/* client.c - the interactive client of the Python notes, in blocking C
 *
 * Reads lines from standard input, sends each one (with its newline),
 * waits in recv() until the reply line has come back and prints it; skips
 * empty lines and shows a ">>> " prompt only on a terminal. At end of
 * input it half-closes (shutdown(SHUT_WR)), prints the replies still owed
 * and exits 0.
 *
 * This lesson is on the server side, so the client is lesson 01's:
 * ../lib/echo_client.c, one source for every such lesson. Only the
 * default port is this lesson's.
 *
 * Run two of these against this lesson's server: each is served by its
 * own thread, so both are answered at once (in lesson 01 the second
 * waited for the first to quit).
 *
 * Usage: ./client [-H ADDR] [-p PORT]      (defaults: 127.0.0.1, 9007)
 *
 * See also: server.c, socketserver.c, ../lib/echo_client.c, NOTES.md.
 * Python notes: 000 and 003 (the client loop: input, send, recv, print).
 */
#include "../lib/lab.h"

int main(int argc, char *argv[])
{
    return echo_client_main(argc, argv, "9007",
                            "Reads lines from standard input, prints the server's replies.");
}
