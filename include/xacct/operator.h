/* SPDX-License-Identifier: MIT */
/*
 * Who acts on a customer's role (SPEC §9.7): the operator's name, written
 * into the STS session as RoleSessionName and SourceIdentity so that the
 * customer's CloudTrail shows the person behind every call. The name comes
 * from --operator, else $XACCT_OPERATOR, else the login name, and is made
 * into what STS accepts for both parameters: 2 to 64 characters of
 * [A-Za-z0-9_+=,.@-] (SourceIdentity also must not start with "aws:", which
 * the character set already rules out).
 */
#ifndef XACCT_OPERATOR_H
#define XACCT_OPERATOR_H

#include <stdbool.h>
#include <stddef.h>

#include "xacct/common.h"

#define XACCT_OPERATOR_NAME_MIN 2
#define XACCT_OPERATOR_NAME_MAX 64 /* RoleSessionName's and SourceIdentity's limit */

/* Where the name came from. */
typedef enum xacct_operator_source {
    XACCT_OPERATOR_FLAG = 1, /* --operator */
    XACCT_OPERATOR_ENV,      /* $XACCT_OPERATOR */
    XACCT_OPERATOR_LOGIN,    /* getlogin(), else the password entry of the user id */
} xacct_operator_source_t;

/*
 * Makes raw into a name STS accepts: every run of characters outside the
 * set (a multi-byte UTF-8 character counts as one) becomes one '-', dashes
 * at either end are dropped, and the result is cut to 64 bytes. Returns 0
 * with out set (*changed says whether it differs from raw), or XACCT_EINVAL
 * (raw NULL, or fewer than 2 characters are left) with out "".
 */
int xacct_operator_sanitize(const char *raw, char out[XACCT_OPERATOR_NAME_MAX + 1],
                            bool *changed) XACCT_MUSTCHECK;

/*
 * The operator's name: flag when not NULL, else env_value when not NULL and
 * not empty, else the login name. *source says which; *raw_out points at
 * the value before sanitising (borrowed: flag, env_value or static storage
 * of getlogin/getpwuid, valid until the next such call). Returns 0, or
 * XACCT_EINVAL when the chosen value gives no usable name, or XACCT_ENOTFOUND
 * when no login name can be found (out "" in both cases).
 */
int xacct_operator_resolve(const char *flag, const char *env_value,
                           char out[XACCT_OPERATOR_NAME_MAX + 1],
                           xacct_operator_source_t *source, const char **raw_out,
                           bool *changed) XACCT_MUSTCHECK;

#endif
