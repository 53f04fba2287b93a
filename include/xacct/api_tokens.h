/* SPDX-License-Identifier: MIT */
/*
 * The portal API's bearer tokens (SPEC §7): api.tokens_file holds one
 * "name:<sha256 hex of the token>" a line ('#' comments and blank lines
 * allowed). Only hashes are kept; a presented token is hashed and compared
 * with every entry in constant time, and the matching entry's name becomes
 * the audit actor.
 */
#ifndef XACCT_API_TOKENS_H
#define XACCT_API_TOKENS_H

#include <stddef.h>

#include "xacct/common.h"

typedef struct xacct_api_tokens xacct_api_tokens_t;

/* Names are 1..64 of [A-Za-z0-9_.@-]. */
#define XACCT_API_TOKEN_NAME_MAX 64

/*
 * Reads path. Returns 0 and *out (free with xacct_api_tokens_free), or
 * XACCT_EIO (cannot read; err names the file and errno) or XACCT_EPARSE
 * (err is "path:line: reason"). A file without any entry is valid: emptying
 * it revokes every token, and every request is then refused.
 */
int xacct_api_tokens_load(const char *path, xacct_api_tokens_t **out, char *err,
                          size_t errlen) XACCT_MUSTCHECK;

/* The same from text (for tests); name is used in errors. */
int xacct_api_tokens_parse(const char *text, size_t len, const char *name,
                           xacct_api_tokens_t **out, char *err, size_t errlen) XACCT_MUSTCHECK;

/*
 * The name of the entry token (len bytes) matches, or NULL. Every entry is
 * compared, whatever matched, so the time taken says nothing about which
 * entry or how much of it matched. The name is owned by t.
 */
const char *xacct_api_tokens_check(const xacct_api_tokens_t *t, const char *token, size_t len);

/* Number of entries; 0 for NULL. */
size_t xacct_api_tokens_count(const xacct_api_tokens_t *t);

void xacct_api_tokens_free(xacct_api_tokens_t *t);

#endif
