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

/* cmocka setup and teardown of a th_store_fx_t under prefix in *state. */
static inline int th_store_fx_setup(void **state, const char *prefix)
{
    th_store_fx_t *f = th_store_fx_new(prefix);
    if (f == NULL)
        return -1;
    *state = f;
    return 0;
}

static inline int th_store_fx_teardown(void **state)
{
    assert_int_equal(th_store_fx_free(*state), 0);
    return 0;
}

/* What one store call answered, filled by the test's callback. */
typedef struct th_res {
    int done;           /* the callback has run */
    int status;         /* its status */
    int result;         /* an enum result, where the call has one */
    long long a, b, c;  /* numbers the call answered */
    size_t n;           /* elements answered */
    char items[16][160]; /* their strings, truncated */
    char text[256];     /* a string answered, truncated */
} th_res_t;

/* Records the callback's status; fails the test on a second call. */
static inline void th_res_finish(th_res_t *r, int status)
{
    assert_int_equal(r->done, 0); /* exactly once */
    r->done = 1;
    r->status = status;
}

/* Runs f's loop until r's callback has run (ten seconds at most). */
static inline void th_res_wait(th_store_fx_t *f, th_res_t *r)
{
    assert_true(th_run_until(&f->loop, &r->done, 10000));
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

static inline void th_raw_cb(int status, const char *detail, const xacct_store_reply_t *rep,
                             void *arg)
{
    (void)detail;
    th_res_t *r = arg;
    th_res_finish(r, status);
    if (rep == NULL)
        return;
    r->a = rep->integer;
    r->n = rep->elements;
    th_reply_strings(rep, r->text, sizeof(r->text), r->items[0], 16, sizeof(r->items[0]));
}

/* Runs one raw command (NULL-terminated arguments) on f's store to
 * completion; the test fails unless it succeeded. */
static inline th_res_t th_raw(th_store_fx_t *f, const char *name, ...)
{
    th_res_t r;
    memset(&r, 0, sizeof(r));
    va_list ap;
    va_start(ap, name);
    int rc = xacct_store_vcmd(f->s, th_raw_cb, &r, name, ap);
    va_end(ap);
    assert_int_equal(rc, 0);
    th_res_wait(f, &r);
    assert_int_equal(r.status, 0);
    return r;
}

/* ZSCORE key member, a whole number; -1 when member is not in key. */
static inline long long th_zscore(th_store_fx_t *f, const char *key, const char *member)
{
    th_res_t r = th_raw(f, "ZSCORE", key, member, NULL);
    return r.text[0] ? atoll(r.text) : -1;
}

/* Field name of the record <prefix>customer:<acct> into out (len bytes; ""
 * when absent). The fields the tests read fit: a longer one fails the test. */
static inline void th_customer_field(th_store_fx_t *f, const char *prefix, const char *acct,
                                     const char *name, char *out, size_t len)
{
    char key[128];
    snprintf(key, sizeof(key), "%scustomer:%s", prefix, acct);
    th_res_t r = th_raw(f, "HGET", key, name, NULL);
    assert_true(strlen(r.text) < len);
    memcpy(out, r.text, strlen(r.text) + 1);
}

#endif
