/* SPDX-License-Identifier: MIT */
/*
 * One SQS message through the pipeline (SPEC §4):
 *
 *   unwrap and verify the SNS envelope → parse the CloudFormation request →
 *   claim it in Redis → load the customer → decide (handlers) → safety check
 *   → record the outcome atomically → answer CloudFormation → delete the
 *   message.
 *
 * Transient failures (Redis away, AWS 5xx, throttling, timeouts) retry the
 * current step with jittered backoff; once the request's deadline is near
 * the request is answered without waiting any longer (FAILED; SUCCESS for a
 * Delete). Messages that cannot be answered at all go to the dead set. While
 * the work goes on, the message's visibility and the claim's lease are
 * extended every half visibility timeout; the extension stops before the
 * message is deleted.
 *
 * Lifetime: a message is freed when it has finished, its timers have closed
 * and no store or AWS callback that refers to it is outstanding (pending).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "worker_int.h"
#include "xacct/codec.h"
#include "xacct/metrics.h"
#include "xacct/reverify.h"
#include "xacct/s3.h"
#include "xacct/template.h"

/* The customer record fields the pipeline uses, copied from the store's
 * reply (which is only borrowed for its callback). */
typedef struct customer {
    char *state, *external_id, *stack_id, *physical_id, *role_arn;
} customer_t;

static void customer_free(customer_t *c)
{
    if (c == NULL)
        return;
    free(c->state);
    xacct_free_secret(c->external_id);
    free(c->stack_id);
    free(c->physical_id);
    free(c->role_arn);
    free(c);
}

static xacct_customer_view_t customer_view(const customer_t *c)
{
    xacct_customer_view_t v = {c->state, c->external_id, c->stack_id, c->physical_id, c->role_arn};
    return v;
}

typedef enum {
    ST_VERIFY,
    ST_CONFIRM,
    ST_CLAIM,
    ST_LOAD,
    ST_CHECK,
    ST_APPLY,
    ST_FINISH,
    ST_ANSWER,
    ST_CLEANUP,
    ST_DEAD,
    ST_ACK,
    ST_GONE,
} stage_t;

struct xacct_msg {
    xacct_worker_t *w;            /* owner set */
    xacct_poller_t *p;            /* the queue it came from */
    xacct_msg_t *next, *prev;     /* worker list */
    xacct_sqs_message_t *m;       /* owned */
    xacct_sns_envelope_t *env;    /* owned, NULL for raw deliveries */
    const char *payload;          /* the request JSON (into env or m) */
    size_t payload_len;
    xacct_cfn_request_t *req;     /* owned once parsed */
    customer_t *customer;         /* owned, NULL when none */
    char owner[320];              /* claim owner: worker/message/receive */
    xacct_decision_t decision;    /* what the handler decided */
    char *answer;                 /* response body to PUT, owned */
    stage_t stage;
    uv_timer_t retry;             /* backoff between attempts */
    uv_timer_t beat;              /* visibility and lease extension */
    int closing;                  /* timers still closing */
    xacct_backoff_t backoff;
    uint64_t deadline;            /* uv_now() after which we stop waiting */
    unsigned attempts;            /* of the current stage */
    unsigned pending;             /* callbacks outstanding that refer to us */
    unsigned conflicts;           /* concurrent state changes seen */
    xacct_check_t *check;         /* safety check in flight */
    xacct_aws_call_t *call;       /* answer PUT or confirmation GET in flight */
    bool claimed;                 /* we hold the request's claim */
    bool recorded;                /* the outcome is in Redis (or cannot be) */
    bool ended;                   /* left the worker's set */
    bool releasing;               /* shutdown release under way */
    char reason[512];             /* why it goes to the dead set */
};

xacct_msg_t **xacct__msg_next(xacct_msg_t *m)
{
    return &m->next;
}

xacct_msg_t **xacct__msg_prev(xacct_msg_t *m)
{
    return &m->prev;
}

const char *xacct__msg_receipt(const xacct_msg_t *msg)
{
    return msg->m->receipt_handle;
}

static const xacct_config_t *cfg(const xacct_msg_t *msg)
{
    return msg->w->ctx->cfg;
}

static const xacct_log_t *lg(const xacct_msg_t *msg)
{
    return &msg->w->ctx->log;
}

static xacct_metrics_t *mx(const xacct_msg_t *msg)
{
    return msg->w->ctx->metrics;
}

/* The request's outcome is final (recorded, or decided at the deadline). */
static void count_request(const xacct_msg_t *msg, const char *outcome)
{
    const xacct_decision_t *d = &msg->decision;
    if (outcome == NULL)
        outcome = d->outcome ? d->outcome : (d->status == XACCT_CFN_SUCCESS ? "success" : "failed");
    xacct_metrics_inc(mx(msg), XACCT_M_REQUESTS, xacct_cfn_type_name(msg->req->type), outcome);
}

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void step(xacct_msg_t *msg);
static void maybe_free(xacct_msg_t *msg);

/* ---- ending ------------------------------------------------------------ */

static void on_timer_closed(uv_handle_t *h)
{
    xacct_msg_t *msg = h->data;
    msg->closing--;
    maybe_free(msg);
}

static void maybe_free(xacct_msg_t *msg)
{
    if (!msg->ended || msg->pending > 0 || msg->closing > 0)
        return;
    if (msg->closing == 0 && !uv_is_closing((uv_handle_t *)&msg->retry)) {
        msg->closing = 2;
        msg->retry.data = msg;
        msg->beat.data = msg;
        uv_close((uv_handle_t *)&msg->retry, on_timer_closed);
        uv_close((uv_handle_t *)&msg->beat, on_timer_closed);
        return;
    }
    xacct_sqs_message_free(msg->m);
    xacct_sns_envelope_free(msg->env);
    xacct_cfn_request_free(msg->req);
    customer_free(msg->customer);
    free(msg->answer);
    free(msg);
}

/* Leaves the worker's set; the memory follows once nothing refers to it. */
static void end(xacct_msg_t *msg)
{
    if (msg->ended)
        return;
    msg->ended = true;
    msg->stage = ST_GONE;
    uv_timer_stop(&msg->retry);
    uv_timer_stop(&msg->beat);
    xacct__worker_remove(msg->w, msg);
    maybe_free(msg);
}

/* Done with the message: delete it from the queue (ack) or leave it to
 * reappear after its visibility timeout. */
static void finish(xacct_msg_t *msg, bool ack)
{
    /* The extension must stop before the delete. */
    uv_timer_stop(&msg->beat);
    if (!ack) {
        end(msg);
        return;
    }
    msg->stage = ST_ACK;
    xacct__poller_delete(msg->p, msg);
}

void xacct__msg_deleted(xacct_msg_t *msg, int status, const char *detail)
{
    if (status != 0)
        XACCT_LOG_WARN(lg(msg), "sqs.delete_failed", "message_id", msg->m->message_id, "error",
                       xacct_errname(status), "detail", detail ? detail : "", "effect",
                       "the message reappears and its stored answer is sent again", NULL);
    else {
        msg->w->stats.processed++;
        xacct_metrics_inc(mx(msg), XACCT_M_MSG_ACKED, msg->p->queue_url, NULL);
    }
    end(msg);
}

/* Every store and AWS callback that refers to a message starts here: one
 * reference fewer, and nothing more to do if the message has ended. */
static bool callback_returned(xacct_msg_t *msg)
{
    msg->pending--;
    if (!msg->ended)
        return false;
    maybe_free(msg);
    return true;
}

/* ---- retries and deadlines -------------------------------------------- */

static void on_retry(uv_timer_t *t)
{
    step(xacct_container_of(t, xacct_msg_t, retry));
}

static void answer_at_deadline(xacct_msg_t *msg, const char *why);

/* A transient failure in the current stage: try again later, or answer now
 * if the deadline is near. */
static void transient(xacct_msg_t *msg, const char *what, int status, const char *detail)
{
    char why[512];
    snprintf(why, sizeof(why), "%s: %s", what, detail && detail[0] ? detail : xacct_strerror(status));
    uint64_t now = uv_now(msg->w->ctx->loop);
    uint64_t delay = xacct_backoff_next(&msg->backoff);
    if (msg->req != NULL && !msg->recorded && now + delay >= msg->deadline) {
        XACCT_LOG_WARN(lg(msg), "request.deadline", "message_id", msg->m->message_id, "account",
                       msg->req->stack_account, "reason", why, NULL);
        answer_at_deadline(msg, why);
        return;
    }
    char ms[24];
    snprintf(ms, sizeof(ms), "%llu", (unsigned long long)delay);
    XACCT_LOG_WARN(lg(msg), "message.retry", "message_id", msg->m->message_id, "reason", why,
                   "retry_ms", ms, NULL);
    uv_timer_start(&msg->retry, on_retry, delay, 0);
}

static void go(xacct_msg_t *msg, stage_t st)
{
    msg->stage = st;
    msg->attempts = 0;
    xacct_backoff_reset(&msg->backoff);
    step(msg);
}

static void to_dead(xacct_msg_t *msg, const char *reason)
{
    snprintf(msg->reason, sizeof(msg->reason), "%s", reason);
    go(msg, ST_DEAD);
}

/* ---- heartbeat -------------------------------------------------------- */

static void on_beat_visibility(int status, const char *detail, const int *results,
                               const char *const *codes, size_t n, void *arg)
{
    (void)codes;
    xacct_msg_t *msg = arg;
    msg->pending--;
    if (!msg->ended && (status != 0 || n < 1 || results[0] != 0))
        XACCT_LOG_WARN(lg(msg), "sqs.extend_failed", "message_id", msg->m->message_id, "detail",
                       detail ? detail : "entry failed", NULL);
    maybe_free(msg);
}

static void on_beat_claim(int status, const char *detail, xacct_claim_result_t st,
                          const char *text, void *arg)
{
    (void)text;
    xacct_msg_t *msg = arg;
    msg->pending--;
    if (!msg->ended && status == 0 && st == XACCT_CLAIMS_BUSY)
        XACCT_LOG_WARN(lg(msg), "claim.lost", "message_id", msg->m->message_id, "detail",
                       "another worker took the request over", NULL);
    (void)detail;
    maybe_free(msg);
}

static void on_beat(uv_timer_t *t)
{
    xacct_msg_t *msg = xacct_container_of(t, xacct_msg_t, beat);
    if (msg->ended || msg->stage == ST_ACK)
        return;
    int vis = cfg(msg)->queue_visibility_timeout;
    if (xacct__poller_visibility(msg->p, msg->m->receipt_handle, vis, on_beat_visibility, msg) == 0)
        msg->pending++;
    if (msg->claimed && !msg->recorded &&
        xacct_claims_claim(msg->w->ctx->store, msg->req->stack_id, msg->req->request_id,
                           msg->owner, (long)vis * 1000, on_beat_claim, msg) == 0)
        msg->pending++;
}

/* ---- verify ------------------------------------------------------------ */

static bool topic_allowed(const xacct_config_t *c, const char *arn)
{
    for (size_t i = 0; i < c->sns_topic_arns.n; i++)
        if (strcmp(c->sns_topic_arns.items[i], arn) == 0)
            return true;
    return false;
}

static void parse_request(xacct_msg_t *msg);

static void after_verify(xacct_msg_t *msg)
{
    if (msg->env->type == XACCT_SNS_SUBSCRIPTION_CONFIRMATION) {
        go(msg, ST_CONFIRM);
        return;
    }
    if (msg->env->type == XACCT_SNS_UNSUBSCRIBE_CONFIRMATION) {
        XACCT_LOG_INFO(lg(msg), "sns.unsubscribed", "topic", msg->env->topic_arn, NULL);
        finish(msg, true);
        return;
    }
    msg->payload = msg->env->message;
    msg->payload_len = msg->env->message_len;
    parse_request(msg);
}

static void on_verified(int status, const char *detail, void *arg)
{
    xacct_msg_t *msg = arg;
    if (callback_returned(msg))
        return;
    if (status == 0)
        after_verify(msg);
    else if (status == XACCT_EAGAIN)
        transient(msg, "signing certificate", status, detail);
    else if (status == XACCT_ECANCELED)
        end(msg);
    else
        to_dead(msg, detail ? detail : "SNS signature does not verify");
}

/* A raw delivery is the request itself: a JSON object with a RequestType and
 * no SNS Type. */
static bool looks_raw(const xacct_sqs_message_t *m)
{
    return strstr(m->body, "\"RequestType\"") != NULL && strstr(m->body, "\"Type\"") == NULL &&
           strstr(m->body, "\"TopicArn\"") == NULL;
}

static void stage_verify(xacct_msg_t *msg)
{
    const xacct_config_t *c = cfg(msg);
    if (msg->env == NULL) {
        if (c->sns_raw_delivery && looks_raw(msg->m)) {
            msg->payload = msg->m->body;
            msg->payload_len = msg->m->body_len;
            parse_request(msg);
            return;
        }
        char err[256];
        if (xacct_sns_envelope_parse(msg->m->body, msg->m->body_len, &msg->env, err,
                                     sizeof(err)) != 0) {
            char why[300];
            snprintf(why, sizeof(why), "not an SNS envelope: %s", err);
            to_dead(msg, why);
            return;
        }
        if (!topic_allowed(c, msg->env->topic_arn)) {
            to_dead(msg, "TopicArn is not in sns.topic_arns");
            return;
        }
    }
    if (!c->sns_verify_signatures) {
        after_verify(msg);
        return;
    }
    int rc = xacct_sns_verify(msg->w->ctx->verifier, msg->env, &c->sns_cert_hosts, on_verified, msg);
    if (rc == XACCT_EAGAIN) {
        msg->pending++;
        return;
    }
    if (rc == 0) {
        after_verify(msg);
        return;
    }
    char why[300];
    snprintf(why, sizeof(why), "SNS signature rejected: %s",
             rc == XACCT_ECERT ? "SigningCertURL not allowed or not a certificate"
                               : "signature does not verify");
    to_dead(msg, why);
}

/* ---- subscription confirmation ---------------------------------------- */

static void on_confirmed(int status, const char *detail, const xacct_http_response_t *resp,
                         const xacct_aws_error_t *err, void *arg)
{
    (void)resp;
    (void)err;
    xacct_msg_t *msg = arg;
    msg->call = NULL;
    if (callback_returned(msg))
        return;
    if (status == 0) {
        XACCT_LOG_INFO(lg(msg), "sns.subscription_confirmed", "topic", msg->env->topic_arn, NULL);
        finish(msg, true);
    } else if (status == XACCT_ECANCELED) {
        end(msg);
    } else if (++msg->attempts < 5) {
        transient(msg, "ConfirmSubscription", status, detail);
    } else {
        to_dead(msg, "SubscribeURL could not be confirmed");
    }
}

static void stage_confirm(xacct_msg_t *msg)
{
    char err[256];
    if (xacct_sns_url_check(msg->env->subscribe_url, &cfg(msg)->sns_cert_hosts, false, err,
                            sizeof(err)) != 0) {
        char why[300];
        snprintf(why, sizeof(why), "SubscribeURL refused: %s", err);
        to_dead(msg, why);
        return;
    }
    xacct_aws_request_t req = {
        .method = "GET",
        .url = msg->env->subscribe_url,
        .unsigned_request = true,
        .service = "sns-subscribe", /* metrics label only */
        .max_body = 64 * 1024,
    };
    if (xacct_aws_call(msg->w->ctx->aws, &req, on_confirmed, msg, &msg->call) == 0)
        msg->pending++;
    else
        to_dead(msg, "SubscribeURL could not be requested");
}

/* ---- the request ------------------------------------------------------- */

static void parse_request(xacct_msg_t *msg)
{
    char err[300];
    if (xacct_cfn_request_parse(msg->payload, msg->payload_len, &cfg(msg)->cfn_response_hosts,
                                &msg->req, err, sizeof(err)) != 0) {
        char why[340];
        snprintf(why, sizeof(why), "unanswerable CloudFormation request: %s", err);
        to_dead(msg, why);
        return;
    }
    /* The deadline: SentTimestamp + ServiceTimeout, less a margin of 10 %
     * (at least 5 s, at most 60 s), so no stack waits for nothing. */
    int64_t timeout_ms = (int64_t)msg->req->service_timeout * 1000;
    int64_t margin = timeout_ms / 10;
    margin = margin < 5000 ? 5000 : margin > 60000 ? 60000 : margin;
    int64_t sent = msg->m->sent_ms > 0 ? msg->m->sent_ms : now_ms();
    int64_t left = sent + timeout_ms - margin - now_ms();
    uint64_t now = uv_now(msg->w->ctx->loop);
    msg->deadline = left > 0 ? now + (uint64_t)left : now;
    XACCT_LOG_DEBUG(lg(msg), "request.received", "message_id", msg->m->message_id, "type",
                    xacct_cfn_type_name(msg->req->type), "account", msg->req->stack_account,
                    "request_id", msg->req->request_id, NULL);
    go(msg, ST_CLAIM);
}

static void on_claim(int status, const char *detail, xacct_claim_result_t st, const char *answer,
                     void *arg)
{
    xacct_msg_t *msg = arg;
    if (callback_returned(msg))
        return;
    if (status != 0) {
        transient(msg, "claim", status, detail);
        return;
    }
    switch (st) {
    case XACCT_CLAIMS_CLAIMED:
        msg->claimed = true;
        go(msg, ST_LOAD);
        return;
    case XACCT_CLAIMS_DONE:
        /* Finished before (a redelivery): send the stored answer again. */
        msg->recorded = true;
        free(msg->answer);
        msg->answer = xacct_strdup(answer ? answer : "");
        count_request(msg, "duplicate");
        XACCT_LOG_INFO(lg(msg), "request.duplicate", "message_id", msg->m->message_id,
                       "request_id", msg->req->request_id, "action", "re-sending the stored answer",
                       NULL);
        if (msg->answer[0] == '\0')
            finish(msg, true);
        else
            go(msg, ST_ANSWER);
        return;
    case XACCT_CLAIMS_BUSY:
        /* Another worker is on it; look again once its lease may have run
         * out, without holding this copy. */
        XACCT_LOG_INFO(lg(msg), "request.busy", "message_id", msg->m->message_id, "request_id",
                       msg->req->request_id, NULL);
        (void)xacct__poller_visibility(msg->p, msg->m->receipt_handle,
                                       cfg(msg)->queue_visibility_timeout, NULL, NULL);
        finish(msg, false);
        return;
    }
}

static void stage_claim(xacct_msg_t *msg)
{
    long lease = (long)cfg(msg)->queue_visibility_timeout * 1000;
    int rc = xacct_claims_claim(msg->w->ctx->store, msg->req->stack_id, msg->req->request_id,
                                msg->owner, lease, on_claim, msg);
    if (rc == 0)
        msg->pending++;
    else
        transient(msg, "claim", rc, "could not be queued");
}

static void start_check(xacct_msg_t *msg);

static customer_t *customer_from(const xacct_header_t *fields, size_t n)
{
    const char *state = xacct_customers_field(fields, n, "state");
    if (state == NULL)
        return NULL;
    customer_t *c = xacct_calloc(1, sizeof(*c));
    const char *v;
    c->state = xacct_strdup(state);
    c->external_id = xacct_strdup((v = xacct_customers_field(fields, n, "external_id")) ? v : "");
    c->stack_id = xacct_strdup((v = xacct_customers_field(fields, n, "stack_id")) ? v : "");
    c->physical_id = xacct_strdup((v = xacct_customers_field(fields, n, "physical_id")) ? v : "");
    c->role_arn = xacct_strdup((v = xacct_customers_field(fields, n, "role_arn")) ? v : "");
    return c;
}

static void on_load(int status, const char *detail, const xacct_header_t *fields, size_t n,
                    void *arg)
{
    xacct_msg_t *msg = arg;
    if (callback_returned(msg))
        return;
    if (status != 0 && status != XACCT_ENOTFOUND) {
        transient(msg, "load customer", status, detail);
        return;
    }
    customer_free(msg->customer);
    msg->customer = status == 0 ? customer_from(fields, n) : NULL;
    customer_t *c = msg->customer;
    xacct_customer_view_t view;
    if (c != NULL)
        view = customer_view(c);
    const xacct_handler_t *h = xacct_handler_for(msg->req->type);
    h->decide(msg->req, c ? &view : NULL, &msg->decision);
    if (msg->decision.action == XACCT_ACT_CHECK)
        go(msg, ST_CHECK);
    else
        go(msg, ST_APPLY);
}

static void stage_load(xacct_msg_t *msg)
{
    if (xacct_customers_get(msg->w->ctx->store, msg->req->stack_account, on_load, msg) == 0)
        msg->pending++;
    else
        transient(msg, "load customer", XACCT_EAGAIN, "could not be queued");
}

/* ---- safety check ------------------------------------------------------ */

static void on_check(xacct_check_result_t result, const char *detail, unsigned attempts, void *arg)
{
    xacct_msg_t *msg = arg;
    msg->pending--;
    msg->check = NULL;
    if (msg->ended || result == XACCT_CHECK_CANCELED) {
        if (!msg->ended)
            end(msg);
        maybe_free(msg);
        return;
    }
    char n[16];
    snprintf(n, sizeof(n), "%u", attempts);
    XACCT_LOG_INFO(lg(msg), "check.done", "account", msg->req->stack_account, "result",
                   xacct_check_result_name(result), "attempts", n, NULL);
    xacct_metrics_inc(mx(msg), XACCT_M_SAFETY_CHECKS, xacct_check_result_name(result), NULL);
    xacct_customer_view_t view = customer_view(msg->customer);
    const xacct_handler_t *h = xacct_handler_for(msg->req->type);
    h->after_check(msg->req, &view, result, detail, &msg->decision);
    go(msg, ST_APPLY);
}

static void start_check(xacct_msg_t *msg)
{
    const xacct_config_t *c = cfg(msg);
    char session[64];
    snprintf(session, sizeof(session), "xacct-check-%s", msg->req->stack_account);
    xacct_check_params_t p = {
        .role_arn = msg->req->role_arn,
        .external_id = msg->customer->external_id,
        .region = msg->req->stack_region,
        .session_name = session,
        .propagation_timeout_ms = (uint64_t)c->check_propagation_timeout * 1000,
        .deadline_ms = msg->deadline,
    };
    if (xacct_check_start(msg->w->ctx->loop, msg->w->ctx->aws, &p, on_check, msg, &msg->check) == 0)
        msg->pending++;
    else
        transient(msg, "safety check", XACCT_EINVAL, "could not start");
}

/* ---- record ------------------------------------------------------------ */

static int build_answer(xacct_msg_t *msg)
{
    free(msg->answer);
    msg->answer = NULL;
    const xacct_decision_t *d = &msg->decision;
    return xacct_cfn_response_build(msg->req, d->status,
                                    d->status == XACCT_CFN_FAILED ? d->reason : NULL,
                                    d->physical_id, NULL, &msg->answer);
}

static void on_finished(int status, const char *detail, int changed, void *arg)
{
    (void)changed;
    xacct_msg_t *msg = arg;
    if (callback_returned(msg))
        return;
    if (status != 0) {
        transient(msg, "finish claim", status, detail);
        return;
    }
    msg->recorded = true;
    count_request(msg, NULL);
    go(msg, ST_ANSWER);
}

/* Keeps the answer on the claim when there is no record to apply it to. */
static void stage_finish(xacct_msg_t *msg)
{
    if (xacct_claims_finish(msg->w->ctx->store, msg->req->stack_id, msg->req->request_id,
                            msg->owner, msg->answer, 0, on_finished, msg) == 0)
        msg->pending++;
    else
        transient(msg, "finish claim", XACCT_EAGAIN, "could not be queued");
}

static void on_apply(int status, const char *detail, xacct_apply_result_t result,
                     const char *prev_state, void *arg)
{
    (void)prev_state;
    xacct_msg_t *msg = arg;
    if (callback_returned(msg))
        return;
    if (status == 0 && result != XACCT_APPLY_DUPLICATE) {
        msg->recorded = true;
        if (msg->decision.status == XACCT_CFN_FAILED)
            msg->w->stats.failed++;
        count_request(msg, NULL);
        go(msg, ST_ANSWER);
    } else if (status == 0 || status == XACCT_ENOTFOUND) {
        /* Recorded before under this RequestId, or no record at all: keep
         * the answer on the claim and send it. */
        if (msg->decision.status == XACCT_CFN_FAILED)
            msg->w->stats.failed++;
        go(msg, ST_FINISH);
    } else if (status == XACCT_ESTATE && ++msg->conflicts < 3) {
        /* The record changed under us (another request for the account):
         * decide again from the fresh record. */
        go(msg, ST_LOAD);
    } else if (status == XACCT_ESTATE) {
        /* Still refused: record the answer as an audit event only. */
        msg->decision.new_state = NULL;
        msg->decision.enqueue_offboard = false;
        if (msg->decision.status == XACCT_CFN_SUCCESS && msg->req->type != XACCT_CFN_DELETE) {
            msg->decision.status = XACCT_CFN_FAILED;
            snprintf(msg->decision.reason, sizeof(msg->decision.reason),
                     "the customer's state does not allow this change (%s)",
                     detail ? detail : "refused");
        }
        go(msg, ST_APPLY);
    } else {
        transient(msg, "record outcome", status, detail);
    }
}

static void stage_apply(xacct_msg_t *msg)
{
    const xacct_decision_t *d = &msg->decision;
    if (build_answer(msg) != 0) {
        to_dead(msg, "response body could not be built");
        return;
    }
    if (msg->customer == NULL) {
        go(msg, ST_FINISH);
        return;
    }
    xacct_event_t ev = {
        .v = XACCT_CODEC_VERSION,
        .ts = now_ms(),
        .type = d->event ? d->event : xacct_cfn_type_name(msg->req->type),
        .request_id = msg->req->request_id,
        .stack_id = msg->req->stack_id,
        .outcome = d->outcome ? d->outcome : (d->status == XACCT_CFN_SUCCESS ? "success" : "failed"),
        .reason = d->reason,
        .actor = msg->w->ctx->worker_id,
    };
    xacct_job_t job = {
        .v = XACCT_CODEC_VERSION,
        .account_id = msg->req->stack_account,
        .role_arn = msg->customer->role_arn,
        .external_id = msg->customer->external_id,
        .stack_id = msg->req->stack_id,
        .region = msg->req->stack_region,
        .request_id = msg->req->request_id,
        .requested_at = now_ms(),
    };
    bool activate = d->new_state != NULL && strcmp(d->new_state, "active") == 0;
    bool offboard = d->new_state != NULL && strcmp(d->new_state, "offboarding") == 0;
    xacct_customer_apply_t in = {
        .account_id = msg->req->stack_account,
        .request_type = xacct_cfn_type_name(msg->req->type),
        .request_id = msg->req->request_id,
        .to_state = d->new_state,
        .role_arn = activate ? msg->req->role_arn : NULL,
        .stack_id = activate ? msg->req->stack_id : NULL,
        .region = activate ? msg->req->stack_region : NULL,
        .physical_id = activate ? d->physical_id : NULL,
        .last_error = d->status == XACCT_CFN_FAILED ? d->reason : "",
        .expect_physical_id = offboard ? msg->req->physical_id : NULL,
        .event = &ev,
        .job = offboard ? &job : NULL,
        .claim_owner = msg->owner,
        .claim_stack_id = msg->req->stack_id,
        .answer = msg->answer,
        .reverify_due_ms = activate ? xacct_reverify_next_due(
                                          now_ms(), cfg(msg)->check_reverify_interval, 0.1)
                                    : 0,
    };
    int rc = xacct_customers_apply(msg->w->ctx->store, &in, on_apply, msg);
    if (rc == 0)
        msg->pending++;
    else
        transient(msg, "record outcome", rc, "could not be queued");
}

/* The deadline is near and the outcome could not be recorded: answer
 * without waiting any longer. */
static void answer_at_deadline(xacct_msg_t *msg, const char *why)
{
    if (msg->check != NULL) {
        xacct_check_t *c = msg->check;
        msg->check = NULL;
        xacct_check_cancel(c);
    }
    xacct_handler_deadline(msg->req, why, &msg->decision);
    msg->recorded = true; /* nothing more will be recorded */
    if (build_answer(msg) != 0) {
        to_dead(msg, "response body could not be built");
        return;
    }
    if (msg->decision.status == XACCT_CFN_FAILED)
        msg->w->stats.failed++;
    count_request(msg, NULL);
    go(msg, ST_ANSWER);
}

/* ---- answer -------------------------------------------------------------- */

static bool wants_cleanup(const xacct_msg_t *msg);

/* SUCCESS or FAILED: a stored answer (a redelivery) says which itself. */
static const char *answer_status(const xacct_msg_t *msg)
{
    if (msg->answer != NULL && strstr(msg->answer, "\"Status\":\"FAILED\"") != NULL)
        return "FAILED";
    if (msg->answer != NULL && strstr(msg->answer, "\"Status\":\"SUCCESS\"") != NULL)
        return "SUCCESS";
    return msg->decision.status == XACCT_CFN_SUCCESS ? "SUCCESS" : "FAILED";
}

static void on_answered(int status, const char *detail, long http_status, void *arg)
{
    xacct_msg_t *msg = arg;
    msg->call = NULL;
    if (callback_returned(msg))
        return;
    char code[16];
    snprintf(code, sizeof(code), "%ld", http_status);
    if (status == 0 || status == XACCT_EFORBIDDEN) {
        const char *st = answer_status(msg);
        xacct_metrics_inc(mx(msg), XACCT_M_CFN_ANSWERS, st, status == 0 ? "delivered" : "refused");
        if (status == 0)
            XACCT_LOG_INFO(lg(msg), "request.answered", "message_id", msg->m->message_id, "type",
                           xacct_cfn_type_name(msg->req->type), "account", msg->req->stack_account,
                           "request_id", msg->req->request_id, "status", st, "response_host",
                           msg->req->response_host, NULL);
        else
            XACCT_LOG_ERROR(lg(msg), "request.answer_refused", "message_id", msg->m->message_id,
                            "account", msg->req->stack_account, "http_status", code, "detail",
                            "the presigned ResponseURL refused the answer (expired?)", NULL);
        if (status == 0 && wants_cleanup(msg))
            go(msg, ST_CLEANUP);
        else
            finish(msg, true);
        return;
    }
    if (status == XACCT_ECANCELED) {
        end(msg);
        return;
    }
    if (++msg->attempts >= 8 || uv_now(msg->w->ctx->loop) >= msg->deadline + 60000) {
        /* The outcome is recorded with its answer; a redelivery sends it. */
        xacct_metrics_inc(mx(msg), XACCT_M_CFN_ANSWERS, answer_status(msg), "postponed");
        XACCT_LOG_WARN(lg(msg), "request.answer_postponed", "message_id", msg->m->message_id,
                       "http_status", code, "detail", detail ? detail : "", NULL);
        finish(msg, false);
        return;
    }
    char ms[24];
    uint64_t delay = xacct_backoff_next(&msg->backoff);
    snprintf(ms, sizeof(ms), "%llu", (unsigned long long)delay);
    XACCT_LOG_WARN(lg(msg), "request.answer_retry", "message_id", msg->m->message_id,
                   "http_status", code, "detail", detail ? detail : "", "retry_ms", ms, NULL);
    uv_timer_start(&msg->retry, on_retry, delay, 0);
}

/* ---- template cleanup ---------------------------------------------------- */

/* After a successful Create the customer's template has served its purpose:
 * it is removed from the template bucket (when one is configured). */
static bool wants_cleanup(const xacct_msg_t *msg)
{
    const char *bucket = cfg(msg)->cfn_template_bucket;
    return bucket != NULL && bucket[0] != '\0' && msg->req->type == XACCT_CFN_CREATE &&
           msg->customer != NULL && msg->decision.status == XACCT_CFN_SUCCESS &&
           msg->decision.new_state != NULL;
}

static void on_cleaned(int status, const char *detail, void *arg)
{
    xacct_msg_t *msg = arg;
    if (callback_returned(msg))
        return;
    if (status != 0)
        XACCT_LOG_WARN(lg(msg), "template.delete_failed", "account", msg->req->stack_account,
                       "error", xacct_errname(status), "detail", detail ? detail : "", NULL);
    else
        XACCT_LOG_INFO(lg(msg), "template.deleted", "account", msg->req->stack_account, NULL);
    finish(msg, true);
}

static void stage_cleanup(xacct_msg_t *msg)
{
    char key[XACCT_TEMPLATE_KEY_MAX];
    xacct_s3_object_t o = {.bucket = cfg(msg)->cfn_template_bucket, .key = key};
    if (xacct_template_s3_key(msg->req->stack_account, msg->customer->external_id, key,
                              sizeof(key)) == 0 &&
        xacct_s3_delete(msg->w->ctx->aws, &o, on_cleaned, msg) == 0) {
        msg->pending++;
        return;
    }
    finish(msg, true); /* best effort: the answer is what matters */
}

static void stage_answer(xacct_msg_t *msg)
{
    int rc = xacct_cfn_answer_send(msg->w->ctx->aws, msg->req->response_url, msg->answer,
                                   on_answered, msg, &msg->call);
    if (rc == 0)
        msg->pending++;
    else
        to_dead(msg, "answer could not be sent");
}

/* ---- dead set ------------------------------------------------------------ */

static void on_dead(int status, const char *detail, const char *id, void *arg)
{
    (void)id;
    xacct_msg_t *msg = arg;
    if (callback_returned(msg))
        return;
    if (status != 0) {
        if (++msg->attempts < 10) {
            char ms[24];
            uint64_t delay = xacct_backoff_next(&msg->backoff);
            snprintf(ms, sizeof(ms), "%llu", (unsigned long long)delay);
            XACCT_LOG_WARN(lg(msg), "dead.retry", "message_id", msg->m->message_id, "detail",
                           detail ? detail : "", "retry_ms", ms, NULL);
            uv_timer_start(&msg->retry, on_retry, delay, 0);
        } else {
            finish(msg, false); /* kept in SQS: nothing is lost */
        }
        return;
    }
    msg->w->stats.dead++;
    xacct_metrics_inc(mx(msg), XACCT_M_MSG_DEAD, msg->p->queue_url, NULL);
    char n[16];
    snprintf(n, sizeof(n), "%d", msg->m->receive_count);
    XACCT_LOG_WARN(lg(msg), "message.dead", "queue", msg->p->queue_url, "message_id",
                   msg->m->message_id, "receive_count", n, "reason", msg->reason, NULL);
    finish(msg, true);
}

static void stage_dead(xacct_msg_t *msg)
{
    xacct_dead_t d = {
        .body = msg->m->body,
        .reason = msg->reason,
        .receives = msg->m->receive_count,
        .queue = msg->p->queue_url,
        .message_id = msg->m->message_id,
    };
    if (xacct_dead_add(msg->w->ctx->store, &d, on_dead, msg) == 0)
        msg->pending++;
    else
        finish(msg, false);
}

/* ---- driver ------------------------------------------------------------- */

static void step(xacct_msg_t *msg)
{
    if (msg->ended || msg->releasing)
        return;
    switch (msg->stage) {
    case ST_VERIFY:
        stage_verify(msg);
        break;
    case ST_CONFIRM:
        stage_confirm(msg);
        break;
    case ST_CLAIM:
        stage_claim(msg);
        break;
    case ST_LOAD:
        stage_load(msg);
        break;
    case ST_CHECK:
        start_check(msg);
        break;
    case ST_APPLY:
        stage_apply(msg);
        break;
    case ST_FINISH:
        stage_finish(msg);
        break;
    case ST_ANSWER:
        stage_answer(msg);
        break;
    case ST_CLEANUP:
        stage_cleanup(msg);
        break;
    case ST_DEAD:
        stage_dead(msg);
        break;
    case ST_ACK:
    case ST_GONE:
        break;
    }
}

void xacct__msg_start(xacct_worker_t *w, xacct_poller_t *p, xacct_sqs_message_t *m)
{
    xacct_msg_t *msg = xacct_calloc(1, sizeof(*msg));
    msg->w = w;
    msg->p = p;
    msg->m = m;
    uv_timer_init(w->ctx->loop, &msg->retry);
    uv_timer_init(w->ctx->loop, &msg->beat);
    xacct_backoff_init(&msg->backoff, 250, 10000, NULL, NULL);
    msg->deadline = uv_now(w->ctx->loop) + 3600 * 1000;
    snprintf(msg->owner, sizeof(msg->owner), "%s/%s/%d", w->ctx->worker_id, m->message_id,
             m->receive_count);
    xacct__worker_add(w, msg);
    uint64_t half = (uint64_t)w->ctx->cfg->queue_visibility_timeout * 500;
    uv_timer_start(&msg->beat, on_beat, half, half);
    if (m->receive_count > w->ctx->cfg->queue_max_receives) {
        char why[96];
        snprintf(why, sizeof(why), "received %d times (queue.max_receives is %d)",
                 m->receive_count, w->ctx->cfg->queue_max_receives);
        to_dead(msg, why);
        return;
    }
    go(msg, ST_VERIFY);
}

/* ---- shutdown ------------------------------------------------------------ */

static void cancel_work(xacct_msg_t *msg)
{
    uv_timer_stop(&msg->retry);
    uv_timer_stop(&msg->beat);
    if (msg->check != NULL) {
        xacct_check_t *c = msg->check;
        msg->check = NULL;
        xacct_check_cancel(c);
    }
    if (msg->call != NULL) {
        xacct_aws_call_t *call = msg->call;
        msg->call = NULL;
        xacct_aws_cancel(call);
    }
}

static void release_step_done(xacct_msg_t *msg)
{
    msg->pending--;
    if (msg->pending == 0 || msg->ended) {
        /* Both the claim release and the visibility reset have answered. */
    }
    if (--msg->w->releases == 0)
        xacct__worker_release_done(msg->w);
    maybe_free(msg);
}

static void on_release_claim(int status, const char *detail, int changed, void *arg)
{
    (void)changed;
    (void)status;
    (void)detail;
    release_step_done(arg);
}

static void on_release_visibility(int status, const char *detail, const int *results,
                                  const char *const *codes, size_t n, void *arg)
{
    (void)status;
    (void)detail;
    (void)results;
    (void)codes;
    (void)n;
    release_step_done(arg);
}

void xacct__msg_release(xacct_msg_t *msg)
{
    if (msg->ended || msg->releasing || msg->stage == ST_ACK)
        return;
    msg->releasing = true;
    cancel_work(msg);
    XACCT_LOG_INFO(lg(msg), "message.released", "message_id", msg->m->message_id, NULL);
    msg->w->stats.released++;
    xacct_metrics_inc(mx(msg), XACCT_M_MSG_RELEASED, msg->p->queue_url, NULL);
    if (msg->claimed && !msg->recorded &&
        xacct_claims_release(msg->w->ctx->store, msg->req->stack_id, msg->req->request_id,
                             msg->owner, on_release_claim, msg) == 0) {
        msg->pending++;
        msg->w->releases++;
    }
    if (xacct__poller_visibility(msg->p, msg->m->receipt_handle, 0, on_release_visibility, msg) == 0) {
        msg->pending++;
        msg->w->releases++;
    }
    end(msg);
}

void xacct__msg_abort(xacct_msg_t *msg)
{
    cancel_work(msg);
    end(msg);
}
