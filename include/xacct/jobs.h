/* SPDX-License-Identifier: MIT */
/*
 * Offboarding jobs (SPEC §5). jobs:offboard is a stream with
 * field job = msgpack job (xacct_job_t) and the consumer group
 * XACCT_JOBS_GROUP; a job is enqueued by xacct_customers_apply (Delete ->
 * offboarding) and closed by xacct_jobs_done, which acknowledges and deletes
 * the entry and moves the customer offboarding -> offboarded atomically, so
 * the stream holds exactly the open jobs. (The dead set is dead.h.)
 *
 * All strings passed in are copied; everything handed to callbacks is
 * borrowed for the duration of the callback.
 */
#ifndef XACCT_JOBS_H
#define XACCT_JOBS_H

#include <stddef.h>
#include <stdint.h>

#include "xacct/codec.h"
#include "xacct/common.h"
#include "xacct/store.h"

#define XACCT_JOBS_GROUP "offboarders" /* consumer group on jobs:offboard */

/* An open job: the stream entry, its raw msgpack payload (decode with
 * xacct_codec_job_decode: it holds the external ID) and the consumer group's
 * view of it. */
typedef struct xacct_jobs_item {
    const char *id;       /* stream entry id: what `xacct jobs done ID` takes */
    const void *job;      /* msgpack job; NULL when the entry has no job field */
    size_t job_len;
    const char *consumer; /* consumer holding it, or NULL if never delivered */
    long long idle_ms;    /* since last delivery (0 if never delivered) */
    long long deliveries; /* times delivered (0 if never) */
} xacct_jobs_item_t;

typedef void (*xacct_jobs_list_cb)(int status, const char *detail,
                                   const xacct_jobs_item_t *items, size_t n, void *arg);

/* Open jobs, oldest first, at most count (0 = 1000), with their pending info. */
int xacct_jobs_list(xacct_store_t *s, size_t count, xacct_jobs_list_cb cb,
                    void *arg) XACCT_MUSTCHECK;

/* One page of the open jobs, oldest first: up to count (0 = 1000, at most
 * 10000) entries after the entry id after (NULL or "": from the first),
 * with their pending info. next is the id to pass as after for the next
 * page, NULL when this page was the last (borrowed like the items). Every
 * entry is listed, also one whose payload does not decode (job NULL when it
 * has no job field at all). */
typedef void (*xacct_jobs_page_cb)(int status, const char *detail,
                                   const xacct_jobs_item_t *items, size_t n, const char *next,
                                   void *arg);
int xacct_jobs_page(xacct_store_t *s, const char *after, size_t count, xacct_jobs_page_cb cb,
                    void *arg) XACCT_MUSTCHECK;

/* Delivers up to count jobs to consumer through the group (XREADGROUP,
 * never blocking the shared connection); with min_idle_ms > 0, first
 * reclaims jobs another consumer has held longer than that (XAUTOCLAIM).
 * Creates the group if needed. Items carry consumer = this consumer. */
int xacct_jobs_read(xacct_store_t *s, const char *consumer, size_t count, long long min_idle_ms,
                    xacct_jobs_list_cb cb, void *arg) XACCT_MUSTCHECK;

/*
 * Closes job id, atomically: XACK + XDEL; if the customer is offboarding,
 * state -> offboarded, the account leaves its topic set (topic_arn cleared),
 * ZADD, audit event (type "offboarded", actor as given), and the rewrite of
 * the topic's policy is queued in the cleanup zset (expiry.h), due at once,
 * as xacct_jobs_cleanup_member(account, topic): whoever runs it (the caller
 * with xacct_cancel_cleanup, else the workers, with backoff) revokes the
 * account's right to publish. changed is 1 when the state moved, 0 when only
 * the job was closed (the record had moved on); topic_arn is the topic whose
 * policy must now be rewritten ("" if none).
 * An entry whose payload does not decode names no customer: it is closed
 * (XACK + XDEL) with nothing else changed, and the callback gets status 0,
 * changed 0, account_id "" and detail XACCT_JOBS_UNDECODABLE (on other
 * successes detail is NULL).
 * XACCT_ENOTFOUND: no such open job. XACCT_EINVAL: id is not a stream id.
 */
#define XACCT_JOBS_UNDECODABLE "job payload does not decode"
typedef void (*xacct_jobs_done_cb)(int status, const char *detail, int changed,
                                   const char *account_id, const char *topic_arn, void *arg);
int xacct_jobs_done(xacct_store_t *s, const char *id, const char *actor, xacct_jobs_done_cb cb,
                    void *arg) XACCT_MUSTCHECK;

/* The cleanup entry xacct_jobs_done queued for account and topic_arn
 * (owned). */
char *xacct_jobs_cleanup_member(const char *account_id, const char *topic_arn);

#endif
