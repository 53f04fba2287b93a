/* SPDX-License-Identifier: MIT */
/*
 * Host allow-list patterns (SPEC §6): the check every URL that arrives in a
 * message passes before xacct connects to it (sns.cert_hosts,
 * cloudformation.response_hosts), and the host:port syntax shared with
 * listen addresses.
 *
 * A pattern is "host" or "host:port" (an IPv6 literal in brackets,
 * "[::1]:8443"); without a port only 443 matches. Matching is per DNS label,
 * case-insensitive, after removing one trailing dot from host and pattern:
 *   - a label that is only '*' matches one whole (non-empty) label;
 *   - a '*' next to other characters matches zero or more characters of that
 *     label ("s3*" matches "s3" and "s3-us-west-2");
 *   - a '*' never crosses a dot, so both sides have the same number of labels.
 * No pattern matches an IP literal (in any form the resolver takes, such as
 * "127.1") unless the pattern is that very address. A host with characters
 * outside [A-Za-z0-9._-] or an empty label matches nothing.
 *
 * With XACCT_HOSTPAT_REGION (sns.cert_hosts) what a '*' stands for must be an
 * AWS region name ("us-east-1", "cn-north-1", "us-gov-west-1"), so
 * "sns.*.amazonaws.com" admits "sns.us-east-1.amazonaws.com" but not an S3
 * bucket's "sns.s3.amazonaws.com"; such a pattern may hold at most one '*'
 * per label.
 */
#ifndef XACCT_HOSTPAT_H
#define XACCT_HOSTPAT_H

#include <stdbool.h>

#include "xacct/common.h"
#include "xacct/config.h"

#define XACCT_HOSTPAT_HOST_MAX 255 /* longest host name (RFC 1035) */

/* Flags for xacct_hostpat_check / _match / _allowed. */
#define XACCT_HOSTPAT_REGION 0x1u /* a '*' stands for a region name */

/* Checks that pattern is well formed; 0 or XACCT_EINVAL. */
int xacct_hostpat_check(const char *pattern, unsigned flags) XACCT_MUSTCHECK;

/* True when host (a bare name or IP literal, brackets around IPv6 optional,
 * as libcurl's CURLUPART_HOST gives it) and port match pattern. */
bool xacct_hostpat_match(const char *pattern, const char *host, int port, unsigned flags);

/* True when any pattern of the list matches; false for NULL or an empty list. */
bool xacct_hostpat_allowed(const xacct_strlist_t *patterns, const char *host, int port,
                           unsigned flags);

/*
 * Splits "host:port" or "[v6]:port" (port optional unless port_required;
 * 443 when absent) into host (without brackets, NUL-terminated) and *port.
 * No wildcard allowed. 0 or XACCT_EINVAL. For listen addresses.
 */
int xacct_hostpat_split(const char *s, bool port_required, char host[XACCT_HOSTPAT_HOST_MAX + 1],
                        int *port) XACCT_MUSTCHECK;

#endif
