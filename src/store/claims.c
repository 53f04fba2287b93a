/* SPDX-License-Identifier: MIT */
/*
 * Request claims on top of the store: claim (with lease takeover and renewal),
 * finish and release, each one Lua script so the check and the write happen
 * atomically in Redis.
 */
#include "xacct/claims.h"

#include <stdbool.h>

#include "xacct/store_op.h"

static const xacct_store_script_t claim_script = {
    "claim",
    /* KEYS[1] claim; ARGV owner, now_iso, lease_ms */
    "local h = redis.call('HMGET', KEYS[1], 'status', 'owner', 'answer')\n"
    "if h[1] == 'done' then return {'done', h[3] or ''} end\n"
    "if h[1] == 'claimed' and h[2] ~= ARGV[1] then return {'busy', h[2] or ''} end\n"
    "if h[1] ~= 'claimed' then\n"
    "  redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'status', 'claimed', 'claimed_at', ARGV[2])\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'updated_at', ARGV[2])\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
    "return {'claimed', ''}\n",
};

static const xacct_store_script_t finish_script = {
    "claim_finish",
    /* KEYS[1] claim; ARGV owner, now_iso, answer, ttl_s */
    XACCT__CLAIMS_FINISH_LUA
    "return claim_finish(KEYS[1], ARGV[1], ARGV[3], ARGV[2], ARGV[4])\n",
};

static const xacct_store_script_t release_script = {
    "claim_release",
    /* KEYS[1] claim; ARGV owner */
    "local h = redis.call('HMGET', KEYS[1], 'status', 'owner')\n"
    "if h[1] == 'claimed' and h[2] == ARGV[1] then\n"
    "  return redis.call('DEL', KEYS[1])\n"
    "end\n"
    "return 0\n",
};

static void claim_reply(const xacct__store_op_t *op, int status, const char *detail,
                        const xacct_store_reply_t *r)
{
    xacct_claims_claim_cb cb = (xacct_claims_claim_cb)op->cb;
    if (status != 0) {
        cb(status, detail, 0, "", op->arg);
        return;
    }
    const xacct_store_reply_t *what = xacct_store_reply_at(r, 0);
    xacct_claims_result_t res = 0;
    if (xacct_store_reply_is(what, "claimed"))
        res = XACCT_CLAIMS_CLAIMED;
    else if (xacct_store_reply_is(what, "busy"))
        res = XACCT_CLAIMS_BUSY;
    else if (xacct_store_reply_is(what, "done"))
        res = XACCT_CLAIMS_DONE;
    if (res == 0)
        cb(XACCT_EPARSE, "unexpected claim script reply", 0, "", op->arg);
    else
        cb(0, NULL, res, xacct__store_op_reply_str(r, 1), op->arg);
}

static void done_reply(const xacct__store_op_t *op, int status, const char *detail,
                       const xacct_store_reply_t *r)
{
    long long v = 0;
    status = xacct__store_op_reply_int(r, status, &detail, "unexpected claim script reply", &v);
    if (status == 0 && v < 0) {
        status = XACCT_EEXISTS;
        detail = "another worker holds or finished the request";
    }
    ((xacct_claims_done_cb)op->cb)(status, detail, status == 0 && v > 0, op->arg);
}

/* Every script's KEYS[1] is the claim and ARGV[1] the owner; claim and
 * finish also take the time now as ARGV[2]. */
static void claim_args(xacct_store_args_t *a, xacct_store_t *s, const char *stack_id,
                       const char *request_id, const char *owner, bool now)
{
    xacct_store_args_init(a);
    xacct_store_args_key(a, s, "request:%s:%s", stack_id, request_id);
    xacct_store_args_str(a, owner);
    if (now) {
        char iso[XACCT_STORE_ISO_LEN];
        xacct_store_iso8601(xacct_store_now_ms(), iso);
        xacct_store_args_str(a, iso);
    }
}

int xacct_claims_claim(xacct_store_t *s, const char *stack_id, const char *request_id,
                       const char *owner, long lease_ms, xacct_claims_claim_cb cb, void *arg)
{
    if (stack_id == NULL || request_id == NULL || owner == NULL || owner[0] == '\0' ||
        lease_ms <= 0 || cb == NULL)
        return XACCT_EINVAL;
    xacct_store_args_t a;
    claim_args(&a, s, stack_id, request_id, owner, true);
    xacct_store_args_ll(&a, lease_ms);
    return xacct__store_op_run(s, &claim_script, 1, &a, claim_reply, XACCT__STORE_OP_ANY,
                               XACCT__STORE_OP_FN(cb), arg);
}

int xacct_claims_finish(xacct_store_t *s, const char *stack_id, const char *request_id,
                        const char *owner, const char *answer, long ttl_s,
                        xacct_claims_done_cb cb, void *arg)
{
    if (stack_id == NULL || request_id == NULL || owner == NULL || answer == NULL ||
        ttl_s < 0 || cb == NULL)
        return XACCT_EINVAL;
    xacct_store_args_t a;
    claim_args(&a, s, stack_id, request_id, owner, true);
    xacct_store_args_str(&a, answer);
    xacct_store_args_ll(&a, ttl_s ? ttl_s : XACCT_CLAIMS_DONE_TTL_S);
    return xacct__store_op_run(s, &finish_script, 1, &a, done_reply, XACCT__STORE_OP_ANY,
                               XACCT__STORE_OP_FN(cb), arg);
}

int xacct_claims_release(xacct_store_t *s, const char *stack_id, const char *request_id,
                         const char *owner, xacct_claims_done_cb cb, void *arg)
{
    if (stack_id == NULL || request_id == NULL || owner == NULL || cb == NULL)
        return XACCT_EINVAL;
    xacct_store_args_t a;
    claim_args(&a, s, stack_id, request_id, owner, false);
    return xacct__store_op_run(s, &release_script, 1, &a, done_reply, XACCT__STORE_OP_ANY,
                               XACCT__STORE_OP_FN(cb), arg);
}
