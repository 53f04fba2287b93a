/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/aws/xml_parser.c: a thread's spare expat parser is
 * handed out again after a small document, comes back with none of the last
 * document's handlers, user data or state, and is not kept after a large
 * one; a parser asked for while the spare is out is a different one; the
 * encoding asked for is the one used; and each thread has its own spare,
 * freed when the thread ends (the sanitizer build checks for leaks).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xacct/xml_parser.h"

typedef struct seen {
    int starts;
    char last[32];
} seen_t;

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    (void)attrs;
    seen_t *s = ud;
    s->starts++;
    strncpy(s->last, name, sizeof(s->last) - 1);
}

static int parse(XML_Parser p, const char *doc, seen_t *s)
{
    XML_SetUserData(p, s);
    XML_SetStartElementHandler(p, on_start);
    return XML_Parse(p, doc, (int)strlen(doc), XML_TRUE) == XML_STATUS_OK;
}

static void test_spare_reused_and_reset(void **state)
{
    (void)state;
    seen_t a = {0}, b = {0};
    XML_Parser p = xacct_xml_parser_get(NULL);
    assert_non_null(p);
    assert_true(parse(p, "<a><b/></a>", &a));
    assert_int_equal(a.starts, 2);
    xacct_xml_parser_put(p, 11);

    XML_Parser q = xacct_xml_parser_get(NULL);
    assert_ptr_equal(q, p);
    /* Nothing of the last document's set-up is left: no handler fires. */
    assert_null(XML_GetUserData(q));
    assert_int_equal(XML_Parse(q, "<c/>", 4, XML_TRUE), XML_STATUS_OK);
    assert_int_equal(a.starts, 2);
    xacct_xml_parser_put(q, 4);

    /* A reset parser starts a new document: a second root is fine again. */
    q = xacct_xml_parser_get(NULL);
    assert_ptr_equal(q, p);
    assert_true(parse(q, "<d><e/><f/></d>", &b));
    assert_int_equal(b.starts, 3);
    assert_string_equal(b.last, "f");
    xacct_xml_parser_put(q, 15);
}

static void test_failed_document_leaves_no_error(void **state)
{
    (void)state;
    seen_t s = {0};
    XML_Parser p = xacct_xml_parser_get(NULL);
    assert_false(parse(p, "<a><b></a>", &s));
    assert_int_not_equal(XML_GetErrorCode(p), XML_ERROR_NONE);
    xacct_xml_parser_put(p, 10);
    XML_Parser q = xacct_xml_parser_get(NULL);
    assert_ptr_equal(q, p);
    assert_int_equal(XML_GetErrorCode(q), XML_ERROR_NONE);
    memset(&s, 0, sizeof(s));
    assert_true(parse(q, "<ok/>", &s));
    assert_int_equal(s.starts, 1);
    xacct_xml_parser_put(q, 5);
}

static void test_second_parser_while_spare_is_out(void **state)
{
    (void)state;
    XML_Parser p = xacct_xml_parser_get(NULL);
    XML_Parser q = xacct_xml_parser_get(NULL);
    assert_non_null(p);
    assert_non_null(q);
    assert_ptr_not_equal(p, q);
    xacct_xml_parser_put(q, 1); /* becomes the spare */
    xacct_xml_parser_put(p, 1); /* there is one already: freed */
    assert_ptr_equal(xacct_xml_parser_get(NULL), q);
    xacct_xml_parser_put(q, 1);
}

static void test_large_document_not_kept(void **state)
{
    (void)state;
    XML_Parser p = xacct_xml_parser_get(NULL);
    assert_null(xacct__xml_parser_spare()); /* taken out while in use */
    xacct_xml_parser_put(p, 64 * 1024 + 1); /* freed, not kept */
    assert_null(xacct__xml_parser_spare());
    p = xacct_xml_parser_get(NULL);
    xacct_xml_parser_put(p, 64 * 1024); /* the largest kept */
    assert_ptr_equal(xacct__xml_parser_spare(), p);
}

static void test_encoding_applies_after_reset(void **state)
{
    (void)state;
    /* é as ISO-8859-1 (0xE9): well-formed only when that is the encoding. */
    const char latin1[] = "<a>\xe9</a>";
    XML_Parser p = xacct_xml_parser_get("ISO-8859-1");
    assert_int_equal(XML_Parse(p, latin1, (int)strlen(latin1), XML_TRUE), XML_STATUS_OK);
    xacct_xml_parser_put(p, 8);
    p = xacct_xml_parser_get("UTF-8");
    assert_int_equal(XML_Parse(p, latin1, (int)strlen(latin1), XML_TRUE), XML_STATUS_ERROR);
    xacct_xml_parser_put(p, 8);
}

static void *thread_main(void *arg)
{
    int *ok = arg;
    seen_t s = {0};
    for (int i = 0; i < 50; i++) {
        XML_Parser p = xacct_xml_parser_get(NULL);
        *ok &= p != NULL && parse(p, "<x><y/></x>", &s);
        xacct_xml_parser_put(p, 11);
    }
    *ok &= s.starts == 100;
    return NULL;
}

static void test_threads_keep_their_own(void **state)
{
    (void)state;
    enum { N = 4 };
    pthread_t t[N];
    int ok[N];
    for (int i = 0; i < N; i++) {
        ok[i] = 1;
        assert_int_equal(pthread_create(&t[i], NULL, thread_main, &ok[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(ok[i], 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spare_reused_and_reset),
        cmocka_unit_test(test_failed_document_leaves_no_error),
        cmocka_unit_test(test_second_parser_while_spare_is_out),
        cmocka_unit_test(test_large_document_not_kept),
        cmocka_unit_test(test_encoding_applies_after_reset),
        cmocka_unit_test(test_threads_keep_their_own),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
