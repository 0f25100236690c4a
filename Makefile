# The lab's one build.
#
#   make                 build every lesson (binaries land beside their sources)
#   make 01-blocking     build one lesson
#   make test [L=NN-x]   run the end-to-end tests and print the scoreboard
#   make demo [L=NN-x]   run a lesson's scripted demonstration (default 01)
#   make clean           remove every binary and test report
#   make trace [L=NN-x]  run a lesson's demo under strace and summarise it
#   make live [L=NN-x]   the lesson in tmux panes (server + two clients)
#   make check           the suite under ASan+UBSan, threaded lessons under
#                        TSan, every server under valgrind memcheck
#   make grade DIR=path  build a student's checkout lesson by lesson, run these
#                        tests on it; DIR="a b c" or CLASS=list grades a class
#                        into one table (POINTS=tests/points.example: weigh)
#   make handout OUT=DIR the student tree: the marked regions (LAB-BEGIN) become
#                        TODOs with stubs; a fresh git repository [L=lessons]
#   make handout-check   each region stubbed alone must fail its lesson's tests
#   make exercise L=NN [N=K]  a lesson's graded exercises (tests/exercises/)
#   make exercise-check  each exercise's tests fail without its reference
#                        patch and pass with it
#   make bench           every server design measured side by side, into
#                        bench/out/ (BENCH_QUICK=1: about a minute; SAVE=1:
#                        the committed bench/results.*); make plot: charts
#
# Every NN-name/*.c is one program; a lesson's *.h files are shared by the
# programs of that lesson only. lib/*.c (lab.h: logging, the command line,
# the ready line) is built once into lib/liblab.a and linked into every
# program. tests/tools/*.c are the test suite's helpers.
# Honours CC, CFLAGS, CPPFLAGS, LDFLAGS, LDLIBS. SANITIZE=address,undefined
# (or thread) builds everything with those sanitizers.

LESSONS  := $(sort $(patsubst %/,%,$(dir $(wildcard [0-9][0-9]-*/*.c))))
PROGRAMS := $(patsubst %.c,%,$(wildcard [0-9][0-9]-*/*.c))
TOOLS    := $(patsubst %.c,%,$(wildcard tests/tools/*.c))
LIB_OBJS := $(patsubst %.c,%.o,$(wildcard lib/*.c))
LIB      := lib/liblab.a

CFLAGS   ?= -std=c11 -O2 -g -Wall -Wextra -Wpedantic
LDLIBS   ?=
LAB_LIBS := -pthread

ifneq ($(SANITIZE),)
  CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
  LDFLAGS += -fsanitize=$(SANITIZE)
endif

# L names lessons, whole (03-select) or by number (03, or 3 for 03-select);
# "interop" is the checks across lessons.
L    ?=
pick  = $(or $(filter $(1),$(LESSONS) interop),$(filter $(1)-%,$(LESSONS)),$(filter 0$(1)-%,$(LESSONS)),$(error no lesson '$(1)'; the lessons are: $(LESSONS)))
override L := $(foreach w,$(L),$(call pick,$(w)))
DEMO ?= $(if $(L),$(firstword $(L)),01-blocking)

.PHONY: all test test-tools demo trace live check grade handout handout-check exercise exercise-check bench plot clean $(LESSONS) FORCE
all: $(PROGRAMS) $(TOOLS)

# Rebuild everything when the compiler or the flags change (for example
# between a plain and a sanitizer build), not only when a source changes.
BUILD_ID := $(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) $(LDLIBS) $(LAB_LIBS)
.build-flags: FORCE
	@echo '$(BUILD_ID)' | cmp -s - $@ || echo '$(BUILD_ID)' > $@

.SECONDEXPANSION:
# Shows the plain command, then links to a temporary name and renames: a
# program that is running, or being run by a test, is never seen half-written.
$(PROGRAMS) $(TOOLS): %: %.c $$(wildcard $$(dir $$@)*.h) $(wildcard lib/*.h) $(LIB) .build-flags
	@echo "$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) $(LAB_LIBS)"
	@$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@.$$$$.tmp $< $(LIB) $(LDLIBS) $(LAB_LIBS) && mv -f $@.$$$$.tmp $@

lib/%.o: lib/%.c $(wildcard lib/*.h) .build-flags
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

# A test tool may drive a lesson's header directly (09-poolbreak: pool.h).
$(TOOLS): $(wildcard [0-9][0-9]-*/*.h)

$(LESSONS): $$(filter $$@/%,$$(PROGRAMS)) $(TOOLS)

# A lesson may add rules of its own (extra flags for one program, data).
-include $(wildcard [0-9][0-9]-*/lesson.mk)

# L names lessons (or "interop", which needs every lesson built).
test: $(if $(L),$(if $(filter-out $(LESSONS),$(L)),all,$(L) $(TOOLS)),all)
	@tests/run $(L)

demo: $(DEMO)
	@$(DEMO)/demo.sh

trace: $(DEMO)
	@tests/trace $(DEMO)

live: $(DEMO)
	@tests/live $(DEMO)

# Lessons whose programs use threads get a ThreadSanitizer run as well.
THREADED := $(filter 07-% 08-% 09-%,$(LESSONS))
VALGRIND := valgrind -q --error-exitcode=99 --leak-check=full \
            --errors-for-leak-kinds=definite --trace-children=yes

check:
	$(MAKE) --no-print-directory CC=clang SANITIZE=address,undefined test
	$(MAKE) --no-print-directory CC=clang SANITIZE=thread test L="$(THREADED)"
	command -v valgrind >/dev/null || { echo "check: valgrind is not installed (sudo apt-get install valgrind)"; exit 1; }
	$(MAKE) --no-print-directory all
	LAB_WAIT=60 LAB_WRAP="$(VALGRIND)" BATS_FILTER='$(VALGRIND_TESTS)' \
	  tests/run $(filter-out $(VALGRIND_SKIP),$(LESSONS))

# Lessons that switch stacks by hand confuse valgrind's memcheck; they are
# checked by ASan (with its fiber annotations) instead. Under valgrind each
# server runs the tests of its traffic (echo, binary, resets, garbage,
# clients that never read); tests of descriptor limits and thousands of
# connections measure valgrind's own descriptors, so they are left to the
# other runs.
VALGRIND_SKIP ?= 10-coroutines
VALGRIND_TESTS ?= [Ee]cho|[Bb]inary|[Cc]hinese|[Rr]eset|[Gg]arbage|socat|half|never reads|flood|chunked|smuggling|Range

bench: all
	@bench/run

plot:
	@bench/plot

handout:
	@test -n "$(OUT)" || { echo "usage: make handout OUT=DIR [L=lessons]"; exit 2; }
	@tests/handout $(OUT) $(L)

handout-check: all
	@tests/handout --check $(L)

# The lab's own tooling (grade, handout, live, L=, bench) and the demos
# (tests/demos.bats: 05 ten times, a clean tree after each): not part of a score.
test-tools: all
	@tests/run tooling demos

exercise: $(if $(L),$(L),all) $(TOOLS)
	@test -n "$(L)" || { echo "usage: make exercise L=NN-name [N=K]"; exit 2; }
	@tests/exercise $(L) $(N)

exercise-check: all
	@tests/exercise --check

grade:
	@test -n "$(DIR)$(CLASS)" || { echo "usage: make grade DIR=path/to/a/checkout (or DIR=\"a b c\", or CLASS=list-file)"; exit 2; }
	@L="$(L)" tests/grade $(if $(CLASS),--class $(CLASS),$(DIR))

clean:
	rm -f $(PROGRAMS) $(TOOLS) $(LIB_OBJS) $(LIB) .build-flags
	rm -rf tests/reports
