"""busy_wlist.py - Python notes 000's advice, followed: every client in the
write list as soon as it connects

The notes suggest adding each connection to wlist right after accept().
A connected socket with room in its send buffer is always writable, so
select() returns at once, every time, with nothing to send: a busy loop.
One client connects and stays silent for two seconds:

    python3 busy_wlist.py         select() calls in 2 s: tens of thousands
    python3 busy_wlist.py --fixed only when something waits: 2 calls
"""
import os, select, socket, sys, time

FIXED = "--fixed" in sys.argv
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(5)

address = server.getsockname()
if os.fork() == 0:                          # one idle client
    server.close()
    c = socket.create_connection(address)
    time.sleep(2.5)
    os._exit(0)

rlist, wlist, dic, calls = [server], [], {}, 0
start = time.time()
while time.time() - start < 2:
    rl, wl, xl = select.select(rlist, wlist, [], 0.5)
    calls += 1
    for c in rl:
        if c == server:
            conn, addr = c.accept()
            rlist.append(conn)
            if not FIXED:
                wlist.append(conn)          # "right after the connection"
    for c in wl:
        if c in dic:                        # nothing to send: nothing done
            c.send(dic.pop(c))
os.wait()
print("select() calls in 2 s:", calls)
