/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes what Redis answers: the input is RESP as it comes off the wire,
 * read by hiredis' reader as the store's connection reads it, translated to
 * xacct's reply (depth-bounded) and read the way the store's reply handlers
 * read theirs: elements by index, integers from text, stream entries' fields,
 * a hash as a customer record, a zset score as a time, and an error's text
 * as a failover refusal or not. Property: every access stays within the
 * reply, and a string is NUL-terminated at its length.
 *
 * hiredis 0.14 allocates an array's element pointers as soon as it reads the
 * "*<count>" line (no maxelements before hiredis 1.0); the reader here is
 * capped as the store's connections are (reply_cap.c), so a huge count is
 * a reader error, never a huge allocation.
 */
#include <hiredis/hiredis.h>

#include "fuzz_util.h"
#include "xacct/customers.h"
#include "xacct/store_op.h"
#include "../src/store/store_int.h"

static void walk(const xacct_store_reply_t *r, int depth)
{
    FUZZ_ASSERT(depth <= 16);
    long long v;
    (void)xacct_store_reply_ll(r, &v);
    char *s = xacct_store_reply_strdup(r);
    free(s);
    if (r->str != NULL)
        FUZZ_ASSERT(r->str[r->len] == '\0');
    if (r->type == XACCT_STORE_REPLY_ERROR)
        (void)xacct__store_failover_reply(r->str);
    if (r->type != XACCT_STORE_REPLY_ARRAY) {
        FUZZ_ASSERT(xacct_store_reply_at(r, 0) == NULL && r->elements == 0);
        return;
    }
    FUZZ_ASSERT(xacct_store_reply_at(r, r->elements) == NULL);
    /* As HGETALL: name, value pairs into a customer record. */
    xacct_customer_t c;
    xacct__customer_init(&c);
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        xacct__customer_set_field(&c, r->element[i].str ? r->element[i].str : "",
                                  r->element[i + 1].str);
    xacct__customer_set_pending_since(&c, xacct__store_op_reply_str(r, 0));
    xacct_customer_free(xacct_customer_dup(&c));
    /* As a stream entry: [id, [field, value, ...]]. */
    (void)xacct__store_op_entry_field(r, "e");
    (void)xacct__store_op_entry_field(r, "event");
    for (size_t i = 0; i < r->elements; i++)
        walk(xacct_store_reply_at(r, i), depth + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    redisReader *rd = redisReaderCreate();
    FUZZ_ASSERT(rd != NULL);
    xacct__store_reply_cap(rd); /* as every connection of the store's */
    if (redisReaderFeed(rd, (const char *)data, size) == REDIS_OK) {
        void *reply = NULL;
        while (redisReaderGetReply(rd, &reply) == REDIS_OK && reply != NULL) {
            xacct_store_reply_t conv;
            if (xacct__store_reply_convert(reply, &conv, 0) == 0)
                walk(&conv, 0);
            xacct__store_reply_free(&conv);
            freeReplyObject(reply);
            reply = NULL;
        }
    }
    redisReaderFree(rd);
    return 0;
}
