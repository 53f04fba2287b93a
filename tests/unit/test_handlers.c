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

static xacct_customer_t customer(const char *state, const char *stack, const char *physical)
{
    xacct_customer_t c = {
        .state = xacct_customer_state_from_name(state),
        .account_id = ACCT,
        .external_id = "ext-secret-77",
        .role_arn = ROLE,
        .stack_id = stack,
        .region = "us-east-1",
        .topic_arn = "",
        .physical_id = physical,
        .created_at = "",
        .updated_at = "",
        .last_request_id = "",
        .last_error = "",
    };
    assert_int_not_equal(c.state, XACCT_CUSTOMER_UNKNOWN);
    return c;
}

static void test_create_paths(void **state)
{
    (void)state;
    const xacct_handler_t *h = xacct_handler_for(XACCT_CFN_CREATE);
    xacct_cfn_request_t *req = request("Create", STACK, "ext-secret-77", NULL);
    xacct_customer_t pending = customer("pending", "", "");
    xacct_decision_t d;

    h->decide(req, &pending, &d);
    assert_int_equal(d.action, XACCT_ACT_CHECK);

    h->after_check(req, &pending, XACCT_CHECK_SECURE, "ok", &d);
    assert_int_equal(d.status, XACCT_CFN_SUCCESS);
    assert_true(d.transition);
    assert_int_equal(d.to_state, XACCT_CUSTOMER_ACTIVE);
    assert_true(d.connect_stack);
    assert_true(d.cleanup_template);
    assert_string_equal(d.physical_id, "xacct-" ACCT);

    h->after_check(req, &pending, XACCT_CHECK_INSECURE, "assumable without", &d);
    assert_int_equal(d.status, XACCT_CFN_FAILED);
    assert_true(d.transition);
    assert_int_equal(d.to_state, XACCT_CUSTOMER_REJECTED);
    assert_string_equal(d.event, "rejected");
    /* A failed Create never carries the customer's stable id. */
    assert_string_not_equal(d.physical_id, "xacct-" ACCT);
    assert_non_null(strstr(d.physical_id, "failed"));

    h->after_check(req, &pending, XACCT_CHECK_TRANSIENT, "sts down", &d);
    assert_int_equal(d.status, XACCT_CFN_FAILED);
    assert_false(d.transition);

    /* Not onboarded. */
    h->decide(req, NULL, &d);
    assert_int_equal(d.action, XACCT_ACT_ANSWER);
    assert_int_equal(d.status, XACCT_CFN_FAILED);
    assert_non_null(strstr(d.reason, "not been onboarded"));
    assert_false(d.transition);
    xacct_cfn_request_free(req);

    /* Wrong external ID: FAILED, nothing changes. */
    req = request("Create", STACK, "guessed", NULL);
    h->decide(req, &pending, &d);
    assert_int_equal(d.status, XACCT_CFN_FAILED);
    assert_false(d.transition);
    assert_non_null(strstr(d.reason, "ExternalID"));
    assert_null(strstr(d.reason, "ext-secret-77"));
    xacct_cfn_request_free(req);

    /* A rejected customer that fails again stays rejected (no transition). */
    req = request("Create", STACK, "ext-secret-77", NULL);
    xacct_customer_t rejected = customer("rejected", "", "");
    h->after_check(req, &rejected, XACCT_CHECK_INSECURE, "still unsafe", &d);
    assert_int_equal(d.status, XACCT_CFN_FAILED);
    assert_false(d.transition);
    h->after_check(req, &rejected, XACCT_CHECK_SECURE, "fixed", &d);
    assert_true(d.transition);
    assert_int_equal(d.to_state, XACCT_CUSTOMER_ACTIVE);
    /* A repeated Create of a connected customer's own stack (active, or
     * degraded) changes nothing: no transition a Create may not make. */
    const char *connected[] = {"active", "degraded"};
    for (size_t i = 0; i < 2; i++) {
        xacct_customer_t same = customer(connected[i], STACK, "xacct-" ACCT);
        h->decide(req, &same, &d);
        assert_int_equal(d.action, XACCT_ACT_CHECK);
        h->after_check(req, &same, XACCT_CHECK_SECURE, "ok", &d);
        assert_int_equal(d.status, XACCT_CFN_SUCCESS);
        assert_false(d.transition);
    }
    xacct_cfn_request_free(req);

    /* Active through another stack: a Create naming the recorded role
     * (anyone onboarded may publish one; a stack of its own has a role of
     * its own) is refused. */
    req = request("Create", OTHER_STACK, "ext-secret-77", NULL);
    xacct_customer_t active = customer("active", STACK, "xacct-" ACCT);
    h->decide(req, &active, &d);
    assert_int_equal(d.status, XACCT_CFN_FAILED);
    assert_false(d.transition);
    assert_non_null(strstr(d.reason, "already connected"));
    /* With a role of its own the recorded role is checked first; once it
     * cannot be assumed, the new role's pass replaces the stack. */
    xacct_customer_t elsewhere = customer("active", STACK, "xacct-" ACCT);
    elsewhere.role_arn = "arn:aws:iam::" ACCT ":role/xacct-onboarding-XacctRole-1ABC";
    h->decide(req, &elsewhere, &d);
    assert_int_equal(d.action, XACCT_ACT_CHECK);
    assert_true(d.probe_recorded_role);
    h->after_check(req, &elsewhere, XACCT_CHECK_SECURE, "ok", &d);
    assert_int_equal(d.status, XACCT_CFN_SUCCESS);
    assert_true(d.transition);
    assert_true(d.connect_stack);
    assert_true(d.replace_stack);
    xacct_handler_recorded_role_alive(req, &elsewhere, &d);
    assert_int_equal(d.status, XACCT_CFN_FAILED);
    assert_false(d.transition);
    assert_non_null(strstr(d.reason, "already connected"));
    assert_string_not_equal(d.physical_id, "xacct-" ACCT);
    /* During a rotation the recorded role may trust only the pending ID:
     * its stack is kept. */
    elsewhere.pending_external_id = "ext-secret-88";
    h->decide(req, &elsewhere, &d);
    assert_int_equal(d.status, XACCT_CFN_FAILED);
    assert_non_null(strstr(d.reason, "already connected"));
    xacct_cfn_request_free(req);
    /* Another stack's Update never moves the customer. */
    h = xacct_handler_for(XACCT_CFN_UPDATE);
    req = request("Update", OTHER_STACK, "ext-secret-77", "xacct-" ACCT);
    h->decide(req, &active, &d);
    assert_int_equal(d.status, XACCT_CFN_FAILED);
    assert_non_null(strstr(d.reason, "already connected"));
    h = xacct_handler_for(XACCT_CFN_CREATE);
    xacct_cfn_request_free(req);
    req = request("Create", OTHER_STACK, "ext-secret-77", NULL);
    /* Offboarded customers must be onboarded again. */
    xacct_customer_t gone = customer("offboarded", STACK, "xacct-" ACCT);
    h->decide(req, &gone, &d);
    assert_int_equal(d.status, XACCT_CFN_FAILED);
    assert_non_null(strstr(d.reason, "offboarded"));
    xacct_cfn_request_free(req);
}

/* SPEC §9.4: a Create for an expired or cancelled onboarding is FAILED with
 * the fixed Reason and changes nothing; a wrong external ID still gets the
 * ownership answer. */
static void test_create_after_expiry(void **state)
{
    (void)state;
    const xacct_handler_t *h = xacct_handler_for(XACCT_CFN_CREATE);
    xacct_cfn_request_t *req = request("Create", STACK, "ext-secret-77", NULL);
    const char *states[] = {"expired", "cancelled"};
    for (size_t i = 0; i < 2; i++) {
        xacct_customer_t c = customer(states[i], "", "");
        xacct_decision_t d;
        h->decide(req, &c, &d);
        assert_int_equal(d.action, XACCT_ACT_ANSWER);
        assert_int_equal(d.status, XACCT_CFN_FAILED);
        assert_string_equal(d.reason, "this onboarding link has expired; ask for a new one");
        assert_false(d.transition);
        assert_false(d.cleanup_template);
        assert_false(d.enqueue_offboard);
    }
    xacct_cfn_request_free(req);
    req = request("Create", STACK, "ext-wrong-00", NULL);
    xacct_customer_t c = customer("expired", "", "");
    xacct_decision_t d;
    h->decide(req, &c, &d);
    assert_int_equal(d.status, XACCT_CFN_FAILED);
    assert_null(strstr(d.reason, "has expired"));
    xacct_cfn_request_free(req);
}

/* The answer's Data: the role and state once the decision is carried out. */
static void test_answer_data(void **state)
{
    (void)state;
    const xacct_handler_t *h = xacct_handler_for(XACCT_CFN_UPDATE);
    xacct_cfn_request_t *req = request("Update", STACK, "ext-secret-77", "xacct-" ACCT);
    xacct_customer_t active = customer("active", STACK, "xacct-" ACCT);
    active.role_arn = "arn:aws:iam::" ACCT ":role/Old";
    xacct_decision_t d;
    xacct_cfn_data_t data;

    h->after_check(req, &active, XACCT_CHECK_SECURE, "ok", &d);
    data = xacct_handler_answer_data(req, &active, &d);
    assert_string_equal(data.role_arn, ROLE);
    assert_string_equal(data.state, "active");

    /* A broken role on Update: the record keeps its role and state. */
    h->after_check(req, &active, XACCT_CHECK_INSECURE, "assumable without", &d);
    data = xacct_handler_answer_data(req, &active, &d);
    assert_string_equal(data.role_arn, "arn:aws:iam::" ACCT ":role/Old");
    assert_string_equal(data.state, "active");
    xacct_cfn_request_free(req);

    /* Delete: offboarding. */
    req = request("Delete", STACK, "ext-secret-77", "xacct-" ACCT);
    xacct_handler_for(XACCT_CFN_DELETE)->decide(req, &active, &d);
    data = xacct_handler_answer_data(req, &active, &d);
    assert_string_equal(data.state, "offboarding");

    /* No customer record: no Data. */
    data = xacct_handler_answer_data(req, NULL, &d);
    assert_null(data.role_arn);
    assert_null(data.state);
    xacct_cfn_request_free(req);

    /* A request without the customer's external ID (another account's
     * forgery, answered to the ResponseURL it names) hears nothing of the
     * record, whatever the answer; one with a rotation's pending ID does. */
    static const char *const types[] = {"Create", "Update", "Delete"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        req = request(types[i], STACK, "not-the-customers-id", "xacct-" ACCT);
        const xacct_handler_t *th = xacct_handler_for(req->type);
        if (th->after_check != NULL)
            th->after_check(req, &active, XACCT_CHECK_INSECURE, "x", &d);
        else
            th->decide(req, &active, &d);
        data = xacct_handler_answer_data(req, &active, &d);
        assert_null(data.role_arn);
        assert_null(data.state);
        xacct_customer_t rotating = active;
        rotating.pending_external_id = "not-the-customers-id";
        data = xacct_handler_answer_data(req, &rotating, &d);
        assert_non_null(data.state);
        xacct_cfn_request_free(req);
    }
}

static void test_update_keeps_physical_id(void **state)
{
    (void)state;
    const xacct_handler_t *h = xacct_handler_for(XACCT_CFN_UPDATE);
    xacct_cfn_request_t *req = request("Update", STACK, "ext-secret-77", "xacct-" ACCT);
    xacct_customer_t active = customer("active", STACK, "xacct-" ACCT);
    xacct_decision_t d;
    h->decide(req, &active, &d);
    assert_int_equal(d.action, XACCT_ACT_CHECK);
    h->after_check(req, &active, XACCT_CHECK_SECURE, "ok", &d);
    assert_string_equal(d.physical_id, "xacct-" ACCT);
    assert_true(d.transition);
    assert_int_equal(d.to_state, XACCT_CUSTOMER_ACTIVE);
    /* An unsafe new role fails the Update but leaves the customer active. */
    h->after_check(req, &active, XACCT_CHECK_INSECURE, "bad", &d);
    assert_int_equal(d.status, XACCT_CFN_FAILED);
    assert_false(d.transition);
    assert_string_equal(d.physical_id, "xacct-" ACCT);
    xacct_cfn_request_free(req);
}

/* Re-verification found the role broken (SPEC §9.2): the customer is still
 * connected through its stack, so an Update that passes the probes makes it
 * active again, another stack's Create whose role passes connects the
 * customer through that stack (the first one may be gone: rolled back when
 * its answer never reached CloudFormation), and a Delete offboards. */
static void test_degraded_customer(void **state)
{
    (void)state;
    xacct_customer_t degraded = customer("degraded", STACK, "xacct-" ACCT);
    xacct_decision_t d;
    const xacct_handler_t *h = xacct_handler_for(XACCT_CFN_UPDATE);
    xacct_cfn_request_t *req = request("Update", STACK, "ext-secret-77", "xacct-" ACCT);
    h->decide(req, &degraded, &d);
    assert_int_equal(d.action, XACCT_ACT_CHECK);
    h->after_check(req, &degraded, XACCT_CHECK_SECURE, "ok", &d);
    assert_int_equal(d.status, XACCT_CFN_SUCCESS);
    assert_true(d.transition);
    assert_int_equal(d.to_state, XACCT_CUSTOMER_ACTIVE);
    h->after_check(req, &degraded, XACCT_CHECK_INSECURE, "probe 'wrong' was allowed", &d);
    assert_int_equal(d.status, XACCT_CFN_FAILED);
    assert_false(d.transition); /* stays degraded */
    xacct_cfn_request_free(req);

    h = xacct_handler_for(XACCT_CFN_CREATE);
    req = request("Create", OTHER_STACK, "ext-secret-77", NULL);
    h->decide(req, &degraded, &d); /* naming the recorded role */
    assert_int_equal(d.status, XACCT_CFN_FAILED);
    assert_non_null(strstr(d.reason, "already connected"));
    degraded.role_arn = "arn:aws:iam::" ACCT ":role/xacct-onboarding-XacctRole-1ABC";
    h->decide(req, &degraded, &d);
    assert_int_equal(d.action, XACCT_ACT_CHECK);
    assert_true(d.probe_recorded_role);
    h->after_check(req, &degraded, XACCT_CHECK_SECURE, "ok", &d);
    assert_int_equal(d.status, XACCT_CFN_SUCCESS);
    assert_true(d.transition);
    assert_true(d.connect_stack);
    assert_int_equal(d.to_state, XACCT_CUSTOMER_ACTIVE);
    assert_string_equal(d.physical_id, "xacct-" ACCT);
    h->after_check(req, &degraded, XACCT_CHECK_NOT_ASSUMABLE, "role not assumable", &d);
    assert_int_equal(d.status, XACCT_CFN_FAILED);
    assert_false(d.transition); /* stays degraded on its recorded stack */
    /* Its own stack's Create again is answered and audited only. */
    xacct_cfn_request_free(req);
    req = request("Create", STACK, "ext-secret-77", NULL);
    h->decide(req, &degraded, &d);
    h->after_check(req, &degraded, XACCT_CHECK_SECURE, "ok", &d);
    assert_int_equal(d.status, XACCT_CFN_SUCCESS);
    assert_false(d.transition);
    xacct_cfn_request_free(req);

    h = xacct_handler_for(XACCT_CFN_DELETE);
    req = request("Delete", STACK, "ext-secret-77", "xacct-" ACCT);
    h->decide(req, &degraded, &d);
    assert_int_equal(d.status, XACCT_CFN_SUCCESS);
    assert_true(d.enqueue_offboard);
    assert_true(d.transition);
    assert_int_equal(d.to_state, XACCT_CUSTOMER_OFFBOARDING);
    xacct_cfn_request_free(req);
}

/* Rotation without downtime (SPEC §9.3): while a new ID is pending, an
 * Update may carry either ID; only one with the pending ID is checked with
 * it and swaps it in when the check passes. */
static void test_rotation_pending(void **state)
{
    (void)state;
    xacct_decision_t d;
    const char *states[] = {"active", "degraded"};
    for (size_t i = 0; i < 2; i++) {
        xacct_customer_t c = customer(states[i], STACK, "xacct-" ACCT);
        c.pending_external_id = "ext-secret-88";
        const xacct_handler_t *h = xacct_handler_for(XACCT_CFN_UPDATE);

        /* The old ID: exactly as before, no swap. */
        xacct_cfn_request_t *req = request("Update", STACK, "ext-secret-77", "xacct-" ACCT);
        h->decide(req, &c, &d);
        assert_int_equal(d.action, XACCT_ACT_CHECK);
        assert_false(d.rotate_external_id);
        h->after_check(req, &c, XACCT_CHECK_SECURE, "ok", &d);
        assert_int_equal(d.status, XACCT_CFN_SUCCESS);
        assert_true(d.transition);
        assert_false(d.rotate_external_id);
        assert_true(d.cleanup_template); /* the Update's template has served */
        xacct_cfn_request_free(req);

        /* The pending ID: checked with it, swapped in on a pass. */
        req = request("Update", STACK, "ext-secret-88", "xacct-" ACCT);
        h->decide(req, &c, &d);
        assert_int_equal(d.action, XACCT_ACT_CHECK);
        assert_true(d.rotate_external_id);
        h->after_check(req, &c, XACCT_CHECK_SECURE, "ok", &d);
        assert_int_equal(d.status, XACCT_CFN_SUCCESS);
        assert_true(d.transition);
        assert_int_equal(d.to_state, XACCT_CUSTOMER_ACTIVE);
        assert_true(d.connect_stack);
        assert_true(d.rotate_external_id);
        assert_true(d.cleanup_template); /* the rotation's template has served */
        assert_string_equal(d.physical_id, "xacct-" ACCT);
        assert_null(strstr(d.reason, "ext-secret"));

        /* ... and refused without a swap when the role fails with it. */
        h->after_check(req, &c, XACCT_CHECK_NOT_ASSUMABLE, "not assumable with the ID", &d);
        assert_int_equal(d.status, XACCT_CFN_FAILED);
        assert_false(d.transition);
        assert_false(d.rotate_external_id);
        assert_non_null(strstr(d.reason, "current ID stays in use"));
        assert_non_null(strstr(d.reason, "not assumable with the ID"));
        assert_null(strstr(d.reason, "ext-secret"));
        h->after_check(req, &c, XACCT_CHECK_TRANSIENT, "sts down", &d);
        assert_int_equal(d.status, XACCT_CFN_FAILED);
        assert_false(d.transition);
        xacct_cfn_request_free(req);

        /* Neither ID: the ownership rule answers FAILED. */
        req = request("Update", STACK, "ext-secret-99", "xacct-" ACCT);
        h->decide(req, &c, &d);
        assert_int_equal(d.action, XACCT_ACT_ANSWER);
        assert_int_equal(d.status, XACCT_CFN_FAILED);
        assert_false(d.rotate_external_id);
        assert_non_null(strstr(d.reason, "ExternalID does not match"));
        xacct_cfn_request_free(req);

        /* Only an Update proves the new ID: a Create carrying it is refused. */
        h = xacct_handler_for(XACCT_CFN_CREATE);
        req = request("Create", STACK, "ext-secret-88", NULL);
        h->decide(req, &c, &d);
        assert_int_equal(d.status, XACCT_CFN_FAILED);
        assert_false(d.rotate_external_id);
        assert_non_null(strstr(d.reason, "ExternalID does not match"));
        xacct_cfn_request_free(req);

        /* A Delete with the pending ID before any Update proved it: no stack
         * xacct verified carries it, so it does not offboard (still SUCCESS). */
        h = xacct_handler_for(XACCT_CFN_DELETE);
        req = request("Delete", STACK, "ext-secret-88", "xacct-" ACCT);
        h->decide(req, &c, &d);
        assert_int_equal(d.status, XACCT_CFN_SUCCESS);
        assert_false(d.transition);
        assert_false(d.enqueue_offboard);
        assert_string_equal(d.outcome, "refused");
        xacct_cfn_request_free(req);
        /* With the current ID it offboards as before. */
        req = request("Delete", STACK, "ext-secret-77", "xacct-" ACCT);
        h->decide(req, &c, &d);
        assert_true(d.enqueue_offboard);
        assert_int_equal(d.to_state, XACCT_CUSTOMER_OFFBOARDING);
        xacct_cfn_request_free(req);
    }

    /* No rotation pending: the same ID is never taken for a pending one. */
    xacct_customer_t c = customer("active", STACK, "xacct-" ACCT);
    c.pending_external_id = "";
    const xacct_handler_t *h = xacct_handler_for(XACCT_CFN_UPDATE);
    xacct_cfn_request_t *req = request("Update", STACK, "ext-secret-77", "xacct-" ACCT);
    h->decide(req, &c, &d);
    assert_false(d.rotate_external_id);
    h->after_check(req, &c, XACCT_CHECK_SECURE, "ok", &d);
    assert_false(d.rotate_external_id);
    xacct_cfn_request_free(req);
}

static void test_delete_rules(void **state)
{
    (void)state;
    const xacct_handler_t *h = xacct_handler_for(XACCT_CFN_DELETE);
    assert_null(h->after_check);
    xacct_decision_t d;
    xacct_customer_t active = customer("active", STACK, "xacct-" ACCT);

    xacct_cfn_request_t *req = request("Delete", STACK, "ext-secret-77", "xacct-" ACCT);
    h->decide(req, &active, &d);
    assert_int_equal(d.status, XACCT_CFN_SUCCESS);
    assert_true(d.enqueue_offboard);
    assert_true(d.transition);
    assert_int_equal(d.to_state, XACCT_CUSTOMER_OFFBOARDING);
    assert_false(d.connect_stack);
    assert_true(d.cleanup_template); /* no template outlives the stack */
    xacct_cfn_request_free(req);

    /* Another Delete of the same stack once it is offboarding: nothing
     * more to record, but its templates are removed again. */
    xacct_customer_t offboarding = customer("offboarding", STACK, "xacct-" ACCT);
    req = request("Delete", STACK, "ext-secret-77", "xacct-" ACCT);
    h->decide(req, &offboarding, &d);
    assert_false(d.transition);
    assert_string_equal(d.outcome, "ignored");
    assert_true(d.cleanup_template);
    xacct_cfn_request_free(req);

    /* Rollback Delete of a failed Create: another physical id. */
    req = request("Delete", STACK, "ext-secret-77", "xacct-" ACCT "-failed-req-0");
    h->decide(req, &active, &d);
    assert_int_equal(d.status, XACCT_CFN_SUCCESS);
    assert_false(d.enqueue_offboard);
    assert_false(d.transition);
    assert_false(d.cleanup_template);
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
    assert_false(d.transition);
    assert_string_equal(d.outcome, "refused");
    assert_false(d.cleanup_template);
    assert_non_null(strstr(d.reason, "ExternalID"));
    assert_null(strstr(d.reason, "ext-secret"));
    xacct_cfn_request_free(req);

    /* Rejected customer, unknown customer, bad external ID: still SUCCESS. */
    req = request("Delete", STACK, "wrong", "xacct-" ACCT);
    xacct_customer_t rejected = customer("rejected", STACK, "xacct-" ACCT);
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

/* A request whose RequestId and PhysicalResourceId are made of 2- and
 * 3-byte characters, so that every byte cut (200 of the RequestId, the
 * 320-byte physical_id) falls inside a character unless it is made on a
 * boundary. */
static xacct_cfn_request_t *wide_request(const char *type, size_t lead)
{
    char rid[257], phys[1001];
    size_t n = 0;
    for (size_t i = 0; i < lead; i++)
        rid[n++] = 'r';
    while (n + 2 <= 256) { /* U+00E9 */
        rid[n++] = (char)0xC3;
        rid[n++] = (char)0xA9;
    }
    rid[n] = '\0';
    n = 0;
    for (size_t i = 0; i < lead; i++)
        phys[n++] = 'p';
    while (n + 3 <= 1000) { /* U+20AC */
        phys[n++] = (char)0xE2;
        phys[n++] = (char)0x82;
        phys[n++] = (char)0xAC;
    }
    phys[n] = '\0';
    json_t *p = json_pack("{s:s, s:s, s:s}", "AccountID", ACCT, "RoleArn", ROLE, "ExternalID",
                          "ext-secret-77");
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "RequestType", type, "ResponseURL",
        "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/k?s=1",
        "StackId", STACK, "RequestId", rid, "LogicalResourceId", "PhoneHome",
        "PhysicalResourceId", phys, "ResourceProperties", p);
    assert_non_null(o);
    char *text = json_dumps(o, 0);
    json_decref(o);
    xacct_cfn_request_t *req = NULL;
    char err[256];
    assert_int_equal(xacct_cfn_request_parse(text, strlen(text), &hosts, &req, err, sizeof(err)),
                     0);
    free(text);
    return req;
}

/* The decision's ids are cut on character boundaries, so every answer can
 * be built (a Delete with half a character in its id would go unanswered). */
static void test_cuts_keep_whole_characters(void **state)
{
    (void)state;
    for (size_t lead = 0; lead < 3; lead++) {
        static const char *const types[] = {"Create", "Update", "Delete"};
        for (size_t t = 0; t < 3; t++) {
            xacct_cfn_request_t *req = wide_request(types[t], lead);
            xacct_customer_t none = customer("active", OTHER_STACK, "xacct-" ACCT);
            xacct_decision_t d[2];
            const xacct_handler_t *h = xacct_handler_for(req->type);
            h->decide(req, &none, &d[0]);
            if (d[0].action == XACCT_ACT_CHECK)
                h->after_check(req, &none, XACCT_CHECK_INSECURE, "no", &d[0]);
            xacct_handler_deadline(req, "redis down", &d[1]);
            for (size_t k = 0; k < 2; k++) {
                char *body = NULL;
                assert_true(strlen(d[k].physical_id) > 0);
                if (xacct_cfn_response_build(req, d[k].status, d[k].reason, d[k].physical_id,
                                             NULL, &body) != 0)
                    fail_msg("%s lead %zu decision %zu: answer cannot be built (id %s)",
                             types[t], lead, k, d[k].physical_id);
                free(body);
            }
            xacct_cfn_request_free(req);
        }
    }
}

/* SPEC §4: 10 % of the timeout, at least 5 s, at most 60 s, from
 * SentTimestamp (now when absent), ServiceTimeout 3600 s by default. */
static void test_deadline_rule(void **state)
{
    (void)state;
    assert_int_equal(xacct_handler_margin_ms(20000), 5000);     /* 2 s -> at least 5 s */
    assert_int_equal(xacct_handler_margin_ms(50000), 5000);     /* exactly 5 s */
    assert_int_equal(xacct_handler_margin_ms(300000), 30000);   /* 10 % */
    assert_int_equal(xacct_handler_margin_ms(600000), 60000);   /* exactly 60 s */
    assert_int_equal(xacct_handler_margin_ms(3600000), 60000);  /* 360 s -> at most 60 s */

    xacct_cfn_request_t *req = request("Create", STACK, "ext-secret-77", NULL);
    assert_int_equal(req->service_timeout, XACCT_HANDLER_TIMEOUT_DEFAULT_S);
    assert_int_equal(xacct_handler_deadline_ms(req, 1000000, 2000000), 1000000 + 3600000 - 60000);
    assert_int_equal(xacct_handler_deadline_ms(req, 0, 2000000), 2000000 + 3600000 - 60000);
    req->service_timeout = 30;
    assert_int_equal(xacct_handler_deadline_ms(req, 1000000, 1000000), 1000000 + 30000 - 5000);
    xacct_cfn_request_free(req);
}

/* A refused transition is decided again twice, then answered audit-only. */
static void test_conflict_policy(void **state)
{
    (void)state;
    xacct_cfn_request_t *req = request("Create", STACK, "ext-secret-77", NULL);
    xacct_customer_t pending = customer("pending", "", "");
    xacct_decision_t d;
    xacct_handler_for(XACCT_CFN_CREATE)->after_check(req, &pending, XACCT_CHECK_SECURE, "ok", &d);
    assert_int_equal(xacct_handler_conflict(req, 1, "pending -> active", &d),
                     XACCT_CONFLICT_RELOAD);
    assert_int_equal(xacct_handler_conflict(req, 2, "pending -> active", &d),
                     XACCT_CONFLICT_RELOAD);
    assert_true(d.transition);
    assert_int_equal(xacct_handler_conflict(req, 3, "offboarding -> active", &d),
                     XACCT_CONFLICT_AUDIT);
    assert_false(d.transition);
    assert_false(d.connect_stack);
    assert_false(d.cleanup_template);
    assert_int_equal(d.status, XACCT_CFN_FAILED);
    assert_non_null(strstr(d.reason, "does not allow this change (offboarding -> active)"));
    xacct_cfn_request_free(req);

    /* A Delete stays SUCCESS: a stack never hangs in DELETE. */
    req = request("Delete", STACK, "ext-secret-77", "xacct-" ACCT);
    xacct_customer_t active = customer("active", STACK, "xacct-" ACCT);
    xacct_handler_for(XACCT_CFN_DELETE)->decide(req, &active, &d);
    assert_true(d.enqueue_offboard);
    assert_int_equal(xacct_handler_conflict(req, 3, "refused", &d), XACCT_CONFLICT_AUDIT);
    assert_int_equal(d.status, XACCT_CFN_SUCCESS);
    assert_false(d.enqueue_offboard);
    assert_false(d.transition);
    xacct_cfn_request_free(req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_paths),
        cmocka_unit_test(test_create_after_expiry),
        cmocka_unit_test(test_update_keeps_physical_id),
        cmocka_unit_test(test_answer_data),
        cmocka_unit_test(test_delete_rules),
        cmocka_unit_test(test_cuts_keep_whole_characters),
        cmocka_unit_test(test_deadline_rule),
        cmocka_unit_test(test_conflict_policy),
        cmocka_unit_test(test_degraded_customer),
        cmocka_unit_test(test_rotation_pending),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
