# checkout.bash - for the tooling tests that prove a command leaves the
# lab's working tree as it found it (make demo, make live, make bench).
# Load after helpers.bash. They run in the checkout itself, as CI's clone
# does, and copy nothing.

# in_checkout_or_skip - skip the test unless $LAB is the top of a git
# working tree (a copy made by make grade or a tarball is not)
in_checkout_or_skip() {
  command -v git >/dev/null || skip "git is not installed: nothing to compare the tree with"
  [ "$(git -C "$LAB" rev-parse --show-toplevel 2>/dev/null)" = "$LAB" ] ||
    skip "$LAB is not a git checkout: nothing to compare the tree with"
}

# tree_state - what git sees in the checkout: `git status --porcelain` with
# every untracked file listed (git-ignored ones, such as binaries, reports
# and bench/out/, are not), and one digest of the content of every change,
# so that a file already changed before the test and written again counts
tree_state() {
  git -C "$LAB" status --porcelain --untracked-files=all
  {
    git -C "$LAB" diff HEAD --binary
    git -C "$LAB" ls-files -z --others --exclude-standard | (cd "$LAB" && xargs -0r sha1sum)
  } | sha1sum
}

# assert_tree_unchanged BEFORE WHAT - the tree_state now is BEFORE; if not,
# fail saying after WHAT, with what changed
assert_tree_unchanged() {
  local now
  now=$(tree_state)
  [ "$now" = "$1" ] && return 0
  echo "# the working tree changed after $2 (git status --porcelain, then a digest of the changes):" >&2
  diff <(echo "$1") <(echo "$now") | sed 's/^/#   /' >&2
  return 1
}
