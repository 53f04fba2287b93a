/* SPDX-License-Identifier: MIT */
/*
 * `xacct outdated [--json]` (SPEC §9.6): the connected customers (active or
 * degraded) whose stack runs another template version than today's, the
 * one computed from the current role policy file and configuration. Each
 * gets today's template, rendered for it (with the pending external ID while
 * a rotation waits for its update) and uploaded (or written to
 * cloudformation.template_dir without a bucket), and the console link that
 * updates its stack with it.
 *
 * Customers are read a page at a time (customer_pages.h) and each row is
 * printed as soon as it is known, so memory stays bounded however many
 * customers there are: the table has fixed columns and --json streams one
 * array.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "commands.h"
#include "xacct/arn.h"
#include "xacct/customer_pages.h"
#include "xacct/deliver.h"
#include "xacct/launch_url.h"

#define PAGE 100
#define MAX_PARTITIONS 4 /* aws, aws-cn, aws-us-gov, and room for one more */

/* Today's version per partition, computed once each. */
typedef struct version_cache {
    char partition[MAX_PARTITIONS][16];
    char version[MAX_PARTITIONS][XACCT_TEMPLATE_VERSION_LEN + 1];
    size_t n;
} version_cache_t;

typedef struct outdated_run {
    cli_t *c;
    version_cache_t versions;
    char err[512];                 /* the first version error, for the failure */
    int version_status;            /* its status */
    xacct_customer_t *page[PAGE];  /* this page's outdated customers (owned) */
    char today[PAGE][XACCT_TEMPLATE_VERSION_LEN + 1]; /* and the version each should run */
    size_t npage;
    char cursor[XACCT_CUSTOMER_CURSOR_MAX + 1];
    cli_res_t r;
    size_t connected;              /* active or degraded customers seen */
    size_t listed;                 /* rows printed */
    size_t failed;                 /* rows whose template could not be delivered */
} outdated_run_t;

/* Today's version for a customer's topic; "" and the error kept on failure. */
static const char *today_for(outdated_run_t *o, const char *topic_arn)
{
    xacct_arn_t arn;
    if (topic_arn == NULL || xacct_arn_parse(topic_arn, &arn) != 0)
        return "";
    for (size_t i = 0; i < o->versions.n; i++)
        if (strcmp(o->versions.partition[i], arn.partition) == 0)
            return o->versions.version[i];
    if (o->versions.n == MAX_PARTITIONS || strlen(arn.partition) >= 16)
        return "";
    char v[XACCT_TEMPLATE_VERSION_LEN + 1];
    char err[512];
    int rc = xacct_deliver_version(o->c->ctx->cfg, topic_arn, v, err, sizeof(err));
    if (rc != 0) {
        if (o->version_status == 0) {
            o->version_status = rc;
            snprintf(o->err, sizeof(o->err), "%s", err);
        }
        return "";
    }
    size_t i = o->versions.n++;
    snprintf(o->versions.partition[i], sizeof(o->versions.partition[i]), "%s", arn.partition);
    memcpy(o->versions.version[i], v, sizeof(v));
    return o->versions.version[i];
}

static void page_done(int status, const char *detail, const xacct_customer_t *customers,
                      size_t n, const char *next_cursor, void *arg)
{
    outdated_run_t *o = arg;
    if (status == 0) {
        for (size_t i = 0; i < n && o->version_status == 0; i++) {
            const xacct_customer_t *cu = &customers[i];
            if (cu->state != XACCT_CUSTOMER_ACTIVE && cu->state != XACCT_CUSTOMER_DEGRADED)
                continue;
            o->connected++;
            const char *today = today_for(o, cu->topic_arn);
            /* A customer whose version cannot be known (no topic) is listed
             * too: its row says why it has no link. */
            if (today[0] != '\0' && strcmp(cu->template_version, today) == 0)
                continue;
            snprintf(o->today[o->npage], sizeof(o->today[0]), "%s", today);
            o->page[o->npage++] = xacct_customer_dup(cu);
        }
        snprintf(o->cursor, sizeof(o->cursor), "%s", next_cursor ? next_cursor : "");
    }
    cli_res_set(&o->r, status, detail);
}

/* ---- one customer: deliver today's template, build the link ----------- */

typedef struct delivered {
    cli_res_t r;
    char *template_url;  /* owned */
    char *template_file; /* owned */
} delivered_t;

static void deliver_done(int status, const char *detail, const xacct_deliver_result_t *res,
                         void *arg)
{
    delivered_t *d = arg;
    if (status == 0 && res != NULL) {
        d->template_url = res->template_url ? xacct_strdup(res->template_url) : NULL;
        d->template_file = res->template_file ? xacct_strdup(res->template_file) : NULL;
    }
    cli_res_set(&d->r, status, detail);
}

static void print_header(cli_t *c)
{
    fprintf(c->out, "%-12s  %-8s  %-12s  %s\n", "ACCOUNT_ID", "STATE", "VERSION", "UPDATE_URL");
}

static const char *or_dash(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : "-";
}

static void print_row(outdated_run_t *o, const xacct_customer_t *cu, const char *today,
                      const delivered_t *d, const char *update_url, const char *error)
{
    cli_t *c = o->c;
    if (c->json) {
        json_t *row = json_pack("{s:s, s:s, s:s, s:s, s:s}", "account_id", cu->account_id,
                                "state", xacct_customer_state_name(cu->state),
                                "template_version", cu->template_version, "current_version",
                                today, "stack_id", cu->stack_id);
        json_object_set_new(row, "update_url", update_url ? json_string(update_url) : json_null());
        json_object_set_new(row, "template_url",
                            d->template_url ? json_string(d->template_url) : json_null());
        json_object_set_new(row, "template_file",
                            d->template_file ? json_string(d->template_file) : json_null());
        if (error != NULL)
            json_object_set_new(row, "error", json_string(error));
        char *text = json_dumps(row, JSON_INDENT(2));
        json_decref(row);
        fprintf(c->out, "%s%s", o->listed == 0 ? "[\n" : ",\n", text ? text : "null");
        free(text);
    } else {
        if (o->listed == 0)
            print_header(c);
        const char *link = update_url ? update_url : d->template_file;
        fprintf(c->out, "%-12s  %-8s  %-12s  %s\n", cu->account_id,
                xacct_customer_state_name(cu->state), or_dash(cu->template_version),
                error ? error : or_dash(link));
    }
    o->listed++;
}

static void list_one(outdated_run_t *o, const xacct_customer_t *cu, const char *today)
{
    cli_t *c = o->c;
    delivered_t d = {0};
    char *update_url = NULL;
    char error[600] = "";
    /* While a rotation is pending (SPEC §9.3) the stack's next update must
     * carry the pending ID, as `xacct template` hands out: one update then
     * brings both the new ID and today's version. */
    const char *id =
        cu->pending_external_id[0] != '\0' ? cu->pending_external_id : cu->external_id;
    int rc = xacct_deliver_template(c->ctx, cu->account_id, id, cu->topic_arn, deliver_done, &d);
    if (rc != 0)
        cli_res_set(&d.r, rc, "cannot start the delivery");
    else
        cli_wait(c, &d.r.done);
    if (d.r.status != 0) {
        snprintf(error, sizeof(error), "cannot hand out today's template: %s",
                 d.r.detail ? d.r.detail : xacct_strerror(d.r.status));
    } else if (d.template_url != NULL &&
               xacct_launch_update_url(cu->stack_id, d.template_url, &update_url) != 0) {
        snprintf(error, sizeof(error), "no update link: the recorded stack id is not a stack ARN");
    }
    if (error[0] != '\0')
        o->failed++;
    print_row(o, cu, today, &d, update_url, error[0] ? error : NULL);
    xacct_free_secret(update_url); /* presigned */
    xacct_free_secret(d.template_url);
    free(d.template_file);
    cli_res_clear(&d.r);
}

int xacct_cmd_outdated(cli_t *c, int argc, char **argv)
{
    int rc = cli_args(c, argc, argv, NULL, NULL, 0, 0);
    if (rc != 0)
        return rc;
    const char *need[] = {"partner", NULL};
    if ((rc = cli_config_need(c, need)) != 0 || (rc = cli_store(c)) != 0)
        return rc;
    const char *bucket = c->ctx->cfg->cfn_template_bucket;
    if (bucket != NULL && bucket[0] != '\0' && (rc = cli_aws(c)) != 0)
        return rc;

    outdated_run_t *o = xacct_calloc(1, sizeof(*o));
    o->c = c;
    do {
        cli_res_clear(&o->r);
        int sub = xacct_customer_page(c->ctx->store, NULL, o->cursor, PAGE, page_done, o);
        if (sub != 0)
            cli_res_set(&o->r, sub, NULL);
        else
            cli_wait(c, &o->r.done);
        if (o->r.status != 0 || o->version_status != 0)
            break;
        for (size_t i = 0; i < o->npage; i++) {
            list_one(o, o->page[i], o->today[i]);
            xacct_customer_free(o->page[i]);
            o->page[i] = NULL;
        }
        o->npage = 0;
    } while (o->cursor[0] != '\0');
    for (size_t i = 0; i < o->npage; i++)
        xacct_customer_free(o->page[i]);
    /* Nothing is printed before the first page was read; rows already
     * printed are closed into a valid array even on a later failure. */
    bool ok = o->r.status == 0 && o->version_status == 0;
    if (c->json && (o->listed > 0 || ok))
        fprintf(c->out, "%s]\n", o->listed == 0 ? "[" : "\n");
    else if (!c->json && o->listed == 0 && ok)
        print_header(c);
    if (o->version_status != 0)
        rc = cli_fail(c, "%s", o->err);
    else if (o->r.status != 0)
        rc = cli_fail_store(c, o->r.status, o->r.detail, "reading the customers");
    else if (o->failed > 0)
        rc = cli_fail(c, "%zu of %zu outdated customers got no update link (see the rows)",
                      o->failed, o->listed);
    else if (!c->json)
        fprintf(c->err, "%zu of %zu connected customers run another template version than "
                        "today's\n",
                o->listed, o->connected);
    cli_res_clear(&o->r);
    free(o);
    return rc;
}
