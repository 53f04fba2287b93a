/* SPDX-License-Identifier: MIT */
/*
 * Paging through customers, most recently updated first, in bounded memory
 * (SPEC §7 GET /v1/customers): each page is one Lua script that walks the
 * customers zset from a cursor in small batches and returns at most limit
 * whole records, so neither Redis nor the caller ever holds the whole set.
 *
 * A cursor is "<score>:<account>" of the last entry a page looked at (its
 * last record, or one after it in another state; the zset's score is the
 * last update in Unix ms); it is opaque to callers.
 */
#ifndef XACCT_CUSTOMER_PAGES_H
#define XACCT_CUSTOMER_PAGES_H

#include <stddef.h>

#include "xacct/common.h"
#include "xacct/customers.h"
#include "xacct/store.h"

#define XACCT_CUSTOMER_PAGE_MAX 1000
#define XACCT_CUSTOMER_CURSOR_MAX 48

/*
 * status 0: customers[0..n) (customers.h; a pending one with its
 * pending_since_ms) and next_cursor: "" when no record in the state asked
 * for is left, also when this page is exactly full; otherwise the cursor of
 * the next page, which holds at least one record unless the walk's budget
 * (below) ran out first. All borrowed for the callback.
 */
typedef void (*xacct_customer_page_cb)(int status, const char *detail,
                                       const xacct_customer_t *customers, size_t n,
                                       const char *next_cursor, void *arg);

/*
 * A page of at most limit (1..XACCT_CUSTOMER_PAGE_MAX) records in state
 * (NULL or "" = all) after cursor (NULL or "" = from the newest). A filtered
 * page may hold fewer records than limit, even none, while more exist (the
 * walk looks at no more than 10 x limit entries per page, so a state that is
 * rare among many customers costs several pages, never unbounded work):
 * follow next_cursor until it is "". Returns 0,
 * XACCT_EINVAL (bad limit or cursor), or a store error.
 */
int xacct_customer_page(xacct_store_t *s, const char *state, const char *cursor, size_t limit,
                        xacct_customer_page_cb cb, void *arg) XACCT_MUSTCHECK;

/* Whether cursor has the shape of one this module made. */
int xacct_customer_cursor_valid(const char *cursor);

#endif
