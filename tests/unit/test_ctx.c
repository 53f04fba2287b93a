/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the one context constructor: a context starts nothing it
 * was not asked for, names the part that failed, starts each part once, runs
 * deferred calls on the loop (and the pending ones when it is freed), and
 * leaves a loop that closes cleanly. The error lines never show the Redis
 * password.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "xacct/ctx.h"

static xacct_config_t *config(const char *redis_url)
{
    char text[512];
    snprintf(text, sizeof(text), "[redis]\nurl = %s\n", redis_url);
    xacct_config_t *cfg = NULL;
    char err[256];
    assert_int_equal(config_load_from("test.conf", text, NULL, NULL, true, &cfg, err, sizeof(err)),
                     0);
    return cfg;
}

static void new_starts_nothing_unasked(void **state)
{
    (void)state;
    xacct_ctx_t *ctx = NULL;
    char err[256];
    assert_int_equal(xacct_ctx_new(config("redis://127.0.0.1:1/0"), 0, &ctx, err, sizeof(err)), 0);
    assert_non_null(ctx->loop);
    assert_null(ctx->store);
    assert_null(ctx->http);
    assert_null(ctx->aws);
    assert_null(ctx->metrics);
    assert_int_equal(xacct_ctx_free(ctx), 0);
    assert_int_equal(xacct_ctx_free(NULL), 0);
}

static void store_starts_once_and_frees_cleanly(void **state)
{
    (void)state;
    xacct_ctx_t *ctx = NULL;
    char err[256];
    assert_int_equal(xacct_ctx_new(config("redis://127.0.0.1:1/0"), XACCT_CTX_STORE, &ctx, err,
                                   sizeof(err)),
                     0);
    xacct_store_t *store = ctx->store;
    assert_non_null(store);
    assert_int_equal(xacct_ctx_start(ctx, XACCT_CTX_STORE, err, sizeof(err)), 0);
    assert_ptr_equal(ctx->store, store);
    assert_true(ctx->flags & XACCT_CTX_STORE);
    assert_int_equal(xacct_ctx_free(ctx), 0);
}

static void failed_part_is_named(void **state)
{
    (void)state;
    xacct_ctx_t *ctx = NULL;
    char err[256];
    assert_int_equal(xacct_ctx_new(config("http://127.0.0.1/0"), 0, &ctx, err, sizeof(err)), 0);
    assert_int_not_equal(xacct_ctx_start(ctx, XACCT_CTX_STORE, err, sizeof(err)), 0);
    assert_null(ctx->store);
    assert_int_equal(strncmp(err, "redis: ", 7), 0);
    assert_int_equal(xacct_ctx_free(ctx), 0);
    /* The same failure inside the constructor leaves nothing behind. */
    ctx = (xacct_ctx_t *)&ctx;
    assert_int_not_equal(
        xacct_ctx_new(config("http://127.0.0.1/0"), XACCT_CTX_STORE, &ctx, err, sizeof(err)), 0);
    assert_null(ctx);
}

static void count(void *arg)
{
    (*(int *)arg)++;
}

static void later_runs_on_the_loop_and_at_free(void **state)
{
    (void)state;
    xacct_ctx_t *ctx = NULL;
    char err[256];
    assert_int_equal(xacct_ctx_new(config("redis://127.0.0.1:1/0"), 0, &ctx, err, sizeof(err)), 0);
    int soon = 0, late = 0;
    xacct_ctx_later(ctx, 0, count, &soon);
    assert_int_equal(soon, 0); /* never inside the call */
    uv_run(ctx->loop, UV_RUN_NOWAIT);
    assert_int_equal(soon, 1);
    xacct_ctx_later(ctx, 3600 * 1000, count, &late);
    assert_int_equal(xacct_ctx_free(ctx), 0);
    assert_int_equal(late, 1); /* run at once by free, not an hour later */
    assert_int_equal(soon, 1);
}

static void error_lines(void **state)
{
    (void)state;
    xacct_ctx_t *ctx = NULL;
    char err[256];
    assert_int_equal(
        xacct_ctx_new(config("redis://:hunter2@127.0.0.1:1/0"), 0, &ctx, err, sizeof(err)), 0);
    char *m = xacct_ctx_store_error(ctx, XACCT_EDISCONNECTED, "connection refused", "reading");
    assert_string_equal(m, "cannot reach Redis at redis://:***@127.0.0.1:1/0: connection refused");
    free(m);
    m = xacct_ctx_store_error(ctx, XACCT_EDISCONNECTED,
                              "authentication refused by redis at 127.0.0.1:1 " XACCT_STORE_AUTH_HINT
                              ": WRONGPASS invalid username-password pair",
                              "reading");
    assert_string_equal(m, "cannot log in to Redis at redis://:***@127.0.0.1:1/0: authentication "
                           "refused by redis at 127.0.0.1:1 (check the password/user in "
                           "redis.url): WRONGPASS invalid username-password pair");
    free(m);
    m = xacct_ctx_store_error(ctx, XACCT_EREDIS, "WRONGTYPE", "reading the customer");
    assert_string_equal(m, "reading the customer: WRONGTYPE");
    free(m);
    m = xacct_ctx_aws_error(XACCT_ETIMEOUT, "no answer", "GetTopicAttributes t");
    assert_string_equal(m, "GetTopicAttributes t: cannot reach AWS: no answer");
    free(m);
    m = xacct_ctx_aws_error(XACCT_ENOCREDS, "none", "x");
    assert_string_equal(m, "x: no AWS credentials: none");
    free(m);
    m = xacct_ctx_aws_error(XACCT_EACCESSDENIED, "denied", "x");
    assert_string_equal(m, "x: denied");
    free(m);
    assert_int_equal(xacct_ctx_free(ctx), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_starts_nothing_unasked),
        cmocka_unit_test(store_starts_once_and_frees_cleanly),
        cmocka_unit_test(failed_part_is_named),
        cmocka_unit_test(later_runs_on_the_loop_and_at_free),
        cmocka_unit_test(error_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
