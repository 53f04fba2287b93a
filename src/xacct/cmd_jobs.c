/* SPDX-License-Identifier: MIT */
/*
 * `xacct jobs [list]` and `xacct jobs done ID`: the open offboarding jobs
 * (jobs:offboard, SPEC §5) and closing one once the partner has finished
 * with the customer. Closing moves the customer offboarding -> offboarded and
 * takes its account out of its topic set in one Redis script, which also
 * queues the rewrite of the topic's policy; the command then runs it, so the
 * account can no longer publish, and if AWS fails the workers finish it.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "commands.h"
#include "xacct/cancel.h"
#include "xacct/jobs.h"

#define JOBS_PAGE 500 /* jobs per Redis round trip */

typedef struct jobs_walk {
    cli_t *c;
    cli_stream_t out;
    cli_res_t r; /* set when the walk ends */
} jobs_walk_t;

/* One row. The job carries the external ID; only the rest is shown. An
 * entry that does not decode is listed as such, so that it can be closed. */
static json_t *job_row(const xacct_jobs_item_t *it, bool json)
{
    json_t *row = json_pack("{s:s, s:s?, s:I}", "id", it->id, "consumer", it->consumer,
                            "idle_ms", (json_int_t)it->idle_ms);
    /* The table prints strings only (stream.c). */
    char n[32];
    snprintf(n, sizeof(n), "%lld", it->deliveries);
    json_object_set_new(row, "deliveries",
                        json ? json_integer((json_int_t)it->deliveries) : json_string(n));
    xacct_job_t job;
    if (it->job != NULL && xacct_codec_job_decode(it->job, it->job_len, &job) == 0) {
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
        json_object_set_new(row, "undecodable", json_true());
    }
    return row;
}

static int next_page(jobs_walk_t *w, const char *after);

static void page_done(int status, const char *detail, const xacct_jobs_item_t *items, size_t n,
                      const char *next, void *arg)
{
    jobs_walk_t *w = arg;
    if (status != 0) {
        cli_res_set(&w->r, status, detail);
        return;
    }
    json_t *rows = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(rows, job_row(&items[i], w->c->json));
    cli_stream_page(&w->out, rows);
    json_decref(rows);
    int rc = 0;
    if (next == NULL || (rc = next_page(w, next)) != 0)
        cli_res_set(&w->r, rc, rc != 0 ? xacct_strerror(rc) : NULL);
}

static int next_page(jobs_walk_t *w, const char *after)
{
    return xacct_jobs_page(w->c->ctx->store, after, JOBS_PAGE, page_done, w);
}

/* Every open job, printed page by page as it arrives: however many there
 * are, all are shown and only one page is held. */
static int jobs_list(cli_t *c)
{
    int rc = cli_store(c);
    if (rc != 0)
        return rc;
    static const char *const cols[] = {"id", "account_id", "region", "requested_at", "consumer",
                                       "deliveries"};
    jobs_walk_t w = {.c = c};
    cli_stream_init(&w.out, c, cols, XACCT_ARRAY_SIZE(cols));
    int submitted = next_page(&w, NULL);
    rc = CLI_OK;
    if (submitted != 0) {
        rc = cli_fail_store(c, submitted, NULL, "listing jobs");
    } else {
        cli_wait(c, &w.r.done);
        /* What was printed stays printed and a failure midway is reported
         * after it; a failure before any page prints nothing. */
        if (w.r.status == 0 || w.out.rows > 0 || w.out.started)
            cli_stream_end(&w.out);
        if (w.r.status != 0)
            rc = cli_fail_store(c, w.r.status, w.r.detail, "listing jobs");
    }
    cli_res_clear(&w.r);
    return rc;
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

/* Runs the policy rewrite the closed job queued (jobs.h): 0 when the account
 * can no longer publish; otherwise the entry stays due for the workers and
 * *why says what failed (owned). */
static int revoke_publishing(cli_t *c, const char *account, const char *topic, char **why)
{
    char *member = xacct_jobs_cleanup_member(account, topic);
    cli_res_t r = {0};
    cli_await(c, xacct_cancel_cleanup(c->ctx, member, cli_res_cb, &r), &r);
    free(member);
    int rc = r.status;
    if (rc != 0)
        *why = xacct_strdup(r.detail ? r.detail : xacct_strerror(rc));
    cli_res_clear(&r);
    return rc;
}

static int jobs_done(cli_t *c, const char *id)
{
    if (!cli_stream_id_valid(id))
        return cli_usage(c, "invalid job ID '%s': expected an ID like 1714561234567-0 "
                            "(see xacct jobs)",
                         id);
    /* Both clients before anything changes, as xacct cancel: a client that
     * cannot start fails the command with nothing done. */
    int rc = cli_store(c);
    if (rc != 0 || (rc = cli_aws(c)) != 0)
        return rc;
    done_op_t op = {0};
    if ((rc = xacct_jobs_done(c->ctx->store, id, "cli", done_done, &op)) != 0)
        return cli_fail_store(c, rc, NULL, "closing the job");
    cli_wait(c, &op.r.done);
    bool revoked = true;
    bool undecodable = op.r.status == 0 && op.r.detail != NULL;
    if (undecodable) {
        fprintf(c->err,
                "xacct jobs: warning: job %s was undecodable (%s) and is closed without "
                "changing any customer; see xacct list --state offboarding for one left "
                "behind\n",
                id, op.r.detail);
    } else if (op.r.status == XACCT_ENOTFOUND) {
        rc = cli_fail(c, "no open job %s (see xacct jobs)", id);
    } else if (op.r.status != 0) {
        rc = cli_fail_store(c, op.r.status, op.r.detail, "closing the job");
    } else if (op.topic[0] != '\0') {
        /* The job is closed and the rewrite is queued: a failure here is
         * not the command's, the workers finish it (as after xacct cancel). */
        char *why = NULL;
        if (revoke_publishing(c, op.account, op.topic, &why) != 0) {
            revoked = false;
            fprintf(c->err,
                    "xacct jobs: warning: %s may still publish to %s until its policy is "
                    "rewritten, which xacctd retries: %s\n",
                    op.account, op.topic, why);
        }
        free(why);
    }
    if (rc == 0) {
        if (c->json) {
            json_t *out = json_pack("{s:s, s:s, s:b, s:s, s:s, s:b}", "id", id, "account_id",
                                    op.account, "offboarded", op.changed, "state",
                                    op.changed ? "offboarded" : "unchanged", "removed_from_topic",
                                    op.topic, "policy_rewritten", op.topic[0] != '\0' && revoked);
            if (undecodable)
                json_object_set_new(out, "undecodable", json_true());
            cli_print_json(c, out);
        } else if (undecodable) {
            fprintf(c->out, "Job %s closed; it named no customer that could be read.\n", id);
        } else if (op.changed && op.topic[0] != '\0' && !revoked) {
            fprintf(c->out, "Job %s closed: customer %s is offboarded; xacctd takes it off the "
                            "allow-list of %s.\n",
                    id, op.account, op.topic);
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
