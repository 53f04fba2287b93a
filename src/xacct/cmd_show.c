/* SPDX-License-Identifier: MIT */
/*
 * `xacct show ACCOUNT`: one customer record, every field under its Redis
 * name. The external ID is a secret shared with the customer, so it reads
 * "set" unless --show-external-id asks for the value.
 */
#include <string.h>

#include "cmd.h"
#include "commands.h"

/* SPEC §5 order, then verified_at (the last re-verification, §9.2; with
 * last_error the drift reason of a degraded customer); fields Redis holds
 * beyond these follow. */
static const char *const order[] = {"account_id", "external_id", "state",      "role_arn",
                                    "stack_id",   "region",      "topic_arn",  "physical_id",
                                    "created_at", "updated_at",  "last_request_id",
                                    "last_error", "verified_at"};

int xacct_cmd_show(cli_t *c, int argc, char **argv)
{
    bool show_id = false;
    const char *pos[1];
    cli_opt_t opts[] = {{"show-external-id", false, NULL, &show_id}, {NULL, false, NULL, NULL}};
    int rc = cli_args(c, argc, argv, opts, pos, 1, 1);
    if (rc != 0)
        return rc;
    if ((rc = cli_check_account(c, pos[0])) != 0 || (rc = cli_store(c)) != 0)
        return rc;
    json_t *record = NULL;
    if ((rc = cli_load_customer(c, pos[0], &record)) != 0)
        return rc;

    json_t *out = json_object();
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(order); i++)
        json_object_set_new(out, order[i], json_string(cli_record_str(record, order[i])));
    const char *key;
    json_t *v;
    json_object_foreach(record, key, v) {
        if (json_object_get(out, key) == NULL)
            json_object_set(out, key, v);
    }
    const char *id = cli_record_str(record, "external_id");
    json_object_set_new(out, "external_id", json_string(show_id ? id : id[0] ? "set" : ""));

    if (c->json) {
        cli_print_json(c, json_incref(out));
    } else {
        json_object_foreach(out, key, v)
            fprintf(c->out, "%-16s %s\n", key, json_string_value(v)[0] ? json_string_value(v) : "-");
    }
    cli_record_free(out);
    cli_record_free(record);
    return CLI_OK;
}
