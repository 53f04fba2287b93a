/* SPDX-License-Identifier: MIT */
/*
 * `xacct show ACCOUNT`: one customer record, every field under its Redis
 * name. The external ID is a secret shared with the customer, so it reads
 * "set" unless --show-external-id asks for the value.
 */
#include <string.h>

#include "cmd.h"
#include "commands.h"

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
    xacct_customer_t *cust = NULL;
    if ((rc = cli_load_customer(c, pos[0], &cust)) != 0)
        return rc;

    /* Every field in SPEC §5 order (xacct_customer_field_name). */
    json_t *out = json_object();
    for (size_t i = 0; i < XACCT_CUSTOMER_NFIELDS; i++)
        json_object_set_new(out, xacct_customer_field_name(i),
                            json_string(xacct_customer_field_value(cust, i)));
    const char *id = cust->external_id;
    json_object_set_new(out, "external_id", json_string(show_id ? id : id[0] ? "set" : ""));
    const char *key;
    json_t *v;

    if (c->json) {
        cli_print_json(c, json_incref(out));
    } else {
        json_object_foreach(out, key, v)
            fprintf(c->out, "%-16s %s\n", key, json_string_value(v)[0] ? json_string_value(v) : "-");
    }
    cli_record_free(out);
    xacct_customer_free(cust);
    return CLI_OK;
}
