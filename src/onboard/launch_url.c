/* SPDX-License-Identifier: MIT */
/*
 * Builds the CloudFormation console links: quick-create (a new stack) and
 * update-stack (an existing one). The template URL is checked with url_parts
 * and percent-encoded (RFC 3986), so the link carries it (and
 * the stack ARN) as opaque parameters of the console's fragment route.
 */
#include "xacct/launch_url.h"

#include <stdlib.h>
#include <string.h>

#include "xacct/arn.h"
#include "xacct/url_parts.h"

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
    xacct_url_parts_t u;
    if (xacct_url_parse(url, &u) != 0)
        return false;
    bool ok = strcmp(u.scheme, "https") == 0;
    xacct_url_parts_free(&u);
    return ok;
}

static const char *console_host(const char *region)
{
    return strncmp(region, "cn-", 3) == 0 ? "console.amazonaws.cn" : "console.aws.amazon.com";
}

int xacct_launch_url_build(const char *region, const char *template_url, const char *stack_name,
                           char **out)
{
    *out = NULL;
    if (!xacct_region_valid(region) || template_url == NULL || !is_https_url(template_url) ||
        !xacct_launch_url_stack_name_valid(stack_name))
        return XACCT_EINVAL;
    char *enc = xacct_url_escape(template_url, strlen(template_url));
    if (enc == NULL)
        return XACCT_ENOMEM;
    *out = xacct_asprintf("https://%s/cloudformation/home?region=%s#/stacks/quickcreate?"
                          "templateURL=%s&stackName=%s",
                          console_host(region), region, enc, stack_name);
    free(enc);
    return 0;
}

int xacct_launch_update_url(const char *stack_id, const char *template_url, char **out)
{
    *out = NULL;
    char account[13], region[32], name[129];
    if (stack_id == NULL || xacct_arn_parse_stack(stack_id, account, region, name) != 0 ||
        !xacct_region_valid(region) || template_url == NULL || !is_https_url(template_url))
        return XACCT_EINVAL;
    char *stack = xacct_url_escape(stack_id, strlen(stack_id));
    char *tpl = xacct_url_escape(template_url, strlen(template_url));
    int rc = XACCT_ENOMEM;
    if (stack != NULL && tpl != NULL) {
        *out = xacct_asprintf("https://%s/cloudformation/home?region=%s#/stacks/update/template?"
                              "stackId=%s&templateURL=%s",
                              console_host(region), region, stack, tpl);
        rc = 0;
    }
    free(stack);
    free(tpl);
    return rc;
}
