/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/core/url_parts.c: the parts of URLs of every shape xacct
 * meets (AWS endpoints, presigned S3 URLs, Redis URLs with passwords, IPv6
 * literals), the URLs it refuses (relative, no host, hosts that read as a
 * number, zones, ports out of range), the Host header and percent-encoding.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xacct/url_parts.h"

static void test_parts(void **state)
{
    (void)state;
    static const struct {
        const char *url, *scheme, *user, *password, *host;
        bool v6;
        int port;
        bool port_given;
        const char *path, *query, *fragment;
    } cases[] = {
        {"https://sqs.us-east-1.amazonaws.com/123456789012/q", "https", NULL, NULL,
         "sqs.us-east-1.amazonaws.com", false, 443, false, "/123456789012/q", NULL, NULL},
        {"HTTPS://Example.COM", "https", NULL, NULL, "Example.COM", false, 443, false, "", NULL,
         NULL},
        {"http://127.0.0.1:8080/a/../b?x=1&y=%2F#frag?", "http", NULL, NULL, "127.0.0.1", false,
         8080, true, "/a/../b", "x=1&y=%2F", "frag?"},
        {"https://h/?", "https", NULL, NULL, "h", false, 443, false, "/", "", NULL},
        {"https://h#", "https", NULL, NULL, "h", false, 443, false, "", NULL, ""},
        {"https://h:/p", "https", NULL, NULL, "h", false, 443, false, "/p", NULL, NULL},
        {"https://[::1]:8443/x", "https", NULL, NULL, "::1", true, 8443, true, "/x", NULL, NULL},
        {"https://[2001:db8::1]", "https", NULL, NULL, "2001:db8::1", true, 443, false, "", NULL,
         NULL},
        {"redis://:s3cr%40t@redis.internal:6380/2", "redis", "", "s3cr%40t", "redis.internal",
         false, 6380, true, "/2", NULL, NULL},
        {"rediss://user@r.example", "rediss", "user", NULL, "r.example", false, 6379, false, "",
         NULL, NULL},
        {"https://bucket.s3.amazonaws.com/k%20ey?X-Amz-Signature=ab&X-Amz-Credential=A%2FB",
         "https", NULL, NULL, "bucket.s3.amazonaws.com", false, 443, false, "/k%20ey",
         "X-Amz-Signature=ab&X-Amz-Credential=A%2FB", NULL},
        {"https://sns.us-east-1.amazonaws.com./x", "https", NULL, NULL,
         "sns.us-east-1.amazonaws.com.", false, 443, false, "/x", NULL, NULL},
        {"https://h?a=%2F&b=?/:@!$'()*+,;~#f?/", "https", NULL, NULL, "h", false, 443, false, "",
         "a=%2F&b=?/:@!$'()*+,;~", "f?/"},
        {"unix://my_host", "unix", NULL, NULL, "my_host", false, -1, false, "", NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        xacct_url_parts_t u;
        int rc = xacct_url_parse(cases[i].url, &u);
        if (rc != 0)
            fail_msg("%s: %d", cases[i].url, rc);
        assert_string_equal(u.scheme, cases[i].scheme);
        if (cases[i].user == NULL)
            assert_null(u.user);
        else
            assert_string_equal(u.user, cases[i].user);
        if (cases[i].password == NULL) {
            assert_null(u.password);
            assert_int_equal(u.password_len, 0);
        } else {
            assert_string_equal(u.password, cases[i].password);
            assert_int_equal(u.password_len, strlen(cases[i].password));
            assert_memory_equal(cases[i].url + u.password_off, cases[i].password, u.password_len);
        }
        assert_string_equal(u.host, cases[i].host);
        assert_int_equal(u.host_ipv6, cases[i].v6);
        assert_int_equal(u.port, cases[i].port);
        assert_int_equal(u.port_given, cases[i].port_given);
        assert_string_equal(u.path, cases[i].path);
        if (cases[i].query == NULL)
            assert_null(u.query);
        else
            assert_string_equal(u.query, cases[i].query);
        if (cases[i].fragment == NULL)
            assert_null(u.fragment);
        else
            assert_string_equal(u.fragment, cases[i].fragment);
        xacct_url_parts_free(&u);
        assert_null(u.host);
    }
}

static void test_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "no-scheme.example.com/path",
        "/relative/path",
        "https:host-without-slashes",
        "https://",
        "https:///path",
        "https://h:65536/",
        "https://h:123456/",
        "https://h:-1/",
        "https://h:8x/",
        "https://exa mple.com/",
        "https://exa\tmple.com/",
        "https://example.com/pa th",
        "https://%65xample.com/",    /* percent-encoded host */
        "https://a!b.example.com/",  /* sub-delims are not DNS */
        "https://127.1/",            /* reads as 127.0.0.1 */
        "https://0x7f.0.0.1/",       /* hex */
        "https://010.0.0.1/",        /* octal: 8.0.0.1 */
        "https://2130706433/",       /* one number */
        "https://[fe80::1%25eth0]/", /* zone */
        "https://[v1.x]/",           /* IPvFuture */
        "https://[::1/",
        "https://h\\@evil.com/",
        "https://caf\xc3\xa9.example/", /* not ASCII */
        "https://h/?a b",               /* query and fragment: RFC 3986 characters only */
        "https://h/?a%zz",
        "https://h/?a%2",
        "https://h/?a\"b",
        "https://h/?a<b>",
        "https://h/#a#b",
        "https://h/?a#b#c",
        "https://h/?a\\b",
        "https://h/#x\x7f",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        xacct_url_parts_t u;
        memset(&u, 0xab, sizeof(u));
        int rc = xacct_url_parse(bad[i], &u);
        if (rc != XACCT_EPARSE)
            fail_msg("accepted %s (host %s)", bad[i], rc == 0 ? u.host : "?");
        assert_null(u._mem);
        assert_null(u.host);
    }
    xacct_url_parts_t u;
    assert_int_equal(xacct_url_parse(NULL, &u), XACCT_EPARSE);

    /* Over 8 KB: refused before parsing. */
    size_t n = 9000;
    char *longurl = malloc(n + 1);
    assert_non_null(longurl);
    memcpy(longurl, "https://h/", 10);
    memset(longurl + 10, 'a', n - 10);
    longurl[n] = '\0';
    assert_int_equal(xacct_url_parse(longurl, &u), XACCT_EPARSE);
    longurl[8000] = '\0';
    assert_int_equal(xacct_url_parse(longurl, &u), 0);
    assert_int_equal(strlen(u.path), 8000 - 9);
    xacct_url_parts_free(&u);
    free(longurl);
    xacct_url_parts_free(NULL);
}

static void test_host_header(void **state)
{
    (void)state;
    static const struct {
        const char *url, *want;
    } cases[] = {
        {"https://sts.amazonaws.com/", "sts.amazonaws.com"},
        {"https://sts.amazonaws.com:443/", "sts.amazonaws.com"},
        {"https://127.0.0.1:8443/", "127.0.0.1:8443"},
        {"http://h:80/", "h"},
        {"http://h:443/", "h:443"},
        {"https://[::1]:9000/", "[::1]:9000"},
        {"https://[::1]/", "[::1]"},
        {"https://h:0/", "h:0"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        xacct_url_parts_t u;
        assert_int_equal(xacct_url_parse(cases[i].url, &u), 0);
        char buf[64];
        size_t n = xacct_url_host_header(&u, buf, sizeof(buf));
        assert_string_equal(buf, cases[i].want);
        assert_int_equal(n, strlen(cases[i].want));
        /* Too small a buffer: 0, never a cut name. */
        assert_int_equal(xacct_url_host_header(&u, buf, n), 0);
        xacct_url_parts_free(&u);
    }
}

static void test_escape(void **state)
{
    (void)state;
    char *e = xacct_url_escape("aZ09-._~ /?&=%+\xff", 16);
    assert_non_null(e);
    assert_string_equal(e, "aZ09-._~%20%2F%3F%26%3D%25%2B%FF");
    free(e);
    e = xacct_url_escape("a\0b", 3);
    assert_string_equal(e, "a%00b");
    free(e);
    e = xacct_url_escape("", 0);
    assert_string_equal(e, "");
    free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parts),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_host_header),
        cmocka_unit_test(test_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
