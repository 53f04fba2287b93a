/* SPDX-License-Identifier: MIT */
/*
 * The start-rate limit (SPEC §9.2: at most check.reverify_rate starts per
 * second): driven as fast as it allows, over simulated time, no one-second
 * window holds more than the rate, and the pace stays near it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "xacct/rate.h"

#define RUN_MS 20000

/* Starts as many as allowed (want at a time), the way the sweeper does:
 * again step_ms after a take, or after the wait the limit names when it
 * allows none, for RUN_MS. Checks every one-second window [t, t + 1000)
 * holds at most max_per_window starts; returns the starts. */
static size_t drive(double rate, uint64_t step_ms, size_t want, size_t max_per_window)
{
    uint64_t *at = calloc((size_t)(rate * RUN_MS / 1000.0) + 64, sizeof(*at));
    assert_non_null(at);
    size_t n = 0;
    xacct_rate_t r;
    xacct_rate_init(&r, 0);
    for (uint64_t now = 0; now < RUN_MS;) {
        size_t k = xacct_rate_allowed(&r, rate, now, want);
        assert_true(k <= want);
        for (size_t i = 0; i < k; i++) {
            xacct_rate_take(&r);
            at[n++] = now;
        }
        if (k > 0) {
            now += step_ms;
            continue;
        }
        uint64_t w = xacct_rate_wait_ms(&r, rate);
        assert_true(w >= 1 && w <= 1000 / (rate * 0.9) + 2);
        now += w;
    }
    for (size_t i = 0, j = 0; i < n; i++) {
        while (at[j] + 1000 <= at[i])
            j++;
        assert_true(i - j + 1 <= max_per_window);
    }
    free(at);
    return n;
}

static void test_no_window_holds_more_than_the_rate(void **state)
{
    (void)state;
    const double rates[] = {1, 3, 10, 25, 100, 1000, 10000};
    const uint64_t steps[] = {0, 1, 5};
    for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
        for (size_t j = 0; j < sizeof(steps) / sizeof(steps[0]); j++) {
            double rate = rates[i];
            size_t n = drive(rate, steps[j], (size_t)rate + 5, (size_t)rate);
            /* The pace: within about a tenth (and a start) of the rate. */
            double per_s = (double)n * 1000.0 / RUN_MS;
            if (per_s < rate * 0.89 - 1.0 || per_s > rate)
                print_error("rate %g step %llu: %g a second\n", rate, (unsigned long long)steps[j],
                            per_s);
            assert_true(per_s >= rate * 0.89 - 1.0);
            assert_true(per_s <= rate);
        }
    }
}

/* Idle for a while, the bucket does not fill beyond its size: a tenth of a
 * second's worth, at least one. */
static void test_idle_spell_allows_no_burst(void **state)
{
    (void)state;
    xacct_rate_t r;
    xacct_rate_init(&r, 0);
    assert_int_equal(xacct_rate_allowed(&r, 10, 3600 * 1000, 100), 1);
    xacct_rate_t r100;
    xacct_rate_init(&r100, 0);
    assert_int_equal(xacct_rate_allowed(&r100, 100, 3600 * 1000, 100), 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_window_holds_more_than_the_rate),
        cmocka_unit_test(test_idle_spell_allows_no_burst),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
