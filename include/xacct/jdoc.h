/* SPDX-License-Identifier: MIT */
/*
 * A read-only JSON document for the receive path (SQS answers, SNS envelopes,
 * CloudFormation requests): yajl's parse events built into one arena, so a
 * message's three JSON layers cost one pass and a few allocations each
 * instead of a node, a hash table and a string copy per value (jansson). It
 * is as strict as the jansson reading it replaces: one value, no comments or
 * trailing text, duplicate keys rejected in every object, every string and
 * key valid UTF-8 (shortest forms, no surrogates) without NUL, nesting at
 * most XACCT_JDOC_MAX_DEPTH. Documents are built with jansson.
 */
#ifndef XACCT_JDOC_H
#define XACCT_JDOC_H

#include <stdbool.h>
#include <stddef.h>

#include "xacct/common.h"

#define XACCT_JDOC_MAX_DEPTH 128

typedef struct xacct_jdoc xacct_jdoc_t;
typedef struct xacct_jval xacct_jval_t;

typedef enum {
    XACCT_JDOC_NONE = 0, /* what the accessors report for a NULL value */
    XACCT_JDOC_NULL,
    XACCT_JDOC_FALSE,
    XACCT_JDOC_TRUE,
    XACCT_JDOC_NUMBER,
    XACCT_JDOC_STRING,
    XACCT_JDOC_ARRAY,
    XACCT_JDOC_OBJECT,
} xacct_jdoc_type_t;

/* Parses text (len bytes, no NUL needed) into *out, which the caller frees
 * with xacct_jdoc_free. Returns 0 or XACCT_EPARSE (*out NULL then). */
int xacct_jdoc_parse(const char *text, size_t len, xacct_jdoc_t **out) XACCT_MUSTCHECK;
void xacct_jdoc_free(xacct_jdoc_t *doc);
/* xacct_jdoc_parse for a document whose top-level value must be an object:
 * *root that object. Returns 0, or XACCT_EPARSE (not JSON, or not an object)
 * with *out and *root NULL. */
int xacct_jdoc_parse_object(const char *text, size_t len, xacct_jdoc_t **out,
                            const xacct_jval_t **root) XACCT_MUSTCHECK;

/* The top-level value; borrowed, like every value below, from doc. */
const xacct_jval_t *xacct_jdoc_root(const xacct_jdoc_t *doc);

/* Every accessor takes NULL and answers as for a missing value. */
xacct_jdoc_type_t xacct_jval_type(const xacct_jval_t *v);
/* The member of object obj named key; NULL when obj is not an object or has
 * no such member. */
const xacct_jval_t *xacct_jval_get(const xacct_jval_t *obj, const char *key);
/* A string's text (NUL-terminated, *len its length when len is not NULL);
 * NULL unless v is a string. */
const char *xacct_jval_string(const xacct_jval_t *v, size_t *len);
/* A number's text as it appeared (e.g. "30", "-1.5e3"); NULL unless v is a
 * number. */
const char *xacct_jval_number(const xacct_jval_t *v);
/* Members of an object, elements of an array, in document order: the first
 * (NULL when empty or not a container), then each next. */
const xacct_jval_t *xacct_jval_first(const xacct_jval_t *container);
const xacct_jval_t *xacct_jval_next(const xacct_jval_t *v);
/* Elements of an array or members of an object; 0 for anything else. */
size_t xacct_jval_count(const xacct_jval_t *container);
/* The key of an object member (NULL for array elements and the root). */
const char *xacct_jval_key(const xacct_jval_t *member);

#endif
