/* SPDX-License-Identifier: MIT */
/*
 * `xacct onboard ACCOUNT [--region R]` and `xacct rotate-external-id
 * ACCOUNT`: the arguments, a blocking call of the library's onboarding
 * (onboard.h: issue the external ID, allow the account to publish, deliver
 * the template), and what the operator reads — the handout on success, and
 * on failure one line that says what to do next.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "commands.h"
#include "xacct/arn.h"
#include "xacct/onboard.h"
#include "xacct/publish.h"

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
    const char *update = json_string_value(json_object_get(info, "update_url"));
    const char *file = json_string_value(json_object_get(info, "template_file"));
    if (update != NULL) {
        fprintf(c->out, "  template:     %s\n",
                json_string_value(json_object_get(info, "template_url")));
        fprintf(c->out, "  update URL:   %s\n", update);
    } else if (launch != NULL) {
        fprintf(c->out, "  template:     %s\n",
                json_string_value(json_object_get(info, "template_url")));
        fprintf(c->out, "  launch URL:   %s\n", launch);
    } else if (file != NULL) {
        fprintf(c->out,
                "  template:     %s (no cloudformation.template_bucket: hand this file "
                "to the customer)\n",
                file);
        if (json_object_get(info, "pending_external_id") != NULL)
            fprintf(c->out,
                    "  update:       in the console, update the customer's stack with this "
                    "file (Replace existing template); xacct template %s prints it again\n",
                    json_string_value(json_object_get(info, "account_id")));
    }
}

/* The call's outcome, copied out of the callback: the handout (holds the
 * external ID: released with cli_record_free) or the failure. */
typedef struct onboard_op {
    cli_res_t r;
    json_t *info;    /* the result's fields */
    char state[32];  /* the customer's state (also on XACCT_ESTATE) */
    bool unfinished; /* see xacct_onboard_result_t */
    bool other_region; /* see xacct_onboard_result_t */
    char other_region_name[32]; /* then the region it is pending in */
} onboard_op_t;

static void set_str(json_t *o, const char *key, const char *value)
{
    if (value != NULL)
        json_object_set_new(o, key, json_string(value));
}

static void onboard_done(int status, const char *detail, const xacct_onboard_result_t *res,
                         void *arg)
{
    onboard_op_t *op = arg;
    op->info = json_object();
    set_str(op->info, "account_id", res->account_id);
    set_str(op->info, "external_id", res->external_id);
    /* Like `xacct show`: a pending ID is a secret; the handout says it is set. */
    if (res->pending_external_id != NULL)
        json_object_set_new(op->info, "pending_external_id", json_string("set"));
    set_str(op->info, "state", res->state);
    set_str(op->info, "region", res->region);
    set_str(op->info, "topic_arn", res->topic_arn);
    set_str(op->info, "template_url", res->template_url);
    set_str(op->info, "launch_url", res->launch_url);
    set_str(op->info, "update_url", res->update_url);
    set_str(op->info, "template_file", res->template_file);
    snprintf(op->state, sizeof(op->state), "%s", res->state ? res->state : "");
    op->unfinished = res->unfinished;
    op->other_region = res->other_region;
    snprintf(op->other_region_name, sizeof(op->other_region_name), "%s",
             res->region ? res->region : "another region");
    cli_res_set(&op->r, status, detail);
}

/* The failure in one line, with what the operator can do about it. */
static int report_failure(cli_t *c, const onboard_op_t *op, const char *account, bool rotate)
{
    const char *detail = op->r.detail ? op->r.detail : xacct_strerror(op->r.status);
    if (op->r.status == XACCT_ESTATE && op->state[0] == '\0')
        return cli_fail(c, "%s", detail); /* closed meanwhile (onboard.c, allowed) */
    if (op->r.status == XACCT_ESTATE) {
        if (rotate)
            return cli_fail(c,
                            "customer %s is %s: only a pending, rejected, active or degraded "
                            "customer's external ID can be rotated",
                            account, op->state);
        if (op->other_region)
            return cli_fail(c,
                            "customer %s is already pending in %s: cancel that onboarding "
                            "(xacct cancel %s) before onboarding it in another region",
                            account, op->other_region_name, account);
        if (strcmp(op->state, "pending") == 0)
            return cli_fail(c,
                            "customer %s is already pending with an external ID: wait for "
                            "its stack, or issue a new ID with xacct rotate-external-id %s",
                            account, account);
        if (strcmp(op->state, "active") == 0)
            return cli_fail(c,
                            "customer %s is already active: to issue a new external ID use "
                            "xacct rotate-external-id %s",
                            account, account);
        if (strcmp(op->state, "degraded") == 0)
            return cli_fail(c,
                            "customer %s is already onboarded (degraded: its role failed "
                            "re-verification): see xacct check %s, or issue a new external ID "
                            "with xacct rotate-external-id %s",
                            account, account, account);
        if (strcmp(op->state, "offboarding") == 0)
            return cli_fail(c,
                            "customer %s is offboarding: wait until offboarding has finished "
                            "(xacct jobs)",
                            account);
        /* A state no version writes: nothing to wait for. */
        return cli_fail(c,
                        "customer %s is in state '%s', which this version does not know: only "
                        "an offboarded, expired, cancelled or rejected customer is onboarded "
                        "again",
                        account, op->state);
    }
    char *hint = NULL;
    if (op->unfinished) /* a pending onboarding served again, AWS failing */
        hint = xacct_asprintf("customer %s stays pending with its external ID: "
                              "run xacct onboard %s again to finish it",
                              account, account);
    c->hint = hint;
    cli_fail(c, "%s", detail);
    c->hint = NULL;
    free(hint);
    return CLI_FAIL;
}

/* Runs onboard or rotate to its end and prints the outcome. */
static int run(cli_t *c, const char *account, const char *region, bool rotate)
{
    int rc;
    if ((rc = cli_store(c)) != 0 || (rc = cli_aws(c)) != 0)
        return rc;
    onboard_op_t op = {0};
    rc = rotate ? xacct_onboard_rotate(c->ctx, account, "cli", onboard_done, &op)
                : xacct_onboard_customer(c->ctx, account, region, "cli", onboard_done, &op);
    if (rc != 0)
        return cli_fail(c, "%s", xacct_strerror(rc));
    cli_wait(c, &op.r.done);
    bool again = false;
    if (!rotate && op.r.status == XACCT_ESTATE && strcmp(op.state, "pending") == 0) {
        /* SPEC §7: repeating the onboarding of a pending customer returns the
         * same record, its allow-list entry and template put in place again
         * (so a run that failed half-way is finished by running it again);
         * a --region other than its onboarding's is refused. */
        again = true;
        cli_record_free(op.info);
        cli_res_clear(&op.r);
        memset(&op, 0, sizeof(op));
        rc = xacct_onboard_resume(c->ctx, account, region, "cli", onboard_done, &op);
        if (rc != 0)
            return cli_fail(c, "%s", xacct_strerror(rc));
        cli_wait(c, &op.r.done);
    }
    if (op.r.status != 0) {
        rc = report_failure(c, &op, account, rotate);
    } else {
        char title[256];
        bool pending = json_object_get(op.info, "pending_external_id") != NULL;
        if (rotate && pending) {
            /* SPEC §9.3: nothing is cut; the new ID travels in the template. */
            if (json_object_get(op.info, "update_url") == NULL)
                json_object_set_new(op.info, "update_url", json_null());
            json_object_set_new(op.info, "rotated", json_false());
            snprintf(title, sizeof(title),
                     "Customer %s has a new external ID, pending (state %s). Access continues "
                     "with the current ID until the customer updates its stack with the new "
                     "template; that Update switches to the new ID.",
                     account, op.state);
        } else if (rotate) {
            /* The new ID travels in the template only. */
            json_object_del(op.info, "external_id");
            json_object_set_new(op.info, "rotated", json_true());
            snprintf(title, sizeof(title),
                     "Customer %s has a new external ID (state %s). No stack uses the old one: "
                     "the customer must launch its stack with the new template.",
                     account, op.state);
        } else {
            /* SPEC §6: onboard --json always has launch_url; without a
             * bucket there is no link to give (template_file instead). */
            if (json_object_get(op.info, "launch_url") == NULL)
                json_object_set_new(op.info, "launch_url", json_null());
            if (json_object_get(op.info, "template_url") == NULL)
                json_object_set_new(op.info, "template_url", json_null());
            snprintf(title, sizeof(title),
                     again ? "Customer %s was already onboarded (state pending): the same "
                             "external ID, handed out again."
                           : "Customer %s onboarded (state pending).",
                     account);
        }
        cli_print_handout(c, op.info, title);
        rc = CLI_OK;
    }
    cli_record_free(op.info);
    cli_res_clear(&op.r);
    return rc;
}

int xacct_cmd_onboard(cli_t *c, int argc, char **argv)
{
    const char *region = NULL;
    const char *pos[1];
    cli_opt_t opts[] = {{"region", true, &region, NULL}, {NULL, false, NULL, NULL}};
    int rc = cli_account_args(c, argc, argv, opts, pos);
    if (rc != 0)
        return rc;
    if (region != NULL && !xacct_region_valid(region))
        return cli_usage(c, "invalid --region '%s': expected a region name like us-east-1", region);
    const char *need[] = {"partner", "topics", region ? NULL : "region", NULL};
    if ((rc = cli_config_need(c, need)) != 0)
        return rc;
    /* Checked before anything is stored: a customer of a region without a
     * partner topic could never launch its stack. */
    if (region != NULL && !xacct_publish_region_has_topic(c->ctx->cfg, region))
        return cli_usage(c, "invalid --region '%s': no topic of sns.topic_arns is in that region",
                         region);
    if (region == NULL && !xacct_publish_region_has_topic(c->ctx->cfg, c->ctx->cfg->aws_region))
        return cli_fail(c,
                        "the home region %s has no topic of sns.topic_arns: give --region or add "
                        "a topic",
                        c->ctx->cfg->aws_region);
    return run(c, pos[0], region, false);
}

int xacct_cmd_rotate(cli_t *c, int argc, char **argv)
{
    const char *pos[1];
    int rc = cli_account_args(c, argc, argv, NULL, pos);
    if (rc != 0)
        return rc;
    const char *need[] = {"partner", "topics", NULL};
    if ((rc = cli_config_need(c, need)) != 0)
        return rc;
    return run(c, pos[0], NULL, true);
}
