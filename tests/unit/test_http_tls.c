/* SPDX-License-Identifier: MIT */
/*
 * Tests for the HTTP client's TLS against Python TLS servers with
 * certificates minted per test: the trust store (the system CAs libcurl
 * would use plus AWS_CA_BUNDLE), verification failures, and a new
 * connection resuming the TLS session of an earlier one.
 */
#include "http_fixture.h"

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

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_tls_ca_bundle),
        T(test_tls_session_resumed),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
