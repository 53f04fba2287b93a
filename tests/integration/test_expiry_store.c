/* SPDX-License-Identifier: MIT */
/*
 * The expiry scripts against a real redis-server: onboarding starts the
 * clock on the pending zset; a take expires only due pending customers, at
 * most max per call, each with its whole state change (record, index, topic
 * set, one outbox event, audit event, cleanup entry) and drops accounts that
 * left pending; cancel closes one pending customer, refuses other states and
 * is repeatable; the cleanup zset leases its entries, backs off on failure
 * and forgets finished ones; workers enrol pending customers missing from
 * the zset. Each test ends with uv_loop_close() == 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store_helper.h"
#include "xacct/customers.h"
#include "xacct/expiry.h"
#include "xacct/store.h"

#define PREFIX "ex-test:"
#define TOPIC "arn:aws:sns:eu-west-1:111111111111:xacct-phone-home-1"

typedef th_store_fx_t fx_t;

typedef th_res_t res_t;

static int setup(void **state)
{
    return th_store_fx_setup(state, PREFIX);
}

static res_t *fresh(res_t *r)
{
    memset(r, 0, sizeof(*r));
    return r;
}

/* ---- raw commands ------------------------------------------------------- */

static void field(fx_t *f, const char *acct, const char *name, char *out, size_t len)
{
    th_customer_field(f, PREFIX, acct, name, out, len);
}

/* One account's lifecycle events of one type in the outbox. */
static int outbox_count(fx_t *f, const char *acct, const char *type)
{
    /* XRANGE's nested entries do not fit res_t: count through a script. */
    res_t c = th_raw(f, "EVAL",
                  "local n = 0\n"
                  "for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do\n"
                  "  local ev = cjson.decode(e[2][2])\n"
                  "  if ev.account_id == ARGV[1] and ev.type == ARGV[2] then n = n + 1 end\n"
                  "end\n"
                  "return n\n",
                  "1", PREFIX "outbox", acct, type, NULL);
    return (int)c.a;
}

/* A pending customer as onboarding leaves it, onboarded at `since`. */
static void seed(fx_t *f, const char *acct, const char *state, const char *xid, long long since)
{
    char key[64], idx[96], when[32];
    snprintf(key, sizeof(key), PREFIX "customer:%s", acct);
    snprintf(idx, sizeof(idx), PREFIX "external-id:%s", xid);
    snprintf(when, sizeof(when), "%lld", since);
    th_raw(f, "DEL", key, NULL);
    th_raw(f, "HSET", key, "account_id", acct, "state", state, "external_id", xid, "topic_arn",
        TOPIC, "region", "eu-west-1", NULL);
    th_raw(f, "SET", idx, acct, NULL);
    th_raw(f, "SADD", PREFIX "topic:" TOPIC, acct, NULL);
    th_raw(f, "ZADD", PREFIX "customers", when, acct, NULL);
    th_raw(f, "ZADD", PREFIX "pending", when, acct, NULL);
}

static int exists(fx_t *f, const char *key)
{
    return (int)th_raw(f, "EXISTS", key, NULL).a;
}

/* ---- wrappers ------------------------------------------------------------ */

static const xacct_event_t event = {.v = 1, .ts = 1, .type = "expired", .outcome = "ok",
                                    .reason = "test", .actor = "w1"};

static void take_cb(int status, const char *detail, long long expired, long long seen,
                    int64_t next, void *arg)
{
    (void)detail;
    res_t *r = arg;
    th_res_finish(r, status);
    r->a = expired;
    r->b = seen;
    r->c = next;
}

static res_t take(fx_t *f, int64_t now, int64_t cutoff, size_t max)
{
    res_t r;
    assert_int_equal(xacct_expiry_take(f->s, now, cutoff, max, &event, "too old", take_cb,
                                       fresh(&r)),
                     0);
    th_res_wait(f, &r);
    assert_int_equal(r.status, 0);
    return r;
}

static void cancel_cb(int status, const char *detail, xacct_expiry_cancel_result_t result,
                      const char *state, const char *member, void *arg)
{
    (void)detail;
    res_t *r = arg;
    th_res_finish(r, status);
    r->result = (int)result;
    snprintf(r->text, sizeof(r->text), "%s", state);
    snprintf(r->items[0], sizeof(r->items[0]), "%s", member);
}

static res_t cancel(fx_t *f, const char *acct)
{
    res_t r;
    assert_int_equal(xacct_expiry_cancel(f->s, acct, &event, "by test", cancel_cb, fresh(&r)), 0);
    th_res_wait(f, &r);
    return r;
}

static void ctake_cb(int status, const char *detail, const char *const *members, size_t n,
                     int64_t next, void *arg)
{
    (void)detail;
    res_t *r = arg;
    th_res_finish(r, status);
    r->n = n;
    r->c = next;
    for (size_t i = 0; i < n && i < 16; i++)
        snprintf(r->items[i], sizeof(r->items[i]), "%s", members[i]);
}

static res_t ctake(fx_t *f, int64_t now, size_t max, int64_t lease)
{
    res_t r;
    assert_int_equal(xacct_expiry_cleanup_take(f->s, now, max, lease, ctake_cb, fresh(&r)), 0);
    th_res_wait(f, &r);
    assert_int_equal(r.status, 0);
    return r;
}

static void done_cb(int status, const char *detail, long long v, void *arg)
{
    (void)detail;
    res_t *r = arg;
    th_res_finish(r, status);
    r->a = v;
}

static long long cleanup_call(fx_t *f, const char *member, int64_t retry_now)
{
    res_t r;
    int rc = retry_now > 0
                 ? xacct_expiry_cleanup_retry(f->s, member, retry_now, done_cb, fresh(&r))
                 : xacct_expiry_cleanup_done(f->s, member, done_cb, fresh(&r));
    assert_int_equal(rc, 0);
    th_res_wait(f, &r);
    assert_int_equal(r.status, 0);
    return r.a;
}

static void reset(fx_t *f)
{
    th_raw(f, "EVAL",
        "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end return 0",
        "0", PREFIX "*", NULL);
}

/* ---- tests --------------------------------------------------------------- */

static void onboarded_cb(int status, const char *detail, const char *prev, void *arg)
{
    (void)detail;
    (void)prev;
    th_res_finish(arg, status);
}

static void test_onboarding_starts_the_clock(void **state)
{
    fx_t *f = *state;
    reset(f);
    res_t r;
    int64_t before = xacct_store_now_ms();
    assert_int_equal(xacct_customers_onboard(f->s, "400000000001", "id-1", NULL, &event, onboarded_cb,
                                             fresh(&r)),
                     0);
    th_res_wait(f, &r);
    assert_int_equal(r.status, 0);
    long long since = th_zscore(f, PREFIX "pending", "400000000001");
    assert_true(since >= before && since <= xacct_store_now_ms());
}

static void test_take_expires_due_pending_customers(void **state)
{
    fx_t *f = *state;
    reset(f);
    int64_t now = xacct_store_now_ms();
    seed(f, "400000000011", "pending", "id-11", now - 10000);
    seed(f, "400000000012", "pending", "id-12", now - 9000);
    seed(f, "400000000013", "active", "id-13", now - 8000);  /* left pending: dropped */
    seed(f, "400000000014", "pending", "id-14", now - 1000); /* not due */

    /* At most max entries per call. */
    res_t r = take(f, now, now - 5000, 1);
    assert_int_equal(r.a, 1);
    assert_int_equal(r.b, 1);
    r = take(f, now, now - 5000, 10);
    assert_int_equal(r.a, 1);                /* 12; 13 is dropped */
    assert_int_equal(r.b, 2);
    assert_int_equal(r.c, now - 1000);       /* 14 is next */
    r = take(f, now, now - 5000, 10);
    assert_int_equal(r.a, 0);
    assert_int_equal(r.b, 0);

    char v[160];
    const char *gone[] = {"400000000011", "400000000012"};
    for (size_t i = 0; i < 2; i++) {
        field(f, gone[i], "state", v, sizeof(v));
        assert_string_equal(v, "expired");
        assert_int_equal(th_zscore(f, PREFIX "pending", gone[i]), -1);
        assert_int_equal(outbox_count(f, gone[i], "customer.expired"), 1);
        assert_int_equal(th_raw(f, "SISMEMBER", PREFIX "topic:" TOPIC, gone[i], NULL).a, 0);
        char member[160];
        snprintf(member, sizeof(member), "%s|id-%s|%s", gone[i], gone[i] + 10, TOPIC);
        assert_int_equal(th_zscore(f, PREFIX "cleanup", member), now);
        char ev[64];
        snprintf(ev, sizeof(ev), PREFIX "events:%s", gone[i]);
        assert_int_equal(th_raw(f, "XLEN", ev, NULL).a, 1);
    }
    assert_int_equal(exists(f, PREFIX "external-id:id-11"), 0);
    assert_int_equal(exists(f, PREFIX "external-id:id-12"), 0);
    field(f, "400000000013", "state", v, sizeof(v));
    assert_string_equal(v, "active");
    assert_int_equal(th_zscore(f, PREFIX "pending", "400000000013"), -1);
    assert_int_equal(exists(f, PREFIX "external-id:id-13"), 1);
    assert_int_equal(outbox_count(f, "400000000013", "customer.expired"), 0);
    field(f, "400000000014", "state", v, sizeof(v));
    assert_string_equal(v, "pending");
    assert_int_equal(exists(f, PREFIX "external-id:id-14"), 1);
    assert_int_equal(th_raw(f, "SISMEMBER", PREFIX "topic:" TOPIC, "400000000014", NULL).a, 1);
}

static void test_cancel(void **state)
{
    fx_t *f = *state;
    reset(f);
    int64_t now = xacct_store_now_ms();
    seed(f, "400000000021", "pending", "id-21", now);
    res_t r = cancel(f, "400000000021");
    assert_int_equal(r.status, 0);
    assert_int_equal(r.result, XACCT_EXPIRY_CANCELLED);
    assert_string_equal(r.items[0], "400000000021|id-21|" TOPIC);
    /* The caller cleans up first: workers wait for a while. */
    assert_true(th_zscore(f, PREFIX "cleanup", r.items[0]) >= now + XACCT_EXPIRY_CANCEL_LEASE_MS);
    assert_int_equal(outbox_count(f, "400000000021", "customer.cancelled"), 1);
    assert_int_equal(exists(f, PREFIX "external-id:id-21"), 0);

    /* Again: the clean-up still due is handed back, nothing else changes. */
    r = cancel(f, "400000000021");
    assert_int_equal(r.status, 0);
    assert_int_equal(r.result, XACCT_EXPIRY_ALREADY);
    assert_string_equal(r.items[0], "400000000021|id-21|" TOPIC);
    assert_int_equal(cleanup_call(f, r.items[0], 0), 1);
    r = cancel(f, "400000000021");
    assert_int_equal(r.result, XACCT_EXPIRY_ALREADY);
    assert_string_equal(r.items[0], "");
    assert_int_equal(outbox_count(f, "400000000021", "customer.cancelled"), 1);

    const char *refused[] = {"active", "rejected", "offboarding", "offboarded", "degraded",
                             "expired"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        seed(f, "400000000022", refused[i], "id-22", now);
        r = cancel(f, "400000000022");
        assert_int_equal(r.status, XACCT_ESTATE);
        assert_string_equal(r.text, refused[i]);
        assert_int_equal(exists(f, PREFIX "external-id:id-22"), 1);
    }
    assert_int_equal(outbox_count(f, "400000000022", "customer.cancelled"), 0);
    r = cancel(f, "400000000029");
    assert_int_equal(r.status, XACCT_ENOTFOUND);
}

static void test_cleanup_lease_backoff_and_done(void **state)
{
    fx_t *f = *state;
    reset(f);
    int64_t now = xacct_store_now_ms();
    th_raw(f, "ZADD", PREFIX "cleanup", "100", "400000000031|a|" TOPIC, NULL);
    th_raw(f, "ZADD", PREFIX "cleanup", "200", "400000000032|b|" TOPIC, NULL);
    res_t r = ctake(f, now, 1, now + 60000);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.items[0], "400000000031|a|" TOPIC);
    assert_int_equal(r.c, 200);
    r = ctake(f, now, 10, now + 60000);
    assert_int_equal(r.n, 1); /* only the other: the first is leased */
    r = ctake(f, now, 10, now + 60000);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.c, now + 60000);

    /* Failures back off: 0.5..1 s, then 1..2 s, then 2..4 s. */
    const char *m = "400000000031|a|" TOPIC;
    long long lo = 500;
    for (int i = 0; i < 3; i++, lo *= 2) {
        long long d = cleanup_call(f, m, now);
        assert_true(d >= lo && d <= 2 * lo);
        assert_int_equal(th_zscore(f, PREFIX "cleanup", m), now + d);
    }
    assert_int_equal(cleanup_call(f, m, 0), 1);
    assert_int_equal(th_zscore(f, PREFIX "cleanup", m), -1);
    assert_int_equal(th_raw(f, "HEXISTS", PREFIX "cleanup:tries", m, NULL).a, 0);
    /* Finished elsewhere meanwhile: a late failure does not bring it back. */
    assert_int_equal(cleanup_call(f, m, now), -1);
    assert_int_equal(th_zscore(f, PREFIX "cleanup", m), -1);
}

static void enrol_cb(int status, const char *detail, long long n, long long next, void *arg)
{
    (void)detail;
    res_t *r = arg;
    th_res_finish(r, status);
    r->a = n;
    r->b = next;
}

static void test_enrol_missing(void **state)
{
    fx_t *f = *state;
    reset(f);
    seed(f, "400000000041", "pending", "id-41", 1000);
    seed(f, "400000000042", "pending", "id-42", 2000);
    seed(f, "400000000043", "active", "id-43", 3000);
    th_raw(f, "DEL", PREFIX "pending", NULL); /* onboarded before expiry existed */
    th_raw(f, "ZADD", PREFIX "pending", "1500", "400000000042", NULL);
    long long cursor = 0, total = 0;
    int calls = 0;
    do {
        res_t r;
        assert_int_equal(xacct_expiry_enrol_missing(f->s, cursor, 2, enrol_cb, fresh(&r)), 0);
        th_res_wait(f, &r);
        assert_int_equal(r.status, 0);
        total += r.a;
        cursor = r.b;
        calls++;
    } while (cursor != 0 && calls < 10);
    assert_int_equal(total, 1);
    assert_int_equal(th_zscore(f, PREFIX "pending", "400000000041"), 1000);
    assert_int_equal(th_zscore(f, PREFIX "pending", "400000000042"), 1500); /* kept (NX) */
    assert_int_equal(th_zscore(f, PREFIX "pending", "400000000043"), -1);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, th_store_fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_onboarding_starts_the_clock),
        T(test_take_expires_due_pending_customers),
        T(test_cancel),
        T(test_cleanup_lease_backoff_and_done),
        T(test_enrol_missing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
