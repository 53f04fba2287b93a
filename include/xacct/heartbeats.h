/* SPDX-License-Identifier: MIT */
/*
 * Worker heartbeats (SPEC §5): worker:<id> strings holding a msgpack
 * xacct_heartbeat_t, set with a TTL so a dead worker disappears on its own,
 * and the listing behind `xacct workers`.
 *
 * Strings passed in are copied; everything handed to callbacks is borrowed
 * for the duration of the callback.
 */
#ifndef XACCT_HEARTBEATS_H
#define XACCT_HEARTBEATS_H

#include <stddef.h>

#include "xacct/codec.h"
#include "xacct/common.h"
#include "xacct/store.h"

typedef void (*xacct_heartbeats_done_cb)(int status, const char *detail, void *arg);

/* SET worker:<id> <msgpack heartbeat> EX ttl_s (ttl_s > 0). */
int xacct_heartbeats_put(xacct_store_t *s, const char *worker_id, const xacct_heartbeat_t *hb,
                         long ttl_s, xacct_heartbeats_done_cb cb, void *arg) XACCT_MUSTCHECK;

typedef struct xacct_heartbeats_item {
    const char *id;       /* worker id (the key without prefix and "worker:") */
    int valid;            /* 1 if the payload decoded; hb is zeroed otherwise */
    xacct_heartbeat_t hb; /* decoded heartbeat */
    long long ttl_ms;     /* time left before it expires (-1: no TTL) */
    const void *raw;      /* the msgpack payload (for --json dumps) */
    size_t raw_len;
} xacct_heartbeats_item_t;

typedef void (*xacct_heartbeats_list_cb)(int status, const char *detail,
                                         const xacct_heartbeats_item_t *items, size_t n,
                                         void *arg);
/* Every live worker (SCAN worker:*, at most 10000), sorted by id. */
int xacct_heartbeats_list(xacct_store_t *s, xacct_heartbeats_list_cb cb,
                          void *arg) XACCT_MUSTCHECK;

#endif
