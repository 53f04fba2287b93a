/* SPDX-License-Identifier: MIT */
/*
 * The Redis connection: hiredis' async API on the libuv loop, and the only
 * file that includes hiredis. It owns the connection life cycle (ask
 * Sentinel, connect directly or through the TLS bridge, AUTH/SELECT/ROLE/
 * script-load handshake, loss, jittered reconnect), a bounded queue of
 * commands waiting for a connection, the per-command reply deadline, the
 * failover replies that send a command round again, EVALSHA with the
 * NOSCRIPT fallback, and the translation of hiredis replies and errors into
 * xacct types.
 */
#include "xacct/store.h"

#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/sentinel.h"
#include "xacct/tls_bridge.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define DEFAULT_COMMAND_TIMEOUT_MS 5000
#define DEFAULT_MASTER_NAME "mymaster"
#define DEFAULT_MAX_QUEUED 10000
#define DEFAULT_BACKOFF_BASE_MS 100
#define DEFAULT_BACKOFF_MAX_MS 5000
#define MAX_REPLY_DEPTH 16

typedef enum conn_state {
    ST_DISCONNECTED = 0, /* no context; maybe a reconnect timer runs */
    ST_RESOLVING,        /* asking Sentinel; timer = connect timeout */
    ST_CONNECTING,       /* TCP (+TLS) connect in progress; timer = connect timeout */
    ST_HANDSHAKE,        /* connected, AUTH/SELECT/ROLE/SCRIPT LOAD/PING sent */
    ST_READY,            /* user commands go straight to hiredis; timer =
                            the oldest written command's reply deadline */
    ST_DRAINING,         /* a failover reply came: new commands wait, the
                            connection closes once written ones are answered */
    ST_CLOSING,          /* xacct_store_free deferred to the timer */
    ST_CLOSED,           /* torn down; waiting for the timer to close */
} conn_state_t;

typedef struct store_cmd store_cmd_t;

struct store_cmd {
    store_cmd_t *next;                  /* queue link */
    xacct_store_t *store;               /* owner */
    char *wire;                         /* RESP-formatted command (owned, wiped) */
    size_t wire_len;                    /* bytes in wire */
    const xacct_store_script_t *script; /* set for EVALSHA, for the NOSCRIPT retry */
    int reloaded;                       /* the NOSCRIPT retry was done */
    int timed_out;                      /* its reply deadline passed */
    uint64_t queued_at;                 /* uv_now() when queued */
    uint64_t sent_at;                   /* uv_now() when written */
    xacct_store_reply_cb cb;            /* user callback; fires once */
    void *arg;                          /* user argument */
};

typedef struct store_script_slot {
    const xacct_store_script_t *script; /* identity is the pointer */
    char sha[41];                       /* hex SHA1 of the source */
} store_script_slot_t;

struct xacct_store {
    uv_loop_t *_loop;               /* borrowed */
    uv_timer_t _timer;              /* connect timeout / reconnect / deferred free */
    redisAsyncContext *_ac;         /* current hiredis context, or NULL */
    conn_state_t _state;            /* see conn_state_t */
    int _closing;                   /* xacct_store_free was called */
    int _depth;                     /* nesting of callbacks we are inside */
    unsigned _attempt;              /* consecutive connections that failed or
                                       ended before a command was answered */
    uint64_t _connections;          /* ready connections so far */
    uint64_t _errors;               /* failed connects, lost connections, error replies */

    char *_host;                    /* from the URL, or from Sentinel (owned) */
    int _port;
    int _tls;                       /* rediss:// */
    xacct_tls_config_t *_tls_cfg;   /* loaded trust and client cert (owned), when _tls */
    xacct_tls_bridge_t *_bridge;    /* the current TLS connection's bridge, or NULL */
    char *_ca_file, *_cert_file, *_key_file; /* for Sentinel connections (owned) */
    char **_sentinels;              /* "host:port" (owned), or NULL */
    size_t _nsentinels;
    size_t _sentinel_first;         /* the sentinel that answered last */
    char *_master_name;             /* owned */
    xacct_sentinel_query_t *_query; /* running Sentinel question, or NULL */
    char *_user;                    /* ACL user or NULL (owned) */
    char *_password;                /* or NULL (owned, wiped) */
    int _db;
    char *_prefix;                  /* owned */

    int _reconnect;                 /* options, defaults applied */
    long _connect_timeout_ms;
    long _command_timeout_ms;
    size_t _max_queued;
    long _queue_timeout_ms;
    long _backoff_base_ms;
    long _backoff_max_ms;
    xacct_store_state_cb _on_state;
    void *_state_arg;

    store_cmd_t *_qhead, *_qtail;   /* commands waiting for a connection */
    size_t _queued;                 /* length of that queue */
    size_t _sent;                   /* user commands written, reply pending */
    store_cmd_t *_fhead, *_ftail;   /* those commands, oldest first (for deadlines) */

    store_script_slot_t _scripts[XACCT_STORE_MAX_SCRIPTS]; /* known scripts */
    size_t _nscripts;

    char _why[320];                 /* last connection failure, for details */
    char _drop_why[200];            /* why we are dropping the connection, or "" */
};

static void start_connect(xacct_store_t *s);
static void timer_cb(uv_timer_t *t);

/* ------------------------------------------------------------------ */
/* Backoff                                                              */

XACCT_STATIC long xacct__store_backoff(long base_ms, long max_ms, unsigned attempt)
{
    long d = base_ms;
    for (unsigned i = 0; i < attempt && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    /* Jitter over the upper half, so many workers that lost the same Redis
     * do not come back in lock step, yet each waits at least half the step. */
    uint32_t r = 0;
    if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
        r = (uint32_t)uv_hrtime();
    long half = d / 2;
    return half + (half > 0 ? (long)(r % (uint32_t)(half + 1)) : 0);
}

/* ------------------------------------------------------------------ */
/* Commands                                                             */

static void cmd_free(store_cmd_t *c)
{
    if (c == NULL)
        return;
    if (c->wire != NULL) {
        OPENSSL_cleanse(c->wire, c->wire_len);
        redisFreeCommand(c->wire);
    }
    free(c);
}

/* Fires the user callback once and frees the command. */
static void cmd_finish(store_cmd_t *c, int status, const char *detail,
                       const xacct_store_reply_t *reply)
{
    xacct_store_t *s = c->store;
    xacct_store_reply_cb cb = c->cb;
    void *arg = c->arg;
    cmd_free(c);
    if (cb != NULL) {
        s->_depth++;
        cb(status, detail, reply, arg);
        s->_depth--;
    }
}

static void queue_push(xacct_store_t *s, store_cmd_t *c)
{
    c->next = NULL;
    c->queued_at = uv_now(s->_loop);
    if (s->_qtail != NULL)
        s->_qtail->next = c;
    else
        s->_qhead = c;
    s->_qtail = c;
    s->_queued++;
}

static store_cmd_t *queue_pop(xacct_store_t *s)
{
    store_cmd_t *c = s->_qhead;
    if (c == NULL)
        return NULL;
    s->_qhead = c->next;
    if (s->_qhead == NULL)
        s->_qtail = NULL;
    s->_queued--;
    c->next = NULL;
    return c;
}

/* Fails every queued command; callbacks may queue new ones, which are left. */
static void queue_fail_all(xacct_store_t *s, int status, const char *detail)
{
    size_t n = s->_queued;
    while (n-- > 0) {
        store_cmd_t *c = queue_pop(s);
        if (c == NULL)
            break;
        cmd_finish(c, status, detail, NULL);
    }
}

static void queue_expire(xacct_store_t *s)
{
    if (s->_queue_timeout_ms <= 0)
        return;
    uint64_t now = uv_now(s->_loop);
    while (s->_qhead != NULL && now - s->_qhead->queued_at >= (uint64_t)s->_queue_timeout_ms) {
        store_cmd_t *c = queue_pop(s);
        cmd_finish(c, XACCT_ETIMEOUT, "Redis unreachable: command waited too long", NULL);
    }
}

/* Written commands, oldest first: replies come in this order, and the
 * oldest one's age is what the reply deadline watches. */
static void fifo_push(xacct_store_t *s, store_cmd_t *c)
{
    c->next = NULL;
    c->sent_at = uv_now(s->_loop);
    if (s->_ftail != NULL)
        s->_ftail->next = c;
    else
        s->_fhead = c;
    s->_ftail = c;
    s->_sent++;
}

static void fifo_remove(xacct_store_t *s, store_cmd_t *c)
{
    store_cmd_t *prev = NULL;
    for (store_cmd_t *p = s->_fhead; p != NULL; prev = p, p = p->next) {
        if (p != c)
            continue;
        if (prev != NULL)
            prev->next = c->next;
        else
            s->_fhead = c->next;
        if (s->_ftail == c)
            s->_ftail = prev;
        c->next = NULL;
        s->_sent--;
        return;
    }
}

/* On a live connection the timer watches the oldest command's deadline. */
static void arm_deadline(xacct_store_t *s)
{
    if ((s->_state != ST_READY && s->_state != ST_DRAINING) || s->_fhead == NULL ||
        uv_is_active((uv_handle_t *)&s->_timer))
        return;
    uint64_t due = s->_fhead->sent_at + (uint64_t)s->_command_timeout_ms;
    uint64_t now = uv_now(s->_loop);
    uv_timer_start(&s->_timer, timer_cb, due > now ? due - now : 0, 0);
}

static void reply_free(xacct_store_reply_t *r)
{
    if (r->type == XACCT_STORE_REPLY_ARRAY && r->element != NULL) {
        for (size_t i = 0; i < r->elements; i++)
            reply_free((xacct_store_reply_t *)&r->element[i]);
        free((void *)r->element);
    }
}

/* Translates a hiredis reply; strings stay in hiredis' memory, which lives
 * until our callback returns. */
static int reply_convert(const redisReply *in, xacct_store_reply_t *out, int depth)
{
    memset(out, 0, sizeof(*out));
    switch (in->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        out->type = in->type == REDIS_REPLY_STRING   ? XACCT_STORE_REPLY_STRING
                    : in->type == REDIS_REPLY_STATUS ? XACCT_STORE_REPLY_STATUS
                                                     : XACCT_STORE_REPLY_ERROR;
        out->str = in->str;
        out->len = (size_t)in->len;
        return 0;
    case REDIS_REPLY_INTEGER:
        out->type = XACCT_STORE_REPLY_INTEGER;
        out->integer = in->integer;
        return 0;
    case REDIS_REPLY_NIL:
        out->type = XACCT_STORE_REPLY_NIL;
        return 0;
    case REDIS_REPLY_ARRAY: {
        out->type = XACCT_STORE_REPLY_ARRAY;
        if (depth >= MAX_REPLY_DEPTH)
            return XACCT_ETOOBIG;
        if (in->elements == 0)
            return 0;
        xacct_store_reply_t *el = xacct_calloc(in->elements, sizeof(*el));
        out->element = el;
        out->elements = in->elements;
        for (size_t i = 0; i < in->elements; i++) {
            int rc = reply_convert(in->element[i], &el[i], depth + 1);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    default:
        return XACCT_EPARSE;
    }
}

static void send_or_queue(xacct_store_t *s, store_cmd_t *c);
static void reply_cb(redisAsyncContext *ac, void *r, void *privdata);

/* Marks the current connection as gone (idempotent per context). hiredis
 * frees the context itself in every path that calls this. */
static void conn_lost(xacct_store_t *s, const redisAsyncContext *ac, const char *why);

static void load_script_cmd(xacct_store_t *s, const xacct_store_script_t *script);

/* Replies with which a server refuses a command it did not run, during or
 * after a failover: a replica (READONLY), a server still loading its data
 * (LOADING), a replica cut off from its master (MASTERDOWN). */
static int failover_reply(const char *e)
{
    return strncmp(e, "READONLY ", 9) == 0 || strncmp(e, "LOADING ", 8) == 0 ||
           strncmp(e, "MASTERDOWN ", 11) == 0;
}

/* Stops using the current connection: nothing new is written to it, the
 * replies already due still arrive, then hiredis closes it and conn_lost
 * reconnects (through Sentinel when configured). */
static void begin_drain(xacct_store_t *s, const char *why)
{
    if (s->_state != ST_READY)
        return;
    s->_state = ST_DRAINING;
    snprintf(s->_drop_why, sizeof(s->_drop_why), "server answered \"%.120s\"; reconnecting",
             why);
    redisAsyncDisconnect(s->_ac);
}

static void reply_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    store_cmd_t *c = privdata;
    xacct_store_t *s = c->store;
    redisReply *reply = r;

    s->_depth++;
    fifo_remove(s, c);
    if (reply == NULL) {
        /* hiredis is disconnecting or being freed: the outcome is unknown. */
        conn_lost(s, ac, ac->errstr[0] ? ac->errstr : "connection closed");
        if (s->_closing)
            cmd_finish(c, XACCT_ECANCELED, "store freed", NULL);
        else
            cmd_finish(c, c->timed_out ? XACCT_ETIMEOUT : XACCT_EDISCONNECTED, s->_why, NULL);
        goto out;
    }
    if (reply->type == REDIS_REPLY_ERROR && failover_reply(reply->str) && s->_ac == ac &&
        !s->_closing && (s->_state == ST_READY || s->_state == ST_DRAINING)) {
        /* Not run: send it again on the next connection. */
        begin_drain(s, reply->str);
        queue_push(s, c);
        goto out;
    }
    /* A served command ends the backoff: a replica that completes every
     * handshake but refuses every command (READONLY in a loop) does not. */
    if (s->_state == ST_READY && s->_ac == ac)
        s->_attempt = 0;
    if (reply->type == REDIS_REPLY_ERROR) {
        if (c->script != NULL && !c->reloaded && strncmp(reply->str, "NOSCRIPT", 8) == 0 &&
            s->_state == ST_READY && s->_ac == ac) {
            /* The script cache was flushed (or Redis restarted under us):
             * load it and run the same EVALSHA again, in order. */
            c->reloaded = 1;
            load_script_cmd(s, c->script);
            send_or_queue(s, c);
            goto out;
        }
        s->_errors++;
        cmd_finish(c, XACCT_EREDIS, reply->str, NULL);
        goto out;
    }
    xacct_store_reply_t conv;
    int rc = reply_convert(reply, &conv, 0);
    if (rc != 0)
        cmd_finish(c, rc, "Redis reply too deeply nested", NULL);
    else
        cmd_finish(c, 0, NULL, &conv);
    reply_free(&conv);
out:
    s->_depth--;
}

/* Writes c to the ready connection, or queues it. */
static void send_or_queue(xacct_store_t *s, store_cmd_t *c)
{
    if (s->_state == ST_READY && s->_ac != NULL) {
        if (redisAsyncFormattedCommand(s->_ac, reply_cb, c, c->wire, c->wire_len) == REDIS_OK) {
            fifo_push(s, c);
            arm_deadline(s);
            return;
        }
    }
    queue_push(s, c);
}

static store_cmd_t *cmd_new(xacct_store_t *s, const xacct_store_args_t *a,
                            xacct_store_reply_cb cb, void *arg)
{
    char *wire = NULL;
    int n = redisFormatCommandArgv(&wire, a->argc, (const char **)a->v, a->len);
    if (n < 0)
        abort(); /* hiredis formats only fail on OOM */
    store_cmd_t *c = xacct_calloc(1, sizeof(*c));
    c->store = s;
    c->wire = wire;
    c->wire_len = (size_t)n;
    c->cb = cb;
    c->arg = arg;
    return c;
}

/* Internal fire-and-forget command (SCRIPT LOAD, AUTH...) sent right away on
 * the current connection, ahead of anything queued. */
static void send_internal(xacct_store_t *s, const xacct_store_args_t *a, xacct_store_reply_cb cb,
                          void *arg)
{
    store_cmd_t *c = cmd_new(s, a, cb, arg);
    if (s->_ac == NULL ||
        redisAsyncFormattedCommand(s->_ac, reply_cb, c, c->wire, c->wire_len) != REDIS_OK) {
        cmd_free(c);
        return;
    }
    fifo_push(s, c);
    arm_deadline(s);
}

static void ignore_cb(int status, const char *detail, const xacct_store_reply_t *r, void *arg)
{
    XACCT_UNUSED(status);
    XACCT_UNUSED(detail);
    XACCT_UNUSED(r);
    XACCT_UNUSED(arg);
}

static void load_script_cmd(xacct_store_t *s, const xacct_store_script_t *script)
{
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_str(&a, "SCRIPT");
    xacct_store_args_str(&a, "LOAD");
    xacct_store_args_str(&a, script->source);
    /* A script that does not compile fails again at EVALSHA, where the error
     * reaches the caller; the load's own reply is not needed. */
    send_internal(s, &a, ignore_cb, NULL);
    xacct_store_args_destroy(&a);
}

/* ------------------------------------------------------------------ */
/* Connection life cycle                                                */

static void notify_state(xacct_store_t *s, int up, int status, const char *detail)
{
    if (s->_on_state == NULL || s->_closing)
        return;
    s->_depth++;
    s->_on_state(up, status, detail, s->_state_arg);
    s->_depth--;
}

static void drop_bridge(xacct_store_t *s)
{
    xacct_tls_bridge_t *b = s->_bridge;
    s->_bridge = NULL;
    xacct_tls_bridge_free(b);
}

/* A connection attempt failed or a connection was lost. */
static void conn_failed(xacct_store_t *s)
{
    drop_bridge(s);
    if (s->_closing)
        return;
    s->_errors++;
    notify_state(s, 0, XACCT_EDISCONNECTED, s->_why);
    if (s->_closing)
        return;
    if (s->_reconnect) {
        queue_expire(s);
        long d = xacct__store_backoff(s->_backoff_base_ms, s->_backoff_max_ms, s->_attempt);
        if (s->_attempt < 64)
            s->_attempt++;
        if (!s->_closing && s->_state == ST_DISCONNECTED)
            uv_timer_start(&s->_timer, timer_cb, (uint64_t)d, 0);
    } else {
        queue_fail_all(s, XACCT_EDISCONNECTED, s->_why);
    }
}

/* Why the connection ended: our own reason for dropping it first, then
 * what the TLS side saw (hiredis only sees its local socket close), then
 * hiredis' view. */
static void set_why(xacct_store_t *s, const char *hiredis_why)
{
    const char *bw = s->_bridge != NULL ? xacct_tls_bridge_error(s->_bridge) : NULL;
    if (s->_drop_why[0])
        snprintf(s->_why, sizeof(s->_why), "Redis at %s:%d: %s", s->_host, s->_port,
                 s->_drop_why);
    else if (bw != NULL)
        snprintf(s->_why, sizeof(s->_why), "%s", bw);
    else
        snprintf(s->_why, sizeof(s->_why), "Redis at %s:%d: %s", s->_host, s->_port,
                 hiredis_why);
    s->_drop_why[0] = '\0';
}

static void conn_lost(xacct_store_t *s, const redisAsyncContext *ac, const char *why)
{
    if (ac == NULL || s->_ac != ac)
        return;
    s->_ac = NULL;
    if (s->_closing)
        return; /* the deferred teardown owns the timer now */
    s->_state = ST_DISCONNECTED;
    uv_timer_stop(&s->_timer);
    set_why(s, why);
    conn_failed(s);
}

static void ready(xacct_store_t *s)
{
    s->_state = ST_READY;
    s->_connections++;
    uv_timer_stop(&s->_timer);
    notify_state(s, 1, 0, NULL);
    /* Send what waited, in order; everything goes out in one write. */
    size_t n = s->_queued;
    while (n-- > 0 && s->_state == ST_READY && !s->_closing) {
        store_cmd_t *c = queue_pop(s);
        if (c == NULL)
            break;
        send_or_queue(s, c);
    }
    arm_deadline(s);
}

static void handshake_cb(int status, const char *detail, const xacct_store_reply_t *r,
                         void *arg)
{
    xacct_store_t *s = arg;
    XACCT_UNUSED(r);
    if (status == XACCT_EDISCONNECTED || status == XACCT_ECANCELED)
        return; /* the loss is handled by conn_lost */
    if (s->_state != ST_HANDSHAKE)
        return;
    if (status != 0) {
        /* AUTH or SELECT refused: drop this connection and try again later
         * (or fail the waiting commands, in fail-fast mode). */
        redisAsyncContext *ac = s->_ac;
        snprintf(s->_why, sizeof(s->_why), "Redis at %s:%d: %s", s->_host, s->_port,
                 detail ? detail : "handshake failed");
        s->_ac = NULL;
        s->_state = ST_DISCONNECTED;
        uv_timer_stop(&s->_timer);
        redisAsyncFree(ac); /* deferred by hiredis: we are inside its callback */
        conn_failed(s);
    }
}

static void handshake_done_cb(int status, const char *detail, const xacct_store_reply_t *r,
                              void *arg)
{
    xacct_store_t *s = arg;
    if (status != 0) {
        /* e.g. NOAUTH: the server wants a password the URL does not give */
        handshake_cb(status, detail, r, arg);
        return;
    }
    if (s->_state == ST_HANDSHAKE && !s->_closing)
        ready(s);
}

/* With Sentinel, the address may be stale (a failover under way): only a
 * master will do; anything else drops the connection and asks again. */
static void role_cb(int status, const char *detail, const xacct_store_reply_t *r, void *arg)
{
    /* ROLE is an @admin command: an ACL user without it skips the check;
     * a replica would still be caught by its READONLY replies. */
    if (status == XACCT_EREDIS && detail != NULL && strncmp(detail, "NOPERM", 6) == 0)
        return;
    if (status != 0) {
        handshake_cb(status, detail, r, arg);
        return;
    }
    const xacct_store_reply_t *role = xacct_store_reply_at(r, 0);
    if (!xacct_store_reply_is(role, "master")) {
        char msg[128];
        snprintf(msg, sizeof(msg), "not the master (ROLE: %.*s), asking Sentinel again",
                 role && role->str ? (int)(role->len < 32 ? role->len : 32) : 1,
                 role && role->str ? role->str : "?");
        handshake_cb(XACCT_EREDIS, msg, NULL, arg);
    }
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    xacct_store_t *s = cac->data;
    s->_depth++;
    if (s->_ac != cac)
        goto out;
    if (s->_closing) {
        if (status != REDIS_OK)
            s->_ac = NULL; /* hiredis frees it; teardown must not */
        goto out;
    }
    if (status != REDIS_OK) {
        /* hiredis frees the context after this returns. */
        set_why(s, cac->errstr[0] ? cac->errstr : "connect failed");
        s->_ac = NULL;
        s->_state = ST_DISCONNECTED;
        uv_timer_stop(&s->_timer);
        conn_failed(s);
        goto out;
    }
    s->_state = ST_HANDSHAKE;
    xacct_store_args_t a;
    if (s->_password != NULL) {
        xacct_store_args_init(&a);
        xacct_store_args_str(&a, "AUTH");
        if (s->_user != NULL)
            xacct_store_args_str(&a, s->_user);
        xacct_store_args_str(&a, s->_password);
        send_internal(s, &a, handshake_cb, s);
        xacct_store_args_destroy(&a);
    }
    if (s->_db != 0) {
        xacct_store_args_init(&a);
        xacct_store_args_str(&a, "SELECT");
        xacct_store_args_ll(&a, s->_db);
        send_internal(s, &a, handshake_cb, s);
        xacct_store_args_destroy(&a);
    }
    if (s->_nsentinels > 0) {
        xacct_store_args_init(&a);
        xacct_store_args_str(&a, "ROLE");
        send_internal(s, &a, role_cb, s);
        xacct_store_args_destroy(&a);
    }
    for (size_t i = 0; i < s->_nscripts; i++)
        load_script_cmd(s, s->_scripts[i].script);
    /* Replies come in order, so PING's reply means all of the above ran. */
    xacct_store_args_init(&a);
    xacct_store_args_str(&a, "PING");
    send_internal(s, &a, handshake_done_cb, s);
    xacct_store_args_destroy(&a);
out:
    s->_depth--;
}

static void on_disconnect(const redisAsyncContext *cac, int status)
{
    xacct_store_t *s = cac->data;
    s->_depth++;
    conn_lost(s, cac,
              status == REDIS_OK ? "disconnected"
                                 : (cac->errstr[0] ? cac->errstr : "connection lost"));
    s->_depth--;
}

/*
 * hiredis 0.14's libuv adapter ignores a poll callback with status < 0. libuv
 * reports POLLERR that way (UV_EBADF) and stops the handle, which is exactly
 * what a refused connect produces, so the failure would go unnoticed until
 * the connect timeout. We keep the adapter (its attach, cleanup and event
 * bookkeeping) and only route its uv_poll_start calls to this callback, which
 * lets hiredis look at the socket itself on an error, as later hiredis
 * releases do.
 */
static void shim_poll(uv_poll_t *handle, int status, int events)
{
    redisLibuvEvents *p = handle->data;
    if (status != 0)
        events = p->events;
    if (p->context != NULL && (events & UV_READABLE))
        redisAsyncHandleRead(p->context);
    if (p->context != NULL && (events & UV_WRITABLE))
        redisAsyncHandleWrite(p->context);
}

static void shim_restart(void *privdata)
{
    redisLibuvEvents *p = privdata;
    if (p->events)
        uv_poll_start(&p->handle, p->events, shim_poll);
}

static void shim_add_read(void *privdata)
{
    redisLibuvAddRead(privdata);
    shim_restart(privdata);
}

static void shim_del_read(void *privdata)
{
    redisLibuvDelRead(privdata);
    shim_restart(privdata);
}

static void shim_add_write(void *privdata)
{
    redisLibuvAddWrite(privdata);
    shim_restart(privdata);
}

static void shim_del_write(void *privdata)
{
    redisLibuvDelWrite(privdata);
    shim_restart(privdata);
}

/* Hands a new hiredis context (TCP, or the TLS bridge's socket) to the loop.
 * A synchronous failure is reported from the timer (delay 0), so no callback
 * ever runs inside xacct_store_submit. */
static void attach(xacct_store_t *s, redisAsyncContext *ac)
{
    if (ac == NULL)
        abort();
    if (ac->err) {
        snprintf(s->_why, sizeof(s->_why), "Redis at %s:%d: %s", s->_host, s->_port,
                 ac->errstr);
        redisAsyncFree(ac);
        uv_timer_start(&s->_timer, timer_cb, 0, 0);
        return;
    }
    ac->data = s;
    if (redisLibuvAttach(ac, s->_loop) != REDIS_OK) {
        snprintf(s->_why, sizeof(s->_why), "Redis at %s:%d: cannot watch the socket",
                 s->_host, s->_port);
        redisAsyncFree(ac);
        uv_timer_start(&s->_timer, timer_cb, 0, 0);
        return;
    }
    ac->ev.addRead = shim_add_read;
    ac->ev.delRead = shim_del_read;
    ac->ev.addWrite = shim_add_write;
    ac->ev.delWrite = shim_del_write;
    /* Setting the connect callback arms the first write event. */
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    s->_ac = ac;
}

static void bridge_ready_cb(int status, const char *detail, const char *path, void *arg)
{
    xacct_store_t *s = arg;
    if (s->_closing || s->_state != ST_CONNECTING)
        return;
    if (status != 0) {
        snprintf(s->_why, sizeof(s->_why), "%s", detail);
        s->_state = ST_DISCONNECTED;
        uv_timer_stop(&s->_timer);
        conn_failed(s);
        return;
    }
    /* The TLS session is up and verified; hiredis talks to it locally. */
    attach(s, redisAsyncConnectUnix(path));
}

/* Connects to s->_host:s->_port; the timer bounds the TCP connect, TLS and
 * the handshake together. */
static void connect_addr(xacct_store_t *s)
{
    s->_state = ST_CONNECTING;
    s->_drop_why[0] = '\0';
    snprintf(s->_why, sizeof(s->_why), "Redis at %s:%d: connect timed out after %ld ms",
             s->_host, s->_port, s->_connect_timeout_ms);
    uv_timer_start(&s->_timer, timer_cb, (uint64_t)s->_connect_timeout_ms, 0);
    if (!s->_tls) {
        attach(s, redisAsyncConnect(s->_host, s->_port));
        return;
    }
    if (xacct_tls_bridge_new(s->_loop, s->_tls_cfg, s->_host, s->_port, bridge_ready_cb, s,
                             &s->_bridge) != 0) {
        snprintf(s->_why, sizeof(s->_why), "Redis at %s:%d: cannot start TLS", s->_host,
                 s->_port);
        uv_timer_start(&s->_timer, timer_cb, 0, 0);
    }
}

static void sentinel_cb(int status, const char *detail, const char *host, int port,
                        size_t sentinel, void *arg)
{
    xacct_store_t *s = arg;
    s->_query = NULL;
    if (s->_closing || s->_state != ST_RESOLVING)
        return;
    if (status != 0) {
        snprintf(s->_why, sizeof(s->_why), "Sentinel, master '%s': %s", s->_master_name,
                 detail ? detail : xacct_strerror(status));
        s->_state = ST_DISCONNECTED;
        uv_timer_stop(&s->_timer);
        conn_failed(s);
        return;
    }
    s->_sentinel_first = sentinel;
    free(s->_host);
    s->_host = xacct_strdup(host);
    s->_port = port;
    connect_addr(s);
}

static void start_connect(xacct_store_t *s)
{
    if (s->_closing || s->_state != ST_DISCONNECTED)
        return;
    if (s->_nsentinels == 0) {
        connect_addr(s);
        return;
    }
    /* Every (re)connect asks Sentinel: after a failover the old address is
     * a replica, or gone. */
    s->_state = ST_RESOLVING;
    long per = s->_connect_timeout_ms;
    xacct_sentinel_options_t o = {
        .sentinels = (const char *const *)s->_sentinels,
        .nsentinels = s->_nsentinels,
        .first = s->_sentinel_first,
        .master_name = s->_master_name,
        .tls = s->_tls,
        .tls_ca_file = s->_ca_file,
        .tls_cert_file = s->_cert_file,
        .tls_key_file = s->_key_file,
        .timeout_ms = per,
    };
    snprintf(s->_why, sizeof(s->_why), "Sentinel, master '%s': no answer in time",
             s->_master_name);
    uv_timer_start(&s->_timer, timer_cb, (uint64_t)per * s->_nsentinels + 1000, 0);
    if (xacct_sentinel_query_start(s->_loop, &o, sentinel_cb, s, &s->_query) != 0) {
        snprintf(s->_why, sizeof(s->_why), "Sentinel, master '%s': no sentinel could be asked",
                 s->_master_name);
        uv_timer_start(&s->_timer, timer_cb, 0, 0);
    }
}

static void close_cb(uv_handle_t *h)
{
    xacct_store_t *s = xacct_container_of(h, xacct_store_t, _timer);
    xacct_tls_config_free(s->_tls_cfg);
    free(s->_ca_file);
    free(s->_cert_file);
    free(s->_key_file);
    for (size_t i = 0; i < s->_nsentinels; i++)
        free(s->_sentinels[i]);
    free(s->_sentinels);
    free(s->_master_name);
    free(s->_host);
    free(s->_user);
    xacct_free_secret(s->_password);
    free(s->_prefix);
    free(s);
}

static void teardown(xacct_store_t *s)
{
    s->_state = ST_CLOSED;
    uv_timer_stop(&s->_timer);
    s->_depth++;
    xacct_sentinel_query_t *q = s->_query;
    s->_query = NULL;
    xacct_sentinel_query_cancel(q);
    if (s->_ac != NULL) {
        redisAsyncContext *ac = s->_ac;
        s->_ac = NULL;
        /* Runs every pending reply callback with NULL (-> XACCT_ECANCELED)
         * and closes the poll handle through the libuv adapter. */
        redisAsyncFree(ac);
    }
    drop_bridge(s);
    queue_fail_all(s, XACCT_ECANCELED, "store freed");
    s->_depth--;
    uv_close((uv_handle_t *)&s->_timer, close_cb);
}

static void timer_cb(uv_timer_t *t)
{
    xacct_store_t *s = xacct_container_of(t, xacct_store_t, _timer);
    if (s->_closing) {
        if (s->_state != ST_CLOSED)
            teardown(s);
        return;
    }
    switch (s->_state) {
    case ST_RESOLVING: {
        xacct_sentinel_query_t *q = s->_query;
        s->_query = NULL;
        s->_state = ST_DISCONNECTED;
        xacct_sentinel_query_cancel(q);
        conn_failed(s);
        break;
    }
    case ST_READY:
    case ST_DRAINING: {
        /* The oldest written command's reply deadline. */
        store_cmd_t *c = s->_fhead;
        if (c == NULL)
            break;
        if (uv_now(s->_loop) - c->sent_at < (uint64_t)s->_command_timeout_ms) {
            arm_deadline(s);
            break;
        }
        /* No reply in time: the connection (or the server) is stuck. Drop
         * it; every written command completes now, the late one with
         * XACCT_ETIMEOUT, and conn_lost reconnects. */
        c->timed_out = 1;
        snprintf(s->_drop_why, sizeof(s->_drop_why),
                 "no reply within %ld ms; connection recycled", s->_command_timeout_ms);
        redisAsyncContext *ac = s->_ac;
        s->_depth++;
        redisAsyncFree(ac);
        s->_depth--;
        break;
    }
    case ST_CONNECTING:
    case ST_HANDSHAKE: {
        /* Connect timeout, or a synchronous connect failure reported late. */
        if (s->_bridge != NULL && xacct_tls_bridge_handshaking(s->_bridge))
            /* A plain Redis port waits for a newline that a TLS hello
             * never sends, so this is how speaking TLS to it ends. */
            snprintf(s->_why, sizeof(s->_why),
                     "Redis at %s:%d: no TLS handshake within %ld ms (is it a TLS port?)",
                     s->_host, s->_port, s->_connect_timeout_ms);
        redisAsyncContext *ac = s->_ac;
        s->_ac = NULL;
        s->_state = ST_DISCONNECTED;
        if (ac != NULL) {
            s->_depth++;
            redisAsyncFree(ac);
            s->_depth--;
        }
        conn_failed(s);
        break;
    }
    case ST_DISCONNECTED:
        start_connect(s);
        break;
    default:
        break;
    }
}

/* ------------------------------------------------------------------ */
/* Public API                                                           */

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
    s->_master_name = xacct_strdup(opts && opts->master_name && opts->master_name[0]
                                       ? opts->master_name
                                       : DEFAULT_MASTER_NAME);
    s->_command_timeout_ms = opts && opts->command_timeout_ms > 0 ? opts->command_timeout_ms
                                                                  : DEFAULT_COMMAND_TIMEOUT_MS;
    s->_prefix = xacct_strdup(opts && opts->prefix ? opts->prefix : XACCT_STORE_DEFAULT_PREFIX);
    s->_reconnect = opts ? opts->reconnect : 0;
    s->_connect_timeout_ms =
        opts && opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
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
    s->_state = ST_DISCONNECTED;
    uv_timer_init(loop, &s->_timer);
    start_connect(s);
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
        uv_timer_start(&s->_timer, timer_cb, 0, 0);
        return;
    }
    teardown(s);
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

static int submit_cmd(xacct_store_t *s, store_cmd_t *c)
{
    if (s->_state != ST_READY) {
        if (s->_queued >= s->_max_queued) {
            cmd_free(c);
            return XACCT_EAGAIN;
        }
        queue_push(s, c);
        if (!s->_reconnect && s->_state == ST_DISCONNECTED)
            start_connect(s);
        return 0;
    }
    send_or_queue(s, c);
    return 0;
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
    return submit_cmd(s, cmd_new(s, a, cb, arg));
}

int xacct_store_cmd(xacct_store_t *s, xacct_store_reply_cb cb, void *arg, const char *name, ...)
{
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_str(&a, name);
    va_list ap;
    va_start(ap, name);
    const char *p;
    while ((p = va_arg(ap, const char *)) != NULL)
        xacct_store_args_str(&a, p);
    va_end(ap);
    int rc = xacct_store_submit(s, &a, cb, arg);
    xacct_store_args_destroy(&a);
    return rc;
}

static const store_script_slot_t *script_slot(xacct_store_t *s,
                                              const xacct_store_script_t *script)
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
        load_script_cmd(s, script);
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
        store_cmd_t *c = cmd_new(s, &full, cb, arg);
        c->script = script;
        rc = submit_cmd(s, c);
    }
    xacct_store_args_destroy(&full);
    return rc;
}
