/* SPDX-License-Identifier: MIT */
/*
 * The re-verification schedule's scripts against a real redis-server: a take
 * hands each due account out once and leases it, skipping (and dropping)
 * accounts that are no longer connected; the record script's every outcome
 * (verified, degraded, still degraded, recovered, rescheduled, stale, gone)
 * with its state, verified_at, last_error, audit event and next due time;
 * activation enrols and offboarding drops an account in the apply script,
 * which also lets a degraded customer be updated back to active; and workers
 * enrol connected customers missing from the schedule exactly once, and
 * bring forward those due later than a shortened interval allows. While a
 * rotation is pending, the take hands out the pending ID too, a pass with it
 * is recorded as verified with its own audit event (nothing else changes),
 * and a pending ID replaced during the check makes the outcome stale. Each
 * test ends with uv_loop_close() == 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store_helper.h"
#include "xacct/customers.h"
#include "xacct/reverify.h"
#include "xacct/store.h"

#define PREFIX "rv-test:"
#define ROLE(a) "arn:aws:iam::" a ":role/XacctAccess"

typedef th_store_fx_t fx_t;

typedef th_res_t res_t;

static int setup(void **state)
{
    return th_store_fx_setup(state, PREFIX);
}

/* ---- raw commands ------------------------------------------------------- */

static long long score(fx_t *f, const char *acct)
{
    return th_zscore(f, PREFIX "reverify", acct);
}

static void hget(fx_t *f, const char *acct, const char *name, char *out, size_t len)
{
    th_customer_field(f, PREFIX, acct, name, out, len);
}

/* A connected customer as activation leaves it (the layout of SPEC §5). */
static void seed(fx_t *f, const char *acct, const char *state, const char *role, const char *xid,
                 long long due)
{
    char key[64], when[32];
    snprintf(key, sizeof(key), PREFIX "customer:%s", acct);
    th_raw(f, "DEL", key, NULL);
    th_raw(f, "HSET", key, "account_id", acct, "state", state, "role_arn", role, "external_id", xid,
        "region", "eu-west-1", "last_error", "", NULL);
    snprintf(when, sizeof(when), "%lld", (long long)xacct_store_now_ms());
    th_raw(f, "ZADD", PREFIX "customers", when, acct, NULL);
    if (due >= 0) {
        snprintf(when, sizeof(when), "%lld", due);
        th_raw(f, "ZADD", PREFIX "reverify", when, acct, NULL);
    } else {
        th_raw(f, "ZREM", PREFIX "reverify", acct, NULL);
    }
}

/* ---- wrappers ------------------------------------------------------------ */

static void take_cb(int status, const char *detail, const xacct_reverify_item_t *items, size_t n,
                    int64_t next_due_ms, void *arg)
{
    (void)detail;
    res_t *r = arg;
    th_res_finish(r, status);
    r->n = n;
    r->a = next_due_ms;
    for (size_t i = 0; i < n && i < 16; i++) {
        snprintf(r->items[i], sizeof(r->items[i]), "%s", items[i].account_id);
        assert_string_not_equal(items[i].role_arn, "");
        assert_string_not_equal(items[i].external_id, "");
    }
}

static res_t take(fx_t *f, size_t max, int64_t now, int64_t lease)
{
    res_t r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(xacct_reverify_take(f->s, now, max, lease, take_cb, &r), 0);
    th_res_wait(f, &r);
    assert_int_equal(r.status, 0);
    return r;
}

static void record_cb(int status, const char *detail, xacct_reverify_result_t result, void *arg)
{
    (void)detail;
    res_t *r = arg;
    th_res_finish(r, status);
    r->result = (int)result;
}

static xacct_reverify_result_t record(fx_t *f, const char *acct, const char *role,
                                      const char *xid, xacct_reverify_outcome_t outcome,
                                      const char *reason, int64_t next_due)
{
    res_t r;
    memset(&r, 0, sizeof(r));
    xacct_event_t deg = {.v = 1, .ts = xacct_store_now_ms(), .type = "degraded",
                         .outcome = "failed", .reason = reason, .actor = "w1"};
    xacct_event_t rec = {.v = 1, .ts = xacct_store_now_ms(), .type = "recovered",
                         .outcome = "success", .actor = "w1"};
    xacct_reverify_record_t in = {.account_id = acct, .role_arn = role, .external_id = xid,
                                  .outcome = outcome, .reason = reason, .next_due_ms = next_due,
                                  .degraded_event = &deg, .recovered_event = &rec};
    assert_int_equal(xacct_reverify_record(f->s, &in, record_cb, &r), 0);
    th_res_wait(f, &r);
    assert_int_equal(r.status, 0);
    return (xacct_reverify_result_t)r.result;
}

/* record() with the rotation's pending ID that was checked; with_event: the
 * pass got in with it (the audit event of that case). */
static xacct_reverify_result_t record_pending(fx_t *f, const char *acct, const char *role,
                                              const char *xid, const char *pending,
                                              xacct_reverify_outcome_t outcome, bool with_event,
                                              int64_t next_due)
{
    res_t r;
    memset(&r, 0, sizeof(r));
    xacct_event_t deg = {.v = 1,
                         .ts = xacct_store_now_ms(),
                         .type = "degraded",
                         .outcome = "failed",
                         .reason = "x",
                         .actor = "w1"};
    xacct_event_t rec = {.v = 1,
                         .ts = xacct_store_now_ms(),
                         .type = "recovered",
                         .outcome = "success",
                         .actor = "w1"};
    xacct_event_t pend = {.v = 1,
                          .ts = xacct_store_now_ms(),
                          .type = "reverified",
                          .outcome = "success",
                          .reason = "with the pending external ID",
                          .actor = "w1"};
    xacct_reverify_record_t in = {.account_id = acct,
                                  .role_arn = role,
                                  .external_id = xid,
                                  .pending_external_id = pending,
                                  .outcome = outcome,
                                  .reason = "",
                                  .next_due_ms = next_due,
                                  .degraded_event = &deg,
                                  .recovered_event = &rec,
                                  .pending_trusted_event = with_event ? &pend : NULL};
    assert_int_equal(xacct_reverify_record(f->s, &in, record_cb, &r), 0);
    th_res_wait(f, &r);
    assert_int_equal(r.status, 0);
    return (xacct_reverify_result_t)r.result;
}

static long long events(fx_t *f, const char *acct)
{
    char key[64];
    snprintf(key, sizeof(key), PREFIX "events:%s", acct);
    return th_raw(f, "XLEN", key, NULL).a;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_take_hands_each_due_account_out_once(void **state)
{
    fx_t *f = *state;
    th_raw(f, "DEL", PREFIX "reverify", NULL);
    int64_t now = xacct_store_now_ms();
    seed(f, "710000000001", "active", ROLE("710000000001"), "x1", now - 3000);
    seed(f, "710000000002", "degraded", ROLE("710000000002"), "x2", now - 2000);
    seed(f, "710000000003", "active", ROLE("710000000003"), "x3", now - 1000);
    seed(f, "710000000004", "offboarded", ROLE("710000000004"), "x4", now - 1500);
    seed(f, "710000000005", "active", ROLE("710000000005"), "x5", now + 60000);

    res_t t = take(f, 2, now, now + 120000);
    assert_int_equal(t.n, 2); /* the two due earliest, oldest first */
    assert_string_equal(t.items[0], "710000000001");
    assert_string_equal(t.items[1], "710000000002");
    assert_int_equal(score(f, "710000000001"), now + 120000); /* leased */
    assert_int_equal(t.a, now - 1500); /* more are due */

    t = take(f, 10, now, now + 120000);
    assert_int_equal(t.n, 1); /* ..03; ..04 is offboarded and leaves the schedule */
    assert_string_equal(t.items[0], "710000000003");
    assert_int_equal(score(f, "710000000004"), -1);
    assert_int_equal(t.a, now + 60000); /* the earliest left: ..05 */

    t = take(f, 10, now, now + 120000);
    assert_int_equal(t.n, 0); /* nothing is handed out twice */
}

static void test_record_outcomes(void **state)
{
    fx_t *f = *state;
    const char *acct = "720000000001", *role = ROLE("720000000001");
    int64_t now = xacct_store_now_ms();
    seed(f, acct, "active", role, "x-720", now + 120000);
    char v[256];
    long long ev0 = events(f, acct);

    assert_int_equal(record(f, acct, role, "x-720", XACCT_REVERIFY_SECURE, "", now + 5000),
                     XACCT_REVERIFY_VERIFIED);
    hget(f, acct, "verified_at", v, sizeof(v));
    assert_true(v[0] != '\0');
    assert_int_equal(score(f, acct), now + 5000);
    assert_int_equal(events(f, acct), ev0); /* no state change, no event */

    assert_int_equal(record(f, acct, role, "x-720", XACCT_REVERIFY_DRIFTED,
                            "probe 'wrong' was allowed", now + 6000),
                     XACCT_REVERIFY_DEGRADED);
    hget(f, acct, "state", v, sizeof(v));
    assert_string_equal(v, "degraded");
    hget(f, acct, "last_error", v, sizeof(v));
    assert_string_equal(v, "probe 'wrong' was allowed");
    assert_int_equal(events(f, acct), ev0 + 1);

    assert_int_equal(record(f, acct, role, "x-720", XACCT_REVERIFY_DRIFTED, "role deleted",
                            now + 7000),
                     XACCT_REVERIFY_STILL_DEGRADED);
    hget(f, acct, "last_error", v, sizeof(v));
    assert_string_equal(v, "role deleted");
    assert_int_equal(events(f, acct), ev0 + 1);

    /* Transient: only the due time changes. */
    assert_int_equal(record(f, acct, role, "x-720", XACCT_REVERIFY_UNKNOWN, "", now + 8000),
                     XACCT_REVERIFY_RESCHEDULED);
    hget(f, acct, "state", v, sizeof(v));
    assert_string_equal(v, "degraded");
    assert_int_equal(score(f, acct), now + 8000);

    assert_int_equal(record(f, acct, role, "x-720", XACCT_REVERIFY_SECURE, "", now + 9000),
                     XACCT_REVERIFY_RECOVERED);
    hget(f, acct, "state", v, sizeof(v));
    assert_string_equal(v, "active");
    hget(f, acct, "last_error", v, sizeof(v));
    assert_string_equal(v, "");
    assert_int_equal(events(f, acct), ev0 + 2);

    /* The ID was rotated (or the role replaced) while the check ran: the
     * outcome says nothing about the record; due again now. */
    assert_int_equal(record(f, acct, role, "x-old", XACCT_REVERIFY_DRIFTED, "x", now + 9999),
                     XACCT_REVERIFY_STALE);
    hget(f, acct, "state", v, sizeof(v));
    assert_string_equal(v, "active");
    assert_true(score(f, acct) <= xacct_store_now_ms());

    /* Offboarded meanwhile: off the schedule, nothing else touched. */
    char key[64];
    snprintf(key, sizeof(key), PREFIX "customer:%s", acct);
    th_raw(f, "HSET", key, "state", "offboarding", NULL);
    assert_int_equal(record(f, acct, role, "x-720", XACCT_REVERIFY_DRIFTED, "x", now + 9999),
                     XACCT_REVERIFY_GONE);
    assert_int_equal(score(f, acct), -1);
    hget(f, acct, "state", v, sizeof(v));
    assert_string_equal(v, "offboarding");
}

/* Which string field of each taken item take_field_cb copies into
 * r->items (an offsetof into xacct_reverify_item_t). */
static size_t take_field_off;

static void take_field_cb(int status, const char *detail, const xacct_reverify_item_t *items,
                          size_t n, int64_t next_due_ms, void *arg)
{
    (void)detail;
    (void)next_due_ms;
    res_t *r = arg;
    th_res_finish(r, status);
    r->n = n;
    for (size_t i = 0; i < n && i < 16; i++)
        snprintf(r->items[i], sizeof(r->items[i]), "%s",
                 *(const char *const *)((const char *)&items[i] + take_field_off));
}

static void test_record_with_a_rotation_pending(void **state)
{
    fx_t *f = *state;
    const char *acct = "725000000001", *role = ROLE("725000000001");
    th_raw(f, "DEL", PREFIX "reverify", NULL);
    int64_t now = xacct_store_now_ms();
    seed(f, acct, "active", role, "x-725", now - 1000);
    char key[64], v[256];
    snprintf(key, sizeof(key), PREFIX "customer:%s", acct);

    /* Without a rotation the take hands out "" as the pending ID; with one,
     * the pending ID. */
    res_t t;
    memset(&t, 0, sizeof(t));
    take_field_off = offsetof(xacct_reverify_item_t, pending_external_id);
    assert_int_equal(xacct_reverify_take(f->s, now, 10, now + 120000, take_field_cb, &t), 0);
    th_res_wait(f, &t);
    assert_int_equal(t.n, 1);
    assert_string_equal(t.items[0], "");
    th_raw(f, "HSET", key, "pending_external_id", "p-725", NULL);
    th_raw(f, "ZADD", PREFIX "reverify", "1", acct, NULL);
    memset(&t, 0, sizeof(t));
    take_field_off = offsetof(xacct_reverify_item_t, pending_external_id);
    assert_int_equal(xacct_reverify_take(f->s, now, 10, now + 120000, take_field_cb, &t), 0);
    th_res_wait(f, &t);
    assert_int_equal(t.n, 1);
    assert_string_equal(t.items[0], "p-725");

    /* Secure with the pending ID: verified, one audit event, IDs untouched. */
    long long ev0 = events(f, acct);
    assert_int_equal(
        record_pending(f, acct, role, "x-725", "p-725", XACCT_REVERIFY_SECURE, true, now + 5000),
        XACCT_REVERIFY_VERIFIED);
    hget(f, acct, "verified_at", v, sizeof(v));
    assert_true(v[0] != '\0');
    assert_int_equal(events(f, acct), ev0 + 1);
    hget(f, acct, "external_id", v, sizeof(v));
    assert_string_equal(v, "x-725");
    hget(f, acct, "pending_external_id", v, sizeof(v));
    assert_string_equal(v, "p-725");
    hget(f, acct, "state", v, sizeof(v));
    assert_string_equal(v, "active");
    assert_int_equal(score(f, acct), now + 5000);

    /* Secure with the current ID while a rotation is pending: no event. */
    assert_int_equal(
        record_pending(f, acct, role, "x-725", "p-725", XACCT_REVERIFY_SECURE, false, now + 5500),
        XACCT_REVERIFY_VERIFIED);
    assert_int_equal(events(f, acct), ev0 + 1);

    /* Degraded, then a pass with the pending ID: recovered, and said. */
    assert_int_equal(
        record_pending(f, acct, role, "x-725", "p-725", XACCT_REVERIFY_DRIFTED, false, now + 6000),
        XACCT_REVERIFY_DEGRADED);
    assert_int_equal(
        record_pending(f, acct, role, "x-725", "p-725", XACCT_REVERIFY_SECURE, true, now + 7000),
        XACCT_REVERIFY_RECOVERED);
    hget(f, acct, "state", v, sizeof(v));
    assert_string_equal(v, "active");
    assert_int_equal(events(f, acct), ev0 + 4);

    /* Rotated again (or the rotation ended) while the check ran: stale. */
    assert_int_equal(
        record_pending(f, acct, role, "x-725", "p-old", XACCT_REVERIFY_SECURE, true, now + 8000),
        XACCT_REVERIFY_STALE);
    assert_int_equal(
        record_pending(f, acct, role, "x-725", NULL, XACCT_REVERIFY_DRIFTED, false, now + 8000),
        XACCT_REVERIFY_STALE);
    hget(f, acct, "state", v, sizeof(v));
    assert_string_equal(v, "active");
    assert_int_equal(events(f, acct), ev0 + 4);

    /* The pending-ID event only with a pending ID and a secure outcome. */
    xacct_event_t e = {.v = 1, .ts = now, .type = "x", .outcome = "failed", .actor = "w1"};
    xacct_reverify_record_t in = {.account_id = acct,
                                  .role_arn = role,
                                  .external_id = "x-725",
                                  .outcome = XACCT_REVERIFY_SECURE,
                                  .reason = "",
                                  .next_due_ms = now + 1,
                                  .degraded_event = &e,
                                  .recovered_event = &e,
                                  .pending_trusted_event = &e};
    res_t r;
    assert_int_equal(xacct_reverify_record(f->s, &in, record_cb, &r), XACCT_EINVAL);
    in.pending_external_id = "p-725";
    in.outcome = XACCT_REVERIFY_DRIFTED;
    assert_int_equal(xacct_reverify_record(f->s, &in, record_cb, &r), XACCT_EINVAL);
}

static void apply_cb(int status, const char *detail, xacct_apply_result_t result,
                     const char *prev, void *arg)
{
    (void)detail;
    (void)prev;
    res_t *r = arg;
    th_res_finish(r, status);
    r->result = (int)result;
}

static res_t apply(fx_t *f, const char *acct, const char *type, const char *to, const char *rid,
                   int64_t due)
{
    res_t r;
    memset(&r, 0, sizeof(r));
    char stack[128], pid[32];
    snprintf(stack, sizeof(stack), "arn:aws:cloudformation:eu-west-1:%s:stack/xacct/1", acct);
    snprintf(pid, sizeof(pid), "xacct-%s", acct);
    xacct_event_t ev = {.v = 1, .ts = xacct_store_now_ms(), .type = type, .request_id = rid,
                        .outcome = "success", .actor = "w1"};
    xacct_job_t job = {.v = 1, .account_id = acct, .role_arn = ROLE("730000000001"),
                       .external_id = "x-730", .stack_id = stack, .region = "eu-west-1",
                       .request_id = rid, .requested_at = xacct_store_now_ms()};
    xacct_customer_apply_t in = {
        .account_id = acct, .request_type = type, .request_id = rid, .to_state = to,
        .role_arn = ROLE("730000000001"), .stack_id = stack, .region = "eu-west-1",
        .physical_id = pid, .last_error = "", .expect_physical_id = pid, .event = &ev,
        .job = &job, .reverify_due_ms = due};
    assert_int_equal(xacct_customers_apply(f->s, &in, apply_cb, &r), 0);
    th_res_wait(f, &r);
    return r;
}

static void test_activation_enrols_and_offboarding_drops(void **state)
{
    fx_t *f = *state;
    const char *acct = "730000000001";
    seed(f, acct, "pending", ROLE("730000000001"), "x-730", -1);
    int64_t due = xacct_store_now_ms() + 86400000;
    res_t r = apply(f, acct, "Create", "active", "r-1", due);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.result, XACCT_APPLY_APPLIED);
    assert_int_equal(score(f, acct), due);
    char v[128];
    hget(f, acct, "verified_at", v, sizeof(v));
    assert_true(v[0] != '\0');

    /* Re-verification degrades it; an Update that passes makes it active
     * again (a Create may not), and pushes its due time. */
    assert_int_equal(record(f, acct, ROLE("730000000001"), "x-730", XACCT_REVERIFY_DRIFTED,
                            "deleted", due),
                     XACCT_REVERIFY_DEGRADED);
    r = apply(f, acct, "Create", "active", "r-2", due);
    assert_int_equal(r.status, XACCT_ESTATE);
    r = apply(f, acct, "Update", "active", "r-3", due + 1000);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.result, XACCT_APPLY_APPLIED);
    hget(f, acct, "state", v, sizeof(v));
    assert_string_equal(v, "active");
    assert_int_equal(score(f, acct), due + 1000);

    /* Degraded customers offboard like active ones, and leave the schedule. */
    assert_int_equal(record(f, acct, ROLE("730000000001"), "x-730", XACCT_REVERIFY_DRIFTED,
                            "deleted", due),
                     XACCT_REVERIFY_DEGRADED);
    r = apply(f, acct, "Delete", "offboarding", "r-4", 0);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.result, XACCT_APPLY_APPLIED);
    hget(f, acct, "state", v, sizeof(v));
    assert_string_equal(v, "offboarding");
    assert_int_equal(score(f, acct), -1);
}

static void enrol_cb(int status, const char *detail, long long n, long long next, void *arg)
{
    (void)detail;
    res_t *r = arg;
    th_res_finish(r, status);
    r->a = n;
    r->b = next;
}

static res_t enrol_until(fx_t *f, long long cursor, long long batch, int64_t latest_due_ms)
{
    res_t r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(
        xacct_reverify_enrol_missing(f->s, cursor, batch, 3600, latest_due_ms, enrol_cb, &r), 0);
    th_res_wait(f, &r);
    assert_int_equal(r.status, 0);
    return r;
}

static res_t enrol(fx_t *f, long long cursor, long long batch)
{
    return enrol_until(f, cursor, batch, 0);
}

static void test_enrol_missing_once(void **state)
{
    fx_t *f = *state;
    th_raw(f, "DEL", PREFIX "customers", PREFIX "reverify", NULL);
    int64_t now = xacct_store_now_ms();
    seed(f, "740000000001", "active", ROLE("740000000001"), "x1", -1);
    seed(f, "740000000002", "degraded", ROLE("740000000002"), "x2", -1);
    seed(f, "740000000003", "pending", ROLE("740000000003"), "x3", -1);
    seed(f, "740000000004", "active", ROLE("740000000004"), "x4", now + 5); /* scheduled */
    seed(f, "740000000005", "active", ROLE("740000000005"), "x5", -1);

    long long total = 0, cursor = 0;
    int batches = 0;
    do {
        res_t r = enrol(f, cursor, 2);
        total += r.a;
        cursor = r.b;
        batches++;
    } while (cursor != 0 && batches < 10);
    assert_true(batches >= 1 && batches < 10);
    assert_int_equal(total, 3); /* 01, 02, 05 */
    assert_int_equal(score(f, "740000000003"), -1);
    assert_int_equal(score(f, "740000000004"), now + 5); /* untouched */
    long long s = score(f, "740000000005");
    assert_true(s >= now && s <= xacct_store_now_ms() + 3600 * 1000);
    assert_int_equal(enrol(f, 0, 100).a, 0); /* idempotent */
}

/* Updates re-sort the customers zset while the walk goes on (each moves an
 * account to its end): every connected customer is still enrolled, none
 * skipped because the ranks shifted under the walk. */
static void test_enrol_misses_nobody_while_updates_reorder(void **state)
{
    fx_t *f = *state;
    th_raw(f, "DEL", PREFIX "customers", PREFIX "reverify", NULL);
    enum { N = 300 }; /* past a listpack: a real hash table to scan */
    char acct[16];
    for (int i = 0; i < N; i++) {
        snprintf(acct, sizeof(acct), "76%010d", i);
        seed(f, acct, "active", "arn:aws:iam::760000000000:role/x", "x", -1);
        char when[24];
        snprintf(when, sizeof(when), "%d", 1000 + i);
        th_raw(f, "ZADD", PREFIX "customers", when, acct, NULL);
    }
    long long cursor = 0, total = 0, bump = 100000;
    int batches = 0;
    do {
        res_t r = enrol(f, cursor, 10);
        total += r.a;
        cursor = r.b;
        batches++;
        /* The account first in the zset is updated: it moves to the end. */
        th_res_t fr = th_raw(f, "ZRANGE", PREFIX "customers", "0", "0", NULL);
        char first[sizeof(fr.items[0])];
        snprintf(first, sizeof(first), "%s", fr.items[0]);
        char when[24];
        snprintf(when, sizeof(when), "%lld", bump++);
        th_raw(f, "ZADD", PREFIX "customers", when, first, NULL);
    } while (cursor != 0 && batches < 1000);
    assert_true(batches > 1);
    assert_int_equal(total, N);
    assert_int_equal(th_raw(f, "ZCARD", PREFIX "reverify", NULL).a, N);
}

/* A reload shortened check.reverify_interval (a day to an hour): customers
 * scheduled under the old one are brought forward to within the new one by
 * the walk, instead of waiting out the day; those already due within it, a
 * lease among them, and customers no longer connected are left alone. */
static void test_enrol_brings_forward_what_a_longer_interval_scheduled(void **state)
{
    fx_t *f = *state;
    th_raw(f, "DEL", PREFIX "customers", PREFIX "reverify", NULL);
    int64_t now = xacct_store_now_ms();
    int64_t day = now + 86400 * 1000LL, lease = now + 120000, soon = now + 600000;
    seed(f, "750000000001", "active", ROLE("750000000001"), "x1", day);
    seed(f, "750000000002", "degraded", ROLE("750000000002"), "x2", day);
    seed(f, "750000000003", "active", ROLE("750000000003"), "x3", lease);
    seed(f, "750000000004", "active", ROLE("750000000004"), "x4", soon);
    seed(f, "750000000005", "offboarding", ROLE("750000000005"), "x5", day);
    int64_t latest = now + 3960 * 1000LL + 120000; /* an hour, +10 %, + a lease */

    /* Without a limit (0), the walk only adds what is missing. */
    assert_int_equal(enrol(f, 0, 100).a, 0);
    assert_int_equal(score(f, "750000000001"), day);

    res_t r = enrol_until(f, 0, 100, latest);
    assert_int_equal(r.a, 2); /* 01, 02 */
    assert_int_equal(r.b, 0);
    for (int i = 1; i <= 2; i++) {
        char acct[16];
        snprintf(acct, sizeof(acct), "75000000000%d", i);
        long long s = score(f, acct);
        assert_true(s >= now && s <= xacct_store_now_ms() + 3600 * 1000);
    }
    assert_int_equal(score(f, "750000000003"), lease);
    assert_int_equal(score(f, "750000000004"), soon);
    assert_int_equal(score(f, "750000000005"), day); /* the take drops it, not the walk */
    assert_int_equal(enrol_until(f, 0, 100, latest).a, 0); /* idempotent */
}

/* An Update verified the role while a re-verification ran (its check began
 * before the customer fixed the role): the older outcome must not degrade
 * the customer the Update just verified. The take hands out the record's
 * last request id and the record script compares it. */
static void test_record_stale_after_an_update(void **state)
{
    fx_t *f = *state;
    const char *acct = "726000000001", *role = ROLE("726000000001");
    th_raw(f, "DEL", PREFIX "reverify", NULL);
    int64_t now = xacct_store_now_ms();
    seed(f, acct, "active", role, "x-726", now - 1000);
    char key[64];
    snprintf(key, sizeof(key), PREFIX "customer:%s", acct);
    th_raw(f, "HSET", key, "last_request_id", "req-before", NULL);
    res_t t;
    memset(&t, 0, sizeof(t));
    take_field_off = offsetof(xacct_reverify_item_t, last_request_id);
    assert_int_equal(xacct_reverify_take(f->s, now, 10, now + 60000, take_field_cb, &t), 0);
    th_res_wait(f, &t);
    assert_int_equal(t.status, 0);
    assert_int_equal(t.n, 1);
    assert_string_equal(t.items[0], "req-before");
    long long ev0 = events(f, acct);

    /* The Update (same role, same ID) is applied meanwhile. */
    th_raw(f, "HSET", key, "last_request_id", "req-update", NULL);
    xacct_event_t deg = {.v = 1, .ts = now, .type = "degraded", .outcome = "failed",
                         .reason = "x", .actor = "w1"};
    xacct_event_t rec = {.v = 1, .ts = now, .type = "recovered", .outcome = "success",
                         .actor = "w1"};
    xacct_reverify_record_t in = {.account_id = acct, .role_arn = role, .external_id = "x-726",
                                  .last_request_id = "req-before",
                                  .outcome = XACCT_REVERIFY_DRIFTED, .reason = "role deleted",
                                  .next_due_ms = now + 9000, .degraded_event = &deg,
                                  .recovered_event = &rec};
    res_t r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(xacct_reverify_record(f->s, &in, record_cb, &r), 0);
    th_res_wait(f, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.result, XACCT_REVERIFY_STALE);
    char v[64];
    hget(f, acct, "state", v, sizeof(v));
    assert_string_equal(v, "active");
    assert_int_equal(events(f, acct), ev0);
    assert_true(score(f, acct) <= xacct_store_now_ms());

    /* Taken again with the Update's id: the outcome counts. */
    in.last_request_id = "req-update";
    memset(&r, 0, sizeof(r));
    assert_int_equal(xacct_reverify_record(f->s, &in, record_cb, &r), 0);
    th_res_wait(f, &r);
    assert_int_equal(r.result, XACCT_REVERIFY_DEGRADED);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, th_store_fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_take_hands_each_due_account_out_once),
        T(test_record_outcomes),
        T(test_record_with_a_rotation_pending),
        T(test_record_stale_after_an_update),
        T(test_activation_enrols_and_offboarding_drops),
        T(test_enrol_missing_once),
        T(test_enrol_misses_nobody_while_updates_reorder),
        T(test_enrol_brings_forward_what_a_longer_interval_scheduled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
