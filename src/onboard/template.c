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

int xacct_template_render(const xacct_template_params_t *p, char **out, char *err, size_t errlen)
{
    *out = NULL;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    xacct_arn_t topic;
    if (p == NULL || !xacct_account_id_valid(p->account_id))
        return fail(err, errlen, XACCT_EINVAL, "account ID must be 12 digits");
    if (!xacct_account_id_valid(p->partner_account_id))
        return fail(err, errlen, XACCT_EINVAL, "partner account ID must be 12 digits");
    if (p->external_id == NULL || p->external_id[0] == '\0')
        return fail(err, errlen, XACCT_EINVAL, "external ID is missing");
    if (p->topic_arn == NULL || xacct_arn_parse(p->topic_arn, &topic) != 0 ||
        strcmp(topic.service, "sns") != 0 || !xacct_region_valid(topic.region))
        return fail(err, errlen, XACCT_EINVAL, "topic is not an SNS topic ARN");

    json_t *policy = NULL;
    if (p->role_policy != NULL) {
        int rc = load_role_policy(p->role_policy, &policy, err, errlen);
        if (rc != 0)
            return rc;
    }

    char *partner = xacct_asprintf("arn:%s:iam::%s:root", topic.partition, p->partner_account_id);
    char *description = xacct_asprintf("Cross-account access for partner account %s (customer "
                                       "%s): an IAM role assumable only with the issued "
                                       "external ID, reported back through %s.",
                                       p->partner_account_id, p->account_id, p->topic_arn);
    json_t *trust = json_pack(
        "{s:s, s:[{s:s, s:{s:s}, s:s, s:{s:{s:s}}}]}", "Version", "2012-10-17", "Statement",
        "Effect", "Allow", "Principal", "AWS", partner, "Action", "sts:AssumeRole", "Condition",
        "StringEquals", "sts:ExternalId", p->external_id);
    json_t *role_props = json_pack("{s:o, s:s}", "AssumeRolePolicyDocument", trust,
                                   "Description", "xacct cross-account role");
    if (policy != NULL)
        json_object_set_new(role_props, "Policies",
                            json_pack("[{s:s, s:o}]", "PolicyName", "xacct-access",
                                      "PolicyDocument", policy));
    json_t *doc = json_pack(
        "{s:s, s:s, s:{s:{s:s, s:o}, s:{s:s, s:{s:s, s:{s:s}, s:{s:[s,s]}, s:s}}}, "
        "s:{s:{s:s, s:{s:[s,s]}}}}",
        "AWSTemplateFormatVersion", "2010-09-09", "Description", description, "Resources",
        XACCT_TEMPLATE_ROLE, "Type", "AWS::IAM::Role", "Properties", role_props,
        XACCT_TEMPLATE_PHONE_HOME, "Type", "Custom::PhoneHome", "Properties", "ServiceToken",
        p->topic_arn, "AccountID", "Ref", "AWS::AccountId", "RoleArn", "Fn::GetAtt",
        XACCT_TEMPLATE_ROLE, "Arn", "ExternalID", p->external_id, "Outputs", "RoleArn",
        "Description", "The role xacct assumes", "Value", "Fn::GetAtt", XACCT_TEMPLATE_ROLE,
        "Arn");
    free(partner);
    free(description);
    if (doc == NULL)
        return fail(err, errlen, XACCT_ENOMEM, "cannot build the template");
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
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
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
