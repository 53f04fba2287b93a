/* SPDX-License-Identifier: MIT */
/*
 * One message of the pipeline as an object: its timers, its lifetime (it is
 * freed once it has ended, its timers have closed and no seam callback that
 * refers to it is outstanding), the heartbeat that extends its visibility
 * and its claim's lease every half visibility timeout, and what it says (its
 * answer, whether it is a raw request). The stage machine (pipeline.c) uses
 * it; it never calls the stages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pipeline_int.h"

static void on_beat(uv_timer_t *t);

/* The next beat, half the visibility timeout away. Read at each beat, not
 * once: a reload may shorten queue.visibility_timeout, and a beat that came
 * only as often as the old one would let the message reappear between two
 * extensions while it is still worked on. */
static void beat_arm(xacct_pipeline_msg_t *msg)
{
    uint64_t half = (uint64_t)xacct__pl_cfg(msg)->queue_visibility_timeout * 500;
    uv_timer_start(&msg->beat, on_beat, half, 0);
}

xacct_pipeline_msg_t *xacct__pipeline_msg_new(const xacct_pipeline_t *pl, xacct_sqs_message_t *m,
                                              void *queue, const char *queue_url,
                                              xacct_pipeline_done_cb done, void *arg)
{
    xacct_pipeline_msg_t *msg = xacct_calloc(1, sizeof(*msg));
    uv_loop_t *loop = pl->ctx->loop;
    msg->pl = pl;
    msg->m = m;
    msg->queue = queue;
    msg->queue_url = queue_url;
    msg->done = done;
    msg->done_arg = arg;
    uv_timer_init(loop, &msg->retry);
    uv_timer_init(loop, &msg->beat);
    xacct_backoff_init(&msg->backoff, 250, 10000, pl->ops->rand, pl->ops_arg);
    msg->deadline = uv_now(loop) + (uint64_t)XACCT_HANDLER_TIMEOUT_DEFAULT_S * 1000;
    msg->owner = xacct_asprintf("%s/%s/%d", pl->ctx->worker_id, m->message_id, m->receive_count);
    msg->visible_at = uv_now(loop) + (uint64_t)pl->ctx->cfg->queue_visibility_timeout * 1000;
    beat_arm(msg);
    return msg;
}

static void on_timer_closed(uv_handle_t *h)
{
    xacct_pipeline_msg_t *msg = h->data;
    msg->closing--;
    xacct__pipeline_msg_maybe_free(msg);
}

void xacct__pipeline_msg_maybe_free(xacct_pipeline_msg_t *msg)
{
    if (!msg->ended || msg->pending > 0 || msg->closing > 0)
        return;
    if (!uv_is_closing((uv_handle_t *)&msg->retry)) {
        msg->closing = 2;
        msg->retry.data = msg;
        msg->beat.data = msg;
        uv_close((uv_handle_t *)&msg->retry, on_timer_closed);
        uv_close((uv_handle_t *)&msg->beat, on_timer_closed);
        return;
    }
    xacct_sns_envelope_free(msg->env);
    xacct_cfn_request_free(msg->req);
    xacct_customer_free(msg->customer);
    xacct_customer_free(msg->preload_customer);
    free(msg->decision);
    free(msg->answer);
    free(msg->owner);
    free(msg->reason);
    free(msg);
}

void xacct__pipeline_msg_end(xacct_pipeline_msg_t *msg, xacct_pipeline_outcome_t outcome)
{
    if (msg->ended)
        return;
    msg->ended = true;
    msg->stage = ST_DONE;
    /* The extension must stop before the message is deleted. */
    uv_timer_stop(&msg->retry);
    uv_timer_stop(&msg->beat);
    xacct_pipeline_result_t r = {.outcome = outcome, .failed = msg->failed};
    msg->m = NULL;
    msg->queue_url = NULL;
    msg->done(&r, msg->done_arg);
    xacct__pipeline_msg_maybe_free(msg);
}

bool xacct__pipeline_msg_returned(xacct_pipeline_msg_t *msg)
{
    msg->pending--;
    if (!msg->ended && !msg->releasing)
        return false;
    xacct__pipeline_msg_maybe_free(msg);
    return true;
}

void xacct__pipeline_msg_cancel_work(xacct_pipeline_msg_t *msg)
{
    const xacct_pipeline_t *pl = msg->pl;
    uv_timer_stop(&msg->retry);
    uv_timer_stop(&msg->beat);
    if (msg->check != NULL) {
        xacct_check_t *c = msg->check;
        msg->check = NULL;
        pl->ops->check_cancel(pl->ops_arg, c);
    }
    if (msg->call != NULL) {
        xacct_aws_call_t *call = msg->call;
        msg->call = NULL;
        pl->ops->cancel(pl->ops_arg, call);
    }
}

xacct_decision_t *xacct__pipeline_msg_decision(xacct_pipeline_msg_t *msg)
{
    if (msg->decision == NULL)
        msg->decision = xacct_calloc(1, sizeof(*msg->decision));
    return msg->decision;
}

const xacct_decision_t *xacct__pipeline_msg_decided(const xacct_pipeline_msg_t *msg)
{
    static const xacct_decision_t none;
    return msg->decision != NULL ? msg->decision : &none;
}

void xacct__pipeline_msg_count(const xacct_pipeline_msg_t *msg, const char *outcome)
{
    const xacct_decision_t *d = xacct__pipeline_msg_decided(msg);
    if (outcome == NULL)
        outcome = d->outcome ? d->outcome : (d->status == XACCT_CFN_SUCCESS ? "success" : "failed");
    xacct_metrics_inc(xacct__pl_metrics(msg), XACCT_M_REQUESTS,
                      xacct_cfn_type_name(msg->req->type), outcome);
}

/* ---- heartbeat ----------------------------------------------------------- */

static void on_beat_claim(int status, const char *detail, xacct_claims_result_t st,
                          const char *text, void *arg)
{
    (void)text;
    (void)detail;
    xacct_pipeline_msg_t *msg = arg;
    msg->pending--;
    if (!msg->ended && !msg->releasing && status == 0 && st == XACCT_CLAIMS_BUSY)
        XACCT_LOG_WARN(xacct__pl_log(msg), "claim.lost", "message_id", msg->m->message_id,
                       "detail", "another worker took the request over", NULL);
    xacct__pipeline_msg_maybe_free(msg);
}

/* The message is hidden longer only once SQS has said so: a failed extension
 * leaves visible_at (and so the claim's lease, which must end before the
 * message reappears) where it was. The lease follows the extension. */
static void on_beat_visibility(int status, const char *detail, void *arg)
{
    xacct_pipeline_msg_t *msg = arg;
    const xacct_pipeline_t *pl = msg->pl;
    msg->pending--;
    if (!msg->ended && !msg->releasing && status != 0)
        XACCT_LOG_WARN(xacct__pl_log(msg), "sqs.extend_failed", "message_id",
                       msg->m->message_id, "detail", detail ? detail : "entry failed", NULL);
    if (!msg->ended && !msg->releasing && status == 0) {
        msg->visible_at = msg->extending_to;
        if (msg->claimed && !msg->recorded &&
            pl->ops->claim(pl->ops_arg, msg->req->stack_id, msg->req->request_id, msg->owner,
                           xacct__pl_claim_lease_ms(msg), on_beat_claim, msg) == 0)
            msg->pending++;
    }
    xacct__pipeline_msg_maybe_free(msg);
}

static void on_beat(uv_timer_t *t)
{
    xacct_pipeline_msg_t *msg = xacct_container_of(t, xacct_pipeline_msg_t, beat);
    const xacct_pipeline_t *pl = msg->pl;
    if (msg->ended || msg->releasing)
        return;
    beat_arm(msg);
    int vis = xacct__pl_cfg(msg)->queue_visibility_timeout;
    /* Counted from the send: SQS starts the new timeout no earlier. */
    msg->extending_to = xacct__pl_now(msg) + (uint64_t)vis * 1000;
    if (pl->ops->visibility(pl->ops_arg, msg->queue, msg->m->receipt_handle, vis,
                           on_beat_visibility, msg) == 0)
        msg->pending++;
}

/* ---- what the message says ----------------------------------------------- */

bool xacct__pipeline_looks_raw(const char *body, size_t len)
{
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    bool raw = json_is_object(o) && json_object_get(o, "RequestType") != NULL &&
               json_object_get(o, "Type") == NULL && json_object_get(o, "TopicArn") == NULL;
    json_decref(o);
    return raw;
}

int xacct__pipeline_msg_build_answer(xacct_pipeline_msg_t *msg)
{
    free(msg->answer);
    msg->answer = NULL;
    const xacct_decision_t *d = xacct__pipeline_msg_decided(msg);
    msg->answer_failed = d->status == XACCT_CFN_FAILED;
    xacct_cfn_data_t data = xacct_handler_answer_data(msg->req, msg->customer, d);
    return xacct_cfn_response_build(msg->req, d->status,
                                    d->status == XACCT_CFN_FAILED ? d->reason : NULL,
                                    d->physical_id, &data, &msg->answer);
}

void xacct__pipeline_msg_stored_answer(xacct_pipeline_msg_t *msg, const char *answer)
{
    free(msg->answer);
    msg->answer = xacct_strdup(answer ? answer : "");
    /* The stored answer says itself whether it was SUCCESS or FAILED; one
     * that cannot be read is taken as the decision's (FAILED when none). */
    json_t *o = json_loads(msg->answer, 0, NULL);
    const char *st = json_string_value(json_object_get(o, "Status"));
    if (st != NULL)
        msg->answer_failed = strcmp(st, "SUCCESS") != 0;
    else
        msg->answer_failed = xacct__pipeline_msg_decided(msg)->status != XACCT_CFN_SUCCESS;
    json_decref(o);
}
