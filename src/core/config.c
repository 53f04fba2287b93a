/* SPDX-License-Identifier: MIT */
/*
 * Configuration loading. One static key table drives everything: defaults,
 * parsing of the INI file (inih does the syntax), XACCT_<SECTION>_<KEY>
 * overrides, validation, --check-config output and the reload check. The
 * result is a snapshot nobody changes after load; a reload builds a new one.
 */
#include "xacct/config.h"
#include "xacct/aws_profile.h"

#include "xacct/hostpat.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A config file is small; anything larger is a mistake, not a config. */
#define CONFIG_FILE_MAX (1024 * 1024)
/* Upper bound on the items of one list key. */
#define CONFIG_LIST_MAX 256

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

typedef struct key_def {
    const char *section;
    const char *key;
    key_type_t type;
    size_t off;          /* offsetof the field in xacct_config_t */
    const char *dflt;    /* default, as it would be written in the file */
    long min, max;       /* KT_INT range */
    key_check_t check;   /* value check */
    unsigned flags;      /* KF_* */
} key_def_t;

#define F(field) offsetof(xacct_config_t, field)

static const key_def_t keys[] = {
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
    {"console", "federation_url", KT_STRING, F(console_federation_url),
     "https://signin.aws.amazon.com/federation", 0, 0, CHK_URL, KF_RELOAD},
    {"console", "destination", KT_STRING, F(console_destination),
     "https://console.aws.amazon.com/", 0, 0, CHK_URL, KF_RELOAD},
    {"console", "issuer", KT_STRING, F(console_issuer), "xacct", 0, 0, CHK_NONE, KF_RELOAD},
    {"redis", "url", KT_STRING, F(redis_url), "redis://127.0.0.1:6379/0", 0, 0, CHK_NONE,
     KF_URL_PASSWORD},
    {"redis", "prefix", KT_STRING, F(redis_prefix), "xacct:", 0, 0, CHK_NONE, 0},
    {"redis", "tls_ca_file", KT_STRING, F(redis_tls_ca_file), "", 0, 0, CHK_NONE, 0},
    {"redis", "tls_cert_file", KT_STRING, F(redis_tls_cert_file), "", 0, 0, CHK_NONE, 0},
    {"redis", "tls_key_file", KT_STRING, F(redis_tls_key_file), "", 0, 0, CHK_NONE, 0},
    {"redis", "sentinels", KT_LIST, F(redis_sentinels), "", 0, 0, CHK_LISTEN, 0},
    {"redis", "master_name", KT_STRING, F(redis_master_name), "mymaster", 0, 0, CHK_NONE, 0},
    {"redis", "command_timeout", KT_INT, F(redis_command_timeout), "5", 1, 3600, CHK_NONE, 0},
    {"metrics", "listen", KT_STRING, F(metrics_listen), "127.0.0.1:9464", 0, 0, CHK_LISTEN, 0},
    {"api", "listen", KT_STRING, F(api_listen), "", 0, 0, CHK_LISTEN, 0},
    {"api", "tokens_file", KT_STRING, F(api_tokens_file), "/etc/xacct/api-tokens", 0, 0,
     CHK_NONE, KF_RELOAD},
    {"log", "level", KT_LEVEL, F(log_level), "info", 0, 0, CHK_NONE, KF_RELOAD},
    {"log", "format", KT_FORMAT, F(log_format), "logfmt", 0, 0, CHK_NONE, KF_RELOAD},
    {"shutdown", "grace_seconds", KT_INT, F(shutdown_grace_seconds), "30", 0, 3600, CHK_NONE,
     KF_RELOAD},
    {"events", "webhook_url", KT_STRING, F(events_webhook_url), "", 0, 0, CHK_WEBHOOK, 0},
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

#define NKEYS XACCT_ARRAY_SIZE(keys)

static void *field(xacct_config_t *cfg, const key_def_t *k)
{
    return (char *)cfg + k->off;
}

static const void *cfield(const xacct_config_t *cfg, const key_def_t *k)
{
    return (const char *)cfg + k->off;
}

/* "XACCT_" + SECTION + "_" + KEY, upper case. */
static void env_name(const key_def_t *k, char *out, size_t outlen)
{
    size_t n = (size_t)snprintf(out, outlen, "XACCT_%s_%s", k->section, k->key);
    for (size_t i = 0; i < n && i < outlen; i++)
        out[i] = (char)toupper((unsigned char)out[i]);
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

static bool check_url(const char *s)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    bool ok = false;

    if (u == NULL)
        return false;
    if (curl_url_set(u, CURLUPART_URL, s, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
        ok = (strcmp(scheme, "https") == 0 || strcmp(scheme, "http") == 0) && *host != '\0';
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
static const char *check_value(const key_def_t *k, const char *s)
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
        return check_url(s) ? NULL : "not an http(s) URL";
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

static void strlist_clear(xacct_strlist_t *l)
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
static const char *set_list(const key_def_t *k, xacct_strlist_t *l, const char *s, bool append)
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
        strlist_clear(l);
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
    strlist_clear(&add);
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
static const char *set_value(const key_def_t *k, xacct_config_t *cfg, const char *s, bool append,
                             char *why_buf, size_t why_len)
{
    const char *why;
    void *f = field(cfg, k);

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

/* ---- the INI file ----------------------------------------------------- */

typedef struct parse_state {
    xacct_config_t *cfg;
    const char *name;       /* file name for messages */
    const char *text;       /* whole file, NUL-terminated */
    size_t len;             /* bytes of text */
    size_t pos;             /* next byte the reader hands to inih */
    int lineno;             /* line last handed to inih */
    int seen[NKEYS];        /* line each key was first set on, 0 if not */
    int err_line;           /* line of the first error, 0 if none */
    char *err;              /* caller's buffer */
    size_t errlen;
} parse_state_t;

static void fail_at(parse_state_t *ps, int line, const char *fmt, ...) XACCT_PRINTF(3, 4);
static void fail_at(parse_state_t *ps, int line, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (ps->err_line != 0)
        return; /* the first error is the one to fix */
    ps->err_line = line;
    n = snprintf(ps->err, ps->errlen, "%s:%d: ", ps->name, line);
    if (n < 0 || (size_t)n >= ps->errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

/*
 * inih reads through this one line at a time, which is how we know the line
 * number (the packaged inih calls handlers without one). A line longer than
 * inih's buffer would be split silently, so it ends the parse with an error.
 */
static char *config_reader(char *str, int num, void *stream)
{
    parse_state_t *ps = stream;
    const char *start, *nl;
    size_t n;

    if (ps->pos >= ps->len || ps->err_line != 0)
        return NULL;
    start = ps->text + ps->pos;
    nl = memchr(start, '\n', ps->len - ps->pos);
    n = nl != NULL ? (size_t)(nl - start) + 1 : ps->len - ps->pos;
    ps->lineno++;
    /* inih needs room for the line, "\r\n" and the NUL. */
    size_t content = n;
    if (content > 0 && start[content - 1] == '\n')
        content--;
    if (content > 0 && start[content - 1] == '\r')
        content--;
    if (num < 4 || content > (size_t)num - 3) {
        fail_at(ps, ps->lineno, "line longer than %d characters (split a list over several "
                                "lines that repeat the key)", num - 3);
        return NULL;
    }
    memcpy(str, start, n);
    str[n] = '\0';
    ps->pos += n;
    return str;
}

static const key_def_t *find_key(const char *section, const char *name, bool *section_known)
{
    *section_known = false;
    for (size_t i = 0; i < NKEYS; i++) {
        if (strcasecmp(keys[i].section, section) != 0)
            continue;
        *section_known = true;
        if (strcasecmp(keys[i].key, name) == 0)
            return &keys[i];
    }
    return NULL;
}

static int config_handler(void *user, const char *section, const char *name, const char *value)
{
    parse_state_t *ps = user;
    const key_def_t *k;
    const char *why;
    char why_buf[96];
    bool section_known;
    size_t idx;

    if (ps->err_line != 0)
        return 1; /* already failed; inih keeps going, we don't */
    if (*section == '\0') {
        fail_at(ps, ps->lineno, "%s: key outside any [section]", name);
        return 0;
    }
    k = find_key(section, name, &section_known);
    if (k == NULL) {
        if (section_known)
            fail_at(ps, ps->lineno, "%s.%s: unknown key", section, name);
        else
            fail_at(ps, ps->lineno, "[%s]: unknown section", section);
        return 0;
    }
    idx = (size_t)(k - keys);
    /* A list key may repeat (or continue on indented lines); its items add
     * up. Any other key set twice is a mistake worth stopping for. */
    if (ps->seen[idx] != 0 && k->type != KT_LIST) {
        fail_at(ps, ps->lineno, "%s.%s: set twice (first on line %d)", k->section, k->key,
                ps->seen[idx]);
        return 0;
    }
    why = set_value(k, ps->cfg, value, ps->seen[idx] != 0, why_buf, sizeof(why_buf));
    if (why != NULL) {
        fail_at(ps, ps->lineno, "%s.%s: %s", k->section, k->key, why);
        return 0;
    }
    if (ps->seen[idx] == 0)
        ps->seen[idx] = ps->lineno;
    return 1;
}

static int read_file(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
    FILE *f = NULL;
    char *buf = NULL;
    size_t n = 0;
    int rc = XACCT_ECONFIG;

    *text = NULL;
    *len = 0;
    f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto out;
    }
    buf = xacct_malloc(CONFIG_FILE_MAX + 1);
    n = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
    if (ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        goto out;
    }
    if (n > CONFIG_FILE_MAX) {
        snprintf(err, errlen, "%s: larger than %d bytes", path, CONFIG_FILE_MAX);
        goto out;
    }
    if (memchr(buf, '\0', n) != NULL) {
        snprintf(err, errlen, "%s: contains a NUL byte", path);
        goto out;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    if (f != NULL)
        fclose(f);
    return rc;
}

/* ---- load ------------------------------------------------------------- */

#ifndef XACCT_UNIT_TESTING
/* config.h declares this for unit tests only. */
typedef const char *(*config_getenv_fn)(const char *name, void *ud);
#endif

static const char *real_getenv(const char *name, void *ud)
{
    XACCT_UNUSED(ud);
    return getenv(name);
}

static bool key_empty(const xacct_config_t *cfg, const key_def_t *k)
{
    if (k->type == KT_LIST)
        return ((const xacct_strlist_t *)cfield(cfg, k))->n == 0;
    if (k->type == KT_STRING)
        return **(char *const *)cfield(cfg, k) == '\0';
    return false;
}

XACCT_STATIC int config_load_from(const char *path, const char *text, config_getenv_fn getenv_fn,
                                  void *ud, bool partial, xacct_config_t **out, char *err,
                                  size_t errlen)
{
    xacct_config_t *cfg = NULL;
    char *file_text = NULL;
    char why_buf[96], ename[96], scratch[256];
    const char *why;
    parse_state_t ps;
    int rc = XACCT_ECONFIG;

    *out = NULL;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    else
        err = scratch, errlen = sizeof(scratch); /* nowhere to report */
    if (getenv_fn == NULL)
        getenv_fn = real_getenv;

    cfg = xacct_calloc(1, sizeof(*cfg));
    for (size_t i = 0; i < NKEYS; i++) {
        why = set_value(&keys[i], cfg, keys[i].dflt, false, why_buf, sizeof(why_buf));
        if (why != NULL) {
            /* The table itself is wrong: a programming error. */
            snprintf(err, errlen, "default of %s.%s: %s", keys[i].section, keys[i].key, why);
            goto out;
        }
    }

    if (path != NULL || text != NULL) {
        const char *name = path != NULL ? path : "<string>";
        size_t len;
        if (text == NULL) {
            if (read_file(path, &file_text, &len, err, errlen) != 0)
                goto out;
            text = file_text;
        } else {
            len = strlen(text);
        }
        if (path != NULL)
            cfg->path = xacct_strdup(path);
        memset(&ps, 0, sizeof(ps));
        ps.cfg = cfg;
        ps.name = name;
        ps.text = text;
        ps.len = len;
        ps.err = err;
        ps.errlen = errlen;
        int line = ini_parse_stream(config_reader, &ps, config_handler, &ps);
        if (line > 0 && (ps.err_line == 0 || line < ps.err_line)) {
            /* inih's own complaint: a line it could not read as INI. */
            ps.err_line = 0;
            fail_at(&ps, line, "syntax error (expected [section] or key = value)");
        }
        if (line < 0) {
            snprintf(err, errlen, "%s: cannot be parsed", name);
            goto out;
        }
        if (ps.err_line != 0)
            goto out;
    }

    /* The environment wins over the file. */
    for (size_t i = 0; i < NKEYS; i++) {
        const char *v;
        env_name(&keys[i], ename, sizeof(ename));
        if ((v = getenv_fn(ename, ud)) == NULL)
            continue;
        why = set_value(&keys[i], cfg, v, false, why_buf, sizeof(why_buf));
        if (why != NULL) {
            snprintf(err, errlen, "%s: %s.%s: %s", ename, keys[i].section, keys[i].key, why);
            goto out;
        }
    }

    /* The SDK's region variables fill in a region nobody configured. */
    if (*cfg->aws_region == '\0') {
        static const char *const region_vars[] = {"AWS_REGION", "AWS_DEFAULT_REGION"};
        bool known;
        const key_def_t *region = find_key("aws", "region", &known);
        for (size_t i = 0; i < XACCT_ARRAY_SIZE(region_vars); i++) {
            const char *v = getenv_fn(region_vars[i], ud);
            if (v == NULL || *v == '\0')
                continue;
            why = set_value(region, cfg, v, false, why_buf, sizeof(why_buf));
            if (why != NULL) {
                snprintf(err, errlen, "%s: aws.region: %s", region_vars[i], why);
                goto out;
            }
            break;
        }
    }
    /* Then the region of the AWS profile in use (~/.aws/config), as the SDKs. */
    if (*cfg->aws_region == '\0') {
        char *pregion = NULL, perr[256] = "";
        bool known;
        if (xacct_aws_profile_region(getenv_fn, ud, &pregion, perr, sizeof(perr)) != 0) {
            snprintf(err, errlen, "aws.region: %s", perr);
            goto out;
        }
        if (pregion != NULL) {
            why = set_value(find_key("aws", "region", &known), cfg, pregion, false, why_buf,
                            sizeof(why_buf));
            if (why != NULL)
                snprintf(err, errlen, "AWS profile %s: region: %s",
                         xacct_aws_profile_selected(getenv_fn, ud), why);
            free(pregion);
            if (why != NULL)
                goto out;
        }
    }

    if (!partial) {
        const char *where = path != NULL ? path : text != NULL ? "<string>" : NULL;
        if (*cfg->aws_region == '\0') {
            snprintf(err, errlen,
                     "%s%saws.region: required (set it in the file, XACCT_AWS_REGION, AWS_REGION "
                     "or AWS_DEFAULT_REGION)",
                     where ? where : "", where ? ": " : "");
            goto out;
        }
        for (size_t i = 0; i < NKEYS; i++) {
            if (!(keys[i].flags & KF_REQUIRED) || !key_empty(cfg, &keys[i]))
                continue;
            env_name(&keys[i], ename, sizeof(ename));
            snprintf(err, errlen, "%s%s%s.%s: required (set it in the file or %s)",
                     where ? where : "", where ? ": " : "", keys[i].section, keys[i].key, ename);
            goto out;
        }
    }

    *out = cfg;
    cfg = NULL;
    rc = 0;
out:
    free(file_text);
    xacct_config_free(cfg);
    return rc;
}

int xacct_config_load(const char *path, xacct_config_t **out, char *err, size_t errlen)
{
    return config_load_from(path, NULL, NULL, NULL, false, out, err, errlen);
}

int xacct_config_load_partial(const char *path, xacct_config_t **out, char *err, size_t errlen)
{
    return config_load_from(path, NULL, NULL, NULL, true, out, err, errlen);
}

void xacct_config_free(xacct_config_t *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < NKEYS; i++) {
        void *f = field(cfg, &keys[i]);
        if (keys[i].type == KT_STRING)
            free(*(char **)f);
        else if (keys[i].type == KT_LIST)
            strlist_clear(f);
    }
    free(cfg->path);
    free(cfg);
}

/* ---- reload and dump -------------------------------------------------- */

static bool values_equal(const key_def_t *k, const xacct_config_t *a, const xacct_config_t *b)
{
    const void *fa = cfield(a, k), *fb = cfield(b, k);

    switch (k->type) {
    case KT_STRING:
        return strcmp(*(char *const *)fa, *(char *const *)fb) == 0;
    case KT_INT:
        return *(const int *)fa == *(const int *)fb;
    case KT_BOOL:
        return *(const bool *)fa == *(const bool *)fb;
    case KT_LEVEL:
        return *(const xacct_log_level_t *)fa == *(const xacct_log_level_t *)fb;
    case KT_FORMAT:
        return *(const xacct_log_format_t *)fa == *(const xacct_log_format_t *)fb;
    case KT_LIST: {
        const xacct_strlist_t *la = fa, *lb = fb;
        if (la->n != lb->n)
            return false;
        for (size_t i = 0; i < la->n; i++)
            if (strcmp(la->items[i], lb->items[i]) != 0)
                return false;
        return true;
    }
    }
    return false;
}

int xacct_config_check_reload(const xacct_config_t *old, const xacct_config_t *new_cfg,
                              char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (old == NULL || new_cfg == NULL)
        return XACCT_EINVAL;
    for (size_t i = 0; i < NKEYS; i++) {
        if ((keys[i].flags & KF_RELOAD) || values_equal(&keys[i], old, new_cfg))
            continue;
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s.%s: cannot be changed by a reload (restart to apply)",
                     keys[i].section, keys[i].key);
        return XACCT_ECONFIG;
    }
    return 0;
}

/* Writes url with the password of its user information ("user:password@")
 * replaced by "***"; the rest as written. */
static void put_url_masked(const char *url, FILE *out)
{
    const char *auth = strstr(url, "://");
    auth = auth != NULL ? auth + 3 : url;
    size_t alen = strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *c = auth; c < auth + alen; c++)
        if (*c == '@')
            at = c; /* the last '@' ends the user information */
    const char *colon = at != NULL ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon == NULL) {
        fputs(url, out);
        return;
    }
    fwrite(url, 1, (size_t)(colon + 1 - url), out);
    fputs("***", out);
    fputs(at, out);
}

void xacct_config_dump(const xacct_config_t *cfg, FILE *out)
{
    if (cfg == NULL || out == NULL)
        return;
    for (size_t i = 0; i < NKEYS; i++) {
        const key_def_t *k = &keys[i];
        const void *f = cfield(cfg, k);
        fprintf(out, "%s.%s = ", k->section, k->key);
        switch (k->type) {
        case KT_STRING:
            if (k->flags & KF_URL_PASSWORD)
                put_url_masked(*(char *const *)f, out);
            else
                fputs(*(char *const *)f, out);
            break;
        case KT_INT:
            fprintf(out, "%d", *(const int *)f);
            break;
        case KT_BOOL:
            fputs(*(const bool *)f ? "true" : "false", out);
            break;
        case KT_LEVEL:
            fputs(xacct_log_level_name(*(const xacct_log_level_t *)f), out);
            break;
        case KT_FORMAT:
            fputs(xacct_log_format_name(*(const xacct_log_format_t *)f), out);
            break;
        case KT_LIST: {
            const xacct_strlist_t *l = f;
            for (size_t j = 0; j < l->n; j++)
                fprintf(out, "%s%s", j ? ", " : "", l->items[j]);
            break;
        }
        }
        fputc('\n', out);
    }
}
