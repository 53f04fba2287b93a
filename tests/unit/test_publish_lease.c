/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the topic-policy lock's lease, its clock given: the holder
 * may write until the lease's length less the margin has passed since the
 * command that took the lock was sent, not a moment later, whether or not
 * a renewal failed meanwhile (here there is no store: none is sent); a
 * margin as long as the lease leaves no time at all. The lease closes its
 * timer and frees itself when dropped (the loop closes cleanly).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../src/onboard/publish_lease.h"
#include "xacct/ctx.h"

bool xacct__publish_lease_lost_at(const xacct__publish_lease_t *l, uint64_t now_ns);

#define MS 1000000ull
#define SENT (1000000 * MS) /* when the lock was taken, on the test's clock */

typedef struct fixture {
    xacct_ctx_t *ctx;             /* a loop and nothing else: no store, so no renewal */
    xacct__publish_lease_t *l[2]; /* the test's leases, dropped by teardown */
} fixture_t;

static int setup(void **state)
{
    xacct_config_t *cfg = NULL;
    char err[256];
    assert_int_equal(config_load_from("test.conf", "[redis]\nurl = redis://127.0.0.1:1/0\n", NULL,
                                      NULL, true, &cfg, err, sizeof(err)),
                     0);
    xacct_ctx_t *ctx = NULL;
    assert_int_equal(xacct_ctx_new(cfg, 0, &ctx, err, sizeof(err)), 0);
    fixture_t *f = calloc(1, sizeof(*f));
    f->ctx = ctx;
    *state = f;
    return 0;
}

/* Drops the leases (a failed test's too, whose timers would keep the loop
 * running) and frees the context. */
static int teardown(void **state)
{
    fixture_t *f = *state;
    for (size_t i = 0; i < 2; i++)
        xacct__publish_lease_drop(f->l[i]);
    assert_int_equal(xacct_ctx_free(f->ctx), 0);
    free(f);
    return 0;
}

static xacct__publish_lease_t *keep(fixture_t *f, size_t i, uint64_t sent_ns, long ttl_ms,
                                    long margin_ms, uint64_t every_ms)
{
    f->l[i] = xacct__publish_lease_keep(f->ctx, "topics:us-east-1", i ? "b" : "a", sent_ns, ttl_ms,
                                        margin_ms, every_ms);
    return f->l[i];
}

static void lapses_a_margin_before_the_lease(void **state)
{
    fixture_t *f = *state;
    xacct__publish_lease_t *l = keep(f, 0, SENT, 10000, 2000, 5);
    assert_false(xacct__publish_lease_lost_at(l, SENT));
    assert_false(xacct__publish_lease_lost_at(l, SENT + 7999 * MS));
    assert_true(xacct__publish_lease_lost_at(l, SENT + 8000 * MS));
    assert_true(xacct__publish_lease_lost_at(l, SENT + 20000 * MS));
    /* Ticks without a store send no renewal: nothing is confirmed again. */
    uv_sleep(20);
    uv_run(f->ctx->loop, UV_RUN_NOWAIT);
    assert_false(xacct__publish_lease_lost_at(l, SENT + 7999 * MS));
    assert_true(xacct__publish_lease_lost_at(l, SENT + 8000 * MS));
}

static void a_margin_as_long_as_the_lease_leaves_no_time(void **state)
{
    fixture_t *f = *state;
    assert_true(xacct__publish_lease_lost_at(keep(f, 0, SENT, 1000, 1000, 3000), SENT));
}

static void reads_the_monotonic_clock(void **state)
{
    fixture_t *f = *state;
    assert_false(xacct__publish_lease_lost(keep(f, 0, uv_hrtime(), 10000, 2000, 3000)));
    assert_true(xacct__publish_lease_lost(keep(f, 1, uv_hrtime() - 8000 * MS, 10000, 2000, 3000)));
}

static void null_is_not_lost(void **state)
{
    (void)state;
    assert_false(xacct__publish_lease_lost(NULL));
    assert_false(xacct__publish_lease_lost_at(NULL, SENT));
    xacct__publish_lease_drop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(lapses_a_margin_before_the_lease, setup, teardown),
        cmocka_unit_test_setup_teardown(a_margin_as_long_as_the_lease_leaves_no_time, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(reads_the_monotonic_clock, setup, teardown),
        cmocka_unit_test_setup_teardown(null_is_not_lost, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
