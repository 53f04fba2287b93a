/* SPDX-License-Identifier: MIT */
/*
 * The safety check as a small state machine on the loop, one phase per probe
 * (SPEC §9.1): WITH the external ID (retry AccessDenied until the propagation
 * timeout), then WITHOUT one and with a random WRONG one (AccessDenied is the
 * good answer to both). Both later probes always run, so the Reason names
 * every probe the role let in. Transient failures (throttling, 5xx, network)
 * are retried in any phase with jittered backoff until the caller's deadline,
 * which also cancels a call still out (transient); they never count as a
 * denial. Probe (a) goes through customer_role.c, which
 * tries a rotation's pending ID when the role refuses the current one (the
 * later probes carry no ID of the customer's, so they are the same either
 * way).
 */
#include "xacct/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/backoff.h"
#include "xacct/extid.h"
#include "xacct/sts.h"

typedef enum { PHASE_WITH, PHASE_WITHOUT, PHASE_WRONG, PHASE_DONE } phase_t;

struct xacct_check {
    uv_loop_t *loop;
    xacct_aws_t *aws;            /* borrowed */
    uv_timer_t timer;            /* retry delay, or the deadline's watch while a call is
                                    out; the check is freed in its close cb */
    xacct_aws_call_t *call;      /* STS call of probe (b) or (c) in flight, or NULL */
    xacct_customer_role_op_t *with_call; /* probe (a) in flight, or NULL */
    phase_t phase;
    char *role_arn;
    char *external_id;           /* secret */
    char *pending_id;            /* secret: a rotation's pending ID, or NULL */
    xacct_customer_role_id_t trusted;      /* the ID probe (a) got in with */
    xacct_customer_role_id_t *trusted_out; /* the caller's, or NULL */
    char wrong_id[XACCT_EXTID_LEN + 1]; /* probe (c): a fresh random UUID */
    bool open_without;           /* probe (b) was allowed */
    bool open_wrong;             /* probe (c) was allowed */
    char *region;
    char *session_name;
    uint64_t started_ms;         /* uv_now at start */
    uint64_t propagation_ms;
    uint64_t deadline_ms;
    xacct_backoff_t backoff;
    unsigned attempts_with;      /* AssumeRole calls with the ID */
    bool deadline_hit;           /* the deadline cancelled the call in flight */
    char *waiting;               /* why a retry waits: what to end with should the
                                    deadline come first (owned, NULL while none) */
    xacct_check_cb cb;
    void *arg;
};

const char *xacct_check_result_name(xacct_check_result_t r)
{
    switch (r) {
    case XACCT_CHECK_SECURE:
        return "secure";
    case XACCT_CHECK_INSECURE:
        return "insecure";
    case XACCT_CHECK_NOT_ASSUMABLE:
        return "not_assumable";
    case XACCT_CHECK_ERROR:
        return "error";
    case XACCT_CHECK_TRANSIENT:
        return "transient";
    case XACCT_CHECK_CANCELED:
        return "canceled";
    }
    return "unknown";
}

static void on_close(uv_handle_t *h)
{
    xacct_check_t *c = xacct_container_of((uv_timer_t *)h, xacct_check_t, timer);
    free(c->role_arn);
    xacct_free_secret(c->external_id);
    xacct_free_secret(c->pending_id);
    free(c->region);
    free(c->session_name);
    free(c->waiting);
    free(c);
}

static void finish(xacct_check_t *c, xacct_check_result_t r, const char *detail)
{
    if (c->phase == PHASE_DONE)
        return;
    c->phase = PHASE_DONE;
    uv_timer_stop(&c->timer);
    xacct_check_cb cb = c->cb;
    void *arg = c->arg;
    unsigned attempts = c->attempts_with;
    if (c->trusted_out != NULL)
        *c->trusted_out = c->trusted;
    uv_close((uv_handle_t *)&c->timer, on_close);
    cb(r, detail, attempts, arg);
}

static void attempt(xacct_check_t *c);

/* A retry's time came. One due at the deadline (retry_later caps its delay
 * there) would only be cancelled by the deadline's watch: the check ends
 * with what it was waiting out instead. */
static void on_timer(uv_timer_t *t)
{
    xacct_check_t *c = xacct_container_of(t, xacct_check_t, timer);
    if (uv_now(c->loop) >= c->deadline_ms && c->waiting != NULL) {
        finish(c, XACCT_CHECK_TRANSIENT, c->waiting);
        return;
    }
    attempt(c);
}

static void wait_for(xacct_check_t *c, const char *why)
{
    free(c->waiting);
    c->waiting = xacct_strdup(why);
}

/* Schedules another attempt, or returns false when the limit has passed. */
static bool retry_later(xacct_check_t *c, uint64_t limit_ms)
{
    uint64_t now = uv_now(c->loop);
    if (now >= limit_ms)
        return false;
    uint64_t delay = xacct_backoff_next(&c->backoff);
    if (now + delay > limit_ms)
        delay = limit_ms - now;
    uv_timer_start(&c->timer, on_timer, delay, 0);
    return true;
}

static bool transient(int status)
{
    return status == XACCT_EAGAIN || status == XACCT_ETHROTTLED || status == XACCT_ETIMEOUT ||
           status == XACCT_ECONNREFUSED || status == XACCT_EHTTP || status == XACCT_ENOCREDS;
}

/* After probe (c): secure only when (b) and (c) were both denied. */
static void verdict(xacct_check_t *c)
{
    const char *fix = "its trust policy must require sts:ExternalId to equal the issued "
                      "external ID (StringEquals), with no wildcard, negation or IfExists";
    char why[512];
    if (c->open_without && c->open_wrong)
        snprintf(why, sizeof(why),
                 "role can be assumed without the external ID and with a wrong one (probes "
                 "'without' and 'wrong' were allowed): %s", fix);
    else if (c->open_without)
        snprintf(why, sizeof(why),
                 "role can be assumed without the external ID (probe 'without' was allowed): "
                 "%s", fix);
    else if (c->open_wrong)
        snprintf(why, sizeof(why),
                 "role can be assumed with a wrong external ID (probe 'wrong', a random "
                 "sts:ExternalId, was allowed): %s", fix);
    else {
        finish(c, XACCT_CHECK_SECURE,
               c->trusted == XACCT_CUSTOMER_ROLE_PENDING
                   ? "assumable only with the external ID: the rotation's pending one, which "
                     "the role already trusts instead of the current one (the IDs are swapped "
                     "when the stack's Update arrives)"
                   : "assumable only with the external ID");
        return;
    }
    finish(c, XACCT_CHECK_INSECURE, why);
}

static void on_result(xacct_check_t *c, int status, const char *detail)
{
    if (status == XACCT_ECANCELED && c->deadline_hit) {
        finish(c, XACCT_CHECK_TRANSIENT, "deadline reached with an AssumeRole call in flight");
        return;
    }
    if (status == XACCT_ECANCELED) {
        finish(c, XACCT_CHECK_CANCELED, "canceled");
        return;
    }
    char why[512];
    if (c->phase == PHASE_WITH) {
        if (status == 0) {
            c->phase = PHASE_WITHOUT;
            xacct_backoff_reset(&c->backoff);
            attempt(c);
            return;
        }
        if (status == XACCT_EACCESSDENIED) {
            uint64_t limit = c->started_ms + c->propagation_ms;
            if (limit > c->deadline_ms)
                limit = c->deadline_ms;
            static const char *const unpropagated =
                "deadline reached while waiting for the role to become assumable";
            wait_for(c, unpropagated);
            if (retry_later(c, limit))
                return;
            if (uv_now(c->loop) >= c->deadline_ms && c->deadline_ms < c->started_ms + c->propagation_ms) {
                finish(c, XACCT_CHECK_TRANSIENT, unpropagated);
                return;
            }
            snprintf(why, sizeof(why),
                     "role could not be assumed with the external ID within %llu s: its trust "
                     "policy must allow the partner account with sts:ExternalId (%s)",
                     (unsigned long long)(c->propagation_ms / 1000), detail ? detail : "AccessDenied");
            finish(c, XACCT_CHECK_NOT_ASSUMABLE, why);
            return;
        }
    } else if (status == 0 || status == XACCT_EACCESSDENIED) {
        if (c->phase == PHASE_WITHOUT) {
            c->open_without = status == 0;
            c->phase = PHASE_WRONG;
            xacct_backoff_reset(&c->backoff);
            attempt(c);
            return;
        }
        c->open_wrong = status == 0;
        verdict(c);
        return;
    }
    if (transient(status)) {
        snprintf(why, sizeof(why), "STS unavailable until the deadline: %s",
                 detail ? detail : xacct_strerror(status));
        wait_for(c, why);
        if (retry_later(c, c->deadline_ms))
            return;
        finish(c, XACCT_CHECK_TRANSIENT, why);
        return;
    }
    snprintf(why, sizeof(why), "AssumeRole failed: %s", detail ? detail : xacct_strerror(status));
    finish(c, XACCT_CHECK_ERROR, why);
}

/* Probes (b) and (c). */
static void on_assume(int status, const char *detail, const xacct_sts_credentials_t *creds,
                      void *arg)
{
    (void)creds; /* proof of assumability is all we need; the keys are dropped */
    xacct_check_t *c = arg;
    c->call = NULL;
    uv_timer_stop(&c->timer); /* the deadline's watch */
    on_result(c, status, detail);
}

/* Probe (a), with the current ID or a rotation's pending one. */
static void on_assume_with(int status, const char *detail, const xacct_sts_credentials_t *creds,
                           xacct_customer_role_id_t used, void *arg)
{
    (void)creds;
    xacct_check_t *c = arg;
    c->with_call = NULL;
    uv_timer_stop(&c->timer); /* the deadline's watch */
    if (status == 0)
        c->trusted = used;
    on_result(c, status, detail);
}

/* The deadline came with a call in flight: each call may take two
 * attempts of the HTTP timeout, so without this a check could outlast its
 * deadline by a minute (a re-verification then its lease). */
static void on_deadline(uv_timer_t *t)
{
    xacct_check_t *c = xacct_container_of(t, xacct_check_t, timer);
    c->deadline_hit = true;
    if (c->call != NULL) {
        xacct_aws_call_t *call = c->call;
        c->call = NULL;
        xacct_aws_cancel(call); /* fires on_assume with ECANCELED -> finish */
    } else if (c->with_call != NULL) {
        xacct_customer_role_op_t *op = c->with_call;
        c->with_call = NULL;
        xacct_customer_role_cancel(op); /* fires on_assume_with with ECANCELED */
    }
    finish(c, XACCT_CHECK_TRANSIENT, "deadline reached with an AssumeRole call in flight");
}

static void attempt(xacct_check_t *c)
{
    xacct_sts_assume_params_t p = {
        .role_arn = c->role_arn,
        .session_name = c->session_name,
        .external_id = c->phase == PHASE_WITH    ? c->external_id
                       : c->phase == PHASE_WRONG ? c->wrong_id
                                                 : NULL,
        .region = c->region,
        .max_attempts = 2,
    };
    int rc;
    if (c->phase == PHASE_WITH) {
        c->attempts_with++;
        rc =
            xacct_customer_role_assume(c->aws, &p, c->pending_id, on_assume_with, c, &c->with_call);
    } else {
        rc = xacct_sts_assume_role(c->aws, &p, on_assume, c, &c->call);
    }
    if (rc == 0) {
        /* While the call is out the timer watches the deadline (callbacks
         * never come from inside the calls above). */
        uint64_t now = uv_now(c->loop);
        uv_timer_start(&c->timer, on_deadline, c->deadline_ms > now ? c->deadline_ms - now : 0,
                       0);
        return;
    }
    c->call = NULL;
    c->with_call = NULL;
    char why[128];
    snprintf(why, sizeof(why), "AssumeRole could not be sent: %s", xacct_strerror(rc));
    if (transient(rc)) {
        wait_for(c, why);
        if (retry_later(c, c->deadline_ms))
            return;
    }
    finish(c, rc == XACCT_ESHUTDOWN ? XACCT_CHECK_CANCELED : XACCT_CHECK_ERROR, why);
}

static void on_start(uv_timer_t *t)
{
    attempt(xacct_container_of(t, xacct_check_t, timer));
}

int xacct_check_start(uv_loop_t *loop, xacct_aws_t *aws, const xacct_check_params_t *p,
                      xacct_check_cb cb, void *arg, xacct_check_t **out)
{
    if (out != NULL)
        *out = NULL;
    if (p->role_arn == NULL || p->external_id == NULL || cb == NULL)
        return XACCT_EINVAL;
    const char *pending = p->pending_external_id != NULL && p->pending_external_id[0] != '\0'
                              ? p->pending_external_id
                              : NULL;
    char wrong[XACCT_EXTID_LEN + 1];
    int rc;
    do { /* a collision with a real ID is astronomically unlikely, but cheap to rule out */
        if ((rc = xacct_extid_decoy(wrong)) != 0)
            return rc;
    } while (strcmp(wrong, p->external_id) == 0 || (pending && strcmp(wrong, pending) == 0));
    xacct_check_t *c = xacct_calloc(1, sizeof(*c));
    memcpy(c->wrong_id, wrong, sizeof(wrong));
    c->loop = loop;
    c->aws = aws;
    c->role_arn = xacct_strdup(p->role_arn);
    c->external_id = xacct_strdup(p->external_id);
    c->pending_id = pending ? xacct_strdup(pending) : NULL;
    c->trusted = XACCT_CUSTOMER_ROLE_CURRENT;
    c->trusted_out = p->trusted;
    c->region = p->region ? xacct_strdup(p->region) : NULL;
    c->session_name = xacct_strdup(p->session_name ? p->session_name : "xacct-check");
    c->started_ms = uv_now(loop);
    c->propagation_ms = p->propagation_timeout_ms;
    c->deadline_ms = p->deadline_ms ? p->deadline_ms
                                    : c->started_ms + p->propagation_timeout_ms + 300000;
    xacct_backoff_init(&c->backoff, p->retry_base_ms ? p->retry_base_ms : 500,
                       p->retry_max_ms ? p->retry_max_ms : 5000, NULL, NULL);
    c->cb = cb;
    c->arg = arg;
    c->phase = PHASE_WITH;
    uv_timer_init(loop, &c->timer);
    /* Start from the loop so the callback never fires inside this call. */
    uv_timer_start(&c->timer, on_start, 0, 0);
    if (out != NULL)
        *out = c;
    return 0;
}

void xacct_check_cancel(xacct_check_t *c)
{
    if (c == NULL || c->phase == PHASE_DONE)
        return;
    if (c->call != NULL) {
        xacct_aws_call_t *call = c->call;
        c->call = NULL;
        xacct_aws_cancel(call); /* fires on_assume with ECANCELED -> finish */
        if (c->phase == PHASE_DONE)
            return;
    }
    if (c->with_call != NULL) {
        xacct_customer_role_op_t *op = c->with_call;
        c->with_call = NULL;
        xacct_customer_role_cancel(op); /* fires on_assume_with with ECANCELED */
        if (c->phase == PHASE_DONE)
            return;
    }
    finish(c, XACCT_CHECK_CANCELED, "canceled");
}
