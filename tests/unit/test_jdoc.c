/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/core/jdoc.c, the receive path's JSON reader: the tree
 * and its accessors, and each check it adds to yajl so that it refuses what
 * jansson refused (duplicate keys in small and large objects, unpaired
 * surrogate escapes, NUL and invalid UTF-8, numbers out of range, vertical
 * tab and form feed, trailing text, nesting beyond the limit).
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

#include "xacct/buf.h"
#include "xacct/common.h"
#include "xacct/jdoc.h"

static xacct_jdoc_t *parse_ok(const char *text)
{
    xacct_jdoc_t *doc = NULL;
    if (xacct_jdoc_parse(text, strlen(text), &doc) != 0)
        fail_msg("rejected: %s", text);
    return doc;
}

static void assert_rejected(const char *text, size_t len)
{
    xacct_jdoc_t *doc = (xacct_jdoc_t *)1;
    if (xacct_jdoc_parse(text, len, &doc) != XACCT_EPARSE)
        fail_msg("accepted: %.*s", (int)len, text);
    assert_null(doc);
}

static void test_tree(void **state)
{
    (void)state;
    xacct_jdoc_t *doc =
        parse_ok(" {\"s\":\"a\\u00e9\\ud83d\\ude00\\\\\\\"\", \"n\":-12.5e1, \"i\":30,"
                 " \"a\":[true,false,null,{}], \"o\":{\"k\":\"v\"}} \n");
    const xacct_jval_t *root = xacct_jdoc_root(doc);
    assert_int_equal(xacct_jval_type(root), XACCT_JDOC_OBJECT);
    assert_int_equal(xacct_jval_count(root), 5);

    size_t n = 0;
    const char *s = xacct_jval_string(xacct_jval_get(root, "s"), &n);
    assert_string_equal(s, "a\xc3\xa9\xf0\x9f\x98\x80\\\"");
    assert_int_equal(n, 9);
    assert_string_equal(xacct_jval_number(xacct_jval_get(root, "n")), "-12.5e1");
    assert_string_equal(xacct_jval_number(xacct_jval_get(root, "i")), "30");
    assert_null(xacct_jval_string(xacct_jval_get(root, "i"), NULL)); /* not a string */
    assert_null(xacct_jval_number(xacct_jval_get(root, "s")));
    assert_null(xacct_jval_get(root, "missing"));
    assert_null(xacct_jval_get(xacct_jval_get(root, "a"), "0")); /* arrays have no keys */

    const xacct_jval_t *a = xacct_jval_get(root, "a");
    static const xacct_jdoc_type_t want[] = {XACCT_JDOC_TRUE, XACCT_JDOC_FALSE, XACCT_JDOC_NULL,
                                              XACCT_JDOC_OBJECT};
    size_t i = 0;
    for (const xacct_jval_t *e = xacct_jval_first(a); e != NULL; e = xacct_jval_next(e), i++) {
        assert_int_equal(xacct_jval_type(e), want[i]);
        assert_null(xacct_jval_key(e));
    }
    assert_int_equal(i, 4);
    assert_null(xacct_jval_first(xacct_jval_get(root, "s")));

    /* Members in document order, with their keys. */
    static const char *keys[] = {"s", "n", "i", "a", "o"};
    i = 0;
    for (const xacct_jval_t *m = xacct_jval_first(root); m != NULL; m = xacct_jval_next(m))
        assert_string_equal(xacct_jval_key(m), keys[i++]);
    assert_string_equal(xacct_jval_string(xacct_jval_get(xacct_jval_get(root, "o"), "k"), NULL),
                        "v");

    /* NULL in, nothing out. */
    assert_int_equal(xacct_jval_type(NULL), XACCT_JDOC_NONE);
    assert_null(xacct_jval_get(NULL, "x"));
    assert_int_equal(xacct_jval_count(NULL), 0);
    xacct_jdoc_free(doc);
    xacct_jdoc_free(NULL);

    /* Any value may be the document. */
    doc = parse_ok("\"top\"");
    assert_string_equal(xacct_jval_string(xacct_jdoc_root(doc), NULL), "top");
    xacct_jdoc_free(doc);
    doc = parse_ok("42");
    assert_string_equal(xacct_jval_number(xacct_jdoc_root(doc)), "42");
    xacct_jdoc_free(doc);
}

static void test_rejects_what_jansson_rejected(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "   ",
        "{\"a\":1,\"a\":2}",                    /* duplicate key */
        "{\"o\":{\"b\":1,\"c\":2,\"b\":3}}",    /* in a nested object */
        "{\"a\":\"\\ud800\"}",                  /* high surrogate alone */
        "{\"a\":\"\\ud800x\"}",
        "{\"a\":\"\\ud800\\u0041\"}",           /* followed by no low one */
        "{\"a\":\"\\ud800x\\ud83d\\ude00\"}",  /* text between the halves */
        "{\"a\":\"\\udc00\"}",                  /* low surrogate alone */
        "{\"\\ud800\":1}",                      /* in a key */
        "{\"a\":\"\\u0000\"}",                  /* NUL */
        "{\"a\\u0000\":1}",
        "{\"a\":\"\xc0\xaf\"}",                 /* overlong UTF-8 */
        "{\"a\":\"\xed\xa0\x80\"}",             /* surrogate in UTF-8 */
        "[99999999999999999999]",               /* beyond 64 bits */
        "[1e999]",                              /* beyond a double */
        "{\"a\":1}\v",                          /* not JSON white space */
        "\f{\"a\":1}",
        "{\"a\":1} x",                          /* trailing text */
        "{\"a\":1} \"open",                     /* an unfinished token after the value */
        "1 tru",
        "{\"a\":1} {}",                         /* two values */
        "{\"a\":1,}",
        "{'a':1}",
        "[1] // comment",
        "{\"a\":01}",
        "{\"a\":\"tab\there\"}",                /* raw control character */
    };
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(bad); i++)
        assert_rejected(bad[i], strlen(bad[i]));
    assert_rejected("{\"a\":1}\0", 8);

    /* Small values where the surrogate checks must not misfire. */
    xacct_jdoc_free(parse_ok("[\"\\\\ud800\", \"\\\"\\ud83d\\ude00\\\\\", \"a\\\\\"]"));
    xacct_jdoc_free(parse_ok("[1e-999, -0, 9223372036854775807]"));
}

static void test_large_objects_and_depth(void **state)
{
    (void)state;
    /* 2,000 distinct keys pass; the same with one repeated far apart fails. */
    xacct_buf_t b;
    xacct_buf_init(&b, 0);
    assert_int_equal(xacct_buf_putc(&b, '{'), 0);
    for (int i = 0; i < 2000; i++)
        assert_int_equal(xacct_buf_printf(&b, "%s\"k%d\":%d", i ? "," : "", i, i), 0);
    assert_int_equal(xacct_buf_putc(&b, '}'), 0);
    xacct_jdoc_t *doc = parse_ok(b.data);
    assert_int_equal(xacct_jval_count(xacct_jdoc_root(doc)), 2000);
    assert_string_equal(xacct_jval_number(xacct_jval_get(xacct_jdoc_root(doc), "k1999")), "1999");
    xacct_jdoc_free(doc);
    b.data[b.len - 1] = ',';
    assert_int_equal(xacct_buf_puts(&b, "\"k7\":0}"), 0);
    assert_rejected(b.data, b.len);
    xacct_buf_destroy(&b);

    /* Nesting: the limit itself passes, one more fails. */
    char deep[2 * XACCT_JDOC_MAX_DEPTH + 3];
    for (int extra = 0; extra <= 1; extra++) {
        size_t d = XACCT_JDOC_MAX_DEPTH + (size_t)extra, n = 0;
        for (size_t i = 0; i < d; i++)
            deep[n++] = '[';
        for (size_t i = 0; i < d; i++)
            deep[n++] = ']';
        deep[n] = '\0';
        if (extra == 0)
            xacct_jdoc_free(parse_ok(deep));
        else
            assert_rejected(deep, n);
    }
}

static void test_parse_object(void **state)
{
    (void)state;
    xacct_jdoc_t *doc = NULL;
    const xacct_jval_t *root = NULL;
    assert_int_equal(xacct_jdoc_parse_object("{\"a\":\"b\"}", 9, &doc, &root), 0);
    assert_non_null(doc);
    assert_int_equal(xacct_jval_type(root), XACCT_JDOC_OBJECT);
    assert_string_equal(xacct_jval_string(xacct_jval_get(root, "a"), NULL), "b");
    xacct_jdoc_free(doc);

    /* Valid JSON that is not an object, and text that is not JSON. */
    static const char *bad[] = {"[1]", "\"s\"", "1", "null", "{\"a\":1,\"a\":2}", "{"};
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(bad); i++) {
        doc = (xacct_jdoc_t *)1;
        root = (const xacct_jval_t *)1;
        if (xacct_jdoc_parse_object(bad[i], strlen(bad[i]), &doc, &root) != XACCT_EPARSE)
            fail_msg("accepted: %s", bad[i]);
        assert_null(doc);
        assert_null(root);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree),
        cmocka_unit_test(test_rejects_what_jansson_rejected),
        cmocka_unit_test(test_large_objects_and_depth),
        cmocka_unit_test(test_parse_object),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
