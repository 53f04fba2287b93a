/* SPDX-License-Identifier: MIT */
/*
 * The signing clock's offset from AWS's (aws_clock.h): read from the Date
 * of a refusal, applied to every signing time, and reported when it changes.
 */
#include "xacct/aws_clock.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>

#include "xacct/metrics.h"

/* A server clock this far from ours (with the offset applied) is taken as
 * skew to correct. AWS refuses signatures more than 15 minutes off (STS
 * "Signature expired ... - 15 min.", S3 RequestTimeTooSkewed), so a refusal
 * with less than this between the clocks has another cause; from here on
 * AWS's time is taken all the same, before the drift reaches the limit. */
#define CLOCK_SKEW_MIN_S 240

void xacct_aws_clock_init(xacct_aws_clock_t *clk, const xacct_log_t *log,
                          struct xacct_metrics *metrics)
{
    clk->offset_s = 0;
    clk->log = log;
    clk->metrics = metrics;
    xacct_metrics_set(metrics, XACCT_M_AWS_CLOCK_OFFSET, NULL, NULL, 0);
}

time_t xacct_aws_clock_now(const xacct_aws_clock_t *clk)
{
    return time(NULL) + (clk != NULL ? (time_t)clk->offset_s : 0);
}

int64_t xacct_aws_clock_learn(xacct_aws_clock_t *clk, const xacct_http_response_t *resp,
                              const char *service)
{
    const char *date = xacct_http_response_header(resp, "date");
    time_t server = date != NULL ? curl_getdate(date, NULL) : -1;
    if (server <= 0)
        return clk->offset_s;
    int64_t offset = (int64_t)server - (int64_t)time(NULL);
    if (llabs(offset - clk->offset_s) < CLOCK_SKEW_MIN_S)
        return clk->offset_s;
    char now_s[24], was_s[24];
    snprintf(now_s, sizeof(now_s), "%lld", (long long)offset);
    snprintf(was_s, sizeof(was_s), "%lld", (long long)clk->offset_s);
    clk->offset_s = offset;
    xacct_metrics_set(clk->metrics, XACCT_M_AWS_CLOCK_OFFSET, NULL, NULL, (double)offset);
    XACCT_LOG_WARN(clk->log, "aws.clock_skew", "offset_s", now_s, "previous_offset_s", was_s,
                   "service", service != NULL ? service : "",
                   "action", "signing with AWS's time from now on; synchronise the host's clock "
                             "(systemd-timesyncd, chrony)",
                   NULL);
    return offset;
}
