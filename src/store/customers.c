/* SPDX-License-Identifier: MIT */
/*
 * Customer records on top of the store: applying CloudFormation outcomes,
 * onboarding and external-ID rotation, the publish allow-list sets, audit
 * events and the CLI's reads. Each write is one Lua script (defined beside
 * its caller) so that the state check, the record, the zset, the audit
 * stream, the job and the claim change together or not at all.
 */
#include "xacct/customers.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/buf.h"
#include "xacct/claims.h"
#include "xacct/jobs.h"
#include "xacct/store_op.h"
#include "xacct/reverify.h"
#include "xacct/outbox.h"

#define STR_(x) #x
#define XSTR(x) STR_(x)

#define LIST_DEFAULT 1000
#define LIST_MAX 100000
#define TOPICS_MAX 10000
#define EVENTS_DEFAULT 100
#define EVENTS_MAX 10000

/* Scripts answer {word, text...}; this reads the first two. */
static void word_text(const xacct_store_reply_t *r, const xacct_store_reply_t **word,
                      char **text)
{
    *word = xacct_store_reply_at(r, 0);
    *text = xacct_store_reply_strdup(xacct_store_reply_at(r, 1));
}

/* ------------------------------------------------------------------ */
/* Apply                                                                */

static const xacct_store_script_t apply_script = {
    "customer_apply",
    /* KEYS: 1 customer, 2 customers zset, 3 events, 4 jobs, 5 claim (or KEYS[1]),
     *       6 reverify zset, 7 outbox
     * ARGV: 1 account, 2 request_type, 3 request_id, 4 to_state ('' = audit only),
     *       5 now_iso, 6 now_ms, 7 event, 8 job, 9 expect_physical_id,
     *       10 last_error, 11 has_claim, 12 claim_owner, 13 answer, 14 claim_ttl,
     *       15 jobs group, 16 reverify due ms ('' = off),
     *       17 rotate to: the pending external ID an Update proved ('' = none),
     *       18 key prefix, 19.. field/value pairs to write on a transition */
    XACCT__CLAIMS_FINISH_LUA
    XACCT__REVERIFY_LUA
    XACCT_OUTBOX_LUA
    "local cur = redis.call('HMGET', KEYS[1], 'state', 'last_request_id', 'physical_id')\n"
    "local state = cur[1]\n"
    "if not state then return {'notfound', ''} end\n"
    "if cur[2] == ARGV[3] then return {'duplicate', state} end\n"
    "local function audit_and_finish()\n"
    "  redis.call('XADD', KEYS[3], 'MAXLEN', '~', '" XSTR(XACCT_EVENTS_MAXLEN) "', '*',"
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
    "  if connected and ARGV[2] ~= 'Update' then ok = false end\n"
    "  if not ok then return {'refused', state} end\n"
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
    "for i = 19, #ARGV do fields[#fields + 1] = ARGV[i] end\n"
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
    /* Lifecycle event (SPEC §8): connected when the customer becomes active,
     * updated when it already was, recovered when an Update fixed a degraded
     * role. */
    "local etype = 'customer.' .. to\n"
    "if to == 'active' then\n"
    "  if state == 'active' then etype = 'customer.updated'\n"
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
    word_text(r, &w, &prev);
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
    add_pair(&a, "role_arn", in->role_arn);
    add_pair(&a, "stack_id", in->stack_id);
    add_pair(&a, "region", in->region);
    add_pair(&a, "physical_id", in->physical_id);
    add_pair(&a, "template_version", in->template_version);

    return xacct__store_op_run(s, &apply_script, 7, &a, apply_reply, XACCT__STORE_OP_ANY,
                               XACCT__STORE_OP_FN(cb), arg);
}

/* ------------------------------------------------------------------ */
/* Onboard and rotate                                                   */

#define UNINDEX_OLD_LUA                                                  \
    "local function unindex(old)\n"                                      \
    "  if old and old ~= '' and old ~= ARGV[2] then\n"                   \
    "    local k = ARGV[6] .. 'external-id:' .. old\n"                   \
    "    if redis.call('GET', k) == ARGV[1] then redis.call('DEL', k) end\n" \
    "  end\n"                                                            \
    "end\n"

static const xacct_store_script_t onboard_script = {
    "customer_onboard",
    /* KEYS: 1 customer, 2 external-id:<new>, 3 customers, 4 events, 5 outbox,
     *       6 pending (expiry.h)
     * ARGV: 1 account, 2 new id, 3 now_iso, 4 now_ms, 5 event, 6 prefix */
    UNINDEX_OLD_LUA
    XACCT_OUTBOX_LUA
    "local cur = redis.call('HMGET', KEYS[1], 'state', 'external_id', 'created_at',\n"
    "                       'pending_external_id')\n"
    "local st = cur[1]\n"
    "if st == 'pending' or st == 'active' or st == 'degraded' or st == 'offboarding' then return {'state', st} end\n"
    "if not redis.call('SET', KEYS[2], ARGV[1], 'NX') then return {'collision', st or ''} end\n"
    "unindex(cur[2])\n"
    /* A rotation still pending when the stack went away ends with it. */
    "if cur[4] and cur[4] ~= cur[2] then unindex(cur[4]) end\n"
    "redis.call('HDEL', KEYS[1], 'pending_external_id')\n"
    "redis.call('HSET', KEYS[1], 'account_id', ARGV[1], 'external_id', ARGV[2],\n"
    "           'state', 'pending', 'updated_at', ARGV[3], 'last_error', '',\n"
    "           'last_request_id', '')\n"
    "if not cur[3] then redis.call('HSET', KEYS[1], 'created_at', ARGV[3]) end\n"
    "redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])\n"
    "redis.call('XADD', KEYS[4], 'MAXLEN', '~', '" XSTR(XACCT_EVENTS_MAXLEN) "', '*',"
    " 'e', ARGV[5])\n"
    "outbox_append(KEYS[5], KEYS[1], ARGV[1], 'customer.onboarding', ARGV[3], nil)\n"
    /* The expiry clock starts now (onboard.pending_ttl). */
    "redis.call('ZADD', KEYS[6], ARGV[4], ARGV[1])\n"
    "return {'ok', st or ''}\n",
};

/*
 * A connected (active, degraded) customer's stack trusts its current ID, so
 * the new one waits as pending_external_id (indexed, so it stays unique)
 * until an Update proves it (the apply script swaps it in); rotating again
 * replaces and unindexes the previous pending ID. A pending or rejected
 * customer has no stack that trusts its ID: the new one replaces it at once.
 */
static const xacct_store_script_t rotate_script = {
    "customer_rotate",
    /* same KEYS and ARGV as onboard (KEYS[6] unused) */
    UNINDEX_OLD_LUA
    XACCT_OUTBOX_LUA
    "local cur = redis.call('HMGET', KEYS[1], 'state', 'external_id', 'pending_external_id')\n"
    "local st = cur[1]\n"
    "if not st then return {'notfound', ''} end\n"
    "local connected = st == 'active' or st == 'degraded'\n"
    "if not connected and st ~= 'pending' and st ~= 'rejected' then return {'state', st} end\n"
    "if not redis.call('SET', KEYS[2], ARGV[1], 'NX') then return {'collision', st} end\n"
    "if cur[3] and cur[3] ~= cur[2] then unindex(cur[3]) end\n"
    "if connected then\n"
    "  redis.call('HSET', KEYS[1], 'pending_external_id', ARGV[2], 'updated_at', ARGV[3])\n"
    "else\n"
    "  unindex(cur[2])\n"
    "  redis.call('HSET', KEYS[1], 'external_id', ARGV[2], 'updated_at', ARGV[3])\n"
    "  redis.call('HDEL', KEYS[1], 'pending_external_id')\n"
    "end\n"
    "redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])\n"
    "redis.call('XADD', KEYS[4], 'MAXLEN', '~', '" XSTR(XACCT_EVENTS_MAXLEN) "', '*',"
    " 'e', ARGV[5])\n"
    /* A pending rotation changes nothing yet: its event comes with the swap. */
    "if not connected then\n"
    "  outbox_append(KEYS[5], KEYS[1], ARGV[1], 'customer.external_id_rotated', ARGV[3], nil)\n"
    "end\n"
    "return {'ok', st}\n",
};

static void onboard_reply(const xacct__store_op_t *op, int status, const char *detail,
                          const xacct_store_reply_t *r)
{
    xacct_customers_onboard_cb cb = (xacct_customers_onboard_cb)op->cb;
    if (status != 0) {
        cb(status, detail, "", op->arg);
        return;
    }
    const xacct_store_reply_t *w;
    char *prev;
    word_text(r, &w, &prev);
    if (xacct_store_reply_is(w, "ok"))
        cb(0, NULL, prev, op->arg);
    else if (xacct_store_reply_is(w, "state")) {
        char *d = xacct_asprintf("customer is %s", prev);
        cb(XACCT_ESTATE, d, prev, op->arg);
        free(d);
    } else if (xacct_store_reply_is(w, "collision"))
        cb(XACCT_EEXISTS, "external ID already in use", prev, op->arg);
    else if (xacct_store_reply_is(w, "notfound"))
        cb(XACCT_ENOTFOUND, "no such customer", "", op->arg);
    else
        cb(XACCT_EPARSE, "unexpected onboard script reply", "", op->arg);
    free(prev);
}

static int onboard_like(xacct_store_t *s, const xacct_store_script_t *script,
                        const char *account_id, const char *external_id,
                        const xacct_event_t *event, xacct_customers_onboard_cb cb, void *arg)
{
    if (account_id == NULL || account_id[0] == '\0' || external_id == NULL ||
        external_id[0] == '\0' || event == NULL || cb == NULL)
        return XACCT_EINVAL;
    int64_t now = xacct_store_now_ms();
    char iso[XACCT_STORE_ISO_LEN];
    xacct_store_iso8601(now, iso);
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_key(&a, s, "customer:%s", account_id);
    xacct_store_args_key(&a, s, "external-id:%s", external_id);
    xacct_store_args_key(&a, s, "customers");
    xacct_store_args_key(&a, s, "events:%s", account_id);
    xacct_store_args_key(&a, s, "outbox");
    xacct_store_args_key(&a, s, "pending");
    xacct_store_args_str(&a, account_id);
    xacct_store_args_str(&a, external_id);
    xacct_store_args_str(&a, iso);
    xacct_store_args_ll(&a, (long long)now);
    int rc = xacct__store_op_args_event(&a, event);
    if (rc != 0) {
        xacct_store_args_destroy(&a);
        return rc;
    }
    xacct_store_args_str(&a, xacct_store_prefix(s));
    return xacct__store_op_run(s, script, 6, &a, onboard_reply, XACCT__STORE_OP_ANY,
                               XACCT__STORE_OP_FN(cb), arg);
}

int xacct_customers_onboard(xacct_store_t *s, const char *account_id, const char *external_id,
                            const xacct_event_t *event, xacct_customers_onboard_cb cb, void *arg)
{
    return onboard_like(s, &onboard_script, account_id, external_id, event, cb, arg);
}

int xacct_customers_rotate(xacct_store_t *s, const char *account_id, const char *new_external_id,
                           const xacct_event_t *event, xacct_customers_onboard_cb cb, void *arg)
{
    return onboard_like(s, &rotate_script, account_id, new_external_id, event, cb, arg);
}

/* ------------------------------------------------------------------ */
/* Topics                                                               */

static const xacct_store_script_t topic_assign_script = {
    "topic_assign",
    /* KEYS: 1 customer; ARGV: 1 account, 2 prefix, 3 max, 4.. candidate ARNs */
    "if not redis.call('HGET', KEYS[1], 'state') then return {'notfound'} end\n"
    "local chosen\n"
    "for i = 4, #ARGV do\n"
    "  if redis.call('SISMEMBER', ARGV[2] .. 'topic:' .. ARGV[i], ARGV[1]) == 1 then\n"
    "    chosen = ARGV[i] break end\n"
    "end\n"
    "if not chosen then\n"
    "  for i = 4, #ARGV do\n"
    "    if redis.call('SCARD', ARGV[2] .. 'topic:' .. ARGV[i]) < tonumber(ARGV[3]) then\n"
    "      chosen = ARGV[i] break end\n"
    "  end\n"
    "end\n"
    "if not chosen then return {'full'} end\n"
    "local cur = redis.call('HGET', KEYS[1], 'topic_arn')\n"
    "if cur and cur ~= '' and cur ~= chosen then\n"
    "  redis.call('SREM', ARGV[2] .. 'topic:' .. cur, ARGV[1])\n"
    "end\n"
    "local key = ARGV[2] .. 'topic:' .. chosen\n"
    "redis.call('SADD', key, ARGV[1])\n"
    "redis.call('HSET', KEYS[1], 'topic_arn', chosen)\n"
    /* A pending customer's region is its topic's until a stack reports its own. */
    "local region = string.match(chosen, '^arn:[^:]+:sns:([^:]+):')\n"
    "if region and redis.call('HGET', KEYS[1], 'state') == 'pending' then\n"
    "  redis.call('HSET', KEYS[1], 'region', region)\n"
    "end\n"
    "return {'ok', chosen, redis.call('SCARD', key)}\n",
};

static const xacct_store_script_t topic_remove_script = {
    "topic_remove",
    /* KEYS: 1 customer; ARGV: 1 account, 2 prefix */
    "if not redis.call('HGET', KEYS[1], 'state') then return {'notfound'} end\n"
    "local cur = redis.call('HGET', KEYS[1], 'topic_arn')\n"
    "if not cur or cur == '' then return {'ok', '', 0} end\n"
    "local key = ARGV[2] .. 'topic:' .. cur\n"
    "redis.call('SREM', key, ARGV[1])\n"
    "redis.call('HSET', KEYS[1], 'topic_arn', '')\n"
    "return {'ok', cur, redis.call('SCARD', key)}\n",
};

static void topic_reply(const xacct__store_op_t *op, int status, const char *detail,
                        const xacct_store_reply_t *r)
{
    xacct_customers_topic_cb cb = (xacct_customers_topic_cb)op->cb;
    if (status != 0) {
        cb(status, detail, "", 0, op->arg);
        return;
    }
    const xacct_store_reply_t *w;
    char *arn;
    long long count = 0;
    word_text(r, &w, &arn);
    if (xacct_store_reply_is(w, "ok") &&
        xacct_store_reply_ll(xacct_store_reply_at(r, 2), &count) == 0)
        cb(0, NULL, arn, count, op->arg);
    else if (xacct_store_reply_is(w, "notfound"))
        cb(XACCT_ENOTFOUND, "no such customer", "", 0, op->arg);
    else if (xacct_store_reply_is(w, "full"))
        cb(XACCT_ETOOBIG, "every candidate topic is full", "", 0, op->arg);
    else
        cb(XACCT_EPARSE, "unexpected topic script reply", "", 0, op->arg);
    free(arn);
}

/* Both topic scripts take KEYS customer, ARGV account and prefix first. */
static void topic_args(xacct_store_args_t *a, xacct_store_t *s, const char *account_id)
{
    xacct_store_args_init(a);
    xacct_store_args_key(a, s, "customer:%s", account_id);
    xacct_store_args_str(a, account_id);
    xacct_store_args_str(a, xacct_store_prefix(s));
}

int xacct_customers_topic_assign(xacct_store_t *s, const char *account_id,
                                 const char *const *candidate_arns, size_t n,
                                 long long max_per_topic, xacct_customers_topic_cb cb, void *arg)
{
    if (account_id == NULL || candidate_arns == NULL || n == 0 || max_per_topic <= 0 ||
        cb == NULL)
        return XACCT_EINVAL;
    xacct_store_args_t a;
    topic_args(&a, s, account_id);
    xacct_store_args_ll(&a, max_per_topic);
    for (size_t i = 0; i < n; i++)
        xacct_store_args_str(&a, candidate_arns[i]);
    return xacct__store_op_run(s, &topic_assign_script, 1, &a, topic_reply, XACCT__STORE_OP_ANY,
                               XACCT__STORE_OP_FN(cb), arg);
}

int xacct_customers_topic_remove(xacct_store_t *s, const char *account_id,
                                 xacct_customers_topic_cb cb, void *arg)
{
    if (account_id == NULL || cb == NULL)
        return XACCT_EINVAL;
    xacct_store_args_t a;
    topic_args(&a, s, account_id);
    return xacct__store_op_run(s, &topic_remove_script, 1, &a, topic_reply, XACCT__STORE_OP_ANY,
                               XACCT__STORE_OP_FN(cb), arg);
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static void members_reply(const xacct__store_op_t *op, int status, const char *detail,
                          const xacct_store_reply_t *r)
{
    xacct_customers_members_cb cb = (xacct_customers_members_cb)op->cb;
    if (status != 0) {
        cb(status, detail, NULL, 0, op->arg);
        return;
    }
    const char **v = xacct_calloc(r->elements ? r->elements : 1, sizeof(*v));
    for (size_t i = 0; i < r->elements; i++)
        v[i] = r->element[i].str ? r->element[i].str : "";
    qsort(v, r->elements, sizeof(*v), cmp_str);
    cb(0, NULL, v, r->elements, op->arg);
    free(v);
}

int xacct_customers_topic_members(xacct_store_t *s, const char *topic_arn,
                                  xacct_customers_members_cb cb, void *arg)
{
    if (topic_arn == NULL || cb == NULL)
        return XACCT_EINVAL;
    return xacct__store_op_key(s, members_reply, XACCT_STORE_REPLY_ARRAY, XACCT__STORE_OP_FN(cb),
                               arg, "SMEMBERS", "topic:%s", topic_arn);
}

static const xacct_store_script_t topics_script = {
    "topics",
    /* ARGV: 1 SCAN pattern, 2 length of the key part before the ARN, 3 max */
    XACCT__STORE_LUA_SCAN
    "return scan(function(k, arn)\n"
    "  if redis.call('TYPE', k).ok == 'set' then return {arn, redis.call('SCARD', k)} end\n"
    "end)\n",
};

static int cmp_topic(const void *x, const void *y)
{
    return strcmp(((const xacct_customers_topic_count_t *)x)->topic_arn,
                  ((const xacct_customers_topic_count_t *)y)->topic_arn);
}

static void topics_reply(const xacct__store_op_t *op, int status, const char *detail,
                         const xacct_store_reply_t *r)
{
    xacct_customers_topics_cb cb = (xacct_customers_topics_cb)op->cb;
    if (status != 0) {
        cb(status, detail, NULL, 0, op->arg);
        return;
    }
    xacct_customers_topic_count_t *t = xacct_calloc(r->elements ? r->elements : 1, sizeof(*t));
    size_t n = 0;
    for (size_t i = 0; i < r->elements; i++) {
        const xacct_store_reply_t *arn = xacct_store_reply_at(&r->element[i], 0);
        long long c;
        if (arn == NULL || arn->str == NULL ||
            xacct_store_reply_ll(xacct_store_reply_at(&r->element[i], 1), &c) != 0)
            continue;
        t[n].topic_arn = arn->str;
        t[n].count = c;
        n++;
    }
    qsort(t, n, sizeof(*t), cmp_topic);
    cb(0, NULL, t, n, op->arg);
    free(t);
}

int xacct_customers_topics(xacct_store_t *s, xacct_customers_topics_cb cb, void *arg)
{
    if (cb == NULL)
        return XACCT_EINVAL;
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct__store_op_args_scan(&a, s, "topic:");
    xacct_store_args_ll(&a, TOPICS_MAX);
    return xacct__store_op_run(s, &topics_script, 0, &a, topics_reply, XACCT_STORE_REPLY_ARRAY,
                               XACCT__STORE_OP_FN(cb), arg);
}

/* ------------------------------------------------------------------ */
/* Reads                                                                */

static void get_reply(const xacct__store_op_t *op, int status, const char *detail,
                      const xacct_store_reply_t *r)
{
    xacct_customers_get_cb cb = (xacct_customers_get_cb)op->cb;
    if (status != 0) {
        cb(status, detail, NULL, op->arg);
        return;
    }
    xacct_customer_t c;
    xacct__customer_init(&c);
    bool has_state = false;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const char *name = r->element[i].str ? r->element[i].str : "";
        xacct__customer_set_field(&c, name, r->element[i + 1].str);
        has_state = has_state || strcmp(name, "state") == 0;
    }
    if (!has_state) {
        cb(XACCT_ENOTFOUND, "no such customer", NULL, op->arg);
        return;
    }
    cb(0, NULL, &c, op->arg);
}

int xacct_customers_get(xacct_store_t *s, const char *account_id, xacct_customers_get_cb cb,
                        void *arg)
{
    if (account_id == NULL || cb == NULL)
        return XACCT_EINVAL;
    return xacct__store_op_key(s, get_reply, XACCT_STORE_REPLY_ARRAY, XACCT__STORE_OP_FN(cb),
                               arg, "HGETALL", "customer:%s", account_id);
}

static const xacct_store_script_t list_script = {
    "customers_list",
    /* KEYS: 1 customers zset; ARGV: 1 prefix, 2 state ('' = all), 3 limit */
    "local out, limit = {}, tonumber(ARGV[3])\n"
    "for _, id in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, -1)) do\n"
    "  local h = redis.call('HMGET', ARGV[1] .. 'customer:' .. id, 'state', 'region',\n"
    "                       'topic_arn', 'updated_at', 'last_error')\n"
    "  if h[1] and (ARGV[2] == '' or h[1] == ARGV[2]) then\n"
    "    out[#out + 1] = {id, h[1], h[2] or '', h[3] or '', h[4] or '', h[5] or ''}\n"
    "    if #out >= limit then break end\n"
    "  end\n"
    "end\n"
    "return out\n",
};

static void list_reply(const xacct__store_op_t *op, int status, const char *detail,
                       const xacct_store_reply_t *r)
{
    xacct_customers_list_cb cb = (xacct_customers_list_cb)op->cb;
    if (status != 0) {
        cb(status, detail, NULL, 0, op->arg);
        return;
    }
    xacct_customer_summary_t *v = xacct_calloc(r->elements ? r->elements : 1, sizeof(*v));
    for (size_t i = 0; i < r->elements; i++) {
        const xacct_store_reply_t *e = &r->element[i];
        v[i].account_id = xacct__store_op_reply_str(e, 0);
        v[i].state = xacct_customer_state_from_name(xacct__store_op_reply_str(e, 1));
        v[i].region = xacct__store_op_reply_str(e, 2);
        v[i].topic_arn = xacct__store_op_reply_str(e, 3);
        v[i].updated_at = xacct__store_op_reply_str(e, 4);
        v[i].last_error = xacct__store_op_reply_str(e, 5);
    }
    cb(0, NULL, v, r->elements, op->arg);
    free(v);
}

int xacct_customers_list(xacct_store_t *s, const char *state, size_t limit,
                         xacct_customers_list_cb cb, void *arg)
{
    if (cb == NULL)
        return XACCT_EINVAL;
    if (limit == 0)
        limit = LIST_DEFAULT;
    if (limit > LIST_MAX)
        limit = LIST_MAX;
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_key(&a, s, "customers");
    xacct_store_args_str(&a, xacct_store_prefix(s));
    xacct_store_args_str(&a, state);
    xacct_store_args_ll(&a, (long long)limit);
    return xacct__store_op_run(s, &list_script, 1, &a, list_reply, XACCT_STORE_REPLY_ARRAY,
                               XACCT__STORE_OP_FN(cb), arg);
}

static void events_reply(const xacct__store_op_t *op, int status, const char *detail,
                         const xacct_store_reply_t *r)
{
    xacct_customers_events_cb cb = (xacct_customers_events_cb)op->cb;
    if (status != 0) {
        cb(status, detail, NULL, 0, op->arg);
        return;
    }
    xacct_customers_event_item_t *v = xacct_calloc(r->elements ? r->elements : 1, sizeof(*v));
    size_t n = 0;
    for (size_t i = 0; i < r->elements; i++) {
        const xacct_store_reply_t *e = xacct__store_op_entry_field(&r->element[i], "e");
        if (e == NULL || e->str == NULL)
            continue;
        v[n].id = xacct__store_op_reply_str(&r->element[i], 0);
        v[n].data = e->str;
        v[n].len = e->len;
        n++;
    }
    cb(0, NULL, v, n, op->arg);
    free(v);
}

int xacct_customers_events(xacct_store_t *s, const char *account_id, size_t count,
                           int newest_first, xacct_customers_events_cb cb, void *arg)
{
    if (account_id == NULL || cb == NULL)
        return XACCT_EINVAL;
    if (count == 0)
        count = EVENTS_DEFAULT;
    if (count > EVENTS_MAX)
        count = EVENTS_MAX;
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_str(&a, newest_first ? "XREVRANGE" : "XRANGE");
    xacct_store_args_key(&a, s, "events:%s", account_id);
    xacct_store_args_str(&a, newest_first ? "+" : "-");
    xacct_store_args_str(&a, newest_first ? "-" : "+");
    xacct_store_args_str(&a, "COUNT");
    xacct_store_args_ll(&a, (long long)count);
    return xacct__store_op_run(s, NULL, 0, &a, events_reply, XACCT_STORE_REPLY_ARRAY,
                               XACCT__STORE_OP_FN(cb), arg);
}

static const xacct_store_script_t audit_script = {
    "customer_audit",
    /* KEYS: 1 customer, 2 events; ARGV: 1 event */
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
    "redis.call('XADD', KEYS[2], 'MAXLEN', '~', '" XSTR(XACCT_EVENTS_MAXLEN) "', '*',"
    " 'e', ARGV[1])\n"
    "return 1\n",
};

static void audit_reply(const xacct__store_op_t *op, int status, const char *detail,
                        const xacct_store_reply_t *r)
{
    xacct_customers_done_cb cb = (xacct_customers_done_cb)op->cb;
    if (status == 0 && (r->type != XACCT_STORE_REPLY_INTEGER || r->integer != 1)) {
        status = XACCT_ENOTFOUND;
        detail = "no such customer";
    }
    cb(status, detail, op->arg);
}

int xacct_customers_audit(xacct_store_t *s, const char *account_id, const xacct_event_t *event,
                          xacct_customers_done_cb cb, void *arg)
{
    if (account_id == NULL || event == NULL || cb == NULL)
        return XACCT_EINVAL;
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_key(&a, s, "customer:%s", account_id);
    xacct_store_args_key(&a, s, "events:%s", account_id);
    int rc = xacct__store_op_args_event(&a, event);
    if (rc != 0) {
        xacct_store_args_destroy(&a);
        return rc;
    }
    return xacct__store_op_run(s, &audit_script, 2, &a, audit_reply, XACCT__STORE_OP_ANY,
                               XACCT__STORE_OP_FN(cb), arg);
}
