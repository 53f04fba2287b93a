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

/* Default cloudformation.response_hosts: the buckets CloudFormation presigns
 * ResponseURLs for, virtual-hosted on the global "s3", the older dashed
 * "s3-<region>" and the dotted "s3.<region>" endpoints, in both partitions
 * with a .com and a .com.cn suffix. */
#define XACCT_CFN_RESPONSE_HOSTS                                         \
    "cloudformation-custom-resource-response-*.s3*.amazonaws.com, "      \
    "cloudformation-custom-resource-response-*.s3.*.amazonaws.com, "     \
    "cloudformation-custom-resource-response-*.s3*.amazonaws.com.cn, "   \
    "cloudformation-custom-resource-response-*.s3.*.amazonaws.com.cn"

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
    int aws_max_host_connections;     /* 64, 1..10000: open HTTPS connections per host */
    int aws_max_connections;          /* 256, 1..100000: open HTTPS connections in all */

    /* [queue] */
    xacct_strlist_t queue_urls;       /* required */
    int queue_wait_seconds;           /* 20, 0..20 */
    int queue_max_messages;           /* 10, 1..10 */
    int queue_visibility_timeout;     /* 120, 1..43200 */
    int queue_max_in_flight;          /* 64, >= 1 */
    int queue_receivers;              /* 1, 1..16: receives outstanding at most */
    int queue_max_receives;           /* 5, >= 1 */

    /* [sns] */
    xacct_strlist_t sns_topic_arns;   /* required */
    bool sns_verify_signatures;       /* true */
    bool sns_raw_delivery;            /* false */
    xacct_strlist_t sns_cert_hosts;   /* sns.*.amazonaws.com, sns.*.amazonaws.com.cn;
                                         '*' stands for a region name (hostpat.h) */

    /* [cloudformation] */
    xacct_strlist_t cfn_response_hosts;   /* XACCT_CFN_RESPONSE_HOSTS (hostpat.h) */
    char *cfn_stack_name;                 /* xacct-onboarding */
    char *cfn_template_bucket;            /* "" = no upload */
    char *cfn_role_policy_file;           /* /etc/xacct/role-policy.json */
    int cfn_service_timeout;              /* ServiceTimeout in templates; 300 seconds */
    char *cfn_template_dir;               /* where onboard writes templates without a bucket;
                                             default "." */

    /* [check] */
    int check_propagation_timeout;    /* 120 seconds */
    int check_reverify_interval;      /* 86400 seconds between re-verifications; 0 = off */
    int check_reverify_rate;          /* 10 re-verifications started per second per worker */
    int onboard_pending_ttl;          /* 604800 seconds before a pending onboarding expires;
                                         0 = never */

    /* [console] */
    char *console_federation_url;     /* https://signin.aws.amazon.com/federation */
    char *console_destination;        /* https://console.aws.amazon.com/ */
    char *console_issuer;             /* shown on the AWS sign-in page; "xacct" */

    /* [redis] */
    char *redis_url;                  /* redis://127.0.0.1:6379/0 */
    char *redis_prefix;               /* xacct: */
    char *redis_tls_ca_file;          /* "" = system trust store (rediss://) */
    char *redis_tls_cert_file;        /* "" = no client certificate */
    char *redis_tls_key_file;         /* "" */
    xacct_strlist_t redis_sentinels;  /* host:port list; empty = no Sentinel */
    char *redis_master_name;          /* mymaster */
    char *redis_sentinel_password;    /* the sentinels' requirepass, or "" */
    int redis_command_timeout;        /* 5 seconds */

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

    /* [events] (SPEC §8) */
    char *events_webhook_url;         /* "" = no webhook; https, or http to 127.0.0.1/[::1] */
    char *events_webhook_secret_file; /* /etc/xacct/webhook-secret: the HMAC key */
    int events_max_age;               /* 259200 seconds of retries before outbox:dead */
    int events_delivery_timeout;      /* 10 seconds per delivery attempt */
    int events_claim_idle;            /* 60 seconds before a silent worker's events are
                                         taken over */
} xacct_config_t;

/*
 * Reads path (or only defaults and environment when path is NULL), applies
 * XACCT_<SECTION>_<KEY> overrides from the environment, checks types, ranges
 * and required keys. On failure returns XACCT_ECONFIG and writes
 * "file:line: key: reason" (or "XACCT_X_Y: reason" for the environment) into
 * err; missing required keys are named all at once, "file: key: required
 * (...)" a line each, '\n' between them (as much as errlen holds).
 * *out is freed with xacct_config_free.
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

/* Calls cb (when not NULL) with the name of each variable of envp that is
 * under a known section's prefix (XACCT_QUEUE_...) but names no key: a
 * likely typo the load ignores. Returns how many there were. */
typedef void (*xacct_config_stray_cb)(const char *name, void *arg);
size_t xacct_config_env_strays(char *const *envp, xacct_config_stray_cb cb, void *arg);

/* Writes "section.key = value" for every key, in table order, with the values
 * in force (defaults, file and environment applied; lists joined with ", ").
 * The password of a URL (redis.url's "redis://user:password@host") is
 * printed as "***". For --check-config output. */
void xacct_config_dump(const xacct_config_t *cfg, FILE *out);

#ifdef XACCT_UNIT_TESTING
/* Test hook: load from text (named file in messages) or from path when text is
 * NULL, reading the environment through getenv_fn instead of getenv(3). */
typedef const char *(*config_getenv_fn)(const char *name, void *ud);
int config_load_from(const char *path, const char *text, config_getenv_fn getenv_fn, void *ud,
                     bool partial, xacct_config_t **out, char *err, size_t errlen);
#endif

#endif
