/* SPDX-License-Identifier: MIT */
/* The capped buffer, the string helpers and the error table. */
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

/* printf formats into the room already allocated when it fits, and must
 * still refuse what would pass the buffer's maximum (room > max here). */
static void test_printf_in_room_and_beyond(void **state)
{
    (void)state;
    xacct_buf_t b;
    xacct_buf_init(&b, 12);
    assert_int_equal(xacct_buf_puts(&b, "abcde"), 0); /* cap 64, max 12 */
    assert_int_equal(xacct_buf_printf(&b, "%s", "12345678"), XACCT_ETOOBIG);
    assert_string_equal(b.data, "abcde");
    assert_int_equal(b.len, 5);
    assert_int_equal(xacct_buf_printf(&b, "%d-%s", 42, "xy"), 0);
    assert_string_equal(b.data, "abcde42-xy");
    assert_int_equal(b.len, 10);
    xacct_buf_destroy(&b);

    /* Longer than the room: formatted again after growing. */
    char big[300];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    xacct_buf_init(&b, 0);
    assert_int_equal(xacct_buf_puts(&b, "<"), 0);
    assert_int_equal(xacct_buf_printf(&b, "%s>%d", big, 7), 0);
    assert_int_equal(b.len, 1 + 299 + 2);
    assert_int_equal(b.data[0], '<');
    assert_memory_equal(b.data + 1, big, 299);
    assert_string_equal(b.data + 300, ">7");
    xacct_buf_destroy(&b);
}

static void test_asprintf_and_strjoin(void **state)
{
    (void)state;
    char *s = xacct_asprintf("%s/%d", "short", 5);
    assert_string_equal(s, "short/5");
    free(s);

    char big[600];
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    s = xacct_asprintf("[%s]", big); /* past the stack buffer */
    assert_int_equal(strlen(s), 601);
    assert_int_equal(s[0], '[');
    assert_int_equal(s[600], ']');
    assert_memory_equal(s + 1, big, 599);
    free(s);

    s = xacct_strjoin("a", "", "bc", "/", big, (char *)NULL);
    assert_int_equal(strlen(s), 4 + 599);
    assert_memory_equal(s, "abc/", 4);
    free(s);
    s = xacct_strjoin("", (char *)NULL);
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
        cmocka_unit_test(test_printf_in_room_and_beyond),
        cmocka_unit_test(test_asprintf_and_strjoin),
        cmocka_unit_test(test_errors_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
