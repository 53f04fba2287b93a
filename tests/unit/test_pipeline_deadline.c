/* SPDX-License-Identifier: MIT */
/*
 * The pipeline's time rules driven through fakes of its seams
 * (pipeline_fake.h): the deadline margin (10 %, at least 5 s, at most 60 s,
 * 3600 s by default, from SentTimestamp) on both sides of each bound; a
 * message received more than queue.max_receives times answered before it
 * goes to the dead set; and a claim's lease that ends before its message
 * reappears.
 */
#include "pipeline_fake.h"

/* More receives than queue.max_receives, yet a valid request: no stack
 * waits for a message xacct gives up on. It is answered FAILED with the
 * reason (recorded on the claim first), then put in the dead set and
 * deleted; the customer is never loaded. */
static void test_too_many_receives_answers_then_dead(void **state)
{
    fake_t *f = *state;
    set_body(f, "Create", NULL, 0);
    f->m.receive_count = 6;
    start(f);
    complete_claim(wait_for(f, K_CLAIM), 0, XACCT_CLAIMS_CLAIMED, "");
    call_t *fin = wait_for(f, K_FINISH);
    assert_non_null(strstr(fin->text, "gave up"));
    complete_finish(fin, 1);
    call_t *answer = wait_for(f, K_ANSWER);
    assert_string_equal(answer_status(answer), "FAILED");
    assert_non_null(strstr(answer->text, "received 6 times (queue.max_receives is 5)"));
    assert_int_equal(f->dones, 0);
    complete_answer(answer, 0, 200);
    call_t *dead = wait_for(f, K_DEAD);
    assert_string_equal(dead->text, "received 6 times (queue.max_receives is 5)");
    complete_dead(dead);
    wait_done(f);
    assert_int_equal(f->result.outcome, XACCT_PIPELINE_DEAD);
    assert_true(f->result.failed);
    assert_int_equal(f->counts[K_GET], 0);
    assert_int_equal(f->counts[K_APPLY], 0);
}

/* A Delete given up on is answered SUCCESS: a stack never hangs in DELETE. */
static void test_too_many_receives_delete_answers_success(void **state)
{
    fake_t *f = *state;
    set_body(f, "Delete", "xacct-" ACCT, 0);
    f->m.receive_count = 6;
    start(f);
    complete_claim(wait_for(f, K_CLAIM), 0, XACCT_CLAIMS_CLAIMED, "");
    complete_finish(wait_for(f, K_FINISH), 1);
    call_t *answer = wait_for(f, K_ANSWER);
    assert_string_equal(answer_status(answer), "SUCCESS");
    complete_answer(answer, 0, 200);
    complete_dead(wait_for(f, K_DEAD));
    wait_done(f);
    assert_int_equal(f->result.outcome, XACCT_PIPELINE_DEAD);
}

/* Given up on, but answered before: the earlier deliveries of the answer
 * may all have failed, so the stored answer goes out once more, then the
 * message goes to the dead set. */
static void test_too_many_receives_answered_before(void **state)
{
    fake_t *f = *state;
    set_body(f, "Create", NULL, 0);
    f->m.receive_count = 6;
    start(f);
    const char *stored = "{\"Status\":\"SUCCESS\"}";
    complete_claim(wait_for(f, K_CLAIM), 0, XACCT_CLAIMS_DONE, stored);
    call_t *answer = wait_for(f, K_ANSWER);
    assert_string_equal(answer->text, stored);
    assert_int_equal(f->counts[K_DEAD], 0);
    complete_answer(answer, 0, 200);
    call_t *dead = wait_for(f, K_DEAD);
    assert_non_null(strstr(dead->text, "received 6 times"));
    complete_dead(dead);
    wait_done(f);
    assert_int_equal(f->result.outcome, XACCT_PIPELINE_DEAD);
    assert_int_equal(f->counts[K_ANSWER], 1);
    assert_int_equal(f->counts[K_FINISH], 0);
}

/* Given up on while another live worker holds the request: its answer may
 * need this message again, so the message is left (hidden a visibility
 * timeout), never put in the dead set and deleted under that worker. */
static void test_too_many_receives_held_elsewhere_is_left(void **state)
{
    fake_t *f = *state;
    set_body(f, "Create", NULL, 0);
    f->m.receive_count = 6;
    start(f);
    complete_claim(wait_for(f, K_CLAIM), 0, XACCT_CLAIMS_BUSY, "other/m/5");
    wait_done(f);
    assert_int_equal(f->result.outcome, XACCT_PIPELINE_LEAVE);
    assert_int_equal(f->counts[K_DEAD], 0);
    assert_int_equal(f->counts[K_ANSWER], 0);
    assert_int_equal(f->counts[K_VIS], 1);
}

/* Given up on and not a request at all: the dead set, with both reasons. */
static void test_too_many_receives_unparseable(void **state)
{
    fake_t *f = *state;
    f->m.body = strdup("{\"Type\":\"Notification\"}");
    f->m.body_len = strlen(f->m.body);
    f->m.receive_count = 6;
    start(f);
    call_t *dead = wait_for(f, K_DEAD);
    assert_non_null(strstr(dead->text, "received 6 times"));
    assert_non_null(strstr(dead->text, "not an SNS envelope"));
    assert_int_equal(f->counts[K_CLAIM], 0);
    complete_dead(dead);
    wait_done(f);
    assert_int_equal(f->result.outcome, XACCT_PIPELINE_DEAD);
}

/* The claim's lease ends before the message reappears: at the claim, the
 * visibility left less the margin; at each heartbeat, once SQS has taken
 * the extension, the new visibility timeout less the margin. */
static void test_claim_lease_ends_before_visibility(void **state)
{
    fake_t *f = *state;
    f->cfg.queue_visibility_timeout = 2; /* margin 0.5 s, a beat every second */
    set_body(f, "Create", NULL, 0);
    start(f);
    call_t *claim = wait_for(f, K_CLAIM);
    /* 1500 ms less the time since the receive: generous for a busy machine */
    assert_true(claim->seconds <= 1500 && claim->seconds >= 500);
    complete_claim(claim, 0, XACCT_CLAIMS_CLAIMED, "");
    (void)wait_for(f, K_GET);
    complete_vis(wait_for(f, K_VIS), 0);
    call_t *renew = wait_for(f, K_CLAIM);
    /* 1500 ms less the time since the extension was sent (the loop's clock
     * may have moved on by then) */
    assert_true(renew->seconds <= 1500 && renew->seconds >= 1000);
}

/* ---- the deadline ------------------------------------------------------------ */

/* A claim failing transiently with `elapsed_s` seconds gone since
 * SentTimestamp: either retried (true) or answered at once at the deadline
 * (false). */
static bool retried_after(fake_t *f, const char *type, const char *physical, long timeout_s,
                          double elapsed_s, bool sent)
{
    set_body(f, type, physical, timeout_s);
    f->m.sent_ms = sent ? SENT_MS : 0;
    f->wall = SENT_MS + (int64_t)(elapsed_s * 1000);
    start(f);
    complete_claim(wait_for(f, K_CLAIM), XACCT_EDISCONNECTED, 0, "");
    while (pending(f, K_CLAIM) == NULL && pending(f, K_ANSWER) == NULL)
        spin(f, 10);
    return pending(f, K_CLAIM) != NULL;
}

static void test_deadline_lower_bound(void **state)
{
    fake_t *f = *state;
    /* ServiceTimeout 20 s: 10 % is 2 s, the margin is 5 s. */
    assert_true(retried_after(f, "Create", NULL, 20, 14, true)); /* 1 s left */
}

static void test_deadline_lower_bound_passed(void **state)
{
    fake_t *f = *state;
    assert_false(retried_after(f, "Create", NULL, 20, 16, true)); /* 2 s to go, under 5 */
    call_t *answer = pending(f, K_ANSWER);
    assert_string_equal(answer_status(answer), "FAILED");
    assert_non_null(strstr(answer->text, "before the CloudFormation deadline"));
    complete_answer(answer, 0, 200);
    wait_done(f);
    assert_int_equal(f->result.outcome, XACCT_PIPELINE_ACK);
    assert_true(f->result.failed);
    assert_int_equal(f->counts[K_APPLY], 0);
}

static void test_deadline_ten_percent(void **state)
{
    fake_t *f = *state;
    /* ServiceTimeout 300 s: the margin is 30 s. */
    assert_true(retried_after(f, "Create", NULL, 300, 265, true));
}

static void test_deadline_ten_percent_passed(void **state)
{
    fake_t *f = *state;
    assert_false(retried_after(f, "Create", NULL, 300, 275, true));
}

static void test_deadline_upper_bound(void **state)
{
    fake_t *f = *state;
    /* Default ServiceTimeout 3600 s: 10 % is 360 s, the margin is 60 s. */
    assert_true(retried_after(f, "Create", NULL, 0, 3535, true));
}

static void test_deadline_upper_bound_passed(void **state)
{
    fake_t *f = *state;
    assert_false(retried_after(f, "Create", NULL, 0, 3545, true));
}

static void test_deadline_without_sent_timestamp(void **state)
{
    fake_t *f = *state;
    /* No SentTimestamp: the timeout counts from now, so even a clock far
     * past SENT_MS leaves the whole timeout. */
    assert_true(retried_after(f, "Create", NULL, 20, 100000, false));
}

/* A Delete still failing transiently at its deadline is answered SUCCESS,
 * but not deleted from the queue: the offboarding it may carry was never
 * recorded, and its next receipt records it. */
static void test_deadline_delete_answers_success(void **state)
{
    fake_t *f = *state;
    assert_false(retried_after(f, "Delete", "xacct-" ACCT, 20, 16, true));
    call_t *answer = pending(f, K_ANSWER);
    assert_string_equal(answer_status(answer), "SUCCESS");
    complete_answer(answer, 0, 200);
    wait_done(f);
    assert_int_equal(f->result.outcome, XACCT_PIPELINE_LEAVE);
    assert_int_equal(f->counts[K_APPLY], 0);
}

/* The same when the presigned URL refuses the answer (4xx). */
static void test_deadline_delete_refused_is_left(void **state)
{
    fake_t *f = *state;
    assert_false(retried_after(f, "Delete", "xacct-" ACCT, 20, 16, true));
    complete_answer(pending(f, K_ANSWER), XACCT_EFORBIDDEN, 403);
    wait_done(f);
    assert_int_equal(f->result.outcome, XACCT_PIPELINE_LEAVE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_too_many_receives_answers_then_dead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_many_receives_delete_answers_success, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_too_many_receives_answered_before, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_many_receives_held_elsewhere_is_left, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_too_many_receives_unparseable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_lease_ends_before_visibility, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline_lower_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline_lower_bound_passed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline_ten_percent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline_ten_percent_passed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline_upper_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline_upper_bound_passed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline_without_sent_timestamp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline_delete_answers_success, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline_delete_refused_is_left, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
