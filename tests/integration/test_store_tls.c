/* SPDX-License-Identifier: MIT */
/*
 * rediss:// against Debian's redis-server with tls-port, port 0 and
 * tls-auth-clients, using a CA the test makes with openssl
 * (tests/support/make_test_ca.sh): AUTH with an ACL user and password works
 * over TLS (commands, a Lua script, a value larger than any buffer on the
 * way, reconnecting after a restart); an untrusted CA, a certificate for
 * another host name, an IP address the certificate does not name, a plain
 * server, a missing client certificate and a wrong password each fail with a
 * detail that says so; bad TLS settings are refused by xacct_store_new; a
 * sentinel on a TLS port is asked and watched (+switch-master) over TLS.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store_helper.h"
#include "xacct/tls_bridge.h"

typedef struct fixture {
    char dir[256];  /* the test PKI */
    int port;       /* the TLS server */
    pid_t pid;
    char ca[300], other_ca[300], cert[300], key[300];
} fixture_t;

static void pki_path(const fixture_t *f, char *out, const char *name)
{
    snprintf(out, 300, "%s/%s", f->dir, name);
}

static pid_t start_tls_server(const fixture_t *f, int port, const char *server_name,
                              const char *auth_clients)
{
    char portstr[16], crt[300], key[300], ca[300];
    snprintf(portstr, sizeof(portstr), "%d", port);
    snprintf(crt, sizeof(crt), "%s/%s.crt", f->dir, server_name);
    snprintf(key, sizeof(key), "%s/%s.key", f->dir, server_name);
    pki_path(f, ca, "ca.crt");
    const char *extra[] = {"--port", "0", "--tls-port", portstr, "--tls-cert-file", crt,
                           "--tls-key-file", key, "--tls-ca-cert-file", ca,
                           "--tls-auth-clients", auth_clients,
                           "--user", "alice", "on", ">wonderland", "~*", "&*", "+@all", NULL};
    return th_redis_start(port, extra);
}

static int group_setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    th_tmpdir(f->dir, "tls");
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "sh '%s/tests/support/make_test_ca.sh' '%s'",
             getenv("XACCT_SOURCE_DIR"), f->dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not make the test CA\n");
        return -1;
    }
    pki_path(f, f->ca, "ca.crt");
    pki_path(f, f->other_ca, "other-ca.crt");
    pki_path(f, f->cert, "client.crt");
    pki_path(f, f->key, "client.key");
    f->port = th_free_port();
    f->pid = start_tls_server(f, f->port, "server", "yes");
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    fixture_t *f = *state;
    th_redis_stop(f->pid);
    th_rmtree(f->dir);
    free(f);
    return 0;
}

static xacct_store_t *open_tls(uv_loop_t *loop, const fixture_t *f, const char *url,
                               const char *ca, int with_cert, int reconnect)
{
    xacct_store_options_t o = {.url = url, .prefix = "tls:", .reconnect = reconnect,
                               .connect_timeout_ms = 5000, .backoff_base_ms = 20,
                               .backoff_max_ms = 200, .tls_ca_file = ca,
                               .tls_cert_file = with_cert ? f->cert : NULL,
                               .tls_key_file = with_cert ? f->key : NULL};
    return th_store_open(loop, &o);
}

static const xacct_store_script_t echo_script = {"echo", "return ARGV[1] .. KEYS[1]"};

static void test_acl_user_over_tls(void **state)
{
    fixture_t *f = *state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char url[128];
    snprintf(url, sizeof(url), "rediss://alice:wonderland@localhost:%d/2", f->port);
    xacct_store_t *s = open_tls(&loop, f, url, f->ca, 1, 0);
    th_result_t r;

    assert_true(th_run_cmd(&loop, s, 10000, &r, "ACL", "WHOAMI", NULL));
    assert_int_equal(r.status, 0);
    assert_string_equal(r.str, "alice");
    assert_true(th_run_cmd(&loop, s, 10000, &r, "CLIENT", "INFO", NULL));
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.str, "db=2")); /* SELECT went through too */

    /* A value bigger than every buffer between hiredis and the server. */
    size_t big = 3u * 1024u * 1024u + 17u;
    char *v = malloc(big);
    for (size_t i = 0; i < big; i++)
        v[i] = (char)('a' + i % 26);
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_str(&a, "SET");
    xacct_store_args_key(&a, s, "big");
    xacct_store_args_add(&a, v, big);
    memset(&r, 0, sizeof(r));
    assert_int_equal(xacct_store_submit(s, &a, th_collect_cb, &r), 0);
    xacct_store_args_destroy(&a);
    assert_true(th_run_until(&loop, &r.done, 20000));
    assert_int_equal(r.status, 0);
    assert_true(th_run_cmd(&loop, s, 20000, &r, "STRLEN", "tls:big", NULL));
    assert_int_equal(r.status, 0);
    assert_int_equal(r.integer, (long long)big);
    assert_true(th_run_cmd(&loop, s, 20000, &r, "GETRANGE", "tls:big", "3145728", "-1", NULL));
    assert_int_equal(r.status, 0);
    assert_int_equal(r.len, 17);
    assert_memory_equal(r.str, v + 3145728, 17);
    free(v);

    /* Scripts load and run over the bridge. */
    xacct_store_args_init(&a);
    xacct_store_args_str(&a, "-k");
    xacct_store_args_str(&a, "v-");
    memset(&r, 0, sizeof(r));
    assert_int_equal(xacct_store_eval(s, &echo_script, 1, &a, th_collect_cb, &r), 0);
    xacct_store_args_destroy(&a);
    assert_true(th_run_until(&loop, &r.done, 10000));
    assert_int_equal(r.status, 0);
    assert_string_equal(r.str, "v--k");
    th_store_close(&loop, s);
}

/* A fail-fast store to url: the first command's failure detail. */
static void expect_refused(const fixture_t *f, const char *url, const char *ca, int with_cert,
                           const char *needle)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    xacct_store_t *s = open_tls(&loop, f, url, ca, with_cert, 0);
    th_result_t r;
    assert_true(th_run_cmd(&loop, s, 15000, &r, "PING", NULL));
    if (r.status == 0 || strstr(r.detail, needle) == NULL)
        fprintf(stderr, "%s: status %d detail '%s' (want '%s')\n", url, r.status, r.detail,
                needle);
    assert_int_equal(r.status, XACCT_EDISCONNECTED);
    assert_non_null(strstr(r.detail, needle));
    assert_null(strstr(r.detail, "wonderland")); /* never the password */
    assert_int_equal(xacct_store_connections(s), 0);
    th_store_close(&loop, s);
}

static void test_untrusted_ca_refused(void **state)
{
    fixture_t *f = *state;
    char url[128];
    snprintf(url, sizeof(url), "rediss://alice:wonderland@localhost:%d", f->port);
    expect_refused(f, url, f->other_ca, 1, "certificate not accepted");
    /* Nor does the system trust store know the test CA. */
    expect_refused(f, url, NULL, 1, "certificate not accepted");
}

static void test_wrong_host_name_refused(void **state)
{
    fixture_t *f = *state;
    char url[128];
    /* The certificate names localhost, not the address. */
    snprintf(url, sizeof(url), "rediss://alice:wonderland@127.0.0.1:%d", f->port);
    expect_refused(f, url, f->ca, 1, "IP address mismatch");

    /* A server whose certificate (from the trusted CA) names another host. */
    int port = th_free_port();
    pid_t pid = start_tls_server(f, port, "server-other", "yes");
    snprintf(url, sizeof(url), "rediss://alice:wonderland@localhost:%d", port);
    expect_refused(f, url, f->ca, 1, "hostname mismatch");
    th_redis_stop(pid);
}

static void test_plain_server_refused(void **state)
{
    fixture_t *f = *state;
    int port = th_free_port();
    pid_t pid = th_redis_start(port, NULL);
    char url[128];
    snprintf(url, sizeof(url), "rediss://localhost:%d", port);
    expect_refused(f, url, f->ca, 1, "is it a TLS port?");
    th_redis_stop(pid);
}

static void test_client_certificate_required(void **state)
{
    fixture_t *f = *state;
    char url[128];
    snprintf(url, sizeof(url), "rediss://alice:wonderland@localhost:%d", f->port);
    /* TLS 1.3 finishes the client's side of the handshake before the server
     * checks for a certificate: the refusal arrives as an alert ("tlsv13
     * alert certificate required"), or as a reset that loses the alert. */
    expect_refused(f, url, f->ca, 0, "certificate");
}

static void test_wrong_password(void **state)
{
    fixture_t *f = *state;
    char url[128];
    snprintf(url, sizeof(url), "rediss://alice:not-it@localhost:%d", f->port);
    expect_refused(f, url, f->ca, 1, "WRONGPASS");
}

static void test_reconnects_after_restart(void **state)
{
    fixture_t *f = *state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char url[128];
    snprintf(url, sizeof(url), "rediss://alice:wonderland@localhost:%d", f->port);
    xacct_store_t *s = open_tls(&loop, f, url, f->ca, 1, 1);
    th_result_t r;
    assert_true(th_run_cmd(&loop, s, 10000, &r, "SET", "tls:r", "1", NULL));
    assert_int_equal(r.status, 0);
    assert_int_equal(xacct_store_connections(s), 1);

    th_redis_stop(f->pid);
    f->pid = 0;
    /* Issued while the server is down: waits, then runs on the new one. */
    th_result_t late;
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_str(&a, "INCR");
    xacct_store_args_str(&a, "tls:after");
    memset(&late, 0, sizeof(late));
    assert_int_equal(xacct_store_submit(s, &a, th_collect_cb, &late), 0);
    xacct_store_args_destroy(&a);
    th_run_until(&loop, &late.done, 300);
    f->pid = start_tls_server(f, f->port, "server", "yes");
    assert_true(th_run_until(&loop, &late.done, 20000));
    if (late.status != 0 && late.status != XACCT_EDISCONNECTED)
        fail_msg("status %d: %s", late.status, late.detail);
    if (late.status == XACCT_EDISCONNECTED) {
        /* Written to the dying connection: the caller's retry succeeds. */
        assert_true(th_run_cmd(&loop, s, 20000, &late, "INCR", "tls:after", NULL));
        assert_int_equal(late.status, 0);
    }
    assert_int_equal(late.integer, 1);
    assert_true(xacct_store_connections(s) >= 2);
    th_store_close(&loop, s);
}

typedef struct watch_news {
    int ups, downs;
    char seen[512]; /* the last detail */
} watch_news_t;

static void watch_cb(xacct_store_watch_event_t ev, const char *detail, void *arg)
{
    watch_news_t *w = arg;
    w->ups += ev == XACCT_STORE_WATCH_UP;
    w->downs += ev == XACCT_STORE_WATCH_DOWN;
    snprintf(w->seen, sizeof(w->seen), "%s", detail ? detail : "");
}

/* Behind a sentinel on a TLS port (announcing host names, as certificates
 * without IP addresses need): the worker's store finds the master and keeps
 * its +switch-master subscription over TLS too, with the client
 * certificate. */
static void test_sentinel_over_tls(void **state)
{
    fixture_t *f = *state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    int sport = th_free_port();
    char conf[300], crt[300], key[300];
    snprintf(conf, sizeof(conf), "%s/sentinel.conf", f->dir);
    pki_path(f, crt, "server.crt");
    pki_path(f, key, "server.key");
    FILE *fp = fopen(conf, "w");
    assert_non_null(fp);
    fprintf(fp,
            "port 0\ntls-port %d\nbind 127.0.0.1\nlogfile \"\"\ndir %s\n"
            "tls-cert-file %s\ntls-key-file %s\ntls-ca-cert-file %s\n"
            "tls-client-cert-file %s\ntls-client-key-file %s\n"
            "tls-auth-clients yes\ntls-replication yes\n"
            "sentinel resolve-hostnames yes\nsentinel announce-hostnames yes\n"
            "sentinel monitor xm localhost %d 1\n",
            sport, f->dir, crt, key, f->ca, f->cert, f->key, f->port);
    fclose(fp);
    pid_t sentinel = th_sentinel_start(conf, sport);
    char addr[32];
    snprintf(addr, sizeof(addr), "localhost:%d", sport);
    const char *sentinels[] = {addr};
    watch_news_t news = {0};
    xacct_store_options_t o = {.url = "rediss://alice:wonderland@ignored:1/0", .prefix = "tls:",
                               .reconnect = 1, .connect_timeout_ms = 5000,
                               .backoff_base_ms = 20, .backoff_max_ms = 200,
                               .tls_ca_file = f->ca, .tls_cert_file = f->cert,
                               .tls_key_file = f->key, .sentinels = sentinels, .nsentinels = 1,
                               .master_name = "xm", .on_watch = watch_cb, .state_arg = &news};
    xacct_store_t *s = th_store_open(&loop, &o);
    th_result_t r;
    assert_true(th_run_cmd(&loop, s, 20000, &r, "ACL", "WHOAMI", NULL));
    if (r.status != 0)
        fail_msg("%d %s", r.status, r.detail);
    assert_string_equal(r.str, "alice");
    if (!th_run_until(&loop, &news.ups, 10000))
        fail_msg("no subscription: %s", news.seen);
    assert_int_equal(news.downs, 0);
    th_store_close(&loop, s);
    th_redis_stop(sentinel);
}

static void test_bad_tls_settings(void **state)
{
    fixture_t *f = *state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char err[256];
    xacct_store_t *s = NULL;
    xacct_store_options_t o = {.url = "rediss://localhost:1", .tls_ca_file = "/nonexistent/ca"};
    assert_int_equal(xacct_store_new(&loop, &o, &s, err, sizeof(err)), XACCT_EINVAL);
    assert_non_null(strstr(err, "redis.tls_ca_file"));
    assert_null(s);

    o = (xacct_store_options_t){.url = "rediss://localhost:1", .tls_cert_file = f->cert};
    assert_int_equal(xacct_store_new(&loop, &o, &s, err, sizeof(err)), XACCT_EINVAL);
    assert_non_null(strstr(err, "go together"));

    /* A key that does not belong to the certificate. */
    char other_key[300];
    pki_path(f, other_key, "server.key");
    o = (xacct_store_options_t){.url = "rediss://localhost:1", .tls_cert_file = f->cert,
                                .tls_key_file = other_key};
    assert_int_equal(xacct_store_new(&loop, &o, &s, err, sizeof(err)), XACCT_EINVAL);
    assert_non_null(strstr(err, "redis.tls_key_file"));

    /* Certificates with a plain URL: the operator believes it is encrypted. */
    o = (xacct_store_options_t){.url = "redis://localhost:1", .tls_ca_file = f->ca};
    assert_int_equal(xacct_store_new(&loop, &o, &s, err, sizeof(err)), XACCT_EINVAL);
    assert_non_null(strstr(err, "rediss://"));
    assert_null(s);
    assert_int_equal(th_loop_close(&loop), 0);
}

/* Copies file from to file to (replacing it in place, as a renewal that
 * rewrites the file does). */
static void copy_file(const char *from, const char *to)
{
    char buf[16384];
    FILE *in = fopen(from, "rb");
    assert_non_null(in);
    size_t n = fread(buf, 1, sizeof(buf), in);
    fclose(in);
    FILE *out = fopen(to, "wb");
    assert_non_null(out);
    assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(out);
}

/* A renewed CA (or certificate) file is taken up at the next connection,
 * without a restart; one that does not load leaves the previous files in
 * use and says why. */
static void test_renewed_files_taken_up(void **state)
{
    fixture_t *f = *state;
    char trust[300];
    pki_path(f, trust, "trust.crt");

    /* The files themselves: reloaded when they change, kept when the
     * change does not load. */
    copy_file(f->ca, trust);
    xacct_tls_config_t *cfg = NULL;
    char err[256];
    assert_int_equal(xacct_tls_config_new(trust, f->cert, f->key, &cfg, err, sizeof(err)), 0);
    struct ssl_ctx_st *first = xacct_tls_config_ctx(cfg);
    assert_null(xacct_tls_config_refresh(cfg)); /* nothing changed */
    assert_ptr_equal(xacct_tls_config_ctx(cfg), first);
    FILE *junk = fopen(trust, "w");
    fputs("not a certificate\n", junk);
    fclose(junk);
    const char *why = xacct_tls_config_refresh(cfg);
    assert_non_null(why);
    assert_non_null(strstr(why, "redis.tls_ca_file"));
    assert_ptr_equal(xacct_tls_config_ctx(cfg), first);
    copy_file(f->other_ca, trust);
    assert_null(xacct_tls_config_refresh(cfg));
    assert_ptr_not_equal(xacct_tls_config_ctx(cfg), first);
    xacct_tls_config_free(cfg);

    /* A store trusting a CA that did not sign the server's certificate
     * connects once the file holds the right one. */
    uv_loop_t loop;
    uv_loop_init(&loop);
    char url[128];
    snprintf(url, sizeof(url), "rediss://alice:wonderland@localhost:%d", f->port);
    xacct_store_t *s = open_tls(&loop, f, url, trust, 1, 1);
    th_result_t first_ping;
    (void)th_run_cmd(&loop, s, 1500, &first_ping, "PING", NULL);
    assert_true(!first_ping.done || first_ping.status != 0);
    assert_int_equal(xacct_store_connections(s), 0);
    copy_file(f->ca, trust);
    bool ok = th_run_until(&loop, &first_ping.done, 20000) && first_ping.status == 0;
    th_result_t r;
    for (int i = 0; i < 5 && !ok; i++)
        ok = th_run_cmd(&loop, s, 10000, &r, "PING", NULL) && r.status == 0;
    assert_true(ok);
    assert_int_equal(xacct_store_connections(s), 1);
    th_store_close(&loop, s);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as xacctd and xacct do */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acl_user_over_tls),
        cmocka_unit_test(test_untrusted_ca_refused),
        cmocka_unit_test(test_wrong_host_name_refused),
        cmocka_unit_test(test_plain_server_refused),
        cmocka_unit_test(test_client_certificate_required),
        cmocka_unit_test(test_wrong_password),
        cmocka_unit_test(test_reconnects_after_restart),
        cmocka_unit_test(test_sentinel_over_tls),
        cmocka_unit_test(test_bad_tls_settings),
        cmocka_unit_test(test_renewed_files_taken_up),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
