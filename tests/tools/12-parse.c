/* 12-parse.c - feed files to lesson 12's request parser, as the fuzzer does
 *
 * The fuzz harness (12-http/fuzz/fuzz_parse.c) needs clang's libFuzzer;
 * this plain driver needs nothing, so the tests can replay the fuzz
 * corpus under any compiler and sanitizer and prove that no input there
 * crashes the parser, and check the verdict on each named case. For each
 * file it prints one line:
 *   FILE: complete <header_bytes> <METHOD> <path or status> <body>[ <choice>]
 *   FILE: incomplete
 *   FILE: bad <status> <reason>
 * where <body> is what http_body_skip() made of the bytes after the head:
 * "body done N" (N bytes were the body), "body incomplete N" or "body bad
 * <status> <reason>". The body is walked twice, all at once and a byte at
 * a time; should the two disagree, the line ends in "SPLIT MISMATCH".
 * With -c, <choice> is what http_choose() answers for GET of a file of
 * SIZE bytes modified at MTIME (seconds since 1970), at time NOW, whose
 * ETag is http_make_etag() of inode 1: "choose 200", "choose 206 bytes
 * FIRST-LAST/SIZE", "choose 304", "choose 416 bytes * /SIZE"...
 *
 * Usage: 12-parse [-c SIZE MTIME NOW] FILE...
 * Exit status: 0, or 1 if a file can't be read.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../12-http/http_cond.h"

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

/* print_body - walk the body after the head, whole and byte by byte */
static void print_body(const struct http_request *req, const char *body, size_t len)
{
    struct http_body whole, split;
    size_t used = 0, taken = 0, n;
    int rc, rc_split = HTTP_INCOMPLETE;

    http_body_begin(&whole, req);
    http_body_begin(&split, req);
    rc = whole.phase == BODY_DONE ? HTTP_COMPLETE : http_body_skip(&whole, body, len, &used);
    /* one byte more each time, as a slow client sends: the skipper keeps
     * no pointer into earlier calls, only what split remembers */
    if (split.phase == BODY_DONE)
        rc_split = HTTP_COMPLETE;
    for (size_t have = 1; rc_split == HTTP_INCOMPLETE && taken + have <= len; have++) {
        rc_split = http_body_skip(&split, body + taken, have, &n);
        taken += n;
        have -= n;
    }
    if (rc == HTTP_BAD)
        printf(" body bad %d %s", whole.status, whole.reason);
    else
        printf(" body %s %zu", rc == HTTP_COMPLETE ? "done" : "incomplete", used);
    if (rc != rc_split || (rc == HTTP_COMPLETE && used != taken)
        || (rc == HTTP_BAD && split.status != whole.status))
        printf(" SPLIT MISMATCH");
}

int main(int argc, char *argv[])
{
    struct http_file file = {0};
    time_t now = 0;
    int status = 0, first_file = 1, with_choice = argc > 4 && strcmp(argv[1], "-c") == 0;

    if (with_choice) {
        struct stat st = {.st_ino = 1, .st_size = (off_t)atoll(argv[2])};
        st.st_mtim.tv_sec = (time_t)atoll(argv[3]);
        now = (time_t)atoll(argv[4]);
        http_describe_file(&file, &st, now);
        first_file = 5;
    }
    for (int i = first_file; i < argc; i++) {
        struct http_request req;
        size_t len = 0;
        char *buf = read_file(argv[i], &len), path[4096];
        int rc, dir_slash = 0, path_status;
        long long first = 0, last = 0;

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
                printf("%s: complete %zu %s /%s", argv[i], req.header_bytes, req.method, path);
            else
                printf("%s: complete %zu %s %d", argv[i], req.header_bytes, req.method,
                       path_status);
            print_body(&req, buf + req.header_bytes, len - req.header_bytes);
            if (with_choice) {
                int choice = http_choose(&req, 1, &file, now, &first, &last);
                char lines[320], *range;
                http_file_lines(lines, sizeof lines, choice, &file, first, last);
                range = strstr(lines, "Content-Range: ");
                printf(" choose %d", choice);
                if (range != NULL)
                    printf(" %.*s", (int)strcspn(range + 15, "\r"), range + 15);
            }
            printf("\n");
        } else if (rc == HTTP_INCOMPLETE) {
            printf("%s: incomplete\n", argv[i]);
        } else {
            printf("%s: bad %d %s\n", argv[i], req.status, req.reason);
        }
        free(buf);
    }
    return status;
}
