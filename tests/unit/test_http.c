/* SPDX-License-Identifier: MIT */
/*
 * Tests for the asynchronous HTTP client's public behaviour against the
 * local test server (tests/support/http_fixture.h): requests and their
 * bodies, connection reuse and the poll handle kept per socket, timeouts,
 * the response caps, cancelling and freeing from anywhere. The wire and
 * the connections are in test_http_conn.c, TLS in test_http_tls.c.
 */
#include "http_fixture.h"

#include <fcntl.h>

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

/* More distinct URLs than the client remembers checks for, each asked for
 * twice: every answer is for the path that was asked for, and a malformed
 * URL is still refused among them. */
static void test_url_checks_remembered(void **state)
{
    fx_t *fx = *state;
    new_client(fx, NULL);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 12; i++) {
            char path[32];
            snprintf(path, sizeof(path), "/echo/p%d", i);
            result_t res = {0};
            get(fx, url(path), &res);
            run(fx);
            assert_int_equal(res.status, 0);
            assert_string_equal(echo_str(&res, "path"), path);
            result_clear(&res);
            xacct_http_request_t bad = {.method = "GET", .url = "http://[::1/echo"};
            assert_int_equal(xacct_http_submit(fx->h, &bad, record, &res, NULL), XACCT_EINVAL);
        }
    }
    finish_loop(fx);
}

typedef struct many_headers {
    int calls, status;
    size_t seen;    /* x-h-<i> headers found with the value "<i>" */
    size_t total;   /* headers in the response */
    bool lower;     /* every name lower-cased */
} many_headers_t;

static void record_many(int status, const char *detail, const xacct_http_response_t *resp,
                        void *arg)
{
    (void)detail;
    many_headers_t *m = arg;
    m->calls++;
    m->status = status;
    if (resp == NULL)
        return;
    m->total = resp->nheaders;
    m->lower = true;
    for (size_t i = 0; i < resp->nheaders; i++) {
        for (const char *p = resp->headers[i].name; *p; p++)
            m->lower = m->lower && !(*p >= 'A' && *p <= 'Z');
        char want[16];
        unsigned k = 0;
        if (sscanf(resp->headers[i].name, "x-h-%u", &k) == 1) {
            snprintf(want, sizeof(want), "%u", k);
            m->seen += strcmp(resp->headers[i].value, want) == 0;
        }
    }
}

/* Every header of a response with many reaches the callback, name and value
 * intact, up to the cap (the cap itself: test_body_over_cap). */
static void test_many_response_headers(void **state)
{
    fx_t *fx = *state;
    many_headers_t m = {0};
    new_client(fx, NULL);
    xacct_http_request_t r = {.method = "GET", .url = url("/headers?n=200")};
    assert_int_equal(xacct_http_submit(fx->h, &r, record_many, &m, NULL), 0);
    run(fx);
    assert_int_equal(m.calls, 1);
    assert_int_equal(m.status, 0);
    assert_int_equal(m.seen, 200);
    assert_true(m.total > 200); /* and the server's own: Date, Content-Length, ... */
    assert_true(m.lower);
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
    /* cut_body: both kinds of oversized body are cut at the cap, not refused */
    xacct_http_request_t r5 = {.method = "GET", .url = url("/bytes?n=5000000"),
                               .max_body = 1024 * 1024, .cut_body = true};
    xacct_http_request_t r6 = {.method = "GET", .url = url("/bytes?n=5000000&chunked=1"),
                               .max_body = 1024 * 1024, .cut_body = true};
    result_t cut_sized = {0}, cut_chunked = {0};
    submit(fx, &r1, &sized);
    submit(fx, &r2, &chunked);
    submit(fx, &r3, &exact);
    submit(fx, &r4, &headers);
    submit(fx, &r5, &cut_sized);
    submit(fx, &r6, &cut_chunked);
    run(fx);

    assert_int_equal(cut_sized.calls, 1);
    assert_int_equal(cut_sized.status, 0);
    assert_int_equal(cut_sized.code, 200);
    check_pattern(&cut_sized, 1024 * 1024);
    assert_int_equal(cut_chunked.status, 0);
    check_pattern(&cut_chunked, 1024 * 1024);
    result_clear(&cut_sized);
    result_clear(&cut_chunked);

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

/* A connection that closes before the body's end: an error, unless the
 * caller acts on the status alone (status_is_answer) and a final status
 * line came; then the answer is that status with what came of the body. */
static void test_body_cut_short(void **state)
{
    fx_t *fx = *state;
    result_t strict = {0}, ok = {0}, refused = {0}, none = {0};
    new_client(fx, NULL);

    xacct_http_request_t r1 = {.method = "POST", .url = url("/short"), .body = "{}", .body_len = 2};
    xacct_http_request_t r2 = {.method = "POST",
                               .url = url("/short"),
                               .body = "{}",
                               .body_len = 2,
                               .status_is_answer = true};
    xacct_http_request_t r3 = {.method = "POST",
                               .url = url("/short?code=500"),
                               .body = "{}",
                               .body_len = 2,
                               .status_is_answer = true};
    /* No status line at all: still an error. */
    xacct_http_request_t r4 = {.method = "POST",
                               .url = url("/short?code=0"),
                               .body = "{}",
                               .body_len = 2,
                               .status_is_answer = true};
    submit(fx, &r1, &strict);
    submit(fx, &r2, &ok);
    submit(fx, &r3, &refused);
    submit(fx, &r4, &none);
    run(fx);

    assert_int_equal(strict.calls, 1);
    assert_int_equal(strict.status, XACCT_EHTTP);
    assert_true(strict.resp_null);
    assert_int_equal(ok.calls, 1);
    assert_int_equal(ok.status, 0);
    assert_int_equal(ok.code, 200);
    check_pattern(&ok, 2);
    assert_int_equal(refused.status, 0);
    assert_int_equal(refused.code, 500);
    assert_int_equal(none.calls, 1);
    assert_int_equal(none.status, XACCT_EHTTP);
    assert_true(none.resp_null);
    result_clear(&strict);
    result_clear(&ok);
    result_clear(&refused);
    result_clear(&none);
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

/* Cancelled in the same loop turn as curl opened its connection (a timer
 * due with curl's: a safety check's deadline that comes as a retry
 * starts): the socket curl closes is no longer watched, so the loop's next
 * poll does not ask epoll for a closed descriptor (libuv aborts then). */
static void test_cancel_while_connecting(void **state)
{
    fx_t *fx = *state;
    result_t res = {0};
    xacct_http_req_t *h = NULL;
    new_client(fx, NULL);
    xacct_http_request_t req = {.method = "GET", .url = url("/delay?ms=30000")};
    assert_int_equal(xacct_http_submit(fx->h, &req, record, &res, &h), 0);
    /* Due when curl's timer is, and started after it: runs right after
     * curl has connected, before the loop polls. */
    fx->timer.data = &h;
    uv_timer_start(&fx->timer, cancel_timer_cb, 0, 0);
    run(fx);
    assert_int_equal(res.calls, 1);
    assert_int_equal(res.status, XACCT_ECANCELED);
    assert_int_equal(xacct_http_in_flight(fx->h), 0);
    for (xacct_http_sock_t *s = fx->h->_socks; s != NULL; s = s->_next)
        if (fcntl(s->_fd, F_GETFD) == -1)
            fail_msg("a poll handle is kept on fd %d, which curl has closed", s->_fd);
    result_clear(&res);
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

/* A name is looked up by libcurl's resolver thread, whose socketpair curl
 * hands us to watch and then closes itself, without the close-socket
 * callback. A poll handle left on that fd would be found again when the
 * number is reused: by hiredis's next socket (uv_poll_init refuses it, and
 * hiredis 0.14's adapter then frees a NULL), by the TLS bridge's, or by
 * curl's next resolver socket, which would never be watched. A name that
 * does not resolve (or not within the transfer's time) leaves nothing to
 * take the number over at once. */
static void test_resolver_socket_not_kept(void **state)
{
    fx_t *fx = *state;
    result_t res = {0};
    new_client(fx, NULL);
    xacct_http_request_t req = {.method = "GET",
                                .url = "http://xacct-no-such-host.invalid/",
                                .timeout_ms = 1500};
    submit(fx, &req, &res);
    run(fx);
    assert_int_equal(res.calls, 1);
    assert_int_not_equal(res.status, 0);
    for (xacct_http_sock_t *s = fx->h->_socks; s != NULL; s = s->_next)
        if (fcntl(s->_fd, F_GETFD) == -1)
            fail_msg("a poll handle is kept on fd %d, which curl has closed", s->_fd);
    /* and the lowest free number can be watched by anyone */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    uv_poll_t poll;
    assert_int_equal(uv_poll_init_socket(&fx->loop, &poll, fd), 0);
    uv_close((uv_handle_t *)&poll, NULL);
    run(fx);
    close(fd);
    result_clear(&res);
    finish_loop(fx);
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
        T(test_many_response_headers),
        T(test_url_checks_remembered),
        T(test_body_cut_short),
        T(test_status_and_head),
        T(test_invalid_requests),
        T(test_cancel),
        T(test_cancel_while_connecting),
        T(test_free_with_transfers_in_flight),
        T(test_free_from_callback),
        T(test_idle_client),
        T(test_hostname),
        T(test_resolver_socket_not_kept),
        T(test_connect_timeout),
        T(test_cancel_from_callback),
        T(test_bodies_wiped),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
