/* SPDX-License-Identifier: MIT */
/*
 * Tests for the metrics endpoint over real loopback sockets. The loop runs in
 * the test thread; clients (libcurl, or plain sockets for bytes curl would not
 * send) run in their own threads and wake the loop through a uv_async_t when
 * they are done. Every test ends with uv_loop_close() == 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "xacct/buf.h"
#include "xacct/httpd.h"
#include "xacct/metrics_http.h"

#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define METRICS_BODY "xacct_up 1\nxacct_jobs_total 42\n"

/* --- fixture ------------------------------------------------------------- */

typedef struct fx {
    uv_loop_t loop;
    uv_async_t wake;           /* clients signal completion; unref'd */
    atomic_int pending;        /* clients still running */
    xacct_metrics_http_t *srv; /* NULL once freed */
    int port;
    int route_calls; /* touched on the loop thread only */
    char last_path[256];
} fx_t;

static int route(void *arg, const char *path, xacct_buf_t *body, const char **content_type)
{
    fx_t *fx = arg;

    fx->route_calls++;
    snprintf(fx->last_path, sizeof(fx->last_path), "%s", path);
    if (strcmp(path, "/metrics") == 0) {
        *content_type = METRICS_TYPE;
        return xacct_buf_puts(body, METRICS_BODY) == 0 ? 200 : 500;
    }
    if (strcmp(path, "/healthz") == 0)
        return xacct_buf_puts(body, "ok\n") == 0 ? 200 : 500;
    if (strcmp(path, "/readyz") == 0)
        return xacct_buf_puts(body, "not ready\n") == 0 ? 503 : 500;
    if (strcmp(path, "/broken") == 0) {
        if (xacct_buf_puts(body, "half") != 0)
            return 500;
        return -7; /* not an HTTP status: the server must not pass it on */
    }
    if (strcmp(path, "/quit") == 0) {
        xacct_metrics_http_free(fx->srv);
        fx->srv = NULL;
        return xacct_buf_puts(body, "bye\n") == 0 ? 200 : 500;
    }
    return xacct_buf_puts(body, "not found\n") == 0 ? 404 : 500;
}

static void on_wake(uv_async_t *a)
{
    fx_t *fx = a->data;

    if (atomic_load(&fx->pending) == 0)
        uv_stop(&fx->loop);
}

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof(*fx));

    assert_non_null(fx);
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    assert_int_equal(uv_async_init(&fx->loop, &fx->wake, on_wake), 0);
    fx->wake.data = fx;
    /* Only the server keeps the loop alive, so a freed server ends uv_run. */
    uv_unref((uv_handle_t *)&fx->wake);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fx_t *fx = *state;

    xacct_metrics_http_free(fx->srv);
    fx->srv = NULL;
    uv_close((uv_handle_t *)&fx->wake, NULL);
    while (uv_run(&fx->loop, UV_RUN_DEFAULT) != 0) {
    }
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    free(fx);
    return 0;
}

static void start(fx_t *fx, const char *listen)
{
    char err[256] = "";
    int rc = xacct_metrics_http_new(&fx->loop, listen, route, fx, &fx->srv, err, sizeof(err));

    if (rc != 0)
        fail_msg("xacct_metrics_http_new(%s): %s: %s", listen, xacct_errname(rc), err);
    assert_non_null(fx->srv);
    fx->port = xacct_metrics_http_port(fx->srv);
    assert_in_range(fx->port, 1, 65535);
}

/* --- clients ------------------------------------------------------------- */

typedef struct client {
    fx_t *fx;
    pthread_t th;
    char url[128];      /* curl mode */
    const char *method; /* "GET", "HEAD", "POST", or another custom verb */
    size_t post_len;    /* POST body size */
    const char *raw;    /* raw mode: bytes to send to 127.0.0.1:port */
    /* results */
    CURLcode curl_rc;
    long status;
    char content_type[128];
    xacct_buf_t body;
    xacct_buf_t headers; /* curl: response headers; raw: the whole response */
    int raw_err;         /* raw mode: errno of a failed step, 0 when fine */
} client_t;

static size_t on_data(char *p, size_t size, size_t n, void *userp)
{
    return xacct_buf_append(userp, p, size * n) == 0 ? size * n : 0;
}

static void curl_request(client_t *c)
{
    CURL *e = curl_easy_init();
    char *post = NULL;
    char *ct = NULL;

    if (e == NULL) {
        c->curl_rc = CURLE_FAILED_INIT;
        return;
    }
    curl_easy_setopt(e, CURLOPT_URL, c->url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &c->body);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &c->headers);
    if (strcmp(c->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(c->method, "POST") == 0) {
        post = malloc(c->post_len + 1);
        memset(post, 'x', c->post_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, post);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)c->post_len);
    } else if (strcmp(c->method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, c->method);
    }
    c->curl_rc = curl_easy_perform(e);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &c->status);
    if (curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct != NULL)
        snprintf(c->content_type, sizeof(c->content_type), "%s", ct);
    curl_easy_cleanup(e);
    free(post);
}

/* Connects to 127.0.0.1:port; -1 with errno on failure. */
static int connect_local(int port)
{
    struct sockaddr_in sin;
    struct timeval tv = {.tv_sec = 20};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Sends c->raw and reads the answer until the server closes. */
static void raw_request(client_t *c)
{
    char buf[4096];
    size_t len = strlen(c->raw);
    ssize_t n;
    int fd = connect_local(c->fx->port);

    if (fd < 0) {
        c->raw_err = errno;
        return;
    }
    if (send(fd, c->raw, len, MSG_NOSIGNAL) != (ssize_t)len) {
        c->raw_err = errno ? errno : EIO;
        goto out;
    }
    while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
        if (xacct_buf_append(&c->headers, buf, (size_t)n) != 0) {
            c->raw_err = EFBIG;
            goto out;
        }
    }
    if (n < 0)
        c->raw_err = errno;
out:
    close(fd);
}

static void *client_main(void *arg)
{
    client_t *c = arg;

    if (c->raw != NULL)
        raw_request(c);
    else
        curl_request(c);
    atomic_fetch_sub(&c->fx->pending, 1);
    uv_async_send(&c->fx->wake);
    return NULL;
}

static void client_init(client_t *c, fx_t *fx, const char *method, const char *path)
{
    memset(c, 0, sizeof(*c));
    c->fx = fx;
    c->method = method;
    snprintf(c->url, sizeof(c->url), "http://127.0.0.1:%d%s", fx->port, path);
    xacct_buf_init(&c->body, 1024 * 1024);
    xacct_buf_init(&c->headers, 1024 * 1024);
}

static void client_raw(client_t *c, fx_t *fx, const char *raw)
{
    client_init(c, fx, "RAW", "");
    c->raw = raw;
}

static void client_destroy(client_t *c)
{
    xacct_buf_destroy(&c->body);
    xacct_buf_destroy(&c->headers);
}

/* Runs the loop while the clients make their requests, then joins them. */
static void run_clients(fx_t *fx, client_t *cs, size_t n)
{
    atomic_store(&fx->pending, (int)n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(pthread_create(&cs[i].th, NULL, client_main, &cs[i]), 0);
    /* Returns when the last client wakes the loop (or when the server is
     * gone and nothing else keeps the loop alive). */
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    for (size_t i = 0; i < n; i++)
        pthread_join(cs[i].th, NULL);
}

static void request(fx_t *fx, client_t *c, const char *method, const char *path)
{
    client_init(c, fx, method, path);
    run_clients(fx, c, 1);
}

/* A GET of path that must be answered with status. */
static void get_expect(fx_t *fx, client_t *c, const char *path, long status)
{
    request(fx, c, "GET", path);
    assert_int_equal(c->curl_rc, CURLE_OK);
    assert_int_equal(c->status, status);
}

static bool has_header(const xacct_buf_t *h, const char *line)
{
    return h->data != NULL && strcasestr(h->data, line) != NULL;
}

/* Counts active timers, to see whether the loop would wake up on its own. */
static void count_active_timers(uv_handle_t *h, void *arg)
{
    if (h->type == UV_TIMER && uv_is_active(h))
        (*(int *)arg)++;
}

static int active_timers(fx_t *fx)
{
    int n = 0;
    uv_walk(&fx->loop, count_active_timers, &n);
    return n;
}

static void find_due(uv_handle_t *h, void *arg)
{
    if (h->type == UV_TIMER && uv_is_active(h))
        *(uint64_t *)arg = uv_timer_get_due_in((uv_timer_t *)h);
}

/* Milliseconds until the (only) active timer fires. */
static uint64_t timer_due_in(fx_t *fx)
{
    uint64_t due = UINT64_MAX;
    uv_walk(&fx->loop, find_due, &due);
    return due;
}

/* Runs the loop without blocking, pausing a little, until done(fx, arg) or
 * a generous number of rounds has passed. */
static void spin_until(fx_t *fx, bool (*done)(fx_t *, void *), void *arg)
{
    for (int i = 0; i < 5000 && !done(fx, arg); i++) {
        uv_run(&fx->loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
}

static bool timer_active(fx_t *fx, void *arg)
{
    return active_timers(fx) == *(int *)arg;
}

/* --- tests --------------------------------------------------------------- */

static void test_get_metrics(void **state)
{
    fx_t *fx = *state;
    client_t c;

    start(fx, "127.0.0.1:0");
    get_expect(fx, &c, "/metrics", 200);
    assert_string_equal(c.content_type, METRICS_TYPE);
    assert_non_null(c.body.data);
    assert_string_equal(c.body.data, METRICS_BODY);
    assert_true(has_header(&c.headers, "\r\nCache-Control: no-store\r\n"));
    assert_int_equal(fx->route_calls, 1);
    assert_string_equal(fx->last_path, "/metrics");
    client_destroy(&c);
}

static void test_query_string_is_not_part_of_path(void **state)
{
    fx_t *fx = *state;
    client_t c;

    start(fx, "127.0.0.1:0");
    get_expect(fx, &c, "/healthz?verbose=1&x=%2F", 200);
    assert_string_equal(fx->last_path, "/healthz");
    assert_string_equal(c.body.data, "ok\n");
    /* No Content-Type from the route: the default. */
    assert_string_equal(c.content_type, "text/plain; charset=utf-8");
    client_destroy(&c);
}

static void test_head_has_headers_and_no_body(void **state)
{
    fx_t *fx = *state;
    client_t c;
    const char *end;

    start(fx, "127.0.0.1:0");
    client_raw(&c, fx, "HEAD /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    run_clients(fx, &c, 1);
    assert_int_equal(c.raw_err, 0);
    assert_non_null(c.headers.data);
    assert_memory_equal(c.headers.data, "HTTP/1.1 200 ", 13);
    assert_true(has_header(&c.headers, "\r\nContent-Type: " METRICS_TYPE "\r\n"));
    assert_true(has_header(&c.headers, "\r\nCache-Control: no-store\r\n"));
    end = strstr(c.headers.data, "\r\n\r\n");
    assert_non_null(end);
    /* Nothing after the header block: the body is not sent. */
    assert_int_equal((size_t)(end + 4 - c.headers.data), c.headers.len);
    assert_null(strstr(c.headers.data, "xacct_up"));
    assert_int_equal(fx->route_calls, 1);
    client_destroy(&c);
}

static void test_route_status_passes_through(void **state)
{
    fx_t *fx = *state;
    client_t c;

    start(fx, "127.0.0.1:0");
    get_expect(fx, &c, "/readyz", 503);
    assert_string_equal(c.body.data, "not ready\n");
    client_destroy(&c);

    get_expect(fx, &c, "/no/such/thing", 404);
    assert_string_equal(c.body.data, "not found\n");
    assert_string_equal(fx->last_path, "/no/such/thing");
    client_destroy(&c);
    assert_int_equal(fx->route_calls, 2);
}

static void test_bad_route_status_is_500(void **state)
{
    fx_t *fx = *state;
    client_t c;

    start(fx, "127.0.0.1:0");
    get_expect(fx, &c, "/broken", 500);
    /* The half-built body is dropped. */
    assert_true(c.body.len == 0);
    client_destroy(&c);
}

static void test_other_methods_get_405(void **state)
{
    fx_t *fx = *state;
    static const struct {
        const char *method;
        size_t post_len;
    } cases[] = {
        /* The large POST carries a body that MHD must discard, not read. */
        {"POST", 3}, {"POST", 200 * 1024}, {"PUT", 0}, {"DELETE", 0}, {"OPTIONS", 0},
    };

    start(fx, "127.0.0.1:0");
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(cases); i++) {
        client_t c;
        client_init(&c, fx, cases[i].method, "/metrics");
        c.post_len = cases[i].post_len;
        run_clients(fx, &c, 1);
        assert_int_equal(c.curl_rc, CURLE_OK);
        assert_int_equal(c.status, 405);
        assert_true(has_header(&c.headers, "\r\nAllow: GET, HEAD\r\n"));
        assert_true(has_header(&c.headers, "\r\nCache-Control: no-store\r\n"));
        client_destroy(&c);
    }
    assert_int_equal(fx->route_calls, 0);
}

/*
 * Malformed requests are MHD's business. 0.9.75 answers 400 to a bad HTTP
 * version, a header line without a colon or a bad Content-Length, and simply
 * closes the connection when the request line has no space at all. Either
 * way the route is never reached and the server goes on serving.
 */
static void test_malformed_request_gets_400(void **state)
{
    fx_t *fx = *state;
    static const struct {
        const char *raw;
        bool answered; /* 400, or just closed */
    } cases[] = {
        {"GET /metrics HTTP/1.1x\r\nHost: test\r\n\r\n", true},
        {"GET /metrics FOO/1.1\r\nHost: test\r\n\r\n", true},
        {"GET /metrics HTTP/1.1\r\nHost: test\r\nContent-Length: abc\r\n\r\n", true},
        {"GARBAGE\r\n\r\n", false},
        {"GET /metrics HTTP/1.1\r\nHost: test\r\nno colon here\r\n\r\n", true},
        /* RFC 9112 3.2: an HTTP/1.1 request without Host MUST get a 400. */
        {"GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n", true},
    };
    client_t c;

    start(fx, "127.0.0.1:0");
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(cases); i++) {
        client_raw(&c, fx, cases[i].raw);
        run_clients(fx, &c, 1);
        /* The server closed (a timeout would leave EAGAIN here). */
        if (c.raw_err != 0 && c.raw_err != ECONNRESET)
            fail_msg("request %zu: %s", i, strerror(c.raw_err));
        if (cases[i].answered) {
            if (c.headers.data == NULL || strncmp(c.headers.data, "HTTP/1.1 400 ", 13) != 0)
                fail_msg("request %zu answered: %.40s", i,
                         c.headers.data ? c.headers.data : "(nothing)");
        } else if (c.headers.len != 0) {
            fail_msg("request %zu answered: %.40s", i, c.headers.data);
        }
        client_destroy(&c);
    }
    assert_int_equal(fx->route_calls, 0);

    /* The server is still serving. */
    get_expect(fx, &c, "/healthz", 200);
    client_destroy(&c);
}

static void test_port_zero_and_localhost(void **state)
{
    fx_t *fx = *state;
    client_t c;

    start(fx, "localhost:0");
    /* Connecting to the reported port over 127.0.0.1 reaches this server. */
    get_expect(fx, &c, "/metrics", 200);
    assert_int_equal(fx->route_calls, 1);
    client_destroy(&c);
}

static void test_port_in_use_is_eio(void **state)
{
    fx_t *fx = *state;
    xacct_metrics_http_t *second = (xacct_metrics_http_t *)&second; /* must be reset */
    char listen[64], err[256] = "";
    int rc;

    start(fx, "127.0.0.1:0");
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", fx->port);
    rc = xacct_metrics_http_new(&fx->loop, listen, route, fx, &second, err, sizeof(err));
    assert_int_equal(rc, XACCT_EIO);
    assert_null(second);
    if (strstr(err, listen) == NULL || strstr(err, strerror(EADDRINUSE)) == NULL)
        fail_msg("message: %s", err);
}

static void test_bad_listen_is_einval(void **state)
{
    fx_t *fx = *state;
    static const char *const bad[] = {
        "nope",    "1.2.3.4",      "1.2.3.4:99999", "[::1",         "host.example:80", "",
        ":80",     "1.2.3.4:",     "1.2.3.4:-1",    "1.2.3.4:80x",  "1.2.3.4: 80",     "::1:80",
        "[::1]80", "[1.2.3.4]:80", "[]:80",         "[::1]:123456", "1.2.3.256:80",
    };

    for (size_t i = 0; i < XACCT_ARRAY_SIZE(bad); i++) {
        xacct_metrics_http_t *s = (xacct_metrics_http_t *)&s;
        char err[256] = "";
        int rc = xacct_metrics_http_new(&fx->loop, bad[i], route, fx, &s, err, sizeof(err));
        if (rc != XACCT_EINVAL)
            fail_msg("\"%s\": %s (%s)", bad[i], xacct_errname(rc), err);
        assert_null(s);
        if (err[0] == '\0' || strstr(err, bad[i]) == NULL)
            fail_msg("\"%s\": message %s", bad[i], err);
    }
    /* Nothing was left on the loop. */
    assert_int_equal(uv_loop_alive(&fx->loop), 0);
}

/* Whether this machine can bind [::1]. */
static bool have_ipv6_loopback(void)
{
    struct sockaddr_in6 sin6;
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    bool ok;

    if (fd < 0)
        return false;
    memset(&sin6, 0, sizeof(sin6));
    sin6.sin6_family = AF_INET6;
    sin6.sin6_addr = in6addr_loopback;
    ok = bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == 0;
    close(fd);
    return ok;
}

static void test_ipv6_loopback(void **state)
{
    fx_t *fx = *state;
    char err[256] = "";
    client_t c;
    int rc;

    rc = xacct_metrics_http_new(&fx->loop, "[::1]:0", route, fx, &fx->srv, err, sizeof(err));
    if (!have_ipv6_loopback()) {
        /* No IPv6 here: a clean failure, not a crash. */
        assert_int_equal(rc, XACCT_EIO);
        assert_null(fx->srv);
        assert_non_null(strstr(err, "[::1]:0"));
        return;
    }
    if (rc != 0)
        fail_msg("[::1]:0: %s: %s", xacct_errname(rc), err);
    fx->port = xacct_metrics_http_port(fx->srv);
    assert_in_range(fx->port, 1, 65535);
    client_init(&c, fx, "GET", "");
    snprintf(c.url, sizeof(c.url), "http://[::1]:%d/metrics", fx->port);
    run_clients(fx, &c, 1);
    assert_int_equal(c.curl_rc, CURLE_OK);
    assert_int_equal(c.status, 200);
    assert_string_equal(c.body.data, METRICS_BODY);
    client_destroy(&c);
    /* Bound to IPv6 only: IPv4 loopback does not reach it. */
    int fd = connect_local(fx->port);
    if (fd >= 0)
        close(fd);
    assert_true(fd < 0);
}

static void test_concurrent_clients(void **state)
{
    enum { N = 20 };
    fx_t *fx = *state;
    client_t cs[N];

    start(fx, "127.0.0.1:0");
    for (size_t i = 0; i < N; i++)
        client_init(&cs[i], fx, "GET", i % 2 ? "/metrics" : "/healthz");
    run_clients(fx, cs, N);
    for (size_t i = 0; i < N; i++) {
        if (cs[i].curl_rc != CURLE_OK || cs[i].status != 200)
            fail_msg("client %zu: %s, status %ld", i, curl_easy_strerror(cs[i].curl_rc),
                     cs[i].status);
        assert_string_equal(cs[i].body.data, i % 2 ? METRICS_BODY : "ok\n");
        client_destroy(&cs[i]);
    }
    assert_int_equal(fx->route_calls, N);
}

/* No connection, no timer: an idle endpoint must not wake the loop. An open
 * connection arms MHD's idle timeout; once it is gone the timer stops. */
static void test_timer_only_while_connections_are_open(void **state)
{
    fx_t *fx = *state;
    int one = 1, none = 0;
    int fd;

    start(fx, "127.0.0.1:0");
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    assert_int_equal(active_timers(fx), 0);

    fd = connect_local(fx->port);
    assert_true(fd >= 0);
    spin_until(fx, timer_active, &one);
    assert_int_equal(active_timers(fx), 1);
    /* The idle timeout is set (MHD's default is none at all). */
    assert_in_range(timer_due_in(fx), 0, 10 * 1000);

    close(fd);
    spin_until(fx, timer_active, &none);
    assert_int_equal(active_timers(fx), 0);
}

static bool readable(fx_t *fx, void *arg)
{
    char c;
    return recv(*(int *)arg, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

/* With every connection slot held by an idle client, the next client waits
 * in the backlog; it is served once a slot frees up. */
static void test_connection_limit(void **state)
{
    enum { LIMIT = 32 };
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    fx_t *fx = *state;
    int idle[LIMIT];
    char buf[256];
    ssize_t n;
    int fd;

    start(fx, "127.0.0.1:0");
    for (int i = 0; i < LIMIT; i++) {
        idle[i] = connect_local(fx->port);
        assert_true(idle[i] >= 0);
    }
    fd = connect_local(fx->port); /* completes in the kernel's backlog */
    assert_true(fd >= 0);
    assert_int_equal(send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL), (ssize_t)(sizeof(req) - 1));
    for (int i = 0; i < 300; i++) {
        uv_run(&fx->loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    assert_false(readable(fx, &fd));
    assert_int_equal(fx->route_calls, 0);

    for (int i = 0; i < LIMIT; i++)
        close(idle[i]);
    spin_until(fx, readable, &fd);
    n = recv(fd, buf, sizeof(buf) - 1, 0);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_memory_equal(buf, "HTTP/1.1 200 ", 13);
    assert_int_equal(fx->route_calls, 1);
    close(fd);
}

static void test_free_stops_accepting(void **state)
{
    fx_t *fx = *state;
    client_t c;
    int fd;

    start(fx, "127.0.0.1:0");
    request(fx, &c, "GET", "/metrics");
    assert_int_equal(c.status, 200);
    client_destroy(&c);

    xacct_metrics_http_free(fx->srv);
    fx->srv = NULL;
    /* Only the server kept the loop alive: this returns once it is gone. */
    assert_int_equal(uv_run(&fx->loop, UV_RUN_DEFAULT), 0);
    fd = connect_local(fx->port);
    if (fd >= 0)
        close(fd);
    assert_true(fd < 0);
    assert_int_equal(errno, ECONNREFUSED);
    xacct_metrics_http_free(NULL); /* a no-op */
}

static void test_free_from_inside_the_route(void **state)
{
    fx_t *fx = *state;
    client_t c;
    int fd;

    start(fx, "127.0.0.1:0");
    request(fx, &c, "GET", "/quit");
    /* The request may or may not be answered; the client must not hang
     * and the server must be gone. */
    assert_true(c.curl_rc != CURLE_OK || c.status == 200);
    assert_int_equal(fx->route_calls, 1);
    assert_null(fx->srv);
    client_destroy(&c);
    while (uv_run(&fx->loop, UV_RUN_NOWAIT) != 0) {
    }
    fd = connect_local(fx->port);
    if (fd >= 0)
        close(fd);
    assert_true(fd < 0);
}

static void test_connection_left_open_at_free(void **state)
{
    fx_t *fx = *state;
    char buf[64];
    ssize_t n;
    int one = 1;
    int fd;

    start(fx, "127.0.0.1:0");
    fd = connect_local(fx->port);
    assert_true(fd >= 0);
    spin_until(fx, timer_active, &one);
    assert_int_equal(active_timers(fx), 1); /* MHD has the connection */
    xacct_metrics_http_free(fx->srv);
    fx->srv = NULL;
    assert_int_equal(uv_run(&fx->loop, UV_RUN_DEFAULT), 0);
    /* MHD closed the connection: the client sees the end of the stream (or
     * a reset), not the receive timeout. */
    errno = 0;
    n = recv(fd, buf, sizeof(buf), 0);
    if (!(n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)))
        fail_msg("recv: %zd, %s", n, strerror(errno));
    close(fd);
}

/* A client that sends a request one header byte at a time, a little faster
 * than any idle timeout, for up to 15 s or until the server closes on it. */
typedef struct trickler {
    fx_t *fx;
    pthread_t th;
    double cut_after_s; /* when the server closed on it; -1: it never did */
} trickler_t;

static double since_s(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void *trickler_main(void *arg)
{
    static const char start_line[] = "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ";
    trickler_t *t = arg;
    struct timespec t0;
    char c;

    t->cut_after_s = -1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int fd = connect_local(t->fx->port);
    if (fd >= 0 && send(fd, start_line, sizeof(start_line) - 1, MSG_NOSIGNAL) > 0) {
        while (since_s(&t0) < 15) {
            ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ||
                send(fd, "a", 1, MSG_NOSIGNAL) != 1) {
                t->cut_after_s = since_s(&t0);
                break;
            }
            usleep(250 * 1000);
        }
    }
    if (fd >= 0)
        close(fd);
    atomic_fetch_sub(&t->fx->pending, 1);
    uv_async_send(&t->fx->wake);
    return NULL;
}

static void *late_client_main(void *arg)
{
    usleep(500 * 1000); /* after the tricklers hold every slot */
    return client_main(arg);
}

/*
 * Slowloris: clients that keep every connection slot busy by trickling their
 * request never go idle, so MHD's idle timeout alone would let them hold the
 * endpoint for ever (and a liveness probe of /healthz would fail). A request
 * must arrive whole within its deadline; then the slot goes to the next
 * client.
 */
static void test_trickling_clients_are_cut(void **state)
{
    enum { N = 32 }; /* every slot */
    fx_t *fx = *state;
    trickler_t ts[N];
    client_t probe;
    struct timespec t0;

    start(fx, "127.0.0.1:0");
    client_init(&probe, fx, "GET", "/healthz");
    atomic_store(&fx->pending, N + 1);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < N; i++) {
        ts[i].fx = fx;
        assert_int_equal(pthread_create(&ts[i].th, NULL, trickler_main, &ts[i]), 0);
    }
    assert_int_equal(pthread_create(&probe.th, NULL, late_client_main, &probe), 0);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    for (int i = 0; i < N; i++)
        pthread_join(ts[i].th, NULL);
    pthread_join(probe.th, NULL);
    for (int i = 0; i < N; i++)
        if (ts[i].cut_after_s < 0 || ts[i].cut_after_s > 9)
            fail_msg("trickling client %d: cut after %.1f s", i, ts[i].cut_after_s);
    assert_int_equal(probe.curl_rc, CURLE_OK);
    assert_int_equal(probe.status, 200);
    assert_true(since_s(&t0) < 14);
    assert_int_equal(fx->route_calls, 1);
    client_destroy(&probe);
}

/* A handler that answers 1.5 s later, from a timer. */
typedef struct late_answer {
    uv_timer_t timer;
    xacct_httpd_req_t *req;
} late_answer_t;

static void on_late_answer(uv_timer_t *t)
{
    late_answer_t *la = t->data;
    xacct_httpd_respond(la->req, 200, NULL, NULL, "late\n", 5);
    la->req = NULL;
}

static void late_handler(void *arg, xacct_httpd_req_t *req)
{
    late_answer_t *la = arg;
    la->req = req;
    uv_timer_start(&la->timer, on_late_answer, 1500, 0);
}

/* The request deadline is the client's: a handler that takes longer than it
 * (the API waiting for Redis) does not get its connection cut. */
static void test_handler_time_is_not_the_clients(void **state)
{
    fx_t *fx = *state;
    late_answer_t la = {.req = NULL};
    xacct_httpd_t *httpd = NULL;
    xacct_httpd_options_t opt = {
        .listen = "127.0.0.1:0",
        .idle_timeout_s = 10,
        .request_timeout_s = 1,
        .handler = late_handler,
        .arg = &la,
    };
    char err[256] = "";
    client_t c;

    uv_timer_init(&fx->loop, &la.timer);
    la.timer.data = &la;
    if (xacct_httpd_new(&fx->loop, &opt, &httpd, err, sizeof(err)) != 0)
        fail_msg("xacct_httpd_new: %s", err);
    fx->port = xacct_httpd_port(httpd);
    get_expect(fx, &c, "/slow", 200);
    assert_string_equal(c.body.data, "late\n");
    client_destroy(&c);
    xacct_httpd_free(httpd);
    uv_close((uv_handle_t *)&la.timer, NULL);
    while (uv_run(&fx->loop, UV_RUN_DEFAULT) != 0) {
    }
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_get_metrics),
        T(test_query_string_is_not_part_of_path),
        T(test_head_has_headers_and_no_body),
        T(test_route_status_passes_through),
        T(test_bad_route_status_is_500),
        T(test_other_methods_get_405),
        T(test_malformed_request_gets_400),
        T(test_port_zero_and_localhost),
        T(test_port_in_use_is_eio),
        T(test_bad_listen_is_einval),
        T(test_ipv6_loopback),
        T(test_concurrent_clients),
        T(test_timer_only_while_connections_are_open),
        T(test_connection_limit),
        T(test_free_stops_accepting),
        T(test_free_from_inside_the_route),
        T(test_connection_left_open_at_free),
        T(test_trickling_clients_are_cut),
        T(test_handler_time_is_not_the_clients),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
