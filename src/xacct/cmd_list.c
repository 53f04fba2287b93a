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


static void list_done(int status, const char *detail, const xacct_customer_summary_t *items,
                      size_t n, void *arg)
{
    cli_list_t *l = arg;
    if (status == 0) {
        for (size_t i = 0; i < n; i++)
            json_array_append_new(
                l->rows, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "account_id",
                                    items[i].account_id ? items[i].account_id : "", "state",
                                    xacct_customer_state_name(items[i].state), "region",
                                    items[i].region ? items[i].region : "", "topic_arn",
                                    items[i].topic_arn ? items[i].topic_arn : "", "updated_at",
                                    items[i].updated_at ? items[i].updated_at : "", "last_error",
                                    items[i].last_error ? items[i].last_error : ""));
    }
    cli_list_done(l, status, detail);
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
    if (state != NULL && xacct_customer_state_from_name(state) == XACCT_CUSTOMER_UNKNOWN)
        return cli_usage(c, "invalid --state '%s': one of pending, active, rejected, "
                            "offboarding, offboarded, degraded, expired, cancelled",
                         state);
    size_t limit = 1000;
    if (limit_s != NULL && (limit = cli_parse_limit(limit_s, 100000)) == 0)
        return cli_usage(c, "invalid --limit '%s': a number from 1 to 100000", limit_s);
    if ((rc = cli_store(c)) != 0)
        return rc;
    static const char *const cols[] = {"account_id", "state", "region", "topic_arn",
                                       "updated_at", "last_error"};
    cli_list_t l;
    cli_list_init(&l);
    int submitted = xacct_customers_list(c->ctx->store, state, limit, list_done, &l);
    return cli_list_print(c, submitted, &l, "listing customers", cols, XACCT_ARRAY_SIZE(cols));
}
