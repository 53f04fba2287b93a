/* SPDX-License-Identifier: MIT */
/* SNS GetTopicAttributes parsing and the console URL builder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "xacct/console.h"
#include "xacct/sns.h"

static const char *const response =
    "<GetTopicAttributesResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">\n"
    "  <GetTopicAttributesResult>\n"
    "    <Attributes>\n"
    "      <entry>\n"
    "        <key>Owner</key>\n"
    "        <value>111111111111</value>\n"
    "      </entry>\n"
    "      <entry>\n"
    "        <key>Policy</key>\n"
    "        <value>{&quot;Version&quot;:&quot;2008-10-17&quot;,&quot;Statement&quot;:[]}</value>\n"
    "      </entry>\n"
    "      <entry>\n"
    "        <key>DisplayName</key>\n"
    "        <value></value>\n"
    "      </entry>\n"
    "    </Attributes>\n"
    "  </GetTopicAttributesResult>\n"
    "  <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>\n"
    "</GetTopicAttributesResponse>\n";

static void test_parse_attribute(void **state)
{
    (void)state;
    char *v = NULL;
    assert_int_equal(xacct__sns_parse_attribute(response, strlen(response), "Policy", &v), 0);
    assert_string_equal(v, "{\"Version\":\"2008-10-17\",\"Statement\":[]}");
    free(v);
    assert_int_equal(xacct__sns_parse_attribute(response, strlen(response), "Owner", &v), 0);
    assert_string_equal(v, "111111111111");
    free(v);
    assert_int_equal(xacct__sns_parse_attribute(response, strlen(response), "DisplayName", &v), 0);
    assert_string_equal(v, "");
    free(v);
    assert_int_equal(xacct__sns_parse_attribute(response, strlen(response), "Nope", &v),
                     XACCT_ENOTFOUND);
    assert_null(v);
    /* A key outside an entry is not an attribute. */
    const char *stray = "<R><key>Policy</key><value>x</value></R>";
    assert_int_equal(xacct__sns_parse_attribute(stray, strlen(stray), "Policy", &v),
                     XACCT_ENOTFOUND);
    const char *broken = "<R><entry><key>Policy</key><value>x</entry></R>";
    assert_int_equal(xacct__sns_parse_attribute(broken, strlen(broken), "Policy", &v),
                     XACCT_EPARSE);
    assert_null(v);
}

static void test_console_url(void **state)
{
    (void)state;
    const char *names[] = {"Action", "Session", "Destination"};
    const char *values[] = {"getSigninToken", "{\"sessionId\":\"A B&C=\"}",
                            "https://console.aws.amazon.com/?x=1#frag"};
    char *url = NULL;
    assert_int_equal(
        xacct__console_url("https://signin.example/federation", names, values, 3, &url), 0);
    assert_string_equal(url, "https://signin.example/federation?Action=getSigninToken"
                             "&Session=%7b%22sessionId%22%3a%22A+B%26C%3d%22%7d"
                             "&Destination=https%3a%2f%2fconsole.aws.amazon.com%2f%3fx%3d1%23frag");
    free(url);
    assert_int_equal(xacct__console_url("ftp://x/", names, values, 1, &url), XACCT_EINVAL);
    assert_null(url);
    assert_int_equal(xacct__console_url("not a url", NULL, NULL, 0, &url), XACCT_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_attribute),
        cmocka_unit_test(test_console_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
