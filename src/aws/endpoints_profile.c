/* SPDX-License-Identifier: MIT */
/*
 * The endpoint settings of the selected shared-config profile, read once at
 * start: its endpoint_url, the per-service endpoint_urls of the
 * "[services NAME]" section it names, and ignore_configured_endpoint_urls.
 * They are answered through a getenv-shaped lookup layered over the
 * environment (names that no environment variable can collide with, see
 * endpoints.h), so every caller of xacct_endpoints_resolve keeps passing one
 * (getenv, arg) pair and the precedence stays in one place, endpoints.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/aws_profile.h"
#include "xacct/endpoints.h"

struct xacct_endpoints_profile {
    xacct_getenv_fn _getenv;          /* the environment beneath */
    void *_getenv_arg;                /* borrowed */
    char *_endpoint_url;              /* the profile's endpoint_url, owned, or NULL */
    char *_ignore;                    /* ignore_configured_endpoint_urls, owned, or NULL */
    xacct_aws_services_t _services;   /* the [services NAME] entries */
};

const char *xacct_endpoints_profile_getenv(const char *name, void *arg)
{
    const xacct_endpoints_profile_t *p = arg;
    size_t plen = strlen(XACCT_ENDPOINTS_PROFILE_PREFIX);
    if (p == NULL)
        return xacct_endpoints_getenv(name, NULL);
    if (strncmp(name, XACCT_ENDPOINTS_PROFILE_PREFIX, plen) != 0)
        return p->_getenv(name, p->_getenv_arg);
    name += plen;
    if (strcmp(name, "ignore_configured_endpoint_urls") == 0)
        return p->_ignore;
    if (strcmp(name, "endpoint_url") == 0)
        return p->_endpoint_url;
    if (strncmp(name, "endpoint_url.", 13) == 0)
        for (size_t i = 0; i < p->_services.n; i++)
            if (strcmp(p->_services.items[i].service, name + 13) == 0)
                return p->_services.items[i].url;
    return NULL;
}

/* A URL from the files is checked at start, so a typo stops the start with
 * the setting named instead of failing every call later. */
static int check_url(const char *profile, const char *what, const char *url, char *err,
                     size_t errlen)
{
    if (xacct_endpoints_url_ok(url))
        return 0;
    snprintf(err, errlen,
             "AWS profile %s: %s: not an absolute http(s) URL without credentials, query or "
             "fragment",
             profile, what);
    return XACCT_ECONFIG;
}

int xacct_endpoints_profile_new(xacct_getenv_fn getenv_fn, void *getenv_arg,
                                xacct_endpoints_profile_t **out, char *err, size_t errlen)
{
    int rc;
    char dummy[1], what[96];
    xacct_aws_profile_t prof;

    *out = NULL;
    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = '\0';
    if (getenv_fn == NULL)
        getenv_fn = xacct_endpoints_getenv;
    xacct_endpoints_profile_t *p = xacct_calloc(1, sizeof(*p));
    p->_getenv = getenv_fn;
    p->_getenv_arg = getenv_arg;
    if ((rc = xacct_aws_profile_load(getenv_fn, getenv_arg, NULL, &prof, err, errlen)) != 0)
        goto out;
    p->_ignore = prof.ignore_configured_endpoint_urls;
    prof.ignore_configured_endpoint_urls = NULL;
    p->_endpoint_url = prof.endpoint_url;
    prof.endpoint_url = NULL;
    if (p->_endpoint_url != NULL &&
        (rc = check_url(prof.name, "endpoint_url", p->_endpoint_url, err, errlen)) != 0)
        goto out;
    if ((rc = xacct_aws_profile_services(getenv_fn, getenv_arg, prof.services, &p->_services,
                                         err, errlen)) != 0)
        goto out;
    for (size_t i = 0; i < p->_services.n; i++) {
        snprintf(what, sizeof(what), "[services %s] %s endpoint_url", prof.services,
                 p->_services.items[i].service);
        if ((rc = check_url(prof.name, what, p->_services.items[i].url, err, errlen)) != 0)
            goto out;
    }
    *out = p;
    p = NULL;
out:
    xacct_aws_profile_destroy(&prof);
    xacct_endpoints_profile_free(p);
    return rc;
}

void xacct_endpoints_profile_free(xacct_endpoints_profile_t *p)
{
    if (p == NULL)
        return;
    free(p->_endpoint_url);
    free(p->_ignore);
    xacct_aws_services_destroy(&p->_services);
    free(p);
}
