/* SPDX-License-Identifier: MIT */
/*
 * Finding the Redis master through Sentinel: asks the configured sentinels in
 * turn, each over its own short-lived fail-fast store connection (so TLS and
 * timeouts work the same as for Redis itself), with
 * SENTINEL get-master-addr-by-name, and reports the first answer. The store
 * uses it before every (re)connect when redis.sentinels is set, and then
 * checks with ROLE that the address it got really is a master.
 */
#ifndef XACCT_SENTINEL_H
#define XACCT_SENTINEL_H

#include <stddef.h>
#include <uv.h>

#include "xacct/common.h"

typedef struct xacct_sentinel_query xacct_sentinel_query_t;

typedef struct xacct_sentinel_options {
    const char *const *sentinels; /* "host:port" (IPv6 as "[addr]:port"), borrowed */
    size_t nsentinels;            /* at least 1 */
    size_t first;                 /* index to ask first (the last one that answered) */
    const char *master_name;      /* the monitored master's name, borrowed */
    int tls;                      /* speak TLS to the sentinels (rediss://) */
    const char *tls_ca_file;      /* as for the store; borrowed, may be NULL */
    const char *tls_cert_file;
    const char *tls_key_file;
    long timeout_ms;              /* per sentinel: to connect (lookup, TCP, TLS and
                                     handshake); 0 = 5000 */
    long command_timeout_ms;      /* per sentinel: its handshake (AUTH, PING), within
                                     timeout_ms, and its answer, each; 0 = timeout_ms */
    const char *password;         /* AUTH to the sentinels (their requirepass);
                                     NULL/"" = none; borrowed */
} xacct_sentinel_options_t;

/*
 * Completion: status 0 with the master's host (borrowed for the callback) and
 * port, and the index of the sentinel that answered; otherwise
 * XACCT_EDISCONNECTED with a detail naming what each sentinel said (down,
 * does not know the master name, a malformed answer).
 */
typedef void (*xacct_sentinel_cb)(int status, const char *detail, const char *host, int port,
                                  size_t sentinel, void *arg);

/*
 * Starts a query. The options are copied. Returns 0 (cb fires exactly once,
 * never from inside this call, unless the query is cancelled first) or
 * XACCT_EINVAL when no sentinel could even be asked.
 */
int xacct_sentinel_query_start(uv_loop_t *loop, const xacct_sentinel_options_t *opts,
                               xacct_sentinel_cb cb, void *arg,
                               xacct_sentinel_query_t **out) XACCT_MUSTCHECK;

/* Stops a running query; its callback does not fire. Memory is released as
 * the query's connection closes (run the loop afterwards). NULL does nothing.
 * Not to be called from inside the query's own callback (it is over by then). */
void xacct_sentinel_query_cancel(xacct_sentinel_query_t *q);

#endif
