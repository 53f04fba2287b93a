/* SPDX-License-Identifier: MIT */
/*
 * Error names and the out-of-memory policy: every allocation in xacct goes
 * through these wrappers, so the decision to abort lives in one place.
 */
#include "xacct/common.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *xacct_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
#define XACCT_ERR_STR(name, msg) \
    case XACCT_E##name:          \
        return msg;
        XACCT_ERRNO_MAP(XACCT_ERR_STR)
#undef XACCT_ERR_STR
    default:
        return "unknown error";
    }
}

const char *xacct_errname(int err)
{
    switch (err) {
    case 0:
        return "OK";
#define XACCT_ERR_NAME(name, msg) \
    case XACCT_E##name:           \
        return "XACCT_E" #name;
        XACCT_ERRNO_MAP(XACCT_ERR_NAME)
#undef XACCT_ERR_NAME
    default:
        return "XACCT_EUNKNOWN";
    }
}

static void oom(size_t n, const char *file, int line)
{
    fprintf(stderr, "%s:%d: out of memory allocating %zu bytes\n", file, line, n);
    abort();
}

void *xacct__malloc(size_t n, const char *file, int line)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        oom(n, file, line);
    return p;
}

void *xacct__calloc(size_t n, size_t m, const char *file, int line)
{
    void *p = calloc(n ? n : 1, m ? m : 1);
    if (p == NULL)
        oom(n * m, file, line);
    return p;
}

void *xacct__realloc(void *p, size_t n, const char *file, int line)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        oom(n, file, line);
    return q;
}

char *xacct__strdup(const char *s, const char *file, int line)
{
    return xacct__strndup(s, strlen(s), file, line);
}

char *xacct__strndup(const char *s, size_t n, const char *file, int line)
{
    char *p = xacct__malloc(n + 1, file, line);
    if (n > 0) /* s may be NULL when n is 0 (msgpack-c's empty strings) */
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* Short results (nearly all) take one formatting pass into a stack buffer
 * and a copy; longer ones are formatted again into their allocation. The
 * stack copy is wiped: what is formatted may be a secret. */
char *xacct_vasprintf(const char *fmt, va_list ap)
{
    char tmp[256];
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    if (n < 0)
        abort();
    char *p = xacct_malloc((size_t)n + 1);
    if ((size_t)n < sizeof(tmp))
        memcpy(p, tmp, (size_t)n + 1);
    else
        vsnprintf(p, (size_t)n + 1, fmt, again);
    va_end(again);
    OPENSSL_cleanse(tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp));
    return p;
}

char *xacct_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = xacct_vasprintf(fmt, ap);
    va_end(ap);
    return p;
}

char *xacct_strjoin(const char *first, ...)
{
    va_list ap;
    size_t n = 0;

    va_start(ap, first);
    for (const char *s = first; s != NULL; s = va_arg(ap, const char *))
        n += strlen(s);
    va_end(ap);
    char *p = xacct_malloc(n + 1), *d = p;
    va_start(ap, first);
    for (const char *s = first; s != NULL; s = va_arg(ap, const char *)) {
        size_t l = strlen(s);
        memcpy(d, s, l);
        d += l;
    }
    va_end(ap);
    *d = '\0';
    return p;
}

#ifdef XACCT_UNIT_TESTING
void (*xacct__freezero_hook)(const void *p, size_t n);
#endif

void xacct_freezero(void *p, size_t n)
{
    if (p == NULL)
        return;
#ifdef XACCT_UNIT_TESTING
    if (xacct__freezero_hook != NULL)
        xacct__freezero_hook(p, n);
#endif
    OPENSSL_cleanse(p, n);
    free(p);
}

void xacct_free_secret(char *s)
{
    if (s != NULL)
        xacct_freezero(s, strlen(s));
}
