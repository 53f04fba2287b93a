/* SPDX-License-Identifier: MIT */
/*
 * The read-only JSON document: yajl lexes and parses, and its events append
 * values to a tree whose nodes and text live in one arena (a few chunks,
 * freed together). The checks jansson made and yajl does not are made here:
 * white space as JSON defines it, duplicate keys (when an object closes:
 * pairwise when small, after sorting when large, so a crafted object cannot
 * make it quadratic), paired surrogate escapes, strict UTF-8 without NUL in
 * every decoded string and key, numbers that fit 64-bit integers or doubles,
 * and a nesting limit. fuzz/fuzz_jdoc.c holds it to jansson's verdicts.
 */
#include "xacct/jdoc.h"
#include "xacct/hex.h"
#include "xacct/utf8.h"

#include <errno.h>
#include <math.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

struct xacct_jval {
    const char *key;   /* member key in the arena, NUL-terminated; NULL otherwise */
    size_t key_len;
    const char *text;  /* a string's or number's text in the arena */
    size_t len;        /* its length; for a container, its count of values */
    xacct_jval_t *first, *last, *next;
    unsigned char type; /* xacct_jdoc_type_t */
};

typedef struct chunk {
    struct chunk *next;
    size_t cap, used;
    alignas(max_align_t) unsigned char data[];
} chunk_t;

/* Objects up to this many members are checked for duplicates pairwise. */
#define SMALL_OBJECT 8

struct xacct_jdoc {
    chunk_t *chunks;
    xacct_jval_t *root;
    /* parse state, unused once the document is built */
    const char *text;
    size_t text_len;
    yajl_handle yajl;
    bool finishing;   /* in yajl_complete_parse: the text has all been read */
    size_t root_end;  /* where the top-level value ended in text */
    size_t last_end;  /* where the latest event's token ended in text */
    xacct_jval_t *open[XACCT_JDOC_MAX_DEPTH];
    int depth;
    const char *key;
    size_t key_len;
    const xacct_jval_t **sorted; /* scratch for large objects' keys */
    size_t sorted_cap;
};

static chunk_t *chunk_push(xacct_jdoc_t *doc, size_t cap)
{
    chunk_t *c = xacct_malloc(sizeof(*c) + cap);
    c->next = doc->chunks;
    c->cap = cap;
    c->used = 0;
    doc->chunks = c;
    return c;
}

static void *arena_alloc(xacct_jdoc_t *doc, size_t n)
{
    n = (n + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
    chunk_t *c = doc->chunks;
    if (c->cap - c->used < n)
        c = chunk_push(doc, 2 * c->cap > n ? 2 * c->cap : n);
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

static const char *arena_text(xacct_jdoc_t *doc, const unsigned char *s, size_t len)
{
    char *t = arena_alloc(doc, len + 1);
    memcpy(t, s, len);
    t[len] = '\0';
    return t;
}

static int key_cmp(const xacct_jval_t *a, const xacct_jval_t *b)
{
    if (a->key_len != b->key_len)
        return a->key_len < b->key_len ? -1 : 1;
    return memcmp(a->key, b->key, a->key_len);
}

static int key_qsort_cmp(const void *a, const void *b)
{
    return key_cmp(*(const xacct_jval_t *const *)a, *(const xacct_jval_t *const *)b);
}

static bool has_duplicate_keys(xacct_jdoc_t *doc, const xacct_jval_t *obj)
{
    if (obj->len <= SMALL_OBJECT) {
        for (const xacct_jval_t *a = obj->first; a != NULL; a = a->next)
            for (const xacct_jval_t *b = a->next; b != NULL; b = b->next)
                if (key_cmp(a, b) == 0)
                    return true;
        return false;
    }
    if (doc->sorted_cap < obj->len) {
        free(doc->sorted);
        doc->sorted = xacct_calloc(obj->len, sizeof(*doc->sorted));
        doc->sorted_cap = obj->len;
    }
    size_t n = 0;
    for (const xacct_jval_t *m = obj->first; m != NULL; m = m->next)
        doc->sorted[n++] = m;
    qsort(doc->sorted, n, sizeof(*doc->sorted), key_qsort_cmp);
    for (size_t i = 1; i < n; i++)
        if (key_cmp(doc->sorted[i - 1], doc->sorted[i]) == 0)
            return true;
    return false;
}

/* Appends a new value to the open container (or makes it the root). */
static xacct_jval_t *add(xacct_jdoc_t *doc, xacct_jdoc_type_t type)
{
    xacct_jval_t *v = arena_alloc(doc, sizeof(*v));
    memset(v, 0, sizeof(*v));
    v->type = (unsigned char)type;
    if (doc->depth == 0) {
        doc->root = v;
        return v;
    }
    xacct_jval_t *parent = doc->open[doc->depth - 1];
    if (parent->type == XACCT_JDOC_OBJECT) {
        v->key = doc->key;
        v->key_len = doc->key_len;
        doc->key = NULL;
    }
    if (parent->last != NULL)
        parent->last->next = v;
    else
        parent->first = v;
    parent->last = v;
    parent->len++;
    return v;
}

/* Notes where the top-level value ended, once it has. yajl accepts text
 * after it when that text is an unfinished token (an unclosed string, half
 * a literal); what follows the value is checked to be white space instead. */
static int token_done(xacct_jdoc_t *doc)
{
    doc->last_end = doc->finishing ? doc->text_len : yajl_get_bytes_consumed(doc->yajl);
    return 1;
}

static int value_done(xacct_jdoc_t *doc)
{
    token_done(doc);
    if (doc->depth == 0)
        doc->root_end = doc->last_end;
    return 1;
}

static int on_null(void *ctx)
{
    add(ctx, XACCT_JDOC_NULL);
    return value_done(ctx);
}

static int on_boolean(void *ctx, int b)
{
    add(ctx, b ? XACCT_JDOC_TRUE : XACCT_JDOC_FALSE);
    return value_done(ctx);
}

/* Numbers jansson could not hold are malformed, as they were for it: an
 * integer beyond 64 bits, a real beyond a double. */
static bool number_fits(const char *text)
{
    char *end = NULL;
    errno = 0;
    if (strpbrk(text, ".eE") == NULL)
        (void)strtoll(text, &end, 10);
    else if (fabs(strtod(text, &end)) != HUGE_VAL)
        errno = 0; /* underflow to zero is accepted */
    return errno != ERANGE && end != text && *end == '\0';
}

static int on_number(void *ctx, const char *s, size_t len)
{
    const char *text = arena_text(ctx, (const unsigned char *)s, len);
    if (!number_fits(text))
        return 0;
    xacct_jval_t *v = add(ctx, XACCT_JDOC_NUMBER);
    v->text = text;
    v->len = len;
    return value_done(ctx);
}

/* yajl decodes a high surrogate escape not followed by a low one into '?'
 * or a wrong character, and a lone low one into bytes that are not UTF-8;
 * jansson rejected both. So when a string had escapes (yajl then hands over
 * its decoding buffer instead of a pointer into the text), its raw token is
 * checked for unpaired surrogate escapes: it opens at the first quote after
 * where the previous event ended (only white space, ':' ',' '[' '{' lie
 * between tokens) and ends where yajl stopped, after its closing quote.
 * yajl has checked every escape's shape. */
static bool surrogates_paired(const xacct_jdoc_t *doc, const unsigned char *decoded)
{
    const char *d = (const char *)decoded;
    if (d >= doc->text && d < doc->text + doc->text_len)
        return true;
    const char *end = doc->text + yajl_get_bytes_consumed(doc->yajl) - 1; /* closing quote */
    const char *from = doc->text + doc->last_end;
    const char *p = memchr(from, '"', (size_t)(end - from));
    const char *low_at = NULL; /* where the low half of a pair must be */
    while (p != NULL && (p = memchr(p + 1, '\\', (size_t)(end - p - 1))) != NULL) {
        unsigned cp = 0;
        if (p[1] == 'u')
            for (int i = 2; i < 6; i++)
                cp = cp << 4 | (unsigned)xacct_hex_digit(p[i]);
        bool low = cp >= 0xDC00 && cp <= 0xDFFF;
        if (low_at != NULL ? p != low_at || !low : low)
            return false;
        low_at = cp >= 0xD800 && cp <= 0xDBFF ? p + 6 : NULL;
        p += p[1] == 'u' ? 5 : 1; /* onto the escape's last character */
    }
    return low_at == NULL;
}

static int on_string(void *ctx, const unsigned char *s, size_t len)
{
    if (!xacct_utf8_valid((const char *)s, len) || !surrogates_paired(ctx, s))
        return 0;
    xacct_jval_t *v = add(ctx, XACCT_JDOC_STRING);
    v->text = arena_text(ctx, s, len);
    v->len = len;
    return value_done(ctx);
}

static int on_key(void *ctx, const unsigned char *s, size_t len)
{
    xacct_jdoc_t *doc = ctx;
    if (!xacct_utf8_valid((const char *)s, len) || !surrogates_paired(doc, s))
        return 0;
    doc->key = arena_text(doc, s, len);
    doc->key_len = len;
    return token_done(doc);
}

static int open_container(xacct_jdoc_t *doc, xacct_jdoc_type_t type)
{
    if (doc->depth == XACCT_JDOC_MAX_DEPTH)
        return 0;
    xacct_jval_t *v = add(doc, type);
    doc->open[doc->depth++] = v;
    return token_done(doc);
}

static int on_start_map(void *ctx)
{
    return open_container(ctx, XACCT_JDOC_OBJECT);
}

static int on_end_map(void *ctx)
{
    xacct_jdoc_t *doc = ctx;
    if (has_duplicate_keys(doc, doc->open[--doc->depth]))
        return 0;
    return value_done(doc);
}

static int on_start_array(void *ctx)
{
    return open_container(ctx, XACCT_JDOC_ARRAY);
}

static int on_end_array(void *ctx)
{
    xacct_jdoc_t *doc = ctx;
    doc->depth--;
    return value_done(doc);
}

/* yajl allocates through the project's wrappers, which never return NULL. */
static void *yajl_malloc_cb(void *ctx, size_t n)
{
    (void)ctx;
    return xacct_malloc(n);
}

static void *yajl_realloc_cb(void *ctx, void *p, size_t n)
{
    (void)ctx;
    return xacct_realloc(p, n);
}

static void yajl_free_cb(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

static yajl_alloc_funcs allocs = {yajl_malloc_cb, yajl_realloc_cb, yajl_free_cb, NULL};

static const yajl_callbacks callbacks = {
    .yajl_null = on_null,
    .yajl_boolean = on_boolean,
    .yajl_number = on_number,
    .yajl_string = on_string,
    .yajl_start_map = on_start_map,
    .yajl_map_key = on_key,
    .yajl_end_map = on_end_map,
    .yajl_start_array = on_start_array,
    .yajl_end_array = on_end_array,
};

static bool only_white_space(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return false;
    return true;
}

int xacct_jdoc_parse(const char *text, size_t len, xacct_jdoc_t **out)
{
    *out = NULL;
    /* yajl takes vertical tab and form feed for white space; JSON does not,
     * and inside strings no control character is allowed either. */
    if (memchr(text, '\v', len) != NULL || memchr(text, '\f', len) != NULL)
        return XACCT_EPARSE;
    xacct_jdoc_t *doc = xacct_calloc(1, sizeof(*doc));
    /* One chunk holds a typical document: its text plus the nodes. */
    chunk_push(doc, len + 1024);
    doc->text = text;
    doc->text_len = len;
    doc->yajl = yajl_alloc(&callbacks, &allocs, doc);
    bool ok = yajl_parse(doc->yajl, (const unsigned char *)text, len) == yajl_status_ok;
    doc->finishing = true;
    ok = ok && yajl_complete_parse(doc->yajl) == yajl_status_ok && doc->root != NULL &&
         only_white_space(text + doc->root_end, len - doc->root_end);
    yajl_free(doc->yajl);
    doc->yajl = NULL;
    free(doc->sorted);
    doc->sorted = NULL;
    doc->sorted_cap = 0;
    if (!ok) {
        xacct_jdoc_free(doc);
        return XACCT_EPARSE;
    }
    *out = doc;
    return 0;
}

int xacct_jdoc_parse_object(const char *text, size_t len, xacct_jdoc_t **out,
                            const xacct_jval_t **root)
{
    *root = NULL;
    int rc = xacct_jdoc_parse(text, len, out);
    if (rc != 0)
        return rc;
    if (xacct_jval_type(xacct_jdoc_root(*out)) != XACCT_JDOC_OBJECT) {
        xacct_jdoc_free(*out);
        *out = NULL;
        return XACCT_EPARSE;
    }
    *root = xacct_jdoc_root(*out);
    return 0;
}

void xacct_jdoc_free(xacct_jdoc_t *doc)
{
    if (doc == NULL)
        return;
    for (chunk_t *c = doc->chunks, *next; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    free(doc->sorted);
    free(doc);
}

const xacct_jval_t *xacct_jdoc_root(const xacct_jdoc_t *doc)
{
    return doc == NULL ? NULL : doc->root;
}

xacct_jdoc_type_t xacct_jval_type(const xacct_jval_t *v)
{
    return v == NULL ? XACCT_JDOC_NONE : (xacct_jdoc_type_t)v->type;
}

const xacct_jval_t *xacct_jval_get(const xacct_jval_t *obj, const char *key)
{
    if (obj == NULL || obj->type != XACCT_JDOC_OBJECT)
        return NULL;
    size_t n = strlen(key);
    for (const xacct_jval_t *m = obj->first; m != NULL; m = m->next)
        if (m->key_len == n && memcmp(m->key, key, n) == 0)
            return m;
    return NULL;
}

const char *xacct_jval_string(const xacct_jval_t *v, size_t *len)
{
    if (v == NULL || v->type != XACCT_JDOC_STRING)
        return NULL;
    if (len != NULL)
        *len = v->len;
    return v->text;
}

const char *xacct_jval_number(const xacct_jval_t *v)
{
    return v != NULL && v->type == XACCT_JDOC_NUMBER ? v->text : NULL;
}

const xacct_jval_t *xacct_jval_first(const xacct_jval_t *container)
{
    if (container == NULL ||
        (container->type != XACCT_JDOC_ARRAY && container->type != XACCT_JDOC_OBJECT))
        return NULL;
    return container->first;
}

const xacct_jval_t *xacct_jval_next(const xacct_jval_t *v)
{
    return v == NULL ? NULL : v->next;
}

size_t xacct_jval_count(const xacct_jval_t *container)
{
    if (container == NULL ||
        (container->type != XACCT_JDOC_ARRAY && container->type != XACCT_JDOC_OBJECT))
        return 0;
    return container->len;
}

const char *xacct_jval_key(const xacct_jval_t *member)
{
    return member == NULL ? NULL : member->key;
}
