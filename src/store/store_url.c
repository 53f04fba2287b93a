/* SPDX-License-Identifier: MIT */
/*
 * Parsing redis:// and rediss:// URLs into what the connection needs: host
 * (an IPv6 literal without brackets), port, optional ACL user and password
 * (percent-decoded; the password is wiped from every temporary copy), the
 * database number, and whether to use TLS. libcurl's URL API does the
 * parsing; this file only checks the parts.
 */
#include "xacct/store.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int xacct__store_parse_url(const char *url, char **host, int *port, char **user,
                                        char **password, int *db, int *tls, char *err,
                                        size_t errlen)
{
    int rc = XACCT_EINVAL;
    CURLU *u = curl_url();
    char *scheme = NULL, *h = NULL, *p = NULL, *usr = NULL, *pw = NULL, *path = NULL;

    *host = NULL;
    *user = NULL;
    *password = NULL;
    *port = 6379;
    *db = 0;
    *tls = 0;
    if (u == NULL)
        abort();
    if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
        snprintf(err, errlen, "redis URL does not parse");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcmp(scheme, "redis") != 0 && strcmp(scheme, "rediss") != 0)) {
        snprintf(err, errlen, "redis URL must start with redis:// or rediss://");
        goto out;
    }
    *tls = strcmp(scheme, "rediss") == 0;
    if (curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK || h[0] == '\0') {
        snprintf(err, errlen, "redis URL has no host");
        goto out;
    }
    CURLUcode pc = curl_url_get(u, CURLUPART_PORT, &p, 0);
    if (pc == CURLUE_OK) {
        char *end;
        long v = strtol(p, &end, 10);
        if (*end != '\0' || v < 1 || v > 65535) {
            snprintf(err, errlen, "redis URL has a bad port");
            goto out;
        }
        *port = (int)v;
    } else if (pc != CURLUE_NO_PORT) {
        snprintf(err, errlen, "redis URL has a bad port");
        goto out;
    }
    /* Absent is fine; present but not decodable (%00) must not pass for
     * absent, or the server would be dialled without its password. */
    CURLUcode uc = curl_url_get(u, CURLUPART_USER, &usr, CURLU_URLDECODE);
    if (uc != CURLUE_OK) {
        curl_free(usr);
        usr = NULL;
    }
    CURLUcode pwc = curl_url_get(u, CURLUPART_PASSWORD, &pw, CURLU_URLDECODE);
    if (pwc != CURLUE_OK) {
        curl_free(pw);
        pw = NULL;
    }
    if ((uc != CURLUE_OK && uc != CURLUE_NO_USER) ||
        (pwc != CURLUE_OK && pwc != CURLUE_NO_PASSWORD)) {
        snprintf(err, errlen, "redis URL user or password does not percent-decode");
        goto out;
    }
    if (usr != NULL && usr[0] != '\0' && pw == NULL) {
        snprintf(err, errlen, "redis URL names a user without a password");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK && path[0] != '\0' &&
        strcmp(path, "/") != 0) {
        const char *d = path + 1;
        char *end;
        if (!isdigit((unsigned char)d[0])) {
            snprintf(err, errlen, "redis URL path must be a database number");
            goto out;
        }
        errno = 0;
        long v = strtol(d, &end, 10);
        if (*end != '\0' || errno != 0 || v < 0 || v > INT_MAX) {
            snprintf(err, errlen, "redis URL path must be a database number");
            goto out;
        }
        *db = (int)v;
    }
    /* hiredis wants an IPv6 literal without its brackets. */
    size_t hl = strlen(h);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']')
        *host = xacct_strndup(h + 1, hl - 2);
    else
        *host = xacct_strdup(h);
    if (usr != NULL && usr[0] != '\0')
        *user = xacct_strdup(usr);
    if (pw != NULL)
        *password = xacct_strdup(pw);
    rc = 0;
out:
    if (pw != NULL)
        OPENSSL_cleanse(pw, strlen(pw));
    curl_free(scheme);
    curl_free(h);
    curl_free(p);
    curl_free(usr);
    curl_free(pw);
    curl_free(path);
    curl_url_cleanup(u);
    return rc;
}
