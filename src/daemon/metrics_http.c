/* SPDX-License-Identifier: MIT */
/*
 * The metrics endpoint: libmicrohttpd in "external polling" mode glued to the
 * libuv loop. MHD keeps every socket in an epoll set of its own; the loop
 * watches that one epoll descriptor with a uv_poll_t and MHD's next deadline
 * with a uv_timer_t, and calls MHD_run() when either fires. MHD parses the
 * requests; this file only decides the answer (GET/HEAD through the route
 * callback, anything else 405) and manages the handles' lifetime.
 */
#include "xacct/metrics_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <microhttpd.h>

/* Connections served at once; further clients wait in the listen backlog. */
#define METRICS_HTTP_MAX_CONNS 32u
/* Seconds an idle (or slow) connection may stay open. */
#define METRICS_HTTP_IDLE_TIMEOUT 10u
/* Per-connection memory for request headers and response headers. */
#define METRICS_HTTP_CONN_MEMORY (16u * 1024u)
/* Hard cap on a response body the route may build. */
#define METRICS_HTTP_BODY_MAX (8u * 1024u * 1024u)

#define METRICS_HTTP_DEFAULT_TYPE "text/plain; charset=utf-8"

struct xacct_metrics_http {
    uv_poll_t _poll;                    /* readable when MHD's epoll set has events */
    uv_timer_t _timer;                  /* MHD's next deadline; stopped when it has none */
    struct MHD_Daemon *_mhd;            /* owns the listen socket and the epoll fd */
    xacct_metrics_http_route_fn _route; /* answers GET/HEAD */
    void *_route_arg;                   /* passed to _route */
    int _port;                          /* bound port */
    int _open_handles;                  /* handles whose close callback is pending */
    bool _closing;                      /* free() was called: touch no handle again */
    char _mhd_msg[256];                 /* MHD's last log line, for start-up errors */
};

static void set_err(char *err, size_t errlen, const char *fmt, ...) XACCT_PRINTF(3, 4);

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* --- the listen address ------------------------------------------------- */

/* Parses the decimal port after the last colon: 0..65535, digits only. */
static bool parse_port(const char *s, int *port)
{
    long v = 0;

    if (*s == '\0' || strlen(s) > 5)
        return false;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (*s - '0');
    }
    if (v > 65535)
        return false;
    *port = (int)v;
    return true;
}

/*
 * "host:port" into a socket address. Only literals (and "localhost") are
 * accepted: resolving a name would block the loop, and a metrics port bound
 * to whatever a resolver answered today is a surprise waiting to happen.
 */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, bool *v6, char *err,
                        size_t errlen)
{
    char host[INET6_ADDRSTRLEN + 16]; /* room for a %scope suffix */
    const char *colon;
    const char *h = listen;
    size_t hlen;
    int port;

    memset(ss, 0, sizeof(*ss));
    *v6 = false;
    colon = strrchr(listen, ':');
    if (colon == NULL) {
        set_err(err, errlen, "listen address \"%s\": expected host:port", listen);
        return XACCT_EINVAL;
    }
    if (!parse_port(colon + 1, &port)) {
        set_err(err, errlen, "listen address \"%s\": port must be a number from 0 to 65535",
                listen);
        return XACCT_EINVAL;
    }
    hlen = (size_t)(colon - listen);
    if (listen[0] == '[') {
        /* "[v6]:port": the bracket must close right before the port. */
        if (hlen < 2 || listen[hlen - 1] != ']') {
            set_err(err, errlen, "listen address \"%s\": unterminated [IPv6] literal", listen);
            return XACCT_EINVAL;
        }
        h = listen + 1;
        hlen -= 2;
        *v6 = true;
    }
    if (hlen == 0 || hlen >= sizeof(host)) {
        set_err(err, errlen, "listen address \"%s\": missing or overlong host", listen);
        return XACCT_EINVAL;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';

    if (*v6) {
        if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) != 0) {
            set_err(err, errlen, "listen address \"%s\": \"%s\" is not an IPv6 address", listen,
                    host);
            return XACCT_EINVAL;
        }
        return 0;
    }
    if (strcasecmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) != 0) {
        set_err(err, errlen,
                "listen address \"%s\": host must be an IPv4 address, [IPv6 address] or "
                "localhost",
                listen);
        return XACCT_EINVAL;
    }
    return 0;
}

/* --- answering requests ------------------------------------------------- */

/* Queues a response and drops our reference; MHD_NO closes the connection. */
static enum MHD_Result queue(struct MHD_Connection *conn, unsigned int status,
                             struct MHD_Response *resp, const char *content_type)
{
    enum MHD_Result ret = MHD_NO;

    if (resp == NULL)
        return MHD_NO;
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) != MHD_YES ||
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES)
        goto out;
    ret = MHD_queue_response(conn, status, resp);
out:
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result answer_not_allowed(struct MHD_Connection *conn)
{
    static const char body[] = "method not allowed\n";
    struct MHD_Response *resp;

    resp = MHD_create_response_from_buffer(sizeof(body) - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD") != MHD_YES) {
        MHD_destroy_response(resp);
        return MHD_NO;
    }
    return queue(conn, MHD_HTTP_METHOD_NOT_ALLOWED, resp, METRICS_HTTP_DEFAULT_TYPE);
}

/* Runs the route and answers with what it built. */
static enum MHD_Result answer_route(struct xacct_metrics_http *s, struct MHD_Connection *conn,
                                    const char *path)
{
    xacct_buf_t body;
    const char *content_type = NULL;
    struct MHD_Response *resp;
    size_t len;
    char *data;
    int status;

    xacct_buf_init(&body, METRICS_HTTP_BODY_MAX);
    status = s->_route(s->_route_arg, path, &body, &content_type);
    if (status < 200 || status > 599) {
        /* Not something we can put on a status line: the route is broken. */
        xacct_buf_reset(&body);
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        content_type = NULL;
    }
    if (content_type == NULL)
        content_type = METRICS_HTTP_DEFAULT_TYPE;
    len = body.len;
    data = xacct_buf_steal(&body);
    /* MHD frees data with the response (after the last byte is sent). */
    resp = MHD_create_response_from_buffer_with_free_callback(len, data, free);
    if (resp == NULL) {
        free(data);
        return MHD_NO;
    }
    return queue(conn, (unsigned int)status, resp, content_type);
}

/*
 * MHD_AccessHandlerCallback. MHD calls it once the headers are in and again
 * for each piece of a request body. We answer on that first call every time:
 * a response queued before the body is read makes MHD discard the body and
 * close the connection afterwards, which is what a 405 to a POST wants.
 */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    struct xacct_metrics_http *s = cls;

    /* A route that called free() is not called again, not even for another
     * request MHD handles in the same run: drop the connection instead. */
    if (s->_closing)
        return MHD_NO;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return answer_not_allowed(conn);
    /* url is the path alone: MHD has split off the query string. HEAD gets
     * the same response; MHD leaves the body out. */
    return answer_route(s, conn, url);
}

/* MHD_OPTION_EXTERNAL_LOGGER: keep the last line (start-up failures are
 * reported through it) and print nothing. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct xacct_metrics_http *s = cls;
    size_t n;

    vsnprintf(s->_mhd_msg, sizeof(s->_mhd_msg), fmt, ap);
    n = strlen(s->_mhd_msg);
    while (n > 0 && (s->_mhd_msg[n - 1] == '\n' || s->_mhd_msg[n - 1] == '\r'))
        s->_mhd_msg[--n] = '\0';
}

/* --- the loop glue ------------------------------------------------------ */

static void on_timer(uv_timer_t *timer);

/*
 * After every MHD_run: wake up when MHD next needs us. With no connections
 * MHD has no deadline and the timer stays off, so an idle endpoint costs no
 * wake-ups at all. A deadline of 0 means MHD has data it has already read
 * but not yet processed (its edge-triggered sockets will not fire again).
 */
static void rearm(struct xacct_metrics_http *s)
{
    MHD_UNSIGNED_LONG_LONG ms = 0;

    if (s->_closing)
        return;
    if (MHD_get_timeout(s->_mhd, &ms) == MHD_YES)
        uv_timer_start(&s->_timer, on_timer, (uint64_t)ms, 0);
    else
        uv_timer_stop(&s->_timer);
}

static unsigned int connections(struct xacct_metrics_http *s)
{
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(s->_mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return info != NULL ? info->num_connections : 0;
}

/*
 * Both callbacks come here. The route runs inside MHD_run and may call
 * free(): the daemon then stays alive until the close callbacks, after
 * MHD_run has returned, and nothing here touches a handle again.
 */
static void run_mhd(struct xacct_metrics_http *s)
{
    unsigned int before;

    if (s->_closing)
        return;
    before = connections(s);
    MHD_run(s->_mhd);
    /*
     * At the connection limit (or out of descriptors) MHD takes its listen
     * socket out of the epoll set, and puts it back only at the start of a
     * later MHD_run. When this run freed the slots and left no deadline,
     * no event would ever bring that run and the endpoint would stay deaf:
     * so after any run that closed connections, run once more.
     */
    if (!s->_closing && connections(s) < before)
        MHD_run(s->_mhd);
    rearm(s);
}

static void on_timer(uv_timer_t *timer)
{
    run_mhd(xacct_container_of(timer, struct xacct_metrics_http, _timer));
}

/* An error status (libuv has then stopped the handle) leaves nothing to do
 * but let MHD look; there is no other descriptor to fall back to. */
static void on_poll(uv_poll_t *poll, int status, int events)
{
    run_mhd(xacct_container_of(poll, struct xacct_metrics_http, _poll));
}

/* The last close callback stops MHD: only now may the epoll fd be closed. */
static void on_close(uv_handle_t *handle)
{
    struct xacct_metrics_http *s = handle->data;

    if (--s->_open_handles > 0)
        return;
    if (s->_mhd != NULL)
        MHD_stop_daemon(s->_mhd);
    free(s);
}

/* --- the public API ----------------------------------------------------- */

/* Starts MHD on the address; its error becomes err. */
static int start_daemon(struct xacct_metrics_http *s, const char *listen,
                        struct sockaddr_storage *ss, bool v6, char *err, size_t errlen)
{
    const union MHD_DaemonInfo *info;
    unsigned int flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    struct MHD_OptionItem limits[] = {
        {MHD_OPTION_CONNECTION_LIMIT, METRICS_HTTP_MAX_CONNS, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, METRICS_HTTP_IDLE_TIMEOUT, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, METRICS_HTTP_CONN_MEMORY, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    int saved;

    if (v6)
        flags |= MHD_USE_IPv6;
    errno = 0;
    /* The logger goes first so that no start-up message reaches stderr. No
     * MHD_USE_INTERNAL_POLLING_THREAD: MHD runs only inside MHD_run. */
    s->_mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
                               on_mhd_log, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)ss,
                               MHD_OPTION_ARRAY, limits, MHD_OPTION_END);
    saved = errno;
    if (s->_mhd == NULL) {
        /* MHD's own line ends with the reason ("Failed to bind to port 0:
         * Address already in use" — its port is 0 with MHD_OPTION_SOCK_ADDR,
         * so only the reason is kept); errno is the fallback. */
        const char *why = strrchr(s->_mhd_msg, ':');
        why = why != NULL ? why + 1 + strspn(why + 1, " ") : s->_mhd_msg;
        set_err(err, errlen, "cannot listen on %s: %s", listen,
                why[0] != '\0'  ? why
                : saved != 0     ? strerror(saved)
                                 : "libmicrohttpd failed to start");
        return XACCT_EIO;
    }
    info = MHD_get_daemon_info(s->_mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->_port = info != NULL ? (int)info->port : 0;
    return 0;
}

int xacct_metrics_http_new(uv_loop_t *loop, const char *listen, xacct_metrics_http_route_fn route,
                           void *arg, xacct_metrics_http_t **out, char *err, size_t errlen)
{
    struct xacct_metrics_http *s = NULL;
    const union MHD_DaemonInfo *info;
    struct sockaddr_storage ss;
    bool v6;
    int rc;

    *out = NULL;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (loop == NULL || listen == NULL || route == NULL) {
        set_err(err, errlen, "metrics_http: missing loop, address or route");
        return XACCT_EINVAL;
    }
    rc = parse_listen(listen, &ss, &v6, err, errlen);
    if (rc != 0)
        goto out;

    s = xacct_calloc(1, sizeof(*s));
    s->_route = route;
    s->_route_arg = arg;
    rc = start_daemon(s, listen, &ss, v6, err, errlen);
    if (rc != 0)
        goto out;

    info = MHD_get_daemon_info(s->_mhd, MHD_DAEMON_INFO_EPOLL_FD);
    if (info == NULL || info->epoll_fd < 0) {
        set_err(err, errlen, "cannot listen on %s: libmicrohttpd has no epoll descriptor", listen);
        rc = XACCT_EIO;
        goto out;
    }
    /* Initialise the poll handle first: it is the one that can fail, and
     * until a handle exists s can still be freed right here. */
    rc = uv_poll_init(loop, &s->_poll, info->epoll_fd);
    if (rc != 0) {
        set_err(err, errlen, "cannot listen on %s: uv_poll_init: %s", listen, uv_strerror(rc));
        rc = XACCT_EIO;
        goto out;
    }
    uv_timer_init(loop, &s->_timer);
    s->_poll.data = s;
    s->_timer.data = s;
    s->_open_handles = 2;
    rc = uv_poll_start(&s->_poll, UV_READABLE, on_poll);
    if (rc != 0) {
        set_err(err, errlen, "cannot listen on %s: uv_poll_start: %s", listen, uv_strerror(rc));
        /* The handles exist now: they are closed like on free. */
        xacct_metrics_http_free(s);
        s = NULL;
        rc = XACCT_EIO;
        goto out;
    }
    rearm(s);
    *out = s;
    s = NULL; /* now owned by the caller */
    rc = 0;
out:
    if (s != NULL) {
        if (s->_mhd != NULL)
            MHD_stop_daemon(s->_mhd);
        free(s);
    }
    return rc;
}

int xacct_metrics_http_port(const xacct_metrics_http_t *s)
{
    return s != NULL ? s->_port : 0;
}

void xacct_metrics_http_free(xacct_metrics_http_t *s)
{
    if (s == NULL || s->_closing)
        return;
    s->_closing = true;
    uv_poll_stop(&s->_poll);
    uv_timer_stop(&s->_timer);
    /* MHD_stop_daemon (which closes the epoll fd and every connection)
     * waits for on_close: libuv must not be polling a closed descriptor. */
    uv_close((uv_handle_t *)&s->_poll, on_close);
    uv_close((uv_handle_t *)&s->_timer, on_close);
}
