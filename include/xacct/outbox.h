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

#include <stddef.h>
#include <stdint.h>

#include "xacct/common.h"
#include "xacct/store.h"

#define XACCT_OUTBOX_GROUP "webhook"     /* consumer group on outbox */
#define XACCT_OUTBOX_MAXLEN 100000       /* outbox cap (approximate, MAXLEN ~) */
#define XACCT_OUTBOX_DEAD_MAXLEN 10000   /* outbox:dead cap (approximate) */

#define XACCT_OUTBOX_STR_(x) #x
#define XACCT_OUTBOX_XSTR_(x) XACCT_OUTBOX_STR_(x)

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
 * XADDs the event JSON (MAXLEN ~ XACCT_OUTBOX_MAXLEN). Returns the seq.
 * Include it at the top of a script (it defines a local function).
 */
#define XACCT_OUTBOX_LUA                                                                  \
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
    "  redis.call('XADD', okey, 'MAXLEN', '~', '"                                         \
    XACCT_OUTBOX_XSTR_(XACCT_OUTBOX_MAXLEN) "', '*', 'event', cjson.encode(ev))\n"        \
    "  return seq\n"                                                                      \
    "end\n"

/* One outbox or outbox:dead entry. */
typedef struct xacct_outbox_item {
    const char *id;          /* stream entry id ("1714561234567-0") */
    const char *event;       /* the event JSON */
    size_t event_len;
    int64_t appended_ms;     /* when the entry was appended (its id's time part) */
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

/*
 * Hands up to count entries to consumer through the group: with
 * min_idle_ms > 0 it first reclaims entries another consumer has held longer
 * than that (XAUTOCLAIM); if none, it reads new ones (XREADGROUP, never
 * blocking the shared connection). Creates the group (from the start of the
 * stream) if needed. Deleted entries that XAUTOCLAIM drops are skipped.
 */
int xacct_outbox_read(xacct_store_t *s, const char *consumer, size_t count,
                      long long min_idle_ms, xacct_outbox_items_cb cb, void *arg) XACCT_MUSTCHECK;

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

/* Gives up on entry id atomically: XADD outbox:dead (MAXLEN ~) with fields
 * event, reason, outbox_id, attempts, failed_at, then XACK. */
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
