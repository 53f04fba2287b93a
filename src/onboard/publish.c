/* SPDX-License-Identifier: MIT */
/*
 * The publish allow-list as one asynchronous operation per call: a small
 * state machine that takes the region's Redis lock (retrying with a growing
 * pause while another writer holds it), reads the accounts of a topic, reads
 * the topic's policy, renders the managed statements, writes the policy when
 * it changed, records the chosen topic, and always releases the lock it took
 * before reporting. Each step is the callback of the one before, so the
 * daemon's loop keeps running while it waits.
 */
#include "xacct/publish.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xacct/arn.h"
#include "xacct/customers.h"
#include "xacct/extid.h"
#include "xacct/sns.h"
#include "xacct/topic_policy.h"

#include "publish_lease.h"

/* The lock's lease, extended every LOCK_RENEW_MS while its holder works
 * (publish_lease.h): a writer that dies holding it stops the others of its
 * region for at most this long. */
#define LOCK_TTL_MS 10000
#define LOCK_RENEW_MS 3000
/* A holder sends no SetTopicAttributes once LOCK_TTL_MS - LOCK_MARGIN_MS
 * has passed since it sent the last command by which Redis confirmed the
 * lock was its own: the lease may have run out and another writer be
 * editing the policy. The margin covers what follows the check: the
 * request may still wait in the HTTP client for a connection and its TLS
 * handshake (a fraction of a second unless AWS is failing anyway), SNS
 * takes a moment to apply it, and Redis's clock may run a little faster
 * than ours (Redlock allows 1% of the lease). Two seconds leaves the holder
 * 8 s after each renewal, which come every 3 s: one lost to a Redis hiccup
 * does not stop it. SNS has no conditional write, so a request held up
 * longer than the margin after the check can still land late: the limit of
 * a lease without a fencing token. */
#define LOCK_MARGIN_MS 2000
#define LOCK_WAIT_MS 60000 /* how long to queue behind other writers */
#define LOCK_PAUSE_MIN_MS 20
#define LOCK_PAUSE_MAX_MS 200
#define MAX_PER_TOPIC                                                                              \
    ((long long)XACCT_TOPIC_POLICY_MAX_STATEMENTS * XACCT_TOPIC_POLICY_MAX_PRINCIPALS)

typedef struct pub {
    xacct_ctx_t *ctx;
    bool allow;        /* xacct_publish_allow; else xacct_publish_sync */
    char *account;     /* allow: the account to add (owned) */
    char *external_id; /* allow: the ID it is allowed for (owned) */
    bool closed;       /* allow: the onboarding closed meanwhile: the account is left out */
    char *region;      /* whose lock and topics (owned) */
    char **candidates; /* topics to try, in order (owned) */
    size_t ncand;
    size_t i;                      /* the candidate being tried */
    char *previous;                /* allow: the account's topic before, or "" (owned) */
    char *chosen;                  /* allow: the topic recorded (owned) */
    char lock[XACCT_ARN_MAX + 16]; /* "topics:<region>" */
    char token[64];                /* this holder's lock token */
    bool locked;                   /* the lock is ours: release it before finishing */
    uint64_t lock_sent_ns;         /* uv_hrtime() when the last lock attempt was sent */
    xacct__publish_lease_t *lease; /* keeps the lock's lease alive while locked */
    uint64_t deadline;             /* stop waiting for the lock (loop ms) */
    uint64_t pause;                /* next wait between lock attempts */
    char **members;                /* accounts of the topic being written (owned) */
    size_t nmembers;
    bool member;  /* the account is one of them */
    bool sent;    /* a SetTopicAttributes attempt of this topic was let through */
    bool lapsed;  /* one was withheld: the lease was lost */
    int status;   /* first failure, or 0 */
    char *detail; /* its one-line description (owned) */
    xacct_publish_allow_cb allow_cb;
    xacct_publish_done_cb done_cb;
    void *arg;
} pub_t;

static void lock_try(void *arg);
static void release(pub_t *p);

static void free_members(pub_t *p)
{
    for (size_t i = 0; i < p->nmembers; i++)
        free(p->members[i]);
    free(p->members);
    p->members = NULL;
    p->nmembers = 0;
}

static void finish(pub_t *p)
{
    if (p->allow)
        p->allow_cb(p->status, p->detail, p->status == 0 ? p->chosen : NULL, p->arg);
    else
        p->done_cb(p->status, p->detail, p->arg);
    free_members(p);
    for (size_t i = 0; i < p->ncand; i++)
        free(p->candidates[i]);
    free(p->candidates);
    free(p->account);
    free(p->external_id);
    free(p->region);
    free(p->previous);
    free(p->chosen);
    free(p->detail);
    free(p);
}

static void finish_later(void *arg)
{
    finish(arg);
}

/* Records the failure (detail is an owned message) and winds down. */
static void fail_msg(pub_t *p, int status, char *detail)
{
    p->status = status;
    free(p->detail);
    p->detail = detail;
    if (p->locked)
        release(p);
    else
        finish(p);
}

static void fail(pub_t *p, int status, const char *fmt, ...) XACCT_PRINTF(3, 4);
static void fail(pub_t *p, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = xacct_vasprintf(fmt, ap);
    va_end(ap);
    fail_msg(p, status, msg);
}

static void fail_store(pub_t *p, int status, const char *detail, const char *what)
{
    fail_msg(p, status, xacct_ctx_store_error(p->ctx, status, detail, what));
}

static void fail_aws(pub_t *p, int status, const char *detail, const char *api, const char *topic)
{
    char what[XACCT_ARN_MAX + 64];
    snprintf(what, sizeof(what), "%s %s", api, topic);
    fail_msg(p, status, xacct_ctx_aws_error(status, detail, what));
}

/* ---- the lock ------------------------------------------------------------ */

static void lock_done(int status, const char *detail, int acquired, void *arg);
static void locked(pub_t *p);

static void lock_try(void *arg)
{
    pub_t *p = arg;
    p->lock_sent_ns = uv_hrtime();
    int rc = p->ctx->store == NULL ? XACCT_ESHUTDOWN
                                   : xacct_store_lock_acquire(p->ctx->store, p->lock, p->token,
                                                              LOCK_TTL_MS, lock_done, p);
    if (rc != 0)
        fail_store(p, rc, NULL, "waiting for the topic policy lock");
}

static void lock_done(int status, const char *detail, int acquired, void *arg)
{
    pub_t *p = arg;
    if (status != 0) {
        fail_store(p, status, detail, "waiting for the topic policy lock");
        return;
    }
    if (acquired) {
        p->locked = true;
        p->lease = xacct__publish_lease_keep(p->ctx, p->lock, p->token, p->lock_sent_ns,
                                             LOCK_TTL_MS, LOCK_MARGIN_MS, LOCK_RENEW_MS);
        locked(p);
        return;
    }
    uv_update_time(p->ctx->loop);
    if (uv_now(p->ctx->loop) >= p->deadline) {
        fail_store(p, XACCT_ETIMEOUT, "another xacct is holding the lock",
                   "waiting for the topic policy lock");
        return;
    }
    xacct_ctx_later(p->ctx, p->pause, lock_try, p);
    p->pause = p->pause < LOCK_PAUSE_MAX_MS ? p->pause * 2 : LOCK_PAUSE_MAX_MS;
}

static void moved_done(int status, const char *detail, void *arg)
{
    pub_t *p = arg;
    p->status = status;
    free(p->detail);
    p->detail = detail ? xacct_strdup(detail) : NULL;
    finish(p);
}

static void release_done(int status, const char *detail, int released, void *arg)
{
    /* A release that fails leaves the lease to expire on its own. */
    pub_t *p = arg;
    /* The account moved: its old topic must stop allowing it. */
    if (p->status == 0 && p->allow && p->previous[0] != '\0' &&
        strcmp(p->previous, p->chosen) != 0 &&
        xacct_publish_sync(p->ctx, p->previous, moved_done, p) == 0)
        return;
    finish(p);
}

static void release(pub_t *p)
{
    p->locked = false;
    xacct__publish_lease_drop(p->lease);
    p->lease = NULL;
    /* At teardown the store may already be gone; its lease then runs out. */
    if (p->ctx->store == NULL ||
        xacct_store_lock_release(p->ctx->store, p->lock, p->token, release_done, p) != 0)
        release_done(0, NULL, 0, p);
}

/* ---- one topic's policy ---------------------------------------------------- */

static void members_done(int status, const char *detail, const char *const *accounts, size_t n,
                         void *arg);
static void policy_done(int status, const char *detail, const char *policy, void *arg);
static void set_done(int status, const char *detail, void *arg);
static void assign_done(int status, const char *detail, const char *topic_arn, long long count,
                        void *arg);

static const char *topic_of(const pub_t *p)
{
    return p->candidates[p->i];
}

/* Reads the accounts of the current candidate, then its policy. */
static void write_topic(pub_t *p)
{
    int rc = xacct_customers_topic_members(p->ctx->store, topic_of(p), members_done, p);
    if (rc != 0)
        fail_store(p, rc, NULL, "reading the topic's accounts");
}

static void next_candidate(pub_t *p)
{
    if (p->i < p->ncand) {
        write_topic(p);
        return;
    }
    fail(p, XACCT_ETOOBIG,
         "every topic of region %s is full (SNS allows 100 statements and 30 KB per topic "
         "policy): add a topic to sns.topic_arns",
         p->region);
}

static void members_done(int status, const char *detail, const char *const *accounts, size_t n,
                         void *arg)
{
    pub_t *p = arg;
    if (status != 0) {
        fail_store(p, status, detail, "reading the topic's accounts");
        return;
    }
    free_members(p);
    p->members = xacct_calloc(n + 1, sizeof(*p->members));
    p->member = false;
    for (size_t i = 0; i < n; i++) {
        p->members[i] = xacct_strdup(accounts[i]);
        if (p->allow && !p->closed && strcmp(accounts[i], p->account) == 0)
            p->member = true;
    }
    p->nmembers = n;
    int rc = xacct_sns_get_policy(p->ctx->aws, topic_of(p), policy_done, p);
    if (rc != 0)
        fail(p, rc, "GetTopicAttributes %s: %s", topic_of(p), xacct_strerror(rc));
}

static void after_policy(pub_t *p)
{
    if (!p->allow || p->closed) {
        release(p);
        return;
    }
    const char *one[] = {topic_of(p)};
    /* Recorded only while the lock is still ours: a writer that took it
     * after our lease ran out rewrote the policy from a set without the
     * account, and recording it now would leave it in the set but not in
     * the policy. */
    int rc = xacct_customers_topic_assign_locked(p->ctx->store, p->account, p->external_id, one,
                                                 1, MAX_PER_TOPIC, p->lock, p->token,
                                                 assign_done, p);
    if (rc != 0)
        fail_store(p, rc, NULL, "recording the topic");
}

/* Asked before each SetTopicAttributes attempt, the retries too: once the
 * lease is lost another writer may be editing this policy, and writing ours
 * could drop its account. */
static int lease_guard(void *arg)
{
    pub_t *p = arg;
    if (xacct__publish_lease_lost(p->lease)) {
        p->lapsed = true;
        return XACCT_ETIMEOUT;
    }
    p->sent = true;
    return 0;
}

/* Renders the topic's policy for its members (plus the account, if it is
 * not one yet) and writes it when it changed. */
static void policy_done(int status, const char *detail, const char *policy, void *arg)
{
    pub_t *p = arg;
    if (status != 0) {
        fail_aws(p, status, detail, "GetTopicAttributes", topic_of(p));
        return;
    }
    const char **all = xacct_calloc(p->nmembers + 1, sizeof(*all));
    for (size_t i = 0; i < p->nmembers; i++)
        all[i] = p->members[i];
    size_t total = p->nmembers;
    if (p->allow && !p->closed && !p->member)
        all[total++] = p->account;
    xacct_topic_policy_t tp;
    int rc = xacct_topic_policy_render(policy, topic_of(p), all, total, &tp);
    free(all);
    if (rc != 0) {
        fail(p, rc, "topic %s: its policy cannot be edited: %s", topic_of(p), xacct_strerror(rc));
        return;
    }
    if (!tp.fits) {
        xacct_topic_policy_destroy(&tp);
        if (p->allow && !p->closed) {
            p->i++;
            next_candidate(p);
        } else {
            /* Removing accounts only shrinks the policy; if it still does
             * not fit, the topic was overfilled by hand and SNS would
             * refuse it anyway. */
            fail(p, XACCT_ETOOBIG, "topic %s: its policy exceeds SNS's quotas", topic_of(p));
        }
        return;
    }
    if (!tp.changed) {
        xacct_topic_policy_destroy(&tp);
        after_policy(p);
        return;
    }
    p->sent = false;
    p->lapsed = false;
    rc = xacct_sns_set_policy(p->ctx->aws, topic_of(p), tp.document, lease_guard, set_done, p);
    xacct_topic_policy_destroy(&tp);
    if (rc != 0)
        fail(p, rc, "SetTopicAttributes %s: %s", topic_of(p), xacct_strerror(rc));
}

static void set_done(int status, const char *detail, void *arg)
{
    pub_t *p = arg;
    if (p->lapsed) {
        /* The caller's retry starts afresh, from the lock. */
        if (p->sent)
            fail(p, XACCT_ETIMEOUT,
                 "the topic policy lock of region %s ran out while Redis was unreachable; "
                 "SetTopicAttributes %s was not tried again",
                 p->region, topic_of(p));
        else
            fail(p, XACCT_ETIMEOUT,
                 "the topic policy lock of region %s ran out while Redis was unreachable; "
                 "nothing was written to %s",
                 p->region, topic_of(p));
        return;
    }
    if (status != 0)
        fail_aws(p, status, detail, "SetTopicAttributes", topic_of(p));
    else
        after_policy(p);
}

static void assign_done(int status, const char *detail, const char *topic_arn, long long count,
                        void *arg)
{
    (void)count;
    pub_t *p = arg;
    if (status == XACCT_ESTATE && !p->closed) {
        /* Cancelled or expired (or re-issued) while the policy was being
         * written: its clean-up found no topic recorded, so the policy just
         * written, which allows the account, is written again from the
         * topic's set, without it, before the lock goes. */
        p->closed = true;
        p->status = XACCT_ESTATE;
        free(p->detail);
        p->detail = xacct_asprintf("the onboarding of %s was closed or its external ID "
                                   "replaced while its topic was being set up",
                                   p->account);
        write_topic(p);
        return;
    }
    if (status == XACCT_EAGAIN) {
        /* The caller's retry starts afresh, from the lock. */
        fail(p, XACCT_ETIMEOUT,
             "the topic policy lock of region %s ran out before %s was recorded on %s; "
             "another writer may have rewritten its policy",
             p->region, p->account, topic_of(p));
        return;
    }
    if (status != 0) {
        fail_store(p, status, detail, "recording the topic");
        return;
    }
    p->chosen = xacct_strdup(topic_arn);
    release(p);
}

/* ---- the customer's current topic --------------------------------------- */

static void customer_done(int status, const char *detail, const xacct_customer_t *c, void *arg)
{
    pub_t *p = arg;
    /* No record yet: a new account's reserved ID (the assignment says). */
    if (status != 0 && status != XACCT_ENOTFOUND) {
        fail_store(p, status, detail, "reading the customer");
        return;
    }
    p->previous = xacct_strdup(status == 0 && c->topic_arn ? c->topic_arn : "");
    /* The account's current topic first, if it is a candidate: a customer
     * keeps its topic across rotations and re-onboardings. */
    for (size_t i = 1; i < p->ncand; i++)
        if (strcmp(p->candidates[i], p->previous) == 0) {
            char *t = p->candidates[i];
            memmove(&p->candidates[1], &p->candidates[0], i * sizeof(*p->candidates));
            p->candidates[0] = t;
        }
    next_candidate(p);
}

static void locked(pub_t *p)
{
    if (!p->allow) {
        write_topic(p);
        return;
    }
    int rc = xacct_customers_get(p->ctx->store, p->account, customer_done, p);
    if (rc != 0)
        fail_store(p, rc, NULL, "reading the customer");
}

/* ---- entry points ---------------------------------------------------------- */

static pub_t *pub_new(xacct_ctx_t *ctx, const char *region)
{
    pub_t *p = xacct_calloc(1, sizeof(*p));
    p->ctx = ctx;
    p->region = xacct_strdup(region);
    snprintf(p->lock, sizeof(p->lock), "topics:%s", region);
    p->pause = LOCK_PAUSE_MIN_MS;
    uv_update_time(ctx->loop);
    p->deadline = uv_now(ctx->loop) + LOCK_WAIT_MS;
    return p;
}

/* The lock token names this process; the random part keeps two holders in
 * one process apart. */
static int make_token(pub_t *p)
{
    char id[XACCT_EXTID_LEN + 1];
    int rc = xacct_extid_generate(id);
    if (rc == 0)
        snprintf(p->token, sizeof(p->token), "%d-%s", (int)getpid(), id);
    return rc;
}

/* Starts the machine on the next loop iteration, or reports an early
 * failure from there. */
static void start(pub_t *p)
{
    if (p->status == 0) {
        int rc = make_token(p);
        if (rc != 0) {
            p->status = rc;
            p->detail = xacct_strdup("cannot generate a lock token");
        }
    }
    xacct_ctx_later(p->ctx, 0, p->status == 0 ? lock_try : finish_later, p);
}

/* A candidate topic for region: an SNS topic ARN of sns.topic_arns there. */
static bool topic_in_region(const char *arn_text, const char *region)
{
    xacct_arn_t arn;
    return xacct_arn_parse(arn_text, &arn) == 0 && strcmp(arn.service, "sns") == 0 &&
           strcmp(arn.region, region) == 0;
}

bool xacct_publish_region_has_topic(const xacct_config_t *cfg, const char *region)
{
    if (cfg == NULL || region == NULL)
        return false;
    for (size_t i = 0; i < cfg->sns_topic_arns.n; i++)
        if (topic_in_region(cfg->sns_topic_arns.items[i], region))
            return true;
    return false;
}

int xacct_publish_allow(xacct_ctx_t *ctx, const char *account, const char *external_id,
                        const char *region, xacct_publish_allow_cb cb, void *arg)
{
    if (ctx == NULL || account == NULL || external_id == NULL || region == NULL || cb == NULL)
        return XACCT_EINVAL;
    pub_t *p = pub_new(ctx, region);
    p->allow = true;
    p->allow_cb = cb;
    p->arg = arg;
    p->account = xacct_strdup(account);
    p->external_id = xacct_strdup(external_id);
    const xacct_strlist_t *topics = &ctx->cfg->sns_topic_arns;
    p->candidates = xacct_calloc(topics->n + 1, sizeof(*p->candidates));
    for (size_t i = 0; i < topics->n; i++)
        if (topic_in_region(topics->items[i], region))
            p->candidates[p->ncand++] = xacct_strdup(topics->items[i]);
    if (p->ncand == 0) {
        p->status = XACCT_ENOTFOUND;
        p->detail = xacct_asprintf("no topic of sns.topic_arns is in region %s", region);
    }
    start(p);
    return 0;
}

int xacct_publish_sync(xacct_ctx_t *ctx, const char *topic_arn, xacct_publish_done_cb cb, void *arg)
{
    if (ctx == NULL || topic_arn == NULL || cb == NULL)
        return XACCT_EINVAL;
    xacct_arn_t arn;
    bool valid = xacct_arn_parse(topic_arn, &arn) == 0 && strcmp(arn.service, "sns") == 0;
    pub_t *p = pub_new(ctx, valid ? arn.region : "");
    p->done_cb = cb;
    p->arg = arg;
    p->candidates = xacct_calloc(1, sizeof(*p->candidates));
    p->candidates[0] = xacct_strdup(topic_arn);
    p->ncand = 1;
    if (!valid) {
        p->status = XACCT_EINVAL;
        p->detail = xacct_asprintf("'%s' is not an SNS topic ARN", topic_arn);
    }
    start(p);
    return 0;
}
