/* SPDX-License-Identifier: MIT */
/*
 * The pure parts of expiry (expiry.h): the cutoff for onboard.pending_ttl
 * and the cleanup entries' "<account>|<external_id>|<topic_arn>" members.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "xacct/expiry.h"

static void test_cutoff(void **state)
{
    (void)state;
    assert_int_equal(xacct_expiry_cutoff_ms(1700000000000, 604800), 1700000000000 - 604800000LL);
    assert_int_equal(xacct_expiry_cutoff_ms(1700000000000, 3), 1699999997000);
    /* 0 (and anything below) turns expiry off. */
    assert_int_equal(xacct_expiry_cutoff_ms(1700000000000, 0), -1);
    assert_int_equal(xacct_expiry_cutoff_ms(1700000000000, -5), -1);
}

static void test_member_parse(void **state)
{
    (void)state;
    xacct_expiry_cleanup_t c;
    const char *topic = "arn:aws:sns:us-east-1:111111111111:xacct-phone-home-1";
    char member[256];
    snprintf(member, sizeof(member), "123456789012|8a1b2c3d-0000-4000-8000-000000000001|%s",
             topic);
    assert_int_equal(xacct_expiry_cleanup_parse(member, &c), 0);
    assert_string_equal(c.account_id, "123456789012");
    assert_string_equal(c.external_id, "8a1b2c3d-0000-4000-8000-000000000001");
    assert_string_equal(c.topic_arn, topic);

    /* A customer without a topic or an ID yet: empty parts. */
    assert_int_equal(xacct_expiry_cleanup_parse("123456789012||", &c), 0);
    assert_string_equal(c.external_id, "");
    assert_string_equal(c.topic_arn, "");

    const char *bad[] = {
        "",
        "123456789012",
        "123456789012|id",
        "12345678901|id|topic",   /* 11 digits */
        "1234567890123|id|topic", /* 13 digits */
        "12345678901a|id|topic",
        "123456789012|id|topic|more",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(xacct_expiry_cleanup_parse(bad[i], &c), XACCT_EINVAL);
        assert_string_equal(c.account_id, "");
    }
    assert_int_equal(xacct_expiry_cleanup_parse(NULL, &c), XACCT_EINVAL);

    /* An external ID longer than any we issue is refused, not cut. */
    char longid[200];
    memset(longid, 'a', sizeof(longid));
    memcpy(longid, "123456789012|", 13);
    longid[sizeof(longid) - 2] = '|';
    longid[sizeof(longid) - 1] = '\0';
    assert_int_equal(xacct_expiry_cleanup_parse(longid, &c), XACCT_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cutoff),
        cmocka_unit_test(test_member_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
