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
    int rc = cli_account_args(c, argc, argv, opts, pos);
    if (rc != 0)
        return rc;
    if ((rc = cli_store(c)) != 0)
        return rc;
    xacct_customer_t *cust = NULL;
    if ((rc = cli_load_customer(c, pos[0], &cust)) != 0)
        return rc;

    /* SPEC §5's fields in order, then those written later once they are.
     * External IDs read "set" unless asked for. */
    json_t *out = json_object();
    for (size_t i = 0; i < XACCT_CUSTOMER_NFIELDS; i++) {
        const char *v = xacct_customer_field_value(cust, i);
        if (i >= XACCT_CUSTOMER_NCORE && v[0] == '\0')
            continue;
        if (xacct_customer_field_secret(i) && !show_id)
            v = v[0] ? "set" : "";
        json_object_set_new(out, xacct_customer_field_name(i), json_string(v));
    }
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
