/* SPDX-License-Identifier: MIT */
/*
 * The pipeline's stage machine driven through fakes of its seams
 * (pipeline_fake.h): every outcome (ack, leave for redelivery, release,
 * dead) and the SPEC §4 rules that only a fault reaches — an answer refused
 * (4xx: acked), an answer that cannot be delivered (not acked), a claim held
 * or lost, the heartbeat stopping before the delete, a redelivery, the
 * decisions of a Delete and the conflict policy carried out.
 */
#include "pipeline_fake.h"
#include "xacct/template.h"

/* ---- outcomes ------------------------------------------------------------ */

static void test_create_answered_is_acked(void **state)
{
    fake_t *f = *state;
    call_t *answer = create_until_answer(f);
    assert_string_equal(answer_status(answer), "SUCCESS");
    assert_int_equal(f->dones, 0);
    complete_answer(answer, 0, 200);
    wait_done(f);
    assert_int_equal(f->result.outcome, XACCT_PIPELINE_ACK);
    assert_false(f->result.failed);
    assert_int_equal(f->counts[K_CLAIM], 1);
    assert_int_equal(f->counts[K_FINISH], 0); /* the apply finished the claim */
}

/* SPEC §4.9: a 4xx from the presigned URL means the answer can never be
 * delivered; the message is acknowledged all the same. */
static void test_answer_refused_is_acked(void **state)
{
    fake_t *f = *state;
    call_t *answer = create_until_answer(f);
    complete_answer(answer, XACCT_EFORBIDDEN, 403);
    wait_done(f);
    assert_int_equal(f->result.outcome, XACCT_PIPELINE_ACK);
    assert_int_equal(f->counts[K_ANSWER], 1); /* not retried */
    assert_non_null(strstr(f->log_text, "request.answer_refused"));
}

/* 5xx and network errors are retried; when the answer still cannot be
 * delivered the message is left for redelivery, never acknowledged (the
 * recorded answer is sent again then). */
static void test_answer_undeliverable_is_left(void **state)
{
    fake_t *f = *state;
    call_t *answer = create_until_answer(f);
    for (int i = 0; i < 7; i++) {
        complete_answer(answer, XACCT_EAWS, 503);
        answer = wait_for(f, K_ANSWER);
        assert_int_equal(f->dones, 0);
    }
    complete_answer(answer, XACCT_EAWS, 503);
    wait_done(f);
    assert_int_equal(f->result.outcome, XACCT_PIPELINE_LEAVE);
    assert_int_equal(f->counts[K_ANSWER], 8);
    assert_non_null(strstr(f->log_text, "request.answer_postponed"));
}

static void test_dead_set_unreachable_leaves(void **state)
{
    fake_t *f = *state;
    f->m.body = strdup("not json");
    f->m.body_len = strlen(f->m.body);
    start(f);
    for (int i = 0; i < 10; i++) {
        call_t *dead = wait_for(f, K_DEAD);
        assert_non_null(strstr(dead->text, "not an SNS envelope"));
        dead->done = true;
        ((xacct_dead_added_cb)dead->cb)(XACCT_EDISCONNECTED, "redis down", NULL, dead->arg);
        if (i < 9)
            assert_int_equal(f->dones, 0);
    }
    wait_done(f);
    assert_int_equal(f->result.outcome, XACCT_PIPELINE_LEAVE);
}

/* With raw delivery on, only a JSON object whose keys make it a request is
 * taken for one: the words appearing in some value do not. */
static void test_raw_request_is_parsed_not_sniffed(void **state)
{
    fake_t *f = *state;
    f->m.body = strdup("{\"Note\":\"RequestType\"}");
    f->m.body_len = strlen(f->m.body);
    start(f);
    call_t *dead = wait_for(f, K_DEAD);
    assert_non_null(strstr(dead->text, "not an SNS envelope"));
}

/* SIGTERM: the work is cancelled, the claim released, then the message is
 * handed back; a store answer arriving late changes nothing. */
static void test_release_hands_back(void **state)
{
    fake_t *f = *state;
    set_body(f, "Create", NULL, 0);
    start(f);
    complete_claim(wait_for(f, K_CLAIM), 0, XACCT_CLAIMS_CLAIMED, "");
    complete_get(wait_for(f, K_GET), "pending", "", "");
    call_t *check = wait_for(f, K_CHECK);
    xacct_pipeline_release(f->msg);
    assert_int_equal(f->check_cancels, 1);
    assert_true(check->done);
    call_t *rel = wait_for(f, K_RELEASE);
    assert_int_equal(f->dones, 0); /* not before the claim is released */
    rel->done = true;
    ((xacct_claims_done_cb)rel->cb)(0, NULL, 1, rel->arg);
    wait_done(f);
    assert_int_equal(f->result.outcome, XACCT_PIPELINE_RELEASE);
    assert_int_equal(f->counts[K_APPLY], 0);
}

/* ---- claims ----------------------------------------------------------------- */

/* Another worker holds the request: this copy is hidden for a visibility
 * timeout and left; the customer read that went with the claim is not
 * used. */
static void test_claim_held_elsewhere_is_left(void **state)
{
    fake_t *f = *state;
    set_body(f, "Create", NULL, 0);
    start(f);
    complete_claim(wait_for(f, K_CLAIM), 0, XACCT_CLAIMS_BUSY, "other/m/1");
    wait_done(f);
    assert_int_equal(f->result.outcome, XACCT_PIPELINE_LEAVE);
    assert_int_equal(f->counts[K_GET], 1);
    complete_get(wait_for(f, K_GET), "pending", "", "");
    assert_int_equal(f->counts[K_CHECK], 0);
    assert_int_equal(f->counts[K_APPLY], 0);
    assert_int_equal(f->counts[K_VIS], 1);
    for (size_t i = 0; i < f->ncalls; i++)
        if (f->calls[i].kind == K_VIS)
            assert_int_equal(f->calls[i].seconds, 120);
}

/* A finished request delivered again sends the stored answer and nothing
 * else; its own Status is what is reported. */
static void test_redelivery_resends_stored_answer(void **state)
{
    fake_t *f = *state;
    set_body(f, "Create", NULL, 0);
    start(f);
    const char *stored = "{\"Data\":{\"Status\":\"FAILED\"},\"Status\":\"SUCCESS\"}";
    complete_claim(wait_for(f, K_CLAIM), 0, XACCT_CLAIMS_DONE, stored);
    call_t *answer = wait_for(f, K_ANSWER);
    assert_string_equal(answer->text, stored);
    complete_get(wait_for(f, K_GET), NULL, NULL, NULL); /* the read that went with the claim */
    complete_answer(answer, 0, 200);
    wait_done(f);
    assert_int_equal(f->result.outcome, XACCT_PIPELINE_ACK);
    assert_int_equal(f->counts[K_GET], 1);
    assert_int_equal(f->counts[K_APPLY], 0);
    assert_int_equal(f->counts[K_FINISH], 0);
    assert_non_null(strstr(f->log_text, "status=SUCCESS"));
    assert_null(strstr(f->log_text, "status=FAILED"));
}

/* A Create past its load: the role is safe, the outcome recorded, the
 * answer delivered, the message acked. */
static void secure_create_to_ack(fake_t *f)
{
    complete_check(wait_for(f, K_CHECK), XACCT_CHECK_SECURE);
    complete_apply(wait_for(f, K_APPLY), 0, XACCT_APPLY_APPLIED);
    complete_answer(wait_for(f, K_ANSWER), 0, 200);
    wait_done(f);
    assert_int_equal(f->result.outcome, XACCT_PIPELINE_ACK);
}

/* The customer is read right behind the claim, before the claim is
 * answered (one round trip to Redis), and that read is the one decided on,
 * whichever of the two answers first. */
static void test_customer_read_with_the_claim(void **state)
{
    fake_t *f = *state;
    set_body(f, "Create", NULL, 0);
    start(f);
    call_t *claim = wait_for(f, K_CLAIM);
    call_t *get = wait_for(f, K_GET);
    assert_false(claim->done);
    assert_true(claim < get); /* the claim goes first */
    complete_get(get, "pending", "", "");
    assert_int_equal(f->counts[K_CHECK], 0); /* not before the claim */
    complete_claim(claim, 0, XACCT_CLAIMS_CLAIMED, "");
    secure_create_to_ack(f);
    assert_int_equal(f->counts[K_GET], 1);
}

/* A claim that fails transiently makes the read that went with it stale:
 * the claim tried again goes without one while it is out, and the decision
 * is taken on a read sent after the claim that succeeded. */
static void test_read_of_a_failed_claim_is_not_used(void **state)
{
    fake_t *f = *state;
    set_body(f, "Create", NULL, 0);
    start(f);
    call_t *stale = wait_for(f, K_GET);
    complete_claim(wait_for(f, K_CLAIM), XACCT_EAGAIN, 0, NULL);
    call_t *claim = wait_for(f, K_CLAIM); /* tried again at once (no jitter here) */
    assert_int_equal(f->counts[K_GET], 1);
    complete_claim(claim, 0, XACCT_CLAIMS_CLAIMED, "");
    assert_int_equal(f->counts[K_GET], 2); /* the load reads again */
    call_t *fresh = &f->calls[f->ncalls - 1];
    assert_int_equal(fresh->kind, K_GET);
    complete_get(stale, NULL, NULL, NULL); /* no customer then: dropped */
    assert_int_equal(f->counts[K_FINISH], 0);
    assert_int_equal(f->counts[K_CHECK], 0);
    complete_get(fresh, "pending", "", "");
    secure_create_to_ack(f);
    assert_int_equal(f->counts[K_FINISH], 0);
    assert_int_equal(f->counts[K_GET], 2);
}

/* The read that went with the claim failing is retried as any load is. */
static void test_read_with_the_claim_failing_is_retried(void **state)
{
    fake_t *f = *state;
    set_body(f, "Create", NULL, 0);
    start(f);
    complete_claim(wait_for(f, K_CLAIM), 0, XACCT_CLAIMS_CLAIMED, "");
    call_t *get = wait_for(f, K_GET);
    get->done = true;
    ((xacct_customers_get_cb)get->cb)(XACCT_EAGAIN, "redis down", NULL, get->arg);
    assert_non_null(strstr(f->log_text, "redis down"));
    complete_get(wait_for(f, K_GET), "pending", "", "");
    assert_int_equal(f->counts[K_GET], 2);
    secure_create_to_ack(f);
}

/* ---- the heartbeat ---------------------------------------------------------- */

/* While the work goes on, visibility and the claim's lease are extended
 * every half visibility timeout; a lost claim is reported; and the
 * extension stops before the message is handed over for its delete. */
static void test_heartbeat_extends_and_stops_before_delete(void **state)
{
    fake_t *f = *state;
    f->cfg.queue_visibility_timeout = 1; /* a beat every 500 ms */
    set_body(f, "Create", NULL, 0);
    start(f);
    complete_claim(wait_for(f, K_CLAIM), 0, XACCT_CLAIMS_CLAIMED, "");
    call_t *get = wait_for(f, K_GET);
    /* The next beat: one extension and one lease renewal, which finds the
     * claim taken over. */
    call_t *vis = wait_for(f, K_VIS);
    assert_int_equal(vis->seconds, 1);
    complete_vis(vis, 0); /* the lease follows the extension */
    call_t *renew = wait_for(f, K_CLAIM);
    complete_claim(renew, 0, XACCT_CLAIMS_BUSY, "other/m/2");
    assert_non_null(strstr(f->log_text, "claim.lost"));
    complete_get(get, "pending", "", "");
    complete_check(wait_for(f, K_CHECK), XACCT_CHECK_SECURE);
    complete_apply(wait_for(f, K_APPLY), 0, XACCT_APPLY_APPLIED);
    call_t *answer = wait_for(f, K_ANSWER);
    complete_answer(answer, 0, 200);
    assert_int_equal(f->dones, 1); /* done at once, from the answer's callback */
    assert_int_equal(f->result.outcome, XACCT_PIPELINE_ACK);
    unsigned vis_at_done = f->counts[K_VIS], claims_at_done = f->counts[K_CLAIM];
    for (size_t i = 0; i < f->ncalls; i++)
        if (f->calls[i].kind == K_VIS && !f->calls[i].done)
            complete_vis(&f->calls[i], 0);
    spin(f, 1600); /* three beats' worth */
    assert_int_equal(f->counts[K_VIS], vis_at_done);
    assert_int_equal(f->counts[K_CLAIM], claims_at_done);
}

/* The message stays hidden only as long as SQS accepted: after a failed
 * extension the claim's lease is not renewed past the time the message
 * reappears (the next receiver must find it free), and after a good one it
 * is renewed from the new visibility. */
static void test_failed_extension_does_not_extend_the_claim(void **state)
{
    fake_t *f = *state;
    f->cfg.queue_visibility_timeout = 4; /* a beat every 2 s; lease margin 1 s */
    set_body(f, "Create", NULL, 0);
    uint64_t reappears = uv_now(&f->loop) + 4000;
    start(f);
    complete_claim(wait_for(f, K_CLAIM), 0, XACCT_CLAIMS_CLAIMED, "");
    (void)wait_for(f, K_GET); /* left unanswered: the work goes on */
    size_t before = f->ncalls;
    call_t *vis = wait_for(f, K_VIS);
    uint64_t beat = uv_now(&f->loop);
    complete_vis(vis, XACCT_EAWS);
    spin(f, 100);
    for (size_t i = before; i < f->ncalls; i++)
        if (f->calls[i].kind == K_CLAIM)
            assert_true(beat + (uint64_t)f->calls[i].seconds <= reappears - 1000 + 50);
    assert_non_null(strstr(f->log_text, "sqs.extend_failed"));
    for (size_t i = before; i < f->ncalls; i++)
        if (f->calls[i].kind == K_CLAIM && !f->calls[i].done)
            complete_claim(&f->calls[i], 0, XACCT_CLAIMS_CLAIMED, "");

    /* The next beat succeeds: now the lease reaches past the old time. */
    before = f->ncalls;
    vis = wait_for(f, K_VIS);
    beat = uv_now(&f->loop);
    complete_vis(vis, 0);
    call_t *renew = wait_for(f, K_CLAIM);
    assert_true(renew - f->calls >= (ptrdiff_t)before);
    assert_true(beat + (uint64_t)renew->seconds > reappears);
    assert_true(renew->seconds <= 3000);
    complete_claim(renew, 0, XACCT_CLAIMS_CLAIMED, "");
}

/* queue.visibility_timeout is reloadable: once it is shortened, the beat
 * comes at half the new timeout, never at the old pace with the new (shorter)
 * extension, which would let the message reappear while it is worked on. */
static void test_heartbeat_follows_a_shorter_visibility_timeout(void **state)
{
    fake_t *f = *state;
    f->cfg.queue_visibility_timeout = 2; /* a beat every second */
    set_body(f, "Create", NULL, 0);
    start(f);
    (void)wait_for(f, K_CLAIM); /* left unanswered: only the visibility beats */
    f->cfg.queue_visibility_timeout = 1; /* SIGHUP */
    call_t *first = wait_for(f, K_VIS);
    uint64_t at = uv_now(&f->loop);
    complete_vis(first, 0);
    call_t *second = wait_for(f, K_VIS);
    uint64_t gap = uv_now(&f->loop) - at;
    assert_int_equal(second->seconds, 1);
    /* The next extension comes well before the last one runs out. */
    assert_true(gap + 250 <= (uint64_t)second->seconds * 1000);
    complete_vis(second, 0);
}

/* SIGTERM while the claim is on its way to Redis: it is released all the
 * same (the release script deletes it only if this attempt holds it), so
 * the message handed back is not found "busy" by the next worker until the
 * lease runs out. */
static void test_release_with_the_claim_unanswered(void **state)
{
    fake_t *f = *state;
    set_body(f, "Create", NULL, 0);
    start(f);
    (void)wait_for(f, K_CLAIM);
    xacct_pipeline_release(f->msg);
    assert_int_equal(f->dones, 0); /* not before the claim is released */
    call_t *rel = wait_for(f, K_RELEASE);
    rel->done = true;
    ((xacct_claims_done_cb)rel->cb)(0, NULL, 1, rel->arg);
    wait_done(f);
    assert_int_equal(f->result.outcome, XACCT_PIPELINE_RELEASE);
    assert_int_equal(f->counts[K_APPLY], 0);
}

/* ---- decisions carried out ------------------------------------------------ */

/* A Delete of the active customer's resource offboards it with a job; a
 * record that keeps changing under the decision is decided again twice and
 * then answered audit-only, as the handlers' conflict policy says. */
static void test_delete_offboards_and_conflicts_audit(void **state)
{
    fake_t *f = *state;
    set_body(f, "Delete", "xacct-" ACCT, 0);
    start(f);
    complete_claim(wait_for(f, K_CLAIM), 0, XACCT_CLAIMS_CLAIMED, "");
    for (int i = 0; i < 3; i++) {
        complete_get(wait_for(f, K_GET), "active", STACK, "xacct-" ACCT);
        call_t *apply = wait_for(f, K_APPLY);
        assert_string_equal(apply->text, "offboarding");
        assert_true(apply->job);
        assert_true(apply->expect_phys);
        complete_apply(apply, XACCT_ESTATE, 0);
    }
    call_t *apply = wait_for(f, K_APPLY);
    assert_string_equal(apply->text, ""); /* audit only */
    assert_false(apply->job);
    assert_int_equal(f->counts[K_GET], 3);
    complete_apply(apply, 0, XACCT_APPLY_AUDITED);
    call_t *answer = wait_for(f, K_ANSWER);
    assert_string_equal(answer_status(answer), "SUCCESS"); /* a Delete never fails */
    complete_answer(answer, 0, 200);
    wait_done(f);
    assert_int_equal(f->result.outcome, XACCT_PIPELINE_ACK);
}

/* A Delete that offboards removes the templates the stack never used: the
 * current ID's and a pending rotation's. One S3 refuses is logged with its
 * key for the operator (a copy of the Delete would not try again) and the
 * next is still removed; the message is acknowledged. */
static void test_delete_removes_the_unused_templates(void **state)
{
    fake_t *f = *state;
    f->cfg.cfn_template_bucket = "xacct-templates";
    set_body(f, "Delete", "xacct-" ACCT, 0);
    start(f);
    complete_claim(wait_for(f, K_CLAIM), 0, XACCT_CLAIMS_CLAIMED, "");
    complete_get_pending(wait_for(f, K_GET), "active", STACK, "xacct-" ACCT, "ext-pending-88");
    call_t *apply = wait_for(f, K_APPLY);
    assert_string_equal(apply->text, "offboarding");
    complete_apply(apply, 0, XACCT_APPLY_APPLIED);
    complete_answer(wait_for(f, K_ANSWER), 0, 200);
    char current[XACCT_TEMPLATE_KEY_MAX], pending[XACCT_TEMPLATE_KEY_MAX];
    assert_int_equal(xacct_template_s3_key(ACCT, EXTID, current, sizeof(current)), 0);
    assert_int_equal(xacct_template_s3_key(ACCT, "ext-pending-88", pending, sizeof(pending)), 0);
    call_t *first = wait_for(f, K_S3);
    assert_string_equal(first->text, current);
    complete_s3(first, XACCT_EAWS);
    call_t *second = wait_for(f, K_S3);
    assert_string_equal(second->text, pending);
    assert_int_equal(f->dones, 0);
    complete_s3(second, 0);
    wait_done(f);
    assert_int_equal(f->result.outcome, XACCT_PIPELINE_ACK);
    assert_int_equal(f->counts[K_S3], 2);
    const char *failed = strstr(f->log_text, "template.delete_failed");
    assert_non_null(failed);
    assert_non_null(strstr(failed, current));
    assert_null(strstr(f->log_text, "ext-pending-88"));
    assert_null(strstr(f->log_text, EXTID));
}

/* The claim was taken over while this copy worked (its lease ran out): the
 * apply is fenced out, nothing is answered, and the message is left to the
 * worker that holds the request now. */
static void test_lost_claim_steps_aside(void **state)
{
    fake_t *f = *state;
    set_body(f, "Delete", "xacct-" ACCT, 0);
    start(f);
    complete_claim(wait_for(f, K_CLAIM), 0, XACCT_CLAIMS_CLAIMED, "");
    complete_get(wait_for(f, K_GET), "active", STACK, "xacct-" ACCT);
    complete_apply(wait_for(f, K_APPLY), XACCT_EEXISTS, 0);
    wait_done(f);
    assert_int_equal(f->result.outcome, XACCT_PIPELINE_LEAVE);
    assert_int_equal(f->counts[K_ANSWER], 0);
    assert_int_equal(f->counts[K_APPLY], 1);
}

/* A Create for an account with no record, claimed: the finish that keeps
 * its answer on the claim is out. */
static call_t *create_without_record(fake_t *f)
{
    set_body(f, "Create", NULL, 0);
    start(f);
    complete_claim(wait_for(f, K_CLAIM), 0, XACCT_CLAIMS_CLAIMED, "");
    complete_get(wait_for(f, K_GET), NULL, NULL, NULL);
    call_t *fin = wait_for(f, K_FINISH);
    assert_int_equal(f->counts[K_APPLY], 0);
    return fin;
}

/* No record, and the request was taken over meanwhile: the finish is
 * fenced out like an apply, nothing is answered, the message is left. */
static void test_lost_claim_on_finish_steps_aside(void **state)
{
    fake_t *f = *state;
    call_t *fin = create_without_record(f);
    fin->done = true;
    ((xacct_claims_done_cb)fin->cb)(XACCT_EEXISTS, "another worker holds or finished the request",
                                    0, fin->arg);
    wait_done(f);
    assert_int_equal(f->result.outcome, XACCT_PIPELINE_LEAVE);
    assert_int_equal(f->counts[K_ANSWER], 0);
    assert_non_null(strstr(f->log_text, "claim.lost"));
}

/* A redelivered Update answered SUCCESS before (its template's deletion
 * failed, or its worker died first) deletes the template it connected
 * with again, as a redelivered Create does. */
static void test_redelivered_update_deletes_its_template(void **state)
{
    fake_t *f = *state;
    f->cfg.cfn_template_bucket = "xacct-templates";
    set_body(f, "Update", "xacct-" ACCT, 0);
    start(f);
    complete_claim(wait_for(f, K_CLAIM), 0, XACCT_CLAIMS_DONE, "{\"Status\":\"SUCCESS\"}");
    complete_get(wait_for(f, K_GET), NULL, NULL, NULL);
    complete_answer(wait_for(f, K_ANSWER), 0, 200);
    char key[XACCT_TEMPLATE_KEY_MAX];
    assert_int_equal(xacct_template_s3_key(ACCT, EXTID, key, sizeof(key)), 0);
    call_t *del = wait_for(f, K_S3);
    assert_string_equal(del->text, key);
    assert_int_equal(f->dones, 0);
    complete_s3(del, 0);
    wait_done(f);
    assert_int_equal(f->result.outcome, XACCT_PIPELINE_ACK);
    assert_int_equal(f->counts[K_S3], 1);
    assert_int_equal(f->counts[K_APPLY], 0);
}

/* No record: the answer is kept on the claim (finish) and sent. */
static void test_unknown_account_answered_from_claim(void **state)
{
    fake_t *f = *state;
    call_t *fin = create_without_record(f);
    assert_non_null(strstr(fin->text, "\"FAILED\""));
    complete_finish(fin, 1);
    complete_answer(wait_for(f, K_ANSWER), 0, 200);
    wait_done(f);
    assert_int_equal(f->result.outcome, XACCT_PIPELINE_ACK);
    assert_true(f->result.failed); /* a failed request (heartbeat, STATUS=) */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_answered_is_acked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answer_refused_is_acked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answer_undeliverable_is_left, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_set_unreachable_leaves, setup, teardown),
        cmocka_unit_test_setup_teardown(test_raw_request_is_parsed_not_sniffed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_hands_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_held_elsewhere_is_left, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redelivery_resends_stored_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_customer_read_with_the_claim, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_of_a_failed_claim_is_not_used, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_with_the_claim_failing_is_retried, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat_extends_and_stops_before_delete, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failed_extension_does_not_extend_the_claim, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat_follows_a_shorter_visibility_timeout,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_with_the_claim_unanswered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_offboards_and_conflicts_audit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_removes_the_unused_templates, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lost_claim_steps_aside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_account_answered_from_claim, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_claim_on_finish_steps_aside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redelivered_update_deletes_its_template, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
