/* SPDX-License-Identifier: MIT */
/*
 * The outbox streams on top of the store: reading through the `webhook`
 * group (with XAUTOCLAIM of a dead worker's entries), keeping held entries
 * fresh, acknowledging, burying in outbox:dead, the backlog count for the
 * gauge, and the operator's views (list, dead, redeliver). Appending lives in
 * XACCT_OUTBOX_LUA, inside the scripts that change state.
 */
#include "xacct/outbox.h"

#include <stdlib.h>
#include <string.h>

#include "xacct/store_op.h"

#define READ_MAX 1000
#define LIST_DEFAULT 100
#define LIST_MAX 10000

static long long reply_ll(const xacct_store_reply_t *r, size_t i)
{
    long long v = 0;
    if (xacct_store_reply_ll(xacct_store_reply_at(r, i), &v) != 0)
        return 0;
    return v;
}

static const char *field_str(const xacct_store_reply_t *entry, const char *name)
{
    const xacct_store_reply_t *f = xacct__store_op_entry_field(entry, name);
    return f != NULL && f->str != NULL ? f->str : "";
}

/* Fills one item from a stream entry; 0 when the entry carries no event
 * (XAUTOCLAIM may answer a deleted entry as nil). */
static int fill(const xacct_store_reply_t *entry, xacct_outbox_item_t *it)
{
    const xacct_store_reply_t *ev = xacct__store_op_entry_field(entry, "event");
    if (ev == NULL || ev->str == NULL)
        return 0;
    memset(it, 0, sizeof(*it));
    it->id = xacct__store_op_reply_str(entry, 0);
    it->event = ev->str;
    it->event_len = ev->len;
    it->appended_ms = strtoll(it->id, NULL, 10);
    it->status = "";
    it->consumer = "";
    it->reason = "";
    it->outbox_id = "";
    return 1;
}

/* Answers an op of xacct_outbox_items_cb with its failure; true if it
 * failed. */
static bool items_failed(const xacct__store_op_t *op, int status, const char *detail)
{
    if (status == 0)
        return false;
    ((xacct_outbox_items_cb)op->cb)(status, detail, NULL, 0, op->arg);
    return true;
}

/* Fills v (r->elements long) from the stream entries of an array reply;
 * those of outbox:dead (dead) also carry why and after how many attempts.
 * Returns how many it filled. */
static size_t fill_entries(const xacct_store_reply_t *r, bool dead, xacct_outbox_item_t *v)
{
    size_t n = 0;
    for (size_t i = 0; i < r->elements; i++) {
        const xacct_store_reply_t *e = &r->element[i];
        xacct_outbox_item_t *it = &v[n];
        if (!fill(e, it))
            continue;
        n++;
        if (dead) {
            it->reason = field_str(e, "reason");
            it->outbox_id = field_str(e, "outbox_id");
            it->attempts = strtoll(field_str(e, "attempts"), NULL, 10);
        }
    }
    return n;
}

static void done_reply(const xacct__store_op_t *op, int status, const char *detail,
                       const xacct_store_reply_t *r)
{
    XACCT_UNUSED(r);
    ((xacct_outbox_done_cb)op->cb)(status, detail, op->arg);
}

/* ------------------------------------------------------------------ */
/* The deliverer's side                                                 */

static const xacct_store_script_t read_script = {
    "outbox_read",
    /* KEYS: 1 outbox; ARGV: 1 group, 2 consumer, 3 count, 4 min_idle_ms (0 = no
     * reclaim), 5 reclaim cursor. Answers {reclaimed entries, new entries,
     * next cursor}, count at most together (what is read becomes the
     * consumer's, so only what the caller has room for). Both are asked for
     * every time: a reclaim takes at most half of count, so a pass over many
     * idle entries (events a worker left pending for later) never holds up
     * the new ones, and new ones never stop the pass. */
    "redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')\n"
    "local count = tonumber(ARGV[3])\n"
    "local claimed, cursor = {}, ARGV[5]\n"
    "if tonumber(ARGV[4]) > 0 then\n"
    "  local c = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[4], cursor,\n"
    "                       'COUNT', math.max(1, math.floor(count / 2)))\n"
    "  cursor, claimed = c[1], c[2]\n"
    /* A consumer is a worker process (host:pid), so each restart adds one and
     * Redis never removes them. With a reclaim, drop the ones that hold
     * nothing and have been idle as long as a dead worker's events wait. A
     * live worker that merely found nothing new for that long (such reads do
     * not count as activity) loses nothing: it held nothing, and the next
     * read that hands it an event makes it a consumer again. */
    "  for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do\n"
    "    local f = {}\n"
    "    for i = 1, #c, 2 do f[c[i]] = c[i + 1] end\n"
    "    if f['pending'] == 0 and f['idle'] > tonumber(ARGV[4]) and f['name'] ~= ARGV[2] then\n"
    "      redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local fresh = {}\n"
    "if count > #claimed then\n"
    "  local r = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', count - #claimed,\n"
    "                       'STREAMS', KEYS[1], '>')\n"
    "  if r then fresh = r[1][2] end\n"
    "end\n"
    "return {claimed, fresh, cursor}\n",
};

static void read_reply(const xacct__store_op_t *op, int status, const char *detail,
                       const xacct_store_reply_t *r)
{
    xacct_outbox_read_cb cb = (xacct_outbox_read_cb)op->cb;
    const xacct_store_reply_t *claimed = status == 0 ? xacct_store_reply_at(r, 0) : NULL;
    const xacct_store_reply_t *fresh = status == 0 ? xacct_store_reply_at(r, 1) : NULL;
    const char *next = status == 0 ? xacct__store_op_reply_str(r, 2) : "";
    if (status == 0 &&
        (claimed == NULL || claimed->type != XACCT_STORE_REPLY_ARRAY || fresh == NULL ||
         fresh->type != XACCT_STORE_REPLY_ARRAY || next[0] == '\0')) {
        status = XACCT_EPARSE;
        detail = "unexpected reply";
    }
    if (status != 0) {
        cb(status, detail, NULL, 0, NULL, op->arg);
        return;
    }
    size_t cap = claimed->elements + fresh->elements;
    xacct_outbox_item_t *v = xacct_calloc(cap ? cap : 1, sizeof(*v));
    size_t n = fill_entries(claimed, false, v);
    for (size_t i = 0; i < n; i++)
        v[i].reclaimed = true;
    n += fill_entries(fresh, false, v + n);
    cb(0, NULL, v, n, next, op->arg);
    free(v);
}

int xacct_outbox_read(xacct_store_t *s, const char *consumer, size_t count, long long min_idle_ms,
                      const char *claim_from, xacct_outbox_read_cb cb, void *arg)
{
    if (consumer == NULL || consumer[0] == '\0' || cb == NULL || min_idle_ms < 0)
        return XACCT_EINVAL;
    if (count == 0)
        count = 10;
    if (count > READ_MAX)
        count = READ_MAX;
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_key(&a, s, "outbox");
    xacct_store_args_str(&a, XACCT_OUTBOX_GROUP);
    xacct_store_args_str(&a, consumer);
    xacct_store_args_ll(&a, (long long)count);
    xacct_store_args_ll(&a, min_idle_ms);
    xacct_store_args_str(&a, claim_from != NULL && claim_from[0] != '\0' ? claim_from : "0-0");
    return xacct__store_op_run(s, &read_script, 1, &a, read_reply, XACCT_STORE_REPLY_ARRAY,
                               XACCT__STORE_OP_FN(cb), arg);
}

static const xacct_store_script_t touch_script = {
    "outbox_touch",
    /* KEYS: 1 outbox; ARGV: 1 group, 2 consumer, 3.. ids. Answers the ids the
     * consumer no longer holds. */
    "local lost = {}\n"
    "for i = 3, #ARGV do\n"
    "  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)\n"
    "  if p[1] and p[1][2] == ARGV[2] then\n"
    "    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')\n"
    "  else\n"
    "    lost[#lost + 1] = ARGV[i]\n"
    "  end\n"
    "end\n"
    "return lost\n",
};

static void touch_reply(const xacct__store_op_t *op, int status, const char *detail,
                        const xacct_store_reply_t *r)
{
    if (items_failed(op, status, detail))
        return;
    xacct_outbox_item_t *v = xacct_calloc(r->elements ? r->elements : 1, sizeof(*v));
    for (size_t i = 0; i < r->elements; i++) {
        v[i].id = xacct__store_op_reply_str(r, i);
        v[i].event = v[i].status = v[i].consumer = v[i].reason = v[i].outbox_id = "";
    }
    ((xacct_outbox_items_cb)op->cb)(0, NULL, v, r->elements, op->arg);
    free(v);
}

int xacct_outbox_touch(xacct_store_t *s, const char *consumer, const char *const *ids, size_t n,
                       xacct_outbox_items_cb cb, void *arg)
{
    if (consumer == NULL || consumer[0] == '\0' || ids == NULL || n == 0 || cb == NULL)
        return XACCT_EINVAL;
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_key(&a, s, "outbox");
    xacct_store_args_str(&a, XACCT_OUTBOX_GROUP);
    xacct_store_args_str(&a, consumer);
    for (size_t i = 0; i < n; i++)
        xacct_store_args_str(&a, ids[i]);
    return xacct__store_op_run(s, &touch_script, 1, &a, touch_reply, XACCT_STORE_REPLY_ARRAY,
                               XACCT__STORE_OP_FN(cb), arg);
}

int xacct_outbox_ack(xacct_store_t *s, const char *id, xacct_outbox_done_cb cb, void *arg)
{
    if (id == NULL || cb == NULL)
        return XACCT_EINVAL;
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_str(&a, "XACK");
    xacct_store_args_key(&a, s, "outbox");
    xacct_store_args_str(&a, XACCT_OUTBOX_GROUP);
    xacct_store_args_str(&a, id);
    return xacct__store_op_run(s, NULL, 0, &a, done_reply, XACCT__STORE_OP_ANY,
                               XACCT__STORE_OP_FN(cb), arg);
}

static const xacct_store_script_t bury_script = {
    "outbox_bury",
    /* KEYS: 1 outbox, 2 outbox:dead; ARGV: 1 group, 2 id, 3 event, 4 reason,
     * 5 attempts, 6 failed_at. The entry leaves outbox: acknowledged and still
     * there, the list would call it delivered. outbox:dead is not trimmed:
     * what is given up on stays until the operator redelivers or drops it.
     * Only an entry still pending in the group is buried, so a bury run
     * again (its answer lost, the deliverer retries) adds no second dead
     * entry, and one acknowledged as delivered meanwhile stays as it is.
     * Answers 1 if it buried, 0 if there was nothing to bury. */
    "local ok, p = pcall(redis.call, 'XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)\n"
    "if not ok or #p == 0 then return 0 end\n"
    "redis.call('XADD', KEYS[2], '*', 'event', ARGV[3], 'reason', ARGV[4],\n"
    "           'outbox_id', ARGV[2], 'attempts', ARGV[5], 'failed_at', ARGV[6])\n"
    "redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])\n"
    "redis.call('XDEL', KEYS[1], ARGV[2])\n"
    "return 1\n",
};

int xacct_outbox_bury(xacct_store_t *s, const char *id, const char *event, size_t event_len,
                      const char *reason, long long attempts, xacct_outbox_done_cb cb, void *arg)
{
    if (id == NULL || event == NULL || cb == NULL)
        return XACCT_EINVAL;
    char iso[XACCT_STORE_ISO_LEN];
    xacct_store_iso8601(xacct_store_now_ms(), iso);
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_key(&a, s, "outbox");
    xacct_store_args_key(&a, s, "outbox:dead");
    xacct_store_args_str(&a, XACCT_OUTBOX_GROUP);
    xacct_store_args_str(&a, id);
    xacct_store_args_add(&a, event, event_len);
    xacct_store_args_str(&a, reason ? reason : "");
    xacct_store_args_ll(&a, attempts);
    xacct_store_args_str(&a, iso);
    return xacct__store_op_run(s, &bury_script, 2, &a, done_reply, XACCT__STORE_OP_ANY,
                               XACCT__STORE_OP_FN(cb), arg);
}

static const xacct_store_script_t backlog_script = {
    "outbox_backlog",
    /* KEYS: 1 outbox; ARGV: 1 group. Pending plus not yet read. */
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
    "for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do\n"
    "  local f = {}\n"
    "  for i = 1, #g, 2 do f[g[i]] = g[i + 1] end\n"
    "  if f['name'] == ARGV[1] then\n"
    "    local lag = f['lag']\n"
    "    if type(lag) ~= 'number' then\n"
    "      lag = #redis.call('XRANGE', KEYS[1], '(' .. f['last-delivered-id'], '+')\n"
    "    end\n"
    "    return f['pending'] + lag\n"
    "  end\n"
    "end\n"
    "return redis.call('XLEN', KEYS[1])\n",
};

static void count_reply(const xacct__store_op_t *op, int status, const char *detail,
                        const xacct_store_reply_t *r)
{
    long long n = 0;
    status = xacct__store_op_reply_int(r, status, &detail, "unexpected reply", &n);
    ((xacct_outbox_count_cb)op->cb)(status, detail, n, op->arg);
}

int xacct_outbox_backlog(xacct_store_t *s, xacct_outbox_count_cb cb, void *arg)
{
    if (cb == NULL)
        return XACCT_EINVAL;
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_key(&a, s, "outbox");
    xacct_store_args_str(&a, XACCT_OUTBOX_GROUP);
    return xacct__store_op_run(s, &backlog_script, 1, &a, count_reply, XACCT__STORE_OP_ANY,
                               XACCT__STORE_OP_FN(cb), arg);
}

/* ------------------------------------------------------------------ */
/* The operator's side                                                  */

static const xacct_store_script_t list_script = {
    "outbox_list",
    /* KEYS: 1 outbox; ARGV: 1 group, 2 count. One snapshot of the entries,
     * the group's position and its pending entries among them:
     * {entries (newest first), last_delivered_id, pending [[id, consumer,
     * idle, deliveries]...]}. */
    "local entries = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', ARGV[2])\n"
    "local last, pending = '', {}\n"
    "if #entries > 0 then\n"
    "  local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1])\n"
    "  if ok then\n"
    "    for _, g in ipairs(groups) do\n"
    "      local f = {}\n"
    "      for i = 1, #g, 2 do f[g[i]] = g[i + 1] end\n"
    "      if f['name'] == ARGV[1] then last = f['last-delivered-id'] end\n"
    "    end\n"
    "  end\n"
    "  if last ~= '' then\n"
    "    pending = redis.call('XPENDING', KEYS[1], ARGV[1], entries[#entries][1],\n"
    "                         entries[1][1], ARGV[2])\n"
    "  end\n"
    "end\n"
    "return {entries, last, pending}\n",
};

int xacct_outbox_id_cmp(const char *a, const char *b)
{
    unsigned long long am = strtoull(a, NULL, 10), bm = strtoull(b, NULL, 10);
    if (am != bm)
        return am < bm ? -1 : 1;
    const char *ad = strchr(a, '-'), *bd = strchr(b, '-');
    unsigned long long as = ad ? strtoull(ad + 1, NULL, 10) : 0;
    unsigned long long bs = bd ? strtoull(bd + 1, NULL, 10) : 0;
    return as < bs ? -1 : as > bs ? 1 : 0;
}

static void list_reply(const xacct__store_op_t *op, int status, const char *detail,
                       const xacct_store_reply_t *r)
{
    const xacct_store_reply_t *entries = status == 0 ? xacct_store_reply_at(r, 0) : NULL;
    if (status == 0 && (entries == NULL || entries->type != XACCT_STORE_REPLY_ARRAY)) {
        status = XACCT_EPARSE;
        detail = "unexpected reply";
    }
    if (items_failed(op, status, detail))
        return;
    const char *last = xacct__store_op_reply_str(r, 1);
    const xacct_store_reply_t *pending = xacct_store_reply_at(r, 2);
    xacct_outbox_item_t *v = xacct_calloc(entries->elements ? entries->elements : 1, sizeof(*v));
    size_t n = 0;
    /* XREVRANGE gave newest first; the view is oldest first. */
    for (size_t i = entries->elements; i-- > 0;) {
        xacct_outbox_item_t *it = &v[n];
        if (!fill(&entries->element[i], it))
            continue;
        n++;
        if (last[0] == '\0' || xacct_outbox_id_cmp(it->id, last) > 0) {
            it->status = "new";
            continue;
        }
        it->status = "delivered";
        for (size_t k = 0; pending != NULL && k < pending->elements; k++) {
            const xacct_store_reply_t *p = &pending->element[k];
            if (strcmp(xacct__store_op_reply_str(p, 0), it->id) != 0)
                continue;
            it->status = "pending";
            it->consumer = xacct__store_op_reply_str(p, 1);
            it->idle_ms = reply_ll(p, 2);
            it->deliveries = reply_ll(p, 3);
            break;
        }
    }
    ((xacct_outbox_items_cb)op->cb)(0, NULL, v, n, op->arg);
    free(v);
}

static size_t clamp(size_t count)
{
    if (count == 0)
        return LIST_DEFAULT;
    return count > LIST_MAX ? LIST_MAX : count;
}

int xacct_outbox_list(xacct_store_t *s, size_t count, xacct_outbox_items_cb cb, void *arg)
{
    if (cb == NULL)
        return XACCT_EINVAL;
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_key(&a, s, "outbox");
    xacct_store_args_str(&a, XACCT_OUTBOX_GROUP);
    xacct_store_args_ll(&a, (long long)clamp(count));
    return xacct__store_op_run(s, &list_script, 1, &a, list_reply, XACCT_STORE_REPLY_ARRAY,
                               XACCT__STORE_OP_FN(cb), arg);
}

static void dead_reply(const xacct__store_op_t *op, int status, const char *detail,
                       const xacct_store_reply_t *r)
{
    if (items_failed(op, status, detail))
        return;
    xacct_outbox_item_t *v = xacct_calloc(r->elements ? r->elements : 1, sizeof(*v));
    size_t n = fill_entries(r, true, v);
    ((xacct_outbox_items_cb)op->cb)(0, NULL, v, n, op->arg);
    free(v);
}

int xacct_outbox_dead(xacct_store_t *s, size_t count, xacct_outbox_items_cb cb, void *arg)
{
    if (cb == NULL)
        return XACCT_EINVAL;
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_str(&a, "XREVRANGE");
    xacct_store_args_key(&a, s, "outbox:dead");
    xacct_store_args_str(&a, "+");
    xacct_store_args_str(&a, "-");
    xacct_store_args_str(&a, "COUNT");
    xacct_store_args_ll(&a, (long long)clamp(count));
    return xacct__store_op_run(s, NULL, 0, &a, dead_reply, XACCT_STORE_REPLY_ARRAY,
                               XACCT__STORE_OP_FN(cb), arg);
}

static const xacct_store_script_t redeliver_script = {
    "outbox_redeliver",
    /* KEYS: 1 outbox:dead, 2 outbox; ARGV: 1 dead id */
    XACCT_OUTBOX_TRIM_LUA
    "local e = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])\n"
    "if #e == 0 then return {'notfound'} end\n"
    "local event\n"
    "for i = 1, #e[1][2], 2 do\n"
    "  if e[1][2][i] == 'event' then event = e[1][2][i + 1] end\n"
    "end\n"
    "if not event then return {'notfound'} end\n"
    "local id = redis.call('XADD', KEYS[2], '*', 'event', event)\n"
    XACCT_OUTBOX_TRIM_CALL("KEYS[2]")
    "redis.call('XDEL', KEYS[1], ARGV[1])\n"
    "return {'ok', id}\n",
};

static void redeliver_reply(const xacct__store_op_t *op, int status, const char *detail,
                            const xacct_store_reply_t *r)
{
    xacct_outbox_done_cb cb = (xacct_outbox_done_cb)op->cb;
    const xacct_store_reply_t *w = xacct_store_reply_at(r, 0);
    if (status == XACCT_EREDIS && detail != NULL && strstr(detail, "Invalid stream ID") != NULL)
        cb(XACCT_EINVAL, "not a stream entry id", op->arg);
    else if (status != 0)
        cb(status, detail, op->arg);
    else if (xacct_store_reply_is(w, "ok"))
        cb(0, xacct__store_op_reply_str(r, 1), op->arg);
    else if (xacct_store_reply_is(w, "notfound"))
        cb(XACCT_ENOTFOUND, "no such dead event", op->arg);
    else
        cb(XACCT_EPARSE, "unexpected redeliver script reply", op->arg);
}

int xacct_outbox_redeliver(xacct_store_t *s, const char *dead_id, xacct_outbox_done_cb cb,
                           void *arg)
{
    if (dead_id == NULL || dead_id[0] == '\0' || cb == NULL)
        return XACCT_EINVAL;
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_key(&a, s, "outbox:dead");
    xacct_store_args_key(&a, s, "outbox");
    xacct_store_args_str(&a, dead_id);
    return xacct__store_op_run(s, &redeliver_script, 2, &a, redeliver_reply, XACCT__STORE_OP_ANY,
                               XACCT__STORE_OP_FN(cb), arg);
}
