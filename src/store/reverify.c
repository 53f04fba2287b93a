/* SPDX-License-Identifier: MIT */
/*
 * The re-verification schedule on top of the store: the take script (due
 * accounts, leased atomically to one worker) and the record script (the
 * outcome of one check, the customer's state change, its audit event and the
 * next due time, together or not at all).
 */
#include "xacct/reverify.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/buf.h"
#include "xacct/customers.h"
#include "xacct/jitter.h"
#include "xacct/outbox.h"
#include "xacct/store_op.h"

#define STR_(x) #x
#define XSTR(x) STR_(x)

int64_t xacct_reverify_next_due(int64_t now_ms, long interval_s, double spread)
{
    if (interval_s <= 0)
        return 0;
    if (spread < 0)
        spread = 0;
    if (spread > 1)
        spread = 1;
    /* Jitter only spreads the dates (one draw per message): no RAND_bytes. */
    uint64_t r = xacct_jitter_u64();
    double u = (double)(r >> 11) / (double)(UINT64_C(1) << 53);
    double factor = 1.0 - spread + 2.0 * spread * u;
    int64_t due = now_ms + (int64_t)((double)interval_s * 1000.0 * factor);
    return due > now_ms ? due : now_ms + 1;
}

/* ------------------------------------------------------------------ */
/* Take                                                                 */

static const xacct_store_script_t take_script = {
    "reverify_take",
    /* KEYS: 1 reverify zset
     * ARGV: 1 now_ms, 2 max, 3 lease_until_ms, 4 prefix */
    XACCT__STORE_LUA_DUE("due", "ARGV[1]", "ARGV[2]")
    "local out = {}\n"
    "for _, id in ipairs(due) do\n"
    "  local h = redis.call('HMGET', ARGV[4] .. 'customer:' .. id, 'state', 'role_arn',\n"
    "                       'external_id', 'region', 'pending_external_id',\n"
    "                       'last_request_id')\n"
    "  if (h[1] == 'active' or h[1] == 'degraded') and h[2] and h[2] ~= '' and h[3] then\n"
    "    redis.call('ZADD', KEYS[1], ARGV[3], id)\n"
    "    out[#out + 1] = {id, h[1], h[2], h[3], h[4] or '', h[5] or '', h[6] or ''}\n"
    "  else\n"
    "    redis.call('ZREM', KEYS[1], id)\n"
    "  end\n"
    "end\n"
    XACCT__STORE_LUA_DUE_REPLY("out"),
};

static void take_reply(const xacct__store_op_t *op, int status, const char *detail,
                       const xacct_store_reply_t *r)
{
    xacct_reverify_take_cb cb = (xacct_reverify_take_cb)op->cb;
    const xacct_store_reply_t *list;
    long long first;
    if ((status = xacct__store_op_due_batch(r, status, &detail, &list, &first)) != 0) {
        cb(status, detail, NULL, 0, -1, op->arg);
        return;
    }
    xacct_reverify_item_t *v = xacct_calloc(list->elements ? list->elements : 1, sizeof(*v));
    for (size_t i = 0; i < list->elements; i++) {
        const xacct_store_reply_t *e = &list->element[i];
        v[i].account_id = xacct__store_op_reply_str(e, 0);
        v[i].state = xacct__store_op_reply_str(e, 1);
        v[i].role_arn = xacct__store_op_reply_str(e, 2);
        v[i].external_id = xacct__store_op_reply_str(e, 3);
        v[i].region = xacct__store_op_reply_str(e, 4);
        v[i].pending_external_id = xacct__store_op_reply_str(e, 5);
        v[i].last_request_id = xacct__store_op_reply_str(e, 6);
    }
    cb(0, NULL, v, list->elements, (int64_t)first, op->arg);
    free(v);
}

int xacct_reverify_take(xacct_store_t *s, int64_t now_ms, size_t max, int64_t lease_until_ms,
                        xacct_reverify_take_cb cb, void *arg)
{
    xacct_store_args_t a;
    if (cb == NULL ||
        xacct__store_op_args_take(&a, s, "reverify", now_ms, max, lease_until_ms) != 0)
        return XACCT_EINVAL;
    xacct_store_args_str(&a, xacct_store_prefix(s));
    return xacct__store_op_run(s, &take_script, 1, &a, take_reply, XACCT_STORE_REPLY_ARRAY,
                               XACCT__STORE_OP_FN(cb), arg);
}

/* ------------------------------------------------------------------ */
/* Record                                                               */

static const xacct_store_script_t record_script = {
    "reverify_record",
    /* KEYS: 1 customer, 2 reverify zset, 3 customers zset, 4 events, 5 outbox
     * ARGV: 1 account, 2 outcome (secure, drifted, unknown), 3 reason,
     *       4 now_iso, 5 now_ms, 6 next_due_ms, 7 role_arn checked,
     *       8 external_id checked, 9 degraded event, 10 recovered event,
     *       11 pending_external_id checked ('' = none), 12 the audit event of a
     *       pass with the pending ID ('' = passed with the current one),
     *       13 '1' when 14 is the last_request_id taken ('' = not compared) */
    /* The lifecycle events customer.degraded and customer.recovered (SPEC
     * §8), appended to the outbox in this same script. */
    XACCT_OUTBOX_LUA
    "local function lifecycle_event(kind)\n"
    "  outbox_append(KEYS[5], KEYS[1], ARGV[1], kind, ARGV[4], ARGV[3] ~= '' and ARGV[3] or nil)\n"
    "end\n"
    "local function audit(ev)\n"
    "  redis.call('XADD', KEYS[4], 'MAXLEN', '~', '" XSTR(XACCT_EVENTS_MAXLEN) "', '*', 'e', ev)\n"
    "end\n"
    "local cur = redis.call('HMGET', KEYS[1], 'state', 'role_arn', 'external_id', 'last_error',\n"
    "                       'pending_external_id', 'last_request_id')\n"
    "local st = cur[1]\n"
    "if st ~= 'active' and st ~= 'degraded' then\n"
    "  redis.call('ZREM', KEYS[2], ARGV[1])\n"
    "  return 'gone'\n"
    "end\n"
    /* An Update or a rotation replaced what was checked, or an Update
     * verified the role while this check ran (its outcome is newer than
     * this one's): check again soon. */
    "if cur[2] ~= ARGV[7] or cur[3] ~= ARGV[8] or (cur[5] or '') ~= ARGV[11] or\n"
    "   (ARGV[13] == '1' and (cur[6] or '') ~= ARGV[14]) then\n"
    "  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])\n"
    "  return 'stale'\n"
    "end\n"
    "redis.call('ZADD', KEYS[2], ARGV[6], ARGV[1])\n"
    "if ARGV[2] == 'unknown' then return 'rescheduled' end\n"
    "if ARGV[2] == 'secure' then\n"
    "  redis.call('HSET', KEYS[1], 'verified_at', ARGV[4])\n"
    /* The role already trusts the pending ID: said in the audit trail; the
     * swap itself waits for the stack's Update (SPEC §9.3). */
    "  if ARGV[12] ~= '' then audit(ARGV[12]) end\n"
    "  if st == 'active' then return 'verified' end\n"
    "  redis.call('HSET', KEYS[1], 'state', 'active', 'last_error', '', 'updated_at', ARGV[4])\n"
    "  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])\n"
    "  audit(ARGV[10])\n"
    "  lifecycle_event('customer.recovered')\n"
    "  return 'recovered'\n"
    "end\n"
    "if st == 'degraded' then\n"
    "  if cur[4] ~= ARGV[3] then redis.call('HSET', KEYS[1], 'last_error', ARGV[3]) end\n"
    "  return 'still_degraded'\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'state', 'degraded', 'last_error', ARGV[3], 'updated_at',"
    " ARGV[4])\n"
    "redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])\n"
    "audit(ARGV[9])\n"
    "lifecycle_event('customer.degraded')\n"
    "return 'degraded'\n",
};

static const struct {
    const char *word;
    xacct_reverify_result_t result;
} record_words[] = {
    {"verified", XACCT_REVERIFY_VERIFIED},
    {"recovered", XACCT_REVERIFY_RECOVERED},
    {"degraded", XACCT_REVERIFY_DEGRADED},
    {"still_degraded", XACCT_REVERIFY_STILL_DEGRADED},
    {"rescheduled", XACCT_REVERIFY_RESCHEDULED},
    {"stale", XACCT_REVERIFY_STALE},
    {"gone", XACCT_REVERIFY_GONE},
};

const char *xacct_reverify_result_name(xacct_reverify_result_t r)
{
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(record_words); i++)
        if (record_words[i].result == r)
            return record_words[i].word;
    return "unknown";
}

static void record_reply(const xacct__store_op_t *op, int status, const char *detail,
                         const xacct_store_reply_t *r)
{
    xacct_reverify_record_cb cb = (xacct_reverify_record_cb)op->cb;
    if (status != 0) {
        cb(status, detail, 0, op->arg);
        return;
    }
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(record_words); i++)
        if (xacct_store_reply_is(r, record_words[i].word)) {
            cb(0, NULL, record_words[i].result, op->arg);
            return;
        }
    cb(XACCT_EPARSE, "unexpected reverify_record reply", 0, op->arg);
}

static const char *outcome_word(xacct_reverify_outcome_t o)
{
    switch (o) {
    case XACCT_REVERIFY_SECURE:
        return "secure";
    case XACCT_REVERIFY_DRIFTED:
        return "drifted";
    case XACCT_REVERIFY_UNKNOWN:
        return "unknown";
    }
    return NULL;
}

int xacct_reverify_record(xacct_store_t *s, const xacct_reverify_record_t *in,
                          xacct_reverify_record_cb cb, void *arg)
{
    if (s == NULL || in == NULL || cb == NULL || in->account_id == NULL ||
        in->role_arn == NULL || in->external_id == NULL || in->next_due_ms <= 0 ||
        in->degraded_event == NULL || in->recovered_event == NULL ||
        outcome_word(in->outcome) == NULL)
        return XACCT_EINVAL;
    const char *pending = in->pending_external_id ? in->pending_external_id : "";
    if (in->pending_trusted_event != NULL &&
        (pending[0] == '\0' || in->outcome != XACCT_REVERIFY_SECURE))
        return XACCT_EINVAL;
    int64_t now = in->now_ms ? in->now_ms : xacct_store_now_ms();
    char iso[XACCT_STORE_ISO_LEN];
    xacct_store_iso8601(now, iso);
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_key(&a, s, "customer:%s", in->account_id);
    xacct_store_args_key(&a, s, "reverify");
    xacct_store_args_key(&a, s, "customers");
    xacct_store_args_key(&a, s, "events:%s", in->account_id);
    xacct_store_args_key(&a, s, "outbox");
    xacct_store_args_str(&a, in->account_id);
    xacct_store_args_str(&a, outcome_word(in->outcome));
    xacct_store_args_str(&a, in->reason);
    xacct_store_args_str(&a, iso);
    xacct_store_args_ll(&a, (long long)now);
    xacct_store_args_ll(&a, (long long)in->next_due_ms);
    xacct_store_args_str(&a, in->role_arn);
    xacct_store_args_str(&a, in->external_id);
    int rc = xacct__store_op_args_event(&a, in->degraded_event);
    if (rc == 0)
        rc = xacct__store_op_args_event(&a, in->recovered_event);
    xacct_store_args_str(&a, pending);
    if (rc == 0 && in->pending_trusted_event != NULL)
        rc = xacct__store_op_args_event(&a, in->pending_trusted_event);
    else
        xacct_store_args_str(&a, "");
    if (rc != 0) {
        xacct_store_args_destroy(&a);
        return rc;
    }
    xacct_store_args_str(&a, in->last_request_id != NULL ? "1" : "");
    xacct_store_args_str(&a, in->last_request_id != NULL ? in->last_request_id : "");
    return xacct__store_op_run(s, &record_script, 5, &a, record_reply, XACCT__STORE_OP_ANY,
                               XACCT__STORE_OP_FN(cb), arg);
}

/* ------------------------------------------------------------------ */
/* Enrolment of connected customers missing from the schedule, or due  */
/* later than today's interval allows                                  */

static const xacct_store_script_t enrol_script = {
    "reverify_enrol_missing",
    /* KEYS: 1 customers zset, 2 reverify zset
     * ARGV: 1 cursor, 2 batch, 3 now_ms, 4 interval_ms, 5 prefix, 6 random seed,
     *       7 latest acceptable due ms (0 = any) */
    "math.randomseed(tonumber(ARGV[6]))\n"
    "local latest = tonumber(ARGV[7])\n"
    XACCT__STORE_LUA_SCAN_CUSTOMERS
    "local n = 0\n"
    "for i = 1, #page, 2 do\n"
    "  local id = page[i]\n"
    "  local st = redis.call('HGET', ARGV[5] .. 'customer:' .. id, 'state')\n"
    "  if st == 'active' or st == 'degraded' then\n"
    "    local cur = redis.call('ZSCORE', KEYS[2], id)\n"
    "    if not cur or (latest > 0 and tonumber(cur) > latest) then\n"
    "      local due = tonumber(ARGV[3]) + math.floor(math.random() * tonumber(ARGV[4]))\n"
    "      redis.call('ZADD', KEYS[2], due, id)\n"
    "      n = n + 1\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return {n, next}\n",
};

int xacct_reverify_enrol_missing(xacct_store_t *s, long long cursor, long long batch,
                                 long interval_s, int64_t latest_due_ms,
                                 xacct_reverify_enrol_cb cb, void *arg)
{
    if (s == NULL || cb == NULL || cursor < 0 || batch <= 0 || interval_s <= 0 ||
        latest_due_ms < 0)
        return XACCT_EINVAL;
    uint32_t seed = 0;
    if (RAND_bytes((unsigned char *)&seed, sizeof(seed)) != 1)
        seed = (uint32_t)xacct_store_now_ms();
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_key(&a, s, "customers");
    xacct_store_args_key(&a, s, "reverify");
    xacct_store_args_ll(&a, cursor);
    xacct_store_args_ll(&a, batch);
    xacct_store_args_ll(&a, (long long)xacct_store_now_ms());
    xacct_store_args_ll(&a, (long long)interval_s * 1000);
    xacct_store_args_str(&a, xacct_store_prefix(s));
    xacct_store_args_ll(&a, (long long)(seed & 0x7fffffff));
    xacct_store_args_ll(&a, (long long)latest_due_ms);
    return xacct__store_op_run(s, &enrol_script, 2, &a, xacct__store_op_enrol_reply,
                               XACCT_STORE_REPLY_ARRAY, XACCT__STORE_OP_FN(cb), arg);
}
