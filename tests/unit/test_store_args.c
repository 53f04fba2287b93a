/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the Redis argument lists of src/store/store_values.c: every
 * argument copied into one buffer that moves as it grows (each v[i] follows
 * it, NUL-terminated, binary-safe), the old storage and the last one wiped
 * (arguments carry external IDs), and the limits.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xacct/common.h"
#include "xacct/store.h"

static size_t wiped_bytes;
static int wipes;

static void on_freezero(const void *p, size_t n)
{
    if (p == NULL || n == 0)
        return;
    wipes++;
    wiped_bytes = n; /* the latest */
}

static void test_args_follow_the_buffer(void **state)
{
    (void)state;
    xacct__freezero_hook = on_freezero;
    wipes = 0;
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    char big[300];
    memset(big, 'x', sizeof(big));
    xacct_store_args_str(&a, "HSET");
    xacct_store_args_add(&a, "bin\0ary", 7);
    for (int i = 0; i < 40; i++) /* several moves of the buffer */
        xacct_store_args_ll(&a, i * 1000003LL);
    xacct_store_args_add(&a, big, sizeof(big));
    xacct_store_args_fmt(&a, "k:%s:%d", "acct", 7);
    assert_int_equal(a.err, 0);
    assert_int_equal(a.argc, 44);

    assert_int_equal(a.len[0], 4);
    assert_string_equal(a.v[0], "HSET");
    assert_int_equal(a.len[1], 7);
    assert_memory_equal(a.v[1], "bin\0ary", 8); /* with its NUL after */
    for (int i = 0; i < 40; i++) {
        char want[32];
        snprintf(want, sizeof(want), "%lld", i * 1000003LL);
        assert_string_equal(a.v[2 + i], want);
    }
    assert_int_equal(a.len[42], sizeof(big));
    assert_memory_equal(a.v[42], big, sizeof(big));
    assert_int_equal(a.v[42][sizeof(big)], '\0');
    assert_string_equal(a.v[43], "k:acct:7");
    size_t total = 0;
    for (int i = 0; i < a.argc; i++)
        total += a.len[i];
    assert_int_equal(a.bytes, total);

    /* Every storage the arguments were in is wiped: each the buffer moved
     * out of, and the last, whole, on destroy. */
    int moved = wipes;
    assert_true(moved >= 1);
    xacct_store_args_destroy(&a);
    xacct__freezero_hook = NULL;
    assert_int_equal(wipes, moved + 1);
    assert_true(wiped_bytes >= total + 44);
    assert_null(a.v);
    assert_int_equal(a.argc, 0);
    xacct_store_args_destroy(&a); /* twice is harmless */
}

/* Integers are written as "%lld" writes them, the extremes included. */
static void test_integers_in_decimal(void **state)
{
    XACCT_UNUSED(state);
    static const long long v[] = {0, 7, -1, 9, 10, -10, 99, 100, 1234567890123LL,
                                  LLONG_MAX, LLONG_MIN, LLONG_MIN + 1};
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(v); i++)
        xacct_store_args_ll(&a, v[i]);
    assert_int_equal(a.err, 0);
    assert_int_equal(a.argc, (int)XACCT_ARRAY_SIZE(v));
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(v); i++) {
        char want[32];
        snprintf(want, sizeof(want), "%lld", v[i]);
        assert_int_equal(a.len[i], strlen(want));
        assert_string_equal(a.v[i], want);
    }
    xacct_store_args_destroy(&a);
}

static void test_limits(void **state)
{
    (void)state;
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    for (int i = 0; i <= XACCT_STORE_MAX_ARGS; i++)
        xacct_store_args_str(&a, "a");
    assert_int_equal(a.err, XACCT_ETOOBIG);
    assert_int_equal(a.argc, XACCT_STORE_MAX_ARGS);
    xacct_store_args_destroy(&a);

    xacct_store_args_init(&a);
    char *huge = xacct_malloc(XACCT_STORE_MAX_ARG_BYTES + 1);
    memset(huge, 'y', XACCT_STORE_MAX_ARG_BYTES + 1);
    xacct_store_args_add(&a, huge, XACCT_STORE_MAX_ARG_BYTES + 1);
    assert_int_equal(a.err, XACCT_ETOOBIG);
    assert_int_equal(a.argc, 0);
    xacct_store_args_str(&a, "after"); /* the first error sticks */
    assert_int_equal(a.argc, 0);
    free(huge);
    xacct_store_args_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_args_follow_the_buffer),
        cmocka_unit_test(test_integers_in_decimal),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
