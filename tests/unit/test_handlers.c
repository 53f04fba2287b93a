/* SPDX-License-Identifier: MIT */
/* Handler decisions, one row per case of SPEC §4 steps 4, 5 and 8. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/handlers.h"

#define ACCT "123456789012"
#define STACK "arn:aws:cloudformation:us-east-1:" ACCT ":stack/xacct-onboarding/11111111-2222-4333-8444-555555555555"
#define OTHER_STACK "arn:aws:cloudformation:us-east-1:" ACCT ":stack/xacct-onboarding/99999999-2222-4333-8444-555555555555"
#define ROLE "arn:aws:iam::" ACCT ":role/XacctAccess"

static char *hosts_items[] = {"cloudformation-custom-resource-response-*.s3*.amazonaws.com"};
static const xacct_strlist_t hosts = {hosts_items, 1};

static xacct_cfn_request_t *request(const char *type, const char *stack, const char *extid,
                                    const char *physical)
{
    json_t *p = json_pack("{s:s, s:s, s:s}", "AccountID", ACCT, "RoleArn", ROLE, "ExternalID", extid);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "RequestType", type, "ResponseURL",
                          "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/k?s=1",
                          "StackId", stack, "RequestId", "req-1", "LogicalResourceId", "PhoneHome",
                          "ResourceProperties", p);
    if (physical)
        json_object_set_new(o, "PhysicalResourceId", json_string(physical));
    char *text = json_dumps(o, 0);
    json_decref(o);
    xacct_cfn_request_t *req = NULL;
    char err[256];
    assert_int_equal(xacct_cfn_request_parse(text, strlen(text), &hosts, &req, err, sizeof(err)), 0);
    free(text);
    return req;
}

static xacct_customer_view_t customer(const char *state, const char *stack, const char *physical)
{
    xacct_customer_view_t c = {state, "ext-secret-77", stack, physical, ROLE};
    return c;
}

static void test_create_paths(void **state)
{
    (void)state;
    const xacct_handler_t *h = xacct_handler_for(XACCT_CFN_CREATE);
    xacct_cfn_request_t *req = request("Create", STACK, "ext-secret-77", NULL);
    xacct_customer_view_t pending = customer("pending", "", "");
    xacct_decision_t d;

    h->decide(req, &pending, &d);
    assert_int_equal(d.action, XACCT_ACT_CHECK);

    h->after_check(req, &pending, XACCT_CHECK_SECURE, "ok", &d);
    assert_int_equal(d.status, XACCT_CFN_SUCCESS);
    assert_string_equal(d.new_state, "active");
    assert_string_equal(d.expect_state, "pending");
    assert_string_equal(d.physical_id, "xacct-" ACCT);

    h->after_check(req, &pending, XACCT_CHECK_INSECURE, "assumable without", &d);
    assert_int_equal(d.status, XACCT_CFN_FAILED);
    assert_string_equal(d.new_state, "rejected");
    assert_string_equal(d.event, "rejected");
    /* A failed Create never carries the customer's stable id. */
    assert_string_not_equal(d.physical_id, "xacct-" ACCT);
    assert_non_null(strstr(d.physical_id, "failed"));

    h->after_check(req, &pending, XACCT_CHECK_TRANSIENT, "sts down", &d);
    assert_int_equal(d.status, XACCT_CFN_FAILED);
    assert_null(d.new_state);

    /* Not onboarded. */
    h->decide(req, NULL, &d);
    assert_int_equal(d.action, XACCT_ACT_ANSWER);
    assert_int_equal(d.status, XACCT_CFN_FAILED);
    assert_non_null(strstr(d.reason, "not been onboarded"));
    assert_null(d.new_state);
    xacct_cfn_request_free(req);

    /* Wrong external ID: FAILED, nothing changes. */
    req = request("Create", STACK, "guessed", NULL);
    h->decide(req, &pending, &d);
    assert_int_equal(d.status, XACCT_CFN_FAILED);
    assert_null(d.new_state);
    assert_non_null(strstr(d.reason, "ExternalID"));
    assert_null(strstr(d.reason, "ext-secret-77"));
    xacct_cfn_request_free(req);

    /* A rejected customer that fails again stays rejected (no transition). */
    req = request("Create", STACK, "ext-secret-77", NULL);
    xacct_customer_view_t rejected = customer("rejected", "", "");
    h->after_check(req, &rejected, XACCT_CHECK_INSECURE, "still unsafe", &d);
    assert_int_equal(d.status, XACCT_CFN_FAILED);
    assert_null(d.new_state);
    h->after_check(req, &rejected, XACCT_CHECK_SECURE, "fixed", &d);
    assert_string_equal(d.new_state, "active");
    /* A repeated Create of the active customer's own stack changes nothing. */
    xacct_customer_view_t same = customer("active", STACK, "xacct-" ACCT);
    h->decide(req, &same, &d);
    assert_int_equal(d.action, XACCT_ACT_CHECK);
    h->after_check(req, &same, XACCT_CHECK_SECURE, "ok", &d);
    assert_int_equal(d.status, XACCT_CFN_SUCCESS);
    assert_null(d.new_state);
    xacct_cfn_request_free(req);

    /* Active through another stack. */
    req = request("Create", OTHER_STACK, "ext-secret-77", NULL);
    xacct_customer_view_t active = customer("active", STACK, "xacct-" ACCT);
    h->decide(req, &active, &d);
    assert_int_equal(d.status, XACCT_CFN_FAILED);
    assert_non_null(strstr(d.reason, "already connected"));
    /* Offboarded customers must be onboarded again. */
    xacct_customer_view_t gone = customer("offboarded", STACK, "xacct-" ACCT);
    h->decide(req, &gone, &d);
    assert_int_equal(d.status, XACCT_CFN_FAILED);
    assert_non_null(strstr(d.reason, "offboarded"));
    xacct_cfn_request_free(req);
}

static void test_update_keeps_physical_id(void **state)
{
    (void)state;
    const xacct_handler_t *h = xacct_handler_for(XACCT_CFN_UPDATE);
    xacct_cfn_request_t *req = request("Update", STACK, "ext-secret-77", "xacct-" ACCT);
    xacct_customer_view_t active = customer("active", STACK, "xacct-" ACCT);
    xacct_decision_t d;
    h->decide(req, &active, &d);
    assert_int_equal(d.action, XACCT_ACT_CHECK);
    h->after_check(req, &active, XACCT_CHECK_SECURE, "ok", &d);
    assert_string_equal(d.physical_id, "xacct-" ACCT);
    assert_string_equal(d.new_state, "active");
    /* An unsafe new role fails the Update but leaves the customer active. */
    h->after_check(req, &active, XACCT_CHECK_INSECURE, "bad", &d);
    assert_int_equal(d.status, XACCT_CFN_FAILED);
    assert_null(d.new_state);
    assert_string_equal(d.physical_id, "xacct-" ACCT);
    xacct_cfn_request_free(req);
}

/* Re-verification found the role broken (SPEC §9.2): the customer is still
 * connected through its stack, so an Update that passes the probes makes it
 * active again, another stack's Create is refused, and its Delete offboards. */
static void test_degraded_customer(void **state)
{
    (void)state;
    xacct_customer_view_t degraded = customer("degraded", STACK, "xacct-" ACCT);
    xacct_decision_t d;
    const xacct_handler_t *h = xacct_handler_for(XACCT_CFN_UPDATE);
    xacct_cfn_request_t *req = request("Update", STACK, "ext-secret-77", "xacct-" ACCT);
    h->decide(req, &degraded, &d);
    assert_int_equal(d.action, XACCT_ACT_CHECK);
    h->after_check(req, &degraded, XACCT_CHECK_SECURE, "ok", &d);
    assert_int_equal(d.status, XACCT_CFN_SUCCESS);
    assert_string_equal(d.new_state, "active");
    assert_string_equal(d.expect_state, "degraded");
    h->after_check(req, &degraded, XACCT_CHECK_INSECURE, "probe 'wrong' was allowed", &d);
    assert_int_equal(d.status, XACCT_CFN_FAILED);
    assert_null(d.new_state); /* stays degraded */
    xacct_cfn_request_free(req);

    h = xacct_handler_for(XACCT_CFN_CREATE);
    req = request("Create", OTHER_STACK, "ext-secret-77", NULL);
    h->decide(req, &degraded, &d);
    assert_int_equal(d.status, XACCT_CFN_FAILED);
    assert_non_null(strstr(d.reason, "already connected"));
    xacct_cfn_request_free(req);

    h = xacct_handler_for(XACCT_CFN_DELETE);
    req = request("Delete", STACK, "ext-secret-77", "xacct-" ACCT);
    h->decide(req, &degraded, &d);
    assert_int_equal(d.status, XACCT_CFN_SUCCESS);
    assert_true(d.enqueue_offboard);
    assert_string_equal(d.new_state, "offboarding");
    assert_string_equal(d.expect_state, "degraded");
    xacct_cfn_request_free(req);
}

static void test_delete_rules(void **state)
{
    (void)state;
    const xacct_handler_t *h = xacct_handler_for(XACCT_CFN_DELETE);
    assert_null(h->after_check);
    xacct_decision_t d;
    xacct_customer_view_t active = customer("active", STACK, "xacct-" ACCT);

    xacct_cfn_request_t *req = request("Delete", STACK, "ext-secret-77", "xacct-" ACCT);
    h->decide(req, &active, &d);
    assert_int_equal(d.status, XACCT_CFN_SUCCESS);
    assert_true(d.enqueue_offboard);
    assert_string_equal(d.new_state, "offboarding");
    assert_string_equal(d.expect_state, "active");
    xacct_cfn_request_free(req);

    /* Rollback Delete of a failed Create: another physical id. */
    req = request("Delete", STACK, "ext-secret-77", "xacct-" ACCT "-failed-req-0");
    h->decide(req, &active, &d);
    assert_int_equal(d.status, XACCT_CFN_SUCCESS);
    assert_false(d.enqueue_offboard);
    assert_null(d.new_state);
    xacct_cfn_request_free(req);

    /* Same physical id from an older stack. */
    req = request("Delete", OTHER_STACK, "ext-secret-77", "xacct-" ACCT);
    h->decide(req, &active, &d);
    assert_false(d.enqueue_offboard);
    xacct_cfn_request_free(req);

    /* A forged Delete: the current stack and physical id, but not the
     * customer's ExternalID (another onboarded account published it). */
    req = request("Delete", STACK, "ext-secret-78", "xacct-" ACCT);
    h->decide(req, &active, &d);
    assert_int_equal(d.status, XACCT_CFN_SUCCESS);
    assert_false(d.enqueue_offboard);
    assert_null(d.new_state);
    assert_string_equal(d.outcome, "refused");
    assert_non_null(strstr(d.reason, "ExternalID"));
    assert_null(strstr(d.reason, "ext-secret"));
    xacct_cfn_request_free(req);

    /* Rejected customer, unknown customer, bad external ID: still SUCCESS. */
    req = request("Delete", STACK, "wrong", "xacct-" ACCT);
    xacct_customer_view_t rejected = customer("rejected", STACK, "xacct-" ACCT);
    h->decide(req, &rejected, &d);
    assert_int_equal(d.status, XACCT_CFN_SUCCESS);
    assert_false(d.enqueue_offboard);
    h->decide(req, NULL, &d);
    assert_int_equal(d.status, XACCT_CFN_SUCCESS);
    assert_false(d.enqueue_offboard);
    xacct_handler_deadline(req, "redis down", &d);
    assert_int_equal(d.status, XACCT_CFN_SUCCESS);
    xacct_cfn_request_free(req);

    req = request("Create", STACK, "ext-secret-77", NULL);
    xacct_handler_deadline(req, "sts down", &d);
    assert_int_equal(d.status, XACCT_CFN_FAILED);
    assert_non_null(strstr(d.reason, "sts down"));
    xacct_cfn_request_free(req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_paths),
        cmocka_unit_test(test_update_keeps_physical_id),
        cmocka_unit_test(test_delete_rules),
        cmocka_unit_test(test_degraded_customer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
