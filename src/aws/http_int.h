/* SPDX-License-Identifier: MIT */
/*
 * Private to the HTTP client: the structures shared by the curl-multi/libuv
 * glue (http.c) and the per-transfer easy-handle setup (http_req.c), and the
 * few xacct__http_* functions each side calls in the other. Nothing outside
 * src/http*.c includes this file.
 */
#ifndef XACCT_HTTP_INT_H
#define XACCT_HTTP_INT_H

#include <curl/curl.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "xacct/buf.h"
#include "xacct/http.h"

/* Defaults documented in xacct/http.h. */
#define XACCT_HTTP_DEFAULT_MAX_HOST 64L
#define XACCT_HTTP_DEFAULT_MAX_TOTAL 256L
#define XACCT_HTTP_DEFAULT_TIMEOUT_MS 30000L
#define XACCT_HTTP_DEFAULT_CONNECT_TIMEOUT_MS 10000L
#define XACCT_HTTP_DEFAULT_MAX_BODY (8u * 1024u * 1024u)
/* libcurl's buffers, sized against XACCT_HTTP_MMAP_THRESHOLD (xacct/http.h):
 * the upload buffer, allocated for every HTTPS request and freed when it is
 * done, is the smallest libcurl allows and comes from the heap; the receive
 * buffer (libcurl allocates one byte more), kept by a handle for its life,
 * is just over the line and gets a mapping of its own, resident only where
 * a response touched it. glibc compares the chunk size, the request plus
 * 8 bytes rounded up to 16. */
#define XACCT_HTTP_UPLOAD_BUFFER 16384
#define XACCT_HTTP_RECEIVE_BUFFER (16384 + 64)
#define XACCT_HTTP_CHUNK(n) ((((n) + 8 + 15) / 16) * 16)
_Static_assert(XACCT_HTTP_CHUNK(XACCT_HTTP_UPLOAD_BUFFER) < XACCT_HTTP_MMAP_THRESHOLD,
               "the per-request upload buffer must come from the heap");
_Static_assert(XACCT_HTTP_CHUNK(XACCT_HTTP_RECEIVE_BUFFER + 1) >= XACCT_HTTP_MMAP_THRESHOLD,
               "a handle's receive buffer must get a mapping of its own");
/* Caps on what a server may send besides the body. */
#define XACCT_HTTP_MAX_HEADER_BYTES (256u * 1024u)
#define XACCT_HTTP_MAX_HEADERS 256u
/* Finished transfers' easy handles kept for the next ones (each keeps its
 * 16 KB receive buffer: a few, not one per connection). */
#define XACCT_HTTP_SPARE_EASY 16
/* URLs without a query (AWS endpoints: the same few for every call) whose
 * check is remembered, and the longest such URL remembered. */
#define XACCT_HTTP_URL_MEMO 8
#define XACCT_HTTP_URL_MEMO_MAX_LEN 512
/* The TLS origin gate (http_gate.c): how long transfers to a cold origin
 * wait for the first one's handshake before going ahead with their own,
 * and how many origins it tracks (past that, transfers are not gated). */
#define XACCT_HTTP_DEFAULT_GATE_MS 1000u
/* The connection ramp (http_gate.c): an origin may first have a quarter of
 * its cap (at least 4), doubled each time transfers have queued this long
 * for a connection without a break, and back to the start after this many ramp periods
 * without a wait (60 s by default). */
#define XACCT_HTTP_DEFAULT_RAMP_MS 250u
#define XACCT_HTTP_RAMP_RESET_PERIODS 240u
#define XACCT_HTTP_MAX_ORIGINS 64u

/* One https origin ("host:port") as the gate sees it. */
typedef struct xacct_http_origin {
    struct xacct_http *_h;               /* the client */
    char *_key;                          /* "host:port", owned */
    bool _ticket;                        /* the probe's connection received a session
                                            ticket: the held transfers may go */
    bool _warm;                          /* a transfer got an answer: the share holds
                                            a session, new connections resume it */
    struct xacct_http_req *_probe;       /* the transfer let through alone, or NULL */
    uint64_t _probe_since;               /* loop time (ms) it was let through */
    struct xacct_http_req *_held;        /* transfers waiting for it, oldest first */
    struct xacct_http_req *_held_tail;   /* the newest of them */
    uint64_t _held_due;                  /* loop time (ms) the first held transfer
                                            runs out of time, at the latest; UINT64_MAX */
    unsigned _active;                    /* its transfers inside the multi */
    bool _multiplexed;                   /* it answered over HTTP/2: streams share a
                                            connection, so no cap on transfers */
    bool _version_known;                 /* an answer said which HTTP it speaks */
    bool _gate_passed;                   /* its probe ran past _gate_ms: no more
                                            waiting for a session, only for room */
    unsigned _cap;                       /* transfers it may have in the multi now:
                                            up to _max_host, as waits ramp it up */
    uint64_t _grown_at;                  /* loop time (ms) _cap last changed */
    uint64_t _last_wait;                 /* loop time (ms) a transfer last waited for
                                            room, or 0 */
    uint64_t _queued_since;              /* loop time (ms) the held queue last went
                                            from empty to not (see ramp_due) */
} xacct_http_origin_t;

/* One poll handle per socket curl has asked us to watch, kept from transfer
 * to transfer while the connection stays open (closed with the socket). */
typedef struct xacct_http_sock {
    uv_poll_t _poll;                       /* embedded; freed in its close callback */
    curl_socket_t _fd;                     /* the socket being watched */
    int _events;                           /* UV_* events being watched; 0 = none */
    bool _idle;                            /* no transfer uses it (pooled); unref'd */
    bool _kept;                            /* a connection socket, closed through
                                              xacct__http_close_socket: watched past
                                              curl's REMOVE. Any other (the resolver
                                              thread's socketpair, which curl closes
                                              itself) is let go at REMOVE */
    ino_t _ino;                            /* a kept socket's inode: the REMOVE that
                                              finds none (or another) at _fd learns
                                              that curl closed it itself */
    struct xacct_http *_h;                 /* owning client */
    struct xacct_http_sock *_prev, *_next; /* in _h->_socks, until closed */
} xacct_http_sock_t;

/* A URL url_ok accepted, and the origin it found ("host:port"; NULL for
 * http). */
typedef struct xacct_http_url_memo {
    char *url;
    char *origin;
} xacct_http_url_memo_t;

struct xacct_http {
    uv_loop_t *_loop;                       /* borrowed */
    CURLM *_multi;                          /* NULL once cleaned up */
    CURLSH *_share;                         /* TLS sessions shared by every easy handle,
                                               so a new connection resumes instead of a
                                               full handshake; NULL if curl refused */
    uv_timer_t _timer;                      /* curl's single timeout */
    uv_timer_t _gate_timer;                 /* lets held transfers go once their
                                               origin's probe has taken too long */
    uint64_t _gate_ms;                      /* how long the gate holds transfers */
    uint64_t _ramp_ms;                      /* how long a wait for room ramps a cap */
    unsigned long _gate_wakeups;            /* times the gate timer fired (tests) */
    unsigned _max_host;                     /* transfers one origin may have in the
                                               multi: its connection cap */
    xacct_http_origin_t *_origins;          /* XACCT_HTTP_MAX_ORIGINS slots, or NULL
                                               before the first https transfer */
    size_t _norigins;                       /* slots in use */
    X509_STORE *_trust;                     /* system CAs plus ca_bundle, shared by
                                               every TLS connection */
    struct xacct_metrics *_metrics;         /* borrowed, or NULL */
    char *_user_agent;                      /* owned */
    bool _proxy_env;                        /* a proxy variable was set at start */
    struct curl_slist *_resolve;            /* CURLOPT_RESOLVE entries, owned, or NULL */
    struct xacct_http_req *_reqs;           /* in-flight transfers (doubly linked) */
    size_t _nreqs;                          /* length of _reqs */
    xacct_http_sock_t *_socks;              /* poll handles not yet closing */
    xacct_http_sock_t **_by_fd;             /* the same, indexed by socket */
    size_t _by_fd_cap;                      /* entries in _by_fd */
    bool *_opened;                          /* by fd: opened by open_socket_cb and not
                                               yet closed by xacct__http_close_socket */
    size_t _opened_cap;                     /* entries in _opened */
    CURL *_spare[XACCT_HTTP_SPARE_EASY];    /* reset easy handles to reuse */
    size_t _nspare;                         /* how many of _spare are held */
    xacct_http_url_memo_t _url_memo[XACCT_HTTP_URL_MEMO]; /* owned strings */
    size_t _url_memo_next;                  /* the slot replaced next */
    size_t _open_handles;                   /* uv handles whose close cb is pending or not closed */
    unsigned _depth;                        /* >0 while dispatching completions */
    bool _freeing;                          /* xacct_http_free was called */
    bool _torn_down;                        /* multi cleaned up, handles closing */
};

struct xacct_http_req {
    struct xacct_http *_h;                /* owning client */
    CURL *_easy;                          /* the easy handle; PRIVATE points back here */
    struct curl_slist *_headers;          /* request headers as curl wants them */
    char *_url;                           /* the URL curl is given: a copy, without its
                                             query when _target has it */
    char *_method;                        /* copy of the method */
    char *_origin_key;                    /* "host:port" of an https URL, else NULL */
    char *_target;                        /* the https URL's "path?query", or NULL */
    xacct_http_origin_t *_origin;         /* the gate's origin while r probes or is held */
    struct xacct_http_req *_held_next;    /* next in _origin's held list */
    bool _held;                           /* waiting at the gate, not in the multi */
    xacct_http_origin_t *_slot;           /* the origin whose _active counts r, or NULL */
    uint64_t _held_since;                 /* loop time (ms) r was held */
    long _timeout_ms;                     /* r's whole time limit, held time included */
    char *_body;                          /* copy of the request body, or NULL */
    size_t _body_len;                     /* its length */
    xacct_buf_t _resp_body;               /* response body, capped at max_body */
    size_t _header_bytes;                 /* response header bytes seen so far */
    int _abort_status;                    /* XACCT_E* set when a callback aborted */
    int _status;                          /* final status, set by collect */
    const char *_detail;                  /* static text or _errbuf, set by collect */
    xacct_http_response_t _resp;          /* set by collect when _status is 0 */
    xacct_header_t *_rhdrs;               /* response headers, their text after them */
    bool _untrusted;                      /* refuse forbidden addresses at connect */
    bool _cut_body;                       /* xacct_http_request_t.cut_body */
    bool _cut;                            /* the body was cut at max_body: done */
    bool _status_is_answer;               /* xacct_http_request_t.status_is_answer */
    bool _added;                          /* inside the multi handle */
    bool _done;                           /* the completion callback has fired */
    xacct_http_done_cb _cb;               /* completion callback */
    void *_arg;                           /* its argument */
    struct xacct_http_req *_prev, *_next; /* in _h->_reqs */
    char _errbuf[CURL_ERROR_SIZE];        /* curl's error text */
};

/*
 * http_req.c: builds a transfer for h from req. On success *out owns a new
 * request with its easy handle configured (not yet added to the multi);
 * release it with xacct__http_req_free. Returns XACCT_EINVAL for a bad
 * method, URL or header, XACCT_EHTTP if curl refuses an option.
 */
int xacct__http_req_new(struct xacct_http *h, const xacct_http_request_t *req,
                        xacct_http_done_cb cb, void *arg,
                        struct xacct_http_req **out) XACCT_MUSTCHECK;

/* Frees r; its easy handle (which must be out of the multi) is reset and
 * kept for the client's next transfer while there is room and the client
 * is not being freed, and cleaned up otherwise. */
void xacct__http_req_free(struct xacct_http_req *r);

/* Cleans up the easy handles kept for reuse (before the share goes). */
void xacct__http_spare_free(struct xacct_http *h);
/* Frees the remembered URL checks. */
void xacct__http_url_memo_free(struct xacct_http *h);

/*
 * Records the outcome of r while its easy handle is still in the multi:
 * status 0 copies the response (code, headers, body, time) into r, which may
 * still turn the status into XACCT_ETOOBIG (too many headers); any other
 * status just picks the detail text.
 */
void xacct__http_req_collect(struct xacct_http_req *r, int status);

/*
 * http_gate.c: the TLS origin gate. The first transfer to an https origin
 * with no TLS session yet goes alone; transfers to the same origin that
 * come meanwhile wait (in order) until its connection receives a session
 * ticket or it is answered, and then go together,
 * their new connections resuming its session, instead of each paying a full
 * handshake side by side. A probe that fails leaves the origin cold and the
 * next waiting transfer becomes the probe; none waits longer than
 * _gate_ms (tls_gate_ms, 1 s by default) for a probe. Plain http is never held.
 *
 * xacct__http_admit adds r to the multi or holds it: 0, or XACCT_EHTTP if
 * curl refused it (r is then neither added nor held).
 */
int xacct__http_admit(struct xacct_http *h, struct xacct_http_req *r) XACCT_MUSTCHECK;

/* Called by finish() for every ending transfer (out of the multi, before its
 * callback fires): forgets a held one; for a probe, lets the held ones go
 * (answered) or the next one probe (failed). A held transfer curl refuses
 * is finished with XACCT_EHTTP. Nothing is let go once the client is being
 * freed. */
void xacct__http_gate_done(struct xacct_http_req *r, int status);

/*
 * http_gate.c: set on the SSL_CTX of a probe's connection (from
 * CURLOPT_SSL_CTX_FUNCTION): notes a session ticket arriving, so that the
 * held transfers go as soon as a session exists rather than when the probe
 * is answered (a long poll may be answered only after 20 s). They are let
 * go from the gate timer, not from inside curl.
 */
void xacct__http_gate_watch(struct xacct_http_req *r, SSL_CTX *ctx);

/* Lets go the transfers whose origin's probe has run _gate_ms,
 * and re-arms the gate timer (whose callback, in http.c, calls this). */
void xacct__http_gate_expire(struct xacct_http *h);
void xacct__http_on_gate_timer(uv_timer_t *timer);

/* "host:port", lower-cased: the gate's key for an https origin. */
char *xacct__http_origin_key(const char *host, const char *port);

/* Frees the gate's origins (the client is being released). */
void xacct__http_gate_free(struct xacct_http *h);

/* http.c: ends r with status (r leaves the multi or the gate, its callback
 * fires, r is freed). */
void xacct__http_finish(struct xacct_http_req *r, int status);

/* Fires r's callback with what collect recorded; marks r done. Does not free r. */
void xacct__http_req_fire(struct xacct_http_req *r);

/* True for an address a URL from a message must never reach: IPv4
 * link-local 169.254.0.0/16 (instance metadata at 169.254.169.254, ECS at
 * 169.254.170.2), IPv6 link-local fe80::/10, EC2's IPv6 metadata address
 * fd00:ec2::254, and those IPv4 addresses mapped into IPv6 (::ffff:0:0/96,
 * 64:ff9b::/96). */
bool xacct__http_addr_forbidden(const struct sockaddr *sa);

/*
 * CURLOPT_PREREQFUNCTION (clientp: the request), run once libcurl has a
 * connection for the transfer, new or reused: counts a new one in
 * xacct_http_connections_total by handshake; and, for a transfer whose URL
 * came in a message, refuses (XACCT_EFORBIDDEN in _abort_status) a
 * connection whose peer primary_ip is an address the URL must not reach.
 * The socket check alone would miss a kept-alive connection that a trusted
 * request (the instance-metadata credential provider's) opened to such an
 * address and that this transfer reuses.
 */
int xacct__http_prereq_cb(void *clientp, char *primary_ip, char *local_ip, int primary_port,
                          int local_port);

/* CURLOPT_CLOSESOCKETFUNCTION of every transfer (clientp: the client): the
 * socket's poll handle is closed before the socket itself. */
int xacct__http_close_socket(void *clientp, curl_socket_t fd);

/* CURLOPT_OPENSOCKETFUNCTION's bookkeeping: fd is a connection socket, which
 * curl will close through xacct__http_close_socket. */
void xacct__http_socket_opened(struct xacct_http *h, curl_socket_t fd);

/* Maps a finished transfer's CURLcode to 0 or an XACCT_E* code; with
 * _status_is_answer, a failure after a final status line is 0 too (not our
 * own cancelling). */
int xacct__http_req_status(const struct xacct_http_req *r, CURLcode result);

/* Reads a PEM bundle into a new stack of certificates (caller frees with
 * sk_X509_pop_free(..., X509_free)). XACCT_ECONFIG if the file cannot be read
 * or holds no certificate, or if libcurl's TLS backend is not OpenSSL. */
int xacct__http_ca_load(const char *path, STACK_OF(X509) **out) XACCT_MUSTCHECK;

/* Builds the trust store: libcurl's default CA file and directory (OpenSSL's
 * defaults if it has none) plus the certificates of ca_bundle (optional).
 * XACCT_ECONFIG if ca_bundle cannot be used. Free with X509_STORE_free. */
int xacct__http_trust_new(const char *ca_bundle, X509_STORE **out) XACCT_MUSTCHECK;

#endif
