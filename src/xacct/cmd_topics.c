/* SPDX-License-Identifier: MIT */
/*
 * `xacct topics`: every partner topic (configured, or still holding accounts
 * in Redis) with its region, the accounts allowed to publish to it, and the
 * room left: how many more accounts its policy can take before SNS's quotas
 * (100 statements, 30 KB) are reached, given the statements of its own it
 * carries. The room is computed from the topic's current policy. A topic
 * whose policy cannot be read is reported and the rest are still listed;
 * the command then exits 1.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "commands.h"
#include "xacct/arn.h"
#include "xacct/customers.h"
#include "xacct/sns.h"
#include "xacct/topic_policy.h"

/* Each principal takes at least 33 bytes of a policy, so fewer than this many
 * ever fit in 30 KB. */
#define CAPACITY_BOUND 1024

typedef struct topics_op {
    cli_res_t r;
    json_t *counts; /* arn -> count */
} topics_op_t;

static void topics_done(int status, const char *detail, const xacct_customers_topic_count_t *topics,
                        size_t n, void *arg)
{
    topics_op_t *op = arg;
    if (status == 0) {
        op->counts = json_object();
        for (size_t i = 0; i < n; i++)
            json_object_set_new(op->counts, topics[i].topic_arn,
                                json_integer((json_int_t)topics[i].count));
    }
    cli_res_set(&op->r, status, detail);
}

typedef struct policy_op {
    cli_res_t r;
    char *policy;
} policy_op_t;

static void policy_done(int status, const char *detail, const char *policy, void *arg)
{
    policy_op_t *op = arg;
    if (status == 0)
        op->policy = xacct_strdup(policy);
    cli_res_set(&op->r, status, detail);
}

/* How many accounts the policy's managed statements can hold, at most. */
static long capacity(const char *policy, const char *topic, char **dummies)
{
    size_t lo = 0, hi = CAPACITY_BOUND;
    while (lo < hi) {
        size_t mid = (lo + hi + 1) / 2;
        xacct_topic_policy_t p;
        if (xacct_topic_policy_render(policy, topic, (const char *const *)dummies, mid, &p) != 0)
            return -1;
        bool fits = p.fits;
        xacct_topic_policy_destroy(&p);
        if (fits)
            lo = mid;
        else
            hi = mid - 1;
    }
    return (long)lo;
}

int xacct_cmd_topics(cli_t *c, int argc, char **argv)
{
    int rc = cli_args(c, argc, argv, NULL, NULL, 0, 0);
    const char *need[] = {"topics", NULL};
    if (rc != 0 || (rc = cli_config_need(c, need)) != 0 || (rc = cli_store(c)) != 0 ||
        (rc = cli_aws(c)) != 0)
        return rc;
    topics_op_t op = {0};
    if ((rc = xacct_customers_topics(c->ctx->store, topics_done, &op)) != 0)
        return cli_fail_store(c, rc, NULL, "listing topics");
    cli_wait(c, &op.r.done);
    if (op.r.status != 0) {
        rc = cli_fail_store(c, op.r.status, op.r.detail, "listing topics");
        cli_res_clear(&op.r);
        return rc;
    }
    cli_res_clear(&op.r);

    /* Configured topics in their order, then any others Redis still knows. */
    json_t *arns = json_array();
    for (size_t i = 0; i < c->ctx->cfg->sns_topic_arns.n; i++)
        json_array_append_new(arns, json_string(c->ctx->cfg->sns_topic_arns.items[i]));
    const char *key;
    json_t *v;
    json_object_foreach(op.counts, key, v) {
        bool configured = false;
        for (size_t i = 0; i < c->ctx->cfg->sns_topic_arns.n; i++)
            configured = configured || strcmp(c->ctx->cfg->sns_topic_arns.items[i], key) == 0;
        if (!configured)
            json_array_append_new(arns, json_string(key));
    }

    char **dummies = xacct_calloc(CAPACITY_BOUND, sizeof(*dummies));
    for (size_t i = 0; i < CAPACITY_BOUND; i++)
        dummies[i] = xacct_asprintf("%012zu", i);
    json_t *rows = json_array();
    size_t i, failed = 0;
    json_array_foreach(arns, i, v) {
        const char *arn = json_string_value(v);
        xacct_arn_t parsed;
        bool configured = i < c->ctx->cfg->sns_topic_arns.n;
        long long count = json_integer_value(json_object_get(op.counts, arn));
        json_t *row = json_pack("{s:s, s:s, s:b, s:I}", "topic_arn", arn, "region",
                                xacct_arn_parse(arn, &parsed) == 0 ? parsed.region : "",
                                "configured", configured, "accounts", (json_int_t)count);
        json_array_append_new(rows, row);
        /* A topic whose policy cannot be read (its region's endpoint down,
         * access denied) is reported on its row and on stderr, and the
         * others are still shown; the command then exits 1. */
        char *error = NULL;
        policy_op_t p = {0};
        if ((rc = xacct_sns_get_policy(c->ctx->aws, arn, policy_done, &p)) != 0) {
            error = xacct_asprintf("topic %s: %s", arn, xacct_strerror(rc));
        } else {
            cli_wait(c, &p.r.done);
            if (p.r.status != 0) {
                char what[XACCT_ARN_MAX + 32];
                snprintf(what, sizeof(what), "GetTopicAttributes %s", arn);
                error = xacct_ctx_aws_error(p.r.status, p.r.detail, what);
            }
            cli_res_clear(&p.r);
        }
        long cap = error == NULL ? capacity(p.policy, arn, dummies) : -1;
        free(p.policy);
        if (error == NULL && cap < 0)
            error = xacct_asprintf("topic %s: its policy is not a policy document", arn);
        if (error != NULL) {
            cli_fail(c, "%s", error);
            failed++;
        }
        json_object_set_new(row, "capacity", error == NULL ? json_integer(cap) : json_null());
        json_object_set_new(row, "room", error == NULL ? json_integer(cap > count ? cap - count : 0)
                                                       : json_null());
        json_object_set_new(row, "error", error != NULL ? json_string(error) : json_null());
        free(error);
    }
    for (size_t k = 0; k < CAPACITY_BOUND; k++)
        free(dummies[k]);
    free(dummies);
    if (c->json) {
        cli_print_json(c, json_incref(rows));
    } else {
        static const char *const cols[] = {"topic_arn", "region", "accounts", "room",
                                           "configured", "error"};
        cli_print_table(c, rows, cols, XACCT_ARRAY_SIZE(cols) - (failed == 0));
    }
    rc = failed > 0 ? CLI_FAIL : CLI_OK;
    json_decref(rows);
    json_decref(arns);
    json_decref(op.counts);
    return rc;
}
