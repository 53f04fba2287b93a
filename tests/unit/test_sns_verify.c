/* SPDX-License-Identifier: MIT */
/* SNS signatures against every vector in ../shared/testdata/sns: valid ones
 * verify, the tampered one and any flipped byte do not; URL rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testdata.h"
#include "xacct/sns_verify.h"

/* A file of the SNS test vectors. */
static char *sns_file(const char *name, size_t *len)
{
    char rel[512];
    snprintf(rel, sizeof(rel), "sns/%s", name);
    return th_testdata(rel, len);
}

static void test_every_vector(void **state)
{
    (void)state;
    size_t len;
    char *manifest = sns_file("vectors.json", &len);
    json_t *root = json_loads(manifest, 0, NULL);
    json_t *vectors = json_object_get(root, "vectors");
    assert_true(json_array_size(vectors) >= 21);
    size_t i, valid = 0, invalid = 0;
    json_t *vec;
    json_array_foreach(vectors, i, vec)
    {
        const char *msg = json_string_value(json_object_get(vec, "message"));
        const char *cert = json_string_value(json_object_get(vec, "certificate"));
        bool want = strcmp(json_string_value(json_object_get(vec, "expected")), "valid") == 0;
        size_t mlen, clen;
        char *body = sns_file(msg, &mlen);
        char *pem = sns_file(cert, &clen);
        xacct_sns_envelope_t *env = NULL;
        char err[256];
        if (xacct_sns_envelope_parse(body, mlen, &env, err, sizeof(err)) != 0)
            fail_msg("%s: %s", msg, err);
        /* The certificate named by the URL is the one the manifest gives. */
        assert_non_null(strstr(env->signing_cert_url, cert));
        int rc = xacct_sns_verify_pem(env, pem, clen);
        if (want != (rc == 0))
            fail_msg("%s: expected %s, got %s", msg, want ? "valid" : "invalid", xacct_errname(rc));
        /* The same through one key kept with its contexts, as the cache
         * keeps it: each check below then reuses them, after successes and
         * failures and across both hash algorithms. */
        xacct__sns_key_t *key = xacct__sns_key_from_pem(pem, clen);
        assert_non_null(key);
        assert_int_equal(xacct__sns_key_verify(key, env), rc);
        if (want) {
            valid++;
            for (int round = 0; round < 2; round++) {
                env->message[env->message_len / 2] ^= 0x01;
                assert_int_equal(xacct__sns_key_verify(key, env), XACCT_ESIGNATURE);
                env->message[env->message_len / 2] ^= 0x01;
                char *sv = env->signature_version;
                env->signature_version = strdup(strcmp(sv, "1") == 0 ? "2" : "1");
                assert_int_equal(xacct__sns_key_verify(key, env), XACCT_ESIGNATURE);
                free(env->signature_version);
                env->signature_version = sv;
                assert_int_equal(xacct__sns_key_verify(key, env), 0);
            }
            /* One flipped byte of the message breaks it. */
            env->message[env->message_len / 2] ^= 0x01;
            assert_int_equal(xacct_sns_verify_pem(env, pem, clen), XACCT_ESIGNATURE);
            env->message[env->message_len / 2] ^= 0x01;
            /* So does the other hash algorithm. */
            char *sv = env->signature_version;
            env->signature_version = strdup(strcmp(sv, "1") == 0 ? "2" : "1");
            assert_int_equal(xacct_sns_verify_pem(env, pem, clen), XACCT_ESIGNATURE);
            free(env->signature_version);
            env->signature_version = sv;
            assert_int_equal(xacct_sns_verify_pem(env, pem, clen), 0);
        } else {
            invalid++;
        }
        xacct__sns_key_free(key);
        xacct_sns_envelope_free(env);
        free(body);
        free(pem);
    }
    assert_int_equal(valid + invalid, json_array_size(vectors));
    assert_true(valid >= 20);
    assert_true(invalid >= 1);
    json_decref(root);
    free(manifest);
}

static void test_surrogate_pair_decoded(void **state)
{
    (void)state;
    size_t len;
    char *body = sns_file("notification-sv1-cpan-aws-sns-verify-2019-utf16-surrogate-escape.json", &len);
    xacct_sns_envelope_t *env = NULL;
    char err[256];
    assert_int_equal(xacct_sns_envelope_parse(body, len, &env, err, sizeof(err)), 0);
    assert_non_null(strstr(env->message, "\xf0\x9f\x8d\x8c"));
    xacct_sns_envelope_free(env);
    free(body);
}

static void test_parse_errors(void **state)
{
    (void)state;
    xacct_sns_envelope_t *env = NULL;
    char err[256];
    const char *bad[] = {
        "not json",
        "{\"Type\":\"Other\"}",
        "{\"Type\":\"Notification\",\"MessageId\":\"m\"}",
        "{\"Type\":\"SubscriptionConfirmation\",\"MessageId\":\"m\",\"TopicArn\":\"t\",\"Message\":\"x\","
        "\"Timestamp\":\"t\",\"SignatureVersion\":\"1\",\"Signature\":\"AA==\",\"SigningCertURL\":\"u\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(xacct_sns_envelope_parse(bad[i], strlen(bad[i]), &env, err, sizeof(err)),
                         XACCT_EPARSE);
        assert_null(env);
    }
}

/* A fetch that may work later keeps the message for another try; a
 * refused one proves the certificate unusable. */
static void test_cert_fetch_statuses(void **state)
{
    (void)state;
    static const long again[] = {500, 502, 503, 504, 408, 429};
    for (size_t i = 0; i < sizeof(again) / sizeof(again[0]); i++)
        assert_int_equal(xacct__sns_cert_http_status(again[i]), XACCT_EAGAIN);
    static const long refused[] = {301, 400, 403, 404, 410};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        assert_int_equal(xacct__sns_cert_http_status(refused[i]), XACCT_ECERT);
}

static void test_url_rules(void **state)
{
    (void)state;
    char *items[] = {"sns.*.amazonaws.com", "sns.*.amazonaws.com.cn"};
    xacct_strlist_t hosts = {items, 2};
    char err[256];
    assert_int_equal(xacct_sns_url_check("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
                                         &hosts, true, err, sizeof(err)),
                     0);
    assert_int_equal(xacct_sns_url_check("https://sns.cn-north-1.amazonaws.com.cn/x.pem", &hosts, true, err,
                                         sizeof(err)),
                     0);
    const char *bad[] = {
        "http://sns.us-east-1.amazonaws.com/x.pem",
        "https://sns.us-east-1.amazonaws.com.evil.com/x.pem",
        "https://evil.com/sns.us-east-1.amazonaws.com/x.pem",
        "https://127.0.0.1/x.pem",
        "https://sns.us-east-1.amazonaws.com:8443/x.pem",
        "https://u:p@sns.us-east-1.amazonaws.com/x.pem",
        "https://sns.us-east-1.amazonaws.com/x.txt",
        "https://s3.amazonaws.com/x.pem",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (xacct_sns_url_check(bad[i], &hosts, true, err, sizeof(err)) != XACCT_ECERT)
            fail_msg("accepted %s", bad[i]);
    /* SubscribeURLs are not certificates. */
    assert_int_equal(xacct_sns_url_check("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
                                         &hosts, false, err, sizeof(err)),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_vector),
        cmocka_unit_test(test_surrogate_pair_decoded),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_url_rules),
        cmocka_unit_test(test_cert_fetch_statuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
