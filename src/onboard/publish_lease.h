/* SPDX-License-Identifier: MIT */
/*
 * The topic-policy lock's lease, kept alive while its holder works
 * (publish.c). The lock is taken with a short lease so that a writer that
 * dies holding it (killed, crashed) stops every other writer of its region
 * for seconds rather than a minute; while the holder lives, a timer on the
 * loop extends the lease before it runs out. A renewal that finds the lock
 * no longer the holder's (Redis unreachable for longer than the lease, and
 * another writer took it) marks the lease lost: the holder must not write.
 */
#ifndef XACCT_PUBLISH_LEASE_H
#define XACCT_PUBLISH_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#include "xacct/ctx.h"

typedef struct xacct__publish_lease xacct__publish_lease_t;

/* Extends the lock name held with token to ttl_ms every every_ms, through
 * ctx's store (read at each renewal: a store gone skips it). */
xacct__publish_lease_t *xacct__publish_lease_keep(xacct_ctx_t *ctx, const char *name,
                                                  const char *token, long ttl_ms,
                                                  uint64_t every_ms);

/* True once a renewal found the lock taken by another holder or gone. */
bool xacct__publish_lease_lost(const xacct__publish_lease_t *l);

/* Stops renewing (before the lock is released); frees l once its timer is
 * closed and no renewal is in flight. NULL: nothing. */
void xacct__publish_lease_drop(xacct__publish_lease_t *l);

#endif
