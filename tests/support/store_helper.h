/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the store tests that run against private Redis processes (TLS,
 * Sentinel, failover): collect one command's completion, run a command to
 * completion on the loop, and make a temporary directory that is removed
 * with everything in it. Header-only, like redis_helper.h.
 */
#ifndef XACCT_TEST_STORE_HELPER_H
#define XACCT_TEST_STORE_HELPER_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_helper.h"
#include "xacct/store.h"

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
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_str(&a, name);
    va_list ap;
    va_start(ap, name);
    const char *p;
    while ((p = va_arg(ap, const char *)) != NULL)
        xacct_store_args_str(&a, p);
    va_end(ap);
    memset(res, 0, sizeof(*res));
    int rc = xacct_store_submit(s, &a, th_collect_cb, res);
    xacct_store_args_destroy(&a);
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
