/* SPDX-License-Identifier: MIT */
/*
 * Inside the configuration module (not part of its API, config.h): the key
 * table that drives defaults, parsing, overrides, validation, the reload
 * check and the dump, and the helpers that read and set one key's value.
 * config_keys.c holds the table and the value checks, config.c reads the
 * file and the environment, config_dump.c compares and prints snapshots.
 */
#ifndef XACCT_CONFIG_KEYS_H
#define XACCT_CONFIG_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "xacct/config.h"

typedef enum {
    KT_STRING,
    KT_INT,
    KT_BOOL,
    KT_LIST,
    KT_LEVEL,
    KT_FORMAT,
} key_type_t;

/* Extra checks on the text of a value (each list item for lists). */
typedef enum {
    CHK_NONE,
    CHK_REGION,  /* [a-z0-9-], goes into endpoint host names */
    CHK_ACCOUNT, /* 12 digits */
    CHK_URL,     /* http(s) URL that libcurl parses */
    CHK_HTTPS_URL, /* https URL that libcurl parses */
    CHK_TOPIC,   /* arn:<partition>:sns:<region>:<account>:<name> */
    CHK_HOST,    /* a host pattern */
    CHK_CERT_HOST, /* a host pattern whose '*' stands for a region name */
    CHK_LISTEN,  /* host:port, or empty */
    CHK_STACK,   /* CloudFormation stack name */
    CHK_BUCKET,  /* S3 bucket name, or empty */
    CHK_WEBHOOK, /* https URL, or http to 127.0.0.1/[::1]; or empty */
} key_check_t;

#define KF_RELOAD 0x1u   /* may change on SIGHUP */
#define KF_REQUIRED 0x2u /* must be non-empty after load (not in _partial) */
#define KF_URL_PASSWORD 0x4u /* a URL that may carry a password: masked in the dump */
#define KF_SECRET 0x10u /* a secret: the dump shows "***" when it is set */
#define KF_URL_PATH_SECRET 0x8u /* a URL whose path and query may be a secret (a
                                   webhook's token): only scheme and host dumped */

typedef struct xacct__config_key {
    const char *section;
    const char *key;
    key_type_t type;
    size_t off;          /* offsetof the field in xacct_config_t */
    const char *dflt;    /* default, as it would be written in the file */
    long min, max;       /* KT_INT range */
    key_check_t check;   /* value check */
    unsigned flags;      /* KF_* */
} xacct__config_key_t;

/* Every key, in the order of the dump and of config/xacctd.conf. */
extern const xacct__config_key_t xacct__config_keys[];
extern const size_t xacct__config_nkeys;

/* The field of cfg that k describes. */
static inline void *xacct__config_field(xacct_config_t *cfg, const xacct__config_key_t *k)
{
    return (char *)cfg + k->off;
}

static inline const void *xacct__config_cfield(const xacct_config_t *cfg,
                                                const xacct__config_key_t *k)
{
    return (const char *)cfg + k->off;
}

/* "XACCT_" + SECTION + "_" + KEY, upper case, into out. */
void xacct__config_env_name(const xacct__config_key_t *k, char *out, size_t outlen);

/* The key named section.name (case-insensitive), or NULL; *section_known
 * says whether any key lives in that section. */
const xacct__config_key_t *xacct__config_find_key(const char *section, const char *name,
                                                  bool *section_known);

/* Parses s as k's type into cfg (append: a list key's repeated line adds
 * items). Returns NULL, or the reason s was refused (static text or
 * why_buf). */
const char *xacct__config_set_value(const xacct__config_key_t *k, xacct_config_t *cfg,
                                    const char *s, bool append, char *why_buf, size_t why_len);

/* A string or list key with no value. */
bool xacct__config_key_empty(const xacct_config_t *cfg, const xacct__config_key_t *k);

/* Frees a list's items and empties it. */
void xacct__config_strlist_clear(xacct_strlist_t *l);

#endif
