/* SPDX-License-Identifier: MIT */
/*
 * CloudFormation custom-resource requests and responses (SPEC §4 steps 3, 4
 * and 7): parsing and validating a request, the ownership rules, and the
 * response body CloudFormation expects at the presigned ResponseURL.
 *
 * Parsing separates two kinds of bad request: one that cannot be answered
 * at all (no trustworthy ResponseURL or identifiers; it goes to the dead
 * set) and one that can be answered but is invalid (it is answered FAILED,
 * except a Delete, which is always answered SUCCESS).
 */
#ifndef XACCT_CFN_H
#define XACCT_CFN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xacct/common.h"
#include "xacct/config.h"

#define XACCT_CFN_MAX_RESPONSE 4096      /* CloudFormation's limit on the body */
#define XACCT_CFN_MAX_REQUEST (64 * 1024) /* far above any real request */
#define XACCT_CFN_DEFAULT_TIMEOUT 3600    /* seconds, when ServiceTimeout is absent */
#define XACCT_CFN_TEMPLATE_VERSION_LEN 12 /* hex digits of TemplateVersion */

typedef enum xacct_cfn_type {
    XACCT_CFN_CREATE = 1,
    XACCT_CFN_UPDATE = 2,
    XACCT_CFN_DELETE = 3,
} xacct_cfn_type_t;

typedef struct xacct_cfn_request {
    xacct_cfn_type_t type;
    char *response_url;   /* https URL, host allowed (never logged in full) */
    char *response_host;  /* host of response_url, for logs */
    char *stack_id;       /* stack ARN */
    char stack_account[13];
    char stack_region[32];
    char stack_name[129];
    char *request_id;
    char *logical_id;     /* LogicalResourceId */
    char *resource_type;  /* ResourceType, may be NULL */
    char *physical_id;    /* PhysicalResourceId (Update, Delete), else NULL */
    char *service_token;  /* ServiceToken (top level or from the properties), may be NULL */
    long service_timeout; /* seconds from ServiceTimeout (top level, else the
                             properties), default 3600 */

    /* ResourceProperties; any may be NULL when missing. */
    char *account_id;     /* AccountID */
    char *role_arn;       /* RoleArn */
    char *external_id;    /* ExternalID: a secret, wiped on free */
    char *old_role_arn;   /* OldResourceProperties.RoleArn (Update) */
    char *template_version; /* TemplateVersion when it is 12 lowercase hex digits
                               (SPEC §9.6), else NULL: a missing or malformed one
                               is recorded as "" and decides nothing else */

    /* NULL when the properties are well-formed; otherwise why they are not,
     * suitable as a FAILED Reason. */
    char *property_error;
} xacct_cfn_request_t;

/*
 * Parses the request JSON in (json, len). response_hosts is the
 * cloudformation.response_hosts allow-list.
 *
 * Returns 0 with *out set when the request can be answered; its properties
 * may still be invalid (see property_error). Returns XACCT_EPARSE (or
 * XACCT_ETOOBIG) with *out NULL when it cannot be answered, and writes why
 * into err. *out is freed with xacct_cfn_request_free.
 */
int xacct_cfn_request_parse(const char *json, size_t len, const xacct_strlist_t *response_hosts,
                            xacct_cfn_request_t **out, char *err, size_t errlen) XACCT_MUSTCHECK;

void xacct_cfn_request_free(xacct_cfn_request_t *req);

/*
 * The ownership rules (SPEC §4 step 4) for Create and Update: AccountID
 * equals the stack's account, RoleArn is an IAM role in that account, and
 * ExternalID equals issued_external_id (constant-time). customer_exists is
 * whether a record was found. Returns true when all hold; otherwise false
 * with a Reason for the FAILED answer in reason (which never contains the
 * external IDs).
 */
bool xacct_cfn_check_ownership(const xacct_cfn_request_t *req, bool customer_exists,
                               const char *issued_external_id, char *reason, size_t reason_len);

/*
 * When to stop waiting on a transient failure and answer (SPEC §4): the
 * request's CloudFormation deadline, sent_ms (SentTimestamp, epoch ms) plus
 * service_timeout seconds, less a margin of 10 % of the timeout, at least
 * 5 s and at most 60 s. Returns that time in epoch ms.
 */
int64_t xacct_cfn_answer_by_ms(int64_t sent_ms, long service_timeout);

/* The stable PhysicalResourceId of a customer: "xacct-<account>". */
void xacct_cfn_physical_id(const char *account, char out[32]);

typedef enum xacct_cfn_status {
    XACCT_CFN_SUCCESS = 0,
    XACCT_CFN_FAILED = 1,
} xacct_cfn_status_t;

/*
 * The answer's Data (SPEC §4 step 7), which a customer's template reads with
 * Fn::GetAtt: {"RoleArn": role_arn, "State": state}, each member present only
 * when its value is not NULL or empty (both borrowed).
 */
typedef struct xacct_cfn_data {
    const char *role_arn;
    const char *state;
} xacct_cfn_data_t;

/*
 * Builds the response body: Status, Reason (FAILED always has one),
 * PhysicalResourceId, StackId, RequestId, LogicalResourceId and, when data
 * is not NULL and has a member, Data. A Reason that would push the body past
 * 4096 bytes is cut (at a UTF-8 boundary, marked with "..."); the JSON never
 * is. Returns 0 with *body_out (caller frees), XACCT_EINVAL for a missing
 * field or a value that is not valid UTF-8, XACCT_ETOOBIG when even an empty
 * Reason does not fit.
 */
int xacct_cfn_response_build(const xacct_cfn_request_t *req, xacct_cfn_status_t status,
                             const char *reason, const char *physical_id,
                             const xacct_cfn_data_t *data, char **body_out) XACCT_MUSTCHECK;

const char *xacct_cfn_type_name(xacct_cfn_type_t t);

/* ---- answering (src/domain/cfn_answer.c) ---- */

struct xacct_aws;
struct xacct_aws_call;

/*
 * Answer completion: status 0 when the presigned URL accepted the body;
 * XACCT_EFORBIDDEN when it refused it for good (a 4xx: expired or tampered
 * URL — the answer is impossible, so the message may be acknowledged);
 * otherwise a transient status (network, 5xx after the retries) and the
 * caller tries again later. http_status is the last status seen (0: none).
 */
typedef void (*xacct_cfn_answer_cb)(int status, const char *detail, long http_status, void *arg);

struct xacct_aws_error;

/*
 * True when the ResponseURL's final answer refuses the PUT for good: a 4xx
 * other than a timeout or throttling (408, 429) and other than the S3 errors
 * AWS documents as worth retrying (400 RequestTimeout: the upload stalled;
 * 409 OperationAborted: a conflicting operation in progress). err may be
 * NULL (no error document).
 */
bool xacct_cfn_answer_refused(long http_status, const struct xacct_aws_error *err);

/*
 * PUTs body to the presigned response_url, unsigned, with an empty
 * Content-Type (the URL was signed without one), retrying 5xx and network
 * errors a few times with backoff. Returns 0 (cb fires exactly once, never
 * from inside this call) or an error without calling cb.
 */
int xacct_cfn_answer_send(struct xacct_aws *aws, const char *response_url, const char *body,
                          xacct_cfn_answer_cb cb, void *arg,
                          struct xacct_aws_call **handle) XACCT_MUSTCHECK;

#endif
