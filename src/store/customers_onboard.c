/* SPDX-License-Identifier: MIT */
/*
 * Issuing external IDs on a customer record: onboarding (a new or re-opened
 * pending customer) and rotation (SPEC §9.3), each one Lua script that
 * indexes the new ID, unindexes what it replaces and appends the audit and
 * lifecycle events. An ID can be reserved first (its index key held with a
 * lease and an entry on the reservations zset, nothing else written) while
 * the AWS side is put in place, then committed by those scripts, or
 * released: a failure half-way leaves the record as it was (SPEC §7:
 * nothing is half-done), and a reservation whose holder died is released by
 * the workers once its lease has ended (customers_lapsed.c).
 */
#include "xacct/customers.h"

#include <stdlib.h>

#include "customers_int.h"
#include "xacct/outbox.h"
#include "xacct/store_op.h"

#define UNINDEX_OLD_LUA                                                  \
    "local function unindex(old)\n"                                      \
    "  if old and old ~= '' and old ~= ARGV[2] then\n"                   \
    "    local k = ARGV[6] .. 'external-id:' .. old\n"                   \
    "    if redis.call('GET', k) == ARGV[1] then redis.call('DEL', k) end\n" \
    "  end\n"                                                            \
    "end\n"

/* The new ID's index: free, or reserved for this account (a lease on it;
 * then kept for good); another account's, or one this account has in use
 * (no lease), means the ID is taken. */
#define TAKE_INDEX_LUA                                                                             \
    "local function index_taken()\n"                                                               \
    "  local holder = redis.call('GET', KEYS[2])\n"                                                \
    "  return holder and (holder ~= ARGV[1] or redis.call('PTTL', KEYS[2]) < 0)\n"                 \
    "end\n"                                                                                        \
    "local function take_index()\n"                                                                \
    "  if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PERSIST', KEYS[2])\n"                \
    "  else redis.call('SET', KEYS[2], ARGV[1]) end\n"                                             \
    "end\n"

/* A commit of a reserved ID (ARGV[13] '1') needs its reservation still on
 * the reservations zset KEYS[8]: once the workers have released a lapsed
 * one (taken the account off the topic, queued the template's deletion and
 * the policy's rewrite), committing it would store an onboarding whose AWS
 * side is being taken down. The member names the topic once one was
 * assigned (ARGV[8]). */
#define RESERVATION_LUA                                                                            \
    "local function reservation_gone()\n"                                                          \
    "  if ARGV[13] ~= '1' then return false end\n"                                                 \
    "  local m = ARGV[1] .. '|' .. ARGV[2] .. '|'\n"                                               \
    "  return not redis.call('ZSCORE', KEYS[8], m) and\n"                                          \
    "         not redis.call('ZSCORE', KEYS[8], m .. ARGV[8])\n"                                   \
    "end\n"                                                                                        \
    "local function reservation_done()\n"                                                          \
    "  local m = ARGV[1] .. '|' .. ARGV[2] .. '|'\n"                                               \
    "  redis.call('ZREM', KEYS[8], m, m .. ARGV[8])\n"                                             \
    "end\n"

/* The topic the caller allowed the account to publish to (topic_assign put
 * it in that set already), recorded on the customer. Returns the topic it
 * left ('' none): that topic's policy still names the account until it is
 * rewritten. The account is normally in the topic's set already; when it
 * is not (another reservation of the account given up meanwhile took it
 * out, and the policy is being rewritten without it), its policy is queued
 * to be written again from the set. */
#define RECORD_TOPIC_LUA                                                                           \
    "local function record_topic(topic, prev)\n"                                                   \
    "  if topic == '' then return '' end\n"                                                        \
    "  local left = ''\n"                                                                          \
    "  if prev and prev ~= '' and prev ~= topic and\n"                                             \
    "     redis.call('SREM', ARGV[6] .. 'topic:' .. prev, ARGV[1]) == 1 then\n"                    \
    "    left = prev\n"                                                                            \
    "  end\n"                                                                                      \
    "  if redis.call('SADD', ARGV[6] .. 'topic:' .. topic, ARGV[1]) == 1 then\n"                   \
    "    queue_cleanup(KEYS[7], '', topic)\n"                                                      \
    "  end\n"                                                                                      \
    "  redis.call('HSET', KEYS[1], 'topic_arn', topic)\n"                                          \
    "  return left\n"                                                                              \
    "end\n"

/* What AWS still holds for an ID given up or a topic left goes to the
 * cleanup zset (expiry.h), due now: the workers delete the ID's template
 * ('' none) and rewrite the topic's policy ('' none), with retries. */
#define QUEUE_CLEANUP_LUA                                                \
    "local function queue_cleanup(ckey, id, topic)\n"                    \
    "  if id == '' and topic == '' then return end\n"                    \
    "  redis.call('ZADD', ckey, ARGV[4], ARGV[1] .. '|' .. id .. '|' .. topic)\n" \
    "end\n"

static const xacct_store_script_t onboard_script = {
    "customer_onboard",
    /* KEYS: 1 customer, 2 external-id:<new>, 3 customers, 4 events, 5 outbox,
     *       6 pending, 7 cleanup (expiry.h), 8 reservations
     * ARGV: 1 account, 2 new id, 3 now_iso, 4 now_ms, 5 event, 6 prefix,
     *       7 region ('' = leave as it is), 8 topic ('' = leave as it is),
     *       9-12 (rotate), 13 '1' = commit of a reservation */
    UNINDEX_OLD_LUA
    TAKE_INDEX_LUA
    RESERVATION_LUA
    QUEUE_CLEANUP_LUA
    RECORD_TOPIC_LUA
    XACCT_OUTBOX_LUA
    "local cur = redis.call('HMGET', KEYS[1], 'state', 'external_id', 'created_at',\n"
    "                       'pending_external_id', 'topic_arn')\n"
    "local st = cur[1]\n"
    /* SPEC §5: only a closed record opens again (a state no version writes
     * is not one). */
    "local reopens = {offboarded = true, expired = true, cancelled = true, rejected = true}\n"
    "if st and not reopens[st] then return {'state', st} end\n"
    "if index_taken() then return {'collision', st or ''} end\n"
    "if reservation_gone() then return {'lapsed', st or ''} end\n"
    "take_index()\n"
    "reservation_done()\n"
    "unindex(cur[2])\n"
    /* A rotation still pending when the stack went away ends with it, and
     * what described that stack goes too: a new onboarding starts bare. */
    "if cur[4] and cur[4] ~= cur[2] then unindex(cur[4]) end\n"
    "redis.call('HDEL', KEYS[1], 'pending_external_id', 'role_arn', 'stack_id', 'physical_id',\n"
    "           'template_version', 'verified_at')\n"
    "redis.call('HSET', KEYS[1], 'account_id', ARGV[1], 'external_id', ARGV[2],\n"
    "           'state', 'pending', 'updated_at', ARGV[3], 'last_error', '',\n"
    "           'last_request_id', '')\n"
    "if not cur[3] then redis.call('HSET', KEYS[1], 'created_at', ARGV[3]) end\n"
    /* The onboarding's region before its event is built from the record. */
    "if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'region', ARGV[7]) end\n"
    /* A rejected customer's template stayed for a stack launched again
     * from it; the new ID retires it. (The other closed states removed
     * theirs when they closed.) */
    "local retired = ''\n"
    "if st == 'rejected' and cur[2] and cur[2] ~= ARGV[2] then retired = cur[2] end\n"
    "queue_cleanup(KEYS[7], retired, record_topic(ARGV[8], cur[5]))\n"
    "redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])\n"
    "redis.call('XADD', KEYS[4], 'MAXLEN', '~', '" XACCT__XSTR(XACCT_EVENTS_MAXLEN) "', '*',"
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
    /* same KEYS and ARGV as onboard (KEYS[6] and ARGV[7] unused), and
     * ARGV: 9 '1' = the record must still be as the caller read it:
     *       10 external_id, 11 pending_external_id ('' none), 12 connected '1'/'0'
     * (the caller removes the template of the ID the new one supersedes) */
    UNINDEX_OLD_LUA
    TAKE_INDEX_LUA
    RESERVATION_LUA
    QUEUE_CLEANUP_LUA
    RECORD_TOPIC_LUA
    XACCT_OUTBOX_LUA
    "local cur = redis.call('HMGET', KEYS[1], 'state', 'external_id', 'pending_external_id',\n"
    "                       'topic_arn')\n"
    "local st = cur[1]\n"
    "if not st then return {'notfound', ''} end\n"
    "local connected = st == 'active' or st == 'degraded'\n"
    "if not connected and st ~= 'pending' and st ~= 'rejected' then return {'state', st} end\n"
    /* Another rotation, or a stack's Create, came first: the template the
     * caller made is for a record that is no longer there. */
    "if ARGV[9] == '1' and ((cur[2] or '') ~= ARGV[10] or (cur[3] or '') ~= ARGV[11] or\n"
    "    (connected and '1' or '0') ~= ARGV[12]) then return {'changed', st} end\n"
    "if index_taken() then return {'collision', st} end\n"
    "if reservation_gone() then return {'lapsed', st} end\n"
    "take_index()\n"
    "reservation_done()\n"
    "queue_cleanup(KEYS[7], '', record_topic(ARGV[8], cur[4]))\n"
    "if cur[3] and cur[3] ~= cur[2] then unindex(cur[3]) end\n"
    "if connected then\n"
    "  redis.call('HSET', KEYS[1], 'pending_external_id', ARGV[2], 'updated_at', ARGV[3])\n"
    "else\n"
    "  unindex(cur[2])\n"
    "  redis.call('HSET', KEYS[1], 'external_id', ARGV[2], 'updated_at', ARGV[3])\n"
    "  redis.call('HDEL', KEYS[1], 'pending_external_id')\n"
    "end\n"
    "redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])\n"
    "redis.call('XADD', KEYS[4], 'MAXLEN', '~', '" XACCT__XSTR(XACCT_EVENTS_MAXLEN) "', '*',"
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
    xacct__customers_word_text(r, &w, &prev);
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
    else if (xacct_store_reply_is(w, "changed"))
        cb(XACCT_EAGAIN, "the customer's external ID or state changed meanwhile", prev,
           op->arg);
    else if (xacct_store_reply_is(w, "lapsed"))
        cb(XACCT_EAGAIN, "the external ID's reservation ran out and was given up", prev, op->arg);
    else
        cb(XACCT_EPARSE, "unexpected onboard script reply", "", op->arg);
    free(prev);
}

static int onboard_like(xacct_store_t *s, const xacct_store_script_t *script,
                        const char *account_id, const char *external_id, const char *region,
                        const char *topic_arn, const xacct_customers_expect_t *expect,
                        bool reserved, const xacct_event_t *event, xacct_customers_onboard_cb cb,
                        void *arg)
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
    xacct_store_args_key(&a, s, "cleanup");
    xacct_store_args_key(&a, s, "reservations");
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
    xacct_store_args_str(&a, region ? region : "");
    xacct_store_args_str(&a, topic_arn ? topic_arn : "");
    xacct_store_args_str(&a, expect != NULL ? "1" : "0");
    xacct_store_args_str(&a, expect != NULL && expect->external_id ? expect->external_id : "");
    xacct_store_args_str(&a, expect != NULL && expect->pending_external_id
                                 ? expect->pending_external_id
                                 : "");
    xacct_store_args_str(&a, expect != NULL && expect->connected ? "1" : "0");
    xacct_store_args_str(&a, reserved ? "1" : "0");
    return xacct__store_op_run(s, script, 8, &a, onboard_reply, XACCT__STORE_OP_ANY,
                               XACCT__STORE_OP_FN(cb), arg);
}

int xacct_customers_onboard(xacct_store_t *s, const char *account_id, const char *external_id,
                            const char *region, const xacct_event_t *event,
                            xacct_customers_onboard_cb cb, void *arg)
{
    return onboard_like(s, &onboard_script, account_id, external_id, region, NULL, NULL, false,
                        event, cb, arg);
}

int xacct_customers_onboard_commit(xacct_store_t *s, const char *account_id,
                                   const char *external_id, const char *region,
                                   const char *topic_arn, const xacct_event_t *event,
                                   xacct_customers_onboard_cb cb, void *arg)
{
    return onboard_like(s, &onboard_script, account_id, external_id, region, topic_arn, NULL, true,
                        event, cb, arg);
}

int xacct_customers_rotate(xacct_store_t *s, const char *account_id, const char *new_external_id,
                           const xacct_event_t *event, xacct_customers_onboard_cb cb, void *arg)
{
    return onboard_like(s, &rotate_script, account_id, new_external_id, NULL, NULL, NULL, false,
                        event, cb, arg);
}

int xacct_customers_rotate_commit(xacct_store_t *s, const char *account_id,
                                  const char *new_external_id, const char *topic_arn,
                                  const xacct_customers_expect_t *expect,
                                  const xacct_event_t *event, xacct_customers_onboard_cb cb,
                                  void *arg)
{
    if (expect == NULL)
        return XACCT_EINVAL;
    return onboard_like(s, &rotate_script, account_id, new_external_id, NULL, topic_arn, expect,
                        true, event, cb, arg);
}

/* ---- reserving an ID before the AWS side is in place ---------------------- */

/* The reserve and release scripts' first KEYS: customer, external-id:<id>,
 * reservations. */
static void id_keys(xacct_store_args_t *a, xacct_store_t *s, const char *account_id,
                    const char *external_id)
{
    xacct_store_args_init(a);
    xacct_store_args_key(a, s, "customer:%s", account_id);
    xacct_store_args_key(a, s, "external-id:%s", external_id);
    xacct_store_args_key(a, s, "reservations");
}

/* The index key's lease keeps the ID unique; the reservations entry, due
 * when the lease ends, is what lets the workers undo the rest should the
 * reserving process die before its commit or release (customers_lapsed.c). */
static const xacct_store_script_t reserve_script = {
    "customer_reserve_id",
    /* KEYS: 1 customer, 2 external-id:<id>, 3 reservations
     * ARGV: 1 account, 2 lease ms, 3 'rotate' or 'onboard', 4 id, 5 lease end ms */
    "local st = redis.call('HGET', KEYS[1], 'state')\n"
    "if ARGV[3] == 'rotate' then\n"
    "  if not st then return {'notfound', ''} end\n"
    "  if st ~= 'active' and st ~= 'degraded' and st ~= 'pending' and st ~= 'rejected' then\n"
    "    return {'state', st} end\n"
    "else\n"
    "  local reopens = {offboarded = true, expired = true, cancelled = true, rejected = true}\n"
    "  if st and not reopens[st] then return {'state', st} end\n"
    "end\n"
    "if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then\n"
    "  return {'collision', st or ''} end\n"
    "redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1] .. '|' .. ARGV[4] .. '|')\n"
    "return {'ok', st or ''}\n",
};

int xacct_customers_reserve_id(xacct_store_t *s, const char *account_id, const char *external_id,
                               bool rotate, long long lease_ms, xacct_customers_onboard_cb cb,
                               void *arg)
{
    if (account_id == NULL || account_id[0] == '\0' || external_id == NULL ||
        external_id[0] == '\0' || lease_ms <= 0 || cb == NULL)
        return XACCT_EINVAL;
    xacct_store_args_t a;
    id_keys(&a, s, account_id, external_id);
    xacct_store_args_str(&a, account_id);
    xacct_store_args_ll(&a, lease_ms);
    xacct_store_args_str(&a, rotate ? "rotate" : "onboard");
    xacct_store_args_str(&a, external_id);
    xacct_store_args_ll(&a, (long long)xacct_store_now_ms() + lease_ms);
    return xacct__store_op_run(s, &reserve_script, 3, &a, onboard_reply, XACCT__STORE_OP_ANY,
                               XACCT__STORE_OP_FN(cb), arg);
}

static const xacct_store_script_t release_script = {
    "customer_release_id",
    /* KEYS: 1 customer, 2 external-id:<id>, 3 reservations, 4 cleanup
     * ARGV: 1 account, 2 id, 3 prefix, 4 topic the reservation was allowed on ('' none),
     *       5 '1' = the ID's template may be in the bucket still, 6 now_ms */
    XACCT__RELEASE_ID_LUA
    "local m = ARGV[1] .. '|' .. ARGV[2] .. '|'\n"
    "redis.call('ZREM', KEYS[3], m, m .. ARGV[4])\n"
    "return release_id(ARGV[3], ARGV[1], ARGV[2], ARGV[4], ARGV[5] == '1', KEYS[4], ARGV[6])\n",
};

static void release_reply(const xacct__store_op_t *op, int status, const char *detail,
                          const xacct_store_reply_t *r)
{
    (void)r;
    ((xacct_customers_done_cb)op->cb)(status, detail, op->arg);
}

int xacct_customers_release_id(xacct_store_t *s, const char *account_id, const char *external_id,
                               const char *topic_arn, bool template_left,
                               xacct_customers_done_cb cb, void *arg)
{
    if (account_id == NULL || account_id[0] == '\0' || external_id == NULL ||
        external_id[0] == '\0' || cb == NULL)
        return XACCT_EINVAL;
    xacct_store_args_t a;
    id_keys(&a, s, account_id, external_id);
    xacct_store_args_key(&a, s, "cleanup");
    xacct_store_args_str(&a, account_id);
    xacct_store_args_str(&a, external_id);
    xacct_store_args_str(&a, xacct_store_prefix(s));
    xacct_store_args_str(&a, topic_arn ? topic_arn : "");
    xacct_store_args_str(&a, template_left ? "1" : "0");
    xacct_store_args_ll(&a, (long long)xacct_store_now_ms());
    return xacct__store_op_run(s, &release_script, 4, &a, release_reply, XACCT__STORE_OP_ANY,
                               XACCT__STORE_OP_FN(cb), arg);
}
