/* SPDX-License-Identifier: MIT */
/*
 * Internal interface of the operator CLI `xacct`: the per-run state shared by
 * the commands (the context: loop, configuration, Redis and AWS clients,
 * created on first use), argument parsing, blocking wrappers over the
 * asynchronous library calls (each runs the loop until its callback has
 * fired), and output helpers (listings, tables and JSON). What the commands
 * do lives in the library; the CLI parses, waits and prints. Exit codes: 0
 * ok, 1 operational failure, 2 usage error.
 */
#ifndef XACCT_CLI_CMD_H
#define XACCT_CLI_CMD_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <uv.h>

#include "xacct/codec.h"
#include "xacct/config.h"
#include "xacct/creds.h"
#include "xacct/customers.h"
#include "xacct/extid.h"
#include "xacct/http.h"
#include "xacct/operator.h"
#include "xacct/store.h"
#include "xacct/ctx.h"

#define CLI_OK 0
#define CLI_FAIL 1
#define CLI_USAGE 2
#define CLI_HELP (-1) /* --help was printed: exit 0 */

struct cli_command;

typedef struct cli {
    const char *command;     /* command name, for messages */
    const struct cli_command *cmd; /* its table entry (help text) */
    const char *config_path; /* --config, $XACCT_CONFIG or the default; borrowed */
    bool json;               /* --json */
    xacct_ctx_t *ctx;        /* loop, configuration and clients: created with the
                                configuration (cli_config), clients started on
                                first use; owned */
    FILE *out;               /* stdout */
    FILE *err;               /* stderr */
    const char *hint;        /* appended to the next failure message, or NULL */
} cli_t;

/* One command of the table in main.c. */
typedef struct cli_command {
    const char *name;
    int (*run)(cli_t *c, int argc, char **argv); /* argv[0] is the command name */
    const char *args;    /* synopsis after the name */
    const char *summary; /* one line */
    const char *help;    /* option lines for --help (may be "") */
} cli_command_t;

/* ---- arguments ---------------------------------------------------------- */

/* A command option beyond the common --json/--help/--config. */
typedef struct cli_opt {
    const char *name;    /* long name without dashes */
    bool has_arg;        /* takes a value */
    const char **value;  /* receives the value (has_arg) */
    bool *flag;          /* set to true (no arg) */
} cli_opt_t;

/*
 * Parses argv (argv[0] the command) with getopt_long: the common options,
 * opts (terminated by a zero entry, may be NULL), and between min_pos and
 * max_pos positional arguments stored in pos[]. Returns 0, CLI_HELP after
 * printing the command's help, or CLI_USAGE after printing one line naming
 * the bad argument.
 */
int cli_args(cli_t *c, int argc, char **argv, const cli_opt_t *opts, const char **pos,
             int min_pos, int max_pos);

/* After getopt_long returned '?': the option it refused, "-x" for a letter
 * (shown holds it), else the argument itself. long_vals: the letters that
 * are vals of long options (their errors set optopt to them). */
const char *cli_bad_option(char **argv, const char *long_vals, char shown[3]);

/* "xacct CMD: <message>" on stderr; returns CLI_USAGE / CLI_FAIL. */
int cli_usage(cli_t *c, const char *fmt, ...) XACCT_PRINTF(2, 3);
int cli_fail(cli_t *c, const char *fmt, ...) XACCT_PRINTF(2, 3);
/* A failed library call: names the system that failed (Redis, AWS) in one
 * line, e.g. "cannot reach Redis at redis://127.0.0.1:1/0: ...". */
int cli_fail_store(cli_t *c, int status, const char *detail, const char *what);
int cli_fail_aws(cli_t *c, int status, const char *detail, const char *what);

/* Usage checks shared by commands: 0 or CLI_USAGE (printed). */
int cli_check_account(cli_t *c, const char *account);
/* cli_args for a command whose one positional argument is an account ID,
 * checked with cli_check_account; *account is that argument. */
int cli_account_args(cli_t *c, int argc, char **argv, const cli_opt_t *opts,
                     const char **account);
/* A decimal count from 1 to max for --limit and the like; 0 if malformed. */
size_t cli_parse_limit(const char *s, size_t max);
/* Whether id is a Redis stream entry ID, <ms>-<seq> (jobs, outbox events). */
bool cli_stream_id_valid(const char *id);

/* ---- runtime ------------------------------------------------------------ */

void cli_init(cli_t *c);
/* Frees the context (clients in reverse start order, then the loop, which
 * must close cleanly). */
void cli_destroy(cli_t *c);

/* Loads the configuration (partial: without required-key checks) and
 * creates the context once. 0 or CLI_FAIL (printed). */
int cli_config(cli_t *c);
/* Like cli_config, then checks that the named keys needed by the command are
 * set: "partner" (aws.partner_account_id), "topics" (sns.topic_arns),
 * "region" (aws.region). */
int cli_config_need(cli_t *c, const char *const *keys);

/* Clients of the context, started on first use. 0 or CLI_FAIL (printed). */
int cli_store(cli_t *c);
int cli_aws(cli_t *c);

/* Runs the loop until *done. */
void cli_wait(cli_t *c, const bool *done);

/* ---- blocking wrappers (sync.c) -------------------------------------- */

/* Outcome of one call: status and an owned copy of its detail. */
typedef struct cli_res {
    bool done;
    int status;
    char *detail;
} cli_res_t;
void cli_res_set(cli_res_t *r, int status, const char *detail);
void cli_res_clear(cli_res_t *r);
/* A (status, detail, arg) callback that fills the cli_res_t arg. */
void cli_res_cb(int status, const char *detail, void *arg);
/* After starting a call that completes into r: rc is the start's status; on
 * 0 waits for the call, otherwise records rc in r as the outcome. */
void cli_await(cli_t *c, int rc, cli_res_t *r);

/* Appends ev to account's audit trail and waits; the outcome is in *r (the
 * caller clears it). */
void cli_audit_append(cli_t *c, const char *account, const xacct_event_t *ev, cli_res_t *r);

/* A JSON object that may hold an "external_id": wiped, then released. */
void cli_record_free(json_t *record);
/* A customer record (customers.h), an owned copy: it holds the external ID,
 * so release it with xacct_customer_free, which wipes it. */
int cli_customer_get(cli_t *c, const char *account, xacct_customer_t **customer, cli_res_t *r);
/* cli_customer_get that prints "no customer X" or the Redis failure itself.
 * 0 or CLI_FAIL. */
int cli_load_customer(cli_t *c, const char *account, xacct_customer_t **customer);
/* cli_load_customer for commands that act on the customer's role (check,
 * console): fails with a message when the record has no role yet, then
 * makes sure the AWS client is ready. On 0, *customer is set; on failure
 * nothing is left to free. 0 or CLI_FAIL. */
int cli_load_customer_role(cli_t *c, const char *account, xacct_customer_t **customer);
/* The ID to assume the customer's role with for a call that cannot fall back
 * by itself (console.h): its external_id, or, while a rotation is pending and
 * the role already refuses that one but trusts the pending ID, the pending ID
 * (customer_role.h; one probe with session_name, whose keys are dropped).
 * Without a rotation pending no call is made. Borrowed from cust. */
const char *cli_trusted_external_id(cli_t *c, const xacct_customer_t *cust,
                                    const char *session_name);
/* Appends an audit event for the account; failures are reported on stderr
 * but do not change the command's outcome. */
void cli_audit(cli_t *c, const char *account, const char *type, const char *outcome,
               const char *reason);

/* ---- operator access (access.c): credentials, console ------------------ */

/* The operator's name for the session (operator.h): --operator (flag, may
 * be NULL), else $XACCT_OPERATOR, else the login name. A name STS would not
 * take is reduced to what it accepts, with a note on stderr. 0, CLI_USAGE
 * (an unusable --operator or $XACCT_OPERATOR) or CLI_FAIL (no login name). */
int cli_operator(cli_t *c, const char *flag, char *out, size_t outlen);
/* --reason: NULL or valid UTF-8 of 1..XACCT_CLI_REASON_MAX bytes. 0 or
 * CLI_USAGE. */
#define XACCT_CLI_REASON_MAX 500
int cli_check_reason(cli_t *c, const char *reason);
/* What both access commands take before they touch AWS: the account, the
 * --reason, --duration (900..43200 s; *duration holds the default on entry)
 * and the operator's name, then the config and the store, and last the
 * customer (cli_load_access_customer) into *customer, which the caller frees
 * on 0 (on failure nothing is left to free). 0, CLI_USAGE or CLI_FAIL. */
typedef struct cli_access_args {
    const char *operator_flag; /* --operator, or NULL */
    const char *reason;        /* --reason, or NULL */
    const char *duration_flag; /* --duration, or NULL */
    size_t duration;           /* in: the default; out: the session's length */
    char operator_name[XACCT_OPERATOR_NAME_MAX + 1];
} cli_access_args_t;
int cli_access_prepare(cli_t *c, const char *account, cli_access_args_t *a,
                       xacct_customer_t **customer);
/* Appends the access event (type "credentials" or "console") naming the
 * operator as its actor and the reason; never a credential. Unlike
 * cli_audit, a failure is the command's failure: access that cannot be
 * attributed is not handed out. 0 or CLI_FAIL. */
int cli_audit_access(cli_t *c, const char *account, const char *type, const char *operator_name,
                     const char *reason);

/* ---- listings (list.c) ------------------------------------------------- */

/*
 * The listing commands (jobs, list, dead, events, workers, outbox) share one shape:
 * a library call whose callback turns its items into JSON rows, then the
 * rows printed as JSON or as a table. The command starts the call with a
 * cli_list_t as its argument; the callback appends to rows when status is 0
 * and ends with cli_list_done.
 */
typedef struct cli_list {
    cli_res_t r;  /* the call's outcome */
    json_t *rows; /* array the callback appends to (owned) */
} cli_list_t;
void cli_list_init(cli_list_t *l);
void cli_list_done(cli_list_t *l, int status, const char *detail);
/* submitted is the library call's return. Waits for the callback, reports
 * a failure as "<what>: ..." (CLI_FAIL), else prints the rows (--json: the
 * array; otherwise a table of columns) and returns CLI_OK. Releases l. */
int cli_list_print(cli_t *c, int submitted, cli_list_t *l, const char *what,
                   const char *const *columns, size_t ncolumns);

/* ---- output ------------------------------------------------------------- */

/* A listing printed page by page as it arrives (stream.c): --json the array
 * of row objects, otherwise the table of columns (string values; widths
 * from the header and the first page). Nothing is kept between pages. */
#define CLI_STREAM_MAX_COLUMNS 16
typedef struct cli_stream {
    cli_t *c;                             /* borrowed */
    const char *const *columns;           /* borrowed keys */
    size_t ncolumns;                      /* <= CLI_STREAM_MAX_COLUMNS */
    size_t width[CLI_STREAM_MAX_COLUMNS]; /* table column widths */
    size_t rows;                          /* rows printed */
    bool started;                         /* the table header is out */
} cli_stream_t;
void cli_stream_init(cli_stream_t *s, cli_t *c, const char *const *columns, size_t ncolumns);
/* Prints rows (an array of objects; borrowed). */
void cli_stream_page(cli_stream_t *s, json_t *rows);
/* Closes the JSON array, or prints the header of an empty table. */
void cli_stream_end(cli_stream_t *s);

/* Prints j as indented JSON and a newline; steals the reference. */
void cli_print_json(cli_t *c, json_t *j);
/* Prints an array of objects as a table with the given columns (keys);
 * headers are the keys upper-cased. Values that are not strings are
 * rendered as JSON; missing ones as "-". */
void cli_print_table(cli_t *c, json_t *rows, const char *const *columns, size_t ncolumns);
/* Prints what to hand to the customer (onboard, rotate): JSON, or lines
 * (cmd_onboard.c). */
void cli_print_handout(cli_t *c, json_t *info, const char *title);
/* "2024-05-01T12:00:00Z" for Unix milliseconds. */
void cli_iso(int64_t ms, char out[32]);
/* "3d4h", "5m12s", "800ms" */
void cli_duration(long long ms, char out[32]);

#endif
