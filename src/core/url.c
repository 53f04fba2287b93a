/* SPDX-License-Identifier: MIT */
/*
 * Allow-list checks for URLs taken from messages, with url_parts: the same
 * parser the HTTP client connects with, so what is checked is what is
 * reached.
 */
#include "xacct/url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/hostpat.h"
#include "xacct/url_parts.h"

int xacct_url_check_allowed(const char *url, const xacct_strlist_t *hosts, unsigned flags,
                            const char *list_name, char **host_out, char **path_out, char *err,
                            size_t errlen)
{
    if (host_out != NULL)
        *host_out = NULL;
    if (path_out != NULL)
        *path_out = NULL;
    xacct_url_parts_t u;
    int prc = xacct_url_parse(url, &u);
    if (prc == XACCT_ENOMEM)
        return prc;
    int rc = XACCT_EPARSE;
    if (prc != 0) {
        snprintf(err, errlen, "does not parse");
        goto out;
    }
    if (strcmp(u.scheme, "https") != 0) {
        snprintf(err, errlen, "is not https");
        goto out;
    }
    if (u.user != NULL) {
        snprintf(err, errlen, "carries user information");
        goto out;
    }
    if (!xacct_hostpat_allowed(hosts, u.host, u.port, flags)) {
        snprintf(err, errlen, "host %s%.200s%s:%d is not in %s", u.host_ipv6 ? "[" : "", u.host,
                 u.host_ipv6 ? "]" : "", u.port, list_name);
        goto out;
    }
    if (host_out != NULL)
        *host_out = xacct_strdup(u.host);
    if (path_out != NULL)
        *path_out = xacct_strdup(u.path[0] != '\0' ? u.path : "/");
    rc = 0;
out:
    xacct_url_parts_free(&u);
    return rc;
}
