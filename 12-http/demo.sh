#!/usr/bin/env bash
# demo.sh - lesson 12 in one command: a real HTTP/1.1 server at work.
#
# Starts the server on the sample site, then shows, one step at a time:
# a whole response with its headers (curl -i), HEAD, three requests on one
# kept-alive connection, Connection: close, the error answers (404, 405,
# 505, 414), a traversal attempt refused, a silent client that does not
# block anyone and is dropped by the timeout, and the lab's own client.
# Every line is labelled with who printed it ([server] is the server's
# log on standard error). Ctrl-C at any time stops everything it started.
#
# Usage: ./demo.sh        (or from the top folder: make demo L=12-http)
#        DEMO_PAUSE=0.3 ./demo.sh    (faster)
set -u
cd "$(dirname "$0")" || exit 1
[ -x ./server ] && [ -x ./client ] || { echo "demo: run 'make' first" >&2; exit 1; }
command -v curl >/dev/null || { echo "demo: curl is needed (apt-get install curl)" >&2; exit 1; }
. ../lib/demo.bash          # label, say, pause, $work, cleanup at exit

# demo_cleanup_hook - run by lib/demo.bash's cleanup, first
demo_cleanup_hook() {
  [ -n "${silent:-}" ] && exec {silent}>&-
}

# label NAME - prefix each line of stdin with [NAME] (CRs of HTTP dropped)
label() { while IFS= read -r line; do printf '%-12s %s\n' "[$1]" "${line%$'\r'}"; done; }
# quote ARGS... - the arguments as a shell command line, for display
# show CMD... - print the command, run it, label its output (and stderr)
quote() { local a out=""; for a in "$@"; do [[ $a =~ [[:space:]{}] ]] && a="'$a'"; out+="$a "; done; echo "${out% }"; }
show() { say "\$ $(quote "$@")"; "$@" 2>&1 | head -n "${LINES_MAX:-40}" | label "${LABEL:-curl}"; pause; }

say "starting the server on the sample site in www/ (header timeout 3 s)"
# (the order matters: the labeller must start before stdout goes to the file)
./server -p 0 --header-timeout 3 2> >(tee "$work/server.err" | label server) >"$work/server.out" &
server_pid=$!
port=""
for _ in $(seq 200); do
  read -r ready 2>/dev/null <"$work/server.out" && port=${ready##*:} && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.05
done
[ -n "$port" ] || { say "the server did not start"; exit 1; }
label server <<<"$ready"
url="http://127.0.0.1:$port"
pause

say "1. A whole response: status line, headers, blank line, body."
say "   Content-Length says where the body ends; the Python notes' server sent none."
LINES_MAX=13 show curl -si "$url/style.css"

say "2. HEAD: the same headers, no body."
show curl -sI "$url/"

say "3. Keep-alive: three requests, one TCP connection (watch 'after 3 requests')."
say "\$ curl -sv -o /dev/null $url/ $url/style.css $url/logo.png   (connection lines only)"
curl -sv -o /dev/null -o /dev/null -o /dev/null "$url/" "$url/style.css" "$url/logo.png" 2>&1 |
  grep -E 'Connected to|Re-using|left intact' | label curl
pause 2

say "4. Connection: close - the server answers, then closes."
show curl -si -H "Connection: close" -o /dev/null -w '%{http_code}, connections opened: %{num_connects}\n' "$url/"

say "5. Errors have the right codes (the Python notes' server answered '303 Not Found'):"
for args in "/nowhere.html" "-X POST /" "-X BREW /"; do
  set -- $args
  path=${!#}
  opts="${*:1:$#-1}"
  say "\$ curl -s -o /dev/null -w '%{http_code}' ${opts:+$opts }$url$path"
  curl -s -o /dev/null -w '%{http_code}\n' "${@:1:$#-1}" "$url$path" | label curl
done
say "\$ printf 'GET / HTTP/2.0\\r\\nHost: x\\r\\n\\r\\n' | socat - TCP:127.0.0.1:$port"
if command -v socat >/dev/null; then
  printf 'GET / HTTP/2.0\r\nHost: x\r\n\r\n' | socat -t 5 - "TCP:127.0.0.1:$port" | head -n 1 | label socat
fi
say "\$ curl -s -o /dev/null -w '%{http_code}' $url/aaaa...(9000 a's)"
curl -s -o /dev/null -w '%{http_code}\n' "$url/$(head -c 9000 /dev/zero | tr '\0' a)" | label curl
pause 2

say "6. Has it changed? The ETag a browser kept, sent back: 304, no body."
etag=$(curl -sI "$url/style.css" | tr -d '\r' | awk -F': ' 'tolower($1) == "etag" { print $2 }')
show curl -si -H "If-None-Match: $etag" "$url/style.css"

say "7. A part of the file: bytes 0-15 of the page (its first line), 206 and Content-Range."
LINES_MAX=13 show curl -si -r 0-15 "$url/"
say "   and a range past the end: 416, with the file's length"
show curl -s -o /dev/null -w '%{http_code}\n' -r 100000- "$url/"

say "8. Where a request ends: a chunked body is read to its end, then the next request..."
chunked='GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'
next='GET /style.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
say "\$ printf '${chunked}${next}' | socat - TCP:127.0.0.1:$port | grep ^HTTP"
if command -v socat >/dev/null; then
  printf "$chunked$next" | socat -t 5 - "TCP:127.0.0.1:$port" | grep -a '^HTTP' | label socat
fi
say "...but Content-Length and Transfer-Encoding together: which one ends the body? 400,"
say "   close, and the request hidden in the body is never answered (request smuggling)."
smuggle='POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 37\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n'
say "\$ printf '$smuggle' | socat - TCP:127.0.0.1:$port | grep ^HTTP"
if command -v socat >/dev/null; then
  printf "$smuggle" | socat -t 5 - "TCP:127.0.0.1:$port" | grep -a '^HTTP' | label socat
fi
pause 2

say "9. Climbing out of the root, plain and percent-encoded: refused."
show curl -s --path-as-is -o /dev/null -w '%{http_code}\n' "$url/../../../etc/passwd"
show curl -s --path-as-is -o /dev/null -w '%{http_code}\n' "$url/%2e%2e/%2e%2e/etc/passwd"

say "10. A client connects and says nothing. Others are still served at once..."
exec {silent}<>"/dev/tcp/127.0.0.1/$port"
printf 'GET / HTTP/1.1\r\n' >&$silent
pause
show curl -s -o /dev/null -w '%{http_code} while the silent one waits\n' "$url/"
say "...and after 3 s without a complete request head the server drops it."
for _ in $(seq 100); do grep -q 'header timeout' "$work/server.err" && break; sleep 0.1; done
exec {silent}>&-
pause

say "11. The lab's client: -i shows the head, exit status 0 on 2xx, 1 otherwise."
LABEL=client LINES_MAX=10 show ./client -i "$url/style.css"
say "\$ ./client $url/missing; echo exit \$?"
{ ./client "$url/missing" >/dev/null; echo "exit $?"; } 2>&1 | label client
pause

say "stopping the server with SIGTERM"
kill -TERM "$server_pid"
wait "$server_pid"
say "server exited with status $?"
