#!/usr/bin/env bash
# bench.sh - lesson 12's server beside nginx (one worker), same file, same run
#
# Serves www/index.html (about 1 KiB) from both servers and measures each
# with wrk: 100 connections kept alive, and 100 connections with
# "Connection: close" (a new TCP connection for every request). Prints
# wrk's requests per second and latency for each, and the ratio of this
# server to nginx. It never fails on a number: figures depend on the
# machine and on what else runs on it.
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
set -u
cd "$(dirname "$0")" || exit 1
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-1}
CONNS=${CONNS:-100}
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
./server -q -p 0 -r "$root" >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 100); do grep -q '^listening on' "$work/server.out" && break; sleep 0.05; done
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

# measure NAME PORT [WRK ARGS...] - one wrk run; prints a line, sets RPS
measure() {
  local name=$1 port=$2; shift 2
  local out
  out=$(wrk -t "$THREADS" -c "$CONNS" -d "${DURATION}s" --latency "$@" \
        "http://127.0.0.1:$port/index.html" 2>&1)
  RPS=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
  local p50 p99 errs
  p50=$(awk '$1 == "50%" { print $2 }' <<<"$out")
  p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
  errs=$(awk '/Socket errors|Non-2xx/ { $1 = $1; printf "%s; ", $0 }' <<<"$out")
  printf '%-34s %10s req/s   p50 %-9s p99 %-9s %s\n' "$name" "${RPS:-?}" "$p50" "$p99" "${errs:-no errors}"
}

echo "# $(nproc) cores, $(uname -r), wrk -t$THREADS -c$CONNS -d${DURATION}s, file $(stat -c %s www/index.html) bytes, $ROUNDS rounds"
echo "# lab server on :$lab_port, nginx $("$NGINX" -v 2>&1 | sed 's/.*\///') (1 worker) on :$nginx_port"

# The four runs take turns, round after round, so that a burst of other
# work on the machine hits both servers alike; the medians are compared.
lab_ka=() ngx_ka=() lab_cl=() ngx_cl=()
for round in $(seq "$ROUNDS"); do
  echo "# round $round"
  measure "lab server, keep-alive" "$lab_port";  lab_ka+=("$RPS")
  measure "nginx 1 worker, keep-alive" "$nginx_port"; ngx_ka+=("$RPS")
  measure "lab server, Connection: close" "$lab_port" -H "Connection: close"; lab_cl+=("$RPS")
  measure "nginx 1 worker, Connection: close" "$nginx_port" -H "Connection: close"; ngx_cl+=("$RPS")
done

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "?" }'; }
m_lab_ka=$(median "${lab_ka[@]}") m_ngx_ka=$(median "${ngx_ka[@]}")
m_lab_cl=$(median "${lab_cl[@]}") m_ngx_cl=$(median "${ngx_cl[@]}")
echo "# medians of $ROUNDS rounds (requests/s)"
printf '%-18s %12s %12s %8s\n' "" "lab server" "nginx (1w)" "ratio"
printf '%-18s %12s %12s %8s\n' "keep-alive" "$m_lab_ka" "$m_ngx_ka" "$(ratio "$m_lab_ka" "$m_ngx_ka")"
printf '%-18s %12s %12s %8s\n' "Connection: close" "$m_lab_cl" "$m_ngx_cl" "$(ratio "$m_lab_cl" "$m_ngx_cl")"
if [ -s "$work/server.err" ]; then
  echo "# the lab server logged:"; sed 's/^/#   /' "$work/server.err" | head -5
fi
