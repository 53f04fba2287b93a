/* SPDX-License-Identifier: MIT */
/* The portal API's tokens file and route table: the table and the OpenAPI
 * document served at /v1/openapi.json name exactly the same routes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <ctype.h>
#include <jansson.h>
#include <string.h>

#include "xacct/api.h"
#include "xacct/api_tokens.h"

extern const char xacct__openapi_doc[];
extern const size_t xacct__openapi_doc_len;

/* 64 hex digits */
#define S3CRET_HASH "a0eb2ffa4ad3ff9b2dd6e6e2ce1a0b1e5f8e5ff1a1b8d0a2ac2b1b6cd6a1a5e1"

static void test_tokens_parse_and_check(void **state)
{
    (void)state;
    const char *text = "# tokens\n\n  portal:"
                       "4c2c4c6e5a4d5f8b2e6c1a6f3b3f7c2a0f8f6e1b1d4f2c5c3f0e2b8f3a4d6c71  \r\n"
                       "ops@example.com:"
                       "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b\n";
    xacct_api_tokens_t *t = NULL;
    char err[256];
    assert_int_equal(xacct_api_tokens_parse(text, strlen(text), "tokens", &t, err, sizeof(err)),
                     0);
    assert_int_equal(xacct_api_tokens_count(t), 2);
    /* sha256("secret") is the second entry. */
    const char *name = xacct_api_tokens_check(t, "secret", 6);
    assert_non_null(name);
    assert_string_equal(name, "ops@example.com");
    assert_null(xacct_api_tokens_check(t, "secreT", 6));
    assert_null(xacct_api_tokens_check(t, "secret", 5));
    assert_null(xacct_api_tokens_check(t, "", 0));
    assert_null(xacct_api_tokens_check(t, NULL, 0));
    xacct_api_tokens_free(t);
}

static void test_tokens_none(void **state)
{
    (void)state;
    /* Emptying the file is how every token is revoked at once. */
    static const char *const texts[] = {"", "\n\n", "# only a comment\n"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        xacct_api_tokens_t *t = NULL;
        char err[256] = "";
        assert_int_equal(
            xacct_api_tokens_parse(texts[i], strlen(texts[i]), "tokens", &t, err, sizeof(err)), 0);
        assert_non_null(t);
        assert_int_equal(xacct_api_tokens_count(t), 0);
        assert_null(xacct_api_tokens_check(t, "secret", 6));
        xacct_api_tokens_free(t);
    }
}

static void test_tokens_refused(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *why;
    } cases[] = {
        {"portal\n", "tokens:1: expected name:sha256-hex"},
        {"portal:abc\n", "tokens:1: the hash must be 64"},
        {"\nportal:" S3CRET_HASH "0\n", "tokens:2: the hash must be 64"},
        {"por tal:" S3CRET_HASH "\n", "tokens:1: the name may hold only"},
        {":" S3CRET_HASH "\n", "tokens:1: the name must be 1 to 64"},
        {"portal:" "zz" S3CRET_HASH "\n", "tokens:1: the hash must be 64"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        xacct_api_tokens_t *t = (xacct_api_tokens_t *)&t;
        char err[256] = "";
        assert_int_equal(xacct_api_tokens_parse(cases[i].text, strlen(cases[i].text), "tokens",
                                                &t, err, sizeof(err)),
                         XACCT_EPARSE);
        assert_null(t);
        if (strstr(err, cases[i].why) == NULL)
            fail_msg("case %zu: \"%s\" does not say \"%s\"", i, err, cases[i].why);
    }
    xacct_api_tokens_t *t = NULL;
    char err[256];
    assert_int_equal(xacct_api_tokens_load("/nonexistent/api-tokens", &t, err, sizeof(err)),
                     XACCT_EIO);
    assert_non_null(strstr(err, "/nonexistent/api-tokens"));
}

static void test_routes_match_the_openapi_document(void **state)
{
    (void)state;
    json_error_t je;
    json_t *doc = json_loadb(xacct__openapi_doc, xacct__openapi_doc_len, 0, &je);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
    json_t *paths = json_object_get(doc, "paths");
    size_t n = 0;
    const xacct_api_route_t *routes = xacct_api_routes(&n);
    assert_true(n > 0);
    size_t documented = 0;
    const char *path;
    json_t *item;
    json_object_foreach(paths, path, item) {
        const char *method;
        json_t *op;
        json_object_foreach(item, method, op) {
            if (strcmp(method, "parameters") == 0)
                continue;
            documented++;
            char upper[16];
            size_t k = 0;
            for (; method[k] != '\0' && k < sizeof(upper) - 1; k++)
                upper[k] = (char)toupper((unsigned char)method[k]);
            upper[k] = '\0';
            bool found = false;
            for (size_t i = 0; i < n; i++)
                if (strcmp(routes[i].method, upper) == 0 && strcmp(routes[i].pattern, path) == 0) {
                    found = true;
                    /* Only the document itself is open. */
                    bool open = json_is_array(json_object_get(op, "security")) &&
                                json_array_size(json_object_get(op, "security")) == 0;
                    assert_int_equal(routes[i].auth, !open);
                }
            if (!found)
                fail_msg("%s %s is documented but not served", upper, path);
        }
    }
    /* Every route served is documented: the counts match and each
     * documented one was found above. */
    assert_int_equal(documented, n);
    json_decref(doc);
}

static void test_status_for_errors(void **state)
{
    (void)state;
    assert_int_equal(xacct_api_status_for(XACCT_ENOTFOUND), 404);
    assert_int_equal(xacct_api_status_for(XACCT_ESTATE), 409);
    assert_int_equal(xacct_api_status_for(XACCT_EINVAL), 422);
    assert_int_equal(xacct_api_status_for(XACCT_EDISCONNECTED), 503);
    assert_int_equal(xacct_api_status_for(XACCT_ETHROTTLED), 503);
    /* SPEC §7's codes only: what is not the client's fault is a 503. */
    assert_int_equal(xacct_api_status_for(XACCT_EPARSE), 503);
    assert_int_equal(xacct_api_status_for(XACCT_EAWS), 503);
    assert_int_equal(xacct_api_status_for(XACCT_EACCESSDENIED), 503);
    assert_int_equal(xacct_api_status_for(XACCT_EIO), 503);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens_parse_and_check),
        cmocka_unit_test(test_tokens_none),
        cmocka_unit_test(test_tokens_refused),
        cmocka_unit_test(test_routes_match_the_openapi_document),
        cmocka_unit_test(test_status_for_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
