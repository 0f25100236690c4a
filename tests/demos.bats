#!/usr/bin/env bats
# demos: the scripted demonstrations (make demo L=N) in front of a class:
# the 05 demo ten times in a row, and every lesson's demo leaving the
# working tree as it was. Run with `make test-tools` (not part of a
# lesson's score).
#
# The demos run with DEMO_PAUSE=0 (lib/demo.bash: the pause unit; every
# demo waits for events, the pauses only give a class time to read), so
# that ten runs take seconds, not minutes.

load helpers
load checkout

# Lines that would stop a class: a demo whose peers reached a dead port,
# whose harness printed an error of its own, or that waited in vain.
STUMBLES='Connection refused|No such file or directory|timed out|gave up waiting|did not start'

# run_demo N OUT - make demo L=N without pauses, its output in OUT; stdin
# /dev/null and no descriptor of bats' (a process the demo left behind
# would hold bats' pipe and make it wait for ever); sets DEMO_STATUS
run_demo() {
  DEMO_STATUS=0
  DEMO_PAUSE=0 timeout -k 5 180 make -s -C "$LAB" demo L="$1" </dev/null >"$2" 2>&1 3>&- 4>&- ||
    DEMO_STATUS=$?
}

# show_demo OUT WHAT - fail the test saying WHAT, with the demo's output
show_demo() {
  echo "# $2; its output:" >&2
  sed 's/^/#   /' "$1" >&2
  return 1
}

# figure OUT N REGEX - the group of REGEX (extended) in the Nth line of OUT
# that matches it; fails if there is none
figure() {
  local value
  value=$(sed -En "s/$3/\1/p" "$1" | sed -n "${2}p")
  [ -n "$value" ] || { echo "# no line $2 of the demo's output matches '$3'" >&2; return 1; }
  echo "$value"
}

# narration_measured LESSON OUT - every figure the demo's narration
# ([demo] lines) measures is there as a number (a parse of a program's
# output that broke would leave '?' or nothing), and where the program
# printed the figure itself, the narration quotes that one
narration_measured() {
  local out=$2 want=() re a b
  case $1 in
  02-*) want=("CPU used by the server over one second: [0-9]+% of a core"
              "in its last second it asked 'anything yet\?' [0-9]+ times"
              "\(the reply came [0-9]+ ms after the client started") ;;
  04-*) want=("the server has [0-9]+ descriptors open;" "the server has [0-9]+ descriptors open again") ;;
  05-*) want=("threads in the server: [0-9]+ " "its memory: [0-9]+ kB"
              "connections registered: [0-9]+; refused: [0-9]+,") ;;
  06-*) a=$(figure "$out" 1 '^\[isolation\] +parent .*: money = (-?[0-9]+) .*after the child ended$') || return 1
        want=("the parent's money after the child ended: $a ") ;;
  08-*) a=$(figure "$out" 1 '^\[buyers\] +bought ([0-9]+) of .*') || return 1
        b=$(figure "$out" 2 '^\[buyers\] +bought ([0-9]+) of .*') || return 1
        want=(" $a sold, [0-9]+ told SOLD OUT, [0-9]+ left:" " $b sold of 5")
        a=$(figure "$out" 1 '^\[money\] +money = (-?[0-9]+) \(expected.*') || return 1
        b=$(figure "$out" 2 '^\[money\] +money = (-?[0-9]+) \(expected.*') || return 1
        want+=("With the mutex: money ends at $a," "Without it: money ends at $b, [0-9]+ of the 100") ;;
  09-*) want=("worker processes left: [0-9]+") ;;
  10-*) want=("server threads while they talk: [0-9]+$"
              "held at once \(measured with ss while they ran\): [0-9]+, with [0-9]+ thread"
              "-> killed by SIG[A-Z]+ \(shell status [0-9]+\)") ;;
  esac
  for re in "${want[@]}"; do
    grep -Eq -- "^\[demo\] +.*$re" "$out" ||
      { show_demo "$out" "make demo L=$1: no narration line matches '$re'"; return 1; }
  done
}

@test "make demo L=5, ten times in a row: each ends with 'done', exit 0, no refused connection, missing file or time-out" {
  local i out
  for i in $(seq 10); do
    out="$BATS_TEST_TMPDIR/05-run-$i.out"
    run_demo 5 "$out"
    [ "$DEMO_STATUS" -eq 0 ] || show_demo "$out" "run $i exited with status $DEMO_STATUS"
    ! grep -Eq -- "$STUMBLES" "$out" || show_demo "$out" "run $i printed '$(grep -Eo -- "$STUMBLES" "$out" | head -n 1)'"
    grep -q '^\[demo\] *done$' "$out" || show_demo "$out" "run $i did not reach its end"
  done
}

@test "make demo for every lesson: exit 0, its narration quotes what it measured, and git status shows nothing new or changed" {
  in_checkout_or_skip
  local before d lesson out
  before=$(tree_state)
  for d in "$LAB"/[0-9][0-9]-*/demo.sh; do
    lesson=$(basename "$(dirname "$d")")
    out="$BATS_TEST_TMPDIR/$lesson.out"
    run_demo "${lesson%%-*}" "$out"
    [ "$DEMO_STATUS" -eq 0 ] || show_demo "$out" "make demo L=$lesson exited with status $DEMO_STATUS"
    narration_measured "$lesson" "$out"
    assert_tree_unchanged "$before" "make demo L=$lesson"
  done
}
