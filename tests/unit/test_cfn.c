/* SPDX-License-Identifier: MIT */
/* CloudFormation requests: parsing, the ResponseURL allow-list, the ownership
 * rules and the 4096-byte response body. Uses ../shared/testdata/cfn. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testdata.h"
#include "xacct/aws_error.h"
#include "xacct/cfn.h"

static char *default_hosts_items[] = {
    "cloudformation-custom-resource-response-*.s3*.amazonaws.com",
    "cloudformation-custom-resource-response-*.s3*.amazonaws.com.cn",
};
static const xacct_strlist_t default_hosts = {default_hosts_items, 2};

#define STACK "arn:aws:cloudformation:us-east-1:123456789012:stack/xacct-onboarding/4f1a2b3c-0000-4000-8000-000000000001"
#define RESPONSE_URL "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x%7Cy?X-Amz-Signature=abc"

static char *make_request(const char *type, const char *url, const char *account,
                          const char *role, const char *extid, const char *physical)
{
    json_t *o = json_object();
    json_object_set_new(o, "RequestType", json_string(type));
    json_object_set_new(o, "ResponseURL", json_string(url));
    json_object_set_new(o, "StackId", json_string(STACK));
    json_object_set_new(o, "RequestId", json_string("5d4a8f2e-1111-4222-8333-444455556666"));
    json_object_set_new(o, "LogicalResourceId", json_string("PhoneHome"));
    json_object_set_new(o, "ResourceType", json_string("Custom::PhoneHome"));
    if (physical)
        json_object_set_new(o, "PhysicalResourceId", json_string(physical));
    json_t *p = json_object();
    json_object_set_new(p, "ServiceToken", json_string("arn:aws:sns:us-east-1:111111111111:xacct"));
    if (account)
        json_object_set_new(p, "AccountID", json_string(account));
    if (role)
        json_object_set_new(p, "RoleArn", json_string(role));
    if (extid)
        json_object_set_new(p, "ExternalID", json_string(extid));
    json_object_set_new(p, "ServiceTimeout", json_string("300"));
    json_object_set_new(o, "ResourceProperties", p);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static xacct_cfn_request_t *parse_ok(const char *json)
{
    xacct_cfn_request_t *req = NULL;
    char err[256];
    assert_int_equal(xacct_cfn_request_parse(json, strlen(json), &default_hosts, &req, err,
                                             sizeof(err)),
                     0);
    assert_non_null(req);
    return req;
}

static void expect_unanswerable(const char *json, const xacct_strlist_t *hosts, const char *why)
{
    xacct_cfn_request_t *req = (void *)1;
    char err[256];
    assert_int_equal(xacct_cfn_request_parse(json, strlen(json), hosts, &req, err, sizeof(err)),
                     XACCT_EPARSE);
    assert_null(req);
    assert_non_null(strstr(err, why));
}

static void test_real_request(void **state)
{
    (void)state;
    size_t len;
    char *json = th_testdata("cfn/real-sns-delivered-create-request.json", &len);
    xacct_cfn_request_t *req = NULL;
    char err[256];
    assert_int_equal(xacct_cfn_request_parse(json, len, &default_hosts, &req, err, sizeof(err)), 0);
    assert_int_equal(req->type, XACCT_CFN_CREATE);
    assert_string_equal(req->stack_account, "933693344490");
    assert_string_equal(req->stack_region, "us-west-2");
    assert_string_equal(req->stack_name, "opsee-role-stack-greg-test-blah");
    assert_string_equal(req->request_id, "cb46085e-b829-4567-81b8-9f5dd0755c2a");
    assert_string_equal(req->logical_id, "OpseeNotification");
    assert_string_equal(req->response_host,
                        "cloudformation-custom-resource-response-uswest2.s3-us-west-2.amazonaws.com");
    assert_string_equal(req->service_token, "arn:aws:sns:us-west-2:933693344490:opsee-cfn-callback");
    assert_int_equal(req->service_timeout, 3600);
    /* Its properties are another product's: answerable, but invalid for us. */
    assert_non_null(req->property_error);
    assert_non_null(strstr(req->property_error, "AccountID"));
    xacct_cfn_request_free(req);
    free(json);
}

static void test_doc_examples_unanswerable(void **state)
{
    (void)state;
    const char *files[] = {"cfn/reference-create-request.json", "cfn/reference-update-request.json",
                           "cfn/reference-delete-request.json", "cfn/walkthrough-create-request.json",
                           "cfn/walkthrough-update-request.json",
                           "cfn/walkthrough-delete-request.json"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        size_t len;
        char *json = th_testdata(files[i], &len);
        xacct_cfn_request_t *req = NULL;
        char err[256];
        /* Placeholder ResponseURLs and StackIds: nothing to answer. */
        assert_int_equal(xacct_cfn_request_parse(json, len, &default_hosts, &req, err, sizeof(err)),
                         XACCT_EPARSE);
        assert_null(req);
        free(json);
    }
}

/* A documented request with a real ResponseURL in place of its placeholder
 * (the walkthrough's; the reference examples' StackIds name no account). */
static xacct_cfn_request_t *doc_request(const char *file)
{
    size_t len;
    char *text = th_testdata(file, &len);
    json_t *o = json_loadb(text, len, 0, NULL);
    assert_non_null(o);
    json_object_set_new(o, "ResponseURL", json_string(RESPONSE_URL));
    char *json = json_dumps(o, JSON_COMPACT);
    xacct_cfn_request_t *req = parse_ok(json);
    free(json);
    json_decref(o);
    free(text);
    return req;
}

/* Every member of ours is one the documented responses have, and every
 * member they all have (Reason too, when FAILED) is in ours. */
static void assert_documented_shape(const char *body, const char *const *docs, size_t ndocs)
{
    json_t *ours = json_loads(body, 0, NULL);
    assert_non_null(ours);
    json_t *all = json_object(), *common = NULL;
    for (size_t i = 0; i < ndocs; i++) {
        size_t len;
        char *text = th_testdata(docs[i], &len);
        json_t *d = json_loadb(text, len, 0, NULL);
        assert_non_null(d);
        assert_int_equal(json_object_update(all, d), 0);
        if (common == NULL) {
            common = json_deep_copy(d);
        } else {
            const char *k;
            void *tmp;
            json_t *v;
            json_object_foreach_safe(common, tmp, k, v)
            {
                (void)v;
                if (json_object_get(d, k) == NULL)
                    json_object_del(common, k);
            }
        }
        json_decref(d);
        free(text);
    }
    const char *k;
    json_t *v;
    json_object_foreach(ours, k, v)
    {
        if (json_object_get(all, k) == NULL)
            fail_msg("member %s is in no documented response", k);
    }
    json_object_foreach(common, k, v)
    {
        if (json_object_get(ours, k) == NULL)
            fail_msg("member %s of every documented response is missing", k);
    }
    json_decref(common);
    json_decref(all);
    json_decref(ours);
}

static void test_doc_examples_answered(void **state)
{
    (void)state;
    static const char *const ok_docs[] = {
        "cfn/reference-create-response-success.json", "cfn/reference-update-response-success.json",
        "cfn/reference-delete-response-success.json", "cfn/walkthrough-create-response-success.json",
        "cfn/walkthrough-delete-response-success.json",
        "cfn/walkthrough-update-response-success-replacement.json",
    };
    static const char *const failed_docs[] = {
        "cfn/reference-create-response-failed.json", "cfn/reference-update-response-failed.json",
        "cfn/reference-delete-response-failed.json",
    };
    static const struct {
        const char *file;
        xacct_cfn_type_t type;
    } rows[] = {
        {"cfn/walkthrough-create-request.json", XACCT_CFN_CREATE},
        {"cfn/walkthrough-update-request.json", XACCT_CFN_UPDATE},
        {"cfn/walkthrough-delete-request.json", XACCT_CFN_DELETE},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        xacct_cfn_request_t *req = doc_request(rows[i].file);
        assert_int_equal(req->type, rows[i].type);
        if (rows[i].type != XACCT_CFN_CREATE)
            assert_non_null(req->physical_id);
        /* Another provider's properties: answerable, invalid for xacct. */
        assert_non_null(req->property_error);
        char *body = NULL;
        xacct_cfn_data_t data = {.role_arn = "arn:aws:iam::123456789012:role/R", .state = "active"};
        assert_int_equal(xacct_cfn_response_build(req, XACCT_CFN_SUCCESS, NULL, "xacct-123456789012",
                                                  &data, &body),
                         0);
        assert_documented_shape(body, ok_docs, sizeof(ok_docs) / sizeof(ok_docs[0]));
        free(body);
        assert_int_equal(xacct_cfn_response_build(req, XACCT_CFN_FAILED, req->property_error,
                                                  "xacct-123456789012", NULL, &body),
                         0);
        assert_documented_shape(body, failed_docs, sizeof(failed_docs) / sizeof(failed_docs[0]));
        free(body);
        xacct_cfn_request_free(req);
    }
}

static void test_good_request(void **state)
{
    (void)state;
    char *json = make_request("Update", RESPONSE_URL, "123456789012",
                              "arn:aws:iam::123456789012:role/XacctAccess", "issued-id",
                              "xacct-123456789012");
    xacct_cfn_request_t *req = parse_ok(json);
    assert_int_equal(req->type, XACCT_CFN_UPDATE);
    assert_null(req->property_error);
    assert_string_equal(req->physical_id, "xacct-123456789012");
    assert_int_equal(req->service_timeout, 300);
    assert_null(req->template_version); /* none in this request */
    char reason[256];
    assert_true(xacct_cfn_check_ownership(req, true, "issued-id", reason, sizeof(reason)));
    assert_false(xacct_cfn_check_ownership(req, true, "another-id", reason, sizeof(reason)));
    assert_non_null(strstr(reason, "ExternalID does not match"));
    assert_null(strstr(reason, "issued-id"));
    assert_false(xacct_cfn_check_ownership(req, false, NULL, reason, sizeof(reason)));
    assert_non_null(strstr(reason, "not been onboarded"));
    xacct_cfn_request_free(req);
    free(json);
}

static void test_ownership_rules(void **state)
{
    (void)state;
    struct {
        const char *account, *role, *why;
    } rows[] = {
        {"210987654321", "arn:aws:iam::123456789012:role/R", "is not the account"},
        {"123456789012", "arn:aws:iam::210987654321:role/R", "not an IAM role ARN in account"},
        {"123456789012", "arn:aws:iam::123456789012:user/R", "not an IAM role ARN"},
        {"12345", "arn:aws:iam::123456789012:role/R", "12-digit"},
        {NULL, "arn:aws:iam::123456789012:role/R", "AccountID is missing"},
        {"123456789012", NULL, "RoleArn is missing"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *json = make_request("Create", RESPONSE_URL, rows[i].account, rows[i].role, "id", NULL);
        xacct_cfn_request_t *req = parse_ok(json);
        char reason[256];
        assert_false(xacct_cfn_check_ownership(req, true, "id", reason, sizeof(reason)));
        if (strstr(reason, rows[i].why) == NULL)
            fail_msg("row %zu: reason '%s' lacks '%s'", i, reason, rows[i].why);
        xacct_cfn_request_free(req);
        free(json);
    }
    char *json = make_request("Create", RESPONSE_URL, "123456789012",
                              "arn:aws:iam::123456789012:role/R", NULL, NULL);
    xacct_cfn_request_t *req = parse_ok(json);
    assert_non_null(strstr(req->property_error, "ExternalID is missing"));
    xacct_cfn_request_free(req);
    free(json);
}

static void test_response_url_rules(void **state)
{
    (void)state;
    const char *role = "arn:aws:iam::123456789012:role/R";
    struct {
        const char *url, *why;
    } rows[] = {
        {"http://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x", "not https"},
        {"https://127.0.0.1/x", "not in cloudformation.response_hosts"},
        {"https://localhost/x", "not in cloudformation.response_hosts"},
        {"https://169.254.169.254/latest/meta-data/", "not in cloudformation.response_hosts"},
        {"https://evil.example.com/x", "not in cloudformation.response_hosts"},
        {"https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com.evil.com/x",
         "not in cloudformation.response_hosts"},
        {"https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com:8443/x",
         "not in cloudformation.response_hosts"},
        {"https://user:pw@cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x",
         "user information"},
        {"not a url", "does not parse"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *json = make_request("Create", rows[i].url, "123456789012", role, "id", NULL);
        expect_unanswerable(json, &default_hosts, rows[i].why);
        free(json);
    }
    /* An operator may list a literal IP with its port (as the tests do). */
    char *items[] = {"127.0.0.1:8443"};
    xacct_strlist_t local = {items, 1};
    char *json = make_request("Create", "https://127.0.0.1:8443/r?sig=1", "123456789012", role,
                              "id", NULL);
    xacct_cfn_request_t *req = NULL;
    char err[256];
    assert_int_equal(xacct_cfn_request_parse(json, strlen(json), &local, &req, err, sizeof(err)), 0);
    assert_string_equal(req->response_host, "127.0.0.1");
    xacct_cfn_request_free(req);
    free(json);
}

static void test_unanswerable_shapes(void **state)
{
    (void)state;
    expect_unanswerable("[1,2]", &default_hosts, "not a JSON object");
    expect_unanswerable("{\"RequestType\":\"Create\",", &default_hosts, "not a JSON object");
    char *json = make_request("Destroy", RESPONSE_URL, "123456789012", "r", "id", NULL);
    expect_unanswerable(json, &default_hosts, "RequestType");
    free(json);
    json = make_request("Delete", RESPONSE_URL, "123456789012", "r", "id", NULL);
    expect_unanswerable(json, &default_hosts, "PhysicalResourceId is missing");
    free(json);
    /* Duplicate keys could smuggle a second ResponseURL past a checker. */
    expect_unanswerable("{\"RequestType\":\"Create\",\"RequestType\":\"Delete\"}", &default_hosts,
                        "not a JSON object");
}

static void test_response_body(void **state)
{
    (void)state;
    char *json = make_request("Create", RESPONSE_URL, "123456789012",
                              "arn:aws:iam::123456789012:role/R", "id", NULL);
    xacct_cfn_request_t *req = parse_ok(json);
    char *body = NULL;
    xacct_cfn_data_t role_only = {.role_arn = "arn:aws:iam::123456789012:role/R"};
    assert_int_equal(xacct_cfn_response_build(req, XACCT_CFN_SUCCESS, NULL, "xacct-123456789012",
                                              &role_only, &body),
                     0);
    json_t *o = json_loads(body, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "Status")), "SUCCESS");
    assert_null(json_object_get(o, "Reason"));
    assert_string_equal(json_string_value(json_object_get(o, "StackId")), STACK);
    assert_string_equal(json_string_value(json_object_get(o, "RequestId")),
                        "5d4a8f2e-1111-4222-8333-444455556666");
    assert_string_equal(json_string_value(json_object_get(o, "LogicalResourceId")), "PhoneHome");
    assert_string_equal(json_string_value(json_object_get(o, "PhysicalResourceId")),
                        "xacct-123456789012");
    assert_true(json_is_object(json_object_get(o, "Data")));
    json_decref(o);
    free(body);

    /* A long multi-byte Reason is cut to fit; the JSON stays whole. */
    size_t n = 9000;
    char *reason = malloc(n * 3 + 1);
    for (size_t i = 0; i < n; i++)
        memcpy(reason + i * 3, "\xe2\x82\xac", 3); /* U+20AC */
    reason[n * 3] = '\0';
    assert_int_equal(xacct_cfn_response_build(req, XACCT_CFN_FAILED, reason, "xacct-1", NULL, &body),
                     0);
    assert_true(strlen(body) <= XACCT_CFN_MAX_RESPONSE);
    assert_true(strlen(body) > XACCT_CFN_MAX_RESPONSE - 64);
    o = json_loads(body, 0, NULL);
    assert_non_null(o);
    const char *r = json_string_value(json_object_get(o, "Reason"));
    assert_non_null(r);
    assert_int_equal(strcmp(r + strlen(r) - 3, "..."), 0);
    assert_string_equal(json_string_value(json_object_get(o, "Status")), "FAILED");
    json_decref(o);
    free(body);
    free(reason);

    /* Invalid UTF-8 in a Reason does not lose the answer. */
    assert_int_equal(xacct_cfn_response_build(req, XACCT_CFN_FAILED, "bad \xff byte", "p", NULL,
                                              &body),
                     0);
    assert_non_null(strstr(body, "bad ? byte"));
    free(body);
    /* Nor do forms jansson refuses although their bytes look like UTF-8:
     * overlong, surrogates, above U+10FFFF, f5..f7 and f8+ lead bytes. */
    static const struct {
        const char *reason, *shown;
    } bad[] = {
        {"a\xc0\xafz", "a??z"},                 /* overlong '/' */
        {"a\xe0\x80\xafz", "a???z"},           /* overlong, 3 bytes */
        {"a\xf0\x80\x80\xafz", "a????z"},     /* overlong, 4 bytes */
        {"a\xed\xa0\x80z", "a???z"},           /* U+D800, a surrogate */
        {"a\xed\xbf\xbfz", "a???z"},           /* U+DFFF */
        {"a\xf4\x90\x80\x80z", "a????z"},     /* U+110000 */
        {"a\xf5\x80\x80\x80z", "a????z"},
        {"a\xf7\xbf\xbf\xbfz", "a????z"},
        {"a\xf8\x88\x80\x80\x80z", "a?????z"},
        {"a\xfc\x84\x80\x80\x80\x80z", "a??????z"},
        {"a\xe2\x82", "a??"},                   /* cut short */
        {"ok \xc3\xa9 \xf0\x9f\x98\x80", "ok \xc3\xa9 \xf0\x9f\x98\x80"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(
            xacct_cfn_response_build(req, XACCT_CFN_FAILED, bad[i].reason, "p", NULL, &body), 0);
        o = json_loads(body, 0, NULL);
        assert_non_null(o);
        const char *got = json_string_value(json_object_get(o, "Reason"));
        if (got == NULL || strcmp(got, bad[i].shown) != 0)
            fail_msg("case %zu: Reason %s, want %s", i, got ? got : "(none)", bad[i].shown);
        json_decref(o);
        free(body);
    }
    /* FAILED always carries a Reason; a physical id is required. */
    assert_int_equal(xacct_cfn_response_build(req, XACCT_CFN_FAILED, NULL, "p", NULL, &body), 0);
    assert_non_null(strstr(body, "\"Reason\""));
    free(body);
    assert_int_equal(xacct_cfn_response_build(req, XACCT_CFN_SUCCESS, NULL, "", NULL, &body),
                     XACCT_EINVAL);
    assert_null(body);
    xacct_cfn_data_t bad_role = {.role_arn = "arn:aws:iam::123456789012:role/\xff"};
    assert_int_equal(xacct_cfn_response_build(req, XACCT_CFN_SUCCESS, NULL, "p", &bad_role, &body),
                     XACCT_EINVAL);
    assert_null(body);
    char pid[32];
    xacct_cfn_physical_id("123456789012", pid);
    assert_string_equal(pid, "xacct-123456789012");
    xacct_cfn_request_free(req);
    free(json);
}

/* The answer-by time: ServiceTimeout less 10 %, at least 5 s, at most 60 s;
 * 3600 s when the property is absent (parsed above). */
static void test_answer_by(void **state)
{
    (void)state;
    const int64_t sent = 1700000000000;
    static const struct {
        long timeout;
        int64_t margin_ms;
    } rows[] = {
        {1, 5000},       /* below 50 s the 5 s floor applies ... */
        {20, 5000},
        {50, 5000},      /* ... up to where 10 % reaches it */
        {70, 7000},      /* the 10 % rule */
        {300, 30000},
        {600, 60000},    /* where 10 % reaches the cap */
        {1000, 60000},   /* the 60 s cap */
        {XACCT_CFN_DEFAULT_TIMEOUT, 60000},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        assert_int_equal(xacct_cfn_answer_by_ms(sent, rows[i].timeout),
                         sent + rows[i].timeout * 1000 - rows[i].margin_ms);
    assert_int_equal(XACCT_CFN_DEFAULT_TIMEOUT, 3600);
}

/* The Data member written as the body's last member, with only the values
 * that are there. */
static char *data_of(const xacct_cfn_request_t *req, const char *role, const char *st)
{
    xacct_cfn_data_t data = {.role_arn = role, .state = st};
    char *body = NULL;
    assert_int_equal(xacct_cfn_response_build(req, XACCT_CFN_SUCCESS, NULL, "p", &data, &body), 0);
    return body;
}

static void test_response_data(void **state)
{
    (void)state;
    char *json = make_request("Create", RESPONSE_URL, "123456789012",
                              "arn:aws:iam::123456789012:role/R", "id", NULL);
    xacct_cfn_request_t *req = parse_ok(json);
    char *body = data_of(req, "arn:aws:iam::123456789012:role/R", "active");
    assert_non_null(strstr(
        body, ",\"Data\":{\"RoleArn\":\"arn:aws:iam::123456789012:role/R\",\"State\":\"active\"}}"));
    free(body);
    body = data_of(req, "", "offboarding");
    assert_non_null(strstr(body, ",\"Data\":{\"State\":\"offboarding\"}}"));
    free(body);
    body = data_of(req, NULL, NULL);
    assert_null(strstr(body, "Data"));
    free(body);
    body = data_of(req, "", "");
    assert_null(strstr(body, "Data"));
    free(body);
    xacct_cfn_data_t bad = {.role_arn = "r", .state = "bad \xff"};
    assert_int_equal(xacct_cfn_response_build(req, XACCT_CFN_SUCCESS, NULL, "p", &bad, &body),
                     XACCT_EINVAL);
    assert_null(body);
    xacct_cfn_request_free(req);
    free(json);
}

/* TemplateVersion is kept only when it has the shape xacct renders. */
static void test_template_version(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        const char *want;
    } cases[] = {
        {"0123456789ab", "0123456789ab"}, {"0123456789AB", NULL}, {"0123456789a", NULL},
        {"0123456789abc", NULL},          {"0123456789ag", NULL}, {"", NULL},
        {"01234567 9ab", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]) + 2; i++) {
        char *json = make_request("Create", RESPONSE_URL, "123456789012",
                                  "arn:aws:iam::123456789012:role/XacctAccess", "issued-id", NULL);
        json_t *o = json_loads(json, 0, NULL);
        free(json);
        json_t *p = json_object_get(o, "ResourceProperties");
        const char *want = NULL;
        if (i < sizeof(cases) / sizeof(cases[0])) {
            json_object_set_new(p, "TemplateVersion", json_string(cases[i].value));
            want = cases[i].want;
        } else if (i == sizeof(cases) / sizeof(cases[0])) {
            json_object_set_new(p, "TemplateVersion", json_integer(123456789012));
        } /* else: absent */
        json = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        xacct_cfn_request_t *req = parse_ok(json);
        assert_null(req->property_error); /* never a reason to fail the stack */
        if (want == NULL)
            assert_null(req->template_version);
        else
            assert_string_equal(req->template_version, want);
        xacct_cfn_request_free(req);
        free(json);
    }
}

/* A request as CloudFormation sends it from a stack in region's partition,
 * with extra top-level members (JSON text, may be "") and ResourceProperties
 * (JSON object text). */
static char *partition_request(const char *stack, const char *url, const char *top,
                               const char *props)
{
    return xacct_asprintf("{\"RequestType\":\"Create\",\"ResponseURL\":\"%s\",\"StackId\":\"%s\","
                          "\"RequestId\":\"r-1\",\"LogicalResourceId\":\"PhoneHome\"%s"
                          "\"ResourceProperties\":%s}",
                          url, stack, top, props);
}

/* ServiceTimeout travels beside ServiceToken at the top level of the
 * request; the properties' copy is read when the top level has none. */
static void test_service_timeout_places(void **state)
{
    (void)state;
    static const struct {
        const char *top, *props;
        long want;
    } rows[] = {
        {",\"ServiceTimeout\":\"120\",", "{}", 120},
        {",\"ServiceTimeout\":\"120\",", "{\"ServiceTimeout\":\"300\"}", 120},
        {",", "{\"ServiceTimeout\":\"300\"}", 300},
        {",\"ServiceTimeout\":\"0\",", "{\"ServiceTimeout\":\"300\"}", 300},
        {",\"ServiceTimeout\":45,", "{\"AccountID\":\"123456789012\"}", 45},
        {",\"ServiceTimeout\":\"4000\",", "{}", XACCT_CFN_DEFAULT_TIMEOUT},
        {",\"ServiceTimeout\":\"60\",", "null", 60}, /* no properties at all */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *json = partition_request(STACK, RESPONSE_URL, rows[i].top, rows[i].props);
        xacct_cfn_request_t *req = parse_ok(json);
        if (req->service_timeout != rows[i].want)
            fail_msg("row %zu: ServiceTimeout %ld, want %ld", i, req->service_timeout,
                     rows[i].want);
        xacct_cfn_request_free(req);
        free(json);
    }
}

/* A stack in each partition; its RoleArn must be in the same one, since an
 * account ID names an account only within a partition. */
static void test_partitions(void **state)
{
    (void)state;
    char *items[] = {"cloudformation-custom-resource-response-*.s3*.amazonaws.com",
                     "cloudformation-custom-resource-response-*.s3.*.amazonaws.com",
                     "cloudformation-custom-resource-response-*.s3*.amazonaws.com.cn",
                     "cloudformation-custom-resource-response-*.s3.*.amazonaws.com.cn"};
    xacct_strlist_t hosts = {items, 4};
    static const struct {
        const char *stack, *url, *role;
        bool owned;
    } rows[] = {
        {"arn:aws-cn:cloudformation:cn-north-1:123456789012:stack/s/1",
         "https://cloudformation-custom-resource-response-cnnorth1.s3.cn-north-1.amazonaws.com.cn/k",
         "arn:aws-cn:iam::123456789012:role/R", true},
        {"arn:aws-us-gov:cloudformation:us-gov-west-1:123456789012:stack/s/1",
         "https://cloudformation-custom-resource-response-usgovwest1.s3-us-gov-west-1.amazonaws.com/k",
         "arn:aws-us-gov:iam::123456789012:role/path/R", true},
        {STACK, RESPONSE_URL, "arn:aws:iam::123456789012:role/a~b/R", true},
        {"arn:aws-cn:cloudformation:cn-north-1:123456789012:stack/s/1",
         "https://cloudformation-custom-resource-response-cnnorth1.s3.cn-north-1.amazonaws.com.cn/k",
         "arn:aws:iam::123456789012:role/R", false},
        {STACK, RESPONSE_URL, "arn:aws-us-gov:iam::123456789012:role/R", false},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char props[256];
        snprintf(props, sizeof(props),
                 "{\"AccountID\":\"123456789012\",\"RoleArn\":\"%s\",\"ExternalID\":\"id\"}",
                 rows[i].role);
        char *json = partition_request(rows[i].stack, rows[i].url, ",", props);
        xacct_cfn_request_t *req = NULL;
        char err[256];
        if (xacct_cfn_request_parse(json, strlen(json), &hosts, &req, err, sizeof(err)) != 0)
            fail_msg("row %zu: %s", i, err);
        char reason[256];
        bool owned = xacct_cfn_check_ownership(req, true, "id", reason, sizeof(reason));
        if (owned != rows[i].owned)
            fail_msg("row %zu: owned %d (%s)", i, owned, owned ? "" : reason);
        if (!owned)
            assert_non_null(strstr(reason, "RoleArn is not an IAM role ARN"));
        xacct_cfn_request_free(req);
        free(json);
    }
    /* A StackId whose partition is not its region's names no stack. */
    char *json = partition_request("arn:aws:cloudformation:cn-north-1:123456789012:stack/s/1",
                                   "https://cloudformation-custom-resource-response-cnnorth1.s3.cn-north-1.amazonaws.com.cn/k",
                                   ",", "{}");
    expect_unanswerable(json, &hosts, "StackId");
    free(json);
}

/* Which final answers of a ResponseURL end the message (refused for good)
 * and which leave it to be answered again later. */
static void test_answer_refused(void **state)
{
    (void)state;
    xacct_aws_error_t err;
    memset(&err, 0, sizeof(err));
    assert_true(xacct_cfn_answer_refused(403, NULL)); /* expired presigned URL */
    assert_true(xacct_cfn_answer_refused(404, NULL));
    snprintf(err.code, sizeof(err.code), "AccessDenied");
    err.http_status = 403;
    assert_true(xacct_cfn_answer_refused(403, &err));
    assert_false(xacct_cfn_answer_refused(408, NULL));
    assert_false(xacct_cfn_answer_refused(429, NULL));
    assert_false(xacct_cfn_answer_refused(500, NULL));
    assert_false(xacct_cfn_answer_refused(0, NULL)); /* no answer at all */
    snprintf(err.code, sizeof(err.code), "RequestTimeout"); /* S3: the upload stalled */
    err.http_status = 400;
    assert_false(xacct_cfn_answer_refused(400, &err));
    snprintf(err.code, sizeof(err.code), "OperationAborted");
    err.http_status = 409;
    assert_false(xacct_cfn_answer_refused(409, &err));
    snprintf(err.code, sizeof(err.code), "SlowDown");
    assert_false(xacct_cfn_answer_refused(400, &err));
    snprintf(err.code, sizeof(err.code), "InvalidArgument");
    assert_true(xacct_cfn_answer_refused(400, &err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_response_data),
        cmocka_unit_test(test_answer_by),
        cmocka_unit_test(test_answer_refused),
        cmocka_unit_test(test_real_request),     cmocka_unit_test(test_doc_examples_unanswerable),
        cmocka_unit_test(test_doc_examples_answered),
        cmocka_unit_test(test_good_request),     cmocka_unit_test(test_ownership_rules),
        cmocka_unit_test(test_response_url_rules), cmocka_unit_test(test_unanswerable_shapes),
        cmocka_unit_test(test_response_body),    cmocka_unit_test(test_template_version),
        cmocka_unit_test(test_service_timeout_places), cmocka_unit_test(test_partitions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
