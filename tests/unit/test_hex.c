/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the hex helpers: every digit's value in both cases, the
 * chars just outside the digit ranges refused, and a run of pairs decoded
 * exactly, with a bad digit in either half of a pair refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "xacct/hex.h"

static void test_digit(void **state)
{
    (void)state;
    const char *lower = "0123456789abcdef", *upper = "0123456789ABCDEF";
    for (int i = 0; i < 16; i++) {
        assert_int_equal(xacct_hex_digit(lower[i]), i);
        assert_int_equal(xacct_hex_digit(upper[i]), i);
    }
    const char bad[] = {'/', ':', '@', 'G', '`', 'g', ' ', '\0', '%', (char)0xff};
    for (size_t i = 0; i < sizeof(bad); i++)
        assert_int_equal(xacct_hex_digit(bad[i]), -1);
}

static void test_decode(void **state)
{
    (void)state;
    unsigned char out[4] = {0};
    assert_int_equal(xacct_hex_decode("00fFa5C3", out, 4), 0);
    assert_int_equal(out[0], 0x00);
    assert_int_equal(out[1], 0xff);
    assert_int_equal(out[2], 0xa5);
    assert_int_equal(out[3], 0xc3);
    /* Only 2 * n digits are read: what follows does not matter. */
    assert_int_equal(xacct_hex_decode("7fzz", out, 1), 0);
    assert_int_equal(out[0], 0x7f);
    assert_int_equal(xacct_hex_decode("0g", out, 1), XACCT_EPARSE);
    assert_int_equal(xacct_hex_decode("g0", out, 1), XACCT_EPARSE);
    assert_int_equal(xacct_hex_decode("00112x", out, 3), XACCT_EPARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digit),
        cmocka_unit_test(test_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
