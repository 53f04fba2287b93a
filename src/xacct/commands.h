/* SPDX-License-Identifier: MIT */
/*
 * The commands of `xacct`, one per cmd_<name>.c. Each takes the run state and
 * its own argv (argv[0] = the command name) and returns the exit status
 * (CLI_OK, CLI_FAIL, CLI_USAGE) or CLI_HELP after printing its help.
 */
#ifndef XACCT_CLI_COMMANDS_H
#define XACCT_CLI_COMMANDS_H

#include "cmd.h"

int xacct_cmd_onboard(cli_t *c, int argc, char **argv);
int xacct_cmd_show(cli_t *c, int argc, char **argv);
int xacct_cmd_list(cli_t *c, int argc, char **argv);
int xacct_cmd_events(cli_t *c, int argc, char **argv);
int xacct_cmd_template(cli_t *c, int argc, char **argv);
int xacct_cmd_rotate(cli_t *c, int argc, char **argv);
int xacct_cmd_check(cli_t *c, int argc, char **argv);
int xacct_cmd_console(cli_t *c, int argc, char **argv);
int xacct_cmd_jobs(cli_t *c, int argc, char **argv);
int xacct_cmd_dead(cli_t *c, int argc, char **argv);
int xacct_cmd_workers(cli_t *c, int argc, char **argv);
int xacct_cmd_topics(cli_t *c, int argc, char **argv);
int xacct_cmd_outbox(cli_t *c, int argc, char **argv);
int xacct_cmd_credentials(cli_t *c, int argc, char **argv);
int xacct_cmd_outdated(cli_t *c, int argc, char **argv);
int xacct_cmd_doctor(cli_t *c, int argc, char **argv);
int xacct_cmd_cancel(cli_t *c, int argc, char **argv);

#endif
