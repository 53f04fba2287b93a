/* SPDX-License-Identifier: MIT */
/*
 * xacctd's command line: --config PATH, --check-config, --version, --help.
 */
#ifndef XACCT_CLI_H
#define XACCT_CLI_H

#include <stdbool.h>
#include <stdio.h>

typedef struct xacct_cli_opts {
    const char *config_path; /* borrowed from argv or the environment */
    bool check_config;       /* validate, print the effective config, exit */
    bool version;
    bool help;
} xacct_cli_opts_t;

/* Parses argv. Returns 0, or 2 (usage error; a message naming the bad
 * argument has been written to err). The config path defaults to
 * $XACCT_CONFIG, then XACCT_CONFIG_DEFAULT_PATH. */
int xacct_cli_parse(int argc, char **argv, xacct_cli_opts_t *opts, FILE *err);

void xacct_cli_usage(FILE *out);

#endif
