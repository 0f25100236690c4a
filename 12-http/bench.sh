#!/usr/bin/env bash
# bench.sh - lesson 12's server beside nginx (one worker), same file, same run
#
# Serves www/index.html (about 1 KiB) from both servers and measures each
# with wrk: 100 connections kept alive, and 100 connections with
# "Connection: close" (a new TCP connection for every request). Prints
# wrk's requests per second and latency for each, and the ratio of this
# server to nginx. It never fails on a number: figures depend on the
# machine and on what else runs on it. Beside requests per second it
# prints each server's CPU time per request (from /proc/PID/stat), which
# other load on a shared machine disturbs much less.
#
# nginx gets a minimal configuration in a temporary folder: one worker
# process, access log off (this server runs with -q, which logs errors
# only), sendfile off (nginx's default), keepalive_requests raised so that
# nginx does not close a kept-alive connection every 1000 requests.
#
# The four measurements take turns for ROUNDS rounds and the medians are
# compared, so that other work on the machine weighs on both servers.
#
# Usage: ./bench.sh                 (needs: apt-get install wrk nginx)
#        DURATION=5 ROUNDS=3 THREADS=1 CONNS=100 ./bench.sh   (the defaults)
#        SERVER_OPTS=--no-openat2 ./bench.sh   (options for the lab server)
set -u
cd "$(dirname "$0")" || exit 1
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-1}
CONNS=${CONNS:-100}
SERVER_OPTS=${SERVER_OPTS:-}
[ -x ./server ] || { echo "bench: run 'make' first" >&2; exit 1; }
command -v wrk >/dev/null || { echo "bench: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || { echo "bench: nginx is not installed (apt-get install nginx)" >&2; exit 1; }

work=$(mktemp -d)
server_pid="" nginx_pid=""
cleanup() {
  trap - EXIT INT TERM
  [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  [ -n "$nginx_pid" ] && kill -QUIT "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port - a loopback TCP port nobody listens on, from 18012 up
free_port() {
  local p
  for p in $(seq 18012 18112); do
    [ -z "$(ss -Htln "( sport = :$p )" 2>/dev/null)" ] && { echo "$p"; return; }
  done
  return 1
}

root=$(cd www && pwd)
# shellcheck disable=SC2086 # SERVER_OPTS: several words on purpose
./server -q -p 0 -r "$root" $SERVER_OPTS >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 100); do grep -qs '^listening on' "$work/server.out" && break; sleep 0.05; done
lab_port=$(sed -n 's/^listening on .*://p' "$work/server.out")
[ -n "$lab_port" ] || { echo "bench: the server did not start" >&2; cat "$work/server.err" >&2; exit 1; }

nginx_port=$(free_port) || { echo "bench: no free port for nginx" >&2; exit 1; }
cat >"$work/nginx.conf" <<EOF
worker_processes 1;
daemon off;
user root;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/body;
  proxy_temp_path $work/proxy;
  fastcgi_temp_path $work/fastcgi;
  uwsgi_temp_path $work/uwsgi;
  scgi_temp_path $work/scgi;
  types { text/html html; text/css css; image/png png; }
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$nginx_port;
    root $root;
  }
}
EOF
"$NGINX" -p "$work" -c "$work/nginx.conf" 2>"$work/nginx.stderr" &
nginx_pid=$!
for _ in $(seq 100); do
  [ -n "$(ss -Htln "( sport = :$nginx_port )")" ] && break
  kill -0 "$nginx_pid" 2>/dev/null || break
  sleep 0.05
done
[ -n "$(ss -Htln "( sport = :$nginx_port )")" ] ||
  { echo "bench: nginx did not start" >&2; cat "$work/nginx.stderr" "$work/nginx-error.log" >&2; exit 1; }

# cpu_ticks PID - user + system CPU time of PID and its children, in ticks
# (for nginx: the master and its worker)
cpu_ticks() {
  local pid total=0 t
  for pid in "$1" $(pgrep -P "$1"); do
    t=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null) && total=$(( total + t ))
  done
  echo "$total"
}
TICK_US=$(( 1000000 / $(getconf CLK_TCK) ))

# measure NAME PORT PID [WRK ARGS...] - one wrk run; prints a line with the
# server's CPU time per request (a figure that other load on the machine
# disturbs much less than requests per second); sets RPS and CPU
measure() {
  local name=$1 port=$2 pid=$3; shift 3
  local out before after requests
  before=$(cpu_ticks "$pid")
  out=$(wrk -t "$THREADS" -c "$CONNS" -d "${DURATION}s" --latency "$@" \
        "http://127.0.0.1:$port/index.html" 2>&1)
  after=$(cpu_ticks "$pid")
  RPS=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
  requests=$(awk '/requests in/ { print $1 }' <<<"$out")
  CPU=$(awk -v t=$(( (after - before) * TICK_US )) -v n="${requests:-0}" \
        'BEGIN { if (n > 0) printf "%.1f", t / n; else print "?" }')
  local p50 p99 errs
  p50=$(awk '$1 == "50%" { print $2 }' <<<"$out")
  p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
  errs=$(awk '/Socket errors|Non-2xx/ { $1 = $1; printf "%s; ", $0 }' <<<"$out")
  printf '%-34s %7s req/s  p50 %-8s p99 %-8s server CPU %5s us/req  %s\n' \
    "$name" "${RPS:-?}" "$p50" "$p99" "$CPU" "${errs:-no errors}"
}

echo "# $(nproc) cores, $(uname -r), wrk -t$THREADS -c$CONNS -d${DURATION}s, file $(stat -c %s www/index.html) bytes, $ROUNDS rounds"
echo "# lab server${SERVER_OPTS:+ ($SERVER_OPTS)} on :$lab_port, nginx $("$NGINX" -v 2>&1 | sed 's/.*\///') (1 worker) on :$nginx_port"

# The four runs take turns, round after round, so that a burst of other
# work on the machine hits both servers alike; the medians are compared.
lab_ka=() ngx_ka=() lab_cl=() ngx_cl=() cpu_lab_ka=() cpu_ngx_ka=() cpu_lab_cl=() cpu_ngx_cl=()
for round in $(seq "$ROUNDS"); do
  echo "# round $round"
  measure "lab server, keep-alive" "$lab_port" "$server_pid"
  lab_ka+=("$RPS") cpu_lab_ka+=("$CPU")
  measure "nginx 1 worker, keep-alive" "$nginx_port" "$nginx_pid"
  ngx_ka+=("$RPS") cpu_ngx_ka+=("$CPU")
  measure "lab server, Connection: close" "$lab_port" "$server_pid" -H "Connection: close"
  lab_cl+=("$RPS") cpu_lab_cl+=("$CPU")
  measure "nginx 1 worker, Connection: close" "$nginx_port" "$nginx_pid" -H "Connection: close"
  ngx_cl+=("$RPS") cpu_ngx_cl+=("$CPU")
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "?" }'; }
row() {  # row LABEL LAB_RPS[] NGINX_RPS[] LAB_CPU[] NGINX_CPU[] (medians)
  printf '%-18s %9s %9s %6s   %9s %9s %6s\n' "$1" "$2" "$3" "$(ratio "$2" "$3")" "$4" "$5" "$(ratio "$4" "$5")"
}
echo "# medians of $ROUNDS rounds"
printf '%-18s %9s %9s %6s   %9s %9s %6s\n' "" "lab req/s" "nginx" "ratio" "lab us/req" "nginx" "ratio"
row "keep-alive" "$(median "${lab_ka[@]}")" "$(median "${ngx_ka[@]}")" \
    "$(median "${cpu_lab_ka[@]}")" "$(median "${cpu_ngx_ka[@]}")"
row "Connection: close" "$(median "${lab_cl[@]}")" "$(median "${ngx_cl[@]}")" \
    "$(median "${cpu_lab_cl[@]}")" "$(median "${cpu_ngx_cl[@]}")"
if [ -s "$work/server.err" ]; then
  echo "# the lab server logged:"; sed 's/^/#   /' "$work/server.err" | head -5
fi
