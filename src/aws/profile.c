/* SPDX-License-Identifier: MIT */
/*
 * Reads one profile out of the AWS shared config and credentials files with
 * inih. The config file is read first and the credentials file second, so a
 * key the credentials file sets wins, as in the SDKs. Nothing here touches the
 * network or decides which credentials to use: creds_profile.c does that.
 */
#include "xacct/aws_profile.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A session token alone is over a kilobyte; SDK files have no line limit. */
#define MAX_LINE (64 * 1024)

static const char *env(xacct_aws_profile_getenv_fn g, void *arg, const char *name)
{
    const char *v = g(name, arg);
    return v != NULL && *v != '\0' ? v : NULL;
}

const char *xacct_aws_profile_selected(xacct_aws_profile_getenv_fn g, void *arg)
{
    const char *p = env(g, arg, "AWS_PROFILE");
    if (p == NULL)
        p = env(g, arg, "AWS_DEFAULT_PROFILE");
    return p != NULL ? p : "default";
}

bool xacct_aws_profile_explicit(xacct_aws_profile_getenv_fn g, void *arg)
{
    return env(g, arg, "AWS_PROFILE") != NULL || env(g, arg, "AWS_DEFAULT_PROFILE") != NULL;
}

typedef struct key_slot {
    const char *key;
    size_t offset;
    bool secret;
} key_slot_t;

#define SLOT(k, f, s) {k, offsetof(xacct_aws_profile_t, f), s}
static const key_slot_t slots[] = {
    SLOT("aws_access_key_id", access_key_id, false),
    SLOT("aws_secret_access_key", secret_access_key, true),
    SLOT("aws_session_token", session_token, true),
    SLOT("role_arn", role_arn, false),
    SLOT("source_profile", source_profile, false),
    SLOT("external_id", external_id, false),
    SLOT("role_session_name", role_session_name, false),
    SLOT("duration_seconds", duration_seconds, false),
    SLOT("credential_process", credential_process, false),
    SLOT("region", region, false),
    SLOT("endpoint_url", endpoint_url, false),
    SLOT("services", services, false),
    SLOT("ignore_configured_endpoint_urls", ignore_configured_endpoint_urls, false),
    SLOT("metadata_service_timeout", metadata_service_timeout, false),
    SLOT("metadata_service_num_attempts", metadata_service_num_attempts, false),
    SLOT("ec2_metadata_service_endpoint", ec2_metadata_service_endpoint, false),
    SLOT("ec2_metadata_service_endpoint_mode", ec2_metadata_service_endpoint_mode, false),
};

typedef struct parse_state {
    xacct_aws_profile_t *p;
    bool config_file;            /* sections are "profile NAME" (and "default") */
    bool seen[XACCT_ARRAY_SIZE(slots)]; /* key set in this file already: the first value
                                    wins, which also drops the indented continuation
                                    lines inih hands over under the same name */
    const char *services;        /* reading this [services NAME] section instead */
    xacct_aws_services_t *svc;   /* where its entries go */
} parse_state_t;

static const char *const unsupported_keys[] = {"sso_session", "sso_start_url",
                                               "credential_source", "web_identity_token_file"};

/* Whether an INI section names the profile in this kind of file. */
static bool section_is(const parse_state_t *st, const char *section)
{
    const char *want = st->p->name;
    if (!st->config_file)
        return strcmp(section, want) == 0;
    if (strcmp(want, "default") == 0 && strcmp(section, "default") == 0)
        return true;
    /* "[profile  NAME]": the SDKs accept any run of blanks after "profile". */
    if (strncmp(section, "profile", 7) != 0 || (section[7] != ' ' && section[7] != '\t'))
        return false;
    const char *n = section + 7;
    while (*n == ' ' || *n == '\t')
        n++;
    return strcmp(n, want) == 0;
}

static int on_kv(void *user, const char *section, const char *name, const char *value)
{
    parse_state_t *st = user;
    if (!section_is(st, section))
        return 1;
    st->p->found = true;
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(slots); i++) {
        if (strcmp(name, slots[i].key) != 0)
            continue;
        if (st->seen[i])
            break; /* first value in the file wins */
        st->seen[i] = true;
        char **field = (char **)((char *)st->p + slots[i].offset);
        if (slots[i].secret)
            xacct_free_secret(*field);
        else
            free(*field);
        *field = *value != '\0' ? xacct_strdup(value) : NULL;
        break;
    }
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(unsupported_keys); i++)
        if (strcmp(name, unsupported_keys[i]) == 0 && st->p->unsupported == NULL)
            st->p->unsupported = xacct_strdup(name);
    return 1;
}

static char *trimmed(const char *s, size_t n)
{
    while (n > 0 && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return xacct_strndup(s, n);
}

/*
 * A "[services NAME]" section: "s3 =" opens a service, and inih hands each
 * indented line under it over as a value of the same key, here
 * "endpoint_url = URL". A plain endpoint_url in the section means nothing
 * (the SDKs ignore it too).
 */
static int on_services_kv(void *user, const char *section, const char *name, const char *value)
{
    parse_state_t *st = user;
    if (strncmp(section, "services", 8) != 0 || (section[8] != ' ' && section[8] != '\t'))
        return 1;
    const char *n = section + 8;
    while (*n == ' ' || *n == '\t')
        n++;
    const char *eq = strchr(value, '=');
    if (strcmp(n, st->services) != 0 || eq == NULL)
        return 1;
    char *key = trimmed(value, (size_t)(eq - value));
    bool is_url = strcmp(key, "endpoint_url") == 0;
    free(key);
    if (!is_url)
        return 1;
    xacct_aws_services_t *svc = st->svc;
    for (size_t i = 0; i < svc->n; i++)
        if (strcasecmp(svc->items[i].service, name) == 0)
            return 1; /* the first value wins */
    char *url = trimmed(eq + 1, strlen(eq + 1));
    if (*url == '\0') {
        free(url);
        return 1;
    }
    svc->items = xacct_realloc(svc->items, (svc->n + 1) * sizeof(*svc->items));
    svc->items[svc->n].service = xacct_strdup(name);
    for (char *c = svc->items[svc->n].service; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    svc->items[svc->n++].url = url;
    return 1;
}

/*
 * Debian's inih keeps its parser settings in process-wide variables, and its
 * defaults (200-byte lines, ';' inline comments) would cut a session token
 * short or a credential_process command at a ';'. One parse is synchronous,
 * so set them for its duration and put the previous values back.
 */
static int parse_file(FILE *fp, parse_state_t *st)
{
    bool use_stack = ini_use_stack, allow_realloc = ini_allow_realloc;
    bool inline_comments = ini_allow_inline_comments, multiline = ini_allow_multiline;
    int max_line = ini_max_line;
    ini_use_stack = false;
    ini_allow_realloc = true;
    ini_max_line = MAX_LINE;
    ini_allow_inline_comments = false;
    ini_allow_multiline = true;
    int rc = ini_parse_file(fp, st->services != NULL ? on_services_kv : on_kv, st);
    ini_use_stack = use_stack;
    ini_allow_realloc = allow_realloc;
    ini_max_line = max_line;
    ini_allow_inline_comments = inline_comments;
    ini_allow_multiline = multiline;
    return rc;
}

static int read_one(const char *path, parse_state_t *st, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "re");
    if (fp == NULL) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return XACCT_ECONFIG;
    }
    int line = parse_file(fp, st);
    fclose(fp);
    if (line != 0) {
        if (line > 0)
            snprintf(err, errlen, "%s:%d: not an INI line", path, line);
        else
            snprintf(err, errlen, "%s: cannot parse", path);
        return XACCT_ECONFIG;
    }
    return 0;
}

static char *file_path(xacct_aws_profile_getenv_fn g, void *arg, const char *var,
                       const char *base)
{
    const char *v = env(g, arg, var);
    if (v != NULL) {
        /* The SDKs expand a leading "~/" in these variables too. */
        const char *home = env(g, arg, "HOME");
        if (v[0] == '~' && v[1] == '/' && home != NULL)
            return xacct_asprintf("%s%s", home, v + 1);
        return xacct_strdup(v);
    }
    const char *home = env(g, arg, "HOME");
    return home != NULL ? xacct_asprintf("%s/.aws/%s", home, base) : NULL;
}

int xacct_aws_profile_load(xacct_aws_profile_getenv_fn g, void *arg, const char *name,
                           xacct_aws_profile_t *out, char *err, size_t errlen)
{
    int rc = 0;
    char dummy[1];
    memset(out, 0, sizeof(*out));
    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = '\0';
    out->name = xacct_strdup(name != NULL ? name : xacct_aws_profile_selected(g, arg));
    char *config = file_path(g, arg, "AWS_CONFIG_FILE", "config");
    char *creds = file_path(g, arg, "AWS_SHARED_CREDENTIALS_FILE", "credentials");
    parse_state_t in_config = {.p = out, .config_file = true};
    parse_state_t in_creds = {.p = out, .config_file = false};
    if (config != NULL && (rc = read_one(config, &in_config, err, errlen)) != 0)
        goto out;
    if (creds != NULL && (rc = read_one(creds, &in_creds, err, errlen)) != 0)
        goto out;
out:
    free(config);
    free(creds);
    return rc;
}

void xacct_aws_profile_destroy(xacct_aws_profile_t *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(slots); i++) {
        char **field = (char **)((char *)p + slots[i].offset);
        if (slots[i].secret)
            xacct_free_secret(*field);
        else
            free(*field);
    }
    free(p->name);
    free(p->unsupported);
    memset(p, 0, sizeof(*p));
}

int xacct_aws_profile_services(xacct_aws_profile_getenv_fn g, void *arg, const char *name,
                               xacct_aws_services_t *out, char *err, size_t errlen)
{
    char dummy[1];
    memset(out, 0, sizeof(*out));
    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = '\0';
    if (name == NULL || *name == '\0')
        return 0;
    /* Services sections live in the config file only. */
    char *config = file_path(g, arg, "AWS_CONFIG_FILE", "config");
    parse_state_t st = {.services = name, .svc = out};
    int rc = config != NULL ? read_one(config, &st, err, errlen) : 0;
    free(config);
    return rc;
}

void xacct_aws_services_destroy(xacct_aws_services_t *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->items[i].service);
        free(s->items[i].url);
    }
    free(s->items);
    memset(s, 0, sizeof(*s));
}

int xacct_aws_profile_region(xacct_aws_profile_getenv_fn g, void *arg, char **out, char *err,
                             size_t errlen)
{
    xacct_aws_profile_t p;
    *out = NULL;
    int rc = xacct_aws_profile_load(g, arg, NULL, &p, err, errlen);
    if (rc == 0 && p.region != NULL) {
        *out = p.region;
        p.region = NULL;
    }
    xacct_aws_profile_destroy(&p);
    return rc;
}
