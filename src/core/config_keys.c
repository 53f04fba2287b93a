/* SPDX-License-Identifier: MIT */
/*
 * The configuration's key table (name, type, field, default, range, check,
 * reloadable) and what checks and sets one key's value from its text: the
 * value checks (regions, accounts, URLs, topics, host patterns, buckets,
 * webhooks), list splitting, booleans and int ranges.
 */
#include "config_keys.h"

#include "xacct/hostpat.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Upper bound on the items of one list key. */
#define CONFIG_LIST_MAX 256

#define F(field) offsetof(xacct_config_t, field)

const xacct__config_key_t xacct__config_keys[] = {
    {"aws", "region", KT_STRING, F(aws_region), "", 0, 0, CHK_REGION, 0},
    {"aws", "partner_account_id", KT_STRING, F(aws_partner_account_id), "", 0, 0, CHK_ACCOUNT,
     KF_RELOAD | KF_REQUIRED},
    {"aws", "max_host_connections", KT_INT, F(aws_max_host_connections), "64", 1, 10000,
     CHK_NONE, 0},
    {"aws", "max_connections", KT_INT, F(aws_max_connections), "256", 1, 100000, CHK_NONE, 0},
    {"queue", "urls", KT_LIST, F(queue_urls), "", 0, 0, CHK_URL, KF_REQUIRED},
    {"queue", "wait_seconds", KT_INT, F(queue_wait_seconds), "20", 0, 20, CHK_NONE, KF_RELOAD},
    {"queue", "max_messages", KT_INT, F(queue_max_messages), "10", 1, 10, CHK_NONE, KF_RELOAD},
    {"queue", "visibility_timeout", KT_INT, F(queue_visibility_timeout), "120", 1, 43200,
     CHK_NONE, KF_RELOAD},
    {"queue", "max_in_flight", KT_INT, F(queue_max_in_flight), "64", 1, 100000, CHK_NONE,
     KF_RELOAD},
    {"queue", "receivers", KT_INT, F(queue_receivers), "1", 1, 16, CHK_NONE, KF_RELOAD},
    {"queue", "max_receives", KT_INT, F(queue_max_receives), "5", 1, 1000, CHK_NONE, KF_RELOAD},
    {"sns", "topic_arns", KT_LIST, F(sns_topic_arns), "", 0, 0, CHK_TOPIC,
     KF_RELOAD | KF_REQUIRED},
    {"sns", "verify_signatures", KT_BOOL, F(sns_verify_signatures), "true", 0, 0, CHK_NONE,
     KF_RELOAD},
    {"sns", "raw_delivery", KT_BOOL, F(sns_raw_delivery), "false", 0, 0, CHK_NONE, KF_RELOAD},
    {"sns", "cert_hosts", KT_LIST, F(sns_cert_hosts),
     "sns.*.amazonaws.com, sns.*.amazonaws.com.cn", 0, 0, CHK_CERT_HOST, KF_RELOAD},
    {"cloudformation", "response_hosts", KT_LIST, F(cfn_response_hosts), XACCT_CFN_RESPONSE_HOSTS,
     0, 0, CHK_HOST, KF_RELOAD},
    {"cloudformation", "stack_name", KT_STRING, F(cfn_stack_name), "xacct-onboarding", 0, 0,
     CHK_STACK, KF_RELOAD},
    {"cloudformation", "template_bucket", KT_STRING, F(cfn_template_bucket), "", 0, 0,
     CHK_BUCKET, KF_RELOAD},
    {"cloudformation", "role_policy_file", KT_STRING, F(cfn_role_policy_file),
     "/etc/xacct/role-policy.json", 0, 0, CHK_NONE, KF_RELOAD},
    {"cloudformation", "service_timeout", KT_INT, F(cfn_service_timeout), "300", 1, 3600,
     CHK_NONE, KF_RELOAD},
    {"cloudformation", "template_dir", KT_STRING, F(cfn_template_dir), ".", 0, 0, CHK_NONE,
     KF_RELOAD},
    {"check", "propagation_timeout", KT_INT, F(check_propagation_timeout), "120", 1, 3600,
     CHK_NONE, KF_RELOAD},
    {"check", "reverify_interval", KT_INT, F(check_reverify_interval), "86400", 0, 31536000,
     CHK_NONE, KF_RELOAD},
    {"check", "reverify_rate", KT_INT, F(check_reverify_rate), "10", 1, 10000, CHK_NONE,
     KF_RELOAD},
    /* Up to a year: an onboarding link older than that is abandoned. */
    {"onboard", "pending_ttl", KT_INT, F(onboard_pending_ttl), "604800", 0, 31536000, CHK_NONE,
     KF_RELOAD},
    /* The federation endpoint receives the role's keys (the Session JSON in
     * the query): never over plain http. */
    {"console", "federation_url", KT_STRING, F(console_federation_url),
     "https://signin.aws.amazon.com/federation", 0, 0, CHK_HTTPS_URL, KF_RELOAD},
    {"console", "destination", KT_STRING, F(console_destination),
     "https://console.aws.amazon.com/", 0, 0, CHK_HTTPS_URL, KF_RELOAD},
    {"console", "issuer", KT_STRING, F(console_issuer), "xacct", 0, 0, CHK_NONE, KF_RELOAD},
    {"redis", "url", KT_STRING, F(redis_url), "redis://127.0.0.1:6379/0", 0, 0, CHK_NONE,
     KF_URL_PASSWORD},
    {"redis", "prefix", KT_STRING, F(redis_prefix), "xacct:", 0, 0, CHK_NONE, 0},
    {"redis", "tls_ca_file", KT_STRING, F(redis_tls_ca_file), "", 0, 0, CHK_NONE, 0},
    {"redis", "tls_cert_file", KT_STRING, F(redis_tls_cert_file), "", 0, 0, CHK_NONE, 0},
    {"redis", "tls_key_file", KT_STRING, F(redis_tls_key_file), "", 0, 0, CHK_NONE, 0},
    {"redis", "sentinels", KT_LIST, F(redis_sentinels), "", 0, 0, CHK_LISTEN, 0},
    {"redis", "master_name", KT_STRING, F(redis_master_name), "mymaster", 0, 0, CHK_NONE, 0},
    {"redis", "sentinel_password", KT_STRING, F(redis_sentinel_password), "", 0, 0, CHK_NONE,
     KF_SECRET},
    {"redis", "command_timeout", KT_INT, F(redis_command_timeout), "5", 1, 3600, CHK_NONE, 0},
    {"metrics", "listen", KT_STRING, F(metrics_listen), "127.0.0.1:9464", 0, 0, CHK_LISTEN, 0},
    {"api", "listen", KT_STRING, F(api_listen), "", 0, 0, CHK_LISTEN, 0},
    {"api", "tokens_file", KT_STRING, F(api_tokens_file), "/etc/xacct/api-tokens", 0, 0,
     CHK_NONE, KF_RELOAD},
    {"log", "level", KT_LEVEL, F(log_level), "info", 0, 0, CHK_NONE, KF_RELOAD},
    {"log", "format", KT_FORMAT, F(log_format), "logfmt", 0, 0, CHK_NONE, KF_RELOAD},
    {"shutdown", "grace_seconds", KT_INT, F(shutdown_grace_seconds), "30", 0, 3600, CHK_NONE,
     KF_RELOAD},
    {"events", "webhook_url", KT_STRING, F(events_webhook_url), "", 0, 0, CHK_WEBHOOK,
     KF_URL_PATH_SECRET},
    {"events", "webhook_secret_file", KT_STRING, F(events_webhook_secret_file),
     "/etc/xacct/webhook-secret", 0, 0, CHK_NONE, KF_RELOAD},
    {"events", "max_age", KT_INT, F(events_max_age), "259200", 1, 31536000, CHK_NONE, KF_RELOAD},
    {"events", "delivery_timeout", KT_INT, F(events_delivery_timeout), "10", 1, 300, CHK_NONE,
     KF_RELOAD},
    /* A worker touches what it holds every claim_idle/3 on a one-second tick,
     * so below 3 s its own events could be taken from it. */
    {"events", "claim_idle", KT_INT, F(events_claim_idle), "60", 3, 86400, CHK_NONE, 0},
};

#undef F

const size_t xacct__config_nkeys = XACCT_ARRAY_SIZE(xacct__config_keys);

/* "XACCT_" + SECTION + "_" + KEY, upper case. */
void xacct__config_env_name(const xacct__config_key_t *k, char *out, size_t outlen)
{
    size_t n = (size_t)snprintf(out, outlen, "XACCT_%s_%s", k->section, k->key);
    for (size_t i = 0; i < n && i < outlen; i++)
        out[i] = (char)toupper((unsigned char)out[i]);
}

const xacct__config_key_t *xacct__config_find_key(const char *section, const char *name, bool *section_known)
{
    *section_known = false;
    for (size_t i = 0; i < xacct__config_nkeys; i++) {
        if (strcasecmp(xacct__config_keys[i].section, section) != 0)
            continue;
        *section_known = true;
        if (strcasecmp(xacct__config_keys[i].key, name) == 0)
            return &xacct__config_keys[i];
    }
    return NULL;
}
bool xacct__config_key_empty(const xacct_config_t *cfg, const xacct__config_key_t *k)
{
    if (k->type == KT_LIST)
        return ((const xacct_strlist_t *)xacct__config_cfield(cfg, k))->n == 0;
    if (k->type == KT_STRING)
        return **(char *const *)xacct__config_cfield(cfg, k) == '\0';
    return false;
}
/* ---- value checks ----------------------------------------------------- */

static bool all_of(const char *s, const char *set, size_t minlen, size_t maxlen)
{
    size_t n = strlen(s);
    return n >= minlen && n <= maxlen && strspn(s, set) == n;
}

#define DIGITS "0123456789"
#define LOWER "abcdefghijklmnopqrstuvwxyz"
#define UPPER "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

static bool check_url(const char *s, bool https_only)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    bool ok = false;

    if (u == NULL)
        return false;
    if (curl_url_set(u, CURLUPART_URL, s, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
        ok = (strcmp(scheme, "https") == 0 || (!https_only && strcmp(scheme, "http") == 0)) &&
             *host != '\0';
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

/* arn:<partition>:sns:<region>:<account>:<topic> */
static bool check_topic(const char *s)
{
    char copy[512];
    char *part[6], *save = NULL, *tok;
    size_t n = 0;

    if (strlen(s) >= sizeof(copy) || strstr(s, "::") != NULL)
        return false;
    strcpy(copy, s);
    for (tok = strtok_r(copy, ":", &save); tok != NULL; tok = strtok_r(NULL, ":", &save)) {
        if (n == 6)
            return false;
        part[n++] = tok;
    }
    return n == 6 && strcmp(part[0], "arn") == 0 && all_of(part[1], LOWER "-", 1, 32) &&
           strcmp(part[2], "sns") == 0 && all_of(part[3], LOWER DIGITS "-", 1, 32) &&
           all_of(part[4], DIGITS, 12, 12) &&
           all_of(part[5], LOWER UPPER DIGITS "-_.", 1, 256);
}

/* Lifecycle events leave the host with customer data, so they go over TLS;
 * plain http is only for a receiver on this machine, named by its loopback
 * address (a name could resolve elsewhere). No credentials in the URL: it is
 * configuration, and the receiver authenticates xacct by the signature. */
/* libcurl normalises "127.1" to "127.0.0.1", so the text itself is checked:
 * "http://" + addr, then a port, a path or the end. */
static bool loopback_named(const char *url, const char *addr)
{
    size_t n = strlen(addr);
    if (strncasecmp(url, "http://", 7) != 0 || strncmp(url + 7, addr, n) != 0)
        return false;
    char next = url[7 + n];
    return next == '\0' || next == ':' || next == '/';
}

static const char *check_webhook_url(const char *s)
{
    CURLU *u;
    char *scheme = NULL, *host = NULL, *user = NULL;
    const char *why = "not an http(s) URL";

    if (*s == '\0')
        return NULL;
    if ((u = curl_url()) == NULL)
        return "out of memory";
    if (curl_url_set(u, CURLUPART_URL, s, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && *host != '\0') {
        if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK)
            why = "must not carry a user name or password";
        else if (strcmp(scheme, "https") == 0)
            why = NULL;
        else if (strcmp(scheme, "http") == 0 && (loopback_named(s, "127.0.0.1") ||
                                                  loopback_named(s, "[::1]")))
            why = NULL;
        else
            why = "must be https (http only to 127.0.0.1 or [::1], named as such)";
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_url_cleanup(u);
    return why;
}

/* Returns NULL when s passes k's check, else the reason. */
static const char *check_value(const xacct__config_key_t *k, const char *s)
{
    char host[XACCT_HOSTPAT_HOST_MAX + 1];
    int port;

    switch (k->check) {
    case CHK_NONE:
        return NULL;
    case CHK_REGION:
        return *s == '\0' || all_of(s, LOWER DIGITS "-", 1, 32)
                   ? NULL
                   : "not a region name (lower-case letters, digits, '-')";
    case CHK_ACCOUNT:
        return *s == '\0' || all_of(s, DIGITS, 12, 12) ? NULL : "must be 12 digits";
    case CHK_URL:
        return check_url(s, false) ? NULL : "not an http(s) URL";
    case CHK_HTTPS_URL:
        return check_url(s, true) ? NULL : "not an https URL";
    case CHK_TOPIC:
        return check_topic(s) ? NULL : "not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)";
    case CHK_HOST:
        return xacct_hostpat_check(s, 0) == 0
                   ? NULL
                   : "not a host pattern (host or host:port, IPv6 in brackets)";
    case CHK_CERT_HOST:
        return xacct_hostpat_check(s, XACCT_HOSTPAT_REGION) == 0
                   ? NULL
                   : "not a host pattern (host or host:port, IPv6 in brackets, at most one "
                     "'*' per label)";
    case CHK_LISTEN:
        return *s == '\0' || xacct_hostpat_split(s, true, host, &port) == 0
                   ? NULL
                   : "not host:port (or empty to disable)";
    case CHK_STACK:
        return all_of(s, LOWER UPPER DIGITS "-", 1, 128) && isalpha((unsigned char)s[0])
                   ? NULL
                   : "not a stack name (a letter, then letters, digits, '-')";
    case CHK_BUCKET:
        return *s == '\0' || all_of(s, LOWER DIGITS ".-", 3, 63) ? NULL
                                                                 : "not an S3 bucket name";
    case CHK_WEBHOOK:
        return check_webhook_url(s);
    }
    return "unknown check";
}

/* ---- setting values --------------------------------------------------- */

void xacct__config_strlist_clear(xacct_strlist_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

/* True when s holds a control character (tabs allowed if tab_ok: they may
 * separate list items). */
static bool has_control(const char *s, bool tab_ok)
{
    for (; *s != '\0'; s++)
        if (((unsigned char)*s < 0x20 && !(tab_ok && *s == '\t')) || *s == 0x7f)
            return true;
    return false;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/*
 * Adds the comma-separated items of s to l (after clearing it unless append).
 * The list is only changed when every item is good.
 */
static const char *set_list(const xacct__config_key_t *k, xacct_strlist_t *l, const char *s, bool append)
{
    xacct_strlist_t add = {NULL, 0};
    const char *why = NULL;
    const char *p = s;

    while (is_blank(*p))
        p++;
    /* An empty value is an empty list; an empty item between commas is a
     * typo and an error. */
    while (*p != '\0') {
        const char *end = strchr(p, ','), *stop;
        if (end == NULL)
            end = p + strlen(p);
        while (p < end && is_blank(*p))
            p++;
        stop = end;
        while (stop > p && is_blank(stop[-1]))
            stop--;
        if (stop == p) {
            why = "empty item in list";
            goto out;
        }
        if ((append ? l->n : 0) + add.n >= CONFIG_LIST_MAX) {
            why = "too many items in list";
            goto out;
        }
        add.items = xacct_realloc(add.items, (add.n + 1) * sizeof(char *));
        add.items[add.n++] = xacct_strndup(p, (size_t)(stop - p));
        if (has_control(add.items[add.n - 1], false)) {
            why = "contains a control character";
            goto out;
        }
        if ((why = check_value(k, add.items[add.n - 1])) != NULL)
            goto out;
        if (*end == '\0')
            break;
        p = end + 1;
        if (*p == '\0') {
            why = "empty item in list";
            goto out;
        }
    }
    if (!append)
        xacct__config_strlist_clear(l);
    /* NULL-terminated as well, for callers that prefer that. */
    l->items = xacct_realloc(l->items, (l->n + add.n + 1) * sizeof(char *));
    if (add.n > 0)
        memcpy(l->items + l->n, add.items, add.n * sizeof(char *));
    l->n += add.n;
    l->items[l->n] = NULL;
    free(add.items);
    add.items = NULL;
    add.n = 0;
out:
    xacct__config_strlist_clear(&add);
    return why;
}

static const char *parse_bool(const char *s, bool *b)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *b = true;
            return NULL;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *b = false;
            return NULL;
        }
    }
    return "not a boolean (true/false, yes/no, on/off, 1/0)";
}

/*
 * Parses s as k's type into cfg. Returns NULL or a reason; why_buf holds
 * reasons that need formatting (ranges).
 */
const char *xacct__config_set_value(const xacct__config_key_t *k, xacct_config_t *cfg, const char *s, bool append,
                             char *why_buf, size_t why_len)
{
    const char *why;
    void *f = xacct__config_field(cfg, k);

    /* Only the environment can carry these; no key has a use for them, and
     * they would break the one-line-per-key dump. */
    if (has_control(s, k->type == KT_LIST))
        return "contains a control character";

    switch (k->type) {
    case KT_STRING:
        if ((why = check_value(k, s)) != NULL)
            return why;
        free(*(char **)f);
        *(char **)f = xacct_strdup(s);
        return NULL;
    case KT_INT: {
        char *end;
        long v;
        errno = 0;
        v = strtol(s, &end, 10);
        if (*s == '\0' || isspace((unsigned char)*s) || *end != '\0' || errno != 0)
            return "not an integer";
        if (v < k->min || v > k->max) {
            snprintf(why_buf, why_len, "must be between %ld and %ld", k->min, k->max);
            return why_buf;
        }
        *(int *)f = (int)v;
        return NULL;
    }
    case KT_BOOL:
        return parse_bool(s, (bool *)f);
    case KT_LIST:
        return set_list(k, (xacct_strlist_t *)f, s, append);
    case KT_LEVEL: {
        int v = xacct_log_level_parse(s);
        if (v < 0)
            return "not a log level (debug, info, warn, error)";
        *(xacct_log_level_t *)f = (xacct_log_level_t)v;
        return NULL;
    }
    case KT_FORMAT: {
        int v = xacct_log_format_parse(s);
        if (v < 0)
            return "not a log format (logfmt, json)";
        *(xacct_log_format_t *)f = (xacct_log_format_t)v;
        return NULL;
    }
    }
    return "unknown key type";
}

