/* SPDX-License-Identifier: MIT */
/*
 * What goes into a Redis command and comes out of it, independent of the
 * connection: argument lists (copied, bounded, wiped on destroy), the key
 * prefix applied to names, reply accessors, and the timestamps written into
 * customer and claim hashes.
 */
#include "xacct/store.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void xacct_store_args_init(xacct_store_args_t *a)
{
    memset(a, 0, sizeof(*a));
}

void xacct_store_args_destroy(xacct_store_args_t *a)
{
    xacct_freezero(a->_buf, a->_size);
    free(a->v);
    free(a->len);
    memset(a, 0, sizeof(*a));
}

/* Room for n more bytes in the one buffer all copies live in; a move
 * rebases every v[i] (the old storage is wiped: arguments may be secret). */
static void args_reserve(xacct_store_args_t *a, size_t n)
{
    if (a->_size - a->_used >= n)
        return;
    size_t size = a->_size ? a->_size : 256;
    while (size - a->_used < n)
        size *= 2;
    char *buf = xacct_malloc(size);
    if (a->_used > 0)
        memcpy(buf, a->_buf, a->_used);
    for (int i = 0; i < a->argc; i++)
        a->v[i] = buf + (a->v[i] - a->_buf);
    xacct_freezero(a->_buf, a->_size);
    a->_buf = buf;
    a->_size = size;
}

void xacct_store_args_add(xacct_store_args_t *a, const void *p, size_t n)
{
    if (a->err != 0)
        return;
    if (a->argc >= XACCT_STORE_MAX_ARGS || n > XACCT_STORE_MAX_ARG_BYTES - a->bytes) {
        a->err = XACCT_ETOOBIG;
        return;
    }
    if (a->argc == a->cap) {
        int cap = a->cap ? a->cap * 2 : 8;
        a->v = xacct_realloc(a->v, (size_t)cap * sizeof(*a->v));
        a->len = xacct_realloc(a->len, (size_t)cap * sizeof(*a->len));
        a->cap = cap;
    }
    args_reserve(a, n + 1);
    char *copy = a->_buf + a->_used;
    if (n > 0)
        memcpy(copy, p, n);
    copy[n] = '\0';
    a->_used += n + 1;
    a->v[a->argc] = copy;
    a->len[a->argc] = n;
    a->argc++;
    a->bytes += n;
}

void xacct_store_args_str(xacct_store_args_t *a, const char *s)
{
    if (s == NULL)
        s = "";
    xacct_store_args_add(a, s, strlen(s));
}

void xacct_store_args_ll(xacct_store_args_t *a, long long v)
{
    /* In decimal, as "%lld" writes it: every command carries a few. */
    char tmp[24];
    char *p = tmp + sizeof(tmp);
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u > 0);
    if (v < 0)
        *--p = '-';
    xacct_store_args_add(a, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* The prefix and the formatted text go through a stack buffer in one
 * formatting pass when they fit (keys and counters do); longer ones are
 * measured and formatted into the heap. Either copy is wiped: an argument
 * may be a secret. */
static void args_vfmt(xacct_store_args_t *a, const char *pre, const char *fmt, va_list ap)
{
    char stack[256];
    size_t pl = strlen(pre);
    va_list ap2;
    int n;

    va_copy(ap2, ap);
    if (pl < sizeof(stack)) {
        memcpy(stack, pre, pl);
        n = vsnprintf(stack + pl, sizeof(stack) - pl, fmt, ap2);
    } else {
        n = vsnprintf(NULL, 0, fmt, ap2);
    }
    va_end(ap2);
    if (n < 0) {
        if (a->err == 0)
            a->err = XACCT_EINVAL;
        return;
    }
    size_t total = pl + (size_t)n;
    if (total < sizeof(stack)) {
        xacct_store_args_add(a, stack, total);
        OPENSSL_cleanse(stack, total);
        return;
    }
    if (pl < sizeof(stack))
        OPENSSL_cleanse(stack, sizeof(stack));
    char *tmp = xacct_malloc(total + 1);
    memcpy(tmp, pre, pl);
    vsnprintf(tmp + pl, (size_t)n + 1, fmt, ap);
    xacct_store_args_add(a, tmp, total);
    xacct_freezero(tmp, total + 1);
}

void xacct_store_args_fmt(xacct_store_args_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    args_vfmt(a, "", fmt, ap);
    va_end(ap);
}

void xacct_store_args_key(xacct_store_args_t *a, const xacct_store_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    args_vfmt(a, xacct_store_prefix(s), fmt, ap);
    va_end(ap);
}

int xacct_store_reply_is(const xacct_store_reply_t *r, const char *str)
{
    if (r == NULL ||
        (r->type != XACCT_STORE_REPLY_STRING && r->type != XACCT_STORE_REPLY_STATUS))
        return 0;
    size_t n = strlen(str);
    return r->len == n && memcmp(r->str, str, n) == 0;
}

const xacct_store_reply_t *xacct_store_reply_at(const xacct_store_reply_t *r, size_t i)
{
    if (r == NULL || r->type != XACCT_STORE_REPLY_ARRAY || i >= r->elements)
        return NULL;
    return &r->element[i];
}

char *xacct_store_reply_strdup(const xacct_store_reply_t *r)
{
    if (r == NULL ||
        (r->type != XACCT_STORE_REPLY_STRING && r->type != XACCT_STORE_REPLY_STATUS))
        return xacct_strdup("");
    return xacct_strndup(r->str, r->len);
}

int xacct_store_reply_ll(const xacct_store_reply_t *r, long long *out)
{
    *out = 0;
    if (r == NULL)
        return XACCT_EPARSE;
    if (r->type == XACCT_STORE_REPLY_INTEGER) {
        *out = r->integer;
        return 0;
    }
    if (r->type != XACCT_STORE_REPLY_STRING || r->len == 0 || r->len > 20)
        return XACCT_EPARSE;
    char tmp[24];
    memcpy(tmp, r->str, r->len);
    tmp[r->len] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (*end != '\0' || errno != 0)
        return XACCT_EPARSE;
    *out = v;
    return 0;
}

int64_t xacct_store_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void xacct_store_iso8601(int64_t ms, char out[XACCT_STORE_ISO_LEN])
{
    if (ms < 0)
        ms = 0;
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char date[24];
    gmtime_r(&t, &tm);
    if (strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        date[0] = '\0';
    snprintf(out, XACCT_STORE_ISO_LEN, "%.23s.%03uZ", date, (unsigned)(ms % 1000));
}
