/* SPDX-License-Identifier: MIT */
/*
 * The portal API's customer routes (SPEC §7): each reads or changes state
 * through the same library calls as the CLI command of the same name, and
 * turns the record into the API's customer object (every field of §7, null
 * when absent, times as RFC 3339 UTC).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xacct/api.h"
#include "xacct/codec.h"
#include "xacct/customer_pages.h"
#include "xacct/customers.h"
#include "xacct/launch_url.h"
#include "xacct/onboard.h"
#include "xacct/arn.h"
#include "xacct/s3.h"
#include "xacct/template.h"
#include "xacct/template_link.h"

#define EVENTS_DEFAULT 100
#define EVENTS_MAX 1000
#define PAGE_DEFAULT 100

static const char *const stored_fields[] = {
    "account_id", "state",       "external_id", "pending_external_id", "region",
    "topic_arn",  "role_arn",    "stack_id",    "template_version",    "created_at",
    "updated_at", "verified_at", "last_error",
};

/* A field of the record, NULL when it is empty (absent). */
static const char *field(const xacct_customer_t *c, const char *name)
{
    const char *v = xacct_customer_field(c, name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

static json_t *str_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

/* The API's customer object from a record (jansson, new reference), the
 * links null: xacct__api_customer_links fills them. */
json_t *xacct__api_customer_json(const xacct_config_t *cfg, const xacct_customer_t *c);
json_t *xacct__api_customer_json(const xacct_config_t *cfg, const xacct_customer_t *c)
{
    (void)cfg;
    json_t *o = json_object();
    for (size_t i = 0; i < sizeof(stored_fields) / sizeof(stored_fields[0]); i++)
        json_object_set_new(o, stored_fields[i], str_or_null(field(c, stored_fields[i])));
    json_object_set_new(o, "template_url", json_null());
    json_object_set_new(o, "launch_url", json_null());
    json_object_set_new(o, "update_url", json_null());
    return o;
}

/*
 * When the customer's current onboarding began (epoch s): the pending zset's
 * time, which the expirer measures onboard.pending_ttl from. created_at is
 * the record's first onboarding, long past for a customer onboarded again.
 * Without a pending time (onboarded before that zset existed) its last
 * update, as the expirer enrols it.
 */
static time_t onboarding_start(const xacct_customer_t *c)
{
    if (c->pending_since_ms > 0)
        return (time_t)(c->pending_since_ms / 1000);
    int64_t ms = 0;
    const char *updated = field(c, "updated_at");
    if (updated == NULL || xacct__creds_parse_time(updated, &ms) != 0)
        return 0;
    return (time_t)(ms / 1000);
}

/*
 * A pending (or rejected) customer's template lies in the bucket under a key
 * derived from its external ID: its URL and the quick-create link are given
 * again on every read, freshly presigned (template_link.h) for what is left of the
 * onboarding's life. update_url: while a rotation is pending (SPEC §9.3), the
 * pending ID's template and the update-stack link of the customer's stack.
 * 0, or the presigning's error (no valid credentials) with err set.
 */
static int add_links(xacct_ctx_t *ctx, json_t *o, const xacct_customer_t *c, char *err,
                     size_t errlen)
{
    const xacct_config_t *cfg = ctx->cfg;
    const char *account = field(c, "account_id"), *state = field(c, "state");
    const char *external_id = field(c, "external_id");
    const char *pending_id = field(c, "pending_external_id");
    const char *topic_arn = field(c, "topic_arn"), *stack_id = field(c, "stack_id");
    const char *bucket = cfg->cfn_template_bucket;
    if (bucket == NULL || bucket[0] == '\0' || topic_arn == NULL || account == NULL)
        return 0;
    /* A rejected customer, whose stack was rolled back, launches again from
     * its template (after a rotation, the new ID's): as xacct rotate-external-id
     * prints it. */
    const char *id = pending_id != NULL ? pending_id : external_id;
    bool launchable = state != NULL && (strcmp(state, "pending") == 0 ||
                                        strcmp(state, "rejected") == 0);
    if (id == NULL || (pending_id == NULL && !launchable))
        return 0;
    xacct_arn_t topic;
    char key[XACCT_TEMPLATE_KEY_MAX];
    if (xacct_arn_parse(topic_arn, &topic) != 0 ||
        xacct_template_s3_key(account, id, key, sizeof(key)) != 0)
        return 0;
    time_t now = time(NULL);
    long life = XACCT_TEMPLATE_LINK_MAX_EXPIRES;
    if (pending_id == NULL) {
        life = xacct_template_link_life(xacct_template_link_pending_ttl(cfg),
                                        onboarding_start(c), now);
        if (life < 1)
            return 0; /* the onboarding is over: no link to hand out */
    }
    char *url = NULL, *launch = NULL;
    int rc = xacct_template_link_presign(ctx, key, life, &url, err, errlen);
    if (rc != 0)
        return rc;
    if ((pending_id != NULL
             ? xacct_launch_update_url(stack_id, url, &launch)
             : xacct_launch_url_build(topic.region, url, cfg->cfn_stack_name, &launch)) == 0) {
        json_object_set_new(o, "template_url", json_string(url));
        json_object_set_new(o, pending_id != NULL ? "update_url" : "launch_url",
                            json_string(launch));
    }
    xacct_free_secret(url);
    xacct_free_secret(launch);
    return 0;
}

/* Answers code with the customer object, links included; 503 when they
 * cannot be signed (no valid AWS credentials right now). c comes from a
 * read that fills pending_since_ms (xacct_customers_get_onboarding, pages). */
static void reply_customer(xacct_api_call_t *call, unsigned code, const xacct_customer_t *c)
{
    json_t *o = xacct__api_customer_json(call->ctx->cfg, c);
    char err[256];
    if (add_links(call->ctx, o, c, err, sizeof(err)) != 0) {
        json_decref(o);
        xacct_api_problem(call, 503, err);
        return;
    }
    /* RFC 9110 15.3.2: without Location a 201's new resource would be the
     * target URI, the collection. */
    char location[sizeof("/v1/customers/") + sizeof(call->account_id)];
    snprintf(location, sizeof(location), "/v1/customers/%s", call->account_id);
    const char *created[] = {"Location", location, NULL};
    xacct_api_reply_headers(call, code, code == 201 ? created : NULL, o);
}

/* ---- GET /v1/customers/{account_id} ------------------------------------ */

static void got_customer(int status, const char *detail, const xacct_customer_t *customer,
                         void *arg)
{
    xacct_api_call_t *call = arg;
    if (status != 0) {
        xacct_api_problem(call, xacct_api_status_for(status),
                          status == XACCT_ENOTFOUND ? "no such customer" : detail);
        return;
    }
    reply_customer(call, 200, customer);
}

void xacct__api_customer_get(xacct_api_call_t *call)
{
    int rc = xacct_customers_get_onboarding(call->ctx->store, call->account_id, got_customer,
                                            call);
    if (rc != 0)
        xacct_api_problem(call, xacct_api_status_for(rc), xacct_strerror(rc));
}

/* ---- GET /v1/customers --------------------------------------------------- */

/* A query integer is plain decimal digits: strtol would also take a sign
 * and leading blanks ("+5", " 5" from %2B5, %205). */
static bool parse_limit(const char *s, size_t dflt, size_t max, size_t *out)
{
    *out = dflt;
    if (s == NULL)
        return true;
    size_t v = 0;
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (size_t)(*s - '0');
        if (v > max)
            return false;
    }
    if (v < 1)
        return false;
    *out = v;
    return true;
}

/* Whether a query argument of names is given more than once (answered 422):
 * the lookups take the first, and a proxy in front may have checked another. */
static bool arg_repeated(xacct_api_call_t *call, const char *const *names)
{
    for (; *names != NULL; names++)
        if (xacct_httpd_req_count(call->req, true, *names) > 1) {
            char why[64];
            snprintf(why, sizeof(why), "%s is given more than once", *names);
            xacct_api_problem(call, 422, why);
            return true;
        }
    return false;
}

static bool state_known(const char *s)
{
    return xacct_customer_state_from_name(s) != XACCT_CUSTOMER_UNKNOWN;
}

static void got_page(int status, const char *detail, const xacct_customer_t *customers,
                     size_t n, const char *next_cursor, void *arg)
{
    xacct_api_call_t *call = arg;
    if (status != 0) {
        xacct_api_problem(call, xacct_api_status_for(status), detail);
        return;
    }
    json_t *items = json_array();
    char err[256];
    for (size_t i = 0; i < n; i++) {
        json_t *o = xacct__api_customer_json(call->ctx->cfg, &customers[i]);
        json_array_append_new(items, o);
        if (add_links(call->ctx, o, &customers[i], err, sizeof(err)) != 0) {
            json_decref(items);
            xacct_api_problem(call, 503, err);
            return;
        }
    }
    xacct_api_reply(call, 200,
                    json_pack("{s:o, s:o}", "items", items, "next_cursor",
                              next_cursor[0] != '\0' ? json_string(next_cursor) : json_null()));
}

void xacct__api_customer_list(xacct_api_call_t *call)
{
    static const char *const args[] = {"state", "limit", "cursor", NULL};
    if (arg_repeated(call, args))
        return;
    const char *state = xacct_httpd_req_arg(call->req, "state");
    const char *cursor = xacct_httpd_req_arg(call->req, "cursor");
    size_t limit;
    if (!parse_limit(xacct_httpd_req_arg(call->req, "limit"), PAGE_DEFAULT,
                     XACCT_CUSTOMER_PAGE_MAX, &limit)) {
        xacct_api_problem(call, 422, "limit must be a whole number from 1 to 1000");
        return;
    }
    if (state != NULL && state[0] != '\0' && !state_known(state)) {
        xacct_api_problem(call, 422, "state is not one of the states of SPEC §5");
        return;
    }
    if (cursor != NULL && cursor[0] != '\0' && !xacct_customer_cursor_valid(cursor)) {
        xacct_api_problem(call, 422, "cursor is not one this API handed out");
        return;
    }
    int rc = xacct_customer_page(call->ctx->store, state, cursor, limit, got_page, call);
    if (rc != 0)
        xacct_api_problem(call, xacct_api_status_for(rc), xacct_strerror(rc));
}

/* ---- GET /v1/customers/{account_id}/events ------------------------------- */

typedef struct events_call {
    xacct_api_call_t *call;
    size_t limit;
} events_call_t;

static json_t *event_json(const xacct_customers_event_item_t *it)
{
    xacct_event_t ev;
    if (xacct_codec_event_decode(it->data, it->len, &ev) != 0) {
        xacct_codec_event_destroy(&ev);
        return json_pack("{s:s, s:n}", "id", it->id, "type");
    }
    char time[XACCT_STORE_ISO_LEN];
    xacct_store_iso8601(ev.ts, time);
    json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "id", it->id, "type",
                          ev.type, "time", time, "outcome", str_or_null(ev.outcome), "reason",
                          str_or_null(ev.reason), "actor", str_or_null(ev.actor), "request_id",
                          str_or_null(ev.request_id), "stack_id", str_or_null(ev.stack_id));
    xacct_codec_event_destroy(&ev);
    return o;
}

static void got_events(int status, const char *detail,
                       const xacct_customers_event_item_t *items, size_t n, void *arg)
{
    xacct_api_call_t *call = arg;
    if (status != 0) {
        xacct_api_problem(call, xacct_api_status_for(status), detail);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, event_json(&items[i]));
    xacct_api_reply(call, 200, json_pack("{s:o}", "items", arr));
}

static void events_for_known(int status, const char *detail, const xacct_customer_t *customer,
                             void *arg)
{
    (void)customer;
    events_call_t *ec = arg;
    xacct_api_call_t *call = ec->call;
    size_t limit = ec->limit;
    free(ec);
    if (status != 0) {
        xacct_api_problem(call, xacct_api_status_for(status),
                          status == XACCT_ENOTFOUND ? "no such customer" : detail);
        return;
    }
    int rc = xacct_customers_events(call->ctx->store, call->account_id, limit, 1, got_events,
                                    call);
    if (rc != 0)
        xacct_api_problem(call, xacct_api_status_for(rc), xacct_strerror(rc));
}

void xacct__api_customer_events(xacct_api_call_t *call)
{
    static const char *const args[] = {"limit", NULL};
    if (arg_repeated(call, args))
        return;
    size_t limit;
    if (!parse_limit(xacct_httpd_req_arg(call->req, "limit"), EVENTS_DEFAULT, EVENTS_MAX,
                     &limit)) {
        xacct_api_problem(call, 422, "limit must be a whole number from 1 to 1000");
        return;
    }
    /* An unknown customer is a 404, not an empty trail. */
    events_call_t *ec = xacct_calloc(1, sizeof(*ec));
    ec->call = call;
    ec->limit = limit;
    int rc = xacct_customers_get(call->ctx->store, call->account_id, events_for_known, ec);
    if (rc != 0) {
        free(ec);
        xacct_api_problem(call, xacct_api_status_for(rc), xacct_strerror(rc));
    }
}

/* ---- POST /v1/customers and rotate-external-id ---------------------------- */

/* An onboarding or rotation under way: the library's answer, then the record
 * read back so the answer has every field of §7. */
typedef struct change_call {
    xacct_api_call_t *call;
    unsigned status;           /* 201 created, 200 otherwise */
    char region[32];           /* onboard: the region asked for, "" for none */
} change_call_t;

static void reread_done(int status, const char *detail, const xacct_customer_t *c, void *arg)
{
    change_call_t *cc = arg;
    xacct_api_call_t *call = cc->call;
    unsigned code = cc->status;
    free(cc);
    if (status != 0) {
        xacct_api_problem(call, xacct_api_status_for(status), detail);
        return;
    }
    reply_customer(call, code, c);
}

static void reread(change_call_t *cc)
{
    xacct_api_call_t *call = cc->call;
    int rc = xacct_customers_get_onboarding(call->ctx->store, call->account_id, reread_done,
                                            cc);
    if (rc != 0) {
        free(cc);
        xacct_api_problem(call, xacct_api_status_for(rc), xacct_strerror(rc));
    }
}

static void changed(int status, const char *detail, const xacct_onboard_result_t *res, void *arg)
{
    change_call_t *cc = arg;
    if (status == XACCT_ESTATE && cc->status == 201 && res != NULL && res->state != NULL &&
        strcmp(res->state, "pending") == 0) {
        /* Another POST for the same account got there first: this one is its
         * repetition, answered as one (200, the same record). */
        cc->status = 200;
        int rc = xacct_onboard_resume(cc->call->ctx, cc->call->account_id,
                                      cc->region[0] ? cc->region : NULL, cc->call->actor,
                                      changed, cc);
        if (rc == 0)
            return;
        status = rc;
        detail = xacct_strerror(rc);
    }
    if (status != 0) {
        xacct_api_call_t *call = cc->call;
        free(cc);
        char why[512];
        if (status == XACCT_ESTATE && res != NULL && res->other_region)
            snprintf(why, sizeof(why),
                     "the customer is already pending in %s; cancel that onboarding "
                     "(DELETE) before onboarding it in another region",
                     res->region ? res->region : "another region");
        else if (status == XACCT_ESTATE && res != NULL && res->state != NULL &&
                 res->state[0] != '\0')
            snprintf(why, sizeof(why), "the customer is %s", res->state);
        else
            snprintf(why, sizeof(why), "%s", detail ? detail : xacct_strerror(status));
        xacct_api_problem(call, xacct_api_status_for(status), why);
        return;
    }
    reread(cc);
}

/* Whether region has a partner topic: onboarding can only use one there. */
static bool region_has_topic(const xacct_config_t *cfg, const char *region)
{
    for (size_t i = 0; i < cfg->sns_topic_arns.n; i++) {
        xacct_arn_t arn;
        if (xacct_arn_parse(cfg->sns_topic_arns.items[i], &arn) == 0 &&
            strcmp(arn.region, region) == 0)
            return true;
    }
    return false;
}

typedef struct create_call {
    xacct_api_call_t *call;
    char region[32];           /* "" = aws.region */
} create_call_t;

static void create_after_read(int status, const char *detail, const xacct_customer_t *c,
                              void *arg)
{
    create_call_t *cr = arg;
    xacct_api_call_t *call = cr->call;
    if (status == 0 && c->state == XACCT_CUSTOMER_PENDING) {
        /* Repeating the call for a pending customer returns the same record,
         * once the allow-list and the template are in place again: a call
         * that failed half-way (503) is finished by its retry. Naming
         * another region than its onboarding has is a conflict (409). */
        change_call_t *cc = xacct_calloc(1, sizeof(*cc));
        cc->call = call;
        cc->status = 200;
        int rc = xacct_onboard_resume(call->ctx, call->account_id,
                                      cr->region[0] ? cr->region : NULL, call->actor, changed,
                                      cc);
        free(cr);
        if (rc != 0) {
            free(cc);
            xacct_api_problem(call, xacct_api_status_for(rc), xacct_strerror(rc));
        }
        return;
    }
    if (status != 0 && status != XACCT_ENOTFOUND) {
        free(cr);
        xacct_api_problem(call, xacct_api_status_for(status), detail);
        return;
    }
    change_call_t *cc = xacct_calloc(1, sizeof(*cc));
    cc->call = call;
    cc->status = 201;
    snprintf(cc->region, sizeof(cc->region), "%s", cr->region);
    int rc = xacct_onboard_customer(call->ctx, call->account_id,
                                    cr->region[0] ? cr->region : NULL, call->actor, changed, cc);
    free(cr);
    if (rc != 0) {
        free(cc);
        xacct_api_problem(call, xacct_api_status_for(rc), xacct_strerror(rc));
    }
}

void xacct__api_customer_create(xacct_api_call_t *call)
{
    size_t len;
    const char *body = xacct_httpd_req_body(call->req, &len);
    json_error_t je;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(doc)) {
        json_decref(doc);
        xacct_api_problem(call, 400, "the body must be a JSON object");
        return;
    }
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v) {
        if (strcmp(key, "account_id") != 0 && strcmp(key, "region") != 0) {
            char why[128];
            snprintf(why, sizeof(why), "unknown field %.64s", key);
            json_decref(doc);
            xacct_api_problem(call, 422, why);
            return;
        }
    }
    const char *account = json_string_value(json_object_get(doc, "account_id"));
    json_t *rj = json_object_get(doc, "region");
    const char *region = json_string_value(rj);
    const xacct_config_t *cfg = call->ctx->cfg;
    const char *problem = NULL;
    if (account == NULL || !xacct_account_id_valid(account))
        problem = "account_id must be a string of 12 digits";
    else if (rj != NULL && !json_is_null(rj) &&
             (region == NULL || !xacct_region_valid(region) || !region_has_topic(cfg, region)))
        problem = "region is not a region with a partner topic (sns.topic_arns)";
    else if ((region == NULL || json_is_null(rj)) &&
             (cfg->aws_region == NULL || !region_has_topic(cfg, cfg->aws_region)))
        problem = "no region given and the home region has no partner topic";
    if (problem != NULL) {
        json_decref(doc);
        xacct_api_problem(call, 422, problem);
        return;
    }
    snprintf(call->account_id, sizeof(call->account_id), "%s", account);
    create_call_t *cr = xacct_calloc(1, sizeof(*cr));
    cr->call = call;
    snprintf(cr->region, sizeof(cr->region), "%s", region ? region : "");
    json_decref(doc);
    int rc = xacct_customers_get(call->ctx->store, call->account_id, create_after_read, cr);
    if (rc != 0) {
        free(cr);
        xacct_api_problem(call, xacct_api_status_for(rc), xacct_strerror(rc));
    }
}

void xacct__api_customer_rotate(xacct_api_call_t *call)
{
    change_call_t *cc = xacct_calloc(1, sizeof(*cc));
    cc->call = call;
    cc->status = 200;
    int rc = xacct_onboard_rotate(call->ctx, call->account_id, call->actor, changed, cc);
    if (rc != 0) {
        free(cc);
        xacct_api_problem(call, xacct_api_status_for(rc), xacct_strerror(rc));
    }
}
