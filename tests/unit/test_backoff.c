/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the full-jitter backoff: ceilings double up to the cap,
 * delays stay within [0, ceiling], the generator is honoured (including
 * rejection of biased draws and failure), and reset starts over.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "xacct/backoff.h"
#include "xacct/jitter.h"

typedef struct seq {
    const uint64_t *vals;
    size_t n;
    size_t i;
    int fail;
} seq_t;

static int seq_rand(void *arg, uint64_t *out)
{
    seq_t *s = arg;
    if (s->fail)
        return -1;
    *out = s->vals[s->i % s->n];
    s->i++;
    return 0;
}

static void test_ceiling_doubles_to_cap(void **state)
{
    (void)state;
    xacct_backoff_t b;
    xacct_backoff_init(&b, 100, 1000, NULL, NULL);
    assert_int_equal(xacct_backoff_ceiling(&b, 0), 100);
    assert_int_equal(xacct_backoff_ceiling(&b, 1), 200);
    assert_int_equal(xacct_backoff_ceiling(&b, 2), 400);
    assert_int_equal(xacct_backoff_ceiling(&b, 3), 800);
    assert_int_equal(xacct_backoff_ceiling(&b, 4), 1000);
    assert_int_equal(xacct_backoff_ceiling(&b, 200), 1000);
    assert_int_equal(xacct_backoff_ceiling(&b, UINT32_MAX), 1000);
}

static void test_init_normalises(void **state)
{
    (void)state;
    xacct_backoff_t b;
    xacct_backoff_init(&b, 0, 0, NULL, NULL);
    assert_int_equal(b.base_ms, 1);
    assert_int_equal(b.cap_ms, 1);
    xacct_backoff_init(&b, 500, 10, NULL, NULL);
    assert_int_equal(b.cap_ms, 500);
    xacct_backoff_init(&b, 1, UINT64_MAX, NULL, NULL);
    assert_int_equal(b.cap_ms, XACCT_BACKOFF_MAX_CAP_MS);
    /* A huge attempt count must not overflow past the clamped cap. */
    assert_int_equal(xacct_backoff_ceiling(&b, 100000), XACCT_BACKOFF_MAX_CAP_MS);
}

static void test_generator_used_modulo(void **state)
{
    (void)state;
    const uint64_t vals[] = {7, 7, 7, 1000003};
    seq_t s = {vals, 4, 0, 0};
    xacct_backoff_t b;
    xacct_backoff_init(&b, 10, 1000, seq_rand, &s);
    assert_int_equal(xacct_backoff_next(&b), 7 % 11);  /* ceiling 10 */
    assert_int_equal(xacct_backoff_next(&b), 7 % 21);  /* ceiling 20 */
    assert_int_equal(xacct_backoff_next(&b), 7 % 41);  /* ceiling 40 */
    assert_int_equal(xacct_backoff_next(&b), 1000003 % 81);
    assert_int_equal(xacct_backoff_attempts(&b), 4);
    xacct_backoff_reset(&b);
    assert_int_equal(xacct_backoff_attempts(&b), 0);
    s.i = 0;
    assert_int_equal(xacct_backoff_next(&b), 7);
}

static void test_biased_draw_rejected(void **state)
{
    (void)state;
    /* With bound 9 (n = 10), UINT64_MAX lies in the incomplete top bucket
     * and must be rejected; the next draw is used. */
    const uint64_t vals[] = {UINT64_MAX, 23};
    seq_t s = {vals, 2, 0, 0};
    xacct_backoff_t b;
    xacct_backoff_init(&b, 9, 9, seq_rand, &s);
    assert_int_equal(xacct_backoff_next(&b), 3);
    assert_int_equal(s.i, 2);
}

static void test_failing_generator_gives_ceiling(void **state)
{
    (void)state;
    const uint64_t vals[] = {0};
    seq_t s = {vals, 1, 0, 1};
    xacct_backoff_t b;
    xacct_backoff_init(&b, 50, 150, seq_rand, &s);
    assert_int_equal(xacct_backoff_next(&b), 50);
    assert_int_equal(xacct_backoff_next(&b), 100);
    assert_int_equal(xacct_backoff_next(&b), 150);
    assert_int_equal(xacct_backoff_next(&b), 150);
}

static void test_rand_bytes_within_bounds_and_spread(void **state)
{
    (void)state;
    xacct_backoff_t b;
    xacct_backoff_init(&b, 1000, 1000, NULL, NULL);
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < 2000; i++) {
        uint64_t d = xacct_backoff_next(&b);
        assert_true(d <= 1000);
        if (d < lo)
            lo = d;
        if (d > hi)
            hi = d;
    }
    /* 2000 uniform draws over 0..1000 all landing in one half is
     * astronomically unlikely unless the jitter is broken. */
    assert_true(lo < 250);
    assert_true(hi > 750);
}

/* The default generator gives all 64 bits: every bit both set and clear
 * over a thousand draws, and no draw repeating its predecessor. */
static void test_jitter_bits(void **state)
{
    (void)state;
    uint64_t any = 0, all = UINT64_MAX, prev = xacct_jitter_u64();
    for (int i = 0; i < 1000; i++) {
        uint64_t r = xacct_jitter_u64();
        assert_true(r != prev);
        any |= r;
        all &= r;
        prev = r;
    }
    assert_true(any == UINT64_MAX);
    assert_true(all == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ceiling_doubles_to_cap),
        cmocka_unit_test(test_init_normalises),
        cmocka_unit_test(test_generator_used_modulo),
        cmocka_unit_test(test_biased_draw_rejected),
        cmocka_unit_test(test_failing_generator_gives_ceiling),
        cmocka_unit_test(test_rand_bytes_within_bounds_and_spread),
        cmocka_unit_test(test_jitter_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
