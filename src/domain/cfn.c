/* SPDX-License-Identifier: MIT */
/*
 * CloudFormation custom-resource requests: parsing (xacct/jdoc.h), the
 * ResponseURL allow-list (no SSRF: https only, host on the operator's list,
 * never an IP literal unless listed), the ownership rules, and the response
 * body, which must stay within CloudFormation's 4096-byte limit.
 */
#include "xacct/cfn.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/arn.h"
#include "xacct/extid.h"
#include "xacct/jdoc.h"
#include "xacct/url.h"
#include "xacct/utf8.h"

const char *xacct_cfn_type_name(xacct_cfn_type_t t)
{
    switch (t) {
    case XACCT_CFN_CREATE:
        return "Create";
    case XACCT_CFN_UPDATE:
        return "Update";
    case XACCT_CFN_DELETE:
        return "Delete";
    }
    return "Unknown";
}

void xacct_cfn_request_free(xacct_cfn_request_t *req)
{
    if (req == NULL)
        return;
    /* Whoever holds the presigned ResponseURL can answer for the stack. */
    xacct_free_secret(req->response_url);
    free(req->response_host);
    free(req->stack_id);
    free(req->request_id);
    free(req->logical_id);
    free(req->resource_type);
    free(req->physical_id);
    free(req->service_token);
    free(req->account_id);
    free(req->role_arn);
    xacct_free_secret(req->external_id);
    free(req->old_role_arn);
    free(req->template_version);
    free(req->property_error);
    free(req);
}

/* A string member, copied; NULL when absent, not a string, or empty. */
static char *dup_member(const xacct_jval_t *obj, const char *key)
{
    size_t n = 0;
    const char *v = xacct_jval_string(xacct_jval_get(obj, key), &n);
    if (v == NULL || n == 0)
        return NULL;
    return xacct_strndup(v, n);
}

static int check_response_url(const char *url, const xacct_strlist_t *hosts, char **host_out,
                              char *err, size_t errlen)
{
    char why[300];
    int rc = xacct_url_check_allowed(url, hosts, 0, "cloudformation.response_hosts", host_out,
                                     NULL, why, sizeof(why));
    if (rc != 0)
        snprintf(err, errlen, "ResponseURL %s", why);
    return rc;
}

/* ServiceTimeout in obj as an integer or a string of digits, 1..3600; 0
 * for anything else (absent, a fraction, an exponent, text). */
static long service_timeout_in(const xacct_jval_t *obj)
{
    const xacct_jval_t *v = xacct_jval_get(obj, "ServiceTimeout");
    const char *s = xacct_jval_number(v);
    if (s == NULL)
        s = xacct_jval_string(v, NULL);
    long t = 0;
    if (s != NULL) {
        char *end = NULL;
        errno = 0;
        t = strtol(s, &end, 10);
        if (end == s || *end != '\0' || errno == ERANGE)
            t = 0;
    }
    return (t >= 1 && t <= 3600) ? t : 0;
}

/* CloudFormation sends ServiceTimeout beside ServiceToken at the top level
 * of the request, where the resource's properties may no longer carry it;
 * either place is read, the top level first. */
static long parse_service_timeout(const xacct_jval_t *root)
{
    long t = service_timeout_in(root);
    if (t == 0)
        t = service_timeout_in(xacct_jval_get(root, "ResourceProperties"));
    return t != 0 ? t : XACCT_CFN_DEFAULT_TIMEOUT;
}

/* TemplateVersion (SPEC §9.6): only ever recorded, so a value of another
 * shape is dropped rather than failing the customer's stack. */
static char *parse_template_version(const xacct_jval_t *props)
{
    size_t n = 0;
    const char *s = xacct_jval_string(xacct_jval_get(props, "TemplateVersion"), &n);
    if (s == NULL || n != XACCT_CFN_TEMPLATE_VERSION_LEN)
        return NULL;
    for (size_t i = 0; i < XACCT_CFN_TEMPLATE_VERSION_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return NULL;
    return xacct_strndup(s, XACCT_CFN_TEMPLATE_VERSION_LEN);
}

static void set_property_error(xacct_cfn_request_t *req, const char *msg)
{
    if (req->property_error == NULL)
        req->property_error = xacct_strdup(msg);
}

static void parse_properties(xacct_cfn_request_t *req, const xacct_jval_t *root)
{
    const xacct_jval_t *props = xacct_jval_get(root, "ResourceProperties");
    if (xacct_jval_type(props) != XACCT_JDOC_OBJECT) {
        set_property_error(req, "ResourceProperties is missing");
        return;
    }
    if (req->service_token == NULL)
        req->service_token = dup_member(props, "ServiceToken");
    req->account_id = dup_member(props, "AccountID");
    req->role_arn = dup_member(props, "RoleArn");
    req->external_id = dup_member(props, "ExternalID");
    req->template_version = parse_template_version(props);
    const xacct_jval_t *old = xacct_jval_get(root, "OldResourceProperties");
    if (xacct_jval_type(old) == XACCT_JDOC_OBJECT)
        req->old_role_arn = dup_member(old, "RoleArn");

    if (req->account_id == NULL)
        set_property_error(req, "ResourceProperties.AccountID is missing");
    else if (!xacct_account_id_valid(req->account_id))
        set_property_error(req, "ResourceProperties.AccountID is not a 12-digit account ID");
    if (req->role_arn == NULL)
        set_property_error(req, "ResourceProperties.RoleArn is missing");
    if (req->external_id == NULL)
        set_property_error(req, "ResourceProperties.ExternalID is missing");
}

int xacct_cfn_request_parse(const char *json, size_t len, const xacct_strlist_t *response_hosts,
                            xacct_cfn_request_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (errlen > 0)
        err[0] = '\0';
    if (len > XACCT_CFN_MAX_REQUEST) {
        snprintf(err, errlen, "request is larger than %d bytes", XACCT_CFN_MAX_REQUEST);
        return XACCT_ETOOBIG;
    }
    xacct_jdoc_t *doc;
    const xacct_jval_t *root;
    if (xacct_jdoc_parse_object(json, len, &doc, &root) != 0) {
        snprintf(err, errlen, "request is not a JSON object");
        return XACCT_EPARSE;
    }
    int rc = XACCT_EPARSE;
    xacct_cfn_request_t *req = xacct_calloc(1, sizeof(*req));
    req->service_timeout = XACCT_CFN_DEFAULT_TIMEOUT;

    const char *type = xacct_jval_string(xacct_jval_get(root, "RequestType"), NULL);
    if (type == NULL)
        type = "";
    if (strcmp(type, "Create") == 0)
        req->type = XACCT_CFN_CREATE;
    else if (strcmp(type, "Update") == 0)
        req->type = XACCT_CFN_UPDATE;
    else if (strcmp(type, "Delete") == 0)
        req->type = XACCT_CFN_DELETE;
    else {
        snprintf(err, errlen, "RequestType is missing or not Create, Update or Delete");
        goto out;
    }
    req->response_url = dup_member(root, "ResponseURL");
    req->stack_id = dup_member(root, "StackId");
    req->request_id = dup_member(root, "RequestId");
    req->logical_id = dup_member(root, "LogicalResourceId");
    req->resource_type = dup_member(root, "ResourceType");
    req->physical_id = dup_member(root, "PhysicalResourceId");
    req->service_token = dup_member(root, "ServiceToken");
    if (req->response_url == NULL || req->stack_id == NULL || req->request_id == NULL ||
        req->logical_id == NULL) {
        snprintf(err, errlen, "ResponseURL, StackId, RequestId or LogicalResourceId is missing");
        goto out;
    }
    if (strlen(req->request_id) > 256 || strlen(req->logical_id) > 256) {
        snprintf(err, errlen, "RequestId or LogicalResourceId is too long");
        goto out;
    }
    if (req->type != XACCT_CFN_CREATE && req->physical_id == NULL) {
        snprintf(err, errlen, "PhysicalResourceId is missing from a %s request", type);
        goto out;
    }
    if (xacct_arn_parse_stack(req->stack_id, req->stack_account, req->stack_region,
                              req->stack_name) != 0) {
        snprintf(err, errlen, "StackId is not a CloudFormation stack ARN");
        goto out;
    }
    rc = check_response_url(req->response_url, response_hosts, &req->response_host, err, errlen);
    if (rc != 0)
        goto out;
    req->service_timeout = parse_service_timeout(root);
    parse_properties(req, root);
    *out = req;
    req = NULL;
    rc = 0;
out:
    xacct_cfn_request_free(req);
    xacct_jdoc_free(doc);
    return rc;
}

/* An account ID names an account only within a partition: the role must
 * be in the stack's (arn:aws-cn:iam::… for a cn-* stack), or it is another
 * account's, which STS in the stack's region cannot even reach. */
static bool in_stack_partition(const char *arn, const char *stack_region)
{
    xacct_arn_t a;
    return xacct_arn_parse(arn, &a) == 0 &&
           strcmp(a.partition, xacct_region_partition(stack_region)) == 0;
}

bool xacct_cfn_check_ownership(const xacct_cfn_request_t *req, bool customer_exists,
                               const char *issued_external_id, char *reason, size_t reason_len)
{
    if (req->property_error != NULL) {
        snprintf(reason, reason_len, "%s", req->property_error);
        return false;
    }
    if (strcmp(req->account_id, req->stack_account) != 0) {
        snprintf(reason, reason_len,
                 "AccountID %s is not the account %s that owns the stack", req->account_id,
                 req->stack_account);
        return false;
    }
    if (!xacct_arn_is_role_in_account(req->role_arn, req->stack_account) ||
        !in_stack_partition(req->role_arn, req->stack_region)) {
        snprintf(reason, reason_len, "RoleArn is not an IAM role ARN in account %s",
                 req->stack_account);
        return false;
    }
    if (!customer_exists) {
        snprintf(reason, reason_len,
                 "account %s has not been onboarded; ask the partner for a new template",
                 req->stack_account);
        return false;
    }
    if (!xacct_secret_equal(req->external_id, issued_external_id)) {
        snprintf(reason, reason_len,
                 "ExternalID does not match the one issued to account %s; use the current "
                 "template",
                 req->stack_account);
        return false;
    }
    return true;
}

int64_t xacct_cfn_answer_by_ms(int64_t sent_ms, long service_timeout)
{
    int64_t timeout_ms = (int64_t)service_timeout * 1000;
    int64_t margin = timeout_ms / 10;
    margin = margin < 5000 ? 5000 : margin > 60000 ? 60000 : margin;
    return sent_ms + timeout_ms - margin;
}

void xacct_cfn_physical_id(const char *account, char out[32])
{
    snprintf(out, 32, "xacct-%.12s", account);
}

static char *dump_with_reason(json_t *obj, const char *reason, size_t keep, bool cut)
{
    char *r = xacct_malloc(keep + 4);
    memcpy(r, reason, keep);
    strcpy(r + keep, cut ? "..." : "");
    json_object_set_new(obj, "Reason", json_string(r));
    free(r);
    return json_dumps(obj, JSON_COMPACT);
}

/* Adds Data to obj when it has a member; false when a value is not UTF-8. */
static bool add_data(json_t *obj, const xacct_cfn_data_t *data)
{
    if (data == NULL)
        return true;
    json_t *d = json_object();
    bool ok = d != NULL;
    if (ok && data->role_arn != NULL && data->role_arn[0] != '\0')
        ok = json_object_set_new(d, "RoleArn", json_string(data->role_arn)) == 0;
    if (ok && data->state != NULL && data->state[0] != '\0')
        ok = json_object_set_new(d, "State", json_string(data->state)) == 0;
    if (ok && json_object_size(d) > 0)
        return json_object_set_new(obj, "Data", d) == 0;
    json_decref(d);
    return ok;
}

int xacct_cfn_response_build(const xacct_cfn_request_t *req, xacct_cfn_status_t status,
                             const char *reason, const char *physical_id,
                             const xacct_cfn_data_t *data, char **body_out)
{
    *body_out = NULL;
    if (req == NULL || physical_id == NULL || physical_id[0] == '\0' || strlen(physical_id) > 1024)
        return XACCT_EINVAL;
    if (status == XACCT_CFN_FAILED && (reason == NULL || reason[0] == '\0'))
        reason = "failed";
    int rc = XACCT_EINVAL;
    char *clean = NULL, *body = NULL;
    json_t *obj = json_object();
    json_object_set_new(obj, "Status", json_string(status == XACCT_CFN_SUCCESS ? "SUCCESS" : "FAILED"));
    json_object_set_new(obj, "PhysicalResourceId", json_string(physical_id));
    json_object_set_new(obj, "StackId", json_string(req->stack_id));
    json_object_set_new(obj, "RequestId", json_string(req->request_id));
    json_object_set_new(obj, "LogicalResourceId", json_string(req->logical_id));
    if (json_object_size(obj) != 5)
        goto out; /* a field was not valid UTF-8 */
    if (!add_data(obj, data))
        goto out;
    if (reason == NULL) {
        body = json_dumps(obj, JSON_COMPACT);
    } else {
        clean = xacct_utf8_sanitize(reason);
        body = dump_with_reason(obj, clean, strlen(clean), false);
        if (body != NULL && strlen(body) > XACCT_CFN_MAX_RESPONSE) {
            /* Binary search for the longest Reason prefix that fits. */
            size_t lo = 0, hi = strlen(clean);
            free(body);
            body = NULL;
            while (lo < hi) {
                size_t mid = (lo + hi + 1) / 2;
                size_t keep = xacct_utf8_prefix(clean, strlen(clean), mid);
                char *try = dump_with_reason(obj, clean, keep, true);
                if (try != NULL && strlen(try) <= XACCT_CFN_MAX_RESPONSE)
                    lo = mid;
                else
                    hi = mid - 1;
                free(try);
            }
            size_t keep = xacct_utf8_prefix(clean, strlen(clean), lo);
            body = dump_with_reason(obj, clean, keep, true);
        }
    }
    if (body == NULL) {
        rc = XACCT_EINVAL;
        goto out;
    }
    if (strlen(body) > XACCT_CFN_MAX_RESPONSE) {
        free(body);
        body = NULL;
        rc = XACCT_ETOOBIG;
        goto out;
    }
    *body_out = body;
    body = NULL;
    rc = 0;
out:
    free(body);
    free(clean);
    json_decref(obj);
    return rc;
}
