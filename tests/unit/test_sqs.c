/* SPDX-License-Identifier: MIT */
/* SQS batch answers: which entries failed, and on whose side (SenderFault). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "xacct/sqs.h"

/* DeleteMessageBatch answered partly: entry 0 done, 1 refused as the
 * caller's fault, 2 failed on SQS's side (to be sent again), 3 with no
 * SenderFault (taken as the caller's), 4 absent from the answer. */
static void test_batch_sender_fault(void **state)
{
    (void)state;
    const char *body =
        "{\"Successful\":[{\"Id\":\"0\"}],\"Failed\":["
        "{\"Id\":\"1\",\"SenderFault\":true,\"Code\":\"ReceiptHandleIsInvalid\",\"Message\":\"x\"},"
        "{\"Id\":\"2\",\"SenderFault\":false,\"Code\":\"InternalError\",\"Message\":\"x\"},"
        "{\"Id\":\"3\",\"Code\":\"MessageNotInflight\"}]}";
    int results[5];
    char codes[5][XACCT_SQS_CODE_MAX];
    assert_int_equal(xacct__sqs_parse_batch(body, strlen(body), 5, results, codes), 0);
    assert_int_equal(results[0], 0);
    assert_string_equal(codes[0], "");
    assert_int_equal(results[1], XACCT_EAWS);
    assert_string_equal(codes[1], "ReceiptHandleIsInvalid");
    assert_int_equal(results[2], XACCT_EAGAIN);
    assert_string_equal(codes[2], "InternalError");
    assert_int_equal(results[3], XACCT_EAWS);
    assert_string_equal(codes[3], "MessageNotInflight");
    assert_int_equal(results[4], XACCT_EAWS);
    assert_string_equal(codes[4], "Missing");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_sender_fault),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
