"""two_acceptors.py - why a listener is non-blocking on Linux

Two processes watch one listener with select(), as pre-forked workers do
(lesson 09). One connection wakes both; A accepts it; B's accept() would
sleep, with all of B's clients waiting. (B waits 2 s at most here.)

    python3 two_acceptors.py
"""
import os, select, socket, time

listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(5)
for name, delay in (("A", 0.1), ("B", 0.3)):
    if os.fork() == 0:
        select.select([listener], [], [])   # both wake up for one connection
        time.sleep(delay)                   # A gets there first
        listener.settimeout(2)
        try:
            listener.accept()
            print(name, "accepted")
        except socket.timeout:
            print(name, "woke up, then slept in accept() for 2 s: the connection was gone")
        os._exit(0)
time.sleep(0.2)
socket.create_connection(listener.getsockname())
os.wait()
os.wait()
