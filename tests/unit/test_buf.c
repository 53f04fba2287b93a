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

/* Growing leaves no unwiped copy behind: each old storage block goes
 * through the wipe, and so does the last one on destroy. */
static size_t g_wipes_with_secret;
static void count_secret(const void *p, size_t n)
{
    if (memmem(p, n, "AKIDSECRET", 10) != NULL)
        g_wipes_with_secret++;
}

static void test_growth_wipes_old_storage(void **state)
{
    (void)state;
    xacct_buf_t b;
    xacct_buf_init(&b, 0);
    assert_int_equal(xacct_buf_puts(&b, "AKIDSECRET"), 0);
    g_wipes_with_secret = 0;
    xacct__freezero_hook = count_secret;
    size_t grows = 0;
    for (int i = 0; i < 5000; i++) {
        size_t cap = b.cap;
        assert_int_equal(xacct_buf_putc(&b, 'x'), 0);
        grows += b.cap != cap;
    }
    assert_true(grows >= 5);
    assert_int_equal(g_wipes_with_secret, grows);
    xacct_buf_destroy(&b);
    xacct__freezero_hook = NULL;
    assert_int_equal(g_wipes_with_secret, grows + 1);
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
        cmocka_unit_test(test_growth_wipes_old_storage),
        cmocka_unit_test(test_empty_steal),
        cmocka_unit_test(test_errors_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
