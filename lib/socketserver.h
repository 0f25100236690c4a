/* socketserver.h - Python's socketserver module in C: the server, the
 * request handler, and the frame that a mix-in fills in
 *
 * Python notes 003 read the socketserver module and find two kinds of
 * class: a server class that owns the connection loop and a
 * request-handler class that owns the communication loop. A server that
 * serves many clients at once is assembled from parts:
 *
 *     ForkingTCPServer   = ForkingMixIn   + TCPServer (+ BaseServer)
 *     ThreadingTCPServer = ThreadingMixIn + TCPServer (+ BaseServer)
 *
 * This library is TCPServer, BaseServer and the request handler, with
 * Python's names, so that the call chain of Python notes 003 can be
 * followed line by line (socketserver.c). No lesson is about it:
 * lessons 06 and 07 are each about ONE mix-in, the few functions that say
 * what a worker is (a child process, a thread). Each lesson's
 * socketserver.c holds only its mix-in, a struct mixin of those
 * functions; diff the two files, and what shows is the difference between
 * a process and a thread.
 *
 * A "class" is a struct of function pointers; "self" is a pointer to a
 * struct; C has no inheritance, so the mix-in is a table the server calls.
 */
#ifndef SOCKETSERVER_H
#define SOCKETSERVER_H

#include "lab.h"

#include <pthread.h>            /* pthread_t */
#include <signal.h>             /* sigset_t, sig_atomic_t */
#include <sys/types.h>          /* pid_t */

struct server;

/* One request handler instance: Python's `self` inside handle(). */
struct request {
    int request;                        /* self.request: the connected socket */
    const char *client_address;         /* self.client_address */
    struct server *server;              /* self.server: the server object (its
                                         * listening socket is server->socket) */
    unsigned long long bytes_echoed;    /* this handler's own state */
};

/* A handler class: the three methods BaseRequestHandler.__init__ calls. */
struct request_handler_class {
    void (*setup)(struct request *self);
    void (*handle)(struct request *self);
    void (*finish)(struct request *self);
};

/* EchoHandler: the Python notes' handler (recv, send(data.upper()))
 * until end of file; setup() and finish() log the client. */
extern const struct request_handler_class echo_handler;

/* One slot of the worker table: a worker serves one request. */
struct worker {
    int busy;                           /* 0: a free slot */
    union {
        pid_t pid;                      /* ForkingMixIn: a child process */
        pthread_t thread;               /* ThreadingMixIn: a thread */
    } id;
    int request;                        /* the socket it serves (lesson 06's
                                         * parent has closed its own copy) */
    char client_address[ADDR_LEN];
    struct server *server;
};

/* A mix-in: what a worker is. The server calls lock/unlock around every
 * look at the worker table (the table is the mix-in's to guard). */
struct mixin {
    const char *worker_word;            /* "a child process", "a thread" */
    void (*init)(void);                 /* before the server starts */
    void (*lock_workers)(void);
    void (*unlock_workers)(void);
    void (*wait_for_change)(long ms);   /* locked: sleep until a worker ends */
    void (*reap_workers)(struct server *self);  /* free slots of ended ones */
    int (*start_worker)(struct worker *worker, const sigset_t *old_mask);
    void (*stop_worker)(struct worker *worker); /* ask it to stop */
    void (*end_stragglers)(struct server *self);/* after the grace period */
};

/* BaseServer + TCPServer: the listening socket, the handler class, the
 * mix-in and its worker table (at most max_workers at once). */
struct server {
    int socket;                         /* self.socket */
    const struct request_handler_class *handler_class;
    const struct mixin *mixin;
    struct worker *workers;             /* max_workers slots */
    long max_workers;                   /* ForkingMixIn.max_children */
    long active_count;                  /* busy slots */
};

/* The socket that a stop signal shuts down, so that the sleep on it ends
 * at once: the listening socket, or a client's in lesson 06's children. */
extern volatile sig_atomic_t socket_for_signal;

/* finish_request - BaseServer.finish_request: make the handler, which
 * runs setup(), handle() and finish() */
void finish_request(struct server *self, int request, const char *client_address);
/* shutdown_request - TCPServer.shutdown_request: shutdown(SHUT_WR), close */
void shutdown_request(int request);
/* remove_worker - free the slot of a worker that has ended (locked) */
void remove_worker(struct worker *worker);

/* socketserver_main - the program: options (-H, -p, -m MAX), then
 * server = <Mixin>TCPServer((host, port), EchoHandler); serve_forever();
 * server_close() on SIGINT/SIGTERM. "about" is its --help line. */
int socketserver_main(int argc, char *argv[], const char *default_port,
                      const struct mixin *mixin, const char *about);

#endif
