/* SPDX-License-Identifier: MIT */
/*
 * libmicrohttpd in "external polling" mode glued to the libuv loop, with
 * asynchronous answers. MHD keeps every socket in an epoll set of its own;
 * the loop watches that descriptor with a uv_poll_t and MHD's next deadline
 * with a uv_timer_t, and calls MHD_run() when either fires.
 *
 * A request whose handler does not answer at once is suspended
 * (MHD_suspend_connection); the answer resumes it and a zero timer runs MHD
 * again, which calls the access handler once more and queues the answer.
 * A request is freed when both MHD has finished with the connection and the
 * handler has answered: the handler's pointer stays valid even if the client
 * went away or the server is being freed.
 *
 * MHD's connection timeout only measures idleness, so a client that sends
 * one byte every few seconds (slowloris) would keep its slot for ever and a
 * few such clients would take every slot. Each connection therefore also has
 * a deadline for the phase it is in (reading a request, sending an answer);
 * the timer that drives MHD also fires at the earliest deadline, and a
 * connection past it is shut down, which MHD then sees as the client
 * leaving.
 */
#include "xacct/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "xacct/buf.h"
#include "xacct/hex.h"

/* Per-connection memory for request and response headers, beyond the
 * url_max and headers_max a server is given: MHD keeps the whole header
 * section in it, a record of each header and query argument, and builds
 * the answer's headers there. */
#define HTTPD_CONN_MEMORY (32u * 1024u)

/* What MHD takes from the same memory for each header line and query
 * argument it records (a struct of seven words, rounded to its 16-byte
 * alignment). A URL within url_max holds at most url_max / 2 arguments
 * ("a&a&…") and header fields within headers_max at most headers_max / 4
 * lines ("a:" and CRLF); without room for their records such a request
 * got no answer, or MHD's own HTML page, instead of being served or
 * refused in problem+json. The memory is only touched as it is used. */
#define HTTPD_RECORD_SIZE 64u

static size_t conn_memory(const xacct_httpd_options_t *o)
{
    size_t records = o->url_max / 2 + o->headers_max / 4;
    return HTTPD_CONN_MEMORY + o->url_max + o->headers_max + records * HTTPD_RECORD_SIZE;
}

typedef struct httpd_conn httpd_conn_t;

struct xacct_httpd_req {
    xacct_httpd_t *_server;         /* NULL once the server is gone */
    struct MHD_Connection *_conn;   /* NULL once MHD has finished with it */
    const char *_method;            /* MHD's, valid while _conn is */
    const char *_path;              /* MHD's, valid while _conn is */
    bool _http10;                   /* an HTTP/1.0 request (no Host required) */
    size_t _url_len;                /* of the request-target as sent */
    xacct_buf_t _body;              /* up to body_max bytes */
    bool _too_large;                /* more body than body_max arrived */
    bool _dispatched;               /* the handler was called */
    bool _answered;                 /* xacct_httpd_respond was called */
    bool _suspended;                /* MHD_suspend_connection is in force */
    struct MHD_Response *_resp;     /* the answer, until queued */
    unsigned _status;               /* its status */
    xacct_httpd_req_t *_next;       /* the server's list of suspended requests */
    xacct_httpd_req_t *_prev;
};

/* One TCP connection (MHD's socket context), for its deadline. */
struct httpd_conn {
    struct MHD_Connection *_mhd;
    xacct_httpd_req_t *_req;        /* its request, until MHD has completed it */
    uint64_t _since;                /* loop time (ms) its current phase began */
    size_t _url_len;                /* its latest request-target's, as sent */
    bool _cut;                      /* shut down for missing its deadline */
    httpd_conn_t *_next;            /* the server's list of connections */
    httpd_conn_t *_prev;
};

struct xacct_httpd {
    uv_poll_t _poll;                /* readable when MHD's epoll set has events */
    uv_timer_t _timer;              /* MHD's next deadline, or 0 after a resume */
    struct MHD_Daemon *_mhd;        /* owns the listen socket and the epoll fd */
    xacct_httpd_options_t _opt;     /* handler, limits (listen is not kept) */
    xacct_httpd_req_t *_suspended;  /* requests waiting for their handler */
    httpd_conn_t *_conns;           /* open connections */
    uint64_t _deadline_ms;          /* per phase of a connection */
    int _port;                      /* bound port */
    int _open_handles;              /* handles whose close callback is pending */
    bool _closing;                  /* free() was called: touch no handle again */
    bool _in_run;                   /* inside MHD_run */
    char _mhd_msg[256];             /* MHD's last log line, for start-up errors */
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
 * Only literals (and "localhost") are accepted: resolving a name would block
 * the loop, and a port bound to whatever a resolver answered today is a
 * surprise waiting to happen.
 */
int xacct_httpd_parse_listen(const char *listen, struct sockaddr_storage *ss, bool *v6, char *err,
                             size_t errlen)
{
    char host[INET6_ADDRSTRLEN + 16]; /* room for a %scope suffix */
    const char *h = listen;
    int port;

    memset(ss, 0, sizeof(*ss));
    *v6 = false;
    const char *colon = strrchr(listen, ':');
    if (colon == NULL) {
        set_err(err, errlen, "listen address \"%s\": expected host:port", listen);
        return XACCT_EINVAL;
    }
    if (!parse_port(colon + 1, &port)) {
        set_err(err, errlen, "listen address \"%s\": port must be a number from 0 to 65535",
                listen);
        return XACCT_EINVAL;
    }
    size_t hlen = (size_t)(colon - listen);
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

/* --- connections and their deadlines ----------------------------------- */

static uint64_t loop_now(const xacct_httpd_t *s)
{
    return uv_now(s->_timer.loop);
}

static httpd_conn_t *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info != NULL ? info->socket_context : NULL;
}

/* MHD_OPTION_NOTIFY_CONNECTION: a connection was accepted or closed. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    xacct_httpd_t *s = cls;
    httpd_conn_t *c = *socket_context;

    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        c = xacct_calloc(1, sizeof(*c));
        c->_mhd = conn;
        c->_since = loop_now(s);
        c->_next = s->_conns;
        if (s->_conns != NULL)
            s->_conns->_prev = c;
        s->_conns = c;
        *socket_context = c;
        return;
    }
    if (c == NULL)
        return;
    if (c->_prev != NULL)
        c->_prev->_next = c->_next;
    else
        s->_conns = c->_next;
    if (c->_next != NULL)
        c->_next->_prev = c->_prev;
    *socket_context = NULL;
    free(c);
}

/*
 * Milliseconds until the earliest deadline of a connection (UINT64_MAX when
 * none runs: no connection, or each one waits for its handler). With cut,
 * connections already past theirs are shut down first; the next MHD_run
 * reads their end of stream and closes them.
 */
static uint64_t deadlines(xacct_httpd_t *s, bool cut)
{
    uint64_t now = loop_now(s), next = UINT64_MAX;
    for (httpd_conn_t *c = s->_conns; c != NULL; c = c->_next) {
        const xacct_httpd_req_t *r = c->_req;
        if (c->_cut || (r != NULL && r->_dispatched && !r->_answered))
            continue; /* the handler's time is not the client's */
        uint64_t due = c->_since + s->_deadline_ms;
        if (due > now) {
            next = due - now < next ? due - now : next;
        } else if (!cut) {
            next = 0;
        } else {
            const union MHD_ConnectionInfo *info =
                MHD_get_connection_info(c->_mhd, MHD_CONNECTION_INFO_CONNECTION_FD);
            if (info != NULL)
                (void)shutdown(info->connect_fd, SHUT_RDWR);
            c->_cut = true;
        }
    }
    return next;
}

/* MHD_OPTION_URI_LOG_CALLBACK: the request-target before MHD splits off the
 * query and decodes it, the length a URL limit is about. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    httpd_conn_t *c = conn_of(conn);
    if (c != NULL)
        c->_url_len = uri != NULL ? strlen(uri) : 0;
    return NULL; /* the access handler's *req_cls stays NULL */
}

/* --- requests ----------------------------------------------------------- */

static void req_free_if_done(xacct_httpd_req_t *req)
{
    if (req->_conn != NULL || !req->_answered)
        return;
    if (req->_resp != NULL)
        MHD_destroy_response(req->_resp);
    xacct_buf_destroy(&req->_body);
    free(req);
}

static void unlink_suspended(xacct_httpd_req_t *req)
{
    xacct_httpd_t *s = req->_server;
    if (!req->_suspended)
        return;
    req->_suspended = false;
    if (req->_prev != NULL)
        req->_prev->_next = req->_next;
    else if (s != NULL)
        s->_suspended = req->_next;
    if (req->_next != NULL)
        req->_next->_prev = req->_prev;
    req->_next = req->_prev = NULL;
}

const char *xacct_httpd_req_method(const xacct_httpd_req_t *req)
{
    return req->_method;
}

const char *xacct_httpd_req_path(const xacct_httpd_req_t *req)
{
    return req->_path;
}

const char *xacct_httpd_req_header(const xacct_httpd_req_t *req, const char *name)
{
    return req->_conn != NULL ? MHD_lookup_connection_value(req->_conn, MHD_HEADER_KIND, name)
                              : NULL;
}

const char *xacct_httpd_req_arg(const xacct_httpd_req_t *req, const char *name)
{
    return req->_conn != NULL
               ? MHD_lookup_connection_value(req->_conn, MHD_GET_ARGUMENT_KIND, name)
               : NULL;
}

typedef struct count_arg {
    const char *name;
    bool arg;
    size_t n;
} count_arg_t;

static enum MHD_Result count_one(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    (void)kind;
    (void)value;
    count_arg_t *c = cls;
    if (key != NULL && (c->arg ? strcmp(key, c->name) : strcasecmp(key, c->name)) == 0)
        c->n++;
    return MHD_YES;
}

size_t xacct_httpd_req_count(const xacct_httpd_req_t *req, bool arg, const char *name)
{
    count_arg_t c = {.name = name, .arg = arg};
    if (req->_conn != NULL)
        (void)MHD_get_connection_values(req->_conn,
                                        arg ? MHD_GET_ARGUMENT_KIND : MHD_HEADER_KIND,
                                        count_one, &c);
    return c.n;
}

const char *xacct_httpd_req_body(const xacct_httpd_req_t *req, size_t *len)
{
    *len = req->_body.len;
    return req->_body.data != NULL ? req->_body.data : "";
}

bool xacct_httpd_req_body_too_large(const xacct_httpd_req_t *req)
{
    return req->_too_large;
}

static enum MHD_Result add_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                 size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    (void)key;
    (void)value;
    *(size_t *)cls += key_size + value_size + 4; /* ": " and CRLF */
    return MHD_YES;
}

unsigned xacct_httpd_req_oversize(const xacct_httpd_req_t *req)
{
    const xacct_httpd_t *s = req->_server;
    if (s == NULL || req->_conn == NULL)
        return 0;
    if (s->_opt.url_max > 0 && req->_url_len > s->_opt.url_max)
        return 414;
    if (s->_opt.headers_max == 0)
        return 0;
    size_t fields = 0;
    (void)MHD_get_connection_values_n(req->_conn, MHD_HEADER_KIND, add_field, &fields);
    return fields > s->_opt.headers_max ? 431 : 0;
}

/* RFC 9110 5.6.2: a field name is a token. */
static bool is_token(const char *s)
{
    static const char *const extra = "!#$%&'*+-.^_`|~";
    if (s == NULL || s[0] == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (!(((unsigned)*s | 0x20) - 'a' < 26 || (unsigned)*s - '0' < 10 || strchr(extra, *s)))
            return false;
    return true;
}

static enum MHD_Result check_name(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    (void)value;
    if (is_token(key))
        return MHD_YES;
    *(bool *)cls = true;
    return MHD_NO;
}

const char *xacct_httpd_req_framing(const xacct_httpd_req_t *req)
{
    bool bad_name = false;
    if (req->_conn != NULL)
        (void)MHD_get_connection_values(req->_conn, MHD_HEADER_KIND, check_name, &bad_name);
    /* RFC 9112 5.1: "Host : x" is refused, not read as another field a
     * proxy may have ignored or trimmed. */
    if (bad_name)
        return "a header field name that is not a token (whitespace before the colon?)";
    size_t hosts = xacct_httpd_req_count(req, false, "Host");
    if (hosts == 0 && !req->_http10)
        return "no Host header (RFC 9112 3.2)";
    if (hosts > 1)
        return "more than one Host header";
    if (xacct_httpd_req_count(req, false, "Content-Length") > 1)
        return "more than one Content-Length header";
    /* MHD reads the first; a proxy reads them as one list, which does not
     * end in chunked when the first is chunked alone. */
    if (xacct_httpd_req_count(req, false, "Transfer-Encoding") > 1)
        return "more than one Transfer-Encoding header";
    if (xacct_httpd_req_header(req, "Transfer-Encoding") != NULL &&
        xacct_httpd_req_header(req, "Content-Length") != NULL)
        return "both Transfer-Encoding and Content-Length";
    return NULL;
}

static void on_timer(uv_timer_t *timer);

void xacct_httpd_respond(xacct_httpd_req_t *req, unsigned status, const char *content_type,
                         const char *const *headers, const char *body, size_t len)
{
    if (req->_answered)
        return;
    req->_answered = true;
    xacct_httpd_t *s = req->_server;
    if (req->_conn != NULL && s != NULL && !s->_closing) {
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(len, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
        if (resp != NULL) {
            MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                    content_type ? content_type : "text/plain; charset=utf-8");
            MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
            for (size_t i = 0; headers != NULL && headers[i] != NULL && headers[i + 1] != NULL;
                 i += 2)
                MHD_add_response_header(resp, headers[i], headers[i + 1]);
        }
        req->_resp = resp;
        req->_status = status < 100 || status > 599 ? 500 : status;
        httpd_conn_t *c = conn_of(req->_conn);
        if (c != NULL)
            c->_since = loop_now(s); /* the answer has its own deadline */
        if (req->_suspended) {
            unlink_suspended(req);
            MHD_resume_connection(req->_conn);
            /* MHD calls the access handler again on its next run. */
            if (!s->_in_run)
                uv_timer_start(&s->_timer, on_timer, 0, 0);
        }
        return;
    }
    req_free_if_done(req);
}

/* Queues the answer the handler gave; MHD_NO (close) when it could not be
 * built. */
static enum MHD_Result queue_answer(xacct_httpd_req_t *req)
{
    if (req->_resp == NULL)
        return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(req->_conn, req->_status, req->_resp);
    MHD_destroy_response(req->_resp);
    req->_resp = NULL;
    return ret;
}

/*
 * Whether the request announces a body, and the length it declares
 * (UINT64_MAX: none declared, as with Transfer-Encoding, which MHD lets take
 * precedence over Content-Length). MHD has already refused a Content-Length
 * that is not a number.
 */
static bool body_announced(struct MHD_Connection *conn, uint64_t *declared)
{
    *declared = UINT64_MAX;
    if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING) !=
        NULL)
        return true;
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl == NULL)
        return false;
    uint64_t v = 0;
    for (; *cl >= '0' && *cl <= '9'; cl++)
        v = v > (UINT64_MAX - 9) / 10 ? UINT64_MAX : v * 10 + (uint64_t)(*cl - '0');
    *declared = v;
    return v > 0;
}

/*
 * MHD_AccessHandlerCallback: once when the headers are in, once for each
 * piece of body, once more at the end, and again after a resume.
 */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    xacct_httpd_t *s = cls;
    xacct_httpd_req_t *req = *req_cls;

    if (s->_closing)
        return MHD_NO;
    if (req == NULL) {
        req = xacct_calloc(1, sizeof(*req));
        req->_server = s;
        req->_conn = conn;
        req->_method = method;
        req->_path = url;
        req->_http10 = version != NULL && strcmp(version, MHD_HTTP_VERSION_1_0) == 0;
        xacct_buf_init(&req->_body, s->_opt.body_max > 0 ? s->_opt.body_max : 1);
        *req_cls = req;
        httpd_conn_t *c = conn_of(conn);
        if (c != NULL) {
            c->_req = req;
            req->_url_len = c->_url_len;
        }
        /* Without a body to wait for, answer on the headers: a response
         * queued now makes MHD discard any body unread. */
        if (s->_opt.body_max > 0) {
            uint64_t declared;
            bool body = body_announced(conn, &declared);
            req->_too_large = declared != UINT64_MAX && declared > s->_opt.body_max;
            /* A refusal the headers already decide is given before MHD
             * sends "100 Continue" or reads a byte of the body. */
            if (body && s->_opt.on_headers != NULL) {
                s->_opt.on_headers(s->_opt.arg, req);
                if (req->_answered) {
                    req->_dispatched = true;
                    return queue_answer(req);
                }
            }
            return MHD_YES;
        }
    } else if (*upload_data_size > 0) {
        if (s->_opt.body_max > 0 && !req->_too_large &&
            xacct_buf_append(&req->_body, upload_data, *upload_data_size) != 0)
            req->_too_large = true;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->_answered)
        return queue_answer(req);
    if (!req->_dispatched) {
        req->_dispatched = true;
        s->_opt.handler(s->_opt.arg, req);
        if (req->_answered)
            return queue_answer(req);
    }
    /* Not answered yet: park the connection until the handler answers. */
    if (!req->_suspended) {
        req->_suspended = true;
        req->_next = s->_suspended;
        if (s->_suspended != NULL)
            s->_suspended->_prev = req;
        s->_suspended = req;
        MHD_suspend_connection(conn);
    }
    return MHD_YES;
}

/* MHD_OPTION_NOTIFY_COMPLETED: MHD is done with the connection's request. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    xacct_httpd_t *s = cls;
    xacct_httpd_req_t *req = *req_cls;
    httpd_conn_t *c = conn_of(conn);
    if (c != NULL) {
        /* The next request on a kept-alive connection starts its clock. */
        c->_req = NULL;
        c->_since = loop_now(s);
    }
    if (req == NULL)
        return;
    *req_cls = NULL;
    unlink_suspended(req);
    req->_conn = NULL;
    req->_method = req->_path = NULL;
    /* A request MHD read but never dispatched (the client left early) needs
     * no answer. */
    if (!req->_dispatched)
        req->_answered = true;
    req_free_if_done(req);
}

/*
 * MHD_OPTION_UNESCAPE_CALLBACK: MHD decodes the path before it is routed,
 * and each query argument. A decoded "/" would split a path segment the
 * client sent as one ("123456789012%2Fevents" routed to .../events) and a
 * decoded NUL would cut the string short, leaving whatever followed it
 * unseen; both stay escaped, so such a segment or argument is refused as
 * malformed (RFC 3986 2.2: an escaped delimiter is data). Returns the new
 * length.
 */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    char *w = s;
    for (const char *r = s; *r != '\0';) {
        int hi = r[0] == '%' ? xacct_hex_digit(r[1]) : -1;
        int lo = hi >= 0 ? xacct_hex_digit(r[2]) : -1;
        int c = hi * 16 + lo;
        if (lo >= 0 && c != 0 && c != '/') {
            *w++ = (char)c;
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    xacct_httpd_t *s = cls;
    vsnprintf(s->_mhd_msg, sizeof(s->_mhd_msg), fmt, ap);
    size_t n = strlen(s->_mhd_msg);
    while (n > 0 && (s->_mhd_msg[n - 1] == '\n' || s->_mhd_msg[n - 1] == '\r'))
        s->_mhd_msg[--n] = '\0';
}

/* --- the loop glue ------------------------------------------------------ */

static void rearm(xacct_httpd_t *s)
{
    MHD_UNSIGNED_LONG_LONG ms = 0;
    if (s->_closing)
        return;
    uint64_t next = deadlines(s, false);
    if (MHD_get_timeout(s->_mhd, &ms) == MHD_YES && (uint64_t)ms < next)
        next = (uint64_t)ms;
    if (next != UINT64_MAX)
        uv_timer_start(&s->_timer, on_timer, next, 0);
    else
        uv_timer_stop(&s->_timer);
}

static unsigned int connections(xacct_httpd_t *s)
{
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(s->_mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return info != NULL ? info->num_connections : 0;
}

static void run_mhd(xacct_httpd_t *s)
{
    if (s->_closing)
        return;
    unsigned int before = connections(s);
    s->_in_run = true;
    MHD_run(s->_mhd);
    /* After a run that closed connections at the limit MHD re-adds its
     * listen socket only at the start of the next run. */
    if (!s->_closing && connections(s) < before)
        MHD_run(s->_mhd);
    s->_in_run = false;
    rearm(s);
}

static void on_timer(uv_timer_t *timer)
{
    xacct_httpd_t *s = xacct_container_of(timer, xacct_httpd_t, _timer);
    if (!s->_closing)
        (void)deadlines(s, true);
    run_mhd(s);
}

static void on_poll(uv_poll_t *poll, int status, int events)
{
    run_mhd(xacct_container_of(poll, xacct_httpd_t, _poll));
}

static void on_close(uv_handle_t *handle)
{
    xacct_httpd_t *s = handle->data;
    if (--s->_open_handles > 0)
        return;
    /* Suspended connections must be resumed before MHD stops; their
     * requests are then completed (and freed once answered). */
    for (xacct_httpd_req_t *r = s->_suspended; r != NULL;) {
        xacct_httpd_req_t *next = r->_next;
        r->_suspended = false;
        r->_next = r->_prev = NULL;
        r->_server = NULL;
        MHD_resume_connection(r->_conn);
        r = next;
    }
    s->_suspended = NULL;
    if (s->_mhd != NULL)
        MHD_stop_daemon(s->_mhd);
    free(s);
}

/* --- the public API ----------------------------------------------------- */

static int start_daemon(xacct_httpd_t *s, const char *listen, struct sockaddr_storage *ss, bool v6,
                        char *err, size_t errlen)
{
    unsigned int flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    struct MHD_OptionItem limits[] = {
        {MHD_OPTION_CONNECTION_LIMIT, s->_opt.max_connections ? s->_opt.max_connections : 32,
         NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, s->_opt.idle_timeout_s ? s->_opt.idle_timeout_s : 10,
         NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT,
         (intptr_t)conn_memory(&s->_opt), NULL},
        /* Not MHD's strict mode: its own 400 for a request without Host
         * is an HTML page (sent with its status line twice by 0.9.75);
         * xacct_httpd_req_framing refuses that request in problem+json. */
        {s->_opt.share_port ? MHD_OPTION_LISTENING_ADDRESS_REUSE : MHD_OPTION_END,
         s->_opt.share_port ? 1 : 0, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    if (v6)
        flags |= MHD_USE_IPv6;
    errno = 0;
    s->_mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
                               on_mhd_log, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                               MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                               MHD_OPTION_UNESCAPE_CALLBACK, unescape, s,
                               MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
                               MHD_OPTION_SOCK_ADDR, (struct sockaddr *)ss, MHD_OPTION_ARRAY,
                               limits, MHD_OPTION_END);
    int saved = errno;
    if (s->_mhd == NULL) {
        const char *why = strrchr(s->_mhd_msg, ':');
        why = why != NULL ? why + 1 + strspn(why + 1, " ") : s->_mhd_msg;
        set_err(err, errlen, "cannot listen on %s: %s", listen,
                why[0] != '\0' ? why
                : saved != 0   ? strerror(saved)
                               : "libmicrohttpd failed to start");
        return XACCT_EIO;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->_mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->_port = info != NULL ? (int)info->port : 0;
    return 0;
}

int xacct_httpd_new(uv_loop_t *loop, const xacct_httpd_options_t *opt, xacct_httpd_t **out,
                    char *err, size_t errlen)
{
    xacct_httpd_t *s = NULL;
    struct sockaddr_storage ss;
    bool v6;
    int rc;

    *out = NULL;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (loop == NULL || opt == NULL || opt->listen == NULL || opt->handler == NULL) {
        set_err(err, errlen, "httpd: missing loop, address or handler");
        return XACCT_EINVAL;
    }
    rc = xacct_httpd_parse_listen(opt->listen, &ss, &v6, err, errlen);
    if (rc != 0)
        return rc;
    s = xacct_calloc(1, sizeof(*s));
    s->_opt = *opt;
    s->_opt.listen = NULL;
    s->_deadline_ms = 1000u * (uint64_t)(opt->request_timeout_s   ? opt->request_timeout_s
                                         : opt->idle_timeout_s ? opt->idle_timeout_s
                                                               : 10);
    rc = start_daemon(s, opt->listen, &ss, v6, err, errlen);
    if (rc != 0)
        goto out;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->_mhd, MHD_DAEMON_INFO_EPOLL_FD);
    if (info == NULL || info->epoll_fd < 0) {
        set_err(err, errlen, "cannot listen on %s: libmicrohttpd has no epoll descriptor",
                opt->listen);
        rc = XACCT_EIO;
        goto out;
    }
    rc = uv_poll_init(loop, &s->_poll, info->epoll_fd);
    if (rc != 0) {
        set_err(err, errlen, "cannot listen on %s: uv_poll_init: %s", opt->listen,
                uv_strerror(rc));
        rc = XACCT_EIO;
        goto out;
    }
    uv_timer_init(loop, &s->_timer);
    s->_poll.data = s;
    s->_timer.data = s;
    s->_open_handles = 2;
    rc = uv_poll_start(&s->_poll, UV_READABLE, on_poll);
    if (rc != 0) {
        set_err(err, errlen, "cannot listen on %s: uv_poll_start: %s", opt->listen,
                uv_strerror(rc));
        xacct_httpd_free(s);
        s = NULL;
        rc = XACCT_EIO;
        goto out;
    }
    rearm(s);
    *out = s;
    s = NULL;
    rc = 0;
out:
    if (s != NULL) {
        if (s->_mhd != NULL)
            MHD_stop_daemon(s->_mhd);
        free(s);
    }
    return rc;
}

int xacct_httpd_port(const xacct_httpd_t *s)
{
    return s != NULL ? s->_port : 0;
}

void xacct_httpd_free(xacct_httpd_t *s)
{
    if (s == NULL || s->_closing)
        return;
    s->_closing = true;
    /* Handlers still working keep their requests; their answers go nowhere. */
    for (xacct_httpd_req_t *r = s->_suspended; r != NULL; r = r->_next)
        r->_server = NULL;
    uv_poll_stop(&s->_poll);
    uv_timer_stop(&s->_timer);
    uv_close((uv_handle_t *)&s->_poll, on_close);
    uv_close((uv_handle_t *)&s->_timer, on_close);
}
