/* SPDX-License-Identifier: MIT */
/*
 * `xacct list [--state S] [--limit N]`: customers, most recently updated
 * first, from the customers zset, fetched a page at a time (customer_pages)
 * and printed as each page arrives: memory stays one page whatever the
 * number of customers.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "commands.h"
#include "xacct/customer_pages.h"
#include "xacct/customers.h"

#define LIST_PAGE 500 /* records per Redis round trip */

typedef struct list_walk {
    cli_t *c;
    cli_stream_t out;
    const char *state;   /* NULL = every state */
    size_t left;         /* records still wanted */
    cli_res_t r;         /* set when the walk ends */
} list_walk_t;

static int next_page(list_walk_t *w, const char *cursor);

static const char *or_empty(const char *s)
{
    return s != NULL ? s : "";
}

static void page_done(int status, const char *detail, const xacct_customer_t *items, size_t n,
                      const char *next_cursor, void *arg)
{
    list_walk_t *w = arg;
    if (status != 0) {
        cli_res_set(&w->r, status, detail);
        return;
    }
    if (n > w->left)
        n = w->left;
    json_t *rows = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(
            rows, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "account_id",
                            or_empty(items[i].account_id), "state",
                            xacct_customer_field(&items[i], "state"), "region",
                            or_empty(items[i].region), "topic_arn", or_empty(items[i].topic_arn),
                            "updated_at", or_empty(items[i].updated_at), "last_error",
                            or_empty(items[i].last_error)));
    cli_stream_page(&w->out, rows);
    json_decref(rows);
    w->left -= n;
    int rc = 0;
    if (w->left == 0 || next_cursor == NULL || next_cursor[0] == '\0' ||
        (rc = next_page(w, next_cursor)) != 0)
        cli_res_set(&w->r, rc, rc != 0 ? xacct_strerror(rc) : NULL);
}

static int next_page(list_walk_t *w, const char *cursor)
{
    size_t limit = w->left < LIST_PAGE ? w->left : LIST_PAGE;
    return xacct_customer_page(w->c->ctx->store, w->state, cursor, limit, page_done, w);
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
    list_walk_t w = {.c = c, .state = state, .left = limit};
    cli_stream_init(&w.out, c, cols, XACCT_ARRAY_SIZE(cols));
    int submitted = next_page(&w, NULL);
    rc = CLI_OK;
    if (submitted != 0) {
        rc = cli_fail_store(c, submitted, NULL, "listing customers");
    } else {
        cli_wait(c, &w.r.done);
        /* What was printed stays printed and a failure midway is reported
         * after it; a failure before any page prints nothing. */
        if (w.r.status == 0 || w.out.rows > 0 || w.out.started)
            cli_stream_end(&w.out);
        if (w.r.status != 0)
            rc = cli_fail_store(c, w.r.status, w.r.detail, "listing customers");
    }
    cli_res_clear(&w.r);
    return rc;
}
