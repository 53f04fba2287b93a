/* SPDX-License-Identifier: MIT */
/*
 * doctor: Redis answers (INFO server), runs 6.2 or newer (streams with
 * XAUTOCLAIM, GETDEL, ... are used), and keeps its data across a restart:
 * AOF on (INFO persistence aof_enabled) or RDB snapshots configured (CONFIG
 * GET save; where CONFIG is not allowed, as on ElastiCache, a warning).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doctor.h"

typedef struct info_res {
    cli_res_t r;
    char *text; /* the reply, owned */
} info_res_t;

static void reply_done(int status, const char *detail, const xacct_store_reply_t *reply, void *arg)
{
    info_res_t *o = arg;
    if (status == 0 && reply->type == XACCT_STORE_REPLY_STRING)
        o->text = xacct_strdup(reply->str);
    else if (status == 0 && reply->type == XACCT_STORE_REPLY_ARRAY && reply->elements == 2 &&
             reply->element[1].type == XACCT_STORE_REPLY_STRING)
        o->text = xacct_strdup(reply->element[1].str); /* CONFIG GET save -> [save, value] */
    else if (status == 0)
        o->text = xacct_strdup("");
    cli_res_set(&o->r, status, detail);
}

static int command(doctor_t *d, info_res_t *o, const char *a, const char *b, const char *c)
{
    memset(o, 0, sizeof(*o));
    int rc = xacct_store_cmd(d->c->ctx->store, reply_done, o, a, b, c, NULL);
    cli_await(d->c, rc, &o->r);
    return o->r.status;
}

static void clear(info_res_t *o)
{
    free(o->text);
    cli_res_clear(&o->r);
}

/* The value of "field:" in an INFO reply, copied into out. */
static bool info_field(const char *info, const char *field, char *out, size_t outlen)
{
    size_t n = strlen(field);
    for (const char *p = info; p != NULL && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, field, n) == 0 && p[n] == ':') {
            size_t len = strcspn(p + n + 1, "\r\n");
            snprintf(out, outlen, "%.*s", (int)len, p + n + 1);
            return true;
        }
    }
    return false;
}

void doctor_check_redis(doctor_t *d)
{
    const char *fix_reach = "start Redis or fix redis.url (and redis.tls_* / redis.sentinels)";
    char err[512];
    if (xacct_ctx_start(d->c->ctx, XACCT_CTX_STORE, err, sizeof(err)) != 0) {
        doctor_add(d, "redis", DOCTOR_FAIL, fix_reach, "%s", err);
        return;
    }
    info_res_t o;
    if (command(d, &o, "INFO", "server", NULL) != 0) {
        const char *auth = xacct_store_auth_refused(d->c->ctx->store);
        if (auth != NULL) {
            /* Reachable, but our credentials are refused: not a down server. */
            doctor_add(d, "redis", DOCTOR_FAIL,
                       "set the password (and ACL user) in redis.url to what Redis expects",
                       "%s", o.r.detail != NULL ? o.r.detail : auth);
            clear(&o);
            return;
        }
        char *msg = xacct_ctx_store_error(d->c->ctx, o.r.status, o.r.detail, "INFO server");
        doctor_add(d, "redis", DOCTOR_FAIL, fix_reach, "%s", msg);
        free(msg);
        clear(&o);
        return;
    }
    char version[32] = "";
    int major = 0, minor = 0;
    if (!info_field(o.text, "redis_version", version, sizeof(version)) ||
        sscanf(version, "%d.%d", &major, &minor) != 2)
        doctor_add(d, "redis", DOCTOR_FAIL, "point redis.url at a Redis server",
                   "INFO server names no redis_version");
    else if (major < 6 || (major == 6 && minor < 2))
        doctor_add(d, "redis", DOCTOR_FAIL, "upgrade Redis to 6.2 or newer",
                   "Redis %s is older than 6.2", version);
    else
        doctor_add(d, "redis", DOCTOR_OK, NULL, "Redis %s reachable", version);
    clear(&o);

    char aof[8] = "";
    if (command(d, &o, "INFO", "persistence", NULL) == 0 &&
        info_field(o.text, "aof_enabled", aof, sizeof(aof)) && strcmp(aof, "1") == 0) {
        doctor_add(d, "persist", DOCTOR_OK, NULL, "AOF on");
        clear(&o);
        return;
    }
    clear(&o);
    const char *fix = "turn persistence on: appendonly yes, or save 3600 1 300 100 60 10000 "
                      "(customers, claims and jobs live only in Redis)";
    if (command(d, &o, "CONFIG", "GET", "save") != 0)
        doctor_add(d, "persist", DOCTOR_WARN, fix,
                   "AOF off and CONFIG GET save not allowed (%s): check RDB snapshots are on",
                   o.r.detail ? o.r.detail : xacct_strerror(o.r.status));
    else if (o.text[0] == '\0')
        doctor_add(d, "persist", DOCTOR_FAIL, fix, "neither AOF nor RDB snapshots are on");
    else
        doctor_add(d, "persist", DOCTOR_OK, NULL, "RDB snapshots (save %s)", o.text);
    clear(&o);
}
