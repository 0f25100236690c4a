# demo.bash - what every lesson's demo.sh shares (sourced after cd into the
# lesson's folder: . ../lib/demo.bash). No lesson is about it.
#
#   $P       the pause unit in seconds (DEMO_PAUSE, default 1.5)
#   $work    a temporary folder, removed at exit
#   label NAME       prefix each line of stdin with [NAME]
#   say TEXT...      one line of the demo's own narration, as [demo]
#   pause [N]        sleep N pause units (default 1)
#   kill_tree PID    SIGTERM a process and everything below it
# At exit, or on Ctrl-C, every process the demo started is stopped and
# $work removed; a demo with more to undo defines demo_cleanup_hook.

P=${DEMO_PAUSE:-1.5}
work=$(mktemp -d)

kill_tree() {
  local child
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do kill_tree "$child"; done
  kill -TERM "$1" 2>/dev/null
}

cleanup() {
  local child
  trap - EXIT INT TERM
  declare -F demo_cleanup_hook >/dev/null && demo_cleanup_hook
  for child in $(ps -o pid= --ppid $$ 2>/dev/null); do kill_tree "$child"; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo; say "interrupted: stopping everything"; exit 130' INT TERM

label() { while IFS= read -r line; do printf '%-12s %s\n' "[$1]" "$line"; done; }
say() { printf '%-12s %s\n' "[demo]" "$*"; }
pause() { sleep "$(awk -v p="$P" -v n="${1:-1}" 'BEGIN { print p * n }')"; }
