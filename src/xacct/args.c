/* SPDX-License-Identifier: MIT */
/*
 * Command-line parsing for every command: getopt_long over the options common
 * to all commands (--json, --help, --config) and the command's own, then the
 * positional arguments counted against what the command takes. Errors name
 * the offending argument in one line.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

#define MAX_OPTS 16
enum { OPT_JSON = 256, OPT_HELP, OPT_CONFIG, OPT_FIRST };

static void print_help(cli_t *c)
{
    const cli_command_t *cmd = c->cmd;
    fprintf(c->out, "usage: xacct [--config PATH] %s%s%s [--json]\n\n%s\n\n", cmd->name,
            cmd->args[0] ? " " : "", cmd->args, cmd->summary);
    if (cmd->help[0])
        fprintf(c->out, "%s", cmd->help);
    fprintf(c->out, "  --json             print JSON instead of a table\n"
                    "  --config PATH      configuration file (default $XACCT_CONFIG or %s)\n"
                    "  -h, --help         this text\n",
            XACCT_CONFIG_DEFAULT_PATH);
}

const char *cli_bad_option(char **argv, const char *long_vals, char shown[3])
{
    /* An unknown letter inside "-xy" leaves optind on that element, so
     * argv[optind - 1] would name the argument before it. A long option
     * (optopt 0, or its val) has moved optind past itself. */
    if (optopt > 0 && optopt < 128 && strchr(long_vals, optopt) == NULL) {
        shown[0] = '-';
        shown[1] = (char)optopt;
        shown[2] = '\0';
        return shown;
    }
    return argv[optind - 1];
}

int cli_args(cli_t *c, int argc, char **argv, const cli_opt_t *opts, const char **pos,
             int min_pos, int max_pos)
{
    struct option longopts[MAX_OPTS + 4];
    size_t n = 0;
    longopts[n++] = (struct option){"json", no_argument, NULL, OPT_JSON};
    longopts[n++] = (struct option){"help", no_argument, NULL, OPT_HELP};
    longopts[n++] = (struct option){"config", required_argument, NULL, OPT_CONFIG};
    size_t nopts = 0;
    for (; opts != NULL && opts[nopts].name != NULL && nopts < MAX_OPTS; nopts++)
        longopts[n++] = (struct option){opts[nopts].name,
                                        opts[nopts].has_arg ? required_argument : no_argument,
                                        NULL, OPT_FIRST + (int)nopts};
    longopts[n] = (struct option){NULL, 0, NULL, 0};

    opterr = 0;
    optind = 0; /* GNU: full re-initialisation for a new argv */
    int ch;
    while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        if (ch == OPT_JSON) {
            c->json = true;
        } else if (ch == OPT_HELP || ch == 'h') {
            print_help(c);
            return CLI_HELP;
        } else if (ch == OPT_CONFIG) {
            c->config_path = optarg;
        } else if (ch >= OPT_FIRST && ch < OPT_FIRST + (int)nopts) {
            const cli_opt_t *o = &opts[ch - OPT_FIRST];
            if (o->has_arg)
                *o->value = optarg;
            else
                *o->flag = true;
        } else if (ch == ':') {
            return cli_usage(c, "option '%s' needs a value (see xacct %s --help)",
                             argv[optind - 1], c->command);
        } else {
            char shown[3];
            return cli_usage(c, "unknown option '%s' (see xacct %s --help)",
                             cli_bad_option(argv, "", shown), c->command);
        }
    }
    int npos = argc - optind;
    if (npos < min_pos)
        return cli_usage(c, "missing argument: usage: xacct %s %s", c->command, c->cmd->args);
    if (npos > max_pos)
        return cli_usage(c, "unexpected argument '%s' (see xacct %s --help)", argv[optind + max_pos],
                         c->command);
    for (int i = 0; i < npos; i++)
        pos[i] = argv[optind + i];
    return 0;
}

int cli_account_args(cli_t *c, int argc, char **argv, const cli_opt_t *opts,
                     const char **account)
{
    int rc = cli_args(c, argc, argv, opts, account, 1, 1);
    if (rc != 0)
        return rc;
    return cli_check_account(c, *account);
}

/* A positive decimal count for --limit; 0 if malformed. */
size_t cli_parse_limit(const char *s, size_t max)
{
    if (s == NULL || s[0] < '0' || s[0] > '9')
        return 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0' || v == 0 || v > max)
        return 0;
    return (size_t)v;
}

/* A run of n digits at s that fits in 64 bits, as Redis reads each part. */
static bool u64_digits(const char *s, size_t n)
{
    if (n == 0 || n > 20)
        return false;
    errno = 0;
    (void)strtoull(s, NULL, 10);
    return errno != ERANGE;
}

bool cli_stream_id_valid(const char *id)
{
    size_t ms = strspn(id, "0123456789");
    if (!u64_digits(id, ms) || id[ms] != '-')
        return false;
    size_t seq = strspn(id + ms + 1, "0123456789");
    return u64_digits(id + ms + 1, seq) && id[ms + 1 + seq] == '\0';
}
