/* SPDX-License-Identifier: MIT */
/*
 * The Redis server's name looked up on libuv's thread pool: hiredis's own
 * connect calls getaddrinfo on the loop, which a slow or absent DNS server
 * would stall for seconds at every reconnect (a managed Redis is always a
 * name). The store connects to the address found; a lookup it abandons
 * (connect timeout, teardown) finishes on its own and frees itself.
 */
#include "store_lookup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/common.h"

struct xacct__store_lookup {
    uv_getaddrinfo_t req;
    xacct__store_lookup_cb cb; /* NULL once abandoned */
    void *arg;
};

bool xacct__store_is_ip_literal(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return host != NULL &&
           (inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1);
}

/* Appends res's addresses of one family to out[0..*n), each once. */
static void add_family(const struct addrinfo *res, int family, xacct__store_addr_t *out, size_t *n,
                       size_t max)
{
    for (const struct addrinfo *a = res; a != NULL && *n < max; a = a->ai_next) {
        if (a->ai_family != family)
            continue;
        const void *bin = family == AF_INET6
                              ? (const void *)&((const struct sockaddr_in6 *)a->ai_addr)->sin6_addr
                              : (const void *)&((const struct sockaddr_in *)a->ai_addr)->sin_addr;
        if (inet_ntop(family, bin, out[*n], sizeof(out[*n])) == NULL)
            continue;
        bool seen = false;
        for (size_t i = 0; i < *n && !seen; i++)
            seen = strcmp(out[i], out[*n]) == 0;
        if (!seen)
            (*n)++;
    }
}

size_t xacct__store_addr_list(const struct addrinfo *res, xacct__store_addr_t *out, size_t max)
{
    size_t n = 0;
    /* IPv4 first, as hiredis's own connect prefers it; then IPv6. */
    add_family(res, AF_INET, out, &n, max);
    add_family(res, AF_INET6, out, &n, max);
    return n;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    xacct__store_lookup_t *l = xacct_container_of(req, xacct__store_lookup_t, req);
    xacct__store_addr_t addrs[XACCT__STORE_MAX_ADDRS];
    char detail[160] = "";
    /* Every address, not just the first: a name such as localhost has
     * ::1 and 127.0.0.1 and Redis may listen on one only, and a managed
     * endpoint may list a node that is gone. */
    size_t n = status == 0 ? xacct__store_addr_list(res, addrs, XACCT__STORE_MAX_ADDRS) : 0;
    if (n == 0)
        snprintf(detail, sizeof(detail), "cannot resolve the name: %s",
                 status != 0 ? uv_strerror(status) : "no address");
    uv_freeaddrinfo(res);
    if (l->cb != NULL)
        l->cb(n > 0 ? 0 : XACCT_EDISCONNECTED, n > 0 ? addrs : NULL, n, detail, l->arg);
    free(l);
}

int xacct__store_lookup(uv_loop_t *loop, const char *host, xacct__store_lookup_cb cb, void *arg,
                        xacct__store_lookup_t **out)
{
    *out = NULL;
    xacct__store_lookup_t *l = xacct_calloc(1, sizeof(*l));
    l->cb = cb;
    l->arg = arg;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int rc = uv_getaddrinfo(loop, &l->req, on_resolved, host, NULL, &hints);
    if (rc != 0) {
        free(l);
        return XACCT_EDISCONNECTED;
    }
    *out = l;
    return 0;
}

void xacct__store_lookup_abandon(xacct__store_lookup_t *l)
{
    if (l == NULL)
        return;
    l->cb = NULL;
    /* Not started yet: libuv calls on_resolved with UV_ECANCELED, which frees it. */
    uv_cancel((uv_req_t *)&l->req);
}
