/* SPDX-License-Identifier: MIT */
/*
 * Printing a long listing as it arrives, page by page, so the CLI holds one
 * page at a time however many records there are (`xacct list` over 100,000
 * customers). --json prints exactly what json_dumpf would print for the
 * whole array (each object indented one more level); the table takes its
 * column widths from the header and the first page, so a listing that fits
 * in one page looks as cli_print_table prints it, and later pages keep the
 * columns (a longer cell pushes only its own row).
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

void cli_stream_init(cli_stream_t *s, cli_t *c, const char *const *columns, size_t ncolumns)
{
    memset(s, 0, sizeof(*s));
    s->c = c;
    s->columns = columns;
    s->ncolumns = ncolumns;
}

/* A cell's text, as cli_print_table shows it: "-" when missing or empty. */
static const char *cell(json_t *row, const char *key)
{
    const char *v = json_string_value(json_object_get(row, key));
    return v != NULL && v[0] != '\0' ? v : "-";
}

static void header_name(const char *col, char *out, size_t cap)
{
    size_t i = 0;
    for (; col[i] != '\0' && i + 1 < cap; i++)
        out[i] = col[i] == '_' ? ' '
                               : (char)((col[i] >= 'a' && col[i] <= 'z') ? col[i] - 32 : col[i]);
    out[i] = '\0';
}

static void table_row(cli_stream_t *s, const char *const *cells)
{
    for (size_t k = 0; k < s->ncolumns; k++) {
        if (k + 1 == s->ncolumns)
            fprintf(s->c->out, "%s\n", cells[k]);
        else
            fprintf(s->c->out, "%-*s  ", (int)s->width[k], cells[k]);
    }
}

static void json_row(cli_stream_t *s, json_t *row)
{
    char *text = json_dumps(row, JSON_INDENT(2));
    if (text == NULL)
        return;
    fputs(s->rows == 0 ? "[\n  " : ",\n  ", s->c->out);
    for (const char *p = text; *p != '\0'; p++) {
        fputc(*p, s->c->out);
        if (*p == '\n')
            fputs("  ", s->c->out);
    }
    free(text);
}

void cli_stream_page(cli_stream_t *s, json_t *rows)
{
    size_t n = json_array_size(rows);
    if (s->c->json) {
        for (size_t i = 0; i < n; i++) {
            json_row(s, json_array_get(rows, i));
            s->rows++;
        }
        return;
    }
    const char *cells[CLI_STREAM_MAX_COLUMNS];
    char names[CLI_STREAM_MAX_COLUMNS][64];
    if (!s->started) {
        s->started = true;
        for (size_t k = 0; k < s->ncolumns; k++) {
            header_name(s->columns[k], names[k], sizeof(names[k]));
            cells[k] = names[k];
            s->width[k] = strlen(names[k]);
            for (size_t i = 0; i < n; i++) {
                size_t w = strlen(cell(json_array_get(rows, i), s->columns[k]));
                if (w > s->width[k])
                    s->width[k] = w;
            }
        }
        table_row(s, cells);
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < s->ncolumns; k++)
            cells[k] = cell(json_array_get(rows, i), s->columns[k]);
        table_row(s, cells);
        s->rows++;
    }
}

void cli_stream_end(cli_stream_t *s)
{
    if (s->c->json) {
        fputs(s->rows == 0 ? "[]\n" : "\n]\n", s->c->out);
        return;
    }
    if (!s->started) {
        json_t *none = json_array();
        cli_stream_page(s, none);
        json_decref(none);
    }
}
