/* SPDX-License-Identifier: MIT */
/*
 * Reading STS's AssumeRole* response bodies (sts_parse.c): the temporary
 * credentials they carry. No I/O; used by the STS client and by the
 * credential providers that assume roles.
 */
#ifndef XACCT_STS_PARSE_H
#define XACCT_STS_PARSE_H

#include <stddef.h>

#include "xacct/common.h"

/* Temporary credentials from AssumeRole; borrowed by the callback and wiped
 * right after it returns. */
typedef struct xacct_sts_credentials {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token;
    const char *expiration;     /* ISO 8601 */
    const char *assumed_role_arn;
} xacct_sts_credentials_t;

/* Parses an AssumeRoleResponse body (exposed for tests). On 0 the fields of
 * *out point into storage owned by *store (free with
 * xacct__sts_store_free, which wipes it). */
typedef struct xacct__sts_store xacct__sts_store_t;
int xacct__sts_parse_assume(const char *xml, size_t len, xacct_sts_credentials_t *out,
                            xacct__sts_store_t **store) XACCT_MUSTCHECK;
void xacct__sts_store_free(xacct__sts_store_t *store);

#endif
