/* SPDX-License-Identifier: MIT */
/*
 * The dead set on top of the store: one XADD per message given up on, and
 * XREVRANGE for the listing, each entry's fields read back by name.
 */
#include "xacct/dead.h"

#include <stdlib.h>

#include "xacct/store_op.h"

#define STR_(x) #x
#define XSTR(x) STR_(x)

#define DEAD_DEFAULT 100
#define DEAD_MAX 10000

static void added_reply(const xacct__store_op_t *op, int status, const char *detail,
                        const xacct_store_reply_t *r)
{
    ((xacct_dead_added_cb)op->cb)(status, detail, status == 0 ? r->str : "", op->arg);
}

int xacct_dead_add(xacct_store_t *s, const xacct_dead_t *d, xacct_dead_added_cb cb, void *arg)
{
    if (d == NULL || cb == NULL)
        return XACCT_EINVAL;
    char iso[XACCT_STORE_ISO_LEN];
    xacct_store_iso8601(d->at_ms ? d->at_ms : xacct_store_now_ms(), iso);
    xacct_store_args_t a;
    xacct__store_op_args_cmd(&a, s, "XADD", "dead");
    xacct_store_args_str(&a, "MAXLEN");
    xacct_store_args_str(&a, "~");
    xacct_store_args_str(&a, XSTR(XACCT_DEAD_MAXLEN));
    xacct_store_args_str(&a, "*");
    xacct_store_args_str(&a, "body");
    xacct_store_args_str(&a, d->body);
    xacct_store_args_str(&a, "reason");
    xacct_store_args_str(&a, d->reason);
    xacct_store_args_str(&a, "receives");
    xacct_store_args_ll(&a, d->receives);
    xacct_store_args_str(&a, "queue");
    xacct_store_args_str(&a, d->queue);
    xacct_store_args_str(&a, "message_id");
    xacct_store_args_str(&a, d->message_id);
    xacct_store_args_str(&a, "at");
    xacct_store_args_str(&a, iso);
    return xacct__store_op_run(s, NULL, 0, &a, added_reply, XACCT_STORE_REPLY_STRING,
                               XACCT__STORE_OP_FN(cb), arg);
}

/* A field of the entry as a string ("" when absent). */
static const char *field(const xacct_store_reply_t *entry, const char *name)
{
    const xacct_store_reply_t *f = xacct__store_op_entry_field(entry, name);
    return f != NULL && f->str != NULL ? f->str : "";
}

static void list_reply(const xacct__store_op_t *op, int status, const char *detail,
                       const xacct_store_reply_t *r)
{
    xacct_dead_list_cb cb = (xacct_dead_list_cb)op->cb;
    if (status != 0) {
        cb(status, detail, NULL, 0, op->arg);
        return;
    }
    xacct_dead_item_t *v = xacct_calloc(r->elements ? r->elements : 1, sizeof(*v));
    for (size_t i = 0; i < r->elements; i++) {
        const xacct_store_reply_t *e = &r->element[i];
        v[i].id = xacct__store_op_reply_str(e, 0);
        v[i].d.at_ms = strtoll(v[i].id, NULL, 10);
        v[i].d.body = field(e, "body");
        v[i].d.reason = field(e, "reason");
        v[i].d.queue = field(e, "queue");
        v[i].d.message_id = field(e, "message_id");
        const xacct_store_reply_t *f = xacct__store_op_entry_field(e, "receives");
        if (f == NULL || xacct_store_reply_ll(f, &v[i].d.receives) != 0)
            v[i].d.receives = 0;
    }
    cb(0, NULL, v, r->elements, op->arg);
    free(v);
}

int xacct_dead_list(xacct_store_t *s, size_t count, xacct_dead_list_cb cb, void *arg)
{
    if (cb == NULL)
        return XACCT_EINVAL;
    if (count == 0)
        count = DEAD_DEFAULT;
    if (count > DEAD_MAX)
        count = DEAD_MAX;
    xacct_store_args_t a;
    xacct__store_op_args_cmd(&a, s, "XREVRANGE", "dead");
    xacct_store_args_str(&a, "+");
    xacct_store_args_str(&a, "-");
    xacct_store_args_str(&a, "COUNT");
    xacct_store_args_ll(&a, (long long)count);
    return xacct__store_op_run(s, NULL, 0, &a, list_reply, XACCT_STORE_REPLY_ARRAY,
                               XACCT__STORE_OP_FN(cb), arg);
}
