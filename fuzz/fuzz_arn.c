/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes ARNs and regions: the generic ARN split, the stack ARN (account,
 * region and name a request is judged by), role ARNs, region names and the
 * region's partition and DNS suffix.
 */
#include "fuzz_util.h"
#include "xacct/arn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    xacct_arn_t arn;
    if (xacct_arn_parse(s, &arn) == 0)
        FUZZ_ASSERT(arn.partition && arn.service && arn.region && arn.account && arn.resource);
    char account[13], region[32], name[129];
    if (xacct_arn_parse_stack(s, account, region, name) == 0) {
        FUZZ_ASSERT(xacct_account_id_valid(account));
        FUZZ_ASSERT(xacct_region_valid(region));
        FUZZ_ASSERT(name[0] != '\0');
    }
    (void)xacct_arn_is_role_in_account(s, "123456789012");
    (void)xacct_account_id_valid(s);
    if (xacct_region_valid(s)) {
        FUZZ_ASSERT(xacct_region_dns_suffix(s) != NULL);
        FUZZ_ASSERT(xacct_region_partition(s) != NULL);
    }
    free(s);
    return 0;
}
