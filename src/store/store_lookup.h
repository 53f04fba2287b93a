/* SPDX-License-Identifier: MIT */
/* Private to the store: the Redis server's name looked up off the loop. */
#ifndef XACCT_STORE_LOOKUP_H
#define XACCT_STORE_LOOKUP_H

#include <arpa/inet.h>
#include <netdb.h>
#include <stdbool.h>
#include <uv.h>

typedef struct xacct__store_lookup xacct__store_lookup_t;

/* A name with more addresses than this is dialled at its first ones only. */
#define XACCT__STORE_MAX_ADDRS 16

/* An address as text ("10.0.0.5", "::1"). */
typedef char xacct__store_addr_t[INET6_ADDRSTRLEN];

/* status 0 with the n (>= 1) addresses found, in the order to try them,
 * borrowed for the call; or XACCT_EDISCONNECTED with a one-line reason in
 * detail (addrs NULL, n 0). */
typedef void (*xacct__store_lookup_cb)(int status, const xacct__store_addr_t *addrs, size_t n,
                                       const char *detail, void *arg);

/* The addresses of res as text, each once, at most max: the IPv4 ones
 * first, then the IPv6 ones, each family in res's order. Returns how many
 * were written to out. */
size_t xacct__store_addr_list(const struct addrinfo *res, xacct__store_addr_t *out, size_t max);

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
