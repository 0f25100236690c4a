# The lab's one build.
#
#   make                 build every lesson (binaries land beside their sources)
#   make 01-blocking     build one lesson
#   make test [L=NN-x]   run the end-to-end tests and print the scoreboard
#   make demo [L=NN-x]   run a lesson's scripted demonstration (default 01)
#   make clean           remove every binary and test report
#
# Every NN-name/*.c is one program; a lesson's *.h files are shared by the
# programs of that lesson only. tests/tools/*.c are the test suite's helpers.
# Honours CC, CFLAGS, CPPFLAGS, LDFLAGS, LDLIBS. SANITIZE=address,undefined
# (or thread) builds everything with those sanitizers.

LESSONS  := $(sort $(patsubst %/,%,$(dir $(wildcard [0-9][0-9]-*/*.c))))
PROGRAMS := $(patsubst %.c,%,$(wildcard [0-9][0-9]-*/*.c))
TOOLS    := $(patsubst %.c,%,$(wildcard tests/tools/*.c))

CFLAGS   ?= -std=c11 -O2 -g -Wall -Wextra -Wpedantic
LDLIBS   ?=
LAB_LIBS := -pthread

ifneq ($(SANITIZE),)
  CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
  LDFLAGS += -fsanitize=$(SANITIZE)
endif

L    ?=
DEMO ?= $(if $(L),$(L),01-blocking)

.PHONY: all test demo clean $(LESSONS) FORCE
all: $(PROGRAMS) $(TOOLS)

# Rebuild everything when the compiler or the flags change (for example
# between a plain and a sanitizer build), not only when a source changes.
BUILD_ID := $(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) $(LDLIBS) $(LAB_LIBS)
.build-flags: FORCE
	@echo '$(BUILD_ID)' | cmp -s - $@ || echo '$(BUILD_ID)' > $@

.SECONDEXPANSION:
# Link to a temporary name and rename: a program that is running, or being
# run by a test, is never seen half-written.
$(PROGRAMS) $(TOOLS): %: %.c $$(wildcard $$(dir $$@)*.h) .build-flags
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@.$$$$.tmp $< $(LDLIBS) $(LAB_LIBS) && mv -f $@.$$$$.tmp $@

$(LESSONS): $$(filter $$@/%,$$(PROGRAMS)) $(TOOLS)

# A lesson may add rules of its own (extra flags for one program, data).
-include $(wildcard [0-9][0-9]-*/lesson.mk)

test: $(if $(L),$(L) $(TOOLS),all)
	@tests/run $(L)

demo: $(DEMO)
	@$(DEMO)/demo.sh

clean:
	rm -f $(PROGRAMS) $(TOOLS) .build-flags
	rm -rf tests/reports
