/* SPDX-License-Identifier: MIT */
/*
 * `xacct dead [--limit N]`: the SQS messages workers gave up on, newest
 * first. Bodies are CloudFormation requests (possibly in an SNS envelope);
 * what is shown of them is redacted the way the logs are: a ResponseURL or
 * SubscribeURL keeps only scheme, host and path, external IDs and
 * subscription tokens become "***", and text that is not a JSON object is
 * shown only by its length.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "commands.h"
#include "xacct/dead.h"
#include "xacct/log.h"

static void redact_url(json_t *obj, const char *key)
{
    const char *url = json_string_value(json_object_get(obj, key));
    if (url != NULL) {
        char out[XACCT_REDACT_URL_MAX];
        json_object_set_new(obj, key, json_string(xacct_redact_url(url, out, sizeof(out))));
    }
}

static void redact_request(json_t *req)
{
    redact_url(req, "ResponseURL");
    static const char *const props[] = {"ResourceProperties", "OldResourceProperties"};
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(props); i++) {
        json_t *p = json_object_get(req, props[i]);
        if (json_object_get(p, "ExternalID") != NULL)
            json_object_set_new(p, "ExternalID", json_string("***"));
    }
}

/* What is shown for text that is not a JSON object: its length only. */
static json_t *note_for(const char *text)
{
    char note[64];
    snprintf(note, sizeof(note), "(%zu bytes, not a JSON object)", strlen(text));
    return json_string(note);
}

/* The body as JSON with secrets redacted; a short note for anything else.
 * Whatever reached the dead set may be malformed (that is often why it is
 * there), so nothing is left unredacted for lack of a field: a Message is
 * redacted with or without a Type, and one that is not a JSON object is
 * not shown, as a body that is not. */
static json_t *redacted_body(const char *body)
{
    json_t *doc = json_loads(body, 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return note_for(body);
    }
    redact_url(doc, "SubscribeURL");
    redact_url(doc, "UnsubscribeURL");
    if (json_object_get(doc, "Token") != NULL) /* what SubscribeURL carries */
        json_object_set_new(doc, "Token", json_string("***"));
    json_t *message = json_object_get(doc, "Message");
    if (json_is_string(message)) {
        json_t *inner = json_loads(json_string_value(message), 0, NULL);
        if (json_is_object(inner)) {
            redact_request(inner);
            json_object_set_new(doc, "Message", inner);
        } else {
            json_decref(inner);
            json_object_set_new(doc, "Message", note_for(json_string_value(message)));
        }
    } else if (json_is_object(message)) {
        redact_request(message);
    }
    redact_request(doc); /* a raw request (sns.raw_delivery) */
    return doc;
}

static void dead_done(int status, const char *detail, const xacct_dead_item_t *items, size_t n,
                      void *arg)
{
    cli_list_t *l = arg;
    if (status == 0) {
        for (size_t i = 0; i < n; i++) {
            const xacct_dead_t *d = &items[i].d;
            char at[32];
            cli_iso(d->at_ms, at);
            json_array_append_new(
                l->rows,
                json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:o}", "id", items[i].id, "at", at,
                          "queue", d->queue ? d->queue : "", "message_id",
                          d->message_id ? d->message_id : "", "receives",
                          (json_int_t)d->receives, "reason", d->reason ? d->reason : "", "body",
                          redacted_body(d->body ? d->body : "")));
        }
    }
    cli_list_done(l, status, detail);
}

int xacct_cmd_dead(cli_t *c, int argc, char **argv)
{
    const char *limit_s = NULL;
    cli_opt_t opts[] = {{"limit", true, &limit_s, NULL}, {NULL, false, NULL, NULL}};
    int rc = cli_args(c, argc, argv, opts, NULL, 0, 0);
    if (rc != 0)
        return rc;
    size_t limit = 100;
    if (limit_s != NULL && (limit = cli_parse_limit(limit_s, XACCT_DEAD_MAXLEN)) == 0)
        return cli_usage(c, "invalid --limit '%s': a number from 1 to %d", limit_s,
                         XACCT_DEAD_MAXLEN);
    if ((rc = cli_store(c)) != 0)
        return rc;
    static const char *const cols[] = {"id", "at", "receives", "message_id", "reason"};
    cli_list_t l;
    cli_list_init(&l);
    int submitted = xacct_dead_list(c->ctx->store, limit, dead_done, &l);
    return cli_list_print(c, submitted, &l, "listing the dead set", cols, XACCT_ARRAY_SIZE(cols));
}
