/* SPDX-License-Identifier: MIT */
/*
 * The TLS settings of a store's connections (tls_bridge.h): the trust
 * anchors and the client certificate, loaded from their files at start-up
 * and again at a connection's start whenever one of the files changed, so a
 * renewed certificate or CA is taken up without a restart.
 */
#include "xacct/tls_bridge.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { F_CA, F_CERT, F_KEY, F_N };

/* What a file looked like when it was loaded: a renewal (written in place,
 * or a new file renamed over it, or a symlink moved) changes one of these. */
typedef struct file_sig {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    bool present;
} file_sig_t;

struct xacct_tls_config {
    SSL_CTX *ctx;         /* owned; a connection's SSL holds a reference of its own */
    char *files[F_N];     /* owned; NULL when not set */
    file_sig_t sig[F_N];  /* the files as last loaded, or as last found unloadable */
    char reload_err[320]; /* why the files changed since would not load, or "" */
};

void xacct__tls_reason(char *out, size_t outlen)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    snprintf(out, outlen, "%s", r ? r : "unknown TLS error");
    ERR_clear_error();
}

static file_sig_t sig_of(const char *path)
{
    file_sig_t s;
    memset(&s, 0, sizeof(s));
    struct stat st;
    if (path != NULL && stat(path, &st) == 0) {
        s.dev = st.st_dev;
        s.ino = st.st_ino;
        s.size = st.st_size;
        s.mtime = st.st_mtim;
        s.present = true;
    }
    return s;
}

static bool sig_equal(const file_sig_t *a, const file_sig_t *b)
{
    return a->present == b->present && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* A client context from the files, or NULL with the reason in err. */
static SSL_CTX *load(char *const files[F_N], char *err, size_t errlen)
{
    char why[160];
    const char *ca = files[F_CA], *cert = files[F_CERT], *key = files[F_KEY];
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL)
        abort();
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (ca != NULL) {
        /* Only the given CA: a private Redis CA should not widen to every
         * public authority, nor the other way round. */
        if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
            xacct__tls_reason(why, sizeof(why));
            snprintf(err, errlen, "redis.tls_ca_file %s: %s", ca, why);
            goto fail;
        }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        xacct__tls_reason(why, sizeof(why));
        snprintf(err, errlen, "system trust store: %s", why);
        goto fail;
    }
    if (cert != NULL) {
        if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
            xacct__tls_reason(why, sizeof(why));
            snprintf(err, errlen, "redis.tls_cert_file %s: %s", cert, why);
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            xacct__tls_reason(why, sizeof(why));
            snprintf(err, errlen, "redis.tls_key_file %s: %s", key, why);
            goto fail;
        }
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

static char *path_or_null(const char *p)
{
    return p != NULL && p[0] != '\0' ? xacct_strdup(p) : NULL;
}

int xacct_tls_config_new(const char *ca_file, const char *cert_file, const char *key_file,
                         xacct_tls_config_t **out, char *err, size_t errlen)
{
    *out = NULL;
    int has_cert = cert_file && cert_file[0], has_key = key_file && key_file[0];
    if (has_cert != has_key) {
        snprintf(err, errlen, "redis.tls_cert_file and redis.tls_key_file go together");
        return XACCT_EINVAL;
    }
    xacct_tls_config_t *cfg = xacct_calloc(1, sizeof(*cfg));
    cfg->files[F_CA] = path_or_null(ca_file);
    cfg->files[F_CERT] = path_or_null(cert_file);
    cfg->files[F_KEY] = path_or_null(key_file);
    for (int i = 0; i < F_N; i++)
        cfg->sig[i] = sig_of(cfg->files[i]);
    cfg->ctx = load(cfg->files, err, errlen);
    if (cfg->ctx == NULL) {
        xacct_tls_config_free(cfg);
        return XACCT_EINVAL;
    }
    *out = cfg;
    return 0;
}

const char *xacct_tls_config_refresh(xacct_tls_config_t *cfg)
{
    file_sig_t now[F_N];
    bool changed = false;
    for (int i = 0; i < F_N; i++) {
        now[i] = sig_of(cfg->files[i]);
        changed = changed || !sig_equal(&now[i], &cfg->sig[i]);
    }
    if (!changed)
        return cfg->reload_err[0] != '\0' ? cfg->reload_err : NULL;
    /* Taken as seen now either way: files that will not load are not
     * read again until they change once more. */
    memcpy(cfg->sig, now, sizeof(now));
    char err[256];
    SSL_CTX *ctx = load(cfg->files, err, sizeof(err));
    if (ctx == NULL) {
        snprintf(
            cfg->reload_err, sizeof(cfg->reload_err),
            "the TLS files changed but do not load, the ones loaded before stay in use: %.200s",
            err);
        return cfg->reload_err;
    }
    SSL_CTX_free(cfg->ctx);
    cfg->ctx = ctx;
    cfg->reload_err[0] = '\0';
    return NULL;
}

SSL_CTX *xacct_tls_config_ctx(const xacct_tls_config_t *cfg)
{
    return cfg->ctx;
}

void xacct_tls_config_free(xacct_tls_config_t *cfg)
{
    if (cfg == NULL)
        return;
    SSL_CTX_free(cfg->ctx);
    for (int i = 0; i < F_N; i++)
        free(cfg->files[i]);
    free(cfg);
}
