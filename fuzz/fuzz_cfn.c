/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes the CloudFormation custom-resource request end to end without I/O:
 * the parse against the default ResponseURL hosts, the ownership rules, every
 * handler's decision for a few customer records and check results, and the
 * answer built from each decision. Property: an answer never fails for its
 * encoding (XACCT_EINVAL), so no request goes unanswered for a cut character.
 */
#include "fuzz_util.h"
#include "xacct/cfn.h"
#include "xacct/config.h"
#include "xacct/handlers.h"

static void answer(const xacct_cfn_request_t *req, const xacct_decision_t *d)
{
    char *body = NULL;
    int rc = xacct_cfn_response_build(req, d->status, d->reason, d->physical_id, NULL, &body);
    FUZZ_ASSERT(rc == 0 || rc == XACCT_ETOOBIG);
    FUZZ_ASSERT(rc != 0 || strlen(body) <= XACCT_CFN_MAX_RESPONSE);
    free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *items[] = {
        "cloudformation-custom-resource-response-*.s3*.amazonaws.com",
        "cloudformation-custom-resource-response-*.s3.*.amazonaws.com",
        "cloudformation-custom-resource-response-*.s3*.amazonaws.com.cn",
        "cloudformation-custom-resource-response-*.s3.*.amazonaws.com.cn",
    };
    static const xacct_strlist_t hosts = {items, 4};
    xacct_cfn_request_t *req = NULL;
    char err[512];

    if (xacct_cfn_request_parse((const char *)data, size, &hosts, &req, err, sizeof(err)) != 0) {
        FUZZ_ASSERT(req == NULL);
        return 0;
    }
    char reason[512];
    (void)xacct_cfn_check_ownership(req, true, "issued-external-id", reason, sizeof(reason));

    char phys[32];
    xacct_cfn_physical_id(req->stack_account, phys);
#define REST .account_id = "123456789012", .region = "", .topic_arn = "", .created_at = "", \
             .updated_at = "", .last_request_id = "", .last_error = "", \
             .pending_external_id = "", .template_version = "", .verified_at = ""
    const xacct_customer_t views[] = {
        {.state = XACCT_CUSTOMER_PENDING, .external_id = "issued-external-id", .stack_id = "",
         .physical_id = "", .role_arn = "arn:aws:iam::123456789012:role/R", REST},
        {.state = XACCT_CUSTOMER_ACTIVE,
         .external_id = req->external_id ? req->external_id : "x", .stack_id = req->stack_id,
         .physical_id = phys, .role_arn = req->role_arn ? req->role_arn : "r", REST},
        {.state = XACCT_CUSTOMER_OFFBOARDED, .external_id = "other", .stack_id = "",
         .physical_id = "", .role_arn = "r", REST},
    };
#undef REST
    static const xacct_check_result_t results[] = {
        XACCT_CHECK_SECURE, XACCT_CHECK_INSECURE, XACCT_CHECK_NOT_ASSUMABLE,
        XACCT_CHECK_ERROR, XACCT_CHECK_TRANSIENT, XACCT_CHECK_CANCELED,
    };
    const xacct_handler_t *h = xacct_handler_for(req->type);
    FUZZ_ASSERT(h != NULL);
    xacct_decision_t d;
    for (size_t v = 0; v <= sizeof(views) / sizeof(views[0]); v++) {
        const xacct_customer_t *c = v < 3 ? &views[v] : NULL;
        h->decide(req, c, &d);
        if (d.action == XACCT_ACT_ANSWER) {
            answer(req, &d);
        } else {
            FUZZ_ASSERT(h->after_check != NULL && c != NULL);
            for (size_t r = 0; r < sizeof(results) / sizeof(results[0]); r++) {
                h->after_check(req, c, results[r], "detail \xc3\xa9", &d);
                answer(req, &d);
            }
        }
    }
    xacct_handler_deadline(req, "redis down", &d);
    answer(req, &d);
    xacct_cfn_request_free(req);
    return 0;
}
