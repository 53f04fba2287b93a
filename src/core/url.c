/* SPDX-License-Identifier: MIT */
/*
 * Allow-list checks for URLs taken from messages, with libcurl's CURLU
 * parser: the same parser that will be used to connect, so what is checked
 * is what is reached.
 */
#include "xacct/url.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/hostpat.h"

int xacct_url_check_allowed(const char *url, const xacct_strlist_t *hosts, unsigned flags,
                            const char *list_name, char **host_out, char **path_out, char *err,
                            size_t errlen)
{
    if (host_out != NULL)
        *host_out = NULL;
    if (path_out != NULL)
        *path_out = NULL;
    int rc = XACCT_EPARSE;
    char *scheme = NULL, *host = NULL, *user = NULL, *port = NULL, *path = NULL;
    CURLU *u = curl_url();
    if (u == NULL)
        return XACCT_ENOMEM;
    if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
        snprintf(err, errlen, "does not parse");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK || strcmp(scheme, "https") != 0) {
        snprintf(err, errlen, "is not https");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
        snprintf(err, errlen, "carries user information");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == '\0' ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
        snprintf(err, errlen, "has no host");
        goto out;
    }
    if (!xacct_hostpat_allowed(hosts, host, atoi(port), flags)) {
        snprintf(err, errlen, "host %.200s:%s is not in %s", host, port, list_name);
        goto out;
    }
    if (host_out != NULL)
        *host_out = xacct_strdup(host);
    if (path_out != NULL)
        *path_out = xacct_strdup(path);
    rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(u);
    return rc;
}
