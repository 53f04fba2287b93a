/* SPDX-License-Identifier: MIT */
/*
 * `xacct events ACCOUNT [--limit N]`: a customer's audit trail, newest first,
 * decoded from the msgpack entries of events:<account> (SPEC §5). An entry
 * that does not decode as an event is shown through the generic msgpack dump
 * rather than dropped.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "commands.h"
#include "xacct/customers.h"

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static void events_done(int status, const char *detail, const xacct_customers_event_item_t *items,
                        size_t n, void *arg)
{
    cli_list_t *l = arg;
    if (status == 0) {
        for (size_t i = 0; i < n; i++) {
            xacct_event_t ev;
            json_t *row;
            if (xacct_codec_event_decode(items[i].data, items[i].len, &ev) == 0) {
                char at[32];
                cli_iso(ev.ts, at);
                row = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "id", items[i].id,
                                "at", at, "type", ev.type, "outcome", str_or_null(ev.outcome),
                                "reason", str_or_null(ev.reason), "actor", str_or_null(ev.actor),
                                "request_id", str_or_null(ev.request_id), "stack_id",
                                str_or_null(ev.stack_id));
                xacct_codec_event_destroy(&ev);
            } else {
                static const char *const redact[] = {"external_id", "ExternalID", NULL};
                char *raw = NULL;
                json_t *dump = NULL;
                if (xacct_codec_to_json(items[i].data, items[i].len, redact, 0, &raw) == 0)
                    dump = json_loads(raw, JSON_DECODE_ANY, NULL);
                free(raw);
                row = json_pack("{s:s, s:s, s:o}", "id", items[i].id, "type", "(undecodable)",
                                "raw", dump ? dump : json_null());
            }
            json_array_append_new(l->rows, row);
        }
    }
    cli_list_done(l, status, detail);
}

int xacct_cmd_events(cli_t *c, int argc, char **argv)
{
    const char *limit_s = NULL;
    const char *pos[1];
    cli_opt_t opts[] = {{"limit", true, &limit_s, NULL}, {NULL, false, NULL, NULL}};
    int rc = cli_account_args(c, argc, argv, opts, pos);
    if (rc != 0)
        return rc;
    size_t limit = 100;
    if (limit_s != NULL && (limit = cli_parse_limit(limit_s, 10000)) == 0)
        return cli_usage(c, "invalid --limit '%s': a number from 1 to 10000", limit_s);
    if ((rc = cli_store(c)) != 0)
        return rc;
    xacct_customer_t *cust = NULL;
    if ((rc = cli_load_customer(c, pos[0], &cust)) != 0)
        return rc;
    xacct_customer_free(cust);

    static const char *const cols[] = {"at", "type", "outcome", "actor", "reason"};
    cli_list_t l;
    cli_list_init(&l);
    int submitted = xacct_customers_events(c->ctx->store, pos[0], limit, 1, events_done, &l);
    return cli_list_print(c, submitted, &l, "reading the audit trail", cols,
                          XACCT_ARRAY_SIZE(cols));
}
