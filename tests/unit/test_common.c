/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the formatting helpers of src/core/common.c: xacct_asprintf
 * and xacct_vasprintf, on both sides of the stack buffer that short results
 * are formatted into first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xacct/common.h"

static char *via_va_list(const char *fmt, ...) XACCT_PRINTF(1, 2);
static char *via_va_list(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = xacct_vasprintf(fmt, ap);
    va_end(ap);
    return p;
}

static void test_short(void **state)
{
    (void)state;
    char *p = xacct_asprintf("%s/%d", "acct", 42);
    assert_string_equal(p, "acct/42");
    free(p);
    p = via_va_list("customer %s is %s", "123456789012", "pending");
    assert_string_equal(p, "customer 123456789012 is pending");
    free(p);
    p = via_va_list("%s", "");
    assert_string_equal(p, "");
    free(p);
}

/* Lengths around the 256-byte first pass, and far beyond it. */
static void test_long(void **state)
{
    (void)state;
    static const size_t lens[] = {254, 255, 256, 257, 4000};
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(lens); i++) {
        char *want = malloc(lens[i] + 1);
        assert_non_null(want);
        for (size_t k = 0; k < lens[i]; k++)
            want[k] = (char)('a' + k % 26);
        want[lens[i]] = '\0';
        char *p = via_va_list("%s", want);
        assert_int_equal(strlen(p), lens[i]);
        assert_string_equal(p, want);
        free(p);
        p = xacct_asprintf("<%s>", want);
        assert_int_equal(strlen(p), lens[i] + 2);
        assert_int_equal(p[0], '<');
        assert_memory_equal(p + 1, want, lens[i]);
        assert_string_equal(p + 1 + lens[i], ">");
        free(p);
        free(want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_short),
        cmocka_unit_test(test_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
