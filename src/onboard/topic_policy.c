/* SPDX-License-Identifier: MIT */
/*
 * Rewrites the managed publish statements of an SNS topic policy. The
 * current document is parsed with jansson, its xacct-publish-* statements are
 * dropped, the others kept in order, and new managed statements are appended
 * with the sorted, de-duplicated accounts, 200 per statement. The result is
 * serialised compactly, which is how its size is measured against SNS's
 * 30 KB quota.
 */
#include "xacct/topic_policy.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/arn.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A managed statement's Sid is exactly xacct-publish-<n>: an operator's
 * own "xacct-publish-legacy" is another statement, kept like the rest. */
static bool is_managed(json_t *st)
{
    const char *sid = json_is_object(st) ? json_string_value(json_object_get(st, "Sid")) : NULL;
    size_t plen = strlen(XACCT_TOPIC_POLICY_SID_PREFIX);
    if (sid == NULL || strncmp(sid, XACCT_TOPIC_POLICY_SID_PREFIX, plen) != 0)
        return false;
    const char *n = sid + plen;
    if (*n < '1' || *n > '9')
        return false;
    while (*n >= '0' && *n <= '9')
        n++;
    return *n == '\0';
}

/* The stand-in written when nothing else is left (topic_policy.h). */
static bool is_owner_stand_in(json_t *st)
{
    const char *sid = json_is_object(st) ? json_string_value(json_object_get(st, "Sid")) : NULL;
    return sid != NULL && strcmp(sid, XACCT_TOPIC_POLICY_OWNER_SID) == 0;
}

/* The current document, or a fresh one; its Statement as an array. */
static int load_current(const char *current, json_t **doc_out, json_t **stmts_out)
{
    json_t *doc;
    if (current == NULL || *current == '\0') {
        doc = json_pack("{s:s, s:[]}", "Version", "2008-10-17", "Statement");
    } else {
        doc = json_loads(current, JSON_REJECT_DUPLICATES, NULL);
        if (doc == NULL || !json_is_object(doc)) {
            json_decref(doc);
            return XACCT_EPARSE;
        }
    }
    if (doc == NULL)
        return XACCT_ENOMEM;
    json_t *st = json_object_get(doc, "Statement");
    json_t *arr;
    if (st == NULL) {
        arr = json_array();
    } else if (json_is_array(st)) {
        arr = json_incref(st);
    } else if (json_is_object(st)) {
        arr = json_array();
        json_array_append(arr, st);
    } else {
        json_decref(doc);
        return XACCT_EPARSE;
    }
    *doc_out = doc;
    *stmts_out = arr;
    return 0;
}

int xacct_topic_policy_render(const char *current, const char *topic_arn,
                              const char *const *accounts, size_t n, xacct_topic_policy_t *out)
{
    memset(out, 0, sizeof(*out));
    out->why = "";
    xacct_arn_t arn;
    if (topic_arn == NULL || xacct_arn_parse(topic_arn, &arn) != 0 ||
        strcmp(arn.service, "sns") != 0 || (n > 0 && accounts == NULL))
        return XACCT_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!xacct_account_id_valid(accounts[i]))
            return XACCT_EINVAL;

    json_t *orig = NULL, *doc = NULL, *stmts = NULL, *kept = NULL;
    const char **sorted = NULL;
    int rc = load_current(current, &doc, &stmts);
    if (rc != 0)
        return rc;
    if (current != NULL && *current != '\0')
        orig = json_deep_copy(doc);

    kept = json_array();
    size_t i;
    json_t *st;
    json_array_foreach(stmts, i, st) {
        if (!is_managed(st) && !is_owner_stand_in(st))
            json_array_append(kept, st);
    }

    sorted = xacct_calloc(n ? n : 1, sizeof(*sorted));
    for (i = 0; i < n; i++)
        sorted[i] = accounts[i];
    if (n > 1)
        qsort(sorted, n, sizeof(*sorted), cmp_str);
    size_t distinct = 0;
    for (i = 0; i < n; i++)
        if (distinct == 0 || strcmp(sorted[distinct - 1], sorted[i]) != 0)
            sorted[distinct++] = sorted[i];

    size_t managed = 0;
    for (size_t first = 0; first < distinct; first += XACCT_TOPIC_POLICY_MAX_PRINCIPALS) {
        size_t last = first + XACCT_TOPIC_POLICY_MAX_PRINCIPALS;
        if (last > distinct)
            last = distinct;
        json_t *principals = json_array();
        for (size_t k = first; k < last; k++) {
            char *p = xacct_asprintf("arn:%s:iam::%s:root", arn.partition, sorted[k]);
            json_array_append_new(principals, json_string(p));
            free(p);
        }
        char sid[64];
        snprintf(sid, sizeof(sid), "%s%zu", XACCT_TOPIC_POLICY_SID_PREFIX, ++managed);
        json_array_append_new(kept, json_pack("{s:s, s:s, s:{s:o}, s:s, s:s}", "Sid", sid,
                                              "Effect", "Allow", "Principal", "AWS", principals,
                                              "Action", "SNS:Publish", "Resource", topic_arn));
    }
    if (json_array_size(kept) == 0) {
        char *owner = xacct_asprintf("arn:%s:iam::%s:root", arn.partition, arn.account);
        json_array_append_new(kept, json_pack("{s:s, s:s, s:{s:s}, s:s, s:s}", "Sid",
                                              XACCT_TOPIC_POLICY_OWNER_SID, "Effect", "Allow",
                                              "Principal", "AWS", owner, "Action",
                                              "SNS:Publish", "Resource", topic_arn));
        free(owner);
    }
    json_object_set(doc, "Statement", kept);
    if (json_object_get(doc, "Version") == NULL)
        json_object_set_new(doc, "Version", json_string("2008-10-17"));

    char *text = json_dumps(doc, JSON_COMPACT);
    if (text == NULL) {
        rc = XACCT_ENOMEM;
        goto out;
    }
    out->document = xacct_strdup(text);
    free(text);
    out->bytes = strlen(out->document);
    out->statements = json_array_size(kept);
    out->managed = managed;
    out->accounts = distinct;
    out->changed = orig == NULL || !json_equal(orig, doc);
    if (out->statements > XACCT_TOPIC_POLICY_MAX_STATEMENTS)
        out->why = "more than 100 statements";
    else if (out->bytes > XACCT_TOPIC_POLICY_MAX_BYTES)
        out->why = "larger than 30 KB";
    out->fits = out->why[0] == '\0';
out:
    free(sorted);
    json_decref(kept);
    json_decref(stmts);
    json_decref(doc);
    json_decref(orig);
    return rc;
}

void xacct_topic_policy_destroy(xacct_topic_policy_t *p)
{
    if (p == NULL)
        return;
    free(p->document);
    p->document = NULL;
}

/* "123456789012" or "arn:<partition>:iam::123456789012:root" -> the account. */
static const char *principal_account(const char *p, xacct_arn_t *tmp)
{
    if (xacct_account_id_valid(p))
        return p;
    if (xacct_arn_parse(p, tmp) != 0 || strcmp(tmp->service, "iam") != 0 ||
        strcmp(tmp->resource, "root") != 0 || !xacct_account_id_valid(tmp->account))
        return NULL;
    return tmp->account;
}

int xacct_topic_policy_accounts(const char *document, char ***accounts, size_t *n)
{
    *accounts = NULL;
    *n = 0;
    json_t *doc = NULL, *stmts = NULL;
    int rc = load_current(document, &doc, &stmts);
    if (rc != 0)
        return rc;
    size_t cap = 0, count = 0;
    char **list = NULL;
    size_t i;
    json_t *st;
    xacct_arn_t tmp;
    json_array_foreach(stmts, i, st) {
        if (!is_managed(st))
            continue;
        json_t *aws = json_object_get(json_object_get(st, "Principal"), "AWS");
        json_t *one = json_is_string(aws) ? aws : NULL;
        size_t m = one ? 1 : json_array_size(aws);
        for (size_t k = 0; k < m; k++) {
            const char *p = json_string_value(one ? one : json_array_get(aws, k));
            const char *acct = p ? principal_account(p, &tmp) : NULL;
            if (acct == NULL)
                continue;
            if (count == cap) {
                cap = cap ? cap * 2 : 64;
                list = xacct_realloc(list, cap * sizeof(*list));
            }
            list[count++] = xacct_strdup(acct);
        }
    }
    json_decref(stmts);
    json_decref(doc);
    if (count > 1)
        qsort(list, count, sizeof(*list), cmp_str);
    size_t distinct = 0;
    for (i = 0; i < count; i++) {
        if (distinct > 0 && strcmp(list[distinct - 1], list[i]) == 0)
            free(list[i]);
        else
            list[distinct++] = list[i];
    }
    *accounts = list;
    *n = distinct;
    return 0;
}

void xacct_topic_policy_accounts_free(char **accounts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(accounts[i]);
    free(accounts);
}
