# lesson.mk - extra rules for 12-http (included by the top Makefile)
#
#   make fuzz-http    build the libFuzzer harness 12-http/fuzz/fuzz_parse
#                     (needs clang; not part of `make`: fuzz/ is a subfolder)
#
# tests/tools/12-parse.c includes 12-http/http_parse.h: rebuild it when
# the parser changes.

FUZZ_CC ?= clang

tests/tools/12-parse: 12-http/http_parse.h

.PHONY: fuzz-http
fuzz-http: 12-http/fuzz/fuzz_parse

12-http/fuzz/fuzz_parse: 12-http/fuzz/fuzz_parse.c 12-http/http_parse.h
	$(FUZZ_CC) -std=c11 -g -O1 -Wall -Wextra -Wpedantic \
	  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	  -o $@ $<
