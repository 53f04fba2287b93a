/* SPDX-License-Identifier: MIT */
/*
 * Loading and checking the portal API's token hashes. The file is small and
 * line-oriented ("name:hex"), so it is split here by lines and one colon;
 * the hash is SHA-256 (EVP) of the presented token, compared with
 * CRYPTO_memcmp against every entry.
 */
#include "xacct/api_tokens.h"
#include "xacct/digest.h"
#include "xacct/hex.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKENS_FILE_MAX (1024 * 1024)

typedef struct token_entry {
    char name[XACCT_API_TOKEN_NAME_MAX + 1]; /* the audit actor */
    unsigned char hash[32];                  /* SHA-256 of the token */
} token_entry_t;

struct xacct_api_tokens {
    token_entry_t *entries; /* n of them */
    size_t n;
};

static bool name_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '@' || c == '-';
}

/* One non-comment line into e; a reason on failure. */
static const char *parse_line(const char *line, size_t len, token_entry_t *e)
{
    const char *colon = memchr(line, ':', len);
    if (colon == NULL)
        return "expected name:sha256-hex";
    size_t nlen = (size_t)(colon - line);
    if (nlen == 0 || nlen > XACCT_API_TOKEN_NAME_MAX)
        return "the name must be 1 to 64 characters";
    for (size_t i = 0; i < nlen; i++)
        if (!name_char_ok(line[i]))
            return "the name may hold only letters, digits and _ . @ -";
    const char *hex = colon + 1;
    size_t hlen = len - nlen - 1;
    if (hlen != 64)
        return "the hash must be 64 hex digits (SHA-256 of the token)";
    if (xacct_hex_decode(hex, e->hash, sizeof(e->hash)) != 0)
        return "the hash must be 64 hex digits (SHA-256 of the token)";
    memcpy(e->name, line, nlen);
    e->name[nlen] = '\0';
    return NULL;
}

int xacct_api_tokens_parse(const char *text, size_t len, const char *name,
                           xacct_api_tokens_t **out, char *err, size_t errlen)
{
    *out = NULL;
    xacct_api_tokens_t *t = xacct_calloc(1, sizeof(*t));
    size_t cap = 0, lineno = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        lineno++;
        /* Trim blanks (and a CR) at both ends. */
        const char *a = p, *b = le;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r'))
            b--;
        p = nl ? nl + 1 : end;
        if (a == b || *a == '#')
            continue;
        if (t->n == cap) {
            cap = cap ? cap * 2 : 8;
            t->entries = xacct_realloc(t->entries, cap * sizeof(*t->entries));
        }
        const char *why = parse_line(a, (size_t)(b - a), &t->entries[t->n]);
        if (why != NULL) {
            snprintf(err, errlen, "%s:%zu: %s", name, lineno, why);
            xacct_api_tokens_free(t);
            return XACCT_EPARSE;
        }
        t->n++;
    }
    /* No token at all is a valid file: emptying it is how every token is
     * revoked at once, and then every request is refused (401). */
    *out = t;
    return 0;
}

int xacct_api_tokens_load(const char *path, xacct_api_tokens_t **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return XACCT_EIO;
    }
    char *text = xacct_malloc(TOKENS_FILE_MAX + 1);
    size_t n = fread(text, 1, TOKENS_FILE_MAX + 1, f);
    int failed = ferror(f);
    fclose(f);
    int rc;
    if (failed) {
        snprintf(err, errlen, "%s: read error", path);
        rc = XACCT_EIO;
    } else if (n > TOKENS_FILE_MAX) {
        snprintf(err, errlen, "%s: larger than %d bytes", path, TOKENS_FILE_MAX);
        rc = XACCT_EPARSE;
    } else {
        rc = xacct_api_tokens_parse(text, n, path, out, err, errlen);
    }
    free(text);
    return rc;
}

const char *xacct_api_tokens_check(const xacct_api_tokens_t *t, const char *token, size_t len)
{
    if (t == NULL || token == NULL || len == 0)
        return NULL;
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (xacct_digest(XACCT_DIGEST_SHA256, token, len, md, &mdlen) != 0 || mdlen != sizeof(md))
        return NULL;
    const char *found = NULL;
    for (size_t i = 0; i < t->n; i++) {
        /* No early exit: every entry costs the same. */
        bool eq = CRYPTO_memcmp(md, t->entries[i].hash, sizeof(md)) == 0;
        if (eq && found == NULL)
            found = t->entries[i].name;
    }
    OPENSSL_cleanse(md, sizeof(md));
    return found;
}

size_t xacct_api_tokens_count(const xacct_api_tokens_t *t)
{
    return t != NULL ? t->n : 0;
}

void xacct_api_tokens_free(xacct_api_tokens_t *t)
{
    if (t == NULL)
        return;
    if (t->entries != NULL)
        OPENSSL_cleanse(t->entries, t->n * sizeof(*t->entries));
    free(t->entries);
    free(t);
}
