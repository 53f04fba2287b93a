/* SPDX-License-Identifier: MIT */
/*
 * Internals of the pipeline shared by pipeline.c (the stage machine) and
 * pipeline_msg.c (one message's lifetime, heartbeat and helpers). The stage
 * machine calls down into the message; the message never calls the stages.
 */
#ifndef XACCT_PIPELINE_INT_H
#define XACCT_PIPELINE_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "xacct/backoff.h"
#include "xacct/cfn.h"
#include "xacct/handlers.h"
#include "xacct/metrics.h"
#include "xacct/pipeline.h"

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
    ST_GIVE_UP,
    ST_DONE, /* the completion callback has fired */
} xacct__pipeline_stage_t;

struct xacct_pipeline_msg {
    const xacct_pipeline_t *pl;   /* shared seams and context, borrowed */
    xacct_sqs_message_t *m;       /* borrowed until done; NULL after */
    void *queue;                  /* the message's queue, for ops->visibility */
    const char *queue_url;        /* borrowed until done */
    xacct_pipeline_done_cb done;  /* fires once */
    void *done_arg;
    xacct_sns_envelope_t *env;    /* owned, NULL for raw deliveries and once the
                                     request is parsed (nothing later reads it; the
                                     dead set keeps m->body, the message as received) */
    const char *payload;          /* the request JSON (into env or m), NULL once parsed */
    size_t payload_len;
    xacct_cfn_request_t *req;     /* owned once parsed */
    xacct_customer_t *customer;   /* owned copy, NULL when none */
    char *owner;                  /* claim owner: worker/message/receive, owned */
    /* What the handler decided: owned, NULL until it has decided, and again
     * while the safety check runs — a decision is 1.1 KB, mostly its Reason
     * and PhysicalResourceId, and a message can wait minutes in the check
     * for IAM to propagate; check_rotating keeps what the check needs. */
    xacct_decision_t *decision;
    bool check_rotating;          /* the check proves a rotation's pending ID */
    bool check_recorded;          /* the customer's recorded role is checked first
                                     (a Create from another stack) */
    bool checking_recorded;       /* that check is the one running */
    char *answer;                 /* response body to PUT, owned */
    bool answer_failed;           /* the answer's Status is FAILED */
    bool stored_connect;          /* a redelivered Create or Update answered SUCCESS
                                     before: its template is deleted again (idempotent) */
    unsigned cleaned;             /* templates whose deletion has been sent */
    xacct__pipeline_stage_t stage;
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
    bool claim_sent;              /* a claim went to the store: it may hold one
                                     even if its answer never came back */
    bool claim_out;               /* this attempt's claim is unanswered */
    /* The customer read sent right behind the claim, so that both share one
     * round trip to Redis (the read still reaches Redis after the claim).
     * Used only for the claim attempt it followed; one from an attempt that
     * failed is stale and dropped when it arrives. */
    enum { PRELOAD_NONE, PRELOAD_WAITING, PRELOAD_READY } preload;
    bool preload_stale;           /* from a claim attempt that failed */
    bool preload_awaited;         /* ST_LOAD waits for it */
    xacct_customer_t *preload_customer; /* owned, NULL when none */
    bool recorded;                /* the outcome is in Redis (or cannot be) */
    bool unrecorded_delete;       /* a Delete answered at its deadline, outcome unknown */
    bool failed;                  /* answered or recorded FAILED */
    bool ended;                   /* the completion callback has fired */
    bool releasing;               /* shutdown release under way */
    char *reason;                 /* why it goes to the dead set, owned, NULL until then */
    char gave_up[96];             /* why it is given up on ("" while it is not) */
    uint64_t visible_at;          /* uv_now() when the message reappears on its queue */
    uint64_t extending_to;        /* visible_at once the extension in flight succeeds */
};

static inline const xacct_config_t *xacct__pl_cfg(const xacct_pipeline_msg_t *msg)
{
    return msg->pl->ctx->cfg;
}

static inline const xacct_log_t *xacct__pl_log(const xacct_pipeline_msg_t *msg)
{
    return &msg->pl->ctx->log;
}

static inline xacct_metrics_t *xacct__pl_metrics(const xacct_pipeline_msg_t *msg)
{
    return msg->pl->ctx->metrics;
}

static inline uint64_t xacct__pl_now(const xacct_pipeline_msg_t *msg)
{
    return uv_now(msg->pl->ctx->loop);
}

/* The claim's lease: it ends a little before the message reappears on its
 * queue (a quarter of the visibility timeout, at most 5 s, earlier), so
 * that whoever receives the message next finds the claim of a worker that
 * died free, instead of leaving the message for another receive. */
static inline long xacct__pl_claim_lease_ms(const xacct_pipeline_msg_t *msg)
{
    uint64_t now = xacct__pl_now(msg);
    uint64_t vis_ms = (uint64_t)msg->pl->ctx->cfg->queue_visibility_timeout * 1000;
    uint64_t margin = vis_ms / 4 < 5000 ? vis_ms / 4 : 5000;
    uint64_t left = msg->visible_at > now ? msg->visible_at - now : 0;
    return left > margin + 1000 ? (long)(left - margin) : 1000;
}

/* ---- pipeline_msg.c ------------------------------------------------------ */

/* The message's decision for a handler to write, allocated on first use. */
xacct_decision_t *xacct__pipeline_msg_decision(xacct_pipeline_msg_t *msg);
/* The message's decision to read: an all-zero one when there is none. */
const xacct_decision_t *xacct__pipeline_msg_decided(const xacct_pipeline_msg_t *msg);

/* A new message with its timers; the heartbeat starts at once. */
xacct_pipeline_msg_t *xacct__pipeline_msg_new(const xacct_pipeline_t *pl, xacct_sqs_message_t *m,
                                              void *queue, const char *queue_url,
                                              xacct_pipeline_done_cb done, void *arg);
/* Fires the completion callback once (timers stopped first: the heartbeat
 * ends before a delete); the memory follows when nothing refers to it. */
void xacct__pipeline_msg_end(xacct_pipeline_msg_t *msg, xacct_pipeline_outcome_t outcome);
/* Frees the message if it has ended and nothing refers to it any more. */
void xacct__pipeline_msg_maybe_free(xacct_pipeline_msg_t *msg);
/* Every seam callback that refers to a message starts here: one reference
 * fewer; true when the message has ended or is being released (the callback
 * has nothing more to do). */
bool xacct__pipeline_msg_returned(xacct_pipeline_msg_t *msg);
/* Cancels the check and the call in flight and stops both timers. */
void xacct__pipeline_msg_cancel_work(xacct_pipeline_msg_t *msg);
/* The request's outcome is final: counted once (outcome NULL = the
 * decision's). */
void xacct__pipeline_msg_count(const xacct_pipeline_msg_t *msg, const char *outcome);
/* A raw delivery is the request itself: a JSON object with a RequestType and
 * neither the SNS Type nor TopicArn. */
bool xacct__pipeline_looks_raw(const char *body, size_t len);
/* The answer body from the decision (msg->answer, answer_failed); 0 or an
 * error from xacct_cfn_response_build. */
int xacct__pipeline_msg_build_answer(xacct_pipeline_msg_t *msg);
/* Keeps a stored answer (a redelivery) and reads its Status. */
void xacct__pipeline_msg_stored_answer(xacct_pipeline_msg_t *msg, const char *answer);

#endif
