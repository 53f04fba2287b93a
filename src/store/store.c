/* SPDX-License-Identifier: MIT */
/*
 * The Redis connection's public interface: options checked and defaults
 * applied, commands and EVALSHA submitted (each script's SHA1 worked out
 * once and kept in a small table), the counters, and free (deferred when
 * called from inside a callback). The connection itself is store_conn.c, the
 * command objects store_cmd.c; this file does not include hiredis.
 */
#include "xacct/store.h"

#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define DEFAULT_COMMAND_TIMEOUT_MS 5000
#define DEFAULT_MASTER_NAME "mymaster"
#define DEFAULT_MAX_QUEUED 10000
#define DEFAULT_BACKOFF_BASE_MS 100
#define DEFAULT_BACKOFF_MAX_MS 5000

int xacct_store_new(uv_loop_t *loop, const xacct_store_options_t *opts, xacct_store_t **out,
                    char *err, size_t errlen)
{
    *out = NULL;
    char *host = NULL, *user = NULL, *pw = NULL;
    int port, db, tls;
    const char *url = opts && opts->url && opts->url[0] ? opts->url : XACCT_STORE_DEFAULT_URL;
    int rc = xacct__store_parse_url(url, &host, &port, &user, &pw, &db, &tls, err, errlen);
    if (rc != 0)
        return rc;
    const char *ca = opts ? opts->tls_ca_file : NULL, *cert = opts ? opts->tls_cert_file : NULL,
               *key = opts ? opts->tls_key_file : NULL;
    xacct_tls_config_t *tls_cfg = NULL;
    if (tls)
        rc = xacct_tls_config_new(ca, cert, key, &tls_cfg, err, errlen);
    else if ((ca && ca[0]) || (cert && cert[0]) || (key && key[0])) {
        /* Certificates for a plain connection are a mistake worth stopping
         * for: whoever set them believes the connection is encrypted. */
        snprintf(err, errlen, "TLS files are set but the URL is not rediss://");
        rc = XACCT_EINVAL;
    }
    for (size_t i = 0; rc == 0 && opts && i < opts->nsentinels; i++) {
        if (opts->sentinels[i] == NULL || opts->sentinels[i][0] == '\0' ||
            strlen(opts->sentinels[i]) > 300) {
            snprintf(err, errlen, "a sentinel address is empty or too long");
            rc = XACCT_EINVAL;
        }
    }
    if (rc != 0) {
        free(host);
        free(user);
        xacct_free_secret(pw);
        return rc;
    }

    xacct_store_t *s = xacct_calloc(1, sizeof(*s));
    s->_loop = loop;
    s->_host = host;
    s->_port = port;
    s->_user = user;
    s->_password = pw;
    s->_db = db;
    s->_tls = tls;
    s->_tls_cfg = tls_cfg;
    s->_ca_file = ca && ca[0] ? xacct_strdup(ca) : NULL;
    s->_cert_file = cert && cert[0] ? xacct_strdup(cert) : NULL;
    s->_key_file = key && key[0] ? xacct_strdup(key) : NULL;
    if (opts && opts->nsentinels > 0) {
        s->_nsentinels = opts->nsentinels;
        s->_sentinels = xacct_calloc(s->_nsentinels, sizeof(*s->_sentinels));
        for (size_t i = 0; i < s->_nsentinels; i++)
            s->_sentinels[i] = xacct_strdup(opts->sentinels[i]);
    }
    s->_master_name =
        xacct_strdup(opts && opts->master_name && opts->master_name[0] ? opts->master_name
                                                                       : DEFAULT_MASTER_NAME);
    s->_sentinel_password = opts && opts->sentinel_password && opts->sentinel_password[0]
                                ? xacct_strdup(opts->sentinel_password)
                                : NULL;
    s->_command_timeout_ms = opts && opts->command_timeout_ms > 0 ? opts->command_timeout_ms
                                                                  : DEFAULT_COMMAND_TIMEOUT_MS;
    s->_prefix = xacct_strdup(opts && opts->prefix ? opts->prefix : XACCT_STORE_DEFAULT_PREFIX);
    s->_reconnect = opts ? opts->reconnect : 0;
    s->_connect_timeout_ms = opts && opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms
                                                                  : DEFAULT_CONNECT_TIMEOUT_MS;
    s->_max_queued = opts && opts->max_queued > 0 ? opts->max_queued : DEFAULT_MAX_QUEUED;
    s->_queue_timeout_ms = opts && opts->queue_timeout_ms > 0 ? opts->queue_timeout_ms : 0;
    s->_backoff_base_ms =
        opts && opts->backoff_base_ms > 0 ? opts->backoff_base_ms : DEFAULT_BACKOFF_BASE_MS;
    s->_backoff_max_ms =
        opts && opts->backoff_max_ms > 0 ? opts->backoff_max_ms : DEFAULT_BACKOFF_MAX_MS;
    if (s->_backoff_max_ms < s->_backoff_base_ms)
        s->_backoff_max_ms = s->_backoff_base_ms;
    s->_on_state = opts ? opts->on_state : NULL;
    s->_state_arg = opts ? opts->state_arg : NULL;
    s->_on_watch = opts ? opts->on_watch : NULL;
    s->_state = ST_DISCONNECTED;
    uv_timer_init(loop, &s->_timer);
    uv_timer_init(loop, &s->_qtimer);
    s->_handles = 2;
    xacct__store_start_connect(s);
    *out = s;
    return 0;
}

void xacct_store_free(xacct_store_t *s)
{
    if (s == NULL || s->_closing)
        return;
    s->_closing = 1;
    if (s->_depth > 0) {
        /* Inside one of our callbacks (maybe inside hiredis): finish later,
         * from the loop, where freeing the hiredis context is safe. */
        s->_state = ST_CLOSING;
        uv_timer_start(&s->_timer, xacct__store_timer_cb, 0, 0);
        return;
    }
    xacct__store_teardown(s);
}

const char *xacct_store_prefix(const xacct_store_t *s)
{
    return s->_prefix;
}

int xacct_store_is_up(const xacct_store_t *s)
{
    return s->_state == ST_READY;
}

size_t xacct_store_outstanding(const xacct_store_t *s)
{
    return s->_queued + s->_sent;
}

uint64_t xacct_store_connections(const xacct_store_t *s)
{
    return s->_connections;
}

uint64_t xacct_store_errors(const xacct_store_t *s)
{
    return s->_errors;
}

const char *xacct_store_auth_refused(const xacct_store_t *s)
{
    return s->_state != ST_READY && s->_auth_why[0] ? s->_auth_why : NULL;
}

int xacct_store_submit(xacct_store_t *s, const xacct_store_args_t *a, xacct_store_reply_cb cb,
                       void *arg)
{
    if (s->_closing)
        return XACCT_ESHUTDOWN;
    if (a->err != 0)
        return a->err;
    if (a->argc < 1)
        return XACCT_EINVAL;
    return xacct__store_cmd_submit(s, xacct__store_cmd_new(s, a, cb, arg));
}

int xacct_store_vcmd(xacct_store_t *s, xacct_store_reply_cb cb, void *arg, const char *name,
                     va_list ap)
{
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_str(&a, name);
    const char *p;
    while ((p = va_arg(ap, const char *)) != NULL)
        xacct_store_args_str(&a, p);
    int rc = xacct_store_submit(s, &a, cb, arg);
    xacct_store_args_destroy(&a);
    return rc;
}

int xacct_store_cmd(xacct_store_t *s, xacct_store_reply_cb cb, void *arg, const char *name, ...)
{
    va_list ap;
    va_start(ap, name);
    int rc = xacct_store_vcmd(s, cb, arg, name, ap);
    va_end(ap);
    return rc;
}

static const store_script_slot_t *script_slot(xacct_store_t *s, const xacct_store_script_t *script)
{
    for (size_t i = 0; i < s->_nscripts; i++)
        if (s->_scripts[i].script == script)
            return &s->_scripts[i];
    if (s->_nscripts >= XACCT_STORE_MAX_SCRIPTS)
        return NULL;
    store_script_slot_t *slot = &s->_scripts[s->_nscripts++];
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)script->source, strlen(script->source), md);
    for (size_t i = 0; i < sizeof(md); i++)
        snprintf(slot->sha + 2 * i, 3, "%02x", md[i]);
    slot->script = script;
    /* A script first seen on a live connection is loaded now; later
     * connections load every known script during the handshake. */
    if (s->_state == ST_READY)
        xacct__store_load_script(s, script);
    return slot;
}

int xacct_store_eval(xacct_store_t *s, const xacct_store_script_t *script, int nkeys,
                     const xacct_store_args_t *a, xacct_store_reply_cb cb, void *arg)
{
    if (s->_closing)
        return XACCT_ESHUTDOWN;
    if (a->err != 0)
        return a->err;
    if (nkeys < 0 || nkeys > a->argc)
        return XACCT_EINVAL;
    if (a->argc + 3 > XACCT_STORE_MAX_ARGS)
        return XACCT_ETOOBIG;
    const store_script_slot_t *slot = script_slot(s, script);
    if (slot == NULL)
        return XACCT_ETOOBIG;

    xacct_store_args_t full;
    xacct_store_args_init(&full);
    xacct_store_args_str(&full, "EVALSHA");
    xacct_store_args_str(&full, slot->sha);
    xacct_store_args_ll(&full, nkeys);
    for (int i = 0; i < a->argc; i++)
        xacct_store_args_add(&full, a->v[i], a->len[i]);
    int rc = full.err;
    if (rc == 0) {
        store_cmd_t *c = xacct__store_cmd_new(s, &full, cb, arg);
        c->script = script;
        rc = xacct__store_cmd_submit(s, c);
    }
    xacct_store_args_destroy(&full);
    return rc;
}
