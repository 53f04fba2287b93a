/* SPDX-License-Identifier: MIT */
/*
 * The one shape of every listing command: wait for the library call whose
 * callback filled the rows, report its failure in one line, or print the
 * rows as a JSON array (--json) or as a table of the command's columns.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

void cli_list_init(cli_list_t *l)
{
    memset(l, 0, sizeof(*l));
    l->rows = json_array();
}

void cli_list_done(cli_list_t *l, int status, const char *detail)
{
    cli_res_set(&l->r, status, detail);
}

int cli_list_print(cli_t *c, int submitted, cli_list_t *l, const char *what,
                   const char *const *columns, size_t ncolumns)
{
    int rc = CLI_OK;
    if (submitted != 0) {
        rc = cli_fail_store(c, submitted, NULL, what);
    } else {
        cli_wait(c, &l->r.done);
        if (l->r.status != 0)
            rc = cli_fail_store(c, l->r.status, l->r.detail, what);
        else if (c->json)
            cli_print_json(c, json_incref(l->rows));
        else
            cli_print_table(c, l->rows, columns, ncolumns);
    }
    cli_res_clear(&l->r);
    json_decref(l->rows);
    l->rows = NULL;
    return rc;
}
