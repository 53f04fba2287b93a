/* SPDX-License-Identifier: MIT */
/*
 * Inside the Redis connection, shared by its three files and by nothing
 * else: store.c (the public interface: options, submit, EVALSHA and the
 * script table), store_conn.c (the connection's life and the dispatch of
 * commands onto it) and store_cmd.c (command objects, their two queues and
 * the translation of replies). Calls go one way: store.c -> store_conn.c ->
 * store_cmd.c. sentinel_watch.c keeps the +switch-master subscription of a
 * store connected through Sentinel, over a store of its own. hiredis is
 * included by store_conn.c and store_cmd.c only; here its context is an
 * opaque struct.
 */
#ifndef XACCT_STORE_INT_H
#define XACCT_STORE_INT_H

#include <uv.h>

#include "store_lookup.h"
#include "xacct/sentinel.h"
#include "xacct/store.h"
#include "xacct/tls_bridge.h"

struct redisAsyncContext;
struct redisReply;

typedef enum conn_state {
    ST_DISCONNECTED = 0, /* no context; maybe a reconnect timer runs */
    ST_RESOLVING,        /* asking Sentinel; timer = its overall bound */
    ST_CONNECTING,       /* TCP (+TLS) connect in progress; timer = connect timeout */
    ST_HANDSHAKE,        /* connected, AUTH/SELECT/ROLE/SCRIPT LOAD/PING sent;
                            timer = the rest of the connect timeout, at
                            most the command timeout */
    ST_READY,            /* user commands go straight to hiredis; timer =
                            the oldest written command's reply deadline */
    ST_DRAINING,         /* a failover reply came: new commands wait, the
                            connection closes once written ones are answered */
    ST_CLOSING,          /* xacct_store_free deferred to the timer */
    ST_CLOSED,           /* torn down; waiting for the timer to close */
} conn_state_t;

typedef struct store_cmd store_cmd_t;
typedef struct xacct__sentinel_watch xacct__sentinel_watch_t;

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
    uv_loop_t *_loop;              /* borrowed */
    uv_timer_t _timer;             /* connect timeout / reconnect / reply deadline /
                                      deferred free (store_conn.c) */
    uv_timer_t _qtimer;            /* the oldest queued command's deadline (store_cmd.c) */
    int _handles;                  /* of those two, not yet closed: the last
                                      close frees the store */
    struct redisAsyncContext *_ac; /* current hiredis context, or NULL */
    conn_state_t _state;           /* see conn_state_t */
    int _closing;                  /* xacct_store_free was called */
    int _depth;                    /* nesting of callbacks we are inside */
    unsigned _attempt;             /* consecutive connections that failed or
                                      ended before a command was answered */
    uint64_t _connections;         /* ready connections so far */
    uint64_t _errors;              /* failed connects, lost connections, error replies */

    char *_host; /* from the URL, or from Sentinel (owned) */
    int _port;
    int _tls;                                /* rediss:// */
    xacct_tls_config_t *_tls_cfg;            /* loaded trust and client cert (owned), when _tls */
    char _tls_stale[320];                    /* why renewed TLS files were not taken up, or "" */
    xacct_tls_bridge_t *_bridge;             /* the current TLS connection's bridge, or NULL */
    xacct__store_lookup_t *_lookup;          /* plain connect: the name being looked up */
    xacct__store_addr_t _addrs[XACCT__STORE_MAX_ADDRS]; /* plain connect: its addresses, */
    size_t _naddrs;                          /* how many, */
    size_t _addr_next;                       /* and the next one to dial */
    char *_ca_file, *_cert_file, *_key_file; /* for Sentinel connections (owned) */
    char **_sentinels;                       /* "host:port" (owned), or NULL */
    size_t _nsentinels;
    size_t _sentinel_first;         /* the sentinel to ask first: the one that
                                       answered last, or the next one when its
                                       answer proved stale */
    size_t _stale_answers;          /* fail-fast: sentinels whose master was no
                                       master, in this attempt */
    char *_master_name;             /* owned */
    char *_sentinel_password;       /* owned, wiped, or NULL */
    xacct_sentinel_query_t *_query; /* running Sentinel question, or NULL */
    xacct__sentinel_watch_t *_watch; /* the +switch-master subscription, once a
                                        connection through Sentinel was ready */
    xacct_store_watch_cb _on_watch;  /* its news, or NULL */
    char _moved_host[256];           /* a sentinel announced this master address */
    int _moved_port;                 /* during the connect attempt; 0 = none */
    xacct_store_reply_cb _push_cb;   /* subscriber: the channel's pushes, or NULL */
    void *_push_arg;
    char *_user;                    /* ACL user or NULL (owned) */
    char *_password;                /* or NULL (owned, wiped) */
    int _db;
    char *_prefix; /* owned */

    int _reconnect; /* options, defaults applied */
    long _connect_timeout_ms;
    long _command_timeout_ms;
    size_t _max_queued;
    long _queue_timeout_ms;
    long _backoff_base_ms;
    long _backoff_max_ms;
    xacct_store_state_cb _on_state;
    void *_state_arg;

    store_cmd_t *_qhead, *_qtail; /* commands waiting for a connection */
    size_t _queued;               /* length of that queue */
    size_t _sent;                 /* user commands written, reply pending */
    store_cmd_t *_fhead, *_ftail; /* those commands, oldest first (for deadlines) */

    store_script_slot_t _scripts[XACCT_STORE_MAX_SCRIPTS]; /* known scripts */
    size_t _nscripts;

    char _why[320];      /* last connection failure, for details */
    int _attempt_auth;   /* this attempt was refused authentication */
    int _role_pending;   /* handshake: the role comes from INFO, after PING */
    char _auth_why[160]; /* the last attempt's refusal, for readiness, or "" */
    char _drop_why[200]; /* why we are dropping the connection, or "" */
};

/* ---- store_cmd.c: command objects, the queues, replies ---- */

/* a as a RESP array of bulk strings, the form Redis reads commands in (the
 * bytes hiredis' redisFormatCommandArgv would write, NUL-terminated like
 * them); *len gets its length. Free with free(). */
char *xacct__store_resp_format(const xacct_store_args_t *a, size_t *len);

/* A command for args a (formatted now, so a is not kept); cb fires once. */
store_cmd_t *xacct__store_cmd_new(xacct_store_t *s, const xacct_store_args_t *a,
                                  xacct_store_reply_cb cb, void *arg);
/* Wipes and frees c without calling it back; NULL is a no-op. */
/* The most elements xacct takes in one array reply: no command it sends
 * asks for more (pages, scripts' tables); reply_cap.c. */
#define XACCT__STORE_MAX_ARRAY (1 << 20)
struct redisReader;
/* Makes reader refuse an array header over XACCT__STORE_MAX_ARRAY (hiredis
 * 0.14 allocates what any header says); a reader with functions of its own
 * is left alone. */
void xacct__store_reply_cap(struct redisReader *reader);

void xacct__store_cmd_free(store_cmd_t *c);
/* Fires the user callback once (counted as inside a callback) and frees c. */
void xacct__store_cmd_finish(store_cmd_t *c, int status, const char *detail,
                             const xacct_store_reply_t *reply);

/* The queue of commands waiting for a connection, oldest first. With a
 * queue timeout, _qtimer fails each with XACCT_ETIMEOUT once it has waited
 * that long, whatever the connection is doing. */
void xacct__store_queue_push(xacct_store_t *s, store_cmd_t *c);
store_cmd_t *xacct__store_queue_pop(xacct_store_t *s); /* NULL when empty */
/* Fails every queued command; callbacks may queue new ones, which are left. */
void xacct__store_queue_fail_all(xacct_store_t *s, int status, const char *detail);

/* The commands written to the connection, oldest first. */
void xacct__store_fifo_push(xacct_store_t *s, store_cmd_t *c);
void xacct__store_fifo_remove(xacct_store_t *s, store_cmd_t *c);

/* Translates a hiredis reply into out (strings borrowed from in, valid until
 * the reply is freed); 0, XACCT_ETOOBIG (nested too deeply) or XACCT_EPARSE.
 * Release out's arrays with xacct__store_reply_free, also after a failure. */
int xacct__store_reply_convert(const struct redisReply *in, xacct_store_reply_t *out, int depth);
void xacct__store_reply_free(xacct_store_reply_t *r);

/* Whether an error reply says the server refused a command it did not run
 * (READONLY, LOADING, MASTERDOWN, NOREPLICAS; READONLY also as Redis 6
 * wraps it for a script): send it again on a new connection. */
int xacct__store_failover_reply(const char *e);

/* Whether an error reply says the server refused our credentials, or wants
 * some: NOAUTH, WRONGPASS, and the ERR forms of older servers. */
int xacct__store_auth_reply(const char *e);

/* Copies the value of "field:" from an INFO reply (len bytes at info) into
 * out; 1 if found and it fits, else 0 (out is then ""). */
int xacct__store_info_field(const char *info, size_t len, const char *field, char *out,
                            size_t outlen);

/* ---- store_conn.c: the connection and the dispatch onto it ---- */

/* Sends c now on a ready connection, else queues it (XACCT_EAGAIN, c freed,
 * when the queue is full); starts a connect in fail-fast mode. */
int xacct__store_cmd_submit(xacct_store_t *s, store_cmd_t *c);
/* SCRIPT LOAD on the current connection, ahead of anything queued. */
void xacct__store_load_script(xacct_store_t *s, const xacct_store_script_t *script);
/* Connects (through Sentinel when configured) unless already connecting. */
void xacct__store_start_connect(xacct_store_t *s);
/* The one timer: connect timeout, reconnect delay, reply deadline, deferred free. */
void xacct__store_timer_cb(uv_timer_t *t);
/* The name lookup's completion: dials addrs in order, each with the whole
 * connect timeout, until one connects (tests feed it made-up answers). */
void xacct__store_looked_up(int status, const xacct__store_addr_t *addrs, size_t n,
                            const char *detail, void *arg);
/* Cancels everything and closes the timer; the memory goes in its close callback. */
void xacct__store_teardown(xacct_store_t *s);
/* A jittered backoff delay after attempt failures, with s's base and cap. */
long xacct__store_retry_delay(const xacct_store_t *s, unsigned attempt);

/* SUBSCRIBE channel on s's ready connection (one channel per store): cb gets
 * each push of it (the confirmation, then every message) as an array, with
 * status 0. Nothing but the same SUBSCRIBE may be sent on the connection
 * afterwards (hiredis 0.14 loses other commands' answers there); it is
 * confirmed again each time. 0, or XACCT_EDISCONNECTED. */
int xacct__store_subscribe(xacct_store_t *s, const char *channel, xacct_store_reply_cb cb,
                           void *arg);
/* A sentinel (index sentinel) announced the master of s at host:port: a
 * ready connection elsewhere is dropped and Sentinel asked again, starting
 * with that sentinel; a connect under way must end there or start over. */
void xacct__store_master_moved(xacct_store_t *s, const char *host, int port, size_t sentinel);
/* Passes the watch's news to the owner's on_watch (inside a callback of s). */
void xacct__store_watch_news(xacct_store_t *s, xacct_store_watch_event_t ev, const char *detail);

/* ---- sentinel_watch.c: the +switch-master subscription ---- */

/* Starts watching the sentinels of owner (borrowed: owner frees the watch
 * in its teardown), first the one that answered last. */
xacct__sentinel_watch_t *xacct__sentinel_watch_new(xacct_store_t *owner);
/* Closes the subscription; memory goes with its timer's close. NULL: no-op. */
void xacct__sentinel_watch_free(xacct__sentinel_watch_t *w);

#endif
