/* SPDX-License-Identifier: MIT */
/*
 * The AWS shared configuration files, read the way the AWS SDKs and CLI read
 * them: the profile named by AWS_PROFILE (else "default"), from the
 * credentials file (AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials;
 * sections are bare profile names) and the config file (AWS_CONFIG_FILE,
 * else ~/.aws/config; sections are "[default]" or "[profile NAME]"). Where
 * both files set a key for the same profile, the credentials file wins. The
 * INI syntax is inih's; values run to the end of the line (no inline
 * comments, as in the SDKs), and indented continuation lines (the nested
 * "s3 =" blocks) are ignored in profiles; in a "[services NAME]" section they
 * carry each service's endpoint_url. Only the keys xacct uses are kept.
 */
#ifndef XACCT_AWS_PROFILE_H
#define XACCT_AWS_PROFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "xacct/common.h"

/* getenv-like lookup (the same shape as creds.h's xacct_getenv_fn). */
typedef const char *(*xacct_aws_profile_getenv_fn)(const char *name, void *arg);

typedef struct xacct_aws_profile {
    char *name;                  /* the profile's name, owned */
    bool found;                  /* a section for it exists in either file */
    char *access_key_id;         /* aws_access_key_id, owned */
    char *secret_access_key;     /* aws_secret_access_key, owned secret */
    char *session_token;         /* aws_session_token, owned secret */
    char *role_arn;              /* role_arn, owned */
    char *source_profile;        /* source_profile, owned */
    char *external_id;           /* external_id, owned (never logged) */
    char *role_session_name;     /* role_session_name, owned */
    char *duration_seconds;      /* duration_seconds, owned */
    char *credential_process;    /* credential_process, owned */
    char *region;                /* region, owned */
    char *endpoint_url;          /* endpoint_url: every service's endpoint, owned */
    char *services;              /* services: the [services NAME] section to use, owned */
    char *ignore_configured_endpoint_urls; /* owned */
    char *metadata_service_timeout;        /* IMDS request timeout, seconds, owned */
    char *metadata_service_num_attempts;   /* IMDS attempts per request, owned */
    char *ec2_metadata_service_endpoint;   /* owned */
    char *ec2_metadata_service_endpoint_mode; /* IPv4 or IPv6, owned */
    char *unsupported;           /* first key naming a way to get credentials xacct does
                                    not implement (sso_session, sso_start_url,
                                    credential_source, web_identity_token_file), owned */
} xacct_aws_profile_t;

/* AWS_PROFILE, else AWS_DEFAULT_PROFILE, else "default". Borrowed. */
const char *xacct_aws_profile_selected(xacct_aws_profile_getenv_fn g, void *arg);

/* Whether the profile was named in the environment (an explicit choice that
 * must exist) rather than the implicit "default". */
bool xacct_aws_profile_explicit(xacct_aws_profile_getenv_fn g, void *arg);

/*
 * Reads profile name (NULL = the selected one) from both files into *out
 * (release with xacct_aws_profile_destroy, also after a failure). A missing
 * file is no error; an unreadable one or an INI syntax error is XACCT_ECONFIG
 * with "file:line: reason" in err. Returns 0 whether or not the profile
 * exists (see out->found).
 */
int xacct_aws_profile_load(xacct_aws_profile_getenv_fn g, void *arg, const char *name,
                           xacct_aws_profile_t *out, char *err, size_t errlen) XACCT_MUSTCHECK;

/* Wipes the secrets and frees every field. */
void xacct_aws_profile_destroy(xacct_aws_profile_t *p);

/* One service's endpoint_url from a [services NAME] section. */
typedef struct xacct_aws_service_url {
    char *service;               /* the key: service id lower case, spaces as '_', owned */
    char *url;                   /* its nested endpoint_url, owned */
} xacct_aws_service_url_t;

typedef struct xacct_aws_services {
    xacct_aws_service_url_t *items; /* owned */
    size_t n;
} xacct_aws_services_t;

/*
 * Reads the "[services NAME]" section of the config file into *out (release
 * with xacct_aws_services_destroy, also after a failure): each service key
 * ("s3 =") with its indented "endpoint_url = URL" line, the first one of a
 * service winning. A section that does not exist gives no entries. Returns 0
 * or XACCT_ECONFIG as xacct_aws_profile_load.
 */
int xacct_aws_profile_services(xacct_aws_profile_getenv_fn g, void *arg, const char *name,
                               xacct_aws_services_t *out, char *err, size_t errlen) XACCT_MUSTCHECK;
void xacct_aws_services_destroy(xacct_aws_services_t *s);

/*
 * The region of the selected profile, into *out (caller frees), or NULL when
 * it names none or the files do not exist. Returns 0 or XACCT_ECONFIG (err).
 */
int xacct_aws_profile_region(xacct_aws_profile_getenv_fn g, void *arg, char **out, char *err,
                             size_t errlen) XACCT_MUSTCHECK;

#endif
