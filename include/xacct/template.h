/* SPDX-License-Identifier: MIT */
/*
 * The per-customer CloudFormation template (SPEC §1 step 2): an IAM role the
 * partner account may assume only with the customer's external ID, carrying
 * the least-privilege permissions of cloudformation.role_policy_file, and a
 * Custom::PhoneHome resource whose ServiceToken is the partner's SNS topic,
 * reporting the account, the role ARN and the external ID back. Everything is
 * hard-coded into the resources; the template has no Parameters a customer
 * could change. Rendered with jansson, never by pasting strings.
 */
#ifndef XACCT_TEMPLATE_H
#define XACCT_TEMPLATE_H

#include <stddef.h>

#include "xacct/common.h"

#define XACCT_TEMPLATE_ROLE "XacctRole"       /* logical id of the role */
#define XACCT_TEMPLATE_PHONE_HOME "PhoneHome" /* logical id of the custom resource */

typedef struct xacct_template_params {
    const char *account_id;         /* the customer's 12-digit account (description) */
    const char *partner_account_id; /* the trusted account, 12 digits */
    const char *external_id;        /* the issued external ID */
    const char *topic_arn;          /* ServiceToken: an SNS topic ARN; its partition
                                       names the partner root ARN's */
    const char *role_policy;        /* JSON policy document text (an object with
                                       Version and Statement) for the role's inline
                                       policy; NULL = the role gets no permissions */
    long service_timeout;           /* ServiceTimeout of the custom resource, 1..3600
                                       seconds; 0 = XACCT_TEMPLATE_SERVICE_TIMEOUT */
} xacct_template_params_t;

/* cloudformation.service_timeout's default (SPEC §9.5): a stack waits at most
 * this long for an answer, not CloudFormation's hour. */
#define XACCT_TEMPLATE_SERVICE_TIMEOUT 300
/* TemplateVersion: hex digits of SHA-256 (SPEC §9.6). */
#define XACCT_TEMPLATE_VERSION_LEN 12

/*
 * Renders the template as pretty-printed JSON. The custom resource carries
 * ServiceTimeout and TemplateVersion (xacct_template_version's value). into *out (caller frees; it
 * holds the external ID, so wipe it with xacct_free_secret). Returns 0,
 * XACCT_EINVAL (a field is missing or malformed; err says which) or
 * XACCT_EPARSE (role_policy is not a JSON object with a Statement).
 */
int xacct_template_render(const xacct_template_params_t *p, char **out, char *err,
                          size_t errlen) XACCT_MUSTCHECK;

/*
 * The TemplateVersion of the template p renders: the first 12 hex digits of
 * SHA-256 over the template with the per-customer values (account, external
 * ID, topic) replaced by fixed stand-ins, so every customer rendered from
 * today's role policy, partner account, partition and service timeout has
 * the same version, and changing any of those changes it. Same errors as
 * xacct_template_render.
 */
int xacct_template_version(const xacct_template_params_t *p,
                           char out[XACCT_TEMPLATE_VERSION_LEN + 1], char *err,
                           size_t errlen) XACCT_MUSTCHECK;

/*
 * The S3 key a customer's template is uploaded under:
 * "templates/<account>/<64 hex>.json", the hex being SHA-256 over a domain
 * label and the external ID. It cannot be guessed without the external ID,
 * and whoever holds the record (the worker deleting the template after the
 * stack phoned home, or a rotation removing the old one) can derive it
 * again. Writes at most outlen bytes; returns 0, XACCT_EINVAL or
 * XACCT_ETOOBIG (outlen < XACCT_TEMPLATE_KEY_MAX).
 */
#define XACCT_TEMPLATE_KEY_MAX 96
int xacct_template_s3_key(const char *account_id, const char *external_id, char *out,
                          size_t outlen) XACCT_MUSTCHECK;

#endif
