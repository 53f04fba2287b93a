/* SPDX-License-Identifier: MIT */
/*
 * doctor: each topic of sns.topic_arns delivers to one of the queues (SNS
 * ListSubscriptionsByTopic: a confirmed sqs subscription whose endpoint is a
 * reachable queue), that queue's policy lets the topic send (an Allow of
 * sqs:SendMessage to sns.amazonaws.com whose aws:SourceArn condition, if any,
 * matches the topic), and the topic's policy stays within SNS's quotas (100
 * statements, 30 KB, 200 principals per statement; a warning from 90 %).
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "doctor.h"
#include "xacct/arn.h"
#include "xacct/sns.h"

#define MAX_STATEMENTS 100
#define MAX_POLICY_BYTES (30 * 1024)
#define MAX_PRINCIPALS 200

typedef struct doctor_subs {
    cli_res_t r;
    json_t *subs; /* endpoint -> confirmed (sqs subscriptions); owned */
} doctor_subs_t;

/* ---- ListSubscriptionsByTopic ------------------------------------------- */

/* The endpoints of the topic's sqs subscriptions: endpoint -> confirmed. */
static void subs_done(int status, const char *detail, const xacct_sns_subscription_t *subs,
                      size_t n, void *arg)
{
    doctor_subs_t *o = arg;
    if (status == 0) {
        o->subs = json_object();
        for (size_t i = 0; i < n; i++)
            if (strcmp(subs[i].protocol, "sqs") == 0)
                json_object_set_new(o->subs, subs[i].endpoint,
                                    json_boolean(strncmp(subs[i].subscription_arn, "arn:", 4) == 0));
    }
    cli_res_set(&o->r, status, detail);
}

/* The topic's sqs subscriptions, or NULL after reporting the failure. */
static json_t *list_subscriptions(doctor_t *d, const char *topic)
{
    doctor_subs_t o = {0};
    int rc = xacct_sns_list_subscriptions(d->c->ctx->aws, topic, subs_done, &o);
    cli_await(d->c, rc, &o.r);
    if (o.r.status != 0) {
        doctor_fail_aws(d, "topic",
                        "create the topic (deploy/aws/partner-region.json) or fix "
                        "sns.topic_arns, and allow sns:ListSubscriptionsByTopic",
                        topic, o.r.status, o.r.detail, "listing the topic's subscriptions");
    }
    cli_res_clear(&o.r);
    return o.subs;
}

/* ---- the queue policy --------------------------------------------------- */

/* ArnLike compares the six colon-separated parts of an ARN one by one, so a
 * wildcard never spans a colon except in the last part (the resource). */
static bool arn_like(const char *pattern, const char *value)
{
    for (int part = 0; part < 5; part++) {
        const char *pc = strchr(pattern, ':'), *vc = strchr(value, ':');
        if (pc == NULL || vc == NULL)
            return false;
        char p[256], v[256];
        if ((size_t)(pc - pattern) >= sizeof(p) || (size_t)(vc - value) >= sizeof(v))
            return false;
        snprintf(p, sizeof(p), "%.*s", (int)(pc - pattern), pattern);
        snprintf(v, sizeof(v), "%.*s", (int)(vc - value), value);
        if (fnmatch(p, v, 0) != 0)
            return false;
        pattern = pc + 1;
        value = vc + 1;
    }
    return fnmatch(pattern, value, 0) == 0;
}

static bool like_one(json_t *p, const char *value, bool arn)
{
    if (!json_is_string(p))
        return false;
    return arn ? arn_like(json_string_value(p), value)
               : fnmatch(json_string_value(p), value, 0) == 0;
}

static bool value_matches(json_t *patterns, const char *value, bool arn)
{
    size_t i;
    json_t *v;
    if (!json_is_array(patterns))
        return like_one(patterns, value, arn);
    json_array_foreach(patterns, i, v)
        if (like_one(v, value, arn))
            return true;
    return false;
}

static bool list_has(json_t *v, const char *const *wanted, bool icase)
{
    size_t i;
    json_t *x;
    if (json_is_string(v)) {
        for (const char *const *w = wanted; *w; w++)
            if ((icase ? strcasecmp : strcmp)(json_string_value(v), *w) == 0)
                return true;
        return false;
    }
    json_array_foreach(v, i, x)
        if (list_has(x, wanted, icase))
            return true;
    return false;
}

/* Whether one statement lets SNS send from topic (conditions on keys other
 * than aws:SourceArn / aws:SourceAccount make it unknown: not counted). */
static bool statement_allows(json_t *st, const char *topic, const char *topic_account)
{
    static const char *const actions[] = {"sqs:SendMessage", "sqs:*", "*", NULL};
    static const char *const principals[] = {"sns.amazonaws.com", NULL};
    if (!json_is_string(json_object_get(st, "Effect")) ||
        strcmp(json_string_value(json_object_get(st, "Effect")), "Allow") != 0 ||
        !list_has(json_object_get(st, "Action"), actions, true))
        return false;
    json_t *pr = json_object_get(st, "Principal");
    bool anyone = json_is_string(pr) && strcmp(json_string_value(pr), "*") == 0;
    if (!anyone && !list_has(json_object_get(pr, "Service"), principals, false))
        return false;
    const char *op;
    json_t *block;
    json_object_foreach(json_object_get(st, "Condition"), op, block) {
        const char *key;
        json_t *vals;
        json_object_foreach(block, key, vals) {
            const char *want = strcasecmp(key, "aws:SourceArn") == 0       ? topic
                               : strcasecmp(key, "aws:SourceAccount") == 0 ? topic_account
                                                                           : NULL;
            bool like = strstr(op, "Like") != NULL;
            if (want == NULL || strstr(op, "Not") != NULL)
                return false;
            if (like ? !value_matches(vals, want, strncmp(op, "Arn", 3) == 0)
                     : !list_has(vals, (const char *const[]){want, NULL}, false))
                return false;
        }
    }
    return true;
}

static bool queue_lets_in(const char *policy, const char *topic, const char *topic_account)
{
    json_t *sts = doctor_policy_statements(policy);
    bool ok = false;
    size_t i;
    json_t *st;
    json_array_foreach(sts, i, st) ok = ok || statement_allows(st, topic, topic_account);
    json_decref(sts);
    return ok;
}

static void check_delivery(doctor_t *d, const char *topic, const xacct_arn_t *arn)
{
    json_t *subs = list_subscriptions(d, topic);
    if (subs == NULL)
        return;
    const char *queue = NULL;
    bool pending = false;
    const char *ep;
    json_t *confirmed;
    json_object_foreach(subs, ep, confirmed) {
        if (json_object_get(d->queues, ep) == NULL)
            continue;
        if (!json_is_true(confirmed)) {
            pending = true;
            continue;
        }
        queue = ep;
        break;
    }
    if (queue == NULL) {
        doctor_add(d, "topic", DOCTOR_FAIL,
                   "subscribe the queue: aws sns subscribe --topic-arn TOPIC --protocol sqs "
                   "--notification-endpoint QUEUE_ARN (partner-region.json does it)",
                   pending ? "%s: its subscription to the queue is not confirmed"
                           : "%s is not subscribed to any queue of queue.urls",
                   topic);
    } else if (!queue_lets_in(json_string_value(json_object_get(d->queues, queue)), topic,
                              arn->account)) {
        doctor_add(d, "topic", DOCTOR_FAIL,
                   "let the topic send: the queue policy needs an Allow of sqs:SendMessage to "
                   "sns.amazonaws.com with aws:SourceArn matching the topic (partner-core.json "
                   "allows every topic named <TopicNamePrefix>-*)",
                   "%s delivers to %s but the queue policy does not let it send", topic, queue);
    } else {
        doctor_add(d, "topic", DOCTOR_OK, NULL, "%s delivers to %s", topic, queue);
    }
    json_decref(subs);
}

/* ---- the topic policy's quotas ------------------------------------------- */

typedef struct policy_res {
    cli_res_t r;
    char *policy;
} policy_res_t;

static void policy_done(int status, const char *detail, const char *policy, void *arg)
{
    policy_res_t *o = arg;
    if (status == 0 && policy != NULL)
        o->policy = xacct_strdup(policy);
    cli_res_set(&o->r, status, detail);
}

static size_t principals_of(json_t *st)
{
    json_t *p = json_object_get(st, "Principal");
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(p, k, v) n += json_is_array(v) ? json_array_size(v) : 1;
    return n;
}

static void check_quota(doctor_t *d, const char *topic)
{
    policy_res_t o = {0};
    int rc = xacct_sns_get_policy(d->c->ctx->aws, topic, policy_done, &o);
    cli_await(d->c, rc, &o.r);
    if (o.r.status != 0) {
        doctor_fail_aws(d, "quota", "allow sns:GetTopicAttributes on the topic", topic,
                        o.r.status, o.r.detail, "reading the topic's policy");
        goto out;
    }
    json_t *sts = doctor_policy_statements(o.policy);
    size_t n = json_array_size(sts), size = o.policy ? strlen(o.policy) : 0, most = 0;
    size_t i;
    json_t *st;
    json_array_foreach(sts, i, st) {
        size_t p = principals_of(st);
        most = p > most ? p : most;
    }
    json_decref(sts);
    doctor_status_t s = DOCTOR_OK;
    if (n > MAX_STATEMENTS || size > MAX_POLICY_BYTES || most > MAX_PRINCIPALS)
        s = DOCTOR_FAIL;
    else if (n * 10 >= MAX_STATEMENTS * 9 || size * 10 >= MAX_POLICY_BYTES * 9 ||
             most * 10 >= MAX_PRINCIPALS * 9)
        s = DOCTOR_WARN;
    doctor_add(d, "quota", s,
               "add another topic in that region to sns.topic_arns (partner-region.json with the "
               "next TopicName): onboarding moves on to it when one is full",
               "%s: %zu statements (max %d), %zu bytes (max %d), at most %zu principals in a "
               "statement (max %d)",
               topic, n, MAX_STATEMENTS, size, MAX_POLICY_BYTES, most, MAX_PRINCIPALS);
out:
    free(o.policy);
    cli_res_clear(&o.r);
}

void doctor_check_topics(doctor_t *d)
{
    const xacct_strlist_t *topics = &d->c->ctx->cfg->sns_topic_arns;
    for (size_t i = 0; i < topics->n; i++) {
        xacct_arn_t arn;
        if (xacct_arn_parse(topics->items[i], &arn) != 0) {
            doctor_add(d, "topic", DOCTOR_FAIL, "fix sns.topic_arns", "%s is not an ARN",
                       topics->items[i]);
            continue;
        }
        check_delivery(d, topics->items[i], &arn);
        check_quota(d, topics->items[i]);
    }
}
