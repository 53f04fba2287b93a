/* SPDX-License-Identifier: MIT */
/* STS AssumeRole response parsing and SQS queue-region detection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "xacct/aws_error.h"
#include "xacct/query.h"
#include "xacct/sqs.h"
#include "xacct/sts.h"

static const char *response =
    "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
    "  <AssumeRoleResult>\n"
    "    <SourceIdentity>Alice</SourceIdentity>\n"
    "    <AssumedRoleUser>\n"
    "      <Arn>arn:aws:sts::123456789012:assumed-role/demo/TestAR</Arn>\n"
    "      <AssumedRoleId>ARO123EXAMPLE123:TestAR</AssumedRoleId>\n"
    "    </AssumedRoleUser>\n"
    "    <Credentials>\n"
    "      <AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId>\n"
    "      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>\n"
    "      <SessionToken>AQoDYXdzEPT//////////wEXAMPLE&amp;tQ==</SessionToken>\n"
    "      <Expiration>2019-11-09T13:34:41Z</Expiration>\n"
    "    </Credentials>\n"
    "    <PackedPolicySize>6</PackedPolicySize>\n"
    "  </AssumeRoleResult>\n"
    "  <ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata>\n"
    "</AssumeRoleResponse>\n";

static void test_parse_assume(void **state)
{
    (void)state;
    xacct_sts_credentials_t c;
    xacct__sts_store_t *store = NULL;
    assert_int_equal(xacct__sts_parse_assume(response, strlen(response), &c, &store), 0);
    assert_string_equal(c.access_key_id, "ASIAIOSFODNN7EXAMPLE");
    assert_string_equal(c.secret_access_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY");
    assert_string_equal(c.session_token, "AQoDYXdzEPT//////////wEXAMPLE&tQ==");
    assert_string_equal(c.expiration, "2019-11-09T13:34:41Z");
    assert_string_equal(c.assumed_role_arn, "arn:aws:sts::123456789012:assumed-role/demo/TestAR");
    xacct__sts_store_free(store);
}

static void test_parse_rejects(void **state)
{
    (void)state;
    xacct_sts_credentials_t c;
    xacct__sts_store_t *store = NULL;
    const char *bad[] = {
        "<AssumeRoleResponse><AssumeRoleResult></AssumeRoleResult></AssumeRoleResponse>",
        "<ErrorResponse><Error><Code>AccessDenied</Code></Error></ErrorResponse>",
        "<AssumeRoleResponse><Credentials><AccessKeyId>A</AccessKeyId>", /* truncated */
        /* credentials outside <Credentials> are not credentials */
        "<X><AccessKeyId>A</AccessKeyId><SecretAccessKey>S</SecretAccessKey>"
        "<SessionToken>T</SessionToken><Expiration>E</Expiration></X>",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(xacct__sts_parse_assume(bad[i], strlen(bad[i]), &c, &store), XACCT_EPARSE);
        assert_null(store);
    }
}

static void test_queue_region(void **state)
{
    (void)state;
    char r[32];
    xacct_sqs_queue_region("https://sqs.eu-west-1.amazonaws.com/123456789012/q", "us-east-1", r);
    assert_string_equal(r, "eu-west-1");
    xacct_sqs_queue_region("https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q", "x", r);
    assert_string_equal(r, "cn-north-1");
    xacct_sqs_queue_region("https://ap-southeast-2.queue.amazonaws.com/123456789012/q", "x", r);
    assert_string_equal(r, "ap-southeast-2");
    /* The legacy form without a region is us-east-1's, whatever aws.region says. */
    xacct_sqs_queue_region("https://queue.amazonaws.com/123456789012/q", "eu-west-1", r);
    assert_string_equal(r, "us-east-1");
    xacct_sqs_queue_region("https://Queue.Amazonaws.com/123456789012/q", "eu-west-1", r);
    assert_string_equal(r, "us-east-1");
    xacct_sqs_queue_region("https://127.0.0.1:4443/111111111111/q", "us-east-1", r);
    assert_string_equal(r, "us-east-1");
    xacct_sqs_queue_region("https://sqs.notaregion.amazonaws.com/1/q", "us-west-2", r);
    assert_string_equal(r, "us-west-2");
}

/* Query parameters are percent-encoded per RFC 3986 (what SigV4 and AWS
 * expect: unreserved characters kept, everything else %XX upper case). */
static void test_query_param(void **state)
{
    (void)state;
    xacct_buf_t b;
    xacct_buf_init(&b, 0);
    assert_int_equal(xacct_buf_puts(&b, "Action=AssumeRole"), 0);
    assert_int_equal(xacct_query_param(&b, "RoleArn", "arn:aws:iam::1:role/a b~-._\xc3\xa9+&="), 0);
    assert_int_equal(xacct_query_param(&b, "Empty", ""), 0);
    assert_string_equal(b.data, "Action=AssumeRole"
                                "&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fa%20b~-._%C3%A9%2B%26%3D"
                                "&Empty=");
    xacct_buf_destroy(&b);

    /* Over the buffer's limit: refused, the body left as it was. */
    xacct_buf_init(&b, 20);
    assert_int_equal(xacct_buf_puts(&b, "Action=X"), 0);
    assert_int_equal(xacct_query_param(&b, "K", "a/b/c/d"), XACCT_ETOOBIG);
    assert_string_equal(b.data, "Action=X");
    assert_int_equal(b.len, 8);
    xacct_buf_destroy(&b);
}

/* STS refusing the partner's own key or signature is not the role's
 * answer: the safety check must not fail a customer's stack over it. */
static void test_assume_status(void **state)
{
    (void)state;
    xacct_aws_error_t err;
    memset(&err, 0, sizeof(err));
    err.http_status = 403;
    const char *caller[] = {"InvalidClientTokenId", "SignatureDoesNotMatch",
                            "IncompleteSignature", "MissingAuthenticationToken"};
    for (size_t i = 0; i < sizeof(caller) / sizeof(caller[0]); i++) {
        snprintf(err.code, sizeof(err.code), "%s", caller[i]);
        assert_int_equal(xacct_sts_assume_status(XACCT_EAWS, &err), XACCT_ENOCREDS);
    }
    snprintf(err.code, sizeof(err.code), "RegionDisabledException");
    assert_int_equal(xacct_sts_assume_status(XACCT_EAWS, &err), XACCT_EAWS);
    snprintf(err.code, sizeof(err.code), "AccessDenied");
    assert_int_equal(xacct_sts_assume_status(XACCT_EACCESSDENIED, &err), XACCT_EACCESSDENIED);
    assert_int_equal(xacct_sts_assume_status(XACCT_EAWS, NULL), XACCT_EAWS);
    assert_int_equal(xacct_sts_assume_status(XACCT_EAGAIN, NULL), XACCT_EAGAIN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_param),
        cmocka_unit_test(test_parse_assume),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_queue_region),
        cmocka_unit_test(test_assume_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
