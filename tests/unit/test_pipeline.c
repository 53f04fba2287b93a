/* SPDX-License-Identifier: MIT */
/*
 * The pipeline's stage machine driven through fakes of its seams (the
 * message's queue, the store, AWS, the clock and the jitter): every outcome
 * (ack, leave for redelivery, release, dead) and the SPEC §4 rules that only
 * a fault reaches — an answer refused (4xx: acked), an answer that cannot be
 * delivered (not acked), a claim held or lost, the heartbeat stopping before
 * the delete, and the deadline margin (10 %, at least 5 s, at most 60 s,
 * 3600 s by default, from SentTimestamp) on both sides of each bound.
 *
 * Every seam call is recorded and left pending; the test completes it, so
 * no callback ever runs inside the call that started it. Jitter is zero, so
 * a retry follows on the next loop turn.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "xacct/buf.h"
#include "xacct/metrics.h"
#include "xacct/pipeline.h"

#define ACCT "123456789012"
#define STACK                                                                  \
    "arn:aws:cloudformation:us-east-1:" ACCT                                   \
    ":stack/xacct-onboarding/11111111-2222-4333-8444-555555555555"
#define ROLE "arn:aws:iam::" ACCT ":role/XacctAccess"
#define EXTID "ext-secret-77"
#define RESPONSE_URL "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/k?s=1"
#define SENT_MS 1700000000000LL

/* ---- the fakes ------------------------------------------------------------ */

typedef enum {
    K_VIS,
    K_CLAIM,
    K_FINISH,
    K_RELEASE,
    K_GET,
    K_APPLY,
    K_DEAD,
    K_ANSWER,
    K_CHECK,
    K_S3,
    K__N,
} kind_t;

typedef struct call {
    kind_t kind;
    void (*cb)(void);   /* the seam's callback, cast back by the completer */
    void *arg;
    bool done;
    int seconds;        /* K_VIS */
    char *text;         /* K_APPLY to_state ("" = audit), K_ANSWER body, K_DEAD reason,
                           K_FINISH answer */
    bool job;           /* K_APPLY: a job was enqueued */
    bool connect;       /* K_APPLY: the role was written */
    bool expect_phys;   /* K_APPLY: expect_physical_id was set */
} call_t;

#define MAX_CALLS 256

typedef struct fake {
    uv_loop_t loop;
    xacct_config_t cfg;
    xacct_ctx_t ctx;
    xacct_pipeline_t pl;
    char *log_text;
    size_t log_len;
    FILE *log_out;
    int64_t wall;                  /* the fake clock */
    call_t calls[MAX_CALLS];
    size_t ncalls;
    unsigned counts[K__N];
    unsigned check_cancels;
    /* the message */
    xacct_sqs_message_t m;
    xacct_pipeline_msg_t *msg;
    unsigned dones;
    xacct_pipeline_result_t result;
} fake_t;

static call_t *record(fake_t *f, kind_t k, void (*cb)(void), void *arg)
{
    assert_true(f->ncalls < MAX_CALLS);
    call_t *c = &f->calls[f->ncalls++];
    memset(c, 0, sizeof(*c));
    c->kind = k;
    c->cb = cb;
    c->arg = arg;
    f->counts[k]++;
    return c;
}

static int f_visibility(void *arg, void *queue, const char *receipt, int seconds,
                        xacct_transport_done_cb cb, void *cb_arg)
{
    fake_t *f = arg;
    assert_ptr_equal(queue, f);
    assert_string_equal(receipt, f->m.receipt_handle);
    call_t *c = record(f, K_VIS, (void (*)(void))cb, cb_arg);
    c->seconds = seconds;
    c->done = cb == NULL;
    return 0;
}

static int f_claim(void *arg, const char *stack_id, const char *request_id, const char *owner,
                   long lease_ms, xacct_claims_claim_cb cb, void *cb_arg)
{
    fake_t *f = arg;
    assert_string_equal(stack_id, STACK);
    assert_string_equal(request_id, "req-1");
    assert_non_null(strstr(owner, f->m.message_id));
    /* The lease ends before the message reappears (a quarter of the
     * visibility timeout, at most 5 s, earlier), so the claim of a worker
     * that died is free by the time the next worker receives its message. */
    long vis_ms = (long)f->cfg.queue_visibility_timeout * 1000;
    long margin = vis_ms / 4 < 5000 ? vis_ms / 4 : 5000;
    assert_true(lease_ms >= 1000 || vis_ms - margin < 1000);
    assert_true(lease_ms <= (vis_ms - margin > 1000 ? vis_ms - margin : 1000));
    call_t *c = record(f, K_CLAIM, (void (*)(void))cb, cb_arg);
    c->seconds = (int)lease_ms;
    return 0;
}

static int f_claim_finish(void *arg, const char *stack_id, const char *request_id,
                          const char *owner, const char *answer, xacct_claims_done_cb cb,
                          void *cb_arg)
{
    (void)stack_id;
    (void)request_id;
    (void)owner;
    call_t *c = record(arg, K_FINISH, (void (*)(void))cb, cb_arg);
    c->text = strdup(answer);
    return 0;
}

static int f_claim_release(void *arg, const char *stack_id, const char *request_id,
                           const char *owner, xacct_claims_done_cb cb, void *cb_arg)
{
    (void)stack_id;
    (void)request_id;
    (void)owner;
    record(arg, K_RELEASE, (void (*)(void))cb, cb_arg);
    return 0;
}

static int f_customer_get(void *arg, const char *account_id, xacct_customers_get_cb cb,
                          void *cb_arg)
{
    assert_string_equal(account_id, ACCT);
    record(arg, K_GET, (void (*)(void))cb, cb_arg);
    return 0;
}

static int f_customer_apply(void *arg, const xacct_customer_apply_t *in,
                            xacct_customers_apply_cb cb, void *cb_arg)
{
    fake_t *f = arg;
    call_t *c = record(f, K_APPLY, (void (*)(void))cb, cb_arg);
    c->text = strdup(in->to_state ? in->to_state : "");
    c->job = in->job != NULL;
    c->connect = in->role_arn != NULL;
    c->expect_phys = in->expect_physical_id != NULL;
    assert_non_null(in->event);
    assert_string_equal(in->claim_owner, "host:1/m-1/1");
    assert_non_null(in->answer);
    return 0;
}

static int f_dead_add(void *arg, const xacct_dead_t *d, xacct_jobs_added_cb cb, void *cb_arg)
{
    fake_t *f = arg;
    assert_string_equal(d->body, f->m.body);
    assert_string_equal(d->message_id, f->m.message_id);
    assert_string_equal(d->queue, "https://sqs.us-east-1.amazonaws.com/1/q");
    call_t *c = record(f, K_DEAD, (void (*)(void))cb, cb_arg);
    c->text = strdup(d->reason);
    return 0;
}

static int f_verify(void *arg, const xacct_sns_envelope_t *env, xacct_sns_verify_cb cb,
                    void *cb_arg)
{
    (void)arg;
    (void)env;
    (void)cb;
    (void)cb_arg;
    fail_msg("raw deliveries are not verified");
    return XACCT_EINVAL;
}

static int f_confirm(void *arg, const char *url, xacct_aws_done_cb cb, void *cb_arg,
                     xacct_aws_call_t **call)
{
    (void)arg;
    (void)url;
    (void)cb;
    (void)cb_arg;
    (void)call;
    fail_msg("no subscription to confirm");
    return XACCT_EINVAL;
}

static int f_answer(void *arg, const char *response_url, const char *body, xacct_cfn_answer_cb cb,
                    void *cb_arg, xacct_aws_call_t **call)
{
    fake_t *f = arg;
    assert_string_equal(response_url, RESPONSE_URL);
    call_t *c = record(f, K_ANSWER, (void (*)(void))cb, cb_arg);
    c->text = strdup(body);
    *call = (xacct_aws_call_t *)c;
    return 0;
}

static void f_cancel(void *arg, xacct_aws_call_t *call)
{
    (void)arg;
    call_t *c = (call_t *)call;
    assert_false(c->done);
    c->done = true;
    ((xacct_cfn_answer_cb)c->cb)(XACCT_ECANCELED, "canceled", 0, c->arg);
}

static int f_check(void *arg, const xacct_check_params_t *p, xacct_check_cb cb, void *cb_arg,
                   xacct_check_t **check)
{
    assert_string_equal(p->role_arn, ROLE);
    assert_string_equal(p->external_id, EXTID);
    call_t *c = record(arg, K_CHECK, (void (*)(void))cb, cb_arg);
    *check = (xacct_check_t *)c;
    return 0;
}

static void f_check_cancel(void *arg, xacct_check_t *check)
{
    fake_t *f = arg;
    call_t *c = (call_t *)check;
    f->check_cancels++;
    c->done = true;
    ((xacct_check_cb)c->cb)(XACCT_CHECK_CANCELED, "canceled", 0, c->arg);
}

static int f_template_delete(void *arg, const xacct_s3_object_t *o, xacct_s3_done_cb cb,
                             void *cb_arg)
{
    (void)o;
    record(arg, K_S3, (void (*)(void))cb, cb_arg);
    return 0;
}

static int64_t f_wall(void *arg)
{
    return ((fake_t *)arg)->wall;
}

static int f_rand(void *arg, uint64_t *out)
{
    (void)arg;
    *out = 0; /* every retry delay is 0 */
    return 0;
}

static const xacct_pipeline_ops_t FAKE_OPS = {
    .visibility = f_visibility,
    .claim = f_claim,
    .claim_finish = f_claim_finish,
    .claim_release = f_claim_release,
    .customer_get = f_customer_get,
    .customer_apply = f_customer_apply,
    .dead_add = f_dead_add,
    .verify = f_verify,
    .confirm = f_confirm,
    .answer = f_answer,
    .cancel = f_cancel,
    .check = f_check,
    .check_cancel = f_check_cancel,
    .template_delete = f_template_delete,
    .wall_ms = f_wall,
    .rand = f_rand,
};

/* ---- driving ----------------------------------------------------------------- */

static char *hosts_items[] = {"cloudformation-custom-resource-response-*.s3*.amazonaws.com"};
static char *topic_items[] = {"arn:aws:sns:us-east-1:999999999999:xacct"};

static int setup(void **state)
{
    fake_t *f = calloc(1, sizeof(*f));
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->cfg.queue_visibility_timeout = 120;
    f->cfg.queue_max_receives = 5;
    f->cfg.sns_raw_delivery = true;
    f->cfg.sns_verify_signatures = true;
    f->cfg.sns_topic_arns = (xacct_strlist_t){topic_items, 1};
    f->cfg.cfn_response_hosts = (xacct_strlist_t){hosts_items, 1};
    f->cfg.cfn_template_bucket = "";
    f->cfg.check_propagation_timeout = 120;
    f->log_out = open_memstream(&f->log_text, &f->log_len);
    xacct_log_init(&f->ctx.log, XACCT_LOG_INFO, XACCT_LOG_LOGFMT, f->log_out);
    f->ctx.loop = &f->loop;
    f->ctx.cfg = &f->cfg;
    f->ctx.metrics = xacct_metrics_new();
    snprintf(f->ctx.worker_id, sizeof(f->ctx.worker_id), "host:1");
    f->pl = (xacct_pipeline_t){.ctx = &f->ctx, .ops = &FAKE_OPS, .ops_arg = f};
    f->wall = SENT_MS + 1000;
    f->m.message_id = "m-1";
    f->m.receipt_handle = "rh-1";
    f->m.receive_count = 1;
    f->m.sent_ms = SENT_MS;
    *state = f;
    return 0;
}

static void on_done(const xacct_pipeline_result_t *r, void *arg)
{
    fake_t *f = arg;
    f->dones++;
    f->result = *r;
}

static call_t *pending(fake_t *f, kind_t k)
{
    for (size_t i = 0; i < f->ncalls; i++)
        if (f->calls[i].kind == k && !f->calls[i].done)
            return &f->calls[i];
    return NULL;
}

/* Completes every outstanding call the way a closing store and AWS client
 * do (ECANCELED), then closes the loop: the message must have freed itself
 * and every handle must be closed. */
static int teardown(void **state)
{
    fake_t *f = *state;
    if (f->msg != NULL && f->dones == 0) {
        xacct_pipeline_abort(f->msg);
        assert_int_equal(f->result.outcome, XACCT_PIPELINE_LEAVE);
    }
    for (size_t i = 0; i < f->ncalls; i++) {
        call_t *c = &f->calls[i];
        if (!c->done) {
            c->done = true;
            switch (c->kind) {
            case K_VIS:
                ((xacct_transport_done_cb)c->cb)(XACCT_ECANCELED, "closed", c->arg);
                break;
            case K_CLAIM:
                ((xacct_claims_claim_cb)c->cb)(XACCT_ECANCELED, "closed", 0, "", c->arg);
                break;
            case K_FINISH:
            case K_RELEASE:
                ((xacct_claims_done_cb)c->cb)(XACCT_ECANCELED, "closed", 0, c->arg);
                break;
            case K_GET:
                ((xacct_customers_get_cb)c->cb)(XACCT_ECANCELED, "closed", NULL, c->arg);
                break;
            case K_APPLY:
                ((xacct_customers_apply_cb)c->cb)(XACCT_ECANCELED, "closed", 0, "", c->arg);
                break;
            case K_DEAD:
                ((xacct_jobs_added_cb)c->cb)(XACCT_ECANCELED, "closed", NULL, c->arg);
                break;
            case K_ANSWER:
                ((xacct_cfn_answer_cb)c->cb)(XACCT_ECANCELED, "closed", 0, c->arg);
                break;
            case K_CHECK:
                ((xacct_check_cb)c->cb)(XACCT_CHECK_CANCELED, "closed", 0, c->arg);
                break;
            case K_S3:
                ((xacct_s3_done_cb)c->cb)(XACCT_ECANCELED, "closed", c->arg);
                break;
            case K__N:
                break;
            }
        }
        free(c->text);
    }
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    assert_true(f->dones <= 1);
    xacct_metrics_free(f->ctx.metrics);
    fclose(f->log_out);
    free(f->log_text);
    free(f->m.body);
    free(f);
    return 0;
}

/* A guard that ticks every 5 ms, so that a loop turn never blocks long,
 * and expires after `left` ticks. */
typedef struct guard {
    uv_timer_t timer;
    unsigned left;
} guard_t;

static void on_guard(uv_timer_t *t)
{
    guard_t *g = xacct_container_of(t, guard_t, timer);
    if (g->left > 0)
        g->left--;
}

/* Runs the loop until a call of kind k is pending (or the message is done
 * when k is K__N); the 30 s bound only guards against a hang. */
static call_t *wait_for(fake_t *f, kind_t k)
{
    guard_t guard = {.left = 6000};
    uv_timer_init(&f->loop, &guard.timer);
    uv_timer_start(&guard.timer, on_guard, 5, 5);
    call_t *c = NULL;
    for (;;) {
        c = k == K__N ? NULL : pending(f, k);
        if (c != NULL || (k == K__N && f->dones > 0) || guard.left == 0)
            break;
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&guard.timer, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    if (k != K__N)
        assert_non_null(c);
    else
        assert_int_equal(f->dones, 1);
    return c;
}

static void wait_done(fake_t *f)
{
    (void)wait_for(f, K__N);
}

/* Turns the loop for a while (retry timers of 0 ms, a heartbeat due). */
static void spin(fake_t *f, unsigned ms)
{
    guard_t guard = {.left = ms / 5 + 1};
    uv_timer_init(&f->loop, &guard.timer);
    uv_timer_start(&guard.timer, on_guard, 5, 5);
    while (guard.left > 0)
        uv_run(&f->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&guard.timer, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
}

static void set_body(fake_t *f, const char *type, const char *physical, long service_timeout)
{
    json_t *p = json_pack("{s:s, s:s, s:s}", "AccountID", ACCT, "RoleArn", ROLE, "ExternalID",
                          EXTID);
    if (service_timeout > 0)
        json_object_set_new(p, "ServiceTimeout", json_integer(service_timeout));
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "RequestType", type, "ResponseURL",
                          RESPONSE_URL, "StackId", STACK, "RequestId", "req-1",
                          "LogicalResourceId", "PhoneHome", "ResourceProperties", p);
    if (physical != NULL)
        json_object_set_new(o, "PhysicalResourceId", json_string(physical));
    free(f->m.body);
    f->m.body = json_dumps(o, JSON_COMPACT);
    f->m.body_len = strlen(f->m.body);
    json_decref(o);
}

static void start(fake_t *f)
{
    xacct_pipeline_start(&f->pl, &f->m, f, "https://sqs.us-east-1.amazonaws.com/1/q", on_done, f,
                         &f->msg);
}

static void complete_claim(call_t *c, int status, xacct_claim_result_t r, const char *text)
{
    c->done = true;
    ((xacct_claims_claim_cb)c->cb)(status, status ? "redis down" : NULL, r, text, c->arg);
}

static void complete_get(call_t *c, const char *state, const char *stack, const char *physical)
{
    c->done = true;
    if (state == NULL) {
        ((xacct_customers_get_cb)c->cb)(XACCT_ENOTFOUND, "no such customer", NULL, c->arg);
        return;
    }
    xacct_customer_t cust;
    xacct__customer_init(&cust);
    cust.state = xacct_customer_state_from_name(state);
    cust.account_id = ACCT;
    cust.external_id = EXTID;
    cust.role_arn = ROLE;
    cust.stack_id = stack;
    cust.physical_id = physical;
    ((xacct_customers_get_cb)c->cb)(0, NULL, &cust, c->arg);
}

static void complete_check(call_t *c, xacct_check_result_t r)
{
    c->done = true;
    ((xacct_check_cb)c->cb)(r, "checked", 1, c->arg);
}

static void complete_apply(call_t *c, int status, xacct_apply_result_t r)
{
    c->done = true;
    ((xacct_customers_apply_cb)c->cb)(status, status ? "pending -> active" : NULL, r, "pending",
                                      c->arg);
}

static void complete_answer(call_t *c, int status, long http)
{
    c->done = true;
    ((xacct_cfn_answer_cb)c->cb)(status, status ? "answer failed" : NULL, http, c->arg);
}

static void complete_vis(call_t *c, int status)
{
    c->done = true;
    ((xacct_transport_done_cb)c->cb)(status, status ? "gone" : NULL, c->arg);
}

static const char *answer_status(const call_t *answer)
{
    static char st[16];
    json_t *o = json_loads(answer->text, 0, NULL);
    assert_non_null(o);
    snprintf(st, sizeof(st), "%s", json_string_value(json_object_get(o, "Status")));
    json_decref(o);
    return st;
}

/* A Create for a pending customer up to its answer. */
static call_t *create_until_answer(fake_t *f)
{
    set_body(f, "Create", NULL, 0);
    start(f);
    complete_claim(wait_for(f, K_CLAIM), 0, XACCT_CLAIMS_CLAIMED, "");
    complete_get(wait_for(f, K_GET), "pending", "", "");
    complete_check(wait_for(f, K_CHECK), XACCT_CHECK_SECURE);
    call_t *apply = wait_for(f, K_APPLY);
    assert_string_equal(apply->text, "active");
    assert_true(apply->connect);
    assert_false(apply->job);
    complete_apply(apply, 0, XACCT_APPLY_APPLIED);
    return wait_for(f, K_ANSWER);
}

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

static void complete_dead(call_t *dead)
{
    dead->done = true;
    ((xacct_jobs_added_cb)dead->cb)(0, NULL, "1-0", dead->arg);
}

static void complete_finish(call_t *fin, int changed)
{
    fin->done = true;
    ((xacct_claims_done_cb)fin->cb)(0, NULL, changed, fin->arg);
}

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

/* Given up on, but answered before (or held by a live worker that will
 * answer): nothing is sent again; only the dead set is written. */
static void test_too_many_receives_answered_before(void **state)
{
    fake_t *f = *state;
    set_body(f, "Create", NULL, 0);
    f->m.receive_count = 6;
    start(f);
    complete_claim(wait_for(f, K_CLAIM), 0, XACCT_CLAIMS_DONE, "{\"Status\":\"SUCCESS\"}");
    call_t *dead = wait_for(f, K_DEAD);
    assert_non_null(strstr(dead->text, "received 6 times"));
    assert_non_null(strstr(dead->text, "answered before"));
    complete_dead(dead);
    wait_done(f);
    assert_int_equal(f->result.outcome, XACCT_PIPELINE_DEAD);
    assert_int_equal(f->counts[K_ANSWER], 0);
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
 * visibility left less the margin; at each heartbeat, the new visibility
 * timeout less the margin. */
static void test_claim_lease_ends_before_visibility(void **state)
{
    fake_t *f = *state;
    f->cfg.queue_visibility_timeout = 2; /* margin 0.5 s, a beat every second */
    set_body(f, "Create", NULL, 0);
    start(f);
    call_t *claim = wait_for(f, K_CLAIM);
    assert_true(claim->seconds <= 1500 && claim->seconds >= 1000);
    complete_claim(claim, 0, XACCT_CLAIMS_CLAIMED, "");
    (void)wait_for(f, K_GET);
    call_t *renew = wait_for(f, K_CLAIM);
    assert_int_equal(renew->seconds, 1500);
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
        ((xacct_jobs_added_cb)dead->cb)(XACCT_EDISCONNECTED, "redis down", NULL, dead->arg);
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
 * timeout and left, without loading the customer. */
static void test_claim_held_elsewhere_is_left(void **state)
{
    fake_t *f = *state;
    set_body(f, "Create", NULL, 0);
    start(f);
    complete_claim(wait_for(f, K_CLAIM), 0, XACCT_CLAIMS_BUSY, "other/m/1");
    wait_done(f);
    assert_int_equal(f->result.outcome, XACCT_PIPELINE_LEAVE);
    assert_int_equal(f->counts[K_GET], 0);
    assert_int_equal(f->counts[K_VIS], 1);
    assert_int_equal(f->calls[1].kind, K_VIS);
    assert_int_equal(f->calls[1].seconds, 120);
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
    complete_answer(answer, 0, 200);
    wait_done(f);
    assert_int_equal(f->result.outcome, XACCT_PIPELINE_ACK);
    assert_int_equal(f->counts[K_GET], 0);
    assert_int_equal(f->counts[K_APPLY], 0);
    assert_non_null(strstr(f->log_text, "status=SUCCESS"));
    assert_null(strstr(f->log_text, "status=FAILED"));
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
    call_t *renew = wait_for(f, K_CLAIM);
    complete_vis(vis, 0);
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

static void test_deadline_delete_answers_success(void **state)
{
    fake_t *f = *state;
    assert_false(retried_after(f, "Delete", "xacct-" ACCT, 20, 16, true));
    assert_string_equal(answer_status(pending(f, K_ANSWER)), "SUCCESS");
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

/* No record: the answer is kept on the claim (finish) and sent. */
static void test_unknown_account_answered_from_claim(void **state)
{
    fake_t *f = *state;
    set_body(f, "Create", NULL, 0);
    start(f);
    complete_claim(wait_for(f, K_CLAIM), 0, XACCT_CLAIMS_CLAIMED, "");
    complete_get(wait_for(f, K_GET), NULL, NULL, NULL);
    call_t *fin = wait_for(f, K_FINISH);
    assert_non_null(strstr(fin->text, "\"FAILED\""));
    assert_int_equal(f->counts[K_APPLY], 0);
    fin->done = true;
    ((xacct_claims_done_cb)fin->cb)(0, NULL, 1, fin->arg);
    complete_answer(wait_for(f, K_ANSWER), 0, 200);
    wait_done(f);
    assert_int_equal(f->result.outcome, XACCT_PIPELINE_ACK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_answered_is_acked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answer_refused_is_acked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answer_undeliverable_is_left, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_many_receives_answers_then_dead, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_too_many_receives_delete_answers_success, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_too_many_receives_answered_before, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_too_many_receives_unparseable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_lease_ends_before_visibility, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dead_set_unreachable_leaves, setup, teardown),
        cmocka_unit_test_setup_teardown(test_raw_request_is_parsed_not_sniffed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_hands_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_held_elsewhere_is_left, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redelivery_resends_stored_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat_extends_and_stops_before_delete, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_deadline_lower_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline_lower_bound_passed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline_ten_percent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline_ten_percent_passed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline_upper_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline_upper_bound_passed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline_without_sent_timestamp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline_delete_answers_success, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_offboards_and_conflicts_audit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unknown_account_answered_from_claim, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
