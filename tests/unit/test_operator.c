/* SPDX-License-Identifier: MIT */
/* The operator's name for RoleSessionName and SourceIdentity: what STS
 * accepts (2..64 of [\w+=,.@-]), and where the name comes from. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pwd.h>
#include <regex.h>
#include <string.h>
#include <unistd.h>

#include "xacct/operator.h"

/* STS's own pattern and limits, checked with POSIX regex, not by the code
 * under test. */
static void assert_sts_accepts(const char *name)
{
    regex_t re;
    assert_int_equal(regcomp(&re, "^[A-Za-z0-9_+=,.@-]{2,64}$", REG_EXTENDED | REG_NOSUB), 0);
    int m = regexec(&re, name, 0, NULL, 0);
    regfree(&re);
    if (m != 0)
        fail_msg("STS would refuse '%s'", name);
}

static void test_sanitize_table(void **state)
{
    (void)state;
    static const struct {
        const char *raw, *want;
        bool changed;
    } cases[] = {
        {"alice", "alice", false},
        {"a+=,.@-_9", "a+=,.@-_9", false},
        {"ab", "ab", false},
        {"jean dupont", "jean-dupont", true},
        {"ops\\admin", "ops-admin", true},
        {"  bob  ", "bob", true},
        {"alice:bob", "alice-bob", true},
        {"aws:admin", "aws-admin", true}, /* SourceIdentity may not start with aws: */
        {"Zoë Ñandú", "Zo-and", true},   /* one dash per run of foreign characters */
        {"x/y//z", "x-y-z", true},
        {"r\xc3\xa9sum\xc3\xa9", "r-sum", true},
        {"\xff\xfe" "carol", "carol", true}, /* invalid UTF-8 bytes are replaced too */
        {"-dash-", "-dash-", false},         /* dashes STS allows are kept */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[XACCT_OPERATOR_NAME_MAX + 1];
        bool changed = !cases[i].changed;
        assert_int_equal(xacct_operator_sanitize(cases[i].raw, out, &changed), 0);
        assert_string_equal(out, cases[i].want);
        assert_int_equal(changed, cases[i].changed);
        assert_sts_accepts(out);
    }
}

static void test_sanitize_refuses_what_leaves_too_little(void **state)
{
    (void)state;
    const char *bad[] = {"", "a", "  ", "é", "日本語", " a ", "::"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char out[XACCT_OPERATOR_NAME_MAX + 1] = "x";
        assert_int_equal(xacct_operator_sanitize(bad[i], out, NULL), XACCT_EINVAL);
        assert_string_equal(out, "");
    }
    char out[XACCT_OPERATOR_NAME_MAX + 1];
    assert_int_equal(xacct_operator_sanitize(NULL, out, NULL), XACCT_EINVAL);
}

static void test_sanitize_cuts_at_64(void **state)
{
    (void)state;
    char raw[200], out[XACCT_OPERATOR_NAME_MAX + 1];
    memset(raw, 'a', sizeof(raw) - 1);
    raw[sizeof(raw) - 1] = '\0';
    bool changed = false;
    assert_int_equal(xacct_operator_sanitize(raw, out, &changed), 0);
    assert_int_equal(strlen(out), 64);
    assert_true(changed);
    assert_sts_accepts(out);

    /* Exactly 64 stays as it is. */
    raw[64] = '\0';
    assert_int_equal(xacct_operator_sanitize(raw, out, &changed), 0);
    assert_string_equal(out, raw);
    assert_false(changed);

    /* A cut never ends on the replacement dash. */
    memset(raw, 'b', 63);
    strcpy(raw + 63, " tail");
    assert_int_equal(xacct_operator_sanitize(raw, out, &changed), 0);
    assert_int_equal(strlen(out), 63);
    assert_int_not_equal(out[62], '-');
    assert_sts_accepts(out);
}

static void test_resolve_order(void **state)
{
    (void)state;
    char out[XACCT_OPERATOR_NAME_MAX + 1];
    xacct_operator_source_t src = 0;
    const char *raw = NULL;
    bool changed = true;
    assert_int_equal(xacct_operator_resolve("alice", "bob", out, &src, &raw, &changed), 0);
    assert_string_equal(out, "alice");
    assert_int_equal(src, XACCT_OPERATOR_FLAG);
    assert_string_equal(raw, "alice");
    assert_false(changed);

    assert_int_equal(xacct_operator_resolve(NULL, "bob smith", out, &src, &raw, &changed), 0);
    assert_string_equal(out, "bob-smith");
    assert_int_equal(src, XACCT_OPERATOR_ENV);
    assert_true(changed);

    /* An empty variable counts as unset: the login name. */
    int rc = xacct_operator_resolve(NULL, "", out, &src, &raw, &changed);
    assert_int_equal(src, XACCT_OPERATOR_LOGIN);
    struct passwd *pw = getpwuid(geteuid());
    const char *login = getlogin();
    if (login == NULL || login[0] == '\0')
        login = pw != NULL ? pw->pw_name : NULL;
    if (login == NULL) {
        assert_int_equal(rc, XACCT_ENOTFOUND);
    } else {
        char want[XACCT_OPERATOR_NAME_MAX + 1];
        int wrc = xacct_operator_sanitize(login, want, NULL);
        assert_int_equal(rc, wrc);
        assert_string_equal(out, want);
        assert_string_equal(raw, login);
    }

    /* A flag that gives no usable name is refused, not replaced by another
     * source. */
    assert_int_equal(xacct_operator_resolve("!", "bob", out, &src, &raw, &changed),
                     XACCT_EINVAL);
    assert_int_equal(src, XACCT_OPERATOR_FLAG);
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sanitize_table),
        cmocka_unit_test(test_sanitize_refuses_what_leaves_too_little),
        cmocka_unit_test(test_sanitize_cuts_at_64),
        cmocka_unit_test(test_resolve_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
