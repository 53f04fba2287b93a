/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the RESP form of a Redis command (src/store/store_cmd.c),
 * held byte for byte to what hiredis' own formatter writes for the same
 * arguments: empty, binary and long arguments, and lengths across every
 * decimal width. Also which error replies mean "refused, not run: send it
 * again on a new connection", in Redis 7's form and in the form Redis 6
 * wraps around a refusal met inside a script.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "../../src/store/store_int.h"

static void same_as_hiredis(const xacct_store_args_t *a)
{
    char *theirs = NULL;
    int n = redisFormatCommandArgv(&theirs, a->argc, (const char **)a->v, a->len);
    assert_true(n > 0);
    size_t len = 0;
    char *ours = xacct__store_resp_format(a, &len);
    assert_int_equal(len, (size_t)n);
    assert_memory_equal(ours, theirs, len + 1); /* NUL included: hiredis reads it */
    free(ours);
    redisFreeCommand(theirs);
}

static void test_resp_simple(void **state)
{
    XACCT_UNUSED(state);
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_str(&a, "HSET");
    xacct_store_args_str(&a, "xacct:customer:123456789012");
    xacct_store_args_str(&a, "state");
    xacct_store_args_str(&a, "active");
    size_t len = 0;
    char *ours = xacct__store_resp_format(&a, &len);
    static const char want[] = "*4\r\n$4\r\nHSET\r\n$27\r\nxacct:customer:123456789012\r\n"
                               "$5\r\nstate\r\n$6\r\nactive\r\n";
    assert_int_equal(len, sizeof(want) - 1);
    assert_memory_equal(ours, want, len);
    free(ours);
    same_as_hiredis(&a);
    xacct_store_args_destroy(&a);
}

static void test_resp_empty_binary_and_long(void **state)
{
    XACCT_UNUSED(state);
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_str(&a, "SET");
    xacct_store_args_str(&a, "");
    static const unsigned char bin[] = {0, '\r', '\n', '$', '*', 0xff, 0};
    xacct_store_args_add(&a, bin, sizeof(bin));
    xacct_store_args_ll(&a, -9223372036854775807LL - 1);
    /* lengths of 1 to 6 digits */
    char *big = xacct_malloc(140000);
    memset(big, 'x', 140000);
    for (size_t n = 1; n <= 123457; n *= 10)
        xacct_store_args_add(&a, big, n + n / 3);
    free(big);
    same_as_hiredis(&a);
    xacct_store_args_destroy(&a);
}

/* Argument counts of one to four digits. */
static void test_resp_many_arguments(void **state)
{
    XACCT_UNUSED(state);
    for (int count = 1; count <= 1200; count = count * 3 + 1) {
        xacct_store_args_t a;
        xacct_store_args_init(&a);
        xacct_store_args_str(&a, "RPUSH");
        for (int i = 1; i < count; i++)
            xacct_store_args_ll(&a, i * 7919);
        same_as_hiredis(&a);
        xacct_store_args_destroy(&a);
    }
}

static void test_failover_replies(void **state)
{
    XACCT_UNUSED(state);
    const char *yes[] = {
        "READONLY You can't write against a read only replica.",
        "READONLY You can't write against a read only replica. script: "
        "29f852ed0f69a8431ce332fa2bfe05129b1b0fb3, on @user_script:1.",
        "LOADING Redis is loading the dataset in memory",
        "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
        "NOREPLICAS Not enough good replicas to write.",
        /* Redis 6.2 (still supported, and common on ElastiCache): a script's
         * write refused on a replica (which took none of its writes). */
        "ERR Error running script (call to f_1028a5dba704e1d8a01fd96efeba25bb78f62df2): "
        "@user_script:4: @user_script: 4: -READONLY You can't write against a read only "
        "replica.",
    };
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(yes); i++)
        if (!xacct__store_failover_reply(yes[i]))
            fail_msg("not taken for a failover reply: %s", yes[i]);
    const char *no[] = {
        "BUSY Redis is busy running a script.",
        "NOSCRIPT No matching script. Please use EVAL.",
        "WRONGTYPE Operation against a key holding the wrong kind of value",
        "ERR Error running script (call to f_abc): @user_script:2: user_script:2: "
        "attempt to compare nil with number",
        "ERR Error running script (call to f_abc): @user_script:1: @user_script: 1: "
        "Wrong number of args calling Redis command From Lua script",
        "ERR READONLY",
        "NOAUTH Authentication required.",
    };
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(no); i++)
        if (xacct__store_failover_reply(no[i]))
            fail_msg("taken for a failover reply: %s", no[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resp_simple),
        cmocka_unit_test(test_resp_empty_binary_and_long),
        cmocka_unit_test(test_resp_many_arguments),
        cmocka_unit_test(test_failover_replies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
