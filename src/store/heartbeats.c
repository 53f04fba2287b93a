/* SPDX-License-Identifier: MIT */
/*
 * Worker heartbeats on top of the store: one SET with a TTL per beat, and a
 * single script that scans worker:* and returns each payload with its TTL,
 * decoded here with the codec.
 */
#include "xacct/workers.h"

#include <stdlib.h>
#include <string.h>

#define WORKERS_MAX 10000

typedef struct op {
    xacct_workers_done_cb done;
    xacct_workers_list_cb list;
    void *arg;
} op_t;

static void hb_reply(int status, const char *detail, const xacct_store_reply_t *r, void *arg)
{
    op_t op = *(op_t *)arg;
    free(arg);
    op.done(status, detail, op.arg);
}

int xacct_workers_heartbeat(xacct_store_t *s, const char *worker_id, const xacct_heartbeat_t *hb,
                            long ttl_s, xacct_workers_done_cb cb, void *arg)
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
    xacct_store_args_init(&a);
    xacct_store_args_str(&a, "SET");
    xacct_store_args_key(&a, s, "worker:%s", worker_id);
    xacct_store_args_add(&a, b.data, b.len);
    xacct_store_args_str(&a, "EX");
    xacct_store_args_ll(&a, ttl_s);
    xacct_buf_destroy(&b);
    op_t *op = xacct_calloc(1, sizeof(*op));
    op->done = cb;
    op->arg = arg;
    rc = xacct_store_submit(s, &a, hb_reply, op);
    if (rc != 0)
        free(op);
    xacct_store_args_destroy(&a);
    return rc;
}

static const xacct_store_script_t list_script = {
    "workers_list",
    /* ARGV: 1 SCAN pattern, 2 length of the key part before the id, 3 max */
    "local cursor, out = '0', {}\n"
    "repeat\n"
    "  local r = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)\n"
    "  cursor = r[1]\n"
    "  for _, k in ipairs(r[2]) do\n"
    "    local v = redis.pcall('GET', k)\n"
    "    if type(v) == 'string' then\n"
    "      out[#out + 1] = {string.sub(k, tonumber(ARGV[2]) + 1), v, redis.call('PTTL', k)}\n"
    "      if #out >= tonumber(ARGV[3]) then return out end\n"
    "    end\n"
    "  end\n"
    "until cursor == '0'\n"
    "return out\n",
};

static int cmp_worker(const void *x, const void *y)
{
    return strcmp(((const xacct_worker_info_t *)x)->id, ((const xacct_worker_info_t *)y)->id);
}

static void list_reply(int status, const char *detail, const xacct_store_reply_t *r, void *arg)
{
    op_t op = *(op_t *)arg;
    free(arg);
    if (status != 0 || r->type != XACCT_STORE_REPLY_ARRAY) {
        op.list(status ? status : XACCT_EPARSE, status ? detail : "unexpected reply", NULL, 0,
                op.arg);
        return;
    }
    xacct_worker_info_t *v = xacct_calloc(r->elements ? r->elements : 1, sizeof(*v));
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
    qsort(v, n, sizeof(*v), cmp_worker);
    op.list(0, NULL, v, n, op.arg);
    for (size_t i = 0; i < n; i++)
        xacct_codec_heartbeat_destroy(&v[i].hb);
    free(v);
}

int xacct_workers_list(xacct_store_t *s, xacct_workers_list_cb cb, void *arg)
{
    if (cb == NULL)
        return XACCT_EINVAL;
    const char *prefix = xacct_store_prefix(s);
    char *pattern = xacct_malloc(2 * strlen(prefix) + sizeof("worker:*"));
    char *p = pattern;
    for (const char *q = prefix; *q; q++) {
        if (strchr("*?[]\\", *q) != NULL)
            *p++ = '\\';
        *p++ = *q;
    }
    strcpy(p, "worker:*");
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_str(&a, pattern);
    xacct_store_args_ll(&a, (long long)(strlen(prefix) + strlen("worker:")));
    xacct_store_args_ll(&a, WORKERS_MAX);
    free(pattern);
    op_t *op = xacct_calloc(1, sizeof(*op));
    op->list = cb;
    op->arg = arg;
    int rc = xacct_store_eval(s, &list_script, 0, &a, list_reply, op);
    if (rc != 0)
        free(op);
    xacct_store_args_destroy(&a);
    return rc;
}
