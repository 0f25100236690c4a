"""select000.py - the select() server of Python notes 000, and its bug

The loop below is the notes' server, trimmed of its prints, with one
client driven from a child process: it sends a line, reads the reply and
leaves. As written, the server dies at that first disconnect:

    python3 select000.py          ValueError: file descriptor cannot be a
                                  negative integer (-1)
    python3 select000.py --fixed  serves two clients one after the other

The bug: when recv() returns b'' the notes close the socket and take it out
of rlist, but do not stop there: the closed socket is appended to wlist,
and the next select() is handed a descriptor of -1.
"""
import os, select, socket, sys, time

FIXED = "--fixed" in sys.argv
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", 0))
server.listen(5)
server.setblocking(False)

address = server.getsockname()
if os.fork() == 0:                          # the clients: hello, reply, leave
    server.close()
    for _ in range(2):
        try:
            c = socket.create_connection(address)
        except ConnectionRefusedError:
            print("next client: connection refused, the server is gone")
            os._exit(1)
        c.send(b"hello")
        print("client got", c.recv(1024))
        c.close()
        time.sleep(0.2)
    os._exit(0)

rlist, wlist, dic, served = [server], [], {}, 0
while served < 2:
    rl, wl, xl = select.select(rlist, wlist, [])
    for c in rl:
        if c == server:
            conn, addr = c.accept()
            rlist.append(conn)
        else:
            data = c.recv(1024)
            if not data:
                c.close()
                rlist.remove(c)
                served += 1
                if FIXED:
                    continue                # the fix: the socket is gone
            wlist.append(c)
            dic[c] = data
    for c in wl:
        c.send(dic[c].upper())
        dic.pop(c)
        wlist.remove(c)
os.wait()
print("served", served, "clients")
