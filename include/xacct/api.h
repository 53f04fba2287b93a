/* SPDX-License-Identifier: MIT */
/*
 * The portal API (SPEC §7) on api.listen: bearer-token authentication,
 * routing, request-body and field validation, and problem+json errors. The
 * routes themselves (src/daemon/api_customers.c) run the same library code
 * as the CLI commands of the same name.
 */
#ifndef XACCT_API_H
#define XACCT_API_H

#include <stdbool.h>
#include <stddef.h>

#include "xacct/api_tokens.h"
#include "xacct/common.h"
#include "xacct/ctx.h"
#include "xacct/httpd.h"

/* Largest request body accepted; more is a 400. */
#define XACCT_API_BODY_MAX (16 * 1024)

typedef struct xacct_api xacct_api_t;

/* One request being answered; handed to a route and answered exactly once
 * through xacct_api_reply or xacct_api_problem. */
typedef struct xacct_api_call {
    xacct_api_t *api;            /* the server */
    xacct_ctx_t *ctx;            /* the daemon's context */
    xacct_httpd_req_t *req;      /* the HTTP request */
    const char *actor;           /* the token's name: the audit actor (actor_name), or NULL */
    char account_id[16];         /* {account_id} of the path, "" when none */
    /* A copy: a reload (SIGHUP) or the shutdown frees the token table while
     * a call may still be waiting for Redis or AWS. */
    char actor_name[XACCT_API_TOKEN_NAME_MAX + 1];
} xacct_api_call_t;

typedef void (*xacct_api_route_fn)(xacct_api_call_t *call);

typedef struct xacct_api_route {
    const char *method;          /* GET, POST, DELETE */
    const char *pattern;         /* OpenAPI path, "{account_id}" for the parameter */
    bool auth;                   /* requires a bearer token */
    xacct_api_route_fn fn;
} xacct_api_route_t;

/* The route table (for the OpenAPI coverage test); n set to its length. */
const xacct_api_route_t *xacct_api_routes(size_t *n);

/*
 * Starts the API on ctx->cfg->api_listen (nothing when empty) with the
 * tokens of ctx->cfg->api_tokens_file; stores it in ctx->api. Returns 0 or
 * an error with err set for the operator.
 */
int xacct_api_start(xacct_ctx_t *ctx, char *err, size_t errlen) XACCT_MUSTCHECK;

/* Re-reads the tokens file (SIGHUP). On an error the old tokens stay and err
 * says why. */
int xacct_api_reload(xacct_ctx_t *ctx, char *err, size_t errlen) XACCT_MUSTCHECK;

/* Logs a warning when the API is on and holds no token (every request is
 * refused until one is added and xacctd reloaded). */
void xacct_api_warn_no_tokens(xacct_ctx_t *ctx);

/* Stops listening; routes still working answer into the void. */
void xacct_api_stop(xacct_ctx_t *ctx);

/* The bound port (tests use port 0). */
int xacct_api_port(const xacct_api_t *api);

/* Answers call with status and a JSON body (json is a jansson json_t*,
 * stolen), then frees call. */
void xacct_api_reply(xacct_api_call_t *call, unsigned status, void *json);

/* xacct_api_reply with headers: NULL or a NULL-terminated list of name,
 * value, … added to the answer (a 201's Location). */
void xacct_api_reply_headers(xacct_api_call_t *call, unsigned status,
                             const char *const *headers, void *json);

/*
 * Answers call with an application/problem+json error {type, title, status,
 * detail}, then frees call. A 503 carries Retry-After, a 401
 * WWW-Authenticate: Bearer.
 */
void xacct_api_problem(xacct_api_call_t *call, unsigned status, const char *detail);

/* The problem status for a library error: XACCT_ENOTFOUND 404, XACCT_ESTATE
 * 409, XACCT_EINVAL 422, transient Redis/AWS failures 503, anything else
 * 500. */
unsigned xacct_api_status_for(int rc);

/* The routes (src/daemon/api_customers.c). */
void xacct__api_customer_create(xacct_api_call_t *call);
void xacct__api_customer_get(xacct_api_call_t *call);
void xacct__api_customer_rotate(xacct_api_call_t *call);
void xacct__api_customer_list(xacct_api_call_t *call);
void xacct__api_customer_events(xacct_api_call_t *call);
/* (src/daemon/api_cancel.c) */
void xacct__api_customer_cancel(xacct_api_call_t *call);

#endif
