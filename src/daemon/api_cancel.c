/* SPDX-License-Identifier: MIT */
/*
 * DELETE /v1/customers/{account_id} (SPEC §7, §9.4): cancels a pending
 * onboarding through the library's cancel (cancel.h) as `xacct cancel`
 * does, then answers the customer as it now stands. 404 unknown, 409 any
 * state but pending, cancelled included (unlike the CLI, which says it was
 * already cancelled), 503 when Redis is unavailable — and then nothing
 * changed. The cancel is committed before AWS is asked to clean up, so AWS
 * failing there is not an error of the DELETE: it is answered 200 and the
 * workers finish the clean-up.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "xacct/api.h"
#include "xacct/cancel.h"
#include "xacct/customers.h"

/* From api_customers.c. */
json_t *xacct__api_customer_json(const xacct_config_t *cfg, const xacct_customer_t *c);

static void reread_done(int status, const char *detail, const xacct_customer_t *c, void *arg)
{
    xacct_api_call_t *call = arg;
    if (status != 0) {
        xacct_api_problem(call, xacct_api_status_for(status), detail);
        return;
    }
    xacct_api_reply(call, 200, xacct__api_customer_json(call->ctx->cfg, c));
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
    int rc = xacct_customers_get(call->ctx->store, call->account_id, reread_done, call);
    if (rc != 0)
        xacct_api_problem(call, xacct_api_status_for(rc), xacct_strerror(rc));
}

void xacct__api_customer_cancel(xacct_api_call_t *call)
{
    int rc = xacct_cancel_pending_only(call->ctx, call->account_id, call->actor, cancel_done,
                                       call);
    if (rc != 0)
        xacct_api_problem(call, xacct_api_status_for(rc), xacct_strerror(rc));
}
