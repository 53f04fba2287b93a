/* SPDX-License-Identifier: MIT */
/*
 * Configuration loading: the defaults of the key table (config_keys.c), then
 * the INI file (inih does the syntax; this reads it a line at a time for
 * line numbers), then XACCT_<SECTION>_<KEY> overrides, the SDK's region
 * sources, and the required keys. The result is a snapshot nobody changes
 * after load; a reload builds a new one (config_dump.c compares them).
 */
#include "xacct/config.h"
#include "xacct/aws_profile.h"

#include "config_keys.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A config file is small; anything larger is a mistake, not a config. */
#define CONFIG_FILE_MAX (1024 * 1024)

/* ---- the INI file ----------------------------------------------------- */

typedef struct parse_state {
    xacct_config_t *cfg;
    const char *name;       /* file name for messages */
    const char *text;       /* whole file, NUL-terminated */
    size_t len;             /* bytes of text */
    size_t pos;             /* next byte the reader hands to inih */
    int lineno;             /* line last handed to inih */
    int *seen;              /* owned: line each key was first set on, 0 if not */
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

/* Appends a line to err, which holds *used bytes of earlier lines, after a
 * '\n' when there are some. What does not fit is cut, as snprintf cuts: err
 * holds as much of the lines as it can, always terminated. */
static void add_line(char *err, size_t errlen, size_t *used, const char *fmt, ...)
    XACCT_PRINTF(4, 5);
static void add_line(char *err, size_t errlen, size_t *used, const char *fmt, ...)
{
    size_t at = *used;
    if (at > 0) {
        if (at + 1 >= errlen)
            return; /* full */
        err[at++] = '\n';
        err[at] = '\0';
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err + at, errlen - at, fmt, ap);
    va_end(ap);
    if (n < 0) {
        err[at] = '\0';
        n = 0;
    }
    *used = at + (size_t)n < errlen ? at + (size_t)n : errlen - 1;
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
static int config_handler(void *user, const char *section, const char *name, const char *value)
{
    parse_state_t *ps = user;
    const xacct__config_key_t *k;
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
    k = xacct__config_find_key(section, name, &section_known);
    if (k == NULL) {
        if (section_known)
            fail_at(ps, ps->lineno, "%s.%s: unknown key", section, name);
        else
            fail_at(ps, ps->lineno, "[%s]: unknown section", section);
        return 0;
    }
    idx = (size_t)(k - xacct__config_keys);
    /* A list key may repeat (or continue on indented lines); its items add
     * up. Any other key set twice is a mistake worth stopping for. */
    if (ps->seen[idx] != 0 && k->type != KT_LIST) {
        fail_at(ps, ps->lineno, "%s.%s: set twice (first on line %d)", k->section, k->key,
                ps->seen[idx]);
        return 0;
    }
    why = xacct__config_set_value(k, ps->cfg, value, ps->seen[idx] != 0, why_buf, sizeof(why_buf));
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
XACCT_STATIC int config_load_from(const char *path, const char *text, config_getenv_fn getenv_fn,
                                  void *ud, bool partial, xacct_config_t **out, char *err,
                                  size_t errlen)
{
    xacct_config_t *cfg = NULL;
    char *file_text = NULL;
    char why_buf[96], ename[96], scratch[256];
    const char *why;
    parse_state_t ps = {0};
    int rc = XACCT_ECONFIG;

    *out = NULL;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    else
        err = scratch, errlen = sizeof(scratch); /* nowhere to report */
    if (getenv_fn == NULL)
        getenv_fn = real_getenv;

    cfg = xacct_calloc(1, sizeof(*cfg));
    for (size_t i = 0; i < xacct__config_nkeys; i++) {
        why = xacct__config_set_value(&xacct__config_keys[i], cfg, xacct__config_keys[i].dflt, false, why_buf, sizeof(why_buf));
        if (why != NULL) {
            /* The table itself is wrong: a programming error. */
            snprintf(err, errlen, "default of %s.%s: %s", xacct__config_keys[i].section, xacct__config_keys[i].key, why);
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
        ps.seen = xacct_calloc(xacct__config_nkeys, sizeof(*ps.seen));
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
    for (size_t i = 0; i < xacct__config_nkeys; i++) {
        const char *v;
        xacct__config_env_name(&xacct__config_keys[i], ename, sizeof(ename));
        if ((v = getenv_fn(ename, ud)) == NULL)
            continue;
        why = xacct__config_set_value(&xacct__config_keys[i], cfg, v, false, why_buf, sizeof(why_buf));
        if (why != NULL) {
            snprintf(err, errlen, "%s: %s.%s: %s", ename, xacct__config_keys[i].section, xacct__config_keys[i].key, why);
            goto out;
        }
    }

    /* The SDK's region variables fill in a region nobody configured. */
    if (*cfg->aws_region == '\0') {
        static const char *const region_vars[] = {"AWS_REGION", "AWS_DEFAULT_REGION"};
        bool known;
        const xacct__config_key_t *region = xacct__config_find_key("aws", "region", &known);
        for (size_t i = 0; i < XACCT_ARRAY_SIZE(region_vars); i++) {
            const char *v = getenv_fn(region_vars[i], ud);
            if (v == NULL || *v == '\0')
                continue;
            why = xacct__config_set_value(region, cfg, v, false, why_buf, sizeof(why_buf));
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
            why = xacct__config_set_value(xacct__config_find_key("aws", "region", &known), cfg, pregion, false, why_buf,
                            sizeof(why_buf));
            if (why != NULL)
                snprintf(err, errlen, "AWS profile %s: region: %s",
                         xacct_aws_profile_selected(getenv_fn, ud), why);
            free(pregion);
            if (why != NULL)
                goto out;
        }
    }

    /* Every missing key at once, a line each: a fresh install learns them
     * all from one --check-config, not one a run. */
    if (!partial) {
        const char *where = path != NULL ? path : text != NULL ? "<string>" : NULL;
        size_t used = 0;
        bool missing = false;
        if (*cfg->aws_region == '\0') {
            missing = true;
            add_line(err, errlen, &used,
                     "%s%saws.region: required (set it in the file, XACCT_AWS_REGION, AWS_REGION "
                     "or AWS_DEFAULT_REGION)",
                     where ? where : "", where ? ": " : "");
        }
        for (size_t i = 0; i < xacct__config_nkeys; i++) {
            const xacct__config_key_t *k = &xacct__config_keys[i];
            if (!(k->flags & KF_REQUIRED) || !xacct__config_key_empty(cfg, k))
                continue;
            missing = true;
            xacct__config_env_name(k, ename, sizeof(ename));
            add_line(err, errlen, &used, "%s%s%s.%s: required (set it in the file or %s)",
                     where ? where : "", where ? ": " : "", k->section, k->key, ename);
        }
        if (missing)
            goto out;
    }

    *out = cfg;
    cfg = NULL;
    rc = 0;
out:
    free(ps.seen);
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
    for (size_t i = 0; i < xacct__config_nkeys; i++) {
        void *f = xacct__config_field(cfg, &xacct__config_keys[i]);
        if (xacct__config_keys[i].type == KT_STRING)
            free(*(char **)f);
        else if (xacct__config_keys[i].type == KT_LIST)
            xacct__config_strlist_clear(f);
    }
    free(cfg->path);
    free(cfg);
}
