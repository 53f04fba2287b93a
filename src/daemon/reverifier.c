/* SPDX-License-Identifier: MIT */
/*
 * The re-verification job of one worker, on the shared sweeper (sweeper.h):
 * it takes due accounts from the shared schedule as the sweeper's token
 * bucket (check.reverify_rate) allows, runs the three-probe check on each and
 * records the outcome. When nothing is due the sweeper sleeps until the
 * earliest due time (at most a minute, or one interval). While a rotation is pending the check may get
 * in with the pending ID (the stack's update changed the role before its
 * Update message arrived): that is secure, and said in the log and the audit
 * trail; the IDs are swapped only by that Update.
 */
#include "xacct/reverifier.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/arn.h"
#include "xacct/check.h"
#include "xacct/metrics.h"
#include "xacct/reverify.h"

#define OFF_RECHECK_MS 60000      /* interval 0: look at the configuration again after this */
#define CHECK_DEADLINE_MS 60000   /* transient STS failures are retried this long ... */
#define CHECK_DEADLINE_MIN_MS 5000 /* ... or half an interval, but at least this */
/* A taken account is not taken again for this long: longer than any check
 * (CHECK_DEADLINE_MS, then its last probes and the record), so no two
 * workers check one account at once, and no longer than that, so an account
 * whose worker was killed is checked again minutes later, not an interval. */
#define LEASE_MS 120000
#define PROPAGATION_MAX_MS 10000  /* a verified role that is denied is denied; retry briefly */
#define TRANSIENT_RETRY_MAX_S 300 /* transient outcome: next try within this (or the interval) */
#define SPREAD 0.1                /* due times are jittered by +-10 % of the interval */
#define ENROL_BATCH 500           /* customers looked at per enrolment script */

typedef struct job job_t;
typedef struct reverifier reverifier_t;

struct reverifier {
    xacct_ctx_t *ctx;      /* borrowed */
    xacct_sweeper_t *sw;   /* owned; frees r through release */
    long long enrol_total; /* accounts this worker's current walk put on the
                              schedule or brought forward */
    long walked_interval;  /* the longest check.reverify_interval the schedule may
                              still hold due times from (see rewalk) */
    job_t *jobs;           /* every job alive (check or record in flight), doubly linked */
};

struct job {
    reverifier_t *r;
    job_t *prev, *next;
    char account[32];
    char *role_arn;        /* owned */
    char *external_id;     /* owned, secret */
    char *pending_id;      /* owned, secret: a rotation's pending ID, "" when none */
    char *last_request_id; /* owned: the record's when taken (an Update changes it) */
    xacct_customer_role_id_t trusted; /* the ID the check got in with */
    xacct_check_t *check;  /* in flight, or NULL */
};

static const xacct_config_t *cfg(const reverifier_t *r)
{
    return r->ctx->cfg;
}

static void job_free(job_t *j)
{
    reverifier_t *r = j->r;
    if (j->prev != NULL)
        j->prev->next = j->next;
    else
        r->jobs = j->next;
    if (j->next != NULL)
        j->next->prev = j->prev;
    free(j->role_arn);
    xacct_free_secret(j->external_id);
    xacct_free_secret(j->pending_id);
    free(j->last_request_id);
    free(j);
    xacct_sweeper_job_done(r->sw);
}

/* The most checks in flight at once: enough for the rate while STS is slow,
 * bounded so that a stuck STS cannot grow memory. */
static unsigned max_running(void *owner)
{
    long n = (long)cfg(owner)->check_reverify_rate * 10;
    return (unsigned)(n < 8 ? 8 : n > 2000 ? 2000 : n);
}

/* ---- recording an outcome ---------------------------------------------- */

static void on_recorded(int status, const char *detail, xacct_reverify_result_t result,
                        void *arg)
{
    job_t *j = arg;
    reverifier_t *r = j->r;
    xacct_log_t *lg = &r->ctx->log;
    if (status != 0) {
        if (!xacct_sweeper_stopped(r->sw))
            XACCT_LOG_WARN(lg, "reverify.record_failed", "account", j->account, "error",
                           xacct_errname(status), "detail", detail ? detail : "", "action",
                           "the lease runs out and the account is checked again", NULL);
    } else if (result == XACCT_REVERIFY_DEGRADED || result == XACCT_REVERIFY_RECOVERED) {
        XACCT_LOG_INFO(lg, "reverify.state", "account", j->account, "role_arn", j->role_arn,
                       "result", xacct_reverify_result_name(result), NULL);
    } else {
        XACCT_LOG_DEBUG(lg, "reverify.recorded", "account", j->account, "result",
                        xacct_reverify_result_name(result), NULL);
    }
    job_free(j);
}

/* An audit event of this worker's re-verification. */
static xacct_event_t worker_event(const reverifier_t *r, int64_t now, const char *type,
                                  const char *outcome, const char *reason)
{
    return (xacct_event_t){.v = XACCT_CODEC_VERSION, .ts = now, .type = type,
                           .outcome = outcome, .reason = reason, .actor = r->ctx->worker_id};
}

static void record(job_t *j, xacct_reverify_outcome_t outcome, const char *reason,
                   int64_t next_due_ms)
{
    reverifier_t *r = j->r;
    int64_t now = xacct_store_now_ms();
    xacct_event_t degraded = worker_event(r, now, "degraded", "failed", reason);
    xacct_event_t recovered = worker_event(r, now, "recovered", "success",
                                           "re-verified: assumable only with the external ID");
    xacct_event_t pending_trusted = worker_event(
        r, now, "reverified", "success",
        "re-verified with the pending external ID: the role already trusts it instead of the "
        "current one; the IDs are swapped when the stack's Update arrives");
    bool with_pending =
        outcome == XACCT_REVERIFY_SECURE && j->trusted == XACCT_CUSTOMER_ROLE_PENDING;
    xacct_reverify_record_t in = {
        .account_id = j->account,
        .role_arn = j->role_arn,
        .external_id = j->external_id,
        .pending_external_id = j->pending_id,
        .last_request_id = j->last_request_id,
        .outcome = outcome,
        .reason = reason,
        .next_due_ms = next_due_ms > 0 ? next_due_ms : now,
        .degraded_event = &degraded,
        .recovered_event = &recovered,
        .pending_trusted_event = with_pending ? &pending_trusted : NULL,
        .now_ms = now,
    };
    if (xacct_reverify_record(r->ctx->store, &in, on_recorded, j) != 0)
        job_free(j); /* the store is going away; the lease brings the account back later */
}

static void on_check(xacct_check_result_t result, const char *detail, unsigned attempts,
                     void *arg)
{
    (void)attempts;
    job_t *j = arg;
    reverifier_t *r = j->r;
    j->check = NULL;
    int64_t now = xacct_store_now_ms();
    long interval = cfg(r)->check_reverify_interval;
    int64_t next = xacct_reverify_next_due(now, interval, SPREAD);
    char why[1024];
    if (result != XACCT_CHECK_CANCELED)
        xacct_metrics_inc(r->ctx->metrics, XACCT_M_REVERIFICATIONS,
                          xacct_check_result_name(result), NULL);
    switch (result) {
    case XACCT_CHECK_SECURE:
        if (j->trusted == XACCT_CUSTOMER_ROLE_PENDING)
            XACCT_LOG_INFO(&r->ctx->log, "reverify.pending_trusted", "account", j->account,
                           "role_arn", j->role_arn, "detail",
                           "the role already trusts the rotation's pending external ID instead "
                           "of the current one; the IDs are swapped when the stack's Update "
                           "arrives",
                           NULL);
        record(j, XACCT_REVERIFY_SECURE, "", next);
        return;
    case XACCT_CHECK_INSECURE:
        snprintf(why, sizeof(why), "re-verification: %s", detail ? detail : "insecure");
        record(j, XACCT_REVERIFY_DRIFTED, why, next);
        return;
    case XACCT_CHECK_NOT_ASSUMABLE:
        snprintf(why, sizeof(why), "%s%s",
                 "re-verification: the role can no longer be assumed with the external ID: "
                 "it was deleted, or its trust policy no longer allows the partner account "
                 "with this sts:ExternalId",
                 j->pending_id[0] ? " (nor with the rotation's pending one)" : "");
        record(j, XACCT_REVERIFY_DRIFTED, why, next);
        return;
    case XACCT_CHECK_ERROR:
    case XACCT_CHECK_TRANSIENT: {
        /* Nothing is known about the role: try again sooner than a whole
         * interval, and change nothing. */
        XACCT_LOG_WARN(&r->ctx->log, "reverify.unknown", "account", j->account, "result",
                       xacct_check_result_name(result), "detail", detail ? detail : "",
                       "action", "checking again later", NULL);
        long retry = interval < TRANSIENT_RETRY_MAX_S ? interval : TRANSIENT_RETRY_MAX_S;
        record(j, XACCT_REVERIFY_UNKNOWN, "", xacct_reverify_next_due(now, retry, 0.5));
        return;
    }
    case XACCT_CHECK_CANCELED:
        /* Shutting down: due now, for another worker. */
        record(j, XACCT_REVERIFY_UNKNOWN, "", now);
        return;
    }
}

static void start_job(reverifier_t *r, const xacct_reverify_item_t *it)
{
    job_t *j = xacct_calloc(1, sizeof(*j));
    j->r = r;
    snprintf(j->account, sizeof(j->account), "%s", it->account_id);
    j->role_arn = xacct_strdup(it->role_arn);
    j->external_id = xacct_strdup(it->external_id);
    j->pending_id = xacct_strdup(it->pending_external_id ? it->pending_external_id : "");
    j->last_request_id = xacct_strdup(it->last_request_id ? it->last_request_id : "");
    j->next = r->jobs;
    if (r->jobs != NULL)
        r->jobs->prev = j;
    r->jobs = j;
    xacct_sweeper_job_started(r->sw);

    uint64_t prop = (uint64_t)cfg(r)->check_propagation_timeout * 1000;
    uint64_t tenth = (uint64_t)cfg(r)->check_reverify_interval * 100;
    if (prop > tenth)
        prop = tenth;
    if (prop > PROPAGATION_MAX_MS)
        prop = PROPAGATION_MAX_MS;
    /* Nothing waits for a re-verification: when STS is unavailable, give up
     * soon and try again later rather than hold a check open. */
    uint64_t deadline = (uint64_t)cfg(r)->check_reverify_interval * 500;
    if (deadline > CHECK_DEADLINE_MS)
        deadline = CHECK_DEADLINE_MS;
    if (deadline < CHECK_DEADLINE_MIN_MS)
        deadline = CHECK_DEADLINE_MIN_MS;
    xacct_check_params_t p = {
        .role_arn = j->role_arn,
        .external_id = j->external_id,
        .region = xacct_region_valid(it->region) ? it->region : NULL,
        .session_name = "xacct-reverify",
        .propagation_timeout_ms = prop,
        .deadline_ms = uv_now(r->ctx->loop) + deadline,
        .pending_external_id = j->pending_id,
        .trusted = &j->trusted,
    };
    int rc = xacct_check_start(r->ctx->loop, r->ctx->aws, &p, on_check, j, &j->check);
    if (rc != 0) {
        j->check = NULL;
        on_check(XACCT_CHECK_ERROR, xacct_strerror(rc), 0, j);
    }
}

/* ---- taking due accounts ----------------------------------------------- */

static void on_taken(int status, const char *detail, const xacct_reverify_item_t *items,
                     size_t n, int64_t next_due_ms, void *arg)
{
    reverifier_t *r = arg;
    if (status != 0 || xacct_sweeper_stopped(r->sw)) {
        xacct_sweeper_failed(r->sw, "reverify.take_failed", status, detail);
        return;
    }
    for (size_t i = 0; i < n; i++)
        start_job(r, &items[i]);
    xacct_sweeper_done(r->sw, next_due_ms, false);
}

static int take(void *owner, size_t want)
{
    reverifier_t *r = owner;
    int64_t now = xacct_store_now_ms();
    return xacct_reverify_take(r->ctx->store, now, want, now + LEASE_MS, on_taken, r);
}

/* Once per start, connected customers missing from the schedule (activated
 * before re-verification existed) are put on it, a batch at a time. */
static void on_enrolled(int status, const char *detail, long long n, long long next, void *arg)
{
    reverifier_t *r = arg;
    if (!xacct_sweeper_enrolled(r->sw, status, detail, next))
        return;
    r->enrol_total += n;
    if (next == 0) {
        char total[32];
        snprintf(total, sizeof(total), "%lld", r->enrol_total);
        XACCT_LOG_INFO(&r->ctx->log, "reverify.enrolled", "accounts", total, NULL);
    }
}

static int enrol(void *owner, long long cursor, size_t batch)
{
    reverifier_t *r = owner;
    long interval = cfg(r)->check_reverify_interval;
    /* The latest due time today's interval gives: a jittered interval (a
     * transient outcome's retry is sooner), plus a lease. Anything later was
     * scheduled under a longer interval and is brought forward. */
    int64_t latest = xacct_store_now_ms() + (int64_t)interval * 1000 +
                     (int64_t)((double)interval * 1000.0 * SPREAD) + LEASE_MS;
    return xacct_reverify_enrol_missing(r->ctx->store, cursor, (long long)batch, interval,
                                        latest, on_enrolled, r);
}

/* A reload that shortens check.reverify_interval would otherwise leave every
 * customer due on the old, longer one (a day, say, when an hour was asked
 * for): the walk is done again and brings them forward. A longer interval
 * needs no walk; it is remembered, so that shortening it later does. */
static bool rewalk(void *owner)
{
    reverifier_t *r = owner;
    long interval = cfg(r)->check_reverify_interval;
    if (interval <= 0 || interval == r->walked_interval)
        return false;
    bool shorter = interval < r->walked_interval;
    r->walked_interval = interval;
    if (shorter)
        r->enrol_total = 0;
    return shorter;
}

static double rate(void *owner)
{
    return cfg(owner)->check_reverify_rate;
}

static uint64_t paused_ms(void *owner)
{
    return cfg(owner)->check_reverify_interval <= 0 ? OFF_RECHECK_MS : 0;
}

static uint64_t max_sleep_ms(void *owner)
{
    return (uint64_t)cfg(owner)->check_reverify_interval * 1000;
}

/* SIGTERM: cancelling fires on_check at once, which hands the account back;
 * a job's record may also free it, so read next first. */
static void cancel(void *owner)
{
    reverifier_t *r = owner;
    job_t *next;
    for (job_t *j = r->jobs; j != NULL; j = next) {
        next = j->next;
        if (j->check != NULL) {
            xacct_check_t *c = j->check;
            j->check = NULL;
            xacct_check_cancel(c);
        }
    }
}

static void release(void *owner)
{
    free(owner);
}

static const xacct_sweeper_ops_t ops = {
    .name = "reverify",
    .enrol = enrol,
    .rewalk = rewalk,
    .take = take,
    .max_running = max_running,
    .rate = rate,
    .paused_ms = paused_ms,
    .max_sleep_ms = max_sleep_ms,
    .cancel = cancel,
    .release = release,
    .again_ms = 0,
    .enrol_batch = ENROL_BATCH,
};

/* ---- start ------------------------------------------------------------- */

int xacct_reverifier_start(xacct_ctx_t *ctx, xacct_sweeper_t **out)
{
    reverifier_t *r = xacct_calloc(1, sizeof(*r));
    r->ctx = ctx;
    r->walked_interval = ctx->cfg->check_reverify_interval; /* the first walk is due anyway */
    int rc = xacct_sweeper_new(ctx, &ops, r, out); /* on failure r is released */
    if (rc == 0)
        r->sw = *out;
    return rc;
}
