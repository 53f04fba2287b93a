/* SPDX-License-Identifier: MIT */
/*
 * Template delivery: read the role policy file, render, and either PUT the
 * template to S3 and build the launch link, or write it atomically (temp
 * file, fsync, rename) with mode 0600. Rendering and the file are local and
 * quick; the upload and the removal of an old template are S3 calls on the
 * loop. The uploaded template's URL is presigned (template_link.h).
 */
#include "xacct/deliver.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "xacct/arn.h"
#include "xacct/buf.h"
#include "xacct/launch_url.h"
#include "xacct/s3.h"
#include "xacct/template.h"
#include "xacct/template_link.h"

#define MAX_ROLE_POLICY (10u * 1024u) /* IAM's inline policy quota per role */

static int read_policy_file(const char *path, char **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "cloudformation.role_policy_file %s: %s", path, strerror(errno));
        return XACCT_ECONFIG;
    }
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
        snprintf(err, errlen, "cloudformation.role_policy_file %s: %s", path,
                 rc ? "larger than IAM's 10 KB inline policy quota" : "read error");
        return XACCT_ECONFIG;
    }
    *out = xacct_buf_steal(&b);
    return 0;
}

/* What rendering and versioning share: the role policy read from its file
 * and the template's parameters from the config. 0 or an error in err; the
 * caller frees *policy. */
static int template_params(const xacct_config_t *cfg, xacct_template_params_t *p, char **policy,
                           char *err, size_t errlen)
{
    *policy = NULL;
    const char *path = cfg->cfn_role_policy_file;
    if (path != NULL && path[0] != '\0') {
        int rc = read_policy_file(path, policy, err, errlen);
        if (rc != 0)
            return rc;
    }
    p->partner_account_id = cfg->aws_partner_account_id;
    p->role_policy = *policy;
    p->service_timeout = cfg->cfn_service_timeout;
    return 0;
}

static int template_failed(const xacct_config_t *cfg, int rc, const char *what, const char *why,
                           char *err, size_t errlen)
{
    snprintf(err, errlen, "cannot %s: %s%s%s", what, why, rc == XACCT_EPARSE ? " in " : "",
             rc == XACCT_EPARSE ? cfg->cfn_role_policy_file : "");
    return rc;
}

int xacct_deliver_render(const xacct_config_t *cfg, const char *account, const char *external_id,
                         const char *topic_arn, char **text, char *err, size_t errlen)
{
    *text = NULL;
    if (topic_arn == NULL || topic_arn[0] == '\0') {
        snprintf(err, errlen, "customer %s has no topic yet (onboarding did not finish)", account);
        return XACCT_ENOTFOUND;
    }
    char *policy = NULL;
    xacct_template_params_t p = {
        .account_id = account, .external_id = external_id, .topic_arn = topic_arn};
    int rc = template_params(cfg, &p, &policy, err, errlen);
    if (rc != 0)
        return rc;
    char why[256];
    rc = xacct_template_render(&p, text, why, sizeof(why));
    free(policy);
    return rc != 0 ? template_failed(cfg, rc, "render the template", why, err, errlen) : 0;
}

int xacct_deliver_version(const xacct_config_t *cfg, const char *topic_arn,
                          char out[XACCT_TEMPLATE_VERSION_LEN + 1], char *err, size_t errlen)
{
    out[0] = '\0';
    /* The per-customer values are replaced by stand-ins inside
     * xacct_template_version; these only have to be well-formed. */
    char *policy = NULL;
    xacct_template_params_t p = {
        .account_id = "000000000000", .external_id = "external-id", .topic_arn = topic_arn};
    int rc = template_params(cfg, &p, &policy, err, errlen);
    if (rc != 0)
        return rc;
    char why[256];
    rc = xacct_template_version(&p, out, why, sizeof(why));
    free(policy);
    return rc != 0 ? template_failed(cfg, rc, "compute the template version", why, err, errlen) : 0;
}

/* One delivery or removal in flight. */
typedef struct delivery {
    xacct_ctx_t *ctx;
    xacct_deliver_cb cb;           /* xacct_deliver_template */
    xacct_deliver_done_cb done_cb; /* xacct_deliver_remove */
    void *arg;
    int status;                       /* outcome */
    char *detail;                     /* its one line (owned) */
    char *bucket;                     /* for messages (owned) */
    char *topic_region;               /* where the stack is launched (owned) */
    char key[XACCT_TEMPLATE_KEY_MAX]; /* the S3 object */
    xacct_deliver_result_t res;       /* strings owned */
} delivery_t;

static void delivery_finish(void *arg)
{
    delivery_t *d = arg;
    if (d->cb != NULL)
        d->cb(d->status, d->detail, d->status == 0 ? &d->res : NULL, d->arg);
    else
        d->done_cb(d->status, d->detail, d->arg);
    free(d->detail);
    free(d->bucket);
    free(d->topic_region);
    xacct_free_secret((char *)d->res.template_url);
    xacct_free_secret((char *)d->res.launch_url);
    free((char *)d->res.template_file);
    free(d);
}

/* Reports from the next loop iteration (the result is already known). */
static int report_later(delivery_t *d, int status, char *detail)
{
    d->status = status;
    d->detail = detail;
    xacct_ctx_later(d->ctx, 0, delivery_finish, d);
    return 0;
}

static int write_file(delivery_t *d, const char *dir, const char *account, const char *text)
{
    char *path = xacct_asprintf("%s/xacct-%s.json", dir, account);
    /* A name nobody can guess, made by this call (O_EXCL, mode 0600): a file
     * or symlink planted in the directory is never written through, and the
     * template (it holds the external ID) is never left readable by others. */
    char *tmp = xacct_asprintf("%s/.xacct-%s.json.XXXXXX", dir, account);
    int fd = mkostemp(tmp, O_CLOEXEC);
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
    if (!ok && fd >= 0)
        unlink(tmp);
    free(tmp);
    if (!ok) {
        char *msg = xacct_asprintf("cannot write the template to %s: %s", path, strerror(saved));
        free(path);
        return report_later(d, XACCT_EIO, msg);
    }
    d->res.template_file = path;
    return report_later(d, 0, NULL);
}

static void put_done(int status, const char *detail, void *arg)
{
    delivery_t *d = arg;
    if (status != 0) {
        char what[256];
        snprintf(what, sizeof(what), "uploading the template to s3://%s", d->bucket);
        d->status = status;
        d->detail = xacct_ctx_aws_error(status, detail, what);
        delivery_finish(d);
        return;
    }
    /* The bucket is private: CloudFormation, acting for the customer, reads
     * the template through a presigned URL (template_link.h). */
    char *url = NULL, *launch = NULL;
    char why[256];
    time_t now = time(NULL);
    long life = xacct_template_link_life(xacct_template_link_pending_ttl(d->ctx->cfg), now, now);
    int rc = xacct_template_link_presign(d->ctx, d->key, life, &url, why, sizeof(why));
    if (rc != 0) {
        d->status = rc;
        d->detail = xacct_strdup(why);
        delivery_finish(d);
        return;
    }
    /* The stack is launched in the topic's region: a custom resource can
     * only use a topic of its own region. */
    if (xacct_launch_url_build(d->topic_region, url, d->ctx->cfg->cfn_stack_name, &launch) != 0) {
        xacct_free_secret(url);
        d->status = XACCT_ECONFIG;
        d->detail = xacct_strdup("cannot build the launch URL (check cloudformation.stack_name "
                                 "and the S3 endpoint)");
    } else {
        d->res.template_url = url;
        d->res.launch_url = launch;
    }
    delivery_finish(d);
}

int xacct_deliver_template(xacct_ctx_t *ctx, const char *account, const char *external_id,
                           const char *topic_arn, xacct_deliver_cb cb, void *arg)
{
    if (ctx == NULL || account == NULL || external_id == NULL || cb == NULL)
        return XACCT_EINVAL;
    delivery_t *d = xacct_calloc(1, sizeof(*d));
    d->ctx = ctx;
    d->cb = cb;
    d->arg = arg;
    char *text = NULL;
    char err[512];
    int rc =
        xacct_deliver_render(ctx->cfg, account, external_id, topic_arn, &text, err, sizeof(err));
    if (rc != 0)
        return report_later(d, rc, xacct_strdup(err));
    const xacct_config_t *cfg = ctx->cfg;
    const char *bucket = cfg->cfn_template_bucket;
    if (bucket == NULL || bucket[0] == '\0') {
        const char *dir =
            cfg->cfn_template_dir && cfg->cfn_template_dir[0] ? cfg->cfn_template_dir : ".";
        rc = write_file(d, dir, account, text);
        xacct_free_secret(text);
        return rc;
    }
    xacct_arn_t topic;
    if (xacct_arn_parse(topic_arn, &topic) != 0 ||
        xacct_template_s3_key(account, external_id, d->key, sizeof(d->key)) != 0) {
        xacct_free_secret(text);
        return report_later(d, XACCT_EINVAL, xacct_strdup("cannot name the template object"));
    }
    d->bucket = xacct_strdup(bucket);
    d->topic_region = xacct_strdup(topic.region);
    xacct_s3_object_t o = {
        .region = cfg->aws_region,
        .bucket = bucket,
        .key = d->key,
        .body = text,
        .len = strlen(text),
        .content_type = "application/json",
    };
    rc = ctx->aws != NULL ? xacct_s3_put(ctx->aws, &o, put_done, d) : XACCT_EINVAL;
    xacct_free_secret(text);
    if (rc != 0)
        return report_later(d, rc,
                            xacct_asprintf("cannot upload the template to s3://%s: %s", bucket,
                                           xacct_strerror(rc)));
    return 0;
}

static void delete_done(int status, const char *detail, void *arg)
{
    delivery_t *d = arg;
    d->status = status;
    if (status != 0)
        d->detail = xacct_ctx_aws_error(status, detail, "deleting the old template");
    delivery_finish(d);
}

int xacct_deliver_remove(xacct_ctx_t *ctx, const char *account, const char *old_external_id,
                         xacct_deliver_done_cb cb, void *arg)
{
    if (ctx == NULL || account == NULL || cb == NULL)
        return XACCT_EINVAL;
    delivery_t *d = xacct_calloc(1, sizeof(*d));
    d->ctx = ctx;
    d->done_cb = cb;
    d->arg = arg;
    const char *bucket = ctx->cfg->cfn_template_bucket;
    if (bucket == NULL || bucket[0] == '\0' || old_external_id == NULL ||
        old_external_id[0] == '\0' ||
        xacct_template_s3_key(account, old_external_id, d->key, sizeof(d->key)) != 0)
        return report_later(d, 0, NULL);
    xacct_s3_object_t o = {.region = ctx->cfg->aws_region, .bucket = bucket, .key = d->key};
    int rc = ctx->aws != NULL ? xacct_s3_delete(ctx->aws, &o, delete_done, d) : XACCT_EINVAL;
    if (rc != 0)
        return report_later(
            d, rc, xacct_asprintf("cannot delete the old template: %s", xacct_strerror(rc)));
    return 0;
}
