/* http_reply.h - the words of lesson 12's responses, on their own
 *
 * Pure functions that turn facts into the text of a response: the reason
 * phrase of a status code, 405 or 501 for a method, the media type of a
 * file name, a Location header that no decoded byte can
 * break, and the small HTML page of an error. No sockets, no
 * state, no allocation: server.c decides what to answer, this header
 * only spells it. Each function is small enough to check by eye, and the
 * one that handles a stranger's bytes (put_location) re-encodes every
 * byte that is not plainly safe.
 *
 * Written from RFC 9110 (status codes sec. 15, Location sec. 10.2.2).
 */
#ifndef HTTP_REPLY_H
#define HTTP_REPLY_H

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* status_reason - the reason phrase of a status code */
static const char *status_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 412: return "Precondition Failed";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

/* method_status - the answer to a method other than GET and HEAD: 405
 * for a real method that a static server does not do, 501 for one this
 * server never heard of (RFC 9110 sec. 9.1, 15.5.6, 15.6.2) */
static int method_status(const char *method)
{
    static const char *const known[] = {"POST", "PUT", "DELETE", "OPTIONS", "PATCH",
                                        "TRACE", "CONNECT"};

    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(method, known[i]) == 0)
            return 405;
    return 501;
}

/* content_type - the media type for a file name, from its extension */
static const char *content_type(const char *path)
{
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"}, {".htm", "text/html; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},   {".js", "text/javascript; charset=utf-8"},
        {".txt", "text/plain; charset=utf-8"}, {".md", "text/plain; charset=utf-8"},
        {".json", "application/json"},         {".png", "image/png"},
        {".svg", "image/svg+xml"},             {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},               {".gif", "image/gif"},
        {".ico", "image/x-icon"},              {".webp", "image/webp"},
        {".pdf", "application/pdf"},           {".wasm", "application/wasm"},
    };
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');

    if (dot != NULL && (slash == NULL || dot > slash))
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcasecmp(dot, types[i][0]) == 0)
                return types[i][1];
    return "application/octet-stream";      /* "just bytes": the browser saves it */
}

/* put_location - "Location: /rel/\r\n" into buf, every byte of rel that
 * is not plainly safe in a URL percent-encoded: rel is decoded, and a
 * decoded "%0D%0A" must not end our header line and start a forged one
 * (response splitting). An empty rel (the root, reached as "/." or
 * "/sub/..") gives "Location: /": "//" would be a network-path reference,
 * which a browser reads as "another host". Returns 0, or -1 if it does
 * not fit. */
static int put_location(char *buf, size_t size, const char *rel)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t used = (size_t)snprintf(buf, size, "Location: /");

    for (const unsigned char *p = (const unsigned char *)rel; *p; p++) {
        if (used + 4 > size)
            return -1;
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')
            || strchr("-._~/", *p) != NULL) {
            buf[used++] = (char)*p;
        } else {
            buf[used++] = '%';
            buf[used++] = hex[*p >> 4];
            buf[used++] = hex[*p & 15];
        }
    }
    if (used + 4 > size || used > 1024)     /* and it must fit c->out */
        return -1;
    memcpy(buf + used, rel[0] ? "/\r\n" : "\r\n", rel[0] ? 4 : 3);
    return 0;
}

/* error_page - a small HTML page for an error status into buf; detail
 * is a sentence for the reader (NULL: one chosen by the status); returns
 * its length (0 if it does not fit) */
static size_t error_page(int status, const char *detail, char *buf, size_t size)
{
    int n;

    if (detail == NULL)
        detail = status == 301 ? "This folder lives at the address ending in /."
                 : status == 403 ? "That path is not yours to see."
                 : status == 404 ? "No such file here."
                 : status == 405 || status == 501 ? "This server only reads files: GET and HEAD."
                 : status == 503 ? "The server cannot open files right now; try again."
                 : status == 412 ? "The file is not the version the request names."
                 : status == 416 ? "The range starts past the end of the file."
                 : "The request target could not be understood.";
    n = snprintf(buf, size,
                 "<!DOCTYPE html>\n<html><head><title>%d %s</title></head>\n"
                 "<body><h1>%d %s</h1><p>%s</p></body></html>\n",
                 status, status_reason(status), status, status_reason(status), detail);
    return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

#endif
