/* SPDX-License-Identifier: MIT */
/*
 * The publish allow-list bookkeeping: which topic each account may publish
 * to (one set per topic, at most max_per_topic accounts each), and the
 * reads of those sets for the topic policies.
 */
#include "xacct/customers.h"

#include <stdlib.h>
#include <string.h>

#include "customers_int.h"
#include "xacct/store_op.h"

#define TOPICS_MAX 10000

static const xacct_store_script_t topic_assign_script = {
    "topic_assign",
    /* KEYS: 1 customer; ARGV: 1 account, 2 prefix, 3 max, 4 the external ID
     * the caller is setting up, 5 the name of the lock its caller holds
     * ('' = none), 6 its token, 7.. candidate ARNs */
    "if ARGV[5] ~= '' and redis.call('GET', ARGV[2] .. 'lock:' .. ARGV[5]) ~= ARGV[6] then\n"
    "  return {'unlocked'} end\n"
    "local cur = redis.call('HMGET', KEYS[1], 'state', 'external_id', 'pending_external_id')\n"
    "local st = cur[1]\n"
    /* An ID reserved for the account and not yet on its record (an
     * onboarding or rotation putting the AWS side in place before its
     * commit, customers_onboard.c): the set alone, the record as it is. */
    "local reserved = ARGV[4] ~= cur[2] and ARGV[4] ~= cur[3] and\n"
    "  redis.call('GET', ARGV[2] .. 'external-id:' .. ARGV[4]) == ARGV[1]\n"
    "if not st and not reserved then return {'notfound'} end\n"
    /* Closed (cancelled, expired, offboarded) or re-issued while the caller
     * wrote the topic policy: the account must not be allowed for it. */
    "if not reserved and (st == 'cancelled' or st == 'expired' or st == 'offboarded' or\n"
    "   st == 'offboarding' or (ARGV[4] ~= cur[2] and ARGV[4] ~= cur[3])) then\n"
    "  return {'closed', st} end\n"
    "local chosen\n"
    "for i = 7, #ARGV do\n"
    "  if redis.call('SISMEMBER', ARGV[2] .. 'topic:' .. ARGV[i], ARGV[1]) == 1 then\n"
    "    chosen = ARGV[i] break end\n"
    "end\n"
    "if not chosen then\n"
    "  for i = 7, #ARGV do\n"
    "    if redis.call('SCARD', ARGV[2] .. 'topic:' .. ARGV[i]) < tonumber(ARGV[3]) then\n"
    "      chosen = ARGV[i] break end\n"
    "  end\n"
    "end\n"
    "if not chosen then return {'full'} end\n"
    "if reserved then\n"
    "  redis.call('SADD', ARGV[2] .. 'topic:' .. chosen, ARGV[1])\n"
    /* The reservation's entry names the topic from now on, so that the
     * workers take the account off it should the reservation lapse. */
    "  local rkey = ARGV[2] .. 'reservations'\n"
    "  local m = ARGV[1] .. '|' .. ARGV[4] .. '|'\n"
    "  local due = redis.call('ZSCORE', rkey, m)\n"
    "  if due then\n"
    "    redis.call('ZREM', rkey, m)\n"
    "    redis.call('ZADD', rkey, due, m .. chosen)\n"
    "  end\n"
    "  return {'ok', chosen, redis.call('SCARD', ARGV[2] .. 'topic:' .. chosen)}\n"
    "end\n"
    "local prev = redis.call('HGET', KEYS[1], 'topic_arn')\n"
    "if prev and prev ~= '' and prev ~= chosen then\n"
    "  redis.call('SREM', ARGV[2] .. 'topic:' .. prev, ARGV[1])\n"
    "end\n"
    "local key = ARGV[2] .. 'topic:' .. chosen\n"
    "redis.call('SADD', key, ARGV[1])\n"
    "redis.call('HSET', KEYS[1], 'topic_arn', chosen)\n"
    /* A pending customer's region is its topic's until a stack reports its own. */
    "local region = string.match(chosen, '^arn:[^:]+:sns:([^:]+):')\n"
    "if region and st == 'pending' then\n"
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
    xacct__customers_word_text(r, &w, &arn);
    if (xacct_store_reply_is(w, "ok") &&
        xacct_store_reply_ll(xacct_store_reply_at(r, 2), &count) == 0)
        cb(0, NULL, arn, count, op->arg);
    else if (xacct_store_reply_is(w, "notfound"))
        cb(XACCT_ENOTFOUND, "no such customer", "", 0, op->arg);
    else if (xacct_store_reply_is(w, "full"))
        cb(XACCT_ETOOBIG, "every candidate topic is full", "", 0, op->arg);
    else if (xacct_store_reply_is(w, "unlocked"))
        cb(XACCT_EAGAIN, "the lock was no longer the caller's", "", 0, op->arg);
    else if (xacct_store_reply_is(w, "closed"))
        cb(XACCT_ESTATE, "the onboarding was closed or its external ID replaced meanwhile", "",
           0, op->arg);
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
                                 const char *external_id, const char *const *candidate_arns,
                                 size_t n, long long max_per_topic, xacct_customers_topic_cb cb,
                                 void *arg)
{
    return xacct_customers_topic_assign_locked(s, account_id, external_id, candidate_arns, n,
                                               max_per_topic, NULL, NULL, cb, arg);
}

int xacct_customers_topic_assign_locked(xacct_store_t *s, const char *account_id,
                                        const char *external_id, const char *const *candidate_arns,
                                        size_t n, long long max_per_topic, const char *lock_name,
                                        const char *token, xacct_customers_topic_cb cb, void *arg)
{
    if (account_id == NULL || external_id == NULL || external_id[0] == '\0' ||
        candidate_arns == NULL || n == 0 || max_per_topic <= 0 || cb == NULL ||
        (lock_name != NULL && (lock_name[0] == '\0' || token == NULL || token[0] == '\0')))
        return XACCT_EINVAL;
    xacct_store_args_t a;
    topic_args(&a, s, account_id);
    xacct_store_args_ll(&a, max_per_topic);
    xacct_store_args_str(&a, external_id);
    xacct_store_args_str(&a, lock_name ? lock_name : "");
    xacct_store_args_str(&a, token ? token : "");
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
