/* SPDX-License-Identifier: MIT */
/*
 * AWS error responses: extracts the error code, message and request id from
 * whichever shape the service used — AWS JSON 1.0/1.1 (`__type`, with any
 * "namespace#" prefix and ":suffix" stripped, and `message`/`Message`), the
 * `x-amzn-query-error` header of query-compatible JSON services, the query
 * protocol's XML ErrorResponse/Error/{Code,Message}, and S3's XML
 * Error/{Code,Message}. JSON is read with jansson, XML with expat. Also
 * classifies codes (throttling, transient, access denied) for retry logic.
 */
#ifndef XACCT_AWS_ERROR_H
#define XACCT_AWS_ERROR_H

#include <stdbool.h>
#include <stddef.h>

#include "xacct/common.h"
#include "xacct/http.h"

#define XACCT_AWS_ERROR_CODE_MAX 128
#define XACCT_AWS_ERROR_MESSAGE_MAX 1024

/* Fixed-size fields, so the struct can live on the stack and be copied; over
 * long values are cut (on a UTF-8 boundary). Every field is "" when absent. */
typedef struct xacct_aws_error {
    char code[XACCT_AWS_ERROR_CODE_MAX];          /* "AccessDenied", "QueueDoesNotExist" */
    char message[XACCT_AWS_ERROR_MESSAGE_MAX];    /* human-readable text, trimmed */
    char query_code[XACCT_AWS_ERROR_CODE_MAX];    /* from x-amzn-query-error, e.g.
                                                     "AWS.SimpleQueueService.NonExistentQueue" */
    char request_id[XACCT_AWS_ERROR_CODE_MAX];    /* RequestId or x-amzn-requestid */
    long http_status;                             /* the response status */
} xacct_aws_error_t;

/*
 * Fills *out from a response (body and headers). Returns 0 when an error code
 * was found (in the body or a header), XACCT_ENOTFOUND otherwise (out is still
 * filled with what there was: status, request id). A body that is neither
 * JSON nor XML, or is malformed, yields XACCT_ENOTFOUND unless a header names
 * the code. resp is borrowed.
 */
int xacct_aws_error_parse(const xacct_http_response_t *resp, xacct_aws_error_t *out);

/* The same from parts: body (may be NULL when len is 0) and headers with
 * lower-case names. */
int xacct_aws_error_parse_parts(long http_status, const xacct_header_t *headers,
                                size_t nheaders, const char *body, size_t len,
                                xacct_aws_error_t *out);

/* True when err's code or query code equals name (case-sensitive, as AWS). */
bool xacct_aws_error_is(const xacct_aws_error_t *err, const char *name);

/* Throttling codes: Throttling, ThrottlingException, ThrottledException,
 * RequestThrottled, RequestThrottledException, SlowDown, RequestLimitExceeded,
 * TooManyRequestsException, ProvisionedThroughputExceededException,
 * TransactionInProgressException, BandwidthLimitExceeded,
 * LimitExceededException, EC2ThrottledException, PriorRequestNotComplete,
 * and SQS's AWS.SimpleQueueService.RequestThrottled (also as query code). */
bool xacct_aws_error_is_throttling(const xacct_aws_error_t *err);

/* Transient without being throttling: HTTP 5xx, and codes RequestTimeout,
 * RequestTimeoutException, InternalError, InternalFailure, ServiceUnavailable,
 * IDPCommunicationError. 429 counts as throttling, not here. */
bool xacct_aws_error_is_transient(const xacct_aws_error_t *err);

/* Refusals of the signing time, the AWS SDKs' clock-skew codes:
 * RequestTimeTooSkewed, RequestExpired, RequestInTheFuture,
 * InvalidSignatureException, SignatureDoesNotMatch, AuthFailure. The last
 * three also mean a wrong key: only the response's Date tells skew apart. */
bool xacct_aws_error_is_clock_skew(const xacct_aws_error_t *err);

/* AccessDenied, AccessDeniedException. */
bool xacct_aws_error_is_access_denied(const xacct_aws_error_t *err);

/* A final answer the same request would get again: a 4xx other than a
 * timeout or throttling (408, 429) whose error code (err, may be NULL when
 * there is no error document) is neither throttling nor transient. */
bool xacct_aws_error_is_refusal(long http_status, const xacct_aws_error_t *err);

#endif
