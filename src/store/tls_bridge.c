/* SPDX-License-Identifier: MIT */
/*
 * TLS between hiredis and the Redis server. hiredis 0.14 writes plain RESP
 * to a Unix socket that only this process can reach (a fresh 0700 directory,
 * removed as soon as hiredis is connected); this file pumps those bytes
 * through an OpenSSL memory-BIO session over a libuv TCP handle, and the
 * server's bytes back. Verification is always on: the chain must end at the
 * configured CA (or the system trust store), and the certificate must name
 * the host we dialled.
 */
#include "xacct/tls_bridge.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdarg.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Stop reading one side while this much waits to be written to the other. */
#define MAX_PENDING_WRITE (4u * 1024u * 1024u)
#define CHUNK 16384

typedef enum phase {
    PH_RESOLVING = 0, /* uv_getaddrinfo running */
    PH_CONNECTING,    /* TCP connect to one of the addresses */
    PH_HANDSHAKE,     /* TLS handshake */
    PH_LISTENING,     /* waiting for hiredis on the Unix socket */
    PH_PUMPING,       /* both sides up */
    PH_DONE,          /* failed or ended; waiting to be freed */
} phase_t;

struct xacct_tls_bridge {
    uv_loop_t *_loop;                 /* borrowed */
    const xacct_tls_config_t *_cfg;   /* borrowed */
    char *_host;                      /* owned */
    int _port;
    phase_t _phase;
    int _refs;                        /* open handles + pending requests */
    int _closing;                     /* xacct_tls_bridge_free was called */
    int _in_cb;                       /* inside ready_cb */
    xacct_tls_bridge_ready_cb _ready_cb; /* fires once; NULL afterwards */
    void *_arg;

    uv_getaddrinfo_t _gai;            /* name lookup */
    int _gai_pending;                 /* its callback has not run yet */
    struct addrinfo *_ai;             /* its result (owned), */
    struct addrinfo *_ai_next;        /* and the next address to try */
    uv_tcp_t _tcp;                    /* to the server */
    int _tcp_open;                    /* _tcp initialised and not closed */
    uv_connect_t _connect;            /* TCP connect request */
    uv_pipe_t _listener;              /* one-shot Unix listener */
    int _listener_open;
    uv_pipe_t _client;                /* hiredis' end, accepted */
    int _client_open;
    int _tcp_paused, _client_paused;  /* reading stopped for back-pressure */
    int _got_data;                    /* the server has sent application data */

    SSL *_ssl;                        /* the session (owned) */
    BIO *_rbio, *_wbio;               /* memory BIOs owned by _ssl */

    char _dir[96];                    /* the private socket directory */
    char _path[108];                  /* the socket inside it */
    char _err[320];                   /* why the bridge ended, or "" */
};

typedef struct wreq {
    uv_write_t req;
    xacct_tls_bridge_t *b;
    char data[];
} wreq_t;

static void maybe_release(xacct_tls_bridge_t *b);
static void shut(xacct_tls_bridge_t *b);
static void try_connect(xacct_tls_bridge_t *b);
static void retry_closed(uv_handle_t *h);

/* ------------------------------------------------------------------ */
/* Plumbing                                                             */

static void fire_ready(xacct_tls_bridge_t *b, int status, const char *detail, const char *path)
{
    xacct_tls_bridge_ready_cb cb = b->_ready_cb;
    b->_ready_cb = NULL;
    if (cb == NULL || b->_closing)
        return;
    b->_in_cb++;
    cb(status, detail, path, b->_arg);
    b->_in_cb--;
    if (b->_closing && b->_in_cb == 0) {
        shut(b);
        maybe_release(b);
    }
}

/* Ends the bridge before or after ready: closes everything but stays
 * allocated until freed. */
static void fail(xacct_tls_bridge_t *b, int status, const char *fmt, ...) XACCT_PRINTF(3, 4);
static void fail(xacct_tls_bridge_t *b, int status, const char *fmt, ...)
{
    if (b->_phase == PH_DONE)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->_err, sizeof(b->_err), fmt, ap);
    va_end(ap);
    b->_phase = PH_DONE;
    shut(b);
    fire_ready(b, status, b->_err, NULL);
}

static void handle_closed(uv_handle_t *h)
{
    xacct_tls_bridge_t *b = h->data;
    b->_refs--;
    maybe_release(b);
}

static void close_handle(xacct_tls_bridge_t *b, uv_handle_t *h, int *open)
{
    if (!*open)
        return;
    *open = 0;
    h->data = b;
    uv_close(h, handle_closed);
}

static void remove_socket(xacct_tls_bridge_t *b)
{
    if (b->_path[0]) {
        unlink(b->_path);
        b->_path[0] = '\0';
    }
    if (b->_dir[0]) {
        rmdir(b->_dir);
        b->_dir[0] = '\0';
    }
}

/* Closes every handle (idempotent). */
static void shut(xacct_tls_bridge_t *b)
{
    if (b->_in_cb > 0)
        return; /* fire_ready calls again once the callback has returned */
    if (b->_gai_pending)
        uv_cancel((uv_req_t *)&b->_gai);
    close_handle(b, (uv_handle_t *)&b->_tcp, &b->_tcp_open);
    close_handle(b, (uv_handle_t *)&b->_listener, &b->_listener_open);
    close_handle(b, (uv_handle_t *)&b->_client, &b->_client_open);
    remove_socket(b);
}

static void maybe_release(xacct_tls_bridge_t *b)
{
    if (!b->_closing || b->_refs > 0 || b->_in_cb > 0)
        return;
    if (b->_ai != NULL)
        uv_freeaddrinfo(b->_ai);
    SSL_free(b->_ssl);
    free(b->_host);
    free(b);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    XACCT_UNUSED(h);
    XACCT_UNUSED(suggested);
    buf->base = xacct_malloc(CHUNK);
    buf->len = CHUNK;
}

static void on_tcp_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);
static void on_client_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

static void write_done(uv_write_t *req, int status)
{
    wreq_t *w = xacct_container_of(req, wreq_t, req);
    xacct_tls_bridge_t *b = w->b;
    XACCT_UNUSED(status); /* a failed write shows up as a read error too */
    free(w);
    b->_refs--;
    if (b->_phase == PH_PUMPING && !b->_closing) {
        /* Resume a side that was paused for back-pressure. */
        if (b->_tcp_paused && b->_client_open &&
            b->_client.write_queue_size < MAX_PENDING_WRITE / 2) {
            b->_tcp_paused = 0;
            uv_read_start((uv_stream_t *)&b->_tcp, alloc_cb, on_tcp_read);
        }
        if (b->_client_paused && b->_tcp_open &&
            b->_tcp.write_queue_size < MAX_PENDING_WRITE / 2) {
            b->_client_paused = 0;
            uv_read_start((uv_stream_t *)&b->_client, alloc_cb, on_client_read);
        }
    }
    maybe_release(b);
}

static int write_to(xacct_tls_bridge_t *b, uv_stream_t *st, const char *p, size_t n)
{
    wreq_t *w = xacct_malloc(sizeof(*w) + n);
    w->b = b;
    memcpy(w->data, p, n);
    uv_buf_t buf = uv_buf_init(w->data, (unsigned)n);
    int rc = uv_write(&w->req, st, &buf, 1, write_done);
    if (rc != 0) {
        free(w);
        return rc;
    }
    b->_refs++;
    return 0;
}

/* Sends whatever OpenSSL has produced to the server. */
static int flush_tls(xacct_tls_bridge_t *b)
{
    char tmp[CHUNK];
    while (BIO_ctrl_pending(b->_wbio) > 0) {
        int n = BIO_read(b->_wbio, tmp, sizeof(tmp));
        if (n <= 0)
            break;
        if (!b->_tcp_open || write_to(b, (uv_stream_t *)&b->_tcp, tmp, (size_t)n) != 0)
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Pumping                                                              */

/* Server -> hiredis: decrypts what has arrived. */
static void pump_from_tls(xacct_tls_bridge_t *b)
{
    char tmp[CHUNK];
    for (;;) {
        int n = SSL_read(b->_ssl, tmp, sizeof(tmp));
        if (n > 0) {
            b->_got_data = 1;
            if (!b->_client_open ||
                write_to(b, (uv_stream_t *)&b->_client, tmp, (size_t)n) != 0) {
                fail(b, XACCT_EDISCONNECTED, "Redis at %s:%d: local socket closed", b->_host,
                     b->_port);
                return;
            }
            continue;
        }
        int e = SSL_get_error(b->_ssl, n);
        if (flush_tls(b) != 0) { /* e.g. a key update answer */
            fail(b, XACCT_EDISCONNECTED, "Redis at %s:%d: TLS write failed", b->_host, b->_port);
            return;
        }
        if (e == SSL_ERROR_WANT_READ)
            break;
        if (e == SSL_ERROR_ZERO_RETURN) {
            fail(b, XACCT_EDISCONNECTED, "Redis at %s:%d: server closed the TLS session",
                 b->_host, b->_port);
            return;
        }
        char why[160];
        xacct__tls_reason(why, sizeof(why));
        fail(b, XACCT_EDISCONNECTED, "Redis at %s:%d: TLS error: %s", b->_host, b->_port, why);
        return;
    }
    if (b->_client_open && !b->_tcp_paused && b->_client.write_queue_size > MAX_PENDING_WRITE) {
        b->_tcp_paused = 1;
        uv_read_stop((uv_stream_t *)&b->_tcp);
    }
}

/* hiredis -> server: encrypts a command stream chunk. */
static void on_client_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    xacct_tls_bridge_t *b = st->data;
    if (nread < 0) {
        /* hiredis closed its end: say goodbye to the server. */
        free(buf->base);
        if (b->_phase == PH_PUMPING) {
            SSL_shutdown(b->_ssl);
            (void)flush_tls(b);
        }
        fail(b, XACCT_EDISCONNECTED, "Redis at %s:%d: closed", b->_host, b->_port);
        return;
    }
    if (nread > 0 && b->_phase == PH_PUMPING) {
        int n = SSL_write(b->_ssl, buf->base, (int)nread);
        OPENSSL_cleanse(buf->base, (size_t)nread); /* AUTH carries the password */
        if (n != (int)nread || flush_tls(b) != 0) {
            free(buf->base);
            fail(b, XACCT_EDISCONNECTED, "Redis at %s:%d: TLS write failed", b->_host,
                 b->_port);
            return;
        }
        if (!b->_client_paused && b->_tcp.write_queue_size > MAX_PENDING_WRITE) {
            b->_client_paused = 1;
            uv_read_stop(st);
        }
    }
    free(buf->base);
}

static void on_accept(uv_stream_t *server, int status)
{
    xacct_tls_bridge_t *b = server->data;
    if (b->_phase != PH_LISTENING)
        return;
    if (status != 0) {
        fail(b, XACCT_EDISCONNECTED, "Redis at %s:%d: local socket: %s", b->_host, b->_port,
             uv_strerror(status));
        return;
    }
    uv_pipe_init(b->_loop, &b->_client, 0);
    b->_client.data = b;
    b->_client_open = 1;
    b->_refs++;
    if (uv_accept(server, (uv_stream_t *)&b->_client) != 0) {
        fail(b, XACCT_EDISCONNECTED, "Redis at %s:%d: local socket accept failed", b->_host,
             b->_port);
        return;
    }
    /* One connection only: nobody else gets to connect, and the path goes. */
    close_handle(b, (uv_handle_t *)&b->_listener, &b->_listener_open);
    remove_socket(b);
    b->_phase = PH_PUMPING;
    uv_read_start((uv_stream_t *)&b->_client, alloc_cb, on_client_read);
    pump_from_tls(b); /* anything that arrived meanwhile */
}

static int start_listener(xacct_tls_bridge_t *b)
{
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || tmp[0] == '\0' || strlen(tmp) > 60)
        tmp = "/tmp";
    snprintf(b->_dir, sizeof(b->_dir), "%s/xacct-redis-XXXXXX", tmp);
    if (mkdtemp(b->_dir) == NULL) {
        b->_dir[0] = '\0';
        return -1;
    }
    snprintf(b->_path, sizeof(b->_path), "%.90s/s", b->_dir);
    uv_pipe_init(b->_loop, &b->_listener, 0);
    b->_listener.data = b;
    b->_listener_open = 1;
    b->_refs++;
    if (uv_pipe_bind(&b->_listener, b->_path) != 0 ||
        uv_listen((uv_stream_t *)&b->_listener, 1, on_accept) != 0)
        return -1;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Handshake                                                            */

static void handshake_step(xacct_tls_bridge_t *b)
{
    int r = SSL_do_handshake(b->_ssl);
    if (flush_tls(b) != 0) {
        fail(b, XACCT_EDISCONNECTED, "Redis at %s:%d: TLS write failed", b->_host, b->_port);
        return;
    }
    if (r == 1) {
        b->_phase = PH_LISTENING;
        if (start_listener(b) != 0) {
            fail(b, XACCT_EDISCONNECTED, "Redis at %s:%d: cannot make a private socket",
                 b->_host, b->_port);
            return;
        }
        fire_ready(b, 0, NULL, b->_path);
        return;
    }
    int e = SSL_get_error(b->_ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return;
    long v = SSL_get_verify_result(b->_ssl);
    if (v != X509_V_OK) {
        ERR_clear_error();
        fail(b, XACCT_ECERT, "Redis at %s:%d: server certificate not accepted: %s", b->_host,
             b->_port, X509_verify_cert_error_string(v));
        return;
    }
    char why[160];
    xacct__tls_reason(why, sizeof(why));
    fail(b, XACCT_EDISCONNECTED, "Redis at %s:%d: TLS handshake failed: %s (is it a TLS port?)",
         b->_host, b->_port, why);
}

static void on_tcp_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    xacct_tls_bridge_t *b = st->data;
    if (nread > 0 && BIO_write(b->_rbio, buf->base, (int)nread) != (int)nread) {
        free(buf->base);
        fail(b, XACCT_ENOMEM, "Redis at %s:%d: TLS buffer full", b->_host, b->_port);
        return;
    }
    free(buf->base);
    if (nread < 0) {
        if (b->_phase == PH_HANDSHAKE)
            fail(b, XACCT_EDISCONNECTED,
                 "Redis at %s:%d: connection closed during the TLS handshake (%s; is it a TLS "
                 "port?)",
                 b->_host, b->_port, nread == UV_EOF ? "end of stream" : uv_strerror((int)nread));
        else if (!b->_got_data && SSL_CTX_get0_certificate(xacct_tls_config_ctx(b->_cfg)) == NULL)
            /* With TLS 1.3 a server that wants a client certificate says so
             * only after our side of the handshake is done, and its alert
             * is often lost to the reset that follows our first command. */
            fail(b, XACCT_EDISCONNECTED,
                 "Redis at %s:%d: %s before any reply (the server may require a client "
                 "certificate: redis.tls_cert_file)",
                 b->_host, b->_port,
                 nread == UV_EOF ? "server closed the connection" : uv_strerror((int)nread));
        else
            fail(b, XACCT_EDISCONNECTED, "Redis at %s:%d: %s", b->_host, b->_port,
                 nread == UV_EOF ? "server closed the connection" : uv_strerror((int)nread));
        return;
    }
    if (b->_phase == PH_HANDSHAKE)
        handshake_step(b);
    else if (b->_phase == PH_PUMPING)
        pump_from_tls(b);
}

static int is_ip_literal(const char *host)
{
    unsigned char tmp[16];
    return inet_pton(AF_INET, host, tmp) == 1 || inet_pton(AF_INET6, host, tmp) == 1;
}

static void start_tls(xacct_tls_bridge_t *b)
{
    b->_ssl = SSL_new(xacct_tls_config_ctx(b->_cfg));
    if (b->_ssl == NULL)
        abort();
    b->_rbio = BIO_new(BIO_s_mem());
    b->_wbio = BIO_new(BIO_s_mem());
    if (b->_rbio == NULL || b->_wbio == NULL)
        abort();
    SSL_set_bio(b->_ssl, b->_rbio, b->_wbio);
    SSL_set_connect_state(b->_ssl);
    /* The certificate must name what we dialled: a DNS name (with SNI), or an
     * IP address in its subjectAltName (what Sentinel hands out). */
    int ok;
    if (is_ip_literal(b->_host)) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(b->_ssl), b->_host) == 1;
    } else {
        SSL_set_hostflags(b->_ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = SSL_set1_host(b->_ssl, b->_host) == 1 &&
             SSL_set_tlsext_host_name(b->_ssl, b->_host) == 1;
    }
    if (!ok) {
        fail(b, XACCT_ECERT, "Redis at %s:%d: cannot set the expected host name", b->_host,
             b->_port);
        return;
    }
    b->_phase = PH_HANDSHAKE;
    uv_read_start((uv_stream_t *)&b->_tcp, alloc_cb, on_tcp_read);
    handshake_step(b);
}

/* ------------------------------------------------------------------ */
/* Resolve and connect                                                  */

static void on_connect(uv_connect_t *req, int status)
{
    xacct_tls_bridge_t *b = req->data;
    b->_refs--;
    if (b->_closing || b->_phase != PH_CONNECTING) {
        maybe_release(b);
        return;
    }
    if (status == UV_ECANCELED && !b->_tcp_open)
        return; /* given up by xacct_tls_bridge_next_address: retry_closed goes on */
    if (status != 0) {
        if (b->_ai_next != NULL) {
            /* Try the next address once this socket is closed. */
            b->_tcp_open = 0;
            uv_close((uv_handle_t *)&b->_tcp, retry_closed);
            return;
        }
        fail(b, status == UV_ECONNREFUSED ? XACCT_ECONNREFUSED : XACCT_EDISCONNECTED,
             "Redis at %s:%d: %s", b->_host, b->_port, uv_strerror(status));
        return;
    }
    start_tls(b);
}

static void retry_closed(uv_handle_t *h)
{
    xacct_tls_bridge_t *b = h->data;
    b->_refs--;
    if (b->_closing) {
        maybe_release(b);
        return;
    }
    try_connect(b);
}

static void try_connect(xacct_tls_bridge_t *b)
{
    struct addrinfo *ai = b->_ai_next;
    b->_ai_next = ai->ai_next;
    uv_tcp_init(b->_loop, &b->_tcp);
    b->_tcp.data = b;
    b->_tcp_open = 1;
    b->_refs++;
    uv_tcp_nodelay(&b->_tcp, 1);
    b->_connect.data = b;
    int rc = uv_tcp_connect(&b->_connect, &b->_tcp, ai->ai_addr, on_connect);
    if (rc != 0) {
        fail(b, XACCT_EDISCONNECTED, "Redis at %s:%d: %s", b->_host, b->_port, uv_strerror(rc));
        return;
    }
    b->_refs++;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    xacct_tls_bridge_t *b = req->data;
    b->_refs--;
    b->_gai_pending = 0;
    b->_ai = res;
    if (b->_closing) {
        maybe_release(b);
        return;
    }
    if (status != 0 || res == NULL) {
        fail(b, XACCT_EDISCONNECTED, "Redis at %s:%d: %s", b->_host, b->_port,
             uv_strerror(status));
        return;
    }
    b->_ai_next = res;
    b->_phase = PH_CONNECTING;
    try_connect(b);
}

int xacct_tls_bridge_new(uv_loop_t *loop, const xacct_tls_config_t *cfg, const char *host,
                         int port, xacct_tls_bridge_ready_cb ready_cb, void *arg,
                         xacct_tls_bridge_t **out)
{
    *out = NULL;
    xacct_tls_bridge_t *b = xacct_calloc(1, sizeof(*b));
    b->_loop = loop;
    b->_cfg = cfg;
    b->_host = xacct_strdup(host);
    b->_port = port;
    b->_ready_cb = ready_cb;
    b->_arg = arg;
    b->_phase = PH_RESOLVING;
    char service[8];
    snprintf(service, sizeof(service), "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    b->_gai.data = b;
    if (uv_getaddrinfo(loop, &b->_gai, on_resolved, host, service, &hints) != 0) {
        free(b->_host);
        free(b);
        return XACCT_EIO;
    }
    b->_refs++;
    b->_gai_pending = 1;
    *out = b;
    return 0;
}

int xacct_tls_bridge_next_address(xacct_tls_bridge_t *b)
{
    if (b == NULL || b->_closing || b->_phase != PH_CONNECTING || !b->_tcp_open ||
        b->_ai_next == NULL)
        return -1;
    /* The pending connect completes with UV_ECANCELED, then retry_closed
     * dials the next address. */
    b->_tcp_open = 0;
    uv_close((uv_handle_t *)&b->_tcp, retry_closed);
    return 0;
}

int xacct_tls_bridge_handshaking(const xacct_tls_bridge_t *b)
{
    return b->_phase == PH_HANDSHAKE;
}

const char *xacct_tls_bridge_error(const xacct_tls_bridge_t *b)
{
    return b->_err[0] ? b->_err : NULL;
}

void xacct_tls_bridge_free(xacct_tls_bridge_t *b)
{
    if (b == NULL || b->_closing)
        return;
    b->_closing = 1;
    b->_ready_cb = NULL;
    if (b->_in_cb > 0)
        return; /* fire_ready finishes the job */
    shut(b);
    maybe_release(b);
}
