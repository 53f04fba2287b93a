/* SPDX-License-Identifier: MIT */
/*
 * Tests for the HTTP client's connections against the local test server:
 * the addresses a URL from a message may not reach, what goes on the wire,
 * how responses end, the retry on a reused connection the server closed,
 * the per-host and total connection limits, and proxies from the
 * environment (through tests/support/connect_proxy.py). Where xacct/http.h
 * allows more than one behaviour, the test says which one libcurl 7.88 has.
 */
#include "http_fixture.h"

/* --- addresses a URL from a message may not reach ------------------------ */

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
/*
 * A URL from a message may reuse a connection a trusted request opened:
 * then no socket is opened for it, and the address is checked once libcurl
 * has chosen the connection instead. Without that check, a connection the
 * instance-metadata credential provider keeps to 169.254.169.254 would
 * carry a request for http://169.254.169.254/ there. No metadata address
 * is reachable from a test, so the check is called here as libcurl calls
 * it, and a reuse towards an allowed address is shown to still work.
 */
static void test_untrusted_url_checked_on_reuse(void **state)
{
    fx_t *fx = *state;
    static const struct {
        const char *ip;
        bool refused;
    } cases[] = {
        {"169.254.169.254", true}, {"169.254.170.2", true}, {"fd00:ec2::254", true},
        {"fe80::1", true},         {"::ffff:169.254.169.254", true}, {"not an address", true},
        {"127.0.0.1", false},      {"::1", false},          {"52.94.133.131", false},
    };
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(cases); i++) {
        struct xacct_http client = {0}; /* no metrics */
        struct xacct_http_req r = {._h = &client, ._untrusted = true};
        char ip[64];
        snprintf(ip, sizeof(ip), "%s", cases[i].ip);
        int rc = xacct__http_prereq_cb(&r, ip, (char *)"127.0.0.1", 80, 40000);
        if ((rc == CURL_PREREQFUNC_ABORT) != cases[i].refused ||
            (r._abort_status == XACCT_EFORBIDDEN) != cases[i].refused)
            fail_msg("%s: rc %d abort_status %d", cases[i].ip, rc, r._abort_status);
    }

    result_t trusted = {0}, untrusted = {0};
    new_client(fx, NULL);
    get(fx, url("/echo"), &trusted);
    run(fx);
    xacct_http_request_t ur = {.method = "GET", .url = url("/echo?from=message"),
                               .untrusted_url = true};
    submit(fx, &ur, &untrusted);
    run(fx);
    assert_int_equal(trusted.status, 0);
    assert_int_equal(untrusted.status, 0);
    assert_int_equal(untrusted.code, 200);
    assert_string_equal(echo_str(&untrusted, "path"), "/echo?from=message");
    assert_int_equal(echo_int(&untrusted, "conn"), echo_int(&trusted, "conn")); /* reused */
    result_clear(&trusted);
    result_clear(&untrusted);
    finish_loop(fx);
}

/* --- what goes on the wire, and how responses end ------------------------ */

static int header_count(const result_t *r, const char *name)
{
    json_t *hs = json_object_get(r->json, "headers");
    size_t i;
    json_t *pair;
    int n = 0;
    json_array_foreach(hs, i, pair)
    {
        if (strcasecmp(json_string_value(json_array_get(pair, 0)), name) == 0)
            n++;
    }
    return n;
}

static size_t echo_nheaders(const result_t *r)
{
    return json_array_size(json_object_get(r->json, "headers"));
}

/*
 * The request head carries the headers given plus Host, User-Agent, Accept
 * and Content-Length, and nothing else: the path and query exactly as given
 * (no dot segments removed, nothing re-encoded), an empty path sent as "/",
 * the caller's Accept instead of the client's, no Expect unless asked for,
 * an empty value sent empty, Content-Length with every PUT and POST.
 */
static void test_request_head(void **state)
{
    fx_t *fx = *state;
    result_t g = {0}, del = {0}, put = {0}, post = {0}, expect = {0}, bare = {0};
    new_client(fx, NULL);

    xacct_header_t hdrs[] = {{"Accept", "text/xml"}, {"X-Empty", ""}};
    xacct_http_request_t r1 = {.method = "GET", .url = url("/echo/a/../b/./c?a=%2f&b=&c=d/../e"),
                               .headers = hdrs, .nheaders = 2};
    submit(fx, &r1, &g);
    xacct_http_request_t r2 = {.method = "DELETE", .url = url("/echo")};
    submit(fx, &r2, &del);
    xacct_http_request_t r3 = {.method = "PUT", .url = url("/echo")};
    submit(fx, &r3, &put);
    xacct_http_request_t r4 = {.method = "POST", .url = url("/echo"), .body = "a=1",
                               .body_len = 3};
    submit(fx, &r4, &post);
    /* http.h promises the headers given and no Expect of the client's own;
     * one the caller names is sent as given (libcurl; dropping it would be
     * allowed too). */
    xacct_header_t ask[] = {{"Expect", "100-continue"}};
    xacct_http_request_t r5 = {.method = "PUT", .url = url("/echo"), .headers = ask,
                               .nheaders = 1, .body = "x", .body_len = 1};
    submit(fx, &r5, &expect);
    char u[64];
    snprintf(u, sizeof(u), "http://127.0.0.1:%d", g_server.port);
    get(fx, u, &bare);
    run(fx);

    char host[64];
    snprintf(host, sizeof(host), "127.0.0.1:%d", g_server.port);
    assert_int_equal(g.status, 0);
    assert_string_equal(echo_str(&g, "path"), "/echo/a/../b/./c?a=%2f&b=&c=d/../e");
    assert_int_equal(header_count(&g, "Accept"), 1);
    assert_string_equal(echo_header(&g, "Accept"), "text/xml");
    assert_null(echo_header(&g, "Expect"));
    assert_string_equal(echo_header(&g, "X-Empty"), "");
    assert_null(echo_header(&g, "Content-Length"));
    assert_string_equal(echo_header(&g, "Host"), host);
    assert_int_equal(header_count(&g, "Host"), 1);
    assert_string_equal(echo_header(&g, "User-Agent"), "xacct/" XACCT_VERSION);
    assert_int_equal(echo_nheaders(&g), 4); /* Host, User-Agent, Accept, X-Empty */

    /* A DELETE without a body: libcurl sends no Content-Length (RFC 9110
     * §8.6: not for a method that does not anticipate content); http.h
     * allows "Content-Length: 0" too. */
    assert_int_equal(del.status, 0);
    assert_string_equal(echo_str(&del, "method"), "DELETE");
    assert_string_equal(echo_header(&del, "Accept"), "*/*");
    assert_null(echo_header(&del, "Content-Length"));
    assert_int_equal(echo_nheaders(&del), 3); /* Host, User-Agent, Accept */

    /* PUT and POST always say how long their body is, even empty */
    assert_int_equal(put.status, 0);
    assert_string_equal(echo_header(&put, "Content-Length"), "0");
    assert_null(echo_header(&put, "Content-Type"));
    assert_null(echo_header(&put, "Expect"));
    assert_int_equal(echo_nheaders(&put), 4);
    assert_int_equal(post.status, 0);
    assert_string_equal(echo_header(&post, "Content-Length"), "3");
    assert_string_equal(echo_str(&post, "body"), "a=1");
    assert_int_equal(echo_nheaders(&post), 4);

    assert_int_equal(expect.status, 0);
    assert_int_equal(expect.code, 200);
    assert_string_equal(echo_header(&expect, "Expect"), "100-continue");
    assert_string_equal(echo_str(&expect, "body"), "x");

    /* a request line the server could parse: 404 for "/", not 400 */
    assert_int_equal(bare.status, 0);
    assert_int_equal(bare.code, 404);
    result_clear(&g);
    result_clear(&del);
    result_clear(&put);
    result_clear(&post);
    result_clear(&expect);
    result_clear(&bare);
    finish_loop(fx);
}

/* One request at a time, so each finds the pool as the one before left it. */
static void get_one(fx_t *fx, const char *u, result_t *res)
{
    xacct_http_request_t req = {.method = "GET", .url = u, .timeout_ms = 10000};
    submit(fx, &req, res);
    run(fx);
    assert_int_equal(res->calls, 1);
    if (res->status != 0)
        fail_msg("%s: %s (%s)", u, xacct_errname(res->status), res->detail ? res->detail : "-");
}

/*
 * Interim 1xx responses are skipped; "Connection: close" and HTTP/1.0
 * without keep-alive leave nothing in the pool; a body without length or
 * chunks ends with the connection; a HEAD, a 204 without Content-Length
 * and a 304 with one end at their head and leave the connection usable.
 */
static void test_response_framing(void **state)
{
    fx_t *fx = *state;
    result_t interim = {0}, c1 = {0}, c2 = {0}, old = {0}, eof = {0};
    result_t first = {0}, head = {0}, none = {0}, notmod = {0}, last = {0};
    new_client(fx, NULL);

    get_one(fx, url("/interim"), &interim);
    assert_int_equal(interim.code, 200);
    assert_string_equal(interim.x_echo, "Yes");
    assert_false(interim.has_link);
    assert_string_equal(echo_str(&interim, "path"), "/interim");
    assert_int_equal(sock_count(fx->h), 1); /* and kept */

    get_one(fx, url("/close"), &c1);
    get_one(fx, url("/close"), &c2);
    /* the first took the pooled connection, which was then closed */
    assert_int_equal(echo_int(&c1, "conn"), echo_int(&interim, "conn"));
    assert_true(echo_int(&c1, "conn") != echo_int(&c2, "conn"));
    assert_int_equal(sock_count(fx->h), 0);

    get_one(fx, url("/http10"), &old);
    assert_int_equal(old.code, 200);
    assert_string_equal(old.body, "ok");
    assert_int_equal(sock_count(fx->h), 0);

    get_one(fx, url("/until_close?n=100003"), &eof);
    check_pattern(&eof, 100003);
    assert_int_equal(sock_count(fx->h), 0);

    /* bodiless answers on one kept connection: a client that waited for a
     * body would time out here, one that read one would lose the next
     * answer's head */
    get_one(fx, url("/conn"), &first);
    xacct_http_request_t hr = {.method = "HEAD", .url = url("/bytes?n=100"), .timeout_ms = 10000};
    submit(fx, &hr, &head);
    run(fx);
    assert_int_equal(head.status, 0);
    assert_int_equal(head.body_len, 0);
    assert_string_equal(head.content_length, "100");
    get_one(fx, url("/status?code=204&nolength=1"), &none);
    assert_int_equal(none.code, 204);
    assert_int_equal(none.body_len, 0);
    get_one(fx, url("/status?code=304&length=5"), &notmod);
    assert_int_equal(notmod.code, 304);
    assert_int_equal(notmod.body_len, 0);
    get_one(fx, url("/conn"), &last);
    char id[32];
    snprintf(id, sizeof(id), "%lld", echo_int(&first, "conn"));
    assert_string_equal(head.conn_id, id);
    assert_string_equal(none.conn_id, id);
    assert_string_equal(notmod.conn_id, id);
    assert_int_equal(echo_int(&last, "conn"), echo_int(&first, "conn"));
    assert_int_equal(sock_count(fx->h), 1);
    result_t *all[] = {&interim, &c1, &c2, &old, &eof, &first, &head, &none, &notmod, &last};
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(all); i++)
        result_clear(all[i]);
    finish_loop(fx);
}

/* The server closes a kept-alive connection just as it is reused (it reads
 * the request and hangs up): the request goes again on a new connection
 * and the caller sees only the answer. */
static void test_retry_on_reused_connection(void **state)
{
    fx_t *fx = *state;
    result_t first = {0}, second = {0};
    new_client(fx, NULL);

    get(fx, url("/drop_next"), &first);
    run(fx);
    assert_int_equal(first.status, 0);
    long long dropped = echo_int(&first, "conn");
    assert_int_equal(sock_count(fx->h), 1);

    get(fx, url("/echo?after=drop"), &second);
    run(fx);
    assert_int_equal(second.calls, 1);
    assert_int_equal(second.status, 0);
    assert_int_equal(second.code, 200);
    assert_string_equal(echo_str(&second, "path"), "/echo?after=drop");
    assert_true(echo_int(&second, "conn") != dropped);
    assert_int_equal(sock_count(fx->h), 1);
    result_clear(&first);
    result_clear(&second);
    finish_loop(fx);
}

/* Counts the distinct connections among answers, and the most requests the
 * server was handling at once. */
static int distinct_conns(const result_t *res, int n, long long *most_active)
{
    long long ids[64];
    int distinct = 0;
    *most_active = 0;
    for (int i = 0; i < n; i++) {
        long long c = echo_int(&res[i], "conn");
        int j = 0;
        while (j < distinct && ids[j] != c)
            j++;
        if (j == distinct && distinct < 64)
            ids[distinct++] = c;
        if (echo_int(&res[i], "active") > *most_active)
            *most_active = echo_int(&res[i], "active");
    }
    return distinct;
}

/* max_total_connections holds across hosts: two names for the same server
 * are two hosts to the pool, and together they never use more than the
 * total; idle connections of one make way for the other. */
static void test_total_limit(void **state)
{
    fx_t *fx = *state;
    static result_t res[2 * SPREAD];
    char pin[64];
    snprintf(pin, sizeof(pin), "alias.test:%d:127.0.0.1", g_server.port);
    const char *const resolve[] = {pin, NULL};
    xacct_http_options_t opts = {.max_host_connections = 8, .max_total_connections = 2,
                                 .resolve = resolve};
    new_client(fx, &opts);

    memset(res, 0, sizeof(res));
    for (int i = 0; i < SPREAD; i++) {
        char u[96];
        get(fx, url("/delay?ms=10"), &res[i]);
        snprintf(u, sizeof(u), "http://alias.test:%d/delay?ms=10", g_server.port);
        get(fx, u, &res[SPREAD + i]);
    }
    run(fx);
    for (int i = 0; i < 2 * SPREAD; i++) {
        assert_int_equal(res[i].calls, 1);
        assert_int_equal(res[i].status, 0);
        assert_int_equal(res[i].code, 200);
    }
    long long most_active;
    int distinct = distinct_conns(res, 2 * SPREAD, &most_active);
    /* each host needed its own connection at some point, never more than
     * two at once: a connection was closed to make way */
    assert_true(distinct >= 2);
    assert_true(most_active <= 2);
    assert_true(sock_count(fx->h) <= 2);
    for (int i = 0; i < 2 * SPREAD; i++)
        result_clear(&res[i]);
    finish_loop(fx);
}

typedef struct ordered {
    result_t res;
    int done_at; /* completion order, from 1 */
} ordered_t;

static int g_done;

static void ordered_cb(int status, const char *detail, const xacct_http_response_t *resp,
                       void *arg)
{
    ordered_t *o = arg;
    record(status, detail, resp, &o->res);
    o->done_at = ++g_done;
}

/* Submits n GETs of path to a client with the given per-host limit. */
static void submit_ordered(fx_t *fx, long max_host, ordered_t *o, int n, const char *path)
{
    xacct_http_options_t opts = {.max_host_connections = max_host};
    new_client(fx, &opts);
    memset(o, 0, (size_t)n * sizeof(*o));
    g_done = 0;
    for (int i = 0; i < n; i++) {
        xacct_http_request_t req = {.method = "GET", .url = url(path)};
        assert_int_equal(xacct_http_submit(fx->h, &req, ordered_cb, &o[i], NULL), 0);
    }
    run(fx);
    for (int i = 0; i < n; i++) {
        assert_int_equal(o[i].res.calls, 1);
        assert_int_equal(o[i].res.status, 0);
        assert_int_equal(o[i].res.code, 200);
    }
}

/*
 * max_host_connections: requests over the limit wait for a connection
 * instead of opening more, and every waiting one is served in turn. http.h
 * promises no order among waiting requests, and libcurl 7.88 keeps none
 * (eight submitted at once to one connection finish as 0 1 4 7 5 3 6 2,
 * every time). So this checks that they take turns, not which turn each
 * gets.
 */
static void test_host_limit(void **state)
{
    fx_t *fx = *state;
    enum { N = 8 };
    ordered_t o[N];
    result_t res[N];

    submit_ordered(fx, 2, o, N, "/delay?ms=50");
    for (int i = 0; i < N; i++)
        res[i] = o[i].res;
    long long most_active;
    assert_true(distinct_conns(res, N, &most_active) <= 2);
    assert_true(most_active <= 2);
    assert_true(sock_count(fx->h) <= 2);
    for (int i = 0; i < N; i++)
        result_clear(&o[i].res);
    xacct_http_free(fx->h);
    fx->h = NULL;
    run(fx);

    submit_ordered(fx, 1, o, N, "/delay?ms=10");
    bool seen[N + 1] = {false};
    for (int i = 0; i < N; i++) {
        /* one at a time on the one connection: the k-th to start is the
         * k-th to finish */
        assert_int_equal(echo_int(&o[i].res, "active"), 1);
        assert_int_equal(echo_int(&o[i].res, "conn"), echo_int(&o[0].res, "conn"));
        assert_int_equal(echo_int(&o[i].res, "seq") - echo_int(&o[0].res, "seq"),
                         o[i].done_at - o[0].done_at);
        assert_true(o[i].done_at >= 1 && o[i].done_at <= N && !seen[o[i].done_at]);
        seen[o[i].done_at] = true;
    }
    assert_int_equal(sock_count(fx->h), 1);
    for (int i = 0; i < N; i++)
        result_clear(&o[i].res);
    finish_loop(fx);
}

/* --- proxies from the environment ---------------------------------------- */

static int log_count(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char line[512];
    int n = 0;
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL)
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

/* Sets the proxy variables libcurl reads (http_proxy only in lower case:
 * libcurl ignores HTTP_PROXY, which a CGI request could set). */
static void proxy_env(const char *https_name, const char *https, const char *http,
                      const char *no_proxy)
{
    static const char *const names[] = {"https_proxy", "HTTPS_PROXY", "http_proxy",
                                        "all_proxy",   "ALL_PROXY",   "no_proxy", "NO_PROXY"};
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(names); i++)
        unsetenv(names[i]);
    if (https)
        setenv(https_name, https, 1);
    if (http)
        setenv("http_proxy", http, 1);
    if (no_proxy)
        setenv("NO_PROXY", no_proxy, 1);
}

static void new_proxied_client(fx_t *fx, const xacct_http_options_t *opts)
{
    xacct_http_free(fx->h);
    fx->h = NULL;
    run(fx);
    new_client(fx, opts);
}

/*
 * https through the proxy is a CONNECT tunnel with TLS to the origin
 * (verified against the origin), named by https_proxy or HTTPS_PROXY; http
 * through it sends the absolute URL; both with the proxy's Basic
 * credentials. A URL from a message never uses it, neither to connect nor
 * by reusing a proxied connection; NO_PROXY names hosts that go direct; a
 * proxy refusing CONNECT, or refusing the credentials, fails the request
 * with its status in the detail. The variables count as they are when the
 * client is made.
 */
static void test_proxy(void **state)
{
    fx_t *fx = *state;
    char ca[128], log[160], purl[128], bad[128];

    tls_server(fx, ca);
    snprintf(log, sizeof(log), "%s/proxy.log", fx->tmpdir);
    assert_int_equal(script_start(&fx->tls[2], "connect_proxy.py", "--log", log, "--auth",
                                  "user:pa:ss"),
                     0);
    /* the password's ':' percent-encoded in the URL, as it must be */
    snprintf(purl, sizeof(purl), "http://user:pa%%3Ass@127.0.0.1:%d", fx->tls[2].port);
    snprintf(bad, sizeof(bad), "http://user:wrong@127.0.0.1:%d", fx->tls[2].port);
    char tunnel[64];
    snprintf(tunnel, sizeof(tunnel), "CONNECT 127.0.0.1:%d ", fx->tls[0].port);

    proxy_env("https_proxy", purl, purl, NULL);
    xacct_http_options_t opts = {.ca_bundle = ca};
    new_client(fx, &opts);
    result_t tls = {0}, plain = {0}, untrusted = {0}, untrusted_plain = {0}, refused = {0};
    get(fx, url_on(fx->tls[0].port, "https", "/echo?via=tunnel"), &tls);
    get(fx, url("/echo?via=proxy"), &plain);
    run(fx);
    assert_int_equal(tls.status, 0);
    assert_int_equal(tls.code, 200);
    assert_string_equal(echo_str(&tls, "path"), "/echo?via=tunnel");
    assert_null(echo_header(&tls, "Proxy-Authorization")); /* not past the proxy */
    assert_int_equal(log_count(log, tunnel), 1);
    assert_int_equal(plain.status, 0);
    assert_true(json_is_true(json_object_get(plain.json, "proxy")));
    char line[128];
    snprintf(line, sizeof(line), "GET http://127.0.0.1:%d/echo?via=proxy HTTP/1.1",
             g_server.port);
    assert_string_equal(echo_str(&plain, "line"), line);
    assert_string_equal(echo_header(&plain, "Proxy-Authorization"), "Basic dXNlcjpwYTpzcw==");

    /* URLs from a message go direct, past the proxy, on connections of
     * their own: not through the tunnel kept from the first request */
    xacct_http_request_t ur = {.method = "GET", .url = url_on(fx->tls[0].port, "https", "/echo"),
                               .untrusted_url = true};
    submit(fx, &ur, &untrusted);
    xacct_http_request_t up = {.method = "GET", .url = url("/echo?via=direct"),
                               .untrusted_url = true};
    submit(fx, &up, &untrusted_plain);
    /* port 9: the proxy refuses the tunnel */
    get(fx, "https://127.0.0.1:9/", &refused);
    run(fx);
    assert_int_equal(untrusted.status, 0);
    assert_int_equal(untrusted.code, 200);
    assert_true(echo_int(&untrusted, "conn") != echo_int(&tls, "conn"));
    assert_int_equal(log_count(log, tunnel), 1);
    assert_int_equal(untrusted_plain.status, 0);
    assert_null(json_object_get(untrusted_plain.json, "proxy"));
    assert_string_equal(echo_str(&untrusted_plain, "path"), "/echo?via=direct");
    assert_null(echo_header(&untrusted_plain, "Proxy-Authorization"));
    assert_int_equal(log_count(log, "via=direct"), 0);
    assert_int_equal(refused.status, XACCT_EHTTP);
    assert_non_null(refused.detail);
    assert_non_null(strstr(refused.detail, "403"));

    /* HTTPS_PROXY in capitals is read as well */
    result_t upper = {0};
    proxy_env("HTTPS_PROXY", purl, NULL, NULL);
    new_proxied_client(fx, &opts);
    get(fx, url_on(fx->tls[0].port, "https", "/echo?via=upper"), &upper);
    run(fx);
    assert_int_equal(upper.status, 0);
    assert_string_equal(echo_str(&upper, "path"), "/echo?via=upper");
    assert_int_equal(log_count(log, tunnel), 2);

    /* NO_PROXY: straight to the origin */
    result_t direct = {0};
    proxy_env("https_proxy", purl, purl, "example.com, 127.0.0.1");
    new_proxied_client(fx, &opts);
    get(fx, url_on(fx->tls[0].port, "https", "/echo"), &direct);
    run(fx);
    assert_int_equal(direct.status, 0);
    assert_int_equal(log_count(log, tunnel), 2);

    /* wrong credentials: 407 from the proxy */
    result_t denied = {0};
    proxy_env("https_proxy", bad, NULL, NULL);
    new_proxied_client(fx, &opts);
    get(fx, url_on(fx->tls[0].port, "https", "/echo"), &denied);
    run(fx);
    proxy_env("https_proxy", NULL, NULL, NULL);
    assert_int_equal(denied.status, XACCT_EHTTP);
    assert_non_null(denied.detail);
    assert_non_null(strstr(denied.detail, "407"));
    assert_null(strstr(denied.detail, "wrong")); /* no credentials in details */

    /* The variables are read when the client is made: one made without
     * any goes direct even once a proxy is named afterwards. */
    result_t later = {0};
    int tunnels = log_count(log, tunnel);
    new_proxied_client(fx, &opts);
    proxy_env("https_proxy", purl, purl, NULL);
    get(fx, url_on(fx->tls[0].port, "https", "/echo?via=later"), &later);
    run(fx);
    proxy_env("https_proxy", NULL, NULL, NULL);
    assert_int_equal(later.status, 0);
    assert_string_equal(echo_str(&later, "path"), "/echo?via=later");
    assert_int_equal(log_count(log, tunnel), tunnels);
    assert_int_equal(log_count(log, "via=later"), 0);

    result_t *all[] = {&tls, &plain, &untrusted, &untrusted_plain, &refused,
                       &upper, &direct, &denied, &later};
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(all); i++)
        result_clear(all[i]);
    finish_loop(fx);
}

/* The proxy variables never outlive test_proxy, even when it fails. */
static int proxy_teardown(void **state)
{
    proxy_env("https_proxy", NULL, NULL, NULL);
    return teardown(state);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_untrusted_url_never_reaches_metadata),
        T(test_trusted_url_may_reach_metadata),
        T(test_forbidden_address_table),
        T(test_untrusted_url_checked_on_reuse),
        T(test_request_head),
        T(test_response_framing),
        T(test_retry_on_reused_connection),
        T(test_total_limit),
        T(test_host_limit),
        cmocka_unit_test_setup_teardown(test_proxy, setup, proxy_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
