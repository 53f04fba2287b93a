/* SPDX-License-Identifier: MIT */
/*
 * The store layer's one way of running an operation: an op carries the
 * caller's callback through the command, one trampoline checks the reply's
 * type and frees the op after the module's handler has reported, and a
 * failed submission frees it without a callback. Also the argument and
 * reply helpers the modules share.
 */
#include "xacct/store_op.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/buf.h"

xacct__store_op_t *xacct__store_op_new(xacct_store_t *s, xacct__store_op_reply_fn reply,
                                       int expect, xacct__store_op_fn cb, void *arg)
{
    xacct__store_op_t *op = xacct_malloc(sizeof(*op));
    *op = (xacct__store_op_t){.reply = reply, .expect = expect, .cb = cb, .arg = arg, .store = s};
    return op;
}

static void op_free(xacct__store_op_t *op)
{
    free(op->str[0]);
    free(op->str[1]);
    free(op);
}

static void on_reply(int status, const char *detail, const xacct_store_reply_t *r, void *arg)
{
    xacct__store_op_t *op = arg;
    if (status == 0 && op->expect != XACCT__STORE_OP_ANY && (int)r->type != op->expect) {
        status = XACCT_EPARSE;
        detail = "unexpected reply";
        r = NULL;
    }
    op->reply(op, status, detail, r);
    op_free(op);
}

int xacct__store_op_submit(xacct__store_op_t *op, xacct_store_args_t *a)
{
    int rc = xacct_store_submit(op->store, a, on_reply, op);
    if (rc != 0)
        op_free(op);
    xacct_store_args_destroy(a);
    return rc;
}

int xacct__store_op_eval(xacct__store_op_t *op, const xacct_store_script_t *script, int nkeys,
                         xacct_store_args_t *a)
{
    int rc = xacct_store_eval(op->store, script, nkeys, a, on_reply, op);
    if (rc != 0)
        op_free(op);
    xacct_store_args_destroy(a);
    return rc;
}

int xacct__store_op_run(xacct_store_t *s, const xacct_store_script_t *script, int nkeys,
                        xacct_store_args_t *a, xacct__store_op_reply_fn reply, int expect,
                        xacct__store_op_fn cb, void *arg)
{
    xacct__store_op_t *op = xacct__store_op_new(s, reply, expect, cb, arg);
    return script != NULL ? xacct__store_op_eval(op, script, nkeys, a)
                          : xacct__store_op_submit(op, a);
}

static void args_vcmd(xacct_store_args_t *a, const xacct_store_t *s, const char *command,
                      const char *key_fmt, va_list ap)
{
    char key[1024];
    int n = vsnprintf(key, sizeof(key), key_fmt, ap);
    xacct_store_args_init(a);
    xacct_store_args_str(a, command);
    if (n < 0 || (size_t)n >= sizeof(key))
        a->err = XACCT_ETOOBIG; /* reported by submit */
    else
        xacct_store_args_key(a, s, "%s", key);
}

void xacct__store_op_args_cmd(xacct_store_args_t *a, const xacct_store_t *s, const char *command,
                           const char *key_fmt, ...)
{
    va_list ap;
    va_start(ap, key_fmt);
    args_vcmd(a, s, command, key_fmt, ap);
    va_end(ap);
}

int xacct__store_op_key(xacct_store_t *s, xacct__store_op_reply_fn reply, int expect,
                        xacct__store_op_fn cb, void *arg, const char *command, const char *key_fmt,
                        ...)
{
    xacct_store_args_t a;
    va_list ap;
    va_start(ap, key_fmt);
    args_vcmd(&a, s, command, key_fmt, ap);
    va_end(ap);
    return xacct__store_op_submit(xacct__store_op_new(s, reply, expect, cb, arg), &a);
}

int xacct__store_op_args_event(xacct_store_args_t *a, const xacct_event_t *ev)
{
    xacct_buf_t b;
    xacct_buf_init(&b, XACCT_CODEC_MAX_INPUT);
    int rc = xacct_codec_event_encode(ev, &b);
    if (rc == 0)
        xacct_store_args_add(a, b.data, b.len);
    xacct_buf_destroy(&b);
    return rc;
}

int xacct__store_op_args_job(xacct_store_args_t *a, const xacct_job_t *job)
{
    xacct_buf_t b;
    xacct_buf_init(&b, XACCT_CODEC_MAX_INPUT);
    int rc = xacct_codec_job_encode(job, &b);
    if (rc == 0)
        xacct_store_args_add(a, b.data, b.len);
    xacct_buf_destroy_secret(&b);
    return rc;
}

int xacct__store_op_args_take(xacct_store_args_t *a, const xacct_store_t *s, const char *zset,
                              int64_t now_ms, size_t max, int64_t lease_until_ms)
{
    if (s == NULL || max == 0 || lease_until_ms <= now_ms)
        return XACCT_EINVAL;
    xacct_store_args_init(a);
    xacct_store_args_key(a, s, "%s", zset);
    xacct_store_args_ll(a, (long long)now_ms);
    xacct_store_args_ll(a, (long long)max);
    xacct_store_args_ll(a, (long long)lease_until_ms);
    return 0;
}

void xacct__store_op_args_scan(xacct_store_args_t *a, const xacct_store_t *s, const char *name)
{
    /* The prefix is literal text, so glob characters in it are escaped. */
    const char *prefix = xacct_store_prefix(s);
    char *pattern = xacct_malloc(2 * strlen(prefix) + strlen(name) + 2);
    char *p = pattern;
    for (const char *q = prefix; *q; q++) {
        if (strchr("*?[]\\", *q) != NULL)
            *p++ = '\\';
        *p++ = *q;
    }
    strcpy(p, name);
    strcat(p, "*");
    xacct_store_args_str(a, pattern);
    xacct_store_args_ll(a, (long long)(strlen(prefix) + strlen(name)));
    free(pattern);
}

int xacct__store_op_reply_int(const xacct_store_reply_t *r, int status, const char **detail,
                              const char *what, long long *v)
{
    if (status == 0 && xacct_store_reply_ll(r, v) != 0) {
        status = XACCT_EPARSE;
        *detail = what;
    }
    return status;
}

const char *xacct__store_op_reply_str(const xacct_store_reply_t *r, size_t i)
{
    const xacct_store_reply_t *e = xacct_store_reply_at(r, i);
    return e != NULL && e->str != NULL ? e->str : "";
}

const xacct_store_reply_t *xacct__store_op_entry_field(const xacct_store_reply_t *entry,
                                                    const char *name)
{
    const xacct_store_reply_t *kv = xacct_store_reply_at(entry, 1);
    for (size_t i = 0; kv != NULL && i + 1 < kv->elements; i += 2)
        if (xacct_store_reply_is(&kv->element[i], name))
            return &kv->element[i + 1];
    return NULL;
}

int xacct__store_op_due_batch(const xacct_store_reply_t *r, int status, const char **detail,
                              const xacct_store_reply_t **list, long long *first)
{
    *list = NULL;
    *first = -1;
    if (status != 0)
        return status;
    const xacct_store_reply_t *l = xacct_store_reply_at(r, 0);
    if (l == NULL || l->type != XACCT_STORE_REPLY_ARRAY ||
        xacct_store_reply_ll(xacct_store_reply_at(r, 1), first) != 0) {
        *first = -1;
        *detail = "unexpected take reply";
        return XACCT_EPARSE;
    }
    *list = l;
    return 0;
}

void xacct__store_op_due_counts_reply(const xacct__store_op_t *op, int status, const char *detail,
                                      const xacct_store_reply_t *r)
{
    xacct__store_op_due_counts_cb cb = (xacct__store_op_due_counts_cb)op->cb;
    long long n = 0, seen = 0, first = -1;
    if (status == 0 && (xacct_store_reply_ll(xacct_store_reply_at(r, 0), &n) != 0 ||
                        xacct_store_reply_ll(xacct_store_reply_at(r, 1), &seen) != 0 ||
                        xacct_store_reply_ll(xacct_store_reply_at(r, 2), &first) != 0)) {
        status = XACCT_EPARSE;
        detail = "unexpected take reply";
    }
    if (status != 0)
        cb(status, detail, 0, 0, -1, op->arg);
    else
        cb(0, NULL, n, seen, (int64_t)first, op->arg);
}

void xacct__store_op_enrol_reply(const xacct__store_op_t *op, int status, const char *detail,
                                 const xacct_store_reply_t *r)
{
    xacct__store_op_enrol_cb cb = (xacct__store_op_enrol_cb)op->cb;
    long long n = 0, next = 0;
    if (status == 0 && (xacct_store_reply_ll(xacct_store_reply_at(r, 0), &n) != 0 ||
                        xacct_store_reply_ll(xacct_store_reply_at(r, 1), &next) != 0)) {
        status = XACCT_EPARSE;
        detail = "unexpected enrolment reply";
    }
    cb(status, detail, status == 0 ? n : 0, status == 0 ? next : 0, op->arg);
}
