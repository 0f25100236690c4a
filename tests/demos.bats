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

@test "make demo for every lesson: exit 0, and git status shows nothing new or changed" {
  in_checkout_or_skip
  local before d lesson out
  before=$(tree_state)
  for d in "$LAB"/[0-9][0-9]-*/demo.sh; do
    lesson=$(basename "$(dirname "$d")")
    out="$BATS_TEST_TMPDIR/$lesson.out"
    run_demo "${lesson%%-*}" "$out"
    [ "$DEMO_STATUS" -eq 0 ] || show_demo "$out" "make demo L=$lesson exited with status $DEMO_STATUS"
    assert_tree_unchanged "$before" "make demo L=$lesson"
  done
}
