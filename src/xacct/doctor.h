/* SPDX-License-Identifier: MIT */
/*
 * `xacct doctor`: checks of the live setup, one per doctor_*.c file. Each
 * check adds one or more lines to the report (name, ok / warn / FAIL, what it
 * saw, and for a failure the fix); the command prints them as a checklist or
 * as JSON and exits 1 when any line failed. The checks share a blocking AWS
 * call (the loop runs until its callback) and what earlier checks learnt
 * (the server's Date for the clock check, the queues' ARNs and policies for
 * the topic checks).
 */
#ifndef XACCT_CLI_DOCTOR_H
#define XACCT_CLI_DOCTOR_H

#include <jansson.h>
#include <stdbool.h>

#include "cmd.h"
#include "xacct/aws.h"

typedef enum doctor_status { DOCTOR_OK, DOCTOR_WARN, DOCTOR_FAIL } doctor_status_t;

typedef struct doctor {
    cli_t *c;            /* borrowed */
    json_t *checks;      /* array of {name, status, detail, fix}; owned */
    int failed;          /* FAIL lines so far */
    char *server_date;   /* Date header of an AWS answer, or NULL; owned */
    json_t *queues;      /* queue ARN -> policy text ("" = none), reachable queues; owned */
} doctor_t;

/* Adds a line. fix is shown for WARN and FAIL (may be NULL). */
void doctor_add(doctor_t *d, const char *name, doctor_status_t st, const char *fix,
                const char *fmt, ...) XACCT_PRINTF(5, 6);
/* Adds a FAIL line for an AWS call that failed with status and detail while
 * doing what (xacct_ctx_aws_error's wording), after "subject: " when subject
 * is not NULL. */
void doctor_fail_aws(doctor_t *d, const char *name, const char *fix, const char *subject,
                     int status, const char *detail, const char *what);

/* One AWS call run to completion: status as aws.h, the HTTP status, body and
 * Date header copied (owned; free with doctor_resp_clear). */
typedef struct doctor_resp {
    bool done;
    int status;
    char *detail;
    long http;
    char *body;
    size_t body_len;
} doctor_resp_t;
void doctor_call(doctor_t *d, const xacct_aws_request_t *req, doctor_resp_t *r);
void doctor_resp_clear(doctor_resp_t *r);

/* Policy statements as a JSON array (a lone object wrapped); new reference or
 * NULL when text is not a policy document. */
json_t *doctor_policy_statements(const char *text);

void doctor_check_config(doctor_t *d);
void doctor_check_identity(doctor_t *d);
void doctor_check_clock(doctor_t *d);
void doctor_check_queues(doctor_t *d);
void doctor_check_topics(doctor_t *d);
void doctor_check_bucket(doctor_t *d);
void doctor_check_redis(doctor_t *d);

#endif
