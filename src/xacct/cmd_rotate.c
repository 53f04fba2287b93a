/* SPDX-License-Identifier: MIT */
/*
 * `xacct rotate-external-id ACCOUNT`: issue a new external ID for a pending,
 * active or rejected customer (the old one is unindexed), make sure the
 * account is still allowed to publish, deliver the re-rendered template and
 * remove the uploaded old one. The customer must update its stack with the
 * new template; until then the worker refuses the old ID. Also the way to
 * finish an onboarding that failed half-way.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "commands.h"
#include "xacct/arn.h"

int xacct_cmd_rotate(cli_t *c, int argc, char **argv)
{
    const char *pos[1];
    int rc = cli_args(c, argc, argv, NULL, pos, 1, 1);
    if (rc != 0)
        return rc;
    const char *account = pos[0];
    if ((rc = cli_check_account(c, account)) != 0)
        return rc;
    const char *need[] = {"partner", "topics", NULL};
    if ((rc = cli_config_need(c, need)) != 0 || (rc = cli_store(c)) != 0 ||
        (rc = cli_aws(c)) != 0)
        return rc;

    xacct_customer_t *cust = NULL;
    if ((rc = cli_load_customer(c, account, &cust)) != 0)
        return rc;
    char *old_id = xacct_strdup(cust->external_id);
    /* The customer's region: that of its topic, else of its stack, else home. */
    char region[64];
    xacct_arn_t arn;
    if (xacct_arn_parse(cust->topic_arn, &arn) == 0 &&
        xacct_region_valid(arn.region))
        snprintf(region, sizeof(region), "%s", arn.region);
    else if (xacct_region_valid(cust->region))
        snprintf(region, sizeof(region), "%s", cust->region);
    else
        snprintf(region, sizeof(region), "%s", c->cfg->aws_region ? c->cfg->aws_region : "");
    xacct_customer_free(cust);

    char id[XACCT_EXTID_LEN + 1] = "";
    char prev[32] = "";
    char *topic = NULL;
    json_t *info = json_object();
    char *hint = xacct_asprintf("the new external ID is stored: retry with xacct "
                                "rotate-external-id %s",
                                account);
    if ((rc = cli_issue_external_id(c, account, true, id, prev)) != 0)
        goto out;
    if (!xacct_region_valid(region)) {
        rc = cli_fail(c, "customer %s has no region and aws.region is not set", account);
        goto out;
    }
    c->hint = hint;
    if ((rc = cli_publish_allow(c, account, region, &topic)) != 0)
        goto out;
    c->hint = hint;
    if ((rc = cli_template_deliver(c, account, id, topic, info)) != 0)
        goto out;
    c->hint = NULL;
    if (strcmp(old_id, id) != 0 && (rc = cli_template_remove(c, account, old_id)) != 0)
        goto out;
    json_object_set_new(info, "account_id", json_string(account));
    json_object_set_new(info, "state", json_string(prev));
    json_object_set_new(info, "region", json_string(region));
    json_object_set_new(info, "topic_arn", json_string(topic));
    json_object_set_new(info, "rotated", json_true());
    char title[256];
    snprintf(title, sizeof(title),
             "Customer %s has a new external ID (state %s). The customer must update its stack "
             "with the new template; the old ID is no longer accepted.",
             account, prev);
    cli_print_handout(c, info, title);
out:
    c->hint = NULL;
    cli_record_free(info);
    OPENSSL_cleanse(id, sizeof(id));
    xacct_free_secret(old_id);
    free(topic);
    free(hint);
    return rc;
}
