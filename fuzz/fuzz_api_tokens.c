/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes the portal API's tokens file (api.tokens_file, "name:sha256-hex"
 * lines) and the check of a presented token against it: the input is the
 * file, and its first line is also presented as a token. Properties: a file
 * that loads names only valid actors, and a token matches only by its hash.
 */
#include "fuzz_util.h"
#include "xacct/api_tokens.h"

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > XACCT_API_TOKEN_NAME_MAX)
        return false;
    for (; *s != '\0'; s++)
        if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.@-", *s) ==
            NULL)
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    xacct_api_tokens_t *t = NULL;
    char err[256];
    if (xacct_api_tokens_parse(text, size, "tokens", &t, err, sizeof(err)) != 0) {
        FUZZ_ASSERT(t == NULL && err[0] != '\0');
        return 0;
    }
    FUZZ_ASSERT(t != NULL);
    const char *nl = memchr(text, '\n', size);
    size_t len = nl != NULL ? (size_t)(nl - text) : size;
    const char *name = xacct_api_tokens_check(t, text, len);
    if (name != NULL)
        FUZZ_ASSERT(name_ok(name));
    /* The file's own lines are hashes, not tokens: a line presented as it is
     * can only match if it hashes to an entry, and "" never does. */
    FUZZ_ASSERT(xacct_api_tokens_check(t, "", 0) == NULL);
    FUZZ_ASSERT(xacct_api_tokens_check(t, NULL, 0) == NULL);
    /* sha256("fuzz-token") entries in the corpus let this one in. */
    name = xacct_api_tokens_check(t, "fuzz-token", 10);
    if (name != NULL)
        FUZZ_ASSERT(name_ok(name));
    xacct_api_tokens_free(t);
    return 0;
}
