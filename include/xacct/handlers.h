/* SPDX-License-Identifier: MIT */
/*
 * What to do with a CloudFormation request: one handler per RequestType,
 * registered in one table, plus the rules every request shares (the
 * deadline, what to do when the record changed under a decision). Handlers
 * are pure decisions — given the request, the customer record and (for
 * Create/Update) the safety check's result, they say what to answer, which
 * state change and event to record, whether a job is enqueued and what else
 * follows. The pipeline (src/daemon/pipeline.c) carries the decision out and
 * decides nothing itself.
 */
#ifndef XACCT_HANDLERS_H
#define XACCT_HANDLERS_H

#include <stdbool.h>
#include <stdint.h>

#include "xacct/cfn.h"
#include "xacct/check.h"
#include "xacct/customers.h"

typedef enum xacct_action {
    XACCT_ACT_ANSWER = 0, /* answer (and record) now */
    XACCT_ACT_CHECK,      /* run the safety check, then call after_check */
} xacct_action_t;

typedef struct xacct_decision {
    xacct_action_t action;
    xacct_cfn_status_t status;         /* the answer */
    char reason[768];                  /* Reason (FAILED), also the audit reason */
    char physical_id[320];             /* PhysicalResourceId to answer with */
    bool transition;                   /* record a move to to_state (else audit only) */
    xacct_customer_state_t to_state;   /* with transition: active, rejected or offboarding */
    bool connect_stack;                /* write the request's role, stack, region,
                                          physical_id and TemplateVersion on the
                                          record (activation) */
    bool enqueue_offboard;             /* add the offboarding job; applies only while the
                                          record still names the request's physical id */
    bool cleanup_template;             /* delete the customer's template from the
                                          template bucket once answered */
    bool rotate_external_id;           /* an Update carrying the pending external ID of
                                          a rotation (SPEC §9.3): the check runs with
                                          that ID, and a transition swaps it in */
    bool probe_recorded_role;          /* a Create from another stack while the customer
                                          is connected: its recorded role is checked
                                          first, and only one that can no longer be
                                          assumed with the ID lets the new stack replace
                                          it */
    bool replace_stack;                /* a transition that connects a connected customer
                                          through another stack: applies only while the
                                          record still names the stack and role it
                                          replaces */
    const char *event;                 /* audit event type (static string) */
    const char *outcome;               /* audit outcome: success, failed, ignored (static) */
} xacct_decision_t;

typedef struct xacct_handler {
    xacct_cfn_type_t type;
    /* First decision; customer is NULL when no record exists. */
    void (*decide)(const xacct_cfn_request_t *req, const xacct_customer_t *customer,
                   xacct_decision_t *out);
    /* After the safety check (only for handlers that ask for one). */
    void (*after_check)(const xacct_cfn_request_t *req, const xacct_customer_t *customer,
                        xacct_check_result_t result, const char *detail,
                        xacct_decision_t *out);
} xacct_handler_t;

/* The decision for a Create from another stack whose customer's recorded
 * role still passes (or still opens with the ID): the customer stays
 * connected through its stack, the Create is refused. */
void xacct_handler_recorded_role_alive(const xacct_cfn_request_t *req,
                                       const xacct_customer_t *customer, xacct_decision_t *out);

/* The Reason of a Create for an expired or cancelled customer (SPEC §9.4). */
#define XACCT_HANDLER_EXPIRED_REASON "this onboarding link has expired; ask for a new one"

/* The handler for a request type; never NULL for the three valid types. */
const xacct_handler_t *xacct_handler_for(xacct_cfn_type_t type);

/* ---- rules every request shares (src/domain/handlers/rules.c) ----------- */

/* The default ServiceTimeout, the margin's bounds (SPEC §4). */
#define XACCT_HANDLER_TIMEOUT_DEFAULT_S 3600
#define XACCT_HANDLER_MARGIN_MIN_MS 5000
#define XACCT_HANDLER_MARGIN_MAX_MS 60000

/* The margin kept before a request's CloudFormation deadline: 10 % of the
 * timeout, at least 5 s, at most 60 s. */
int64_t xacct_handler_margin_ms(int64_t timeout_ms);

/* The wall-clock time (epoch ms) after which a request still failing
 * transiently is answered at once: SentTimestamp (now when the message has
 * none) + ServiceTimeout - the margin. */
int64_t xacct_handler_deadline_ms(const xacct_cfn_request_t *req, int64_t sent_ms,
                                  int64_t now_ms);

/* The decision for a request that failed transiently until its deadline:
 * FAILED (SUCCESS for a Delete, which must never hang), no state change. */
void xacct_handler_deadline(const xacct_cfn_request_t *req, const char *why,
                            xacct_decision_t *out);

/*
 * The answer's Data for a decision (SPEC §4 step 7): the customer's role and
 * state once the decision is carried out — the new state when it changes
 * one, else the record's; the request's RoleArn when it activates, else the
 * recorded one (borrowed from req, customer and static names). Nothing (both
 * NULL) when there is no customer record, or the request does not carry the
 * customer's external ID (current or pending): it proves no ownership.
 */
xacct_cfn_data_t xacct_handler_answer_data(const xacct_cfn_request_t *req,
                                           const xacct_customer_t *customer,
                                           const xacct_decision_t *decision);

/* The decision for a request whose message is given up on (received more
 * than queue.max_receives times): answered so that no stack waits for a
 * message xacct will not process, FAILED with why (SUCCESS for a Delete,
 * which must never hang), no state change. */
void xacct_handler_give_up(const xacct_cfn_request_t *req, const char *why,
                           xacct_decision_t *out);

typedef enum xacct_conflict {
    XACCT_CONFLICT_RELOAD = 1, /* decide again from the fresh record */
    XACCT_CONFLICT_AUDIT,      /* *d was rewritten into an audit-only answer */
} xacct_conflict_t;

/* The record refused d's transition (another request for the account moved
 * it; detail says how). conflicts counts the refusals of this request so
 * far, this one included. */
xacct_conflict_t xacct_handler_conflict(const xacct_cfn_request_t *req, unsigned conflicts,
                                        const char *detail, xacct_decision_t *d);

/* Handlers, one file each (src/domain/handlers/). */
extern const xacct_handler_t xacct_handler_create;
extern const xacct_handler_t xacct_handler_update;
extern const xacct_handler_t xacct_handler_delete;

/* The PhysicalResourceId of a FAILED answer (src/domain/handlers/rules.c):
 * an Update's own, else "xacct-<account>-failed-<request id>", cut on a
 * character boundary. */
void xacct__handler_failed_id(const xacct_cfn_request_t *req, xacct_decision_t *out);

/* Shared by create and update (src/domain/handlers/activate.c). */
void xacct__handler_activate_decide(const xacct_cfn_request_t *req,
                                    const xacct_customer_t *customer, xacct_decision_t *out);
void xacct__handler_activate_after_check(const xacct_cfn_request_t *req,
                                         const xacct_customer_t *customer,
                                         xacct_check_result_t result, const char *detail,
                                         xacct_decision_t *out);

#endif
