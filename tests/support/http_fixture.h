/* SPDX-License-Identifier: MIT */
/*
 * What the HTTP client's tests share (test_http, test_http_conn,
 * test_http_tls): a local Python server (tests/support/http_test_server.py)
 * started per test group, other helper scripts started the same way (the
 * CONNECT proxy), TLS certificates minted with the openssl command, the
 * per-test loop fixture and what a callback saw. Every server is stopped by
 * pid on every exit path (and dies with the test through PR_SET_PDEATHSIG
 * and its closed stdin); every test ends with uv_loop_close() == 0.
 */
#ifndef XACCT_TEST_HTTP_FIXTURE_H
#define XACCT_TEST_HTTP_FIXTURE_H

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
/* The private structures, to reach the easy handles and the sockets'
 * poll handles in a few tests. */
#include "../../src/aws/http_int.h"

/* --- the test server --------------------------------------------------- */

typedef struct server {
    pid_t pid;    /* 0 when not running */
    int stdin_fd; /* its stdin; closing it also stops it */
    int port;
} server_t;

static inline const char *python_path(void)
{
    const char *p = getenv("XACCT_PYTHON");
    return p && *p ? p : "/usr/bin/python3";
}

static inline char *script_path(const char *name)
{
    const char *src = getenv("XACCT_SOURCE_DIR");
    if (src && *src)
        return xacct_asprintf("%s/tests/support/%s", src, name);
    /* __FILE__ is absolute in CMake builds: tests/support/http_fixture.h */
    const char *f = __FILE__;
    const char *cut = strstr(f, "tests/support/");
    return xacct_asprintf("%.*stests/support/%s", (int)(cut - f), f, name);
}

static inline void server_stop(server_t *s)
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

/* Starts tests/support/<name> with up to four arguments (NULL-terminated)
 * and reads its port. */
static inline int script_start(server_t *s, const char *name, const char *a1, const char *a2,
                               const char *a3, const char *a4)
{
    int in[2], outp[2];
    char *script = script_path(name);
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
        execl(python_path(), python_path(), script, a1, a2, a3, a4, (char *)NULL);
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

/* Starts the test server (TLS when cert/key are given) and reads its port. */
static inline int server_start(server_t *s, const char *cert, const char *key)
{
    if (cert)
        return script_start(s, "http_test_server.py", "--cert", cert, "--key", key);
    return script_start(s, "http_test_server.py", NULL, NULL, NULL, NULL);
}

/* --- fixtures ------------------------------------------------------------ */

typedef struct fx {
    uv_loop_t loop;
    uv_timer_t watchdog; /* unref'd: stops a stuck loop, never keeps it alive */
    uv_timer_t timer;    /* for tests that act from the loop */
    xacct_http_t *h;
    bool loop_closed;
    server_t tls[3]; /* TLS servers, or the proxy */
    char tmpdir[64];
} fx_t;

static server_t g_server; /* the plain server, started once for the group */

static inline int group_setup(void **state)
{
    XACCT_UNUSED(state);
    signal(SIGPIPE, SIG_IGN);
    return server_start(&g_server, NULL, NULL);
}

static inline int group_teardown(void **state)
{
    XACCT_UNUSED(state);
    server_stop(&g_server);
    return 0;
}

static inline void watchdog_cb(uv_timer_t *t)
{
    uv_stop(t->loop);
}

static inline int setup(void **state)
{
    fx_t *fx = xacct_calloc(1, sizeof(*fx));
    fx->tls[0].stdin_fd = fx->tls[1].stdin_fd = fx->tls[2].stdin_fd = -1;
    if (uv_loop_init(&fx->loop) != 0)
        return -1;
    uv_timer_init(&fx->loop, &fx->watchdog);
    uv_timer_start(&fx->watchdog, watchdog_cb, 30000, 0);
    uv_unref((uv_handle_t *)&fx->watchdog);
    uv_timer_init(&fx->loop, &fx->timer);
    *state = fx;
    return 0;
}

static inline void close_all(fx_t *fx)
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
static inline void finish_loop(fx_t *fx)
{
    close_all(fx);
    fx->loop_closed = true;
    assert_int_equal(uv_loop_close(&fx->loop), 0);
}

static inline int teardown(void **state)
{
    fx_t *fx = *state;
    if (!fx->loop_closed) {
        close_all(fx);
        uv_loop_close(&fx->loop);
    }
    server_stop(&fx->tls[0]);
    server_stop(&fx->tls[1]);
    server_stop(&fx->tls[2]);
    if (fx->tmpdir[0]) {
        char *cmd = xacct_asprintf("rm -rf '%s'", fx->tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", fx->tmpdir);
        free(cmd);
    }
    free(fx);
    return 0;
}

static inline void new_client(fx_t *fx, const xacct_http_options_t *opts)
{
    assert_int_equal(xacct_http_new(&fx->loop, opts, &fx->h), 0);
    assert_non_null(fx->h);
}

static inline void run(fx_t *fx)
{
    uv_run(&fx->loop, UV_RUN_DEFAULT);
}

static inline const char *url_on(int port, const char *scheme, const char *path)
{
    static char buf[8][512];
    static unsigned n;
    char *b = buf[n++ % 8];
    snprintf(b, sizeof(buf[0]), "%s://127.0.0.1:%d%s", scheme, port, path);
    return b;
}

static inline const char *url(const char *path)
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
    bool has_link;       /* a link header (only the 103 interim response has one) */
    json_t *json;        /* body parsed, when it is JSON */
    /* for chained or reentrant tests */
    fx_t *fx;
    int chain_left;
    long conns[16];
    int nconns;
    bool free_in_cb;
    xacct_http_req_t *victim; /* cancelled from this request's callback */
} result_t;

static inline void result_clear(result_t *r)
{
    free(r->detail);
    free(r->body);
    free(r->x_echo);
    free(r->conn_id);
    free(r->content_length);
    if (r->json)
        json_decref(r->json);
}

static inline char *dup_or_null(const char *s)
{
    return s ? xacct_strdup(s) : NULL;
}

static inline void record(int status, const char *detail, const xacct_http_response_t *resp,
                          void *arg)
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
    r->has_link = xacct_http_response_header(resp, "link") != NULL;
    const char *ct = xacct_http_response_header(resp, "content-type");
    if (r->json)
        json_decref(r->json);
    r->json = NULL;
    if (ct && strcmp(ct, "application/json") == 0)
        r->json = json_loadb(resp->body, resp->body_len, JSON_ALLOW_NUL, NULL);
}

static inline void submit(fx_t *fx, const xacct_http_request_t *req, result_t *res)
{
    assert_int_equal(xacct_http_submit(fx->h, req, record, res, NULL), 0);
}

static inline void get(fx_t *fx, const char *u, result_t *res)
{
    xacct_http_request_t req = {.method = "GET", .url = u};
    submit(fx, &req, res);
}

/* Finds a request header in an /echo answer; NULL if the server did not see it. */
static inline const char *echo_header(const result_t *r, const char *name)
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

static inline const char *echo_str(const result_t *r, const char *key)
{
    if (r->json == NULL)
        fail_msg("no JSON answer (status %d, detail %s)", r->status,
                 r->detail ? r->detail : "-");
    return json_string_value(json_object_get(r->json, key));
}

static inline long long echo_int(const result_t *r, const char *key)
{
    return json_integer_value(json_object_get(r->json, key));
}

static inline void sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned int len = 0;
    EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static inline unsigned char pattern_byte(size_t i)
{
    return (unsigned char)((i * 31 + 7) & 0xff);
}

static inline void check_pattern(const result_t *r, size_t n)
{
    assert_int_equal(r->body_len, n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)r->body[i] != pattern_byte(i))
            fail_msg("byte %zu differs", i);
    assert_int_equal(r->body[n], '\0');
}

static inline size_t sock_count(const xacct_http_t *h)
{
    size_t n = 0;
    for (const xacct_http_sock_t *s = h->_socks; s != NULL; s = s->_next)
        n++;
    return n;
}

/* Ticks every 20 ms until the pooled socket's poll has been stopped, or
 * gives up after 10 s (the assertions after the loop then fail). */
static inline void idle_stopped_cb(uv_timer_t *t)
{
    fx_t *fx = t->data;
    static int ticks;
    if ((fx->h->_socks != NULL && fx->h->_socks->_events == 0) || ++ticks > 500)
        uv_timer_stop(t);
}

static inline void sh(const char *fmt, ...) XACCT_PRINTF(1, 2);
static inline void sh(const char *fmt, ...)
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

static inline void mint_ca(const char *dir, const char *name)
{
    sh("cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
       "-keyout %s.key -out %s.pem -days 2 -subj /CN=%s",
       dir, name, name, name);
}

static inline void mint_server(const char *dir, const char *ca, const char *name,
                               const char *san)
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

/* Mints a CA and a certificate for 127.0.0.1 and starts a TLS server with
 * it in fx->tls[0]; ca receives the CA file's path. */
static inline void tls_server(fx_t *fx, char ca[128])
{
    char cert[128], key[128];
    snprintf(fx->tmpdir, sizeof(fx->tmpdir), "/tmp/xacct-http-XXXXXX");
    assert_non_null(mkdtemp(fx->tmpdir));
    mint_ca(fx->tmpdir, "ca");
    mint_server(fx->tmpdir, "ca", "good", "IP:127.0.0.1");
    snprintf(cert, sizeof(cert), "%s/good.pem", fx->tmpdir);
    snprintf(key, sizeof(key), "%s/good.key", fx->tmpdir);
    snprintf(ca, 128, "%s/ca.pem", fx->tmpdir);
    assert_int_equal(server_start(&fx->tls[0], cert, key), 0);
}

#define SPREAD 16

#endif
