/* SPDX-License-Identifier: MIT */
/*
 * The webhook signature against values computed independently (Python's
 * hmac module: hmac.new(key, f"{ts}.".encode() + body, sha256).hexdigest()),
 * and its refusals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "xacct/webhook_sign.h"

static void test_known_values(void **state)
{
    (void)state;
    char sig[XACCT_WEBHOOK_SIG_LEN + 1];
    const char *body = "{\"id\":\"evt_1\"}";
    assert_int_equal(xacct_webhook_sign("whsec_test", 10, 1714561234, body, strlen(body), sig), 0);
    assert_string_equal(sig,
                        "v1=6a0b25cf6793e834d0137966c570cc7ded1fd4147b2a323e15944e72cdedbc2d");
    /* An empty body signs "<ts>." alone. */
    assert_int_equal(xacct_webhook_sign("k", 1, 0, NULL, 0, sig), 0);
    assert_string_equal(sig,
                        "v1=6b4a4b8b3c40f1e8f53a3d36682e5f99f7ad2ac1df1c93dfe336f329167641e7");
}

static void test_any_change_changes_it(void **state)
{
    (void)state;
    char a[XACCT_WEBHOOK_SIG_LEN + 1], b[XACCT_WEBHOOK_SIG_LEN + 1];
    assert_int_equal(xacct_webhook_sign("key", 3, 100, "{}", 2, a), 0);
    assert_int_equal(xacct_webhook_sign("key", 3, 101, "{}", 2, b), 0);
    assert_string_not_equal(a, b);
    assert_int_equal(xacct_webhook_sign("kez", 3, 100, "{}", 2, b), 0);
    assert_string_not_equal(a, b);
    assert_int_equal(xacct_webhook_sign("key", 3, 100, "{ }", 3, b), 0);
    assert_string_not_equal(a, b);
}

static void test_refusals(void **state)
{
    (void)state;
    char sig[XACCT_WEBHOOK_SIG_LEN + 1];
    assert_int_equal(xacct_webhook_sign("", 0, 1, "{}", 2, sig), XACCT_EINVAL);
    assert_string_equal(sig, "");
    assert_int_equal(xacct_webhook_sign(NULL, 3, 1, "{}", 2, sig), XACCT_EINVAL);
    assert_int_equal(xacct_webhook_sign("k", 1, 1, NULL, 2, sig), XACCT_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_values),
        cmocka_unit_test(test_any_change_changes_it),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
