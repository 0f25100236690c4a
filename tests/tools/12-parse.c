/* 12-parse.c - feed files to lesson 12's request parser, as the fuzzer does
 *
 * The fuzz harness (12-http/fuzz/fuzz_parse.c) needs clang's libFuzzer;
 * this plain driver needs nothing, so the tests can replay the fuzz
 * corpus under any compiler and sanitizer and prove that no input there
 * crashes the parser. For each file it prints one line:
 *   FILE: complete <header_bytes> <METHOD> <path or status>
 *   FILE: incomplete
 *   FILE: bad <status> <reason>
 *
 * Usage: 12-parse FILE...      Exit status: 0, or 1 if a file can't be read.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../12-http/http_parse.h"

/* read_file - the whole file in a buffer of exactly its size; NULL on error */
static char *read_file(const char *name, size_t *len)
{
    FILE *f = fopen(name, "rb");
    char *buf = NULL;
    size_t cap = 0, used = 0, n;

    if (f == NULL)
        return NULL;
    do {
        if (used == cap) {
            char *bigger = realloc(buf, cap = cap ? cap * 2 : 4096);
            if (bigger == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = bigger;
        }
        n = fread(buf + used, 1, cap - used, f);
        used += n;
    } while (n > 0);
    fclose(f);
    /* shrink to the exact size so that ASan sees a read one byte too far */
    char *exact = malloc(used ? used : 1);
    if (exact != NULL)
        memcpy(exact, buf, used);
    free(buf);
    *len = used;
    return exact;
}

int main(int argc, char *argv[])
{
    int status = 0;

    for (int i = 1; i < argc; i++) {
        struct http_request req;
        size_t len = 0;
        char *buf = read_file(argv[i], &len), path[4096];
        int rc, dir_slash = 0, path_status;

        if (buf == NULL) {
            fprintf(stderr, "12-parse: %s: %s\n", argv[i], strerror(errno));
            status = 1;
            continue;
        }
        rc = http_parse_request(buf, len, &req);
        if (rc == HTTP_COMPLETE) {
            path_status = http_target_to_path(req.target, req.target_len, path,
                                              sizeof path, &dir_slash);
            if (path_status == 0)
                printf("%s: complete %zu %s /%s\n", argv[i], req.header_bytes, req.method, path);
            else
                printf("%s: complete %zu %s %d\n", argv[i], req.header_bytes, req.method,
                       path_status);
        } else if (rc == HTTP_INCOMPLETE) {
            printf("%s: incomplete\n", argv[i]);
        } else {
            printf("%s: bad %d %s\n", argv[i], req.status, req.reason);
        }
        free(buf);
    }
    return status;
}
