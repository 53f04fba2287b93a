/* SPDX-License-Identifier: MIT */
/*
 * Fakes of the pipeline's seams and the means to drive one message with
 * them, for the pipeline's unit tests (test_pipeline*.c): every seam call is
 * recorded and left pending until the test completes it, the clock is the
 * test's and the retry jitter is zero. Header-only so each test binary stays
 * one file.
 */
#ifndef XACCT_TEST_PIPELINE_FAKE_H
#define XACCT_TEST_PIPELINE_FAKE_H

/* cmocka needs these first. */
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
#define STACK                                                                                      \
    "arn:aws:cloudformation:us-east-1:" ACCT                                                       \
    ":stack/xacct-onboarding/11111111-2222-4333-8444-555555555555"
#define ROLE "arn:aws:iam::" ACCT ":role/XacctAccess"
#define EXTID "ext-secret-77"
#define RESPONSE_URL                                                                               \
    "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/k?s=1"
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
    void (*cb)(void); /* the seam's callback, cast back by the completer */
    void *arg;
    bool done;
    int seconds;      /* K_VIS */
    char *text;       /* K_APPLY to_state ("" = audit), K_ANSWER body, K_DEAD reason,
                         K_FINISH answer */
    bool job;         /* K_APPLY: a job was enqueued */
    bool connect;     /* K_APPLY: the role was written */
    bool expect_phys; /* K_APPLY: expect_physical_id was set */
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
    int64_t wall; /* the fake clock */
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

static inline call_t *record(fake_t *f, kind_t k, void (*cb)(void), void *arg)
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

static inline int f_visibility(void *arg, void *queue, const char *receipt, int seconds,
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

static inline int f_claim(void *arg, const char *stack_id, const char *request_id,
                          const char *owner, long lease_ms, xacct_claims_claim_cb cb, void *cb_arg)
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

static inline int f_claim_finish(void *arg, const char *stack_id, const char *request_id,
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

static inline int f_claim_release(void *arg, const char *stack_id, const char *request_id,
                                  const char *owner, xacct_claims_done_cb cb, void *cb_arg)
{
    (void)stack_id;
    (void)request_id;
    (void)owner;
    record(arg, K_RELEASE, (void (*)(void))cb, cb_arg);
    return 0;
}

static inline int f_customer_get(void *arg, const char *account_id, xacct_customers_get_cb cb,
                                 void *cb_arg)
{
    assert_string_equal(account_id, ACCT);
    record(arg, K_GET, (void (*)(void))cb, cb_arg);
    return 0;
}

static inline int f_customer_apply(void *arg, const xacct_customer_apply_t *in,
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

static inline int f_dead_add(void *arg, const xacct_dead_t *d, xacct_dead_added_cb cb, void *cb_arg)
{
    fake_t *f = arg;
    assert_string_equal(d->body, f->m.body);
    assert_string_equal(d->message_id, f->m.message_id);
    assert_string_equal(d->queue, "https://sqs.us-east-1.amazonaws.com/1/q");
    call_t *c = record(f, K_DEAD, (void (*)(void))cb, cb_arg);
    c->text = strdup(d->reason);
    return 0;
}

static inline int f_verify(void *arg, const xacct_sns_envelope_t *env, xacct_sns_verify_cb cb,
                           void *cb_arg)
{
    (void)arg;
    (void)env;
    (void)cb;
    (void)cb_arg;
    fail_msg("raw deliveries are not verified");
    return XACCT_EINVAL;
}

static inline int f_confirm(void *arg, const char *url, xacct_aws_done_cb cb, void *cb_arg,
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

static inline int f_answer(void *arg, const char *response_url, const char *body,
                           xacct_cfn_answer_cb cb, void *cb_arg, xacct_aws_call_t **call)
{
    fake_t *f = arg;
    assert_string_equal(response_url, RESPONSE_URL);
    call_t *c = record(f, K_ANSWER, (void (*)(void))cb, cb_arg);
    c->text = strdup(body);
    *call = (xacct_aws_call_t *)c;
    return 0;
}

static inline void f_cancel(void *arg, xacct_aws_call_t *call)
{
    (void)arg;
    call_t *c = (call_t *)call;
    assert_false(c->done);
    c->done = true;
    ((xacct_cfn_answer_cb)c->cb)(XACCT_ECANCELED, "canceled", 0, c->arg);
}

static inline int f_check(void *arg, const xacct_check_params_t *p, xacct_check_cb cb, void *cb_arg,
                          xacct_check_t **check)
{
    assert_string_equal(p->role_arn, ROLE);
    assert_string_equal(p->external_id, EXTID);
    call_t *c = record(arg, K_CHECK, (void (*)(void))cb, cb_arg);
    *check = (xacct_check_t *)c;
    return 0;
}

static inline void f_check_cancel(void *arg, xacct_check_t *check)
{
    fake_t *f = arg;
    call_t *c = (call_t *)check;
    f->check_cancels++;
    c->done = true;
    ((xacct_check_cb)c->cb)(XACCT_CHECK_CANCELED, "canceled", 0, c->arg);
}

static inline int f_template_delete(void *arg, const xacct_s3_object_t *o, xacct_s3_done_cb cb,
                                    void *cb_arg)
{
    call_t *c = record(arg, K_S3, (void (*)(void))cb, cb_arg);
    c->text = strdup(o->key);
    return 0;
}

static int64_t f_wall(void *arg)
{
    return ((fake_t *)arg)->wall;
}

static inline int f_rand(void *arg, uint64_t *out)
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

static inline int setup(void **state)
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

static inline void on_done(const xacct_pipeline_result_t *r, void *arg)
{
    fake_t *f = arg;
    f->dones++;
    f->result = *r;
}

static inline call_t *pending(fake_t *f, kind_t k)
{
    for (size_t i = 0; i < f->ncalls; i++)
        if (f->calls[i].kind == k && !f->calls[i].done)
            return &f->calls[i];
    return NULL;
}

/* Completes every outstanding call the way a closing store and AWS client
 * do (ECANCELED), then closes the loop: the message must have freed itself
 * and every handle must be closed. */
static inline int teardown(void **state)
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
                ((xacct_dead_added_cb)c->cb)(XACCT_ECANCELED, "closed", NULL, c->arg);
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

static inline void on_guard(uv_timer_t *t)
{
    guard_t *g = xacct_container_of(t, guard_t, timer);
    if (g->left > 0)
        g->left--;
}

/* Runs the loop until a call of kind k is pending (or the message is done
 * when k is K__N); the 30 s bound only guards against a hang. */
static inline call_t *wait_for(fake_t *f, kind_t k)
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

static inline void wait_done(fake_t *f)
{
    (void)wait_for(f, K__N);
}

/* Turns the loop for a while (retry timers of 0 ms, a heartbeat due). */
static inline void spin(fake_t *f, unsigned ms)
{
    guard_t guard = {.left = ms / 5 + 1};
    uv_timer_init(&f->loop, &guard.timer);
    uv_timer_start(&guard.timer, on_guard, 5, 5);
    while (guard.left > 0)
        uv_run(&f->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&guard.timer, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
}

static inline void set_body(fake_t *f, const char *type, const char *physical, long service_timeout)
{
    json_t *p =
        json_pack("{s:s, s:s, s:s}", "AccountID", ACCT, "RoleArn", ROLE, "ExternalID", EXTID);
    if (service_timeout > 0)
        json_object_set_new(p, "ServiceTimeout", json_integer(service_timeout));
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "RequestType", type, "ResponseURL",
                          RESPONSE_URL, "StackId", STACK, "RequestId", "req-1", "LogicalResourceId",
                          "PhoneHome", "ResourceProperties", p);
    if (physical != NULL)
        json_object_set_new(o, "PhysicalResourceId", json_string(physical));
    free(f->m.body);
    f->m.body = json_dumps(o, JSON_COMPACT);
    f->m.body_len = strlen(f->m.body);
    json_decref(o);
}

static inline void start(fake_t *f)
{
    xacct_pipeline_start(&f->pl, &f->m, f, "https://sqs.us-east-1.amazonaws.com/1/q", on_done, f,
                         &f->msg);
}

static inline void complete_claim(call_t *c, int status, xacct_claims_result_t r, const char *text)
{
    c->done = true;
    ((xacct_claims_claim_cb)c->cb)(status, status ? "redis down" : NULL, r, text, c->arg);
}

/* complete_get with a rotation's pending external ID on the record. */
static inline void complete_get_pending(call_t *c, const char *state, const char *stack,
                                        const char *physical, const char *pending_id)
{
    c->done = true;
    xacct_customer_t cust;
    xacct__customer_init(&cust);
    cust.state = xacct_customer_state_from_name(state);
    cust.account_id = ACCT;
    cust.external_id = EXTID;
    if (pending_id != NULL)
        cust.pending_external_id = pending_id;
    cust.role_arn = ROLE;
    cust.stack_id = stack;
    cust.physical_id = physical;
    ((xacct_customers_get_cb)c->cb)(0, NULL, &cust, c->arg);
}

static inline void complete_s3(call_t *c, int status)
{
    c->done = true;
    ((xacct_s3_done_cb)c->cb)(status, status == 0 ? NULL : "S3: InternalError", c->arg);
}

static inline void complete_get(call_t *c, const char *state, const char *stack,
                                const char *physical)
{
    if (state == NULL) {
        c->done = true;
        ((xacct_customers_get_cb)c->cb)(XACCT_ENOTFOUND, "no such customer", NULL, c->arg);
        return;
    }
    complete_get_pending(c, state, stack, physical, NULL);
}

static inline void complete_check(call_t *c, xacct_check_result_t r)
{
    c->done = true;
    ((xacct_check_cb)c->cb)(r, "checked", 1, c->arg);
}

static inline void complete_apply(call_t *c, int status, xacct_apply_result_t r)
{
    c->done = true;
    ((xacct_customers_apply_cb)c->cb)(status, status ? "pending -> active" : NULL, r, "pending",
                                      c->arg);
}

static inline void complete_answer(call_t *c, int status, long http)
{
    c->done = true;
    ((xacct_cfn_answer_cb)c->cb)(status, status ? "answer failed" : NULL, http, c->arg);
}

static inline void complete_vis(call_t *c, int status)
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
static inline call_t *create_until_answer(fake_t *f)
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

static inline void complete_dead(call_t *dead)
{
    dead->done = true;
    ((xacct_dead_added_cb)dead->cb)(0, NULL, "1-0", dead->arg);
}

static inline void complete_finish(call_t *fin, int changed)
{
    fin->done = true;
    ((xacct_claims_done_cb)fin->cb)(0, NULL, changed, fin->arg);
}

#endif
