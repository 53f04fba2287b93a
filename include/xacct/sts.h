/* SPDX-License-Identifier: MIT */
/*
 * AWS STS client (query protocol, regional endpoint): AssumeRole with or
 * without an external ID. The XML response is read with expat.
 */
#ifndef XACCT_STS_H
#define XACCT_STS_H

#include "xacct/aws.h"
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

/*
 * status: 0 (creds set), XACCT_EACCESSDENIED (the trust policy refused),
 * XACCT_EAWS (another AWS error, detail "Code: message"), XACCT_EPARSE (a
 * 2xx without credentials), or the transient statuses of aws.h.
 */
typedef void (*xacct_sts_assume_cb)(int status, const char *detail,
                                    const xacct_sts_credentials_t *creds, void *arg);

typedef struct xacct_sts_assume_params {
    const char *role_arn;     /* required */
    const char *session_name; /* required, 2..64 of [\w+=,.@-] */
    const char *external_id;  /* NULL: the parameter is not sent at all */
    const char *source_identity; /* SourceIdentity, 2..64 of [\w+=,.@-], the trust
                                    policy must allow sts:SetSourceIdentity;
                                    NULL: not sent */
    int duration_s;           /* DurationSeconds, 900..43200 (and at most the
                                 role's maximum session); 0 = 900 */
    const char *region;       /* NULL = the client's */
    int max_attempts;         /* 0 = the client's */
} xacct_sts_assume_params_t;

int xacct_sts_assume_role(xacct_aws_t *aws, const xacct_sts_assume_params_t *p,
                          xacct_sts_assume_cb cb, void *arg,
                          xacct_aws_call_t **handle) XACCT_MUSTCHECK;

/* Parses an AssumeRoleResponse body (exposed for tests). On 0 the fields of
 * *out point into storage owned by *store (free with
 * xacct__sts_store_free, which wipes it). */
typedef struct xacct__sts_store xacct__sts_store_t;
int xacct__sts_parse_assume(const char *xml, size_t len, xacct_sts_credentials_t *out,
                            xacct__sts_store_t **store) XACCT_MUSTCHECK;
void xacct__sts_store_free(xacct__sts_store_t *store);

#endif
