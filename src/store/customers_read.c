/* SPDX-License-Identifier: MIT */
/*
 * Reading customer records: one record whole (alone, or with when its
 * current onboarding began), and the newest-first summary list the CLI
 * prints.
 */
#include "xacct/customers.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/store_op.h"

#define LIST_DEFAULT 1000
#define LIST_MAX 100000

/* Answers the record of the HGETALL reply h, with pending_since_ms from
 * the score text since (NULL: not read). */
static void answer_record(const xacct__store_op_t *op, const xacct_store_reply_t *h,
                          const char *since)
{
    xacct_customers_get_cb cb = (xacct_customers_get_cb)op->cb;
    xacct_customer_t c;
    xacct__customer_init(&c);
    bool has_state = false;
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        const char *name = h->element[i].str ? h->element[i].str : "";
        xacct__customer_set_field(&c, name, h->element[i + 1].str);
        has_state = has_state || strcmp(name, "state") == 0;
    }
    if (!has_state) {
        cb(XACCT_ENOTFOUND, "no such customer", NULL, op->arg);
        return;
    }
    xacct__customer_set_pending_since(&c, since);
    cb(0, NULL, &c, op->arg);
}

static void get_reply(const xacct__store_op_t *op, int status, const char *detail,
                      const xacct_store_reply_t *r)
{
    if (status != 0) {
        ((xacct_customers_get_cb)op->cb)(status, detail, NULL, op->arg);
        return;
    }
    answer_record(op, r, NULL);
}

int xacct_customers_get(xacct_store_t *s, const char *account_id, xacct_customers_get_cb cb,
                        void *arg)
{
    if (account_id == NULL || cb == NULL)
        return XACCT_EINVAL;
    return xacct__store_op_key(s, get_reply, XACCT_STORE_REPLY_ARRAY, XACCT__STORE_OP_FN(cb),
                               arg, "HGETALL", "customer:%s", account_id);
}

static const xacct_store_script_t get_onboarding_script = {
    "customer_get_onboarding",
    /* KEYS: 1 customer, 2 pending (expiry.h); ARGV: 1 account */
    "local since = ''\n"
    "if redis.call('HGET', KEYS[1], 'state') == 'pending' then\n"
    "  since = redis.call('ZSCORE', KEYS[2], ARGV[1]) or ''\n"
    "end\n"
    "return {redis.call('HGETALL', KEYS[1]), since}\n",
};

static void get_onboarding_reply(const xacct__store_op_t *op, int status, const char *detail,
                                 const xacct_store_reply_t *r)
{
    const xacct_store_reply_t *h = status == 0 ? xacct_store_reply_at(r, 0) : NULL;
    if (status == 0 && (h == NULL || h->type != XACCT_STORE_REPLY_ARRAY)) {
        status = XACCT_EPARSE;
        detail = "unexpected customer_get_onboarding reply";
    }
    if (status != 0) {
        ((xacct_customers_get_cb)op->cb)(status, detail, NULL, op->arg);
        return;
    }
    answer_record(op, h, xacct__store_op_reply_str(r, 1));
}

int xacct_customers_get_onboarding(xacct_store_t *s, const char *account_id,
                                   xacct_customers_get_cb cb, void *arg)
{
    if (account_id == NULL || cb == NULL)
        return XACCT_EINVAL;
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_key(&a, s, "customer:%s", account_id);
    xacct_store_args_key(&a, s, "pending");
    xacct_store_args_str(&a, account_id);
    return xacct__store_op_run(s, &get_onboarding_script, 2, &a, get_onboarding_reply,
                               XACCT_STORE_REPLY_ARRAY, XACCT__STORE_OP_FN(cb), arg);
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
