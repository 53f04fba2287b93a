/* SPDX-License-Identifier: MIT */
/*
 * The portal API's front door: every request is matched against the route
 * table, authenticated (bearer token, constant-time), its path parameter
 * checked, and handed to its route; every failure on the way becomes a
 * problem+json answer. The OpenAPI document is docs/openapi.json, compiled
 * in (src/daemon/openapi_doc.c is generated from it by CMake).
 */
#include "xacct/api.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xacct/api_tokens.h"
#include "xacct/arn.h"
#include "xacct/log.h"
#include "xacct/secret_file.h"
#include "xacct/store.h"
#include "xacct/utf8.h"

#define API_MAX_CONNECTIONS 64u
#define API_IDLE_TIMEOUT_S 30u
/* Longest request-target (as sent) and largest header fields accepted: a
 * 414 or a 431 beyond, problem+json like every other error. */
#define API_URL_MAX (8u * 1024u)
#define API_HEADERS_MAX (16u * 1024u)
/* What a 503 asks the portal to wait before it tries again. */
#define API_RETRY_AFTER "5"

/* From the generated openapi_doc.c. */
extern const char xacct__openapi_doc[];
extern const size_t xacct__openapi_doc_len;

struct xacct_api {
    xacct_ctx_t *ctx;            /* borrowed */
    xacct_httpd_t *httpd;        /* owned; freed on stop */
    xacct_api_tokens_t *tokens;  /* owned; replaced on reload */
};

static void route_openapi(xacct_api_call_t *call);

static const xacct_api_route_t routes[] = {
    {"POST", "/v1/customers", true, xacct__api_customer_create},
    {"GET", "/v1/customers", true, xacct__api_customer_list},
    {"GET", "/v1/customers/{account_id}", true, xacct__api_customer_get},
    {"DELETE", "/v1/customers/{account_id}", true, xacct__api_customer_cancel},
    {"POST", "/v1/customers/{account_id}/rotate-external-id", true,
     xacct__api_customer_rotate},
    {"GET", "/v1/customers/{account_id}/events", true, xacct__api_customer_events},
    {"GET", "/v1/openapi.json", false, route_openapi},
};

const xacct_api_route_t *xacct_api_routes(size_t *n)
{
    *n = sizeof(routes) / sizeof(routes[0]);
    return routes;
}

static const char *reason_phrase(unsigned status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 422: return "Unprocessable Content";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return status >= 500 ? "Internal Server Error" : "Error";
    }
}

unsigned xacct_api_status_for(int rc)
{
    switch (rc) {
    case XACCT_ENOTFOUND: return 404;
    case XACCT_ESTATE: return 409;
    case XACCT_EEXISTS: return 409;
    case XACCT_EINVAL: return 422;
    case XACCT_EREDIS:
    case XACCT_EDISCONNECTED:
    case XACCT_ETIMEOUT:
    case XACCT_EHTTP:
    case XACCT_ETHROTTLED:
    case XACCT_ENOCREDS:
    case XACCT_ECONNREFUSED:
    case XACCT_ETLS:
    case XACCT_EAGAIN:
    case XACCT_ESHUTDOWN:
    case XACCT_ECANCELED: return 503;
    /* SPEC §7 has no 500: anything else the service could not do now (AWS
     * refusing xacct's own call, a file it cannot read) is "unavailable",
     * with nothing changed and a detail the operator can act on. */
    default: return 503;
    }
}

static void log_answer(xacct_api_call_t *call, unsigned status)
{
    char st[8];
    snprintf(st, sizeof(st), "%u", status);
    XACCT_LOG_INFO(&call->ctx->log, "api.request", "method",
                   xacct_httpd_req_method(call->req) ? xacct_httpd_req_method(call->req) : "-",
                   "path", xacct_httpd_req_path(call->req) ? xacct_httpd_req_path(call->req) : "-",
                   "status", st, "actor", call->actor ? call->actor : "-", NULL);
}

static void answer(xacct_api_call_t *call, unsigned status, const char *type,
                   const char *const *headers, const char *body, size_t len)
{
    log_answer(call, status);
    xacct_httpd_respond(call->req, status, type, headers, body, len);
    free(call);
}

void xacct_api_reply_headers(xacct_api_call_t *call, unsigned status,
                             const char *const *headers, void *json)
{
    json_t *doc = json;
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (text == NULL) {
        xacct_api_problem(call, 500, "the answer could not be built");
        return;
    }
    answer(call, status, "application/json", headers, text, strlen(text));
    free(text);
}

void xacct_api_reply(xacct_api_call_t *call, unsigned status, void *json)
{
    xacct_api_reply_headers(call, status, NULL, json);
}

/* A problem answer with the given headers (NULL or name, value, …, NULL). */
static void problem_with(xacct_api_call_t *call, unsigned status, const char *const *headers,
                         const char *detail)
{
    /* A detail may quote the request (a field's name, cut to a length) or
     * another server's text; jansson takes valid UTF-8 only, and a detail
     * it refused would leave the answer without its JSON. */
    char *safe = xacct_utf8_sanitize(detail ? detail : reason_phrase(status));
    json_t *p = json_pack("{s:s, s:s, s:i, s:s}", "type", "about:blank", "title",
                          reason_phrase(status), "status", (int)status, "detail", safe);
    free(safe);
    char *text = p ? json_dumps(p, JSON_COMPACT) : NULL;
    json_decref(p);
    answer(call, status, "application/problem+json", headers, text ? text : "",
           text ? strlen(text) : 0);
    free(text);
}

void xacct_api_problem(xacct_api_call_t *call, unsigned status, const char *detail)
{
    const char *h503[] = {"Retry-After", API_RETRY_AFTER, NULL};
    const char *h401[] = {"WWW-Authenticate", "Bearer", NULL};
    problem_with(call, status, status == 503 ? h503 : status == 401 ? h401 : NULL, detail);
}

static void route_openapi(xacct_api_call_t *call)
{
    answer(call, 200, "application/json", NULL, xacct__openapi_doc, xacct__openapi_doc_len);
}

/*
 * Matches path against pattern segment by segment; "{account_id}" takes one
 * non-empty segment (at most 15 bytes kept: a longer one is kept cut, which
 * can never be 12 digits, so it is refused as a bad account ID, 422).
 */
static bool path_matches(const char *pattern, const char *path, char account[16])
{
    account[0] = '\0';
    while (*pattern != '\0' && *path != '\0') {
        if (strncmp(pattern, "{account_id}", 12) == 0) {
            size_t n = strcspn(path, "/");
            if (n == 0)
                return false;
            size_t keep = n < 16 ? n : 15;
            memcpy(account, path, keep);
            account[keep] = '\0';
            pattern += 12;
            path += n;
            continue;
        }
        if (*pattern != *path)
            return false;
        pattern++;
        path++;
    }
    return *pattern == '\0' && *path == '\0';
}

/* The bearer token's name, or NULL. */
static const char *authenticate(xacct_api_t *api, xacct_httpd_req_t *req)
{
    const char *h = xacct_httpd_req_header(req, "Authorization");
    /* Authorization holds one credential (RFC 9110 11.6.2): of two, a proxy
     * in front may have checked the one not used here. */
    if (h == NULL || xacct_httpd_req_count(req, false, "Authorization") != 1 ||
        strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    const char *tok = h + 7;
    while (*tok == ' ')
        tok++;
    size_t len = strlen(tok);
    while (len > 0 && tok[len - 1] == ' ')
        len--;
    return xacct_api_tokens_check(api->tokens, tok, len);
}

/*
 * Everything that can refuse a request from its headers: an overlong URL or
 * header (414, 431), ambiguous framing (400), the route (404, 405), the
 * token (401), a body over 16 KiB (400), the path's account ID (422), Redis
 * (503). Returns the route, with call's actor and account_id set, or NULL
 * when call was answered (and freed).
 */
static const xacct_api_route_t *admit(xacct_api_t *api, xacct_api_call_t *call)
{
    xacct_httpd_req_t *req = call->req;
    const char *method = xacct_httpd_req_method(req);
    const char *path = xacct_httpd_req_path(req);
    const char *closing[] = {"Connection", "close", NULL};
    unsigned oversize = xacct_httpd_req_oversize(req);
    if (oversize != 0) {
        char detail[64];
        if (oversize == 414)
            snprintf(detail, sizeof(detail), "the URL is longer than %u KiB", API_URL_MAX / 1024);
        else
            snprintf(detail, sizeof(detail), "the header fields are larger than %u KiB",
                     API_HEADERS_MAX / 1024);
        problem_with(call, oversize, closing, detail);
        return NULL;
    }
    /* RFC 9112 6.1: with a Transfer-Encoding that is not chunked alone (the
     * only coding MHD reads) the body's length is unknown, and MHD would read
     * it until the client gave up. */
    const char *te = xacct_httpd_req_header(req, "Transfer-Encoding");
    if (te != NULL && strcasecmp(te, "chunked") != 0) {
        xacct_api_problem(call, 400, "a request body's Transfer-Encoding must be chunked");
        return NULL;
    }
    const char *framing = xacct_httpd_req_framing(req);
    if (framing != NULL) {
        problem_with(call, 400, closing, framing);
        return NULL;
    }
    /* RFC 9110 9.3.2: HEAD is GET without the body, the same status,
     * headers and authentication; httpd sends the headers only. */
    const char *as = strcmp(method, "HEAD") == 0 ? "GET" : method;
    const xacct_api_route_t *route = NULL;
    char allow[64] = "";
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        char account[16];
        if (!path_matches(routes[i].pattern, path, account))
            continue;
        if (strcmp(routes[i].method, as) == 0) {
            route = &routes[i];
            memcpy(call->account_id, account, sizeof(account));
            break;
        }
        size_t used = strlen(allow);
        bool get = strcmp(routes[i].method, "GET") == 0;
        snprintf(allow + used, sizeof(allow) - used, "%s%s%s", used ? ", " : "", routes[i].method,
                 get ? ", HEAD" : "");
    }
    if (route == NULL && allow[0] != '\0') {
        const char *headers[] = {"Allow", allow, NULL};
        char detail[128];
        snprintf(detail, sizeof(detail), "%s is not allowed here; allowed: %s", method, allow);
        problem_with(call, 405, headers, detail);
        return NULL;
    }
    if (route == NULL) {
        xacct_api_problem(call, 404, "no such route");
        return NULL;
    }
    if (route->auth) {
        const char *name = authenticate(api, req);
        if (name == NULL) {
            xacct_api_problem(call, 401, "a valid bearer token is required");
            return NULL;
        }
        snprintf(call->actor_name, sizeof(call->actor_name), "%s", name);
        call->actor = call->actor_name;
    }
    if (xacct_httpd_req_body_too_large(req)) {
        xacct_api_problem(call, 400, "the request body is larger than 16 KiB");
        return NULL;
    }
    if (strchr(route->pattern, '{') != NULL && !xacct_account_id_valid(call->account_id)) {
        xacct_api_problem(call, 422, "account_id must be 12 digits");
        return NULL;
    }
    /* Commands queue while Redis reconnects, which suits the worker; a portal
     * is better told at once to come back later. */
    if (route->auth && !xacct_store_is_up(call->ctx->store)) {
        xacct_api_problem(call, 503, "Redis is unavailable");
        return NULL;
    }
    return route;
}

static xacct_api_call_t *call_new(xacct_api_t *api, xacct_httpd_req_t *req)
{
    xacct_api_call_t *call = xacct_calloc(1, sizeof(*call));
    call->api = api;
    call->ctx = api->ctx;
    call->req = req;
    return call;
}

/* httpd's on_headers: a request that announces a body is refused before
 * its body is invited (Expect: 100-continue) or read, when the headers
 * already decide it; otherwise it is admitted again once the body is in. */
static void on_headers(void *arg, xacct_httpd_req_t *req)
{
    xacct_api_call_t *call = call_new(arg, req);
    if (admit(arg, call) != NULL)
        free(call);
}

static void on_request(void *arg, xacct_httpd_req_t *req)
{
    xacct_api_call_t *call = call_new(arg, req);
    const xacct_api_route_t *route = admit(arg, call);
    if (route != NULL)
        route->fn(call);
}

int xacct_api_start(xacct_ctx_t *ctx, char *err, size_t errlen)
{
    const xacct_config_t *cfg = ctx->cfg;
    if (cfg->api_listen == NULL || cfg->api_listen[0] == '\0')
        return 0;
    if (xacct_secret_file_check(&ctx->log, "api.tokens_file", cfg->api_tokens_file, err,
                                errlen) != 0)
        return XACCT_ECONFIG;
    xacct_api_t *api = xacct_calloc(1, sizeof(*api));
    api->ctx = ctx;
    int rc = xacct_api_tokens_load(cfg->api_tokens_file, &api->tokens, err, errlen);
    if (rc != 0) {
        free(api);
        return XACCT_ECONFIG;
    }
    xacct_httpd_options_t opt = {
        .listen = cfg->api_listen,
        .body_max = XACCT_API_BODY_MAX,
        .max_connections = API_MAX_CONNECTIONS,
        .idle_timeout_s = API_IDLE_TIMEOUT_S,
        .url_max = API_URL_MAX,
        .headers_max = API_HEADERS_MAX,
        /* Every worker of a host (xacctd@1, @2, ...) serves the portal on
         * the one api.listen of their shared configuration. */
        .share_port = true,
        .handler = on_request,
        .on_headers = on_headers,
        .arg = api,
    };
    char why[256];
    rc = xacct_httpd_new(ctx->loop, &opt, &api->httpd, why, sizeof(why));
    if (rc != 0) {
        snprintf(err, errlen, "api.listen: %s", why);
        xacct_api_tokens_free(api->tokens);
        free(api);
        return rc;
    }
    ctx->api = api;
    return 0;
}

int xacct_api_reload(xacct_ctx_t *ctx, char *err, size_t errlen)
{
    xacct_api_t *api = ctx->api;
    if (api == NULL)
        return 0;
    xacct_api_tokens_t *t = NULL;
    int rc = xacct_secret_file_check(&ctx->log, "api.tokens_file", ctx->cfg->api_tokens_file,
                                     err, errlen);
    if (rc == 0)
        rc = xacct_api_tokens_load(ctx->cfg->api_tokens_file, &t, err, errlen);
    if (rc != 0)
        return rc;
    xacct_api_tokens_free(api->tokens);
    api->tokens = t;
    return 0;
}

void xacct_api_warn_no_tokens(xacct_ctx_t *ctx)
{
    if (ctx->api != NULL && xacct_api_tokens_count(ctx->api->tokens) == 0)
        XACCT_LOG_WARN(&ctx->log, "api.no_tokens", "file", ctx->cfg->api_tokens_file, "action",
                       "every request is refused (401) until a name:sha256-hex line is added "
                       "and xacctd reloaded", NULL);
}

void xacct_api_stop(xacct_ctx_t *ctx)
{
    xacct_api_t *api = ctx->api;
    if (api == NULL)
        return;
    ctx->api = NULL;
    xacct_httpd_free(api->httpd);
    xacct_api_tokens_free(api->tokens);
    free(api);
}

int xacct_api_port(const xacct_api_t *api)
{
    return api != NULL ? xacct_httpd_port(api->httpd) : 0;
}
