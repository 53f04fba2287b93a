/* SPDX-License-Identifier: MIT */
/*
 * The stage machine of one SQS message (SPEC §4):
 *
 *   unwrap and verify the SNS envelope → parse the CloudFormation request →
 *   claim it → load the customer → the handler decides → safety check (if
 *   asked) → the handler decides again → record the outcome atomically →
 *   answer CloudFormation → (clean up the template) → done: ack.
 *
 * Transient failures (Redis away, AWS 5xx, throttling, timeouts) retry the
 * current stage with jittered backoff; once the request's deadline (the
 * handlers' rule) is near, the handlers' deadline decision is answered
 * without waiting any longer. Messages that cannot be answered at all go to
 * the dead set. Every decision comes from the handlers; this file only
 * carries them out through the seams in pl->ops, and ends each message once
 * through its completion callback (ack, dead, leave or release).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline_int.h"
#include "xacct/codec.h"
#include "xacct/reverify.h"
#include "xacct/template.h"

static void step(xacct_pipeline_msg_t *msg);

#define OPS(msg) ((msg)->pl->ops)
#define ARG(msg) ((msg)->pl->ops_arg)

static int64_t wall_ms(const xacct_pipeline_msg_t *msg)
{
    return OPS(msg)->wall_ms(ARG(msg));
}

/* ---- moving on ----------------------------------------------------------- */

static void on_retry(uv_timer_t *t)
{
    step(xacct_container_of(t, xacct_pipeline_msg_t, retry));
}

static void go(xacct_pipeline_msg_t *msg, xacct__pipeline_stage_t st)
{
    msg->stage = st;
    msg->attempts = 0;
    xacct_backoff_reset(&msg->backoff);
    step(msg);
}

/* To the dead set; a message given up on says so first. */
static void to_dead(xacct_pipeline_msg_t *msg, const char *reason)
{
    free(msg->reason);
    if (msg->gave_up[0] != '\0' && strcmp(reason, msg->gave_up) != 0)
        msg->reason = xacct_asprintf("%s; %s", msg->gave_up, reason);
    else
        msg->reason = xacct_strdup(reason);
    go(msg, ST_DEAD);
}

/* Done with the message: delete it (ack) or leave it to reappear after its
 * visibility timeout. */
static void finish(xacct_pipeline_msg_t *msg, bool ack)
{
    xacct__pipeline_msg_end(msg, ack ? XACCT_PIPELINE_ACK : XACCT_PIPELINE_LEAVE);
}

static void retry_later(xacct_pipeline_msg_t *msg, const char *event, const char *detail,
                        const char *key, const char *value)
{
    char ms[24];
    uint64_t delay = xacct_backoff_next(&msg->backoff);
    snprintf(ms, sizeof(ms), "%llu", (unsigned long long)delay);
    XACCT_LOG_WARN(xacct__pl_log(msg), event, "message_id", msg->m->message_id, key, value,
                   "detail", detail ? detail : "", "retry_ms", ms, NULL);
    uv_timer_start(&msg->retry, on_retry, delay, 0);
}

/* The deadline is near and the outcome could not be recorded: answer the
 * handlers' deadline decision without waiting any longer. */
static void answer_at_deadline(xacct_pipeline_msg_t *msg, const char *why)
{
    if (msg->check != NULL) {
        xacct_check_t *c = msg->check;
        msg->check = NULL;
        OPS(msg)->check_cancel(ARG(msg), c);
    }
    xacct_handler_deadline(msg->req, why, xacct__pipeline_msg_decision(msg));
    msg->recorded = true; /* nothing more will be recorded */
    /* A Delete is answered SUCCESS all the same (a stack never hangs in
     * DELETE), but the offboarding it may carry is still owed: the message
     * is not deleted once answered (on_answered). */
    msg->unrecorded_delete = msg->req->type == XACCT_CFN_DELETE;
    if (xacct__pipeline_msg_build_answer(msg) != 0) {
        to_dead(msg, "response body could not be built");
        return;
    }
    msg->failed = msg->failed || msg->decision->status == XACCT_CFN_FAILED;
    xacct__pipeline_msg_count(msg, NULL);
    go(msg, ST_ANSWER);
}

/* A transient failure in the current stage: try again later, or answer now
 * if the deadline is near. */
static void transient(xacct_pipeline_msg_t *msg, const char *what, int status, const char *detail)
{
    char why[512];
    snprintf(why, sizeof(why), "%s: %s", what, detail && detail[0] ? detail : xacct_strerror(status));
    if (msg->gave_up[0] != '\0') {
        to_dead(msg, why); /* no more waiting for a message given up on */
        return;
    }
    uint64_t now = xacct__pl_now(msg);
    uint64_t delay = xacct_backoff_next(&msg->backoff);
    if (msg->req != NULL && !msg->recorded && now + delay >= msg->deadline) {
        XACCT_LOG_WARN(xacct__pl_log(msg), "request.deadline", "message_id", msg->m->message_id,
                       "account", msg->req->stack_account, "reason", why, NULL);
        answer_at_deadline(msg, why);
        return;
    }
    char ms[24];
    snprintf(ms, sizeof(ms), "%llu", (unsigned long long)delay);
    XACCT_LOG_WARN(xacct__pl_log(msg), "message.retry", "message_id", msg->m->message_id,
                   "reason", why, "retry_ms", ms, NULL);
    uv_timer_start(&msg->retry, on_retry, delay, 0);
}

/* Attempts at a call to SNS (the signing certificate's fetch, a
 * ConfirmSubscription) within one delivery before the message is left to
 * SQS: it comes back after its visibility timeout, each delivery another
 * round, and one past queue.max_receives that still fails goes to the dead
 * set. Retrying within the delivery for ever would hold the message's place
 * in flight (its visibility extended all the while) and keep it from ever
 * counting a receive. */
#define SNS_ATTEMPTS 5

/* ---- verify ------------------------------------------------------------- */

/* SNS failed SNS_ATTEMPTS times in a row: the message is left to SQS. */
static void defer(xacct_pipeline_msg_t *msg, const char *event, const char *reason)
{
    char n[16];
    snprintf(n, sizeof(n), "%u", msg->attempts);
    XACCT_LOG_WARN(xacct__pl_log(msg), event, "message_id", msg->m->message_id, "topic",
                   msg->env->topic_arn, "attempts", n, "reason", reason, NULL);
    finish(msg, false);
}

static bool topic_allowed(const xacct_config_t *c, const char *arn)
{
    for (size_t i = 0; i < c->sns_topic_arns.n; i++)
        if (strcmp(c->sns_topic_arns.items[i], arn) == 0)
            return true;
    return false;
}

static void parse_request(xacct_pipeline_msg_t *msg);

static void after_verify(xacct_pipeline_msg_t *msg)
{
    if (msg->env->type == XACCT_SNS_SUBSCRIPTION_CONFIRMATION) {
        go(msg, ST_CONFIRM);
        return;
    }
    if (msg->env->type == XACCT_SNS_UNSUBSCRIBE_CONFIRMATION) {
        XACCT_LOG_INFO(xacct__pl_log(msg), "sns.unsubscribed", "topic", msg->env->topic_arn, NULL);
        finish(msg, true);
        return;
    }
    msg->payload = msg->env->message;
    msg->payload_len = msg->env->message_len;
    parse_request(msg);
}

static void on_verified(int status, const char *detail, void *arg)
{
    xacct_pipeline_msg_t *msg = arg;
    if (xacct__pipeline_msg_returned(msg))
        return;
    if (status == 0)
        after_verify(msg);
    else if (status == XACCT_EAGAIN && (++msg->attempts < SNS_ATTEMPTS || msg->gave_up[0] != '\0'))
        transient(msg, "signing certificate", status, detail); /* dead when given up on */
    else if (status == XACCT_EAGAIN)
        defer(msg, "sns.verification_deferred", detail ? detail : xacct_strerror(status));
    else if (status == XACCT_ECANCELED)
        finish(msg, false);
    else
        to_dead(msg, detail ? detail : "SNS signature does not verify");
}

static void stage_verify(xacct_pipeline_msg_t *msg)
{
    const xacct_config_t *c = xacct__pl_cfg(msg);
    const xacct_sqs_message_t *m = msg->m;
    if (msg->env == NULL) {
        if (c->sns_raw_delivery && xacct__pipeline_looks_raw(m->body, m->body_len)) {
            msg->payload = m->body;
            msg->payload_len = m->body_len;
            parse_request(msg);
            return;
        }
        char err[256];
        if (xacct_sns_envelope_parse(m->body, m->body_len, &msg->env, err, sizeof(err)) != 0) {
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
    int rc = OPS(msg)->verify(ARG(msg), msg->env, on_verified, msg);
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

/* ---- subscription confirmation ------------------------------------------ */

/*
 * SNS refusing the token (expired after its three days, or not SNS's) will
 * refuse it again: the dead set at once. A failure that may pass (5xx,
 * throttling, no answer) is retried here with backoff; after SNS_ATTEMPTS
 * the message is left to SQS (see SNS_ATTEMPTS).
 */
static void on_confirmed(int status, const char *detail, const xacct_http_response_t *resp,
                         const xacct_aws_error_t *err, void *arg)
{
    xacct_pipeline_msg_t *msg = arg;
    msg->call = NULL;
    if (xacct__pipeline_msg_returned(msg))
        return;
    if (status == 0) {
        XACCT_LOG_INFO(xacct__pl_log(msg), "sns.subscription_confirmed", "topic",
                       msg->env->topic_arn, NULL);
        finish(msg, true);
    } else if (status == XACCT_ECANCELED) {
        finish(msg, false);
    } else if (resp != NULL && xacct_aws_error_is_refusal(resp->status, err)) {
        char why[512];
        snprintf(why, sizeof(why), "SubscribeURL refused the confirmation: %s",
                 detail && detail[0] ? detail : xacct_strerror(status));
        to_dead(msg, why);
    } else if (++msg->attempts < SNS_ATTEMPTS || msg->gave_up[0] != '\0') {
        transient(msg, "ConfirmSubscription", status, detail); /* dead when given up on */
    } else {
        defer(msg, "sns.confirmation_deferred",
              detail && detail[0] ? detail : xacct_strerror(status));
    }
}

static void stage_confirm(xacct_pipeline_msg_t *msg)
{
    char err[256];
    if (xacct_sns_url_check(msg->env->subscribe_url, &xacct__pl_cfg(msg)->sns_cert_hosts, false,
                            err, sizeof(err)) != 0) {
        char why[300];
        snprintf(why, sizeof(why), "SubscribeURL refused: %s", err);
        to_dead(msg, why);
        return;
    }
    if (OPS(msg)->confirm(ARG(msg), msg->env->subscribe_url, on_confirmed, msg, &msg->call) == 0)
        msg->pending++;
    else
        to_dead(msg, "SubscribeURL could not be requested");
}

/* ---- the request and its claim ------------------------------------------- */

static void parse_request(xacct_pipeline_msg_t *msg)
{
    char err[300];
    if (xacct_cfn_request_parse(msg->payload, msg->payload_len,
                                &xacct__pl_cfg(msg)->cfn_response_hosts, &msg->req, err,
                                sizeof(err)) != 0) {
        char why[340];
        snprintf(why, sizeof(why), "unanswerable CloudFormation request: %s", err);
        to_dead(msg, why);
        return;
    }
    /* The request is copied out: the envelope (a second copy of the request
     * and the signature) is not needed for the rest of the message's life,
     * which can be long with a safety check retrying. */
    xacct_sns_envelope_free(msg->env);
    msg->env = NULL;
    msg->payload = NULL;
    msg->payload_len = 0;
    int64_t wall = wall_ms(msg);
    int64_t left = xacct_handler_deadline_ms(msg->req, msg->m->sent_ms, wall) - wall;
    uint64_t now = xacct__pl_now(msg);
    msg->deadline = left > 0 ? now + (uint64_t)left : now;
    XACCT_LOG_DEBUG(xacct__pl_log(msg), "request.received", "message_id", msg->m->message_id,
                    "type", xacct_cfn_type_name(msg->req->type), "account",
                    msg->req->stack_account, "request_id", msg->req->request_id, NULL);
    go(msg, ST_CLAIM);
}

/* A preload that cannot serve this claim attempt any more. */
static void preload_drop(xacct_pipeline_msg_t *msg)
{
    if (msg->preload == PRELOAD_READY) {
        xacct_customer_free(msg->preload_customer);
        msg->preload_customer = NULL;
        msg->preload = PRELOAD_NONE;
    } else if (msg->preload == PRELOAD_WAITING) {
        msg->preload_stale = true;
    }
}

static void on_claim(int status, const char *detail, xacct_claims_result_t st, const char *answer,
                     void *arg)
{
    xacct_pipeline_msg_t *msg = arg;
    msg->claim_out = false;
    if (xacct__pipeline_msg_returned(msg))
        return;
    if (status != 0 || st != XACCT_CLAIMS_CLAIMED || msg->gave_up[0] != '\0')
        preload_drop(msg);
    if (status != 0) {
        transient(msg, "claim", status, detail);
        return;
    }
    /* Past queue.max_receives a finished request still re-sends its stored
     * answer (the earlier deliveries may all have failed to) before the
     * message goes to the dead set, and one a live worker holds is left to
     * that worker, whose answer may need this message's redelivery. */
    switch (st) {
    case XACCT_CLAIMS_CLAIMED:
        msg->claimed = true;
        go(msg, msg->gave_up[0] != '\0' ? ST_GIVE_UP : ST_LOAD);
        return;
    case XACCT_CLAIMS_DONE:
        /* Finished before (a redelivery): send the stored answer again. */
        msg->recorded = true;
        xacct__pipeline_msg_stored_answer(msg, answer);
        /* A worker may have died between that answer and the template's
         * deletion, or the deletion failed: no template outlives the Create
         * or Update that connected with it. */
        msg->stored_connect = (msg->req->type == XACCT_CFN_CREATE ||
                               msg->req->type == XACCT_CFN_UPDATE) &&
                              !msg->answer_failed;
        xacct__pipeline_msg_count(msg, "duplicate");
        XACCT_LOG_INFO(xacct__pl_log(msg), "request.duplicate", "message_id",
                       msg->m->message_id, "request_id", msg->req->request_id, "action",
                       "re-sending the stored answer", NULL);
        if (msg->answer[0] == '\0' && msg->gave_up[0] != '\0')
            to_dead(msg, "the request was answered before");
        else if (msg->answer[0] == '\0')
            finish(msg, true);
        else
            go(msg, ST_ANSWER);
        return;
    case XACCT_CLAIMS_BUSY:
        /* Another worker is on it; look again once its lease may have run
         * out, without holding this copy. */
        XACCT_LOG_INFO(xacct__pl_log(msg), "request.busy", "message_id", msg->m->message_id,
                       "request_id", msg->req->request_id, NULL);
        (void)OPS(msg)->visibility(ARG(msg), msg->queue, msg->m->receipt_handle,
                                   xacct__pl_cfg(msg)->queue_visibility_timeout, NULL, NULL);
        finish(msg, false);
        return;
    }
}

static void on_preload(int status, const char *detail, const xacct_customer_t *customer,
                       void *arg);

static void stage_claim(xacct_pipeline_msg_t *msg)
{
    msg->claim_out = true;
    int rc = OPS(msg)->claim(ARG(msg), msg->req->stack_id, msg->req->request_id, msg->owner,
                             xacct__pl_claim_lease_ms(msg), on_claim, msg);
    if (rc != 0) {
        msg->claim_out = false;
        transient(msg, "claim", rc, "could not be queued");
        return;
    }
    msg->pending++;
    msg->claim_sent = true;
    /* The customer is read right behind the claim, while the claim is still
     * unanswered (a store that answers at once needs no company). */
    if (msg->claim_out && msg->gave_up[0] == '\0' && msg->preload == PRELOAD_NONE &&
        OPS(msg)->customer_get(ARG(msg), msg->req->stack_account, on_preload, msg) == 0) {
        msg->pending++;
        msg->preload = PRELOAD_WAITING;
        msg->preload_stale = false;
        msg->preload_awaited = false;
    }
}

/* ---- the customer and the decision --------------------------------------- */

/* The customer is known (customer owned, NULL when there is none): the
 * handler decides. */
static void loaded(xacct_pipeline_msg_t *msg, xacct_customer_t *customer)
{
    xacct_customer_free(msg->customer);
    msg->customer = customer;
    xacct_decision_t *d = xacct__pipeline_msg_decision(msg);
    xacct_handler_for(msg->req->type)->decide(msg->req, msg->customer, d);
    if (d->action == XACCT_ACT_CHECK) {
        /* after_check writes a decision of its own: nothing of this one
         * is kept while the check runs but the ID it proves. */
        msg->check_rotating = d->rotate_external_id;
        msg->check_recorded = d->probe_recorded_role;
        free(msg->decision);
        msg->decision = NULL;
        go(msg, ST_CHECK);
        return;
    }
    go(msg, ST_APPLY);
}

static void on_load(int status, const char *detail, const xacct_customer_t *customer, void *arg)
{
    xacct_pipeline_msg_t *msg = arg;
    if (xacct__pipeline_msg_returned(msg))
        return;
    if (status != 0 && status != XACCT_ENOTFOUND) {
        transient(msg, "load customer", status, detail);
        return;
    }
    loaded(msg, status == 0 ? xacct_customer_dup(customer) : NULL);
}

static void stage_load(xacct_pipeline_msg_t *msg)
{
    if (msg->preload == PRELOAD_WAITING && !msg->preload_stale) {
        msg->preload_awaited = true; /* on_preload carries on */
        return;
    }
    if (msg->preload == PRELOAD_READY) {
        xacct_customer_t *c = msg->preload_customer;
        msg->preload_customer = NULL;
        msg->preload = PRELOAD_NONE;
        loaded(msg, c);
        return;
    }
    if (OPS(msg)->customer_get(ARG(msg), msg->req->stack_account, on_load, msg) == 0)
        msg->pending++;
    else
        transient(msg, "load customer", XACCT_EAGAIN, "could not be queued");
}

static void on_preload(int status, const char *detail, const xacct_customer_t *customer,
                       void *arg)
{
    xacct_pipeline_msg_t *msg = arg;
    bool stale = msg->preload_stale, awaited = msg->preload_awaited;
    msg->preload = PRELOAD_NONE;
    msg->preload_stale = msg->preload_awaited = false;
    if (xacct__pipeline_msg_returned(msg))
        return;
    bool usable = !stale && (status == 0 || status == XACCT_ENOTFOUND);
    if (awaited) {
        /* ST_LOAD is waiting: this is its read, or it reads again. */
        if (usable)
            loaded(msg, status == 0 ? xacct_customer_dup(customer) : NULL);
        else if (!stale)
            transient(msg, "load customer", status, detail);
        else
            stage_load(msg);
        return;
    }
    if (usable) {
        msg->preload_customer = status == 0 ? xacct_customer_dup(customer) : NULL;
        msg->preload = PRELOAD_READY;
    }
}

/* The recorded role of a connected customer that another stack's Create
 * would replace has been checked: one that can no longer be assumed with the ID
 * (its stack rolled back or deleted) lets the new role be checked next; one
 * that still opens keeps the customer on its stack and refuses the Create.
 * False: the check did not run (transient), handled as the new role's would
 * be. */
static bool recorded_role_checked(xacct_pipeline_msg_t *msg, xacct_check_result_t result)
{
    msg->checking_recorded = false;
    if (result == XACCT_CHECK_NOT_ASSUMABLE) {
        XACCT_LOG_INFO(xacct__pl_log(msg), "check.recorded_role_gone", "account",
                       msg->req->stack_account, "stack", msg->customer->stack_id, NULL);
        msg->check_recorded = false;
        go(msg, ST_CHECK);
        return true;
    }
    if (result == XACCT_CHECK_SECURE || result == XACCT_CHECK_INSECURE) {
        xacct_handler_recorded_role_alive(msg->req, msg->customer,
                                          xacct__pipeline_msg_decision(msg));
        go(msg, ST_APPLY);
        return true;
    }
    return false;
}

static void on_check(xacct_check_result_t result, const char *detail, unsigned attempts, void *arg)
{
    xacct_pipeline_msg_t *msg = arg;
    msg->check = NULL;
    if (xacct__pipeline_msg_returned(msg) || result == XACCT_CHECK_CANCELED)
        return; /* whoever cancelled it carries on */
    char n[16];
    snprintf(n, sizeof(n), "%u", attempts);
    XACCT_LOG_INFO(xacct__pl_log(msg), "check.done", "account", msg->req->stack_account, "result",
                   xacct_check_result_name(result), "attempts", n, NULL);
    if (msg->checking_recorded && recorded_role_checked(msg, result))
        return;
    xacct_metrics_inc(xacct__pl_metrics(msg), XACCT_M_SAFETY_CHECKS,
                      xacct_check_result_name(result), NULL);
    xacct_handler_for(msg->req->type)
        ->after_check(msg->req, msg->customer, result, detail,
                       xacct__pipeline_msg_decision(msg));
    go(msg, ST_APPLY);
}

static void stage_check(xacct_pipeline_msg_t *msg)
{
    const xacct_config_t *c = xacct__pl_cfg(msg);
    char session[64];
    snprintf(session, sizeof(session), "xacct-check-%s", msg->req->stack_account);
    xacct_check_params_t p = {
        .role_arn = msg->req->role_arn,
        /* An Update proving a rotation's new ID is checked with that ID. */
        .external_id = msg->check_rotating ? msg->customer->pending_external_id
                                           : msg->customer->external_id,
        .region = msg->req->stack_region,
        .session_name = session,
        .propagation_timeout_ms = (uint64_t)c->check_propagation_timeout * 1000,
        .deadline_ms = msg->deadline,
    };
    /* The recorded role passed once: an AccessDenied now is no propagation
     * delay to wait out. */
    msg->checking_recorded = msg->check_recorded;
    if (msg->checking_recorded) {
        p.role_arn = msg->customer->role_arn;
        p.propagation_timeout_ms = 0;
    }
    if (OPS(msg)->check(ARG(msg), &p, on_check, msg, &msg->check) == 0)
        msg->pending++;
    else
        transient(msg, "safety check", XACCT_EINVAL, "could not start");
}

/* ---- record ------------------------------------------------------------- */

/* This attempt's lease ran out and another worker took the request over (or
 * has finished it since): that one records and answers; this copy records
 * nothing, answers nothing and leaves the message to its holder. */
static void step_aside(xacct_pipeline_msg_t *msg)
{
    XACCT_LOG_WARN(xacct__pl_log(msg), "claim.lost", "message_id", msg->m->message_id,
                   "detail", "another worker took the request over; nothing recorded here",
                   NULL);
    finish(msg, false);
}

static void on_finished(int status, const char *detail, int changed, void *arg)
{
    xacct_pipeline_msg_t *msg = arg;
    if (xacct__pipeline_msg_returned(msg))
        return;
    if (status == XACCT_EEXISTS) {
        step_aside(msg);
        return;
    }
    if (status != 0) {
        transient(msg, "finish claim", status, detail);
        return;
    }
    (void)changed; /* 0: this attempt recorded it before; its answer goes out */
    msg->recorded = true;
    /* An answer kept only on the claim (no customer record) counts like
     * any other: a FAILED one is a failed request for the heartbeat. */
    msg->failed = msg->failed || msg->answer_failed;
    xacct__pipeline_msg_count(msg, NULL);
    go(msg, ST_ANSWER);
}

/* Keeps the answer on the claim when there is no record to apply it to. */
static void stage_finish(xacct_pipeline_msg_t *msg)
{
    if (OPS(msg)->claim_finish(ARG(msg), msg->req->stack_id, msg->req->request_id, msg->owner,
                               msg->answer, on_finished, msg) == 0)
        msg->pending++;
    else
        transient(msg, "finish claim", XACCT_EAGAIN, "could not be queued");
}

static void on_apply(int status, const char *detail, xacct_apply_result_t result,
                     const char *prev_state, void *arg)
{
    (void)prev_state;
    xacct_pipeline_msg_t *msg = arg;
    if (xacct__pipeline_msg_returned(msg))
        return;
    bool failed = xacct__pipeline_msg_decided(msg)->status == XACCT_CFN_FAILED;
    if (status == 0 && result != XACCT_APPLY_DUPLICATE) {
        msg->recorded = true;
        msg->failed = msg->failed || failed;
        xacct__pipeline_msg_count(msg, NULL);
        go(msg, ST_ANSWER);
    } else if (status == 0 || status == XACCT_ENOTFOUND) {
        /* Recorded before under this RequestId, or no record at all: keep
         * the answer on the claim and send it. */
        msg->failed = msg->failed || failed;
        go(msg, ST_FINISH);
    } else if (status == XACCT_EEXISTS) {
        step_aside(msg);
    } else if (status == XACCT_ESTATE) {
        /* The record changed under the decision: the handlers say whether
         * to decide again or to answer as it stands. */
        xacct_decision_t *d = xacct__pipeline_msg_decision(msg);
        if (xacct_handler_conflict(msg->req, ++msg->conflicts, detail, d) ==
            XACCT_CONFLICT_RELOAD)
            go(msg, ST_LOAD);
        else
            go(msg, ST_APPLY);
    } else {
        transient(msg, "record outcome", status, detail);
    }
}

static void stage_apply(xacct_pipeline_msg_t *msg)
{
    const xacct_decision_t *d = xacct__pipeline_msg_decided(msg);
    const xacct_cfn_request_t *req = msg->req;
    if (xacct__pipeline_msg_build_answer(msg) != 0) {
        to_dead(msg, "response body could not be built");
        return;
    }
    if (msg->customer == NULL) {
        go(msg, ST_FINISH);
        return;
    }
    int64_t now = wall_ms(msg);
    xacct_event_t ev = {
        .v = XACCT_CODEC_VERSION,
        .ts = now,
        .type = d->event ? d->event : xacct_cfn_type_name(req->type),
        .request_id = req->request_id,
        .stack_id = req->stack_id,
        .outcome = d->outcome ? d->outcome : (d->status == XACCT_CFN_SUCCESS ? "success" : "failed"),
        .reason = d->reason,
        .actor = msg->pl->ctx->worker_id,
    };
    xacct_job_t job = {
        .v = XACCT_CODEC_VERSION,
        .account_id = req->stack_account,
        .role_arn = msg->customer->role_arn,
        .external_id = msg->customer->external_id,
        .stack_id = req->stack_id,
        .region = req->stack_region,
        .request_id = req->request_id,
        .requested_at = now,
    };
    bool connect = d->transition && d->connect_stack;
    bool offboard = d->transition && d->enqueue_offboard;
    xacct_customer_apply_t in = {
        .account_id = req->stack_account,
        .request_type = xacct_cfn_type_name(req->type),
        .request_id = req->request_id,
        .to_state = d->transition ? xacct_customer_state_name(d->to_state) : NULL,
        .role_arn = connect ? req->role_arn : NULL,
        .stack_id = connect ? req->stack_id : NULL,
        .region = connect ? req->stack_region : NULL,
        .physical_id = connect ? d->physical_id : NULL,
        /* SPEC §9.6: the version the stack now runs ("" when it carries none). */
        .template_version =
            connect ? (req->template_version ? req->template_version : "") : NULL,
        .last_error = d->status == XACCT_CFN_FAILED ? d->reason : "",
        .expect_physical_id = offboard ? req->physical_id : NULL,
        /* The ID the decision (and its check) was made with is still the
         * record's, or the record is read and decided again. */
        .expect_external_id = d->transition ? msg->customer->external_id : NULL,
        .event = &ev,
        .job = offboard ? &job : NULL,
        .claim_owner = msg->owner,
        .claim_stack_id = req->stack_id,
        .answer = msg->answer,
        .now_ms = now,
        /* An activation enrols the account for re-verification. */
        .reverify_due_ms = d->transition && d->to_state == XACCT_CUSTOMER_ACTIVE
                               ? xacct_reverify_next_due(
                                     now, xacct__pl_cfg(msg)->check_reverify_interval, 0.1)
                               : 0,
        .rotate_to =
            d->transition && d->rotate_external_id ? msg->customer->pending_external_id : NULL,
        .replace_stack_id = d->transition && d->replace_stack ? msg->customer->stack_id : NULL,
        .replace_role_arn = d->transition && d->replace_stack ? msg->customer->role_arn : NULL,
    };
    int rc = OPS(msg)->customer_apply(ARG(msg), &in, on_apply, msg);
    if (rc == 0)
        msg->pending++;
    else
        transient(msg, "record outcome", rc, "could not be queued");
}

/* ---- answer ------------------------------------------------------------- */

static bool wants_cleanup(const xacct_pipeline_msg_t *msg)
{
    const char *bucket = xacct__pl_cfg(msg)->cfn_template_bucket;
    return bucket != NULL && bucket[0] != '\0' &&
           ((msg->customer != NULL && xacct__pipeline_msg_decided(msg)->cleanup_template) ||
            msg->stored_connect);
}

/* The stack has its answer, but the Delete's outcome was never recorded
 * (Redis unavailable up to the deadline): the message is left to reappear,
 * and its next receipt records the offboarding it carries — or, after
 * queue.max_receives, puts it in the dead set for an operator. */
static void leave_unrecorded_delete(xacct_pipeline_msg_t *msg)
{
    XACCT_LOG_WARN(xacct__pl_log(msg), "request.delete_unrecorded", "message_id",
                   msg->m->message_id, "account", msg->req->stack_account, "request_id",
                   msg->req->request_id, "action",
                   "answered; left on the queue so its outcome is recorded when it reappears",
                   NULL);
    finish(msg, false);
}

static void on_answered(int status, const char *detail, long http_status, void *arg)
{
    xacct_pipeline_msg_t *msg = arg;
    msg->call = NULL;
    if (xacct__pipeline_msg_returned(msg))
        return;
    char code[16];
    snprintf(code, sizeof(code), "%ld", http_status);
    const char *st = msg->answer_failed ? "FAILED" : "SUCCESS";
    if (status == 0 || status == XACCT_EFORBIDDEN) {
        /* Delivered, or refused by the presigned URL (4xx: expired): either
         * way nothing more can be done, so the message is acknowledged. */
        xacct_metrics_inc(xacct__pl_metrics(msg), XACCT_M_CFN_ANSWERS, st,
                          status == 0 ? "delivered" : "refused");
        if (status == 0)
            XACCT_LOG_INFO(xacct__pl_log(msg), "request.answered", "message_id",
                           msg->m->message_id, "type", xacct_cfn_type_name(msg->req->type),
                           "account", msg->req->stack_account, "request_id",
                           msg->req->request_id, "status", st, "response_host",
                           msg->req->response_host, NULL);
        else
            XACCT_LOG_ERROR(xacct__pl_log(msg), "request.answer_refused", "message_id",
                            msg->m->message_id, "account", msg->req->stack_account,
                            "http_status", code, "detail",
                            "the presigned ResponseURL refused the answer (expired?)", NULL);
        if (msg->gave_up[0] != '\0')
            to_dead(msg, msg->gave_up);
        else if (msg->unrecorded_delete)
            leave_unrecorded_delete(msg);
        else if (wants_cleanup(msg)) /* also when the answer was refused: it was recorded */
            go(msg, ST_CLEANUP);
        else
            finish(msg, true);
        return;
    }
    if (status == XACCT_ECANCELED) {
        finish(msg, false);
        return;
    }
    if (++msg->attempts >= 8 || xacct__pl_now(msg) >= msg->deadline + 60000) {
        /* The outcome is recorded with its answer; a redelivery sends it. */
        xacct_metrics_inc(xacct__pl_metrics(msg), XACCT_M_CFN_ANSWERS, st, "postponed");
        XACCT_LOG_WARN(xacct__pl_log(msg), "request.answer_postponed", "message_id",
                       msg->m->message_id, "http_status", code, "detail", detail ? detail : "",
                       NULL);
        if (msg->gave_up[0] != '\0')
            to_dead(msg, "its answer could not be delivered");
        else
            finish(msg, false);
        return;
    }
    retry_later(msg, "request.answer_retry", detail, "http_status", code);
}

static void stage_answer(xacct_pipeline_msg_t *msg)
{
    if (OPS(msg)->answer(ARG(msg), msg->req->response_url, msg->answer, on_answered, msg,
                         &msg->call) == 0)
        msg->pending++;
    else
        to_dead(msg, "answer could not be sent");
}

/* After a Create or an Update connected, the customer's template (for a
 * rotation's Update: the one with the new ID) has served its purpose, and
 * after a Delete offboarded, every template naming the customer: they are
 * removed from the template bucket (cleanup_id). Until that succeeded a
 * Create's or an Update's message is not acknowledged, and a redelivered copy
 * (the claim is finished) removes the template again. A Delete's copy would
 * only re-send its answer (what it removes is read from the record, not
 * stored on the claim): a template it could not remove is logged with its
 * key for the operator, and another Delete of the same stack tries again. */
static void stage_cleanup(xacct_pipeline_msg_t *msg);
static const char *cleanup_id(const xacct_pipeline_msg_t *msg, unsigned i);

static void on_cleaned(int status, const char *detail, void *arg)
{
    xacct_pipeline_msg_t *msg = arg;
    if (xacct__pipeline_msg_returned(msg))
        return;
    if (status != 0 && msg->req->type == XACCT_CFN_DELETE) {
        /* A copy of this Delete would not try again (cleanup_id): the
         * operator is told which object stays, and the next one is tried. */
        char key[XACCT_TEMPLATE_KEY_MAX] = "";
        const char *id = msg->cleaned > 0 ? cleanup_id(msg, msg->cleaned - 1) : NULL;
        if (id == NULL || xacct_template_s3_key(msg->req->stack_account, id, key, sizeof(key)) != 0)
            key[0] = '\0';
        XACCT_LOG_WARN(xacct__pl_log(msg), "template.delete_failed", "account",
                       msg->req->stack_account, "error", xacct_errname(status), "detail",
                       detail ? detail : "", "bucket", xacct__pl_cfg(msg)->cfn_template_bucket,
                       "key", key, "action", "left in the template bucket: delete it by hand",
                       NULL);
        stage_cleanup(msg);
        return;
    }
    if (status != 0) {
        /* Left on the queue: its next receive re-sends the stored answer
         * and tries the deletion again. */
        XACCT_LOG_WARN(xacct__pl_log(msg), "template.delete_failed", "account",
                       msg->req->stack_account, "error", xacct_errname(status), "detail",
                       detail ? detail : "", "action", "retrying on the next receive", NULL);
        finish(msg, false);
        return;
    }
    XACCT_LOG_INFO(xacct__pl_log(msg), "template.deleted", "account", msg->req->stack_account,
                   NULL);
    stage_cleanup(msg); /* the next one, if any */
}

/* The ID of the i-th template a message removes, NULL past the last. A
 * Create or an Update that connected removes the one it was launched from
 * (a rotation's Update: the new ID's); a redelivered Create has no record
 * loaded, and its ExternalID is the customer's, which its stored SUCCESS
 * proved. A Delete that offboards removes every template still naming the
 * customer: the current ID's (one `xacct outdated` uploaded for an Update
 * that never came) and a pending rotation's, which no stack will use now. */
static const char *cleanup_id(const xacct_pipeline_msg_t *msg, unsigned i)
{
    const xacct_customer_t *c = msg->customer;
    if (c == NULL)
        return i == 0 ? msg->req->external_id : NULL;
    if (msg->req->type == XACCT_CFN_DELETE) {
        if (i == 0)
            return c->external_id;
        bool pending = c->pending_external_id != NULL && c->pending_external_id[0] != '\0' &&
                       (c->external_id == NULL || strcmp(c->pending_external_id, c->external_id) != 0);
        return i == 1 && pending ? c->pending_external_id : NULL;
    }
    if (i != 0)
        return NULL;
    return xacct__pipeline_msg_decided(msg)->rotate_external_id ? c->pending_external_id
                                                                : c->external_id;
}

static void stage_cleanup(xacct_pipeline_msg_t *msg)
{
    char key[XACCT_TEMPLATE_KEY_MAX];
    xacct_s3_object_t o = {.bucket = xacct__pl_cfg(msg)->cfn_template_bucket, .key = key};
    const char *id;
    while ((id = cleanup_id(msg, msg->cleaned)) != NULL) {
        msg->cleaned++;
        if (xacct_template_s3_key(msg->req->stack_account, id, key, sizeof(key)) == 0 &&
            OPS(msg)->template_delete(ARG(msg), &o, on_cleaned, msg) == 0) {
            msg->pending++;
            return;
        }
    }
    finish(msg, true);
}

/* ---- giving up ------------------------------------------------------------ */

/* Received more than queue.max_receives times, yet a valid request with an
 * allowed ResponseURL that this attempt has claimed: the handlers' give-up
 * answer goes out (recorded on the claim first, so a later copy finds it),
 * then the message goes to the dead set. */
static void stage_give_up(xacct_pipeline_msg_t *msg)
{
    xacct_handler_give_up(msg->req, msg->gave_up, xacct__pipeline_msg_decision(msg));
    if (xacct__pipeline_msg_build_answer(msg) != 0) {
        to_dead(msg, "response body could not be built");
        return;
    }
    msg->failed = msg->failed || msg->decision->status == XACCT_CFN_FAILED;
    XACCT_LOG_WARN(xacct__pl_log(msg), "request.given_up", "message_id", msg->m->message_id,
                   "account", msg->req->stack_account, "request_id", msg->req->request_id,
                   "reason", msg->gave_up, NULL);
    go(msg, ST_FINISH);
}

/* ---- dead set ------------------------------------------------------------ */

static void on_dead(int status, const char *detail, const char *id, void *arg)
{
    (void)id;
    xacct_pipeline_msg_t *msg = arg;
    if (xacct__pipeline_msg_returned(msg))
        return;
    if (status != 0) {
        if (++msg->attempts < 10)
            retry_later(msg, "dead.retry", detail, "stage", "dead");
        else
            finish(msg, false); /* kept in SQS: nothing is lost */
        return;
    }
    xacct_metrics_inc(xacct__pl_metrics(msg), XACCT_M_MSG_DEAD, msg->queue_url, NULL);
    char n[16];
    snprintf(n, sizeof(n), "%d", msg->m->receive_count);
    XACCT_LOG_WARN(xacct__pl_log(msg), "message.dead", "queue", msg->queue_url, "message_id",
                   msg->m->message_id, "receive_count", n, "reason", msg->reason, NULL);
    xacct__pipeline_msg_end(msg, XACCT_PIPELINE_DEAD);
}

static void stage_dead(xacct_pipeline_msg_t *msg)
{
    xacct_dead_t d = {
        .body = msg->m->body,
        .reason = msg->reason,
        .receives = msg->m->receive_count,
        .queue = msg->queue_url,
        .message_id = msg->m->message_id,
    };
    if (OPS(msg)->dead_add(ARG(msg), &d, on_dead, msg) == 0)
        msg->pending++;
    else
        finish(msg, false);
}

/* ---- driver ------------------------------------------------------------- */

static void step(xacct_pipeline_msg_t *msg)
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
        stage_check(msg);
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
    case ST_GIVE_UP:
        stage_give_up(msg);
        break;
    case ST_DONE:
        break;
    }
}

void xacct_pipeline_start(const xacct_pipeline_t *pl, xacct_sqs_message_t *m, void *queue,
                          const char *queue_url, xacct_pipeline_done_cb done, void *arg,
                          xacct_pipeline_msg_t **handle)
{
    xacct_pipeline_msg_t *msg = xacct__pipeline_msg_new(pl, m, queue, queue_url, done, arg);
    *handle = msg;
    int max = pl->ctx->cfg->queue_max_receives;
    if (m->receive_count > max)
        snprintf(msg->gave_up, sizeof(msg->gave_up),
                 "received %d times (queue.max_receives is %d)", m->receive_count, max);
    go(msg, ST_VERIFY);
}

/* ---- shutdown ------------------------------------------------------------ */

static void on_release_claim(int status, const char *detail, int changed, void *arg)
{
    (void)status;
    (void)detail;
    (void)changed;
    xacct_pipeline_msg_t *msg = arg;
    msg->pending--;
    xacct__pipeline_msg_end(msg, XACCT_PIPELINE_RELEASE);
}

void xacct_pipeline_release(xacct_pipeline_msg_t *msg)
{
    if (msg->ended || msg->releasing)
        return;
    msg->releasing = true;
    xacct__pipeline_msg_cancel_work(msg);
    /* Also a claim whose answer is still out, or was lost with the
     * connection: the release deletes it only if this attempt holds it, and
     * the redelivery must not find it busy until the lease runs out. */
    if ((msg->claimed || msg->claim_sent) && !msg->recorded &&
        OPS(msg)->claim_release(ARG(msg), msg->req->stack_id, msg->req->request_id, msg->owner,
                                on_release_claim, msg) == 0) {
        msg->pending++;
        return;
    }
    xacct__pipeline_msg_end(msg, XACCT_PIPELINE_RELEASE);
}

void xacct_pipeline_abort(xacct_pipeline_msg_t *msg)
{
    if (msg->ended)
        return;
    msg->releasing = true; /* callbacks cancelled below find nothing to do */
    xacct__pipeline_msg_cancel_work(msg);
    xacct__pipeline_msg_end(msg, XACCT_PIPELINE_LEAVE);
}
