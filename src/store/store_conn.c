/* SPDX-License-Identifier: MIT */
/*
 * The Redis connection's life and the dispatch of commands onto it: hiredis'
 * async API on the libuv loop; ask Sentinel, connect directly or through the
 * TLS bridge, the AUTH/SELECT/ROLE/script-load handshake, loss and jittered
 * reconnect; writing commands to a ready connection (or queueing them), the
 * per-command reply deadline, the failover replies that send a command round
 * again and EVALSHA's NOSCRIPT fallback. One timer serves the connect
 * timeout, the reconnect delay, the reply deadline and a deferred free (the
 * queued commands' deadline has a timer of its own, in store_cmd.c).
 */
#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

static void conn_lost(xacct_store_t *s, const redisAsyncContext *ac, const char *why);
static void send_or_queue(xacct_store_t *s, store_cmd_t *c);
static int dial_next(xacct_store_t *s);

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

long xacct__store_retry_delay(const xacct_store_t *s, unsigned attempt)
{
    return xacct__store_backoff(s->_backoff_base_ms, s->_backoff_max_ms, attempt);
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                             */

/* On a live connection the timer watches the oldest command's deadline. */
static void arm_deadline(xacct_store_t *s)
{
    if ((s->_state != ST_READY && s->_state != ST_DRAINING) || s->_fhead == NULL ||
        uv_is_active((uv_handle_t *)&s->_timer))
        return;
    uint64_t due = s->_fhead->sent_at + (uint64_t)s->_command_timeout_ms;
    uint64_t now = uv_now(s->_loop);
    uv_timer_start(&s->_timer, xacct__store_timer_cb, due > now ? due - now : 0, 0);
}

/* The address the last sentinel gave is not (or no longer) the master's.
 * That sentinel may be stale (cut off from the others, or restarted with an
 * old configuration): the next question goes to the next sentinel first, so
 * a stale one answering quickly cannot keep us from the master the others
 * know. */
static void distrust_sentinel(xacct_store_t *s)
{
    if (s->_nsentinels > 1)
        s->_sentinel_first = (s->_sentinel_first + 1) % s->_nsentinels;
}

/* Stops using the current connection: nothing new is written to it, the
 * replies already due still arrive, then hiredis closes it and conn_lost
 * reconnects (through Sentinel when configured). */
static void begin_drain(xacct_store_t *s, const char *why)
{
    if (s->_state != ST_READY)
        return;
    s->_state = ST_DRAINING;
    distrust_sentinel(s);
    const char *inner = strstr(why, ": -READONLY "); /* Redis 6's script form */
    if (inner != NULL)
        why = inner + 3;
    snprintf(s->_drop_why, sizeof(s->_drop_why), "server answered \"%.120s\"; reconnecting", why);
    redisAsyncDisconnect(s->_ac);
}

static void reply_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    store_cmd_t *c = privdata;
    xacct_store_t *s = c->store;
    redisReply *reply = r;

    s->_depth++;
    xacct__store_fifo_remove(s, c);
    if (reply == NULL) {
        /* hiredis is disconnecting or being freed: the outcome is unknown. */
        conn_lost(s, ac, ac->errstr[0] ? ac->errstr : "connection closed");
        if (s->_closing)
            xacct__store_cmd_finish(c, XACCT_ECANCELED, "store freed", NULL);
        else
            xacct__store_cmd_finish(c, c->timed_out ? XACCT_ETIMEOUT : XACCT_EDISCONNECTED, s->_why,
                                    NULL);
        goto out;
    }
    if (reply->type == REDIS_REPLY_ERROR && xacct__store_failover_reply(reply->str) &&
        s->_ac == ac && !s->_closing && (s->_state == ST_READY || s->_state == ST_DRAINING)) {
        /* Not run: send it again on the next connection. */
        begin_drain(s, reply->str);
        xacct__store_queue_push(s, c);
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
            xacct__store_load_script(s, c->script);
            send_or_queue(s, c);
            goto out;
        }
        s->_errors++;
        xacct__store_cmd_finish(c, XACCT_EREDIS, reply->str, NULL);
        goto out;
    }
    xacct_store_reply_t conv;
    int rc = xacct__store_reply_convert(reply, &conv, 0);
    if (rc != 0)
        xacct__store_cmd_finish(c, rc, "Redis reply too deeply nested", NULL);
    else
        xacct__store_cmd_finish(c, 0, NULL, &conv);
    xacct__store_reply_free(&conv);
out:
    s->_depth--;
}

/* Writes c to the ready connection, or queues it. */
static void send_or_queue(xacct_store_t *s, store_cmd_t *c)
{
    if (s->_state == ST_READY && s->_ac != NULL) {
        if (redisAsyncFormattedCommand(s->_ac, reply_cb, c, c->wire, c->wire_len) == REDIS_OK) {
            xacct__store_fifo_push(s, c);
            arm_deadline(s);
            return;
        }
    }
    xacct__store_queue_push(s, c);
}

/* Internal fire-and-forget command (SCRIPT LOAD, AUTH...) sent right away on
 * the current connection, ahead of anything queued. */
static void send_internal(xacct_store_t *s, const xacct_store_args_t *a, xacct_store_reply_cb cb,
                          void *arg)
{
    store_cmd_t *c = xacct__store_cmd_new(s, a, cb, arg);
    if (s->_ac == NULL ||
        redisAsyncFormattedCommand(s->_ac, reply_cb, c, c->wire, c->wire_len) != REDIS_OK) {
        xacct__store_cmd_free(c);
        return;
    }
    xacct__store_fifo_push(s, c);
    arm_deadline(s);
}

static void ignore_cb(int status, const char *detail, const xacct_store_reply_t *r, void *arg)
{
    XACCT_UNUSED(status);
    XACCT_UNUSED(detail);
    XACCT_UNUSED(r);
    XACCT_UNUSED(arg);
}

void xacct__store_load_script(xacct_store_t *s, const xacct_store_script_t *script)
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

int xacct__store_cmd_submit(xacct_store_t *s, store_cmd_t *c)
{
    if (s->_state != ST_READY) {
        if (s->_queued >= s->_max_queued) {
            xacct__store_cmd_free(c);
            return XACCT_EAGAIN;
        }
        xacct__store_queue_push(s, c);
        if (!s->_reconnect && s->_state == ST_DISCONNECTED)
            xacct__store_start_connect(s);
        return 0;
    }
    send_or_queue(s, c);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Pub/sub and Sentinel's news                                          */

/* hiredis keeps this callback for the subscribed channel and calls it with
 * the confirmation and with every message (and with NULL as the context
 * goes away). */
static void push_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    xacct_store_t *s = privdata;
    if (r == NULL || s->_ac != ac || s->_closing || s->_push_cb == NULL)
        return;
    xacct_store_reply_t conv;
    if (xacct__store_reply_convert(r, &conv, 0) == 0) {
        s->_depth++;
        s->_push_cb(0, NULL, &conv, s->_push_arg);
        s->_depth--;
    }
    xacct__store_reply_free(&conv);
}

int xacct__store_subscribe(xacct_store_t *s, const char *channel, xacct_store_reply_cb cb,
                           void *arg)
{
    if (s->_state != ST_READY || s->_ac == NULL)
        return XACCT_EDISCONNECTED;
    s->_push_cb = cb;
    s->_push_arg = arg;
    /* hiredis sees SUBSCRIBE and routes the channel's pushes to push_cb. */
    if (redisAsyncCommand(s->_ac, push_cb, s, "SUBSCRIBE %s", channel) != REDIS_OK)
        return XACCT_EDISCONNECTED;
    return 0;
}

void xacct__store_watch_news(xacct_store_t *s, xacct_store_watch_event_t ev, const char *detail)
{
    if (s->_on_watch == NULL || s->_closing)
        return;
    s->_depth++;
    s->_on_watch(ev, detail, s->_state_arg);
    s->_depth--;
}

void xacct__store_master_moved(xacct_store_t *s, const char *host, int port, size_t sentinel)
{
    if (s->_closing || s->_nsentinels == 0)
        return;
    /* That sentinel has seen the failover: ask it first. */
    s->_sentinel_first = sentinel % s->_nsentinels;
    switch (s->_state) {
    case ST_READY: {
        if (strcmp(s->_host, host) == 0 && s->_port == port)
            return;
        char msg[400];
        snprintf(msg, sizeof(msg), "master '%s' moved from %s:%d to %s:%d", s->_master_name,
                 s->_host, s->_port, host, port);
        /* As for a failover reply: nothing new is written here, the replies
         * due still arrive, then conn_lost asks Sentinel again (ROLE
         * checks the answer). The old master may still take writes. */
        s->_state = ST_DRAINING;
        snprintf(s->_drop_why, sizeof(s->_drop_why),
                 "Sentinel announced a failover to %s:%d; reconnecting", host, port);
        xacct__store_watch_news(s, XACCT_STORE_WATCH_SWITCH, msg);
        if (s->_ac != NULL && s->_state == ST_DRAINING && !s->_closing)
            redisAsyncDisconnect(s->_ac);
        return;
    }
    case ST_RESOLVING:
    case ST_CONNECTING:
    case ST_HANDSHAKE:
        /* The address being tried may be from before the failover. */
        snprintf(s->_moved_host, sizeof(s->_moved_host), "%s", host);
        s->_moved_port = port;
        return;
    default:
        return;
    }
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
    s->_stale_answers = 0;
    if (!s->_attempt_auth)
        s->_auth_why[0] = '\0';
    s->_attempt_auth = 0;
    if (s->_closing)
        return;
    s->_errors++;
    notify_state(s, 0, XACCT_EDISCONNECTED, s->_why);
    if (s->_closing)
        return;
    if (s->_reconnect) {
        long d = xacct__store_backoff(s->_backoff_base_ms, s->_backoff_max_ms, s->_attempt);
        if (s->_attempt < 64)
            s->_attempt++;
        if (!s->_closing && s->_state == ST_DISCONNECTED)
            uv_timer_start(&s->_timer, xacct__store_timer_cb, (uint64_t)d, 0);
    } else {
        xacct__store_queue_fail_all(s, XACCT_EDISCONNECTED, s->_why);
    }
}

/* Why the connection ended: our own reason for dropping it first, then
 * what the TLS side saw (hiredis only sees its local socket close), then
 * hiredis' view. */
static void set_why(xacct_store_t *s, const char *hiredis_why)
{
    const char *bw = s->_bridge != NULL ? xacct_tls_bridge_error(s->_bridge) : NULL;
    if (s->_drop_why[0])
        snprintf(s->_why, sizeof(s->_why), "Redis at %s:%d: %s", s->_host, s->_port, s->_drop_why);
    else if (bw != NULL)
        snprintf(s->_why, sizeof(s->_why), "%s", bw);
    else
        snprintf(s->_why, sizeof(s->_why), "Redis at %s:%d: %s", s->_host, s->_port, hiredis_why);
    s->_drop_why[0] = '\0';
}

static void conn_lost(xacct_store_t *s, const redisAsyncContext *ac, const char *why)
{
    if (ac == NULL || s->_ac != ac)
        return;
    s->_ac = NULL;
    if (s->_closing)
        return; /* the deferred xacct__store_teardown owns the timer now */
    s->_state = ST_DISCONNECTED;
    uv_timer_stop(&s->_timer);
    set_why(s, why);
    conn_failed(s);
}

static void handshake_cb(int status, const char *detail, const xacct_store_reply_t *r, void *arg);

static void ready(xacct_store_t *s)
{
    if (s->_moved_port != 0) {
        /* A failover was announced while this attempt ran: its address may
         * be the old master's, which a partition can leave taking writes. */
        int port = s->_moved_port;
        s->_moved_port = 0;
        if (strcmp(s->_host, s->_moved_host) != 0 || s->_port != port) {
            char msg[320];
            snprintf(msg, sizeof(msg),
                     "Sentinel moved master '%s' to %s:%d meanwhile, asking again", s->_master_name,
                     s->_moved_host, port);
            handshake_cb(XACCT_EREDIS, msg, NULL, s);
            return;
        }
    }
    s->_state = ST_READY;
    s->_connections++;
    s->_stale_answers = 0;
    s->_auth_why[0] = '\0';
    uv_timer_stop(&s->_timer);
    /* The worker learns of a failover from Sentinel too, not only from a
     * dropped connection or READONLY, which a partition withholds. */
    if (s->_watch == NULL && s->_nsentinels > 0 && s->_reconnect)
        s->_watch = xacct__sentinel_watch_new(s);
    notify_state(s, 1, 0, NULL);
    /* Send what waited, in order; everything goes out in one write. */
    size_t n = s->_queued;
    while (n-- > 0 && s->_state == ST_READY && !s->_closing) {
        store_cmd_t *c = xacct__store_queue_pop(s);
        if (c == NULL)
            break;
        send_or_queue(s, c);
    }
    arm_deadline(s);
}

/* Drops the connection being set up, from inside one of its callbacks. */
static void handshake_abandon(xacct_store_t *s, const char *detail)
{
    redisAsyncContext *ac = s->_ac;
    if (detail != NULL && xacct__store_auth_reply(detail)) {
        /* Not an outage: retrying will not help until redis.url changes.
         * The server's words never echo the password we sent. */
        snprintf(s->_auth_why, sizeof(s->_auth_why),
                 "authentication refused by redis at %s:%d " XACCT_STORE_AUTH_HINT, s->_host,
                 s->_port);
        snprintf(s->_why, sizeof(s->_why), "%s: %.120s", s->_auth_why, detail);
        s->_attempt_auth = 1;
    } else {
        snprintf(s->_why, sizeof(s->_why), "Redis at %s:%d: %s", s->_host, s->_port,
                 detail ? detail : "handshake failed");
    }
    s->_ac = NULL;
    s->_state = ST_DISCONNECTED;
    uv_timer_stop(&s->_timer);
    redisAsyncFree(ac); /* deferred by hiredis: we are inside its callback */
}

static void handshake_cb(int status, const char *detail, const xacct_store_reply_t *r, void *arg)
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
        handshake_abandon(s, detail);
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
    if (s->_state == ST_HANDSHAKE && !s->_closing && !s->_role_pending)
        ready(s);
}

/* The server we reached says it is no master (role as it said it). */
static void not_master(xacct_store_t *s, const char *how, const char *role, size_t len)
{
    char msg[128];
    snprintf(msg, sizeof(msg), "not the master (%s: %.*s), asking Sentinel again", how,
             role != NULL ? (int)(len < 32 ? len : 32) : 1, role != NULL ? role : "?");
    if (s->_state != ST_HANDSHAKE)
        return;
    distrust_sentinel(s);
    if (!s->_reconnect && ++s->_stale_answers < s->_nsentinels) {
        /* Fail-fast: the waiting commands get the other sentinels'
         * answers before they fail (from the timer: not in here). */
        handshake_abandon(s, msg);
        drop_bridge(s);
        uv_timer_start(&s->_timer, xacct__store_timer_cb, 0, 0);
        return;
    }
    handshake_cb(XACCT_EREDIS, msg, NULL, s);
}

/* ROLE renamed away or forbidden: there is nothing more to ask. */
static int cannot_ask(int status, const char *detail)
{
    return status == XACCT_EREDIS && detail != NULL &&
           (strncmp(detail, "NOPERM", 6) == 0 || strncmp(detail, "ERR unknown command", 19) == 0);
}

/* INFO replication's answer, in place of ROLE's; it comes after PING's, so
 * the handshake ends here. */
static void info_role_cb(int status, const char *detail, const xacct_store_reply_t *r, void *arg)
{
    xacct_store_t *s = arg;
    if (status == XACCT_EDISCONNECTED || status == XACCT_ECANCELED || s->_closing ||
        s->_state != ST_HANDSHAKE)
        return;
    s->_role_pending = 0;
    if (cannot_ask(status, detail)) {
        /* INFO is gone too: READONLY replies still catch a replica. */
        ready(s);
        return;
    }
    if (status != 0) {
        handshake_cb(status, detail, r, arg);
        return;
    }
    char role[16];
    if (r->type == XACCT_STORE_REPLY_STRING &&
        xacct__store_info_field(r->str, r->len, "role", role, sizeof(role)) &&
        strcmp(role, "master") == 0) {
        ready(s);
        return;
    }
    not_master(s, "INFO role", role[0] ? role : NULL, strlen(role));
}

/* With Sentinel, the address may be stale (a failover under way): only a
 * master will do; anything else drops the connection and asks again. */
static void role_cb(int status, const char *detail, const xacct_store_reply_t *r, void *arg)
{
    xacct_store_t *s = arg;
    /* ROLE is an @admin command: an ACL user without it skips the check;
     * a replica would still be caught by its READONLY replies. */
    if (status == XACCT_EREDIS && detail != NULL && strncmp(detail, "NOPERM", 6) == 0)
        return;
    if (status == XACCT_EREDIS && detail != NULL &&
        strncmp(detail, "ERR unknown command", 19) == 0) {
        /* Managed Redis often renames or disables ROLE (rename-command);
         * INFO replication tells the role too. */
        if (s->_state != ST_HANDSHAKE || s->_closing)
            return;
        s->_role_pending = 1;
        xacct_store_args_t a;
        xacct_store_args_init(&a);
        xacct_store_args_str(&a, "INFO");
        xacct_store_args_str(&a, "replication");
        send_internal(s, &a, info_role_cb, s);
        xacct_store_args_destroy(&a);
        return;
    }
    if (status != 0) {
        handshake_cb(status, detail, r, arg);
        return;
    }
    const xacct_store_reply_t *role = xacct_store_reply_at(r, 0);
    if (!xacct_store_reply_is(role, "master"))
        not_master(s, "ROLE", role != NULL ? role->str : NULL, role != NULL ? role->len : 0);
}

/* The handshake is Redis commands like any other: a server that takes the
 * connection but does not answer them within the command timeout is as
 * stuck as one that does not answer a command, and waiting out the rest of
 * the connect timeout would only put off the next attempt. The name
 * lookup, the TCP connect and TLS keep the whole connect timeout: TLS costs
 * round trips and the server's CPU, most of all when every worker
 * reconnects at once after a failover, and cutting it at a command timeout
 * of a second could fail every attempt; the commands waiting meanwhile have
 * their own deadline (store_cmd.c). */
static void bound_handshake(xacct_store_t *s)
{
    uint64_t cmd = (uint64_t)s->_command_timeout_ms;
    if (uv_is_active((uv_handle_t *)&s->_timer) && uv_timer_get_due_in(&s->_timer) <= cmd)
        return;
    const char *ip = !s->_tls && s->_addr_next > 0 ? s->_addrs[s->_addr_next - 1] : s->_host;
    if (strcmp(ip, s->_host) == 0)
        snprintf(s->_why, sizeof(s->_why),
                 "Redis at %s:%d: no answer to the handshake within %ld ms", s->_host, s->_port,
                 s->_command_timeout_ms);
    else
        snprintf(s->_why, sizeof(s->_why),
                 "Redis at %s:%d (%s): no answer to the handshake within %ld ms", s->_host,
                 s->_port, ip, s->_command_timeout_ms);
    uv_timer_start(&s->_timer, xacct__store_timer_cb, cmd, 0);
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    xacct_store_t *s = cac->data;
    s->_depth++;
    if (s->_ac != cac)
        goto out;
    if (s->_closing) {
        if (status != REDIS_OK)
            s->_ac = NULL; /* hiredis frees it; xacct__store_teardown must not */
        goto out;
    }
    if (status != REDIS_OK) {
        /* hiredis frees the context after this returns. */
        set_why(s, cac->errstr[0] ? cac->errstr : "connect failed");
        s->_ac = NULL;
        if (dial_next(s) == 0)
            goto out;
        s->_state = ST_DISCONNECTED;
        uv_timer_stop(&s->_timer);
        conn_failed(s);
        goto out;
    }
    s->_state = ST_HANDSHAKE;
    s->_role_pending = 0;
    bound_handshake(s);
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
        xacct__store_load_script(s, s->_scripts[i].script);
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
 * the connect timeout. We keep the adapter's attach, cleanup and event
 * struct, and do the event bookkeeping here, with this callback, which lets
 * hiredis look at the socket itself on an error, as later hiredis releases
 * do. The adapter also restarts the poll on every call, even for events
 * already watched (each command asks for writability again), and every
 * uv_poll_start costs two epoll_ctl calls: here the poll is only touched
 * when the set of events changes.
 */
static void shim_poll(uv_poll_t *handle, int status, int events)
{
    redisLibuvEvents *p = handle->data;
    if (status != 0) {
        events = p->events;
        p->events = 0; /* libuv stopped the handle: the next request restarts it */
    }
    if (p->context != NULL && (events & UV_READABLE))
        redisAsyncHandleRead(p->context);
    if (p->context != NULL && (events & UV_WRITABLE))
        redisAsyncHandleWrite(p->context);
}

static void shim_watch(void *privdata, int events)
{
    redisLibuvEvents *p = privdata;
    if (events == p->events)
        return;
    p->events = events;
    if (events)
        uv_poll_start(&p->handle, events, shim_poll);
    else
        uv_poll_stop(&p->handle);
}

static void shim_add_read(void *privdata)
{
    redisLibuvEvents *p = privdata;
    shim_watch(p, p->events | UV_READABLE);
}

static void shim_del_read(void *privdata)
{
    redisLibuvEvents *p = privdata;
    shim_watch(p, p->events & ~UV_READABLE);
}

static void shim_add_write(void *privdata)
{
    redisLibuvEvents *p = privdata;
    shim_watch(p, p->events | UV_WRITABLE);
}

static void shim_del_write(void *privdata)
{
    redisLibuvEvents *p = privdata;
    shim_watch(p, p->events & ~UV_WRITABLE);
}

/* Hands a new hiredis context (TCP, or the TLS bridge's socket) to the loop.
 * A synchronous failure is reported from the timer (delay 0), so no callback
 * ever runs inside xacct_store_submit. */
static void attach(xacct_store_t *s, redisAsyncContext *ac)
{
    if (ac == NULL)
        abort();
    if (ac->err) {
        snprintf(s->_why, sizeof(s->_why), "Redis at %s:%d: %s", s->_host, s->_port, ac->errstr);
        redisAsyncFree(ac);
        uv_timer_start(&s->_timer, xacct__store_timer_cb, 0, 0);
        return;
    }
    ac->data = s;
    xacct__store_reply_cap(ac->c.reader);
    if (redisLibuvAttach(ac, s->_loop) != REDIS_OK) {
        snprintf(s->_why, sizeof(s->_why), "Redis at %s:%d: cannot watch the socket", s->_host,
                 s->_port);
        /* hiredis 0.14's adapter sets its cleanup hook before libuv takes
         * the socket: freeing the context would hand the hook a NULL. */
        if (ac->ev.data == NULL)
            ac->ev.cleanup = NULL;
        redisAsyncFree(ac);
        uv_timer_start(&s->_timer, xacct__store_timer_cb, 0, 0);
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
        snprintf(s->_why, sizeof(s->_why), "%.120s%s%.190s", detail, s->_tls_stale[0] ? "; " : "",
                 s->_tls_stale);
        s->_state = ST_DISCONNECTED;
        uv_timer_stop(&s->_timer);
        conn_failed(s);
        return;
    }
    /* The TLS session is up and verified; hiredis talks to it locally. */
    attach(s, redisAsyncConnectUnix(path));
}

static void drop_lookup(xacct_store_t *s)
{
    xacct__store_lookup_abandon(s->_lookup);
    s->_lookup = NULL;
}

/* The address being tried did not connect in time, or refused: the next
 * address of the name, with a connect timeout of its own (0); -1 when none
 * is left (the TLS bridge walks its addresses itself). */
static int dial_next(xacct_store_t *s)
{
    if (s->_tls || s->_closing || s->_addr_next >= s->_naddrs)
        return -1;
    const char *ip = s->_addrs[s->_addr_next++];
    s->_state = ST_CONNECTING;
    if (strcmp(ip, s->_host) == 0)
        snprintf(s->_why, sizeof(s->_why), "Redis at %s:%d: connect timed out after %ld ms",
                 s->_host, s->_port, s->_connect_timeout_ms);
    else
        snprintf(s->_why, sizeof(s->_why), "Redis at %s:%d (%s): connect timed out after %ld ms",
                 s->_host, s->_port, ip, s->_connect_timeout_ms);
    uv_timer_start(&s->_timer, xacct__store_timer_cb, (uint64_t)s->_connect_timeout_ms, 0);
    attach(s, redisAsyncConnect(ip, s->_port));
    return 0;
}

void xacct__store_looked_up(int status, const xacct__store_addr_t *addrs, size_t n,
                            const char *detail, void *arg)
{
    xacct_store_t *s = arg;
    s->_lookup = NULL;
    if (s->_closing || s->_state != ST_CONNECTING)
        return;
    if (status != 0 || n == 0) {
        snprintf(s->_why, sizeof(s->_why), "Redis at %s:%d: %s", s->_host, s->_port,
                 detail != NULL ? detail : "cannot resolve the name");
        s->_state = ST_DISCONNECTED;
        uv_timer_stop(&s->_timer);
        conn_failed(s);
        return;
    }
    if (n > XACCT__STORE_MAX_ADDRS)
        n = XACCT__STORE_MAX_ADDRS;
    memcpy(s->_addrs, addrs, n * sizeof(*addrs));
    s->_naddrs = n;
    s->_addr_next = 0;
    (void)dial_next(s);
}

/* Connects to s->_host:s->_port; the timer bounds the name lookup, then
 * each address's TCP connect and handshake (with TLS: the lookup, the TCP
 * connect, TLS and the handshake together). */
static void connect_addr(xacct_store_t *s)
{
    s->_state = ST_CONNECTING;
    s->_drop_why[0] = '\0';
    s->_naddrs = 0;
    s->_addr_next = 0;
    snprintf(s->_why, sizeof(s->_why), "Redis at %s:%d: connect timed out after %ld ms", s->_host,
             s->_port, s->_connect_timeout_ms);
    uv_timer_start(&s->_timer, xacct__store_timer_cb, (uint64_t)s->_connect_timeout_ms, 0);
    if (!s->_tls) {
        drop_lookup(s);
        if (xacct__store_is_ip_literal(s->_host)) {
            snprintf(s->_addrs[0], sizeof(s->_addrs[0]), "%s", s->_host);
            s->_naddrs = 1;
            (void)dial_next(s);
        } else if (xacct__store_lookup(s->_loop, s->_host, xacct__store_looked_up, s,
                                       &s->_lookup) != 0) {
            snprintf(s->_why, sizeof(s->_why), "Redis at %s:%d: cannot start the name lookup",
                     s->_host, s->_port);
            uv_timer_start(&s->_timer, xacct__store_timer_cb, 0, 0);
        }
        return;
    }
    /* Renewed certificate or CA files are taken up here, at the next
     * connection; ones that do not load say so when it fails. */
    const char *stale = xacct_tls_config_refresh(s->_tls_cfg);
    snprintf(s->_tls_stale, sizeof(s->_tls_stale), "%s", stale != NULL ? stale : "");
    if (xacct_tls_bridge_new(s->_loop, s->_tls_cfg, s->_host, s->_port, bridge_ready_cb, s,
                             &s->_bridge) != 0) {
        snprintf(s->_why, sizeof(s->_why), "Redis at %s:%d: cannot start TLS", s->_host, s->_port);
        uv_timer_start(&s->_timer, xacct__store_timer_cb, 0, 0);
    }
}

static void sentinel_cb(int status, const char *detail, const char *host, int port, size_t sentinel,
                        void *arg)
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

void xacct__store_start_connect(xacct_store_t *s)
{
    if (s->_closing || s->_state != ST_DISCONNECTED)
        return;
    if (s->_nsentinels == 0) {
        connect_addr(s);
        return;
    }
    /* Every (re)connect asks Sentinel: after a failover the old address is
     * a replica, or gone. Each sentinel gets the connect timeout to be
     * reached, and its handshake and its answer at most the command timeout
     * each (as Redis' handshake does), so a sentinel that takes connections
     * and never answers costs no more than a command would. */
    s->_state = ST_RESOLVING;
    long per = s->_connect_timeout_ms;
    long answer = s->_command_timeout_ms < per ? s->_command_timeout_ms : per;
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
        .command_timeout_ms = answer,
        .password = s->_sentinel_password,
    };
    snprintf(s->_why, sizeof(s->_why), "Sentinel, master '%s': no answer in time", s->_master_name);
    uv_timer_start(&s->_timer, xacct__store_timer_cb, (uint64_t)per * s->_nsentinels + 1000, 0);
    if (xacct_sentinel_query_start(s->_loop, &o, sentinel_cb, s, &s->_query) != 0) {
        snprintf(s->_why, sizeof(s->_why), "Sentinel, master '%s': no sentinel could be asked",
                 s->_master_name);
        uv_timer_start(&s->_timer, xacct__store_timer_cb, 0, 0);
    }
}

/* The store's memory goes with the last of its two timers to close. */
static void release(xacct_store_t *s)
{
    if (--s->_handles > 0)
        return;
    xacct_tls_config_free(s->_tls_cfg);
    free(s->_ca_file);
    free(s->_cert_file);
    free(s->_key_file);
    for (size_t i = 0; i < s->_nsentinels; i++)
        free(s->_sentinels[i]);
    free(s->_sentinels);
    free(s->_master_name);
    xacct_free_secret(s->_sentinel_password);
    free(s->_host);
    free(s->_user);
    xacct_free_secret(s->_password);
    free(s->_prefix);
    free(s);
}

static void timer_closed(uv_handle_t *h)
{
    release(xacct_container_of(h, xacct_store_t, _timer));
}

static void qtimer_closed(uv_handle_t *h)
{
    release(xacct_container_of(h, xacct_store_t, _qtimer));
}

void xacct__store_teardown(xacct_store_t *s)
{
    s->_state = ST_CLOSED;
    uv_timer_stop(&s->_timer);
    s->_depth++;
    xacct_sentinel_query_t *q = s->_query;
    s->_query = NULL;
    xacct_sentinel_query_cancel(q);
    xacct__sentinel_watch_free(s->_watch);
    s->_watch = NULL;
    drop_lookup(s);
    if (s->_ac != NULL) {
        redisAsyncContext *ac = s->_ac;
        s->_ac = NULL;
        /* Runs every pending reply callback with NULL (-> XACCT_ECANCELED)
         * and closes the poll handle through the libuv adapter. */
        redisAsyncFree(ac);
    }
    drop_bridge(s);
    xacct__store_queue_fail_all(s, XACCT_ECANCELED, "store freed");
    s->_depth--;
    uv_close((uv_handle_t *)&s->_qtimer, qtimer_closed);
    uv_close((uv_handle_t *)&s->_timer, timer_closed);
}

void xacct__store_timer_cb(uv_timer_t *t)
{
    xacct_store_t *s = xacct_container_of(t, xacct_store_t, _timer);
    if (s->_closing) {
        if (s->_state != ST_CLOSED)
            xacct__store_teardown(s);
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
        snprintf(s->_drop_why, sizeof(s->_drop_why), "no reply within %ld ms; connection recycled",
                 s->_command_timeout_ms);
        redisAsyncContext *ac = s->_ac;
        s->_depth++;
        redisAsyncFree(ac);
        s->_depth--;
        break;
    }
    case ST_CONNECTING:
    case ST_HANDSHAKE: {
        if (s->_state == ST_CONNECTING && xacct_tls_bridge_next_address(s->_bridge) == 0) {
            /* One address of the name never answered: the next one gets a
             * connect timeout of its own, as without TLS. */
            uv_timer_start(&s->_timer, xacct__store_timer_cb, (uint64_t)s->_connect_timeout_ms,
                           0);
            break;
        }
        /* Connect timeout, or a synchronous connect failure reported late. */
        if (s->_bridge != NULL && xacct_tls_bridge_handshaking(s->_bridge))
            /* A plain Redis port waits for a newline that a TLS hello
             * never sends, so this is how speaking TLS to it ends. */
            snprintf(s->_why, sizeof(s->_why),
                     "Redis at %s:%d: no TLS handshake within %ld ms (is it a TLS port?)", s->_host,
                     s->_port, s->_connect_timeout_ms);
        drop_lookup(s);
        redisAsyncContext *ac = s->_ac;
        s->_ac = NULL;
        s->_state = ST_DISCONNECTED;
        if (ac != NULL) {
            s->_depth++;
            redisAsyncFree(ac);
            s->_depth--;
        }
        if (dial_next(s) == 0)
            break;
        conn_failed(s);
        break;
    }
    case ST_DISCONNECTED:
        xacct__store_start_connect(s);
        break;
    default:
        break;
    }
}
