/* SPDX-License-Identifier: MIT */
/* The capped buffer and the error table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "xacct/buf.h"

static void test_append_and_cap(void **state)
{
    (void)state;
    xacct_buf_t b;
    xacct_buf_init(&b, 10);
    assert_int_equal(xacct_buf_puts(&b, "hello"), 0);
    assert_int_equal(xacct_buf_printf(&b, "%d", 1234), 0);
    assert_string_equal(b.data, "hello1234");
    assert_int_equal(xacct_buf_puts(&b, "xy"), XACCT_ETOOBIG);
    assert_string_equal(b.data, "hello1234"); /* unchanged on failure */
    assert_int_equal(xacct_buf_putc(&b, '!'), 0);
    assert_int_equal(b.len, 10);
    assert_int_equal(xacct_buf_putc(&b, '!'), XACCT_ETOOBIG);
    char *s = xacct_buf_steal(&b);
    assert_string_equal(s, "hello1234!");
    assert_null(b.data);
    free(s);
    xacct_buf_destroy(&b);
}

static void test_growth(void **state)
{
    (void)state;
    xacct_buf_t b;
    xacct_buf_init(&b, 0);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(xacct_buf_putc(&b, (char)('a' + i % 26)), 0);
    assert_int_equal(b.len, 10000);
    assert_int_equal(b.data[9999], 'a' + 9999 % 26);
    assert_int_equal(b.data[10000], '\0');
    xacct_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    xacct_buf_destroy_secret(&b);
    assert_null(b.data);
}

static void test_empty_steal(void **state)
{
    (void)state;
    xacct_buf_t b;
    xacct_buf_init(&b, 0);
    char *s = xacct_buf_steal(&b);
    assert_string_equal(s, "");
    free(s);
}

static void test_errors_named(void **state)
{
    (void)state;
    assert_string_equal(xacct_strerror(0), "success");
    assert_string_equal(xacct_strerror(XACCT_ETIMEOUT), "timed out");
    assert_string_equal(xacct_errname(XACCT_EPARSE), "XACCT_EPARSE");
    assert_string_equal(xacct_strerror(12345), "unknown error");
    assert_true(XACCT_EAGAIN < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_cap),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_empty_steal),
        cmocka_unit_test(test_errors_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
