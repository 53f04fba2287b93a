/* SPDX-License-Identifier: MIT */
/*
 * Getting a customer's CloudFormation template to the customer (SPEC §1):
 * render it (template.h) with cloudformation.role_policy_file, then either
 * upload it to cloudformation.template_bucket under its unguessable key and
 * build the quick-create link (launch_url.h), or write it to
 * cloudformation.template_dir for the operator to hand over. The template
 * holds the external ID: files are written 0600 and buffers are wiped.
 *
 * The asynchronous calls run on ctx's loop (the AWS client is started when
 * a bucket is configured). They return 0 and then call cb exactly once,
 * never from inside the call, or XACCT_EINVAL without calling it. detail and
 * the result's strings are borrowed for the callback.
 */
#ifndef XACCT_DELIVER_H
#define XACCT_DELIVER_H

#include <stddef.h>

#include "xacct/common.h"
#include "xacct/ctx.h"
#include "xacct/template.h"

/*
 * Renders the template for account from its external ID and topic. *text
 * is a heap string holding the external ID (free with xacct_free_secret).
 * XACCT_ENOTFOUND when topic_arn is empty (onboarding did not finish), a
 * read or render error otherwise; err holds one line.
 */
int xacct_deliver_render(const xacct_config_t *cfg, const char *account, const char *external_id,
                         const char *topic_arn, char **text, char *err,
                         size_t errlen) XACCT_MUSTCHECK;

/*
 * Today's TemplateVersion (SPEC §9.6) of the templates rendered for
 * customers publishing to topic_arn (of it only the partition counts):
 * computed from the current role policy file and configuration, as
 * xacct_deliver_render would render them. 0 with out set; a read or render
 * error otherwise (err holds one line).
 */
int xacct_deliver_version(const xacct_config_t *cfg, const char *topic_arn,
                          char out[XACCT_TEMPLATE_VERSION_LEN + 1], char *err,
                          size_t errlen) XACCT_MUSTCHECK;

/* Where the template went: uploaded (template_url and launch_url) or
 * written (template_file); the others are NULL. */
typedef struct xacct_deliver_result {
    const char *template_url;  /* presigned GetObject URL of the S3 object (a secret:
                                  template_link.h) */
    const char *launch_url;    /* CloudFormation quick-create link carrying it */
    const char *template_file; /* path of the file written */
} xacct_deliver_result_t;

typedef void (*xacct_deliver_cb)(int status, const char *detail, const xacct_deliver_result_t *res,
                                 void *arg);
typedef void (*xacct_deliver_done_cb)(int status, const char *detail, void *arg);

/* Renders and delivers it; res is NULL on failure. */
int xacct_deliver_template(xacct_ctx_t *ctx, const char *account, const char *external_id,
                           const char *topic_arn, xacct_deliver_cb cb, void *arg) XACCT_MUSTCHECK;

/* Deletes the uploaded template of an old external ID (status 0 at once
 * without a bucket or an old ID). */
int xacct_deliver_remove(xacct_ctx_t *ctx, const char *account, const char *old_external_id,
                         xacct_deliver_done_cb cb, void *arg) XACCT_MUSTCHECK;

#endif
