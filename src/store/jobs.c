/* SPDX-License-Identifier: MIT */
/*
 * The offboarding job stream with its consumer group, on top of the store.
 * Closing a job is one Lua script with the customer's offboarding ->
 * offboarded move, so a job and its customer never disagree.
 */
#include "xacct/jobs.h"

#include <stdlib.h>
#include <string.h>

#include "xacct/customers.h"
#include "xacct/store_op.h"
#include "xacct/outbox.h"

#define STR_(x) #x
#define XSTR(x) STR_(x)

#define LIST_DEFAULT 1000
#define LIST_MAX 10000
#define READ_DEFAULT 10

/* Fills items from stream entries [id, [job, payload]]; pending info, when
 * given, is XPENDING's extended form [[id, consumer, idle, deliveries]...]. */
static size_t fill_items(const xacct_store_reply_t *entries, const xacct_store_reply_t *pending,
                         const char *consumer, xacct_jobs_item_t *v)
{
    size_t n = 0;
    for (size_t i = 0; entries != NULL && i < entries->elements; i++) {
        const xacct_store_reply_t *e = &entries->element[i];
        const xacct_store_reply_t *fields = xacct_store_reply_at(e, 1);
        if (fields == NULL || fields->type != XACCT_STORE_REPLY_ARRAY)
            continue; /* XAUTOCLAIM may return deleted entries as nil */
        /* An entry without a job field (foreign, or corrupt) is still an
         * open job to the operator: listed, with job NULL, so it can be
         * seen and closed. */
        const xacct_store_reply_t *job = xacct__store_op_entry_field(e, "job");
        v[n].id = xacct__store_op_reply_str(e, 0);
        v[n].job = job != NULL && job->type == XACCT_STORE_REPLY_STRING ? job->str : NULL;
        v[n].job_len = v[n].job != NULL ? job->len : 0;
        v[n].consumer = consumer;
        for (size_t k = 0; pending != NULL && k < pending->elements; k++) {
            const xacct_store_reply_t *p = &pending->element[k];
            if (strcmp(xacct__store_op_reply_str(p, 0), v[n].id) != 0)
                continue;
            v[n].consumer = xacct__store_op_reply_str(p, 1);
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
    /* KEYS: 1 jobs; ARGV: 1 group, 2 count, 3 XRANGE start ('-' or '(<id>').
     * One snapshot of both views. The pending info is read over the page's
     * own id range, so each page carries its entries' info however long
     * the pending list is; entries deleted while pending (XDEL by hand)
     * are passed over, not counted against the page. */
    "local entries = redis.call('XRANGE', KEYS[1], ARGV[3], '+', 'COUNT', ARGV[2])\n"
    "local pending = {}\n"
    "if #entries > 0 then\n"
    "  local want = {}\n"
    "  for _, e in ipairs(entries) do want[e[1]] = true end\n"
    "  local from, last = entries[1][1], entries[#entries][1]\n"
    "  while true do\n"
    "    local ok, p = pcall(redis.call, 'XPENDING', KEYS[1], ARGV[1], from, last, ARGV[2])\n"
    "    if not ok then break end\n"
    "    for _, x in ipairs(p) do\n"
    "      if want[x[1]] then pending[#pending + 1] = x end\n"
    "    end\n"
    "    if #p < tonumber(ARGV[2]) then break end\n"
    "    from = '(' .. p[#p][1]\n"
    "  end\n"
    "end\n"
    "return {entries, pending}\n",
};

/* Both scripts answer {entries, pending}. For a read, str[0] is the
 * consumer the entries were just delivered to. */
static void items_reply(const xacct__store_op_t *op, int status, const char *detail,
                        const xacct_store_reply_t *r)
{
    xacct_jobs_list_cb cb = (xacct_jobs_list_cb)op->cb;
    const xacct_store_reply_t *entries = xacct_store_reply_at(r, 0);
    if (status != 0 || entries == NULL) {
        cb(status ? status : XACCT_EPARSE, status ? detail : "unexpected reply", NULL, 0,
           op->arg);
        return;
    }
    xacct_jobs_item_t *v = xacct_calloc(entries->elements ? entries->elements : 1, sizeof(*v));
    size_t n = fill_items(entries, xacct_store_reply_at(r, 1), op->str[0], v);
    for (size_t i = 0; op->str[0] != NULL && i < n; i++)
        v[i].deliveries = 1;
    cb(0, NULL, v, n, op->arg);
    free(v);
}

/* A page of the listing: str[1] is the page size as text. The next page
 * starts after the last entry of a full one. */
static void page_reply(const xacct__store_op_t *op, int status, const char *detail,
                       const xacct_store_reply_t *r)
{
    xacct_jobs_page_cb cb = (xacct_jobs_page_cb)op->cb;
    const xacct_store_reply_t *entries = xacct_store_reply_at(r, 0);
    if (status != 0 || entries == NULL) {
        cb(status ? status : XACCT_EPARSE, status ? detail : "unexpected reply", NULL, 0, NULL,
           op->arg);
        return;
    }
    xacct_jobs_item_t *v = xacct_calloc(entries->elements ? entries->elements : 1, sizeof(*v));
    size_t n = fill_items(entries, xacct_store_reply_at(r, 1), NULL, v);
    const char *next = NULL;
    if (entries->elements > 0 && entries->elements >= strtoull(op->str[1], NULL, 10))
        next = xacct__store_op_reply_str(&entries->element[entries->elements - 1], 0);
    cb(0, NULL, v, n, next, op->arg);
    free(v);
}

static const xacct_store_script_t read_script = {
    "jobs_read",
    /* KEYS: 1 jobs; ARGV: 1 group, 2 consumer, 3 count, 4 min_idle_ms (0 = no reclaim).
     * Answers like jobs_list, with no pending info. */
    XACCT__STORE_LUA_GROUP_READ
    "return {group_read(), {}}\n",
};

static size_t clamp_count(size_t count, size_t dflt)
{
    if (count == 0)
        count = dflt;
    return count > LIST_MAX ? LIST_MAX : count;
}

/* Starts a listing (consumer NULL) or a read: KEYS jobs; ARGV group,
 * [consumer,] count[, min_idle_ms]. */
static int items(xacct_store_t *s, const char *consumer, size_t count, size_t dflt,
                 long long min_idle_ms, xacct_jobs_list_cb cb, void *arg)
{
    count = clamp_count(count, dflt);
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_key(&a, s, "jobs:offboard");
    xacct_store_args_str(&a, XACCT_JOBS_GROUP);
    if (consumer != NULL)
        xacct_store_args_str(&a, consumer);
    xacct_store_args_ll(&a, (long long)count);
    if (consumer != NULL)
        xacct_store_args_ll(&a, min_idle_ms);
    else
        xacct_store_args_str(&a, "-");
    xacct__store_op_t *op =
        xacct__store_op_new(s, items_reply, XACCT__STORE_OP_ANY, XACCT__STORE_OP_FN(cb), arg);
    op->str[0] = consumer != NULL ? xacct_strdup(consumer) : NULL;
    return xacct__store_op_eval(op, consumer != NULL ? &read_script : &list_script, 1, &a);
}

int xacct_jobs_list(xacct_store_t *s, size_t count, xacct_jobs_list_cb cb, void *arg)
{
    if (cb == NULL)
        return XACCT_EINVAL;
    return items(s, NULL, count, LIST_DEFAULT, 0, cb, arg);
}

int xacct_jobs_page(xacct_store_t *s, const char *after, size_t count, xacct_jobs_page_cb cb,
                    void *arg)
{
    if (cb == NULL)
        return XACCT_EINVAL;
    count = clamp_count(count, LIST_DEFAULT);
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_key(&a, s, "jobs:offboard");
    xacct_store_args_str(&a, XACCT_JOBS_GROUP);
    xacct_store_args_ll(&a, (long long)count);
    if (after != NULL && after[0] != '\0') {
        char *start = xacct_asprintf("(%s", after); /* exclusive: Redis 6.2 */
        xacct_store_args_str(&a, start);
        free(start);
    } else {
        xacct_store_args_str(&a, "-");
    }
    xacct__store_op_t *op =
        xacct__store_op_new(s, page_reply, XACCT__STORE_OP_ANY, XACCT__STORE_OP_FN(cb), arg);
    op->str[1] = xacct_asprintf("%zu", count);
    return xacct__store_op_eval(op, &list_script, 1, &a);
}

int xacct_jobs_read(xacct_store_t *s, const char *consumer, size_t count, long long min_idle_ms,
                    xacct_jobs_list_cb cb, void *arg)
{
    if (consumer == NULL || consumer[0] == '\0' || cb == NULL || min_idle_ms < 0)
        return XACCT_EINVAL;
    return items(s, consumer, count, READ_DEFAULT, min_idle_ms, cb, arg);
}

/* ------------------------------------------------------------------ */
/* Done                                                                 */

static const xacct_store_script_t done_script = {
    "jobs_done",
    /* KEYS: 1 jobs, 2 customer, 3 customers zset, 4 events, 5 outbox, 6 cleanup
     * ARGV: 1 id, 2 group, 3 account, 4 now_iso, 5 now_ms, 6 event, 7 prefix
     * The policy rewrite that revokes publishing is owed from here on, so it
     * is queued as a cleanup entry (expiry.h; no external ID: the template
     * went with the Create) that workers retry until it is done. */
    XACCT_OUTBOX_LUA
    "if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 0 then return {'notfound'} end\n"
    "redis.pcall('XACK', KEYS[1], ARGV[2], ARGV[1])\n"
    "redis.call('XDEL', KEYS[1], ARGV[1])\n"
    "local cur = redis.call('HMGET', KEYS[2], 'state', 'topic_arn')\n"
    "if cur[1] ~= 'offboarding' then return {'closed', ''} end\n"
    "local topic = cur[2] or ''\n"
    "if topic ~= '' then\n"
    "  redis.call('SREM', ARGV[7] .. 'topic:' .. topic, ARGV[3])\n"
    "  redis.call('ZADD', KEYS[6], ARGV[5], ARGV[3] .. '||' .. topic)\n"
    "end\n"
    "redis.call('HSET', KEYS[2], 'state', 'offboarded', 'updated_at', ARGV[4], 'topic_arn', '')\n"
    "redis.call('ZADD', KEYS[3], ARGV[5], ARGV[3])\n"
    "redis.call('XADD', KEYS[4], 'MAXLEN', '~', '" XSTR(XACCT_EVENTS_MAXLEN) "', '*',"
    " 'e', ARGV[6])\n"
    "outbox_append(KEYS[5], KEYS[2], ARGV[3], 'customer.offboarded', ARGV[4], nil)\n"
    "return {'done', topic}\n",
};

static const xacct_store_script_t drop_script = {
    "jobs_drop",
    /* KEYS: 1 jobs; ARGV: 1 id, 2 group. Closes an entry that is not a job
     * anyone can act on (its payload does not decode): no customer is
     * named, so none is touched. */
    "if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 0 then return {'notfound'} end\n"
    "redis.pcall('XACK', KEYS[1], ARGV[2], ARGV[1])\n"
    "redis.call('XDEL', KEYS[1], ARGV[1])\n"
    "return {'dropped'}\n",
};

/* Step two: str[0] is the account. */
static void done_reply(const xacct__store_op_t *op, int status, const char *detail,
                       const xacct_store_reply_t *r)
{
    xacct_jobs_done_cb cb = (xacct_jobs_done_cb)op->cb;
    const char *account = op->str[0];
    const xacct_store_reply_t *w = xacct_store_reply_at(r, 0);
    if (status != 0)
        cb(status, detail, 0, account, "", op->arg);
    else if (xacct_store_reply_is(w, "done"))
        cb(0, NULL, 1, account, xacct__store_op_reply_str(r, 1), op->arg);
    else if (xacct_store_reply_is(w, "closed"))
        cb(0, NULL, 0, account, "", op->arg);
    else if (xacct_store_reply_is(w, "dropped"))
        cb(0, XACCT_JOBS_UNDECODABLE, 0, account, "", op->arg);
    else if (xacct_store_reply_is(w, "notfound"))
        cb(XACCT_ENOTFOUND, "no such open job", 0, account, "", op->arg);
    else
        cb(XACCT_EPARSE, "unexpected jobs script reply", 0, account, "", op->arg);
}

/* Step one gave the job entry (str[0] the id, str[1] the actor): decode it
 * for the account, then close it. */
static void done_fetched(const xacct__store_op_t *op, int status, const char *detail,
                         const xacct_store_reply_t *r)
{
    xacct_jobs_done_cb cb = (xacct_jobs_done_cb)op->cb;
    xacct_job_t job;
    memset(&job, 0, sizeof(job));
    const xacct_store_reply_t *entry = xacct_store_reply_at(r, 0);
    const xacct_store_reply_t *payload = xacct__store_op_entry_field(entry, "job");
    int rc = status;
    if (rc == XACCT_EREDIS && detail != NULL && strstr(detail, "Invalid stream ID") != NULL) {
        rc = XACCT_EINVAL;
        detail = "not a job id";
    } else if (rc == 0 && entry == NULL) {
        rc = XACCT_ENOTFOUND;
        detail = "no such open job";
    }
    if (rc != 0) {
        cb(rc, detail, 0, "", "", op->arg);
        return;
    }
    xacct_store_t *s = op->store;
    if (payload == NULL || payload->type != XACCT_STORE_REPLY_STRING ||
        xacct_codec_job_decode(payload->str, payload->len, &job) != 0) {
        /* Nothing names a customer, so nothing but the entry can change; it
         * is closed all the same, or it would stay open for good. */
        xacct_store_args_t d;
        xacct_store_args_init(&d);
        xacct_store_args_key(&d, s, "jobs:offboard");
        xacct_store_args_str(&d, op->str[0]);
        xacct_store_args_str(&d, XACCT_JOBS_GROUP);
        xacct__store_op_t *next =
            xacct__store_op_new(s, done_reply, XACCT__STORE_OP_ANY, op->cb, op->arg);
        next->str[0] = xacct_strdup("");
        rc = xacct__store_op_eval(next, &drop_script, 1, &d);
        if (rc != 0)
            cb(rc, xacct_strerror(rc), 0, "", "", op->arg);
        return;
    }

    int64_t now = xacct_store_now_ms();
    char iso[XACCT_STORE_ISO_LEN];
    xacct_store_iso8601(now, iso);
    xacct_event_t ev = {.v = XACCT_CODEC_VERSION, .ts = now, .type = "offboarded",
                        .request_id = job.request_id, .stack_id = job.stack_id,
                        .outcome = "ok", .reason = "offboarding job done",
                        .actor = op->str[1]};
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_key(&a, s, "jobs:offboard");
    xacct_store_args_key(&a, s, "customer:%s", job.account_id);
    xacct_store_args_key(&a, s, "customers");
    xacct_store_args_key(&a, s, "events:%s", job.account_id);
    xacct_store_args_key(&a, s, "outbox");
    xacct_store_args_key(&a, s, "cleanup");
    xacct_store_args_str(&a, op->str[0]);
    xacct_store_args_str(&a, XACCT_JOBS_GROUP);
    xacct_store_args_str(&a, job.account_id);
    xacct_store_args_str(&a, iso);
    xacct_store_args_ll(&a, (long long)now);
    rc = xacct__store_op_args_event(&a, &ev);
    xacct_store_args_str(&a, xacct_store_prefix(s));

    char *account = xacct_strdup(job.account_id);
    xacct_codec_job_destroy(&job);
    if (rc == 0) {
        xacct__store_op_t *next =
            xacct__store_op_new(s, done_reply, XACCT__STORE_OP_ANY, op->cb, op->arg);
        next->str[0] = xacct_strdup(account);
        rc = xacct__store_op_eval(next, &done_script, 6, &a);
    } else {
        xacct_store_args_destroy(&a);
    }
    /* We are inside a store callback, so reporting now is not "inside the
     * submitting call" for our caller. */
    if (rc != 0)
        cb(rc, xacct_strerror(rc), 0, account, "", op->arg);
    free(account);
}

char *xacct_jobs_cleanup_member(const char *account_id, const char *topic_arn)
{
    /* As the done script writes it: no external ID, no template to delete. */
    return xacct_asprintf("%s||%s", account_id, topic_arn);
}

int xacct_jobs_done(xacct_store_t *s, const char *id, const char *actor, xacct_jobs_done_cb cb,
                    void *arg)
{
    if (id == NULL || id[0] == '\0' || cb == NULL)
        return XACCT_EINVAL;
    xacct_store_args_t a;
    xacct__store_op_args_cmd(&a, s, "XRANGE", "jobs:offboard");
    xacct_store_args_str(&a, id);
    xacct_store_args_str(&a, id);
    xacct__store_op_t *op =
        xacct__store_op_new(s, done_fetched, XACCT__STORE_OP_ANY, XACCT__STORE_OP_FN(cb), arg);
    op->str[0] = xacct_strdup(id);
    op->str[1] = xacct_strdup(actor ? actor : "cli");
    return xacct__store_op_submit(op, &a);
}
