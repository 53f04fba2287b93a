/* SPDX-License-Identifier: MIT */
/*
 * The offboarding job stream with its consumer group, and the dead set, on
 * top of the store. Closing a job is one Lua script with the customer's
 * offboarding -> offboarded move, so a job and its customer never disagree.
 */
#include "xacct/jobs.h"

#include <stdlib.h>
#include <string.h>

#include "xacct/outbox.h"

#define STR_(x) #x
#define XSTR(x) STR_(x)

#define LIST_DEFAULT 1000
#define LIST_MAX 10000
#define DEAD_DEFAULT 100
#define DEAD_MAX 10000

typedef struct op {
    union {
        xacct_jobs_list_cb list;
        xacct_jobs_done_cb done;
        xacct_jobs_added_cb added;
        xacct_dead_list_cb dead;
    } cb;
    void *arg;
    xacct_store_t *store; /* jobs_done runs two steps */
    char *id;             /* jobs_done: the job id (owned) */
    char *actor;          /* jobs_done: actor (owned) */
} op_t;

static op_t *op_new(xacct_store_t *s, void *arg)
{
    op_t *op = xacct_calloc(1, sizeof(*op));
    op->store = s;
    op->arg = arg;
    return op;
}

static void op_free(op_t *op)
{
    if (op == NULL)
        return;
    free(op->id);
    free(op->actor);
    free(op);
}

static int run(int rc, xacct_store_args_t *a, op_t *op)
{
    if (rc != 0)
        op_free(op);
    xacct_store_args_destroy(a);
    return rc;
}

static const char *el_str(const xacct_store_reply_t *r, size_t i)
{
    const xacct_store_reply_t *e = xacct_store_reply_at(r, i);
    return e != NULL && e->str != NULL ? e->str : "";
}

static const xacct_store_reply_t *entry_field(const xacct_store_reply_t *entry, const char *name)
{
    const xacct_store_reply_t *kv = xacct_store_reply_at(entry, 1);
    for (size_t i = 0; kv != NULL && i + 1 < kv->elements; i += 2)
        if (xacct_store_reply_is(&kv->element[i], name))
            return &kv->element[i + 1];
    return NULL;
}

/* Fills items from stream entries [id, [job, payload]]; pending info, when
 * given, is XPENDING's extended form [[id, consumer, idle, deliveries]...]. */
static size_t fill_items(const xacct_store_reply_t *entries, const xacct_store_reply_t *pending,
                         const char *consumer, xacct_job_item_t *v)
{
    size_t n = 0;
    for (size_t i = 0; entries != NULL && i < entries->elements; i++) {
        const xacct_store_reply_t *e = &entries->element[i];
        const xacct_store_reply_t *job = entry_field(e, "job");
        if (job == NULL || job->str == NULL)
            continue; /* XAUTOCLAIM may return deleted entries as nil */
        v[n].id = el_str(e, 0);
        v[n].job = job->str;
        v[n].job_len = job->len;
        v[n].consumer = consumer;
        for (size_t k = 0; pending != NULL && k < pending->elements; k++) {
            const xacct_store_reply_t *p = &pending->element[k];
            if (strcmp(el_str(p, 0), v[n].id) != 0)
                continue;
            v[n].consumer = el_str(p, 1);
            (void)!xacct_store_reply_ll(xacct_store_reply_at(p, 2), &v[n].idle_ms);
            (void)!xacct_store_reply_ll(xacct_store_reply_at(p, 3), &v[n].deliveries);
            break;
        }
        n++;
    }
    return n;
}

/* ------------------------------------------------------------------ */
/* List and read                                                        */

static const xacct_store_script_t list_script = {
    "jobs_list",
    /* KEYS: 1 jobs; ARGV: 1 group, 2 count. One snapshot of both views. */
    "local entries = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', ARGV[2])\n"
    "local ok, pending = pcall(redis.call, 'XPENDING', KEYS[1], ARGV[1], '-', '+', ARGV[2])\n"
    "if not ok then pending = {} end\n"
    "return {entries, pending}\n",
};

static void list_reply(int status, const char *detail, const xacct_store_reply_t *r, void *arg)
{
    op_t *op = arg;
    const xacct_store_reply_t *entries = xacct_store_reply_at(r, 0);
    if (status != 0 || entries == NULL) {
        op->cb.list(status ? status : XACCT_EPARSE, status ? detail : "unexpected reply", NULL, 0,
                    op->arg);
        op_free(op);
        return;
    }
    xacct_job_item_t *v = xacct_calloc(entries->elements ? entries->elements : 1, sizeof(*v));
    size_t n = fill_items(entries, xacct_store_reply_at(r, 1), NULL, v);
    op->cb.list(0, NULL, v, n, op->arg);
    free(v);
    op_free(op);
}

int xacct_jobs_list(xacct_store_t *s, size_t count, xacct_jobs_list_cb cb, void *arg)
{
    if (cb == NULL)
        return XACCT_EINVAL;
    if (count == 0)
        count = LIST_DEFAULT;
    if (count > LIST_MAX)
        count = LIST_MAX;
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_key(&a, s, "jobs:offboard");
    xacct_store_args_str(&a, XACCT_JOBS_GROUP);
    xacct_store_args_ll(&a, (long long)count);
    op_t *op = op_new(s, arg);
    op->cb.list = cb;
    return run(xacct_store_eval(s, &list_script, 1, &a, list_reply, op), &a, op);
}

static const xacct_store_script_t read_script = {
    "jobs_read",
    /* KEYS: 1 jobs; ARGV: 1 group, 2 consumer, 3 count, 4 min_idle_ms (0 = no reclaim) */
    "redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')\n"
    "if tonumber(ARGV[4]) > 0 then\n"
    "  local c = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[4], '0-0',\n"
    "                       'COUNT', ARGV[3])\n"
    "  if #c[2] > 0 then return c[2] end\n"
    "end\n"
    "local r = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3],\n"
    "                     'STREAMS', KEYS[1], '>')\n"
    "if not r then return {} end\n"
    "return r[1][2]\n",
};

static void read_reply(int status, const char *detail, const xacct_store_reply_t *r, void *arg)
{
    op_t *op = arg;
    if (status != 0 || r->type != XACCT_STORE_REPLY_ARRAY) {
        op->cb.list(status ? status : XACCT_EPARSE, status ? detail : "unexpected reply", NULL, 0,
                    op->arg);
        op_free(op);
        return;
    }
    xacct_job_item_t *v = xacct_calloc(r->elements ? r->elements : 1, sizeof(*v));
    size_t n = fill_items(r, NULL, op->actor, v);
    for (size_t i = 0; i < n; i++)
        v[i].deliveries = 1;
    op->cb.list(0, NULL, v, n, op->arg);
    free(v);
    op_free(op);
}

int xacct_jobs_read(xacct_store_t *s, const char *consumer, size_t count, long long min_idle_ms,
                    xacct_jobs_list_cb cb, void *arg)
{
    if (consumer == NULL || consumer[0] == '\0' || cb == NULL || min_idle_ms < 0)
        return XACCT_EINVAL;
    if (count == 0)
        count = 10;
    if (count > LIST_MAX)
        count = LIST_MAX;
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_key(&a, s, "jobs:offboard");
    xacct_store_args_str(&a, XACCT_JOBS_GROUP);
    xacct_store_args_str(&a, consumer);
    xacct_store_args_ll(&a, (long long)count);
    xacct_store_args_ll(&a, min_idle_ms);
    op_t *op = op_new(s, arg);
    op->cb.list = cb;
    op->actor = xacct_strdup(consumer);
    return run(xacct_store_eval(s, &read_script, 1, &a, read_reply, op), &a, op);
}

/* ------------------------------------------------------------------ */
/* Done                                                                 */

static const xacct_store_script_t done_script = {
    "jobs_done",
    /* KEYS: 1 jobs, 2 customer, 3 customers zset, 4 events, 5 outbox
     * ARGV: 1 id, 2 group, 3 account, 4 now_iso, 5 now_ms, 6 event, 7 prefix */
    XACCT_OUTBOX_LUA
    "if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 0 then return {'notfound'} end\n"
    "redis.pcall('XACK', KEYS[1], ARGV[2], ARGV[1])\n"
    "redis.call('XDEL', KEYS[1], ARGV[1])\n"
    "local cur = redis.call('HMGET', KEYS[2], 'state', 'topic_arn')\n"
    "if cur[1] ~= 'offboarding' then return {'closed', ''} end\n"
    "local topic = cur[2] or ''\n"
    "if topic ~= '' then redis.call('SREM', ARGV[7] .. 'topic:' .. topic, ARGV[3]) end\n"
    "redis.call('HSET', KEYS[2], 'state', 'offboarded', 'updated_at', ARGV[4], 'topic_arn', '')\n"
    "redis.call('ZADD', KEYS[3], ARGV[5], ARGV[3])\n"
    "redis.call('XADD', KEYS[4], 'MAXLEN', '~', '1000', '*', 'e', ARGV[6])\n"
    "outbox_append(KEYS[5], KEYS[2], ARGV[3], 'customer.offboarded', ARGV[4], nil)\n"
    "return {'done', topic}\n",
};

typedef struct done_ctx {
    op_t *op;
    char *account; /* owned */
} done_ctx_t;

static void done_reply(int status, const char *detail, const xacct_store_reply_t *r, void *arg)
{
    done_ctx_t *dc = arg;
    op_t *op = dc->op;
    const xacct_store_reply_t *w = xacct_store_reply_at(r, 0);
    if (status != 0)
        op->cb.done(status, detail, 0, dc->account, "", op->arg);
    else if (xacct_store_reply_is(w, "done"))
        op->cb.done(0, NULL, 1, dc->account, el_str(r, 1), op->arg);
    else if (xacct_store_reply_is(w, "closed"))
        op->cb.done(0, NULL, 0, dc->account, "", op->arg);
    else if (xacct_store_reply_is(w, "notfound"))
        op->cb.done(XACCT_ENOTFOUND, "no such open job", 0, dc->account, "", op->arg);
    else
        op->cb.done(XACCT_EPARSE, "unexpected jobs script reply", 0, dc->account, "", op->arg);
    free(dc->account);
    free(dc);
    op_free(op);
}

/* Step one gave the job entry: decode it for the account, then close it. */
static void done_fetched(int status, const char *detail, const xacct_store_reply_t *r, void *arg)
{
    op_t *op = arg;
    xacct_job_t job;
    memset(&job, 0, sizeof(job));
    const xacct_store_reply_t *entry = xacct_store_reply_at(r, 0);
    const xacct_store_reply_t *payload = entry_field(entry, "job");
    int rc = status;
    if (rc == XACCT_EREDIS && detail != NULL && strstr(detail, "Invalid stream ID") != NULL) {
        rc = XACCT_EINVAL;
        detail = "not a job id";
    } else if (rc == 0 && entry == NULL) {
        rc = XACCT_ENOTFOUND;
        detail = "no such open job";
    } else if (rc == 0 && (payload == NULL || payload->str == NULL ||
                           xacct_codec_job_decode(payload->str, payload->len, &job) != 0)) {
        rc = XACCT_EPARSE;
        detail = "job payload does not decode";
    }
    if (rc != 0) {
        op->cb.done(rc, detail, 0, "", "", op->arg);
        op_free(op);
        return;
    }

    xacct_store_t *s = op->store;
    int64_t now = xacct_store_now_ms();
    char iso[XACCT_STORE_ISO_LEN];
    xacct_store_iso8601(now, iso);
    xacct_event_t ev = {.v = XACCT_CODEC_VERSION, .ts = now, .type = "offboarded",
                        .request_id = job.request_id, .stack_id = job.stack_id,
                        .outcome = "SUCCESS", .reason = "offboarding job done",
                        .actor = op->actor};
    xacct_buf_t b;
    xacct_buf_init(&b, XACCT_CODEC_MAX_INPUT);
    rc = xacct_codec_event_encode(&ev, &b);

    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_key(&a, s, "jobs:offboard");
    xacct_store_args_key(&a, s, "customer:%s", job.account_id);
    xacct_store_args_key(&a, s, "customers");
    xacct_store_args_key(&a, s, "events:%s", job.account_id);
    xacct_store_args_key(&a, s, "outbox");
    xacct_store_args_str(&a, op->id);
    xacct_store_args_str(&a, XACCT_JOBS_GROUP);
    xacct_store_args_str(&a, job.account_id);
    xacct_store_args_str(&a, iso);
    xacct_store_args_ll(&a, (long long)now);
    xacct_store_args_add(&a, b.data, b.len);
    xacct_store_args_str(&a, xacct_store_prefix(s));
    xacct_buf_destroy(&b);

    done_ctx_t *dc = xacct_calloc(1, sizeof(*dc));
    dc->op = op;
    dc->account = xacct_strdup(job.account_id);
    xacct_codec_job_destroy(&job);
    if (rc == 0)
        rc = xacct_store_eval(s, &done_script, 5, &a, done_reply, dc);
    xacct_store_args_destroy(&a);
    if (rc != 0) {
        /* We are inside a store callback, so reporting now is not "inside
         * the submitting call" for our caller. */
        op->cb.done(rc, xacct_strerror(rc), 0, dc->account, "", op->arg);
        free(dc->account);
        free(dc);
        op_free(op);
    }
}

int xacct_jobs_done(xacct_store_t *s, const char *id, const char *actor, xacct_jobs_done_cb cb,
                    void *arg)
{
    if (id == NULL || id[0] == '\0' || cb == NULL)
        return XACCT_EINVAL;
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_str(&a, "XRANGE");
    xacct_store_args_key(&a, s, "jobs:offboard");
    xacct_store_args_str(&a, id);
    xacct_store_args_str(&a, id);
    op_t *op = op_new(s, arg);
    op->cb.done = cb;
    op->id = xacct_strdup(id);
    op->actor = xacct_strdup(actor ? actor : "cli");
    return run(xacct_store_submit(s, &a, done_fetched, op), &a, op);
}

/* ------------------------------------------------------------------ */
/* Dead set                                                             */

static void added_reply(int status, const char *detail, const xacct_store_reply_t *r, void *arg)
{
    op_t *op = arg;
    if (status == 0 && r->type != XACCT_STORE_REPLY_STRING) {
        status = XACCT_EPARSE;
        detail = "unexpected XADD reply";
    }
    op->cb.added(status, detail, status == 0 ? r->str : "", op->arg);
    op_free(op);
}

int xacct_dead_add(xacct_store_t *s, const xacct_dead_t *d, xacct_jobs_added_cb cb, void *arg)
{
    if (d == NULL || cb == NULL)
        return XACCT_EINVAL;
    char iso[XACCT_STORE_ISO_LEN];
    xacct_store_iso8601(d->at_ms ? d->at_ms : xacct_store_now_ms(), iso);
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_str(&a, "XADD");
    xacct_store_args_key(&a, s, "dead");
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
    op_t *op = op_new(s, arg);
    op->cb.added = cb;
    return run(xacct_store_submit(s, &a, added_reply, op), &a, op);
}

static void dead_reply(int status, const char *detail, const xacct_store_reply_t *r, void *arg)
{
    op_t *op = arg;
    if (status != 0 || r->type != XACCT_STORE_REPLY_ARRAY) {
        op->cb.dead(status ? status : XACCT_EPARSE, status ? detail : "unexpected reply", NULL, 0,
                    op->arg);
        op_free(op);
        return;
    }
    xacct_dead_item_t *v = xacct_calloc(r->elements ? r->elements : 1, sizeof(*v));
    for (size_t i = 0; i < r->elements; i++) {
        const xacct_store_reply_t *e = &r->element[i];
        const xacct_store_reply_t *f;
        v[i].id = el_str(e, 0);
        v[i].d.at_ms = strtoll(v[i].id, NULL, 10);
        f = entry_field(e, "body");
        v[i].d.body = f && f->str ? f->str : "";
        f = entry_field(e, "reason");
        v[i].d.reason = f && f->str ? f->str : "";
        f = entry_field(e, "queue");
        v[i].d.queue = f && f->str ? f->str : "";
        f = entry_field(e, "message_id");
        v[i].d.message_id = f && f->str ? f->str : "";
        f = entry_field(e, "receives");
        if (f == NULL || xacct_store_reply_ll(f, &v[i].d.receives) != 0)
            v[i].d.receives = 0;
    }
    op->cb.dead(0, NULL, v, r->elements, op->arg);
    free(v);
    op_free(op);
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
    xacct_store_args_init(&a);
    xacct_store_args_str(&a, "XREVRANGE");
    xacct_store_args_key(&a, s, "dead");
    xacct_store_args_str(&a, "+");
    xacct_store_args_str(&a, "-");
    xacct_store_args_str(&a, "COUNT");
    xacct_store_args_ll(&a, (long long)count);
    op_t *op = op_new(s, arg);
    op->cb.dead = cb;
    return run(xacct_store_submit(s, &a, dead_reply, op), &a, op);
}
