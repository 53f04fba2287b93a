/* SPDX-License-Identifier: MIT */
/*
 * Onboarding and external-ID rotation (SPEC §1, §9), the core both `xacct
 * onboard` / `xacct rotate-external-id` and the portal API run:
 *
 *  onboard: draw a fresh external ID (UUID v4, unique across customers
 *  through its Redis index, drawn again on the rare collision), store the
 *  pending record, allow the account to publish to a partner topic of its
 *  region (publish.h), and deliver its template (deliver.h).
 *
 *  rotate (SPEC §9.3): a new external ID for an active or degraded
 *  customer is stored as pending_external_id — its stack keeps working with
 *  the current ID until an Update carrying the new one passes the check —
 *  and handed out in a template trusting only the new ID, with the
 *  update-stack link of the customer's stack (when the template is
 *  uploaded); the template of a pending ID it replaces is removed. A
 *  pending or rejected customer (no stack trusts its ID) gets the new ID at
 *  once, keeping its region and topic, and the old ID's template is
 *  removed: the way to finish an onboarding that failed half-way.
 *
 * Both run on ctx's loop with its store and AWS client (started). They
 * return 0 and then call cb exactly once, never from inside the call, or
 * XACCT_EINVAL (missing or malformed argument) without calling it.
 */
#ifndef XACCT_ONBOARD_H
#define XACCT_ONBOARD_H

#include <stdbool.h>

#include "xacct/codec.h"
#include "xacct/common.h"
#include "xacct/ctx.h"

/*
 * What the customer is handed. Strings are borrowed for the callback; the
 * external ID is a secret shared with the customer only. On failure, the
 * fields known so far are set (state is the customer's state when the call
 * was refused with XACCT_ESTATE).
 */
typedef struct xacct_onboard_result {
    const char *account_id;
    const char *external_id;         /* the new ID when it replaced the old at once, else NULL */
    const char *pending_external_id; /* rotate of a connected customer: the new ID,
                                        pending until an Update proves it */
    const char *state;               /* onboard: "pending"; rotate: the state it has */
    const char *region;              /* the customer's region */
    const char *topic_arn;           /* the topic its stack publishes to */
    const char *template_url;        /* uploaded template, or NULL */
    const char *launch_url;          /* quick-create link, or NULL */
    const char *update_url;          /* rotate, pending: update-stack link of the customer's
                                        stack with the new template, or NULL (no bucket) */
    const char *template_file;       /* written template (no bucket), or NULL */
    bool unfinished;                 /* resume: failure while allowing the account to
                                        publish or delivering the template again (the
                                        record is as it was; repeat to finish). A new
                                        onboarding or rotation that fails leaves nothing
                                        (the ID is only reserved until it succeeds). */
    bool other_region;               /* resume refused (XACCT_ESTATE): the customer is
                                        pending in region, not the one asked for */
} xacct_onboard_result_t;

/*
 * status 0; XACCT_ESTATE (onboard: the customer is pending, active,
 * degraded or offboarding; rotate: it is in another state than pending,
 * rejected, active or degraded — res->state says which), XACCT_ENOTFOUND (rotate: no such
 * customer), or the failing step's status with a one-line detail.
 */
typedef void (*xacct_onboard_cb)(int status, const char *detail, const xacct_onboard_result_t *res,
                                 void *arg);

/* Onboards account (12 digits) in region (NULL: aws.region). actor names
 * who asked, in the audit trail ("cli", an API token's name). XACCT_EINVAL,
 * with nothing stored, when the region is not one of sns.topic_arns'. */
int xacct_onboard_customer(xacct_ctx_t *ctx, const char *account, const char *region,
                           const char *actor, xacct_onboard_cb cb, void *arg) XACCT_MUSTCHECK;

/* Serves a pending onboarding again with the ID it was issued: allows the
 * account to publish again and delivers its template again (both
 * idempotent), so a record whose links were lost has them again. region is the one the repeated request
 * named, NULL when it named none. XACCT_ESTATE when the customer is not
 * pending, or is pending in another region than a non-NULL region
 * (res->other_region; nothing is changed: a pending onboarding never moves),
 * XACCT_ENOTFOUND when there is none. */
int xacct_onboard_resume(xacct_ctx_t *ctx, const char *account, const char *region,
                         const char *actor, xacct_onboard_cb cb, void *arg) XACCT_MUSTCHECK;

/* Issues a new external ID to account and hands out the new template. */
int xacct_onboard_rotate(xacct_ctx_t *ctx, const char *account, const char *actor,
                         xacct_onboard_cb cb, void *arg) XACCT_MUSTCHECK;

/* An audit event stamped now (outcome and reason may be NULL). The strings
 * are borrowed by the event. */
xacct_event_t xacct_onboard_event(const char *type, const char *outcome, const char *reason,
                                  const char *actor);

#endif
