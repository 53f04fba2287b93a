/* SPDX-License-Identifier: MIT */
/*
 * The publish allow-list step (SPEC §1): which partner topic a customer's
 * stack phones home through, and the topic policies that let the customer's
 * account publish to it. Redis holds the accounts of each topic (topic:<arn>);
 * the managed statements of the topic policy are rewritten from that set.
 * Writers serialise on one Redis lock per region, so concurrent onboardings
 * never lose each other's accounts, and a topic whose policy would exceed
 * SNS's quotas is passed over for the next topic of the region.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "xacct/arn.h"
#include "xacct/customers.h"
#include "xacct/sns.h"
#include "xacct/topic_policy.h"

#define LOCK_TTL_MS 60000  /* a writer holds the lock for a few calls at most */
#define LOCK_WAIT_MS 60000 /* how long to queue behind other writers */
#define MAX_PER_TOPIC ((long long)XACCT_TOPIC_POLICY_MAX_STATEMENTS * XACCT_TOPIC_POLICY_MAX_PRINCIPALS)

/* ---- blocking wrappers --------------------------------------------------- */

typedef struct members_op {
    cli_res_t r;
    char **accounts; /* owned copies */
    size_t n;
} members_op_t;

static void members_done(int status, const char *detail, const char *const *accounts, size_t n,
                         void *arg)
{
    members_op_t *op = arg;
    if (status == 0) {
        op->accounts = xacct_calloc(n + 1, sizeof(*op->accounts));
        for (size_t i = 0; i < n; i++)
            op->accounts[i] = xacct_strdup(accounts[i]);
        op->n = n;
    }
    cli_res_set(&op->r, status, detail);
}

static void members_free(members_op_t *op)
{
    for (size_t i = 0; i < op->n; i++)
        free(op->accounts[i]);
    free(op->accounts);
    cli_res_clear(&op->r);
}

static int topic_members(cli_t *c, const char *topic, members_op_t *op)
{
    memset(op, 0, sizeof(*op));
    int rc = xacct_customers_topic_members(c->store, topic, members_done, op);
    if (rc != 0)
        return cli_fail_store(c, rc, NULL, "reading the topic's accounts");
    cli_wait(c, &op->r.done);
    if (op->r.status != 0)
        return cli_fail_store(c, op->r.status, op->r.detail, "reading the topic's accounts");
    return 0;
}

typedef struct policy_op {
    cli_res_t r;
    char *policy; /* owned */
} policy_op_t;

static void policy_done(int status, const char *detail, const char *policy, void *arg)
{
    policy_op_t *op = arg;
    if (status == 0)
        op->policy = xacct_strdup(policy);
    cli_res_set(&op->r, status, detail);
}

static void set_done(int status, const char *detail, void *arg)
{
    cli_res_set(arg, status, detail);
}

static int get_policy(cli_t *c, const char *topic, char **policy)
{
    *policy = NULL;
    policy_op_t op = {0};
    int rc = xacct_sns_get_policy(c->aws, topic, policy_done, &op);
    if (rc != 0)
        return cli_fail(c, "GetTopicAttributes %s: %s", topic, xacct_strerror(rc));
    cli_wait(c, &op.r.done);
    if (op.r.status != 0) {
        char what[XACCT_ARN_MAX + 64];
        snprintf(what, sizeof(what), "GetTopicAttributes %s", topic);
        cli_fail_aws(c, op.r.status, op.r.detail, what);
        cli_res_clear(&op.r);
        return CLI_FAIL;
    }
    cli_res_clear(&op.r);
    *policy = op.policy;
    return 0;
}

static int set_policy(cli_t *c, const char *topic, const char *policy)
{
    cli_res_t r = {0};
    int rc = xacct_sns_set_policy(c->aws, topic, policy, set_done, &r);
    if (rc != 0)
        return cli_fail(c, "SetTopicAttributes %s: %s", topic, xacct_strerror(rc));
    cli_wait(c, &r.done);
    if (r.status != 0) {
        char what[XACCT_ARN_MAX + 64];
        snprintf(what, sizeof(what), "SetTopicAttributes %s", topic);
        cli_fail_aws(c, r.status, r.detail, what);
        cli_res_clear(&r);
        return CLI_FAIL;
    }
    cli_res_clear(&r);
    return 0;
}

typedef struct assign_op {
    cli_res_t r;
    char *topic; /* owned */
} assign_op_t;

static void assign_done(int status, const char *detail, const char *topic_arn, long long count,
                        void *arg)
{
    (void)count;
    assign_op_t *op = arg;
    if (status == 0)
        op->topic = xacct_strdup(topic_arn);
    cli_res_set(&op->r, status, detail);
}

/* ---- the step ------------------------------------------------------------ */

static char *lock_name(const char *region)
{
    return xacct_asprintf("topics:%s", region);
}

/* Renders topic's policy for members (+ extra, if not NULL) and writes it
 * when it changed. *fits tells whether it fitted; nothing is written if not. */
static int rewrite(cli_t *c, const char *topic, char **members, size_t n, const char *extra,
                   bool *fits)
{
    char *current = NULL;
    int rc = get_policy(c, topic, &current);
    if (rc != 0)
        return rc;
    const char **all = xacct_calloc(n + 1, sizeof(*all));
    for (size_t i = 0; i < n; i++)
        all[i] = members[i];
    size_t total = n;
    if (extra != NULL)
        all[total++] = extra;
    xacct_topic_policy_t p;
    rc = xacct_topic_policy_render(current, topic, all, total, &p);
    free(all);
    free(current);
    if (rc != 0)
        return cli_fail(c, "topic %s: its policy cannot be edited: %s", topic, xacct_strerror(rc));
    *fits = p.fits;
    if (p.fits && p.changed)
        rc = set_policy(c, topic, p.document);
    xacct_topic_policy_destroy(&p);
    return rc;
}

int cli_publish_allow(cli_t *c, const char *account, const char *region, char **topic_out)
{
    *topic_out = NULL;
    const xacct_strlist_t *topics = &c->cfg->sns_topic_arns;
    const char **candidates = xacct_calloc(topics->n + 1, sizeof(*candidates));
    size_t ncand = 0;
    for (size_t i = 0; i < topics->n; i++) {
        xacct_arn_t arn;
        if (xacct_arn_parse(topics->items[i], &arn) == 0 && strcmp(arn.service, "sns") == 0 &&
            strcmp(arn.region, region) == 0)
            candidates[ncand++] = topics->items[i];
    }
    if (ncand == 0) {
        free(candidates);
        return cli_fail(c, "no topic of sns.topic_arns is in region %s", region);
    }

    xacct_customer_t *cust = NULL;
    cli_res_t r = {0};
    char token[64];
    char *lock = lock_name(region);
    char *previous = NULL;
    int rc = CLI_FAIL;
    if (cli_lock(c, lock, token, LOCK_TTL_MS, LOCK_WAIT_MS, &r) != 0) {
        cli_fail_store(c, r.status, r.detail, "waiting for the topic policy lock");
        cli_res_clear(&r);
        free(lock);
        free(candidates);
        return CLI_FAIL;
    }
    if (cli_customer_get(c, account, &cust, &r) != 0) {
        cli_fail_store(c, r.status, r.detail, "reading the customer");
        goto out;
    }
    previous = xacct_strdup(cust->topic_arn);

    /* The account's current topic first, if it is a candidate: a customer
     * keeps its topic across rotations and re-onboardings. */
    for (size_t i = 1; i < ncand; i++)
        if (strcmp(candidates[i], previous) == 0) {
            const char *t = candidates[i];
            memmove(&candidates[1], &candidates[0], i * sizeof(*candidates));
            candidates[0] = t;
        }

    for (size_t i = 0; i < ncand; i++) {
        members_op_t m;
        if (topic_members(c, candidates[i], &m) != 0) {
            members_free(&m);
            goto out;
        }
        bool member = false;
        for (size_t k = 0; k < m.n; k++)
            if (strcmp(m.accounts[k], account) == 0)
                member = true;
        bool fits = false;
        int wrc = rewrite(c, candidates[i], m.accounts, m.n, member ? NULL : account, &fits);
        members_free(&m);
        if (wrc != 0)
            goto out;
        if (!fits)
            continue;
        assign_op_t a = {0};
        const char *one[] = {candidates[i]};
        int arc = xacct_customers_topic_assign(c->store, account, one, 1, MAX_PER_TOPIC,
                                               assign_done, &a);
        if (arc != 0) {
            cli_fail_store(c, arc, NULL, "recording the topic");
            goto out;
        }
        cli_wait(c, &a.r.done);
        if (a.r.status != 0) {
            cli_fail_store(c, a.r.status, a.r.detail, "recording the topic");
            cli_res_clear(&a.r);
            goto out;
        }
        cli_res_clear(&a.r);
        *topic_out = a.topic;
        rc = 0;
        break;
    }
    if (*topic_out == NULL)
        cli_fail(c, "every topic of region %s is full (SNS allows 100 statements and 30 KB "
                    "per topic policy): add a topic to sns.topic_arns",
                 region);
out:
    cli_unlock(c, lock, token);
    cli_res_clear(&r);
    xacct_customer_free(cust);
    free(lock);
    free(candidates);
    /* The account moved: its old topic must stop allowing it. */
    if (rc == 0 && previous[0] != '\0' && strcmp(previous, *topic_out) != 0)
        rc = cli_publish_sync(c, previous);
    free(previous);
    if (rc != 0) {
        free(*topic_out);
        *topic_out = NULL;
    }
    return rc;
}

int cli_publish_sync(cli_t *c, const char *topic_arn)
{
    xacct_arn_t arn;
    if (xacct_arn_parse(topic_arn, &arn) != 0 || strcmp(arn.service, "sns") != 0)
        return cli_fail(c, "'%s' is not an SNS topic ARN", topic_arn);
    char *lock = lock_name(arn.region);
    char token[64];
    cli_res_t r = {0};
    if (cli_lock(c, lock, token, LOCK_TTL_MS, LOCK_WAIT_MS, &r) != 0) {
        cli_fail_store(c, r.status, r.detail, "waiting for the topic policy lock");
        cli_res_clear(&r);
        free(lock);
        return CLI_FAIL;
    }
    members_op_t m;
    int rc = topic_members(c, topic_arn, &m);
    bool fits = true;
    if (rc == 0)
        rc = rewrite(c, topic_arn, m.accounts, m.n, NULL, &fits);
    /* Removing accounts only shrinks the policy; if it still does not fit,
     * the topic was overfilled by hand and SNS would refuse it anyway. */
    if (rc == 0 && !fits)
        rc = cli_fail(c, "topic %s: its policy exceeds SNS's quotas", topic_arn);
    members_free(&m);
    cli_unlock(c, lock, token);
    cli_res_clear(&r);
    free(lock);
    return rc;
}
