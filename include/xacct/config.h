/* SPDX-License-Identifier: MIT */
/*
 * Configuration: an INI file (SPEC §6) read with inih into an immutable
 * snapshot, driven by one key table (section, key, type, default, reloadable).
 * Every key can be overridden from the environment as XACCT_<SECTION>_<KEY>.
 * A reload builds a new snapshot; the old one stays in force if it fails.
 */
#ifndef XACCT_CONFIG_H
#define XACCT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "xacct/common.h"
#include "xacct/log.h"

#define XACCT_CONFIG_DEFAULT_PATH "/etc/xacct/xacctd.conf"

/* A comma-separated list, split and trimmed. */
typedef struct xacct_strlist {
    char **items; /* owned */
    size_t n;
} xacct_strlist_t;

typedef struct xacct_config {
    char *path;                       /* file it was read from (owned) */

    /* [aws] */
    char *aws_region;                 /* default: $AWS_REGION, then $AWS_DEFAULT_REGION */
    char *aws_partner_account_id;     /* required, 12 digits */

    /* [queue] */
    xacct_strlist_t queue_urls;       /* required */
    int queue_wait_seconds;           /* 20, 0..20 */
    int queue_max_messages;           /* 10, 1..10 */
    int queue_visibility_timeout;     /* 120, 1..43200 */
    int queue_max_in_flight;          /* 64, >= 1 */
    int queue_max_receives;           /* 5, >= 1 */

    /* [sns] */
    xacct_strlist_t sns_topic_arns;   /* required */
    bool sns_verify_signatures;       /* true */
    bool sns_raw_delivery;            /* false */
    xacct_strlist_t sns_cert_hosts;   /* sns.*.amazonaws.com, sns.*.amazonaws.com.cn */

    /* [cloudformation] */
    xacct_strlist_t cfn_response_hosts;   /* cloudformation-custom-resource-response-*... */
    char *cfn_stack_name;                 /* xacct-onboarding */
    char *cfn_template_bucket;            /* "" = no upload */
    char *cfn_role_policy_file;           /* /etc/xacct/role-policy.json */
    int cfn_service_timeout;              /* ServiceTimeout in templates; 300 seconds */
    char *cfn_template_dir;               /* where onboard writes templates without a bucket;
                                             default "." */

    /* [check] */
    int check_propagation_timeout;    /* 120 seconds */

    /* [console] */
    char *console_federation_url;     /* https://signin.aws.amazon.com/federation */
    char *console_destination;        /* https://console.aws.amazon.com/ */
    char *console_issuer;             /* shown on the AWS sign-in page; "xacct" */

    /* [redis] */
    char *redis_url;                  /* redis://127.0.0.1:6379/0 */
    char *redis_prefix;               /* xacct: */

    /* [metrics] */
    char *metrics_listen;             /* 127.0.0.1:9464; "" disables */

    /* [api] */
    char *api_listen;                 /* portal API host:port; "" (default) = off */
    char *api_tokens_file;            /* /etc/xacct/api-tokens: name:sha256-hex lines */

    /* [log] */
    xacct_log_level_t log_level;      /* info */
    xacct_log_format_t log_format;    /* logfmt */

    /* [shutdown] */
    int shutdown_grace_seconds;       /* 30 */
} xacct_config_t;

/*
 * Reads path (or only defaults and environment when path is NULL), applies
 * XACCT_<SECTION>_<KEY> overrides from the environment, checks types, ranges
 * and required keys. On failure returns XACCT_ECONFIG and writes
 * "file:line: key: reason" (or "XACCT_X_Y: reason" for the environment) into
 * err. *out is freed with xacct_config_free.
 */
int xacct_config_load(const char *path, xacct_config_t **out, char *err,
                      size_t errlen) XACCT_MUSTCHECK;

/* Like load, but without the required-key checks (for the CLI commands that
 * need only Redis, e.g. `xacct show`). */
int xacct_config_load_partial(const char *path, xacct_config_t **out, char *err,
                              size_t errlen) XACCT_MUSTCHECK;

/* Fills err with the first key that differs between old and new but cannot be
 * changed by a reload (SIGHUP); returns 0 when the reload is acceptable. */
int xacct_config_check_reload(const xacct_config_t *old, const xacct_config_t *new_cfg,
                              char *err, size_t errlen) XACCT_MUSTCHECK;

/* NULL does nothing. */
void xacct_config_free(xacct_config_t *cfg);

/* Writes "section.key = value" for every key, in table order, with the values
 * in force (defaults, file and environment applied; lists joined with ", ").
 * No key holds a secret, so all are printed. For --check-config output. */
void xacct_config_dump(const xacct_config_t *cfg, FILE *out);

/*
 * Host allow-list match (SPEC §6): pattern is "host" or "host:port" (an IPv6
 * literal in brackets, "[::1]:8443"); without a port only 443 matches. host
 * is a bare name or IP literal (brackets around IPv6 optional), as libcurl's
 * CURLUPART_HOST gives it. Case-insensitive.
 *
 * '*' stands for one or more characters (dots included). One refinement, so
 * that SPEC's own default "…-response-*.s3*.amazonaws.com" admits the real
 * us-east-1 host "…-response-useast1.s3.amazonaws.com": a '*' that follows
 * other characters of its label ("s3*", "response-*") may also stand for
 * nothing. A '*' that begins a label ("*.amazonaws.com", "sns.*.…") needs at
 * least one character.
 *
 * A pattern with '*' never matches an IP literal; an IP literal (in any form
 * the resolver would accept, e.g. "127.1") matches only a pattern that is that
 * same address. A host with characters outside [A-Za-z0-9.-_] matches nothing.
 */
bool xacct_host_pattern_match(const char *pattern, const char *host, int port);
/* True when any pattern of the list matches; false for an empty list. */
bool xacct_host_allowed(const xacct_strlist_t *patterns, const char *host, int port);

/* Checks that pattern is well formed (as accepted in the config); 0 or
 * XACCT_EINVAL. */
int xacct_host_pattern_check(const char *pattern) XACCT_MUSTCHECK;

#ifdef XACCT_UNIT_TESTING
/* Test hook: load from text (named file in messages) or from path when text is
 * NULL, reading the environment through getenv_fn instead of getenv(3). */
typedef const char *(*config_getenv_fn)(const char *name, void *ud);
int config_load_from(const char *path, const char *text, config_getenv_fn getenv_fn, void *ud,
                     bool partial, xacct_config_t **out, char *err, size_t errlen);
#endif

#endif
