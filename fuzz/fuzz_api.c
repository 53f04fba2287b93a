/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes the portal API (SPEC §7) with what a portal, or anyone who reaches
 * api.listen, may send. Each input goes as it is over loopback to two
 * listeners on one loop: the real API (xacct_api_start: routing, 405 and its
 * Allow list, bearer tokens, the body cap, the account in the path), and a
 * listener that hands every request straight to its route, as the front door
 * does once a token matched and Redis is up, so the routes' own reading of
 * the request (the POST body's JSON and fields, limit, state and cursor) is
 * fuzzed too. Redis is an address nobody listens on: what needs it answers
 * 503. Property: an answer is an HTTP/1.x status line; ASan and UBSan watch
 * the rest.
 */
#define FUZZ_HTTP_OWN_ENTRY
#include "fuzz_http_client.h"
#include "xacct/api.h"
#include "xacct/arn.h"
#include "xacct/config.h"

/* sha256("fuzz-token"): "Authorization: Bearer fuzz-token" is let in. */
#define FUZZ_TOKEN_LINE "portal:33cc09ba35314d19e32ed9a5a30fca56eebbfab5faec7247fd0403cd26e155b5\n"

static xacct_ctx_t *g_ctx;
static xacct_httpd_t *g_direct;
static xacct_api_tokens_t *g_tokens;
static char g_tokens_path[] = "/tmp/xacct-fuzz-api-tokens.XXXXXX";
static int g_api_port, g_direct_port;

static const char *no_env(const char *name, void *ud)
{
    (void)name;
    (void)ud;
    return NULL;
}

/* pattern against path, "{account_id}" taking one segment (15 bytes kept). */
static bool matches(const char *pattern, const char *path, char account[16])
{
    account[0] = '\0';
    while (*pattern != '\0' && *path != '\0') {
        if (strncmp(pattern, "{account_id}", 12) == 0) {
            size_t n = strcspn(path, "/"), keep = n < 16 ? n : 15;
            if (n == 0)
                return false;
            memcpy(account, path, keep);
            account[keep] = '\0';
            pattern += 12;
            path += n;
        } else if (*pattern++ != *path++) {
            return false;
        }
    }
    return *pattern == '\0' && *path == '\0';
}

/* The route of the request, past the checks the front door makes. */
static void direct(void *arg, xacct_httpd_req_t *req)
{
    (void)arg;
    xacct_api_call_t *call = xacct_calloc(1, sizeof(*call));
    call->ctx = g_ctx;
    call->req = req;
    const char *auth = xacct_httpd_req_header(req, "Authorization");
    const char *name = NULL;
    if (auth != NULL && strncmp(auth, "Bearer ", 7) == 0)
        name = xacct_api_tokens_check(g_tokens, auth + 7, strlen(auth + 7));
    snprintf(call->actor_name, sizeof(call->actor_name), "%s", name ? name : "fuzz");
    call->actor = call->actor_name;
    size_t n;
    const xacct_api_route_t *routes = xacct_api_routes(&n);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(routes[i].method, xacct_httpd_req_method(req)) != 0 ||
            !matches(routes[i].pattern, xacct_httpd_req_path(req), call->account_id))
            continue;
        if (xacct_httpd_req_body_too_large(req))
            xacct_api_problem(call, 400, "too large");
        else if (strchr(routes[i].pattern, '{') != NULL &&
                 !xacct_account_id_valid(call->account_id))
            xacct_api_problem(call, 422, "account_id");
        else
            routes[i].fn(call);
        return;
    }
    xacct_api_problem(call, 404, "no such route");
}

static void teardown(void)
{
    xacct_httpd_free(g_direct);
    xacct_api_stop(g_ctx);
    xacct_api_tokens_free(g_tokens);
    (void)xacct_ctx_free(g_ctx);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    int fd = mkstemp(g_tokens_path);
    FUZZ_ASSERT(fd >= 0);
    FUZZ_ASSERT(write(fd, FUZZ_TOKEN_LINE, strlen(FUZZ_TOKEN_LINE)) ==
                (ssize_t)strlen(FUZZ_TOKEN_LINE));
    close(fd);

    char text[1024], err[512];
    snprintf(text, sizeof(text),
             "[aws]\nregion = us-east-1\npartner_account_id = 111122223333\n"
             "[queue]\nurls = https://sqs.us-east-1.amazonaws.com/111122223333/q\n"
             "[sns]\ntopic_arns = arn:aws:sns:us-east-1:111122223333:t, "
             "arn:aws:sns:eu-west-1:111122223333:t\n"
             "[redis]\nurl = redis://127.0.0.1:1/0\ncommand_timeout = 1\n"
             "[log]\nlevel = error\n"
             "[api]\nlisten = 127.0.0.1:1\ntokens_file = %s\n",
             g_tokens_path);
    xacct_config_t *cfg = NULL;
    int rc = config_load_from(NULL, text, no_env, NULL, false, &cfg, err, sizeof(err));
    if (rc == 0) {
        /* Any free port (the configuration holds a real one). */
        free(cfg->api_listen);
        cfg->api_listen = xacct_strdup("127.0.0.1:0");
    }
    if (rc != 0 || xacct_ctx_new(cfg, XACCT_CTX_STORE, &g_ctx, err, sizeof(err)) != 0 ||
        xacct_api_start(g_ctx, err, sizeof(err)) != 0 ||
        xacct_api_tokens_load(g_tokens_path, &g_tokens, err, sizeof(err)) != 0) {
        fprintf(stderr, "API: %s\n", err);
        unlink(g_tokens_path);
        abort();
    }
    unlink(g_tokens_path); /* read once; no reload here */
    g_api_port = xacct_api_port(g_ctx->api);
    xacct_httpd_options_t opt = {
        .listen = "127.0.0.1:0",
        .body_max = XACCT_API_BODY_MAX,
        .max_connections = 64,
        .idle_timeout_s = 10,
        .handler = direct,
    };
    if (xacct_httpd_new(g_ctx->loop, &opt, &g_direct, err, sizeof(err)) != 0) {
        fprintf(stderr, "direct listener: %s\n", err);
        abort();
    }
    g_direct_port = xacct_httpd_port(g_direct);
    atexit(teardown);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_http_exchange(g_ctx->loop, g_api_port, data, size);
    fuzz_http_exchange(g_ctx->loop, g_direct_port, data, size);
    return 0;
}
