/* SPDX-License-Identifier: MIT */
/* STS GetCallerIdentity response parsing (the example of the STS API
 * reference), and the answers it refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "xacct/sts.h"

static const char *response =
    "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
    "  <GetCallerIdentityResult>\n"
    "    <Arn>arn:aws:iam::123456789012:user/Alice</Arn>\n"
    "    <UserId>AKIAI44QH8DHBEXAMPLE</UserId>\n"
    "    <Account>123456789012</Account>\n"
    "  </GetCallerIdentityResult>\n"
    "  <ResponseMetadata>\n"
    "    <RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId>\n"
    "  </ResponseMetadata>\n"
    "</GetCallerIdentityResponse>\n";

static void parses_the_reference_example(void **state)
{
    (void)state;
    xacct_sts_identity_t id = {.date = "kept"};
    xacct__sts_identity_store_t *store = NULL;
    assert_int_equal(xacct__sts_parse_identity(response, strlen(response), &id, &store), 0);
    assert_string_equal(id.account, "123456789012");
    assert_string_equal(id.arn, "arn:aws:iam::123456789012:user/Alice");
    assert_string_equal(id.user_id, "AKIAI44QH8DHBEXAMPLE");
    assert_string_equal(id.date, "kept");
    xacct__sts_identity_free(store);
}

static void refuses(const char *xml)
{
    xacct_sts_identity_t id = {0};
    xacct__sts_identity_store_t *store = (xacct__sts_identity_store_t *)&id;
    assert_int_equal(xacct__sts_parse_identity(xml, strlen(xml), &id, &store), XACCT_EPARSE);
    assert_null(store);
    assert_null(id.account);
    assert_null(id.arn);
}

static void refuses_what_names_no_account(void **state)
{
    (void)state;
    refuses("<ErrorResponse><Error><Code>InvalidClientTokenId</Code></Error></ErrorResponse>");
    refuses("<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::1:root</Arn>"
            "</GetCallerIdentityResult></GetCallerIdentityResponse>");
    refuses("<GetCallerIdentityResponse><GetCallerIdentityResult><Account>12345</Account>"
            "<Arn>arn:aws:iam::12345:root</Arn></GetCallerIdentityResult>"
            "</GetCallerIdentityResponse>");
    refuses("<GetCallerIdentityResponse><Account>123456789012</Account>");
    refuses("");
}

static void refuses_an_overlong_field(void **state)
{
    (void)state;
    char xml[8192];
    char arn[4097];
    memset(arn, 'a', sizeof(arn) - 1);
    arn[sizeof(arn) - 1] = '\0';
    snprintf(xml, sizeof(xml),
             "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>%s</Arn>"
             "<Account>123456789012</Account></GetCallerIdentityResult>"
             "</GetCallerIdentityResponse>",
             arn);
    refuses(xml);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_the_reference_example),
        cmocka_unit_test(refuses_what_names_no_account),
        cmocka_unit_test(refuses_an_overlong_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
