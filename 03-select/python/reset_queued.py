"""reset_queued.py - a connection reset while it waits in the accept queue

BSD kernels drop such a connection, so a blocking accept() after select()
said "readable" may sleep (UNP section 16.6). Linux keeps it:

    python3 reset_queued.py
"""
import select, socket, struct

listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(5)
client = socket.create_connection(listener.getsockname())
client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
client.close()                              # linger 0: a reset, before accept()
print("listener readable:", bool(select.select([listener], [], [], 0)[0]))
conn, addr = listener.accept()              # blocking, and it returns at once
print("accept() returned", addr)
try:
    conn.recv(10)
except ConnectionResetError as e:
    print("recv():", e)
