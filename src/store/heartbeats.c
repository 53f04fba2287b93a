/* SPDX-License-Identifier: MIT */
/*
 * Worker heartbeats on top of the store: one SET with a TTL per beat, and a
 * single script that scans worker:* and returns each payload with its TTL,
 * decoded here with the codec.
 */
#include "xacct/heartbeats.h"

#include <stdlib.h>
#include <string.h>

#include "xacct/buf.h"
#include "xacct/store_op.h"

#define HEARTBEATS_MAX 10000

static void put_reply(const xacct__store_op_t *op, int status, const char *detail,
                      const xacct_store_reply_t *r)
{
    ((xacct_heartbeats_done_cb)op->cb)(status, detail, op->arg);
}

int xacct_heartbeats_put(xacct_store_t *s, const char *worker_id, const xacct_heartbeat_t *hb,
                         long ttl_s, xacct_heartbeats_done_cb cb, void *arg)
{
    if (worker_id == NULL || worker_id[0] == '\0' || hb == NULL || ttl_s <= 0 || cb == NULL)
        return XACCT_EINVAL;
    xacct_buf_t b;
    xacct_buf_init(&b, XACCT_CODEC_MAX_INPUT);
    int rc = xacct_codec_heartbeat_encode(hb, &b);
    if (rc != 0) {
        xacct_buf_destroy(&b);
        return rc;
    }
    xacct_store_args_t a;
    xacct__store_op_args_cmd(&a, s, "SET", "worker:%s", worker_id);
    xacct_store_args_add(&a, b.data, b.len);
    xacct_store_args_str(&a, "EX");
    xacct_store_args_ll(&a, ttl_s);
    xacct_buf_destroy(&b);
    return xacct__store_op_submit(
        xacct__store_op_new(s, put_reply, XACCT__STORE_OP_ANY, XACCT__STORE_OP_FN(cb), arg), &a);
}

static const xacct_store_script_t list_script = {
    "workers_list",
    /* ARGV: 1 SCAN pattern, 2 length of the key part before the id, 3 max */
    XACCT__STORE_LUA_SCAN
    "return scan(function(k, id)\n"
    "  local v = redis.pcall('GET', k)\n"
    "  if type(v) == 'string' then return {id, v, redis.call('PTTL', k)} end\n"
    "end)\n",
};

static int cmp_item(const void *x, const void *y)
{
    return strcmp(((const xacct_heartbeats_item_t *)x)->id,
                  ((const xacct_heartbeats_item_t *)y)->id);
}

static void list_reply(const xacct__store_op_t *op, int status, const char *detail,
                       const xacct_store_reply_t *r)
{
    xacct_heartbeats_list_cb cb = (xacct_heartbeats_list_cb)op->cb;
    if (status != 0) {
        cb(status, detail, NULL, 0, op->arg);
        return;
    }
    xacct_heartbeats_item_t *v = xacct_calloc(r->elements ? r->elements : 1, sizeof(*v));
    size_t n = 0;
    for (size_t i = 0; i < r->elements; i++) {
        const xacct_store_reply_t *id = xacct_store_reply_at(&r->element[i], 0);
        const xacct_store_reply_t *raw = xacct_store_reply_at(&r->element[i], 1);
        if (id == NULL || id->str == NULL || raw == NULL || raw->str == NULL)
            continue;
        v[n].id = id->str;
        v[n].raw = raw->str;
        v[n].raw_len = raw->len;
        v[n].valid = xacct_codec_heartbeat_decode(raw->str, raw->len, &v[n].hb) == 0;
        if (xacct_store_reply_ll(xacct_store_reply_at(&r->element[i], 2), &v[n].ttl_ms) != 0)
            v[n].ttl_ms = -1;
        n++;
    }
    qsort(v, n, sizeof(*v), cmp_item);
    cb(0, NULL, v, n, op->arg);
    for (size_t i = 0; i < n; i++)
        xacct_codec_heartbeat_destroy(&v[i].hb);
    free(v);
}

int xacct_heartbeats_list(xacct_store_t *s, xacct_heartbeats_list_cb cb, void *arg)
{
    if (cb == NULL)
        return XACCT_EINVAL;
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct__store_op_args_scan(&a, s, "worker:");
    xacct_store_args_ll(&a, HEARTBEATS_MAX);
    return xacct__store_op_run(s, &list_script, 0, &a, list_reply, XACCT_STORE_REPLY_ARRAY,
                               XACCT__STORE_OP_FN(cb), arg);
}
