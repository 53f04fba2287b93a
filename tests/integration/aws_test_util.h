/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the AWS integration tests: a getenv table built in the
 * test (so the process environment stays untouched), a blocking wrapper
 * around xacct_http for fakeaws's plain-JSON control API, record counting,
 * running the loop until a condition holds or a deadline passes, the loop and
 * client every test starts from and closes, waiting for credentials, and a
 * port nobody listens on. Include cmocka first: the helpers assert.
 */
#ifndef XACCT_TEST_AWS_TEST_UTIL_H
#define XACCT_TEST_AWS_TEST_UTIL_H

#include <jansson.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "xacct/aws.h"
#include "xacct/creds.h"
#include "xacct/http.h"

#ifndef cmocka_unit_test
#error "include <cmocka.h> before aws_test_util.h"
#endif

/* ---- a fixed getenv table ---- */

#define TENV_MAX 32
typedef struct tenv {
    const char *names[TENV_MAX];
    char *values[TENV_MAX];
    size_t n;
} tenv_t;

static inline void tenv_set(tenv_t *e, const char *name, const char *value)
{
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->names[i], name) == 0) {
            free(e->values[i]);
            e->values[i] = strdup(value);
            return;
        }
    if (e->n < TENV_MAX) {
        e->names[e->n] = name;
        e->values[e->n] = strdup(value);
        e->n++;
    }
}

static inline void tenv_clear(tenv_t *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->values[i]);
    e->n = 0;
}

static inline const char *tenv_get(const char *name, void *arg)
{
    tenv_t *e = arg;
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->names[i], name) == 0)
            return e->values[i];
    return NULL;
}

static inline const char *must_env(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0') {
        fprintf(stderr, "%s is not set; run through tests/support/with_env.py\n", name);
        abort();
    }
    return v;
}

/* ---- running the loop ---- */

typedef struct deadline {
    uv_timer_t timer;          /* ends the wait */
    uv_prepare_t prepare;      /* checks the flag before the loop blocks */
    const volatile bool *flag;
    bool expired;
    int open;                  /* handles not yet closed */
} deadline_t;

static inline void deadline_cb(uv_timer_t *t)
{
    deadline_t *d = (deadline_t *)t->data;
    d->expired = true;
    uv_stop(t->loop);
}

/* A callback that runs in the timer phase (a 0 ms timer, say) may set the
 * flag; without this check uv_run(UV_RUN_ONCE) would still block in poll
 * until the next event. uv_stop makes the poll return at once. */
static inline void deadline_prepare_cb(uv_prepare_t *p)
{
    deadline_t *d = (deadline_t *)p->data;
    if (*d->flag)
        uv_stop(p->loop);
}

static inline void deadline_close_cb(uv_handle_t *h)
{
    deadline_t *d = (deadline_t *)h->data;
    if (--d->open == 0)
        free(d);
}

/* Runs loop turns until *flag is true or ms pass; returns *flag. */
static inline bool run_until(uv_loop_t *loop, const volatile bool *flag, uint64_t ms)
{
    deadline_t *d = calloc(1, sizeof(*d));
    d->flag = flag;
    uv_timer_init(loop, &d->timer);
    uv_prepare_init(loop, &d->prepare);
    d->timer.data = d;
    d->prepare.data = d;
    d->open = 2;
    uv_timer_start(&d->timer, deadline_cb, ms, 0);
    uv_prepare_start(&d->prepare, deadline_prepare_cb);
    while (!*flag && !d->expired)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&d->timer, deadline_close_cb);
    uv_close((uv_handle_t *)&d->prepare, deadline_close_cb);
    uv_run(loop, UV_RUN_NOWAIT);
    return *flag;
}

/* Lets the loop run for ms, whatever happens. */
static inline void run_for(uv_loop_t *loop, uint64_t ms)
{
    bool never = false;
    (void)run_until(loop, &never, ms);
}

/* ---- blocking HTTP for the control API ---- */

typedef struct sync_http {
    bool done;
    int status;
    long http_status;
    char *body;
} sync_http_t;

static inline void sync_http_cb(int status, const char *detail, const xacct_http_response_t *resp,
                                void *arg)
{
    sync_http_t *s = arg;
    (void)detail;
    s->status = status;
    if (resp != NULL) {
        s->http_status = resp->status;
        s->body = strndup(resp->body, resp->body_len);
    }
    s->done = true;
}

/* method + FAKEAWS_HTTP_URL/path with an optional JSON body; returns the HTTP
 * status (or -1) and, if body_out, the body (caller frees). */
static inline long fake_ctl(uv_loop_t *loop, xacct_http_t *http, const char *method,
                            const char *path, const char *json, char **body_out)
{
    char url[1024];
    snprintf(url, sizeof(url), "%s%s", must_env("FAKEAWS_HTTP_URL"), path);
    const xacct_header_t h[] = {{"Content-Type", "application/json"}};
    xacct_http_request_t req = {
        .method = method, .url = url, .headers = h, .nheaders = json ? 1 : 0,
        .body = json, .body_len = json ? strlen(json) : 0, .timeout_ms = 10000,
    };
    sync_http_t s = {0};
    if (xacct_http_submit(http, &req, sync_http_cb, &s, NULL) != 0)
        return -1;
    run_until(loop, &s.done, 15000);
    if (!s.done || s.status != 0) {
        free(s.body);
        return -1;
    }
    if (body_out != NULL)
        *body_out = s.body;
    else
        free(s.body);
    return s.http_status;
}

/* Number of fakeaws records of kind whose string field equals value (field
 * NULL: all of that kind); -1 on error. */
static inline int fake_count_records(uv_loop_t *loop, xacct_http_t *http, const char *kind,
                                     const char *field, const char *value)
{
    char path[256];
    char *body = NULL;
    snprintf(path, sizeof(path), "/_fake/records?kind=%s", kind);
    if (fake_ctl(loop, http, "GET", path, NULL, &body) != 200)
        return -1;
    json_error_t err;
    json_t *root = json_loads(body, 0, &err);
    free(body);
    json_t *recs = json_object_get(root, "records");
    int n = -1;
    if (json_is_array(recs)) {
        n = 0;
        size_t i;
        json_t *r;
        json_array_foreach(recs, i, r) {
            if (field == NULL) {
                n++;
                continue;
            }
            const char *v = json_string_value(json_object_get(r, field));
            if (v != NULL && strcmp(v, value) == 0)
                n++;
        }
    }
    json_decref(root);
    return n;
}

/* A client trusting fakeaws's CA. */
static inline xacct_http_t *test_http_new(uv_loop_t *loop)
{
    xacct_http_options_t o = {.ca_bundle = must_env("AWS_CA_BUNDLE")};
    xacct_http_t *h = NULL;
    if (xacct_http_new(loop, &o, &h) != 0)
        abort();
    return h;
}

/* ---- the start and end of every test ---- */

/* Inits loop and a client trusting fakeaws, and resets fakeaws: faults and
 * records cleared, its clock on time and, with reset_credentials, issued credentials back to
 * one hour. */
static inline void aws_test_start(uv_loop_t *loop, xacct_http_t **http, bool reset_credentials)
{
    uv_loop_init(loop);
    *http = test_http_new(loop);
    if (reset_credentials)
        assert_int_equal(fake_ctl(loop, *http, "POST", "/_fake/credentials/config",
                                  "{\"expiry_seconds\": 3600, \"stale_seconds\": 0}", NULL), 200);
    assert_int_equal(fake_ctl(loop, *http, "DELETE", "/_fake/faults", NULL, NULL), 200);
    assert_int_equal(fake_ctl(loop, *http, "DELETE", "/_fake/records", NULL, NULL), 200);
    assert_int_equal(fake_ctl(loop, *http, "POST", "/_fake/server", "{\"clock_skew\": 0}", NULL),
                     200);
}

/* The partner's credentials and AWS client against fakeaws, from the keys,
 * region and endpoint the test runs with (env holds them); max_attempts 0
 * is the client's default. */
static inline void aws_test_partner(uv_loop_t *loop, xacct_http_t *http, tenv_t *env,
                                    int max_attempts, xacct_creds_t **creds,
                                    xacct_aws_t **aws)
{
    tenv_set(env, "AWS_ENDPOINT_URL", must_env("FAKEAWS_URL"));
    tenv_set(env, "AWS_REGION", must_env("AWS_REGION"));
    tenv_set(env, "AWS_ACCESS_KEY_ID", must_env("AWS_ACCESS_KEY_ID"));
    tenv_set(env, "AWS_SECRET_ACCESS_KEY", must_env("AWS_SECRET_ACCESS_KEY"));
    xacct_creds_options_t co = {.getenv = tenv_get, .getenv_arg = env};
    char err[256] = "";
    if (xacct_creds_new(loop, http, &co, creds, err, sizeof(err)) != 0)
        fail_msg("creds: %s", err);
    xacct_aws_options_t ao = {.getenv = tenv_get, .getenv_arg = env,
                              .max_attempts = max_attempts};
    assert_int_equal(xacct_aws_new(loop, http, *creds, &ao, aws), 0);
}

/* Frees the client (what borrows it must be freed first), runs the loop
 * until nothing is left in it, closes it and empties env. */
static inline void aws_test_stop(uv_loop_t *loop, xacct_http_t *http, tenv_t *env)
{
    xacct_http_free(http);
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(loop), 0);
    tenv_clear(env);
}

/* Frees the partner's client and credentials, then as aws_test_stop. */
static inline void aws_test_partner_stop(uv_loop_t *loop, xacct_http_t *http, tenv_t *env,
                                         xacct_creds_t *creds, xacct_aws_t *aws)
{
    xacct_aws_free(aws);
    xacct_creds_free(creds);
    aws_test_stop(loop, http, env);
}

/* The start of a test that probes customer roles: fakeaws reset, IAM's
 * propagation immediate, the partner's client (max_attempts as above). */
static inline void aws_test_probe_start(uv_loop_t *loop, xacct_http_t **http, tenv_t *env,
                                        int max_attempts, xacct_creds_t **creds,
                                        xacct_aws_t **aws)
{
    aws_test_start(loop, http, false);
    assert_int_equal(fake_ctl(loop, *http, "POST", "/_fake/iam/config",
                              "{\"propagation_seconds\": 0}", NULL),
                     200);
    aws_test_partner(loop, *http, env, max_attempts, creds, aws);
}

/* Its end: no fault left for the next test, then as aws_test_partner_stop. */
static inline void aws_test_probe_stop(uv_loop_t *loop, xacct_http_t *http, tenv_t *env,
                                       xacct_creds_t *creds, xacct_aws_t *aws)
{
    assert_int_equal(fake_ctl(loop, http, "DELETE", "/_fake/faults", NULL, NULL), 200);
    aws_test_partner_stop(loop, http, env, creds, aws);
}

/* ---- waiting for credentials ---- */

typedef struct creds_wait {
    bool done;
    int calls;        /* must end at 1 */
    int status;
    char akid[128];   /* the access key ID handed out */
    bool has_token;   /* with a session token */
    char detail[512];
} creds_wait_t;

static inline void creds_wait_cb(int status, const char *detail,
                                 const xacct_sigv4_credentials_t *creds, void *arg)
{
    creds_wait_t *r = (creds_wait_t *)arg;
    r->calls++;
    r->status = status;
    if (creds != NULL) {
        snprintf(r->akid, sizeof(r->akid), "%s", creds->access_key_id);
        r->has_token = creds->session_token != NULL && creds->session_token[0] != '\0';
    }
    snprintf(r->detail, sizeof(r->detail), "%s", detail ? detail : "");
    r->done = true;
}

/* Waits on c until its callback fired (never from inside the wait), once. */
static inline void creds_wait_for(uv_loop_t *loop, xacct_creds_t *c, creds_wait_t *r,
                                  uint64_t ms)
{
    assert_int_equal(xacct_creds_wait(c, creds_wait_cb, r, NULL), 0);
    assert_false(r->done);
    assert_true(run_until(loop, &r->done, ms));
    assert_int_equal(r->calls, 1);
}

/* ---- a port nobody listens on ---- */

/* "<scheme>://127.0.0.1:<port>" for a loopback port that was free a moment
 * ago (bound, read, closed), so connecting to it is refused. */
static inline void closed_port_url(char *url, size_t len, const char *scheme)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &alen), 0);
    close(s);
    snprintf(url, len, "%s://127.0.0.1:%d", scheme, ntohs(a.sin_port));
}

/* ---- a port where every TLS handshake fails ---- */

/* Accepts each connection on the loop, writes a line that is no TLS record
 * and closes it: the client's handshake fails at once. */
typedef struct tls_breaker {
    uv_tcp_t server;
    int accepted;
} tls_breaker_t;

static inline void tls_breaker_closed(uv_handle_t *h)
{
    free(h);
}

static inline void tls_breaker_written(uv_write_t *w, int status)
{
    (void)status;
    uv_close((uv_handle_t *)w->handle, tls_breaker_closed);
    free(w);
}

static inline void tls_breaker_on_connection(uv_stream_t *server, int status)
{
    if (status != 0)
        return;
    tls_breaker_t *b = xacct_container_of((uv_tcp_t *)server, tls_breaker_t, server);
    uv_tcp_t *c = calloc(1, sizeof(*c));
    uv_tcp_init(server->loop, c);
    if (uv_accept(server, (uv_stream_t *)c) != 0) {
        uv_close((uv_handle_t *)c, tls_breaker_closed);
        return;
    }
    b->accepted++;
    static char line[] = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n";
    uv_buf_t buf = uv_buf_init(line, sizeof(line) - 1);
    uv_write_t *w = calloc(1, sizeof(*w));
    if (uv_write(w, (uv_stream_t *)c, &buf, 1, tls_breaker_written) != 0) {
        free(w);
        uv_close((uv_handle_t *)c, tls_breaker_closed);
    }
}

/* Starts b on a free loopback port and writes "https://127.0.0.1:<port>". */
static inline void tls_breaker_start(uv_loop_t *loop, tls_breaker_t *b, char *url, size_t len)
{
    struct sockaddr_in a;
    int alen = sizeof(a);
    assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &a), 0);
    assert_int_equal(uv_tcp_init(loop, &b->server), 0);
    assert_int_equal(uv_tcp_bind(&b->server, (const struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&b->server, 16, tls_breaker_on_connection), 0);
    assert_int_equal(uv_tcp_getsockname(&b->server, (struct sockaddr *)&a, &alen), 0);
    snprintf(url, len, "https://127.0.0.1:%d", ntohs(a.sin_port));
}

/* Closes b's listener; the caller runs the loop before b goes away. */
static inline void tls_breaker_stop(tls_breaker_t *b)
{
    uv_close((uv_handle_t *)&b->server, NULL);
}

#endif
