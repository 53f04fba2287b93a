/* SPDX-License-Identifier: MIT */
/*
 * Growable buffer with a hard cap: every buffer filled from the network has a
 * limit, so a hostile peer cannot make us allocate without bound. A buffer
 * does not know whether it holds a secret (a response body may carry
 * credentials, a form an external ID), so storage is always wiped before it
 * is given back: on growth and on destroy.
 */
#include "xacct/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void xacct_buf_init(xacct_buf_t *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max ? max : XACCT_BUF_DEFAULT_MAX;
}

void xacct_buf_destroy(xacct_buf_t *b)
{
    xacct_freezero(b->data, b->cap);
    b->data = NULL;
    b->len = b->cap = 0;
}

void xacct_buf_destroy_secret(xacct_buf_t *b)
{
    xacct_buf_destroy(b);
}

void xacct_buf_reset(xacct_buf_t *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

static int reserve(xacct_buf_t *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return XACCT_ETOOBIG;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    /* Not realloc: it would leave the old copy behind, unwiped. */
    char *grown = xacct_malloc(cap);
    if (b->data != NULL) {
        memcpy(grown, b->data, b->len + 1);
        xacct_freezero(b->data, b->cap);
    }
    b->data = grown;
    b->cap = cap;
    return 0;
}

int xacct_buf_append(xacct_buf_t *b, const void *p, size_t n)
{
    int rc = reserve(b, n);
    if (rc != 0)
        return rc;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int xacct_buf_puts(xacct_buf_t *b, const char *s)
{
    return xacct_buf_append(b, s, strlen(s));
}

int xacct_buf_putc(xacct_buf_t *b, char c)
{
    return xacct_buf_append(b, &c, 1);
}

/* One formatting pass when the result fits in the room already allocated
 * (the common case for a buffer being filled); a second one only after
 * growing. */
int xacct_buf_vprintf(xacct_buf_t *b, const char *fmt, va_list ap)
{
    va_list ap2;
    size_t room = b->cap > b->len ? b->cap - b->len : 0;

    va_copy(ap2, ap);
    int n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        if (b->data != NULL)
            b->data[b->len] = '\0';
        return XACCT_EINVAL;
    }
    if ((size_t)n < room && (size_t)n <= b->max - b->len) {
        b->len += (size_t)n;
        return 0;
    }
    if (b->data != NULL)
        b->data[b->len] = '\0'; /* undo a truncated attempt */
    int rc = reserve(b, (size_t)n);
    if (rc != 0)
        return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int xacct_buf_printf(xacct_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = xacct_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *xacct_buf_steal(xacct_buf_t *b)
{
    char *p = b->data ? b->data : xacct_strdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
