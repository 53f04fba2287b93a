/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the store tests: a loop with a store on the shared test
 * redis-server (XACCT_TEST_REDIS_URL) and its closing; and for the tests that
 * run against private Redis processes (TLS, Sentinel, failover): collect one
 * command's completion, run a command to completion on the loop, and make a
 * temporary directory that is removed with everything in it. Header-only,
 * like redis_helper.h.
 */
#ifndef XACCT_TEST_STORE_HELPER_H
#define XACCT_TEST_STORE_HELPER_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_helper.h"
#include "xacct/store.h"

#ifndef cmocka_unit_test
#error "include <cmocka.h> before store_helper.h"
#endif

/* A store with options o on loop; the test fails (with xacct_store_new's
 * reason on stderr) when it cannot be made. */
static inline xacct_store_t *th_store_open(uv_loop_t *loop, const xacct_store_options_t *o)
{
    xacct_store_t *s = NULL;
    char err[256];
    int rc = xacct_store_new(loop, o, &s, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "store: %s\n", err);
    assert_int_equal(rc, 0);
    return s;
}

/* Frees s and closes loop, which must then hold no handle. */
static inline void th_store_close(uv_loop_t *loop, xacct_store_t *s)
{
    xacct_store_free(s);
    assert_int_equal(th_loop_close(loop), 0);
}

/* A loop and a store on the shared test redis-server, keys under prefix. */
typedef struct th_store_fx {
    uv_loop_t loop;
    xacct_store_t *s;
} th_store_fx_t;

/* NULL when XACCT_TEST_REDIS_URL is unset or the store cannot be made. */
static inline th_store_fx_t *th_store_fx_new(const char *prefix)
{
    th_store_fx_t *f = calloc(1, sizeof(*f));
    uv_loop_init(&f->loop);
    xacct_store_options_t o = {.url = getenv("XACCT_TEST_REDIS_URL"), .prefix = prefix};
    char err[128];
    if (o.url == NULL || xacct_store_new(&f->loop, &o, &f->s, err, sizeof(err)) != 0)
        return NULL;
    return f;
}

/* Frees the store and f and closes the loop; returns th_loop_close's value
 * (0 when every handle was closed). */
static inline int th_store_fx_free(th_store_fx_t *f)
{
    xacct_store_free(f->s);
    int rc = th_loop_close(&f->loop);
    free(f);
    return rc;
}

/* Copies a reply's string into text and the strings of its first nitems
 * elements into items, nitems rows of itemlen bytes; both are truncated to
 * fit and left alone where the reply has no string. */
static inline void th_reply_strings(const xacct_store_reply_t *rep, char *text, size_t textlen,
                                    char *items, size_t nitems, size_t itemlen)
{
    if (rep->str != NULL)
        snprintf(text, textlen, "%.*s", (int)rep->len, rep->str);
    for (size_t i = 0; i < rep->elements && i < nitems; i++)
        if (rep->element[i].str != NULL)
            snprintf(items + i * itemlen, itemlen, "%s", rep->element[i].str);
}

typedef struct th_result {
    int done;
    int status;
    char detail[512];
    int type;
    long long integer;
    char str[8192];
    size_t len;
    size_t elements;
} th_result_t;

static void th_collect_cb(int status, const char *detail, const xacct_store_reply_t *r,
                          void *arg)
{
    th_result_t *res = arg;
    if (res->done) {
        fprintf(stderr, "callback fired twice\n");
        abort();
    }
    res->done = 1;
    res->status = status;
    snprintf(res->detail, sizeof(res->detail), "%s", detail ? detail : "");
    if (r != NULL) {
        res->type = r->type;
        res->integer = r->integer;
        res->elements = r->elements;
        res->len = r->len;
        if (r->str != NULL)
            snprintf(res->str, sizeof(res->str), "%.*s", (int)r->len, r->str);
        if (r->type == XACCT_STORE_REPLY_ARRAY && r->elements > 0 && r->element[0].str != NULL)
            snprintf(res->str, sizeof(res->str), "%.*s", (int)r->element[0].len,
                     r->element[0].str);
    }
}

/* Submits a command (strings, NULL-terminated) and runs the loop until it
 * completes or timeout_ms passes; returns 1 if it completed. */
static inline int th_run_cmd(uv_loop_t *loop, xacct_store_t *s, long timeout_ms,
                             th_result_t *res, const char *name, ...)
{
    memset(res, 0, sizeof(*res));
    va_list ap;
    va_start(ap, name);
    int rc = xacct_store_vcmd(s, th_collect_cb, res, name, ap);
    va_end(ap);
    if (rc != 0) {
        res->done = 1;
        res->status = rc;
        return 1;
    }
    return th_run_until(loop, &res->done, timeout_ms);
}

/* mkdtemp under TMPDIR (or /tmp); path must hold 256 bytes. */
static inline void th_tmpdir(char *path, const char *tag)
{
    const char *t = getenv("TMPDIR");
    snprintf(path, 256, "%s/xacct-%s-XXXXXX", t && t[0] ? t : "/tmp", tag);
    if (mkdtemp(path) == NULL) {
        perror("mkdtemp");
        abort();
    }
}

static inline void th_rmtree(const char *path)
{
    if (path == NULL || path[0] == '\0')
        return;
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", path);
}

#endif
