/* SPDX-License-Identifier: MIT */
/*
 * The publish allow-list written into an SNS topic policy (SPEC §1): given a
 * topic's current policy document and the accounts allowed to publish, build
 * the new document in which the managed statements (Sid "xacct-publish-<n>",
 * Effect Allow, Principal.AWS = up to 200 account root ARNs, Action
 * SNS:Publish, Resource = the topic) carry exactly those accounts, while every
 * other statement is kept as it was. The result says whether the document
 * fits SNS's quotas (100 statements, 30 KB), so the caller can move on to the
 * next topic when one is full. Pure: no I/O, JSON through jansson.
 */
#ifndef XACCT_TOPIC_POLICY_H
#define XACCT_TOPIC_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "xacct/common.h"

#define XACCT_TOPIC_POLICY_MAX_STATEMENTS 100
#define XACCT_TOPIC_POLICY_MAX_BYTES (30u * 1024u)
#define XACCT_TOPIC_POLICY_MAX_PRINCIPALS 200
#define XACCT_TOPIC_POLICY_SID_PREFIX "xacct-publish-"
/* SNS refuses a policy without a statement ("Policy Error: null"): when no
 * account is allowed and no other statement is left, this one stands in,
 * allowing only the topic's own account (which its IAM policies decide for
 * anyway). It is dropped as soon as anything else is written. */
#define XACCT_TOPIC_POLICY_OWNER_SID "xacct-owner"

typedef struct xacct_topic_policy {
    char *document;    /* owned: the new policy, compact JSON (UTF-8) */
    size_t bytes;      /* strlen(document): what SNS measures against 30 KB */
    size_t statements; /* statements in the new document */
    size_t managed;    /* of which managed (xacct-publish-<n>) */
    size_t accounts;   /* distinct accounts written */
    bool fits;         /* statements <= 100 and bytes <= 30 KB */
    bool changed;      /* the new document differs from the current one */
    const char *why;   /* static: why it does not fit, or "" */
} xacct_topic_policy_t;

/*
 * Builds the policy for topic_arn (arn:<partition>:sns:<region>:<account>:
 * <name>) allowing accounts[0..n) (12-digit IDs; duplicates are merged, order
 * does not matter: they are written sorted). current is the topic's policy
 * text; NULL or "" starts from an empty document (Version 2008-10-17). Every
 * statement whose Sid starts with "xacct-publish-" is replaced; all others
 * are kept in their order, and the managed ones follow them. Principals are
 * arn:<partition>:iam::<account>:root.
 *
 * Returns 0 (*out filled, also when the result does not fit), XACCT_EINVAL
 * (bad topic ARN or account ID) or XACCT_EPARSE (current is not a JSON object
 * or its Statement is neither an object nor an array). *out is zeroed first;
 * release it with xacct_topic_policy_destroy.
 */
int xacct_topic_policy_render(const char *current, const char *topic_arn,
                              const char *const *accounts, size_t n,
                              xacct_topic_policy_t *out) XACCT_MUSTCHECK;

/* Frees out->document; the struct can be reused. */
void xacct_topic_policy_destroy(xacct_topic_policy_t *p);

/*
 * The accounts currently allowed by the managed statements of a policy
 * document (for reports and tests): *accounts is a heap array of heap strings
 * (12 digits each, sorted, distinct), *n its length; free with
 * xacct_topic_policy_accounts_free. Returns 0 or XACCT_EPARSE.
 */
int xacct_topic_policy_accounts(const char *document, char ***accounts,
                                size_t *n) XACCT_MUSTCHECK;
void xacct_topic_policy_accounts_free(char **accounts, size_t n);

#endif
