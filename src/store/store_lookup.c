/* SPDX-License-Identifier: MIT */
/*
 * The Redis server's name looked up on libuv's thread pool: hiredis's own
 * connect calls getaddrinfo on the loop, which a slow or absent DNS server
 * would stall for seconds at every reconnect (a managed Redis is always a
 * name). The store connects to the address found; a lookup it abandons
 * (connect timeout, teardown) finishes on its own and frees itself.
 */
#include "store_lookup.h"

#include <arpa/inet.h>
#include <netdb.h>
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

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    xacct__store_lookup_t *l = xacct_container_of(req, xacct__store_lookup_t, req);
    char ip[INET6_ADDRSTRLEN] = "";
    char detail[160] = "";
    int rc = 0;
    if (status != 0 || res == NULL) {
        rc = XACCT_EDISCONNECTED;
        snprintf(detail, sizeof(detail), "cannot resolve the name: %s",
                 status != 0 ? uv_strerror(status) : "no address");
    } else {
        /* IPv4 first, as hiredis's own connect prefers it. */
        const struct addrinfo *pick = res;
        for (const struct addrinfo *a = res; a != NULL; a = a->ai_next)
            if (a->ai_family == AF_INET) {
                pick = a;
                break;
            }
        if (pick->ai_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)pick->ai_addr)->sin6_addr, ip,
                      sizeof(ip));
        else
            inet_ntop(AF_INET, &((struct sockaddr_in *)pick->ai_addr)->sin_addr, ip, sizeof(ip));
    }
    uv_freeaddrinfo(res);
    if (l->cb != NULL)
        l->cb(rc, rc == 0 ? ip : detail, l->arg);
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
