/* SPDX-License-Identifier: MIT */
/*
 * What to do with a CloudFormation request: one handler per RequestType,
 * registered in one table. Handlers are pure decisions — given the request,
 * the customer record and (for Create/Update) the safety check's result,
 * they say what to answer and which state change to record. The pipeline
 * (src/daemon/queue.c) carries the decision out.
 */
#ifndef XACCT_HANDLERS_H
#define XACCT_HANDLERS_H

#include <stdbool.h>

#include "xacct/cfn.h"
#include "xacct/check.h"

/* The fields of a customer record the decisions need (borrowed). */
typedef struct xacct_customer_view {
    const char *state;       /* pending, active, rejected, offboarding, offboarded */
    const char *external_id; /* secret */
    const char *stack_id;    /* "" when none yet */
    const char *physical_id; /* "" when none yet */
    const char *role_arn;
} xacct_customer_view_t;

typedef enum xacct_action {
    XACCT_ACT_ANSWER = 0, /* answer (and record) now */
    XACCT_ACT_CHECK,      /* run the safety check, then call after_check */
} xacct_action_t;

typedef struct xacct_decision {
    xacct_action_t action;
    xacct_cfn_status_t status;  /* the answer */
    char reason[768];           /* Reason (FAILED), also the audit reason */
    char physical_id[320];      /* PhysicalResourceId to answer with */
    const char *new_state;      /* state to move to, NULL = unchanged (static string) */
    const char *expect_state;   /* state the record must still be in for the change */
    bool enqueue_offboard;      /* add the offboarding job (Delete) */
    const char *event;          /* audit event type (static string) */
    const char *outcome;        /* audit outcome: success, failed, ignored (static) */
} xacct_decision_t;

typedef struct xacct_handler {
    xacct_cfn_type_t type;
    /* First decision; customer is NULL when no record exists. */
    void (*decide)(const xacct_cfn_request_t *req, const xacct_customer_view_t *customer,
                   xacct_decision_t *out);
    /* After the safety check (only for handlers that ask for one). */
    void (*after_check)(const xacct_cfn_request_t *req, const xacct_customer_view_t *customer,
                        xacct_check_result_t result, const char *detail,
                        xacct_decision_t *out);
} xacct_handler_t;

/* The handler for a request type; never NULL for the three valid types. */
const xacct_handler_t *xacct_handler_for(xacct_cfn_type_t type);

/* The decision for a request that failed transiently until its deadline:
 * FAILED (SUCCESS for a Delete, which must never hang), no state change. */
void xacct_handler_deadline(const xacct_cfn_request_t *req, const char *why,
                            xacct_decision_t *out);

/*
 * The answer's Data for a decision (SPEC §4 step 7): the customer's role and
 * state once the decision is carried out — the new state when it changes
 * one, else the record's; the request's RoleArn when it activates, else the
 * recorded one. Nothing when there is no customer record. Returns what
 * xacct_cfn_response_data returns (*json_out: caller frees, may be NULL).
 */
int xacct_handler_answer_data(const xacct_cfn_request_t *req,
                              const xacct_customer_view_t *customer,
                              const xacct_decision_t *decision, char **json_out) XACCT_MUSTCHECK;

/* Handlers, one file each (src/domain/handlers/). */
extern const xacct_handler_t xacct_handler_create;
extern const xacct_handler_t xacct_handler_update;
extern const xacct_handler_t xacct_handler_delete;

/* Shared by create and update (src/domain/handlers/activate.c). */
void xacct__handler_activate_decide(const xacct_cfn_request_t *req,
                                    const xacct_customer_view_t *customer,
                                    xacct_decision_t *out);
void xacct__handler_activate_after_check(const xacct_cfn_request_t *req,
                                         const xacct_customer_view_t *customer,
                                         xacct_check_result_t result, const char *detail,
                                         xacct_decision_t *out);

#endif
