/* SPDX-License-Identifier: MIT */
/*
 * Amazon Resource Names and account IDs: splitting an ARN into its fields
 * and the checks xacct makes on them (a 12-digit account, an IAM role ARN in
 * a given account, a CloudFormation stack ARN).
 */
#ifndef XACCT_ARN_H
#define XACCT_ARN_H

#include <stdbool.h>
#include <stddef.h>

#include "xacct/common.h"

#define XACCT_ARN_MAX 2048

/* Views into a copy of the ARN held in ->_buf. */
typedef struct xacct_arn {
    const char *partition; /* aws, aws-cn, aws-us-gov */
    const char *service;   /* iam, sns, cloudformation, ... */
    const char *region;    /* "" for global services */
    const char *account;   /* 12 digits, or "" */
    const char *resource;  /* everything after the fifth ':' */
    char _buf[XACCT_ARN_MAX + 1];
} xacct_arn_t;

/* Splits arn (at most XACCT_ARN_MAX bytes, printable ASCII) into *out.
 * Returns 0 or XACCT_EPARSE. */
int xacct_arn_parse(const char *arn, xacct_arn_t *out) XACCT_MUSTCHECK;

/* True for exactly twelve ASCII digits. */
bool xacct_account_id_valid(const char *s);

/* True for a region name like us-east-1, cn-north-1, us-gov-west-1. */
bool xacct_region_valid(const char *s);

/* True when arn is arn:<partition>:iam::<account>:role/<path/>name with
 * a valid role name, and account equals `account` (when not NULL). */
bool xacct_arn_is_role_in_account(const char *arn, const char *account);

/*
 * Parses a CloudFormation stack ARN
 * (arn:<partition>:cloudformation:<region>:<account>:stack/<name>/<id>, the
 * partition the region's) and
 * copies account, region and stack name into the given buffers (each at
 * least 13, 32 and 129 bytes). Returns 0 or XACCT_EPARSE.
 */
int xacct_arn_parse_stack(const char *arn, char account[13], char region[32],
                          char name[129]) XACCT_MUSTCHECK;

/* The DNS suffix of the partition a region belongs to: "amazonaws.com.cn"
 * for cn-* regions, else "amazonaws.com". */
const char *xacct_region_dns_suffix(const char *region);

/* The partition of a region: "aws-cn", "aws-us-gov" or "aws". */
const char *xacct_region_partition(const char *region);

#endif
