/* SPDX-License-Identifier: MIT */
/*
 * The domain operations against a real redis-server: every state transition
 * allowed and refused, idempotent applies (a Delete applied twice yields one
 * job), claims (claimed / busy / done / lease takeover / renew / release /
 * finished inside apply), external-ID uniqueness under a forced collision,
 * rotation, topic bookkeeping, jobs (list, read, done), the dead set, worker
 * heartbeats with their TTL, the CLI reads, and that every key carries the
 * configured prefix. Each test ends with uv_loop_close() == 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store_helper.h"
#include "xacct/claims.h"
#include "xacct/codec.h"
#include "xacct/customers.h"
#include "xacct/dead.h"
#include "xacct/jobs.h"
#include "xacct/store.h"
#include "xacct/heartbeats.h"

#define PREFIX "dom-test:"

typedef struct res {
    int done;
    int status;
    char detail[256];
    int result;
    char text[1024];
    char text2[256];
    long long count;
    size_t n;
    char items[16][256]; /* copies of item strings */
    long long nums[16];
} res_t;

typedef th_store_fx_t fx_t;

static int setup(void **state)
{
    return th_store_fx_setup(state, PREFIX);
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

static void hb_cb(int status, const char *detail, void *arg);

/* ---- raw commands ----------------------------------------------------- */

static void raw_cb(int status, const char *detail, const xacct_store_reply_t *rep, void *arg)
{
    res_t *r = arg;
    set_res(r, status, detail);
    if (rep == NULL)
        return;
    r->count = rep->integer;
    r->n = rep->elements;
    r->result = rep->type;
    th_reply_strings(rep, r->text, sizeof(r->text), r->items[0], 16, sizeof(r->items[0]));
}

static res_t raw(fx_t *f, const char *name, ...)
{
    res_t r;
    memset(&r, 0, sizeof(r));
    va_list ap;
    va_start(ap, name);
    int rc = xacct_store_vcmd(f->s, raw_cb, &r, name, ap);
    va_end(ap);
    assert_int_equal(rc, 0);
    wait_res(f, &r);
    return r;
}

/* ---- wrappers --------------------------------------------------------- */

static void onboard_cb(int status, const char *detail, const char *prev, void *arg)
{
    res_t *r = arg;
    set_res(r, status, detail);
    snprintf(r->text, sizeof(r->text), "%s", prev);
}

static res_t onboard(fx_t *f, const char *acct, const char *xid)
{
    res_t r;
    memset(&r, 0, sizeof(r));
    xacct_event_t ev = {.v = 1, .ts = xacct_store_now_ms(), .type = "onboarded", .actor = "cli"};
    assert_int_equal(xacct_customers_onboard(f->s, acct, xid, NULL, &ev, onboard_cb, &r), 0);
    wait_res(f, &r);
    return r;
}

static res_t rotate(fx_t *f, const char *acct, const char *xid)
{
    res_t r;
    memset(&r, 0, sizeof(r));
    xacct_event_t ev = {.v = 1, .ts = xacct_store_now_ms(), .type = "rotated", .actor = "cli"};
    assert_int_equal(xacct_customers_rotate(f->s, acct, xid, &ev, onboard_cb, &r), 0);
    wait_res(f, &r);
    return r;
}

static void apply_cb(int status, const char *detail, xacct_apply_result_t result,
                     const char *prev, void *arg)
{
    res_t *r = arg;
    set_res(r, status, detail);
    r->result = (int)result;
    snprintf(r->text, sizeof(r->text), "%s", prev);
}

static char *stack_of(const char *acct)
{
    return xacct_asprintf("arn:aws:cloudformation:eu-west-1:%s:stack/xacct/1", acct);
}

/* Applies request_type/to_state for acct with request id rid. */
static res_t apply_full(fx_t *f, const char *acct, const char *type, const char *to,
                        const char *rid, const char *expect_pid, const char *owner,
                        const char *answer)
{
    res_t r;
    memset(&r, 0, sizeof(r));
    char *stack = stack_of(acct);
    char *pid = xacct_asprintf("xacct-%s", acct);
    char *role = xacct_asprintf("arn:aws:iam::%s:role/xacct", acct);
    xacct_event_t ev = {.v = 1, .ts = xacct_store_now_ms(), .type = type, .request_id = rid,
                        .stack_id = stack, .outcome = "SUCCESS", .actor = "worker-1"};
    xacct_job_t job = {.v = 1, .account_id = acct, .role_arn = role,
                       .external_id = "xid-secret", .stack_id = stack, .region = "eu-west-1",
                       .request_id = rid, .requested_at = xacct_store_now_ms()};
    xacct_customer_apply_t in = {
        .account_id = acct, .request_type = type, .request_id = rid, .to_state = to,
        .role_arn = role, .stack_id = stack, .region = "eu-west-1", .physical_id = pid,
        .last_error = to && strcmp(to, "rejected") == 0 ? "assumable without external ID" : "",
        .expect_physical_id = expect_pid ? expect_pid : pid, .event = &ev, .job = &job,
        .claim_owner = owner, .claim_stack_id = stack, .answer = answer};
    assert_int_equal(xacct_customers_apply(f->s, &in, apply_cb, &r), 0);
    wait_res(f, &r);
    free(stack);
    free(pid);
    free(role);
    return r;
}

static res_t apply(fx_t *f, const char *acct, const char *type, const char *to, const char *rid)
{
    return apply_full(f, acct, type, to, rid, NULL, NULL, NULL);
}

static void get_cb(int status, const char *detail, const xacct_customer_t *c, void *arg)
{
    res_t *r = arg;
    set_res(r, status, detail);
    r->n = c != NULL ? XACCT_CUSTOMER_NFIELDS : 0;
    for (size_t i = 0; i < r->n && i < 16; i++)
        snprintf(r->items[i], sizeof(r->items[i]), "%s=%s", xacct_customer_field_name(i),
                 xacct_customer_field_value(c, i));
    snprintf(r->text, sizeof(r->text), "%s", c ? xacct_customer_state_name(c->state) : "");
}

static res_t get(fx_t *f, const char *acct)
{
    res_t r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(xacct_customers_get(f->s, acct, get_cb, &r), 0);
    wait_res(f, &r);
    return r;
}

static const char *field(const res_t *r, const char *name)
{
    size_t l = strlen(name);
    for (size_t i = 0; i < r->n && i < 16; i++)
        if (strncmp(r->items[i], name, l) == 0 && r->items[i][l] == '=')
            return r->items[i] + l + 1;
    return NULL;
}

static void jobs_cb(int status, const char *detail, const xacct_jobs_item_t *items, size_t n,
                    void *arg)
{
    res_t *r = arg;
    set_res(r, status, detail);
    r->n = n;
    for (size_t i = 0; i < n && i < 16; i++) {
        xacct_job_t j;
        assert_int_equal(xacct_codec_job_decode(items[i].job, items[i].job_len, &j), 0);
        snprintf(r->items[i], sizeof(r->items[i]), "%s|%s|%s|%s", items[i].id, j.account_id,
                 j.request_id, items[i].consumer ? items[i].consumer : "-");
        r->nums[i] = items[i].deliveries;
        xacct_codec_job_destroy(&j);
    }
}

static res_t jobs_list(fx_t *f)
{
    res_t r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(xacct_jobs_list(f->s, 0, jobs_cb, &r), 0);
    wait_res(f, &r);
    return r;
}

static void done_cb(int status, const char *detail, int changed, const char *acct,
                    const char *topic, void *arg)
{
    res_t *r = arg;
    set_res(r, status, detail);
    r->result = changed;
    snprintf(r->text, sizeof(r->text), "%s", acct);
    snprintf(r->text2, sizeof(r->text2), "%s", topic);
}

static res_t job_done(fx_t *f, const char *id)
{
    res_t r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(xacct_jobs_done(f->s, id, "cli", done_cb, &r), 0);
    wait_res(f, &r);
    return r;
}

static void events_cb(int status, const char *detail, const xacct_customers_event_item_t *items,
                      size_t n, void *arg)
{
    res_t *r = arg;
    set_res(r, status, detail);
    r->n = n;
    for (size_t i = 0; i < n && i < 16; i++) {
        xacct_event_t ev;
        assert_int_equal(xacct_codec_event_decode(items[i].data, items[i].len, &ev), 0);
        snprintf(r->items[i], sizeof(r->items[i]), "%s", ev.type);
        xacct_codec_event_destroy(&ev);
        char *json = NULL;
        assert_int_equal(xacct_codec_to_json(items[i].data, items[i].len, NULL, 0, &json), 0);
        assert_null(strstr(json, "xid-")); /* no external ID in audit events */
        free(json);
    }
}

static res_t events(fx_t *f, const char *acct)
{
    res_t r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(xacct_customers_events(f->s, acct, 0, 1, events_cb, &r), 0);
    wait_res(f, &r);
    return r;
}

/* ---- tests ------------------------------------------------------------ */

static void expect_apply(fx_t *f, const char *acct, const char *type, const char *to,
                         const char *rid, int status, int result)
{
    res_t r = apply(f, acct, type, to, rid);
    if (r.status != status || (status == 0 && r.result != result))
        fail_msg("%s %s -> %s: status %d (%s) result %d, expected %d/%d", acct, type,
                 to ? to : "(audit)", r.status, r.detail, r.result, status, result);
}

static void expect_state(fx_t *f, const char *acct, const char *state)
{
    res_t g = get(f, acct);
    assert_int_equal(g.status, 0);
    assert_string_equal(g.text, state);
}

static void test_transitions(void **state)
{
    fx_t *f = *state;
    const char *A = "111111111111";

    expect_apply(f, "999999999999", "Create", "active", "r0", XACCT_ENOTFOUND, 0);
    assert_int_equal(onboard(f, A, "xid-a1").status, 0);
    expect_state(f, A, "pending");

    /* pending: -> active | rejected; not offboarding (a Delete is only audited) */
    expect_apply(f, A, "Delete", "offboarding", "r1", 0, XACCT_APPLY_AUDITED);
    expect_state(f, A, "pending");
    expect_apply(f, A, "Create", "rejected", "r2", 0, XACCT_APPLY_APPLIED);
    expect_state(f, A, "rejected");
    res_t g = get(f, A);
    assert_string_equal(field(&g, "last_error"), "assumable without external ID");

    /* rejected: -> active only */
    expect_apply(f, A, "Update", "rejected", "r3", XACCT_ESTATE, 0);
    expect_apply(f, A, "Delete", "offboarding", "r4", 0, XACCT_APPLY_AUDITED);
    expect_state(f, A, "rejected");
    expect_apply(f, A, "Update", "active", "r5", 0, XACCT_APPLY_APPLIED);
    expect_state(f, A, "active");
    g = get(f, A);
    assert_string_equal(field(&g, "last_error"), "");
    assert_string_equal(field(&g, "last_request_id"), "r5");
    assert_string_equal(field(&g, "physical_id"), "xacct-111111111111");
    assert_string_equal(field(&g, "region"), "eu-west-1");
    assert_string_not_equal(field(&g, "created_at"), "");

    /* active: -> active by Update only; never rejected */
    expect_apply(f, A, "Update", "active", "r6", 0, XACCT_APPLY_APPLIED);
    expect_apply(f, A, "Create", "active", "r7", XACCT_ESTATE, 0);
    expect_apply(f, A, "Update", "rejected", "r8", XACCT_ESTATE, 0);
    /* a Delete naming another physical id is audited only */
    res_t r = apply_full(f, A, "Delete", "offboarding", "r9", "xacct-old", NULL, NULL);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.result, XACCT_APPLY_AUDITED);
    expect_state(f, A, "active");
    assert_int_equal(jobs_list(f).n, 0);
    /* onboarding an active customer is refused */
    res_t o = onboard(f, A, "xid-a2");
    assert_int_equal(o.status, XACCT_ESTATE);
    assert_string_equal(o.text, "active");
    expect_apply(f, A, "Delete", "offboarding", "r10", 0, XACCT_APPLY_APPLIED);
    expect_state(f, A, "offboarding");

    /* offboarding: only jobs done moves it */
    expect_apply(f, A, "Update", "active", "r11", XACCT_ESTATE, 0);
    expect_apply(f, A, "Create", "rejected", "r12", XACCT_ESTATE, 0);
    assert_int_equal(onboard(f, A, "xid-a3").status, XACCT_ESTATE);
    assert_int_equal(rotate(f, A, "xid-a3").status, XACCT_ESTATE);
    res_t jl = jobs_list(f);
    assert_int_equal(jl.n, 1);
    char id[64];
    snprintf(id, sizeof(id), "%.*s", (int)strcspn(jl.items[0], "|"), jl.items[0]);
    res_t d = job_done(f, id);
    assert_int_equal(d.status, 0);
    assert_int_equal(d.result, 1);
    assert_string_equal(d.text, A);
    expect_state(f, A, "offboarded");

    /* offboarded: -> pending by onboarding only */
    expect_apply(f, A, "Create", "active", "r13", XACCT_ESTATE, 0);
    expect_apply(f, A, "Create", "rejected", "r14", XACCT_ESTATE, 0);
    expect_apply(f, A, "Delete", "offboarding", "r15", 0, XACCT_APPLY_AUDITED);
    assert_int_equal(rotate(f, A, "xid-a4").status, XACCT_ESTATE);
    o = onboard(f, A, "xid-a4");
    assert_int_equal(o.status, 0);
    assert_string_equal(o.text, "offboarded");
    expect_state(f, A, "pending");
    assert_int_equal(onboard(f, A, "xid-a5").status, XACCT_ESTATE); /* pending */
    /* a rejected customer can be onboarded again too */
    expect_apply(f, A, "Create", "rejected", "r16", 0, XACCT_APPLY_APPLIED);
    assert_int_equal(onboard(f, A, "xid-a5").status, 0);
    expect_state(f, A, "pending");

    /* audit-only call appends an event and changes nothing */
    size_t before = events(f, A).n;
    expect_apply(f, A, "Create", NULL, "r17", 0, XACCT_APPLY_AUDITED);
    expect_state(f, A, "pending");
    assert_int_equal(events(f, A).n, before + 1);

    /* targets apply cannot set are refused before reaching Redis */
    xacct_event_t ev = {.v = 1, .ts = 1, .type = "x"};
    xacct_customer_apply_t bad = {.account_id = A, .request_type = "Create",
                                  .request_id = "r", .to_state = "offboarded", .event = &ev};
    res_t unused;
    assert_int_equal(xacct_customers_apply(f->s, &bad, apply_cb, &unused), XACCT_EINVAL);
    bad.to_state = "offboarding"; /* without a job */
    assert_int_equal(xacct_customers_apply(f->s, &bad, apply_cb, &unused), XACCT_EINVAL);
}

/* SPEC §5's state machine as a table: from every state (and one no version
 * writes), each change the store makes on a CloudFormation outcome or an
 * onboarding is applied exactly when the SPEC lists it, and a refused one
 * leaves the state as it was. */
static void test_transition_matrix(void **state)
{
    fx_t *f = *state;
    const char *A = "121212121212";
    static const char *const states[] = {"pending",   "active",  "rejected",  "offboarding",
                                         "offboarded", "degraded", "expired",   "cancelled",
                                         "retired"};
    static const struct {
        const char *type, *to, *from; /* from: the states the SPEC allows it from */
    } changes[] = {
        {"Create", "active", " pending rejected "},
        {"Update", "active", " pending rejected active degraded "},
        {"Create", "rejected", " pending "},
        {"Update", "rejected", " pending "},
        {"Delete", "offboarding", " active degraded "},
        {"onboard", "pending", " offboarded expired cancelled rejected "},
    };
    int n = 0;
    for (size_t s = 0; s < sizeof(states) / sizeof(states[0]); s++) {
        for (size_t c = 0; c < sizeof(changes) / sizeof(changes[0]); c++) {
            char xid[32], rid[32], from[32];
            snprintf(xid, sizeof(xid), "xid-m%d", n);
            snprintf(rid, sizeof(rid), "rm%d", n++);
            raw(f, "DEL", PREFIX "customer:121212121212", NULL);
            raw(f, "HSET", PREFIX "customer:121212121212", "account_id", A, "state", states[s],
                "external_id", "xid-seed", "physical_id", "xacct-121212121212", NULL);
            snprintf(from, sizeof(from), " %s ", states[s]);
            bool allowed = strstr(changes[c].from, from) != NULL;
            res_t r = strcmp(changes[c].type, "onboard") == 0
                          ? onboard(f, A, xid)
                          : apply(f, A, changes[c].type, changes[c].to, rid);
            bool applied = r.status == 0 && (strcmp(changes[c].type, "onboard") == 0 ||
                                             r.result == XACCT_APPLY_APPLIED);
            res_t h = raw(f, "HGET", PREFIX "customer:121212121212", "state", NULL);
            if (applied != allowed || strcmp(h.text, allowed ? changes[c].to : states[s]) != 0)
                fail_msg("%s %s -> %s: status %d result %d, state now %s (%s expected)",
                         states[s], changes[c].type, changes[c].to, r.status, r.result, h.text,
                         allowed ? "allowed" : "refused");
        }
    }
}

static void test_delete_twice_one_job(void **state)
{
    fx_t *f = *state;
    const char *B = "222222222222";
    assert_int_equal(onboard(f, B, "xid-b1").status, 0);
    expect_apply(f, B, "Create", "active", "c1", 0, XACCT_APPLY_APPLIED);
    expect_apply(f, B, "Create", "active", "c1", 0, XACCT_APPLY_DUPLICATE);
    size_t n0 = jobs_list(f).n;
    size_t e0 = events(f, B).n;
    expect_apply(f, B, "Delete", "offboarding", "d1", 0, XACCT_APPLY_APPLIED);
    expect_apply(f, B, "Delete", "offboarding", "d1", 0, XACCT_APPLY_DUPLICATE);
    res_t jl = jobs_list(f);
    assert_int_equal(jl.n, n0 + 1);
    assert_int_equal(events(f, B).n, e0 + 1);
    res_t x = raw(f, "XLEN", PREFIX "jobs:offboard", NULL);
    assert_int_equal(x.count, (long long)n0 + 1);

    /* the job carries what the consumer needs, external ID included */
    int found = 0;
    for (size_t i = 0; i < jl.n; i++)
        if (strstr(jl.items[i], "|222222222222|d1|") != NULL)
            found++;
    assert_int_equal(found, 1);

    /* read through the group: delivered once to this consumer */
    res_t rd;
    memset(&rd, 0, sizeof(rd));
    assert_int_equal(xacct_jobs_read(f->s, "worker-a", 10, 0, jobs_cb, &rd), 0);
    wait_res(f, &rd);
    assert_int_equal(rd.status, 0);
    assert_int_equal(rd.n, jl.n);
    assert_non_null(strstr(rd.items[0], "|worker-a"));
    memset(&rd, 0, sizeof(rd));
    assert_int_equal(xacct_jobs_read(f->s, "worker-b", 10, 0, jobs_cb, &rd), 0);
    wait_res(f, &rd);
    assert_int_equal(rd.n, 0); /* nothing new */
    /* a consumer idle long enough loses its jobs to another (XAUTOCLAIM) */
    th_sleep_ms(30);
    memset(&rd, 0, sizeof(rd));
    assert_int_equal(xacct_jobs_read(f->s, "worker-b", 10, 10, jobs_cb, &rd), 0);
    wait_res(f, &rd);
    assert_int_equal(rd.n, jl.n);
    assert_non_null(strstr(rd.items[0], "|worker-b"));
    jl = jobs_list(f);
    assert_non_null(strstr(jl.items[0], "|worker-b"));
    assert_int_equal(jl.nums[0], 2);

    /* done twice: the second finds nothing; a malformed id is a usage error */
    for (size_t i = 0; i < jl.n; i++) {
        char id[64];
        snprintf(id, sizeof(id), "%.*s", (int)strcspn(jl.items[i], "|"), jl.items[i]);
        assert_int_equal(job_done(f, id).status, 0);
        assert_int_equal(job_done(f, id).status, XACCT_ENOTFOUND);
    }
    assert_int_equal(job_done(f, "not-an-id").status, XACCT_EINVAL);
    assert_int_equal(jobs_list(f).n, 0);
    x = raw(f, "XPENDING", PREFIX "jobs:offboard", XACCT_JOBS_GROUP, NULL);
    assert_int_equal(x.n > 0 ? atoll(x.items[0]) : -1, 0); /* acked */
    expect_state(f, B, "offboarded");
    res_t ev = events(f, B);
    assert_string_equal(ev.items[0], "offboarded");
}

static void claim_cb(int status, const char *detail, xacct_claims_result_t result,
                     const char *text, void *arg)
{
    res_t *r = arg;
    set_res(r, status, detail);
    r->result = (int)result;
    snprintf(r->text, sizeof(r->text), "%s", text);
}

static res_t claim(fx_t *f, const char *stack, const char *rid, const char *owner, long lease)
{
    res_t r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(xacct_claims_claim(f->s, stack, rid, owner, lease, claim_cb, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.status, 0);
    return r;
}

static void changed_cb(int status, const char *detail, int changed, void *arg)
{
    res_t *r = arg;
    set_res(r, status, detail);
    r->result = changed;
}

static void test_claims(void **state)
{
    fx_t *f = *state;
    const char *S = "arn:aws:cloudformation:eu-west-1:333333333333:stack/x/1";
    res_t r = claim(f, S, "q1", "w1/m1", 60000);
    assert_int_equal(r.result, XACCT_CLAIMS_CLAIMED);
    r = claim(f, S, "q1", "w2/m1", 60000);
    assert_int_equal(r.result, XACCT_CLAIMS_BUSY);
    assert_string_equal(r.text, "w1/m1");
    /* the owner renews: the lease is extended */
    res_t t = raw(f, "PEXPIRE", PREFIX "request:arn:aws:cloudformation:eu-west-1:333333333333:"
                                       "stack/x/1:q1", "1000", NULL);
    assert_int_equal(t.count, 1);
    assert_int_equal(claim(f, S, "q1", "w1/m1", 60000).result, XACCT_CLAIMS_CLAIMED);
    t = raw(f, "PTTL", PREFIX "request:arn:aws:cloudformation:eu-west-1:333333333333:stack/x/1:q1",
            NULL);
    assert_true(t.count > 50000);

    /* lease takeover after the holder vanished */
    assert_int_equal(claim(f, S, "q2", "w1/m2", 50).result, XACCT_CLAIMS_CLAIMED);
    assert_int_equal(claim(f, S, "q2", "w2/m2", 50).result, XACCT_CLAIMS_BUSY);
    th_sleep_ms(120);
    assert_int_equal(claim(f, S, "q2", "w2/m2", 60000).result, XACCT_CLAIMS_CLAIMED);

    /* finish: done with the answer, kept for days; redelivery gets it back */
    res_t d;
    memset(&d, 0, sizeof(d));
    assert_int_equal(
        xacct_claims_finish(f->s, S, "q2", "w2/m2", "{\"Status\":\"SUCCESS\"}", 0, changed_cb, &d),
        0);
    wait_res(f, &d);
    assert_int_equal(d.status, 0);
    assert_int_equal(d.result, 1);
    r = claim(f, S, "q2", "w3/m2", 60000);
    assert_int_equal(r.result, XACCT_CLAIMS_DONE);
    assert_string_equal(r.text, "{\"Status\":\"SUCCESS\"}");
    t = raw(f, "TTL", PREFIX "request:arn:aws:cloudformation:eu-west-1:333333333333:stack/x/1:q2",
            NULL);
    assert_true(t.count > 6 * 24 * 3600);
    /* Finished by another attempt: fenced out, the first answer stays. */
    memset(&d, 0, sizeof(d));
    assert_int_equal(xacct_claims_finish(f->s, S, "q2", "w3/m2", "other", 0, changed_cb, &d), 0);
    wait_res(f, &d);
    assert_int_equal(d.status, XACCT_EEXISTS);
    assert_int_equal(d.result, 0);
    assert_string_equal(claim(f, S, "q2", "w3/m2", 1000).text, "{\"Status\":\"SUCCESS\"}");
    /* Finished by this attempt before (a retry): nothing changes, no error. */
    memset(&d, 0, sizeof(d));
    assert_int_equal(xacct_claims_finish(f->s, S, "q2", "w2/m2", "again", 0, changed_cb, &d), 0);
    wait_res(f, &d);
    assert_int_equal(d.status, 0);
    assert_int_equal(d.result, 0);
    assert_string_equal(claim(f, S, "q2", "w3/m2", 1000).text, "{\"Status\":\"SUCCESS\"}");
    /* Held by another live attempt (this one's lease ran out and the
     * request was taken over): fenced out, the claim stays theirs. */
    assert_int_equal(claim(f, S, "q4", "w2/m4", 60000).result, XACCT_CLAIMS_CLAIMED);
    memset(&d, 0, sizeof(d));
    assert_int_equal(xacct_claims_finish(f->s, S, "q4", "w1/m4", "late", 0, changed_cb, &d), 0);
    wait_res(f, &d);
    assert_int_equal(d.status, XACCT_EEXISTS);
    r = claim(f, S, "q4", "w3/m4", 60000);
    assert_int_equal(r.result, XACCT_CLAIMS_BUSY);
    assert_string_equal(r.text, "w2/m4");
    /* A lease that ran out with nobody holding it: whoever finishes first. */
    assert_int_equal(claim(f, S, "q5", "w1/m5", 50).result, XACCT_CLAIMS_CLAIMED);
    th_sleep_ms(120);
    memset(&d, 0, sizeof(d));
    assert_int_equal(xacct_claims_finish(f->s, S, "q5", "w1/m5", "mine", 0, changed_cb, &d), 0);
    wait_res(f, &d);
    assert_int_equal(d.status, 0);
    assert_int_equal(d.result, 1);

    /* release: only by the owner, then another worker can take it */
    assert_int_equal(claim(f, S, "q3", "w1/m3", 60000).result, XACCT_CLAIMS_CLAIMED);
    memset(&d, 0, sizeof(d));
    assert_int_equal(xacct_claims_release(f->s, S, "q3", "w2/m3", changed_cb, &d), 0);
    wait_res(f, &d);
    assert_int_equal(d.result, 0);
    memset(&d, 0, sizeof(d));
    assert_int_equal(xacct_claims_release(f->s, S, "q3", "w1/m3", changed_cb, &d), 0);
    wait_res(f, &d);
    assert_int_equal(d.result, 1);
    assert_int_equal(claim(f, S, "q3", "w2/m3", 60000).result, XACCT_CLAIMS_CLAIMED);

    /* apply finishes the claim in the same script */
    const char *C = "333333333333";
    char *stack = stack_of(C);
    assert_int_equal(onboard(f, C, "xid-c1").status, 0);
    assert_int_equal(claim(f, stack, "cr1", "w1/x", 60000).result, XACCT_CLAIMS_CLAIMED);
    r = apply_full(f, C, "Create", "active", "cr1", NULL, "w1/x", "{\"answer\":1}");
    assert_int_equal(r.status, 0);
    assert_int_equal(r.result, XACCT_APPLY_APPLIED);
    r = claim(f, stack, "cr1", "w2/y", 60000);
    assert_int_equal(r.result, XACCT_CLAIMS_DONE);
    assert_string_equal(r.text, "{\"answer\":1}");
    /* a refused transition leaves the claim alone */
    assert_int_equal(claim(f, stack, "cr2", "w1/z", 60000).result, XACCT_CLAIMS_CLAIMED);
    r = apply_full(f, C, "Create", "rejected", "cr2", NULL, "w1/z", "{\"answer\":2}");
    assert_int_equal(r.status, XACCT_ESTATE);
    assert_int_equal(claim(f, stack, "cr2", "w2/z", 60000).result, XACCT_CLAIMS_BUSY);
    /* a claim another owner took over fences the outcome out */
    const char *D = "333333333334";
    char *dstack = stack_of(D);
    assert_int_equal(onboard(f, D, "xid-fence-1").status, 0);
    assert_int_equal(claim(f, dstack, "dr1", "w2/taken", 60000).result, XACCT_CLAIMS_CLAIMED);
    r = apply_full(f, D, "Create", "active", "dr1", NULL, "w1/late", "{\"answer\":3}");
    assert_int_equal(r.status, XACCT_EEXISTS);
    res_t g = get(f, D);
    assert_string_equal(field(&g, "state"), "pending");
    r = apply_full(f, D, "Create", "active", "dr1", NULL, "w2/taken", "{\"answer\":4}");
    assert_int_equal(r.status, 0);
    assert_int_equal(r.result, XACCT_APPLY_APPLIED);
    /* ... and so does one the other owner has finished since: the stale
     * attempt neither records nor replaces the stored answer. */
    assert_int_equal(claim(f, dstack, "dr2", "w2/next", 60000).result, XACCT_CLAIMS_CLAIMED);
    r = apply_full(f, D, "Update", "", "dr2", NULL, "w2/next", "{\"answer\":5}");
    assert_int_equal(r.status, 0);
    assert_int_equal(r.result, XACCT_APPLY_AUDITED);
    r = apply_full(f, D, "Update", "active", "dr2", NULL, "w1/stale", "{\"answer\":6}");
    assert_int_equal(r.status, XACCT_EEXISTS);
    g = get(f, D);
    assert_string_equal(field(&g, "last_request_id"), "dr1");
    assert_string_equal(claim(f, dstack, "dr2", "w3/later", 60000).text, "{\"answer\":5}");
    free(dstack);
    free(stack);
}

/* An Update of acct's stack proving the pending external ID rotate_to. */
static res_t apply_rotating(fx_t *f, const char *acct, const char *rid, const char *rotate_to)
{
    res_t r;
    memset(&r, 0, sizeof(r));
    char *stack = stack_of(acct);
    char *pid = xacct_asprintf("xacct-%s", acct);
    char *role = xacct_asprintf("arn:aws:iam::%s:role/xacct", acct);
    xacct_event_t ev = {.v = 1, .ts = xacct_store_now_ms(), .type = "update", .request_id = rid,
                        .stack_id = stack, .outcome = "success", .actor = "worker-1"};
    xacct_customer_apply_t in = {
        .account_id = acct, .request_type = "Update", .request_id = rid, .to_state = "active",
        .role_arn = role, .stack_id = stack, .region = "eu-west-1", .physical_id = pid,
        .last_error = "", .event = &ev, .rotate_to = rotate_to};
    assert_int_equal(xacct_customers_apply(f->s, &in, apply_cb, &r), 0);
    wait_res(f, &r);
    free(stack);
    free(pid);
    free(role);
    return r;
}

/* Rotation without downtime (SPEC §9.3) in the store: a connected customer's
 * new ID waits as pending_external_id (indexed) while the current one stays;
 * rotating again replaces it; only an Update naming the pending ID still in
 * the record swaps it in, unindexing the old one, with one lifecycle event. */
static void test_rotation_pending_and_swap(void **state)
{
    fx_t *f = *state;
    const char *R = "616161616161";
    assert_int_equal(onboard(f, R, "xid-r1").status, 0);
    expect_apply(f, R, "Create", "active", "rr1", 0, XACCT_APPLY_APPLIED);
    long long outbox0 = raw(f, "XLEN", PREFIX "outbox", NULL).count;

    res_t r = rotate(f, R, "xid-r2");
    assert_int_equal(r.status, 0);
    assert_string_equal(r.text, "active");
    res_t g = get(f, R);
    assert_string_equal(field(&g, "external_id"), "xid-r1");
    assert_string_equal(field(&g, "pending_external_id"), "xid-r2");
    assert_string_equal(field(&g, "state"), "active");
    assert_string_equal(raw(f, "GET", PREFIX "external-id:xid-r1", NULL).text, R);
    assert_string_equal(raw(f, "GET", PREFIX "external-id:xid-r2", NULL).text, R);
    assert_int_equal(raw(f, "XLEN", PREFIX "outbox", NULL).count, outbox0); /* no event yet */
    assert_string_equal(events(f, R).items[0], "rotated");

    /* Rotating twice replaces the pending ID and unindexes the previous one. */
    assert_int_equal(rotate(f, R, "xid-r1").status, XACCT_EEXISTS); /* the current ID */
    assert_int_equal(rotate(f, R, "xid-r3").status, 0);
    g = get(f, R);
    assert_string_equal(field(&g, "external_id"), "xid-r1");
    assert_string_equal(field(&g, "pending_external_id"), "xid-r3");
    assert_int_equal(raw(f, "EXISTS", PREFIX "external-id:xid-r2", NULL).count, 0);
    assert_string_equal(raw(f, "GET", PREFIX "external-id:xid-r3", NULL).text, R);

    /* An Update proving the replaced ID is refused: nothing changes. */
    r = apply_rotating(f, R, "rr2", "xid-r2");
    assert_int_equal(r.status, XACCT_ESTATE);
    g = get(f, R);
    assert_string_equal(field(&g, "external_id"), "xid-r1");
    assert_string_equal(field(&g, "pending_external_id"), "xid-r3");
    assert_string_equal(field(&g, "last_request_id"), "rr1");

    /* An Update with the old ID: as before, the rotation stays pending. */
    expect_apply(f, R, "Update", "active", "rr3", 0, XACCT_APPLY_APPLIED);
    g = get(f, R);
    assert_string_equal(field(&g, "external_id"), "xid-r1");
    assert_string_equal(field(&g, "pending_external_id"), "xid-r3");
    long long outbox1 = raw(f, "XLEN", PREFIX "outbox", NULL).count;
    assert_int_equal(outbox1, outbox0 + 1); /* customer.updated */

    /* The Update proving the pending ID: swapped, old ID unindexed, one event. */
    r = apply_rotating(f, R, "rr4", "xid-r3");
    assert_int_equal(r.status, 0);
    assert_int_equal(r.result, XACCT_APPLY_APPLIED);
    g = get(f, R);
    assert_string_equal(field(&g, "external_id"), "xid-r3");
    assert_string_equal(field(&g, "pending_external_id"), "");
    assert_string_equal(field(&g, "state"), "active");
    assert_int_equal(raw(f, "HEXISTS", PREFIX "customer:616161616161", "pending_external_id",
                         NULL).count, 0);
    assert_int_equal(raw(f, "EXISTS", PREFIX "external-id:xid-r1", NULL).count, 0);
    assert_string_equal(raw(f, "GET", PREFIX "external-id:xid-r3", NULL).text, R);
    assert_int_equal(raw(f, "XLEN", PREFIX "outbox", NULL).count, outbox1 + 1);
    const char *last_type = "local e = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)\n"
                            "return cjson.decode(e[1][2][2]).type";
    assert_string_equal(raw(f, "EVAL", last_type, "1", PREFIX "outbox", NULL).text,
                        "customer.external_id_rotated");
    /* Redelivered: a duplicate, nothing swapped twice. */
    r = apply_rotating(f, R, "rr4", "xid-r3");
    assert_int_equal(r.result, XACCT_APPLY_DUPLICATE);
    /* Nothing pending any more: a later rotate_to is refused. */
    assert_int_equal(apply_rotating(f, R, "rr5", "xid-r3").status, XACCT_ESTATE);
    assert_int_equal(raw(f, "XLEN", PREFIX "outbox", NULL).count, outbox1 + 1);

    /* A rotation left pending when the customer went away ends when it is
     * onboarded again: its ID unindexed, the field gone. */
    assert_int_equal(rotate(f, R, "xid-r4").status, 0);
    assert_int_equal(raw(f, "HSET", PREFIX "customer:616161616161", "state", "offboarded", NULL)
                         .status,
                     0);
    assert_int_equal(rotate(f, R, "xid-r5").status, XACCT_ESTATE);
    assert_int_equal(onboard(f, R, "xid-r6").status, 0);
    g = get(f, R);
    assert_string_equal(field(&g, "external_id"), "xid-r6");
    assert_string_equal(field(&g, "pending_external_id"), "");
    assert_int_equal(raw(f, "EXISTS", PREFIX "external-id:xid-r4", NULL).count, 0);
    assert_int_equal(raw(f, "EXISTS", PREFIX "external-id:xid-r3", NULL).count, 0);
    /* Bad input: rotate_to is for an activation only. */
    res_t bad;
    memset(&bad, 0, sizeof(bad));
    xacct_event_t ev = {.v = 1, .ts = 1, .type = "x", .actor = "t"};
    xacct_customer_apply_t in = {.account_id = R, .request_type = "Update", .request_id = "x",
                                 .to_state = NULL, .event = &ev, .rotate_to = "xid-r6"};
    assert_int_equal(xacct_customers_apply(f->s, &in, apply_cb, &bad), XACCT_EINVAL);
}

/* A transition names the external ID its decision was proved with: once the
 * record holds another one (a pending customer's ID re-issued while its
 * Create was being checked), it is refused and nothing is written. */
static void test_transition_fenced_by_external_id(void **state)
{
    fx_t *f = *state;
    const char *X = "626262626262";
    assert_int_equal(onboard(f, X, "xid-x1").status, 0);
    assert_int_equal(rotate(f, X, "xid-x2").status, 0); /* pending: replaced at once */
    long long outbox0 = raw(f, "XLEN", PREFIX "outbox", NULL).count;
    char *stack = stack_of(X);
    xacct_event_t ev = {.v = 1, .ts = xacct_store_now_ms(), .type = "create",
                        .request_id = "rx1", .stack_id = stack, .outcome = "success",
                        .actor = "worker-1"};
    xacct_customer_apply_t in = {
        .account_id = X, .request_type = "Create", .request_id = "rx1", .to_state = "active",
        .role_arn = "arn:aws:iam::626262626262:role/xacct", .stack_id = stack,
        .physical_id = "xacct-626262626262", .last_error = "", .event = &ev,
        .expect_external_id = "xid-x1"};
    res_t r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(xacct_customers_apply(f->s, &in, apply_cb, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.status, XACCT_ESTATE);
    expect_state(f, X, "pending");
    res_t g = get(f, X);
    assert_string_equal(field(&g, "external_id"), "xid-x2");
    assert_string_equal(field(&g, "last_request_id"), "");
    assert_int_equal(raw(f, "XLEN", PREFIX "outbox", NULL).count, outbox0);
    /* Decided again with the record's ID: applied. */
    in.expect_external_id = "xid-x2";
    memset(&r, 0, sizeof(r));
    assert_int_equal(xacct_customers_apply(f->s, &in, apply_cb, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.result, XACCT_APPLY_APPLIED);
    expect_state(f, X, "active");
    assert_int_equal(raw(f, "XLEN", PREFIX "outbox", NULL).count, outbox0 + 1);
    free(stack);
}

static void test_external_id_uniqueness_and_rotate(void **state)
{
    fx_t *f = *state;
    const char *D = "444444444444", *E = "555555555555";
    /* force a collision: the ID is already indexed for someone else */
    assert_int_equal(raw(f, "SET", PREFIX "external-id:xid-taken", E, NULL).status, 0);
    res_t o = onboard(f, D, "xid-taken");
    assert_int_equal(o.status, XACCT_EEXISTS);
    assert_int_equal(get(f, D).status, XACCT_ENOTFOUND); /* nothing was created */
    assert_string_equal(raw(f, "GET", PREFIX "external-id:xid-taken", NULL).text, E);
    /* the caller retries with a fresh ID */
    assert_int_equal(onboard(f, D, "xid-d1").status, 0);
    assert_string_equal(raw(f, "GET", PREFIX "external-id:xid-d1", NULL).text, D);
    res_t g = get(f, D);
    assert_string_equal(field(&g, "external_id"), "xid-d1");
    assert_string_equal(field(&g, "account_id"), D);
    char created[64];
    snprintf(created, sizeof(created), "%s", field(&g, "created_at"));

    /* rotate: collision refused, then new index in, old index out */
    assert_int_equal(rotate(f, D, "xid-taken").status, XACCT_EEXISTS);
    assert_string_equal(field(&g, "external_id"), "xid-d1");
    size_t ev0 = events(f, D).n;
    res_t r = rotate(f, D, "xid-d2");
    assert_int_equal(r.status, 0);
    assert_string_equal(r.text, "pending");
    g = get(f, D);
    assert_string_equal(field(&g, "external_id"), "xid-d2");
    assert_string_equal(field(&g, "created_at"), created);
    assert_string_equal(raw(f, "GET", PREFIX "external-id:xid-d2", NULL).text, D);
    assert_int_equal(raw(f, "EXISTS", PREFIX "external-id:xid-d1", NULL).count, 0);
    res_t ev = events(f, D);
    assert_int_equal(ev.n, ev0 + 1);
    assert_string_equal(ev.items[0], "rotated");
    assert_int_equal(rotate(f, "000000000001", "xid-z").status, XACCT_ENOTFOUND);

    /* re-onboarding after offboarded unindexes the previous ID */
    expect_apply(f, D, "Create", "active", "dr1", 0, XACCT_APPLY_APPLIED);
    expect_apply(f, D, "Delete", "offboarding", "dr2", 0, XACCT_APPLY_APPLIED);
    res_t jl = jobs_list(f);
    for (size_t i = 0; i < jl.n; i++)
        if (strstr(jl.items[i], D) != NULL) {
            char id[64];
            snprintf(id, sizeof(id), "%.*s", (int)strcspn(jl.items[i], "|"), jl.items[i]);
            assert_int_equal(job_done(f, id).status, 0);
        }
    g = get(f, D);
    assert_string_not_equal(field(&g, "role_arn"), "");
    assert_int_equal(onboard(f, D, "xid-d3").status, 0);
    assert_int_equal(raw(f, "EXISTS", PREFIX "external-id:xid-d2", NULL).count, 0);
    assert_string_equal(raw(f, "GET", PREFIX "external-id:xid-d3", NULL).text, D);
    g = get(f, D);
    assert_string_equal(field(&g, "created_at"), created);
    /* A new onboarding: nothing of the previous stack is left on it. */
    assert_string_equal(field(&g, "role_arn"), "");
    assert_string_equal(field(&g, "stack_id"), "");
    assert_string_equal(field(&g, "physical_id"), "");
    assert_string_equal(field(&g, "verified_at"), "");
}

static void topic_cb(int status, const char *detail, const char *arn, long long count, void *arg)
{
    res_t *r = arg;
    set_res(r, status, detail);
    snprintf(r->text, sizeof(r->text), "%s", arn);
    r->count = count;
}

/* The customers of these tests were onboarded with their account as their
 * external ID unless xid is given. */
static res_t assign_id(fx_t *f, const char *acct, const char *xid, const char *const *arns,
                       size_t n)
{
    res_t r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(xacct_customers_topic_assign(f->s, acct, xid, arns, n, 2, topic_cb, &r), 0);
    wait_res(f, &r);
    return r;
}

static res_t assign(fx_t *f, const char *acct, const char *const *arns, size_t n)
{
    return assign_id(f, acct, acct, arns, n);
}

static void members_cb(int status, const char *detail, const char *const *acc, size_t n,
                       void *arg)
{
    res_t *r = arg;
    set_res(r, status, detail);
    r->n = n;
    for (size_t i = 0; i < n && i < 16; i++)
        snprintf(r->items[i], sizeof(r->items[i]), "%s", acc[i]);
}

static void topics_cb(int status, const char *detail, const xacct_customers_topic_count_t *t,
                      size_t n, void *arg)
{
    res_t *r = arg;
    set_res(r, status, detail);
    r->n = n;
    for (size_t i = 0; i < n && i < 16; i++) {
        snprintf(r->items[i], sizeof(r->items[i]), "%s", t[i].topic_arn);
        r->nums[i] = t[i].count;
    }
}

/* The lock holder that wrote the topic's policy records the account only
 * while the lock is still its own. */
static void test_topic_assign_needs_the_lock(void **state)
{
    fx_t *f = *state;
    const char *T = "arn:aws:sns:eu-west-1:000000000000:xacct-locked";
    const char *arns[] = {T};
    const char *acct = "610000000001";
    assert_int_equal(onboard(f, acct, acct).status, 0);
    const char *holders[] = {NULL, "other-token"}; /* lease run out; another writer's */
    for (size_t i = 0; i < 2; i++) {
        if (holders[i] != NULL)
            raw(f, "SET", PREFIX "lock:topics:eu-west-1", holders[i], NULL);
        res_t r;
        memset(&r, 0, sizeof(r));
        assert_int_equal(xacct_customers_topic_assign_locked(f->s, acct, acct, arns, 1, 10,
                                                             "topics:eu-west-1", "my-token",
                                                             topic_cb, &r),
                         0);
        wait_res(f, &r);
        assert_int_equal(r.status, XACCT_EAGAIN);
        assert_int_equal(raw(f, "SCARD", PREFIX "topic:arn:aws:sns:eu-west-1:000000000000:"
                                         "xacct-locked",
                             NULL)
                             .count,
                         0);
    }
    res_t g = get(f, acct);
    assert_string_equal(field(&g, "topic_arn"), "");
    raw(f, "SET", PREFIX "lock:topics:eu-west-1", "my-token", NULL);
    res_t r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(xacct_customers_topic_assign_locked(f->s, acct, acct, arns, 1, 10,
                                                         "topics:eu-west-1", "my-token", topic_cb,
                                                         &r),
                     0);
    wait_res(f, &r);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.text, T);
    g = get(f, acct);
    assert_string_equal(field(&g, "topic_arn"), T);
}

static void test_topics(void **state)
{
    fx_t *f = *state;
    const char *T1 = "arn:aws:sns:eu-west-1:000000000000:xacct-1";
    const char *T2 = "arn:aws:sns:eu-west-1:000000000000:xacct-2";
    const char *arns[] = {T1, T2};
    const char *acc[] = {"600000000001", "600000000002", "600000000003", "600000000004",
                         "600000000005"};
    for (int i = 0; i < 5; i++)
        assert_int_equal(onboard(f, acc[i], acc[i]).status, 0); /* distinct IDs */

    res_t r = assign(f, acc[0], arns, 2);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.text, T1);
    assert_int_equal(r.count, 1);
    assert_string_equal(assign(f, acc[1], arns, 2).text, T1);
    r = assign(f, acc[2], arns, 2); /* T1 full */
    assert_string_equal(r.text, T2);
    r = assign(f, acc[0], arns, 2); /* already in T1: stays */
    assert_string_equal(r.text, T1);
    assert_int_equal(r.count, 2);
    assert_string_equal(assign(f, acc[3], arns, 2).text, T2);
    r = assign(f, acc[4], arns, 2);
    assert_int_equal(r.status, XACCT_ETOOBIG);
    r = assign(f, "699999999999", arns, 2);
    assert_int_equal(r.status, XACCT_ENOTFOUND);
    res_t g = get(f, acc[2]);
    assert_string_equal(field(&g, "topic_arn"), T2);

    res_t m;
    memset(&m, 0, sizeof(m));
    assert_int_equal(xacct_customers_topic_members(f->s, T1, members_cb, &m), 0);
    wait_res(f, &m);
    assert_int_equal(m.n, 2);
    assert_string_equal(m.items[0], acc[0]);
    assert_string_equal(m.items[1], acc[1]);

    /* moving to another topic leaves the old set */
    const char *only2[] = {T2};
    memset(&r, 0, sizeof(r));
    assert_int_equal(xacct_customers_topic_remove(f->s, acc[3], topic_cb, &r), 0);
    wait_res(f, &r);
    assert_string_equal(r.text, T2);
    assert_int_equal(r.count, 1);
    r = assign(f, acc[1], only2, 1);
    assert_string_equal(r.text, T2);
    assert_int_equal(raw(f, "SISMEMBER", PREFIX "topic:arn:aws:sns:eu-west-1:000000000000:xacct-1",
                         acc[1], NULL)
                         .count,
                     0);

    res_t t;
    memset(&t, 0, sizeof(t));
    assert_int_equal(xacct_customers_topics(f->s, topics_cb, &t), 0);
    wait_res(f, &t);
    assert_int_equal(t.status, 0);
    assert_int_equal(t.n, 2);
    assert_string_equal(t.items[0], T1);
    assert_int_equal(t.nums[0], 1);
    assert_string_equal(t.items[1], T2);
    assert_int_equal(t.nums[1], 2);

    /* Closed while its publish allow-list was being written, or its ID
     * re-issued: the account is not put in a topic set. */
    const char *T3[] = {"arn:aws:sns:eu-west-1:000000000000:xacct-3"};
    assert_int_equal(onboard(f, "600000000006", "xid-closed").status, 0);
    r = assign_id(f, "600000000006", "xid-other", T3, 1);
    assert_int_equal(r.status, XACCT_ESTATE);
    raw(f, "HSET", PREFIX "customer:600000000006", "state", "cancelled", NULL);
    r = assign_id(f, "600000000006", "xid-closed", T3, 1);
    assert_int_equal(r.status, XACCT_ESTATE);
    assert_int_equal(raw(f, "SCARD", PREFIX "topic:arn:aws:sns:eu-west-1:000000000000:xacct-3",
                         NULL).count,
                     0);
    g = get(f, "600000000006");
    assert_string_equal(field(&g, "topic_arn"), "");
    raw(f, "HSET", PREFIX "customer:600000000006", "state", "pending", NULL);
    r = assign_id(f, "600000000006", "xid-closed", T3, 1);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.text, T3[0]);

    /* jobs done removes the account from its topic and reports the topic */
    expect_apply(f, acc[2], "Create", "active", "tr1", 0, XACCT_APPLY_APPLIED);
    expect_apply(f, acc[2], "Delete", "offboarding", "tr2", 0, XACCT_APPLY_APPLIED);
    res_t jl = jobs_list(f);
    int closed = 0;
    for (size_t i = 0; i < jl.n; i++)
        if (strstr(jl.items[i], acc[2]) != NULL) {
            char id[64];
            snprintf(id, sizeof(id), "%.*s", (int)strcspn(jl.items[i], "|"), jl.items[i]);
            res_t d = job_done(f, id);
            assert_int_equal(d.status, 0);
            assert_string_equal(d.text2, T2);
            closed++;
        }
    assert_int_equal(closed, 1);
    assert_int_equal(raw(f, "SISMEMBER", PREFIX "topic:arn:aws:sns:eu-west-1:000000000000:xacct-2",
                         acc[2], NULL)
                         .count,
                     0);
    g = get(f, acc[2]);
    assert_string_equal(field(&g, "topic_arn"), "");
}

static void list_cb(int status, const char *detail, const xacct_customer_summary_t *items,
                    size_t n, void *arg)
{
    res_t *r = arg;
    set_res(r, status, detail);
    r->n = n;
    for (size_t i = 0; i < n && i < 16; i++)
        snprintf(r->items[i], sizeof(r->items[i]), "%s:%s", items[i].account_id,
                 xacct_customer_state_name(items[i].state));
}

static void test_list_and_events(void **state)
{
    fx_t *f = *state;
    assert_int_equal(raw(f, "FLUSHDB", NULL).status, 0);
    assert_int_equal(onboard(f, "700000000001", "xid-l1").status, 0);
    assert_int_equal(onboard(f, "700000000002", "xid-l2").status, 0);
    assert_int_equal(onboard(f, "700000000003", "xid-l3").status, 0);
    th_sleep_ms(5);
    expect_apply(f, "700000000001", "Create", "active", "l1", 0, XACCT_APPLY_APPLIED);

    res_t l;
    memset(&l, 0, sizeof(l));
    assert_int_equal(xacct_customers_list(f->s, NULL, 0, list_cb, &l), 0);
    wait_res(f, &l);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.items[0], "700000000001:active"); /* most recent first */
    memset(&l, 0, sizeof(l));
    assert_int_equal(xacct_customers_list(f->s, "pending", 0, list_cb, &l), 0);
    wait_res(f, &l);
    assert_int_equal(l.n, 2);
    memset(&l, 0, sizeof(l));
    assert_int_equal(xacct_customers_list(f->s, "pending", 1, list_cb, &l), 0);
    wait_res(f, &l);
    assert_int_equal(l.n, 1);

    res_t e = events(f, "700000000001");
    assert_int_equal(e.n, 2);
    assert_string_equal(e.items[0], "Create"); /* newest first */
    assert_string_equal(e.items[1], "onboarded");
    assert_int_equal(events(f, "799999999999").n, 0);

    /* audit-only append needs a record */
    res_t a;
    memset(&a, 0, sizeof(a));
    xacct_event_t ev = {.v = 1, .ts = 1, .type = "failed", .reason = "ExternalID mismatch",
                        .actor = "worker-1"};
    assert_int_equal(xacct_customers_audit(f->s, "700000000002", &ev, hb_cb, &a),
                     0);
    wait_res(f, &a);
    assert_int_equal(a.status, 0);
    assert_string_equal(events(f, "700000000002").items[0], "failed");
    memset(&a, 0, sizeof(a));
    assert_int_equal(xacct_customers_audit(f->s, "799999999999", &ev, hb_cb, &a),
                     0);
    wait_res(f, &a);
    assert_int_equal(a.status, XACCT_ENOTFOUND);
    assert_int_equal(raw(f, "EXISTS", PREFIX "events:799999999999", NULL).count, 0);
}

static void added_cb(int status, const char *detail, const char *id, void *arg)
{
    res_t *r = arg;
    set_res(r, status, detail);
    snprintf(r->text, sizeof(r->text), "%s", id);
}

static void dead_cb(int status, const char *detail, const xacct_dead_item_t *items, size_t n,
                    void *arg)
{
    res_t *r = arg;
    set_res(r, status, detail);
    r->n = n;
    for (size_t i = 0; i < n && i < 16; i++) {
        snprintf(r->items[i], sizeof(r->items[i]), "%s|%s|%s|%s|%s", items[i].id,
                 items[i].d.body, items[i].d.reason, items[i].d.queue, items[i].d.message_id);
        r->nums[i] = items[i].d.receives;
    }
}

static void test_dead(void **state)
{
    fx_t *f = *state;
    const char *bodies[] = {"{\"a\":1}", "{\"b\":2}"};
    char ids[2][64];
    for (int i = 0; i < 2; i++) {
        xacct_dead_t d = {.body = bodies[i], .reason = "too many receives", .receives = 6 + i,
                          .queue = "https://sqs.eu-west-1.amazonaws.com/1/q",
                          .message_id = i ? "m2" : "m1"};
        res_t r;
        memset(&r, 0, sizeof(r));
        assert_int_equal(xacct_dead_add(f->s, &d, added_cb, &r), 0);
        wait_res(f, &r);
        assert_int_equal(r.status, 0);
        snprintf(ids[i], sizeof(ids[i]), "%.63s", r.text);
    }
    res_t l;
    memset(&l, 0, sizeof(l));
    assert_int_equal(xacct_dead_list(f->s, 0, dead_cb, &l), 0);
    wait_res(f, &l);
    assert_true(l.n >= 2);
    char want[256];
    snprintf(want, sizeof(want), "%s|{\"b\":2}|too many receives|https://sqs.eu-west-1."
                                 "amazonaws.com/1/q|m2", ids[1]);
    assert_string_equal(l.items[0], want);
    assert_int_equal(l.nums[0], 7);
    assert_int_equal(l.nums[1], 6);
}

static void hb_cb(int status, const char *detail, void *arg)
{
    set_res(arg, status, detail);
}

static void workers_cb(int status, const char *detail, const xacct_heartbeats_item_t *w, size_t n,
                       void *arg)
{
    res_t *r = arg;
    set_res(r, status, detail);
    r->n = n;
    for (size_t i = 0; i < n && i < 16; i++) {
        snprintf(r->items[i], sizeof(r->items[i]), "%s|%d|%s|%lld|%d", w[i].id, w[i].valid,
                 w[i].valid ? w[i].hb.host : "", (long long)w[i].hb.in_flight,
                 w[i].valid ? (int)w[i].hb.quiet : -1);
        r->nums[i] = w[i].ttl_ms;
    }
}

static res_t workers(fx_t *f)
{
    res_t r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(xacct_heartbeats_list(f->s, workers_cb, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.status, 0);
    return r;
}

static void test_heartbeats(void **state)
{
    fx_t *f = *state;
    xacct_heartbeat_t hb = {.host = "host-a", .pid = 10, .version = "0.1.0", .started_at = 5,
                            .concurrency = 64, .in_flight = 3, .processed = 7, .failed = 1,
                            .rss = 1 << 20, .quiet = false};
    res_t r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(xacct_heartbeats_put(f->s, "host-a:10", &hb, 1, hb_cb, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.status, 0);
    hb.host = "host-b";
    hb.quiet = true;
    memset(&r, 0, sizeof(r));
    assert_int_equal(xacct_heartbeats_put(f->s, "host-b:11", &hb, 100, hb_cb, &r), 0);
    wait_res(f, &r);
    /* a garbage payload is listed but flagged */
    assert_int_equal(raw(f, "SET", PREFIX "worker:broken", "not msgpack", "EX", "100", NULL).status,
                     0);

    res_t w = workers(f);
    assert_int_equal(w.n, 3);
    assert_string_equal(w.items[0], "broken|0||0|-1");
    assert_string_equal(w.items[1], "host-a:10|1|host-a|3|0");
    assert_string_equal(w.items[2], "host-b:11|1|host-b|3|1");
    assert_true(w.nums[1] > 0 && w.nums[1] <= 1000);
    assert_true(w.nums[2] > 1000);

    /* the TTL makes a silent worker disappear */
    th_sleep_ms(1100);
    w = workers(f);
    assert_int_equal(w.n, 2);
    assert_string_equal(w.items[1], "host-b:11|1|host-b|3|1");
    assert_int_equal(xacct_heartbeats_put(f->s, "", &hb, 1, hb_cb, &r), XACCT_EINVAL);
    assert_int_equal(xacct_heartbeats_put(f->s, "x", &hb, 0, hb_cb, &r), XACCT_EINVAL);
}

/* Runs last: every key the operations created carries the prefix. */
static void test_prefix_everywhere(void **state)
{
    fx_t *f = *state;
    /* touch every kind of key once more */
    assert_int_equal(onboard(f, "800000000001", "xid-p1").status, 0);
    const char *arns[] = {"arn:aws:sns:eu-west-1:000000000000:p"};
    assert_int_equal(assign_id(f, "800000000001", "xid-p1", arns, 1).status, 0);
    expect_apply(f, "800000000001", "Create", "active", "p1", 0, XACCT_APPLY_APPLIED);
    expect_apply(f, "800000000001", "Delete", "offboarding", "p2", 0, XACCT_APPLY_APPLIED);
    claim(f, "stack-p", "rp", "o", 10000);
    res_t all = raw(f, "KEYS", "*", NULL);
    assert_true(all.n > 5);
    res_t pre = raw(f, "KEYS", PREFIX "*", NULL);
    assert_int_equal(pre.n, all.n);
    res_t d = raw(f, "EXISTS", PREFIX "customer:800000000001", PREFIX "customers",
                  PREFIX "events:800000000001", PREFIX "jobs:offboard",
                  PREFIX "external-id:xid-p1", PREFIX "request:stack-p:rp", NULL);
    assert_int_equal(d.count, 6);
}

/* A Create connects an active or degraded customer through a new stack only
 * in place of the stack the decision found gone, and only while the record
 * still names it; the event is customer.connected. */
static void replaces_a_gone_stack(fx_t *f, const char *from)
{
    const char *A = "131313131313";
    raw(f, "DEL", PREFIX "customer:131313131313", NULL);
    raw(f, "HSET", PREFIX "customer:131313131313", "account_id", A, "state", from,
        "external_id", "xid-seed", "physical_id", "xacct-131313131313", "stack_id",
        "arn:aws:cloudformation:eu-west-1:131313131313:stack/first/0", "role_arn",
        "arn:aws:iam::131313131313:role/first", NULL);
    xacct_event_t ev = {.v = 1, .ts = xacct_store_now_ms(), .type = "create", .request_id = "rp1",
                        .outcome = "SUCCESS", .actor = "worker-1"};
    xacct_customer_apply_t in = {
        .account_id = A, .request_type = "Create", .request_id = "rp1", .to_state = "active",
        .role_arn = "arn:aws:iam::131313131313:role/again",
        .stack_id = "arn:aws:cloudformation:eu-west-1:131313131313:stack/again/1",
        .region = "eu-west-1", .physical_id = "xacct-131313131313", .last_error = "",
        .event = &ev};
    /* Without a stack to replace, or naming another stack or role: refused. */
    const char *first = "arn:aws:cloudformation:eu-west-1:131313131313:stack/first/0";
    const char *wrong[][2] = {
        {NULL, NULL},
        {"arn:aws:cloudformation:eu-west-1:131313131313:stack/other/2", "arn:aws:iam::1:role/r"},
        {first, "arn:aws:iam::131313131313:role/not-the-recorded-one"},
    };
    for (size_t i = 0; i < 3; i++) {
        res_t r;
        memset(&r, 0, sizeof(r));
        in.replace_stack_id = wrong[i][0];
        in.replace_role_arn = wrong[i][1];
        assert_int_equal(xacct_customers_apply(f->s, &in, apply_cb, &r), 0);
        wait_res(f, &r);
        assert_int_equal(r.status, XACCT_ESTATE);
    }
    res_t g = get(f, A);
    assert_string_equal(field(&g, "stack_id"),
                        "arn:aws:cloudformation:eu-west-1:131313131313:stack/first/0");
    res_t r;
    memset(&r, 0, sizeof(r));
    in.replace_stack_id = first;
    in.replace_role_arn = "arn:aws:iam::131313131313:role/first";
    assert_int_equal(xacct_customers_apply(f->s, &in, apply_cb, &r), 0);
    wait_res(f, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.result, XACCT_APPLY_APPLIED);
    g = get(f, A);
    assert_string_equal(g.text, "active");
    assert_string_equal(field(&g, "stack_id"), in.stack_id);
    assert_string_equal(field(&g, "role_arn"), in.role_arn);
    const char *last = "local e = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)\n"
                       "local ev = cjson.decode(e[1][2][2]) return ev.type .. ' ' .. ev.account_id";
    assert_string_equal(raw(f, "EVAL", last, "1", PREFIX "outbox", NULL).text,
                        "customer.connected 131313131313");
}

static void test_create_replaces_a_gone_stack(void **state)
{
    fx_t *f = *state;
    replaces_a_gone_stack(f, "active");
    replaces_a_gone_stack(f, "degraded");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, th_store_fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_transitions),
        T(test_transition_matrix),
        T(test_create_replaces_a_gone_stack),
        T(test_delete_twice_one_job),
        T(test_claims),
        T(test_external_id_uniqueness_and_rotate),
        T(test_rotation_pending_and_swap),
        T(test_transition_fenced_by_external_id),
        T(test_topics),
        T(test_topic_assign_needs_the_lock),
        T(test_list_and_events),
        T(test_dead),
        T(test_heartbeats),
        T(test_prefix_everywhere),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
