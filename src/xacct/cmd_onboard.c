/* SPDX-License-Identifier: MIT */
/*
 * `xacct onboard ACCOUNT [--region R]`: issue a fresh external ID (UUID v4,
 * unique across customers through its Redis index, regenerated on the rare
 * collision), store the pending record, allow the account to publish to a
 * partner topic of its region, and hand out the customer's template — a
 * quick-create link when templates are uploaded, a file otherwise.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "commands.h"
#include "xacct/arn.h"
#include "xacct/customers.h"
#include "xacct/extid.h"

#define MAX_COLLISIONS 8

typedef struct onboard_op {
    cli_res_t r;
    char prev[32]; /* state before */
} onboard_op_t;

static void onboard_done(int status, const char *detail, const char *prev_state, void *arg)
{
    onboard_op_t *op = arg;
    snprintf(op->prev, sizeof(op->prev), "%s", prev_state ? prev_state : "");
    cli_res_set(&op->r, status, detail);
}

int cli_issue_external_id(cli_t *c, const char *account, bool rotate, char id[XACCT_EXTID_LEN + 1],
                          char prev_state[32])
{
    for (int attempt = 0; attempt < MAX_COLLISIONS; attempt++) {
        int rc = xacct_extid_generate(id);
        if (rc != 0)
            return cli_fail(c, "cannot generate an external ID: %s", xacct_strerror(rc));
        xacct_event_t ev = cli_event(rotate ? "rotated" : "onboarded", "ok",
                                     rotate ? "new external ID issued" : "external ID issued");
        onboard_op_t op = {0};
        rc = rotate ? xacct_customers_rotate(c->store, account, id, &ev, onboard_done, &op)
                    : xacct_customers_onboard(c->store, account, id, &ev, onboard_done, &op);
        if (rc != 0)
            return cli_fail_store(c, rc, NULL, "storing the customer");
        cli_wait(c, &op.r.done);
        int status = op.r.status;
        if (status == XACCT_EEXISTS) { /* another customer holds this ID: draw again */
            cli_res_clear(&op.r);
            continue;
        }
        if (prev_state != NULL)
            snprintf(prev_state, 32, "%s", op.prev);
        if (status == XACCT_ESTATE) {
            cli_res_clear(&op.r);
            if (rotate)
                return cli_fail(c, "customer %s is %s: its external ID can no longer be rotated "
                                   "(onboard it again once offboarded)",
                                account, op.prev);
            if (strcmp(op.prev, "pending") == 0)
                return cli_fail(c, "customer %s is already pending with an external ID: wait for "
                                   "its stack, or issue a new ID with xacct rotate-external-id %s",
                                account, account);
            if (strcmp(op.prev, "active") == 0)
                return cli_fail(c, "customer %s is already active: to issue a new external ID use "
                                   "xacct rotate-external-id %s",
                                account, account);
            return cli_fail(c, "customer %s is %s: wait until offboarding has finished "
                               "(xacct jobs)",
                            account, op.prev);
        }
        if (status == XACCT_ENOTFOUND) {
            cli_res_clear(&op.r);
            return cli_fail(c, "no customer %s (onboard it first)", account);
        }
        if (status != 0) {
            cli_fail_store(c, status, op.r.detail, "storing the customer");
            cli_res_clear(&op.r);
            return CLI_FAIL;
        }
        cli_res_clear(&op.r);
        return 0;
    }
    return cli_fail(c, "could not draw an unused external ID in %d attempts", MAX_COLLISIONS);
}

void cli_print_handout(cli_t *c, json_t *info, const char *title)
{
    if (c->json) {
        cli_print_json(c, json_incref(info));
        return;
    }
    fprintf(c->out, "%s\n", title);
    const char *id = json_string_value(json_object_get(info, "external_id"));
    if (id != NULL)
        fprintf(c->out, "  external ID:  %s\n", id);
    fprintf(c->out, "  topic:        %s\n", json_string_value(json_object_get(info, "topic_arn")));
    const char *launch = json_string_value(json_object_get(info, "launch_url"));
    const char *file = json_string_value(json_object_get(info, "template_file"));
    if (launch != NULL) {
        fprintf(c->out, "  template:     %s\n",
                json_string_value(json_object_get(info, "template_url")));
        fprintf(c->out, "  launch URL:   %s\n", launch);
    } else if (file != NULL) {
        fprintf(c->out, "  template:     %s (no cloudformation.template_bucket: hand this file "
                        "to the customer)\n",
                file);
    }
}

int xacct_cmd_onboard(cli_t *c, int argc, char **argv)
{
    const char *region = NULL;
    const char *pos[1];
    cli_opt_t opts[] = {{"region", true, &region, NULL}, {NULL, false, NULL, NULL}};
    int rc = cli_args(c, argc, argv, opts, pos, 1, 1);
    if (rc != 0)
        return rc;
    const char *account = pos[0];
    if ((rc = cli_check_account(c, account)) != 0)
        return rc;
    if (region != NULL && !xacct_region_valid(region))
        return cli_usage(c, "invalid --region '%s': expected a region name like us-east-1",
                         region);
    const char *need[] = {"partner", "topics", region ? NULL : "region", NULL};
    if ((rc = cli_config_need(c, need)) != 0)
        return rc;
    if (region == NULL)
        region = c->cfg->aws_region;
    if ((rc = cli_store(c)) != 0 || (rc = cli_aws(c)) != 0)
        return rc;

    char id[XACCT_EXTID_LEN + 1] = "";
    if ((rc = cli_issue_external_id(c, account, false, id, NULL)) != 0)
        return rc;

    char *hint = xacct_asprintf("customer %s stays pending: retry with xacct rotate-external-id %s",
                                account, account);
    char *topic = NULL;
    json_t *info = json_object();
    c->hint = hint;
    rc = cli_publish_allow(c, account, region, &topic);
    if (rc == 0) {
        c->hint = hint;
        rc = cli_template_deliver(c, account, id, topic, info);
    }
    c->hint = NULL;
    if (rc == 0) {
        json_object_set_new(info, "account_id", json_string(account));
        json_object_set_new(info, "external_id", json_string(id));
        json_object_set_new(info, "state", json_string("pending"));
        json_object_set_new(info, "region", json_string(region));
        json_object_set_new(info, "topic_arn", json_string(topic));
        char title[128];
        snprintf(title, sizeof(title), "Customer %s onboarded (state pending).", account);
        cli_print_handout(c, info, title);
    }
    cli_record_free(info);
    OPENSSL_cleanse(id, sizeof(id));
    free(topic);
    free(hint);
    return rc;
}
