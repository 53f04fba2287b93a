/* SPDX-License-Identifier: MIT */
/*
 * The Redis connection shared by xacctd and the xacct CLI: hiredis' async API
 * on the process's libuv loop, behind a small project-level interface so no
 * hiredis type leaks out of the connection (src/store/store_conn.c and
 * store_cmd.c; store.c is the interface). It parses redis:// and rediss://
 * URLs (TLS through src/store/tls_bridge.c), finds the master through Sentinel
 * when sentinels are given, sends AUTH and SELECT on every (re)connect, applies
 * the key prefix, loads Lua scripts once and calls them by EVALSHA (reloading
 * on NOSCRIPT), and reconnects with jittered exponential backoff.
 *
 * Failover: a READONLY, LOADING or MASTERDOWN reply means the server refused
 * the command without running it (a replica, or a master that is not ready):
 * the store sends that command again, in its turn, on a new connection, and
 * stops using the current one once its other replies are in; with Sentinel
 * the new connection asks Sentinel for the master again. In reconnect mode a
 * +switch-master subscription on one sentinel drops the connection as soon
 * as a failover moves the master elsewhere. A command with no
 * reply within command_timeout_ms fails with XACCT_ETIMEOUT and the
 * connection is recycled (the commands written after it complete with
 * XACCT_EDISCONNECTED).
 *
 * Two modes, chosen by xacct_store_options.reconnect:
 *
 *  - reconnect = 1 (the worker): commands issued while Redis is unreachable
 *    wait in a bounded queue and are sent, in order, once the connection is
 *    back (AUTH, SELECT and script loads go first). Nothing queued is lost:
 *    each is sent or, with queue_timeout_ms, fails with XACCT_ETIMEOUT once
 *    it has waited that long; the store retries the connection forever. A command that has already
 *    been written to a connection that then drops completes with
 *    XACCT_EDISCONNECTED: Redis may or may not have run it, so the caller
 *    retries (every domain operation in this project is idempotent for that).
 *
 *  - reconnect = 0 (the CLI): no background reconnects. A command issued while
 *    disconnected starts one connection attempt; if that attempt fails or
 *    does not finish within connect_timeout_ms, every command waiting for it
 *    completes with XACCT_EDISCONNECTED and a detail naming the cause.
 *
 * Callbacks: every accepted command's callback fires exactly once, never from
 * inside the call that submitted it: with the reply, with an error, with
 * XACCT_EDISCONNECTED when the connection is lost, or with XACCT_ECANCELED when
 * the store is freed first.
 */
#ifndef XACCT_STORE_H
#define XACCT_STORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "xacct/common.h"

typedef struct xacct_store xacct_store_t;

#define XACCT_STORE_DEFAULT_URL "redis://127.0.0.1:6379/0"
#define XACCT_STORE_DEFAULT_PREFIX "xacct:"

typedef enum xacct_store_reply_type {
    XACCT_STORE_REPLY_NIL = 0,
    XACCT_STORE_REPLY_STRING,  /* bulk string: str/len */
    XACCT_STORE_REPLY_STATUS,  /* simple string ("OK"): str/len */
    XACCT_STORE_REPLY_INTEGER, /* integer */
    XACCT_STORE_REPLY_ARRAY,   /* element[0..elements) */
    XACCT_STORE_REPLY_ERROR,   /* only nested inside an array; str/len */
} xacct_store_reply_type_t;

/* A reply, translated from hiredis. Everything is borrowed and valid only
 * during the callback that received it. */
typedef struct xacct_store_reply {
    xacct_store_reply_type_t type;
    long long integer;                        /* INTEGER */
    const char *str;                          /* STRING/STATUS/ERROR; NUL-terminated,
                                                 binary-safe with len */
    size_t len;                               /* bytes in str */
    const struct xacct_store_reply *element;  /* ARRAY items */
    size_t elements;                          /* ARRAY length */
} xacct_store_reply_t;

/*
 * Completion of one command. status 0: reply is set (never NULL). A top-level
 * Redis error reply arrives as XACCT_EREDIS with the error text in detail and
 * reply NULL. XACCT_EDISCONNECTED: the connection was lost or could not be
 * made; XACCT_ETIMEOUT: the command waited in the queue longer than
 * queue_timeout_ms, or had no reply within command_timeout_ms; XACCT_ECANCELED: the store was freed. detail and reply are
 * borrowed for the duration of the callback. The callback may submit new
 * commands and may call xacct_store_free (which is then deferred).
 */
typedef void (*xacct_store_reply_cb)(int status, const char *detail,
                                     const xacct_store_reply_t *reply, void *arg);

/*
 * Connection state notifications (logging, readiness): up = 1 once a
 * connection is ready (after AUTH, SELECT and script loads), up = 0 with the
 * reason when a ready connection is lost or an attempt fails. May fire many
 * times; never during xacct_store_free.
 */
typedef void (*xacct_store_state_cb)(int up, int status, const char *detail, void *arg);

/*
 * News from the Sentinel watch (reconnect mode with sentinels: one
 * connection to one sentinel, subscribed to +switch-master): UP once the
 * subscription is in place (first, or again after a DOWN), DOWN once per
 * episode when it is lost or cannot be made (the watch then moves to the
 * next sentinel with backoff; the Redis connection itself is unaffected),
 * SWITCH when a sentinel announced that the master moved away from the
 * address in use (the connection is dropped and Sentinel asked again).
 * detail is borrowed for the call. Never during xacct_store_free.
 */
typedef enum xacct_store_watch_event {
    XACCT_STORE_WATCH_DOWN = 0,
    XACCT_STORE_WATCH_UP,
    XACCT_STORE_WATCH_SWITCH,
} xacct_store_watch_event_t;
typedef void (*xacct_store_watch_cb)(xacct_store_watch_event_t event, const char *detail,
                                     void *arg);

typedef struct xacct_store_options {
    const char *url;          /* redis://[[user]:password@]host[:port][/db], or
                                 rediss://... for TLS; NULL = XACCT_STORE_DEFAULT_URL.
                                 With sentinels, host:port is not dialled (the
                                 master comes from Sentinel) but the scheme,
                                 credentials and db still apply. */
    const char *prefix;       /* key prefix; NULL = "xacct:" ("" allowed) */
    int reconnect;            /* 1 = queue and reconnect forever (worker);
                                 0 = fail fast (CLI); see above */
    long connect_timeout_ms;  /* name lookup, TCP connect, TLS and the handshake
                                 (AUTH/SELECT/ROLE/script loads), which gets at
                                 most command_timeout_ms of it; with Sentinel,
                                 the same for each sentinel asked; 0 = 5000 */
    size_t max_queued;        /* commands held while not connected; 0 = 10000 */
    long queue_timeout_ms;    /* a command waiting for a connection fails with
                                 XACCT_ETIMEOUT once it has waited this long,
                                 whatever the connect attempt is doing; 0 =
                                 it waits for the connection (reconnect mode)
                                 or for the attempt to fail (fail-fast) */
    long backoff_base_ms;     /* first reconnect delay; 0 = 100 */
    long backoff_max_ms;      /* cap on the delay; 0 = 5000 */
    xacct_store_state_cb on_state; /* optional */
    void *state_arg;
    long command_timeout_ms;  /* a command without reply by then fails with
                                 XACCT_ETIMEOUT and the connection is recycled;
                                 0 = 5000 */
    const char *tls_ca_file;  /* rediss://: PEM CA bundle the server's certificate
                                 must chain to; NULL/"" = system trust store */
    const char *tls_cert_file; /* rediss://: client certificate and key (PEM), */
    const char *tls_key_file;  /* both or neither */
    const char *const *sentinels; /* "host:port" strings; NULL/0 = no Sentinel */
    size_t nsentinels;
    const char *master_name;  /* with sentinels; NULL = "mymaster" */
    const char *sentinel_password; /* AUTH to the sentinels themselves (their
                                      requirepass); NULL/"" = none */
    xacct_store_watch_cb on_watch; /* optional, with sentinels; arg state_arg */
} xacct_store_options_t;

/*
 * Creates the store on loop and starts connecting. Fails only on a bad
 * option: XACCT_EINVAL with the reason in err (e.g. a malformed URL, a TLS
 * file that does not load); an unreachable server is not an error here. *out is freed with
 * xacct_store_free. The options are copied; the password is wiped on free.
 */
int xacct_store_new(uv_loop_t *loop, const xacct_store_options_t *opts, xacct_store_t **out,
                    char *err, size_t errlen) XACCT_MUSTCHECK;

/*
 * Completes every outstanding command (XACCT_ECANCELED), disconnects from Redis
 * while the loop is alive and closes the store's handles; memory is released
 * from the close callbacks, so run the loop afterwards (uv_loop_close then
 * returns 0). Called from inside a store callback, the teardown is deferred
 * until that callback has returned. NULL and repeated calls do nothing.
 */
void xacct_store_free(xacct_store_t *s);

/* The key prefix (borrowed, lives as long as the store). */
const char *xacct_store_prefix(const xacct_store_t *s);

/* 1 when a connection is ready for commands. */
int xacct_store_is_up(const xacct_store_t *s);

/* Commands waiting in the queue plus commands sent and not yet answered. */
size_t xacct_store_outstanding(const xacct_store_t *s);

/* Number of ready connections made so far (tests and metrics). */
uint64_t xacct_store_connections(const xacct_store_t *s);

/* Failed connection attempts, lost connections and error replies so far
 * (metrics). */
uint64_t xacct_store_errors(const xacct_store_t *s);

/* While not connected because the last attempt was refused authentication
 * (NOAUTH, WRONGPASS): "authentication refused by redis at HOST:PORT " +
 * XACCT_STORE_AUTH_HINT, borrowed until the next store call or event; else
 * NULL. Never holds the password. A command failing for that reason has
 * this text, ": " and the server's words as its detail. */
#define XACCT_STORE_AUTH_HINT "(check the password/user in redis.url)"
const char *xacct_store_auth_refused(const xacct_store_t *s);

/*
 * Argument lists. Every argument is copied (and wiped on destroy, since
 * arguments may carry external IDs or passwords). Adding never fails on the
 * spot: an overflow (more than XACCT_STORE_MAX_ARGS arguments or
 * XACCT_STORE_MAX_ARG_BYTES in total) is remembered and reported by submit.
 */
#define XACCT_STORE_MAX_ARGS 4096
#define XACCT_STORE_MAX_ARG_BYTES (16u * 1024u * 1024u)

typedef struct xacct_store_args {
    char **v;     /* copies, each NUL-terminated, all inside _buf */
    size_t *len;  /* byte lengths */
    int argc;     /* arguments added */
    int cap;      /* slots allocated */
    size_t bytes; /* total bytes */
    int err;      /* first error while adding, or 0 */
    char *_buf;   /* one allocation for every copy (v[i] move when it grows) */
    size_t _used, _size;
} xacct_store_args_t;

void xacct_store_args_init(xacct_store_args_t *a);
void xacct_store_args_destroy(xacct_store_args_t *a);
void xacct_store_args_add(xacct_store_args_t *a, const void *p, size_t n);
void xacct_store_args_str(xacct_store_args_t *a, const char *s); /* NULL adds "" */
void xacct_store_args_ll(xacct_store_args_t *a, long long v);
void xacct_store_args_fmt(xacct_store_args_t *a, const char *fmt, ...) XACCT_PRINTF(2, 3);
/* Adds the store's prefix followed by the formatted name, e.g.
 * xacct_store_args_key(a, s, "customer:%s", account) -> "xacct:customer:123". */
void xacct_store_args_key(xacct_store_args_t *a, const xacct_store_t *s, const char *fmt, ...)
    XACCT_PRINTF(3, 4);

/*
 * Sends one command (a->v[0] is the command name). The arguments are copied;
 * a can be destroyed right after. Returns 0 (cb will fire exactly once),
 * or, without calling cb: XACCT_EINVAL (empty list), XACCT_ETOOBIG (argument
 * overflow), XACCT_EAGAIN (the disconnected queue is full), XACCT_ESHUTDOWN
 * (xacct_store_free has begun). Commands are pipelined: they are written
 * without waiting for earlier replies, and replies arrive in order.
 */
int xacct_store_submit(xacct_store_t *s, const xacct_store_args_t *a, xacct_store_reply_cb cb,
                       void *arg) XACCT_MUSTCHECK;

/* Convenience: a command from NUL-terminated strings, ending with NULL. */
int xacct_store_cmd(xacct_store_t *s, xacct_store_reply_cb cb, void *arg, const char *name, ...)
    __attribute__((sentinel)) XACCT_MUSTCHECK;
/* The same with the strings after name in ap (ending with NULL), for
 * wrappers that take them as their own variable arguments. */
int xacct_store_vcmd(xacct_store_t *s, xacct_store_reply_cb cb, void *arg, const char *name,
                     va_list ap) XACCT_MUSTCHECK;

/*
 * A Lua script, defined as a constant beside the code that uses it. The store
 * computes its SHA1 on first use, loads it with SCRIPT LOAD on every new
 * connection, and runs it with EVALSHA; a NOSCRIPT reply (Redis restarted or
 * SCRIPT FLUSH) makes it load the script and retry once, transparently.
 * At most XACCT_STORE_MAX_SCRIPTS distinct scripts per store.
 */
typedef struct xacct_store_script {
    const char *name;   /* for error messages */
    const char *source; /* Lua text */
} xacct_store_script_t;

#define XACCT_STORE_MAX_SCRIPTS 64

/* Runs script with the first nkeys arguments of a as KEYS and the rest as
 * ARGV. Same returns and callback contract as xacct_store_submit, plus
 * XACCT_EINVAL for nkeys out of range and XACCT_ETOOBIG for too many scripts. */
int xacct_store_eval(xacct_store_t *s, const xacct_store_script_t *script, int nkeys,
                     const xacct_store_args_t *a, xacct_store_reply_cb cb,
                     void *arg) XACCT_MUSTCHECK;

/* Reply helpers. */
int xacct_store_reply_is(const xacct_store_reply_t *r, const char *s); /* STRING/STATUS == s */
/* Array element i if r is an array with more than i elements, else NULL. */
const xacct_store_reply_t *xacct_store_reply_at(const xacct_store_reply_t *r, size_t i);
/* Heap copy of a STRING/STATUS reply ("" for anything else); caller frees. */
char *xacct_store_reply_strdup(const xacct_store_reply_t *r);
/* Integer value of an INTEGER reply or of a STRING holding a decimal
 * integer; XACCT_EPARSE otherwise. */
int xacct_store_reply_ll(const xacct_store_reply_t *r, long long *out) XACCT_MUSTCHECK;

/*
 * A lease-style lock for serialising writers across processes (e.g. topic
 * policy updates): SET <prefix>lock:<name> <token> NX PX ttl_ms. The callback
 * gets status 0 and acquired 1 or 0. Extend sets the lease to ttl_ms again
 * only while the key still holds token (1 if it did, 0 when the lease ran
 * out and the lock is no longer this holder's). Release deletes the key only
 * while it still holds token (compare-and-delete in Lua); released is 1 if
 * it did. token should be unique per holder (e.g. a UUID). Strings are
 * copied.
 */
typedef void (*xacct_store_lock_cb)(int status, const char *detail, int acquired, void *arg);
int xacct_store_lock_acquire(xacct_store_t *s, const char *name, const char *token,
                             long ttl_ms, xacct_store_lock_cb cb, void *arg) XACCT_MUSTCHECK;
int xacct_store_lock_extend(xacct_store_t *s, const char *name, const char *token,
                            long ttl_ms, xacct_store_lock_cb cb, void *arg) XACCT_MUSTCHECK;
int xacct_store_lock_release(xacct_store_t *s, const char *name, const char *token,
                             xacct_store_lock_cb cb, void *arg) XACCT_MUSTCHECK;

/* Wall-clock time in Unix milliseconds, and its RFC 3339 UTC form
 * ("2024-05-01T12:00:00.123Z") as written into customer and claim hashes. */
#define XACCT_STORE_ISO_LEN 32
int64_t xacct_store_now_ms(void);
void xacct_store_iso8601(int64_t ms, char out[XACCT_STORE_ISO_LEN]);

/* Internal (src/store/store_url.c): URL parsing, also used by tests.
 * Outputs are heap strings the caller frees (pass (xacct_free_secret) for
 * the password); user/password NULL when absent; *tls is 1 for rediss://.
 * XACCT_EINVAL with the reason in err, outputs NULL. */
int xacct__store_parse_url(const char *url, char **host, int *port, char **user,
                           char **password, int *db, int *tls, char *err, size_t errlen);

#ifdef XACCT_UNIT_TESTING
/* The reconnect delay for attempt n (0-based), jittered into [d/2, d]. */
long xacct__store_backoff(long base_ms, long max_ms, unsigned attempt);
#endif

#endif
