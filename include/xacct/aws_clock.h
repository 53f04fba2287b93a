/* SPDX-License-Identifier: MIT */
/*
 * The clock AWS signatures are dated with: ours plus AWS's offset, learnt
 * from the Date header of an answer refusing a signature for its time
 * (RequestTimeTooSkewed, SignatureDoesNotMatch "Signature expired" ...), as
 * the AWS SDKs correct clock skew. One clock is shared by everything that
 * signs in a process (the AWS client, the credentials provider's AssumeRole,
 * presigned links), so a correction learnt by one serves them all. A change
 * of the offset is logged once (aws.clock_skew, a warning: the host's clock
 * wants fixing) and shown as the xacct_aws_clock_offset_seconds gauge.
 * Single-threaded: use from the loop only.
 */
#ifndef XACCT_AWS_CLOCK_H
#define XACCT_AWS_CLOCK_H

#include <stdint.h>
#include <time.h>

#include "xacct/http.h"
#include "xacct/log.h"

struct xacct_metrics;

typedef struct xacct_aws_clock {
    int64_t offset_s;              /* AWS's clock minus ours; 0 until a refusal taught one */
    const xacct_log_t *log;        /* borrowed, may be NULL: where a change is logged */
    struct xacct_metrics *metrics; /* borrowed, may be NULL: the offset gauge */
} xacct_aws_clock_t;

/* Storage is the caller's: offset 0, the gauge set to 0. log and metrics are
 * borrowed and must outlive the clock (either may be NULL). */
void xacct_aws_clock_init(xacct_aws_clock_t *clk, const xacct_log_t *log,
                          struct xacct_metrics *metrics);

/* Our clock plus the offset: the time to sign with. NULL = our clock. */
time_t xacct_aws_clock_now(const xacct_aws_clock_t *clk);

/*
 * After AWS refused a request for its signing time (service: the signing
 * name of whoever answered, for the log): AWS's time is resp's Date header,
 * and the offset moves to it when the two differ by more than a refusal
 * allows (a smaller difference means the refusal had another cause).
 * Returns the offset now, changed or not.
 */
int64_t xacct_aws_clock_learn(xacct_aws_clock_t *clk, const xacct_http_response_t *resp,
                              const char *service);

#endif
