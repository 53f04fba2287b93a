/* SPDX-License-Identifier: MIT */
/* The customer template (structure, trust policy, no parameters), its S3
 * key, and the quick-create launch URL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/launch_url.h"
#include "xacct/template.h"

#define TOPIC "arn:aws:sns:eu-west-1:111111111111:xacct-phone-home"
#define EXTID "5b0c7ad2-3f7e-4a53-9b1e-0c6f1d2e3a4b"

static const char *const role_policy =
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
    "\"Action\":[\"ec2:Describe*\"],\"Resource\":\"*\"}]}";

static xacct_template_params_t params(void)
{
    return (xacct_template_params_t){
        .account_id = "123456789012",
        .partner_account_id = "111111111111",
        .external_id = EXTID,
        .topic_arn = TOPIC,
        .role_policy = role_policy,
    };
}

static json_t *path(json_t *j, const char *const *keys, size_t n)
{
    for (size_t i = 0; i < n && j != NULL; i++)
        j = json_object_get(j, keys[i]);
    return j;
}
#define PATH(j, ...) \
    path((j), (const char *const[]){__VA_ARGS__}, sizeof((const char *const[]){__VA_ARGS__}) / sizeof(char *))

static void test_render(void **state)
{
    (void)state;
    xacct_template_params_t p = params();
    char *text = NULL;
    char err[256];
    assert_int_equal(xacct_template_render(&p, &text, err, sizeof(err)), 0);
    json_error_t je;
    json_t *t = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    assert_non_null(t);
    assert_string_equal(json_string_value(json_object_get(t, "AWSTemplateFormatVersion")),
                        "2010-09-09");
    assert_null(json_object_get(t, "Parameters"));
    json_t *res = json_object_get(t, "Resources");
    assert_int_equal(json_object_size(res), 2);

    json_t *role = json_object_get(res, XACCT_TEMPLATE_ROLE);
    assert_string_equal(json_string_value(json_object_get(role, "Type")), "AWS::IAM::Role");
    json_t *trust = PATH(role, "Properties", "AssumeRolePolicyDocument");
    assert_string_equal(json_string_value(json_object_get(trust, "Version")), "2012-10-17");
    json_t *sts = json_object_get(trust, "Statement");
    assert_int_equal(json_array_size(sts), 1);
    json_t *st = json_array_get(sts, 0);
    assert_string_equal(json_string_value(json_object_get(st, "Effect")), "Allow");
    json_t *actions = json_object_get(st, "Action");
    assert_int_equal(json_array_size(actions), 2);
    assert_string_equal(json_string_value(json_array_get(actions, 0)), "sts:AssumeRole");
    assert_string_equal(json_string_value(json_array_get(actions, 1)), "sts:SetSourceIdentity");
    assert_string_equal(json_string_value(PATH(st, "Principal", "AWS")),
                        "arn:aws:iam::111111111111:root");
    json_t *cond = json_object_get(st, "Condition");
    assert_int_equal(json_object_size(cond), 1);
    assert_int_equal(json_object_size(json_object_get(cond, "StringEquals")), 1);
    assert_string_equal(json_string_value(PATH(cond, "StringEquals", "sts:ExternalId")), EXTID);

    json_t *pol = json_array_get(PATH(role, "Properties", "Policies"), 0);
    assert_non_null(pol);
    json_t *want = json_loads(role_policy, 0, NULL);
    assert_true(json_equal(json_object_get(pol, "PolicyDocument"), want));
    json_decref(want);

    json_t *ph = json_object_get(res, XACCT_TEMPLATE_PHONE_HOME);
    assert_string_equal(json_string_value(json_object_get(ph, "Type")), "Custom::PhoneHome");
    json_t *props = json_object_get(ph, "Properties");
    assert_string_equal(json_string_value(json_object_get(props, "ServiceToken")), TOPIC);
    assert_string_equal(json_string_value(json_object_get(props, "ExternalID")), EXTID);
    assert_string_equal(json_string_value(PATH(props, "AccountID", "Ref")), "AWS::AccountId");
    assert_int_equal(json_integer_value(json_object_get(props, "ServiceTimeout")),
                     XACCT_TEMPLATE_SERVICE_TIMEOUT);
    char version[XACCT_TEMPLATE_VERSION_LEN + 1];
    assert_int_equal(xacct_template_version(&p, version, err, sizeof(err)), 0);
    assert_int_equal(strlen(version), 12);
    assert_string_equal(json_string_value(json_object_get(props, "TemplateVersion")), version);
    json_t *getatt = PATH(props, "RoleArn", "Fn::GetAtt");
    assert_int_equal(json_array_size(getatt), 2);
    assert_string_equal(json_string_value(json_array_get(getatt, 0)), XACCT_TEMPLATE_ROLE);
    assert_string_equal(json_string_value(json_array_get(getatt, 1)), "Arn");
    json_decref(t);
    xacct_free_secret(text);

    /* Another partition names its own root principal; no policy file means
     * no Policies property. */
    p.topic_arn = "arn:aws-cn:sns:cn-north-1:111111111111:t";
    p.role_policy = NULL;
    assert_int_equal(xacct_template_render(&p, &text, err, sizeof(err)), 0);
    t = json_loads(text, 0, NULL);
    role = PATH(t, "Resources", XACCT_TEMPLATE_ROLE, "Properties");
    assert_null(json_object_get(role, "Policies"));
    st = json_array_get(PATH(role, "AssumeRolePolicyDocument", "Statement"), 0);
    assert_string_equal(json_string_value(PATH(st, "Principal", "AWS")),
                        "arn:aws-cn:iam::111111111111:root");
    json_decref(t);
    xacct_free_secret(text);
}

/* TemplateVersion: the same for every customer, another when the role
 * policy or the service timeout changes (SPEC §9.6). */
static void test_template_version(void **state)
{
    (void)state;
    char err[256];
    char a[XACCT_TEMPLATE_VERSION_LEN + 1], b[XACCT_TEMPLATE_VERSION_LEN + 1];
    xacct_template_params_t p = params();
    assert_int_equal(xacct_template_version(&p, a, err, sizeof(err)), 0);
    for (size_t i = 0; i < strlen(a); i++)
        assert_non_null(strchr("0123456789abcdef", a[i]));

    xacct_template_params_t q = params();
    q.account_id = "210987654321";
    q.external_id = "0f0e0d0c-0b0a-4908-8706-050403020100";
    q.topic_arn = "arn:aws:sns:us-west-2:111111111111:xacct-phone-home-2";
    assert_int_equal(xacct_template_version(&q, b, err, sizeof(err)), 0);
    assert_string_equal(a, b);

    q = params();
    q.role_policy = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
                    "\"Action\":[\"ec2:Describe*\",\"s3:List*\"],\"Resource\":\"*\"}]}";
    assert_int_equal(xacct_template_version(&q, b, err, sizeof(err)), 0);
    assert_string_not_equal(a, b);

    q = params();
    q.service_timeout = 600;
    assert_int_equal(xacct_template_version(&q, b, err, sizeof(err)), 0);
    assert_string_not_equal(a, b);
    char *text = NULL;
    assert_int_equal(xacct_template_render(&q, &text, err, sizeof(err)), 0);
    json_t *t = json_loads(text, 0, NULL);
    json_t *props = PATH(t, "Resources", XACCT_TEMPLATE_PHONE_HOME, "Properties");
    assert_int_equal(json_integer_value(json_object_get(props, "ServiceTimeout")), 600);
    assert_string_equal(json_string_value(json_object_get(props, "TemplateVersion")), b);
    json_decref(t);
    xacct_free_secret(text);

    q.service_timeout = 3601;
    assert_int_equal(xacct_template_version(&q, b, err, sizeof(err)), XACCT_EINVAL);
    assert_non_null(strstr(err, "service timeout"));
}

static void test_render_rejects(void **state)
{
    (void)state;
    char *text = (char *)"unchanged";
    char err[256];
    xacct_template_params_t p = params();
    p.external_id = "";
    assert_int_equal(xacct_template_render(&p, &text, err, sizeof(err)), XACCT_EINVAL);
    assert_null(text);
    assert_non_null(strstr(err, "external ID"));
    p = params();
    p.partner_account_id = "1111";
    assert_int_equal(xacct_template_render(&p, &text, err, sizeof(err)), XACCT_EINVAL);
    assert_non_null(strstr(err, "partner"));
    p = params();
    p.topic_arn = "arn:aws:sqs:eu-west-1:111111111111:q";
    assert_int_equal(xacct_template_render(&p, &text, err, sizeof(err)), XACCT_EINVAL);
    p = params();
    p.role_policy = "{\"Version\":\"2012-10-17\"}";
    assert_int_equal(xacct_template_render(&p, &text, err, sizeof(err)), XACCT_EPARSE);
    assert_non_null(strstr(err, "role policy"));
    p.role_policy = "{\"Version\": ";
    assert_int_equal(xacct_template_render(&p, &text, err, sizeof(err)), XACCT_EPARSE);
    assert_non_null(strstr(err, "line 1"));
}

static void test_s3_key(void **state)
{
    (void)state;
    char a[XACCT_TEMPLATE_KEY_MAX], b[XACCT_TEMPLATE_KEY_MAX], c[XACCT_TEMPLATE_KEY_MAX];
    assert_int_equal(xacct_template_s3_key("123456789012", EXTID, a, sizeof(a)), 0);
    assert_int_equal(xacct_template_s3_key("123456789012", EXTID, b, sizeof(b)), 0);
    assert_int_equal(xacct_template_s3_key("123456789012", "another-id", c, sizeof(c)), 0);
    assert_string_equal(a, b); /* derivable again from the record */
    assert_string_not_equal(a, c);
    assert_int_equal(strncmp(a, "templates/123456789012/", 23), 0);
    assert_int_equal(strlen(a), 23 + 64 + 5);
    assert_string_equal(a + strlen(a) - 5, ".json");
    assert_null(strstr(a, EXTID));
    for (const char *h = a + 23; h < a + 23 + 64; h++)
        assert_non_null(strchr("0123456789abcdef", *h));
    assert_int_equal(xacct_template_s3_key("12345", EXTID, a, sizeof(a)), XACCT_EINVAL);
    assert_int_equal(xacct_template_s3_key("123456789012", EXTID, a, 20), XACCT_ETOOBIG);
}

static void test_launch_url(void **state)
{
    (void)state;
    char *url = NULL;
    const char *tpl = "https://s3.eu-west-1.amazonaws.com/bucket/templates/1/ab.json";
    assert_int_equal(xacct_launch_url_build("eu-west-1", tpl, "xacct-onboarding", &url), 0);
    const char *prefix = "https://eu-west-1.console.aws.amazon.com/cloudformation/home"
                         "?region=eu-west-1#/stacks/quickcreate?templateURL=";
    assert_int_equal(strncmp(url, prefix, strlen(prefix)), 0);
    const char *rest = url + strlen(prefix);
    const char *amp = strstr(rest, "&stackName=");
    assert_non_null(amp);
    assert_string_equal(amp, "&stackName=xacct-onboarding");
    /* The template URL decodes back exactly and carries no raw separators. */
    char *enc = strndup(rest, (size_t)(amp - rest));
    assert_null(strpbrk(enc, "/:?&#="));
    int outlen = 0;
    char *dec = curl_easy_unescape(NULL, enc, 0, &outlen);
    assert_string_equal(dec, tpl);
    curl_free(dec);
    free(enc);
    free(url);

    assert_int_equal(xacct_launch_url_build("cn-north-1", "https://s3.cn-north-1.amazonaws.com.cn/b/k",
                                            "s", &url), 0);
    assert_int_equal(strncmp(url, "https://cn-north-1.console.amazonaws.cn/cloudformation/home?"
                                  "region=cn-north-1#/stacks/quickcreate?",
                             98),
                     0);
    free(url);
    assert_int_equal(xacct_launch_url_build("us-gov-west-1",
                                            "https://s3.us-gov-west-1.amazonaws.com/b/k", "s",
                                            &url),
                     0);
    assert_int_equal(strncmp(url, "https://us-gov-west-1.console.amazonaws-us-gov.com/"
                                  "cloudformation/home?region=us-gov-west-1#",
                             92),
                     0);
    free(url);

    assert_int_equal(xacct_launch_url_build("eu-west-1", "http://insecure/x", "s", &url), XACCT_EINVAL);
    assert_null(url);
    assert_int_equal(xacct_launch_url_build("eu-west-1", tpl, "1bad", &url), XACCT_EINVAL);
    assert_int_equal(xacct_launch_url_build("eu-west-1", tpl, "bad_name", &url), XACCT_EINVAL);
    assert_int_equal(xacct_launch_url_build("EU", tpl, "s", &url), XACCT_EINVAL);
    assert_true(xacct_launch_url_stack_name_valid("A-1"));
    assert_false(xacct_launch_url_stack_name_valid(""));
}

static void test_update_url(void **state)
{
    (void)state;
    char *url = NULL;
    const char *tpl = "https://s3.us-east-1.amazonaws.com/bucket/templates/1/cd.json";
    const char *stack = "arn:aws:cloudformation:eu-west-1:123456789012:stack/xacct-onboarding/"
                        "5b6e1f50-0000-11ee-8a4c-0a1b2c3d4e5f";
    assert_int_equal(xacct_launch_update_url(stack, tpl, &url), 0);
    /* The stack's own region: a stack is updated where it lives. */
    const char *prefix = "https://eu-west-1.console.aws.amazon.com/cloudformation/home"
                         "?region=eu-west-1#/stacks/update/template?stackId=";
    assert_int_equal(strncmp(url, prefix, strlen(prefix)), 0);
    const char *rest = url + strlen(prefix);
    const char *amp = strstr(rest, "&templateURL=");
    assert_non_null(amp);
    char *enc_stack = strndup(rest, (size_t)(amp - rest));
    const char *enc_tpl = amp + strlen("&templateURL=");
    assert_null(strpbrk(enc_stack, "/:?&#="));
    assert_null(strpbrk(enc_tpl, "/:?&#="));
    int outlen = 0;
    char *dec = curl_easy_unescape(NULL, enc_stack, 0, &outlen);
    assert_string_equal(dec, stack);
    curl_free(dec);
    dec = curl_easy_unescape(NULL, enc_tpl, 0, &outlen);
    assert_string_equal(dec, tpl);
    curl_free(dec);
    free(enc_stack);
    free(url);

    const char *cn = "arn:aws-cn:cloudformation:cn-north-1:123456789012:stack/s/1";
    assert_int_equal(xacct_launch_update_url(cn, "https://s3.cn-north-1.amazonaws.com.cn/b/k",
                                             &url), 0);
    assert_int_equal(strncmp(url, "https://cn-north-1.console.amazonaws.cn/cloudformation/home?"
                                  "region=cn-north-1#", 78), 0);
    free(url);

    assert_int_equal(xacct_launch_update_url(stack, "http://insecure/x", &url), XACCT_EINVAL);
    assert_null(url);
    assert_int_equal(xacct_launch_update_url("arn:aws:iam::123456789012:role/r", tpl, &url),
                     XACCT_EINVAL);
    assert_int_equal(xacct_launch_update_url("", tpl, &url), XACCT_EINVAL);
    assert_int_equal(xacct_launch_update_url(NULL, tpl, &url), XACCT_EINVAL);
    assert_null(url);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_template_version),
        cmocka_unit_test(test_render_rejects),
        cmocka_unit_test(test_s3_key),
        cmocka_unit_test(test_launch_url),
        cmocka_unit_test(test_update_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
