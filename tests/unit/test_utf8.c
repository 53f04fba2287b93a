/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/core/utf8.c: which byte sequences are one character
 * (the RFC 3629 table jansson applies), cutting on character boundaries, and
 * the '?' replacement that keeps a Reason sendable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "xacct/common.h"
#include "xacct/utf8.h"

static const struct {
    const char *bytes;
    size_t n, len; /* len: the character's length, 0 = not one */
} chars[] = {
    {"A", 1, 1},
    {"\x7f", 1, 1},
    {"\xc2\x80", 2, 2},               /* U+0080, the first 2-byte form */
    {"\xdf\xbf", 2, 2},
    {"\xe0\xa0\x80", 3, 3},           /* U+0800 */
    {"\xed\x9f\xbf", 3, 3},           /* U+D7FF, just below the surrogates */
    {"\xee\x80\x80", 3, 3},           /* U+E000, just above */
    {"\xef\xbf\xbf", 3, 3},
    {"\xf0\x90\x80\x80", 4, 4},       /* U+10000 */
    {"\xf4\x8f\xbf\xbf", 4, 4},       /* U+10FFFF */
    {"\x80", 1, 0},                   /* stray continuation byte */
    {"\xbf", 1, 0},
    {"\xc0\xaf", 2, 0},               /* overlong '/' */
    {"\xc1\xbf", 2, 0},
    {"\xe0\x80\xaf", 3, 0},           /* overlong, 3 bytes */
    {"\xe0\x9f\xbf", 3, 0},
    {"\xf0\x80\x80\xaf", 4, 0},       /* overlong, 4 bytes */
    {"\xf0\x8f\xbf\xbf", 4, 0},
    {"\xed\xa0\x80", 3, 0},           /* U+D800 */
    {"\xed\xbf\xbf", 3, 0},           /* U+DFFF */
    {"\xf4\x90\x80\x80", 4, 0},       /* U+110000 */
    {"\xf5\x80\x80\x80", 4, 0},
    {"\xf7\xbf\xbf\xbf", 4, 0},
    {"\xf8\x88\x80\x80\x80", 5, 0},
    {"\xfc\x84\x80\x80\x80\x80", 6, 0},
    {"\xfe", 1, 0},
    {"\xff", 1, 0},
    {"\xc3", 1, 0},                   /* cut short */
    {"\xe2\x82", 2, 0},
    {"\xf0\x9f\x98", 3, 0},
    {"\xc3\x28", 2, 0},               /* continuation missing */
    {"\xe2\x28\xa1", 3, 0},
    {"\xf0\x9f\x28\x80", 4, 0},
};

/* Each verdict agrees with jansson's, so what passes can be sent as JSON. */
static void test_char_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(chars); i++) {
        size_t got = xacct_utf8_char_len(chars[i].bytes, chars[i].n);
        if (got != chars[i].len)
            fail_msg("case %zu: length %zu, want %zu", i, got, chars[i].len);
        json_t *j = json_stringn(chars[i].bytes, chars[i].n);
        if ((j != NULL) != (chars[i].len == chars[i].n))
            fail_msg("case %zu: jansson disagrees", i);
        json_decref(j);
        assert_int_equal(xacct_utf8_valid(chars[i].bytes, chars[i].n), chars[i].len == chars[i].n);
    }
    assert_int_equal(xacct_utf8_char_len("", 0), 0);
    assert_false(xacct_utf8_valid("a\0b", 3));
}

static void test_prefix_and_copy(void **state)
{
    (void)state;
    const char *s = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"; /* 1 + 2 + 3 + 4 bytes */
    size_t n = strlen(s);
    static const size_t want[] = {0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10, 10};
    for (size_t max = 0; max < XACCT_ARRAY_SIZE(want); max++)
        if (xacct_utf8_prefix(s, n, max) != want[max])
            fail_msg("max %zu: %zu, want %zu", max, xacct_utf8_prefix(s, n, max), want[max]);
    /* Invalid bytes count as one character each. */
    assert_int_equal(xacct_utf8_prefix("\xff\xff\xc3\xa9", 4, 3), 2);

    char dst[6];
    assert_int_equal(xacct_utf8_copy(dst, sizeof(dst), s), 3);
    assert_string_equal(dst, "a\xc3\xa9");
    assert_int_equal(xacct_utf8_copy(dst, 1, s), 0);
    assert_string_equal(dst, "");
    assert_int_equal(xacct_utf8_copy(dst, sizeof(dst), "abc"), 3);
    assert_string_equal(dst, "abc");
}

static void test_sanitize(void **state)
{
    (void)state;
    char *o = xacct_utf8_sanitize("ok\xc3\xa9 \xc0\xaf \xed\xa0\x80 \xf5\x80 \xe2\x82");
    assert_string_equal(o, "ok\xc3\xa9 ?? ??? ?? ??");
    json_t *j = json_string(o);
    assert_non_null(j);
    json_decref(j);
    free(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_char_table),
        cmocka_unit_test(test_prefix_and_copy),
        cmocka_unit_test(test_sanitize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
