/* SPDX-License-Identifier: MIT */
/*
 * xacctd's options and sub-modes. getopt_long does the parsing.
 */
#include "xacct/cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/config.h"

void xacct_cli_usage(FILE *out)
{
    fprintf(out, "usage: xacctd [--config PATH] [--check-config] [--version]\n"
                 "\n"
                 "  -c, --config PATH   configuration file (default $XACCT_CONFIG or %s)\n"
                 "      --check-config  validate the configuration, print it, and exit\n"
                 "  -V, --version       print the version and exit\n"
                 "  -h, --help          this text\n",
            XACCT_CONFIG_DEFAULT_PATH);
}

int xacct_cli_parse(int argc, char **argv, xacct_cli_opts_t *opts, FILE *err)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, 'k'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(opts, 0, sizeof(*opts));
    const char *env = getenv("XACCT_CONFIG");
    opts->config_path = (env != NULL && env[0] != '\0') ? env : XACCT_CONFIG_DEFAULT_PATH;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":c:Vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            opts->config_path = optarg;
            break;
        case 'k':
            opts->check_config = true;
            break;
        case 'V':
            opts->version = true;
            break;
        case 'h':
            opts->help = true;
            break;
        case ':':
            fprintf(err, "xacctd: option %s needs a value\n", argv[optind - 1]);
            return 2;
        default:
            fprintf(err, "xacctd: unknown option %s\n", argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(err, "xacctd: unexpected argument %s\n", argv[optind]);
        return 2;
    }
    return 0;
}
