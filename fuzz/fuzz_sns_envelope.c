/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes the SNS envelope: the JSON parse, the canonical string that is
 * signed (SignatureVersion 1 and 2 share it), and the SigningCertURL and
 * SubscribeURL checks against the default sns.cert_hosts.
 */
#include "fuzz_util.h"
#include "xacct/sns_verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *cert_items[] = {"sns.*.amazonaws.com", "sns.*.amazonaws.com.cn"};
    static const xacct_strlist_t cert_hosts = {cert_items, 2};
    xacct_sns_envelope_t *env = NULL;
    char err[256];

    if (xacct_sns_envelope_parse((const char *)data, size, &env, err, sizeof(err)) != 0) {
        FUZZ_ASSERT(env == NULL);
        return 0;
    }
    xacct_buf_t b;
    xacct_buf_init(&b, 0);
    if (xacct_sns_string_to_sign(env, &b) == 0)
        FUZZ_ASSERT(b.data != NULL && strlen(b.data) == b.len);
    xacct_buf_destroy(&b);
    if (env->signing_cert_url != NULL)
        (void)xacct_sns_url_check(env->signing_cert_url, &cert_hosts, true, err, sizeof(err));
    if (env->subscribe_url != NULL)
        (void)xacct_sns_url_check(env->subscribe_url, &cert_hosts, false, err, sizeof(err));
    /* Not a certificate: the verifier must say so, not crash. */
    FUZZ_ASSERT(xacct_sns_verify_pem(env, (const char *)data, size) != 0);
    xacct_sns_envelope_free(env);
    return 0;
}
