/* SPDX-License-Identifier: MIT */
/*
 * Counting customers by state in one script, for the customers gauge.
 */
#include "xacct/census.h"

#include <stdlib.h>
#include <string.h>

#include "xacct/store_op.h"

static const xacct_store_script_t census_script = {
    "customers_census",
    /* KEYS: 1 customers zset; ARGV: 1 GET pattern "<prefix>customer:*->state" */
    "local counts, out = {}, {}\n"
    "for _, st in ipairs(redis.call('SORT', KEYS[1], 'BY', 'nosort', 'GET', ARGV[1])) do\n"
    "  if st then counts[st] = (counts[st] or 0) + 1 end\n"
    "end\n"
    "for st, n in pairs(counts) do out[#out + 1] = st out[#out + 1] = n end\n"
    "return out\n",
};

static void census_reply(const xacct__store_op_t *op, int status, const char *detail,
                         const xacct_store_reply_t *r)
{
    xacct_census_cb cb = (xacct_census_cb)op->cb;
    if (status != 0) {
        cb(status, detail, NULL, 0, op->arg);
        return;
    }
    size_t n = r->elements / 2;
    xacct_census_count_t *v = xacct_calloc(n ? n : 1, sizeof(*v));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const xacct_store_reply_t *st = &r->element[2 * i];
        long long c;
        if (st->str == NULL || xacct_store_reply_ll(&r->element[2 * i + 1], &c) != 0)
            continue;
        v[k].state = st->str;
        v[k].count = c;
        k++;
    }
    cb(0, NULL, v, k, op->arg);
    free(v);
}

int xacct_census_count(xacct_store_t *s, xacct_census_cb cb, void *arg)
{
    if (s == NULL || cb == NULL || strchr(xacct_store_prefix(s), '*') != NULL)
        return XACCT_EINVAL;
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_key(&a, s, "customers");
    xacct_store_args_fmt(&a, "%scustomer:*->state", xacct_store_prefix(s));
    return xacct__store_op_run(s, &census_script, 1, &a, census_reply, XACCT_STORE_REPLY_ARRAY,
                               XACCT__STORE_OP_FN(cb), arg);
}
