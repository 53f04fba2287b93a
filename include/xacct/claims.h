/* SPDX-License-Identifier: MIT */
/*
 * Request claims (SPEC §4 idempotency): request:<StackId>:<RequestId> hashes
 * {owner, status, answer, claimed_at, updated_at}. A claim is a lease: the
 * key expires after lease_ms, so the claim of a crashed worker can be taken
 * over by a redelivery; the owner renews it by claiming again. A finished
 * request keeps the answer that was sent (status done, kept for days), so a
 * redelivered finished request re-sends it instead of running again.
 *
 * owner must identify one processing attempt, not just the worker (e.g.
 * "<worker-id>/<message-id>/<receive-count>"): the same owner claiming again
 * is a renewal, so two deliveries of one message inside one worker need
 * different owners.
 */
#ifndef XACCT_CLAIMS_H
#define XACCT_CLAIMS_H

#include "xacct/common.h"
#include "xacct/store.h"

#define XACCT_CLAIMS_DONE_TTL_S (7L * 24 * 3600) /* finished requests are kept 7 days */

typedef enum xacct_claims_result {
    XACCT_CLAIMS_CLAIMED = 1, /* the caller owns it now (new, renewed or taken over) */
    XACCT_CLAIMS_BUSY,        /* another owner holds a live lease; text = that owner */
    XACCT_CLAIMS_DONE,        /* already finished; text = the stored answer to re-send */
} xacct_claims_result_t;

/*
 * status 0 with a result, or a store error (XACCT_EDISCONNECTED, ...). text is
 * borrowed for the callback ("" for CLAIMED).
 */
typedef void (*xacct_claims_claim_cb)(int status, const char *detail,
                                      xacct_claims_result_t result, const char *text, void *arg);
/* For finish and release: changed is 1 if the call recorded/deleted something. */
typedef void (*xacct_claims_done_cb)(int status, const char *detail, int changed, void *arg);

/* Claims or renews. lease_ms > 0. Strings are copied. */
int xacct_claims_claim(xacct_store_t *s, const char *stack_id, const char *request_id,
                       const char *owner, long lease_ms, xacct_claims_claim_cb cb,
                       void *arg) XACCT_MUSTCHECK;

/* Records the answer and status done with a TTL of ttl_s (0 = 7 days), when
 * owner holds the claim or nobody does (its lease ran out). A claim this
 * owner finished before changes nothing (changed 0). XACCT_EEXISTS: another
 * attempt holds or finished the request (this one's lease ran out and it
 * was taken over): that attempt's answer is the request's, nothing is
 * recorded. */
int xacct_claims_finish(xacct_store_t *s, const char *stack_id, const char *request_id,
                        const char *owner, const char *answer, long ttl_s,
                        xacct_claims_done_cb cb, void *arg) XACCT_MUSTCHECK;

/* Deletes the claim if owner still holds it and it is not done, so a
 * redelivery can take it at once (changed 1), else changes nothing. */
int xacct_claims_release(xacct_store_t *s, const char *stack_id, const char *request_id,
                         const char *owner, xacct_claims_done_cb cb, void *arg) XACCT_MUSTCHECK;

/*
 * For other scripts of the store layer that finish a claim atomically with
 * their own writes: a Lua function taking (key, owner, answer, now_iso,
 * ttl_s) and returning 1 if it recorded the answer, 0 if owner had, -1 if
 * another owner holds or finished the claim (nothing recorded).
 */
#define XACCT__CLAIMS_FINISH_LUA                                                       \
    "local function claim_finish(key, owner, answer, now, ttl)\n"                     \
    "  local h = redis.call('HMGET', key, 'status', 'owner')\n"                       \
    "  local st = h[1]\n"                                                             \
    "  if st and h[2] ~= owner then return -1 end\n"                                  \
    "  if st == 'done' then return 0 end\n"                                           \
    "  if not st then redis.call('HSET', key, 'claimed_at', now) end\n"               \
    "  redis.call('HSET', key, 'owner', owner, 'status', 'done', 'answer', answer,\n" \
    "             'updated_at', now)\n"                                               \
    "  redis.call('EXPIRE', key, ttl)\n"                                              \
    "  return 1\n"                                                                    \
    "end\n"

#endif
