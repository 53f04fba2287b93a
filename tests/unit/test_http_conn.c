/* SPDX-License-Identifier: MIT */
/*
 * Tests for the HTTP client's connections against the local test server:
 * the addresses a URL from a message may not reach.
 */
#include "http_fixture.h"

/* --- addresses a URL from a message may not reach ------------------------ */

/* A URL that came in a message never reaches a link-local or metadata
 * address, whether it names one or a name resolves to one; the check is at
 * connect time, so names pinned to the test server still work. */
static void test_untrusted_url_never_reaches_metadata(void **state)
{
    fx_t *fx = *state;
    char ok_entry[64];
    snprintf(ok_entry, sizeof(ok_entry), "ok.test:%d:127.0.0.1", g_server.port);
    const char *const resolve[] = {
        "imds.test:80:169.254.169.254",
        "ecs.test:80:169.254.170.2",
        "v6.test:80:[fe80::1]",
        "ec2v6.test:80:[fd00:ec2::254]",
        "mapped.test:80:[::ffff:169.254.169.254]",
        ok_entry,
        NULL,
    };
    xacct_http_options_t opts = {.resolve = resolve};
    new_client(fx, &opts);

    static const char *const refused[] = {
        "http://imds.test/latest/meta-data/",
        "http://ecs.test/v2/credentials",
        "http://v6.test/",
        "http://ec2v6.test/",
        "http://mapped.test/",
        "http://169.254.169.254/latest/api/token",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://2852039166/", /* 169.254.169.254 as one number */
    };
    result_t res[XACCT_ARRAY_SIZE(refused)];
    memset(res, 0, sizeof(res));
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(refused); i++) {
        xacct_http_request_t req = {.method = "GET", .url = refused[i], .untrusted_url = true,
                                    .connect_timeout_ms = 2000};
        submit(fx, &req, &res[i]);
    }
    char ok_url[64];
    snprintf(ok_url, sizeof(ok_url), "http://ok.test:%d/echo", g_server.port);
    result_t ok = {0};
    xacct_http_request_t ok_req = {.method = "GET", .url = ok_url, .untrusted_url = true};
    submit(fx, &ok_req, &ok);
    run(fx);

    for (size_t i = 0; i < XACCT_ARRAY_SIZE(refused); i++) {
        if (res[i].calls != 1 || res[i].status != XACCT_EFORBIDDEN)
            fail_msg("%s: calls %d status %s", refused[i], res[i].calls,
                     xacct_errname(res[i].status));
        result_clear(&res[i]);
    }
    assert_int_equal(ok.calls, 1);
    assert_int_equal(ok.status, 0);
    assert_int_equal(ok.code, 200);
    result_clear(&ok);
    finish_loop(fx);
}

/* Without untrusted_url (the instance-metadata credential provider) the
 * address is not refused: the attempt goes out and fails on the network. */
static void test_trusted_url_may_reach_metadata(void **state)
{
    fx_t *fx = *state;
    result_t res = {0};
    new_client(fx, NULL);
    xacct_http_request_t req = {.method = "GET", .url = "http://169.254.169.254:1/",
                                .connect_timeout_ms = 500, .timeout_ms = 1000};
    submit(fx, &req, &res);
    run(fx);
    assert_int_equal(res.calls, 1);
    assert_int_not_equal(res.status, XACCT_EFORBIDDEN);
    result_clear(&res);
    finish_loop(fx);
}

static void test_forbidden_address_table(void **state)
{
    XACCT_UNUSED(state);
    static const struct {
        const char *addr;
        bool forbidden;
    } cases[] = {
        {"169.254.169.254", true}, {"169.254.0.0", true},       {"169.254.255.255", true},
        {"169.253.255.255", false}, {"169.255.0.0", false},     {"127.0.0.1", false},
        {"10.0.0.1", false},        {"fe80::1", true},          {"febf::1", true},
        {"fec0::1", false},         {"fd00:ec2::254", true},    {"fd00:ec2::253", false},
        {"::ffff:169.254.169.254", true}, {"64:ff9b::169.254.169.254", true},
        {"::ffff:127.0.0.1", false}, {"::1", false},             {"2600:1f18::1", false},
    };
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(cases); i++) {
        struct sockaddr_storage ss = {0};
        if (strchr(cases[i].addr, ':') != NULL) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
            s6->sin6_family = AF_INET6;
            assert_int_equal(inet_pton(AF_INET6, cases[i].addr, &s6->sin6_addr), 1);
        } else {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
            s4->sin_family = AF_INET;
            assert_int_equal(inet_pton(AF_INET, cases[i].addr, &s4->sin_addr), 1);
        }
        if (xacct__http_addr_forbidden((struct sockaddr *)&ss) != cases[i].forbidden)
            fail_msg("%s: forbidden is %d", cases[i].addr, !cases[i].forbidden);
    }
}
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_untrusted_url_never_reaches_metadata),
        T(test_trusted_url_may_reach_metadata),
        T(test_forbidden_address_table),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
