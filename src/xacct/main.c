/* SPDX-License-Identifier: MIT */
/*
 * The operator CLI `xacct`: global options, the command table, dispatch.
 * Every command lives in its own cmd_<name>.c; this file only finds it, sets
 * up the run (cli_init) and tears it down (cli_destroy) so that every exit
 * path releases what the command created. Exit status: 0 ok, 1 operational
 * failure, 2 usage error.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "commands.h"
#include "xacct/dumps.h"

static const cli_command_t commands[] = {
    {"onboard", xacct_cmd_onboard, "ACCOUNT [--region R]",
     "Issue an external ID to a customer, allow its account to publish to a partner topic, "
     "and hand out its CloudFormation template (quick-create link, or a file).",
     "  --region R         the customer's region (default aws.region)\n"},
    {"show", xacct_cmd_show, "ACCOUNT [--show-external-id]",
     "Show a customer record (the external ID only as \"set\" unless asked).",
     "  --show-external-id print the external ID itself\n"},
    {"list", xacct_cmd_list, "[--state S] [--limit N]",
     "List customers, most recently updated first.",
     "  --state S          only customers in state S (pending, active, rejected,\n"
     "                     offboarding, offboarded, degraded, expired, cancelled)\n"
     "  --limit N          at most N customers (default 1000)\n"},
    {"events", xacct_cmd_events, "ACCOUNT [--limit N]", "Show a customer's audit trail, newest first.",
     "  --limit N          at most N events (default 100)\n"},
    {"template", xacct_cmd_template, "ACCOUNT [--current]",
     "Print a customer's rendered CloudFormation template (while a rotation is pending, the "
     "one trusting the new ID).",
     "  --current          the template of the external ID in use, even while a\n"
     "                     rotation is pending\n"},
    {"rotate-external-id", xacct_cmd_rotate, "ACCOUNT",
     "Issue a new external ID and hand out the template trusting it, with the stack's "
     "update URL; the current ID keeps working until the customer's stack update "
     "switches to the new one.",
     ""},
    {"cancel", xacct_cmd_cancel, "ACCOUNT",
     "Cancel a pending onboarding: its external ID stops working, its template is deleted and "
     "its account may no longer publish to the partner topic.",
     ""},
    {"check", xacct_cmd_check, "ACCOUNT [--wait S]",
     "Run the no-external-ID safety check on a customer's role now (exit 1 unless secure).",
     "  --wait S           retry AccessDenied with the external ID for S seconds\n"
     "                     (default 15)\n"},
    {"console", xacct_cmd_console,
     "ACCOUNT [--destination URL] [--duration S] [--operator NAME] [--reason TEXT]",
     "Print a federated console sign-in URL for an active or degraded customer's role (valid "
     "15 minutes); the session names the operator and the sign-in is audited.",
     "  --destination URL  where the console opens (default console.destination)\n"
     "  --duration S       console session length, 900..43200 seconds (default 3600)\n"
     "  --operator NAME    who signs in (default $XACCT_OPERATOR, else the login name);\n"
     "                     the session name and SourceIdentity in the customer's\n"
     "                     CloudTrail\n"
     "  --reason TEXT      why, recorded in the audit trail\n"},
    {"credentials", xacct_cmd_credentials,
     "ACCOUNT [--operator NAME] [--reason TEXT] [--duration S]",
     "Print temporary credentials for an active or degraded customer's role as AWS CLI "
     "credential_process JSON; the session names the operator and the access is audited.",
     "  --operator NAME    who acts (default $XACCT_OPERATOR, else the login name); the\n"
     "                     session name and SourceIdentity in the customer's CloudTrail\n"
     "  --reason TEXT      why, recorded in the audit trail\n"
     "  --duration S       how long the keys last, 900..43200 seconds and at most the\n"
     "                     role's maximum session duration (default 3600)\n"
     "  The output is always the credential_process JSON (Version 1); the keys are\n"
     "  printed once and never stored or logged.\n"},
    {"jobs", xacct_cmd_jobs, "[list | done ID]",
     "List open offboarding jobs, or mark one finished (state offboarded, account removed "
     "from its topic).",
     ""},
    {"dead", xacct_cmd_dead, "[--limit N]", "List SQS messages the workers gave up on.",
     "  --limit N          at most N entries (default 100)\n"},
    {"workers", xacct_cmd_workers, "", "List live workers from their heartbeats.", ""},
    {"topics", xacct_cmd_topics, "",
     "List the partner topics: region, accounts allowed to publish, room left.", ""},
    {"outdated", xacct_cmd_outdated, "",
     "List the active and degraded customers whose stack runs another template version than "
     "today's (from the current role policy file and configuration), each with today's "
     "template handed out and the console link that updates its stack.",
     "  Today's template is rendered for each listed customer and uploaded to\n"
     "  cloudformation.template_bucket (without a bucket: written to\n"
     "  cloudformation.template_dir, and the file is listed instead of a link).\n"},
    {"outbox", xacct_cmd_outbox, "[list | dead | redeliver ID] [--limit N]",
     "Lifecycle events and their webhook delivery; those given up on; send one again.",
     "  --limit N          at most N events (default 100)\n"},
    {"doctor", xacct_cmd_doctor, "",
     "Check the live setup (credentials, clock, queues, topics, bucket, Redis, config).", ""},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: xacct [--config PATH] COMMAND [ARGS] [--json]\n\ncommands:\n");
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(commands); i++)
        fprintf(out, "  %-20s %s\n", commands[i].name, commands[i].args);
    fprintf(out, "\nEvery command takes --json and --help. The configuration comes from --config,\n"
                 "$XACCT_CONFIG or %s; XACCT_<SECTION>_<KEY> variables override it.\n"
                 "Exit status: 0 ok, 1 operational failure, 2 usage error.\n",
            XACCT_CONFIG_DEFAULT_PATH);
}

int main(int argc, char **argv)
{
    /* A Redis or TLS peer that goes away mid-write must be an error return,
     * not a signal that kills the command (hiredis and libuv use write(2)). */
    signal(SIGPIPE, SIG_IGN);
    /* credentials and console print role keys; every command holds ours. */
    xacct_forbid_core_dumps();
    cli_t c;
    cli_init(&c);
    const char *env = getenv("XACCT_CONFIG");
    c.config_path = (env != NULL && env[0] != '\0') ? env : XACCT_CONFIG_DEFAULT_PATH;

    static const struct option global[] = {
        {"config", required_argument, NULL, 'c'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},         {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int rc = CLI_OK;
    int ch;
    opterr = 0;
    /* '+': stop at the command name; its options are parsed by the command. */
    while ((ch = getopt_long(argc, argv, "+:c:hV", global, NULL)) != -1) {
        if (ch == 'c') {
            c.config_path = optarg;
        } else if (ch == 'j') {
            c.json = true;
        } else if (ch == 'h') {
            usage(stdout);
            goto out;
        } else if (ch == 'V') {
            printf("xacct %s\n", XACCT_VERSION);
            goto out;
        } else {
            char shown[3];
            rc = cli_usage(&c, "%s '%s' (see xacct --help)",
                           ch == ':' ? "option needs a value:" : "unknown option",
                           ch == ':' ? argv[optind - 1] : cli_bad_option(argv, "cjhV", shown));
            goto out;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        rc = CLI_USAGE;
        goto out;
    }
    const char *name = argv[optind];
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(commands); i++) {
        if (strcmp(commands[i].name, name) == 0) {
            c.command = commands[i].name;
            c.cmd = &commands[i];
            rc = commands[i].run(&c, argc - optind, argv + optind);
            if (rc == CLI_HELP)
                rc = CLI_OK;
            goto out;
        }
    }
    rc = cli_usage(&c, "unknown command '%s' (see xacct --help)", name);
out:
    fflush(stdout);
    cli_destroy(&c);
    if (ferror(stdout) && rc == CLI_OK) {
        fprintf(stderr, "xacct: cannot write the output\n");
        rc = CLI_FAIL;
    }
    return rc;
}
