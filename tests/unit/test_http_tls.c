/* SPDX-License-Identifier: MIT */
/*
 * Tests for the HTTP client's TLS against Python TLS servers with
 * certificates minted per test: the trust store (the system CAs libcurl
 * would use plus AWS_CA_BUNDLE), verification failures, and a new
 * connection resuming the TLS session of an earlier one, and the gate that
 * makes a burst to a new host wait for one handshake instead of racing
 * many.
 */
#include "http_fixture.h"
#include "xacct/metrics.h"

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

/*
 * A new connection to a host resumes the TLS session of an earlier one (a
 * TLS 1.3 ticket here, kept in the client's share) instead of a full
 * handshake with the chain verified again. The server says whether it
 * resumed. libcurl opens the connections of a burst to a new host side by
 * side, each with a full handshake (no session exists yet); only a later
 * connection resumes, which is what this checks.
 */
static void test_tls_session_resumed(void **state)
{
    fx_t *fx = *state;
    char ca[128];
    tls_server(fx, ca);

    xacct_http_options_t opts = {.ca_bundle = ca};
    new_client(fx, &opts);
    result_t first = {0}, second = {0}, plain = {0};
    get(fx, url_on(fx->tls[0].port, "https", "/conn?idle_close_ms=50"), &first);
    run(fx);
    assert_int_equal(first.status, 0);
    assert_int_equal(first.code, 200);
    assert_true(json_is_false(json_object_get(first.json, "resumed"))); /* a full handshake */

    /* the server drops it; the next connection resumes, on a new easy
     * handle (the one finished transfer's, kept for reuse, is taken by a
     * plain request first), which finds the session in the client's share */
    fx->timer.data = fx;
    uv_timer_start(&fx->timer, idle_stopped_cb, 20, 20);
    run(fx);
    assert_int_equal(fx->h->_nspare, 1);
    get(fx, url("/delay?ms=100"), &plain);
    assert_int_equal(fx->h->_nspare, 0);
    get(fx, url_on(fx->tls[0].port, "https", "/conn"), &second);
    run(fx);
    assert_int_equal(plain.status, 0);
    assert_int_equal(second.status, 0);
    assert_true(echo_int(&second, "conn") != echo_int(&first, "conn"));
    assert_true(json_is_true(json_object_get(second.json, "resumed")));
    result_clear(&first);
    result_clear(&second);
    result_clear(&plain);
    finish_loop(fx);
}

/* A callback that also notes the order in which transfers ended. */
typedef struct ordered {
    result_t res;
    int order;
} ordered_t;

static int g_order;

static void record_ordered(int status, const char *detail, const xacct_http_response_t *resp,
                           void *arg)
{
    ordered_t *o = arg;
    o->order = ++g_order;
    record(status, detail, resp, &o->res);
}

/* A GET of path on the TLS server in fx->tls[0]. */
static xacct_http_req_t *submit_ordered(fx_t *fx, const char *path, long timeout_ms, ordered_t *o)
{
    xacct_http_request_t req = {.method = "GET",
                                .url = url_on(fx->tls[0].port, "https", path),
                                .timeout_ms = timeout_ms};
    xacct_http_req_t *r = NULL;
    assert_int_equal(xacct_http_submit(fx->h, &req, record_ordered, o, &r), 0);
    return r;
}

/* A TLS server in fx->tls[0] and a client that trusts it, holding bursts
 * for gate_ms at most (counting connections in m, when given). A minute is
 * "for as long as the probe takes": the outcome then does not depend on how
 * fast a loaded machine answers. */
#define GATE_UNBOUNDED 60000L

/* ramp_ms 0: the client's default connection ramp. */
static void tls_client_ramped(fx_t *fx, xacct_metrics_t *m, long gate_ms, long max_host,
                              long ramp_ms)
{
    char ca[128];
    if (fx->tmpdir[0] == '\0')
        tls_server(fx, ca);
    else
        snprintf(ca, sizeof(ca), "%s/ca.pem", fx->tmpdir);
    xacct_http_options_t opts = {.ca_bundle = ca, .metrics = m, .tls_gate_ms = gate_ms,
                                 .max_host_connections = max_host,
                                 .connection_ramp_ms = ramp_ms};
    new_client(fx, &opts);
}

static void tls_client(fx_t *fx, xacct_metrics_t *m, long gate_ms, long max_host)
{
    tls_client_ramped(fx, m, gate_ms, max_host, 0);
}

static void gate_client(fx_t *fx, xacct_metrics_t *m, long gate_ms)
{
    tls_client(fx, m, gate_ms, 0);
}

/*
 * A burst to a host with no TLS session yet: the first transfer goes alone,
 * the rest wait for its answer and then go together, their new connections
 * offering its session. Without the gate each would open its own
 * connection with a full handshake (the server says which resumed). The
 * connections that offer one session at once are not all sure to resume
 * (a loaded server here refuses some of them), so this counts resumptions
 * rather than requiring every one.
 */
static void test_tls_gate_burst(void **state)
{
    fx_t *fx = *state;
    xacct_metrics_t *m = xacct_metrics_new();
    gate_client(fx, m, GATE_UNBOUNDED);

    enum { N = 8 };
    ordered_t res[N] = {0};
    xacct_http_req_t *reqs[N];
    for (int i = 0; i < N; i++)
        reqs[i] = submit_ordered(fx, "/echo", 10000, &res[i]);
    assert_false(reqs[0]->_held);
    for (int i = 1; i < N; i++)
        assert_true(reqs[i]->_held);
    assert_int_equal(xacct_http_in_flight(fx->h), N);

    /* plain http is never held */
    result_t plain = {0};
    xacct_http_request_t preq = {.method = "GET", .url = url("/echo")};
    xacct_http_req_t *pr = NULL;
    assert_int_equal(xacct_http_submit(fx->h, &preq, record, &plain, &pr), 0);
    assert_false(pr->_held);
    run(fx);
    assert_int_equal(plain.status, 0);

    long long conns[N];
    size_t nconns = 0, nresumed = 0;
    assert_int_equal(echo_int(&res[0].res, "seq"), 1);
    assert_true(json_is_false(json_object_get(res[0].res.json, "resumed")));
    for (int i = 0; i < N; i++) {
        assert_int_equal(res[i].res.calls, 1);
        assert_int_equal(res[i].res.status, 0);
        assert_int_equal(res[i].res.code, 200);
        long long conn = echo_int(&res[i].res, "conn");
        bool seen = false;
        for (size_t k = 0; k < nconns; k++)
            seen = seen || conns[k] == conn;
        if (!seen) {
            conns[nconns++] = conn;
            nresumed += json_is_true(json_object_get(res[i].res.json, "resumed"));
        }
    }
    /* the burst opened connections besides the probe's, and they resumed
     * (without the gate none could: no session exists while they all
     * connect at once) */
    assert_true(nconns > 1);
    assert_true(nresumed >= 1);
    /* the connections counted, by handshake, as the server saw them, and
     * the plain one */
    assert_int_equal(xacct_metrics_get(m, XACCT_M_HTTP_CONNECTIONS, "resumed", NULL),
                     (double)nresumed);
    assert_int_equal(xacct_metrics_get(m, XACCT_M_HTTP_CONNECTIONS, "full", NULL),
                     (double)(nconns - nresumed));
    assert_int_equal(xacct_metrics_get(m, XACCT_M_HTTP_CONNECTIONS, "none", NULL), 1);
    assert_int_equal(xacct_metrics_get(m, XACCT_M_HTTP_WAITS, "tls_gate", NULL), N - 1);
    /* the origin is warm now: the next transfer is not held */
    ordered_t later = {0};
    assert_false(submit_ordered(fx, "/echo", 10000, &later)
                     ->_held);
    run(fx);
    assert_int_equal(later.res.status, 0);

    for (int i = 0; i < N; i++)
        result_clear(&res[i].res);
    result_clear(&later.res);
    result_clear(&plain);
    finish_loop(fx);
    xacct_metrics_free(m);
}

/* A probe that is slow to answer holds the others for tls_gate_ms only:
 * they go ahead and finish first. */
static void test_tls_gate_slow_probe(void **state)
{
    fx_t *fx = *state;
    gate_client(fx, NULL, 300);

    ordered_t slow = {0}, fast = {0};
    submit_ordered(fx, "/delay?ms=4000", 20000, &slow);
    assert_true(submit_ordered(fx, "/echo", 20000, &fast)
                    ->_held);
    run(fx);
    assert_int_equal(slow.res.status, 0);
    assert_int_equal(fast.res.status, 0);
    assert_true(fast.order < slow.order);
    result_clear(&slow.res);
    result_clear(&fast.res);
    finish_loop(fx);
}

/* A probe whose answer is slow (a long poll) holds the others only until
 * its connection has a session ticket: they go, and resume it, while the
 * probe still waits for its answer. */
static void test_tls_gate_ticket(void **state)
{
    fx_t *fx = *state;
    gate_client(fx, NULL, GATE_UNBOUNDED);

    ordered_t slow = {0}, fast = {0};
    submit_ordered(fx, "/delay?ms=4000", 20000, &slow);
    assert_true(submit_ordered(fx, "/echo", 20000, &fast)->_held);
    run(fx);
    assert_int_equal(slow.res.status, 0);
    assert_int_equal(fast.res.status, 0);
    assert_true(fast.order < slow.order);
    assert_true(json_is_true(json_object_get(fast.res.json, "resumed")));
    assert_true(fx->h->_origins[0]._warm);
    result_clear(&slow.res);
    result_clear(&fast.res);
    finish_loop(fx);
}

/* What the ticket watcher below needs: the fixture, and the transfer it
 * submits once the probe's connection has its ticket. */
typedef struct ticket_watch {
    fx_t *fx;
    ordered_t later;
    bool submitted, held;
} ticket_watch_t;

static void submit_once_ticketed(uv_timer_t *t)
{
    ticket_watch_t *w = t->data;
    if (!w->fx->h->_origins[0]._ticket)
        return;
    uv_timer_stop(t);
    w->held = submit_ordered(w->fx, "/echo", 20000, &w->later)->_held;
    w->submitted = true;
}

/* A ticket that comes while nothing is held still opens the gate for what
 * is submitted next, before the probe is answered. */
static void test_tls_gate_ticket_then_submit(void **state)
{
    fx_t *fx = *state;
    gate_client(fx, NULL, GATE_UNBOUNDED);

    ordered_t slow = {0};
    ticket_watch_t w = {.fx = fx};
    submit_ordered(fx, "/delay?ms=4000", 20000, &slow);
    fx->timer.data = &w;
    uv_timer_start(&fx->timer, submit_once_ticketed, 10, 10);
    run(fx);
    assert_true(w.submitted);
    assert_false(w.held);
    assert_int_equal(w.later.res.status, 0);
    assert_int_equal(slow.res.status, 0);
    assert_true(w.later.order < slow.order);
    result_clear(&slow.res);
    result_clear(&w.later.res);
    finish_loop(fx);
}

/* A probe that fails (here: cancelled before it connects) leaves the
 * origin cold: the next held transfer probes alone, and the one after it
 * still waits for that one. */
static void test_tls_gate_failed_probe(void **state)
{
    fx_t *fx = *state;
    gate_client(fx, NULL, GATE_UNBOUNDED);

    ordered_t a = {0}, b = {0}, c = {0};
    xacct_http_req_t *ra = submit_ordered(fx, "/echo", 20000, &a);
    xacct_http_req_t *rb = submit_ordered(fx, "/echo", 20000, &b);
    xacct_http_req_t *rc = submit_ordered(fx, "/echo", 20000, &c);
    assert_true(rb->_held);
    assert_true(rc->_held);
    xacct_http_cancel(ra);
    assert_int_equal(a.res.status, XACCT_ECANCELED);
    assert_false(rb->_held); /* the new probe */
    assert_true(rc->_held);
    assert_int_equal(fx->h->_norigins, 1);
    assert_false(fx->h->_origins[0]._warm);
    run(fx);
    assert_int_equal(b.res.status, 0);
    assert_int_equal(c.res.status, 0);
    assert_int_equal(echo_int(&b.res, "seq"), 1); /* a never reached the server */
    assert_int_equal(echo_int(&c.res, "seq"), 2);
    assert_true(fx->h->_origins[0]._warm);
    result_clear(&a.res);
    result_clear(&b.res);
    result_clear(&c.res);
    finish_loop(fx);
}

/* A held transfer can be cancelled (it never reaches the server), and
 * freeing the client cancels those still held. */
static void test_tls_gate_cancel_and_free(void **state)
{
    fx_t *fx = *state;
    gate_client(fx, NULL, GATE_UNBOUNDED);

    ordered_t a = {0}, b = {0}, c = {0};
    submit_ordered(fx, "/echo", 20000, &a);
    xacct_http_req_t *rb = submit_ordered(fx, "/echo", 20000, &b);
    submit_ordered(fx, "/echo", 20000, &c);
    xacct_http_cancel(rb);
    assert_int_equal(b.res.calls, 1);
    assert_int_equal(b.res.status, XACCT_ECANCELED);
    assert_int_equal(xacct_http_in_flight(fx->h), 2);
    run(fx);
    assert_int_equal(a.res.status, 0);
    assert_int_equal(c.res.status, 0);
    assert_int_equal(echo_int(&c.res, "seq"), 2); /* b never reached the server */
    assert_int_equal(b.res.calls, 1);

    /* a second client is cold again: its burst is held, then freed */
    xacct_http_free(fx->h);
    fx->h = NULL;
    gate_client(fx, NULL, GATE_UNBOUNDED);
    ordered_t p = {0}, q = {0}, r = {0};
    submit_ordered(fx, "/delay?ms=200", 20000, &p);
    assert_true(submit_ordered(fx, "/echo", 20000, &q)->_held);
    assert_true(submit_ordered(fx, "/echo", 20000, &r)->_held);
    xacct_http_free(fx->h);
    fx->h = NULL;
    assert_int_equal(p.res.status, XACCT_ECANCELED);
    assert_int_equal(q.res.status, XACCT_ECANCELED);
    assert_int_equal(r.res.status, XACCT_ECANCELED);
    assert_int_equal(p.res.calls + q.res.calls + r.res.calls, 3);
    run(fx);

    ordered_t *all[] = {&a, &b, &c, &p, &q, &r};
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(all); i++)
        result_clear(&all[i]->res);
    finish_loop(fx);
}

/* Distinct connections the answered transfers in res[0..n) came over. */
static size_t distinct_conns(const ordered_t *res, int n)
{
    long long conns[64];
    size_t nconns = 0;
    for (int i = 0; i < n && nconns < 64; i++) {
        if (res[i].res.status != 0)
            continue;
        long long conn = echo_int(&res[i].res, "conn");
        bool seen = false;
        for (size_t k = 0; k < nconns; k++)
            seen = seen || conns[k] == conn;
        if (!seen)
            conns[nconns++] = conn;
    }
    return nconns;
}

/* A warm origin that may have max_host connections, ramping after ramp_ms
 * of waiting (0: the default): one answered transfer has stored a session,
 * so what follows is held by the cap alone. */
static void ramp_client(fx_t *fx, long max_host, long ramp_ms, xacct_metrics_t *m)
{
    tls_client_ramped(fx, m, GATE_UNBOUNDED, max_host, ramp_ms);
    ordered_t warm = {0};
    submit_ordered(fx, "/echo", 10000, &warm);
    run(fx);
    assert_int_equal(warm.res.status, 0);
    result_clear(&warm.res);
}

static void capped_client(fx_t *fx, long max_host, xacct_metrics_t *m)
{
    ramp_client(fx, max_host, 0, m);
}

/*
 * More transfers than an origin may have connections: the ones past the
 * cap wait in xacct's queue, not in libcurl's, and go in order as
 * connections come free; never more connections than the cap. A held one
 * can be cancelled without reaching the server.
 */
static void test_tls_cap_holds_past_the_connections(void **state)
{
    fx_t *fx = *state;
    xacct_metrics_t *m = xacct_metrics_new();
    capped_client(fx, 2, m);

    enum { N = 7 };
    ordered_t res[N] = {0};
    xacct_http_req_t *reqs[N];
    for (int i = 0; i < N; i++)
        reqs[i] = submit_ordered(fx, "/delay?ms=100", 20000, &res[i]);
    for (int i = 0; i < N; i++)
        assert_int_equal(reqs[i]->_held, i >= 2);
    assert_int_equal(xacct_http_in_flight(fx->h), N);
    xacct_http_cancel(reqs[3]);
    assert_int_equal(res[3].res.status, XACCT_ECANCELED);
    run(fx);

    for (int i = 0; i < N; i++) {
        assert_int_equal(res[i].res.calls, 1);
        if (i != 3)
            assert_int_equal(res[i].res.status, 0);
    }
    size_t nconns = distinct_conns(res, N);
    assert_true(nconns >= 1);
    assert_true(nconns <= 2);
    /* held ones started in the order they came: each after the ones before */
    for (int i = 5; i < N; i++)
        assert_true(echo_int(&res[i].res, "seq") > echo_int(&res[i - 1].res, "seq"));
    assert_true(echo_int(&res[4].res, "seq") > echo_int(&res[2].res, "seq"));
    /* counted as waits for a connection, none at the TLS gate (warm) */
    assert_int_equal(xacct_metrics_get(m, XACCT_M_HTTP_WAITS, "connection_cap", NULL), N - 2);
    assert_int_equal(xacct_metrics_get(m, XACCT_M_HTTP_WAITS, "tls_gate", NULL), 0);
    for (int i = 0; i < N; i++)
        result_clear(&res[i].res);
    finish_loop(fx);
    xacct_metrics_free(m);
}

/* A transfer held by the cap runs out of time while it waits, as it would
 * have in libcurl's list: timed out, with the reason, and without holding
 * up the transfer it waited for. */
static void test_tls_cap_held_times_out(void **state)
{
    fx_t *fx = *state;
    capped_client(fx, 1, NULL);

    ordered_t slow = {0}, quick = {0};
    submit_ordered(fx, "/delay?ms=2500", 20000, &slow);
    assert_true(submit_ordered(fx, "/echo", 300, &quick)->_held);
    run(fx);
    assert_int_equal(quick.res.status, XACCT_ETIMEOUT);
    assert_non_null(quick.res.detail);
    assert_non_null(strstr(quick.res.detail, "waiting for a connection"));
    assert_int_equal(slow.res.status, 0);
    assert_true(quick.order < slow.order);
    result_clear(&slow.res);
    result_clear(&quick.res);
    finish_loop(fx);
}

/* A probe slower than tls_gate_ms with the cap reached: the gate opens
 * (the others wait for room, not for a session) and its timer does not
 * fire again and again while they wait. */
static void test_tls_cap_behind_a_slow_probe(void **state)
{
    fx_t *fx = *state;
    tls_client(fx, NULL, 200, 1);

    ordered_t slow = {0}, next = {0};
    submit_ordered(fx, "/delay?ms=1500", 20000, &slow);
    assert_true(submit_ordered(fx, "/echo", 20000, &next)->_held);
    run(fx);
    assert_int_equal(slow.res.status, 0);
    assert_int_equal(next.res.status, 0);
    assert_true(slow.order < next.order); /* it waited for the only connection */
    /* once when the gate's time was up; a spinning timer fires thousands */
    assert_true(fx->h->_gate_wakeups <= 3);
    result_clear(&slow.res);
    result_clear(&next.res);
    finish_loop(fx);
}

/*
 * The connection ramp: an origin capped at 8 first has 4 connections; a
 * host that answers quickly drains a burst through them. The ramp period
 * here is a minute, so nothing grows the cap while the test runs.
 */
static void test_tls_cap_starts_at_a_quarter(void **state)
{
    fx_t *fx = *state;
    ramp_client(fx, 8, 60000, NULL);

    enum { N = 16 };
    ordered_t res[N] = {0};
    xacct_http_req_t *reqs[N];
    for (int i = 0; i < N; i++)
        reqs[i] = submit_ordered(fx, "/echo", 20000, &res[i]);
    for (int i = 0; i < N; i++)
        assert_int_equal(reqs[i]->_held, i >= 4);
    run(fx);
    for (int i = 0; i < N; i++)
        assert_int_equal(res[i].res.status, 0);
    size_t n = distinct_conns(res, N);
    assert_true(n >= 1);
    assert_true(n <= 4);
    assert_int_equal(fx->h->_origins[0]._cap, 4);
    for (int i = 0; i < N; i++)
        result_clear(&res[i].res);
    finish_loop(fx);
}

/*
 * A slow host: transfers wait for the 4 connections past the ramp period,
 * so the cap doubles to 8 and 4 more go at once — never more than 8. After
 * a long quiet (no transfer waiting for XACCT_HTTP_RAMP_RESET_PERIODS ramp
 * periods, made to have passed here) the next transfer finds the cap back
 * at 4.
 */
static void test_tls_cap_ramps_while_transfers_wait(void **state)
{
    fx_t *fx = *state;
    ramp_client(fx, 8, 150, NULL);
    xacct_http_origin_t *o = &fx->h->_origins[0];

    enum { N = 16 };
    ordered_t res[N] = {0};
    xacct_http_req_t *reqs[N];
    for (int i = 0; i < N; i++)
        reqs[i] = submit_ordered(fx, "/delay?ms=1000", 30000, &res[i]);
    for (int i = 0; i < N; i++)
        assert_int_equal(reqs[i]->_held, i >= 4);
    assert_int_equal(o->_cap, 4);
    run(fx);
    for (int i = 0; i < N; i++)
        assert_int_equal(res[i].res.status, 0);
    /* more than the first 4 connections, never more than the cap */
    size_t n = distinct_conns(res, N);
    assert_true(n > 4);
    assert_true(n <= 8);
    assert_int_equal(o->_cap, 8);

    uint64_t quiet = 150u * XACCT_HTTP_RAMP_RESET_PERIODS + 1;
    o->_grown_at -= quiet;
    o->_last_wait -= quiet;
    ordered_t again = {0};
    assert_false(submit_ordered(fx, "/echo", 10000, &again)->_held);
    assert_int_equal(o->_cap, 4);
    run(fx);
    assert_int_equal(again.res.status, 0);
    result_clear(&again.res);
    for (int i = 0; i < N; i++)
        result_clear(&res[i].res);
    finish_loop(fx);
}

/* Two held transfers run out of time together, and the first one's callback
 * cancels the second: each is answered once, the second as cancelled. */
typedef struct cancel_other {
    ordered_t own;
    xacct_http_req_t *other;
} cancel_other_t;

static void record_and_cancel(int status, const char *detail, const xacct_http_response_t *resp,
                              void *arg)
{
    cancel_other_t *c = arg;
    record_ordered(status, detail, resp, &c->own);
    if (c->other != NULL)
        xacct_http_cancel(c->other);
    c->other = NULL;
}

static void test_tls_cap_expiry_callback_cancels_another(void **state)
{
    fx_t *fx = *state;
    capped_client(fx, 1, NULL);

    ordered_t slow = {0}, second = {0};
    cancel_other_t first = {0};
    submit_ordered(fx, "/delay?ms=2500", 20000, &slow);
    xacct_http_request_t req = {.method = "GET",
                                .url = url_on(fx->tls[0].port, "https", "/echo"),
                                .timeout_ms = 300};
    xacct_http_req_t *r1 = NULL;
    assert_int_equal(xacct_http_submit(fx->h, &req, record_and_cancel, &first, &r1), 0);
    xacct_http_req_t *r2 = submit_ordered(fx, "/echo", 300, &second);
    assert_true(r1->_held);
    assert_true(r2->_held);
    first.other = r2;
    run(fx);
    assert_int_equal(first.own.res.calls, 1);
    assert_int_equal(first.own.res.status, XACCT_ETIMEOUT);
    assert_int_equal(second.res.calls, 1);
    assert_int_equal(second.res.status, XACCT_ECANCELED);
    assert_int_equal(slow.res.status, 0);
    result_clear(&slow.res);
    result_clear(&first.own.res);
    result_clear(&second.res);
    finish_loop(fx);
}

/*
 * An https URL with a query goes to curl without it, with the request
 * target given whole: what reaches the server is still the path and query
 * exactly as given (dot segments and escapes kept, the fragment dropped).
 */
static void test_tls_request_target(void **state)
{
    fx_t *fx = *state;
    gate_client(fx, NULL, GATE_UNBOUNDED);

    static const char *const paths[][2] = {
        {"/echo/a/./b/../c?X-Amz-Signature=ab%2Fcd&list=1,2&empty=",
         "/echo/a/./b/../c?X-Amz-Signature=ab%2Fcd&list=1,2&empty="},
        {"/echo/x?q=1#fragment", "/echo/x?q=1"},
        {"/echo/y?", "/echo/y?"},
    };
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(paths); i++) {
        ordered_t o = {0};
        xacct_http_req_t *r = submit_ordered(fx, paths[i][0], 20000, &o);
        assert_non_null(r->_target);
        assert_null(strchr(r->_url, '?'));
        run(fx);
        assert_int_equal(o.res.status, 0);
        assert_string_equal(echo_str(&o.res, "path"), paths[i][1]);
        result_clear(&o.res);
    }
    /* without a query, or over plain http, curl gets the URL as it is */
    ordered_t o = {0};
    xacct_http_req_t *r = submit_ordered(fx, "/echo/z", 20000, &o);
    assert_null(r->_target);
    run(fx);
    assert_string_equal(echo_str(&o.res, "path"), "/echo/z");
    result_clear(&o.res);
    result_t plain = {0};
    xacct_http_request_t preq = {.method = "GET", .url = url("/echo?q=1")};
    assert_int_equal(xacct_http_submit(fx->h, &preq, record, &plain, &r), 0);
    assert_null(r->_target);
    run(fx);
    assert_string_equal(echo_str(&plain, "path"), "/echo?q=1");
    result_clear(&plain);
    finish_loop(fx);
}

/*
 * Over TLS libcurl sends a request from its upload buffer and reads into its
 * receive buffer, both sized in http_int.h: bodies on either side of the
 * upload buffer, and past what libcurl puts in the first write with the
 * headers (64 KB), arrive whole, and a response many times the receive
 * buffer comes back whole, all on one kept-alive connection.
 */
static void test_tls_bodies_past_the_buffers(void **state)
{
    fx_t *fx = *state;
    gate_client(fx, NULL, GATE_UNBOUNDED);

    const size_t sizes[] = {XACCT_HTTP_UPLOAD_BUFFER - 1, XACCT_HTTP_UPLOAD_BUFFER,
                            XACCT_HTTP_UPLOAD_BUFFER + 1, 3 * XACCT_HTTP_UPLOAD_BUFFER + 5,
                            200 * 1024};
    long long conn = -1;
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(sizes); i++) {
        size_t n = sizes[i];
        char *body = xacct_malloc(n);
        for (size_t j = 0; j < n; j++)
            body[j] = (char)pattern_byte(j);
        result_t res = {0};
        xacct_http_request_t req = {.method = "POST",
                                    .url = url_on(fx->tls[0].port, "https", "/echo"),
                                    .body = body, .body_len = n, .timeout_ms = 20000};
        assert_int_equal(xacct_http_submit(fx->h, &req, record, &res, NULL), 0);
        run(fx);
        char hex[65];
        sha256_hex(body, n, hex);
        assert_int_equal(res.status, 0);
        assert_int_equal(res.code, 200);
        assert_int_equal(echo_int(&res, "body_len"), (long long)n);
        assert_string_equal(echo_str(&res, "body_sha256"), hex);
        if (conn >= 0)
            assert_int_equal(echo_int(&res, "conn"), conn);
        conn = echo_int(&res, "conn");
        free(body);
        result_clear(&res);
    }

    size_t n = 10 * XACCT_HTTP_RECEIVE_BUFFER + 3;
    result_t big = {0};
    char path[64];
    snprintf(path, sizeof(path), "/bytes?n=%zu", n);
    xacct_http_request_t req = {.method = "GET", .url = url_on(fx->tls[0].port, "https", path),
                                .timeout_ms = 20000};
    assert_int_equal(xacct_http_submit(fx->h, &req, record, &big, NULL), 0);
    run(fx);
    assert_int_equal(big.status, 0);
    check_pattern(&big, n);
    result_clear(&big);
    finish_loop(fx);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_tls_ca_bundle),
        T(test_tls_session_resumed),
        T(test_tls_gate_burst),
        T(test_tls_gate_slow_probe),
        T(test_tls_gate_ticket),
        T(test_tls_gate_ticket_then_submit),
        T(test_tls_gate_failed_probe),
        T(test_tls_gate_cancel_and_free),
        T(test_tls_cap_holds_past_the_connections),
        T(test_tls_cap_held_times_out),
        T(test_tls_cap_behind_a_slow_probe),
        T(test_tls_cap_starts_at_a_quarter),
        T(test_tls_cap_ramps_while_transfers_wait),
        T(test_tls_cap_expiry_callback_cancels_another),
        T(test_tls_request_target),
        T(test_tls_bodies_past_the_buffers),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
