/* SPDX-License-Identifier: MIT */
/*
 * A cap on the arrays hiredis builds from what the server sends. hiredis
 * 0.14 (Debian 12's) allocates an array's element vector from the count in
 * its header before a single element has arrived, with no limit of its own:
 * one corrupt or hostile `*564800000` line asks for 4.5 GB. The reader's
 * reply functions are wrapped so that a count over the cap is refused,
 * which hiredis reports as an error on the connection (dropped, then
 * reconnected like any other).
 */
#include "store_int.h"

#include <hiredis/read.h>

static const redisReplyObjectFunctions *hiredis_functions; /* hiredis's own */
static redisReplyObjectFunctions capped_functions;

static void *create_array(const redisReadTask *task, int elements)
{
    if (elements < 0 || elements > XACCT__STORE_MAX_ARRAY)
        return NULL;
    return hiredis_functions->createArray(task, elements);
}

void xacct__store_reply_cap(redisReader *reader)
{
    if (reader == NULL || reader->fn == NULL || reader->fn == &capped_functions)
        return;
    /* Every reader starts with hiredis's one static set of functions. */
    if (hiredis_functions == NULL) {
        hiredis_functions = reader->fn;
        capped_functions = *reader->fn;
        capped_functions.createArray = create_array;
    }
    if (reader->fn == hiredis_functions)
        reader->fn = &capped_functions;
}
