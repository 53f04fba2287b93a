/* SPDX-License-Identifier: MIT */
/*
 * Holds the receive path's JSON reader (src/core/jdoc.c, on yajl) to the
 * verdicts of jansson with duplicate keys rejected, the reader it replaced:
 * the same inputs accepted (except nesting deeper than jdoc's limit, and
 * NUL bytes between tokens, which jansson skips and jdoc rejects) and, when
 * both accept, the same tree — types,
 * strings byte for byte, numbers of the same kind and value, members in
 * document order.
 */
#include "fuzz_util.h"
#include "xacct/jdoc.h"

#include <jansson.h>
#include <math.h>

static int depth_of(json_t *v)
{
    int deepest = 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *m;
        json_object_foreach(v, k, m)
        {
            int d = depth_of(m);
            deepest = d > deepest ? d : deepest;
        }
        return deepest + 1;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *m;
        json_array_foreach(v, i, m)
        {
            int d = depth_of(m);
            deepest = d > deepest ? d : deepest;
        }
        return deepest + 1;
    }
    return 0;
}

static void same(const xacct_jval_t *a, json_t *j)
{
    switch (xacct_jval_type(a)) {
    case XACCT_JDOC_NULL:
        FUZZ_ASSERT(json_is_null(j));
        break;
    case XACCT_JDOC_TRUE:
        FUZZ_ASSERT(json_is_true(j));
        break;
    case XACCT_JDOC_FALSE:
        FUZZ_ASSERT(json_is_false(j));
        break;
    case XACCT_JDOC_NUMBER: {
        const char *t = xacct_jval_number(a);
        if (json_is_integer(j)) {
            FUZZ_ASSERT(strtoll(t, NULL, 10) == json_integer_value(j));
        } else {
            FUZZ_ASSERT(json_is_real(j));
            double d = strtod(t, NULL);
            FUZZ_ASSERT(d == json_real_value(j) || (isnan(d) && isnan(json_real_value(j))));
        }
        break;
    }
    case XACCT_JDOC_STRING: {
        size_t n = 0;
        const char *s = xacct_jval_string(a, &n);
        FUZZ_ASSERT(json_is_string(j) && json_string_length(j) == n &&
                    memcmp(s, json_string_value(j), n) == 0 && s[n] == '\0');
        break;
    }
    case XACCT_JDOC_ARRAY: {
        FUZZ_ASSERT(json_is_array(j) && json_array_size(j) == xacct_jval_count(a));
        size_t i = 0;
        for (const xacct_jval_t *m = xacct_jval_first(a); m != NULL; m = xacct_jval_next(m))
            same(m, json_array_get(j, i++));
        break;
    }
    case XACCT_JDOC_OBJECT: {
        FUZZ_ASSERT(json_is_object(j) && json_object_size(j) == xacct_jval_count(a));
        void *it = json_object_iter(j);
        for (const xacct_jval_t *m = xacct_jval_first(a); m != NULL; m = xacct_jval_next(m)) {
            FUZZ_ASSERT(it != NULL && strcmp(json_object_iter_key(it), xacct_jval_key(m)) == 0);
            FUZZ_ASSERT(xacct_jval_get(a, xacct_jval_key(m)) == m);
            same(m, json_object_iter_value(it));
            it = json_object_iter_next(j, it);
        }
        break;
    }
    case XACCT_JDOC_NONE:
        FUZZ_ASSERT(!"a value without a type");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xacct_jdoc_t *doc = NULL;
    int rc = xacct_jdoc_parse((const char *)data, size, &doc);
    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
                           NULL);
    if (rc == 0) {
        FUZZ_ASSERT(j != NULL);
        same(xacct_jdoc_root(doc), j);
    } else {
        FUZZ_ASSERT(doc == NULL);
        FUZZ_ASSERT(j == NULL || depth_of(j) > XACCT_JDOC_MAX_DEPTH ||
                    memchr(data, '\0', size) != NULL);
    }
    json_decref(j);
    xacct_jdoc_free(doc);
    return 0;
}
