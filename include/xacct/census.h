/* SPDX-License-Identifier: MIT */
/*
 * Customers counted by state (SPEC §5), for the xacct_customers gauge: one
 * script reads the state field of every account in the customers zset
 * (SORT BY nosort GET, which runs in Redis's C code, not a Lua loop over
 * HGETs) and returns only the counts.
 */
#ifndef XACCT_CENSUS_H
#define XACCT_CENSUS_H

#include <stddef.h>

#include "xacct/common.h"
#include "xacct/store.h"

typedef struct xacct_census_count {
    const char *state; /* borrowed */
    long long count;
} xacct_census_count_t;

/* status 0 with one entry per state that has customers; or a store error. */
typedef void (*xacct_census_cb)(int status, const char *detail,
                                const xacct_census_count_t *counts, size_t n, void *arg);

/* XACCT_EINVAL when the key prefix holds a '*' (SORT GET patterns cannot
 * escape it). */
int xacct_census_count(xacct_store_t *s, xacct_census_cb cb, void *arg) XACCT_MUSTCHECK;

#endif
