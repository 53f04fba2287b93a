/* SPDX-License-Identifier: MIT */
/*
 * Webhook delivery of lifecycle events (SPEC §8), in xacctd, when
 * events.webhook_url is set. Every worker is a consumer (named by its worker
 * id) of the group `webhook` on the outbox stream. Each event is POSTed,
 * signed (xacct_webhook_sign), through the shared HTTP client: TLS verified,
 * no redirects, events.delivery_timeout per attempt, the answer body capped.
 * A 2xx acknowledges it; anything else, or no answer, is retried after
 * 1 s doubling to 10 min (jittered into the upper half of each step) until
 * the event is events.max_age old and has been tried at least once, then it
 * moves to outbox:dead (one already that old when first read goes there
 * untried). A worker holds at most XACCT_WEBHOOK_MAX_HELD events, at most
 * XACCT_WEBHOOK_MAX_HELD_PER_ACCOUNT of one customer (the rest stay pending
 * and are reclaimed later), and has at most XACCT_WEBHOOK_MAX_IN_FLIGHT POSTs
 * open; each event is sent when it is due, not in seq order (receivers order
 * by seq). Held events are touched so they are not mistaken for a dead
 * worker's; those of a worker silent for events.claim_idle seconds, and
 * those left pending, are taken over (XAUTOCLAIM).
 */
#ifndef XACCT_WEBHOOK_H
#define XACCT_WEBHOOK_H

#include <stddef.h>

#include "xacct/common.h"
#include "xacct/ctx.h"

#define XACCT_WEBHOOK_MAX_HELD 64            /* events held by one worker */
#define XACCT_WEBHOOK_MAX_HELD_PER_ACCOUNT 4 /* of them, one customer's */
#define XACCT_WEBHOOK_MAX_IN_FLIGHT 8        /* POSTs open at once per worker */
#define XACCT_WEBHOOK_MAX_ANSWER 65536       /* bytes of the receiver's answer read */
#define XACCT_WEBHOOK_SECRET_MAX 16384       /* bytes in events.webhook_secret_file */

/* Reads events.webhook_secret_file (checked for its owner and mode first)
 * into *out (xacct_free_secret) and *len; XACCT_ECONFIG with err saying why
 * (missing, unreadable, empty, over XACCT_WEBHOOK_SECRET_MAX). */
int xacct_webhook_secret_read(const xacct_log_t *log, const char *path, char **out,
                              size_t *len, char *err, size_t errlen) XACCT_MUSTCHECK;

/* Starts delivery into ctx->webhook if events.webhook_url is set (else does
 * nothing and returns 0). Reads the secret file now; XACCT_ECONFIG with the
 * reason in err when it cannot be read or is empty (the secret itself is
 * never written anywhere). */
int xacct_webhook_start(xacct_ctx_t *ctx, char *err, size_t errlen) XACCT_MUSTCHECK;

/* SIGHUP: ctx->cfg is the new snapshot; re-reads the secret file (keeping
 * the old secret, with a warning, if that fails). No-op without a webhook. */
void xacct_webhook_reload(xacct_ctx_t *ctx);

/* Teardown: cancels open POSTs (their events stay pending for another worker
 * or a restart) and releases ctx->webhook once its timer has closed and its
 * Redis calls have completed (run the loop and free the store afterwards). */
void xacct_webhook_stop(xacct_ctx_t *ctx);

#endif
