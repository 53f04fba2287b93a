/* SPDX-License-Identifier: MIT */
/*
 * The credentials provider: picks the chain link from the environment once,
 * keeps the last good credentials, refreshes them from a timer before they
 * expire, and queues callers while nothing valid is cached. The fetchers in
 * creds_imds.c, creds_container.c, creds_webid.c, creds_assume.c and
 * creds_process.c do the work, started through one table; creds_config.c
 * picks the link; creds_util.c holds what they share. This file owns the
 * policy: when to fetch, what to hand out, how failures reach waiters.
 *
 * Two timers: _refresh starts the next fetch (refresh before expiry, or retry
 * after a failure with jittered backoff); _dispatch releases waiters on the
 * next loop turn, so no wait callback fires from inside xacct_creds_wait. The
 * provider's memory goes when both have closed.
 */
#include "xacct/creds.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xacct/digest.h"

#define DEFAULT_MARGIN_MS (5u * 60u * 1000u)
#define DEFAULT_RETRY_BASE_MS 1000u
#define DEFAULT_RETRY_MAX_MS 60000u
#define DEFAULT_PROCESS_TIMEOUT_MS 120000L
#define MAX_SKEW_MS 10000

typedef struct waiter_list {
    struct xacct_creds_waiter *head, *tail;
} waiter_list_t;

struct xacct_creds_waiter {
    xacct_creds_t *_c;                       /* provider */
    waiter_list_t *_list;                    /* list it is in */
    struct xacct_creds_waiter *_prev, *_next;
    xacct_creds_wait_cb _cb;                 /* fires exactly once */
    void *_arg;
};

struct xacct_creds {
    uv_loop_t *_loop;                        /* borrowed */
    xacct_http_t *_http;                     /* borrowed, may be NULL for env/none */
    xacct__creds_config_t _cfg;              /* the chain link and its parameters */
    long _fetch_timeout_ms;                  /* per HTTP request */
    long _process_timeout_ms;                /* per credential_process run */
    uint64_t _margin_ms;                     /* refresh this long before expiry */
    uint64_t _retry_base_ms;                 /* smallest spacing of fetches after a failure */
    xacct_backoff_t _backoff;                /* delays after failed fetches */
    xacct__creds_set_t *_cached;             /* last good credentials, owned, or NULL */
    int64_t _obtained_ms;                    /* wall clock when _cached arrived */
    xacct_sigv4_credentials_t _view;         /* borrowed view of _cached */
    unsigned char _secret_sha256[32];        /* _view.secret_sha256 points here */
    xacct__creds_fetch_t *_fetch;            /* fetch in flight, or NULL */
    xacct__creds_imds_token_t _imds_token;   /* IMDSv2 session token kept between fetches */
    xacct_aws_clock_t *_clock;               /* signing clock: borrowed, or _own_clock */
    xacct_aws_clock_t _own_clock;            /* when the options give none */
    int64_t _fetch_offset_s;                 /* the clock's offset the fetch in flight
                                                was started (signed) with */
    bool _fetch_resigns;                     /* the fetch in flight is the one at once a
                                                clock correction earned */
    bool _resign_next;                       /* ... and the next fetch will be */
    uint64_t _fetches;                       /* successful fetches */
    uint64_t _last_fail;                     /* uv_now() of the last failed fetch; 0 = none */
    uv_timer_t _refresh;                     /* next fetch */
    uv_timer_t _dispatch;                    /* releases waiters asynchronously */
    int _open_handles;                       /* timers not yet closed */
    waiter_list_t _waiters;                  /* queued callers */
    waiter_list_t _releasing;                /* callers being released right now */
    bool _freeing;                           /* xacct_creds_free began */
    char _detail[512];                       /* why the last fetch failed */
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *xacct_creds_source_name(xacct_creds_source_t s)
{
    switch (s) {
    case XACCT_CREDS_SOURCE_ENV:
        return "environment";
    case XACCT_CREDS_SOURCE_WEB_IDENTITY:
        return "web identity";
    case XACCT_CREDS_SOURCE_PROFILE:
        return "profile";
    case XACCT_CREDS_SOURCE_PROFILE_ROLE:
        return "profile role";
    case XACCT_CREDS_SOURCE_PROCESS:
        return "credential process";
    case XACCT_CREDS_SOURCE_CONTAINER:
        return "container";
    case XACCT_CREDS_SOURCE_IMDS:
        return "instance metadata";
    case XACCT_CREDS_SOURCE_NONE:
    default:
        return "none";
    }
}

/* ----------------------------------------------------- timing decisions */

/* When to refresh: expiry minus the margin, the margin never more than half
 * the lifetime (short-lived credentials would otherwise be refreshed at
 * once, forever). 0 means now. */
XACCT_STATIC uint64_t xacct__creds_refresh_delay(int64_t now_ms, int64_t obtained_ms,
                                                 int64_t expiry_ms, uint64_t margin_ms)
{
    int64_t lifetime = expiry_ms - obtained_ms;
    if (lifetime <= 0)
        return 0;
    int64_t margin = (int64_t)(margin_ms < (uint64_t)lifetime / 2 ? margin_ms
                                                                  : (uint64_t)lifetime / 2);
    int64_t at = expiry_ms - margin;
    return at > now_ms ? (uint64_t)(at - now_ms) : 0;
}

/* Usable while a little time is left: a request signed now must still
 * arrive before the expiry. The skew is 10 s, or a quarter of the lifetime
 * if that is shorter. */
XACCT_STATIC bool xacct__creds_usable(int64_t now_ms, int64_t obtained_ms, int64_t expiry_ms)
{
    if (expiry_ms == 0)
        return true;
    int64_t lifetime = expiry_ms - obtained_ms;
    int64_t skew = lifetime / 4 < MAX_SKEW_MS ? lifetime / 4 : MAX_SKEW_MS;
    if (skew < 0)
        skew = 0;
    return now_ms + skew < expiry_ms;
}

static bool valid(const xacct_creds_t *c)
{
    return c->_cached != NULL &&
           xacct__creds_usable(wall_ms(), c->_obtained_ms, c->_cached->expiry_ms);
}

/* --------------------------------------------------------------- waiters */

static void list_push(waiter_list_t *l, struct xacct_creds_waiter *w)
{
    w->_list = l;
    w->_next = NULL;
    w->_prev = l->tail;
    if (l->tail != NULL)
        l->tail->_next = w;
    else
        l->head = w;
    l->tail = w;
}

static void list_remove(struct xacct_creds_waiter *w)
{
    waiter_list_t *l = w->_list;
    if (w->_prev != NULL)
        w->_prev->_next = w->_next;
    else
        l->head = w->_next;
    if (w->_next != NULL)
        w->_next->_prev = w->_prev;
    else
        l->tail = w->_prev;
    w->_list = NULL;
    w->_prev = w->_next = NULL;
}

/* Releases every waiter queued so far. They are moved to _releasing first,
 * so a callback that waits again joins the next round instead of looping,
 * and a free or cancel from inside a callback still finds the rest. */
static void release_waiters(xacct_creds_t *c, int status, const char *detail)
{
    while (c->_waiters.head != NULL) {
        struct xacct_creds_waiter *w = c->_waiters.head;
        list_remove(w);
        list_push(&c->_releasing, w);
    }
    while (c->_releasing.head != NULL) {
        struct xacct_creds_waiter *w = c->_releasing.head;
        list_remove(w);
        const xacct_sigv4_credentials_t *creds = NULL;
        int st = status;
        const char *dt = detail;
        if (st == 0) {
            /* A callback may have freed the provider or the keys may have
             * expired meanwhile; hand out only what is valid now. */
            if (!c->_freeing && valid(c)) {
                creds = &c->_view;
            } else {
                st = c->_freeing ? XACCT_ECANCELED : XACCT_EAGAIN;
                dt = c->_freeing ? "credentials provider closed" : "credentials expired";
            }
        }
        w->_cb(st, st == 0 ? NULL : dt, creds, w->_arg);
        free(w);
    }
}

static void on_dispatch(uv_timer_t *t)
{
    xacct_creds_t *c = xacct_container_of(t, xacct_creds_t, _dispatch);
    if (c->_cfg.source == XACCT_CREDS_SOURCE_NONE)
        release_waiters(c, XACCT_ENOCREDS,
                        "no credentials: no environment keys, web identity, profile or "
                        "container credentials, and instance metadata is disabled");
    else if (valid(c))
        release_waiters(c, 0, NULL);
}

/* ----------------------------------------------------------------- fetch */

static void start_fetch(xacct_creds_t *c);

static void on_refresh(uv_timer_t *t)
{
    start_fetch(xacct_container_of(t, xacct_creds_t, _refresh));
}

/* The status a waiter sees for a failed fetch. */
static int waiter_status(const xacct_creds_t *c, int status)
{
    switch (status) {
    case XACCT_ETIMEOUT:
    case XACCT_ECONNREFUSED:
    case XACCT_EHTTP:
        /* No metadata service is simply "no credentials here"; for the
         * explicitly configured links it is a transient network problem. */
        return c->_cfg.source == XACCT_CREDS_SOURCE_IMDS ? XACCT_ENOCREDS : XACCT_EAGAIN;
    case XACCT_ENOTFOUND:
        return XACCT_ENOCREDS;
    case XACCT_ETOOBIG:
        return XACCT_EPARSE;
    default:
        return status;
    }
}

/* Points the view handed to callers at _cached, with the secret's digest
 * taken once here rather than by the signer for every request. */
static void show(xacct_creds_t *c)
{
    const xacct__creds_set_t *set = c->_cached;
    unsigned int n = 0;
    c->_view.access_key_id = set->access_key_id;
    c->_view.secret_access_key = set->secret_access_key;
    c->_view.session_token = set->session_token;
    c->_view.secret_sha256 =
        set->secret_access_key != NULL &&
                xacct_digest(XACCT_DIGEST_SHA256, set->secret_access_key,
                             strlen(set->secret_access_key), c->_secret_sha256, &n) == 0 &&
                n == sizeof(c->_secret_sha256)
            ? c->_secret_sha256
            : NULL;
}

static void fetch_done(xacct_creds_t *c, int status, const char *detail, xacct__creds_set_t *set)
{
    if (c->_freeing) {
        xacct__creds_set_free(set);
        return;
    }
    if (status == 0 && set->expiry_ms != 0 &&
        !xacct__creds_usable(wall_ms(), wall_ms(), set->expiry_ms)) {
        /* Keys already past their expiry (a clock ahead, an endpoint handing
         * out stale keys): taking them would refresh again at once, forever,
         * and drop keys that may still be good. A failure, with its backoff. */
        xacct__creds_set_free(set);
        set = NULL;
        status = XACCT_EAGAIN;
        detail = "the credentials handed out have already expired (is the clock right?)";
    }
    if (status == 0 && !xacct__creds_set_ok(set)) {
        /* Whatever handed them out is broken or hostile: a control character
         * in a key or token would inject a header into every signed call. */
        xacct__creds_set_free(set);
        set = NULL;
        status = XACCT_EPARSE;
        detail = "the credentials handed out hold a space or control character, which no "
                 "AWS key or token has";
    }
    if (status == 0) {
        xacct__creds_set_free(c->_cached);
        c->_cached = set;
        c->_obtained_ms = wall_ms();
        show(c);
        c->_fetches++;
        c->_last_fail = 0;
        c->_detail[0] = '\0';
        xacct_backoff_reset(&c->_backoff);
        if (set->expiry_ms != 0)
            uv_timer_start(&c->_refresh, on_refresh,
                           xacct__creds_refresh_delay(c->_obtained_ms, c->_obtained_ms,
                                                      set->expiry_ms, c->_margin_ms),
                           0);
        release_waiters(c, 0, NULL);
        return;
    }

    /* An AssumeRole signed with a clock corrected since (by STS's refusal
     * of it, or by an AWS call answered meanwhile) is signed again at once,
     * once, as aws.c does for a call; waiters keep waiting for it. */
    if (c->_cfg.source == XACCT_CREDS_SOURCE_PROFILE_ROLE && !c->_fetch_resigns &&
        c->_clock->offset_s != c->_fetch_offset_s) {
        c->_resign_next = true;
        uv_timer_start(&c->_refresh, on_refresh, 0, 0);
        return;
    }
    snprintf(c->_detail, sizeof(c->_detail), "%s: %s", xacct_creds_source_name(c->_cfg.source),
             detail != NULL ? detail : xacct_strerror(status));
    c->_last_fail = uv_now(c->_loop);
    if (c->_last_fail == 0)
        c->_last_fail = 1;
    uint64_t delay = xacct_backoff_next(&c->_backoff);
    if (valid(c) && c->_cached->expiry_ms != 0) {
        /* Keep using what we have, but try again well before it runs out. */
        int64_t left = c->_cached->expiry_ms - wall_ms();
        if (left > 0 && delay > (uint64_t)left / 2)
            delay = (uint64_t)left / 2;
        uv_timer_start(&c->_refresh, on_refresh, delay, 0);
        return;
    }
    uv_timer_start(&c->_refresh, on_refresh, delay, 0);
    release_waiters(c, waiter_status(c, status), c->_detail);
}

static void on_fetch(int status, const char *detail, xacct__creds_set_t *set, void *arg)
{
    xacct_creds_t *c = arg;
    c->_fetch = NULL;
    fetch_done(c, status, detail, set);
}

/* The links that fetch, by source; the others (environment, a profile's
 * static keys, none) are fixed at creation. */
static xacct__creds_start_fn link_start(xacct_creds_source_t source)
{
    static const struct {
        xacct_creds_source_t source;
        xacct__creds_start_fn start;
    } links[] = {
        {XACCT_CREDS_SOURCE_IMDS, xacct__creds_imds_start},
        {XACCT_CREDS_SOURCE_CONTAINER, xacct__creds_container_start},
        {XACCT_CREDS_SOURCE_WEB_IDENTITY, xacct__creds_webid_start},
        {XACCT_CREDS_SOURCE_PROFILE_ROLE, xacct__creds_assume_start},
        {XACCT_CREDS_SOURCE_PROCESS, xacct__creds_process_start},
    };
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(links); i++)
        if (links[i].source == source)
            return links[i].start;
    return NULL;
}

/* Runs only from the refresh timer or xacct_creds_new, never from inside
 * xacct_creds_wait, so a failure may release waiters directly. */
static void start_fetch(xacct_creds_t *c)
{
    char detail[128];
    if (c->_fetch != NULL || c->_freeing)
        return;
    uv_timer_stop(&c->_refresh);
    xacct__creds_start_fn start = link_start(c->_cfg.source);
    if (start == NULL)
        return;
    const xacct__creds_link_ctx_t ctx = {
        .loop = c->_loop,
        .http = c->_http,
        .cfg = &c->_cfg,
        .fetch_timeout_ms = c->_fetch_timeout_ms,
        .process_timeout_ms = c->_process_timeout_ms,
        .imds_token = &c->_imds_token,
        .clock = c->_clock,
    };
    c->_fetch_offset_s = c->_clock->offset_s;
    c->_fetch_resigns = c->_resign_next;
    c->_resign_next = false;
    int rc = start(&ctx, on_fetch, c, &c->_fetch);
    if (rc != 0) {
        c->_fetch = NULL;
        snprintf(detail, sizeof(detail), "cannot start: %s", xacct_strerror(rc));
        fetch_done(c, rc, detail, NULL);
    }
}

/* ------------------------------------------------------------ public API */

int xacct_creds_new(uv_loop_t *loop, xacct_http_t *http, const xacct_creds_options_t *opts,
                    xacct_creds_t **out, char *err, size_t errlen)
{
    int rc;
    xacct__creds_config_t cfg;
    xacct_creds_options_t def = {0};

    *out = NULL;
    if (opts == NULL)
        opts = &def;
    if (loop == NULL)
        return XACCT_EINVAL;
    rc = xacct__creds_config_from_env(opts->getenv, opts->getenv_arg, opts->region,
                                      (int64_t)time(NULL), &cfg, err, errlen);
    if (rc != 0)
        goto fail;
    bool fixed = cfg.source == XACCT_CREDS_SOURCE_ENV || cfg.source == XACCT_CREDS_SOURCE_PROFILE;
    bool remote = !fixed && cfg.source != XACCT_CREDS_SOURCE_NONE;
    if (remote && cfg.source != XACCT_CREDS_SOURCE_PROCESS && http == NULL) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "remote credentials need an HTTP client");
        rc = XACCT_EINVAL;
        goto fail;
    }

    xacct_creds_t *c = xacct_calloc(1, sizeof(*c));
    c->_loop = loop;
    c->_http = http;
    c->_cfg = cfg;
    c->_fetch_timeout_ms = opts->fetch_timeout_ms;
    c->_process_timeout_ms =
        opts->process_timeout_ms > 0 ? opts->process_timeout_ms : DEFAULT_PROCESS_TIMEOUT_MS;
    c->_margin_ms = opts->refresh_margin_ms ? opts->refresh_margin_ms : DEFAULT_MARGIN_MS;
    if (opts->clock != NULL) {
        c->_clock = opts->clock;
    } else {
        xacct_aws_clock_init(&c->_own_clock, NULL, NULL);
        c->_clock = &c->_own_clock;
    }
    c->_retry_base_ms = opts->retry_base_ms ? opts->retry_base_ms : DEFAULT_RETRY_BASE_MS;
    xacct_backoff_init(&c->_backoff, c->_retry_base_ms,
                       opts->retry_max_ms ? opts->retry_max_ms : DEFAULT_RETRY_MAX_MS, opts->rand,
                       opts->rand_arg);
    uv_timer_init(loop, &c->_refresh);
    uv_timer_init(loop, &c->_dispatch);
    c->_open_handles = 2;

    if (fixed) {
        c->_cached = cfg.keys;
        c->_cfg.keys = NULL;
        c->_obtained_ms = wall_ms();
        show(c);
        c->_fetches = 1;
    } else if (remote) {
        start_fetch(c);
    }
    *out = c;
    return 0;
fail:
    xacct__creds_config_destroy(&cfg);
    return rc;
}

static void creds_close_cb(uv_handle_t *h)
{
    xacct_creds_t *c = h->data;
    if (--c->_open_handles > 0)
        return;
    xacct__creds_config_destroy(&c->_cfg);
    free(c);
}

void xacct_creds_free(xacct_creds_t *c)
{
    if (c == NULL || c->_freeing)
        return;
    c->_freeing = true;
    if (c->_fetch != NULL)
        xacct__creds_fetch_cancel(c->_fetch); /* on_fetch sees _freeing */
    while (c->_waiters.head != NULL || c->_releasing.head != NULL) {
        struct xacct_creds_waiter *w =
            c->_releasing.head != NULL ? c->_releasing.head : c->_waiters.head;
        list_remove(w);
        w->_cb(XACCT_ECANCELED, "credentials provider closed", NULL, w->_arg);
        free(w);
    }
    xacct__creds_set_free(c->_cached);
    c->_cached = NULL;
    xacct_free_secret(c->_imds_token.token);
    c->_imds_token.token = NULL;
    memset(&c->_view, 0, sizeof(c->_view));
    OPENSSL_cleanse(c->_secret_sha256, sizeof(c->_secret_sha256));
    c->_refresh.data = c;
    c->_dispatch.data = c;
    uv_close((uv_handle_t *)&c->_refresh, creds_close_cb);
    uv_close((uv_handle_t *)&c->_dispatch, creds_close_cb);
}

xacct_creds_source_t xacct_creds_source(const xacct_creds_t *c)
{
    return c->_cfg.source;
}

const xacct_sigv4_credentials_t *xacct_creds_current(xacct_creds_t *c)
{
    return c != NULL && !c->_freeing && valid(c) ? &c->_view : NULL;
}

int64_t xacct_creds_expiry(const xacct_creds_t *c)
{
    return c->_cached != NULL ? c->_cached->expiry_ms : -1;
}

bool xacct_creds_invalidate(xacct_creds_t *c, const char *access_key_id)
{
    if (c == NULL || c->_freeing || access_key_id == NULL || link_start(c->_cfg.source) == NULL)
        return false;
    if (c->_cached == NULL || strcmp(c->_cached->access_key_id, access_key_id) != 0)
        return true; /* replaced since, or being fetched */
    if (wall_ms() - c->_obtained_ms < (int64_t)c->_retry_base_ms)
        return false;
    xacct__creds_set_free(c->_cached);
    c->_cached = NULL;
    memset(&c->_view, 0, sizeof(c->_view));
    OPENSSL_cleanse(c->_secret_sha256, sizeof(c->_secret_sha256));
    /* From the timer, as every fetch starts: a fetch that fails at once
     * releases waiters, never from inside the caller's callback. */
    if (c->_fetch == NULL)
        uv_timer_start(&c->_refresh, on_refresh, 0, 0);
    return true;
}

uint64_t xacct_creds_fetch_count(const xacct_creds_t *c)
{
    return c->_fetches;
}

int xacct_creds_wait(xacct_creds_t *c, xacct_creds_wait_cb cb, void *arg,
                     xacct_creds_waiter_t **handle)
{
    if (handle != NULL)
        *handle = NULL;
    if (c == NULL || cb == NULL)
        return XACCT_EINVAL;
    if (c->_freeing)
        return XACCT_ESHUTDOWN;
    struct xacct_creds_waiter *w = xacct_calloc(1, sizeof(*w));
    w->_c = c;
    w->_cb = cb;
    w->_arg = arg;
    list_push(&c->_waiters, w);
    if (handle != NULL)
        *handle = w;

    if (c->_cfg.source == XACCT_CREDS_SOURCE_NONE || valid(c)) {
        uv_timer_start(&c->_dispatch, on_dispatch, 0, 0);
    } else if (c->_fetch == NULL) {
        /* Nothing valid and nothing in flight: a retry is pending. Bring it
         * forward unless the last failure is very recent, so callers get a
         * fresh attempt without being able to hammer the endpoint. */
        uint64_t now = uv_now(c->_loop);
        if (!uv_is_active((uv_handle_t *)&c->_refresh) || c->_last_fail == 0 ||
            now - c->_last_fail >= c->_retry_base_ms)
            uv_timer_start(&c->_refresh, on_refresh, 0, 0);
    }
    return 0;
}

void xacct_creds_wait_cancel(xacct_creds_waiter_t *w)
{
    if (w == NULL || w->_list == NULL)
        return;
    list_remove(w);
    w->_cb(XACCT_ECANCELED, "wait canceled", NULL, w->_arg);
    free(w);
}
