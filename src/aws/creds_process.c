/* SPDX-License-Identifier: MIT */
/*
 * A profile's credential_process: the command line is split into words by
 * glibc's wordexp (quotes and escapes as in a POSIX shell, variables expanded,
 * an unset one refused, command substitution refused) and run with uv_spawn,
 * never through a shell. Its stdout (at most 64 KiB) must be the JSON
 * document of the AWS CLI's process credential provider, Version 1; its
 * stderr goes to ours, so a login prompt can reach the operator. Its
 * environment is ours plus XACCT__CREDS_PROCESS_MARKER, by which an xacct
 * started underneath knows not to run one again (creds_profile.c). The run
 * ends on exit and EOF, on the timeout, or on cancel; a process still
 * running then is killed, and the handles close after it has exited so it
 * is reaped.
 */
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wordexp.h>

#include "xacct/buf.h"
#include "xacct/creds.h"

#define PROCESS_MAX_OUTPUT (64u * 1024u)
#define PROCESS_DEFAULT_TIMEOUT_MS 120000u

typedef struct process_fetch {
    xacct__creds_fetch_t base;  /* handed to the provider */
    xacct__creds_fetch_cb cb;   /* fires once */
    void *arg;
    uv_process_t proc;          /* the child */
    uv_pipe_t out;              /* its stdout */
    uv_timer_t timer;           /* the timeout */
    int open;                   /* handles not yet closed */
    xacct_buf_t stdout_buf;     /* what it printed (secret) */
    bool exited;                /* exit callback seen */
    bool eof;                   /* stdout closed */
    bool done;                  /* cb fired */
    int64_t exit_status;
    int term_signal;
    char slab[4096];            /* read buffer, copied out and wiped after each read */
} process_fetch_t;

static void on_close(uv_handle_t *h)
{
    process_fetch_t *f = h->data;
    if (--f->open > 0)
        return;
    xacct_buf_destroy_secret(&f->stdout_buf);
    free(f);
}

/* Fires the callback once and winds the handles down. The process handle
 * closes only once the child has exited, so libuv reaps it. */
static void finish(process_fetch_t *f, int status, const char *detail, xacct__creds_set_t *set)
{
    if (f->done) {
        xacct__creds_set_free(set);
        return;
    }
    f->done = true;
    f->cb(status, detail, set, f->arg);
    uv_timer_stop(&f->timer);
    uv_close((uv_handle_t *)&f->timer, on_close);
    if (!uv_is_closing((uv_handle_t *)&f->out))
        uv_close((uv_handle_t *)&f->out, on_close);
    if (f->exited)
        uv_close((uv_handle_t *)&f->proc, on_close);
    else
        (void)uv_process_kill(&f->proc, SIGKILL);
}

/* Both the exit and the end of stdout have been seen: judge the run. */
static void complete(process_fetch_t *f)
{
    char detail[160];
    xacct__creds_set_t *set = NULL;
    if (f->term_signal != 0) {
        snprintf(detail, sizeof(detail), "credential_process killed by signal %d",
                 f->term_signal);
        finish(f, XACCT_ENOCREDS, detail, NULL);
        return;
    }
    if (f->exit_status != 0) {
        snprintf(detail, sizeof(detail), "credential_process exited with status %lld",
                 (long long)f->exit_status);
        finish(f, XACCT_ENOCREDS, detail, NULL);
        return;
    }
    int rc = xacct__creds_parse_process_json(f->stdout_buf.data ? f->stdout_buf.data : "",
                                             f->stdout_buf.len, &set, detail, sizeof(detail));
    finish(f, rc, rc == 0 ? NULL : detail, set);
}

static void on_exit_cb(uv_process_t *p, int64_t exit_status, int term_signal)
{
    process_fetch_t *f = xacct_container_of(p, process_fetch_t, proc);
    f->exited = true;
    f->exit_status = exit_status;
    f->term_signal = term_signal;
    if (f->done)
        uv_close((uv_handle_t *)&f->proc, on_close);
    else if (f->eof)
        complete(f);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    process_fetch_t *f = h->data;
    XACCT_UNUSED(suggested);
    buf->base = f->slab;
    buf->len = sizeof(f->slab);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    process_fetch_t *f = xacct_container_of((uv_pipe_t *)s, process_fetch_t, out);
    if (n > 0) {
        int rc = xacct_buf_append(&f->stdout_buf, buf->base, (size_t)n);
        OPENSSL_cleanse(buf->base, (size_t)n);
        if (rc != 0)
            finish(f, XACCT_ETOOBIG, "credential_process printed more than 64 KiB", NULL);
        return;
    }
    if (n == 0)
        return;
    uv_read_stop(s);
    f->eof = true;
    if (n != UV_EOF) {
        finish(f, XACCT_EIO, "reading credential_process output failed", NULL);
        return;
    }
    if (f->exited && !f->done)
        complete(f);
}

static void on_timeout(uv_timer_t *t)
{
    process_fetch_t *f = xacct_container_of(t, process_fetch_t, timer);
    finish(f, XACCT_ETIMEOUT, "credential_process did not finish in time", NULL);
}

static void cancel(xacct__creds_fetch_t *base)
{
    process_fetch_t *f = xacct_container_of(base, process_fetch_t, base);
    finish(f, XACCT_ECANCELED, "credential_process canceled", NULL);
}

/* Our environment with the marker set (an inherited one replaced), for the
 * child. The array borrows environ's strings; free only the array, after
 * uv_spawn, which has started the child or failed by then. */
static char **child_env(void)
{
    static const char marker[] = XACCT__CREDS_PROCESS_MARKER "=1";
    const size_t mlen = strlen(XACCT__CREDS_PROCESS_MARKER);
    size_t n = 0, k = 0;
    while (environ != NULL && environ[n] != NULL)
        n++;
    char **env = xacct_calloc(n + 2, sizeof(*env));
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], marker, mlen + 1) != 0)
            env[k++] = environ[i];
    env[k] = (char *)marker;
    return env;
}

int xacct__creds_process_start(const xacct__creds_link_ctx_t *ctx, xacct__creds_fetch_cb cb,
                               void *arg, xacct__creds_fetch_t **out)
{
    wordexp_t we;
    int rc;

    *out = NULL;
    if (ctx == NULL || ctx->loop == NULL || ctx->cfg == NULL || ctx->cfg->process == NULL ||
        cb == NULL)
        return XACCT_EINVAL;
    uv_loop_t *loop = ctx->loop;
    if (wordexp(ctx->cfg->process, &we, WRDE_NOCMD | WRDE_UNDEF) != 0)
        return XACCT_ECONFIG;
    if (we.we_wordc == 0) {
        wordfree(&we);
        return XACCT_ECONFIG;
    }

    process_fetch_t *f = xacct_calloc(1, sizeof(*f));
    f->cb = cb;
    f->arg = arg;
    f->base.cancel = cancel;
    xacct_buf_init(&f->stdout_buf, PROCESS_MAX_OUTPUT);
    uv_pipe_init(loop, &f->out, 0);
    uv_timer_init(loop, &f->timer);
    f->out.data = f->timer.data = f->proc.data = f;

    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&f->out},
        {.flags = UV_INHERIT_FD, .data.fd = 2},
    };
    char **env = child_env();
    uv_process_options_t po = {
        .exit_cb = on_exit_cb,
        .file = we.we_wordv[0],
        .args = we.we_wordv,
        .env = env,
        .stdio_count = 3,
        .stdio = stdio,
    };
    rc = uv_spawn(loop, &f->proc, &po);
    free(env);
    wordfree(&we);
    if (rc != 0) {
        /* A failed spawn still initialised the process handle; close all. */
        f->open = 3;
        f->done = true;
        uv_close((uv_handle_t *)&f->proc, on_close);
        uv_close((uv_handle_t *)&f->out, on_close);
        uv_close((uv_handle_t *)&f->timer, on_close);
        return rc == UV_ENOENT || rc == UV_EACCES ? XACCT_ECONFIG : XACCT_EIO;
    }
    f->open = 3;
    uv_read_start((uv_stream_t *)&f->out, on_alloc, on_read);
    uint64_t timeout_ms = ctx->process_timeout_ms > 0 ? (uint64_t)ctx->process_timeout_ms
                                                      : PROCESS_DEFAULT_TIMEOUT_MS;
    uv_timer_start(&f->timer, on_timeout, timeout_ms, 0);
    *out = &f->base;
    return 0;
}
