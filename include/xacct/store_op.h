/* SPDX-License-Identifier: MIT */
/*
 * What every module of the store layer (customers, jobs, dead, claims,
 * heartbeats, reverify, expiry, outbox, census) does around one Redis command or script: keep the caller's
 * callback and argument while the command is in flight, send it, give up
 * the state and the arguments if the submission fails, check the reply's
 * type, and read stream entries and script replies. Internal to the store
 * layer; callers use the modules' own headers.
 */
#ifndef XACCT_STORE_OP_H
#define XACCT_STORE_OP_H

#include "xacct/codec.h"
#include "xacct/common.h"
#include "xacct/store.h"

/* Any callback type: stored in an op and cast back by its module before the
 * call (a function pointer converts to another function pointer type and
 * back unchanged). */
typedef void (*xacct__store_op_fn)(void);
#define XACCT__STORE_OP_FN(cb) ((xacct__store_op_fn)(cb))

#define XACCT__STORE_OP_ANY (-1) /* expect: any reply type */

typedef struct xacct__store_op xacct__store_op_t;

/*
 * The module's handler of the reply: turns it into the caller's callback,
 * which it calls exactly once. status 0: r is set and, unless the op expects
 * XACCT__STORE_OP_ANY, of the expected type (else the handler gets
 * XACCT_EPARSE, "unexpected reply" and r NULL). detail and r are borrowed.
 * The op is freed after the handler returns.
 */
typedef void (*xacct__store_op_reply_fn)(const xacct__store_op_t *op, int status,
                                         const char *detail, const xacct_store_reply_t *r);

struct xacct__store_op {
    xacct__store_op_reply_fn reply; /* the module's handler */
    int expect;                     /* xacct_store_reply_type_t, or XACCT__STORE_OP_ANY */
    xacct__store_op_fn cb;             /* the caller's callback (its module's type) */
    void *arg;                      /* the caller's argument */
    xacct_store_t *store;           /* for operations of more than one command */
    char *str[2];                   /* strings the handler needs (owned, freed with the op) */
};

/* A new op (heap, owned by the call that sends it). */
xacct__store_op_t *xacct__store_op_new(xacct_store_t *s, xacct__store_op_reply_fn reply,
                                       int expect, xacct__store_op_fn cb, void *arg);

/*
 * Sends the command in a (a->v[0] the command), or runs script with the
 * first nkeys arguments as KEYS. Both always consume op and a: on a
 * submission error (returned as xacct_store_submit / xacct_store_eval
 * return it) op is freed without calling its handler, and a is destroyed
 * either way.
 */
int xacct__store_op_submit(xacct__store_op_t *op, xacct_store_args_t *a) XACCT_MUSTCHECK;
int xacct__store_op_eval(xacct__store_op_t *op, const xacct_store_script_t *script, int nkeys,
                         xacct_store_args_t *a) XACCT_MUSTCHECK;

/* The same in one call, for an op that needs nothing but the callback:
 * xacct__store_op_new then submit (script NULL) or eval. */
int xacct__store_op_run(xacct_store_t *s, const xacct_store_script_t *script, int nkeys,
                        xacct_store_args_t *a, xacct__store_op_reply_fn reply, int expect,
                        xacct__store_op_fn cb, void *arg) XACCT_MUSTCHECK;

/* Sends "<command> <prefix><key>" (key_fmt printf-style), for the reads
 * of one key. */
int xacct__store_op_key(xacct_store_t *s, xacct__store_op_reply_fn reply, int expect,
                        xacct__store_op_fn cb, void *arg, const char *command, const char *key_fmt,
                        ...) XACCT_PRINTF(7, 8) XACCT_MUSTCHECK;

/* ---- arguments --------------------------------------------------------- */

/* Initialises a with "<command> <prefix><key>" (key_fmt printf-style). */
void xacct__store_op_args_cmd(xacct_store_args_t *a, const xacct_store_t *s, const char *command,
                           const char *key_fmt, ...) XACCT_PRINTF(4, 5);

/* Starts the arguments of a take script that leases what is due on the
 * zset named zset: KEYS[1] zset; ARGV 1 now_ms, 2 max, 3 lease_until_ms.
 * XACCT_EINVAL (a untouched) unless s is set, max > 0 and the lease ends
 * after now. */
int xacct__store_op_args_take(xacct_store_args_t *a, const xacct_store_t *s, const char *zset,
                              int64_t now_ms, size_t max, int64_t lease_until_ms) XACCT_MUSTCHECK;

/* Encodes ev (msgpack) as one argument. 0 or the codec's error. */
int xacct__store_op_args_event(xacct_store_args_t *a, const xacct_event_t *ev) XACCT_MUSTCHECK;
/* Encodes job (it carries the external ID: the buffer is wiped). */
int xacct__store_op_args_job(xacct_store_args_t *a, const xacct_job_t *job) XACCT_MUSTCHECK;
/* Adds the SCAN pattern for every key "<prefix><name>*", the prefix's glob
 * characters escaped, and the length of "<prefix><name>" (what to cut off
 * a key to get the rest). */
void xacct__store_op_args_scan(xacct_store_args_t *a, const xacct_store_t *s, const char *name);

/* ---- replies ----------------------------------------------------------- */

/* A whole number answered by a command that ran (status 0) into *v; a reply
 * that is not one turns the status into XACCT_EPARSE with *detail what.
 * Returns the status. */
int xacct__store_op_reply_int(const xacct_store_reply_t *r, int status, const char **detail,
                              const char *what, long long *v);
/* Element i of an array reply as a string ("" when absent or not one). */
const char *xacct__store_op_reply_str(const xacct_store_reply_t *r, size_t i);
/* Field name of a stream entry [id, [f1, v1, ...]], or NULL. */
const xacct_store_reply_t *xacct__store_op_entry_field(const xacct_store_reply_t *entry,
                                                    const char *name);

/* Lua text defining scan(row): walks the keys matching ARGV[1] (a pattern
 * from xacct__store_op_args_scan, ARGV[2] its literal length) and answers
 * the rows row(key, name) gives, name the key past those ARGV[2] bytes,
 * skipping keys it answers nil for; at most ARGV[3] rows. */
#define XACCT__STORE_LUA_SCAN                                                                  \
    "local function scan(row)\n"                                                               \
    "  local cursor, out = '0', {}\n"                                                          \
    "  repeat\n"                                                                               \
    "    local r = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)\n"              \
    "    cursor = r[1]\n"                                                                      \
    "    for _, k in ipairs(r[2]) do\n"                                                        \
    "      local e = row(k, string.sub(k, tonumber(ARGV[2]) + 1))\n"                          \
    "      if e then\n"                                                                        \
    "        out[#out + 1] = e\n"                                                              \
    "        if #out >= tonumber(ARGV[3]) then return out end\n"                               \
    "      end\n"                                                                              \
    "    end\n"                                                                                \
    "  until cursor == '0'\n"                                                                  \
    "  return out\n"                                                                           \
    "end\n"

/* Lua text defining group_read(start): hands up to ARGV[3] entries of the
 * stream KEYS[1] to consumer ARGV[2] of group ARGV[1] (created from the start
 * of the stream if needed). With ARGV[4] (min_idle_ms) > 0 it first reclaims
 * entries held longer than that (XAUTOCLAIM from the cursor start, '0-0' when
 * nil); if none, it reads new ones (XREADGROUP, never blocking). Answers the
 * entries, maybe none, and the cursor the next reclaim continues from ('0-0'
 * after a full pass; start itself when nothing was reclaimed). XAUTOCLAIM
 * looks at no more than ARGV[3] * 10 pending entries a call, so a caller that
 * always started at '0-0' might never reach idle entries far down the list. */
#define XACCT__STORE_LUA_GROUP_READ                                                            \
    "local function group_read(start)\n"                                                       \
    "  local cursor = start or '0-0'\n"                                                        \
    "  redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')\n"                   \
    "  if tonumber(ARGV[4]) > 0 then\n"                                                        \
    "    local c = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[4], cursor,\n"     \
    "                         'COUNT', ARGV[3])\n"                                             \
    "    cursor = c[1]\n"                                                                      \
    "    if #c[2] > 0 then return c[2], cursor end\n"                                          \
    "  end\n"                                                                                  \
    "  local r = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3],\n"      \
    "                       'STREAMS', KEYS[1], '>')\n"                                        \
    "  if not r then return {}, cursor end\n"                                                  \
    "  return r[1][2], cursor\n"                                                               \
    "end\n"

/* The start of a take script on the due-zset KEYS[1]: local var, the members
 * due by Lua expression until, at most max of them. */
#define XACCT__STORE_LUA_DUE(var, until, max)                                                  \
    "local " var " = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', " until ", 'LIMIT', 0,"     \
    " tonumber(" max "))\n"

/* The end of a take script on the due-zset KEYS[1]: answers {list, the
 * earliest score left in the zset or '-1'}. */
#define XACCT__STORE_LUA_DUE_REPLY(list)                                                       \
    "local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')\n"                         \
    "return {" list ", first[2] or '-1'}\n"

/* Reads that reply: *list the entries array (borrowed from r), *first the
 * earliest due time left (-1: none). Returns status when it is not 0 (the
 * command failed), else 0, or XACCT_EPARSE with *detail set. */
int xacct__store_op_due_batch(const xacct_store_reply_t *r, int status, const char **detail,
                              const xacct_store_reply_t **list, long long *first);

/* The callback of a take whose script replies XACCT__STORE_LUA_DUE_REPLY
 * with a count of what it did: done, the due entries looked at, the
 * earliest due time left (-1: none); 0, 0, -1 with a failure. */
typedef void (*xacct__store_op_due_counts_cb)(int status, const char *detail, long long done,
                                              long long looked_at, int64_t next_due_ms,
                                              void *arg);

/* The reply handler of such a take (the op's cb is a due_counts_cb). */
void xacct__store_op_due_counts_reply(const xacct__store_op_t *op, int status, const char *detail,
                                      const xacct_store_reply_t *r);

/* The start of an enrolment batch script: one ZSCAN step over the customers
 * zset KEYS[1] from cursor ARGV[1], about ARGV[2] members: local page (member,
 * score, member, score ...) and local next (0: the walk is done). A scan, not
 * a walk by rank: the zset is re-sorted by every update, which shifts ranks
 * under a walk and could skip a member; a scan returns every member that is
 * there from its start to its end at least once. */
#define XACCT__STORE_LUA_SCAN_CUSTOMERS                                                        \
    "local scan = redis.call('ZSCAN', KEYS[1], ARGV[1], 'COUNT', tonumber(ARGV[2]))\n"      \
    "local page, next = scan[2], tonumber(scan[1])\n"

/* The callback of an enrolment batch (a walk over the customers zset that
 * puts what a due-zset misses on it): enrolled added, next the cursor of the
 * next batch (0: the walk is done). */
typedef void (*xacct__store_op_enrol_cb)(int status, const char *detail, long long enrolled,
                                         long long next, void *arg);
/* The reply handler of an enrolment batch script answering {enrolled,
 * next}; the op's cb is a xacct__store_op_enrol_cb (or a module's typedef of
 * the same signature). */
void xacct__store_op_enrol_reply(const xacct__store_op_t *op, int status, const char *detail,
                                 const xacct_store_reply_t *r);

#endif
