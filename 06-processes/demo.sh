#!/usr/bin/env bash
# demo.sh - lesson 06 in one command: a process per client, and the life
# of a process (join, isolation, lifecycle, zombie, orphan, daemon,
# unixdaemon).
#
# Starts the forking server and three clients at once: all three are
# answered, each by its own child process (ps shows them). When they
# leave, ps shows no <defunct> child: the SIGCHLD handler reaped them.
# Then each demo program runs once with its output labelled. Ctrl-C at any
# time stops everything the demo started.
#
# Usage: ./demo.sh        (or from the top folder: make demo L=06-processes)
#        DEMO_PAUSE=0.3 ./demo.sh    (faster)
set -u
cd "$(dirname "$0")" || exit 1
for prog in server client join isolation lifecycle zombie orphan daemon unixdaemon; do
  [ -x "./$prog" ] || { echo "demo: run 'make' first" >&2; exit 1; }
done
. ../lib/demo.bash          # label, say, pause, $work, cleanup at exit

# show_children - the server's children as ps sees them
# (the labeller of the server's stderr is a child of it too: left out)
show_children() {
  ps -o pid,ppid,stat,cmd --ppid "$server_pid" | grep -v demo.sh | label ps
}

say "starting the forking server"
# (the order matters: the labeller must start before stdout goes to the file)
./server -p 0 2> >(label server) >"$work/server.out" &
server_pid=$!
port=""
for _ in $(seq 200); do
  read -r ready 2>/dev/null <"$work/server.out" && port=${ready##*:} && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.05
done
[ -n "$port" ] || { say "the server did not start"; exit 1; }
label server <<<"$ready"
pause

say "three clients connect and stay connected; all three are answered at once"
for i in 1 2 3; do
  { echo "hello from client $i"; pause 4; } |
    ./client -p "$port" 2>&1 | label "client $i" &
done
pause 2
say "one child process per client (state S: asleep in recv):"
show_children
pause 3
say "the clients have left; the SIGCHLD handler reaped every child:"
show_children
say "(no <defunct> line: no zombie)"
pause

say "stopping the server with SIGTERM"
kill -TERM "$server_pid"
wait "$server_pid"
say "server exited with status $?"
pause

say "join: three children sleep 1, 2 and 3 s side by side (Python notes: about 3 s, not 6)"
./join 2>&1 | label join
pause

say "isolation: the child sets the global money to 666; and the parent's money?"
./isolation 2>&1 | tee "$work/isolation.out" | label isolation
after=$(sed -n 's/^parent .*: money = \(-\{0,1\}[0-9]*\) .* after the child ended$/\1/p' "$work/isolation.out")
say "...the parent's money after the child ended: ${after:-?} (the child changed its own copy)"
pause

say "lifecycle: pid/ppid, terminate (SIGTERM), is_alive, exitcode"
./lifecycle 2>&1 | label lifecycle
pause

say "zombie: children that have ended, not yet reaped (ps shows them as Z)"
./zombie -n 2 -s 3 > >(label zombie) 2>&1 &
zombie_pid=$!
pause 1
ps -o pid,ppid,stat,cmd --ppid "$zombie_pid" | grep -v demo.sh | label ps
wait "$zombie_pid"
pause

say "orphan: the parent dies first; the child is adopted by a subreaper"
./orphan --subreaper 2>&1 | label orphan
pause

say "daemon: a child tied to its parent (PR_SET_PDEATHSIG) dies with it"
./daemon 2>&1 | label daemon
pause 2
say "...the steward never announced his death: the kernel killed him with his master."
pause

say "unixdaemon: a daemon in the Unix sense: own session, no terminal, in /"
./unixdaemon -l "$work/daemon.log" 2>&1 | label unixdaemon
daemon_pid=$(sed -n 's/^unixdaemon\[\([0-9]*\)\]: started.*/\1/p' "$work/daemon.log")
if [ -n "$daemon_pid" ]; then
  ps -o pid,ppid,pgid,sid,tty,stat,cmd -p "$daemon_pid" | label ps
  kill -TERM "$daemon_pid"
  for _ in $(seq 50); do grep -q stopping "$work/daemon.log" && break; sleep 0.1; done
  label log < "$work/daemon.log"
fi
say "done"
