/* SPDX-License-Identifier: MIT */
/*
 * `xacct jobs [list]` and `xacct jobs done ID`: the open offboarding jobs
 * (jobs:offboard, SPEC §5) and closing one once the partner has finished
 * with the customer. Closing moves the customer offboarding -> offboarded and
 * takes its account out of its topic set in one Redis script; the topic's
 * policy is then rewritten so the account can no longer publish.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "commands.h"
#include "xacct/jobs.h"
#include "xacct/publish.h"

static void list_done(int status, const char *detail, const xacct_jobs_item_t *items, size_t n,
                      void *arg)
{
    cli_list_t *l = arg;
    if (status == 0) {
        for (size_t i = 0; i < n; i++) {
            xacct_job_t job;
            json_t *row = json_pack("{s:s, s:s?, s:I, s:I}", "id", items[i].id, "consumer",
                                    items[i].consumer, "idle_ms", (json_int_t)items[i].idle_ms,
                                    "deliveries", (json_int_t)items[i].deliveries);
            /* The job carries the external ID; only the rest is shown. */
            if (xacct_codec_job_decode(items[i].job, items[i].job_len, &job) == 0) {
                char at[32];
                cli_iso(job.requested_at, at);
                json_object_set_new(row, "account_id", json_string(job.account_id));
                json_object_set_new(row, "role_arn", json_string(job.role_arn));
                json_object_set_new(row, "stack_id", json_string(job.stack_id));
                json_object_set_new(row, "region", json_string(job.region));
                json_object_set_new(row, "request_id", json_string(job.request_id));
                json_object_set_new(row, "requested_at", json_string(at));
                xacct_codec_job_destroy(&job);
            } else {
                json_object_set_new(row, "account_id", json_string("(undecodable job)"));
            }
            json_array_append_new(l->rows, row);
        }
    }
    cli_list_done(l, status, detail);
}

static int jobs_list(cli_t *c)
{
    int rc = cli_store(c);
    if (rc != 0)
        return rc;
    static const char *const cols[] = {"id", "account_id", "region", "requested_at", "consumer",
                                       "deliveries"};
    cli_list_t l;
    cli_list_init(&l);
    int submitted = xacct_jobs_list(c->ctx->store, 0, list_done, &l);
    return cli_list_print(c, submitted, &l, "listing jobs", cols, XACCT_ARRAY_SIZE(cols));
}

typedef struct done_op {
    cli_res_t r;
    int changed;
    char *account; /* owned */
    char *topic;   /* owned */
} done_op_t;

static void done_done(int status, const char *detail, int changed, const char *account_id,
                      const char *topic_arn, void *arg)
{
    done_op_t *op = arg;
    op->changed = changed;
    op->account = xacct_strdup(account_id ? account_id : "");
    op->topic = xacct_strdup(topic_arn ? topic_arn : "");
    cli_res_set(&op->r, status, detail);
}

/* Rewrites the topic's policy now that the account has left its set. */
static int sync_topic(cli_t *c, const char *topic)
{
    cli_res_t r = {0};
    int rc = xacct_publish_sync(c->ctx, topic, cli_res_cb, &r);
    if (rc != 0)
        return cli_fail(c, "rewriting the policy of %s: %s", topic, xacct_strerror(rc));
    cli_wait(c, &r.done);
    rc = r.status == 0 ? 0 : cli_fail(c, "%s", r.detail ? r.detail : xacct_strerror(r.status));
    cli_res_clear(&r);
    return rc;
}

static int jobs_done(cli_t *c, const char *id)
{
    if (!cli_stream_id_valid(id))
        return cli_usage(c, "invalid job ID '%s': expected an ID like 1714561234567-0 "
                            "(see xacct jobs)",
                         id);
    int rc = cli_store(c);
    if (rc != 0)
        return rc;
    done_op_t op = {0};
    if ((rc = xacct_jobs_done(c->ctx->store, id, "cli", done_done, &op)) != 0)
        return cli_fail_store(c, rc, NULL, "closing the job");
    cli_wait(c, &op.r.done);
    if (op.r.status == XACCT_ENOTFOUND)
        rc = cli_fail(c, "no open job %s (see xacct jobs)", id);
    else if (op.r.status != 0)
        rc = cli_fail_store(c, op.r.status, op.r.detail, "closing the job");
    else if (op.topic[0] != '\0') {
        char *hint = xacct_asprintf("the job is closed but %s still allows account %s to "
                                    "publish until its policy is rewritten (any later onboarding "
                                    "or offboarding of that region does it)",
                                    op.topic, op.account);
        if ((rc = cli_aws(c)) == 0) {
            c->hint = hint;
            rc = sync_topic(c, op.topic);
        }
        c->hint = NULL;
        free(hint);
    }
    if (rc == 0) {
        if (c->json) {
            cli_print_json(c, json_pack("{s:s, s:s, s:b, s:s, s:s}", "id", id, "account_id",
                                        op.account, "offboarded", op.changed, "state",
                                        op.changed ? "offboarded" : "unchanged",
                                        "removed_from_topic", op.topic));
        } else if (op.changed) {
            fprintf(c->out, "Job %s closed: customer %s is offboarded%s%s.\n", id, op.account,
                    op.topic[0] ? "; no longer allowed to publish to " : "", op.topic);
        } else {
            fprintf(c->out, "Job %s closed; customer %s had moved on, its state is unchanged.\n",
                    id, op.account);
        }
    }
    cli_res_clear(&op.r);
    free(op.account);
    free(op.topic);
    return rc;
}

int xacct_cmd_jobs(cli_t *c, int argc, char **argv)
{
    const char *pos[2] = {NULL, NULL};
    int rc = cli_args(c, argc, argv, NULL, pos, 0, 2);
    if (rc != 0)
        return rc;
    if (pos[0] == NULL || strcmp(pos[0], "list") == 0) {
        if (pos[1] != NULL)
            return cli_usage(c, "unexpected argument '%s' after 'list'", pos[1]);
        return jobs_list(c);
    }
    if (strcmp(pos[0], "done") == 0) {
        if (pos[1] == NULL)
            return cli_usage(c, "missing argument: usage: xacct jobs done ID");
        return jobs_done(c, pos[1]);
    }
    return cli_usage(c, "unknown jobs subcommand '%s': use 'list' or 'done ID'", pos[0]);
}
