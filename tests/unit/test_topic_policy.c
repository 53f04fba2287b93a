/* SPDX-License-Identifier: MIT */
/* Managed publish statements in SNS topic policies: other statements kept,
 * 200 principals per statement, quota reporting, round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/topic_policy.h"

#define TOPIC "arn:aws:sns:us-east-1:111111111111:xacct-phone-home"
#define OWNER "111111111111"

/* The default policy SNS gives a new topic, plus one statement of the owner's. */
static const char *const base_policy =
    "{\"Version\":\"2008-10-17\",\"Id\":\"__default_policy_ID\",\"Statement\":["
    "{\"Sid\":\"__default_statement_ID\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"*\"},"
    "\"Action\":[\"SNS:GetTopicAttributes\",\"SNS:Publish\"],\"Resource\":\"" TOPIC "\","
    "\"Condition\":{\"StringEquals\":{\"AWS:SourceOwner\":\"111111111111\"}}},"
    "{\"Sid\":\"owner-extra\",\"Effect\":\"Deny\",\"Principal\":{\"AWS\":\"*\"},"
    "\"Action\":\"SNS:Subscribe\",\"Resource\":\"" TOPIC "\"}]}";

/* n distinct account IDs, from start. */
static char **accounts_new(size_t n, unsigned long long start)
{
    char **a = calloc(n ? n : 1, sizeof(*a));
    for (size_t i = 0; i < n; i++) {
        a[i] = malloc(13);
        snprintf(a[i], 13, "%012llu", start + i);
    }
    return a;
}

static void accounts_free(char **a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(a[i]);
    free(a);
}

static json_t *statement_by_sid(json_t *doc, const char *sid)
{
    size_t i;
    json_t *st;
    json_array_foreach(json_object_get(doc, "Statement"), i, st) {
        const char *s = json_string_value(json_object_get(st, "Sid"));
        if (s != NULL && strcmp(s, sid) == 0)
            return st;
    }
    return NULL;
}

static void test_adds_managed_and_keeps_others(void **state)
{
    (void)state;
    const char *accts[] = {"222222222222", "123456789012", "222222222222"};
    xacct_topic_policy_t p;
    assert_int_equal(xacct_topic_policy_render(base_policy, TOPIC, accts, 3, &p), 0);
    assert_true(p.fits);
    assert_true(p.changed);
    assert_int_equal(p.accounts, 2);
    assert_int_equal(p.managed, 1);
    assert_int_equal(p.statements, 3);
    assert_int_equal(p.bytes, strlen(p.document));

    json_t *doc = json_loads(p.document, 0, NULL);
    assert_non_null(doc);
    json_t *orig = json_loads(base_policy, 0, NULL);
    /* Untouched: Version, Id, and both original statements, in order, first. */
    assert_string_equal(json_string_value(json_object_get(doc, "Version")), "2008-10-17");
    assert_string_equal(json_string_value(json_object_get(doc, "Id")), "__default_policy_ID");
    json_t *sts = json_object_get(doc, "Statement");
    assert_true(json_equal(json_array_get(sts, 0), json_array_get(json_object_get(orig, "Statement"), 0)));
    assert_true(json_equal(json_array_get(sts, 1), json_array_get(json_object_get(orig, "Statement"), 1)));

    json_t *m = statement_by_sid(doc, "xacct-publish-1");
    assert_non_null(m);
    assert_ptr_equal(m, json_array_get(sts, 2));
    assert_string_equal(json_string_value(json_object_get(m, "Effect")), "Allow");
    assert_string_equal(json_string_value(json_object_get(m, "Action")), "SNS:Publish");
    assert_string_equal(json_string_value(json_object_get(m, "Resource")), TOPIC);
    json_t *aws = json_object_get(json_object_get(m, "Principal"), "AWS");
    assert_int_equal(json_array_size(aws), 2);
    assert_string_equal(json_string_value(json_array_get(aws, 0)), "arn:aws:iam::123456789012:root");
    assert_string_equal(json_string_value(json_array_get(aws, 1)), "arn:aws:iam::222222222222:root");
    json_decref(doc);
    json_decref(orig);

    /* Rendering the result again with the same accounts changes nothing. */
    xacct_topic_policy_t again;
    assert_int_equal(xacct_topic_policy_render(p.document, TOPIC, accts, 3, &again), 0);
    assert_false(again.changed);
    assert_string_equal(again.document, p.document);
    xacct_topic_policy_destroy(&again);
    xacct_topic_policy_destroy(&p);
}

static void test_replaces_old_managed_statements(void **state)
{
    (void)state;
    size_t n = 450;
    char **accts = accounts_new(n, 100000000000ULL);
    xacct_topic_policy_t big;
    assert_int_equal(xacct_topic_policy_render(base_policy, TOPIC, (const char *const *)accts, n, &big), 0);
    assert_int_equal(big.managed, 3);
    assert_int_equal(big.statements, 5);

    /* Down to one account: the three managed statements become one, and a
     * stale fourth one (as a crashed writer might leave) is gone too. */
    json_t *doc = json_loads(big.document, 0, NULL);
    json_array_append_new(json_object_get(doc, "Statement"),
                          json_pack("{s:s,s:s,s:{s:s},s:s,s:s}", "Sid", "xacct-publish-9", "Effect",
                                    "Allow", "Principal", "AWS", "arn:aws:iam::999999999999:root",
                                    "Action", "SNS:Publish", "Resource", TOPIC));
    char *stale = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    const char *one[] = {"100000000007"};
    xacct_topic_policy_t small;
    assert_int_equal(xacct_topic_policy_render(stale, TOPIC, one, 1, &small), 0);
    assert_int_equal(small.managed, 1);
    assert_int_equal(small.statements, 3);
    char **got = NULL;
    size_t ngot = 0;
    assert_int_equal(xacct_topic_policy_accounts(small.document, &got, &ngot), 0);
    assert_int_equal(ngot, 1);
    assert_string_equal(got[0], "100000000007");
    xacct_topic_policy_accounts_free(got, ngot);

    /* No accounts at all: only the operator's statements remain. */
    xacct_topic_policy_t none;
    assert_int_equal(xacct_topic_policy_render(stale, TOPIC, NULL, 0, &none), 0);
    assert_int_equal(none.managed, 0);
    assert_int_equal(none.statements, 2);
    assert_null(strstr(none.document, "xacct-publish-"));
    assert_non_null(strstr(none.document, "owner-extra"));

    free(stale);
    xacct_topic_policy_destroy(&none);
    xacct_topic_policy_destroy(&small);
    xacct_topic_policy_destroy(&big);
    accounts_free(accts, n);
}

static void test_200_principals_per_statement(void **state)
{
    (void)state;
    size_t n = 401;
    char **accts = accounts_new(n, 300000000000ULL);
    xacct_topic_policy_t p;
    assert_int_equal(xacct_topic_policy_render(NULL, TOPIC, (const char *const *)accts, n, &p), 0);
    assert_int_equal(p.managed, 3);
    json_t *doc = json_loads(p.document, 0, NULL);
    size_t sizes[3] = {200, 200, 1};
    for (int i = 0; i < 3; i++) {
        char sid[32];
        snprintf(sid, sizeof(sid), "xacct-publish-%d", i + 1);
        json_t *st = statement_by_sid(doc, sid);
        assert_non_null(st);
        assert_int_equal(json_array_size(json_object_get(json_object_get(st, "Principal"), "AWS")),
                         sizes[i]);
    }
    json_decref(doc);

    char **got = NULL;
    size_t ngot = 0;
    assert_int_equal(xacct_topic_policy_accounts(p.document, &got, &ngot), 0);
    assert_int_equal(ngot, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(got[i], accts[i]);
    xacct_topic_policy_accounts_free(got, ngot);
    xacct_topic_policy_destroy(&p);
    accounts_free(accts, n);
}

static void test_size_quota(void **state)
{
    (void)state;
    /* Each principal is 33 bytes of JSON; about 900 fit in 30 KB. */
    size_t lo = 1, hi = 2000;
    char **accts = accounts_new(hi, 400000000000ULL);
    xacct_topic_policy_t p;
    assert_int_equal(xacct_topic_policy_render(base_policy, TOPIC, (const char *const *)accts, hi, &p), 0);
    assert_false(p.fits);
    assert_string_equal(p.why, "larger than 30 KB");
    assert_true(p.bytes > XACCT_TOPIC_POLICY_MAX_BYTES);
    assert_true(p.statements <= XACCT_TOPIC_POLICY_MAX_STATEMENTS);
    xacct_topic_policy_destroy(&p);
    /* Find the largest count that fits; one more must not fit, and the
     * document that fits is within 30 KB. */
    while (lo + 1 < hi) {
        size_t mid = (lo + hi) / 2;
        assert_int_equal(xacct_topic_policy_render(base_policy, TOPIC, (const char *const *)accts, mid, &p), 0);
        if (p.fits)
            lo = mid;
        else
            hi = mid;
        xacct_topic_policy_destroy(&p);
    }
    assert_true(lo > 800 && lo < 950);
    assert_int_equal(xacct_topic_policy_render(base_policy, TOPIC, (const char *const *)accts, lo, &p), 0);
    assert_true(p.fits);
    assert_true(p.bytes <= XACCT_TOPIC_POLICY_MAX_BYTES);
    xacct_topic_policy_destroy(&p);
    assert_int_equal(xacct_topic_policy_render(base_policy, TOPIC, (const char *const *)accts, lo + 1, &p), 0);
    assert_false(p.fits);
    xacct_topic_policy_destroy(&p);
    accounts_free(accts, 2000);
}

static void test_statement_quota(void **state)
{
    (void)state;
    /* A policy that already has 99 statements of its own leaves room for one
     * managed statement, not two. */
    json_t *doc = json_pack("{s:s, s:[]}", "Version", "2012-10-17", "Statement");
    for (int i = 0; i < 99; i++) {
        char sid[16];
        snprintf(sid, sizeof(sid), "own%d", i);
        json_array_append_new(json_object_get(doc, "Statement"),
                              json_pack("{s:s,s:s,s:{s:s},s:s,s:s}", "Sid", sid, "Effect", "Deny",
                                        "Principal", "AWS", "*", "Action", "SNS:Subscribe",
                                        "Resource", TOPIC));
    }
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    char **accts = accounts_new(201, 500000000000ULL);
    xacct_topic_policy_t p;
    assert_int_equal(xacct_topic_policy_render(text, TOPIC, (const char *const *)accts, 200, &p), 0);
    assert_true(p.fits);
    assert_int_equal(p.statements, 100);
    xacct_topic_policy_destroy(&p);
    assert_int_equal(xacct_topic_policy_render(text, TOPIC, (const char *const *)accts, 201, &p), 0);
    assert_false(p.fits);
    assert_int_equal(p.statements, 101);
    assert_string_equal(p.why, "more than 100 statements");
    xacct_topic_policy_destroy(&p);
    accounts_free(accts, 201);
    free(text);
}

static void test_partition_and_single_statement(void **state)
{
    (void)state;
    /* Statement given as a single object is kept (as an array element). */
    const char *cn_topic = "arn:aws-cn:sns:cn-north-1:111111111111:t";
    const char *single = "{\"Version\":\"2012-10-17\",\"Statement\":{\"Sid\":\"x\",\"Effect\":\"Allow\","
                         "\"Principal\":\"*\",\"Action\":\"SNS:Subscribe\",\"Resource\":\"*\"}}";
    const char *one[] = {"123456789012"};
    xacct_topic_policy_t p;
    assert_int_equal(xacct_topic_policy_render(single, cn_topic, one, 1, &p), 0);
    assert_int_equal(p.statements, 2);
    assert_non_null(strstr(p.document, "\"arn:aws-cn:iam::123456789012:root\""));
    assert_non_null(strstr(p.document, "\"Sid\":\"x\""));
    xacct_topic_policy_destroy(&p);
}

static void test_only_numbered_sids_are_managed(void **state)
{
    (void)state;
    /* An operator's statement whose Sid merely starts like a managed one is
     * kept, and its principal is not read as an allowed account. */
    const char *doc =
        "{\"Version\":\"2008-10-17\",\"Statement\":["
        "{\"Sid\":\"xacct-publish-legacy\",\"Effect\":\"Allow\","
        "\"Principal\":{\"AWS\":\"arn:aws:iam::222222222222:root\"},"
        "\"Action\":\"SNS:Publish\",\"Resource\":\"" TOPIC "\"},"
        "{\"Sid\":\"xacct-publish-\",\"Effect\":\"Deny\",\"Principal\":\"*\","
        "\"Action\":\"SNS:Subscribe\",\"Resource\":\"" TOPIC "\"},"
        "{\"Sid\":\"xacct-publish-1\",\"Effect\":\"Allow\","
        "\"Principal\":{\"AWS\":\"arn:aws:iam::333333333333:root\"},"
        "\"Action\":\"SNS:Publish\",\"Resource\":\"" TOPIC "\"}]}";
    const char *one[] = {"123456789012"};
    xacct_topic_policy_t p;
    assert_int_equal(xacct_topic_policy_render(doc, TOPIC, one, 1, &p), 0);
    json_t *out = json_loads(p.document, 0, NULL);
    assert_non_null(out);
    assert_int_equal(json_array_size(json_object_get(out, "Statement")), 3);
    assert_non_null(statement_by_sid(out, "xacct-publish-legacy"));
    assert_non_null(statement_by_sid(out, "xacct-publish-"));
    assert_null(strstr(p.document, "333333333333"));
    assert_non_null(strstr(p.document, "arn:aws:iam::123456789012:root"));
    json_decref(out);
    xacct_topic_policy_destroy(&p);
    char **got;
    size_t n;
    assert_int_equal(xacct_topic_policy_accounts(doc, &got, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(got[0], "333333333333");
    xacct_topic_policy_accounts_free(got, n);
}

static void test_never_an_empty_statement_list(void **state)
{
    (void)state;
    /* The last account leaves a topic whose policy held only managed
     * statements: SNS refuses "Statement":[], so the owner stand-in is
     * written, and it is no allowed account. */
    const char *doc = "{\"Version\":\"2008-10-17\",\"Statement\":["
                      "{\"Sid\":\"xacct-publish-1\",\"Effect\":\"Allow\","
                      "\"Principal\":{\"AWS\":\"arn:aws:iam::333333333333:root\"},"
                      "\"Action\":\"SNS:Publish\",\"Resource\":\"" TOPIC "\"}]}";
    xacct_topic_policy_t p;
    assert_int_equal(xacct_topic_policy_render(doc, TOPIC, NULL, 0, &p), 0);
    assert_int_equal(p.statements, 1);
    assert_int_equal(p.managed, 0);
    assert_true(p.fits);
    json_t *out = json_loads(p.document, 0, NULL);
    json_t *st = statement_by_sid(out, XACCT_TOPIC_POLICY_OWNER_SID);
    assert_non_null(st);
    assert_string_equal(json_string_value(json_object_get(json_object_get(st, "Principal"), "AWS")),
                        "arn:aws:iam::" OWNER ":root");
    json_decref(out);
    char **got;
    size_t n;
    assert_int_equal(xacct_topic_policy_accounts(p.document, &got, &n), 0);
    assert_int_equal(n, 0);
    xacct_topic_policy_accounts_free(got, n);

    /* An account joins again: the stand-in goes. */
    const char *one[] = {"123456789012"};
    xacct_topic_policy_t q;
    assert_int_equal(xacct_topic_policy_render(p.document, TOPIC, one, 1, &q), 0);
    assert_int_equal(q.statements, 1);
    assert_int_equal(q.managed, 1);
    assert_null(strstr(q.document, XACCT_TOPIC_POLICY_OWNER_SID));
    xacct_topic_policy_destroy(&q);
    xacct_topic_policy_destroy(&p);

    /* From nothing, with nothing: still one statement. */
    assert_int_equal(xacct_topic_policy_render(NULL, TOPIC, NULL, 0, &p), 0);
    assert_int_equal(p.statements, 1);
    xacct_topic_policy_destroy(&p);
}

static void test_rejects_bad_input(void **state)
{
    (void)state;
    const char *bad_acct[] = {"12345"};
    const char *ok[] = {"123456789012"};
    xacct_topic_policy_t p;
    assert_int_equal(xacct_topic_policy_render(NULL, TOPIC, bad_acct, 1, &p), XACCT_EINVAL);
    assert_null(p.document);
    assert_int_equal(xacct_topic_policy_render(NULL, "arn:aws:sqs:us-east-1:111111111111:q", ok, 1, &p),
                     XACCT_EINVAL);
    assert_int_equal(xacct_topic_policy_render(NULL, "not an arn", ok, 1, &p), XACCT_EINVAL);
    assert_int_equal(xacct_topic_policy_render("[1,2]", TOPIC, ok, 1, &p), XACCT_EPARSE);
    assert_int_equal(xacct_topic_policy_render("{\"Statement\":3}", TOPIC, ok, 1, &p), XACCT_EPARSE);
    assert_int_equal(xacct_topic_policy_render("{not json", TOPIC, ok, 1, &p), XACCT_EPARSE);
    char **got;
    size_t n;
    assert_int_equal(xacct_topic_policy_accounts("nope", &got, &n), XACCT_EPARSE);
    assert_null(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adds_managed_and_keeps_others),
        cmocka_unit_test(test_replaces_old_managed_statements),
        cmocka_unit_test(test_200_principals_per_statement),
        cmocka_unit_test(test_size_quota),
        cmocka_unit_test(test_statement_quota),
        cmocka_unit_test(test_partition_and_single_statement),
        cmocka_unit_test(test_only_numbered_sids_are_managed),
        cmocka_unit_test(test_never_an_empty_statement_list),
        cmocka_unit_test(test_rejects_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
