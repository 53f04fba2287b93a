/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes the credential documents the provider chain reads: the container
 * and instance-metadata JSON (AccessKeyId, SecretAccessKey, Token,
 * Expiration), a credential_process's output (Version 1, SessionToken),
 * their ISO 8601 times, and the AssumeRoleWithWebIdentity XML.
 */
#include "fuzz_util.h"
#include "xacct/creds.h"

#ifdef XACCT_UNIT_TESTING
int xacct__creds_webid_parse(const char *body, size_t len, xacct__creds_set_t **out,
                             char *detail, size_t detail_len);
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xacct__creds_set_t *set = NULL;
    char detail[256];
    if (xacct__creds_parse_json((const char *)data, size, &set, detail, sizeof(detail)) == 0) {
        FUZZ_ASSERT(set != NULL && set->access_key_id && set->secret_access_key);
        xacct__creds_set_free(set);
        set = NULL;
    }
    if (xacct__creds_parse_process_json((const char *)data, size, &set, detail, sizeof(detail)) ==
        0) {
        FUZZ_ASSERT(set != NULL && set->access_key_id && set->secret_access_key);
        xacct__creds_set_free(set);
        set = NULL;
    }
    if (xacct__creds_webid_parse((const char *)data, size, &set, detail, sizeof(detail)) == 0) {
        FUZZ_ASSERT(set != NULL && set->access_key_id && set->secret_access_key);
        xacct__creds_set_free(set);
    }
    char *s = fuzz_cstr(data, size);
    int64_t ms;
    (void)xacct__creds_parse_time(s, &ms);
    free(s);
    return 0;
}
