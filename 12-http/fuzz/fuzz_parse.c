/* fuzz_parse.c - libFuzzer harness for the request parser (http_parse.h)
 *
 * libFuzzer calls LLVMFuzzerTestOneInput() millions of times with inputs
 * it mutates, keeping the ones that reach new code. Under AddressSanitizer
 * and UndefinedBehaviorSanitizer any read past the buffer, overflow or
 * undefined shift stops the run with a report and the input that caused
 * it. The input is copied into a buffer of exactly its size, so a read of
 * even one byte too far is caught.
 *
 * Build and run (from the top folder):
 *   make fuzz-http
 *   12-http/fuzz/fuzz_parse -max_total_time=60 12-http/fuzz/corpus
 * (new interesting inputs are added to the corpus folder; keep it small:
 *  -merge=1 into a fresh folder picks a minimal set)
 *
 * See also: tests/tools/12-parse.c, which replays the corpus in the tests.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* LLVMFuzzerTestOneInput - parse the input as a request head, then its
 * target as a path; check what the parser promises */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http_request req;
    char *buf = malloc(size ? size : 1), path[4096];
    int rc, dir_slash = 0;

    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    rc = http_parse_request(buf, size, &req);
    if (rc == HTTP_COMPLETE) {
        /* promises: the head lies inside the input, the target inside the head */
        if (req.header_bytes == 0 || req.header_bytes > size
            || req.target < buf || req.target + req.target_len > buf + req.header_bytes)
            abort();
        if (http_target_to_path(req.target, req.target_len, path, sizeof path,
                                &dir_slash) == 0) {
            /* the path never climbs: no ".." segment, no leading '/' */
            if (path[0] == '/' || strcmp(path, "..") == 0 || strncmp(path, "../", 3) == 0
                || strstr(path, "/../") != NULL
                || (strlen(path) >= 3 && strcmp(path + strlen(path) - 3, "/..") == 0))
                abort();
        }
    } else if (rc == HTTP_BAD) {
        if (req.status < 400 || req.status > 599 || req.reason == NULL)
            abort();
    }
    /* the path function also gets the raw input, to reach its corners */
    (void)http_target_to_path(buf, size, path, sizeof path, &dir_slash);
    free(buf);
    return 0;
}
