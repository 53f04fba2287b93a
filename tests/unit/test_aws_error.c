/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for AWS error extraction: JSON 1.0 with namespaced __type,
 * the query-compatible header, query-protocol and S3 XML, headers only,
 * malformed bodies, truncation, and the retry classifiers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "xacct/aws_error.h"

static int parse(long status, const xacct_header_t *h, size_t nh, const char *body,
                 xacct_aws_error_t *e)
{
    return xacct_aws_error_parse_parts(status, h, nh, body, body ? strlen(body) : 0, e);
}

static void test_json_namespaced_type(void **state)
{
    (void)state;
    xacct_aws_error_t e;
    const char *body = "{\"__type\":\"com.amazonaws.sqs#QueueDoesNotExist\","
                       "\"message\":\"The specified queue does not exist.\"}";
    const xacct_header_t h[] = {
        {"x-amzn-query-error", "AWS.SimpleQueueService.NonExistentQueue;Sender"},
        {"x-amzn-requestid", "req-123"},
    };
    assert_int_equal(parse(400, h, 2, body, &e), 0);
    assert_string_equal(e.code, "QueueDoesNotExist");
    assert_string_equal(e.message, "The specified queue does not exist.");
    assert_string_equal(e.query_code, "AWS.SimpleQueueService.NonExistentQueue");
    assert_string_equal(e.request_id, "req-123");
    assert_int_equal(e.http_status, 400);
    assert_true(xacct_aws_error_is(&e, "QueueDoesNotExist"));
    assert_true(xacct_aws_error_is(&e, "AWS.SimpleQueueService.NonExistentQueue"));
    assert_false(xacct_aws_error_is(&e, "AccessDenied"));
}

static void test_json_capital_message_and_suffix(void **state)
{
    (void)state;
    xacct_aws_error_t e;
    const char *body = "  {\"__type\":\"ThrottlingException:http://internal.amazon.com/\","
                       "\"Message\":\"Rate exceeded\"}";
    assert_int_equal(parse(400, NULL, 0, body, &e), 0);
    assert_string_equal(e.code, "ThrottlingException");
    assert_string_equal(e.message, "Rate exceeded");
    assert_true(xacct_aws_error_is_throttling(&e));
    assert_false(xacct_aws_error_is_transient(&e));
}

static void test_query_xml(void **state)
{
    (void)state;
    xacct_aws_error_t e;
    const char *body =
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
        "  <Error>\n    <Type>Sender</Type>\n    <Code>AccessDenied</Code>\n"
        "    <Message>User: arn:aws:iam::111111111111:user/x is not authorized to perform: "
        "sts:AssumeRole &amp; more</Message>\n  </Error>\n"
        "  <RequestId>4a1b-42</RequestId>\n</ErrorResponse>\n";
    assert_int_equal(parse(403, NULL, 0, body, &e), 0);
    assert_string_equal(e.code, "AccessDenied");
    assert_string_equal(e.message, "User: arn:aws:iam::111111111111:user/x is not authorized "
                                   "to perform: sts:AssumeRole & more");
    assert_string_equal(e.request_id, "4a1b-42");
    assert_true(xacct_aws_error_is_access_denied(&e));
    assert_false(xacct_aws_error_is_throttling(&e));
}

static void test_s3_xml(void **state)
{
    (void)state;
    xacct_aws_error_t e;
    const char *body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                       "<Error><Code>SlowDown</Code><Message>Please reduce your request rate."
                       "</Message><RequestId>R1</RequestId><HostId>H</HostId></Error>";
    const xacct_header_t h[] = {{"x-amz-request-id", "HDR"}};
    assert_int_equal(parse(503, h, 1, body, &e), 0);
    assert_string_equal(e.code, "SlowDown");
    assert_string_equal(e.message, "Please reduce your request rate.");
    /* The header's request id is kept over the body's. */
    assert_string_equal(e.request_id, "HDR");
    assert_true(xacct_aws_error_is_throttling(&e));
    assert_true(xacct_aws_error_is_transient(&e)); /* 503 */
}

/* SignatureDoesNotMatch from STS (and the JSON services) echoes the
 * canonical request, whose signed x-amz-security-token header is the
 * session token, and IncompleteSignature the Authorization header: neither
 * may survive into the message, which ends up in logs and Reasons. */
static void test_echoed_request_cut_from_message(void **state)
{
    (void)state;
    xacct_aws_error_t e;
    const char *token = "IQoJb3JpZ2luX2VjEXAMPLETOKENsecretPART";
    char body[2048];
    snprintf(body, sizeof(body),
             "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
             "<Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>"
             "The request signature we calculated does not match the signature you provided. "
             "Check your AWS Secret Access Key and signing method. Consult the service "
             "documentation for details.\n\nThe Canonical String for this request should "
             "have been\n'POST\n/\n\ncontent-type:application/x-www-form-urlencoded; "
             "charset=utf-8\nhost:sts.us-east-1.amazonaws.com\nx-amz-date:20240101T000000Z\n"
             "x-amz-security-token:%s\n\ncontent-type;host;x-amz-date;x-amz-security-token\n"
             "e3b0'\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n...'\n"
             "</Message></Error><RequestId>r</RequestId></ErrorResponse>",
             token);
    assert_int_equal(parse(403, NULL, 0, body, &e), 0);
    assert_string_equal(e.code, "SignatureDoesNotMatch");
    assert_null(strstr(e.message, token));
    assert_null(strstr(e.message, "Canonical"));
    assert_string_equal(e.message,
                        "The request signature we calculated does not match the signature you "
                        "provided. Check your AWS Secret Access Key and signing method. Consult "
                        "the service documentation for details.");

    /* The same in SQS's JSON shape. */
    snprintf(body, sizeof(body),
             "{\"__type\":\"com.amazon.coral.service#SignatureDoesNotMatch\",\"message\":"
             "\"The request signature we calculated does not match.\\n\\nThe Canonical String "
             "for this request should have been\\n'POST\\n/\\n\\nX-Amz-Security-Token:%s\\n'\"}",
             token);
    assert_int_equal(parse(403, NULL, 0, body, &e), 0);
    assert_null(strstr(e.message, token));
    assert_string_equal(e.message, "The request signature we calculated does not match.");

    /* IncompleteSignature quoting the Authorization header. */
    const char *inc = "<ErrorResponse><Error><Code>IncompleteSignature</Code><Message>"
                      "Authorization header requires 'Credential' parameter. "
                      "Authorization=AWS4-HMAC-SHA256 SignedHeaders=host, "
                      "Signature=0123abcd</Message></Error></ErrorResponse>";
    assert_int_equal(parse(403, NULL, 0, inc, &e), 0);
    assert_null(strstr(e.message, "0123abcd"));
    assert_string_equal(e.message, "Authorization header requires 'Credential' parameter.");
}

static void test_code_outside_error_ignored(void **state)
{
    (void)state;
    xacct_aws_error_t e;
    /* A <Code> that is not inside <Error> (as in IMDS-like documents) is not
     * an error code. */
    const char *body = "<Result><Code>Success</Code><Message>fine</Message></Result>";
    assert_int_equal(parse(200, NULL, 0, body, &e), XACCT_ENOTFOUND);
    assert_string_equal(e.code, "");
    assert_string_equal(e.message, "");
}

static void test_header_only(void **state)
{
    (void)state;
    xacct_aws_error_t e;
    const xacct_header_t h[] = {{"X-Amzn-ErrorType", "ValidationException:http://x/"}};
    assert_int_equal(parse(400, h, 1, "", &e), 0);
    assert_string_equal(e.code, "ValidationException");

    const xacct_header_t q[] = {{"x-amzn-query-error", "AWS.SimpleQueueService.RequestThrottled;Sender"}};
    assert_int_equal(parse(400, q, 1, "not json", &e), 0);
    assert_string_equal(e.code, "AWS.SimpleQueueService.RequestThrottled");
    assert_true(xacct_aws_error_is_throttling(&e));

    /* SQS's JSON error for KMS throttling, with its query-protocol code. */
    const xacct_header_t k[] = {{"x-amzn-query-error", "KMS.ThrottlingException;Sender"}};
    assert_int_equal(parse(400, k, 1, "{\"__type\":\"com.amazonaws.sqs#KmsThrottled\","
                                      "\"message\":\"Rate exceeded\"}", &e), 0);
    assert_string_equal(e.code, "KmsThrottled");
    assert_string_equal(e.query_code, "KMS.ThrottlingException");
    assert_true(xacct_aws_error_is_throttling(&e));
}

static void test_malformed_bodies(void **state)
{
    (void)state;
    xacct_aws_error_t e;
    assert_int_equal(parse(500, NULL, 0, "{\"__type\": ", &e), XACCT_ENOTFOUND);
    assert_true(xacct_aws_error_is_transient(&e));
    assert_int_equal(parse(400, NULL, 0, "<Error><Code>X</Code>", &e), XACCT_ENOTFOUND);
    assert_string_equal(e.code, "");
    assert_int_equal(parse(400, NULL, 0, "[1,2]", &e), XACCT_ENOTFOUND);
    assert_int_equal(parse(400, NULL, 0, "plain text", &e), XACCT_ENOTFOUND);
    assert_int_equal(parse(400, NULL, 0, NULL, &e), XACCT_ENOTFOUND);
    assert_false(xacct_aws_error_is_transient(&e));
    assert_false(xacct_aws_error_is_throttling(&e));
    /* Non-string __type is ignored. */
    assert_int_equal(parse(400, NULL, 0, "{\"__type\":5,\"message\":\"m\"}", &e), XACCT_ENOTFOUND);
    assert_string_equal(e.message, "m");
}

static void test_deep_xml_rejected(void **state)
{
    (void)state;
    char body[4096] = "";
    for (int i = 0; i < 40; i++)
        strcat(body, "<a>");
    strcat(body, "<Error><Code>Deep</Code></Error>");
    for (int i = 0; i < 40; i++)
        strcat(body, "</a>");
    xacct_aws_error_t e;
    assert_int_equal(parse(400, NULL, 0, body, &e), XACCT_ENOTFOUND);
}

static void test_long_message_truncated_on_utf8_boundary(void **state)
{
    (void)state;
    /* 2000 two-byte characters (é) overflow the message field. */
    char body[8192];
    size_t n = 0;
    n += (size_t)snprintf(body, sizeof(body), "{\"__type\":\"X\",\"message\":\"");
    for (int i = 0; i < 2000; i++) {
        body[n++] = (char)0xC3;
        body[n++] = (char)0xA9;
    }
    memcpy(body + n, "\"}", 3);
    xacct_aws_error_t e;
    assert_int_equal(parse(400, NULL, 0, body, &e), 0);
    size_t len = strlen(e.message);
    assert_true(len < XACCT_AWS_ERROR_MESSAGE_MAX);
    assert_true(len > XACCT_AWS_ERROR_MESSAGE_MAX - 4);
    assert_int_equal(len % 2, 0); /* whole characters only */
    assert_int_equal((unsigned char)e.message[len - 1], 0xA9);
}

/* The XML text is collected up to 1,023 bytes: the cut keeps whole
 * characters, whatever the offset, and nothing is glued on after it. */
static void test_long_xml_message_cut_on_utf8_boundary(void **state)
{
    (void)state;
    for (int lead = 0; lead < 3; lead++) {
        char body[8192];
        size_t n = (size_t)snprintf(body, sizeof(body),
                                    "<ErrorResponse><Error><Code>X</Code><Message>");
        for (int i = 0; i < lead; i++)
            body[n++] = 'a';
        for (int i = 0; i < 700; i++) { /* 2,100 bytes of U+20AC */
            memcpy(body + n, "\xe2\x82\xac", 3);
            n += 3;
        }
        n += (size_t)snprintf(body + n, sizeof(body) - n, "</Message></Error></ErrorResponse>");
        xacct_aws_error_t e;
        assert_int_equal(parse(400, NULL, 0, body, &e), 0);
        size_t len = strlen(e.message);
        assert_true(len > XACCT_AWS_ERROR_MESSAGE_MAX - 8);
        assert_int_equal((len - (size_t)lead) % 3, 0);
        assert_int_equal((unsigned char)e.message[len - 1], 0xac);
    }
}

static void test_classifiers(void **state)
{
    (void)state;
    static const char *const throttles[] = {
        "Throttling", "ThrottlingException", "RequestThrottled", "SlowDown",
        "RequestLimitExceeded", "TooManyRequestsException", "KmsThrottled",
    };
    xacct_aws_error_t e;
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(throttles); i++) {
        memset(&e, 0, sizeof(e));
        e.http_status = 400;
        strcpy(e.code, throttles[i]);
        assert_true(xacct_aws_error_is_throttling(&e));
        assert_false(xacct_aws_error_is_access_denied(&e));
    }
    memset(&e, 0, sizeof(e));
    e.http_status = 400;
    strcpy(e.code, "AccessDeniedException");
    assert_true(xacct_aws_error_is_access_denied(&e));
    assert_false(xacct_aws_error_is_transient(&e));
    strcpy(e.code, "RequestTimeout");
    assert_true(xacct_aws_error_is_transient(&e));
    strcpy(e.code, "InvalidParameterValue");
    assert_false(xacct_aws_error_is_transient(&e));
    assert_false(xacct_aws_error_is_throttling(&e));
    /* SQS's OverLimit (403: the in-flight messages or a queue's permissions
     * at their limit) is a limit, not a rate: AWS documents no retry for it
     * and the SDKs do not retry it (a receiver backs off on its own). */
    e.http_status = 403;
    strcpy(e.code, "OverLimit");
    assert_false(xacct_aws_error_is_throttling(&e));
    assert_false(xacct_aws_error_is_transient(&e));
    assert_false(xacct_aws_error_is_access_denied(&e));
    e.http_status = 502;
    assert_true(xacct_aws_error_is_transient(&e));
    /* 500, 502, 503, 504 as the SDKs; 501 and 505 are not retried. */
    e.code[0] = '\0';
    for (long st = 499; st <= 506; st++) {
        e.http_status = st;
        bool want = st == 500 || st == 502 || st == 503 || st == 504;
        if (xacct_aws_error_is_transient(&e) != want)
            fail_msg("HTTP %ld: transient %d", st, !want);
    }
    e.http_status = 501;
    strcpy(e.code, "InternalError");
    assert_true(xacct_aws_error_is_transient(&e)); /* the code says so */
}

static void test_clock_skew_codes(void **state)
{
    (void)state;
    static const char *const skew[] = {
        "RequestTimeTooSkewed",      "RequestExpired",        "RequestInTheFuture",
        "InvalidSignatureException", "SignatureDoesNotMatch", "AuthFailure",
    };
    xacct_aws_error_t e;
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(skew); i++) {
        memset(&e, 0, sizeof(e));
        e.http_status = 403;
        strcpy(e.code, skew[i]);
        assert_true(xacct_aws_error_is_clock_skew(&e));
    }
    memset(&e, 0, sizeof(e));
    e.http_status = 403;
    strcpy(e.code, "AccessDenied");
    assert_false(xacct_aws_error_is_clock_skew(&e));
    strcpy(e.code, "InvalidClientTokenId");
    assert_false(xacct_aws_error_is_clock_skew(&e));
}

static void test_refusals(void **state)
{
    (void)state;
    xacct_aws_error_t e;
    memset(&e, 0, sizeof(e));
    e.http_status = 400;
    strcpy(e.code, "InvalidParameter"); /* SNS: an expired or unknown token */
    assert_true(xacct_aws_error_is_refusal(400, &e));
    assert_true(xacct_aws_error_is_refusal(404, NULL));
    assert_true(xacct_aws_error_is_refusal(403, NULL));
    /* Timeouts, throttling and transient codes may pass. */
    assert_false(xacct_aws_error_is_refusal(408, NULL));
    assert_false(xacct_aws_error_is_refusal(429, NULL));
    strcpy(e.code, "Throttling");
    assert_false(xacct_aws_error_is_refusal(400, &e));
    strcpy(e.code, "RequestTimeout");
    assert_false(xacct_aws_error_is_refusal(400, &e));
    /* Not a 4xx: no answer, success, a server error. */
    assert_false(xacct_aws_error_is_refusal(0, NULL));
    assert_false(xacct_aws_error_is_refusal(200, NULL));
    assert_false(xacct_aws_error_is_refusal(503, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_namespaced_type),
        cmocka_unit_test(test_json_capital_message_and_suffix),
        cmocka_unit_test(test_query_xml),
        cmocka_unit_test(test_s3_xml),
        cmocka_unit_test(test_echoed_request_cut_from_message),
        cmocka_unit_test(test_code_outside_error_ignored),
        cmocka_unit_test(test_header_only),
        cmocka_unit_test(test_malformed_bodies),
        cmocka_unit_test(test_deep_xml_rejected),
        cmocka_unit_test(test_long_message_truncated_on_utf8_boundary),
        cmocka_unit_test(test_long_xml_message_cut_on_utf8_boundary),
        cmocka_unit_test(test_classifiers),
        cmocka_unit_test(test_clock_skew_codes),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
