/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes the SQS JSON 1.0 response parsers: ReceiveMessage (bodies checked
 * against MD5OfBody) and the DeleteMessageBatch/ChangeMessageVisibilityBatch
 * answers, whose entry ids index a fixed-size array.
 */
#include "fuzz_util.h"
#include "xacct/sqs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xacct_sqs_message_t **msgs = NULL;
    size_t n = 0, corrupt = 0;
    if (xacct__sqs_parse_receive((const char *)data, size, &msgs, &n, &corrupt) == 0) {
        for (size_t i = 0; i < n; i++) {
            FUZZ_ASSERT(msgs[i]->body != NULL && msgs[i]->body[msgs[i]->body_len] == '\0');
            xacct_sqs_message_free(msgs[i]);
        }
        FUZZ_ASSERT(msgs[n] == NULL);
        free(msgs);
    }
    int results[XACCT_SQS_MAX_BATCH];
    char codes[XACCT_SQS_MAX_BATCH][XACCT_SQS_CODE_MAX];
    if (xacct__sqs_parse_batch((const char *)data, size, XACCT_SQS_MAX_BATCH, results, codes) == 0)
        for (size_t i = 0; i < XACCT_SQS_MAX_BATCH; i++)
            FUZZ_ASSERT(results[i] == 0 ? codes[i][0] == '\0' : results[i] == XACCT_EAWS);
    return 0;
}
