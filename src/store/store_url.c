/* SPDX-License-Identifier: MIT */
/*
 * Parsing redis:// and rediss:// URLs into what the connection needs: host
 * (an IPv6 literal without brackets), port, optional ACL user and password
 * (percent-decoded; the password is wiped from every temporary copy), the
 * database number, and whether to use TLS. url_parts (uriparser) does
 * the parsing; this file only checks the parts.
 */
#include "xacct/store.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uriparser/Uri.h>

#include "xacct/url_parts.h"

/* A percent-decoded copy of s, or NULL when it decodes to a NUL byte (a
 * password cannot hold one) or memory runs out. */
static char *decoded(const char *s)
{
    char *d = xacct_strdup(s);
    const char *end = uriUnescapeInPlaceExA(d, URI_FALSE, URI_BR_DONT_TOUCH);
    if (end == NULL || strlen(d) != (size_t)(end - d)) {
        OPENSSL_cleanse(d, strlen(s));
        free(d);
        return NULL;
    }
    return d;
}

int xacct__store_parse_url(const char *url, char **host, int *port, char **user,
                                        char **password, int *db, int *tls, char *err,
                                        size_t errlen)
{
    int rc = XACCT_EINVAL;
    xacct_url_parts_t u;
    char *usr = NULL, *pw = NULL;

    *host = NULL;
    *user = NULL;
    *password = NULL;
    *port = 6379;
    *db = 0;
    *tls = 0;
    int prc = xacct_url_parse(url, &u);
    if (prc == XACCT_ENOMEM)
        abort();
    if (prc != 0) {
        snprintf(err, errlen, "redis URL does not parse (or has no host)");
        return XACCT_EINVAL;
    }
    if (strcmp(u.scheme, "redis") != 0 && strcmp(u.scheme, "rediss") != 0) {
        snprintf(err, errlen, "redis URL must start with redis:// or rediss://");
        goto out;
    }
    *tls = strcmp(u.scheme, "rediss") == 0;
    if (u.port_given && u.port < 1) {
        snprintf(err, errlen, "redis URL has a bad port");
        goto out;
    }
    *port = u.port;
    if ((u.user != NULL && (usr = decoded(u.user)) == NULL) ||
        (u.password != NULL && (pw = decoded(u.password)) == NULL)) {
        snprintf(err, errlen, "redis URL has a bad user name or password encoding");
        goto out;
    }
    if (usr != NULL && usr[0] != '\0' && pw == NULL) {
        snprintf(err, errlen, "redis URL names a user without a password");
        goto out;
    }
    const char *path = u.path;
    if (path[0] != '\0' && strcmp(path, "/") != 0) {
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
    /* hiredis wants an IPv6 literal without its brackets, as the parser gives it. */
    *host = xacct_strdup(u.host);
    if (usr != NULL && usr[0] != '\0')
        *user = xacct_strdup(usr);
    if (pw != NULL)
        *password = xacct_strdup(pw);
    rc = 0;
out:
    if (pw != NULL)
        OPENSSL_cleanse(pw, strlen(pw));
    free(usr);
    free(pw);
    if (u.password != NULL)
        OPENSSL_cleanse(u.password, strlen(u.password));
    xacct_url_parts_free(&u);
    return rc;
}
