/* SPDX-License-Identifier: MIT */
/*
 * Onboarding and rotation as one asynchronous operation each: (rotate: read
 * the record for its old IDs, region and stack) → reserve a new external ID
 * → allow the account to publish → deliver the template (rotate of a
 * connected customer: and build the update-stack link) → commit the ID to
 * the record with its events → (rotate: remove the template the new one
 * supersedes). Nothing is written to the record before the AWS side is in
 * place, so a failure on the way gives the reservation up (and the template
 * delivered for it) and leaves the customer as it was (SPEC §7). Resuming a
 * pending onboarding reads the record for its ID and region and walks the
 * allow-list and delivery steps again, so a pending record whose link was
 * lost is served again. Every step is the callback of the one before; the
 * first failure ends the walk with the step's status and a one-line detail.
 */
#include "xacct/onboard.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xacct/arn.h"
#include "xacct/customers.h"
#include "xacct/deliver.h"
#include "xacct/extid.h"
#include "xacct/launch_url.h"
#include "xacct/publish.h"

#define MAX_COLLISIONS 8 /* draws of an external ID before giving up */
/* How long a reserved ID waits for its commit: longer than the allow-list
 * (its lock wait and AWS retries) and the delivery take. A process that dies
 * meanwhile leaves the reservation to the workers, who release it once this
 * lease has ended (xacct_customers_release_lapsed): the account off the
 * topic, its policy rewritten, the template deleted. */
#define RESERVE_LEASE_MS (15LL * 60 * 1000)

typedef struct ob {
    xacct_ctx_t *ctx;
    bool rotate;                  /* xacct_onboard_rotate */
    bool resume;                  /* xacct_onboard_resume */
    char *account;                /* owned */
    char *actor;                  /* owned */
    char region[64];              /* the customer's region */
    char asked[64];               /* resume: the region the repeat named, "" for none */
    bool other_region;            /* see xacct_onboard_result_t */
    char *old_id;                 /* rotate: the ID before (secret, owned) */
    char *old_pending;            /* rotate: a pending ID it replaces (secret, owned) */
    char *stack_id;               /* rotate: the customer's stack (owned) */
    bool connected;               /* rotate: read active or degraded */
    bool deferred;                /* rotate: the new ID is pending (SPEC §9.3) */
    char *update_url;             /* rotate, deferred: update-stack link (owned) */
    char id[XACCT_EXTID_LEN + 1]; /* the new ID (secret; wiped) */
    bool reserved;                /* id is reserved, not yet committed */
    bool delivered;               /* the template for a reserved id is in the bucket */
    bool issued;                  /* id is stored */
    char state[32];               /* "pending", or the state rotate found */
    int draws;                    /* external IDs drawn so far */
    char *topic;                  /* the topic allowed (owned) */
    char *template_url;           /* owned */
    char *launch_url;             /* owned */
    char *template_file;          /* owned */
    bool unfinished;              /* see xacct_onboard_result_t */
    int status;                   /* first failure, or 0 */
    char *detail;                 /* its line (owned) */
    xacct_onboard_cb cb;
    void *arg;
} ob_t;

xacct_event_t xacct_onboard_event(const char *type, const char *outcome, const char *reason,
                                  const char *actor)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (xacct_event_t){
        .v = XACCT_CODEC_VERSION,
        .ts = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
        .type = type,
        .outcome = outcome,
        .reason = reason,
        .actor = actor,
    };
}

static void finish(ob_t *o)
{
    xacct_onboard_result_t res = {
        .account_id = o->account,
        .external_id = o->issued && !o->deferred ? o->id : NULL,
        .pending_external_id = o->issued && o->deferred ? o->id : NULL,
        .update_url = o->update_url,
        .state = o->state[0] ? o->state : NULL,
        .region = o->region[0] ? o->region : NULL,
        .topic_arn = o->topic,
        .template_url = o->template_url,
        .launch_url = o->launch_url,
        .template_file = o->template_file,
        .unfinished = o->unfinished,
        .other_region = o->other_region,
    };
    o->cb(o->status, o->detail, &res, o->arg);
    OPENSSL_cleanse(o->id, sizeof(o->id));
    xacct_free_secret(o->old_id);
    xacct_free_secret(o->old_pending);
    free(o->stack_id);
    xacct_free_secret(o->update_url); /* presigned */
    free(o->account);
    free(o->actor);
    free(o->topic);
    xacct_free_secret(o->template_url);
    xacct_free_secret(o->launch_url);
    free(o->template_file);
    free(o->detail);
    free(o);
}

static void fail_msg(ob_t *o, int status, char *detail)
{
    o->status = status;
    free(o->detail);
    o->detail = detail;
    finish(o);
}

static void fail(ob_t *o, int status, const char *fmt, ...) XACCT_PRINTF(3, 4);
static void fail(ob_t *o, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = xacct_vasprintf(fmt, ap);
    va_end(ap);
    fail_msg(o, status, msg);
}

/* ---- giving a reservation up --------------------------------------------- */

static void released(int status, const char *detail, void *arg)
{
    (void)status; /* failed: the workers release it when its lease ends */
    (void)detail;
    finish(arg);
}

/* The release queues what AWS may still hold for the ID (the template
 * whose removal failed, the policy of the topic it was allowed on) for the
 * workers' clean-up. */
static void release_reservation(ob_t *o, bool template_left)
{
    o->reserved = false;
    if (xacct_customers_release_id(o->ctx->store, o->account, o->id, o->topic ? o->topic : "",
                                   template_left, released, o) != 0)
        finish(o);
}

static void template_removed(int status, const char *detail, void *arg)
{
    (void)detail;
    release_reservation(arg, status != 0);
}

/* Ends a walk that failed after reserving (detail is owned): the template
 * delivered for the reserved ID is removed and the reservation given up. */
static void abandon(ob_t *o, int status, char *detail)
{
    o->status = status;
    free(o->detail);
    o->detail = detail;
    /* A new onboarding given up has no state (but the one it found taken). */
    if (!o->rotate && status != XACCT_ESTATE)
        o->state[0] = '\0';
    /* Shutting down (the clients are going): the workers release the
     * reservation once its lease has ended, template and allow-list entry
     * included. */
    if (!o->reserved || status == XACCT_ECANCELED || status == XACCT_ESHUTDOWN ||
        o->ctx->store == NULL) {
        finish(o);
        return;
    }
    if (o->delivered) {
        o->delivered = false;
        xacct_free_secret(o->template_url);
        o->template_url = NULL;
        xacct_free_secret(o->launch_url);
        o->launch_url = NULL;
        xacct_free_secret(o->update_url);
        o->update_url = NULL;
        free(o->template_file);
        o->template_file = NULL;
        if (xacct_deliver_remove(o->ctx, o->account, o->id, template_removed, o) == 0)
            return;
        release_reservation(o, true);
        return;
    }
    release_reservation(o, false);
}

static void abandon_fmt(ob_t *o, int status, const char *fmt, ...) XACCT_PRINTF(3, 4);
static void abandon_fmt(ob_t *o, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = xacct_vasprintf(fmt, ap);
    va_end(ap);
    abandon(o, status, msg);
}

/* A failure of a step after the ID was chosen: a reservation is given up; a
 * resumed onboarding (its ID on the record already) stays to be finished. */
static void step_failed(ob_t *o, int status, char *detail)
{
    if (o->reserved) {
        abandon(o, status, detail);
        return;
    }
    o->unfinished = true;
    fail_msg(o, status, detail);
}

/* ---- steps, in order --------------------------------------------------------- */

static void removed(int status, const char *detail, void *arg)
{
    ob_t *o = arg;
    o->status = status;
    o->detail = detail ? xacct_strdup(detail) : NULL;
    finish(o);
}

/* rotate: the template the new one supersedes: a replaced pending ID's, or
 * the old ID's when the new one took over at once. */
static void remove_superseded(ob_t *o)
{
    const char *superseded = o->deferred ? o->old_pending : o->old_id;
    if (o->rotate && superseded != NULL && superseded[0] != '\0' &&
        strcmp(superseded, o->id) != 0) {
        int rc = xacct_deliver_remove(o->ctx, o->account, superseded, removed, o);
        if (rc != 0)
            fail(o, rc, "deleting the old template: %s", xacct_strerror(rc));
        return;
    }
    finish(o);
}

static void committed(int status, const char *detail, const char *prev_state, void *arg)
{
    ob_t *o = arg;
    if (status == XACCT_ESTATE) {
        /* Another onboarding of the account, or a change of state, got
         * there first: this one is given up, the record is theirs. */
        snprintf(o->state, sizeof(o->state), "%s", prev_state ? prev_state : "");
        abandon_fmt(o, status, "customer %s is %s", o->account, o->state);
        return;
    }
    if (status == XACCT_ENOTFOUND) {
        abandon_fmt(o, status, "no customer %s", o->account);
        return;
    }
    if (status == XACCT_EEXISTS || status == XACCT_EAGAIN) {
        abandon_fmt(o, XACCT_EAGAIN, "%s; nothing was changed, try again",
                    detail ? detail : "the reserved external ID was taken meanwhile");
        return;
    }
    if (status != 0) {
        abandon(o, status, xacct_ctx_store_error(o->ctx, status, detail, "storing the customer"));
        return;
    }
    o->reserved = false;
    o->issued = true;
    if (o->rotate)
        snprintf(o->state, sizeof(o->state), "%s", prev_state ? prev_state : "");
    remove_superseded(o);
}

/* The record takes the new ID (with its events) once the AWS side is ready. */
static void commit(ob_t *o)
{
    xacct_event_t ev =
        o->connected
            ? xacct_onboard_event("rotation_pending", "ok",
                                  "new external ID issued; the current one stays in use "
                                  "until the stack is updated with the new template",
                                  o->actor)
            : xacct_onboard_event(o->rotate ? "rotated" : "onboarded", "ok",
                                  o->rotate ? "new external ID issued" : "external ID issued",
                                  o->actor);
    xacct_customers_expect_t expect = {
        .external_id = o->old_id,
        .pending_external_id = o->old_pending,
        .connected = o->connected,
    };
    int rc = o->rotate ? xacct_customers_rotate_commit(o->ctx->store, o->account, o->id, o->topic,
                                                       &expect, &ev, committed, o)
                       : xacct_customers_onboard_commit(o->ctx->store, o->account, o->id, o->region,
                                                        o->topic, &ev, committed, o);
    if (rc != 0)
        abandon(o, rc, xacct_ctx_store_error(o->ctx, rc, NULL, "storing the customer"));
}

static void delivered(int status, const char *detail, const xacct_deliver_result_t *res, void *arg)
{
    ob_t *o = arg;
    if (status != 0) {
        step_failed(o, status, xacct_strdup(detail ? detail : xacct_strerror(status)));
        return;
    }
    o->delivered = o->reserved && res->template_url != NULL;
    o->template_url = res->template_url ? xacct_strdup(res->template_url) : NULL;
    o->template_file = res->template_file ? xacct_strdup(res->template_file) : NULL;
    /* A connected customer updates the stack it has: the update-stack link,
     * not a quick-create one (which would make a second stack). */
    if (o->deferred) {
        if (o->template_url != NULL &&
            xacct_launch_update_url(o->stack_id, o->template_url, &o->update_url) != 0) {
            step_failed(o, XACCT_EINVAL,
                        xacct_strdup("cannot build the update URL: the record's stack_id is "
                                     "not a CloudFormation stack ARN"));
            return;
        }
    } else {
        o->launch_url = res->launch_url ? xacct_strdup(res->launch_url) : NULL;
    }
    if (o->reserved)
        commit(o);
    else
        finish(o); /* resumed: the record has had its ID all along */
}

static void allowed(int status, const char *detail, const char *topic_arn, void *arg)
{
    ob_t *o = arg;
    if (status == XACCT_ESTATE && !o->reserved) {
        /* Cancelled, expired or given a new ID while the account was being
         * allowed to publish (the allow-list was put back): nothing of this
         * onboarding is left to finish, and its state is no longer known. */
        o->state[0] = '\0';
        fail_msg(o, status, xacct_strdup(detail ? detail : xacct_strerror(status)));
        return;
    }
    if (status != 0) {
        /* A reservation that lapsed while the allow-list waited: try again. */
        step_failed(o, status == XACCT_ESTATE ? XACCT_EAGAIN : status,
                    xacct_strdup(detail ? detail : xacct_strerror(status)));
        return;
    }
    o->topic = xacct_strdup(topic_arn);
    int rc = xacct_deliver_template(o->ctx, o->account, o->id, o->topic, delivered, o);
    if (rc != 0)
        step_failed(o, rc, xacct_asprintf("cannot deliver the template: %s", xacct_strerror(rc)));
}

static void issue(void *arg);
static void allow(ob_t *o);

static void reserved(int status, const char *detail, const char *prev_state, void *arg)
{
    ob_t *o = arg;
    if (status == XACCT_EEXISTS) { /* another customer holds this ID: draw again */
        issue(o);
        return;
    }
    if (status == XACCT_ESTATE) {
        snprintf(o->state, sizeof(o->state), "%s", prev_state ? prev_state : "");
        fail(o, status, "customer %s is %s", o->account, o->state);
        return;
    }
    if (status == XACCT_ENOTFOUND) {
        fail(o, status, "no customer %s (onboard it first)", o->account);
        return;
    }
    if (status != 0) {
        fail_msg(o, status, xacct_ctx_store_error(o->ctx, status, detail, "storing the customer"));
        return;
    }
    o->reserved = true;
    snprintf(o->state, sizeof(o->state), "%s", o->rotate ? prev_state : "pending");
    o->deferred = o->rotate && o->connected;
    allow(o);
}

/* Allows the account to publish to a topic of its region. */
static void allow(ob_t *o)
{
    if (!xacct_region_valid(o->region)) {
        /* Not AWS failing: repeating would not finish anything. */
        char *msg =
            xacct_asprintf("customer %s has no region and aws.region is not set", o->account);
        if (o->reserved)
            abandon(o, XACCT_EINVAL, msg);
        else
            fail_msg(o, XACCT_EINVAL, msg);
        return;
    }
    int rc = xacct_publish_allow(o->ctx, o->account, o->id, o->region, allowed, o);
    if (rc != 0)
        step_failed(o, rc,
                    xacct_asprintf("cannot update the publish allow-list: %s", xacct_strerror(rc)));
}

/* Draws an external ID and reserves it (nothing on the record yet). */
static void issue(void *arg)
{
    ob_t *o = arg;
    if (o->draws++ >= MAX_COLLISIONS) {
        fail(o, XACCT_EEXISTS, "could not draw an unused external ID in %d attempts",
             MAX_COLLISIONS);
        return;
    }
    int rc = xacct_extid_generate(o->id);
    if (rc != 0) {
        fail(o, rc, "cannot generate an external ID: %s", xacct_strerror(rc));
        return;
    }
    rc = xacct_customers_reserve_id(o->ctx->store, o->account, o->id, o->rotate, RESERVE_LEASE_MS,
                                    reserved, o);
    if (rc != 0)
        fail_msg(o, rc, xacct_ctx_store_error(o->ctx, rc, NULL, "storing the customer"));
}

/* rotate: the record gives the old ID and the customer's region: that of
 * its topic, else of its stack, else the home region. */
static void got_record(int status, const char *detail, const xacct_customer_t *c, void *arg)
{
    ob_t *o = arg;
    if (status == XACCT_ENOTFOUND) {
        fail(o, status, "no customer %s", o->account);
        return;
    }
    if (status != 0) {
        fail_msg(o, status, xacct_ctx_store_error(o->ctx, status, detail, "reading the customer"));
        return;
    }
    if (o->resume && c->state != XACCT_CUSTOMER_PENDING) {
        snprintf(o->state, sizeof(o->state), "%s", xacct_customer_state_name(c->state));
        fail(o, XACCT_ESTATE, "customer %s is %s", o->account, o->state);
        return;
    }
    o->old_id = xacct_strdup(c->external_id ? c->external_id : "");
    o->old_pending = xacct_strdup(c->pending_external_id ? c->pending_external_id : "");
    o->stack_id = xacct_strdup(c->stack_id ? c->stack_id : "");
    o->connected = c->state == XACCT_CUSTOMER_ACTIVE || c->state == XACCT_CUSTOMER_DEGRADED;
    if (!o->connected && c->state != XACCT_CUSTOMER_PENDING &&
        c->state != XACCT_CUSTOMER_REJECTED) {
        snprintf(o->state, sizeof(o->state), "%s", xacct_customer_state_name(c->state));
        fail(o, XACCT_ESTATE, "customer %s is %s", o->account, o->state);
        return;
    }
    const char *topic = c->topic_arn && c->topic_arn[0] ? c->topic_arn : NULL;
    const char *region = c->region && c->region[0] ? c->region : NULL;
    xacct_arn_t arn;
    if (topic != NULL && xacct_arn_parse(topic, &arn) == 0 && xacct_region_valid(arn.region))
        snprintf(o->region, sizeof(o->region), "%s", arn.region);
    else if (region != NULL && xacct_region_valid(region))
        snprintf(o->region, sizeof(o->region), "%s", region);
    else
        snprintf(o->region, sizeof(o->region), "%s",
                 o->ctx->cfg->aws_region ? o->ctx->cfg->aws_region : "");
    if (o->resume && o->asked[0] != '\0' && o->region[0] != '\0' &&
        strcmp(o->asked, o->region) != 0) {
        /* Its ID, topic and template belong to its region: handing the
         * same record back would silently ignore the region asked for. */
        o->other_region = true;
        snprintf(o->state, sizeof(o->state), "pending");
        fail(o, XACCT_ESTATE, "customer %s is already pending in %s, not %s", o->account, o->region,
             o->asked);
        return;
    }
    if (o->resume) {
        /* The record's own ID, issued before: nothing new is drawn. */
        if (strlen(o->old_id) != XACCT_EXTID_LEN) {
            fail(o, XACCT_EPARSE, "customer %s has no usable external ID", o->account);
            return;
        }
        memcpy(o->id, o->old_id, XACCT_EXTID_LEN + 1);
        o->issued = true;
        snprintf(o->state, sizeof(o->state), "pending");
        allow(o);
        return;
    }
    issue(o);
}

static void read_record(void *arg)
{
    ob_t *o = arg;
    int rc = xacct_customers_get(o->ctx->store, o->account, got_record, o);
    if (rc != 0)
        fail_msg(o, rc, xacct_ctx_store_error(o->ctx, rc, NULL, "reading the customer"));
}

/* ---- entry points ------------------------------------------------------------ */

static ob_t *ob_new(xacct_ctx_t *ctx, const char *account, const char *actor, xacct_onboard_cb cb,
                    void *arg)
{
    ob_t *o = xacct_calloc(1, sizeof(*o));
    o->ctx = ctx;
    o->account = xacct_strdup(account);
    o->actor = xacct_strdup(actor ? actor : "cli");
    o->cb = cb;
    o->arg = arg;
    return o;
}

int xacct_onboard_customer(xacct_ctx_t *ctx, const char *account, const char *region,
                           const char *actor, xacct_onboard_cb cb, void *arg)
{
    if (ctx == NULL || ctx->store == NULL || cb == NULL || account == NULL ||
        !xacct_account_id_valid(account))
        return XACCT_EINVAL;
    if (region == NULL)
        region = ctx->cfg->aws_region;
    /* A region no partner topic serves would leave a pending customer
     * whose ID no stack can ever report: nothing is stored for it. */
    if (region == NULL || !xacct_region_valid(region) ||
        !xacct_publish_region_has_topic(ctx->cfg, region))
        return XACCT_EINVAL;
    ob_t *o = ob_new(ctx, account, actor, cb, arg);
    snprintf(o->region, sizeof(o->region), "%s", region);
    xacct_ctx_later(ctx, 0, issue, o);
    return 0;
}

int xacct_onboard_resume(xacct_ctx_t *ctx, const char *account, const char *region,
                         const char *actor, xacct_onboard_cb cb, void *arg)
{
    if (ctx == NULL || ctx->store == NULL || cb == NULL || account == NULL ||
        !xacct_account_id_valid(account) || (region != NULL && !xacct_region_valid(region)))
        return XACCT_EINVAL;
    ob_t *o = ob_new(ctx, account, actor, cb, arg);
    o->resume = true;
    snprintf(o->asked, sizeof(o->asked), "%s", region ? region : "");
    xacct_ctx_later(ctx, 0, read_record, o);
    return 0;
}

int xacct_onboard_rotate(xacct_ctx_t *ctx, const char *account, const char *actor,
                         xacct_onboard_cb cb, void *arg)
{
    if (ctx == NULL || ctx->store == NULL || cb == NULL || account == NULL ||
        !xacct_account_id_valid(account))
        return XACCT_EINVAL;
    ob_t *o = ob_new(ctx, account, actor, cb, arg);
    o->rotate = true;
    xacct_ctx_later(ctx, 0, read_record, o);
    return 0;
}
