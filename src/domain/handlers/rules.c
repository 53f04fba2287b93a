/* SPDX-License-Identifier: MIT */
/*
 * The rules every CloudFormation request shares, whatever its type: when
 * its deadline is (SentTimestamp + ServiceTimeout less a margin of 10 %, at
 * least 5 s, at most 60 s, so no stack waits an hour for nothing), what is
 * answered once it has passed, and what happens when the record changed
 * under a decision (another request for the same account got there first).
 */
#include <stdio.h>
#include <string.h>

#include "xacct/handlers.h"
#include "xacct/utf8.h"

int64_t xacct_handler_margin_ms(int64_t timeout_ms)
{
    /* One rule, kept by the CloudFormation module: the deadline less the
     * answer-by time is the margin. */
    return timeout_ms - xacct_cfn_answer_by_ms(0, (long)(timeout_ms / 1000));
}

/* Ids are cut on character boundaries: half a character would make the
 * answer impossible to build. */
void xacct__handler_failed_id(const xacct_cfn_request_t *req, xacct_decision_t *out)
{
    if (req->type == XACCT_CFN_UPDATE && req->physical_id != NULL) {
        xacct_utf8_copy(out->physical_id, sizeof(out->physical_id), req->physical_id);
        return;
    }
    int n = snprintf(out->physical_id, sizeof(out->physical_id), "xacct-%s-failed-",
                     req->stack_account);
    size_t room = sizeof(out->physical_id) - (size_t)n;
    xacct_utf8_copy(out->physical_id + n, room < 201 ? room : 201, req->request_id);
}

int64_t xacct_handler_deadline_ms(const xacct_cfn_request_t *req, int64_t sent_ms,
                                  int64_t now_ms)
{
    long timeout_s = req->service_timeout > 0 ? req->service_timeout
                                              : XACCT_HANDLER_TIMEOUT_DEFAULT_S;
    return xacct_cfn_answer_by_ms(sent_ms > 0 ? sent_ms : now_ms, timeout_s);
}

void xacct_handler_deadline(const xacct_cfn_request_t *req, const char *why,
                            xacct_decision_t *out)
{
    memset(out, 0, sizeof(*out));
    out->action = XACCT_ACT_ANSWER;
    out->event = "deadline";
    if (req->type == XACCT_CFN_DELETE) {
        /* A stack must never hang in DELETE. */
        out->status = XACCT_CFN_SUCCESS;
        out->outcome = "ignored";
        xacct_utf8_copy(out->physical_id, sizeof(out->physical_id), req->physical_id);
        snprintf(out->reason, sizeof(out->reason),
                 "acknowledged without recording: %s", why);
        return;
    }
    out->status = XACCT_CFN_FAILED;
    out->outcome = "failed";
    snprintf(out->reason, sizeof(out->reason),
             "xacct could not complete the request before the CloudFormation deadline: %s", why);
    xacct__handler_failed_id(req, out);
}

void xacct_handler_give_up(const xacct_cfn_request_t *req, const char *why,
                           xacct_decision_t *out)
{
    xacct_handler_deadline(req, why, out);
    out->event = "gave_up";
    if (req->type != XACCT_CFN_DELETE)
        snprintf(out->reason, sizeof(out->reason),
                 "xacct gave up on this request and will not process it: %s", why);
}

xacct_conflict_t xacct_handler_conflict(const xacct_cfn_request_t *req, unsigned conflicts,
                                        const char *detail, xacct_decision_t *d)
{
    /* Twice more from a fresh record; a third refusal means the record keeps
     * moving, and the request is answered from what it knows. */
    if (conflicts < 3)
        return XACCT_CONFLICT_RELOAD;
    d->transition = false;
    d->connect_stack = false;
    d->enqueue_offboard = false;
    d->cleanup_template = false;
    if (d->status == XACCT_CFN_SUCCESS && req->type != XACCT_CFN_DELETE) {
        d->status = XACCT_CFN_FAILED;
        snprintf(d->reason, sizeof(d->reason),
                 "the customer's state does not allow this change (%s)",
                 detail ? detail : "refused");
    }
    return XACCT_CONFLICT_AUDIT;
}
