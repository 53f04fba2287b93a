/* SPDX-License-Identifier: MIT */
/*
 * ARN splitting and the validity rules xacct relies on. The formats are
 * AWS's own (arn:partition:service:region:account:resource), so this is
 * project logic rather than a general parser.
 */
#include "xacct/arn.h"

#include <ctype.h>
#include <string.h>

int xacct_arn_parse(const char *arn, xacct_arn_t *out)
{
    memset(out, 0, sizeof(*out));
    size_t len = strlen(arn);
    if (len < 8 || len > XACCT_ARN_MAX || strncmp(arn, "arn:", 4) != 0)
        return XACCT_EPARSE;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)arn[i];
        if (c < 0x21 || c > 0x7e)
            return XACCT_EPARSE;
    }
    memcpy(out->_buf, arn, len + 1);
    const char *fields[6];
    char *p = out->_buf;
    for (int i = 0; i < 5; i++) {
        fields[i] = p;
        char *colon = strchr(p, ':');
        if (colon == NULL)
            return XACCT_EPARSE;
        *colon = '\0';
        p = colon + 1;
    }
    fields[5] = p;
    out->partition = fields[1];
    out->service = fields[2];
    out->region = fields[3];
    out->account = fields[4];
    out->resource = fields[5];
    if (out->partition[0] == '\0' || out->service[0] == '\0' || out->resource[0] == '\0')
        return XACCT_EPARSE;
    if (strcmp(out->partition, "aws") != 0 && strcmp(out->partition, "aws-cn") != 0 &&
        strcmp(out->partition, "aws-us-gov") != 0)
        return XACCT_EPARSE;
    return 0;
}

bool xacct_account_id_valid(const char *s)
{
    if (s == NULL)
        return false;
    size_t n = 0;
    for (; s[n] != '\0'; n++)
        if (!isdigit((unsigned char)s[n]))
            return false;
    return n == 12;
}

bool xacct_region_valid(const char *s)
{
    /* <letters>(-<letters>)*-<digits>, e.g. us-east-1, us-gov-west-1. */
    if (s == NULL || s[0] == '\0' || strlen(s) > 31)
        return false;
    int parts = 0;
    const char *p = s;
    while (*p != '\0') {
        const char *start = p;
        while (islower((unsigned char)*p))
            p++;
        if (p == start)
            break;
        parts++;
        if (*p != '-')
            return false;
        p++;
    }
    if (parts < 2 || !isdigit((unsigned char)*p))
        return false;
    while (isdigit((unsigned char)*p))
        p++;
    return *p == '\0';
}

static bool role_name_char(char c)
{
    return isalnum((unsigned char)c) || strchr("+=,.@_-", c) != NULL;
}

bool xacct_arn_is_role_in_account(const char *arn, const char *account)
{
    xacct_arn_t a;
    if (arn == NULL || xacct_arn_parse(arn, &a) != 0)
        return false;
    if (strcmp(a.service, "iam") != 0 || a.region[0] != '\0' || !xacct_account_id_valid(a.account))
        return false;
    if (account != NULL && strcmp(a.account, account) != 0)
        return false;
    if (strncmp(a.resource, "role/", 5) != 0)
        return false;
    /* role/[path/]name: the name is 1..64 characters of the role-name set.
     * IAM lets a path (at most 512 characters, "/" included) hold any
     * printable ASCII, which xacct_arn_parse has checked; no segment is
     * empty. */
    const char *name = strrchr(a.resource, '/') + 1;
    size_t nlen = strlen(name);
    if (nlen == 0 || nlen > 64 || (size_t)(name - (a.resource + 4)) > 512)
        return false;
    for (const char *p = name; *p != '\0'; p++)
        if (!role_name_char(*p))
            return false;
    return strstr(a.resource, "//") == NULL;
}

int xacct_arn_parse_stack(const char *arn, char account[13], char region[32], char name[129])
{
    account[0] = region[0] = name[0] = '\0';
    xacct_arn_t a;
    if (arn == NULL || xacct_arn_parse(arn, &a) != 0)
        return XACCT_EPARSE;
    if (strcmp(a.service, "cloudformation") != 0 || !xacct_region_valid(a.region) ||
        !xacct_account_id_valid(a.account) || strncmp(a.resource, "stack/", 6) != 0)
        return XACCT_EPARSE;
    /* A stack lives in its region's partition (arn:aws-cn:…:cn-north-1:…);
     * any other pairing names no stack. */
    if (strcmp(a.partition, xacct_region_partition(a.region)) != 0)
        return XACCT_EPARSE;
    const char *n = a.resource + 6;
    const char *slash = strchr(n, '/');
    if (slash == NULL || slash == n || (size_t)(slash - n) > 128 || slash[1] == '\0')
        return XACCT_EPARSE;
    memcpy(account, a.account, 13);
    memcpy(region, a.region, strlen(a.region) + 1);
    memcpy(name, n, (size_t)(slash - n));
    name[slash - n] = '\0';
    return 0;
}

const char *xacct_region_dns_suffix(const char *region)
{
    return (region != NULL && strncmp(region, "cn-", 3) == 0) ? "amazonaws.com.cn"
                                                              : "amazonaws.com";
}

const char *xacct_region_partition(const char *region)
{
    if (region != NULL && strncmp(region, "cn-", 3) == 0)
        return "aws-cn";
    if (region != NULL && strncmp(region, "us-gov-", 7) == 0)
        return "aws-us-gov";
    return "aws";
}
