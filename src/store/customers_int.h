/* SPDX-License-Identifier: MIT */
/*
 * What the customer record's files share (customers_apply.c,
 * customers_onboard.c, customers_topics.c, customers_read.c,
 * customers_audit.c) and nothing else: reading a script's {word, text}
 * answer and spelling a number into the Lua text.
 */
#ifndef XACCT_CUSTOMERS_INT_H
#define XACCT_CUSTOMERS_INT_H

#include "xacct/store.h"

#define XACCT__STR_(x) #x
#define XACCT__XSTR(x) XACCT__STR_(x)

/* Scripts answer {word, text...}; this reads the first two (text is a copy
 * for the caller to free). */
static inline void xacct__customers_word_text(const xacct_store_reply_t *r,
                                              const xacct_store_reply_t **word, char **text)
{
    *word = xacct_store_reply_at(r, 0);
    *text = xacct_store_reply_strdup(xacct_store_reply_at(r, 1));
}

#endif
