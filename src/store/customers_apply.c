/* SPDX-License-Identifier: MIT */
/*
 * Applying a CloudFormation outcome to a customer record: one Lua script
 * checks the state and changes, together or not at all, the record, the
 * customers zset, the audit stream, the offboarding job, the reverify
 * schedule, the lifecycle event in the outbox and the request's claim.
 */
#include "xacct/customers.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "customers_int.h"
#include "xacct/claims.h"
#include "xacct/jobs.h"
#include "xacct/outbox.h"
#include "xacct/reverify.h"
#include "xacct/store_op.h"

static const xacct_store_script_t apply_script = {
    "customer_apply",
    /* KEYS: 1 customer, 2 customers zset, 3 events, 4 jobs, 5 claim (or KEYS[1]),
     *       6 reverify zset, 7 outbox
     * ARGV: 1 account, 2 request_type, 3 request_id, 4 to_state ('' = audit only),
     *       5 now_iso, 6 now_ms, 7 event, 8 job, 9 expect_physical_id,
     *       10 last_error, 11 has_claim, 12 claim_owner, 13 answer, 14 claim_ttl,
     *       15 jobs group, 16 reverify due ms ('' = off),
     *       17 rotate to: the pending external ID an Update proved ('' = none),
     *       18 key prefix, 19 the external ID the decision was proved with
     *       ('' = any), 20 the StackId a Create replaces on a connected
     *       record ('' = none), 21 the role ARN it replaces, 22.. field/value
     *       pairs to write on a transition */
    XACCT__CLAIMS_FINISH_LUA
    XACCT__REVERIFY_LUA
    XACCT_OUTBOX_LUA
    "local cur = redis.call('HMGET', KEYS[1], 'state', 'last_request_id', 'physical_id')\n"
    "local state = cur[1]\n"
    "if not state then return {'notfound', ''} end\n"
    /* The claim fences the request: a worker whose lease ran out and whose
     * request another worker took over, or has finished since, changes
     * nothing (the other attempt's answer is the request's). */
    "if ARGV[11] == '1' then\n"
    "  local cl = redis.call('HMGET', KEYS[5], 'status', 'owner')\n"
    "  if cl[1] and cl[2] ~= ARGV[12] then return {'lost', state} end\n"
    "end\n"
    "if cur[2] == ARGV[3] then return {'duplicate', state} end\n"
    "local function audit_and_finish()\n"
    "  redis.call('XADD', KEYS[3], 'MAXLEN', '~', '" XACCT__XSTR(XACCT_EVENTS_MAXLEN) "', '*',"
    " 'e', ARGV[7])\n"
    "  if ARGV[11] == '1' then claim_finish(KEYS[5], ARGV[12], ARGV[13], ARGV[5], ARGV[14]) end\n"
    "end\n"
    "local to = ARGV[4]\n"
    "if to == '' then audit_and_finish() return {'audited', state} end\n"
    "local connected = state == 'active' or state == 'degraded'\n"
    "if to == 'offboarding' then\n"
    "  if not connected or cur[3] ~= ARGV[9] then audit_and_finish() return {'audited', state} end\n"
    "else\n"
    "  local allowed = {pending = {active = true, rejected = true},\n"
    "                   active = {active = true}, degraded = {active = true},\n"
    "                   rejected = {active = true}}\n"
    "  local ok = allowed[state] and allowed[state][to]\n"
    /* A Create moves a connected customer only in place of the stack the
     * decision found gone (a degraded one's role failed the check, an
     * active one's was checked first), and only while it is still the
     * record's. */
    "  if connected and ARGV[2] ~= 'Update' then\n"
    "    local rec = redis.call('HMGET', KEYS[1], 'stack_id', 'role_arn')\n"
    "    if ARGV[20] == '' or rec[1] ~= ARGV[20] or rec[2] ~= ARGV[21] then ok = false end\n"
    "  end\n"
    "  if not ok then return {'refused', state} end\n"
    "end\n"
    /* The decision was proved with the ID the record had when it was read;
     * one re-issued meanwhile (a rotation of a pending customer, a new
     * onboarding) is not what the role trusts: decide again. */
    "if ARGV[19] ~= '' and redis.call('HGET', KEYS[1], 'external_id') ~= ARGV[19] then\n"
    "  return {'refused', state}\n"
    "end\n"
    /* Rotation (SPEC §9.3): the pending ID becomes the current one, only if it
     * is still the one the Update proved (a second rotation replaces it). */
    "local rotating = ARGV[17] ~= ''\n"
    "if rotating then\n"
    "  local ids = redis.call('HMGET', KEYS[1], 'external_id', 'pending_external_id')\n"
    "  if to ~= 'active' or ids[2] ~= ARGV[17] then return {'refused', state} end\n"
    "  if ids[1] and ids[1] ~= '' and ids[1] ~= ARGV[17] then\n"
    "    local k = ARGV[18] .. 'external-id:' .. ids[1]\n"
    "    if redis.call('GET', k) == ARGV[1] then redis.call('DEL', k) end\n"
    "  end\n"
    "end\n"
    "local fields = {'state', to, 'updated_at', ARGV[5], 'last_request_id', ARGV[3],\n"
    "                'last_error', ARGV[10]}\n"
    "if to == 'active' then fields[#fields + 1] = 'verified_at' fields[#fields + 1] = ARGV[5] end\n"
    "for i = 22, #ARGV do fields[#fields + 1] = ARGV[i] end\n"
    "if rotating then\n"
    "  fields[#fields + 1] = 'external_id' fields[#fields + 1] = ARGV[17]\n"
    "  redis.call('HDEL', KEYS[1], 'pending_external_id')\n"
    "end\n"
    "redis.call('HSET', KEYS[1], unpack(fields))\n"
    "redis.call('ZADD', KEYS[2], ARGV[6], ARGV[1])\n"
    "if to == 'active' then reverify_enroll(KEYS[6], ARGV[1], ARGV[16]) end\n"
    "if to == 'offboarding' then\n"
    "  reverify_drop(KEYS[6], ARGV[1])\n"
    "  redis.pcall('XGROUP', 'CREATE', KEYS[4], ARGV[15], '0', 'MKSTREAM')\n"
    "  redis.call('XADD', KEYS[4], '*', 'job', ARGV[8])\n"
    "end\n"
    /* Lifecycle event (SPEC §8): connected when the customer becomes active
     * from a Create, updated when it already was, recovered when an Update
     * fixed a degraded role. */
    "local etype = 'customer.' .. to\n"
    "if to == 'active' then\n"
    "  if ARGV[2] == 'Create' then etype = 'customer.connected'\n"
    "  elseif state == 'active' then etype = 'customer.updated'\n"
    "  elseif state == 'degraded' then etype = 'customer.recovered'\n"
    "  else etype = 'customer.connected' end\n"
    "end\n"
    "if rotating and etype == 'customer.updated' then etype = 'customer.external_id_rotated' end\n"
    "outbox_append(KEYS[7], KEYS[1], ARGV[1], etype, ARGV[5], ARGV[10])\n"
    "if rotating and etype ~= 'customer.external_id_rotated' then\n"
    "  outbox_append(KEYS[7], KEYS[1], ARGV[1], 'customer.external_id_rotated', ARGV[5], nil)\n"
    "end\n"
    "audit_and_finish()\n"
    "return {'applied', state}\n",
};

static void apply_reply(const xacct__store_op_t *op, int status, const char *detail,
                        const xacct_store_reply_t *r)
{
    xacct_customers_apply_cb cb = (xacct_customers_apply_cb)op->cb;
    if (status != 0) {
        cb(status, detail, 0, "", op->arg);
        return;
    }
    const xacct_store_reply_t *w;
    char *prev;
    xacct__customers_word_text(r, &w, &prev);
    if (xacct_store_reply_is(w, "applied"))
        cb(0, NULL, XACCT_APPLY_APPLIED, prev, op->arg);
    else if (xacct_store_reply_is(w, "duplicate"))
        cb(0, NULL, XACCT_APPLY_DUPLICATE, prev, op->arg);
    else if (xacct_store_reply_is(w, "audited"))
        cb(0, NULL, XACCT_APPLY_AUDITED, prev, op->arg);
    else if (xacct_store_reply_is(w, "notfound"))
        cb(XACCT_ENOTFOUND, "no such customer", 0, "", op->arg);
    else if (xacct_store_reply_is(w, "refused"))
        cb(XACCT_ESTATE, "transition not allowed from the current state", 0, prev, op->arg);
    else if (xacct_store_reply_is(w, "lost"))
        cb(XACCT_EEXISTS, "another worker holds the request's claim", 0, prev, op->arg);
    else
        cb(XACCT_EPARSE, "unexpected apply script reply", 0, "", op->arg);
    free(prev);
}

static void add_pair(xacct_store_args_t *a, const char *name, const char *value)
{
    if (value == NULL)
        return;
    xacct_store_args_str(a, name);
    xacct_store_args_str(a, value);
}

int xacct_customers_apply(xacct_store_t *s, const xacct_customer_apply_t *in,
                          xacct_customers_apply_cb cb, void *arg)
{
    if (in == NULL || cb == NULL || in->account_id == NULL || in->request_id == NULL ||
        in->request_id[0] == '\0' || in->request_type == NULL || in->event == NULL)
        return XACCT_EINVAL;
    const char *to = in->to_state ? in->to_state : "";
    if (to[0] != '\0' && strcmp(to, "active") != 0 && strcmp(to, "rejected") != 0 &&
        strcmp(to, "offboarding") != 0)
        return XACCT_EINVAL;
    int offboard = strcmp(to, "offboarding") == 0;
    if (offboard && (in->job == NULL || in->expect_physical_id == NULL))
        return XACCT_EINVAL;
    if (in->rotate_to != NULL && (in->rotate_to[0] == '\0' || strcmp(to, "active") != 0))
        return XACCT_EINVAL;
    if (in->claim_owner != NULL && (in->claim_stack_id == NULL || in->answer == NULL))
        return XACCT_EINVAL;
    if (in->replace_stack_id != NULL && in->replace_role_arn == NULL)
        return XACCT_EINVAL;

    int64_t now = in->now_ms ? in->now_ms : xacct_store_now_ms();
    char iso[XACCT_STORE_ISO_LEN];
    xacct_store_iso8601(now, iso);

    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_key(&a, s, "customer:%s", in->account_id);
    xacct_store_args_key(&a, s, "customers");
    xacct_store_args_key(&a, s, "events:%s", in->account_id);
    xacct_store_args_key(&a, s, "jobs:offboard");
    if (in->claim_owner != NULL)
        xacct_store_args_key(&a, s, "request:%s:%s", in->claim_stack_id, in->request_id);
    else
        xacct_store_args_key(&a, s, "customer:%s", in->account_id);
    xacct_store_args_key(&a, s, "reverify");
    xacct_store_args_key(&a, s, "outbox");

    xacct_store_args_str(&a, in->account_id);
    xacct_store_args_str(&a, in->request_type);
    xacct_store_args_str(&a, in->request_id);
    xacct_store_args_str(&a, to);
    xacct_store_args_str(&a, iso);
    xacct_store_args_ll(&a, (long long)now);
    int rc = xacct__store_op_args_event(&a, in->event);
    if (rc == 0 && offboard)
        rc = xacct__store_op_args_job(&a, in->job);
    else if (rc == 0)
        xacct_store_args_str(&a, "");
    if (rc != 0) {
        xacct_store_args_destroy(&a);
        return rc;
    }
    xacct_store_args_str(&a, in->expect_physical_id);
    xacct_store_args_str(&a, in->last_error);
    xacct_store_args_str(&a, in->claim_owner ? "1" : "0");
    xacct_store_args_str(&a, in->claim_owner);
    xacct_store_args_str(&a, in->answer);
    xacct_store_args_ll(&a, in->claim_ttl_s > 0 ? in->claim_ttl_s : XACCT_CLAIMS_DONE_TTL_S);
    xacct_store_args_str(&a, XACCT_JOBS_GROUP);
    if (in->reverify_due_ms > 0)
        xacct_store_args_ll(&a, (long long)in->reverify_due_ms);
    else
        xacct_store_args_str(&a, "");
    xacct_store_args_str(&a, in->rotate_to ? in->rotate_to : "");
    xacct_store_args_str(&a, xacct_store_prefix(s));
    xacct_store_args_str(&a, in->expect_external_id ? in->expect_external_id : "");
    xacct_store_args_str(&a, in->replace_stack_id ? in->replace_stack_id : "");
    xacct_store_args_str(&a, in->replace_role_arn ? in->replace_role_arn : "");
    add_pair(&a, "role_arn", in->role_arn);
    add_pair(&a, "stack_id", in->stack_id);
    add_pair(&a, "region", in->region);
    add_pair(&a, "physical_id", in->physical_id);
    add_pair(&a, "template_version", in->template_version);

    return xacct__store_op_run(s, &apply_script, 7, &a, apply_reply, XACCT__STORE_OP_ANY,
                               XACCT__STORE_OP_FN(cb), arg);
}
