/* SPDX-License-Identifier: MIT */
/*
 * Comparing and printing configuration snapshots: the reload check (a key
 * not marked reloadable must not change on SIGHUP) and the --check-config
 * dump, every key with its effective value, URL passwords masked.
 */
#include "xacct/config.h"

#include "config_keys.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

/* ---- reload and dump -------------------------------------------------- */

static bool values_equal(const xacct__config_key_t *k, const xacct_config_t *a, const xacct_config_t *b)
{
    const void *fa = xacct__config_cfield(a, k), *fb = xacct__config_cfield(b, k);

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
    for (size_t i = 0; i < xacct__config_nkeys; i++) {
        if ((xacct__config_keys[i].flags & KF_RELOAD) || values_equal(&xacct__config_keys[i], old, new_cfg))
            continue;
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s.%s: cannot be changed by a reload (restart to apply)",
                     xacct__config_keys[i].section, xacct__config_keys[i].key);
        return XACCT_ECONFIG;
    }
    return 0;
}

static bool url_parses(const char *url)
{
    CURLU *u = curl_url();
    bool ok = u != NULL &&
              curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK;
    curl_url_cleanup(u);
    return ok;
}

/* Writes url with the password of its user information ("user:password@")
 * replaced by "***"; the rest as written. */
static void put_url_masked(const char *url, FILE *out)
{
    const char *auth = strstr(url, "://");
    auth = auth != NULL ? auth + 3 : url;
    size_t alen = strcspn(auth, "/?#");
    /* A password with an unencoded '/', '?' or '#' ends the authority early,
     * so the URL does not parse (nothing connects with it), yet the secret is
     * in the text: then all up to the last '@' is masked. */
    const char *last_at = strrchr(auth, '@');
    if (last_at != NULL && memchr(auth, '@', alen) == NULL && !url_parses(url)) {
        fwrite(url, 1, (size_t)(auth - url), out);
        fputs("***", out);
        fputs(last_at, out);
        return;
    }
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

/* Writes url up to its authority, then "/" and three stars for a path, query or fragment
 * after it: webhook receivers often take their token there. */
static void put_url_origin(const char *url, FILE *out)
{
    const char *auth = strstr(url, "://");
    auth = auth != NULL ? auth + 3 : url;
    size_t alen = strcspn(auth, "/?#");
    fwrite(url, 1, (size_t)(auth + alen - url), out);
    if (auth[alen] != '\0')
        fputs(strcmp(auth + alen, "/") == 0 ? "/" : "/***", out);
}

void xacct_config_dump(const xacct_config_t *cfg, FILE *out)
{
    if (cfg == NULL || out == NULL)
        return;
    for (size_t i = 0; i < xacct__config_nkeys; i++) {
        const xacct__config_key_t *k = &xacct__config_keys[i];
        const void *f = xacct__config_cfield(cfg, k);
        fprintf(out, "%s.%s = ", k->section, k->key);
        switch (k->type) {
        case KT_STRING:
            if (k->flags & KF_URL_PASSWORD)
                put_url_masked(*(char *const *)f, out);
            else if (k->flags & KF_URL_PATH_SECRET)
                put_url_origin(*(char *const *)f, out);
            else if (k->flags & KF_SECRET)
                fputs((*(char *const *)f)[0] != '\0' ? "***" : "", out);
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
