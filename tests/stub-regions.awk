# stub-regions.awk - replace the marked regions of a C source by their stubs
#
#   awk -f tests/stub-regions.awk [-v only=NAME] [-v list=1] FILE
#
# A region is what a student writes (LAB-SPEC: the handout):
#
#     /* LAB-BEGIN name: what to write, in a paragraph
#      * ... (the task statement goes on)
#      * See NOTES.md section N.
#      * Stub: the statement(s) that stand in for it
#      * Tests: a regex naming the tests that must catch a missing region
#      */
#     ... the solution ...
#     /* LAB-END name */
#
# In the output the solution is gone and the comment becomes a TODO with
# the task statement (without the Stub: and Tests: lines), followed by the
# stub. With only=NAME just that region is stubbed and the other markers
# are left as they are. With list=1 nothing is written but one line per
# region: "name<TAB>tests regex" (empty when the marker names none).
function flush_region(   i) {
    if (list) { print name "\t" tests; return }
    print indent "/* TODO " substr(head[1], index(head[1], "LAB-BEGIN ") + 10)
    for (i = 2; i <= nhead; i++) print head[i]
    for (i = 1; i <= nstub; i++) print indent stub[i]
}
BEGIN { state = 0 }
state == 0 && /^[ \t]*\/\* LAB-BEGIN [a-z0-9-]+/ {
    line = $0
    match(line, /LAB-BEGIN [a-z0-9-]+/)
    name = substr(line, RSTART + 10, RLENGTH - 10)
    if (only != "" && name != only) { if (!list) print; next }
    indent = line; sub(/[^ \t].*$/, "", indent)
    nhead = 0; nstub = 0; tests = ""
    state = 1
}
state == 1 {
    text = $0
    if (text ~ /^[ \t]*\* Stub: /) { sub(/^[ \t]*\* Stub: /, "", text); stub[++nstub] = text }
    else if (text ~ /^[ \t]*\* Tests: /) { sub(/^[ \t]*\* Tests: /, "", text); tests = text }
    else head[++nhead] = text
    if ($0 ~ /\*\//) {
        if (head[nhead] !~ /\*\//) head[++nhead] = indent " */"
        state = 2
    }
    next
}
state == 2 {
    if ($0 ~ "^[ \t]*/\\* LAB-END " name " \\*/[ \t]*$") { flush_region(); state = 0 }
    next
}
{ if (!list) print }
END {
    if (state != 0) { print "stub-regions: region '" name "' in " FILENAME " has no LAB-END" > "/dev/stderr"; exit 1 }
}
