/* SPDX-License-Identifier: MIT */
/*
 * Getting a customer's template to the customer: render it from the record
 * (template.c) with the role policy file, then either upload it to the
 * template bucket under its unguessable key and build the quick-create link,
 * or write it to the template directory for the operator to hand over. The
 * template holds the external ID, so files are written 0600 and buffers are
 * wiped.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "xacct/arn.h"
#include "xacct/buf.h"
#include "xacct/launch_url.h"
#include "xacct/s3.h"
#include "xacct/template.h"

#define MAX_ROLE_POLICY (10u * 1024u) /* IAM's inline policy quota per role */

static int read_policy_file(cli_t *c, const char *path, char **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return cli_fail(c, "cloudformation.role_policy_file %s: %s", path, strerror(errno));
    xacct_buf_t b;
    xacct_buf_init(&b, MAX_ROLE_POLICY);
    char chunk[4096];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        rc = xacct_buf_append(&b, chunk, n);
    bool ioerr = ferror(f) != 0;
    fclose(f);
    if (rc != 0 || ioerr) {
        xacct_buf_destroy(&b);
        return cli_fail(c, "cloudformation.role_policy_file %s: %s", path,
                        rc ? "larger than IAM's 10 KB inline policy quota" : "read error");
    }
    *out = xacct_buf_steal(&b);
    return 0;
}

int cli_template_text(cli_t *c, const char *account, const char *external_id,
                      const char *topic_arn, char **text)
{
    *text = NULL;
    if (topic_arn == NULL || topic_arn[0] == '\0')
        return cli_fail(c, "customer %s has no topic yet (onboarding did not finish): run "
                           "xacct rotate-external-id %s",
                        account, account);
    char *policy = NULL;
    const char *path = c->cfg->cfn_role_policy_file;
    if (path != NULL && path[0] != '\0') {
        int rc = read_policy_file(c, path, &policy);
        if (rc != 0)
            return rc;
    }
    xacct_template_params_t p = {
        .account_id = account,
        .partner_account_id = c->cfg->aws_partner_account_id,
        .external_id = external_id,
        .topic_arn = topic_arn,
        .role_policy = policy,
        .service_timeout = c->cfg->cfn_service_timeout,
    };
    char err[256];
    int rc = xacct_template_render(&p, text, err, sizeof(err));
    free(policy);
    if (rc != 0)
        return cli_fail(c, "cannot render the template: %s%s%s", err,
                        rc == XACCT_EPARSE ? " in " : "", rc == XACCT_EPARSE ? path : "");
    return 0;
}

static void s3_done(int status, const char *detail, void *arg)
{
    cli_res_set(arg, status, detail);
}

static int write_file(cli_t *c, const char *dir, const char *account, const char *text,
                      json_t *info)
{
    char *path = xacct_asprintf("%s/xacct-%s.json", dir, account);
    char *tmp = xacct_asprintf("%s/.xacct-%s.json.%d", dir, account, (int)getpid());
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = fd >= 0;
    size_t len = strlen(text), off = 0;
    while (ok && off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        ok = w > 0;
        if (ok)
            off += (size_t)w;
    }
    ok = ok && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    int saved = errno;
    if (fd >= 0 && close(fd) != 0 && ok) {
        ok = false;
        saved = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        saved = errno;
    }
    if (!ok) {
        rc = cli_fail(c, "cannot write the template to %s: %s", path, strerror(saved));
        unlink(tmp);
    } else {
        json_object_set_new(info, "template_file", json_string(path));
    }
    free(tmp);
    free(path);
    return rc;
}

int cli_template_deliver(cli_t *c, const char *account, const char *external_id,
                         const char *topic_arn, json_t *info)
{
    char *text = NULL;
    int rc = cli_template_text(c, account, external_id, topic_arn, &text);
    if (rc != 0)
        return rc;
    const char *bucket = c->cfg->cfn_template_bucket;
    if (bucket == NULL || bucket[0] == '\0') {
        const char *dir = c->cfg->cfn_template_dir && c->cfg->cfn_template_dir[0]
                              ? c->cfg->cfn_template_dir
                              : ".";
        rc = write_file(c, dir, account, text, info);
        xacct_free_secret(text);
        return rc;
    }

    char key[XACCT_TEMPLATE_KEY_MAX];
    xacct_arn_t topic;
    char *url = NULL, *launch = NULL;
    if (xacct_arn_parse(topic_arn, &topic) != 0 ||
        xacct_template_s3_key(account, external_id, key, sizeof(key)) != 0) {
        xacct_free_secret(text);
        return cli_fail(c, "cannot name the template object");
    }
    if ((rc = cli_aws(c)) != 0) {
        xacct_free_secret(text);
        return rc;
    }
    xacct_s3_object_t o = {
        .region = c->cfg->aws_region,
        .bucket = bucket,
        .key = key,
        .body = text,
        .len = strlen(text),
        .content_type = "application/json",
    };
    cli_res_t r = {0};
    rc = xacct_s3_put(c->aws, &o, s3_done, &r);
    xacct_free_secret(text);
    if (rc != 0)
        return cli_fail(c, "cannot upload the template to s3://%s: %s", bucket, xacct_strerror(rc));
    cli_wait(c, &r.done);
    if (r.status != 0) {
        char what[256];
        snprintf(what, sizeof(what), "uploading the template to s3://%s", bucket);
        cli_fail_aws(c, r.status, r.detail, what);
        cli_res_clear(&r);
        return CLI_FAIL;
    }
    cli_res_clear(&r);
    /* The stack is launched in the topic's region: a custom resource can
     * only use a topic of its own region. */
    if (xacct_s3_object_url(NULL, NULL, c->cfg->aws_region, bucket, key, &url) != 0 ||
        xacct_launch_url_build(topic.region, url, c->cfg->cfn_stack_name, &launch) != 0) {
        free(url);
        return cli_fail(c, "cannot build the launch URL (check cloudformation.stack_name and "
                           "the S3 endpoint)");
    }
    json_object_set_new(info, "template_url", json_string(url));
    json_object_set_new(info, "launch_url", json_string(launch));
    free(url);
    free(launch);
    return 0;
}

int cli_template_remove(cli_t *c, const char *account, const char *old_external_id)
{
    const char *bucket = c->cfg->cfn_template_bucket;
    if (bucket == NULL || bucket[0] == '\0' || old_external_id == NULL || !old_external_id[0])
        return 0;
    char key[XACCT_TEMPLATE_KEY_MAX];
    if (xacct_template_s3_key(account, old_external_id, key, sizeof(key)) != 0)
        return 0;
    int rc = cli_aws(c);
    if (rc != 0)
        return rc;
    xacct_s3_object_t o = {.region = c->cfg->aws_region, .bucket = bucket, .key = key};
    cli_res_t r = {0};
    if ((rc = xacct_s3_delete(c->aws, &o, s3_done, &r)) != 0)
        return cli_fail(c, "cannot delete the old template: %s", xacct_strerror(rc));
    cli_wait(c, &r.done);
    rc = r.status == 0 ? 0 : cli_fail_aws(c, r.status, r.detail, "deleting the old template");
    cli_res_clear(&r);
    return rc;
}
