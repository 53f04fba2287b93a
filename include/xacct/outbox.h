/* SPDX-License-Identifier: MIT */
/*
 * The transactional outbox of lifecycle events (SPEC §8): the `outbox`
 * stream, its consumer group `webhook` and the `outbox:dead` stream.
 *
 * Appending is not a C call: every Lua script that changes a customer's state
 * includes XACCT_OUTBOX_LUA and calls outbox_append() in the same script, so
 * the change and its event are one atomic Redis update (no change without its
 * event, no event without its change). The event is built inside the script
 * from the record as it stands after the change, with Redis' bundled cjson:
 *
 *   {"id", "type", "time", "account_id", "seq", "state", "role_arn",
 *    "region", "stack_id", "reason"}
 *
 * `seq` is HINCRBY customer:<account> seq 1, so it counts up per customer in
 * the order the changes happened; `id` is "evt_" + 32 hex digits derived from
 * account, seq, time and type (scripts cannot draw random numbers), unique
 * and stable across redeliveries so receivers can de-duplicate on it. Absent
 * fields are JSON null. The event never holds an external ID or credentials.
 * Each entry has one field, `event`, the JSON text that is POSTed as is.
 *
 * The rest of this module is what the webhook deliverer and `xacct outbox`
 * need: reading through the group, keeping held entries from being reclaimed,
 * acknowledging, burying in outbox:dead, listing, redelivering. All strings
 * passed in are copied; everything handed to callbacks is borrowed for the
 * duration of the callback.
 */
#ifndef XACCT_OUTBOX_H
#define XACCT_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xacct/common.h"
#include "xacct/store.h"

#define XACCT_OUTBOX_GROUP "webhook"     /* consumer group on outbox */
#define XACCT_OUTBOX_MAXLEN 100000       /* outbox entries kept once delivered */
#define XACCT_OUTBOX_TRIM_SLACK 1000     /* entries over the cap before a trim */
#define XACCT_OUTBOX_HARD_MAXLEN 1000000 /* entries kept at most, delivered or not */

#define XACCT_OUTBOX_STR_(x) #x
#define XACCT_OUTBOX_XSTR_(x) XACCT_OUTBOX_STR_(x)

/*
 * Lua text defining
 *
 *   outbox_trim(outbox_key, maxlen, slack, hard)
 *
 * Once the stream holds more than maxlen + slack entries, removes its oldest
 * ones down to maxlen (at most 1000 a call) — but never one that a consumer
 * group has not acknowledged (pending, or not yet read): SPEC §8's delivery
 * is at least once, and only the deliverer gives an event up (outbox:dead,
 * then XACK). Over `hard` entries the oldest go whatever their state: a
 * group whose reader is gone for good must not fill Redis. Returns how many
 * entries went. Included by XACCT_OUTBOX_LUA.
 */
#define XACCT_OUTBOX_TRIM_LUA                                                             \
    "local function outbox_id_less(a, b)\n"                                              \
    "  local am, as = string.match(a, '^(%d+)-(%d+)$')\n"                               \
    "  local bm, bs = string.match(b, '^(%d+)-(%d+)$')\n"                               \
    "  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)\n"        \
    "  return am < bm or (am == bm and as < bs)\n"                                       \
    "end\n"                                                                              \
    "local function outbox_nth_id(okey, n)\n"                                            \
    "  local r = redis.call('XRANGE', okey, '-', '+', 'COUNT', n)\n"                     \
    "  return r[#r][1]\n"                                                                \
    "end\n"                                                                              \
    "local function outbox_trim(okey, maxlen, slack, hard)\n"                            \
    "  local n = redis.call('XLEN', okey)\n"                                             \
    "  if n <= maxlen + slack then return 0 end\n"                                       \
    /* The oldest entry a group still needs: its first pending one, or the    */        \
    /* first one after what it has read.                                       */        \
    "  local keep\n"                                                                     \
    "  for _, g in ipairs(redis.call('XINFO', 'GROUPS', okey)) do\n"                     \
    "    local f = {}\n"                                                                 \
    "    for i = 1, #g, 2 do f[g[i]] = g[i + 1] end\n"                                   \
    "    local need = {}\n"                                                              \
    "    if f['pending'] > 0 then\n"                                                     \
    "      need[#need + 1] = redis.call('XPENDING', okey, f['name'], '-', '+', 1)[1][1]\n" \
    "    end\n"                                                                          \
    "    local unread = redis.call('XRANGE', okey, '(' .. f['last-delivered-id'], '+',\n" \
    "                              'COUNT', 1)\n"                                        \
    "    if unread[1] then need[#need + 1] = unread[1][1] end\n"                         \
    "    for _, id in ipairs(need) do\n"                                                 \
    "      if not keep or outbox_id_less(id, keep) then keep = id end\n"                 \
    "    end\n"                                                                          \
    "  end\n"                                                                            \
    "  local oldest = outbox_nth_id(okey, 1)\n"                                          \
    "  local bound = oldest\n"                                                           \
    "  if not keep or outbox_id_less(oldest, keep) then\n"                               \
    "    bound = outbox_nth_id(okey, math.min(n - maxlen, 1000) + 1)\n"                  \
    "    if keep and outbox_id_less(keep, bound) then bound = keep end\n"                \
    "  end\n"                                                                            \
    "  if n > hard then\n"                                                               \
    "    local h = outbox_nth_id(okey, math.min(n - hard, 1000) + 1)\n"                  \
    "    if outbox_id_less(bound, h) then bound = h end\n"                               \
    "  end\n"                                                                            \
    "  if bound == oldest then return 0 end\n"                                           \
    "  return redis.call('XTRIM', okey, 'MINID', bound)\n"                               \
    "end\n"

/* The outbox_trim call every append makes. */
#define XACCT_OUTBOX_TRIM_CALL(okey)                                                      \
    "outbox_trim(" okey ", " XACCT_OUTBOX_XSTR_(XACCT_OUTBOX_MAXLEN) ", "                  \
    XACCT_OUTBOX_XSTR_(XACCT_OUTBOX_TRIM_SLACK) ", "                                       \
    XACCT_OUTBOX_XSTR_(XACCT_OUTBOX_HARD_MAXLEN) ")\n"

/*
 * Lua text defining
 *
 *   outbox_append(outbox_key, customer_key, account, type, time, reason)
 *
 * outbox_key is the full name of <prefix>outbox (pass it in KEYS),
 * customer_key the customer:<account> hash already updated by the caller,
 * type one of SPEC §8's "customer.*" names, time the RFC 3339 time of the
 * change, reason a text or '' / nil for none. It increments the record's
 * `seq`, reads state, role_arn, region and stack_id from the record, and
 * XADDs the event JSON, then trims the stream (outbox_trim: never an event
 * not yet delivered). Returns the seq.
 * Include it at the top of a script (it defines a local function).
 */
#define XACCT_OUTBOX_LUA                                                                  \
    XACCT_OUTBOX_TRIM_LUA                                                                 \
    "local function outbox_append(okey, ckey, account, etype, time, reason)\n"            \
    "  local seq = redis.call('HINCRBY', ckey, 'seq', 1)\n"                               \
    "  local h = redis.call('HMGET', ckey, 'state', 'role_arn', 'region', 'stack_id')\n"  \
    "  local function opt(v)\n"                                                           \
    "    if v == nil or v == false or v == '' then return cjson.null end\n"               \
    "    return v\n"                                                                      \
    "  end\n"                                                                             \
    "  local id = 'evt_' .. string.sub(redis.sha1hex(account .. '\\n' .. seq .. '\\n' ..\n" \
    "                                   time .. '\\n' .. etype), 1, 32)\n"               \
    "  local ev = {id = id, type = etype, time = time, account_id = account, seq = seq,\n" \
    "              state = opt(h[1]), role_arn = opt(h[2]), region = opt(h[3]),\n"        \
    "              stack_id = opt(h[4]), reason = opt(reason)}\n"                         \
    "  redis.call('XADD', okey, '*', 'event', cjson.encode(ev))\n"                       \
    "  " XACCT_OUTBOX_TRIM_CALL("okey")                                                   \
    "  return seq\n"                                                                      \
    "end\n"

/* One outbox or outbox:dead entry. */
typedef struct xacct_outbox_item {
    const char *id;          /* stream entry id ("1714561234567-0") */
    const char *event;       /* the event JSON */
    size_t event_len;
    int64_t appended_ms;     /* when the entry was appended (its id's time part) */
    /* read only: */
    bool reclaimed;          /* handed out before, now taken over (XAUTOCLAIM)
                                from a silent worker or one that left it
                                pending; false: read from the stream for the
                                first time */
    /* list only: */
    const char *status;      /* "new" (not yet read by the group), "pending"
                                (read, not acknowledged) or "delivered" */
    const char *consumer;    /* pending: the worker holding it; else "" */
    long long deliveries;    /* pending: times handed to a worker; else 0 */
    long long idle_ms;       /* pending: since the last hand-over; else 0 */
    /* dead only: */
    const char *reason;      /* why delivery was given up */
    const char *outbox_id;   /* the entry's id in outbox */
    long long attempts;      /* delivery attempts made */
} xacct_outbox_item_t;

/* Orders two stream entry ids ("ms-seq") as (ms, seq) pairs of numbers:
 * <0, 0 or >0. A missing "-seq" counts as 0. */
int xacct_outbox_id_cmp(const char *a, const char *b);

typedef void (*xacct_outbox_items_cb)(int status, const char *detail,
                                      const xacct_outbox_item_t *items, size_t n, void *arg);
typedef void (*xacct_outbox_done_cb)(int status, const char *detail, void *arg);

/* What a read answers: the entries handed over, and the XAUTOCLAIM cursor
 * the next reclaim starts from (borrowed, like the items; "0-0" after a full
 * pass over the pending list, claim_from itself when no reclaim was asked;
 * NULL on failure). */
typedef void (*xacct_outbox_read_cb)(int status, const char *detail,
                                     const xacct_outbox_item_t *items, size_t n,
                                     const char *next_claim, void *arg);

/*
 * Hands at most count entries to consumer through the group (what is read
 * becomes the consumer's: ask for the room there is): with min_idle_ms > 0,
 * up to half of count (at least one) that any consumer (this one included)
 * has left idle longer than that (XAUTOCLAIM from claim_from, NULL meaning
 * "0-0"; their items are marked reclaimed and come first), and then, in any
 * case, new ones for the rest (XREADGROUP, never blocking the shared
 * connection). One reclaim looks at no more than ten times what it may
 * take: pass each call the previous one's next_claim so a whole pass
 * reaches the end of the list. Creates the group (from the start of the stream) if needed.
 * Deleted entries that XAUTOCLAIM drops are skipped. A call that reclaims
 * also removes from the group the other consumers that hold nothing and have
 * been idle longer than min_idle_ms (workers that are gone: a consumer is one
 * process).
 */
int xacct_outbox_read(xacct_store_t *s, const char *consumer, size_t count, long long min_idle_ms,
                      const char *claim_from, xacct_outbox_read_cb cb, void *arg) XACCT_MUSTCHECK;

/*
 * Resets the idle time of the entries consumer still holds (XCLAIM ... 0
 * JUSTID, only for entries pending for consumer), so a long backoff is not
 * mistaken for a dead worker. The callback lists, as items with only id set,
 * the entries consumer no longer holds (taken over or acknowledged
 * elsewhere): the caller drops them.
 */
int xacct_outbox_touch(xacct_store_t *s, const char *consumer, const char *const *ids, size_t n,
                       xacct_outbox_items_cb cb, void *arg) XACCT_MUSTCHECK;

/* XACK: the event was delivered. */
int xacct_outbox_ack(xacct_store_t *s, const char *id, xacct_outbox_done_cb cb,
                     void *arg) XACCT_MUSTCHECK;

/* Gives up on entry id atomically: XADD outbox:dead with fields event,
 * reason, outbox_id, attempts, failed_at, then XACK and XDEL from outbox (so
 * the list never shows it as delivered). outbox:dead is never trimmed: its
 * entries stay until redelivered or dropped by the operator. Idempotent: an
 * entry no longer pending in the group (buried already, or acknowledged) is
 * left as it is, and the callback still gets 0, so a bury whose answer was
 * lost can be retried. */
int xacct_outbox_bury(xacct_store_t *s, const char *id, const char *event, size_t event_len,
                      const char *reason, long long attempts, xacct_outbox_done_cb cb,
                      void *arg) XACCT_MUSTCHECK;

/* Events not yet delivered: pending in the group plus not yet read by it
 * (the whole stream when the group does not exist yet). */
typedef void (*xacct_outbox_count_cb)(int status, const char *detail, long long n, void *arg);
int xacct_outbox_backlog(xacct_store_t *s, xacct_outbox_count_cb cb, void *arg) XACCT_MUSTCHECK;

/* The newest count entries of outbox (0 = 100), oldest first, with their
 * delivery status. */
int xacct_outbox_list(xacct_store_t *s, size_t count, xacct_outbox_items_cb cb,
                      void *arg) XACCT_MUSTCHECK;

/* The newest count entries of outbox:dead (0 = 100), newest first. */
int xacct_outbox_dead(xacct_store_t *s, size_t count, xacct_outbox_items_cb cb,
                      void *arg) XACCT_MUSTCHECK;

/* Moves dead entry id back to outbox (same event JSON, so same event id and
 * seq) and deletes it from outbox:dead, atomically; XACCT_ENOTFOUND if there
 * is no such dead entry. The callback's detail is the new outbox entry id. */
int xacct_outbox_redeliver(xacct_store_t *s, const char *dead_id, xacct_outbox_done_cb cb,
                           void *arg) XACCT_MUSTCHECK;

#endif
