/* SPDX-License-Identifier: MIT */
/* ARN splitting, account and region rules, stack and role ARNs; external IDs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/arn.h"
#include "xacct/extid.h"

static void test_parse(void **state)
{
    (void)state;
    xacct_arn_t a;
    assert_int_equal(xacct_arn_parse("arn:aws:sns:us-east-1:123456789012:topic:extra", &a), 0);
    assert_string_equal(a.partition, "aws");
    assert_string_equal(a.service, "sns");
    assert_string_equal(a.region, "us-east-1");
    assert_string_equal(a.account, "123456789012");
    assert_string_equal(a.resource, "topic:extra");
    const char *bad[] = {"", "arn:aws:sns", "nope:aws:sns:r:a:res", "arn:evil:sns:r:a:x",
                         "arn:aws::us-east-1:1:x", "arn:aws:sns:us-east-1:1:", "arn:aws:s3:::b c"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(xacct_arn_parse(bad[i], &a), XACCT_EPARSE);
}

static void test_account_and_region(void **state)
{
    (void)state;
    assert_true(xacct_account_id_valid("123456789012"));
    assert_false(xacct_account_id_valid("12345678901"));
    assert_false(xacct_account_id_valid("1234567890123"));
    assert_false(xacct_account_id_valid("12345678901a"));
    assert_false(xacct_account_id_valid(NULL));
    assert_true(xacct_region_valid("us-east-1"));
    assert_true(xacct_region_valid("us-gov-west-1"));
    assert_true(xacct_region_valid("cn-north-1"));
    assert_false(xacct_region_valid("us-east"));
    assert_false(xacct_region_valid("US-EAST-1"));
    assert_false(xacct_region_valid("us-east-1x"));
    assert_false(xacct_region_valid("1"));
    assert_string_equal(xacct_region_dns_suffix("cn-north-1"), "amazonaws.com.cn");
    assert_string_equal(xacct_region_dns_suffix("eu-west-1"), "amazonaws.com");
    assert_string_equal(xacct_region_partition("us-gov-east-1"), "aws-us-gov");
}

static void test_roles(void **state)
{
    (void)state;
    assert_true(xacct_arn_is_role_in_account("arn:aws:iam::123456789012:role/Xacct", "123456789012"));
    assert_true(xacct_arn_is_role_in_account("arn:aws:iam::123456789012:role/a/b/Role-1", NULL));
    assert_false(xacct_arn_is_role_in_account("arn:aws:iam::123456789012:role/Xacct", "210987654321"));
    assert_false(xacct_arn_is_role_in_account("arn:aws:iam::123456789012:user/Xacct", NULL));
    assert_false(xacct_arn_is_role_in_account("arn:aws:iam:us-east-1:123456789012:role/X", NULL));
    assert_false(xacct_arn_is_role_in_account("arn:aws:iam::123456789012:role/", NULL));
    assert_false(xacct_arn_is_role_in_account("arn:aws:iam::123456789012:role/a//b", NULL));
    assert_false(xacct_arn_is_role_in_account("arn:aws:iam::123456789012:role/bad*name", NULL));
    assert_false(xacct_arn_is_role_in_account("arn:aws:sts::123456789012:role/X", NULL));
    /* IAM lets a path hold any printable ASCII (at most 512 characters);
     * the name keeps the role-name set. */
    assert_true(xacct_arn_is_role_in_account("arn:aws:iam::123456789012:role/a~b!/c/Role", NULL));
    assert_true(xacct_arn_is_role_in_account("arn:aws-cn:iam::123456789012:role/service-role/R",
                                             "123456789012"));
    assert_false(xacct_arn_is_role_in_account("arn:aws:iam::123456789012:role/a/b~c", NULL));
    char arn[700];
    char path[520];
    memset(path, 'p', sizeof(path));
    snprintf(arn, sizeof(arn), "arn:aws:iam::123456789012:role/%.510s/R", path);
    assert_true(xacct_arn_is_role_in_account(arn, NULL)); /* a 512-character path */
    snprintf(arn, sizeof(arn), "arn:aws:iam::123456789012:role/%.511s/R", path);
    assert_false(xacct_arn_is_role_in_account(arn, NULL));
}

static void test_stack(void **state)
{
    (void)state;
    char acct[13], region[32], name[129];
    assert_int_equal(xacct_arn_parse_stack("arn:aws:cloudformation:us-west-2:933693344490:stack/"
                                           "opsee-role-stack/55c35420-067a-11e6-91a2-503f20f2ad1e",
                                           acct, region, name),
                     0);
    assert_string_equal(acct, "933693344490");
    assert_string_equal(region, "us-west-2");
    assert_string_equal(name, "opsee-role-stack");
    assert_int_equal(xacct_arn_parse_stack("arn:aws:cloudformation:us-east-2:namespace:stack/"
                                           "stack-name/guid",
                                           acct, region, name),
                     XACCT_EPARSE);
    assert_int_equal(xacct_arn_parse_stack("arn:aws:cloudformation:us-east-2:123456789012:stack/x",
                                           acct, region, name),
                     XACCT_EPARSE);
    assert_string_equal(acct, "");
    /* Every partition, each with its own regions only. */
    static const struct {
        const char *arn;
        int rc;
    } rows[] = {
        {"arn:aws-cn:cloudformation:cn-north-1:123456789012:stack/s/1", 0},
        {"arn:aws-us-gov:cloudformation:us-gov-west-1:123456789012:stack/s/1", 0},
        {"arn:aws:cloudformation:cn-north-1:123456789012:stack/s/1", XACCT_EPARSE},
        {"arn:aws:cloudformation:us-gov-west-1:123456789012:stack/s/1", XACCT_EPARSE},
        {"arn:aws-cn:cloudformation:us-east-1:123456789012:stack/s/1", XACCT_EPARSE},
        {"arn:aws-us-gov:cloudformation:cn-northwest-1:123456789012:stack/s/1", XACCT_EPARSE},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        if (xacct_arn_parse_stack(rows[i].arn, acct, region, name) != rows[i].rc)
            fail_msg("%s: want %d", rows[i].arn, rows[i].rc);
}

static void test_extid(void **state)
{
    (void)state;
    char a[XACCT_EXTID_LEN + 1], b[XACCT_EXTID_LEN + 1];
    assert_int_equal(xacct_extid_generate(a), 0);
    assert_int_equal(xacct_extid_generate(b), 0);
    assert_true(xacct_extid_valid(a));
    assert_true(xacct_extid_valid(b));
    assert_string_not_equal(a, b);
    assert_int_equal(a[14], '4');
    /* Many of them: all well-formed, every hex digit written somewhere. */
    bool seen[16] = {false};
    for (int i = 0; i < 256; i++) {
        assert_int_equal(xacct_extid_generate(b), 0);
        assert_true(xacct_extid_valid(b));
        assert_int_equal(strlen(b), XACCT_EXTID_LEN);
        for (const char *p = b; *p != '\0'; p++)
            if (*p != '-')
                seen[*p <= '9' ? *p - '0' : *p - 'a' + 10] = true;
    }
    for (int d = 0; d < 16; d++)
        assert_true(seen[d]);
    assert_false(xacct_extid_valid("not-a-uuid"));
    assert_false(xacct_extid_valid("0f8fad5b-d9cb-369f-a165-70867728950e")); /* version 3 */
    assert_true(xacct_secret_equal(a, a));
    assert_false(xacct_secret_equal(a, b));
    assert_false(xacct_secret_equal(a, ""));
    assert_false(xacct_secret_equal(NULL, a));
    char c[XACCT_EXTID_LEN + 1];
    memcpy(c, a, sizeof(c));
    c[XACCT_EXTID_LEN - 1] ^= 1;
    assert_false(xacct_secret_equal(a, c));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* Probe decoys: well-formed, and never the same twice, also across the
 * refills of their pool (100 is more than three pools of 32). */
static void test_extid_decoy(void **state)
{
    (void)state;
    enum { N = 100 };
    static char ids[N][XACCT_EXTID_LEN + 1];
    bool seen[16] = {false};
    for (int i = 0; i < N; i++) {
        assert_int_equal(xacct_extid_decoy(ids[i]), 0);
        assert_true(xacct_extid_valid(ids[i]));
        for (const char *p = ids[i]; *p != '\0'; p++)
            if (*p != '-')
                seen[*p <= '9' ? *p - '0' : *p - 'a' + 10] = true;
    }
    qsort(ids, N, sizeof(ids[0]), cmp_str);
    for (int i = 1; i < N; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
    for (int d = 0; d < 16; d++)
        assert_true(seen[d]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse), cmocka_unit_test(test_account_and_region),
        cmocka_unit_test(test_roles), cmocka_unit_test(test_stack),
        cmocka_unit_test(test_extid), cmocka_unit_test(test_extid_decoy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
