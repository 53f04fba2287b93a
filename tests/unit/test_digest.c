/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/core/digest.c: SHA-256, SHA-1, MD5 and HMAC-SHA-256
 * against published vectors (FIPS 180 examples, RFC 1321, RFC 4231), with
 * the per-thread contexts reused across algorithms and keys in any order,
 * HMAC contexts keyed once and run again,
 * and from several threads at once (each with its own contexts, freed when
 * it ends: the sanitizer build checks for leaks).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "xacct/common.h"
#include "xacct/digest.h"

static void hex(const unsigned char *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static void check_digest(xacct_digest_alg_t alg, const char *msg, const char *want)
{
    unsigned char md[64];
    unsigned int n = 0;
    char got[129];
    assert_int_equal(xacct_digest(alg, msg, strlen(msg), md, &n), 0);
    assert_int_equal(n * 2, strlen(want));
    hex(md, n, got);
    assert_string_equal(got, want);
}

static void check_hmac(const void *key, size_t klen, const char *msg, const char *want)
{
    unsigned char mac[32];
    char got[65];
    assert_int_equal(xacct_hmac_sha256(key, klen, msg, strlen(msg), mac), 0);
    hex(mac, 32, got);
    assert_string_equal(got, want);
}

#define SHA256_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA256_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA1_ABC "a9993e364706816aba3e25717850c26c9cd0d89d"
#define MD5_ABC "900150983cd24fb0d6963f7d28e17f72"
/* RFC 4231 test case 2: key "Jefe". */
#define HMAC_JEFE "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
/* RFC 4231 test case 1: key 0x0b x 20, "Hi There". */
#define HMAC_0B "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
/* RFC 4231 test case 6: a 131-byte key (longer than a block, hashed first). */
#define HMAC_LONGKEY "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"

static void run_vectors(void)
{
    static const unsigned char key0b[20] = {0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b,
                                            0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b,
                                            0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b};
    unsigned char longkey[131];
    memset(longkey, 0xaa, sizeof(longkey));

    /* Interleaved, so each call finds the context the previous one left. */
    check_digest(XACCT_DIGEST_SHA256, "abc", SHA256_ABC);
    check_hmac("Jefe", 4, "what do ya want for nothing?", HMAC_JEFE);
    check_digest(XACCT_DIGEST_MD5, "abc", MD5_ABC);
    check_hmac(key0b, sizeof(key0b), "Hi There", HMAC_0B);
    check_digest(XACCT_DIGEST_SHA1, "abc", SHA1_ABC);
    check_hmac(longkey, sizeof(longkey),
               "Test Using Larger Than Block-Size Key - Hash Key First", HMAC_LONGKEY);
    check_digest(XACCT_DIGEST_SHA256, "", SHA256_EMPTY);
    check_hmac("Jefe", 4, "what do ya want for nothing?", HMAC_JEFE);
    check_digest(XACCT_DIGEST_SHA256, "abc", SHA256_ABC);
}

static void test_vectors_in_any_order(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++)
        run_vectors();
}

static void check_again(EVP_MAC_CTX *ctx, const char *msg, const char *want)
{
    unsigned char mac[32];
    char got[65];
    assert_int_equal(xacct_hmac_sha256_again(ctx, msg, strlen(msg), mac), 0);
    hex(mac, 32, got);
    assert_string_equal(got, want);
}

/* A context keyed once gives RFC 4231's answers message after message,
 * each from the keyed state (not a continuation of the previous one), and
 * two keyed contexts and the one-shot HMAC do not disturb each other. */
static void test_keyed_context(void **state)
{
    (void)state;
    static const unsigned char key0b[20] = {0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b,
                                            0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b,
                                            0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b};
    unsigned char longkey[131];
    memset(longkey, 0xaa, sizeof(longkey));
    EVP_MAC_CTX *jefe = xacct_hmac_sha256_keyed("Jefe", 4);
    EVP_MAC_CTX *k0b = xacct_hmac_sha256_keyed(key0b, sizeof(key0b));
    EVP_MAC_CTX *lk = xacct_hmac_sha256_keyed(longkey, sizeof(longkey));
    assert_non_null(jefe);
    assert_non_null(k0b);
    assert_non_null(lk);
    for (int i = 0; i < 3; i++) {
        check_again(jefe, "what do ya want for nothing?", HMAC_JEFE);
        check_again(k0b, "Hi There", HMAC_0B);
        check_hmac("Jefe", 4, "what do ya want for nothing?", HMAC_JEFE);
        check_again(lk, "Test Using Larger Than Block-Size Key - Hash Key First",
                    HMAC_LONGKEY);
        check_again(jefe, "what do ya want for nothing?", HMAC_JEFE);
    }
    /* Another message under the same key differs; the same one matches. */
    unsigned char a[32], b[32];
    assert_int_equal(xacct_hmac_sha256_again(jefe, "x", 1, a), 0);
    assert_int_equal(xacct_hmac_sha256("Jefe", 4, "x", 1, b), 0);
    assert_memory_equal(a, b, 32);
    assert_int_equal(xacct_hmac_sha256_again(NULL, "x", 1, a), XACCT_ECRYPTO);
    EVP_MAC_CTX_free(jefe);
    EVP_MAC_CTX_free(k0b);
    EVP_MAC_CTX_free(lk);
}

static void test_unknown_algorithm(void **state)
{
    (void)state;
    unsigned char md[64];
    unsigned int n = 0;
    assert_null(xacct_digest_md((xacct_digest_alg_t)7));
    assert_int_equal(xacct_digest((xacct_digest_alg_t)7, "abc", 3, md, &n), XACCT_ECRYPTO);
    /* The thread's contexts still work afterwards. */
    check_digest(XACCT_DIGEST_SHA256, "abc", SHA256_ABC);
}

static void *thread_main(void *arg)
{
    int *failures = arg;
    unsigned char mac[32];
    char got[65];
    for (int i = 0; i < 5000; i++) {
        if (xacct_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, mac) != 0) {
            (*failures)++;
            continue;
        }
        hex(mac, 32, got);
        if (strcmp(got, HMAC_JEFE) != 0)
            (*failures)++;
        unsigned char md[32];
        unsigned int n = 0;
        if (xacct_digest(XACCT_DIGEST_SHA256, "abc", 3, md, &n) != 0 || n != 32)
            (*failures)++;
        hex(md, 32, got);
        if (strcmp(got, SHA256_ABC) != 0)
            (*failures)++;
    }
    return NULL;
}

static void test_threads_have_their_own(void **state)
{
    (void)state;
    enum { N = 4 };
    pthread_t t[N];
    int failures[N] = {0};
    for (int i = 0; i < N; i++)
        assert_int_equal(pthread_create(&t[i], NULL, thread_main, &failures[i]), 0);
    run_vectors(); /* this thread at the same time */
    for (int i = 0; i < N; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(failures[i], 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_in_any_order),
        cmocka_unit_test(test_keyed_context),
        cmocka_unit_test(test_unknown_algorithm),
        cmocka_unit_test(test_threads_have_their_own),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
