/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/core/hostpat.c: a table of hosts each pattern accepts
 * and refuses (SPEC §6: per-label matching, one trailing dot, case, IP
 * literals, region-only '*' in sns.cert_hosts), the shipped defaults against
 * real AWS host shapes, and the pattern syntax checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xacct/config.h"
#include "xacct/hostpat.h"

#define R XACCT_HOSTPAT_REGION

static const struct host_case {
    const char *pattern, *host;
    int port;
    unsigned flags;
    bool match;
} host_cases[] = {
    /* one label per '*' label, case-insensitive */
    {"*.amazonaws.com", "sqs.amazonaws.com", 443, 0, true},
    {"*.amazonaws.com", "SQS.AMAZONAWS.COM", 443, 0, true},
    {"*.AmazonAWS.com", "sqs.amazonaws.com", 443, 0, true},
    {"*.amazonaws.com", "sqs.us-east-1.amazonaws.com", 443, 0, false}, /* never crosses a dot */
    {"*.amazonaws.com", "evil.com", 443, 0, false},
    {"*.amazonaws.com", "amazonaws.com", 443, 0, false},
    {"*.amazonaws.com", ".amazonaws.com", 443, 0, false},
    {"*.amazonaws.com", "amazonaws.com.evil.com", 443, 0, false},
    {"*.amazonaws.com", "evilamazonaws.com", 443, 0, false},
    {"*.amazonaws.com", "sqs.amazonaws.com", 8443, 0, false},
    {"*.amazonaws.com", "sqs.amazonaws.com", 80, 0, false},
    {"*.*.example.com", "a.b.example.com", 443, 0, true},
    {"*.*.example.com", "a.example.com", 443, 0, false},
    {"*.*.example.com", "a.b.c.example.com", 443, 0, false},
    /* a '*' next to other characters: zero or more characters of its label */
    {"a*b.example.com", "ab.example.com", 443, 0, true},
    {"a*b.example.com", "axxb.example.com", 443, 0, true},
    {"a*b.example.com", "ax.xb.example.com", 443, 0, false},
    {"a*.example.com", "a.example.com", 443, 0, true},
    {"*b.example.com", "b.example.com", 443, 0, true},
    {"*b.example.com", "xb.example.com", 443, 0, true},
    {"*b.example.com", "x.b.example.com", 443, 0, false},
    {"x*y*z", "xyz", 443, 0, true},
    {"x*y*z", "xaayzbbz", 443, 0, true},
    {"x*y*z", "xaaybb", 443, 0, false},
    {"s3*.amazonaws.com", "s3.amazonaws.com", 443, 0, true},
    {"s3*.amazonaws.com", "s3-us-west-2.amazonaws.com", 443, 0, true},
    {"s3*.amazonaws.com", "s3.us-west-2.amazonaws.com", 443, 0, false},
    /* one trailing dot removed, from the host and from the pattern */
    {"example.com", "example.com.", 443, 0, true},
    {"example.com.", "example.com", 443, 0, true},
    {"example.com", "example.com..", 443, 0, false},
    {"*.example.com", "a..example.com", 443, 0, false},
    {"*.example.com", ".example.com.", 443, 0, false},
    /* sns.cert_hosts: the label a '*' stands for is a region name */
    {"sns.*.amazonaws.com", "sns.us-east-1.amazonaws.com", 443, R, true},
    {"sns.*.amazonaws.com", "SNS.US-EAST-1.AMAZONAWS.COM", 443, R, true},
    {"sns.*.amazonaws.com", "sns.us-gov-west-1.amazonaws.com", 443, R, true},
    {"sns.*.amazonaws.com", "sns.ap-southeast-2.amazonaws.com.", 443, R, true},
    {"sns.*.amazonaws.com.cn", "sns.cn-north-1.amazonaws.com.cn", 443, R, true},
    {"sns.*.amazonaws.com", "sns.s3.amazonaws.com", 443, R, false},   /* a bucket named sns */
    {"sns.*.amazonaws.com", "sns.a.b.amazonaws.com", 443, R, false},
    {"sns.*.amazonaws.com", "sns.evil.amazonaws.com", 443, R, false},
    {"sns.*.amazonaws.com", "sns.us-east.amazonaws.com", 443, R, false},
    {"sns.*.amazonaws.com", "sns.us-east-1x.amazonaws.com", 443, R, false},
    {"sns.*.amazonaws.com", "sns.1-east-1.amazonaws.com", 443, R, false},
    {"sns.*.amazonaws.com", "sns.us-east-1.amazonaws.com.evil.com", 443, R, false},
    {"sns.*.amazonaws.com", "sns..amazonaws.com", 443, R, false},
    {"sns.*.amazonaws.com", "sns.amazonaws.com", 443, R, false},
    {"sns.*.amazonaws.com", "sqs.us-east-1.amazonaws.com", 443, R, false},
    {"sns.*.amazonaws.com", "xsns.us-east-1.amazonaws.com", 443, R, false},
    {"sns.*.amazonaws.com", "sns.cn-north-1.amazonaws.com.cn", 443, R, false},
    {"sns-*.example.com", "sns-eu-west-1.example.com", 443, R, true},
    {"sns-*.example.com", "sns-evil.example.com", 443, R, false},
    {"sns-*.example.com", "sns-.example.com", 443, R, false},
    {"sns.*.amazonaws.com", "sns.s3.amazonaws.com", 443, 0, true}, /* why the flag exists */
    /* the default ResponseURL patterns (XACCT_CFN_RESPONSE_HOSTS) */
    {"cloudformation-custom-resource-response-*.s3*.amazonaws.com",
     "cloudformation-custom-resource-response-useast1.s3.amazonaws.com", 443, 0, true},
    {"cloudformation-custom-resource-response-*.s3*.amazonaws.com",
     "cloudformation-custom-resource-response-uswest2.s3-us-west-2.amazonaws.com", 443, 0, true},
    {"cloudformation-custom-resource-response-*.s3.*.amazonaws.com",
     "cloudformation-custom-resource-response-euwest1.s3.eu-west-1.amazonaws.com", 443, 0, true},
    {"cloudformation-custom-resource-response-*.s3*.amazonaws.com",
     "cloudformation-custom-resource-response-euwest1.s3.eu-west-1.amazonaws.com", 443, 0, false},
    {"cloudformation-custom-resource-response-*.s3.*.amazonaws.com.cn",
     "cloudformation-custom-resource-response-cnnorth1.s3.cn-north-1.amazonaws.com.cn", 443, 0,
     true},
    {"cloudformation-custom-resource-response-*.s3*.amazonaws.com",
     "cloudformation-custom-resource-response-x.evil.s3.amazonaws.com", 443, 0, false},
    {"cloudformation-custom-resource-response-*.s3.*.amazonaws.com",
     "cloudformation-custom-resource-response-x.evil.s3.amazonaws.com", 443, 0, false},
    {"cloudformation-custom-resource-response-*.s3*.amazonaws.com",
     "cloudformation-custom-resource-response-useast1.s3.amazonaws.com.evil.com", 443, 0, false},
    {"cloudformation-custom-resource-response-*.s3*.amazonaws.com",
     "evil-bucket.s3.amazonaws.com", 443, 0, false},
    {"cloudformation-custom-resource-response-*.s3*.amazonaws.com",
     "cloudformation-custom-resource-response-useast1.s4.amazonaws.com", 443, 0, false},
    {"cloudformation-custom-resource-response-*.s3*.amazonaws.com",
     "cloudformation-custom-resource-response-useast1.s3.amazonaws.com", 80, 0, false},
    /* IP literals: never through '*', only through the very same literal */
    {"*", "127.0.0.1", 443, 0, false},
    {"*", "example", 443, 0, true},
    {"*", "example.com", 443, 0, false},
    {"*.0.0.1", "127.0.0.1", 443, 0, false},
    {"127.*.*.*", "127.0.0.1", 443, 0, false},
    {"*.*.*.*", "169.254.169.254", 443, 0, false},
    {"*.*.*.*", "169.254.169.254.", 443, 0, false},
    {"*", "[::1]", 443, 0, false},
    {"*", "::1", 443, 0, false},
    {"*", "2130706433", 443, 0, false}, /* 127.0.0.1 as one number */
    {"*.1", "127.1", 443, 0, false},
    {"127.0.0.1:8443", "127.0.0.1", 8443, 0, true},
    {"127.0.0.1:8443", "127.0.0.1.", 8443, 0, true},
    {"127.0.0.1:8443", "127.0.0.1", 443, 0, false},
    {"127.0.0.1:8443", "127.0.0.2", 8443, 0, false},
    {"127.0.0.1:8443", "127.1", 8443, 0, true}, /* the same address, written short */
    {"127.0.0.1", "127.0.0.1", 443, R, true},
    {"127.0.0.1", "localhost", 443, 0, false},
    {"[::1]:8443", "[::1]", 8443, 0, true},
    {"[::1]:8443", "::1", 8443, 0, true},
    {"[::1]:8443", "[0:0:0:0:0:0:0:1]", 8443, 0, true},
    {"[::1]:8443", "[::1]", 443, 0, false},
    {"[::1]", "[::1]", 443, 0, true},
    {"[::1]:8443", "127.0.0.1", 8443, 0, false},
    {"localhost:8443", "localhost", 8443, 0, true},
    {"localhost:8443", "LOCALHOST", 8443, 0, true},
    {"localhost:8443", "localhost", 443, 0, false},
    {"example.com:443", "example.com", 443, 0, true},
    /* hosts no parser should hand us, and malformed patterns */
    {"*.amazonaws.com", "a b.amazonaws.com", 443, 0, false},
    {"*.amazonaws.com", "evil.com/x.amazonaws.com", 443, 0, false},
    {"*.amazonaws.com", "", 443, 0, false},
    {"*.amazonaws.com", ".", 443, 0, false},
    {"a:b:c", "a", 443, 0, false},
    {"example.com:0", "example.com", 0, 0, false},
    {"example.com:99999", "example.com", 99999, 0, false},
    {"[example.com]", "example.com", 443, 0, false},
    {"", "example.com", 443, 0, false},
    {"a..b", "a..b", 443, 0, false},
    {"sns.**.amazonaws.com", "sns.us-east-1.amazonaws.com", 443, R, false},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(host_cases); i++) {
        const struct host_case *c = &host_cases[i];
        bool got = xacct_hostpat_match(c->pattern, c->host, c->port, c->flags);
        if (got != c->match)
            fail_msg("case %zu: \"%s\" (flags %u) vs %s port %d: got %d", i, c->pattern,
                     c->flags, c->host, c->port, got);
    }
    assert_false(xacct_hostpat_match(NULL, "a", 443, 0));
    assert_false(xacct_hostpat_match("a", NULL, 443, 0));
}

/* The shipped defaults, split as the config splits them. */
static void test_defaults(void **state)
{
    (void)state;
    char *cert_items[] = {"sns.*.amazonaws.com", "sns.*.amazonaws.com.cn"};
    xacct_strlist_t cert = {cert_items, 2};
    char resp_text[] = XACCT_CFN_RESPONSE_HOSTS;
    char *resp_items[8];
    size_t n = 0;
    for (char *save = NULL, *t = strtok_r(resp_text, ", ", &save); t != NULL;
         t = strtok_r(NULL, ", ", &save))
        resp_items[n++] = t;
    assert_int_equal(n, 4);
    xacct_strlist_t resp = {resp_items, n};

    static const char *const cert_ok[] = {
        "sns.us-east-1.amazonaws.com", "sns.eu-central-1.amazonaws.com",
        "sns.us-gov-west-1.amazonaws.com", "sns.cn-northwest-1.amazonaws.com.cn",
    };
    static const char *const cert_bad[] = {
        "sns.s3.amazonaws.com", "sns.a.b.amazonaws.com", "sns.amazonaws.com",
        "sns.us-east-1.amazonaws.com.cn.evil.com", "169.254.169.254", "localhost",
        "sns.s3-us-west-2.amazonaws.com",
    };
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(cert_ok); i++)
        if (!xacct_hostpat_allowed(&cert, cert_ok[i], 443, R))
            fail_msg("sns.cert_hosts refuses %s", cert_ok[i]);
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(cert_bad); i++)
        if (xacct_hostpat_allowed(&cert, cert_bad[i], 443, R))
            fail_msg("sns.cert_hosts accepts %s", cert_bad[i]);

    static const char *const resp_ok[] = {
        "cloudformation-custom-resource-response-useast1.s3.amazonaws.com",
        "cloudformation-custom-resource-response-uswest2.s3-us-west-2.amazonaws.com",
        "cloudformation-custom-resource-response-euwest1.s3.eu-west-1.amazonaws.com",
        "cloudformation-custom-resource-response-cnnorth1.s3.cn-north-1.amazonaws.com.cn",
        "cloudformation-custom-resource-response-cnnorth1.s3-cn-north-1.amazonaws.com.cn",
        "CloudFormation-Custom-Resource-Response-USEast1.S3.AmazonAWS.com.",
    };
    static const char *const resp_bad[] = {
        "cloudformation-custom-resource-response-x.evil.s3.amazonaws.com",
        "evil.s3.amazonaws.com",
        "cloudformation-custom-resource-response-useast1.s3.amazonaws.com.evil.com",
        "cloudformation-custom-resource-response-useast1.amazonaws.com",
        "169.254.169.254",
        "s3.amazonaws.com",
    };
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(resp_ok); i++)
        if (!xacct_hostpat_allowed(&resp, resp_ok[i], 443, 0))
            fail_msg("response_hosts refuses %s", resp_ok[i]);
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(resp_bad); i++)
        if (xacct_hostpat_allowed(&resp, resp_bad[i], 443, 0))
            fail_msg("response_hosts accepts %s", resp_bad[i]);

    assert_false(xacct_hostpat_allowed(NULL, "sns.us-east-1.amazonaws.com", 443, R));
    xacct_strlist_t empty = {NULL, 0};
    assert_false(xacct_hostpat_allowed(&empty, "sns.us-east-1.amazonaws.com", 443, R));
}

static void test_check_and_split(void **state)
{
    (void)state;
    assert_int_equal(xacct_hostpat_check("sns.*.amazonaws.com", R), 0);
    assert_int_equal(xacct_hostpat_check("a*b*c.example.com", 0), 0);
    assert_int_equal(xacct_hostpat_check("a*b*c.example.com", R), XACCT_EINVAL);
    assert_int_equal(xacct_hostpat_check("[::1]:8443", 0), 0);
    assert_int_equal(xacct_hostpat_check("example.com.", 0), 0);
    assert_int_equal(xacct_hostpat_check("example.com..", 0), XACCT_EINVAL);
    assert_int_equal(xacct_hostpat_check(".example.com", 0), XACCT_EINVAL);
    assert_int_equal(xacct_hostpat_check("[::1", 0), XACCT_EINVAL);
    assert_int_equal(xacct_hostpat_check("host:", 0), XACCT_EINVAL);
    assert_int_equal(xacct_hostpat_check("host:+1", 0), XACCT_EINVAL);
    assert_int_equal(xacct_hostpat_check(NULL, 0), XACCT_EINVAL);

    char host[XACCT_HOSTPAT_HOST_MAX + 1];
    int port = 0;
    assert_int_equal(xacct_hostpat_split("127.0.0.1:9464", true, host, &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 9464);
    assert_int_equal(xacct_hostpat_split("[::1]:80", true, host, &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 80);
    assert_int_equal(xacct_hostpat_split("localhost", true, host, &port), XACCT_EINVAL);
    assert_int_equal(xacct_hostpat_split("*:80", true, host, &port), XACCT_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_check_and_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
