/* SPDX-License-Identifier: MIT */
/*
 * The glue between libcurl's multi socket interface and the libuv loop: curl
 * tells us which sockets to watch (one uv_poll_t each) and when to wake it up
 * (one uv_timer_t); we tell curl what happened with curl_multi_socket_action
 * and then drain finished transfers with curl_multi_info_read. curl is never
 * called from inside its own callbacks. Everything about a single transfer
 * lives in http_req.c.
 */
#include "http_int.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void maybe_release(struct xacct_http *h);
static void maybe_teardown(struct xacct_http *h);

/* --- the list of in-flight transfers ----------------------------------- */

static void req_link(struct xacct_http *h, struct xacct_http_req *r)
{
    r->_prev = NULL;
    r->_next = h->_reqs;
    if (h->_reqs != NULL)
        h->_reqs->_prev = r;
    h->_reqs = r;
    h->_nreqs++;
}

static void req_unlink(struct xacct_http *h, struct xacct_http_req *r)
{
    if (r->_prev != NULL)
        r->_prev->_next = r->_next;
    else
        h->_reqs = r->_next;
    if (r->_next != NULL)
        r->_next->_prev = r->_prev;
    r->_prev = r->_next = NULL;
    h->_nreqs--;
}

/*
 * Ends one transfer: record the outcome while curl still holds the response,
 * take the easy handle out of the multi (its connection stays in the cache)
 * or off the gate, and fire the callback exactly once. A free requested by
 * the callback waits until _depth drops back to zero.
 */
void xacct__http_finish(struct xacct_http_req *r, int status)
{
    struct xacct_http *h = r->_h;

    req_unlink(h, r);
    xacct__http_req_collect(r, status);
    if (r->_added) {
        curl_multi_remove_handle(h->_multi, r->_easy);
        r->_added = false;
    }
    h->_depth++;
    xacct__http_gate_done(r, status);
    xacct__http_req_fire(r);
    h->_depth--;
    xacct__http_req_free(r);
    maybe_teardown(h);
}

/* Hands every finished transfer to its callback. */
static void drain(struct xacct_http *h)
{
    CURLMsg *msg;
    int left;

    h->_depth++;
    while (!h->_freeing && (msg = curl_multi_info_read(h->_multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        /* msg is invalid once the handle is removed: copy what we need. */
        CURLcode result = msg->data.result;
        struct xacct_http_req *r = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        xacct__http_finish(r, xacct__http_req_status(r, result));
    }
    h->_depth--;
    maybe_teardown(h);
}

/* --- sockets ----------------------------------------------------------- */

static void sock_close_cb(uv_handle_t *handle)
{
    xacct_http_sock_t *s = xacct_container_of((uv_poll_t *)handle, xacct_http_sock_t, _poll);
    struct xacct_http *h = s->_h;

    free(s);
    h->_open_handles--;
    maybe_release(h);
}

/* Every new transfer on a pooled connection looks its socket up (curl
 * forgets its socketp between transfers): by index, not a walk over every
 * open connection. */
static xacct_http_sock_t *sock_find(struct xacct_http *h, curl_socket_t fd)
{
    return fd >= 0 && (size_t)fd < h->_by_fd_cap ? h->_by_fd[fd] : NULL;
}

/* Whether curl opened fd through open_socket_cb (and has not closed it). */
static bool socket_is_ours(const struct xacct_http *h, curl_socket_t fd)
{
    return fd >= 0 && (size_t)fd < h->_opened_cap && h->_opened[fd];
}

static void sock_index(struct xacct_http *h, xacct_http_sock_t *s)
{
    size_t fd = (size_t)s->_fd;
    if (fd >= h->_by_fd_cap) {
        size_t cap = h->_by_fd_cap ? h->_by_fd_cap : 64;
        while (cap <= fd)
            cap *= 2;
        h->_by_fd = xacct_realloc(h->_by_fd, cap * sizeof(*h->_by_fd));
        memset(h->_by_fd + h->_by_fd_cap, 0, (cap - h->_by_fd_cap) * sizeof(*h->_by_fd));
        h->_by_fd_cap = cap;
    }
    h->_by_fd[fd] = s;
}

/* Stops watching a socket; the poll handle is freed in its close callback. */
static void sock_close(xacct_http_sock_t *s)
{
    struct xacct_http *h = s->_h;

    if (s->_prev != NULL)
        s->_prev->_next = s->_next;
    else
        h->_socks = s->_next;
    if (s->_next != NULL)
        s->_next->_prev = s->_prev;
    s->_prev = s->_next = NULL;
    if (sock_find(h, s->_fd) == s)
        h->_by_fd[s->_fd] = NULL;
    /* uv_close stops the poll (one epoll_ctl); stopping it first would
     * only add a second, failing one. */
    uv_close((uv_handle_t *)&s->_poll, sock_close_cb);
}

static void on_poll(uv_poll_t *poll, int status, int events)
{
    xacct_http_sock_t *s = xacct_container_of(poll, xacct_http_sock_t, _poll);
    struct xacct_http *h = s->_h;
    int flags = 0;
    int running;

    if (s->_idle) {
        /* A pooled connection nobody uses became readable: the server
         * closed it or sent something unasked. Stop watching (the loop
         * would spin on it); curl's check before reusing it finds it dead
         * and closes it. */
        uv_poll_stop(&s->_poll);
        s->_events = 0;
        return;
    }
    if (status < 0) {
        /* libuv has stopped the poll on an error: curl's next request
         * must start it again, whatever it asks for. A reset after the
         * peer answered (a server that answers before reading the whole
         * request, then closes) still has the answer in the socket: curl
         * reads it, and only then meets the error. */
        s->_events = 0;
        flags = CURL_CSELECT_ERR | CURL_CSELECT_IN;
    } else {
        if (events & (UV_READABLE | UV_DISCONNECT))
            flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    /* This call may close s (CURL_POLL_REMOVE); s stays allocated until
     * its close callback, but is not touched again here. */
    curl_multi_socket_action(h->_multi, s->_fd, flags, &running);
    drain(h);
}

/* Whether s's socket is still open at its number. libcurl 7.88 closes a
 * connection it drops while still connecting (its transfer removed: a
 * cancel in the loop turn that opened it) with close(2), not through
 * xacct__http_close_socket, and says REMOVE only after that: a poll kept
 * then would sit on a closed number, and libuv's next poll, asking epoll
 * for it, aborts. */
static bool sock_open(const xacct_http_sock_t *s)
{
    struct stat st;
    return fstat(s->_fd, &st) == 0 && st.st_ino == s->_ino;
}

/*
 * CURLMOPT_SOCKETFUNCTION: curl says what to watch on fd. libuv's
 * uv_poll_init_socket costs three system calls and every uv_poll_start two
 * (it takes the socket out of epoll and puts it back), while curl announces
 * the same socket afresh for each transfer on a kept-alive connection and
 * removes it at the end. So one poll handle lives as long as the socket
 * (closed by xacct__http_close_socket): at the end of a transfer it stays,
 * unreferenced, watching what it watched; the next transfer on the
 * connection finds it by fd and, asking for the same events (it usually
 * does), costs no system call at all.
 */
static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct xacct_http *h = userp;
    xacct_http_sock_t *s = socketp;
    int events = 0;

    XACCT_UNUSED(easy);
    if (what == CURL_POLL_REMOVE) {
        /* A socket curl closes itself (its resolver's socketpair) is closed
         * right after this: its poll goes now, or it would outlive the fd
         * and sit on the number whoever opens a socket next gets. So does
         * the poll of one of ours that curl has already closed itself. */
        if (s != NULL && (!s->_kept || !sock_open(s))) {
            if (s->_kept && fcntl(fd, F_GETFD) == -1 && socket_is_ours(h, fd))
                h->_opened[fd] = false; /* closed: the number is free again */
            sock_close(s);
            return 0;
        }
        /* curl forgets its socketp for fd right after this call, so there
         * is nothing to un-assign (and the multi may be mid-cleanup). An
         * idle handle must not keep the loop running. */
        if (s != NULL && !s->_idle) {
            s->_idle = true;
            uv_unref((uv_handle_t *)&s->_poll);
        }
        return 0;
    }
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    if (s == NULL && (s = sock_find(h, fd)) == NULL) {
        s = xacct_calloc(1, sizeof(*s));
        s->_fd = fd;
        s->_h = h;
        struct stat st = {0};
        s->_kept = socket_is_ours(h, fd) && fstat(fd, &st) == 0;
        s->_ino = s->_kept ? st.st_ino : 0;
        /* Returning -1 would make curl abort every transfer in the multi,
         * some without a completion message; a socket we cannot watch
         * instead ends in its transfer's timeout, which always exists. */
        if (uv_poll_init_socket(h->_loop, &s->_poll, fd) != 0) {
            free(s);
            return 0;
        }
        h->_open_handles++;
        s->_next = h->_socks;
        if (h->_socks != NULL)
            h->_socks->_prev = s;
        h->_socks = s;
        sock_index(h, s);
    }
    if (socketp == NULL)
        curl_multi_assign(h->_multi, fd, s);
    if (s->_idle) {
        s->_idle = false;
        uv_ref((uv_handle_t *)&s->_poll);
    }
    /* uv_poll_start would restart the poll even for the same events. */
    if (events == s->_events)
        return 0;
    if (uv_poll_start(&s->_poll, events, on_poll) == 0) /* on failure: as above */
        s->_events = events;
    return 0;
}

void xacct__http_socket_opened(struct xacct_http *h, curl_socket_t fd)
{
    size_t i = (size_t)fd;
    if (i >= h->_opened_cap) {
        size_t cap = h->_opened_cap ? h->_opened_cap : 64;
        while (cap <= i)
            cap *= 2;
        h->_opened = xacct_realloc(h->_opened, cap * sizeof(*h->_opened));
        memset(h->_opened + h->_opened_cap, 0, (cap - h->_opened_cap) * sizeof(*h->_opened));
        h->_opened_cap = cap;
    }
    h->_opened[i] = true;
}

int xacct__http_close_socket(void *clientp, curl_socket_t fd)
{
    struct xacct_http *h = clientp;
    xacct_http_sock_t *s = sock_find(h, fd);

    if (socket_is_ours(h, fd))
        h->_opened[fd] = false;
    if (s != NULL)
        sock_close(s); /* before close(): the fd number may be reused at once */
    return close(fd);
}

/* --- the timer --------------------------------------------------------- */

static void on_timeout(uv_timer_t *timer)
{
    struct xacct_http *h = xacct_container_of(timer, struct xacct_http, _timer);
    int running;

    curl_multi_socket_action(h->_multi, CURL_SOCKET_TIMEOUT, 0, &running);
    drain(h);
}

void xacct__http_on_gate_timer(uv_timer_t *timer)
{
    struct xacct_http *h = xacct_container_of(timer, struct xacct_http, _gate_timer);

    h->_gate_wakeups++;
    /* A transfer curl refuses is finished here, and its callback may free
     * the client: the teardown waits until the gate is done. */
    h->_depth++;
    xacct__http_gate_expire(h);
    h->_depth--;
    maybe_teardown(h);
}

/* CURLMOPT_TIMERFUNCTION: only (re)arms the uv timer. Calling curl from here
 * would re-enter it; a 0 ms timer fires on the next loop iteration instead. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct xacct_http *h = userp;

    XACCT_UNUSED(multi);
    if (timeout_ms < 0)
        uv_timer_stop(&h->_timer);
    else
        uv_timer_start(&h->_timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

/* --- lifecycle --------------------------------------------------------- */

static void release(struct xacct_http *h)
{
    X509_STORE_free(h->_trust);
    xacct__http_gate_free(h);
    xacct__http_url_memo_free(h);
    free(h->_by_fd);
    if (h->_share != NULL)
        curl_share_cleanup(h->_share); /* every easy handle is gone by now */
    free(h->_user_agent);
    curl_slist_free_all(h->_resolve);
    free(h->_opened);
    free(h);
    curl_global_cleanup();
}

/* Frees the client after its last uv handle has closed. */
static void maybe_release(struct xacct_http *h)
{
    if (h->_torn_down && h->_open_handles == 0)
        release(h);
}

/* The close callback of both timers. */
static void timer_close_cb(uv_handle_t *handle)
{
    struct xacct_http *h = handle->data;

    h->_open_handles--;
    maybe_release(h);
}

/*
 * Second half of xacct_http_free, run once no callback is on the stack:
 * curl_multi_cleanup while the loop is alive (it may still ask us to close
 * sockets), then close whatever poll handles remain and the timer.
 */
static void maybe_teardown(struct xacct_http *h)
{
    if (!h->_freeing || h->_depth > 0 || h->_torn_down)
        return;
    h->_torn_down = true;
    xacct__http_spare_free(h);
    curl_multi_cleanup(h->_multi);
    h->_multi = NULL;
    while (h->_socks != NULL)
        sock_close(h->_socks);
    uv_close((uv_handle_t *)&h->_timer, timer_close_cb);
    uv_close((uv_handle_t *)&h->_gate_timer, timer_close_cb);
}

/* The variables libcurl 7.88 takes a proxy from (http_proxy in lower case
 * only; it ignores HTTP_PROXY). Read here once: without any of them every
 * transfer says "no proxy" and libcurl stops looking them up (and no_proxy)
 * in the environment for each request. */
static bool proxy_env_set(void)
{
    static const char *const names[] = {"https_proxy", "HTTPS_PROXY", "http_proxy",
                                        "all_proxy", "ALL_PROXY"};
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(names); i++)
        if (getenv(names[i]) != NULL)
            return true;
    return false;
}

int xacct_http_new(uv_loop_t *loop, const xacct_http_options_t *opts, xacct_http_t **out)
{
    struct xacct_http *h = NULL;
    X509_STORE *trust = NULL;
    const xacct_http_options_t defaults = {0};
    int rc = 0;
    bool global = false;

    if (out != NULL)
        *out = NULL;
    if (loop == NULL || out == NULL) {
        rc = XACCT_EINVAL;
        goto out;
    }
    if (opts == NULL)
        opts = &defaults;
    if (opts->max_host_connections < 0 || opts->max_total_connections < 0 ||
        opts->tls_gate_ms < 0 || opts->connection_ramp_ms < 0) {
        rc = XACCT_EINVAL;
        goto out;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        rc = XACCT_EHTTP;
        goto out;
    }
    global = true;
    if ((rc = xacct__http_trust_new(opts->ca_bundle, &trust)) != 0)
        goto out;

    h = xacct_calloc(1, sizeof(*h));
    h->_loop = loop;
    h->_metrics = opts->metrics;
    h->_gate_ms = opts->tls_gate_ms ? (uint64_t)opts->tls_gate_ms : XACCT_HTTP_DEFAULT_GATE_MS;
    h->_ramp_ms = opts->connection_ramp_ms ? (uint64_t)opts->connection_ramp_ms
                                           : XACCT_HTTP_DEFAULT_RAMP_MS;
    h->_trust = trust;
    trust = NULL;
    h->_user_agent = opts->user_agent ? xacct_strdup(opts->user_agent)
                                      : xacct_strdup("xacct/" XACCT_VERSION);
    h->_proxy_env = proxy_env_set();
    for (const char *const *e = opts->resolve; e != NULL && *e != NULL; e++) {
        struct curl_slist *l = curl_slist_append(h->_resolve, *e);
        if (l == NULL) {
            rc = XACCT_ENOMEM;
            goto out;
        }
        h->_resolve = l;
    }
    if ((h->_multi = curl_multi_init()) == NULL) {
        rc = XACCT_ENOMEM;
        goto out;
    }
    /* Each transfer has its own easy handle, and curl keeps TLS sessions per
     * easy handle unless they are shared: without this every new connection
     * (pool growth, a server's idle close) pays a full handshake with the
     * certificate chain parsed and verified again. One loop thread uses the
     * share, so it needs no lock callbacks. Certificate verification is
     * unchanged: a session is only offered to the host it was made with. */
    if ((h->_share = curl_share_init()) != NULL &&
        curl_share_setopt(h->_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK) {
        curl_share_cleanup(h->_share);
        h->_share = NULL;
    }
    long max_host = opts->max_host_connections ? opts->max_host_connections
                                               : XACCT_HTTP_DEFAULT_MAX_HOST;
    long max_total = opts->max_total_connections ? opts->max_total_connections
                                                 : XACCT_HTTP_DEFAULT_MAX_TOTAL;
    h->_max_host = max_host > (long)UINT_MAX ? UINT_MAX : (unsigned)max_host;
    if (curl_multi_setopt(h->_multi, CURLMOPT_SOCKETFUNCTION, socket_cb) != CURLM_OK ||
        curl_multi_setopt(h->_multi, CURLMOPT_SOCKETDATA, (void *)h) != CURLM_OK ||
        curl_multi_setopt(h->_multi, CURLMOPT_TIMERFUNCTION, timer_cb) != CURLM_OK ||
        curl_multi_setopt(h->_multi, CURLMOPT_TIMERDATA, (void *)h) != CURLM_OK ||
        curl_multi_setopt(h->_multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_host) != CURLM_OK ||
        curl_multi_setopt(h->_multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, max_total) != CURLM_OK ||
        curl_multi_setopt(h->_multi, CURLMOPT_MAXCONNECTS, max_total) != CURLM_OK) {
        rc = XACCT_EHTTP;
        goto out;
    }
    if (uv_timer_init(loop, &h->_timer) != 0 || uv_timer_init(loop, &h->_gate_timer) != 0) {
        rc = XACCT_EIO;
        goto out;
    }
    h->_timer.data = h->_gate_timer.data = h;
    h->_open_handles = 2;
    *out = h;
    h = NULL;
out:
    if (h != NULL) {
        /* The timer was never initialised on these paths. */
        if (h->_multi != NULL)
            curl_multi_cleanup(h->_multi);
        release(h);
        global = false;
    }
    if (global && rc != 0)
        curl_global_cleanup();
    X509_STORE_free(trust);
    return rc;
}

void xacct_http_free(xacct_http_t *h)
{
    if (h == NULL || h->_freeing)
        return;
    h->_freeing = true;
    h->_depth++;
    while (h->_reqs != NULL)
        xacct__http_finish(h->_reqs, XACCT_ECANCELED);
    h->_depth--;
    maybe_teardown(h);
}

int xacct_http_submit(xacct_http_t *h, const xacct_http_request_t *req, xacct_http_done_cb cb,
                      void *arg, xacct_http_req_t **handle)
{
    struct xacct_http_req *r = NULL;
    int rc;

    if (handle != NULL)
        *handle = NULL;
    if (h == NULL) {
        rc = XACCT_EINVAL;
        goto out;
    }
    if (h->_freeing) {
        rc = XACCT_ESHUTDOWN;
        goto out;
    }
    if ((rc = xacct__http_req_new(h, req, cb, arg, &r)) != 0)
        goto out;
    /* Adding only arms the timer: curl starts the transfer from the loop,
     * so the callback cannot fire before we return. */
    if ((rc = xacct__http_admit(h, r)) != 0)
        goto out;
    req_link(h, r);
    if (handle != NULL)
        *handle = r;
    r = NULL;
out:
    xacct__http_req_free(r);
    return rc;
}

void xacct_http_cancel(xacct_http_req_t *r)
{
    if (r == NULL || r->_done)
        return;
    xacct__http_finish(r, XACCT_ECANCELED);
}

size_t xacct_http_in_flight(const xacct_http_t *h)
{
    return h != NULL ? h->_nreqs : 0;
}
