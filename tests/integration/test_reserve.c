/* SPDX-License-Identifier: MIT */
/*
 * Reserving an external ID before the AWS side of an onboarding or rotation
 * is in place, against a real redis-server: a reservation is an index key
 * with a lease and nothing else (no record, no event), the topic assignment
 * of a reserved ID touches the topic set only, the commit keeps the key for
 * good and writes the record with its event, a rotation prepared for a
 * record that changed meanwhile is refused, and a release undoes the
 * reservation (but never a committed ID). Each reservation is an entry of
 * the reservations zset, due when its lease ends, that names its topic once
 * one is assigned; the workers release the entries whose holder died, and a
 * commit that comes after that is refused. What AWS may still hold for an
 * ID given up or retired, or a topic left, is queued in the cleanup zset.
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
#include "xacct/store.h"

#define PREFIX "reserve-test:"
#define LEASE_MS 60000

typedef struct res {
    int done;
    int status;
    char text[256];
    long long count;
    long long looked; /* release_lapsed: entries looked at */
    int64_t next;     /* release_lapsed: the earliest due time left */
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

static void raw_cb(int status, const char *detail, const xacct_store_reply_t *rep, void *arg)
{
    (void)detail;
    res_t *r = arg;
    r->done = 1;
    r->status = status;
    if (rep == NULL)
        return;
    r->count = rep->integer;
    snprintf(r->text, sizeof(r->text), "%s", rep->str ? rep->str : "");
}

static res_t raw(fx_t *f, const char *name, ...)
{
    res_t r;
    memset(&r, 0, sizeof(r));
    va_list ap;
    va_start(ap, name);
    assert_int_equal(xacct_store_vcmd(f->s, raw_cb, &r, name, ap), 0);
    va_end(ap);
    wait_res(f, &r);
    return r;
}

static void word_cb(int status, const char *detail, const char *text, void *arg)
{
    (void)detail;
    res_t *r = arg;
    assert_int_equal(r->done, 0);
    r->done = 1;
    r->status = status;
    snprintf(r->text, sizeof(r->text), "%s", text ? text : "");
}

static void done_cb(int status, const char *detail, void *arg)
{
    word_cb(status, detail, NULL, arg);
}

static void topic_cb(int status, const char *detail, const char *arn, long long count, void *arg)
{
    word_cb(status, detail, arn, arg);
    ((res_t *)arg)->count = count;
}

static res_t reserve(fx_t *f, const char *acct, const char *xid, bool rotate)
{
    res_t r = {0};
    assert_int_equal(
        xacct_customers_reserve_id(f->s, acct, xid, rotate, LEASE_MS, word_cb, &r), 0);
    wait_res(f, &r);
    return r;
}

static res_t release(fx_t *f, const char *acct, const char *xid, const char *topic,
                     bool template_left)
{
    res_t r = {0};
    assert_int_equal(
        xacct_customers_release_id(f->s, acct, xid, topic, template_left, done_cb, &r), 0);
    wait_res(f, &r);
    return r;
}

static res_t assign(fx_t *f, const char *acct, const char *xid, const char *topic)
{
    res_t r = {0};
    const char *arns[] = {topic};
    assert_int_equal(xacct_customers_topic_assign(f->s, acct, xid, arns, 1, 10, topic_cb, &r), 0);
    wait_res(f, &r);
    return r;
}

static void lapsed_cb(int status, const char *detail, long long released, long long looked_at,
                      int64_t next_due_ms, void *arg)
{
    word_cb(status, detail, NULL, arg);
    res_t *r = arg;
    r->count = released;
    r->looked = looked_at;
    r->next = next_due_ms;
}

/* The workers' sweep of reservations due at now_ms. */
static res_t release_lapsed(fx_t *f, int64_t now_ms)
{
    res_t r = {0};
    assert_int_equal(xacct_customers_release_lapsed(f->s, now_ms, 100, lapsed_cb, &r), 0);
    wait_res(f, &r);
    return r;
}

static xacct_event_t event(const char *type)
{
    return (xacct_event_t){.v = 1, .ts = xacct_store_now_ms(), .type = type, .actor = "cli"};
}

static res_t commit_onboard(fx_t *f, const char *acct, const char *xid, const char *topic)
{
    res_t r = {0};
    xacct_event_t ev = event("onboarded");
    assert_int_equal(xacct_customers_onboard_commit(f->s, acct, xid, "us-east-1", topic, &ev,
                                                    word_cb, &r),
                     0);
    wait_res(f, &r);
    return r;
}

static res_t commit_rotate(fx_t *f, const char *acct, const char *xid,
                           const xacct_customers_expect_t *expect)
{
    res_t r = {0};
    xacct_event_t ev = event("rotated");
    assert_int_equal(
        xacct_customers_rotate_commit(f->s, acct, xid, "", expect, &ev, word_cb, &r), 0);
    wait_res(f, &r);
    return r;
}

static const char *hget(fx_t *f, const char *acct, const char *field, res_t *r)
{
    char key[64];
    snprintf(key, sizeof(key), PREFIX "customer:%s", acct);
    *r = raw(f, "HGET", key, field, NULL);
    return r->text;
}

#define TOPIC "arn:aws:sns:us-east-1:111111111111:t1"

/* Whether member is in the cleanup zset. */
static bool queued(fx_t *f, const char *member)
{
    return raw(f, "ZSCORE", PREFIX "cleanup", member, NULL).text[0] != '\0';
}

/* The reservations zset's due time of member, or -1 when it is not there. */
static long long reservation_due(fx_t *f, const char *member)
{
    res_t r = raw(f, "ZSCORE", PREFIX "reservations", member, NULL);
    return r.text[0] != '\0' ? strtoll(r.text, NULL, 10) : -1;
}

/* As if the lease of a reservation had run out: its index key gone and its
 * entry due. */
static void lapse(fx_t *f, const char *member, const char *xid)
{
    char key[128];
    snprintf(key, sizeof(key), PREFIX "external-id:%s", xid);
    assert_int_equal(raw(f, "DEL", key, NULL).status, 0);
    assert_int_equal(raw(f, "ZADD", PREFIX "reservations", "XX", "1", member, NULL).count, 0);
    assert_int_equal(reservation_due(f, member), 1);
}

static long long cleanups(fx_t *f)
{
    return raw(f, "ZCARD", PREFIX "cleanup", NULL).count;
}

static void test_onboarding_reserved_then_committed(void **state)
{
    fx_t *f = *state;
    const char *A = "700000000001";
    res_t t;

    long long before = xacct_store_now_ms();
    assert_int_equal(reserve(f, A, "xid-a1", false).status, 0);
    long long ttl = raw(f, "PTTL", PREFIX "external-id:xid-a1", NULL).count;
    assert_true(ttl > 0 && ttl <= LEASE_MS);
    /* The reservation is on the zset, due when its lease ends. */
    long long due = reservation_due(f, "700000000001|xid-a1|");
    assert_true(due >= before + LEASE_MS && due <= xacct_store_now_ms() + LEASE_MS);
    assert_int_equal(raw(f, "EXISTS", PREFIX "customer:" "700000000001", NULL).count, 0);
    assert_int_equal(raw(f, "EXISTS", PREFIX "outbox", NULL).count, 0);
    /* The ID is taken while reserved, for this account and the others. */
    assert_int_equal(reserve(f, A, "xid-a1", false).status, XACCT_EEXISTS);
    assert_int_equal(reserve(f, "700000000002", "xid-a1", false).status, XACCT_EEXISTS);

    /* Its topic assignment fills the set and leaves the record alone. */
    res_t a = assign(f, A, "xid-a1", TOPIC);
    assert_int_equal(a.status, 0);
    assert_string_equal(a.text, TOPIC);
    assert_int_equal(a.count, 1);
    assert_int_equal(raw(f, "SISMEMBER", PREFIX "topic:" TOPIC, A, NULL).count, 1);
    assert_int_equal(raw(f, "EXISTS", PREFIX "customer:" "700000000001", NULL).count, 0);
    /* Its entry names the topic from now on, due as before. */
    assert_int_equal(reservation_due(f, "700000000001|xid-a1|"), -1);
    assert_int_equal(reservation_due(f, "700000000001|xid-a1|" TOPIC), due);

    /* The commit keeps the index for good and writes record and event. */
    res_t c = commit_onboard(f, A, "xid-a1", TOPIC);
    assert_int_equal(c.status, 0);
    assert_int_equal(raw(f, "ZCARD", PREFIX "reservations", NULL).count, 0);
    assert_int_equal(raw(f, "PTTL", PREFIX "external-id:xid-a1", NULL).count, -1);
    assert_string_equal(hget(f, A, "state", &t), "pending");
    assert_string_equal(hget(f, A, "external_id", &t), "xid-a1");
    assert_string_equal(hget(f, A, "topic_arn", &t), TOPIC);
    assert_int_equal(raw(f, "XLEN", PREFIX "outbox", NULL).count, 1);

    /* An open onboarding is not reserved again; a committed ID never
     * counts as this account's reservation. */
    assert_int_equal(reserve(f, A, "xid-a2", false).status, XACCT_ESTATE);
    assert_int_equal(commit_onboard(f, "700000000003", "xid-a1", "").status, XACCT_EEXISTS);
    /* Releasing a committed ID changes nothing. */
    assert_int_equal(release(f, A, "xid-a1", TOPIC, true).status, 0);
    assert_string_equal(raw(f, "GET", PREFIX "external-id:xid-a1", NULL).text, A);
    assert_int_equal(raw(f, "SISMEMBER", PREFIX "topic:" TOPIC, A, NULL).count, 1);
    assert_false(queued(f, "700000000001|xid-a1|"));
    assert_false(queued(f, "700000000001|xid-a1|" TOPIC));
}

static void test_release_undoes_a_reservation(void **state)
{
    fx_t *f = *state;
    const char *B = "700000000011";
    long long outbox0 = raw(f, "XLEN", PREFIX "outbox", NULL).count;
    long long cleanups0 = cleanups(f);
    assert_int_equal(reserve(f, B, "xid-b1", false).status, 0);
    assert_int_equal(assign(f, B, "xid-b1", TOPIC).status, 0);
    assert_true(reservation_due(f, "700000000011|xid-b1|" TOPIC) > 0);
    assert_int_equal(release(f, B, "xid-b1", TOPIC, false).status, 0);
    assert_int_equal(reservation_due(f, "700000000011|xid-b1|" TOPIC), -1);
    assert_int_equal(raw(f, "EXISTS", PREFIX "external-id:xid-b1", NULL).count, 0);
    assert_int_equal(raw(f, "SISMEMBER", PREFIX "topic:" TOPIC, B, NULL).count, 0);
    assert_int_equal(raw(f, "EXISTS", PREFIX "customer:" "700000000011", NULL).count, 0);
    assert_int_equal(raw(f, "XLEN", PREFIX "outbox", NULL).count, outbox0);
    /* The topic's policy was written with the account: it is rewritten by
     * the clean-up, due now (no template left to delete). */
    long long now = xacct_store_now_ms();
    res_t due = raw(f, "ZSCORE", PREFIX "cleanup", "700000000011||" TOPIC, NULL);
    assert_int_equal(due.status, 0);
    assert_true(due.text[0] != '\0');
    long long due_ms = strtoll(due.text, NULL, 10);
    assert_true(due_ms > now - 60000 && due_ms <= now);
    /* A lapsed reservation: the assignment finds neither record nor lease. */
    assert_int_equal(assign(f, B, "xid-b1", TOPIC).status, XACCT_ENOTFOUND);

    /* A template whose removal failed is queued; a topic the account was
     * never added to is not. */
    const char *B2 = "700000000012";
    assert_int_equal(reserve(f, B2, "xid-b2", false).status, 0);
    assert_int_equal(release(f, B2, "xid-b2", TOPIC, true).status, 0);
    assert_true(queued(f, "700000000012|xid-b2|"));
    assert_int_equal(cleanups(f), cleanups0 + 2);
    /* Nothing to clean: nothing queued. */
    assert_int_equal(reserve(f, "700000000013", "xid-b3", false).status, 0);
    assert_int_equal(release(f, "700000000013", "xid-b3", "", false).status, 0);
    assert_int_equal(cleanups(f), cleanups0 + 2);
    assert_int_equal(raw(f, "ZCARD", PREFIX "reservations", NULL).count, 0);
}

#define TOPIC2 "arn:aws:sns:us-east-1:111111111111:t2"

/* A rejected customer onboarded again: the template of the ID it retires
 * and the policy of the topic it left are queued; a closed state whose
 * close cleaned up already queues nothing. */
static void test_onboarding_again_queues_what_it_leaves(void **state)
{
    fx_t *f = *state;
    const char *D = "700000000031", *E = "700000000032";
    res_t t;
    long long cleanups0 = cleanups(f);
    assert_int_equal(reserve(f, D, "xid-d1", false).status, 0);
    assert_int_equal(assign(f, D, "xid-d1", TOPIC).status, 0);
    assert_int_equal(commit_onboard(f, D, "xid-d1", TOPIC).status, 0);
    assert_int_equal(raw(f, "HSET", PREFIX "customer:" "700000000031", "state", "rejected",
                         NULL).status,
                     0);
    res_t r = reserve(f, D, "xid-d2", false);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.text, "rejected");
    assert_int_equal(assign(f, D, "xid-d2", TOPIC2).status, 0);
    assert_int_equal(commit_onboard(f, D, "xid-d2", TOPIC2).status, 0);
    assert_string_equal(hget(f, D, "external_id", &t), "xid-d2");
    assert_string_equal(hget(f, D, "topic_arn", &t), TOPIC2);
    assert_int_equal(raw(f, "SISMEMBER", PREFIX "topic:" TOPIC, D, NULL).count, 0);
    assert_int_equal(cleanups(f), cleanups0 + 1);
    assert_true(queued(f, "700000000031|xid-d1|" TOPIC));

    /* Expired (its close took it off the topic and queued its own
     * clean-up): onboarded again on the same topic, nothing more. */
    assert_int_equal(reserve(f, E, "xid-e1", false).status, 0);
    assert_int_equal(assign(f, E, "xid-e1", TOPIC).status, 0);
    assert_int_equal(commit_onboard(f, E, "xid-e1", TOPIC).status, 0);
    assert_int_equal(raw(f, "HSET", PREFIX "customer:" "700000000032", "state", "expired",
                         NULL).status,
                     0);
    assert_int_equal(raw(f, "SREM", PREFIX "topic:" TOPIC, E, NULL).status, 0);
    assert_int_equal(reserve(f, E, "xid-e2", false).status, 0);
    assert_int_equal(assign(f, E, "xid-e2", TOPIC2).status, 0);
    assert_int_equal(commit_onboard(f, E, "xid-e2", TOPIC2).status, 0);
    assert_int_equal(cleanups(f), cleanups0 + 1);
}

static void test_rotation_committed_only_onto_the_record_it_read(void **state)
{
    fx_t *f = *state;
    const char *C = "700000000021";
    res_t t;
    long long outbox0 = raw(f, "XLEN", PREFIX "outbox", NULL).count;
    assert_int_equal(reserve(f, C, "xid-c1", true).status, XACCT_ENOTFOUND);
    assert_int_equal(reserve(f, C, "xid-c1", false).status, 0);
    assert_int_equal(assign(f, C, "xid-c1", TOPIC).status, 0);
    assert_int_equal(commit_onboard(f, C, "xid-c1", TOPIC).status, 0);

    res_t r = reserve(f, C, "xid-c2", true);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.text, "pending");
    /* Read with another ID (or as connected): refused, nothing changed. */
    xacct_customers_expect_t stale = {.external_id = "xid-c0"};
    assert_int_equal(commit_rotate(f, C, "xid-c2", &stale).status, XACCT_EAGAIN);
    xacct_customers_expect_t connected = {.external_id = "xid-c1", .connected = true};
    assert_int_equal(commit_rotate(f, C, "xid-c2", &connected).status, XACCT_EAGAIN);
    assert_string_equal(hget(f, C, "external_id", &t), "xid-c1");
    assert_int_equal(raw(f, "XLEN", PREFIX "outbox", NULL).count, outbox0 + 1);

    xacct_customers_expect_t read = {.external_id = "xid-c1"};
    assert_int_equal(commit_rotate(f, C, "xid-c2", &read).status, 0);
    assert_string_equal(hget(f, C, "external_id", &t), "xid-c2");
    assert_int_equal(raw(f, "EXISTS", PREFIX "external-id:xid-c1", NULL).count, 0);
    assert_int_equal(raw(f, "PTTL", PREFIX "external-id:xid-c2", NULL).count, -1);
    assert_int_equal(raw(f, "XLEN", PREFIX "outbox", NULL).count, outbox0 + 2);
    /* The customer stays on its topic through the rotation. */
    assert_int_equal(raw(f, "SISMEMBER", PREFIX "topic:" TOPIC, C, NULL).count, 1);
}

/* A process killed between the reservation and its commit: the workers'
 * sweep releases what it left once the lease is over, leaves alone what
 * was committed or is still leased, and a commit that comes after the
 * sweep is refused with nothing written. */
static void test_lapsed_reservations_are_released(void **state)
{
    fx_t *f = *state;
    const char *K = "700000000041"; /* killed after its topic assignment */
    const char *L = "700000000042"; /* still under its lease */
    const char *M = "700000000043"; /* committed */
    const char *R = "700000000044"; /* a rotation of a pending customer, killed */
    res_t t;
    long long cleanups0 = cleanups(f);

    assert_int_equal(reserve(f, K, "xid-k1", false).status, 0);
    assert_int_equal(assign(f, K, "xid-k1", TOPIC).status, 0);
    assert_int_equal(reserve(f, L, "xid-l1", false).status, 0);
    assert_int_equal(assign(f, L, "xid-l1", TOPIC).status, 0);
    assert_int_equal(reserve(f, M, "xid-m1", false).status, 0);
    assert_int_equal(assign(f, M, "xid-m1", TOPIC).status, 0);
    assert_int_equal(commit_onboard(f, M, "xid-m1", TOPIC).status, 0);
    assert_int_equal(reserve(f, R, "xid-r1", false).status, 0);
    assert_int_equal(assign(f, R, "xid-r1", TOPIC).status, 0);
    assert_int_equal(commit_onboard(f, R, "xid-r1", TOPIC).status, 0);
    assert_int_equal(reserve(f, R, "xid-r2", true).status, 0);
    assert_int_equal(assign(f, R, "xid-r2", TOPIC).status, 0);
    /* Nothing is due before the leases end. */
    res_t r = release_lapsed(f, xacct_store_now_ms());
    assert_int_equal(r.status, 0);
    assert_int_equal(r.count, 0);
    assert_int_equal(r.looked, 0);
    assert_true(r.next > xacct_store_now_ms());

    lapse(f, "700000000041|xid-k1|" TOPIC, "xid-k1");
    lapse(f, "700000000044|xid-r2|" TOPIC, "xid-r2");
    /* L's entry is due by the reserving host's clock, but Redis still holds
     * its lease; an entry of a committed ID (as an older commit left it) and
     * one that is not a reservation at all are due too. */
    assert_int_equal(
        raw(f, "ZADD", PREFIX "reservations", "XX", "1", "700000000042|xid-l1|" TOPIC, NULL).status,
        0);
    assert_int_equal(
        raw(f, "ZADD", PREFIX "reservations", "1", "700000000043|xid-m1|" TOPIC, NULL).status, 0);
    assert_int_equal(raw(f, "ZADD", PREFIX "reservations", "1", "junk", NULL).status, 0);

    int64_t now = xacct_store_now_ms();
    r = release_lapsed(f, now);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.count, 2);
    assert_int_equal(r.looked, 5);
    /* L is looked at again when Redis says its lease ends. */
    long long due = reservation_due(f, "700000000042|xid-l1|" TOPIC);
    assert_true(due > now + LEASE_MS / 2 && due <= now + LEASE_MS);
    assert_int_equal(r.next, due);
    assert_int_equal(raw(f, "ZCARD", PREFIX "reservations", NULL).count, 1);

    /* K: off the topic, its index gone, template and policy queued. */
    assert_int_equal(raw(f, "SISMEMBER", PREFIX "topic:" TOPIC, K, NULL).count, 0);
    assert_int_equal(raw(f, "EXISTS", PREFIX "external-id:xid-k1", NULL).count, 0);
    assert_int_equal(raw(f, "EXISTS", PREFIX "customer:700000000041", NULL).count, 0);
    assert_true(queued(f, "700000000041|xid-k1|" TOPIC));
    /* R: its record is open on the topic, so it stays there; the template
     * of the ID it did not commit is queued. */
    assert_int_equal(raw(f, "SISMEMBER", PREFIX "topic:" TOPIC, R, NULL).count, 1);
    assert_string_equal(hget(f, R, "external_id", &t), "xid-r1");
    assert_true(queued(f, "700000000044|xid-r2|"));
    /* L and M: untouched. */
    assert_int_equal(raw(f, "SISMEMBER", PREFIX "topic:" TOPIC, L, NULL).count, 1);
    assert_string_equal(raw(f, "GET", PREFIX "external-id:xid-l1", NULL).text, L);
    assert_int_equal(raw(f, "SISMEMBER", PREFIX "topic:" TOPIC, M, NULL).count, 1);
    assert_string_equal(raw(f, "GET", PREFIX "external-id:xid-m1", NULL).text, M);
    assert_int_equal(raw(f, "PTTL", PREFIX "external-id:xid-m1", NULL).count, -1);
    assert_string_equal(hget(f, M, "state", &t), "pending");
    assert_int_equal(cleanups(f), cleanups0 + 2);

    /* The killed process's commit, had it come late, is refused and writes
     * nothing: its AWS side is being taken down. So is the rotation's. */
    r = commit_onboard(f, K, "xid-k1", TOPIC);
    assert_int_equal(r.status, XACCT_EAGAIN);
    assert_int_equal(raw(f, "EXISTS", PREFIX "customer:700000000041", NULL).count, 0);
    assert_int_equal(raw(f, "EXISTS", PREFIX "external-id:xid-k1", NULL).count, 0);
    assert_int_equal(raw(f, "SISMEMBER", PREFIX "topic:" TOPIC, K, NULL).count, 0);
    xacct_customers_expect_t read = {.external_id = "xid-r1"};
    assert_int_equal(commit_rotate(f, R, "xid-r2", &read).status, XACCT_EAGAIN);
    assert_string_equal(hget(f, R, "external_id", &t), "xid-r1");
    /* Sweeping again finds nothing more to do. */
    r = release_lapsed(f, xacct_store_now_ms());
    assert_int_equal(r.count, 0);
    assert_int_equal(cleanups(f), cleanups0 + 2);
}

/* Two onboardings of one account at once, one of them killed: its release
 * takes the account off the topic the other one is on. The other's commit
 * puts it back and queues the policy, which the release had queued to be
 * written without it. */
static void test_commit_after_another_reservation_was_released(void **state)
{
    fx_t *f = *state;
    const char *N = "700000000051";
    assert_int_equal(reserve(f, N, "xid-n1", false).status, 0);
    assert_int_equal(assign(f, N, "xid-n1", TOPIC).status, 0);
    assert_int_equal(reserve(f, N, "xid-n2", false).status, 0);
    assert_int_equal(assign(f, N, "xid-n2", TOPIC).status, 0);
    lapse(f, "700000000051|xid-n1|" TOPIC, "xid-n1");
    assert_int_equal(release_lapsed(f, xacct_store_now_ms()).count, 1);
    assert_int_equal(raw(f, "SISMEMBER", PREFIX "topic:" TOPIC, N, NULL).count, 0);
    assert_true(queued(f, "700000000051|xid-n1|" TOPIC));

    assert_int_equal(commit_onboard(f, N, "xid-n2", TOPIC).status, 0);
    assert_int_equal(raw(f, "SISMEMBER", PREFIX "topic:" TOPIC, N, NULL).count, 1);
    assert_true(queued(f, "700000000051||" TOPIC));
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, th_store_fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_onboarding_reserved_then_committed),
        T(test_release_undoes_a_reservation),
        T(test_rotation_committed_only_onto_the_record_it_read),
        T(test_onboarding_again_queues_what_it_leaves),
        T(test_lapsed_reservations_are_released),
        T(test_commit_after_another_reservation_was_released),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
