/* SPDX-License-Identifier: MIT */
/*
 * Tests for the asynchronous HTTP client against a local Python server
 * (tests/support/http_test_server.py) started per test group, and TLS servers
 * with certificates minted here with the openssl command. Every server is
 * stopped by pid on every exit path (and dies with this process through
 * PR_SET_PDEATHSIG and its closed stdin); every test ends with
 * uv_loop_close() == 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "xacct/http.h"
/* The private structures, to reach a request's easy handle in one test. */
#include "../../src/aws/http_int.h"

/* --- the test server --------------------------------------------------- */

typedef struct server {
    pid_t pid;    /* 0 when not running */
    int stdin_fd; /* its stdin; closing it also stops it */
    int port;
} server_t;

static const char *python_path(void)
{
    const char *p = getenv("XACCT_PYTHON");
    return p && *p ? p : "/usr/bin/python3";
}

static char *script_path(void)
{
    const char *src = getenv("XACCT_SOURCE_DIR");
    if (src && *src)
        return xacct_asprintf("%s/tests/support/http_test_server.py", src);
    /* __FILE__ is absolute in CMake builds: tests/unit/test_http.c */
    const char *f = __FILE__;
    const char *cut = strstr(f, "tests/unit/");
    return xacct_asprintf("%.*stests/support/http_test_server.py", (int)(cut - f), f);
}

static void server_stop(server_t *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
    if (s->stdin_fd >= 0) {
        close(s->stdin_fd);
        s->stdin_fd = -1;
    }
}

/* Starts the server (TLS when cert/key are given) and reads its port. */
static int server_start(server_t *s, const char *cert, const char *key)
{
    int in[2], outp[2];
    char *script = script_path();
    int rc = -1;

    s->pid = 0;
    s->stdin_fd = -1;
    s->port = 0;
    if (pipe(in) != 0)
        goto out;
    if (pipe(outp) != 0) {
        close(in[0]);
        close(in[1]);
        goto out;
    }
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(in[0], 0);
        dup2(outp[1], 1);
        close(in[0]);
        close(in[1]);
        close(outp[0]);
        close(outp[1]);
        if (cert)
            execl(python_path(), python_path(), script, "--cert", cert, "--key", key,
                  (char *)NULL);
        else
            execl(python_path(), python_path(), script, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(outp[1]);
    s->stdin_fd = in[1];
    if (pid < 0) {
        close(outp[0]);
        goto out;
    }
    s->pid = pid;
    FILE *f = fdopen(outp[0], "r");
    if (f == NULL) {
        close(outp[0]);
        goto out;
    }
    if (fscanf(f, "%d", &s->port) == 1 && s->port > 0)
        rc = 0;
    fclose(f);
out:
    free(script);
    if (rc != 0)
        server_stop(s);
    return rc;
}

/* --- fixtures ------------------------------------------------------------ */

typedef struct fx {
    uv_loop_t loop;
    uv_timer_t watchdog; /* unref'd: stops a stuck loop, never keeps it alive */
    uv_timer_t timer;    /* for tests that act from the loop */
    xacct_http_t *h;
    bool loop_closed;
    server_t tls[2];
    char tmpdir[64];
} fx_t;

static server_t g_server; /* the plain server, started once for the group */

static int group_setup(void **state)
{
    XACCT_UNUSED(state);
    signal(SIGPIPE, SIG_IGN);
    return server_start(&g_server, NULL, NULL);
}

static int group_teardown(void **state)
{
    XACCT_UNUSED(state);
    server_stop(&g_server);
    return 0;
}

static void watchdog_cb(uv_timer_t *t)
{
    uv_stop(t->loop);
}

static int setup(void **state)
{
    fx_t *fx = xacct_calloc(1, sizeof(*fx));
    fx->tls[0].stdin_fd = fx->tls[1].stdin_fd = -1;
    if (uv_loop_init(&fx->loop) != 0)
        return -1;
    uv_timer_init(&fx->loop, &fx->watchdog);
    uv_timer_start(&fx->watchdog, watchdog_cb, 30000, 0);
    uv_unref((uv_handle_t *)&fx->watchdog);
    uv_timer_init(&fx->loop, &fx->timer);
    *state = fx;
    return 0;
}

static void close_all(fx_t *fx)
{
    xacct_http_free(fx->h);
    fx->h = NULL;
    if (!uv_is_closing((uv_handle_t *)&fx->watchdog))
        uv_close((uv_handle_t *)&fx->watchdog, NULL);
    if (!uv_is_closing((uv_handle_t *)&fx->timer))
        uv_close((uv_handle_t *)&fx->timer, NULL);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
}

/* The end of every test: free the client, close every handle, and check
 * that nothing is left on the loop. */
static void finish_loop(fx_t *fx)
{
    close_all(fx);
    fx->loop_closed = true;
    assert_int_equal(uv_loop_close(&fx->loop), 0);
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    if (!fx->loop_closed) {
        close_all(fx);
        uv_loop_close(&fx->loop);
    }
    server_stop(&fx->tls[0]);
    server_stop(&fx->tls[1]);
    if (fx->tmpdir[0]) {
        char *cmd = xacct_asprintf("rm -rf '%s'", fx->tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", fx->tmpdir);
        free(cmd);
    }
    free(fx);
    return 0;
}

static void new_client(fx_t *fx, const xacct_http_options_t *opts)
{
    assert_int_equal(xacct_http_new(&fx->loop, opts, &fx->h), 0);
    assert_non_null(fx->h);
}

static void run(fx_t *fx)
{
    uv_run(&fx->loop, UV_RUN_DEFAULT);
}

static const char *url_on(int port, const char *scheme, const char *path)
{
    static char buf[8][512];
    static unsigned n;
    char *b = buf[n++ % 8];
    snprintf(b, sizeof(buf[0]), "%s://127.0.0.1:%d%s", scheme, port, path);
    return b;
}

static const char *url(const char *path)
{
    return url_on(g_server.port, "http", path);
}

/* --- what a callback saw ------------------------------------------------- */

typedef struct result {
    int calls;           /* how many times the callback fired */
    int status;          /* its status */
    long code;           /* HTTP status */
    double seconds;      /* total_seconds */
    char *detail;        /* copy of detail, or NULL */
    char *body;          /* copy of the body */
    size_t body_len;
    bool resp_null;      /* resp was NULL */
    bool names_lower;    /* every response header name was lower case */
    char *x_echo;        /* value of the x-echo header, looked up as X-Echo */
    char *conn_id;       /* value of x-conn-id */
    char *content_length;
    json_t *json;        /* body parsed, when it is JSON */
    /* for chained or reentrant tests */
    fx_t *fx;
    int chain_left;
    long conns[16];
    int nconns;
    bool free_in_cb;
    xacct_http_req_t *victim; /* cancelled from this request's callback */
} result_t;

static void result_clear(result_t *r)
{
    free(r->detail);
    free(r->body);
    free(r->x_echo);
    free(r->conn_id);
    free(r->content_length);
    if (r->json)
        json_decref(r->json);
}

static char *dup_or_null(const char *s)
{
    return s ? xacct_strdup(s) : NULL;
}

static void record(int status, const char *detail, const xacct_http_response_t *resp, void *arg)
{
    result_t *r = arg;
    r->calls++;
    r->status = status;
    r->resp_null = resp == NULL;
    free(r->detail);
    r->detail = dup_or_null(detail);
    if (resp == NULL)
        return;
    r->code = resp->status;
    r->seconds = resp->total_seconds;
    free(r->body);
    r->body = xacct_malloc(resp->body_len + 1);
    memcpy(r->body, resp->body, resp->body_len + 1);
    r->body_len = resp->body_len;
    r->names_lower = true;
    for (size_t i = 0; i < resp->nheaders; i++)
        for (const char *p = resp->headers[i].name; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                r->names_lower = false;
    free(r->x_echo);
    r->x_echo = dup_or_null(xacct_http_response_header(resp, "X-Echo"));
    free(r->conn_id);
    r->conn_id = dup_or_null(xacct_http_response_header(resp, "x-conn-id"));
    free(r->content_length);
    r->content_length = dup_or_null(xacct_http_response_header(resp, "content-length"));
    const char *ct = xacct_http_response_header(resp, "content-type");
    if (r->json)
        json_decref(r->json);
    r->json = NULL;
    if (ct && strcmp(ct, "application/json") == 0)
        r->json = json_loadb(resp->body, resp->body_len, JSON_ALLOW_NUL, NULL);
}

static void submit(fx_t *fx, const xacct_http_request_t *req, result_t *res)
{
    assert_int_equal(xacct_http_submit(fx->h, req, record, res, NULL), 0);
}

static void get(fx_t *fx, const char *u, result_t *res)
{
    xacct_http_request_t req = {.method = "GET", .url = u};
    submit(fx, &req, res);
}

/* Finds a request header in an /echo answer; NULL if the server did not see it. */
static const char *echo_header(const result_t *r, const char *name)
{
    json_t *hs = json_object_get(r->json, "headers");
    size_t i;
    json_t *pair;
    json_array_foreach(hs, i, pair)
    {
        if (strcasecmp(json_string_value(json_array_get(pair, 0)), name) == 0)
            return json_string_value(json_array_get(pair, 1));
    }
    return NULL;
}

static const char *echo_str(const result_t *r, const char *key)
{
    if (r->json == NULL)
        fail_msg("no JSON answer (status %d, detail %s)", r->status,
                 r->detail ? r->detail : "-");
    return json_string_value(json_object_get(r->json, key));
}

static long long echo_int(const result_t *r, const char *key)
{
    return json_integer_value(json_object_get(r->json, key));
}

static void sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned int len = 0;
    EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static unsigned char pattern_byte(size_t i)
{
    return (unsigned char)((i * 31 + 7) & 0xff);
}

/* --- tests --------------------------------------------------------------- */

static void test_get_roundtrip(void **state)
{
    fx_t *fx = *state;
    result_t res = {0};
    new_client(fx, NULL);

    xacct_header_t hdrs[] = {{"X-Amz-Target", "AmazonSQS.ReceiveMessage"}, {"X-Other", "a b"}};
    xacct_http_request_t req = {
        .method = "GET", .url = url("/echo?x=1&y=%2F"), .headers = hdrs, .nheaders = 2};
    submit(fx, &req, &res);
    assert_int_equal(xacct_http_in_flight(fx->h), 1);
    assert_int_equal(res.calls, 0); /* never from inside submit */
    run(fx);

    assert_int_equal(res.calls, 1);
    assert_int_equal(res.status, 0);
    assert_false(res.resp_null);
    assert_int_equal(res.code, 200);
    assert_non_null(res.json);
    assert_string_equal(echo_str(&res, "method"), "GET");
    assert_string_equal(echo_str(&res, "path"), "/echo?x=1&y=%2F");
    assert_string_equal(echo_header(&res, "X-Amz-Target"), "AmazonSQS.ReceiveMessage");
    assert_string_equal(echo_header(&res, "X-Other"), "a b");
    assert_string_equal(echo_header(&res, "User-Agent"), "xacct/" XACCT_VERSION);
    assert_null(echo_header(&res, "Content-Type"));
    assert_true(res.names_lower);
    assert_non_null(res.x_echo);
    assert_string_equal(res.x_echo, "Yes");
    assert_int_equal(xacct_http_in_flight(fx->h), 0);
    result_clear(&res);
    finish_loop(fx);
}

static void test_put_post_delete_bodies(void **state)
{
    fx_t *fx = *state;
    result_t put = {0}, post = {0}, del = {0};
    xacct_http_options_t opts = {.user_agent = "xacct-test/1"};
    new_client(fx, &opts);

    char text[] = "hello put";
    xacct_header_t ct[] = {{"Content-Type", "text/plain"}};
    xacct_http_request_t r1 = {.method = "PUT", .url = url("/echo"), .headers = ct,
                               .nheaders = 1, .body = text, .body_len = strlen(text)};
    submit(fx, &r1, &put);
    /* the body is copied: scribbling on ours must not matter */
    memset(text, 'X', strlen(text));

    unsigned char bin[300];
    for (size_t i = 0; i < sizeof(bin); i++)
        bin[i] = (unsigned char)(i * 7); /* includes NUL bytes */
    xacct_header_t json_ct[] = {{"content-type", "application/x-amz-json-1.0"}};
    xacct_http_request_t r2 = {.method = "POST", .url = url("/echo"), .headers = json_ct,
                               .nheaders = 1, .body = bin, .body_len = sizeof(bin)};
    submit(fx, &r2, &post);

    xacct_http_request_t r3 = {.method = "DELETE", .url = url("/echo?k=v")};
    submit(fx, &r3, &del);
    assert_int_equal(xacct_http_in_flight(fx->h), 3);
    run(fx);

    assert_int_equal(put.calls, 1);
    assert_int_equal(put.status, 0);
    assert_string_equal(echo_str(&put, "method"), "PUT");
    assert_string_equal(echo_str(&put, "body"), "hello put");
    assert_string_equal(echo_header(&put, "Content-Type"), "text/plain");
    assert_string_equal(echo_header(&put, "User-Agent"), "xacct-test/1");
    assert_null(echo_header(&put, "Expect"));

    char hex[65];
    sha256_hex(bin, sizeof(bin), hex);
    assert_int_equal(post.calls, 1);
    assert_int_equal(post.status, 0);
    assert_string_equal(echo_str(&post, "method"), "POST");
    assert_int_equal(echo_int(&post, "body_len"), sizeof(bin));
    assert_string_equal(echo_str(&post, "body_sha256"), hex);
    assert_string_equal(echo_header(&post, "Content-Type"), "application/x-amz-json-1.0");

    assert_int_equal(del.calls, 1);
    assert_int_equal(del.status, 0);
    assert_string_equal(echo_str(&del, "method"), "DELETE");
    assert_int_equal(echo_int(&del, "body_len"), 0);

    result_clear(&put);
    result_clear(&post);
    result_clear(&del);
    finish_loop(fx);
}

/* The CloudFormation ResponseURL case: a presigned PUT with an empty
 * Content-Type, which must reach the server as an empty header and not as
 * curl's application/x-www-form-urlencoded. */
static void test_empty_header_value(void **state)
{
    fx_t *fx = *state;
    result_t empty = {0}, none = {0}, big = {0};
    new_client(fx, NULL);

    const char *doc = "{\"Status\":\"SUCCESS\"}";
    xacct_header_t hdrs[] = {{"Content-Type", ""}};
    xacct_http_request_t r1 = {.method = "PUT", .url = url("/echo"), .headers = hdrs,
                               .nheaders = 1, .body = doc, .body_len = strlen(doc)};
    submit(fx, &r1, &empty);

    xacct_http_request_t r2 = {.method = "PUT", .url = url("/echo"), .body = doc,
                               .body_len = strlen(doc)};
    submit(fx, &r2, &none);

    /* curl would send "Expect: 100-continue" for a body this size */
    size_t n = 2 * 1024 * 1024;
    char *body = xacct_malloc(n);
    for (size_t i = 0; i < n; i++)
        body[i] = (char)pattern_byte(i);
    xacct_http_request_t r3 = {.method = "POST", .url = url("/echo"), .body = body,
                               .body_len = n};
    submit(fx, &r3, &big);
    run(fx);

    assert_int_equal(empty.status, 0);
    assert_non_null(echo_header(&empty, "Content-Type"));
    assert_string_equal(echo_header(&empty, "Content-Type"), "");
    assert_string_equal(echo_str(&empty, "body"), doc);

    assert_int_equal(none.status, 0);
    assert_null(echo_header(&none, "Content-Type"));
    assert_string_equal(echo_str(&none, "body"), doc);

    char hex[65];
    sha256_hex(body, n, hex);
    assert_int_equal(big.status, 0);
    assert_null(echo_header(&big, "Expect"));
    assert_int_equal(echo_int(&big, "body_len"), n);
    assert_string_equal(echo_str(&big, "body_sha256"), hex);

    free(body);
    result_clear(&empty);
    result_clear(&none);
    result_clear(&big);
    finish_loop(fx);
}

#define MANY 256

static void test_many_in_flight(void **state)
{
    fx_t *fx = *state;
    static result_t res[MANY];
    xacct_http_options_t opts = {.max_host_connections = 16};
    new_client(fx, &opts);

    memset(res, 0, sizeof(res));
    for (int i = 0; i < MANY; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/delay?ms=20&i=%d", i);
        get(fx, url(path), &res[i]);
    }
    assert_int_equal(xacct_http_in_flight(fx->h), MANY);
    run(fx);

    long long ids[MANY];
    int distinct = 0;
    for (int i = 0; i < MANY; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/delay?ms=20&i=%d", i);
        assert_int_equal(res[i].calls, 1);
        assert_int_equal(res[i].status, 0);
        assert_int_equal(res[i].code, 200);
        assert_string_equal(echo_str(&res[i], "path"), path);
        assert_true(res[i].seconds >= 0.015);
        long long c = echo_int(&res[i], "conn");
        assert_true(c > 0);
        int j = 0;
        while (j < distinct && ids[j] != c)
            j++;
        if (j == distinct)
            ids[distinct++] = c;
    }
    /* they ran side by side, on at most max_host_connections connections */
    assert_true(distinct > 1);
    assert_true(distinct <= 16);
    assert_int_equal(xacct_http_in_flight(fx->h), 0);
    for (int i = 0; i < MANY; i++)
        result_clear(&res[i]);
    finish_loop(fx);
}

/* Each completion submits the next request: all go over one connection. */
static void chain_cb(int status, const char *detail, const xacct_http_response_t *resp,
                     void *arg)
{
    result_t *r = arg;
    record(status, detail, resp, arg);
    if (status == 0 && r->json && r->nconns < 16)
        r->conns[r->nconns++] = (long)echo_int(r, "conn");
    if (--r->chain_left > 0) {
        xacct_http_request_t req = {.method = "GET", .url = url("/conn")};
        assert_int_equal(xacct_http_submit(r->fx->h, &req, chain_cb, r, NULL), 0);
    }
}

static void test_connection_reuse(void **state)
{
    fx_t *fx = *state;
    result_t res = {.fx = fx, .chain_left = 5};
    new_client(fx, NULL);

    xacct_http_request_t req = {.method = "GET", .url = url("/conn")};
    assert_int_equal(xacct_http_submit(fx->h, &req, chain_cb, &res, NULL), 0);
    run(fx);

    assert_int_equal(res.calls, 5);
    assert_int_equal(res.nconns, 5);
    for (int i = 1; i < 5; i++)
        assert_int_equal(res.conns[i], res.conns[0]);

    /* and a later request, after the loop went idle, still reuses it, and
     * takes the easy handle a finished transfer left for reuse */
    size_t spares = fx->h->_nspare; /* 2: each of the chain was asked for in
                                       its predecessor's callback */
    assert_true(spares >= 1);
    CURL *spare = fx->h->_spare[spares - 1];
    result_t again = {0};
    xacct_http_req_t *handle = NULL;
    xacct_http_request_t req2 = {.method = "GET", .url = url("/conn")};
    assert_int_equal(xacct_http_submit(fx->h, &req2, record, &again, &handle), 0);
    assert_int_equal(fx->h->_nspare, spares - 1);
    assert_ptr_equal(((struct xacct_http_req *)handle)->_easy, spare);
    run(fx);
    assert_int_equal(again.status, 0);
    assert_int_equal(echo_int(&again, "conn"), res.conns[0]);
    assert_int_equal(fx->h->_nspare, spares);
    result_clear(&res);
    result_clear(&again);
    finish_loop(fx);
}

static size_t sock_count(const xacct_http_t *h)
{
    size_t n = 0;
    for (const xacct_http_sock_t *s = h->_socks; s != NULL; s = s->_next)
        n++;
    return n;
}

/* Ticks every 20 ms until the pooled socket's poll has been stopped, or
 * gives up after 10 s (the assertions after the loop then fail). */
static void idle_stopped_cb(uv_timer_t *t)
{
    fx_t *fx = t->data;
    static int ticks;
    if ((fx->h->_socks != NULL && fx->h->_socks->_events == 0) || ++ticks > 500)
        uv_timer_stop(t);
}

/* One poll handle per socket, kept across transfers on the connection (it
 * is what spares the epoll_ctl calls); a pooled connection the server
 * closes is stopped being watched, then replaced when next used. */
static void test_poll_kept_per_connection(void **state)
{
    fx_t *fx = *state;
    result_t res = {.fx = fx, .chain_left = 3};
    new_client(fx, NULL);

    xacct_http_request_t req = {.method = "GET", .url = url("/conn")};
    assert_int_equal(xacct_http_submit(fx->h, &req, chain_cb, &res, NULL), 0);
    run(fx); /* returns with the connection pooled: its poll does not hold the loop */
    assert_int_equal(res.calls, 3);
    assert_int_equal(res.conns[2], res.conns[0]);
    assert_int_equal(sock_count(fx->h), 1);
    xacct_http_sock_t *pooled = fx->h->_socks;
    assert_true(pooled->_idle);
    assert_int_equal(pooled->_events, UV_READABLE);

    /* the next transfer on the connection uses the same handle */
    result_t again = {0};
    get(fx, url("/conn?idle_close_ms=50"), &again);
    run(fx);
    assert_int_equal(again.status, 0);
    assert_int_equal(echo_int(&again, "conn"), res.conns[0]);
    assert_int_equal(sock_count(fx->h), 1);
    assert_ptr_equal(fx->h->_socks, pooled);

    /* the server drops it while idle: no longer watched (no busy loop on
     * its end of file) */
    fx->timer.data = fx;
    uv_timer_start(&fx->timer, idle_stopped_cb, 20, 20);
    run(fx);
    assert_int_equal(sock_count(fx->h), 1);
    assert_int_equal(fx->h->_socks->_events, 0);

    /* and the next request goes over a new connection, its socket watched
     * by a new handle, the dead one's closed with its socket */
    result_t fresh = {0};
    get(fx, url("/conn"), &fresh);
    run(fx);
    assert_int_equal(fresh.status, 0);
    assert_true(echo_int(&fresh, "conn") != res.conns[0]);
    assert_int_equal(sock_count(fx->h), 1);
    assert_true(fx->h->_socks->_idle);
    assert_int_equal(fx->h->_socks->_events, UV_READABLE);
    result_clear(&res);
    result_clear(&again);
    result_clear(&fresh);
    finish_loop(fx);
}

static void test_timeout(void **state)
{
    fx_t *fx = *state;
    result_t res = {0};
    new_client(fx, NULL);

    /* The server would answer after 30 s: ending well before that proves
     * the 200 ms timeout ended it (the bound leaves room for a loaded
     * machine under ASan). */
    xacct_http_request_t req = {.method = "GET", .url = url("/delay?ms=30000"),
                                .timeout_ms = 200};
    submit(fx, &req, &res);
    uint64_t t0 = uv_hrtime();
    run(fx);
    uint64_t ms = (uv_hrtime() - t0) / 1000000u;

    assert_int_equal(res.calls, 1);
    assert_int_equal(res.status, XACCT_ETIMEOUT);
    assert_true(res.resp_null);
    assert_non_null(res.detail);
    assert_true(ms >= 150 && ms < 15000);
    result_clear(&res);
    finish_loop(fx);
}

static void test_connection_refused(void **state)
{
    fx_t *fx = *state;
    result_t res = {0};

    /* A bound socket that does not listen: connecting to it is refused, and
     * nobody else can take the port meanwhile. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t len = sizeof(sa);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);

    new_client(fx, NULL);
    get(fx, url_on(ntohs(sa.sin_port), "http", "/"), &res);
    run(fx);
    close(fd);

    assert_int_equal(res.calls, 1);
    assert_int_equal(res.status, XACCT_ECONNREFUSED);
    assert_true(res.resp_null);
    assert_non_null(res.detail);
    assert_true(strlen(res.detail) > 0);
    result_clear(&res);
    finish_loop(fx);
}

static void check_pattern(const result_t *r, size_t n)
{
    assert_int_equal(r->body_len, n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)r->body[i] != pattern_byte(i))
            fail_msg("byte %zu differs", i);
    assert_int_equal(r->body[n], '\0');
}

static void test_large_body(void **state)
{
    fx_t *fx = *state;
    result_t sized = {0}, chunked = {0};
    size_t n = 5 * 1000 * 1000 + 3;
    char path[64], cpath[64];
    new_client(fx, NULL);

    snprintf(path, sizeof(path), "/bytes?n=%zu", n);
    snprintf(cpath, sizeof(cpath), "/bytes?n=%zu&chunked=1", n);
    get(fx, url(path), &sized);
    get(fx, url(cpath), &chunked);
    run(fx);

    assert_int_equal(sized.status, 0);
    assert_int_equal(sized.code, 200);
    check_pattern(&sized, n);
    assert_int_equal(chunked.status, 0);
    check_pattern(&chunked, n);
    result_clear(&sized);
    result_clear(&chunked);
    finish_loop(fx);
}

static void test_body_over_cap(void **state)
{
    fx_t *fx = *state;
    result_t sized = {0}, chunked = {0}, exact = {0}, headers = {0};
    new_client(fx, NULL);

    /* Content-Length over the cap, and a chunked body that grows over it */
    xacct_http_request_t r1 = {.method = "GET", .url = url("/bytes?n=5000000"),
                               .max_body = 1024 * 1024};
    xacct_http_request_t r2 = {.method = "GET", .url = url("/bytes?n=5000000&chunked=1"),
                               .max_body = 1024 * 1024};
    /* exactly at the cap is fine */
    xacct_http_request_t r3 = {.method = "GET", .url = url("/bytes?n=1048576&chunked=1"),
                               .max_body = 1024 * 1024};
    /* too many response headers */
    xacct_http_request_t r4 = {.method = "GET", .url = url("/headers?n=300")};
    submit(fx, &r1, &sized);
    submit(fx, &r2, &chunked);
    submit(fx, &r3, &exact);
    submit(fx, &r4, &headers);
    run(fx);

    assert_int_equal(sized.calls, 1);
    assert_int_equal(sized.status, XACCT_ETOOBIG);
    assert_true(sized.resp_null);
    assert_int_equal(chunked.calls, 1);
    assert_int_equal(chunked.status, XACCT_ETOOBIG);
    assert_true(chunked.resp_null);
    assert_int_equal(exact.status, 0);
    check_pattern(&exact, 1024 * 1024);
    assert_int_equal(headers.calls, 1);
    assert_int_equal(headers.status, XACCT_ETOOBIG);
    result_clear(&sized);
    result_clear(&chunked);
    result_clear(&exact);
    result_clear(&headers);
    finish_loop(fx);
}

static void test_status_and_head(void **state)
{
    fx_t *fx = *state;
    result_t nf = {0}, err = {0}, head = {0};
    new_client(fx, NULL);

    get(fx, url("/status?code=404"), &nf);
    xacct_http_request_t r2 = {.method = "POST", .url = url("/status?code=503")};
    submit(fx, &r2, &err);
    xacct_http_request_t r3 = {.method = "HEAD", .url = url("/bytes?n=100")};
    submit(fx, &r3, &head);
    run(fx);

    /* an HTTP error status is a response, not a transport failure */
    assert_int_equal(nf.status, 0);
    assert_int_equal(nf.code, 404);
    assert_int_equal(nf.body_len, 0);
    assert_string_equal(nf.body, "");
    assert_int_equal(err.status, 0);
    assert_int_equal(err.code, 503);
    assert_int_equal(head.status, 0);
    assert_int_equal(head.code, 200);
    assert_int_equal(head.body_len, 0);
    assert_string_equal(head.content_length, "100");
    result_clear(&nf);
    result_clear(&err);
    result_clear(&head);
    finish_loop(fx);
}

static void test_invalid_requests(void **state)
{
    fx_t *fx = *state;
    result_t res = {0};
    xacct_http_req_t *handle = (xacct_http_req_t *)&res;
    new_client(fx, NULL);

    xacct_http_request_t bad_method = {.method = "BREW", .url = url("/")};
    assert_int_equal(xacct_http_submit(fx->h, &bad_method, record, &res, &handle), XACCT_EINVAL);
    assert_null(handle);
    xacct_http_request_t no_method = {.url = url("/")};
    assert_int_equal(xacct_http_submit(fx->h, &no_method, record, &res, NULL), XACCT_EINVAL);
    xacct_http_request_t ftp = {.method = "GET", .url = "ftp://127.0.0.1/x"};
    assert_int_equal(xacct_http_submit(fx->h, &ftp, record, &res, NULL), XACCT_EINVAL);
    xacct_http_request_t file = {.method = "GET", .url = "file:///etc/passwd"};
    assert_int_equal(xacct_http_submit(fx->h, &file, record, &res, NULL), XACCT_EINVAL);
    xacct_http_request_t garbage = {.method = "GET", .url = "not a url"};
    assert_int_equal(xacct_http_submit(fx->h, &garbage, record, &res, NULL), XACCT_EINVAL);
    xacct_header_t inject[] = {{"X-A", "v\r\nX-Injected: 1"}};
    xacct_http_request_t crlf = {.method = "GET", .url = url("/"), .headers = inject,
                                 .nheaders = 1};
    assert_int_equal(xacct_http_submit(fx->h, &crlf, record, &res, NULL), XACCT_EINVAL);
    xacct_header_t badname[] = {{"X A:", "v"}};
    xacct_http_request_t name = {.method = "GET", .url = url("/"), .headers = badname,
                                 .nheaders = 1};
    assert_int_equal(xacct_http_submit(fx->h, &name, record, &res, NULL), XACCT_EINVAL);
    xacct_http_request_t get_body = {.method = "GET", .url = url("/"), .body = "x",
                                     .body_len = 1};
    assert_int_equal(xacct_http_submit(fx->h, &get_body, record, &res, NULL), XACCT_EINVAL);
    assert_int_equal(xacct_http_submit(fx->h, NULL, record, &res, NULL), XACCT_EINVAL);
    xacct_http_request_t ok = {.method = "GET", .url = url("/echo")};
    assert_int_equal(xacct_http_submit(fx->h, &ok, NULL, &res, NULL), XACCT_EINVAL);

    assert_int_equal(xacct_http_in_flight(fx->h), 0);
    run(fx);
    assert_int_equal(res.calls, 0);
    finish_loop(fx);
}

static void cancel_timer_cb(uv_timer_t *t)
{
    xacct_http_req_t **handle = t->data;
    xacct_http_cancel(*handle);
}

static void test_cancel(void **state)
{
    fx_t *fx = *state;
    result_t early = {0}, mid = {0}, other = {0};
    xacct_http_req_t *h1 = NULL, *h2 = NULL;
    new_client(fx, NULL);

    /* cancelled before the loop ever ran: fires inside cancel */
    xacct_http_request_t r1 = {.method = "GET", .url = url("/delay?ms=30000")};
    assert_int_equal(xacct_http_submit(fx->h, &r1, record, &early, &h1), 0);
    assert_non_null(h1);
    xacct_http_cancel(h1);
    assert_int_equal(early.calls, 1);
    assert_int_equal(early.status, XACCT_ECANCELED);
    assert_true(early.resp_null);

    /* cancelled while the server is sleeping on it */
    assert_int_equal(xacct_http_submit(fx->h, &r1, record, &mid, &h2), 0);
    get(fx, url("/echo"), &other);
    fx->timer.data = &h2;
    uv_timer_start(&fx->timer, cancel_timer_cb, 100, 0);
    uint64_t t0 = uv_hrtime();
    run(fx);
    uint64_t ms = (uv_hrtime() - t0) / 1000000u;

    assert_int_equal(early.calls, 1);
    assert_int_equal(mid.calls, 1);
    assert_int_equal(mid.status, XACCT_ECANCELED);
    assert_true(ms < 15000); /* not the server's 30 s */
    assert_int_equal(other.calls, 1);
    assert_int_equal(other.status, 0);
    assert_int_equal(xacct_http_in_flight(fx->h), 0);
    result_clear(&early);
    result_clear(&mid);
    result_clear(&other);
    finish_loop(fx);
}

#define SLOW 10

typedef struct free_ctx {
    fx_t *fx;
    result_t *res;
    int calls_at_return; /* callbacks counted right after xacct_http_free */
} free_ctx_t;

static void free_timer_cb(uv_timer_t *t)
{
    free_ctx_t *c = t->data;
    xacct_http_t *h = c->fx->h;
    xacct_http_free(h);
    c->fx->h = NULL;
    for (int i = 0; i < SLOW; i++)
        c->calls_at_return += c->res[i].calls;
    /* closing the client rejects new work */
    xacct_http_request_t req = {.method = "GET", .url = url("/echo")};
    result_t r = {0};
    assert_int_equal(xacct_http_submit(h, &req, record, &r, NULL), XACCT_ESHUTDOWN);
}

static void test_free_with_transfers_in_flight(void **state)
{
    fx_t *fx = *state;
    result_t res[SLOW] = {{0}};
    free_ctx_t c = {.fx = fx, .res = res};
    new_client(fx, NULL);

    for (int i = 0; i < SLOW; i++)
        get(fx, url("/delay?ms=30000"), &res[i]);
    fx->timer.data = &c;
    uv_timer_start(&fx->timer, free_timer_cb, 100, 0);
    uint64_t t0 = uv_hrtime();
    run(fx);
    uint64_t ms = (uv_hrtime() - t0) / 1000000u;

    assert_int_equal(c.calls_at_return, SLOW);
    for (int i = 0; i < SLOW; i++) {
        assert_int_equal(res[i].calls, 1);
        assert_int_equal(res[i].status, XACCT_ECANCELED);
        result_clear(&res[i]);
    }
    assert_true(ms < 15000); /* not the server's 30 s */
    finish_loop(fx);
}

/* The first completion frees the client from inside its callback. */
static void free_in_cb(int status, const char *detail, const xacct_http_response_t *resp,
                       void *arg)
{
    result_t *r = arg;
    record(status, detail, resp, arg);
    xacct_http_free(r->fx->h);
    r->fx->h = NULL;
}

static void test_free_from_callback(void **state)
{
    fx_t *fx = *state;
    result_t first = {.fx = fx};
    result_t res[SLOW] = {{0}};
    new_client(fx, NULL);

    for (int i = 0; i < SLOW; i++)
        get(fx, url("/delay?ms=30000"), &res[i]);
    xacct_http_request_t req = {.method = "GET", .url = url("/echo")};
    assert_int_equal(xacct_http_submit(fx->h, &req, free_in_cb, &first, NULL), 0);
    run(fx);

    assert_int_equal(first.calls, 1);
    assert_int_equal(first.status, 0);
    for (int i = 0; i < SLOW; i++) {
        assert_int_equal(res[i].calls, 1);
        assert_int_equal(res[i].status, XACCT_ECANCELED);
        result_clear(&res[i]);
    }
    result_clear(&first);
    finish_loop(fx);
}

/* Names go through curl's resolver; localhost may try ::1 first, where
 * nothing listens, and must then fall back to 127.0.0.1. */
static void test_hostname(void **state)
{
    fx_t *fx = *state;
    result_t res = {0};
    new_client(fx, NULL);

    get(fx, url("/echo"), &res);
    char u[128];
    snprintf(u, sizeof(u), "http://localhost:%d/echo?via=name", g_server.port);
    result_t named = {0};
    get(fx, u, &named);
    run(fx);
    assert_int_equal(res.status, 0);
    assert_int_equal(named.calls, 1);
    assert_int_equal(named.status, 0);
    assert_string_equal(echo_str(&named, "path"), "/echo?via=name");
    char host[64];
    snprintf(host, sizeof(host), "localhost:%d", g_server.port);
    assert_string_equal(echo_header(&named, "Host"), host);
    result_clear(&res);
    result_clear(&named);
    finish_loop(fx);
}

/* A URL that came in a message never reaches a link-local or metadata
 * address, whether it names one or a name resolves to one; the check is at
 * connect time, so names pinned to the test server still work. */
static void test_untrusted_url_never_reaches_metadata(void **state)
{
    fx_t *fx = *state;
    char ok_entry[64];
    snprintf(ok_entry, sizeof(ok_entry), "ok.test:%d:127.0.0.1", g_server.port);
    const char *const resolve[] = {
        "imds.test:80:169.254.169.254",
        "ecs.test:80:169.254.170.2",
        "v6.test:80:[fe80::1]",
        "ec2v6.test:80:[fd00:ec2::254]",
        "mapped.test:80:[::ffff:169.254.169.254]",
        ok_entry,
        NULL,
    };
    xacct_http_options_t opts = {.resolve = resolve};
    new_client(fx, &opts);

    static const char *const refused[] = {
        "http://imds.test/latest/meta-data/",
        "http://ecs.test/v2/credentials",
        "http://v6.test/",
        "http://ec2v6.test/",
        "http://mapped.test/",
        "http://169.254.169.254/latest/api/token",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://2852039166/", /* 169.254.169.254 as one number */
    };
    result_t res[XACCT_ARRAY_SIZE(refused)];
    memset(res, 0, sizeof(res));
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(refused); i++) {
        xacct_http_request_t req = {.method = "GET", .url = refused[i], .untrusted_url = true,
                                    .connect_timeout_ms = 2000};
        submit(fx, &req, &res[i]);
    }
    char ok_url[64];
    snprintf(ok_url, sizeof(ok_url), "http://ok.test:%d/echo", g_server.port);
    result_t ok = {0};
    xacct_http_request_t ok_req = {.method = "GET", .url = ok_url, .untrusted_url = true};
    submit(fx, &ok_req, &ok);
    run(fx);

    for (size_t i = 0; i < XACCT_ARRAY_SIZE(refused); i++) {
        if (res[i].calls != 1 || res[i].status != XACCT_EFORBIDDEN)
            fail_msg("%s: calls %d status %s", refused[i], res[i].calls,
                     xacct_errname(res[i].status));
        result_clear(&res[i]);
    }
    assert_int_equal(ok.calls, 1);
    assert_int_equal(ok.status, 0);
    assert_int_equal(ok.code, 200);
    result_clear(&ok);
    finish_loop(fx);
}

/* Without untrusted_url (the instance-metadata credential provider) the
 * address is not refused: the attempt goes out and fails on the network. */
static void test_trusted_url_may_reach_metadata(void **state)
{
    fx_t *fx = *state;
    result_t res = {0};
    new_client(fx, NULL);
    xacct_http_request_t req = {.method = "GET", .url = "http://169.254.169.254:1/",
                                .connect_timeout_ms = 500, .timeout_ms = 1000};
    submit(fx, &req, &res);
    run(fx);
    assert_int_equal(res.calls, 1);
    assert_int_not_equal(res.status, XACCT_EFORBIDDEN);
    result_clear(&res);
    finish_loop(fx);
}

static void test_forbidden_address_table(void **state)
{
    XACCT_UNUSED(state);
    static const struct {
        const char *addr;
        bool forbidden;
    } cases[] = {
        {"169.254.169.254", true}, {"169.254.0.0", true},       {"169.254.255.255", true},
        {"169.253.255.255", false}, {"169.255.0.0", false},     {"127.0.0.1", false},
        {"10.0.0.1", false},        {"fe80::1", true},          {"febf::1", true},
        {"fec0::1", false},         {"fd00:ec2::254", true},    {"fd00:ec2::253", false},
        {"::ffff:169.254.169.254", true}, {"64:ff9b::169.254.169.254", true},
        {"::ffff:127.0.0.1", false}, {"::1", false},             {"2600:1f18::1", false},
    };
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(cases); i++) {
        struct sockaddr_storage ss = {0};
        if (strchr(cases[i].addr, ':') != NULL) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
            s6->sin6_family = AF_INET6;
            assert_int_equal(inet_pton(AF_INET6, cases[i].addr, &s6->sin6_addr), 1);
        } else {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
            s4->sin_family = AF_INET;
            assert_int_equal(inet_pton(AF_INET, cases[i].addr, &s4->sin_addr), 1);
        }
        if (xacct__http_addr_forbidden((struct sockaddr *)&ss) != cases[i].forbidden)
            fail_msg("%s: forbidden is %d", cases[i].addr, !cases[i].forbidden);
    }
}

/* Bodies sent and received are wiped when the transfer is freed: an
 * AssumeRole form carries the ExternalId, a credentials response keys. */
static int g_wiped_with_marker;
static void count_marker(const void *p, size_t n)
{
    if (memmem(p, n, "SECRET-7f3a", 11) != NULL)
        g_wiped_with_marker++;
}

static void test_bodies_wiped(void **state)
{
    fx_t *fx = *state;
    result_t res = {0};
    new_client(fx, NULL);
    char body[] = "Action=AssumeRole&ExternalId=SECRET-7f3a";
    xacct_http_request_t req = {.method = "POST", .url = url("/echo"), .body = body,
                                .body_len = strlen(body)};
    g_wiped_with_marker = 0;
    xacct__freezero_hook = count_marker;
    submit(fx, &req, &res);
    run(fx);
    xacct__freezero_hook = NULL;
    assert_int_equal(res.status, 0);
    assert_non_null(strstr(res.body, "SECRET-7f3a")); /* echoed back */
    /* The request's copy and the response body (at least once each). */
    assert_true(g_wiped_with_marker >= 2);
    result_clear(&res);
    finish_loop(fx);
}

/* A server whose accept queue is full drops our SYN: only the connect
 * timeout ends the transfer. */
static void test_connect_timeout(void **state)
{
    fx_t *fx = *state;
    result_t res = {0};
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int fill[4];
    assert_true(lfd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t len = sizeof(sa);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
    assert_int_equal(listen(lfd, 0), 0);
    for (int i = 0; i < 4; i++) {
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        assert_true(fill[i] >= 0);
        connect(fill[i], (struct sockaddr *)&sa, sizeof(sa)); /* EINPROGRESS is fine */
    }

    new_client(fx, NULL);
    xacct_http_request_t req = {.method = "GET",
                                .url = url_on(ntohs(sa.sin_port), "http", "/"),
                                .connect_timeout_ms = 300, .timeout_ms = 10000};
    submit(fx, &req, &res);
    uint64_t t0 = uv_hrtime();
    run(fx);
    uint64_t ms = (uv_hrtime() - t0) / 1000000u;
    for (int i = 0; i < 4; i++)
        close(fill[i]);
    close(lfd);

    assert_int_equal(res.calls, 1);
    assert_int_equal(res.status, XACCT_ETIMEOUT);
    assert_true(ms >= 250 && ms < 8000); /* the 300 ms connect timeout, not the 10 s one */
    result_clear(&res);
    finish_loop(fx);
}

/* A callback may cancel another transfer; each still completes once. */
static void cancel_other_cb(int status, const char *detail, const xacct_http_response_t *resp,
                            void *arg)
{
    result_t *r = arg;
    record(status, detail, resp, arg);
    xacct_http_cancel(r->victim);
    /* and cancelling itself from its own callback does nothing */
    xacct_http_cancel(r->fx->timer.data);
}

static void test_cancel_from_callback(void **state)
{
    fx_t *fx = *state;
    result_t first = {.fx = fx}, victim = {0};
    xacct_http_req_t *self = NULL;
    new_client(fx, NULL);

    xacct_http_request_t slow = {.method = "GET", .url = url("/delay?ms=30000")};
    assert_int_equal(xacct_http_submit(fx->h, &slow, record, &victim, &first.victim), 0);
    xacct_http_request_t fast = {.method = "GET", .url = url("/echo")};
    assert_int_equal(xacct_http_submit(fx->h, &fast, cancel_other_cb, &first, &self), 0);
    fx->timer.data = self;
    uint64_t t0 = uv_hrtime();
    run(fx);
    uint64_t ms = (uv_hrtime() - t0) / 1000000u;

    assert_int_equal(first.calls, 1);
    assert_int_equal(first.status, 0);
    assert_int_equal(victim.calls, 1);
    assert_int_equal(victim.status, XACCT_ECANCELED);
    assert_true(ms < 15000); /* not the server's 30 s */
    assert_int_equal(xacct_http_in_flight(fx->h), 0);
    result_clear(&first);
    result_clear(&victim);
    finish_loop(fx);
}

/* Loop with nothing submitted, and free of NULL. */
static void test_idle_client(void **state)
{
    fx_t *fx = *state;
    xacct_http_free(NULL);
    xacct_http_cancel(NULL);
    assert_int_equal(xacct_http_in_flight(NULL), 0);
    new_client(fx, NULL);
    run(fx);
    finish_loop(fx);
}

/* --- TLS ----------------------------------------------------------------- */

static void sh(const char *fmt, ...) XACCT_PRINTF(1, 2);
static void sh(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char buf[2048];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    char *cmd = xacct_asprintf("( %s ) >/dev/null 2>&1", buf);
    int rc = system(cmd);
    free(cmd);
    if (rc != 0)
        fail_msg("command failed: %s", buf);
}

static void mint_ca(const char *dir, const char *name)
{
    sh("cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
       "-keyout %s.key -out %s.pem -days 2 -subj /CN=%s",
       dir, name, name, name);
}

static void mint_server(const char *dir, const char *ca, const char *name, const char *san)
{
    sh("cd '%s' && printf 'subjectAltName=%s\\nbasicConstraints=CA:FALSE\\n"
       "extendedKeyUsage=serverAuth\\n' > %s.ext",
       dir, san, name);
    sh("cd '%s' && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
       "-keyout %s.key -out %s.csr -subj /CN=%s",
       dir, name, name, name);
    sh("cd '%s' && openssl x509 -req -in %s.csr -CA %s.pem -CAkey %s.key -CAcreateserial "
       "-out %s.pem -days 2 -extfile %s.ext",
       dir, name, ca, ca, name, name);
}

static int tls_get(fx_t *fx, const char *ca_bundle, int port, result_t *res)
{
    xacct_http_t *h = NULL;
    xacct_http_options_t opts = {.ca_bundle = ca_bundle};
    assert_int_equal(xacct_http_new(&fx->loop, &opts, &h), 0);
    xacct_http_request_t req = {.method = "GET", .url = url_on(port, "https", "/echo"),
                                .timeout_ms = 10000};
    assert_int_equal(xacct_http_submit(h, &req, record, res, NULL), 0);
    run(fx);
    xacct_http_free(h);
    run(fx);
    assert_int_equal(res->calls, 1);
    if (res->status != 0)
        fprintf(stderr, "tls_get: %s: %s\n", xacct_errname(res->status),
                res->detail ? res->detail : "-");
    return res->status;
}

/* The first certificate of libcurl's default CA file (the system bundle). */
static X509 *first_system_ca(void)
{
    CURL *easy = curl_easy_init();
    char *path = NULL;
    X509 *x = NULL;
    if (curl_easy_getinfo(easy, CURLINFO_CAINFO, &path) == CURLE_OK && path != NULL) {
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            x = PEM_read_X509(f, NULL, NULL, NULL);
            fclose(f);
        }
    }
    curl_easy_cleanup(easy);
    return x;
}

/* The store finds cert by its subject, as chain building does: among what
 * it holds, or through its lookup directory. */
static bool store_has(X509_STORE *store, X509 *cert)
{
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    assert_int_equal(X509_STORE_CTX_init(ctx, store, NULL, NULL), 1);
    X509_OBJECT *obj =
        X509_STORE_CTX_get_obj_by_subject(ctx, X509_LU_X509, X509_get_subject_name(cert));
    bool found = obj != NULL && X509_cmp(X509_OBJECT_get0_X509(obj), cert) == 0;
    X509_OBJECT_free(obj);
    X509_STORE_CTX_free(ctx);
    return found;
}

static void test_tls_ca_bundle(void **state)
{
    fx_t *fx = *state;
    char path[128];

    snprintf(fx->tmpdir, sizeof(fx->tmpdir), "/tmp/xacct-http-XXXXXX");
    assert_non_null(mkdtemp(fx->tmpdir));
    mint_ca(fx->tmpdir, "ca");
    mint_ca(fx->tmpdir, "otherca");
    mint_server(fx->tmpdir, "ca", "good", "IP:127.0.0.1");
    mint_server(fx->tmpdir, "ca", "wrongname", "DNS:wrong.example");

    char cert[128], key[128];
    snprintf(cert, sizeof(cert), "%s/good.pem", fx->tmpdir);
    snprintf(key, sizeof(key), "%s/good.key", fx->tmpdir);
    assert_int_equal(server_start(&fx->tls[0], cert, key), 0);
    snprintf(cert, sizeof(cert), "%s/wrongname.pem", fx->tmpdir);
    snprintf(key, sizeof(key), "%s/wrongname.key", fx->tmpdir);
    assert_int_equal(server_start(&fx->tls[1], cert, key), 0);

    char ca[128], other[128];
    snprintf(ca, sizeof(ca), "%s/ca.pem", fx->tmpdir);
    snprintf(other, sizeof(other), "%s/otherca.pem", fx->tmpdir);

    /* the bundle's CA is trusted */
    result_t ok = {0};
    assert_int_equal(tls_get(fx, ca, fx->tls[0].port, &ok), 0);
    assert_int_equal(ok.code, 200);
    assert_string_equal(echo_str(&ok, "method"), "GET");

    /* without it (system store only), or with another CA, it is not */
    result_t none = {0}, wrong = {0}, name = {0};
    assert_int_equal(tls_get(fx, NULL, fx->tls[0].port, &none), XACCT_ETLS);
    assert_true(none.resp_null);
    assert_int_equal(tls_get(fx, other, fx->tls[0].port, &wrong), XACCT_ETLS);
    /* a trusted certificate for another name is refused too */
    assert_int_equal(tls_get(fx, ca, fx->tls[1].port, &name), XACCT_ETLS);

    /* an unreadable or empty bundle is a configuration error */
    xacct_http_t *h = (xacct_http_t *)&ok;
    xacct_http_options_t missing = {.ca_bundle = "/nonexistent/ca.pem"};
    assert_int_equal(xacct_http_new(&fx->loop, &missing, &h), XACCT_ECONFIG);
    assert_null(h);
    snprintf(path, sizeof(path), "%s/good.ext", fx->tmpdir);
    xacct_http_options_t notpem = {.ca_bundle = path};
    assert_int_equal(xacct_http_new(&fx->loop, &notpem, &h), XACCT_ECONFIG);

    /*
     * The bundle adds to the system trust instead of replacing it: the
     * client's one store finds libcurl's default CAs (through the hashed
     * system directory, read on demand, so only the bundle's CA is held up
     * front) and the bundle's CA. Every connection shares that store, and
     * libcurl loads nothing into it: its size does not change with use.
     */
    result_t sys = {0};
    xacct_http_options_t opts = {.ca_bundle = ca};
    assert_int_equal(xacct_http_new(&fx->loop, &opts, &h), 0);
    STACK_OF(X509) *bundle = NULL;
    assert_int_equal(xacct__http_ca_load(ca, &bundle), 0);
    assert_int_equal(sk_X509_OBJECT_num(X509_STORE_get0_objects(h->_trust)),
                     sk_X509_num(bundle));
    X509 *first_system = first_system_ca();
    assert_non_null(first_system);
    assert_true(store_has(h->_trust, first_system));
    assert_true(store_has(h->_trust, sk_X509_value(bundle, 0)));
    int before = sk_X509_OBJECT_num(X509_STORE_get0_objects(h->_trust));
    assert_int_equal(before, sk_X509_num(bundle) + 1); /* the system CA, now read */
    for (int i = 0; i < 2; i++) {
        xacct_http_request_t req = {.method = "GET",
                                    .url = url_on(fx->tls[0].port, "https", "/echo")};
        xacct_http_req_t *r = NULL;
        assert_int_equal(xacct_http_submit(h, &req, record, &sys, &r), 0);
        run(fx);
        assert_int_equal(sys.status, 0);
        assert_int_equal(sys.code, 200);
    }
    assert_int_equal(sys.calls, 2);
    assert_int_equal(sk_X509_OBJECT_num(X509_STORE_get0_objects(h->_trust)), before);
    xacct_http_free(h);
    run(fx);
    X509_free(first_system);
    sk_X509_pop_free(bundle, X509_free);

    result_clear(&ok);
    result_clear(&none);
    result_clear(&wrong);
    result_clear(&name);
    result_clear(&sys);
    finish_loop(fx);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_get_roundtrip),
        T(test_put_post_delete_bodies),
        T(test_empty_header_value),
        T(test_many_in_flight),
        T(test_connection_reuse),
    T(test_poll_kept_per_connection),
        T(test_timeout),
        T(test_connection_refused),
        T(test_large_body),
        T(test_body_over_cap),
        T(test_status_and_head),
        T(test_invalid_requests),
        T(test_cancel),
        T(test_free_with_transfers_in_flight),
        T(test_free_from_callback),
        T(test_idle_client),
        T(test_hostname),
        T(test_connect_timeout),
        T(test_cancel_from_callback),
        T(test_tls_ca_bundle),
        T(test_untrusted_url_never_reaches_metadata),
        T(test_trusted_url_may_reach_metadata),
        T(test_forbidden_address_table),
        T(test_bodies_wiped),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
