/* SPDX-License-Identifier: MIT */
/*
 * Builds the CloudFormation console links: quick-create (a new stack) and
 * update-stack (an existing one). The template URL is checked with libcurl's
 * URL parser and percent-encoded with libcurl, so the link carries it (and
 * the stack ARN) as opaque parameters of the console's fragment route.
 */
#include "xacct/launch_url.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/arn.h"

bool xacct_launch_url_stack_name_valid(const char *name)
{
    if (name == NULL)
        return false;
    size_t n = strlen(name);
    if (n == 0 || n > 128)
        return false;
    if (!((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z')))
        return false;
    for (size_t i = 1; i < n; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-'))
            return false;
    }
    return true;
}

static bool is_https_url(const char *url)
{
    CURLU *u = curl_url();
    if (u == NULL)
        return false;
    char *scheme = NULL, *host = NULL;
    bool ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
              strcmp(scheme, "https") == 0 && host[0] != '\0';
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

/* The console of the region's partition (aws, aws-cn, aws-us-gov), on the
 * region's own host (<region>.console.aws.amazon.com), the form AWS gives
 * quick-create links in: the global host only redirects there. */
static const char *console_domain(const char *region)
{
    if (strncmp(region, "cn-", 3) == 0)
        return "console.amazonaws.cn";
    if (strncmp(region, "us-gov-", 7) == 0)
        return "console.amazonaws-us-gov.com";
    return "console.aws.amazon.com";
}

int xacct_launch_url_build(const char *region, const char *template_url, const char *stack_name,
                           char **out)
{
    *out = NULL;
    if (!xacct_region_valid(region) || template_url == NULL || !is_https_url(template_url) ||
        !xacct_launch_url_stack_name_valid(stack_name))
        return XACCT_EINVAL;
    char *enc = curl_easy_escape(NULL, template_url, 0);
    if (enc == NULL)
        return XACCT_ENOMEM;
    *out = xacct_asprintf("https://%s.%s/cloudformation/home?region=%s#/stacks/quickcreate?"
                          "templateURL=%s&stackName=%s",
                          region, console_domain(region), region, enc, stack_name);
    curl_free(enc);
    return 0;
}

int xacct_launch_update_url(const char *stack_id, const char *template_url, char **out)
{
    *out = NULL;
    char account[13], region[32], name[129];
    if (stack_id == NULL || xacct_arn_parse_stack(stack_id, account, region, name) != 0 ||
        !xacct_region_valid(region) || template_url == NULL || !is_https_url(template_url))
        return XACCT_EINVAL;
    char *stack = curl_easy_escape(NULL, stack_id, 0);
    char *tpl = curl_easy_escape(NULL, template_url, 0);
    int rc = XACCT_ENOMEM;
    if (stack != NULL && tpl != NULL) {
        *out = xacct_asprintf("https://%s.%s/cloudformation/home?region=%s"
                              "#/stacks/update/template?stackId=%s&templateURL=%s",
                              region, console_domain(region), region, stack, tpl);
        rc = 0;
    }
    curl_free(stack);
    curl_free(tpl);
    return rc;
}
