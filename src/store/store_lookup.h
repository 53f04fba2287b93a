/* SPDX-License-Identifier: MIT */
/* Private to the store: the Redis server's name looked up off the loop. */
#ifndef XACCT_STORE_LOOKUP_H
#define XACCT_STORE_LOOKUP_H

#include <stdbool.h>
#include <uv.h>

typedef struct xacct__store_lookup xacct__store_lookup_t;

/* status 0 with the first address found as text ("10.0.0.5", "::1"), or
 * XACCT_EDISCONNECTED with a one-line reason. */
typedef void (*xacct__store_lookup_cb)(int status, const char *text, void *arg);

/* True for an IPv4 or IPv6 literal: nothing to look up. */
bool xacct__store_is_ip_literal(const char *host);

/* Starts the lookup of host; cb fires once, from the loop, unless the lookup
 * is abandoned first. Returns 0, or XACCT_EDISCONNECTED when it cannot start
 * (cb then never fires). */
int xacct__store_lookup(uv_loop_t *loop, const char *host, xacct__store_lookup_cb cb, void *arg,
                        xacct__store_lookup_t **out);

/* cb will not fire; the lookup frees itself when the thread pool is done. */
void xacct__store_lookup_abandon(xacct__store_lookup_t *l);

#endif
