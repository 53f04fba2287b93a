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

#include "xacct/api.h"
#include "xacct/codec.h"
#include "xacct/customer_pages.h"
#include "xacct/customers.h"
#include "xacct/launch_url.h"
#include "xacct/s3.h"
#include "xacct/template.h"

#define EVENTS_DEFAULT 100
#define EVENTS_MAX 1000
#define PAGE_DEFAULT 100

static const char *const stored_fields[] = {
    "account_id", "state",       "external_id", "pending_external_id", "region",
    "topic_arn",  "role_arn",    "stack_id",    "template_version",    "created_at",
    "updated_at", "verified_at", "last_error",
};

static const char *field(const xacct_header_t *f, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(f[i].name, name) == 0)
            return f[i].value[0] != '\0' ? f[i].value : NULL;
    return NULL;
}

static json_t *str_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

/*
 * A pending customer's template lies in the bucket under a key derived from
 * its external ID: its URL and the quick-create link can be given again on
 * every read. update_url: the same link for the pending ID of a rotation.
 */
static void add_urls(const xacct_config_t *cfg, json_t *o, const char *account,
                     const char *state, const char *external_id, const char *pending_id,
                     const char *topic_arn)
{
    json_object_set_new(o, "template_url", json_null());
    json_object_set_new(o, "launch_url", json_null());
    json_object_set_new(o, "update_url", json_null());
    const char *bucket = cfg->cfn_template_bucket;
    if (bucket == NULL || bucket[0] == '\0' || topic_arn == NULL)
        return;
    const char *id = pending_id != NULL ? pending_id : external_id;
    if (id == NULL || (pending_id == NULL && (state == NULL || strcmp(state, "pending") != 0)))
        return;
    char key[XACCT_TEMPLATE_KEY_MAX];
    char *url = NULL, *launch = NULL;
    const char *region = strchr(topic_arn, ':');
    char topic_region[32] = "";
    /* arn:partition:sns:REGION:... */
    for (int i = 0; region != NULL && i < 2; i++)
        region = strchr(region + 1, ':');
    if (region != NULL) {
        size_t n = strcspn(region + 1, ":");
        if (n < sizeof(topic_region)) {
            memcpy(topic_region, region + 1, n);
            topic_region[n] = '\0';
        }
    }
    if (topic_region[0] == '\0' || xacct_template_s3_key(account, id, key, sizeof(key)) != 0 ||
        xacct_s3_object_url(NULL, NULL, cfg->aws_region, bucket, key, &url) != 0 ||
        xacct_launch_url_build(topic_region, url, cfg->cfn_stack_name, &launch) != 0) {
        free(url);
        return;
    }
    json_object_set_new(o, "template_url", json_string(url));
    json_object_set_new(o, pending_id != NULL ? "update_url" : "launch_url", json_string(launch));
    free(url);
    free(launch);
}

/* The API's customer object from a record's fields (jansson, new reference). */
json_t *xacct__api_customer_json(const xacct_config_t *cfg, const xacct_header_t *f, size_t n);
json_t *xacct__api_customer_json(const xacct_config_t *cfg, const xacct_header_t *f, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < sizeof(stored_fields) / sizeof(stored_fields[0]); i++)
        json_object_set_new(o, stored_fields[i], str_or_null(field(f, n, stored_fields[i])));
    add_urls(cfg, o, field(f, n, "account_id"), field(f, n, "state"), field(f, n, "external_id"),
             field(f, n, "pending_external_id"), field(f, n, "topic_arn"));
    return o;
}

/* ---- GET /v1/customers/{account_id} ------------------------------------ */

static void got_customer(int status, const char *detail, const xacct_header_t *fields, size_t n,
                         void *arg)
{
    xacct_api_call_t *call = arg;
    if (status != 0) {
        xacct_api_problem(call, xacct_api_status_for(status),
                          status == XACCT_ENOTFOUND ? "no such customer" : detail);
        return;
    }
    xacct_api_reply(call, 200, xacct__api_customer_json(call->ctx->cfg, fields, n));
}

void xacct__api_customer_get(xacct_api_call_t *call)
{
    int rc = xacct_customers_get(call->ctx->store, call->account_id, got_customer, call);
    if (rc != 0)
        xacct_api_problem(call, xacct_api_status_for(rc), xacct_strerror(rc));
}

/* ---- GET /v1/customers --------------------------------------------------- */

static bool parse_limit(const char *s, size_t dflt, size_t max, size_t *out)
{
    *out = dflt;
    if (s == NULL)
        return true;
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < 1 || (size_t)v > max)
        return false;
    *out = (size_t)v;
    return true;
}

static bool state_known(const char *s)
{
    static const char *const states[] = {"pending",    "active",  "rejected", "offboarding",
                                         "offboarded", "degraded", "expired", "cancelled"};
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
        if (strcmp(s, states[i]) == 0)
            return true;
    return false;
}

static void got_page(int status, const char *detail, const xacct_customer_record_t *records,
                     size_t n, const char *next_cursor, void *arg)
{
    xacct_api_call_t *call = arg;
    if (status != 0) {
        xacct_api_problem(call, xacct_api_status_for(status), detail);
        return;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, xacct__api_customer_json(call->ctx->cfg, records[i].fields,
                                                              records[i].n));
    xacct_api_reply(call, 200,
                    json_pack("{s:o, s:o}", "items", items, "next_cursor",
                              next_cursor[0] != '\0' ? json_string(next_cursor) : json_null()));
}

void xacct__api_customer_list(xacct_api_call_t *call)
{
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

static json_t *event_json(const xacct_stream_item_t *it)
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

static void got_events(int status, const char *detail, const xacct_stream_item_t *items, size_t n,
                       void *arg)
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

static void events_for_known(int status, const char *detail, const xacct_header_t *fields,
                             size_t n, void *arg)
{
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
