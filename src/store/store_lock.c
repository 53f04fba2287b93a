/* SPDX-License-Identifier: MIT */
/*
 * A lease-style lock on top of the store for writers in several processes:
 * SET NX PX to take it, compare-and-expire Lua to extend the lease while
 * the holder works, compare-and-delete Lua to give it back.
 */
#include "xacct/store.h"

#include <stdlib.h>

typedef struct lock_op {
    xacct_store_lock_cb cb;
    void *arg;
} lock_op_t;

static const xacct_store_script_t unlock_script = {
    "unlock",
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
    "  return redis.call('DEL', KEYS[1])\n"
    "end\n"
    "return 0\n",
};

static const xacct_store_script_t extend_script = {
    "lock_extend",
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
    "  return redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "end\n"
    "return 0\n",
};

static void lock_reply_cb(int status, const char *detail, const xacct_store_reply_t *r, void *arg)
{
    lock_op_t *op = arg;
    int yes = 0;
    if (status == 0)
        yes = r->type == XACCT_STORE_REPLY_STATUS ||
              (r->type == XACCT_STORE_REPLY_INTEGER && r->integer == 1);
    xacct_store_lock_cb cb = op->cb;
    void *cb_arg = op->arg;
    free(op);
    cb(status, detail, yes, cb_arg);
}

int xacct_store_lock_acquire(xacct_store_t *s, const char *name, const char *token, long ttl_ms,
                             xacct_store_lock_cb cb, void *arg)
{
    if (name == NULL || token == NULL || token[0] == '\0' || ttl_ms <= 0)
        return XACCT_EINVAL;
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_str(&a, "SET");
    xacct_store_args_key(&a, s, "lock:%s", name);
    xacct_store_args_str(&a, token);
    xacct_store_args_str(&a, "NX");
    xacct_store_args_str(&a, "PX");
    xacct_store_args_ll(&a, ttl_ms);
    lock_op_t *op = xacct_calloc(1, sizeof(*op));
    op->cb = cb;
    op->arg = arg;
    int rc = xacct_store_submit(s, &a, lock_reply_cb, op);
    if (rc != 0)
        free(op);
    xacct_store_args_destroy(&a);
    return rc;
}

/* Runs a compare-and-act script on the lock's key with its token (and a
 * lease, when ttl_ms > 0). */
static int eval_lock(xacct_store_t *s, const xacct_store_script_t *script, const char *name,
                     const char *token, long ttl_ms, xacct_store_lock_cb cb, void *arg)
{
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_key(&a, s, "lock:%s", name);
    xacct_store_args_str(&a, token);
    if (ttl_ms > 0)
        xacct_store_args_ll(&a, ttl_ms);
    lock_op_t *op = xacct_calloc(1, sizeof(*op));
    op->cb = cb;
    op->arg = arg;
    int rc = xacct_store_eval(s, script, 1, &a, lock_reply_cb, op);
    if (rc != 0)
        free(op);
    xacct_store_args_destroy(&a);
    return rc;
}

int xacct_store_lock_release(xacct_store_t *s, const char *name, const char *token,
                             xacct_store_lock_cb cb, void *arg)
{
    if (name == NULL || token == NULL)
        return XACCT_EINVAL;
    return eval_lock(s, &unlock_script, name, token, 0, cb, arg);
}

int xacct_store_lock_extend(xacct_store_t *s, const char *name, const char *token, long ttl_ms,
                            xacct_store_lock_cb cb, void *arg)
{
    if (name == NULL || token == NULL || token[0] == '\0' || ttl_ms <= 0)
        return XACCT_EINVAL;
    return eval_lock(s, &extend_script, name, token, ttl_ms, cb, arg);
}
