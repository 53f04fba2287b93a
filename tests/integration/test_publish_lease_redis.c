/* SPDX-License-Identifier: MIT */
/*
 * The topic-policy lock's lease against a real redis-server: renewals that
 * Redis answers keep the holder writing past the first lease's end; while
 * Redis answers nothing (CLIENT PAUSE) the lease is lost once its length
 * less the margin has passed, although the key is still the holder's, and
 * the first renewal sent after Redis is back makes it the holder's again;
 * a renewal that finds the lock taken by another loses it for good.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../src/onboard/publish_lease.h"
#include "store_helper.h"
#include "xacct/ctx.h"

#define NAME "topics:us-east-1"
#define KEY "lease-test:lock:" NAME
#define TTL_MS 4000
#define MARGIN_MS 2000 /* the holder may write for 2 s after each confirmation */
#define EVERY_MS 100

typedef struct taken {
    int done, status, yes;
} taken_t;

static void lock_cb(int status, const char *detail, int acquired, void *arg)
{
    taken_t *t = arg;
    t->done = 1;
    t->status = status;
    t->yes = acquired;
}

static void run_for(xacct_ctx_t *ctx, long ms)
{
    static const int never = 0;
    th_run_until(ctx->loop, &never, ms);
}

static void renewals_keep_it_and_silence_loses_it(void **state)
{
    (void)state;
    char text[512];
    snprintf(text, sizeof(text), "[redis]\nurl = %s\nprefix = lease-test:\n",
             getenv("XACCT_TEST_REDIS_URL"));
    xacct_config_t *cfg = NULL;
    char err[256];
    assert_int_equal(config_load_from("test.conf", text, NULL, NULL, true, &cfg, err, sizeof(err)),
                     0);
    xacct_ctx_t *ctx = NULL;
    assert_int_equal(xacct_ctx_new(cfg, XACCT_CTX_STORE, &ctx, err, sizeof(err)), 0);

    th_result_t r;
    assert_true(th_run_cmd(ctx->loop, ctx->store, 5000, &r, "DEL", KEY, NULL));
    taken_t t = {0};
    uint64_t sent = uv_hrtime();
    assert_int_equal(xacct_store_lock_acquire(ctx->store, NAME, "tokA", TTL_MS, lock_cb, &t), 0);
    assert_true(th_run_until(ctx->loop, &t.done, 5000));
    assert_int_equal(t.status, 0);
    assert_true(t.yes);
    xacct__publish_lease_t *l =
        xacct__publish_lease_keep(ctx, NAME, "tokA", sent, TTL_MS, MARGIN_MS, EVERY_MS);

    /* Past what the acquire alone allows: renewed, still the holder's. */
    run_for(ctx, TTL_MS - MARGIN_MS + 500);
    assert_false(xacct__publish_lease_lost(l));

    /* Redis answers nothing for 3 s; the key (4 s from the last renewal)
     * outlives the pause, but the holder cannot know. */
    assert_true(
        th_run_cmd(ctx->loop, ctx->store, 5000, &r, "CLIENT", "PAUSE", "3000", "ALL", NULL));
    assert_int_equal(r.status, 0);
    run_for(ctx, TTL_MS - MARGIN_MS + 300);
    assert_true(xacct__publish_lease_lost(l));

    /* Back: the renewals sent since answer that the lock is still ours. */
    run_for(ctx, 1500);
    assert_false(xacct__publish_lease_lost(l));
    assert_true(th_run_cmd(ctx->loop, ctx->store, 5000, &r, "GET", KEY, NULL));
    assert_string_equal(r.str, "tokA");

    /* Another writer holds it now: lost, whatever the clock says. */
    assert_true(
        th_run_cmd(ctx->loop, ctx->store, 5000, &r, "SET", KEY, "tokB", "PX", "60000", NULL));
    run_for(ctx, 500);
    assert_true(xacct__publish_lease_lost(l));
    assert_true(th_run_cmd(ctx->loop, ctx->store, 5000, &r, "GET", KEY, NULL));
    assert_string_equal(r.str, "tokB"); /* not extended, nor taken back */

    xacct__publish_lease_drop(l);
    assert_true(th_run_cmd(ctx->loop, ctx->store, 5000, &r, "DEL", KEY, NULL));
    assert_int_equal(xacct_ctx_free(ctx), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(renewals_keep_it_and_silence_loses_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
