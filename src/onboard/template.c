/* SPDX-License-Identifier: MIT */
/*
 * Renders a customer's CloudFormation template as a jansson document: the
 * role whose trust policy names the partner's root principal under an
 * sts:ExternalId condition, its inline least-privilege policy, and the
 * PhoneHome custom resource pointing at the partner's topic. Also derives
 * the unguessable S3 key the template is uploaded under.
 */
#include "xacct/template.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/arn.h"
#include "xacct/digest.h"

static int fail(char *err, size_t errlen, int rc, const char *msg)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", msg);
    return rc;
}

/* The role policy document, checked to be an object with a Statement. */
static int load_role_policy(const char *text, json_t **out, char *err, size_t errlen)
{
    json_error_t je;
    *out = NULL;
    json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (doc == NULL) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "role policy: line %d: %s", je.line, je.text);
        return XACCT_EPARSE;
    }
    json_t *st = json_object_get(doc, "Statement");
    if (!json_is_object(doc) || !(json_is_array(st) || json_is_object(st)) ||
        !json_is_string(json_object_get(doc, "Version"))) {
        json_decref(doc);
        return fail(err, errlen, XACCT_EPARSE,
                    "role policy: not a policy document (an object with Version and Statement)");
    }
    *out = doc;
    return 0;
}

/* The template document for p, without its TemplateVersion; NULL on an
 * allocation failure. Fields were validated by the caller. */
static json_t *build_doc(const xacct_template_params_t *p, const xacct_arn_t *topic,
                         json_t *policy)
{
    char *partner = xacct_asprintf("arn:%s:iam::%s:root", topic->partition, p->partner_account_id);
    char *description = xacct_asprintf("Cross-account access for partner account %s (customer "
                                       "%s): an IAM role assumable only with the issued "
                                       "external ID, reported back through %s.",
                                       p->partner_account_id, p->account_id, p->topic_arn);
    /* sts:SetSourceIdentity under the same condition lets the partner's
     * operators name themselves in the customer's CloudTrail (SPEC §9.7). */
    json_t *trust = json_pack(
        "{s:s, s:[{s:s, s:{s:s}, s:[s,s], s:{s:{s:s}}}]}", "Version", "2012-10-17", "Statement",
        "Effect", "Allow", "Principal", "AWS", partner, "Action", "sts:AssumeRole",
        "sts:SetSourceIdentity", "Condition", "StringEquals", "sts:ExternalId", p->external_id);
    json_t *role_props = json_pack("{s:o, s:s}", "AssumeRolePolicyDocument", trust,
                                   "Description", "xacct cross-account role");
    if (role_props != NULL && policy != NULL)
        json_object_set_new(role_props, "Policies",
                            json_pack("[{s:s, s:O}]", "PolicyName", "xacct-access",
                                      "PolicyDocument", policy));
    long timeout = p->service_timeout > 0 ? p->service_timeout : XACCT_TEMPLATE_SERVICE_TIMEOUT;
    json_t *doc = json_pack(
        "{s:s, s:s, s:{s:{s:s, s:o}, s:{s:s, s:{s:s, s:I, s:{s:s}, s:{s:[s,s]}, s:s}}}, "
        "s:{s:{s:s, s:{s:[s,s]}}}}",
        "AWSTemplateFormatVersion", "2010-09-09", "Description", description, "Resources",
        XACCT_TEMPLATE_ROLE, "Type", "AWS::IAM::Role", "Properties", role_props,
        XACCT_TEMPLATE_PHONE_HOME, "Type", "Custom::PhoneHome", "Properties", "ServiceToken",
        p->topic_arn, "ServiceTimeout", (json_int_t)timeout, "AccountID", "Ref",
        "AWS::AccountId", "RoleArn", "Fn::GetAtt", XACCT_TEMPLATE_ROLE, "Arn", "ExternalID",
        p->external_id, "Outputs", "RoleArn", "Description", "The role xacct assumes", "Value",
        "Fn::GetAtt", XACCT_TEMPLATE_ROLE, "Arn");
    free(partner);
    free(description);
    return doc;
}

/* The first 12 hex digits of SHA-256 over the document rendered with the
 * per-customer values (account, external ID, topic) replaced by fixed
 * stand-ins: the same for every customer given today's role policy,
 * partner account, partition and service timeout. */
static int version_of(const xacct_template_params_t *p, const xacct_arn_t *topic, json_t *policy,
                      char out[XACCT_TEMPLATE_VERSION_LEN + 1])
{
    char stand_in_topic[64];
    snprintf(stand_in_topic, sizeof(stand_in_topic), "arn:%s:sns:region:000000000000:topic",
             topic->partition);
    xacct_template_params_t q = *p;
    q.account_id = "000000000000";
    q.external_id = "external-id";
    q.topic_arn = stand_in_topic;
    json_t *doc = build_doc(&q, topic, policy);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (text == NULL)
        return XACCT_ENOMEM;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int ok = xacct_digest(XACCT_DIGEST_SHA256, text, strlen(text), md, &mdlen) == 0;
    free(text);
    if (!ok)
        return XACCT_ECRYPTO;
    for (unsigned int i = 0; i < XACCT_TEMPLATE_VERSION_LEN / 2; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

/* Shared checks of render and version: topic parsed, policy loaded. */
static int prepare(const xacct_template_params_t *p, xacct_arn_t *topic, json_t **policy,
                   char *err, size_t errlen)
{
    *policy = NULL;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (p == NULL || !xacct_account_id_valid(p->account_id))
        return fail(err, errlen, XACCT_EINVAL, "account ID must be 12 digits");
    if (!xacct_account_id_valid(p->partner_account_id))
        return fail(err, errlen, XACCT_EINVAL, "partner account ID must be 12 digits");
    if (p->external_id == NULL || p->external_id[0] == '\0')
        return fail(err, errlen, XACCT_EINVAL, "external ID is missing");
    if (p->topic_arn == NULL || xacct_arn_parse(p->topic_arn, topic) != 0 ||
        strcmp(topic->service, "sns") != 0 || !xacct_region_valid(topic->region))
        return fail(err, errlen, XACCT_EINVAL, "topic is not an SNS topic ARN");
    if (p->service_timeout < 0 || p->service_timeout > 3600)
        return fail(err, errlen, XACCT_EINVAL, "service timeout must be 1 to 3600 seconds");
    if (p->role_policy != NULL)
        return load_role_policy(p->role_policy, policy, err, errlen);
    return 0;
}

int xacct_template_render(const xacct_template_params_t *p, char **out, char *err, size_t errlen)
{
    *out = NULL;
    xacct_arn_t topic;
    json_t *policy = NULL;
    int rc = prepare(p, &topic, &policy, err, errlen);
    if (rc != 0)
        return rc;
    char version[XACCT_TEMPLATE_VERSION_LEN + 1];
    rc = version_of(p, &topic, policy, version);
    json_t *doc = rc == 0 ? build_doc(p, &topic, policy) : NULL;
    json_decref(policy);
    if (rc != 0 || doc == NULL) {
        json_decref(doc);
        return fail(err, errlen, rc != 0 ? rc : XACCT_ENOMEM, "cannot build the template");
    }
    json_object_set_new(json_object_get(json_object_get(json_object_get(doc, "Resources"),
                                                        XACCT_TEMPLATE_PHONE_HOME),
                                        "Properties"),
                        "TemplateVersion", json_string(version));
    char *text = json_dumps(doc, JSON_INDENT(2));
    json_decref(doc);
    if (text == NULL)
        return fail(err, errlen, XACCT_ENOMEM, "cannot serialise the template");
    /* Hand over a copy made by our allocator so callers free it uniformly. */
    *out = xacct_strdup(text);
    OPENSSL_cleanse(text, strlen(text));
    free(text);
    return 0;
}

int xacct_template_version(const xacct_template_params_t *p,
                           char out[XACCT_TEMPLATE_VERSION_LEN + 1], char *err, size_t errlen)
{
    out[0] = '\0';
    xacct_arn_t topic;
    json_t *policy = NULL;
    int rc = prepare(p, &topic, &policy, err, errlen);
    if (rc == 0)
        rc = version_of(p, &topic, policy, out);
    json_decref(policy);
    return rc;
}

int xacct_template_s3_key(const char *account_id, const char *external_id, char *out,
                          size_t outlen)
{
    static const char label[] = "xacct-template-key\n";
    if (outlen > 0)
        out[0] = '\0';
    if (!xacct_account_id_valid(account_id) || external_id == NULL || external_id[0] == '\0')
        return XACCT_EINVAL;
    if (outlen < XACCT_TEMPLATE_KEY_MAX)
        return XACCT_ETOOBIG;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    const EVP_MD *sha256 = xacct_digest_md(XACCT_DIGEST_SHA256);
    EVP_MD_CTX *ctx = sha256 != NULL ? EVP_MD_CTX_new() : NULL;
    int ok = ctx != NULL && EVP_DigestInit_ex2(ctx, sha256, NULL) == 1 &&
             EVP_DigestUpdate(ctx, label, sizeof(label) - 1) == 1 &&
             EVP_DigestUpdate(ctx, external_id, strlen(external_id)) == 1 &&
             EVP_DigestFinal_ex(ctx, md, &mdlen) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return XACCT_ECRYPTO;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    for (unsigned int i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    snprintf(out, outlen, "templates/%s/%s.json", account_id, hex);
    return 0;
}
