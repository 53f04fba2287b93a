/* SPDX-License-Identifier: MIT */
/*
 * A URL split into its parts by uriparser (RFC 3986), for every place xacct
 * reads one: the HTTP client (what it connects to), the allow-list checks on
 * URLs that arrive in messages (the same parser, so what is checked is what
 * is reached), AWS endpoints, the Redis URL, webhook URLs and log redaction.
 *
 * Stricter than RFC 3986 where a URL names something to connect to: an
 * absolute URL with a scheme and an authority; a host that is a DNS name
 * (letters, digits, '-', '_' and '.'), an IPv4 address in dotted decimal or
 * an IPv6 literal in brackets (no percent-encoding, no IPvFuture, no zone);
 * a port of at most 65535. Nothing is decoded or normalised: path, query and
 * user information are kept as written.
 */
#ifndef XACCT_URL_PARTS_H
#define XACCT_URL_PARTS_H

#include <stdbool.h>
#include <stddef.h>

#include "xacct/common.h"

typedef struct xacct_url_parts {
    char *scheme;      /* lower-cased ("https") */
    char *user;        /* user information before the first ':', as written; NULL if
                          the URL has no '@' */
    char *password;    /* after that ':', as written; NULL if there is none */
    char *host;        /* DNS name as written, dotted IPv4, or IPv6 without brackets;
                          never empty */
    bool host_ipv6;    /* host was a bracketed IPv6 literal */
    int port;          /* the port given, else the scheme's default (http 80, https 443,
                          redis and rediss 6379), else -1 */
    bool port_given;   /* the URL names a port */
    char *path;        /* as written, from the first '/' after the authority; "" when
                          the URL has none */
    char *query;       /* after '?', as written; NULL when there is no '?' */
    char *fragment;    /* after '#', as written; NULL when there is no '#' */
    size_t password_off, password_len; /* where the password lies in the URL given
                                          (both 0 when there is none), for redaction */
    char *_mem;        /* the one block every string above lives in */
} xacct_url_parts_t;

/*
 * Parses url into *out (every string a heap copy; free with
 * xacct_url_parts_free). Returns 0, XACCT_EPARSE for anything that is not an
 * absolute URL with an authority and a host as described above (or longer
 * than 8 KB), XACCT_ENOMEM. On error *out is zeroed and owns nothing.
 */
int xacct_url_parse(const char *url, xacct_url_parts_t *out) XACCT_MUSTCHECK;

/* Frees what *u owns and zeroes it. NULL is a no-op. */
void xacct_url_parts_free(xacct_url_parts_t *u);

/*
 * Writes what a Host header carries for u into buf: the host ("[v6]" for an
 * IPv6 literal) followed by ":port" when a port was given and is not the
 * scheme's default. Returns the length, or 0 if it does not fit in len.
 */
size_t xacct_url_host_header(const xacct_url_parts_t *u, char *buf, size_t len);

/*
 * Percent-encodes s (len bytes) into a new string: every byte outside RFC
 * 3986's unreserved set (ALPHA DIGIT - . _ ~) becomes %XX (upper-case hex).
 * NULL when out of memory. The caller frees.
 */
char *xacct_url_escape(const char *s, size_t len);

#endif
