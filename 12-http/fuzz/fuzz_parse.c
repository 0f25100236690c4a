/* fuzz_parse.c - libFuzzer harness for the request parser (http_parse.h)
 * and what decides on a request's conditions and range (http_cond.h)
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
 *   mkdir -p /tmp/found
 *   12-http/fuzz/fuzz_parse -max_total_time=60 /tmp/found 12-http/fuzz/corpus
 * (new interesting inputs go to the first folder, so the tracked corpus
 *  stays as it is; to keep one, give it a name that says what it tests
 *  and add its verdict to fuzz/expected)
 *
 * See also: tests/tools/12-parse.c, which replays the corpus in the tests.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../http_cond.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* LLVMFuzzerTestOneInput - parse the input as a request head, then its
 * target as a path, its body and its conditions; check what each promises */
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
        /* the body: never more than there is, a status with every error */
        struct http_body body;
        size_t used = 0;
        http_body_begin(&body, &req);
        if (body.phase != BODY_DONE) {
            int body_rc = http_body_skip(&body, buf + req.header_bytes,
                                         size - req.header_bytes, &used);
            if (used > size - req.header_bytes
                || (body_rc == HTTP_BAD && (body.status < 400 || body.reason == NULL)))
                abort();
        }
        /* the conditions: a 206 range lies inside the file */
        struct stat st = {.st_ino = 7, .st_size = 1000};
        struct http_file file;
        long long first = 0, last = 999;
        st.st_mtim.tv_sec = 784111777;
        http_describe_file(&file, &st, 1700000000);
        int choice = http_choose(&req, 1, &file, 1700000000, &first, &last);
        char lines[320];
        if (choice == 206 && (first < 0 || last < first || last >= 1000))
            abort();
        http_file_lines(lines, sizeof lines, choice, &file, first, last);
    } else if (rc == HTTP_BAD) {
        if (req.status < 400 || req.status > 599 || req.reason == NULL)
            abort();
    }
    /* the path function also gets the raw input, to reach its corners */
    (void)http_target_to_path(buf, size, path, sizeof path, &dir_slash);
    free(buf);
    return 0;
}
