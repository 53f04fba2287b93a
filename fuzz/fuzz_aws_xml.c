/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes what AWS services send back in XML (and JSON error bodies): STS
 * AssumeRole and GetCallerIdentity results, SNS GetTopicAttributes, and the error bodies of every
 * protocol (query ErrorResponse, S3 Error, JSON 1.0 __type) with the headers
 * that complete them. Property: error fields are bounded, NUL-terminated and
 * valid UTF-8 (never cut inside a character).
 */
#include "fuzz_util.h"
#include "xacct/aws_error.h"
#include "xacct/sns.h"
#include "xacct/sts.h"
#include "xacct/utf8.h"

/* expat and jansson hand over valid UTF-8 only, so whatever was kept of it
 * must still be valid: a cut inside a character would not be. */
static void whole_chars(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    FUZZ_ASSERT(n < cap);
    FUZZ_ASSERT(xacct_utf8_valid(s, n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *xml = (const char *)data;
    xacct_sts_credentials_t creds;
    xacct__sts_store_t *store = NULL;
    if (xacct__sts_parse_assume(xml, size, &creds, &store) == 0) {
        FUZZ_ASSERT(creds.access_key_id && creds.secret_access_key && creds.session_token);
        xacct__sts_store_free(store);
    }
    xacct_sts_identity_t id;
    xacct__sts_identity_store_t *ids = NULL;
    if (xacct__sts_parse_identity(xml, size, &id, &ids) == 0) {
        FUZZ_ASSERT(id.account != NULL && strlen(id.account) == 12 && id.arn != NULL);
        xacct__sts_identity_free(ids);
    }
    char *policy = NULL;
    if (xacct__sns_parse_attribute(xml, size, "Policy", &policy) == 0)
        free(policy);

    static const xacct_header_t headers[] = {
        {"x-amzn-requestid", "0b8e0d8e-0000-4000-8000-000000000000"},
        {"x-amzn-query-error", "AWS.SimpleQueueService.NonExistentQueue;Sender"},
    };
    xacct_aws_error_t e;
    for (size_t nh = 0; nh <= 2; nh += 2) {
        (void)xacct_aws_error_parse_parts(400, headers, nh, xml, size, &e);
        whole_chars(e.code, sizeof(e.code));
        whole_chars(e.message, sizeof(e.message));
        whole_chars(e.request_id, sizeof(e.request_id));
        (void)xacct_aws_error_is_throttling(&e);
        (void)xacct_aws_error_is_transient(&e);
        (void)xacct_aws_error_is_access_denied(&e);
    }
    return 0;
}
