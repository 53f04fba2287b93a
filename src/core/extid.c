/* SPDX-License-Identifier: MIT */
/*
 * External ID generation and constant-time comparison.
 */
#include "xacct/extid.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

#include "xacct/digest.h"

/* 16 random bytes as a lower-case UUID v4, 8-4-4-4-12 hex digits (a check
 * makes one for every probe: written directly, not through printf's format
 * machinery). */
static void format_uuid4(unsigned char b[16], char out[XACCT_EXTID_LEN + 1])
{
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    static const char digits[] = "0123456789abcdef";
    char *p = out;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = digits[b[i] >> 4];
        *p++ = digits[b[i] & 0x0f];
    }
    *p = '\0';
}

int xacct_extid_generate(char out[XACCT_EXTID_LEN + 1])
{
    unsigned char b[16];
    out[0] = '\0';
    if (RAND_bytes(b, sizeof(b)) != 1)
        return XACCT_ECRYPTO;
    format_uuid4(b, out);
    OPENSSL_cleanse(b, sizeof(b));
    return 0;
}

/* Decoys per RAND_bytes call: each call costs a lock, a fork check (a
 * getpid system call) and the DRBG's set-up, for 16 bytes. */
#define DECOY_POOL 32

int xacct_extid_decoy(char out[XACCT_EXTID_LEN + 1])
{
    static _Thread_local unsigned char pool[DECOY_POOL * 16];
    static _Thread_local size_t next = sizeof(pool);
    out[0] = '\0';
    if (next == sizeof(pool)) {
        if (RAND_bytes(pool, sizeof(pool)) != 1)
            return XACCT_ECRYPTO;
        next = 0;
    }
    format_uuid4(pool + next, out);
    OPENSSL_cleanse(pool + next, 16); /* used once */
    next += 16;
    return 0;
}

bool xacct_extid_valid(const char *s)
{
    if (s == NULL || strlen(s) != XACCT_EXTID_LEN)
        return false;
    for (int i = 0; i < XACCT_EXTID_LEN; i++) {
        char c = s[i];
        bool dash = (i == 8 || i == 13 || i == 18 || i == 23);
        if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

static bool digest(const char *s, unsigned char md[32])
{
    unsigned int mdlen = 0;
    return xacct_digest(XACCT_DIGEST_SHA256, s, strlen(s), md, &mdlen) == 0 && mdlen == 32;
}

bool xacct_secret_equal(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return false;
    unsigned char da[32], db[32];
    if (!digest(a, da) || !digest(b, db))
        return false;
    bool eq = CRYPTO_memcmp(da, db, sizeof(da)) == 0;
    OPENSSL_cleanse(da, sizeof(da));
    OPENSSL_cleanse(db, sizeof(db));
    return eq;
}
