/* SPDX-License-Identifier: MIT */
/*
 * The dead set (SPEC §5): a stream of the SQS messages the workers gave up
 * on, with the reason, capped at about XACCT_DEAD_MAXLEN entries, and the
 * listing behind `xacct dead`.
 *
 * Strings passed in are copied; everything handed to callbacks is borrowed
 * for the duration of the callback.
 */
#ifndef XACCT_DEAD_H
#define XACCT_DEAD_H

#include <stddef.h>
#include <stdint.h>

#include "xacct/common.h"
#include "xacct/store.h"

#define XACCT_DEAD_MAXLEN 10000 /* dead stream cap (approximate) */

/* A message given up on. */
typedef struct xacct_dead {
    const char *body;       /* the SQS message body */
    const char *reason;     /* why */
    long long receives;     /* ApproximateReceiveCount */
    const char *queue;      /* queue URL */
    const char *message_id; /* SQS MessageId */
    int64_t at_ms;          /* 0 = now */
} xacct_dead_t;

typedef void (*xacct_dead_added_cb)(int status, const char *detail, const char *id, void *arg);
/* XADD dead MAXLEN ~ 10000 with fields body, reason, receives, queue,
 * message_id, at (RFC 3339). The callback gets the new entry id. */
int xacct_dead_add(xacct_store_t *s, const xacct_dead_t *d, xacct_dead_added_cb cb,
                   void *arg) XACCT_MUSTCHECK;

typedef struct xacct_dead_item {
    const char *id; /* stream entry id */
    xacct_dead_t d; /* fields (at_ms from the entry id) */
} xacct_dead_item_t;
typedef void (*xacct_dead_list_cb)(int status, const char *detail,
                                   const xacct_dead_item_t *items, size_t n, void *arg);
/* Newest first, at most count (0 = 100). */
int xacct_dead_list(xacct_store_t *s, size_t count, xacct_dead_list_cb cb,
                    void *arg) XACCT_MUSTCHECK;

#endif
