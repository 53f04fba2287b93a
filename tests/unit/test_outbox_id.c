/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the order of outbox stream entry ids (xacct_outbox_id_cmp):
 * numeric on the time part, then on the sequence, not by text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "xacct/outbox.h"

static void test_time_part_first(void **state)
{
    (void)state;
    assert_true(xacct_outbox_id_cmp("1714561234567-9", "1714561234568-0") < 0);
    assert_true(xacct_outbox_id_cmp("1714561234568-0", "1714561234567-9") > 0);
    /* Numbers, not text: "9" comes before "10". */
    assert_true(xacct_outbox_id_cmp("9-0", "10-0") < 0);
}

static void test_sequence_second(void **state)
{
    (void)state;
    assert_true(xacct_outbox_id_cmp("5-2", "5-10") < 0);
    assert_true(xacct_outbox_id_cmp("5-10", "5-2") > 0);
    assert_int_equal(xacct_outbox_id_cmp("5-3", "5-3"), 0);
}

static void test_missing_sequence_is_zero(void **state)
{
    (void)state;
    assert_int_equal(xacct_outbox_id_cmp("5", "5-0"), 0);
    assert_true(xacct_outbox_id_cmp("5", "5-1") < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_part_first),
        cmocka_unit_test(test_sequence_second),
        cmocka_unit_test(test_missing_sequence_is_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
