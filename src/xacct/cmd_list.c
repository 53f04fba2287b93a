/* SPDX-License-Identifier: MIT */
/*
 * `xacct list [--state S] [--limit N]`: customers, most recently updated
 * first, from the customers zset.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "commands.h"
#include "xacct/customers.h"

static const char *const states[] = {"pending",     "active",     "degraded", "rejected",
                                     "offboarding", "offboarded", "expired",  "cancelled"};

typedef struct list_op {
    cli_res_t r;
    json_t *rows;
} list_op_t;

static void list_done(int status, const char *detail, const xacct_customer_summary_t *items,
                      size_t n, void *arg)
{
    list_op_t *op = arg;
    if (status == 0) {
        op->rows = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(
                op->rows, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "account_id",
                                    items[i].account_id ? items[i].account_id : "", "state",
                                    items[i].state ? items[i].state : "", "region",
                                    items[i].region ? items[i].region : "", "topic_arn",
                                    items[i].topic_arn ? items[i].topic_arn : "", "updated_at",
                                    items[i].updated_at ? items[i].updated_at : "", "last_error",
                                    items[i].last_error ? items[i].last_error : ""));
    }
    cli_res_set(&op->r, status, detail);
}

int xacct_cmd_list(cli_t *c, int argc, char **argv)
{
    const char *state = NULL, *limit_s = NULL;
    cli_opt_t opts[] = {{"state", true, &state, NULL},
                        {"limit", true, &limit_s, NULL},
                        {NULL, false, NULL, NULL}};
    int rc = cli_args(c, argc, argv, opts, NULL, 0, 0);
    if (rc != 0)
        return rc;
    if (state != NULL) {
        bool known = false;
        for (size_t i = 0; i < XACCT_ARRAY_SIZE(states); i++)
            known = known || strcmp(states[i], state) == 0;
        if (!known)
            return cli_usage(c, "invalid --state '%s': one of pending, active, degraded, "
                                "rejected, offboarding, offboarded, expired, cancelled",
                             state);
    }
    size_t limit = 1000;
    if (limit_s != NULL && (limit = cli_parse_limit(limit_s, 100000)) == 0)
        return cli_usage(c, "invalid --limit '%s': a number from 1 to 100000", limit_s);
    if ((rc = cli_store(c)) != 0)
        return rc;
    list_op_t op = {0};
    if ((rc = xacct_customers_list(c->store, state, limit, list_done, &op)) != 0)
        return cli_fail_store(c, rc, NULL, "listing customers");
    cli_wait(c, &op.r.done);
    if (op.r.status != 0) {
        rc = cli_fail_store(c, op.r.status, op.r.detail, "listing customers");
        cli_res_clear(&op.r);
        return rc;
    }
    cli_res_clear(&op.r);
    if (c->json) {
        cli_print_json(c, op.rows);
    } else {
        static const char *const cols[] = {"account_id", "state", "region", "topic_arn",
                                           "updated_at", "last_error"};
        cli_print_table(c, op.rows, cols, XACCT_ARRAY_SIZE(cols));
        json_decref(op.rows);
    }
    return CLI_OK;
}
