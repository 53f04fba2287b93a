/* SPDX-License-Identifier: MIT */
/*
 * The transactional outbox against a real redis-server: every SPEC §5
 * transition the store implements today appends exactly one event to the
 * outbox stream, with the right type, state and per-customer seq, in the
 * same script as the change (a refused transition, a duplicate request and
 * an audit-only apply append none), and no event carries an external ID.
 * Then the deliverer's operations: reading through the group, touching held
 * entries, acknowledging, reclaiming a dead consumer's entries with
 * XAUTOCLAIM (continued from its cursor past entries a live consumer holds,
 * and never instead of the new entries),
 * burying in outbox:dead (and out of the outbox; once, however often it is
 * run; outbox:dead keeps every event given up on), redelivering, the backlog
 * count and the operator's list with its statuses. Each test ends with
 * uv_loop_close() == 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "store_helper.h"
#include "xacct/codec.h"
#include "xacct/customers.h"
#include "xacct/jobs.h"
#include "xacct/outbox.h"
#include "xacct/reverify.h"
#include "xacct/store.h"

#define PREFIX "outbox-test:"
#define MAXITEMS 64

typedef struct res {
    int done;
    int status;
    char detail[256];
    long long count;
    size_t n;
    char ids[MAXITEMS][64];
    char events[MAXITEMS][1024];
    char statuses[MAXITEMS][16];
    char consumers[MAXITEMS][64];
    long long deliveries[MAXITEMS];
    bool reclaimed[MAXITEMS];
    char reasons[MAXITEMS][128];
    char next_claim[64]; /* a read's XAUTOCLAIM cursor */
} res_t;

typedef th_store_fx_t fx_t;

static void raw_cb(int status, const char *detail, const xacct_store_reply_t *rep, void *arg);

static int setup(void **state)
{
    fx_t *f = th_store_fx_new(PREFIX);
    if (f == NULL)
        return -1;
    *state = f;
    /* Each test starts from an empty database. */
    int done = 0;
    if (xacct_store_cmd(f->s, raw_cb, &done, "FLUSHDB", NULL) != 0)
        return -1;
    return th_run_until(&f->loop, &done, 10000) ? 0 : -1;
}

static void raw_cb(int status, const char *detail, const xacct_store_reply_t *rep, void *arg)
{
    XACCT_UNUSED(detail);
    XACCT_UNUSED(rep);
    assert_int_equal(status, 0);
    *(int *)arg = 1;
}

static void wait_res(fx_t *f, res_t *r)
{
    assert_true(th_run_until(&f->loop, &r->done, 10000));
}

static void set_res(res_t *r, int status, const char *detail)
{
    assert_int_equal(r->done, 0); /* exactly once */
    r->done = 1;
    r->status = status;
    snprintf(r->detail, sizeof(r->detail), "%s", detail ? detail : "");
}

/* ---- state changes ------------------------------------------------------ */

static void onboard_cb(int status, const char *detail, const char *prev, void *arg)
{
    XACCT_UNUSED(prev);
    set_res(arg, status, detail);
}

static int onboard(fx_t *f, const char *acct, const char *xid, int rotate)
{
    res_t r;
    memset(&r, 0, sizeof(r));
    xacct_event_t ev = {.v = 1, .ts = xacct_store_now_ms(), .type = "onboarded", .actor = "cli"};
    if (rotate)
        assert_int_equal(xacct_customers_rotate(f->s, acct, xid, &ev, onboard_cb, &r), 0);
    else
        assert_int_equal(
            xacct_customers_onboard(f->s, acct, xid, "eu-central-1", &ev, onboard_cb, &r), 0);
    wait_res(f, &r);
    return r.status;
}

static void apply_cb(int status, const char *detail, xacct_apply_result_t result,
                     const char *prev, void *arg)
{
    XACCT_UNUSED(prev);
    res_t *r = arg;
    set_res(r, status, detail);
    r->count = (long long)result;
}

/* Applies a CloudFormation outcome (rotate_to: an Update proving the pending
 * external ID); returns the status, *result the result. */
static int apply_ex(fx_t *f, const char *acct, const char *type, const char *to,
                    const char *rid, int *result, const char *rotate_to)
{
    res_t r;
    memset(&r, 0, sizeof(r));
    char *stack = xacct_asprintf("arn:aws:cloudformation:eu-west-1:%s:stack/xacct/1", acct);
    char *pid = xacct_asprintf("xacct-%s", acct);
    char *role = xacct_asprintf("arn:aws:iam::%s:role/xacct", acct);
    xacct_event_t ev = {.v = 1, .ts = xacct_store_now_ms(), .type = type, .request_id = rid,
                        .stack_id = stack, .outcome = "SUCCESS", .actor = "worker-1"};
    xacct_job_t job = {.v = 1, .account_id = acct, .role_arn = role,
                       .external_id = "xid-secret-job", .stack_id = stack,
                       .region = "eu-west-1", .request_id = rid,
                       .requested_at = xacct_store_now_ms()};
    xacct_customer_apply_t in = {
        .account_id = acct, .request_type = type, .request_id = rid, .to_state = to,
        .role_arn = role, .stack_id = stack, .region = "eu-west-1", .physical_id = pid,
        .last_error = to && strcmp(to, "rejected") == 0 ? "assumable without external ID" : "",
        .expect_physical_id = pid, .event = &ev, .job = &job, .rotate_to = rotate_to};
    assert_int_equal(xacct_customers_apply(f->s, &in, apply_cb, &r), 0);
    wait_res(f, &r);
    free(stack);
    free(pid);
    free(role);
    if (result != NULL)
        *result = (int)r.count;
    return r.status;
}

static int apply(fx_t *f, const char *acct, const char *type, const char *to, const char *rid,
                 int *result)
{
    return apply_ex(f, acct, type, to, rid, result, NULL);
}

static void jobs_cb(int status, const char *detail, const xacct_jobs_item_t *items, size_t n,
                    void *arg)
{
    res_t *r = arg;
    set_res(r, status, detail);
    r->n = n;
    for (size_t i = 0; i < n && i < MAXITEMS; i++)
        snprintf(r->ids[i], sizeof(r->ids[i]), "%s", items[i].id);
}

static void done_cb(int status, const char *detail, int changed, const char *account,
                    const char *topic, void *arg)
{
    XACCT_UNUSED(account);
    XACCT_UNUSED(topic);
    res_t *r = arg;
    set_res(r, status, detail);
    r->count = changed;
}

/* Closes the only open offboarding job. */
static void jobs_done(fx_t *f)
{
    res_t r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(xacct_jobs_list(f->s, 0, jobs_cb, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.n, 1);
    char id[64];
    snprintf(id, sizeof(id), "%s", r.ids[0]);
    memset(&r, 0, sizeof(r));
    assert_int_equal(xacct_jobs_done(f->s, id, "cli", done_cb, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.count, 1);
}

static void reverify_cb(int status, const char *detail, xacct_reverify_result_t result, void *arg)
{
    res_t *r = arg;
    set_res(r, status, detail);
    r->count = (long long)result;
}

/* Records a re-verification outcome for acct (role and external ID as
 * apply_ex and onboard wrote them); returns the result. */
static xacct_reverify_result_t reverify(fx_t *f, const char *acct, const char *xid,
                                        xacct_reverify_outcome_t outcome, const char *reason)
{
    res_t r;
    memset(&r, 0, sizeof(r));
    char *role = xacct_asprintf("arn:aws:iam::%s:role/xacct", acct);
    xacct_event_t deg = {.v = 1, .ts = xacct_store_now_ms(), .type = "degraded",
                         .outcome = "failed", .reason = reason, .actor = "w1"};
    xacct_event_t rec = {.v = 1, .ts = xacct_store_now_ms(), .type = "recovered",
                         .outcome = "success", .actor = "w1"};
    xacct_reverify_record_t in = {.account_id = acct, .role_arn = role, .external_id = xid,
                                  .outcome = outcome, .reason = reason,
                                  .next_due_ms = xacct_store_now_ms() + 60000,
                                  .degraded_event = &deg, .recovered_event = &rec};
    assert_int_equal(xacct_reverify_record(f->s, &in, reverify_cb, &r), 0);
    wait_res(f, &r);
    free(role);
    assert_int_equal(r.status, 0);
    return (xacct_reverify_result_t)r.count;
}

/* ---- outbox reads --------------------------------------------------------- */

static void items_cb(int status, const char *detail, const xacct_outbox_item_t *items, size_t n,
                     void *arg)
{
    res_t *r = arg;
    set_res(r, status, detail);
    r->n = n;
    for (size_t i = 0; i < n && i < MAXITEMS; i++) {
        snprintf(r->ids[i], sizeof(r->ids[i]), "%s", items[i].id);
        snprintf(r->events[i], sizeof(r->events[i]), "%.*s", (int)items[i].event_len,
                 items[i].event);
        snprintf(r->statuses[i], sizeof(r->statuses[i]), "%s", items[i].status);
        snprintf(r->consumers[i], sizeof(r->consumers[i]), "%s", items[i].consumer);
        snprintf(r->reasons[i], sizeof(r->reasons[i]), "%s", items[i].reason);
        r->deliveries[i] = items[i].deliveries;
        r->reclaimed[i] = items[i].reclaimed;
    }
}

static res_t list(fx_t *f)
{
    res_t r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(xacct_outbox_list(f->s, 0, items_cb, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.status, 0);
    return r;
}

static void read_cb(int status, const char *detail, const xacct_outbox_item_t *items, size_t n,
                    const char *next_claim, void *arg)
{
    res_t *r = arg;
    items_cb(status, detail, items, n, arg);
    snprintf(r->next_claim, sizeof(r->next_claim), "%s", next_claim ? next_claim : "");
}

/* A read whose reclaim starts at the XAUTOCLAIM cursor from (NULL: 0-0). */
static res_t read_from(fx_t *f, const char *consumer, size_t count, long long min_idle,
                       const char *from)
{
    res_t r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(xacct_outbox_read(f->s, consumer, count, min_idle, from, read_cb, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.status, 0);
    return r;
}

static res_t read_group(fx_t *f, const char *consumer, size_t count, long long min_idle)
{
    return read_from(f, consumer, count, min_idle, NULL);
}

static void count_cb(int status, const char *detail, long long n, void *arg)
{
    res_t *r = arg;
    set_res(r, status, detail);
    r->count = n;
}

static long long backlog(fx_t *f)
{
    res_t r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(xacct_outbox_backlog(f->s, count_cb, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.status, 0);
    return r.count;
}

static void ok_cb(int status, const char *detail, void *arg)
{
    set_res(arg, status, detail);
}

/* Checks event i of an outbox listing: account, type, seq and state. */
static void check_event(const char *json, const char *acct, const char *type, long long seq,
                        const char *state)
{
    json_error_t jerr;
    json_t *ev = json_loads(json, 0, &jerr);
    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(ev, "account_id")), acct);
    assert_string_equal(json_string_value(json_object_get(ev, "type")), type);
    assert_int_equal(json_integer_value(json_object_get(ev, "seq")), seq);
    assert_string_equal(json_string_value(json_object_get(ev, "state")), state);
    const char *id = json_string_value(json_object_get(ev, "id"));
    assert_non_null(id);
    assert_int_equal(strlen(id), 36);
    assert_memory_equal(id, "evt_", 4);
    const char *t = json_string_value(json_object_get(ev, "time"));
    assert_non_null(t);
    assert_int_equal(t[strlen(t) - 1], 'Z');
    assert_int_equal(t[10], 'T');
    /* Every SPEC §8 field is there (null when absent), and nothing else. */
    static const char *const fields[] = {"id", "type", "time", "account_id", "seq",
                                         "state", "role_arn", "region", "stack_id", "reason"};
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(fields); i++)
        assert_non_null(json_object_get(ev, fields[i]));
    assert_int_equal(json_object_size(ev), XACCT_ARRAY_SIZE(fields));
    json_decref(ev);
    /* Never the external ID (the test IDs all contain "xid-"). */
    assert_null(strstr(json, "xid-"));
}

/* ---- tests ------------------------------------------------------------------ */

/* Every transition of SPEC §5 that exists in the store today, one event each. */
static void test_transitions_one_event_each(void **state)
{
    fx_t *f = *state;
    const char *a = "111111111111", *b = "222222222222";
    int result;

    assert_int_equal(onboard(f, a, "xid-a-1", 0), 0);                         /* -> pending */
    assert_int_equal(apply(f, a, "Create", "active", "r1", &result), 0);     /* -> active */
    assert_int_equal(result, XACCT_APPLY_APPLIED);
    assert_int_equal(apply(f, a, "Create", "active", "r1", &result), 0);     /* duplicate */
    assert_int_equal(result, XACCT_APPLY_DUPLICATE);
    assert_int_equal(apply(f, a, "Update", "active", "r2", &result), 0);     /* active -> active */
    assert_int_equal(apply(f, a, "Update", NULL, "r3", &result), 0);         /* audit only */
    assert_int_equal(result, XACCT_APPLY_AUDITED);
    assert_int_equal(apply(f, a, "Create", "rejected", "r4", NULL), XACCT_ESTATE); /* refused */
    assert_int_equal(onboard(f, a, "xid-a-2", 0), XACCT_ESTATE);             /* refused */
    assert_int_equal(onboard(f, a, "xid-a-3", 1), 0);                        /* rotation pending */
    assert_int_equal(apply_ex(f, a, "Update", "active", "r4b", NULL, "xid-a-9"), XACCT_ESTATE);
    assert_int_equal(apply_ex(f, a, "Update", "active", "r4c", NULL, "xid-a-3"), 0); /* swap */
    assert_int_equal(apply(f, a, "Delete", "offboarding", "r5", &result), 0); /* -> offboarding */
    assert_int_equal(result, XACCT_APPLY_APPLIED);
    jobs_done(f);                                                             /* -> offboarded */
    assert_int_equal(onboard(f, a, "xid-a-4", 0), 0);                        /* -> pending */

    assert_int_equal(onboard(f, b, "xid-b-1", 0), 0);                        /* -> pending */
    assert_int_equal(apply(f, b, "Create", "rejected", "s1", &result), 0);   /* -> rejected */
    assert_int_equal(apply(f, b, "Create", "active", "s2", &result), 0);     /* rejected -> active */
    assert_int_equal(apply(f, b, "Delete", "offboarding", "s3", &result), 0);
    jobs_done(f);
    assert_int_equal(onboard(f, b, "xid-b-2", 0), 0);                        /* offboarded -> pending */
    assert_int_equal(apply(f, b, "Create", "rejected", "s4", &result), 0);
    assert_int_equal(onboard(f, b, "xid-b-3", 0), 0);                        /* rejected -> pending */

    res_t r = list(f);
    struct {
        const char *acct, *type, *state;
        long long seq;
    } want[] = {
        {a, "customer.onboarding", "pending", 1},
        {a, "customer.connected", "active", 2},
        {a, "customer.updated", "active", 3},
        {a, "customer.external_id_rotated", "active", 4},
        {a, "customer.offboarding", "offboarding", 5},
        {a, "customer.offboarded", "offboarded", 6},
        {a, "customer.onboarding", "pending", 7},
        {b, "customer.onboarding", "pending", 1},
        {b, "customer.rejected", "rejected", 2},
        {b, "customer.connected", "active", 3},
        {b, "customer.offboarding", "offboarding", 4},
        {b, "customer.offboarded", "offboarded", 5},
        {b, "customer.onboarding", "pending", 6},
        {b, "customer.rejected", "rejected", 7},
        {b, "customer.onboarding", "pending", 8},
    };
    assert_int_equal(r.n, XACCT_ARRAY_SIZE(want));
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(want); i++) {
        check_event(r.events[i], want[i].acct, want[i].type, want[i].seq, want[i].state);
        assert_string_equal(r.statuses[i], "new");
    }
    /* The rejection carries its reason; the connection its role and stack. */
    json_t *rej = json_loads(r.events[8], 0, NULL);
    assert_string_equal(json_string_value(json_object_get(rej, "reason")),
                        "assumable without external ID");
    json_decref(rej);
    /* An onboarding carries the region it was asked for (a re-onboarding's
     * replaces the stack's). */
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(want); i++) {
        if (strcmp(want[i].type, "customer.onboarding") != 0)
            continue;
        json_t *onb = json_loads(r.events[i], 0, NULL);
        assert_string_equal(json_string_value(json_object_get(onb, "region")), "eu-central-1");
        json_decref(onb);
    }
    json_t *con = json_loads(r.events[1], 0, NULL);
    assert_string_equal(json_string_value(json_object_get(con, "role_arn")),
                        "arn:aws:iam::111111111111:role/xacct");
    assert_string_equal(json_string_value(json_object_get(con, "region")), "eu-west-1");
    assert_true(json_is_null(json_object_get(con, "reason")));
    json_decref(con);
    assert_int_equal(backlog(f), (long long)XACCT_ARRAY_SIZE(want));
}

/* SPEC §8/§9.2: re-verification's changes are lifecycle events too —
 * customer.degraded with the drift as its reason, customer.recovered when a
 * check or an Update makes the customer active again — and a check that
 * changes no state (verified, still degraded, unknown) appends none. */
static void test_trust_transitions_one_event_each(void **state)
{
    fx_t *f = *state;
    const char *a = "444444444444";
    const char *drift = "re-verification: probe 'wrong' was allowed";
    int result;

    assert_int_equal(onboard(f, a, "xid-d-1", 0), 0);                          /* 1 pending */
    assert_int_equal(apply(f, a, "Create", "active", "u1", NULL), 0);         /* 2 active */
    assert_int_equal(reverify(f, a, "xid-d-1", XACCT_REVERIFY_SECURE, ""), XACCT_REVERIFY_VERIFIED);
    assert_int_equal(reverify(f, a, "xid-d-1", XACCT_REVERIFY_DRIFTED, drift),
                     XACCT_REVERIFY_DEGRADED);                                /* 3 degraded */
    assert_int_equal(reverify(f, a, "xid-d-1", XACCT_REVERIFY_DRIFTED, "deleted"),
                     XACCT_REVERIFY_STILL_DEGRADED);
    assert_int_equal(reverify(f, a, "xid-d-1", XACCT_REVERIFY_UNKNOWN, ""),
                     XACCT_REVERIFY_RESCHEDULED);
    assert_int_equal(reverify(f, a, "xid-d-1", XACCT_REVERIFY_SECURE, ""),
                     XACCT_REVERIFY_RECOVERED);                               /* 4 active */
    assert_int_equal(reverify(f, a, "xid-d-1", XACCT_REVERIFY_DRIFTED, drift),
                     XACCT_REVERIFY_DEGRADED);                                /* 5 degraded */
    assert_int_equal(apply(f, a, "Update", "active", "u2", &result), 0);      /* 6 active */
    assert_int_equal(result, XACCT_APPLY_APPLIED);
    assert_int_equal(reverify(f, a, "xid-d-1", XACCT_REVERIFY_DRIFTED, drift),
                     XACCT_REVERIFY_DEGRADED);                                /* 7 degraded */
    assert_int_equal(apply(f, a, "Delete", "offboarding", "u3", &result), 0); /* 8 offboarding */
    assert_int_equal(result, XACCT_APPLY_APPLIED);

    res_t r = list(f);
    struct {
        const char *type, *state, *reason; /* reason NULL: JSON null */
    } want[] = {
        {"customer.onboarding", "pending", NULL},  {"customer.connected", "active", NULL},
        {"customer.degraded", "degraded", drift},  {"customer.recovered", "active", NULL},
        {"customer.degraded", "degraded", drift},  {"customer.recovered", "active", NULL},
        {"customer.degraded", "degraded", drift},  {"customer.offboarding", "offboarding", NULL},
    };
    assert_int_equal(r.n, XACCT_ARRAY_SIZE(want));
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(want); i++) {
        check_event(r.events[i], a, want[i].type, (long long)i + 1, want[i].state);
        json_t *ev = json_loads(r.events[i], 0, NULL);
        json_t *reason = json_object_get(ev, "reason");
        if (want[i].reason == NULL)
            assert_true(json_is_null(reason));
        else
            assert_string_equal(json_string_value(reason), want[i].reason);
        /* Every event names the role and the stack the customer is on. */
        if (i > 0) {
            assert_string_equal(json_string_value(json_object_get(ev, "role_arn")),
                                "arn:aws:iam::444444444444:role/xacct");
            assert_non_null(json_string_value(json_object_get(ev, "stack_id")));
        }
        json_decref(ev);
    }
}

/* Read, touch, ack, reclaim, bury, redeliver, and the list's statuses. */
static void test_group_operations(void **state)
{
    fx_t *f = *state;
    const char *a = "333333333333";
    assert_int_equal(backlog(f), 0);
    assert_int_equal(onboard(f, a, "xid-c-1", 0), 0);
    assert_int_equal(apply(f, a, "Create", "active", "t1", NULL), 0);
    assert_int_equal(onboard(f, a, "xid-c-2", 1), 0);
    assert_int_equal(backlog(f), 2); /* a pending rotation is no event yet */
    assert_int_equal(apply_ex(f, a, "Update", "active", "t2", NULL, "xid-c-2"), 0);
    assert_int_equal(backlog(f), 3);

    res_t r = read_group(f, "w1", 2, 0);
    assert_int_equal(r.n, 2);
    char first[64], second[64];
    snprintf(first, sizeof(first), "%s", r.ids[0]);
    snprintf(second, sizeof(second), "%s", r.ids[1]);
    check_event(r.events[0], a, "customer.onboarding", 1, "pending");
    assert_int_equal(backlog(f), 3); /* two pending, one new */

    /* The list shows who holds what. */
    r = list(f);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.statuses[0], "pending");
    assert_string_equal(r.consumers[0], "w1");
    assert_int_equal(r.deliveries[0], 1);
    assert_string_equal(r.statuses[2], "new");

    /* Acknowledged: delivered. */
    res_t k;
    memset(&k, 0, sizeof(k));
    assert_int_equal(xacct_outbox_ack(f->s, first, ok_cb, &k), 0);
    wait_res(f, &k);
    assert_int_equal(k.status, 0);
    assert_int_equal(backlog(f), 2);
    r = list(f);
    assert_string_equal(r.statuses[0], "delivered");

    /* w1 still holds the second entry; the first is no longer its. */
    const char *ids[] = {first, second};
    memset(&k, 0, sizeof(k));
    assert_int_equal(xacct_outbox_touch(f->s, "w1", ids, 2, items_cb, &k), 0);
    wait_res(f, &k);
    assert_int_equal(k.status, 0);
    assert_int_equal(k.n, 1);
    assert_string_equal(k.ids[0], first);

    /* w1 dies: after the idle time w2 takes the second entry over, and
     * reads the new third one in the same call; w1's touch then reports the
     * second lost. */
    th_sleep_ms(300);
    r = read_group(f, "w2", 10, 200);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.ids[0], second);
    assert_true(r.reclaimed[0]);
    assert_false(r.reclaimed[1]);
    char third[64];
    snprintf(third, sizeof(third), "%s", r.ids[1]);
    char event[1024];
    snprintf(event, sizeof(event), "%s", r.events[1]);
    memset(&k, 0, sizeof(k));
    assert_int_equal(xacct_outbox_touch(f->s, "w1", ids + 1, 1, items_cb, &k), 0);
    wait_res(f, &k);
    assert_int_equal(k.n, 1);
    /* A fresh entry is not reclaimable yet, and nothing is new. */
    r = read_group(f, "w2", 10, 60000);
    assert_int_equal(r.n, 0);
    check_event(event, a, "customer.external_id_rotated", 3, "active");

    /* Given up on: outbox:dead, acknowledged. */
    memset(&k, 0, sizeof(k));
    assert_int_equal(xacct_outbox_bury(f->s, third, event, strlen(event), "HTTP 500", 7, ok_cb,
                                       &k),
                     0);
    wait_res(f, &k);
    assert_int_equal(k.status, 0);
    assert_int_equal(backlog(f), 1); /* second, still pending with w2 */
    /* It left the outbox: the list never calls it delivered. */
    r = list(f);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.ids[0], first);
    assert_string_equal(r.statuses[0], "delivered");
    assert_string_equal(r.ids[1], second);
    assert_string_equal(r.statuses[1], "pending");
    memset(&r, 0, sizeof(r));
    assert_int_equal(xacct_outbox_dead(f->s, 0, items_cb, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.events[0], event);
    assert_string_equal(r.reasons[0], "HTTP 500");
    char dead_id[64];
    snprintf(dead_id, sizeof(dead_id), "%s", r.ids[0]);

    /* Redelivered: the same event (same id and seq) back in outbox. */
    memset(&k, 0, sizeof(k));
    assert_int_equal(xacct_outbox_redeliver(f->s, dead_id, ok_cb, &k), 0);
    wait_res(f, &k);
    assert_int_equal(k.status, 0);
    assert_string_not_equal(k.detail, third);
    char again[sizeof(k.detail)];
    snprintf(again, sizeof(again), "%s", k.detail);
    memset(&r, 0, sizeof(r));
    assert_int_equal(xacct_outbox_dead(f->s, 0, items_cb, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.n, 0);
    r = read_group(f, "w2", 10, 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.events[0], event);
    /* Listed once, as the copy being delivered again. */
    r = list(f);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.ids[2], again);
    assert_string_equal(r.statuses[2], "pending");
    memset(&k, 0, sizeof(k));
    assert_int_equal(xacct_outbox_redeliver(f->s, dead_id, ok_cb, &k), 0);
    wait_res(f, &k);
    assert_int_equal(k.status, XACCT_ENOTFOUND);
    memset(&k, 0, sizeof(k));
    assert_int_equal(xacct_outbox_redeliver(f->s, "not-an-id", ok_cb, &k), 0);
    wait_res(f, &k);
    assert_int_equal(k.status, XACCT_EINVAL);
}

/* ---- trimming ------------------------------------------------------------ */

typedef struct cmd_res {
    int done;
    long long integer;
} cmd_res_t;

static void cmd_cb(int status, const char *detail, const xacct_store_reply_t *rep, void *arg)
{
    XACCT_UNUSED(detail);
    cmd_res_t *r = arg;
    assert_int_equal(status, 0);
    r->integer = rep->type == XACCT_STORE_REPLY_INTEGER ? rep->integer : -1;
    r->done = 1;
}

/* Runs a raw command; returns its integer reply (-1 for another type). */
#define CMD(f, r, ...)                                                                     \
    do {                                                                                   \
        memset((r), 0, sizeof(*(r)));                                                      \
        assert_int_equal(xacct_store_cmd((f)->s, cmd_cb, (r), __VA_ARGS__, NULL), 0);      \
        assert_true(th_run_until(&(f)->loop, &(r)->done, 10000));                          \
    } while (0)

#define TRIM_KEY PREFIX "trim"

/* outbox_trim with maxlen 10, slack 2, hard 40. */
static long long trim(fx_t *f)
{
    cmd_res_t r;
    CMD(f, &r, "EVAL",
        XACCT_OUTBOX_TRIM_LUA
        "return outbox_trim(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))\n",
        "1", TRIM_KEY, "10", "2", "40");
    return r.integer;
}

static long long xlen(fx_t *f)
{
    cmd_res_t r;
    CMD(f, &r, "XLEN", TRIM_KEY);
    return r.integer;
}

static void append(fx_t *f, int n)
{
    for (int i = 0; i < n; i++) {
        cmd_res_t r;
        CMD(f, &r, "XADD", TRIM_KEY, "*", "event", "{}");
    }
}

/* The outbox keeps maxlen delivered entries, never drops one a group has
 * not acknowledged below the hard cap, and drops the oldest above it. */
static void test_trim_keeps_what_is_not_delivered(void **state)
{
    fx_t *f = *state;
    cmd_res_t r;
    /* No group: down to maxlen once over maxlen + slack. */
    append(f, 12);
    assert_int_equal(trim(f), 0);
    append(f, 18);
    assert_int_equal(trim(f), 20);
    assert_int_equal(xlen(f), 10);

    /* A group that read 5 of 10 new entries and acknowledged the first 2. */
    CMD(f, &r, "DEL", TRIM_KEY);
    CMD(f, &r, "XGROUP", "CREATE", TRIM_KEY, "g", "0", "MKSTREAM");
    append(f, 20);
    CMD(f, &r, "XREADGROUP", "GROUP", "g", "c", "COUNT", "5", "STREAMS", TRIM_KEY, ">");
    /* The first two entries are acknowledged: only they may go. */
    cmd_res_t range;
    CMD(f, &range, "EVAL",
        "local r = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 2)\n"
        "return redis.call('XACK', KEYS[1], 'g', r[1][1], r[2][1])\n",
        "1", TRIM_KEY);
    assert_int_equal(range.integer, 2);
    assert_int_equal(trim(f), 2);
    assert_int_equal(xlen(f), 18);
    /* The oldest left is pending: nothing goes, however far over. */
    assert_int_equal(trim(f), 0);
    append(f, 22);
    assert_int_equal(xlen(f), 40);
    assert_int_equal(trim(f), 0);
    /* Over the hard cap the oldest go, pending or not. */
    append(f, 8);
    assert_int_equal(trim(f), 8);
    assert_int_equal(xlen(f), 40);
}

/* ---- outbox:dead ------------------------------------------------------------ */

#define DEAD_MANY 10300 /* more than a cap of 10,000 would keep */

typedef struct count_res {
    int n;      /* callbacks so far */
    int target; /* done once n reaches it */
    int done;
} count_res_t;

static void counted_cb(int status, const char *detail, void *arg)
{
    XACCT_UNUSED(detail);
    count_res_t *r = arg;
    assert_int_equal(status, 0);
    r->done = ++r->n >= r->target;
}

/* Every event given up on stays in outbox:dead, however many: it is the
 * operator's to redeliver or drop, and nothing trims it behind their back. */
static void test_dead_keeps_every_event(void **state)
{
    fx_t *f = *state;
    cmd_res_t c;
    char many[16];
    snprintf(many, sizeof(many), "%d", DEAD_MANY);
    /* DEAD_MANY entries, ids 1-1 up, all pending with one worker. */
    CMD(f, &c, "EVAL",
        "for i = 1, tonumber(ARGV[1]) do\n"
        "  redis.call('XADD', KEYS[1], '1-' .. i, 'event', '{}')\n"
        "end\n"
        "redis.call('XGROUP', 'CREATE', KEYS[1], 'webhook', '0')\n"
        "local r = redis.call('XREADGROUP', 'GROUP', 'webhook', 'w', 'COUNT', ARGV[1],\n"
        "                     'STREAMS', KEYS[1], '>')\n"
        "return #r[1][2]\n",
        "1", PREFIX "outbox", many);
    assert_int_equal(c.integer, DEAD_MANY);
    count_res_t r = {0};
    for (int i = 1; i <= DEAD_MANY; i++) {
        char id[32];
        snprintf(id, sizeof(id), "1-%d", i);
        assert_int_equal(xacct_outbox_bury(f->s, id, "{}", 2, "HTTP 500", 1, counted_cb, &r), 0);
        if (i % 1000 == 0 || i == DEAD_MANY) {
            r.target = i;
            r.done = r.n >= r.target;
            assert_true(th_run_until(&f->loop, &r.done, 30000));
        }
    }
    CMD(f, &c, "XLEN", PREFIX "outbox:dead");
    assert_int_equal(c.integer, DEAD_MANY);
    CMD(f, &c, "XLEN", PREFIX "outbox");
    assert_int_equal(c.integer, 0);
}

/* Buries id (a small event, as after three failed attempts) and waits:
 * the status. */
static int bury_one(fx_t *f, const char *id)
{
    res_t k;
    memset(&k, 0, sizeof(k));
    assert_int_equal(xacct_outbox_bury(f->s, id, "{}", 2, "HTTP 500", 3, ok_cb, &k), 0);
    wait_res(f, &k);
    return k.status;
}

static long long dead_len(fx_t *f)
{
    cmd_res_t c;
    CMD(f, &c, "XLEN", PREFIX "outbox:dead");
    return c.integer;
}

/* Burying is idempotent: a bury run again (its first answer lost with the
 * connection, so the deliverer retries it) adds no second dead entry, and
 * an entry no longer pending (acknowledged as delivered) is left alone. */
static void test_bury_twice_buries_once(void **state)
{
    fx_t *f = *state;
    cmd_res_t c;
    for (int i = 0; i < 2; i++)
        CMD(f, &c, "XADD", PREFIX "outbox", "*", "event", "{}");
    res_t r = read_group(f, "w", 2, 0);
    assert_int_equal(r.n, 2);
    for (int i = 0; i < 2; i++)
        assert_int_equal(bury_one(f, r.ids[0]), 0);
    assert_int_equal(dead_len(f), 1);

    /* Delivered (acknowledged), then a late bury: nothing changes. */
    res_t k;
    memset(&k, 0, sizeof(k));
    assert_int_equal(xacct_outbox_ack(f->s, r.ids[1], ok_cb, &k), 0);
    wait_res(f, &k);
    assert_int_equal(bury_one(f, r.ids[1]), 0);
    assert_int_equal(dead_len(f), 1);
    res_t l = list(f);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.ids[0], r.ids[1]);
    assert_string_equal(l.statuses[0], "delivered");

    /* No outbox at all (nor its group): nothing to bury, no error. */
    CMD(f, &c, "DEL", PREFIX "outbox");
    assert_int_equal(bury_one(f, r.ids[1]), 0);
    assert_int_equal(dead_len(f), 1);
}

/* ---- reclaiming ------------------------------------------------------------ */

/* One XAUTOCLAIM looks at no more than count * 10 pending entries: idle
 * ones behind many a live consumer holds are reached only by continuing from
 * the cursor each read answers. */
static void test_reclaim_continues_from_the_cursor(void **state)
{
    fx_t *f = *state;
    cmd_res_t c;
    for (int i = 0; i < 25; i++)
        CMD(f, &c, "XADD", PREFIX "outbox", "*", "event", "{}");
    res_t live = read_group(f, "live", 20, 0);
    assert_int_equal(live.n, 20);
    res_t gone = read_group(f, "gone", 5, 0);
    assert_int_equal(gone.n, 5);
    th_sleep_ms(600);
    /* "live" keeps its 20 fresh; "gone" has been silent for 600 ms. */
    const char *ids[20];
    for (size_t i = 0; i < 20; i++)
        ids[i] = live.ids[i];
    res_t k;
    memset(&k, 0, sizeof(k));
    assert_int_equal(xacct_outbox_touch(f->s, "live", ids, 20, items_cb, &k), 0);
    wait_res(f, &k);
    assert_int_equal(k.n, 0);

    /* Count 1: ten entries a call. Two calls cross the live entries, five
     * claim one each, the last ends the pass. */
    char from[64] = "0-0";
    size_t claimed = 0, calls = 0;
    do {
        res_t r = read_from(f, "w2", 1, 500, from);
        for (size_t i = 0; i < r.n; i++)
            assert_string_equal(r.ids[i], gone.ids[claimed++]);
        snprintf(from, sizeof(from), "%s", r.next_claim);
    } while (strcmp(from, "0-0") != 0 && ++calls < 10);
    assert_int_equal(claimed, 5);
    assert_string_equal(from, "0-0");

    /* The live consumer still holds its own; w2 holds the silent one's. */
    res_t l = list(f);
    assert_int_equal(l.n, 25);
    for (size_t i = 0; i < 25; i++)
        assert_string_equal(l.consumers[i], i < 20 ? "live" : "w2");
    /* Without reclaim the cursor is handed back as it came. */
    res_t r = read_from(f, "w2", 1, 0, "12-3");
    assert_int_equal(r.n, 0);
    assert_string_equal(r.next_claim, "12-3");
}

/* Entries a worker left pending (a customer's over its share) are handed out
 * again by the reclaim, marked so; the new entries come in the same call
 * however many idle ones the pass is going through. */
static void test_reclaim_leaves_room_for_new_entries(void **state)
{
    fx_t *f = *state;
    cmd_res_t c;
    for (int i = 0; i < 30; i++)
        CMD(f, &c, "XADD", PREFIX "outbox", "*", "event", "{}");
    res_t left = read_group(f, "w", 30, 0);
    assert_int_equal(left.n, 30);
    th_sleep_ms(300);
    CMD(f, &c, "XADD", PREFIX "outbox", "*", "event", "{\"new\":1}");

    /* Half the room for the reclaim, the rest for what is new: never more
     * than the room (what is read becomes this consumer's). */
    res_t r = read_group(f, "w", 5, 200);
    assert_int_equal(r.n, 3);
    for (size_t i = 0; i < 2; i++) {
        assert_string_equal(r.ids[i], left.ids[i]);
        assert_true(r.reclaimed[i]);
    }
    assert_string_equal(r.events[2], "{\"new\":1}");
    assert_false(r.reclaimed[2]);
    /* The pass goes on from its cursor; new entries take the rest. */
    for (int i = 0; i < 10; i++)
        CMD(f, &c, "XADD", PREFIX "outbox", "*", "event", "{\"new\":2}");
    r = read_from(f, "w", 5, 200, r.next_claim);
    assert_int_equal(r.n, 5);
    assert_string_equal(r.ids[0], left.ids[2]);
    assert_true(r.reclaimed[1]);
    for (size_t i = 2; i < 5; i++) {
        assert_string_equal(r.events[i], "{\"new\":2}");
        assert_false(r.reclaimed[i]);
    }
    /* A room of one: the reclaim's turn. */
    r = read_from(f, "w", 1, 200, r.next_claim);
    assert_int_equal(r.n, 1);
    assert_true(r.reclaimed[0]);
}

typedef struct str_res {
    int done;
    char text[256];
} str_res_t;

static void str_cb(int status, const char *detail, const xacct_store_reply_t *rep, void *arg)
{
    XACCT_UNUSED(detail);
    str_res_t *r = arg;
    assert_int_equal(status, 0);
    char *t = xacct_store_reply_strdup(rep);
    snprintf(r->text, sizeof(r->text), "%s", t);
    free(t);
    r->done = 1;
}

/* The webhook group's consumers, "name:pending" sorted by name and joined
 * with spaces. */
static void consumers(fx_t *f, char *out, size_t outlen)
{
    str_res_t r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(
        xacct_store_cmd(f->s, str_cb, &r, "EVAL",
                        "local v = {}\n"
                        "for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], 'webhook')) do\n"
                        "  v[#v + 1] = c[2] .. ':' .. c[4]\n"
                        "end\n"
                        "table.sort(v)\n"
                        "return table.concat(v, ' ')\n",
                        "1", PREFIX "outbox", NULL),
        0);
    assert_true(th_run_until(&f->loop, &r.done, 10000));
    snprintf(out, outlen, "%s", r.text);
}

/* consumer reads one new entry and acknowledges it. */
static void read_and_ack(fx_t *f, const char *consumer)
{
    res_t r = read_group(f, consumer, 1, 0);
    assert_int_equal(r.n, 1);
    res_t k;
    memset(&k, 0, sizeof(k));
    assert_int_equal(xacct_outbox_ack(f->s, r.ids[0], ok_cb, &k), 0);
    wait_res(f, &k);
    assert_int_equal(k.status, 0);
}

/* Every worker process is a consumer of its own (host:pid): a reclaim drops
 * those that hold nothing and have been silent longer than the reclaim's
 * idle time, and keeps one still holding an event, one recently active and
 * the reader itself. */
static void test_reclaim_drops_consumers_that_are_gone(void **state)
{
    fx_t *f = *state;
    cmd_res_t c;
    char names[256];
    /* Idle means silent for 1.5 s here; the sleeps make sure of it, and
     * "fresh" has the rest of that time to still look alive. */
    for (int i = 0; i < 4; i++)
        CMD(f, &c, "XADD", PREFIX "outbox", "*", "event", "{}");
    res_t gone = read_group(f, "gone", 2, 0); /* holds two, then dies */
    assert_int_equal(gone.n, 2);
    read_and_ack(f, "done");                  /* delivered one, then stopped */
    th_sleep_ms(1600);
    read_and_ack(f, "fresh");                 /* alive: just delivered one */
    consumers(f, names, sizeof(names));
    assert_string_equal(names, "done:0 fresh:0 gone:2");

    /* A read without reclaim changes no consumer. */
    assert_int_equal(read_group(f, "w2", 1, 0).n, 0);
    consumers(f, names, sizeof(names));
    assert_string_equal(names, "done:0 fresh:0 gone:2");

    /* One of gone's two is reclaimed: gone still holds one and stays, done
     * (nothing held, silent) goes, fresh stays. */
    res_t r = read_group(f, "w2", 1, 1500);
    assert_int_equal(r.n, 1);
    consumers(f, names, sizeof(names));
    assert_string_equal(names, "fresh:0 gone:1 w2:1");

    /* Its last one reclaimed, gone holds nothing and goes too; so does
     * fresh, silent by now. */
    th_sleep_ms(1600);
    /* Room for four: a reclaim of up to two, its own idle one again and
     * gone's; nothing new. */
    r = read_group(f, "w2", 4, 1500);
    assert_int_equal(r.n, 2);
    consumers(f, names, sizeof(names));
    assert_string_equal(names, "w2:2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_transitions_one_event_each, setup, th_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_trust_transitions_one_event_each, setup,
                                        th_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_group_operations, setup, th_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_trim_keeps_what_is_not_delivered, setup,
                                        th_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_reclaim_continues_from_the_cursor, setup,
                                        th_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_reclaim_drops_consumers_that_are_gone, setup,
                                        th_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_reclaim_leaves_room_for_new_entries, setup,
                                        th_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_dead_keeps_every_event, setup, th_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_bury_twice_buries_once, setup, th_store_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
