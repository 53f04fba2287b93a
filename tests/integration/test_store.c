/* SPDX-License-Identifier: MIT */
/*
 * The Redis connection against real redis-server processes: URL parsing,
 * reply translation, the key prefix, pipelining order, EVALSHA with the
 * NOSCRIPT fallback after SCRIPT FLUSH, fail-fast errors (refused, connect
 * timeout, wrong password), AUTH + SELECT, reconnect across a server restart
 * with commands issued during the outage, the queue timeout (a queued
 * command fails on time while a connect, a handshake or Sentinel would take
 * longer; one whose Redis is back in time is served), the bounded queue,
 * free (also from inside a callback) and the lock. Every test ends with uv_loop_close() == 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store_helper.h"
#include "xacct/store.h"

typedef struct result {
    int done;
    int status;
    char detail[256];
    int type;
    long long integer;
    char str[512];
    size_t elements;
} result_t;

static void collect_cb(int status, const char *detail, const xacct_store_reply_t *r, void *arg)
{
    result_t *res = arg;
    assert_int_equal(res->done, 0); /* exactly once */
    res->done = 1;
    res->status = status;
    snprintf(res->detail, sizeof(res->detail), "%s", detail ? detail : "");
    if (r != NULL) {
        res->type = r->type;
        res->integer = r->integer;
        res->elements = r->elements;
        if (r->str != NULL)
            snprintf(res->str, sizeof(res->str), "%.*s", (int)r->len, r->str);
    }
}

static const char *test_url(void)
{
    const char *u = getenv("XACCT_TEST_REDIS_URL");
    assert_non_null(u);
    return u;
}

static xacct_store_t *open_store(uv_loop_t *loop, const char *url, const char *prefix,
                                 int reconnect)
{
    xacct_store_options_t o = {.url = url, .prefix = prefix, .reconnect = reconnect,
                               .connect_timeout_ms = 2000, .backoff_base_ms = 20,
                               .backoff_max_ms = 200};
    return th_store_open(loop, &o);
}

/* Runs one command to completion. */
static void run_cmd(uv_loop_t *loop, xacct_store_t *s, result_t *res, const char *name, ...)
{
    memset(res, 0, sizeof(*res));
    va_list ap;
    va_start(ap, name);
    int rc = xacct_store_vcmd(s, collect_cb, res, name, ap);
    va_end(ap);
    assert_int_equal(rc, 0);
    assert_true(th_run_until(loop, &res->done, 10000));
}

/* ------------------------------------------------------------------ */

static void test_parse_url(void **state)
{
    char *host, *user, *pw, err[128];
    int port, db, tls;
    assert_int_equal(xacct__store_parse_url("redis://127.0.0.1:6390/4", &host, &port, &user,
                                            &pw, &db, &tls, err, sizeof(err)),
                     0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 6390);
    assert_int_equal(db, 4);
    assert_int_equal(tls, 0);
    assert_null(user);
    assert_null(pw);
    free(host);

    assert_int_equal(xacct__store_parse_url("redis://:p%40ss@redis.example:7000", &host, &port,
                                            &user, &pw, &db, &tls, err, sizeof(err)),
                     0);
    assert_string_equal(host, "redis.example");
    assert_int_equal(port, 7000);
    assert_int_equal(db, 0);
    assert_null(user);
    assert_string_equal(pw, "p@ss");
    free(host);
    xacct_free_secret(pw);

    assert_int_equal(xacct__store_parse_url("redis://alice:pw@[::1]/", &host, &port, &user, &pw,
                                            &db, &tls, err, sizeof(err)),
                     0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 6379);
    assert_string_equal(user, "alice");
    assert_string_equal(pw, "pw");
    free(host);
    free(user);
    xacct_free_secret(pw);

    assert_int_equal(xacct__store_parse_url("rediss://app:s3cret@redis.example:6380/2", &host,
                                            &port, &user, &pw, &db, &tls, err, sizeof(err)),
                     0);
    assert_int_equal(tls, 1);
    assert_string_equal(host, "redis.example");
    assert_int_equal(port, 6380);
    assert_int_equal(db, 2);
    assert_string_equal(user, "app");
    assert_string_equal(pw, "s3cret");
    free(host);
    free(user);
    xacct_free_secret(pw);

    const char *bad[] = {"redisss://h/0", "http://127.0.0.1:6379/0", "redis://127.0.0.1:6379/x",
                         "redis://127.0.0.1:99999/0", "redis://", "not a url",
                         "redis://h/-1", "redis://bob@h/0",
                         /* present but undecodable: never taken for absent */
                         "redis://:pw%00x@h/0", "redis://b%00b:pw@h/0"};
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(bad); i++) {
        assert_int_equal(xacct__store_parse_url(bad[i], &host, &port, &user, &pw, &db, &tls,
                                                err, sizeof(err)),
                         XACCT_EINVAL);
        assert_null(host);
        assert_null(pw);
    }

    /* xacct_store_new reports the bad URL and creates nothing */
    uv_loop_t loop;
    uv_loop_init(&loop);
    xacct_store_options_t o = {.url = "redis://h/zz"};
    xacct_store_t *s = (xacct_store_t *)&o;
    assert_int_equal(xacct_store_new(&loop, &o, &s, err, sizeof(err)), XACCT_EINVAL);
    assert_null(s);
    assert_non_null(strstr(err, "database"));
    assert_int_equal(th_loop_close(&loop), 0);
}

static void test_backoff(void **state)
{
    for (unsigned a = 0; a < 12; a++) {
        long step = 100L << (a < 10 ? a : 10);
        if (step > 5000)
            step = 5000;
        for (int i = 0; i < 20; i++) {
            long d = xacct__store_backoff(100, 5000, a);
            assert_true(d >= step / 2 && d <= step);
        }
    }
}

static void test_replies_and_prefix(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    xacct_store_t *s = open_store(&loop, test_url(), "t-prefix:", 0);
    assert_string_equal(xacct_store_prefix(s), "t-prefix:");
    result_t r;

    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_str(&a, "SET");
    xacct_store_args_key(&a, s, "k:%d", 1);
    xacct_store_args_add(&a, "v\0w", 3); /* binary-safe */
    memset(&r, 0, sizeof(r));
    assert_int_equal(xacct_store_submit(s, &a, collect_cb, &r), 0);
    xacct_store_args_destroy(&a);
    assert_int_equal(r.done, 0); /* never from inside submit */
    assert_true(th_run_until(&loop, &r.done, 5000));
    assert_int_equal(r.status, 0);
    assert_int_equal(r.type, XACCT_STORE_REPLY_STATUS);
    assert_string_equal(r.str, "OK");

    /* the key really carries the prefix */
    run_cmd(&loop, s, &r, "STRLEN", "t-prefix:k:1", NULL);
    assert_int_equal(r.type, XACCT_STORE_REPLY_INTEGER);
    assert_int_equal(r.integer, 3);
    run_cmd(&loop, s, &r, "EXISTS", "k:1", NULL);
    assert_int_equal(r.integer, 0);

    run_cmd(&loop, s, &r, "GET", "t-prefix:missing", NULL);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.type, XACCT_STORE_REPLY_NIL);

    run_cmd(&loop, s, &r, "RPUSH", "t-prefix:l", "a", "b", "c", NULL);
    run_cmd(&loop, s, &r, "LRANGE", "t-prefix:l", "0", "-1", NULL);
    assert_int_equal(r.type, XACCT_STORE_REPLY_ARRAY);
    assert_int_equal(r.elements, 3);

    /* an error reply becomes XACCT_EREDIS with Redis' text */
    run_cmd(&loop, s, &r, "INCR", "t-prefix:l", NULL);
    assert_int_equal(r.status, XACCT_EREDIS);
    assert_non_null(strstr(r.detail, "WRONGTYPE"));

    /* argument list errors are synchronous and fire no callback */
    xacct_store_args_init(&a);
    assert_int_equal(xacct_store_submit(s, &a, collect_cb, &r), XACCT_EINVAL);
    for (int i = 0; i < XACCT_STORE_MAX_ARGS + 1; i++)
        xacct_store_args_str(&a, "x");
    assert_int_equal(a.err, XACCT_ETOOBIG);
    assert_int_equal(xacct_store_submit(s, &a, collect_cb, &r), XACCT_ETOOBIG);
    xacct_store_args_destroy(&a);

    run_cmd(&loop, s, &r, "DEL", "t-prefix:k:1", "t-prefix:l", NULL);
    th_store_close(&loop, s);
}

typedef struct order {
    int n;
    int got[200];
    int statuses;
} order_t;

static void order_cb(int status, const char *detail, const xacct_store_reply_t *r, void *arg)
{
    order_t *o = arg;
    if (status != 0)
        o->statuses++;
    else
        o->got[o->n] = (int)r->integer;
    o->n++;
}

static void test_pipelining_order(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    xacct_store_t *s = open_store(&loop, test_url(), "t-pipe:", 0);
    order_t o = {0};
    result_t r;
    run_cmd(&loop, s, &r, "DEL", "t-pipe:n", NULL);
    /* Submitted back to back before the loop runs: all go out pipelined. */
    for (int i = 0; i < 200; i++)
        assert_int_equal(xacct_store_cmd(s, order_cb, &o, "INCR", "t-pipe:n", NULL), 0);
    assert_int_equal(xacct_store_outstanding(s), 200);
    int all = 0;
    while (o.n < 200 && uv_run(&loop, UV_RUN_ONCE))
        ;
    all = o.n == 200;
    assert_true(all);
    assert_int_equal(o.statuses, 0);
    for (int i = 0; i < 200; i++)
        assert_int_equal(o.got[i], i + 1);
    assert_int_equal(xacct_store_outstanding(s), 0);
    th_store_close(&loop, s);
}

static const xacct_store_script_t echo_script = {
    "echo", "return {KEYS[1], ARGV[1], redis.call('INCR', KEYS[1])}"};

static void test_evalsha_noscript(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    xacct_store_t *s = open_store(&loop, test_url(), "t-eval:", 0);
    result_t r;
    xacct_store_args_t a;

    run_cmd(&loop, s, &r, "DEL", "t-eval:c", NULL);
    for (int round = 0; round < 3; round++) {
        if (round == 1) {
            run_cmd(&loop, s, &r, "SCRIPT", "FLUSH", NULL);
            assert_int_equal(r.status, 0);
        }
        if (round == 2) {
            /* flushed again while the store still believes it is loaded:
             * only the NOSCRIPT fallback can make the next call succeed */
            run_cmd(&loop, s, &r, "SCRIPT", "FLUSH", NULL);
        }
        xacct_store_args_init(&a);
        xacct_store_args_key(&a, s, "c");
        xacct_store_args_str(&a, "hello");
        memset(&r, 0, sizeof(r));
        assert_int_equal(xacct_store_eval(s, &echo_script, 1, &a, collect_cb, &r), 0);
        xacct_store_args_destroy(&a);
        assert_true(th_run_until(&loop, &r.done, 5000));
        assert_int_equal(r.status, 0);
        assert_int_equal(r.type, XACCT_STORE_REPLY_ARRAY);
        assert_int_equal(r.elements, 3);
    }
    run_cmd(&loop, s, &r, "GET", "t-eval:c", NULL);
    assert_string_equal(r.str, "3"); /* ran exactly once per call, retries included */

    /* A script that does not compile reports Redis' error, once. */
    static const xacct_store_script_t broken = {"broken", "return +"};
    xacct_store_args_init(&a);
    memset(&r, 0, sizeof(r));
    assert_int_equal(xacct_store_eval(s, &broken, 0, &a, collect_cb, &r), 0);
    xacct_store_args_destroy(&a);
    assert_true(th_run_until(&loop, &r.done, 5000));
    assert_int_equal(r.status, XACCT_EREDIS);

    /* nkeys beyond the argument count */
    xacct_store_args_init(&a);
    assert_int_equal(xacct_store_eval(s, &echo_script, 1, &a, collect_cb, &r), XACCT_EINVAL);
    xacct_store_args_destroy(&a);
    th_store_close(&loop, s);
}

static void test_fail_fast_refused(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", th_free_port());
    xacct_store_t *s = open_store(&loop, url, NULL, 0);
    result_t r;
    uint64_t t0 = uv_hrtime();
    run_cmd(&loop, s, &r, "PING", NULL);
    assert_int_equal(r.status, XACCT_EDISCONNECTED);
    if (strstr(r.detail, "refused") == NULL)
        fail_msg("detail: %s", r.detail);
    assert_true((uv_hrtime() - t0) / 1000000 < 2000);
    assert_false(xacct_store_is_up(s));
    /* a later command tries again, and fails again, cleanly */
    run_cmd(&loop, s, &r, "PING", NULL);
    assert_int_equal(r.status, XACCT_EDISCONNECTED);
    th_store_close(&loop, s);
}

/* A server named, not numbered: the name is looked up off the loop and the
 * store connects to what it found; a name that does not resolve fails the
 * attempt with a reason saying so. */
static void test_server_by_name(void **state)
{
    (void)state;
    int port = 0;
    assert_int_equal(sscanf(test_url(), "redis://127.0.0.1:%d", &port), 1);
    char url[96];
    snprintf(url, sizeof(url), "redis://localhost:%d/0", port);
    uv_loop_t loop;
    uv_loop_init(&loop);
    xacct_store_t *s = open_store(&loop, url, NULL, 0);
    result_t r;
    run_cmd(&loop, s, &r, "PING", NULL);
    if (r.status != 0)
        fail_msg("%s: %s", xacct_errname(r.status), r.detail);
    th_store_close(&loop, s);

    uv_loop_init(&loop);
    s = open_store(&loop, "redis://no-such-host.invalid:6379/0", NULL, 0);
    run_cmd(&loop, s, &r, "PING", NULL);
    assert_int_equal(r.status, XACCT_EDISCONNECTED);
    if (strstr(r.detail, "cannot resolve") == NULL)
        fail_msg("detail: %s", r.detail);
    assert_false(xacct_store_is_up(s));
    th_store_close(&loop, s);
}

static void test_connect_timeout(void **state)
{
    /* A socket that listens but never answers: TCP connects, the handshake
     * never completes, so only the connect timeout can end the attempt. */
    int port = 0;
    int fd = th_silent_listener(8, NULL, &port);
    assert_true(fd >= 0);
    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", port);

    uv_loop_t loop;
    uv_loop_init(&loop);
    xacct_store_options_t o = {.url = url, .reconnect = 0, .connect_timeout_ms = 300};
    xacct_store_t *s = NULL;
    char err[64];
    assert_int_equal(xacct_store_new(&loop, &o, &s, err, sizeof(err)), 0);
    result_t r;
    uint64_t t0 = uv_hrtime();
    run_cmd(&loop, s, &r, "PING", NULL);
    long ms = (long)((uv_hrtime() - t0) / 1000000);
    assert_int_equal(r.status, XACCT_EDISCONNECTED);
    assert_non_null(strstr(r.detail, "timed out"));
    assert_true(ms >= 250 && ms < 3000);
    th_store_close(&loop, s);
    close(fd);
}

typedef struct states {
    int ups, downs;
    char seen[512]; /* the last down detail */
} states_t;

static void state_cb(int up, int status, const char *detail, void *arg)
{
    states_t *st = arg;
    if (up) {
        st->ups++;
        return;
    }
    st->downs++;
    snprintf(st->seen, sizeof(st->seen), "%s", detail ? detail : "");
}

/* th_silent_listener, its URL in url (fill[] used only with fill_queue;
 * close with th_silent_close(fd, fill_queue ? fill : NULL)). */
static int silent_listener(int fill_queue, int fill[3], char *url, size_t len)
{
    int port = 0;
    int fd = th_silent_listener(0, fill_queue ? fill : NULL, &port);
    assert_true(fd >= 0);
    snprintf(url, len, "redis://127.0.0.1:%d/0", port);
    return fd;
}

/* Runs one command on a new reconnecting store with options o (command and
 * queue timeout 1 s, connect timeout 10 s, as xacctd's with
 * redis.command_timeout = 1) and checks that it fails as transient once it
 * has waited the command timeout, whatever the connection attempt is doing.
 * With gave_up, the attempt must then have failed by down_ms after the
 * start, with gave_up in its detail. */
static void expect_queue_timeout(const xacct_store_options_t *extra, const char *what,
                                 const char *gave_up, long down_ms)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    states_t st = {0};
    xacct_store_options_t o = *extra;
    o.on_state = state_cb;
    o.state_arg = &st;
    o.reconnect = 1;
    o.connect_timeout_ms = 10000;
    o.command_timeout_ms = 1000;
    o.queue_timeout_ms = 1000;
    o.backoff_base_ms = 20;
    o.backoff_max_ms = 200;
    xacct_store_t *s = th_store_open(&loop, &o);
    uv_update_time(&loop);
    uint64_t t0 = uv_hrtime();
    result_t r;
    run_cmd(&loop, s, &r, "PING", NULL);
    long ms = (long)((uv_hrtime() - t0) / 1000000);
    if (r.status != XACCT_ETIMEOUT || ms < 900 || ms >= 4000)
        fail_msg("%s: %s after %ld ms: %s", what, xacct_errname(r.status), ms, r.detail);
    assert_non_null(strstr(r.detail, "waited too long"));
    if (gave_up != NULL) {
        /* Not the connect timeout: the next attempt need not wait for it. */
        th_run_until(&loop, &st.downs, down_ms > ms ? down_ms - ms : 0);
        ms = (long)((uv_hrtime() - t0) / 1000000);
        if (st.downs == 0 || strstr(st.seen, gave_up) == NULL)
            fail_msg("%s: %d downs after %ld ms: %s", what, st.downs, ms, st.seen);
    }
    th_store_close(&loop, s);
}

/* A command waiting for a connection fails after the queue timeout, also
 * while the connect attempt (TCP, the handshake, or Sentinel's answer) has
 * a longer timeout. */
static void test_queued_command_times_out(void **state)
{
    (void)state;
    int fill[3];
    char url[64];
    /* TCP connects, the handshake's PING is never answered. */
    int fd = silent_listener(0, fill, url, sizeof(url));
    xacct_store_options_t o = {.url = url};
    expect_queue_timeout(&o, "server that never answers",
                         "no answer to the handshake within 1000 ms", 2500);
    th_silent_close(fd, NULL);

    /* TCP never connects. */
    fd = silent_listener(1, fill, url, sizeof(url));
    expect_queue_timeout(&o, "server that never accepts", NULL, 0);
    th_silent_close(fd, fill);

    /* Five sentinels that never answer: Sentinel's lookup outlasts the
     * command, though each sentinel is given up after the command timeout. */
    int sfd[5];
    char saddr[5][64];
    const char *sentinels[5];
    for (int i = 0; i < 5; i++) {
        sfd[i] = silent_listener(0, fill, url, sizeof(url));
        snprintf(saddr[i], sizeof(saddr[i]), "%s", url + strlen("redis://"));
        saddr[i][strlen(saddr[i]) - 2] = '\0'; /* "/0" */
        sentinels[i] = saddr[i];
    }
    xacct_store_options_t so = {
        .url = "redis://ignored:1/0", .sentinels = sentinels, .nsentinels = 5, .master_name = "xm"};
    expect_queue_timeout(&so, "sentinels that never answer",
                         "no answer to the handshake within 1000 ms", 8000);
    for (int i = 0; i < 5; i++)
        th_silent_close(sfd[i], NULL);
}

/* A command issued while Redis is down, which is back before the command's
 * queue timeout, is sent on the new connection and succeeds. */
static void test_queued_command_served_within_timeout(void **state)
{
    (void)state;
    int port = th_free_port();
    pid_t pid = th_redis_start(port, NULL);
    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", port);
    uv_loop_t loop;
    uv_loop_init(&loop);
    states_t st = {0};
    xacct_store_options_t o = {.url = url,
                               .reconnect = 1,
                               .connect_timeout_ms = 10000,
                               .command_timeout_ms = 2000,
                               .queue_timeout_ms = 2000,
                               .backoff_base_ms = 20,
                               .backoff_max_ms = 200,
                               .on_state = state_cb,
                               .state_arg = &st};
    xacct_store_t *s = th_store_open(&loop, &o);
    result_t r;
    run_cmd(&loop, s, &r, "SET", "xacct:qt", "before", NULL);
    assert_int_equal(r.status, 0);

    th_redis_stop(pid);
    assert_true(th_run_until(&loop, &st.downs, 5000));
    uv_update_time(&loop);
    uint64_t t0 = uv_now(&loop);
    result_t w;
    memset(&w, 0, sizeof(w));
    assert_int_equal(xacct_store_cmd(s, collect_cb, &w, "SET", "xacct:qt", "during", NULL), 0);
    /* Down for a while: reconnect attempts are refused meanwhile. */
    assert_false(th_run_until(&loop, &w.done, 300));
    assert_false(xacct_store_is_up(s));
    pid = th_redis_start(port, NULL);
    assert_true(th_run_until(&loop, &w.done, 10000));
    if (w.status != 0)
        fail_msg("%s after %ld ms: %s", xacct_errname(w.status), (long)(uv_now(&loop) - t0),
                 w.detail);
    assert_true(uv_now(&loop) - t0 < 2000);
    run_cmd(&loop, s, &r, "GET", "xacct:qt", NULL);
    assert_string_equal(r.str, "during");
    th_store_close(&loop, s);
    th_redis_stop(pid);
}

static void test_reconnect_after_restart(void **state)
{
    int port = th_free_port();
    pid_t pid = th_redis_start(port, NULL);
    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", port);

    uv_loop_t loop;
    uv_loop_init(&loop);
    states_t st = {0};
    xacct_store_options_t o = {.url = url, .reconnect = 1, .connect_timeout_ms = 1000,
                               .backoff_base_ms = 20, .backoff_max_ms = 200,
                               .on_state = state_cb, .state_arg = &st};
    xacct_store_t *s = NULL;
    char err[64];
    assert_int_equal(xacct_store_new(&loop, &o, &s, err, sizeof(err)), 0);

    result_t r;
    run_cmd(&loop, s, &r, "SET", "xacct:before", "1", NULL);
    assert_int_equal(r.status, 0);
    /* load a script on the first server */
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_key(&a, s, "sc");
    xacct_store_args_str(&a, "x");
    memset(&r, 0, sizeof(r));
    assert_int_equal(xacct_store_eval(s, &echo_script, 1, &a, collect_cb, &r), 0);
    assert_true(th_run_until(&loop, &r.done, 5000));
    assert_int_equal(r.status, 0);
    assert_int_equal(xacct_store_connections(s), 1);

    th_redis_stop(pid);
    pid = 0;
    int down = 0;
    while (!down) {
        assert_true(th_run_until(&loop, &st.downs, 5000));
        down = 1;
    }
    assert_false(xacct_store_is_up(s));

    /* issued during the outage: queued, none lost, order kept */
    order_t ord = {0};
    for (int i = 0; i < 20; i++)
        assert_int_equal(xacct_store_cmd(s, order_cb, &ord, "INCR", "xacct:during", NULL), 0);
    result_t ev;
    memset(&ev, 0, sizeof(ev));
    assert_int_equal(xacct_store_eval(s, &echo_script, 1, &a, collect_cb, &ev), 0);
    xacct_store_args_destroy(&a);
    /* let a few reconnect attempts fail */
    uv_update_time(&loop);
    uint64_t until = uv_now(&loop) + 400;
    while (uv_now(&loop) < until) {
        uv_run(&loop, UV_RUN_ONCE);
        uv_update_time(&loop);
    }
    assert_int_equal(ord.n, 0);
    assert_true(st.downs >= 2);

    pid = th_redis_start(port, NULL);
    assert_true(th_run_until(&loop, &ev.done, 10000));
    assert_int_equal(ord.n, 20);
    assert_int_equal(ord.statuses, 0);
    for (int i = 0; i < 20; i++)
        assert_int_equal(ord.got[i], i + 1);
    /* the script runs on the new server (it was reloaded) */
    assert_int_equal(ev.status, 0);
    assert_int_equal(ev.elements, 3);
    assert_int_equal(xacct_store_connections(s), 2);
    assert_int_equal(st.ups, 2);

    th_store_close(&loop, s);
    th_redis_stop(pid);
}

static void test_auth_and_select(void **state)
{
    int port = th_free_port();
    const char *extra[] = {"--requirepass", "s3cret", NULL};
    pid_t pid = th_redis_start(port, extra);
    char url3[96], url0[96], bad[96], none[96];
    snprintf(url3, sizeof(url3), "redis://:s3cret@127.0.0.1:%d/3", port);
    snprintf(url0, sizeof(url0), "redis://:s3cret@127.0.0.1:%d/0", port);
    snprintf(bad, sizeof(bad), "redis://:wrong@127.0.0.1:%d/0", port);
    snprintf(none, sizeof(none), "redis://127.0.0.1:%d/0", port);

    uv_loop_t loop;
    uv_loop_init(&loop);
    xacct_store_t *s3 = open_store(&loop, url3, NULL, 0);
    xacct_store_t *s0 = open_store(&loop, url0, NULL, 0);
    result_t r;
    run_cmd(&loop, s3, &r, "SET", "xacct:db", "three", NULL);
    assert_int_equal(r.status, 0);
    run_cmd(&loop, s0, &r, "GET", "xacct:db", NULL);
    assert_int_equal(r.type, XACCT_STORE_REPLY_NIL);
    run_cmd(&loop, s3, &r, "GET", "xacct:db", NULL);
    assert_string_equal(r.str, "three");

    xacct_store_t *sb = open_store(&loop, bad, NULL, 0);
    run_cmd(&loop, sb, &r, "PING", NULL);
    assert_int_equal(r.status, XACCT_EDISCONNECTED);
    assert_true(strstr(r.detail, "WRONGPASS") || strstr(r.detail, "invalid"));
    assert_null(strstr(r.detail, "wrong")); /* the password is never echoed */

    /* without a password the handshake is refused with Redis' reason */
    xacct_store_t *sn = open_store(&loop, none, NULL, 0);
    run_cmd(&loop, sn, &r, "GET", "xacct:db", NULL);
    assert_int_equal(r.status, XACCT_EDISCONNECTED);
    assert_non_null(strstr(r.detail, "NOAUTH"));

    xacct_store_free(s3);
    xacct_store_free(s0);
    xacct_store_free(sb);
    xacct_store_free(sn);
    assert_int_equal(th_loop_close(&loop), 0);
    th_redis_stop(pid);
}

static void test_queue_bound_and_free_cancels(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", th_free_port());
    xacct_store_options_t o = {.url = url, .reconnect = 1, .max_queued = 3,
                               .backoff_base_ms = 20, .backoff_max_ms = 50};
    xacct_store_t *s = NULL;
    char err[64];
    assert_int_equal(xacct_store_new(&loop, &o, &s, err, sizeof(err)), 0);
    result_t r[4];
    memset(r, 0, sizeof(r));
    for (int i = 0; i < 3; i++)
        assert_int_equal(xacct_store_cmd(s, collect_cb, &r[i], "PING", NULL), 0);
    assert_int_equal(xacct_store_cmd(s, collect_cb, &r[3], "PING", NULL), XACCT_EAGAIN);
    /* reconnect mode keeps them while attempts fail */
    uv_update_time(&loop);
    uint64_t until = uv_now(&loop) + 200;
    while (uv_now(&loop) < until) {
        uv_run(&loop, UV_RUN_ONCE);
        uv_update_time(&loop);
    }
    assert_int_equal(r[0].done, 0);
    xacct_store_free(s);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r[i].done, 1);
        assert_int_equal(r[i].status, XACCT_ECANCELED);
    }
    assert_int_equal(r[3].done, 0);
    assert_int_equal(th_loop_close(&loop), 0);
}

typedef struct freer {
    xacct_store_t *s;
    int calls;
    result_t later[3];
    int submit_after_free;
} freer_t;

static void free_in_cb(int status, const char *detail, const xacct_store_reply_t *r, void *arg)
{
    freer_t *f = arg;
    f->calls++;
    assert_int_equal(status, 0);
    xacct_store_free(f->s);
    xacct_store_free(f->s); /* repeated: harmless */
    f->submit_after_free = xacct_store_cmd(f->s, collect_cb, &f->later[2], "PING", NULL);
}

static void test_free_inside_callback(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    freer_t f;
    memset(&f, 0, sizeof(f));
    f.s = open_store(&loop, test_url(), NULL, 0);
    assert_int_equal(xacct_store_cmd(f.s, free_in_cb, &f, "PING", NULL), 0);
    /* pipelined behind it: their replies may arrive in the same read */
    assert_int_equal(xacct_store_cmd(f.s, collect_cb, &f.later[0], "PING", NULL), 0);
    assert_int_equal(xacct_store_cmd(f.s, collect_cb, &f.later[1], "PING", NULL), 0);
    assert_true(th_run_until(&loop, &f.calls, 5000));
    assert_int_equal(th_loop_close(&loop), 0);
    assert_int_equal(f.calls, 1);
    assert_int_equal(f.submit_after_free, XACCT_ESHUTDOWN);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(f.later[i].done, 1);
        assert_true(f.later[i].status == 0 || f.later[i].status == XACCT_ECANCELED);
    }
    assert_int_equal(f.later[2].done, 0);
}

typedef struct lockres {
    int done, status, yes;
} lockres_t;

static void lock_cb(int status, const char *detail, int acquired, void *arg)
{
    lockres_t *l = arg;
    l->done = 1;
    l->status = status;
    l->yes = acquired;
}

enum { LOCK_RELEASE, LOCK_ACQUIRE, LOCK_EXTEND };

static void lock_step(uv_loop_t *loop, xacct_store_t *s, int op, const char *token, int expect)
{
    lockres_t l = {0};
    if (op == LOCK_ACQUIRE)
        assert_int_equal(xacct_store_lock_acquire(s, "topic-policy", token, 5000, lock_cb, &l), 0);
    else if (op == LOCK_EXTEND)
        assert_int_equal(xacct_store_lock_extend(s, "topic-policy", token, 60000, lock_cb, &l), 0);
    else
        assert_int_equal(xacct_store_lock_release(s, "topic-policy", token, lock_cb, &l), 0);
    assert_true(th_run_until(loop, &l.done, 5000));
    assert_int_equal(l.status, 0);
    assert_int_equal(l.yes, expect);
}

static void test_lock(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    xacct_store_t *s = open_store(&loop, test_url(), "t-lock:", 0);
    lock_step(&loop, s, LOCK_ACQUIRE, "tokA", 1);
    lock_step(&loop, s, LOCK_ACQUIRE, "tokB", 0); /* held */
    lock_step(&loop, s, LOCK_RELEASE, "tokB", 0); /* not B's to release */
    lock_step(&loop, s, LOCK_EXTEND, "tokB", 0);  /* nor to extend */
    lock_step(&loop, s, LOCK_RELEASE, "tokA", 1);
    lock_step(&loop, s, LOCK_EXTEND, "tokA", 0);  /* given back: nothing to extend */
    lock_step(&loop, s, LOCK_ACQUIRE, "tokB", 1);
    result_t r;
    run_cmd(&loop, s, &r, "PTTL", "t-lock:lock:topic-policy", NULL);
    assert_true(r.integer > 0 && r.integer <= 5000);
    lock_step(&loop, s, LOCK_EXTEND, "tokB", 1); /* the holder's lease starts again */
    run_cmd(&loop, s, &r, "PTTL", "t-lock:lock:topic-policy", NULL);
    assert_true(r.integer > 5000 && r.integer <= 60000);
    /* A lease that ran out is not brought back by its old holder. */
    run_cmd(&loop, s, &r, "DEL", "t-lock:lock:topic-policy", NULL);
    lock_step(&loop, s, LOCK_EXTEND, "tokB", 0);
    run_cmd(&loop, s, &r, "EXISTS", "t-lock:lock:topic-policy", NULL);
    assert_int_equal(r.integer, 0);
    lock_step(&loop, s, LOCK_ACQUIRE, "tokB", 1);
    lock_step(&loop, s, LOCK_RELEASE, "tokB", 1);
    th_store_close(&loop, s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_url),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_replies_and_prefix),
        cmocka_unit_test(test_pipelining_order),
        cmocka_unit_test(test_evalsha_noscript),
        cmocka_unit_test(test_fail_fast_refused),
        cmocka_unit_test(test_server_by_name),
        cmocka_unit_test(test_connect_timeout),
        cmocka_unit_test(test_reconnect_after_restart),
        cmocka_unit_test(test_queued_command_times_out),
        cmocka_unit_test(test_queued_command_served_within_timeout),
        cmocka_unit_test(test_auth_and_select),
        cmocka_unit_test(test_queue_bound_and_free_cancels),
        cmocka_unit_test(test_free_inside_callback),
        cmocka_unit_test(test_lock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
