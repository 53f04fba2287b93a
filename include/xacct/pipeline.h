/* SPDX-License-Identifier: MIT */
/*
 * The pipeline: one SQS message through the stages of SPEC §4 — unwrap and
 * verify the SNS envelope, parse the CloudFormation request, claim it, load
 * the customer, ask the handler, run the safety check if it asks for one,
 * record the outcome, answer CloudFormation — with retries, the deadline and
 * the heartbeat that extends the message's visibility and the claim's lease.
 * It holds no domain rule: the handlers (handlers.h) decide, the pipeline
 * carries the decision out.
 *
 * It reaches the outside only through the seams it is given
 * (xacct_pipeline_ops_t: the message's queue, the store, AWS and the clock),
 * so production and the unit tests run the same stage machine. Each message
 * ends exactly once through the completion callback given at start, which
 * says what is left to do with it on its queue.
 */
#ifndef XACCT_PIPELINE_H
#define XACCT_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>

#include "xacct/cfn.h"
#include "xacct/backoff.h"
#include "xacct/check.h"
#include "xacct/claims.h"
#include "xacct/ctx.h"
#include "xacct/customers.h"
#include "xacct/dead.h"
#include "xacct/jobs.h"
#include "xacct/s3.h"
#include "xacct/sns_verify.h"
#include "xacct/sqs.h"
#include "xacct/transport.h"

typedef struct xacct_pipeline_msg xacct_pipeline_msg_t;

typedef enum xacct_pipeline_outcome {
    XACCT_PIPELINE_ACK = 1, /* finished: delete the message */
    XACCT_PIPELINE_DEAD,    /* recorded in the dead set: delete the message */
    XACCT_PIPELINE_LEAVE,   /* leave it to reappear after its visibility timeout */
    XACCT_PIPELINE_RELEASE, /* cancelled on shutdown, claim released: make it visible now */
} xacct_pipeline_outcome_t;

typedef struct xacct_pipeline_result {
    xacct_pipeline_outcome_t outcome;
    bool failed; /* the request was answered (or recorded) FAILED */
} xacct_pipeline_result_t;

/* Fires exactly once per message. After it the pipeline no longer touches
 * the SQS message, which the caller may free (its own memory goes once its
 * outstanding callbacks have returned). */
typedef void (*xacct_pipeline_done_cb)(const xacct_pipeline_result_t *r, void *arg);

/*
 * The seams. arg is xacct_pipeline_t.ops_arg; queue is the one given at
 * xacct_pipeline_start. Each returns 0 (its callback follows, exactly once,
 * never from inside the call unless noted) or an error (no callback).
 */
typedef struct xacct_pipeline_ops {
    /* transport: the message's queue */
    int (*visibility)(void *arg, void *queue, const char *receipt_handle, int seconds,
                      xacct_transport_done_cb cb, void *cb_arg);
    /* store */
    int (*claim)(void *arg, const char *stack_id, const char *request_id, const char *owner,
                 long lease_ms, xacct_claims_claim_cb cb, void *cb_arg);
    int (*claim_finish)(void *arg, const char *stack_id, const char *request_id,
                        const char *owner, const char *answer, xacct_claims_done_cb cb,
                        void *cb_arg);
    int (*claim_release)(void *arg, const char *stack_id, const char *request_id,
                         const char *owner, xacct_claims_done_cb cb, void *cb_arg);
    int (*customer_get)(void *arg, const char *account_id, xacct_customers_get_cb cb,
                        void *cb_arg);
    int (*customer_apply)(void *arg, const xacct_customer_apply_t *in,
                          xacct_customers_apply_cb cb, void *cb_arg);
    int (*dead_add)(void *arg, const xacct_dead_t *d, xacct_dead_added_cb cb, void *cb_arg);
    /* AWS. verify may complete at once: 0 = valid now (no callback),
     * XACCT_EAGAIN = cb follows, other = refused now (no callback). */
    int (*verify)(void *arg, const xacct_sns_envelope_t *env, xacct_sns_verify_cb cb,
                  void *cb_arg);
    int (*confirm)(void *arg, const char *subscribe_url, xacct_aws_done_cb cb, void *cb_arg,
                   xacct_aws_call_t **call);
    int (*answer)(void *arg, const char *response_url, const char *body, xacct_cfn_answer_cb cb,
                  void *cb_arg, xacct_aws_call_t **call);
    /* Cancels a confirm or answer in flight: its callback fires with
     * XACCT_ECANCELED before return. */
    void (*cancel)(void *arg, xacct_aws_call_t *call);
    int (*check)(void *arg, const xacct_check_params_t *p, xacct_check_cb cb, void *cb_arg,
                 xacct_check_t **check);
    /* Cancels a check: its callback fires with XACCT_CHECK_CANCELED. */
    void (*check_cancel)(void *arg, xacct_check_t *check);
    int (*template_delete)(void *arg, const xacct_s3_object_t *o, xacct_s3_done_cb cb,
                           void *cb_arg);
    /* clock and chance */
    int64_t (*wall_ms)(void *arg);  /* epoch milliseconds */
    xacct_backoff_rand_fn rand;     /* retry jitter (called with arg); NULL = RAND_bytes */
} xacct_pipeline_ops_t;

/* What every message of one worker shares; borrowed, outlives its messages. */
typedef struct xacct_pipeline {
    xacct_ctx_t *ctx;                /* loop, cfg (read at each use), log, metrics, worker_id */
    const xacct_pipeline_ops_t *ops; /* the seams */
    void *ops_arg;                   /* their first argument */
} xacct_pipeline_t;

/* The seams onto the real queue (xacct_transport_t), store and AWS of ctx. */
extern const xacct_pipeline_ops_t xacct_pipeline_production_ops;

/*
 * Starts m through the pipeline. m, queue and queue_url are borrowed until
 * done fires; queue is passed to ops->visibility, queue_url names the queue
 * in the dead set, logs and metrics. *handle is set before any stage runs
 * and stays valid until done fires (done may fire before this returns).
 */
void xacct_pipeline_start(const xacct_pipeline_t *pl, xacct_sqs_message_t *m, void *queue,
                          const char *queue_url, xacct_pipeline_done_cb done, void *arg,
                          xacct_pipeline_msg_t **handle);

/* Shutdown: cancels the message's work and releases its claim; done fires
 * with XACCT_PIPELINE_RELEASE once that has answered. */
void xacct_pipeline_release(xacct_pipeline_msg_t *msg);

/* Cancels without releasing anything; done fires with XACCT_PIPELINE_LEAVE
 * before return. */
void xacct_pipeline_abort(xacct_pipeline_msg_t *msg);

#endif
