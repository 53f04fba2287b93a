/* SPDX-License-Identifier: MIT */
/*
 * Closing abandoned onboardings on top of the store: the script that expires
 * due pending customers, the one that cancels one, the enrolment of pending
 * customers onboarded before expiry existed, and the cleanup zset's take,
 * done and retry scripts. Expiry and cancel share one Lua function, so both
 * close an onboarding the same way.
 */
#include "xacct/expiry.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/customers.h"
#include "xacct/outbox.h"
#include "xacct/store_op.h"

#define STR_(x) #x
#define XSTR(x) STR_(x)

/* ---- pure helpers ---------------------------------------------------------- */

int64_t xacct_expiry_cutoff_ms(int64_t now_ms, long ttl_s)
{
    if (ttl_s <= 0)
        return -1;
    return now_ms - (int64_t)ttl_s * 1000;
}

int xacct_expiry_cleanup_parse(const char *member, xacct_expiry_cleanup_t *out)
{
    memset(out, 0, sizeof(*out));
    if (member == NULL)
        return XACCT_EINVAL;
    const char *bar1 = strchr(member, '|');
    const char *bar2 = bar1 ? strchr(bar1 + 1, '|') : NULL;
    if (bar2 == NULL)
        return XACCT_EINVAL;
    size_t alen = (size_t)(bar1 - member), elen = (size_t)(bar2 - bar1 - 1);
    size_t tlen = strlen(bar2 + 1);
    if (alen != 12 || elen >= sizeof(out->external_id) || tlen >= sizeof(out->topic_arn) ||
        strchr(bar2 + 1, '|') != NULL)
        return XACCT_EINVAL;
    memcpy(out->account_id, member, alen);
    if (!xacct_account_id_valid(out->account_id)) {
        memset(out, 0, sizeof(*out));
        return XACCT_EINVAL;
    }
    memcpy(out->external_id, bar1 + 1, elen);
    memcpy(out->topic_arn, bar2 + 1, tlen);
    return 0;
}

/* ---- closing a pending customer ---------------------------------------------- */

/*
 * close_pending(ckey, account, to, now_iso, now_ms, ev, reason, prefix,
 *               customers_key, outbox_key, cleanup_key, pending_key, cleanup_due_ms)
 * The caller has checked that the record is pending. Returns the cleanup
 * member.
 */
#define CLOSE_PENDING_LUA                                                                    \
    XACCT_OUTBOX_LUA                                                                         \
    "local function close_pending(ckey, account, to, now_iso, now_ms, ev, reason, prefix,\n"  \
    "                             customers, outbox, cleanup, pending, due)\n"               \
    "  local h = redis.call('HMGET', ckey, 'external_id', 'topic_arn', 'pending_external_id')\n" \
    "  local function unindex(id)\n"                                                         \
    "    if id and id ~= '' then\n"                                                          \
    "      local k = prefix .. 'external-id:' .. id\n"                                       \
    "      if redis.call('GET', k) == account then redis.call('DEL', k) end\n"               \
    "    end\n"                                                                              \
    "  end\n"                                                                                \
    "  unindex(h[1])\n"                                                                      \
    "  unindex(h[3])\n"                                                                      \
    "  local topic = h[2] or ''\n"                                                           \
    "  if topic ~= '' then redis.call('SREM', prefix .. 'topic:' .. topic, account) end\n"   \
    "  redis.call('HSET', ckey, 'state', to, 'updated_at', now_iso)\n"                       \
    "  redis.call('ZADD', customers, now_ms, account)\n"                                     \
    "  redis.call('ZREM', pending, account)\n"                                               \
    "  redis.call('XADD', prefix .. 'events:' .. account, 'MAXLEN', '~', '"                  \
    XSTR(XACCT_EVENTS_MAXLEN) "', '*', 'e', ev)\n"                                           \
    "  outbox_append(outbox, ckey, account, 'customer.' .. to, now_iso, reason)\n"           \
    "  local member = account .. '|' .. (h[1] or '') .. '|' .. topic\n"                      \
    "  redis.call('ZADD', cleanup, due, member)\n"                                        \
    "  return member\n"                                                                      \
    "end\n"

/* The arguments both closing scripts go on with: the event, the reason and
 * the key prefix. On failure a is destroyed. */
static int args_close(xacct_store_args_t *a, const xacct_store_t *s, const xacct_event_t *event,
                      const char *reason)
{
    int rc = xacct__store_op_args_event(a, event);
    if (rc != 0) {
        xacct_store_args_destroy(a);
        return rc;
    }
    xacct_store_args_str(a, reason ? reason : "");
    xacct_store_args_str(a, xacct_store_prefix(s));
    return 0;
}

static const xacct_store_script_t take_script = {
    "expiry_take",
    /* KEYS: 1 pending, 2 customers, 3 outbox, 4 cleanup
     * ARGV: 1 now_iso, 2 now_ms, 3 cutoff_ms, 4 max, 5 event, 6 reason, 7 prefix */
    CLOSE_PENDING_LUA
    XACCT__STORE_LUA_DUE("ids", "ARGV[3]", "ARGV[4]")
    "local n = 0\n"
    "for _, id in ipairs(ids) do\n"
    "  local ckey = ARGV[7] .. 'customer:' .. id\n"
    "  if redis.call('HGET', ckey, 'state') == 'pending' then\n"
    "    close_pending(ckey, id, 'expired', ARGV[1], ARGV[2], ARGV[5], ARGV[6], ARGV[7],\n"
    "                  KEYS[2], KEYS[3], KEYS[4], KEYS[1], ARGV[2])\n"
    "    n = n + 1\n"
    "  else\n"
    "    redis.call('ZREM', KEYS[1], id)\n"
    "  end\n"
    "end\n"
    XACCT__STORE_LUA_DUE_REPLY("n, #ids"),
};

int xacct_expiry_take(xacct_store_t *s, int64_t now_ms, int64_t cutoff_ms, size_t max,
                      const xacct_event_t *event, const char *reason, xacct_expiry_take_cb cb,
                      void *arg)
{
    if (s == NULL || cb == NULL || event == NULL || max == 0 || cutoff_ms < 0)
        return XACCT_EINVAL;
    char iso[XACCT_STORE_ISO_LEN];
    xacct_store_iso8601(now_ms, iso);
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_key(&a, s, "pending");
    xacct_store_args_key(&a, s, "customers");
    xacct_store_args_key(&a, s, "outbox");
    xacct_store_args_key(&a, s, "cleanup");
    xacct_store_args_str(&a, iso);
    xacct_store_args_ll(&a, (long long)now_ms);
    xacct_store_args_ll(&a, (long long)cutoff_ms);
    xacct_store_args_ll(&a, (long long)max);
    int rc = args_close(&a, s, event, reason);
    if (rc != 0)
        return rc;
    return xacct__store_op_run(s, &take_script, 4, &a, xacct__store_op_due_counts_reply,
                               XACCT_STORE_REPLY_ARRAY, XACCT__STORE_OP_FN(cb), arg);
}

static const xacct_store_script_t cancel_script = {
    "expiry_cancel",
    /* KEYS: 1 customer, 2 pending, 3 customers, 4 outbox, 5 cleanup
     * ARGV: 1 account, 2 now_iso, 3 now_ms, 4 event, 5 reason, 6 prefix,
     *       7 cleanup due ms */
    CLOSE_PENDING_LUA
    "local h = redis.call('HMGET', KEYS[1], 'state', 'external_id', 'topic_arn')\n"
    "local st = h[1]\n"
    "if not st then return {'notfound', ''} end\n"
    "if st == 'cancelled' then\n"
    /* Repeating a cancel finishes its clean-up if that is still due. */
    "  local member = ARGV[1] .. '|' .. (h[2] or '') .. '|' .. (h[3] or '')\n"
    "  if redis.call('ZSCORE', KEYS[5], member) then return {'already', st, member} end\n"
    "  return {'already', st, ''}\n"
    "end\n"
    "if st ~= 'pending' then return {'state', st} end\n"
    "local member = close_pending(KEYS[1], ARGV[1], 'cancelled', ARGV[2], ARGV[3], ARGV[4],\n"
    "                             ARGV[5], ARGV[6], KEYS[3], KEYS[4], KEYS[5], KEYS[2],\n"
    "                             ARGV[7])\n"
    "return {'ok', 'cancelled', member}\n",
};

static void cancel_reply(const xacct__store_op_t *op, int status, const char *detail,
                         const xacct_store_reply_t *r)
{
    xacct_expiry_cancel_cb cb = (xacct_expiry_cancel_cb)op->cb;
    if (status != 0) {
        cb(status, detail, 0, "", "", op->arg);
        return;
    }
    const xacct_store_reply_t *w = xacct_store_reply_at(r, 0);
    const char *st = xacct__store_op_reply_str(r, 1);
    const char *member = xacct__store_op_reply_str(r, 2);
    if (xacct_store_reply_is(w, "ok"))
        cb(0, NULL, XACCT_EXPIRY_CANCELLED, st, member, op->arg);
    else if (xacct_store_reply_is(w, "already"))
        cb(0, NULL, XACCT_EXPIRY_ALREADY, st, member, op->arg);
    else if (xacct_store_reply_is(w, "notfound"))
        cb(XACCT_ENOTFOUND, "no such customer", 0, "", "", op->arg);
    else if (xacct_store_reply_is(w, "state")) {
        char why[96];
        snprintf(why, sizeof(why), "customer is %.40s", st);
        cb(XACCT_ESTATE, why, 0, st, "", op->arg);
    } else
        cb(XACCT_EPARSE, "unexpected expiry_cancel reply", 0, "", "", op->arg);
}

int xacct_expiry_cancel(xacct_store_t *s, const char *account_id, const xacct_event_t *event,
                        const char *reason, xacct_expiry_cancel_cb cb, void *arg)
{
    if (s == NULL || account_id == NULL || !xacct_account_id_valid(account_id) ||
        event == NULL || cb == NULL)
        return XACCT_EINVAL;
    int64_t now = xacct_store_now_ms();
    char iso[XACCT_STORE_ISO_LEN];
    xacct_store_iso8601(now, iso);
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_key(&a, s, "customer:%s", account_id);
    xacct_store_args_key(&a, s, "pending");
    xacct_store_args_key(&a, s, "customers");
    xacct_store_args_key(&a, s, "outbox");
    xacct_store_args_key(&a, s, "cleanup");
    xacct_store_args_str(&a, account_id);
    xacct_store_args_str(&a, iso);
    xacct_store_args_ll(&a, (long long)now);
    int rc = args_close(&a, s, event, reason);
    if (rc != 0)
        return rc;
    /* The caller cleans up at once; workers take over only if it cannot. */
    xacct_store_args_ll(&a, (long long)(now + XACCT_EXPIRY_CANCEL_LEASE_MS));
    return xacct__store_op_run(s, &cancel_script, 5, &a, cancel_reply, XACCT_STORE_REPLY_ARRAY,
                               XACCT__STORE_OP_FN(cb), arg);
}

/* ---- enrolment of pending customers from before expiry ------------------------- */

static const xacct_store_script_t enrol_script = {
    "expiry_enrol_missing",
    /* KEYS: 1 customers, 2 pending; ARGV: 1 cursor, 2 batch, 3 prefix */
    XACCT__STORE_LUA_SCAN_CUSTOMERS
    "local n = 0\n"
    "for i = 1, #page, 2 do\n"
    "  local id = page[i]\n"
    "  if redis.call('HGET', ARGV[3] .. 'customer:' .. id, 'state') == 'pending' then\n"
    "    n = n + redis.call('ZADD', KEYS[2], 'NX', page[i + 1], id)\n"
    "  end\n"
    "end\n"
    "return {n, next}\n",
};

int xacct_expiry_enrol_missing(xacct_store_t *s, long long cursor, long long batch,
                               xacct_expiry_enrol_cb cb, void *arg)
{
    if (s == NULL || cb == NULL || cursor < 0 || batch <= 0)
        return XACCT_EINVAL;
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_key(&a, s, "customers");
    xacct_store_args_key(&a, s, "pending");
    xacct_store_args_ll(&a, cursor);
    xacct_store_args_ll(&a, batch);
    xacct_store_args_str(&a, xacct_store_prefix(s));
    return xacct__store_op_run(s, &enrol_script, 2, &a, xacct__store_op_enrol_reply,
                               XACCT_STORE_REPLY_ARRAY, XACCT__STORE_OP_FN(cb), arg);
}

/* ---- the cleanup zset ---------------------------------------------------------- */

static const xacct_store_script_t cleanup_take_script = {
    "cleanup_take",
    /* KEYS: 1 cleanup; ARGV: 1 now_ms, 2 max, 3 lease_until_ms */
    XACCT__STORE_LUA_DUE("due", "ARGV[1]", "ARGV[2]")
    "for _, m in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[3], m) end\n"
    XACCT__STORE_LUA_DUE_REPLY("due"),
};

static void cleanup_take_reply(const xacct__store_op_t *op, int status, const char *detail,
                               const xacct_store_reply_t *r)
{
    xacct_expiry_cleanup_take_cb cb = (xacct_expiry_cleanup_take_cb)op->cb;
    const xacct_store_reply_t *list;
    long long first;
    if ((status = xacct__store_op_due_batch(r, status, &detail, &list, &first)) != 0) {
        cb(status, detail, NULL, 0, -1, op->arg);
        return;
    }
    const char **v = xacct_calloc(list->elements ? list->elements : 1, sizeof(*v));
    for (size_t i = 0; i < list->elements; i++)
        v[i] = xacct__store_op_reply_str(list, i);
    cb(0, NULL, v, list->elements, (int64_t)first, op->arg);
    free(v);
}

int xacct_expiry_cleanup_take(xacct_store_t *s, int64_t now_ms, size_t max,
                              int64_t lease_until_ms, xacct_expiry_cleanup_take_cb cb, void *arg)
{
    xacct_store_args_t a;
    if (cb == NULL || xacct__store_op_args_take(&a, s, "cleanup", now_ms, max, lease_until_ms) != 0)
        return XACCT_EINVAL;
    return xacct__store_op_run(s, &cleanup_take_script, 1, &a, cleanup_take_reply,
                               XACCT_STORE_REPLY_ARRAY, XACCT__STORE_OP_FN(cb), arg);
}

static const xacct_store_script_t cleanup_done_script = {
    "cleanup_done",
    /* KEYS: 1 cleanup, 2 cleanup:tries; ARGV: 1 member */
    "redis.call('HDEL', KEYS[2], ARGV[1])\n"
    "return redis.call('ZREM', KEYS[1], ARGV[1])\n",
};

static const xacct_store_script_t cleanup_retry_script = {
    "cleanup_retry",
    /* KEYS: 1 cleanup, 2 cleanup:tries; ARGV: 1 member, 2 now_ms, 3 jitter 0..1000 */
    "if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return -1 end\n"
    "local n = redis.call('HINCRBY', KEYS[2], ARGV[1], 1)\n"
    "local d = 1000 * 2 ^ math.min(n - 1, 20)\n"
    "if d > 600000 then d = 600000 end\n"
    "d = math.floor(d / 2 + d / 2 * tonumber(ARGV[3]) / 1000)\n"
    "redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) + d, ARGV[1])\n"
    "return d\n",
};

static void cleanup_done_reply(const xacct__store_op_t *op, int status, const char *detail,
                               const xacct_store_reply_t *r)
{
    xacct_expiry_done_cb cb = (xacct_expiry_done_cb)op->cb;
    long long v = 0;
    status = xacct__store_op_reply_int(r, status, &detail, "unexpected cleanup reply", &v);
    cb(status, detail, status == 0 ? v : 0, op->arg);
}

static int cleanup_run(xacct_store_t *s, const xacct_store_script_t *script, const char *member,
                       int64_t now_ms, xacct_expiry_done_cb cb, void *arg)
{
    if (s == NULL || member == NULL || member[0] == '\0' || cb == NULL)
        return XACCT_EINVAL;
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_key(&a, s, "cleanup");
    xacct_store_args_key(&a, s, "cleanup:tries");
    xacct_store_args_str(&a, member);
    if (now_ms > 0) {
        uint16_t r = 500;
        if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
            r = 500;
        xacct_store_args_ll(&a, (long long)now_ms);
        xacct_store_args_ll(&a, (long long)(r % 1001));
    }
    return xacct__store_op_run(s, script, 2, &a, cleanup_done_reply, XACCT__STORE_OP_ANY,
                               XACCT__STORE_OP_FN(cb), arg);
}

int xacct_expiry_cleanup_done(xacct_store_t *s, const char *member, xacct_expiry_done_cb cb,
                              void *arg)
{
    return cleanup_run(s, &cleanup_done_script, member, 0, cb, arg);
}

int xacct_expiry_cleanup_retry(xacct_store_t *s, const char *member, int64_t now_ms,
                               xacct_expiry_done_cb cb, void *arg)
{
    if (now_ms <= 0)
        return XACCT_EINVAL;
    return cleanup_run(s, &cleanup_retry_script, member, now_ms, cb, arg);
}
