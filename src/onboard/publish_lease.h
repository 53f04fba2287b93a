/* SPDX-License-Identifier: MIT */
/*
 * The topic-policy lock's lease, kept alive while its holder works
 * (publish.c). The lock is taken with a short lease so that a writer that
 * dies holding it (killed, crashed) stops every other writer of its region
 * for seconds rather than a minute; while the holder lives, a timer on the
 * loop extends the lease before it runs out. The holder may write only
 * while the lock is surely still its own: a renewal found it taken by
 * another or gone, or too long has passed since Redis last confirmed it
 * (Redis unreachable, renewals failing, and the lease perhaps run out and
 * taken meanwhile), and the lease is lost.
 */
#ifndef XACCT_PUBLISH_LEASE_H
#define XACCT_PUBLISH_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#include "xacct/ctx.h"

typedef struct xacct__publish_lease xacct__publish_lease_t;

/* Extends the lock name held with token to ttl_ms every every_ms, through
 * ctx's store (read at each renewal: a store gone skips it). acquired_ns is
 * uv_hrtime() when the command that took the lock was sent: Redis started
 * the lease no earlier. The lease counts as lost from ttl_ms - margin_ms
 * after that, or after the sending of the last renewal Redis answered as
 * the holder's, whichever is later (margin_ms >= ttl_ms: at once). */
xacct__publish_lease_t *xacct__publish_lease_keep(xacct_ctx_t *ctx, const char *name,
                                                  const char *token, uint64_t acquired_ns,
                                                  long ttl_ms, long margin_ms, uint64_t every_ms);

/* True once a renewal found the lock taken by another holder or gone, or
 * while the lease is past its time as above (a later renewal that finds
 * the lock still the holder's makes it false again: the key never expired).
 * NULL: false. */
bool xacct__publish_lease_lost(const xacct__publish_lease_t *l);

/* Stops renewing (before the lock is released); frees l once its timer is
 * closed and no renewal is in flight. NULL: nothing. */
void xacct__publish_lease_drop(xacct__publish_lease_t *l);

#endif
