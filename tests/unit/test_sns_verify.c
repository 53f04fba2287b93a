/* SPDX-License-Identifier: MIT */
/* SNS signatures against every vector in ../shared/testdata/sns: valid ones
 * verify, the tampered one and any flipped byte do not; URL rules; what a
 * fetched signing certificate must be (valid now, issued to Amazon SNS). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
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

static void test_cert_names(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "sns.amazonaws.com", "SNS.AMAZONAWS.COM", "sns.amazonaws.com.cn",
        "sns-us-gov-west-1.amazonaws.com", "sns-cn-north-1.amazonaws.com.cn",
        "sns-signing.me-south-1.amazonaws.com", "sns-signing.ap-east-1.amazonaws.com",
        "sns.us-east-1.amazonaws.com", "sns.cn-northwest-1.amazonaws.com.cn",
    };
    static const char *const bad[] = {
        "", "amazonaws.com", "sqs.amazonaws.com", "sns.amazonaws.com.evil.com",
        "evil.sns.amazonaws.com", "sns.s3.amazonaws.com", "sns.a.b.amazonaws.com",
        "sns-evil.amazonaws.com", "sns-signing.evil.amazonaws.com",
        "sns-signing.us-east-1.example.com", "sns.us-east-1.amazonaws.com.", "*.amazonaws.com",
        "sns.amazonaws.co", "sns-us-east-1.amazonaws.com.evil",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (!xacct__sns_cert_name_ok(ok[i], strlen(ok[i])))
            fail_msg("refused %s", ok[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (xacct__sns_cert_name_ok(bad[i], strlen(bad[i])))
            fail_msg("accepted %s", bad[i]);
}

/* A self-signed certificate (PEM, caller frees) with common name cn, a
 * subjectAltName of san (NULL: none), valid from now + from to now + to. */
static char *make_cert(const char *cn, const char *san, long from, long to)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    assert_non_null(key);
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), from);
    X509_gmtime_adj(X509_getm_notAfter(x), to);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, name);
    if (san != NULL) {
        X509V3_CTX ctx;
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
        assert_non_null(ext);
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    /* BIO memory is not NUL-terminated: copy exactly n bytes. */
    char *pem = malloc((size_t)n + 1);
    assert_non_null(pem);
    memcpy(pem, data, (size_t)n);
    pem[n] = '\0';
    BIO_free(b);
    X509_free(x);
    EVP_PKEY_free(key);
    return pem;
}

static xacct__sns_key_t *fetched(const char *pem, char *why)
{
    return xacct__sns_key_from_fetched(pem, strlen(pem), why, 160);
}

/* AWS: check that the certificate is issued by Amazon SNS. An allowed host
 * serving a certificate for another name proves nothing. Validity dates are
 * not what is checked (AWS's validators do not; the vectors' certificates
 * are long expired and still verify). */
static void test_fetched_cert_checks(void **state)
{
    (void)state;
    char why[160];
    struct {
        const char *cn, *san;
        long from, to;
        bool ok;
    } rows[] = {
        {"sns.amazonaws.com", "DNS:sns.amazonaws.com", -3600, 86400, true},
        {"sns.amazonaws.com", NULL, -3600, 86400, true},
        {"x", "DNS:sns-signing.me-south-1.amazonaws.com", -3600, 86400, true},
        {"sns.amazonaws.com", "DNS:sns.amazonaws.com", -86400, -3600, true},
        {"evil.example.com", "DNS:evil.example.com", -3600, 86400, false},
        {"evil.example.com", NULL, -3600, 86400, false},
        /* The subjectAltName, when it has DNS names, is what names the holder. */
        {"sns.amazonaws.com", "DNS:evil.example.com", -3600, 86400, false},
        {"sns.amazonaws.com", "DNS:sns.s3.amazonaws.com", -3600, 86400, false},
        {"sns.amazonaws.com", "IP:127.0.0.1", -3600, 86400, true},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *pem = make_cert(rows[i].cn, rows[i].san, rows[i].from, rows[i].to);
        why[0] = '\0';
        xacct__sns_key_t *k = fetched(pem, why);
        if ((k != NULL) != rows[i].ok)
            fail_msg("row %zu: %s (%s)", i, k ? "accepted" : "refused", why);
        if (k == NULL && strstr(why, "not issued to Amazon SNS") == NULL)
            fail_msg("row %zu: reason '%s'", i, why);
        xacct__sns_key_free(k);
        free(pem);
    }
    assert_null(fetched("not a certificate", why));
    assert_non_null(strstr(why, "did not serve a certificate"));

    /* Every certificate of the vectors names SNS and is taken. */
    static const char *const real[] = {
        "SimpleNotificationService-7ff5318490ec183fbaddaa2a969abfda.pem",
        "SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
    };
    for (size_t i = 0; i < sizeof(real) / sizeof(real[0]); i++) {
        size_t clen;
        char *pem = sns_file(real[i], &clen);
        xacct__sns_key_t *k = fetched(pem, why);
        if (k == NULL)
            fail_msg("%s refused: %s", real[i], why);
        xacct__sns_key_free(k);
        free(pem);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_vector),
        cmocka_unit_test(test_surrogate_pair_decoded),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_url_rules),
        cmocka_unit_test(test_cert_fetch_statuses),
        cmocka_unit_test(test_cert_names),
        cmocka_unit_test(test_fetched_cert_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
