/* SPDX-License-Identifier: MIT */
/*
 * Cancel and clean-up as asynchronous operations: (cancel: the state change
 * in Redis →) delete the template from S3 → rewrite the topic policy →
 * take the entry off the cleanup zset. Every step is the callback of the one
 * before; the first failure reschedules the entry and ends the walk with the
 * step's status and a one-line detail.
 */
#include "xacct/cancel.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/deliver.h"
#include "xacct/expiry.h"
#include "xacct/onboard.h"
#include "xacct/arn.h"
#include "xacct/publish.h"

/* ---- clean-up of one entry ------------------------------------------------------ */

typedef struct cleanup {
    xacct_ctx_t *ctx;
    char *member;                 /* the cleanup entry (owned; holds a retired ID) */
    xacct_expiry_cleanup_t parts; /* member, split (wiped) */
    int status;                   /* the failure, or 0 */
    char *detail;                 /* its line (owned) */
    xacct_cancel_done_cb cb;
    void *arg;
} cleanup_t;

static void cleanup_finish(cleanup_t *c)
{
    c->cb(c->status, c->detail, c->arg);
    xacct_free_secret(c->member);
    OPENSSL_cleanse(&c->parts, sizeof(c->parts));
    free(c->detail);
    free(c);
}

static void finish_later(void *arg)
{
    cleanup_finish(arg);
}

static void rescheduled(int status, const char *detail, long long delay_ms, void *arg)
{
    (void)status;
    (void)detail;
    (void)delay_ms;
    /* Not rescheduled (Redis away): the entry's lease runs out instead. */
    cleanup_finish(arg);
}

/* Records the failure (detail owned) and reschedules the entry. */
static void cleanup_fail(cleanup_t *c, int status, char *detail)
{
    c->status = status;
    c->detail = detail;
    xacct_store_t *s = c->ctx->store;
    if (s == NULL ||
        xacct_expiry_cleanup_retry(s, c->member, xacct_store_now_ms(), rescheduled, c) != 0)
        cleanup_finish(c);
}

static void removed_entry(int status, const char *detail, long long n, void *arg)
{
    (void)n;
    cleanup_t *c = arg;
    if (status != 0) {
        /* Done but not recorded: the next attempt finds nothing to do. */
        c->status = status;
        c->detail = xacct_ctx_store_error(c->ctx, status, detail, "finishing the clean-up");
    }
    cleanup_finish(c);
}

static void remove_entry(cleanup_t *c)
{
    int rc = c->ctx->store != NULL
                 ? xacct_expiry_cleanup_done(c->ctx->store, c->member, removed_entry, c)
                 : XACCT_ESHUTDOWN;
    if (rc != 0) {
        c->status = rc;
        c->detail = xacct_ctx_store_error(c->ctx, rc, NULL, "finishing the clean-up");
        cleanup_finish(c);
    }
}

static void synced(int status, const char *detail, void *arg)
{
    cleanup_t *c = arg;
    if (status != 0) {
        cleanup_fail(c, status,
                     xacct_asprintf("taking the account off topic %s: %s", c->parts.topic_arn,
                                    detail ? detail : xacct_strerror(status)));
        return;
    }
    remove_entry(c);
}

static void template_removed(int status, const char *detail, void *arg)
{
    cleanup_t *c = arg;
    if (status != 0) {
        cleanup_fail(c, status,
                     xacct_asprintf("deleting the template: %s",
                                    detail ? detail : xacct_strerror(status)));
        return;
    }
    if (c->parts.topic_arn[0] == '\0') {
        remove_entry(c);
        return;
    }
    /* The account left the topic's set with the state change; the policy
     * is rewritten from the set under the lock onboarding takes. */
    int rc = xacct_publish_sync(c->ctx, c->parts.topic_arn, synced, c);
    if (rc != 0)
        cleanup_fail(c, rc, xacct_asprintf("taking the account off its topic: %s",
                                           xacct_strerror(rc)));
}

static void cleanup_start(void *arg)
{
    cleanup_t *c = arg;
    if (xacct_expiry_cleanup_parse(c->member, &c->parts) != 0) {
        /* Not one of ours: nothing can be done with it but drop it. */
        c->status = XACCT_EINVAL;
        c->detail = xacct_strdup("malformed cleanup entry dropped");
        if (c->ctx->store == NULL ||
            xacct_expiry_cleanup_done(c->ctx->store, c->member, removed_entry, c) != 0)
            cleanup_finish(c);
        return;
    }
    if (c->parts.external_id[0] == '\0') {
        /* Only a topic's policy to rewrite (an account that left it). */
        template_removed(0, NULL, c);
        return;
    }
    int rc = xacct_deliver_remove(c->ctx, c->parts.account_id, c->parts.external_id,
                                  template_removed, c);
    if (rc != 0)
        cleanup_fail(c, rc, xacct_asprintf("deleting the template: %s", xacct_strerror(rc)));
}

int xacct_cancel_cleanup(xacct_ctx_t *ctx, const char *member, xacct_cancel_done_cb cb, void *arg)
{
    if (ctx == NULL || member == NULL || member[0] == '\0' || cb == NULL)
        return XACCT_EINVAL;
    cleanup_t *c = xacct_calloc(1, sizeof(*c));
    c->ctx = ctx;
    c->member = xacct_strdup(member);
    c->cb = cb;
    c->arg = arg;
    xacct_ctx_later(ctx, 0, ctx->store != NULL ? cleanup_start : finish_later, c);
    if (ctx->store == NULL) {
        c->status = XACCT_ESHUTDOWN;
        c->detail = xacct_strdup("Redis is not available");
    }
    return 0;
}

/* ---- cancel ------------------------------------------------------------------- */

typedef struct cancel {
    xacct_ctx_t *ctx;
    char account[16];
    char *actor;         /* owned */
    char state[32];      /* the state found */
    bool already;
    bool cleaned;
    bool pending_only;   /* refuse a cancelled customer (xacct_cancel_pending_only) */
    xacct_cancel_cb cb;
    void *arg;
} cancel_t;

static void cancel_finish(cancel_t *o, int status, const char *detail)
{
    xacct_cancel_result_t res = {
        .account_id = o->account,
        .state = o->state[0] ? o->state : NULL,
        .already = o->already,
        .cleaned = o->cleaned,
    };
    o->cb(status, detail, &res, o->arg);
    free(o->actor);
    free(o);
}

/* The cancel is committed (state, event and the cleanup entry in one
 * script) before AWS is asked for anything, so a clean-up that fails is not
 * a failed cancel: the entry stays due and the workers finish it. */
static void cleaned(int status, const char *detail, void *arg)
{
    cancel_t *o = arg;
    if (status != 0) {
        char *why = xacct_asprintf("the clean-up of %s's onboarding failed and xacctd retries "
                                   "it: %s",
                                   o->account, detail ? detail : xacct_strerror(status));
        cancel_finish(o, 0, why);
        free(why);
        return;
    }
    o->cleaned = true;
    cancel_finish(o, 0, NULL);
}

static void cancelled(int status, const char *detail, xacct_expiry_cancel_result_t result,
                      const char *state, const char *member, void *arg)
{
    cancel_t *o = arg;
    snprintf(o->state, sizeof(o->state), "%s", state ? state : "");
    if (status == 0 && result == XACCT_EXPIRY_ALREADY && o->pending_only)
        status = XACCT_ESTATE; /* its due clean-up is left to the workers */
    if (status == XACCT_ESTATE) {
        char why[160];
        snprintf(why, sizeof(why),
                 "customer %s is %s; only a pending onboarding can be cancelled", o->account,
                 o->state);
        cancel_finish(o, status, why);
        return;
    }
    if (status == XACCT_ENOTFOUND) {
        char why[64];
        snprintf(why, sizeof(why), "no customer %s", o->account);
        cancel_finish(o, status, why);
        return;
    }
    if (status != 0) {
        char *why = xacct_ctx_store_error(o->ctx, status, detail, "cancelling the onboarding");
        cancel_finish(o, status, why);
        free(why);
        return;
    }
    o->already = result == XACCT_EXPIRY_ALREADY;
    if (member == NULL || member[0] == '\0') {
        o->cleaned = true;
        cancel_finish(o, 0, NULL);
        return;
    }
    int rc = xacct_cancel_cleanup(o->ctx, member, cleaned, o);
    if (rc != 0)
        cleaned(rc, xacct_strerror(rc), o);
}

static void cancel_start(void *arg)
{
    cancel_t *o = arg;
    char reason[160];
    snprintf(reason, sizeof(reason), "onboarding cancelled by %s", o->actor);
    xacct_event_t ev = xacct_onboard_event("cancelled", "ok", reason, o->actor);
    int rc = o->ctx->store != NULL
                 ? xacct_expiry_cancel(o->ctx->store, o->account, &ev, reason, cancelled, o)
                 : XACCT_ESHUTDOWN;
    if (rc != 0) {
        char *why = xacct_ctx_store_error(o->ctx, rc, NULL, "cancelling the onboarding");
        cancel_finish(o, rc, why);
        free(why);
    }
}

static int cancel_begin(xacct_ctx_t *ctx, const char *account, const char *actor,
                        bool pending_only, xacct_cancel_cb cb, void *arg)
{
    if (ctx == NULL || cb == NULL || account == NULL || !xacct_account_id_valid(account))
        return XACCT_EINVAL;
    cancel_t *o = xacct_calloc(1, sizeof(*o));
    o->ctx = ctx;
    o->pending_only = pending_only;
    snprintf(o->account, sizeof(o->account), "%s", account);
    o->actor = xacct_strdup(actor ? actor : "cli");
    o->cb = cb;
    o->arg = arg;
    xacct_ctx_later(ctx, 0, cancel_start, o);
    return 0;
}

int xacct_cancel_onboarding(xacct_ctx_t *ctx, const char *account, const char *actor,
                            xacct_cancel_cb cb, void *arg)
{
    return cancel_begin(ctx, account, actor, false, cb, arg);
}

int xacct_cancel_pending_only(xacct_ctx_t *ctx, const char *account, const char *actor,
                              xacct_cancel_cb cb, void *arg)
{
    return cancel_begin(ctx, account, actor, true, cb, arg);
}
