/* SPDX-License-Identifier: MIT */
/*
 * DELETE /v1/customers/{account_id} (SPEC §7, §9.4): cancels a pending
 * onboarding through the library's cancel (cancel.h) as `xacct cancel`
 * does, then answers the customer as it now stands. 404 unknown, 409 any
 * state but pending, cancelled included (unlike the CLI, which says it was
 * already cancelled), 503 when Redis is unavailable — and then nothing
 * changed. The cancel is committed before AWS is asked to clean up, so AWS
 * failing there is not an error of the DELETE: it is answered 200 and the
 * workers finish the clean-up. Nor is Redis failing when the record is read
 * back for the answer.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include "xacct/api.h"
#include "xacct/cancel.h"
#include "xacct/customers.h"

/* From api_customers.c. */
json_t *xacct__api_customer_json(const xacct_config_t *cfg, const xacct_customer_t *c);

/* The record is read again after the cancel for the answer; a read that
 * fails (a Redis blip) is tried again a few times, for a short while. */
#define REREAD_TRIES 4
#define REREAD_DELAY_MS 100u  /* doubling between tries */
#define REREAD_WITHIN_MS 3000u /* no new try once this has passed since the cancel */

/* A committed cancel being answered. */
typedef struct cancelled_call {
    xacct_api_call_t *call;
    unsigned tries;            /* reads started */
    uint64_t since;            /* loop time (ms) the cancel was committed */
} cancelled_call_t;

static void reread(void *arg);

/*
 * The cancel stands whatever the read does: an error answer would say that
 * nothing changed (SPEC §7), and the portal's retry would then be refused
 * (409, cancelled). Without the record the answer is what the cancel itself
 * returned: the account and its state.
 */
static void answer_cancelled(cancelled_call_t *cc, const xacct_customer_t *c, int status,
                             const char *detail)
{
    xacct_api_call_t *call = cc->call;
    free(cc);
    if (c != NULL) {
        xacct_api_reply(call, 200, xacct__api_customer_json(call->ctx->cfg, c));
        return;
    }
    XACCT_LOG_WARN(&call->ctx->log, "api.cancel_reread_failed", "account", call->account_id,
                   "detail", detail ? detail : xacct_strerror(status), NULL);
    xacct_customer_t known;
    xacct__customer_init(&known);
    xacct__customer_set_field(&known, "account_id", call->account_id);
    xacct__customer_set_field(&known, "state", "cancelled");
    xacct_api_reply(call, 200, xacct__api_customer_json(call->ctx->cfg, &known));
}

static void reread_done(int status, const char *detail, const xacct_customer_t *c, void *arg)
{
    cancelled_call_t *cc = arg;
    xacct_ctx_t *ctx = cc->call->ctx;
    if (status == 0) {
        answer_cancelled(cc, c, 0, NULL);
        return;
    }
    if (cc->tries >= REREAD_TRIES || uv_now(ctx->loop) - cc->since >= REREAD_WITHIN_MS) {
        answer_cancelled(cc, NULL, status, detail);
        return;
    }
    xacct_ctx_later(ctx, (uint64_t)REREAD_DELAY_MS << (cc->tries - 1), reread, cc);
}

static void reread(void *arg)
{
    cancelled_call_t *cc = arg;
    xacct_ctx_t *ctx = cc->call->ctx;
    cc->tries++;
    int rc = ctx->store != NULL
                 ? xacct_customers_get(ctx->store, cc->call->account_id, reread_done, cc)
                 : XACCT_ESHUTDOWN;
    if (rc != 0)
        answer_cancelled(cc, NULL, rc, xacct_strerror(rc));
}

static void cancel_done(int status, const char *detail, const xacct_cancel_result_t *res,
                        void *arg)
{
    xacct_api_call_t *call = arg;
    if (status != 0) {
        char why[512];
        if (status == XACCT_ESTATE)
            snprintf(why, sizeof(why), "the customer is %s; only a pending onboarding can be "
                     "cancelled", res && res->state ? res->state : "in another state");
        else if (status == XACCT_ENOTFOUND)
            snprintf(why, sizeof(why), "no such customer");
        else
            snprintf(why, sizeof(why), "%s", detail ? detail : xacct_strerror(status));
        xacct_api_problem(call, xacct_api_status_for(status), why);
        return;
    }
    if (res != NULL && !res->cleaned)
        XACCT_LOG_WARN(&call->ctx->log, "cancel.cleanup_deferred", "account",
                       call->account_id, "detail", detail ? detail : "", NULL);
    cancelled_call_t *cc = xacct_calloc(1, sizeof(*cc));
    cc->call = call;
    cc->since = uv_now(call->ctx->loop);
    reread(cc);
}

void xacct__api_customer_cancel(xacct_api_call_t *call)
{
    int rc = xacct_cancel_pending_only(call->ctx, call->account_id, call->actor, cancel_done,
                                       call);
    if (rc != 0)
        xacct_api_problem(call, xacct_api_status_for(rc), xacct_strerror(rc));
}
