/* SPDX-License-Identifier: MIT */
/*
 * A customer's audit trail (events:<account>): appending an event on its
 * own, and reading the trail back for `xacct events`.
 */
#include "xacct/customers.h"

#include <stdlib.h>

#include "customers_int.h"
#include "xacct/store_op.h"

#define EVENTS_DEFAULT 100
#define EVENTS_MAX 10000

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
    "redis.call('XADD', KEYS[2], 'MAXLEN', '~', '" XACCT__XSTR(XACCT_EVENTS_MAXLEN) "', '*',"
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
