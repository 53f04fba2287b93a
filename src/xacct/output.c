/* SPDX-License-Identifier: MIT */
/*
 * What the CLI prints: JSON documents (jansson, indented) for --json, aligned
 * plain-text tables otherwise, and the time formats both use.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"

void cli_print_json(cli_t *c, json_t *j)
{
    if (j == NULL)
        return;
    json_dumpf(j, c->out, JSON_INDENT(2));
    fputc('\n', c->out);
    json_decref(j);
}

/* A cell's text: the string, or the JSON of any other value; owned. */
static char *cell(json_t *row, const char *key)
{
    json_t *v = json_object_get(row, key);
    if (v == NULL || json_is_null(v))
        return xacct_strdup("-");
    if (json_is_string(v))
        return xacct_strdup(json_string_value(v)[0] ? json_string_value(v) : "-");
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    char *out = xacct_strdup(s ? s : "?");
    free(s);
    return out;
}

void cli_print_table(cli_t *c, json_t *rows, const char *const *columns, size_t ncolumns)
{
    size_t nrows = json_array_size(rows);
    size_t *width = xacct_calloc(ncolumns, sizeof(*width));
    char **cells = xacct_calloc((nrows + 1) * ncolumns, sizeof(*cells));
    for (size_t k = 0; k < ncolumns; k++) {
        char *h = xacct_strdup(columns[k]);
        for (char *p = h; *p; p++)
            *p = (*p == '_') ? ' ' : (char)((*p >= 'a' && *p <= 'z') ? *p - 32 : *p);
        cells[k] = h;
        width[k] = strlen(h);
    }
    for (size_t r = 0; r < nrows; r++)
        for (size_t k = 0; k < ncolumns; k++) {
            char *s = cell(json_array_get(rows, r), columns[k]);
            cells[(r + 1) * ncolumns + k] = s;
            if (strlen(s) > width[k])
                width[k] = strlen(s);
        }
    for (size_t r = 0; r <= nrows; r++) {
        for (size_t k = 0; k < ncolumns; k++) {
            const char *s = cells[r * ncolumns + k];
            if (k + 1 == ncolumns)
                fprintf(c->out, "%s\n", s);
            else
                fprintf(c->out, "%-*s  ", (int)width[k], s);
        }
    }
    for (size_t i = 0; i < (nrows + 1) * ncolumns; i++)
        free(cells[i]);
    free(cells);
    free(width);
}

void cli_iso(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (ms <= 0 || gmtime_r(&t, &tm) == NULL) {
        strcpy(out, "-");
        return;
    }
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void cli_duration(long long ms, char out[32])
{
    if (ms < 0) {
        strcpy(out, "-");
        return;
    }
    long long s = ms / 1000;
    if (s == 0)
        snprintf(out, 32, "%lldms", ms);
    else if (s < 60)
        snprintf(out, 32, "%llds", s);
    else if (s < 3600)
        snprintf(out, 32, "%lldm%llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(out, 32, "%lldh%lldm", s / 3600, (s % 3600) / 60);
    else
        snprintf(out, 32, "%lldd%lldh", s / 86400, (s % 86400) / 3600);
}
