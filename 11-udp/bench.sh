#!/usr/bin/env bash
# bench.sh - one UDP socket, many clients: throughput, and what gets lost.
#
# Starts the server (its per-datagram log to /dev/null) and runs
# tests/tools/11-udppeer many with 1, 10, 100 and 1000 client sockets at
# once, each sending COUNT datagrams of SIZE bytes, the next as soon as the
# reply to the previous one is in. For each row it prints:
#   datagrams   replies received (all of them: lost ones are resent)
#   secs, per_s elapsed time and replies per second
#   resent      datagrams sent again after a second without a reply
#   rcvbuf_drops the kernel's UdpRcvbufErrors counter over the run
#               (/proc/net/snmp): datagrams dropped because a socket's
#               receive buffer was full (system-wide; other programs'
#               UDP traffic would count too)
# Prints figures only; never fails on a number.
#
# Usage: ./bench.sh          (or COUNT=200 SIZE=512 ./bench.sh)
set -u
cd "$(dirname "$0")" || exit 1
PEER=../tests/tools/11-udppeer
[ -x ./server ] && [ -x "$PEER" ] || { echo "bench: run 'make' first" >&2; exit 1; }
COUNT=${COUNT:-100}
SIZE=${SIZE:-64}
work=$(mktemp -d)
server_pid=""

cleanup() {
  [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# rcvbuf_errors - the kernel's count of UDP datagrams dropped for a full buffer
rcvbuf_errors() {
  awk '/^Udp:/ { if (!n++) { for (i = 1; i <= NF; i++) col[$i] = i } else print $col["RcvbufErrors"] }' /proc/net/snmp
}

./server -p 0 >"$work/out" 2>/dev/null &
server_pid=$!
port=""
for _ in $(seq 200); do
  [ -s "$work/out" ] && read -r ready <"$work/out" && port=${ready##*:} && break
  sleep 0.05
done
[ -n "$port" ] || { echo "bench: the server did not start" >&2; exit 1; }

echo "# 11-udp: one server socket, many client sockets, $COUNT datagrams of $SIZE bytes each"
echo "# machine: $(nproc) cores, $(uname -sr)"
printf '%-8s %10s %8s %10s %8s %13s\n' clients datagrams secs per_s resent rcvbuf_drops
for clients in 1 10 100 1000; do
  drops0=$(rcvbuf_errors)
  t0=$(date +%s%N)
  "$PEER" many -p "$port" -c "$clients" -n "$COUNT" -s "$SIZE" >"$work/peer.out" 2>"$work/peer.err"
  t1=$(date +%s%N)
  drops1=$(rcvbuf_errors)
  got=$(grep -oE '^ok [0-9]+' "$work/peer.out" | cut -d' ' -f2)
  resent=$(grep -oE '[0-9]+ datagrams were sent again' "$work/peer.err" | cut -d' ' -f1)
  awk -v c="$clients" -v g="${got:-0}" -v t0="$t0" -v t1="$t1" -v r="${resent:-0}" -v d=$((drops1 - drops0)) \
    'BEGIN { s = (t1 - t0) / 1e9; printf "%-8s %10s %8.2f %10.0f %8s %13s\n", c, g, s, g / s, r, d }'
done
echo "# Command: 11-udp/bench.sh (COUNT=$COUNT SIZE=$SIZE)"
