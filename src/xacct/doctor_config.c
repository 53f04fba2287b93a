/* SPDX-License-Identifier: MIT */
/*
 * doctor: the configuration is sane. The required keys are set (the partial
 * load the CLI uses does not insist on them) and the files the daemon will
 * read are readable: the customer role's policy, the API tokens file when the
 * API is on, the webhook secret when a webhook is configured; then what the
 * daemon's start would refuse (`xacctd --check-config`'s checks: the API
 * tokens and webhook secret as they parse, redis.url and its TLS files, the
 * AWS settings).
 */
#include <unistd.h>

#include "doctor.h"
#include "xacct/config_check.h"

static void file_readable(doctor_t *d, const char *key, const char *path)
{
    if (access(path, R_OK) != 0)
        doctor_add(d, "config", DOCTOR_FAIL, "create the file or point the key at it",
                   "%s: %s is not readable", key, path);
}

void doctor_check_config(doctor_t *d)
{
    const xacct_config_t *cfg = d->c->ctx->cfg;
    int before = d->failed;
    if (cfg->aws_partner_account_id == NULL || cfg->aws_partner_account_id[0] == '\0')
        doctor_add(d, "config", DOCTOR_FAIL, "set aws.partner_account_id (12 digits)",
                   "aws.partner_account_id is not set");
    if (cfg->aws_region == NULL || cfg->aws_region[0] == '\0')
        doctor_add(d, "config", DOCTOR_FAIL, "set aws.region or AWS_REGION",
                   "aws.region is not set");
    if (cfg->queue_urls.n == 0)
        doctor_add(d, "config", DOCTOR_FAIL, "set queue.urls (QueueUrl output of partner-core.json)",
                   "queue.urls is not set");
    if (cfg->sns_topic_arns.n == 0)
        doctor_add(d, "config", DOCTOR_FAIL,
                   "set sns.topic_arns (TopicArn output of partner-region.json, per region)",
                   "sns.topic_arns is not set");
    file_readable(d, "cloudformation.role_policy_file", cfg->cfn_role_policy_file);
    if (cfg->api_listen != NULL && cfg->api_listen[0] != '\0')
        file_readable(d, "api.tokens_file", cfg->api_tokens_file);
    if (cfg->events_webhook_url != NULL && cfg->events_webhook_url[0] != '\0')
        file_readable(d, "events.webhook_secret_file", cfg->events_webhook_secret_file);
    char err[512] = "";
    if (d->failed == before &&
        xacct_config_check_start(cfg, &d->c->ctx->log, err, sizeof(err)) != 0)
        doctor_add(d, "config", DOCTOR_FAIL,
                   "correct the setting named; xacctd would refuse to start with it",
                   "%s", err);
    if (d->failed == before)
        doctor_add(d, "config", DOCTOR_OK, NULL,
                   "%s: required keys set, files readable, nothing the start refuses",
                   d->c->config_path);
}
