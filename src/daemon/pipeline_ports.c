/* SPDX-License-Identifier: MIT */
/*
 * The pipeline's seams onto the real world (xacct_pipeline_production_ops):
 * the message's transport, the store modules (claims, customers, the dead
 * set), AWS (SNS signature verification, the subscription GET, the answer
 * PUT, the safety check, S3) and the wall clock. The first argument of each
 * is the daemon's context. The unit tests give the pipeline fakes instead.
 */
#include <sys/time.h>

#include "xacct/cfn.h"
#include "xacct/pipeline.h"

static int visibility(void *arg, void *queue, const char *receipt_handle, int seconds,
                      xacct_transport_done_cb cb, void *cb_arg)
{
    (void)arg;
    return xacct_transport_visibility(queue, receipt_handle, seconds, cb, cb_arg);
}

static int claim(void *arg, const char *stack_id, const char *request_id, const char *owner,
                 long lease_ms, xacct_claims_claim_cb cb, void *cb_arg)
{
    xacct_ctx_t *ctx = arg;
    return xacct_claims_claim(ctx->store, stack_id, request_id, owner, lease_ms, cb, cb_arg);
}

static int claim_finish(void *arg, const char *stack_id, const char *request_id,
                        const char *owner, const char *answer, xacct_claims_done_cb cb,
                        void *cb_arg)
{
    xacct_ctx_t *ctx = arg;
    return xacct_claims_finish(ctx->store, stack_id, request_id, owner, answer, 0, cb, cb_arg);
}

static int claim_release(void *arg, const char *stack_id, const char *request_id,
                         const char *owner, xacct_claims_done_cb cb, void *cb_arg)
{
    xacct_ctx_t *ctx = arg;
    return xacct_claims_release(ctx->store, stack_id, request_id, owner, cb, cb_arg);
}

static int customer_get(void *arg, const char *account_id, xacct_customers_get_cb cb,
                        void *cb_arg)
{
    xacct_ctx_t *ctx = arg;
    return xacct_customers_get(ctx->store, account_id, cb, cb_arg);
}

static int customer_apply(void *arg, const xacct_customer_apply_t *in,
                          xacct_customers_apply_cb cb, void *cb_arg)
{
    xacct_ctx_t *ctx = arg;
    return xacct_customers_apply(ctx->store, in, cb, cb_arg);
}

static int dead_add(void *arg, const xacct_dead_t *d, xacct_dead_added_cb cb, void *cb_arg)
{
    xacct_ctx_t *ctx = arg;
    return xacct_dead_add(ctx->store, d, cb, cb_arg);
}

static int verify(void *arg, const xacct_sns_envelope_t *env, xacct_sns_verify_cb cb,
                  void *cb_arg)
{
    xacct_ctx_t *ctx = arg;
    return xacct_sns_verify(ctx->verifier, env, &ctx->cfg->sns_cert_hosts, cb, cb_arg);
}

static int confirm(void *arg, const char *subscribe_url, xacct_aws_done_cb cb, void *cb_arg,
                   xacct_aws_call_t **call)
{
    xacct_ctx_t *ctx = arg;
    xacct_aws_request_t req = {
        .method = "GET",
        .url = subscribe_url,
        .unsigned_request = true,
        .service = "sns-subscribe", /* metrics label only */
        .max_body = 64 * 1024,
        .untrusted_url = true,
    };
    return xacct_aws_call(ctx->aws, &req, cb, cb_arg, call);
}

static int answer(void *arg, const char *response_url, const char *body, xacct_cfn_answer_cb cb,
                  void *cb_arg, xacct_aws_call_t **call)
{
    xacct_ctx_t *ctx = arg;
    return xacct_cfn_answer_send(ctx->aws, response_url, body, cb, cb_arg, call);
}

static void cancel(void *arg, xacct_aws_call_t *call)
{
    (void)arg;
    xacct_aws_cancel(call);
}

static int check(void *arg, const xacct_check_params_t *p, xacct_check_cb cb, void *cb_arg,
                 xacct_check_t **out)
{
    xacct_ctx_t *ctx = arg;
    return xacct_check_start(ctx->loop, ctx->aws, p, cb, cb_arg, out);
}

static void check_cancel(void *arg, xacct_check_t *c)
{
    (void)arg;
    xacct_check_cancel(c);
}

static int template_delete(void *arg, const xacct_s3_object_t *o, xacct_s3_done_cb cb,
                           void *cb_arg)
{
    xacct_ctx_t *ctx = arg;
    return xacct_s3_delete(ctx->aws, o, cb, cb_arg);
}

static int64_t wall_ms(void *arg)
{
    (void)arg;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

const xacct_pipeline_ops_t xacct_pipeline_production_ops = {
    .visibility = visibility,
    .claim = claim,
    .claim_finish = claim_finish,
    .claim_release = claim_release,
    .customer_get = customer_get,
    .customer_apply = customer_apply,
    .dead_add = dead_add,
    .verify = verify,
    .confirm = confirm,
    .answer = answer,
    .cancel = cancel,
    .check = check,
    .check_cancel = check_cancel,
    .template_delete = template_delete,
    .wall_ms = wall_ms,
    .rand = NULL,
};
