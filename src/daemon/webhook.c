/* SPDX-License-Identifier: MIT */
/*
 * The webhook deliverer: one timer tick a second reads new events through
 * the `webhook` group (and, every half claim_idle, reclaims a silent
 * worker's: one pass over the pending list, continued tick by tick from
 * XAUTOCLAIM's cursor), touches the events it holds, refreshes the backlog
 * gauge, and starts the deliveries that are due. Each held event is a
 * `delivery` in a list kept in stream order. Deliveries are independent: an
 * event is sent when it falls due, whatever else of its customer is held (a
 * receiver orders a customer's events by seq, SPEC §8; retries and several
 * workers reorder them anyway). A worker holds at most
 * XACCT_WEBHOOK_MAX_HELD_PER_ACCOUNT events of one customer; the rest stay
 * pending in Redis and come back through the reclaim, so a customer whose
 * events keep failing takes a few of the held places, never all of them. A
 * delivery ends by acknowledging (2xx) or burying (too old, and tried at
 * least once unless it was already too old when first read) its event in
 * Redis; until Redis has confirmed, it stays held, so nothing is lost when
 * Redis is away.
 */
#include "xacct/webhook.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xacct/backoff.h"
#include "xacct/creds.h"
#include "xacct/metrics.h"
#include "xacct/outbox.h"
#include "xacct/secret_file.h"
#include "xacct/webhook_sign.h"

#define TICK_MS 1000
#define BACKLOG_EVERY_MS 5000
#define RETRY_BASE_MS 1000
#define RETRY_CAP_MS (10 * 60 * 1000)

typedef struct xacct_webhook xacct_webhook_t;

typedef enum {
    D_WAITING = 0, /* due at due_ms */
    D_POSTING,     /* a POST is open */
    D_ACK,         /* delivered: XACK to send or in flight */
    D_BURY,        /* given up: move to outbox:dead, to send or in flight */
} dstate_t;

typedef struct delivery {
    struct delivery *next;   /* list in stream-id order */
    xacct_webhook_t *w;      /* owner */
    char *id;                /* stream entry id (owned) */
    char *event;             /* event JSON (owned) */
    size_t event_len;
    char *event_id;          /* its "id" (owned) */
    char *account;           /* its "account_id" (owned) */
    long long seq;           /* its "seq" */
    int64_t appended_ms;     /* wall-clock time of the XADD */
    dstate_t state;
    bool redis_busy;         /* an ack or bury is in flight */
    bool lost;               /* another worker holds it now: drop */
    uint64_t due_ms;         /* loop time of the next attempt (D_WAITING) */
    unsigned attempts;       /* POSTs made */
    xacct_backoff_t backoff; /* retry delays */
    char reason[160];        /* the last failure */
    xacct_http_req_t *req;   /* the open POST (D_POSTING) */
} delivery_t;

struct xacct_webhook {
    xacct_ctx_t *ctx;             /* borrowed */
    uv_timer_t tick;              /* the one timer */
    delivery_t *head;             /* held events, stream order */
    size_t held;                  /* list length */
    size_t posting;               /* deliveries in D_POSTING */
    unsigned char *secret;        /* HMAC key (owned, wiped on free) */
    size_t secret_len;
    char host[256];               /* the URL's host, for logs (the URL may carry a token) */
    unsigned store_ops;           /* Redis calls whose callback is still to come */
    bool reading;                 /* a read is in flight */
    bool touching;                /* a touch is in flight */
    bool counting;                /* a backlog count is in flight */
    uint64_t next_reclaim_ms;     /* loop time of the next XAUTOCLAIM */
    char claim_from[48];          /* its cursor: "0-0" starts a pass (a stream id fits) */
    uint64_t next_touch_ms;       /* loop time of the next touch */
    uint64_t next_count_ms;       /* loop time of the next backlog count */
    unsigned long failures;       /* failed POSTs since the last 2xx (the episode) */
    bool stopping;                /* xacct_webhook_stop was called */
    bool timer_closed;            /* the tick's close callback ran */
};

static void pump(xacct_webhook_t *w);
static void give_up(delivery_t *d);

/* ---- lifetime ------------------------------------------------------------ */

static void delivery_free(delivery_t *d)
{
    if (d == NULL)
        return;
    free(d->id);
    free(d->event);
    free(d->event_id);
    free(d->account);
    free(d);
}

static void unlink_delivery(xacct_webhook_t *w, delivery_t *d)
{
    for (delivery_t **p = &w->head; *p != NULL; p = &(*p)->next) {
        if (*p == d) {
            *p = d->next;
            w->held--;
            return;
        }
    }
}

/* The owner goes once the timer has closed and no Redis callback is due. */
static void maybe_release(xacct_webhook_t *w)
{
    if (!w->stopping || !w->timer_closed || w->store_ops > 0)
        return;
    xacct_freezero(w->secret, w->secret_len);
    free(w);
}

static void on_tick_closed(uv_handle_t *h)
{
    xacct_webhook_t *w = xacct_container_of((uv_timer_t *)h, xacct_webhook_t, tick);
    w->timer_closed = true;
    maybe_release(w);
}

/* Every Redis callback starts here: false when the owner is going away
 * (then the callback only accounts for itself). */
static bool store_back(xacct_webhook_t *w)
{
    w->store_ops--;
    if (w->stopping) {
        maybe_release(w);
        return false;
    }
    return true;
}

/* ---- secret ------------------------------------------------------------ */

int xacct_webhook_secret_read(const xacct_log_t *log, const char *path, char **out,
                              size_t *len, char *err, size_t errlen)
{
    char *s = NULL;
    *out = NULL;
    *len = 0;
    if (xacct_secret_file_check(log, "events.webhook_secret_file", path, err, errlen) != 0)
        return XACCT_ECONFIG;
    errno = 0;
    int rc = xacct__creds_read_token_file(path, &s);
    if (rc != 0) {
        /* XACCT_EIO: errno says why (a missing file is "No such file"). */
        snprintf(err, errlen, "events.webhook_secret_file: %s: %s", path,
                 rc == XACCT_EPARSE                ? "empty, or holds a NUL byte"
                 : rc == XACCT_EIO && errno != 0 ? strerror(errno)
                                                  : xacct_strerror(rc));
        return XACCT_ECONFIG;
    }
    size_t n = strlen(s);
    if (n > XACCT_WEBHOOK_SECRET_MAX) {
        xacct_free_secret(s);
        snprintf(err, errlen, "events.webhook_secret_file: %s: larger than %d bytes", path,
                 XACCT_WEBHOOK_SECRET_MAX);
        return XACCT_ECONFIG;
    }
    *out = s;
    *len = n;
    return 0;
}

static int read_secret(xacct_webhook_t *w, const char *path, char *err, size_t errlen)
{
    char *s;
    size_t n;
    int rc = xacct_webhook_secret_read(&w->ctx->log, path, &s, &n, err, errlen);
    if (rc != 0)
        return rc;
    xacct_freezero(w->secret, w->secret_len);
    w->secret = (unsigned char *)s;
    w->secret_len = n;
    return 0;
}

/* ---- events in and out of Redis ------------------------------------------ */

/* Takes what the worker needs from the event JSON: its id, account and seq. */
static int parse_event(delivery_t *d)
{
    json_error_t jerr;
    json_t *ev = json_loadb(d->event, d->event_len, 0, &jerr);
    const char *id = json_string_value(json_object_get(ev, "id"));
    const char *account = json_string_value(json_object_get(ev, "account_id"));
    json_t *seq = json_object_get(ev, "seq");
    int rc = XACCT_EPARSE;
    if (id != NULL && account != NULL && json_is_integer(seq)) {
        d->event_id = xacct_strdup(id);
        d->account = xacct_strdup(account);
        d->seq = (long long)json_integer_value(seq);
        rc = 0;
    }
    json_decref(ev);
    return rc;
}

/* Held events of account still to be delivered (not settling, not lost). */
static size_t held_for(const xacct_webhook_t *w, const char *account)
{
    size_t n = 0;
    for (const delivery_t *d = w->head; d != NULL; d = d->next)
        if (!d->lost && (d->state == D_WAITING || d->state == D_POSTING) &&
            strcmp(d->account, account) == 0)
            n++;
    return n;
}

static bool too_old(const xacct_webhook_t *w, const delivery_t *d)
{
    return xacct_store_now_ms() - d->appended_ms >= (int64_t)w->ctx->cfg->events_max_age * 1000;
}

/* Inserts in stream-id order; an event already held is not taken twice, nor
 * one whose customer has XACCT_WEBHOOK_MAX_HELD_PER_ACCOUNT held already: it
 * stays pending in Redis, untouched, and the reclaim hands it out again once
 * it has been idle events.claim_idle (to this worker or another). */
static void hold(xacct_webhook_t *w, const xacct_outbox_item_t *it)
{
    delivery_t **p = &w->head;
    for (; *p != NULL; p = &(*p)->next) {
        int c = xacct_outbox_id_cmp((*p)->id, it->id);
        if (c == 0)
            return;
        if (c > 0)
            break;
    }
    delivery_t *d = xacct_calloc(1, sizeof(*d));
    d->w = w;
    d->id = xacct_strdup(it->id);
    d->event = xacct_strndup(it->event, it->event_len);
    d->event_len = it->event_len;
    d->appended_ms = it->appended_ms;
    d->due_ms = uv_now(w->ctx->loop);
    xacct_backoff_init(&d->backoff, RETRY_BASE_MS, RETRY_CAP_MS, NULL, NULL);
    if (parse_event(d) != 0) {
        /* Nothing a receiver could use: straight to outbox:dead (logged like
         * any event given up on, so the dead counter never rises unexplained). */
        snprintf(d->reason, sizeof(d->reason), "not a lifecycle event (malformed JSON)");
        d->event_id = xacct_strdup("");
        d->account = xacct_strdup("");
        give_up(d);
    } else if (!it->reclaimed && too_old(w, d)) {
        /* Already too old when the group first read it (appended before a
         * webhook was configured, or while no worker ran): nothing made it
         * wait here. An event handed out again is tried at least once. */
        snprintf(d->reason, sizeof(d->reason), "older than events.max_age");
        give_up(d);
    } else if (held_for(w, d->account) >= XACCT_WEBHOOK_MAX_HELD_PER_ACCOUNT) {
        delivery_free(d);
        return;
    }
    d->next = *p;
    *p = d;
    w->held++;
}

static void read_done(int status, const char *detail, const xacct_outbox_item_t *items, size_t n,
                      const char *next_claim, void *arg)
{
    xacct_webhook_t *w = arg;
    if (!store_back(w))
        return;
    w->reading = false;
    if (status != 0) {
        XACCT_LOG_WARN(&w->ctx->log, "webhook.read_failed", "error", xacct_errname(status),
                       "detail", detail ? detail : "", "action", "retrying next second", NULL);
        snprintf(w->claim_from, sizeof(w->claim_from), "0-0"); /* never retry a bad cursor */
        return;
    }
    /* Mid-pass, the reclaim goes on at the next tick: a pass then takes at
     * most (pending entries) / (count * 10) ticks, however deep the idle ones. */
    snprintf(w->claim_from, sizeof(w->claim_from), "%s", next_claim);
    if (strcmp(w->claim_from, "0-0") != 0)
        w->next_reclaim_ms = 0;
    for (size_t i = 0; i < n && w->held < XACCT_WEBHOOK_MAX_HELD; i++)
        hold(w, &items[i]);
    pump(w);
}

static void touch_done(int status, const char *detail, const xacct_outbox_item_t *items,
                       size_t n, void *arg)
{
    xacct_webhook_t *w = arg;
    if (!store_back(w))
        return;
    w->touching = false;
    if (status != 0) {
        XACCT_LOG_WARN(&w->ctx->log, "webhook.touch_failed", "error", xacct_errname(status),
                       "detail", detail ? detail : "", NULL);
        w->next_touch_ms = 0; /* again at the next tick */
        return;
    }
    for (size_t i = 0; i < n; i++) {
        for (delivery_t *d = w->head; d != NULL; d = d->next) {
            if (strcmp(d->id, items[i].id) != 0 || d->state == D_ACK || d->state == D_BURY)
                continue;
            XACCT_LOG_INFO(&w->ctx->log, "webhook.taken_over", "event_id", d->event_id,
                           "account", d->account, "action", "another worker delivers it",
                           NULL);
            d->lost = true;
        }
    }
    pump(w);
}

static void backlog_done(int status, const char *detail, long long n, void *arg)
{
    xacct_webhook_t *w = arg;
    XACCT_UNUSED(detail);
    if (!store_back(w))
        return;
    w->counting = false;
    if (status == 0)
        xacct_metrics_set(w->ctx->metrics, XACCT_M_OUTBOX_PENDING, NULL, NULL, (double)n);
}

static void settled(int status, const char *detail, void *arg)
{
    delivery_t *d = arg;
    xacct_webhook_t *w = d->w;
    if (!store_back(w)) {
        delivery_free(d); /* already unlinked by stop */
        return;
    }
    d->redis_busy = false;
    if (status != 0) {
        /* Kept, and tried again next tick: the outcome must reach Redis. A
         * call that did land before the error is harmless to repeat (XACK,
         * and a bury of an entry no longer pending, change nothing). */
        XACCT_LOG_WARN(&w->ctx->log, "webhook.settle_failed", "event_id", d->event_id,
                       "error", xacct_errname(status), "detail", detail ? detail : "", NULL);
        return;
    }
    unlink_delivery(w, d);
    delivery_free(d);
    pump(w);
}

static void settle(delivery_t *d)
{
    xacct_webhook_t *w = d->w;
    xacct_store_t *s = w->ctx->store;
    int rc = d->state == D_ACK
                 ? xacct_outbox_ack(s, d->id, settled, d)
                 : xacct_outbox_bury(s, d->id, d->event, d->event_len, d->reason,
                                     (long long)d->attempts, settled, d);
    if (rc == 0) {
        d->redis_busy = true;
        w->store_ops++;
    }
}

/* ---- delivering ------------------------------------------------------------ */

static void give_up(delivery_t *d)
{
    xacct_webhook_t *w = d->w;
    d->state = D_BURY;
    xacct_metrics_inc(w->ctx->metrics, XACCT_M_WEBHOOK_DELIVERIES, "dead", NULL);
    char attempts[16];
    snprintf(attempts, sizeof(attempts), "%u", d->attempts);
    XACCT_LOG_WARN(&w->ctx->log, "webhook.dead", "event_id", d->event_id, "account", d->account,
                   "outbox_id", d->id, "attempts", attempts, "reason", d->reason, "action",
                   "moved to outbox:dead", NULL);
}

static void failed(delivery_t *d, const char *result)
{
    xacct_webhook_t *w = d->w;
    /* One warning when the receiver starts failing, not one per retry of
     * every held event while it is down for days: the rest are debug
     * lines, and the next 2xx says how many there were. */
    xacct_log_level_t level = w->failures++ == 0 ? XACCT_LOG_WARN : XACCT_LOG_DEBUG;
    xacct_metrics_inc(w->ctx->metrics, XACCT_M_WEBHOOK_DELIVERIES, result, NULL);
    if (too_old(w, d)) {
        give_up(d);
        return;
    }
    /* 1 s doubling to 10 min, each delay drawn from the upper half of its
     * step: spread, yet never an immediate retry. */
    uint64_t ceiling = xacct_backoff_ceiling(&d->backoff, xacct_backoff_attempts(&d->backoff));
    uint64_t delay = ceiling / 2 + xacct_backoff_next(&d->backoff) / 2;
    d->due_ms = uv_now(w->ctx->loop) + delay;
    d->state = D_WAITING;
    char attempt[16], retry[24];
    snprintf(attempt, sizeof(attempt), "%u", d->attempts);
    snprintf(retry, sizeof(retry), "%.1f", (double)delay / 1000.0);
    XACCT_LOG_AT(&w->ctx->log, level, "webhook.failed", "event_id", d->event_id, "account",
                 d->account, "host", w->host, "attempt", attempt, "reason", d->reason, "retry_in_s",
                 retry, NULL);
}

static void posted(int status, const char *detail, const xacct_http_response_t *resp, void *arg)
{
    delivery_t *d = arg;
    xacct_webhook_t *w = d->w;
    d->req = NULL;
    w->posting--;
    if (w->stopping) {
        delivery_free(d); /* stop unlinked it and is cancelling every POST */
        return;
    }
    if (d->lost) {
        unlink_delivery(w, d);
        delivery_free(d);
        pump(w);
        return;
    }
    if (status == 0 && resp->status >= 200 && resp->status < 300) {
        d->state = D_ACK;
        xacct_metrics_inc(w->ctx->metrics, XACCT_M_WEBHOOK_DELIVERIES, "delivered", NULL);
        char seq[24], attempts[16];
        snprintf(seq, sizeof(seq), "%lld", d->seq);
        snprintf(attempts, sizeof(attempts), "%u", d->attempts);
        XACCT_LOG_INFO(&w->ctx->log, "webhook.delivered", "event_id", d->event_id, "account",
                       d->account, "seq", seq, "attempts", attempts, NULL);
        if (w->failures > 0) {
            char failures[24];
            snprintf(failures, sizeof(failures), "%lu", w->failures);
            XACCT_LOG_INFO(&w->ctx->log, "webhook.recovered", "host", w->host, "failures", failures,
                           NULL);
            w->failures = 0;
        }
    } else if (status == 0) {
        snprintf(d->reason, sizeof(d->reason), "HTTP %ld", resp->status);
        failed(d, "rejected");
    } else {
        snprintf(d->reason, sizeof(d->reason), "%s: %.120s", xacct_errname(status),
                 detail ? detail : "");
        failed(d, "error");
    }
    pump(w);
}

static void post(delivery_t *d)
{
    xacct_webhook_t *w = d->w;
    const xacct_config_t *cfg = w->ctx->cfg;
    int64_t now_s = (int64_t)time(NULL);
    char ts[24], sig[XACCT_WEBHOOK_SIG_LEN + 1];
    snprintf(ts, sizeof(ts), "%lld", (long long)now_s);
    int rc = xacct_webhook_sign(w->secret, w->secret_len, now_s, d->event, d->event_len, sig);
    xacct_header_t headers[] = {
        {"Content-Type", "application/json"},
        {"X-Xacct-Event-Id", d->event_id},
        {"X-Xacct-Timestamp", ts},
        {"X-Xacct-Signature", sig},
    };
    long timeout_ms = (long)cfg->events_delivery_timeout * 1000;
    xacct_http_request_t req = {
        .method = "POST",
        .url = cfg->events_webhook_url,
        .headers = headers,
        .nheaders = XACCT_ARRAY_SIZE(headers),
        .body = d->event,
        .body_len = d->event_len,
        .timeout_ms = timeout_ms,
        .connect_timeout_ms = timeout_ms < 10000 ? timeout_ms : 10000,
        .max_body = XACCT_WEBHOOK_MAX_ANSWER,
        /* A 2xx is delivered whatever its body (SPEC §8): one over the cap
         * is cut there, and one the receiver closes before its end still
         * counts by its status. */
        .cut_body = true,
        .status_is_answer = true,
        /* The receiver's name is resolved by whoever runs its DNS: never
         * POST customer data to the instance metadata service or another
         * link-local address, whatever the name resolves to today. */
        .untrusted_url = true,
    };
    d->attempts++;
    if (rc == 0)
        rc = xacct_http_submit(w->ctx->http, &req, posted, d, &d->req);
    if (rc != 0) {
        snprintf(d->reason, sizeof(d->reason), "%s", xacct_errname(rc));
        failed(d, "error");
        return;
    }
    d->state = D_POSTING;
    w->posting++;
}

/* Starts whatever is due and settles whatever is decided. */
static void pump(xacct_webhook_t *w)
{
    uint64_t now = uv_now(w->ctx->loop);
    delivery_t *next;
    for (delivery_t *d = w->head; d != NULL; d = next) {
        next = d->next;
        if (d->lost && d->state != D_POSTING && !d->redis_busy) {
            unlink_delivery(w, d);
            delivery_free(d);
            continue;
        }
        if (d->lost || d->redis_busy)
            continue;
        if (d->state == D_WAITING && d->due_ms <= now) {
            /* Given up only once tried: an event that comes back to a worker
             * past events.max_age (left pending while its customer had
             * enough held, or held by a worker that died) still gets its
             * one POST. The reason is the last failure. */
            if (d->attempts > 0 && too_old(w, d)) {
                give_up(d);
            } else if (w->posting < XACCT_WEBHOOK_MAX_IN_FLIGHT) {
                post(d);
            }
        }
        if (d->state == D_ACK || d->state == D_BURY)
            settle(d);
    }
}

static void on_tick(uv_timer_t *t)
{
    xacct_webhook_t *w = xacct_container_of(t, xacct_webhook_t, tick);
    xacct_ctx_t *ctx = w->ctx;
    uint64_t now = uv_now(ctx->loop);
    uint64_t idle_ms = (uint64_t)ctx->cfg->events_claim_idle * 1000;
    bool running = ctx->state == XACCT_RUNNING;

    if (!w->touching && w->held > 0 && now >= w->next_touch_ms) {
        const char **ids = xacct_calloc(w->held, sizeof(*ids));
        size_t n = 0;
        for (delivery_t *d = w->head; d != NULL; d = d->next)
            if (!d->lost)
                ids[n++] = d->id;
        if (n > 0 &&
            xacct_outbox_touch(ctx->store, ctx->worker_id, ids, n, touch_done, w) == 0) {
            w->touching = true;
            w->store_ops++;
        }
        free(ids);
        w->next_touch_ms = now + idle_ms / 3;
    }
    /* While draining, nothing new is taken: it would only wait for a
     * takeover. */
    if (running && !w->reading && w->held < XACCT_WEBHOOK_MAX_HELD) {
        long long min_idle = 0;
        if (now >= w->next_reclaim_ms) {
            min_idle = (long long)idle_ms;
            w->next_reclaim_ms = now + idle_ms / 2;
        }
        if (xacct_outbox_read(ctx->store, ctx->worker_id, XACCT_WEBHOOK_MAX_HELD - w->held,
                              min_idle, w->claim_from, read_done, w) == 0) {
            w->reading = true;
            w->store_ops++;
        }
    }
    if (!w->counting && now >= w->next_count_ms) {
        if (xacct_outbox_backlog(ctx->store, backlog_done, w) == 0) {
            w->counting = true;
            w->store_ops++;
        }
        w->next_count_ms = now + BACKLOG_EVERY_MS;
    }
    pump(w);
}

/* ---- the daemon's interface ---------------------------------------------- */

static void url_host(const char *url, char *out, size_t outlen)
{
    CURLU *u = curl_url();
    char *host = NULL;
    snprintf(out, outlen, "?");
    if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
        snprintf(out, outlen, "%s", host);
    curl_free(host);
    curl_url_cleanup(u);
}

int xacct_webhook_start(xacct_ctx_t *ctx, char *err, size_t errlen)
{
    if (ctx->cfg->events_webhook_url[0] == '\0')
        return 0;
    xacct_webhook_t *w = xacct_calloc(1, sizeof(*w));
    w->ctx = ctx;
    snprintf(w->claim_from, sizeof(w->claim_from), "0-0");
    int rc = read_secret(w, ctx->cfg->events_webhook_secret_file, err, errlen);
    if (rc != 0) {
        free(w);
        return rc;
    }
    url_host(ctx->cfg->events_webhook_url, w->host, sizeof(w->host));
    uv_timer_init(ctx->loop, &w->tick);
    uv_timer_start(&w->tick, on_tick, 0, TICK_MS);
    ctx->webhook = w;
    XACCT_LOG_INFO(&ctx->log, "webhook.started", "host", w->host, "consumer", ctx->worker_id,
                   NULL);
    return 0;
}

void xacct_webhook_reload(xacct_ctx_t *ctx)
{
    xacct_webhook_t *w = ctx->webhook;
    if (w == NULL)
        return;
    char err[512];
    if (read_secret(w, ctx->cfg->events_webhook_secret_file, err, sizeof(err)) != 0)
        XACCT_LOG_WARN(&ctx->log, "webhook.secret_reload_failed", "reason", err, "action",
                       "keeping the previous secret", NULL);
    else
        XACCT_LOG_INFO(&ctx->log, "webhook.secret_reloaded", NULL);
}

void xacct_webhook_stop(xacct_ctx_t *ctx)
{
    xacct_webhook_t *w = ctx->webhook;
    if (w == NULL)
        return;
    ctx->webhook = NULL;
    w->stopping = true;
    uv_timer_stop(&w->tick);
    uv_close((uv_handle_t *)&w->tick, on_tick_closed);
    /* Unlink everything first: a cancelled POST's callback and a pending
     * ack's callback each free their own delivery once they see stopping. */
    delivery_t *d = w->head;
    w->head = NULL;
    w->held = 0;
    while (d != NULL) {
        delivery_t *next = d->next;
        d->next = NULL;
        if (d->req != NULL)
            xacct_http_cancel(d->req); /* posted() frees it, synchronously */
        else if (!d->redis_busy)
            delivery_free(d);
        d = next;
    }
}
