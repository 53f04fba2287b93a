/* SPDX-License-Identifier: MIT */
/*
 * `xacct outbox [list] [--limit N]`, `xacct outbox dead [--limit N]` and
 * `xacct outbox redeliver ID`: the lifecycle events of SPEC §8 with their
 * webhook delivery status (new, pending with a worker, delivered), the events
 * given up on (outbox:dead, with the reason), and sending one of those again.
 * Events never hold an external ID, so they are shown whole.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "commands.h"
#include "xacct/outbox.h"

typedef struct outbox_op {
    cli_list_t list; /* the rows and the call's outcome */
    bool dead;       /* the rows come from outbox:dead */
} outbox_op_t;

/* One row: the event's own fields first, then the stream's view of it. */
static json_t *row_of(const xacct_outbox_item_t *it, bool dead)
{
    json_t *ev = json_loadb(it->event, it->event_len, 0, NULL);
    json_t *row = json_object();
    json_object_set_new(row, "id", json_string(it->id));
    static const char *const fields[] = {"type", "account_id", "seq", "state", "time"};
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(fields); i++) {
        json_t *v = json_object_get(ev, fields[i]);
        json_object_set(row, fields[i], v != NULL ? v : json_null());
    }
    json_object_set(row, "event_id", json_object_get(ev, "id") ? json_object_get(ev, "id")
                                                               : json_null());
    if (dead) {
        char at[32];
        cli_iso(it->appended_ms, at);
        json_object_set_new(row, "failed_at", json_string(at));
        json_object_set_new(row, "reason", json_string(it->reason));
        json_object_set_new(row, "attempts", json_integer(it->attempts));
        json_object_set_new(row, "outbox_id", json_string(it->outbox_id));
    } else {
        json_object_set_new(row, "status", json_string(it->status));
        json_object_set_new(row, "consumer", it->consumer[0] ? json_string(it->consumer)
                                                             : json_null());
        json_object_set_new(row, "deliveries", json_integer(it->deliveries));
    }
    json_object_set_new(row, "event", ev != NULL ? ev : json_string("(not JSON)"));
    return row;
}

static void items_done(int status, const char *detail, const xacct_outbox_item_t *items,
                       size_t n, void *arg)
{
    outbox_op_t *op = arg;
    if (status == 0)
        for (size_t i = 0; i < n; i++)
            json_array_append_new(op->list.rows, row_of(&items[i], op->dead));
    cli_list_done(&op->list, status, detail);
}

static int show(cli_t *c, bool dead, const char *limit_s)
{
    size_t limit = 0;
    if (limit_s != NULL && (limit = cli_parse_limit(limit_s, 10000)) == 0)
        return cli_usage(c, "--limit must be a number from 1 to 10000, not '%s'", limit_s);
    int rc = cli_store(c);
    if (rc != 0)
        return rc;
    static const char *const list_cols[] = {"id", "type", "account_id", "seq", "time",
                                            "status", "consumer", "deliveries"};
    static const char *const dead_cols[] = {"id", "type", "account_id", "seq", "failed_at",
                                            "attempts", "reason"};
    outbox_op_t op = {.dead = dead};
    cli_list_init(&op.list);
    if (dead)
        return cli_list_print(c, xacct_outbox_dead(c->ctx->store, limit, items_done, &op),
                              &op.list, "reading outbox:dead", dead_cols,
                              XACCT_ARRAY_SIZE(dead_cols));
    return cli_list_print(c, xacct_outbox_list(c->ctx->store, limit, items_done, &op), &op.list,
                          "reading the outbox", list_cols, XACCT_ARRAY_SIZE(list_cols));
}

static void redeliver_done(int status, const char *detail, void *arg)
{
    cli_res_set(arg, status, detail);
}

static int redeliver(cli_t *c, const char *id)
{
    if (!cli_stream_id_valid(id))
        return cli_usage(c, "invalid ID '%s': expected an ID like 1714561234567-0 (see xacct "
                            "outbox dead)",
                         id);
    int rc = cli_store(c);
    if (rc != 0)
        return rc;
    cli_res_t r = {0};
    if ((rc = xacct_outbox_redeliver(c->ctx->store, id, redeliver_done, &r)) != 0)
        return cli_fail_store(c, rc, NULL, "redelivering the event");
    cli_wait(c, &r.done);
    if (r.status == XACCT_ENOTFOUND)
        rc = cli_fail(c, "no dead event %s (see xacct outbox dead)", id);
    else if (r.status != 0)
        rc = cli_fail_store(c, r.status, r.detail, "redelivering the event");
    else if (c->json)
        cli_print_json(c, json_pack("{s:s, s:s}", "id", id, "outbox_id", r.detail));
    else
        fprintf(c->out, "Event %s is back in the outbox as %s; the webhook gets it again.\n",
                id, r.detail);
    cli_res_clear(&r);
    return rc;
}

int xacct_cmd_outbox(cli_t *c, int argc, char **argv)
{
    const char *limit = NULL;
    const cli_opt_t opts[] = {{"limit", true, &limit, NULL}, {NULL, false, NULL, NULL}};
    const char *pos[2] = {NULL, NULL};
    int rc = cli_args(c, argc, argv, opts, pos, 0, 2);
    if (rc != 0)
        return rc;
    const char *sub = pos[0] != NULL ? pos[0] : "list";
    if (strcmp(sub, "list") == 0 || strcmp(sub, "dead") == 0) {
        if (pos[1] != NULL)
            return cli_usage(c, "unexpected argument '%s' after '%s'", pos[1], sub);
        return show(c, strcmp(sub, "dead") == 0, limit);
    }
    if (strcmp(sub, "redeliver") == 0) {
        if (pos[1] == NULL)
            return cli_usage(c, "missing argument: usage: xacct outbox redeliver ID");
        if (limit != NULL)
            return cli_usage(c, "--limit does not apply to redeliver");
        return redeliver(c, pos[1]);
    }
    return cli_usage(c, "unknown outbox subcommand '%s': use 'list', 'dead' or 'redeliver ID'",
                     sub);
}
