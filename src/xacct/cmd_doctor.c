/* SPDX-License-Identifier: MIT */
/*
 * `xacct doctor [--json]`: runs the checks of the live setup in a fixed order
 * (configuration, credentials, clock, queues, topics, bucket, Redis), prints
 * the checklist and exits 1 when any check failed. Also the report helpers
 * and the blocking AWS call the doctor_*.c checks share.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "commands.h"
#include "doctor.h"

void doctor_add(doctor_t *d, const char *name, doctor_status_t st, const char *fix,
                const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    /* One line per check: AWS messages may carry a canonical request. */
    buf[strcspn(buf, "\n")] = '\0';
    const char *detail = buf;
    static const char *const names[] = {"ok", "warn", "fail"};
    json_t *row = json_pack("{s:s, s:s, s:s}", "name", name, "status", names[st], "detail", detail);
    if (st != DOCTOR_OK && fix != NULL)
        json_object_set_new(row, "fix", json_string(fix));
    json_array_append_new(d->checks, row);
    if (st == DOCTOR_FAIL)
        d->failed++;
}

void doctor_fail_aws(doctor_t *d, const char *name, const char *fix, const char *subject,
                     int status, const char *detail, const char *what)
{
    char *msg = xacct_ctx_aws_error(status, detail, what);
    if (subject != NULL)
        doctor_add(d, name, DOCTOR_FAIL, fix, "%s: %s", subject, msg);
    else
        doctor_add(d, name, DOCTOR_FAIL, fix, "%s", msg);
    free(msg);
}

static void call_done(int status, const char *detail, const xacct_http_response_t *resp,
                      const xacct_aws_error_t *err, void *arg)
{
    (void)err;
    doctor_resp_t *r = arg;
    r->status = status;
    r->detail = detail ? xacct_strdup(detail) : NULL;
    if (resp != NULL) {
        r->http = resp->status;
        r->body = xacct_strdup(resp->body);
        r->body_len = resp->body_len;
    }
    r->done = true;
}

void doctor_call(doctor_t *d, const xacct_aws_request_t *req, doctor_resp_t *r)
{
    memset(r, 0, sizeof(*r));
    int rc = xacct_aws_call(d->c->ctx->aws, req, call_done, r, NULL);
    if (rc != 0) {
        r->status = rc;
        r->detail = xacct_strdup(xacct_strerror(rc));
        r->done = true;
        return;
    }
    cli_wait(d->c, &r->done);
}

void doctor_resp_clear(doctor_resp_t *r)
{
    free(r->detail);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

json_t *doctor_policy_statements(const char *text)
{
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    json_t *st = json_object_get(doc, "Statement");
    json_t *out = NULL;
    if (json_is_array(st))
        out = json_incref(st);
    else if (json_is_object(st))
        out = json_pack("[O]", st);
    json_decref(doc);
    return out;
}

static void print_text(cli_t *c, const doctor_t *d)
{
    size_t i;
    json_t *row;
    json_array_foreach(d->checks, i, row) {
        const char *st = json_string_value(json_object_get(row, "status"));
        const char *mark = strcmp(st, "ok") == 0 ? "ok  " : strcmp(st, "warn") == 0 ? "warn" : "FAIL";
        fprintf(c->out, "[%s] %-10s %s\n", mark, json_string_value(json_object_get(row, "name")),
                json_string_value(json_object_get(row, "detail")));
        const char *fix = json_string_value(json_object_get(row, "fix"));
        if (fix != NULL)
            fprintf(c->out, "       fix: %s\n", fix);
    }
    fprintf(c->out, "%s\n", d->failed ? "Some checks failed." : "All checks passed.");
}

/* Prints the checklist (--json: {ok, checks}); the exit status. */
static int report(cli_t *c, const doctor_t *d)
{
    if (c->json) {
        json_t *doc = json_pack("{s:b, s:O}", "ok", d->failed == 0, "checks", d->checks);
        char *text = json_dumps(doc, JSON_INDENT(2));
        fprintf(c->out, "%s\n", text);
        free(text);
        json_decref(doc);
    } else {
        print_text(c, d);
    }
    return d->failed ? CLI_FAIL : CLI_OK;
}

/* A configuration that does not even load is the first thing to report, as
 * a check with its fix like any other, not a bare error: nothing else can
 * be checked without it. 0 when it loads. */
static int config_loads(cli_t *c, doctor_t *d)
{
    char err[512];
    xacct_config_t *cfg = NULL;
    if (xacct_config_load_partial(c->config_path, &cfg, err, sizeof(err)) == 0) {
        xacct_config_free(cfg);
        return 0;
    }
    doctor_add(d, "config", DOCTOR_FAIL,
               "fix the configuration file or the XACCT_* variable named, then check again",
               "%s", err);
    return CLI_FAIL;
}

int xacct_cmd_doctor(cli_t *c, int argc, char **argv)
{
    int rc = cli_args(c, argc, argv, NULL, NULL, 0, 0);
    if (rc != 0)
        return rc;
    doctor_t d = {.c = c, .checks = json_array(), .queues = json_object()};
    if (config_loads(c, &d) != 0 || cli_config(c) != 0)
        goto out;
    doctor_check_config(&d);
    char err[512];
    if (xacct_ctx_start(c->ctx, XACCT_CTX_AWS, err, sizeof(err)) != 0) {
        doctor_add(&d, "aws", DOCTOR_FAIL, "set aws.region (or AWS_REGION) and the endpoints",
                   "cannot start the AWS client: %s", err);
    } else {
        int before = d.failed;
        doctor_check_identity(&d);
        doctor_check_clock(&d);
        /* Without working credentials every other AWS call fails the same
         * way: the identity line already says what to fix. */
        if (d.failed == before) {
            doctor_check_queues(&d);
            doctor_check_topics(&d);
            doctor_check_bucket(&d);
        }
    }
    doctor_check_redis(&d);
out:
    if (c->ctx == NULL && d.failed == 0)
        rc = CLI_FAIL; /* cli_config failed, and said why */
    else
        rc = report(c, &d);
    json_decref(d.checks);
    json_decref(d.queues);
    free(d.server_date);
    return rc;
}
