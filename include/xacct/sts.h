/* SPDX-License-Identifier: MIT */
/*
 * AWS STS client (query protocol, regional endpoint): AssumeRole with or
 * without an external ID. The XML response is read by sts_parse.c.
 */
#ifndef XACCT_STS_H
#define XACCT_STS_H

#include "xacct/aws.h"
#include "xacct/common.h"
#include "xacct/sts_parse.h"


/*
 * status: 0 (creds set), XACCT_EACCESSDENIED (the trust policy refused),
 * XACCT_ENOCREDS (STS refused the caller's own credentials or signature:
 * the partner's to fix, not the role's), XACCT_EAWS (another AWS error,
 * detail "Code: message"), XACCT_EPARSE (a 2xx without credentials), or the
 * transient statuses of aws.h.
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

/* The status an AssumeRole call's AWS error gives its callback (above):
 * errors naming the caller's credentials become XACCT_ENOCREDS. */
int xacct_sts_assume_status(int status, const xacct_aws_error_t *err);

int xacct_sts_assume_role(xacct_aws_t *aws, const xacct_sts_assume_params_t *p,
                          xacct_sts_assume_cb cb, void *arg,
                          xacct_aws_call_t **handle) XACCT_MUSTCHECK;


/* ---- GetCallerIdentity (sts_identity.c) ---------------------------------- */

/* Who the credentials are, and the Date header of STS's answer (also on an
 * error, when an answer came: a clock check needs it most when signing
 * failed). All borrowed for the callback; fields NULL when unknown. */
typedef struct xacct_sts_identity {
    const char *account; /* 12 digits */
    const char *arn;     /* arn:aws:iam::123456789012:user/x, ...:assumed-role/R/s */
    const char *user_id;
    const char *date;    /* the answer's Date header (RFC 7231), or NULL */
} xacct_sts_identity_t;

/* status: 0 (id->account and id->arn set), XACCT_EAWS / XACCT_EACCESSDENIED
 * ("Code: message" in detail), XACCT_EPARSE, or aws.h's other statuses. id is
 * never NULL. */
typedef void (*xacct_sts_identity_cb)(int status, const char *detail,
                                      const xacct_sts_identity_t *id, void *arg);

/* STS GetCallerIdentity (needs no permission) in region (NULL = the
 * client's), one attempt so that a clock or credentials problem shows at
 * once. */
int xacct_sts_get_caller_identity(xacct_aws_t *aws, const char *region, xacct_sts_identity_cb cb,
                                  void *arg) XACCT_MUSTCHECK;

/* Parses a GetCallerIdentityResponse (exposed for tests). On 0, out's
 * account, arn and user_id point into *store (free with
 * xacct__sts_identity_free); XACCT_EPARSE when malformed or without a
 * 12-digit Account and an Arn. out->date is left alone. */
typedef struct xacct__sts_identity_store xacct__sts_identity_store_t;
int xacct__sts_parse_identity(const char *xml, size_t len, xacct_sts_identity_t *out,
                              xacct__sts_identity_store_t **store) XACCT_MUSTCHECK;
void xacct__sts_identity_free(xacct__sts_identity_store_t *store);

#endif
