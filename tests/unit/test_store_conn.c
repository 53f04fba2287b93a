/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the Redis connection's set-up against a scripted server on
 * 127.0.0.1 (no redis-server needed): every address of a name is dialled in
 * turn, each with its own connect timeout; a refused password is named as
 * such, without the password; a server with ROLE renamed away is asked
 * INFO replication instead; and a failover Sentinel announces while a
 * connection is being made, or is ready, ends it unless it is at the
 * announced address. Also the pure helpers behind them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cmocka.h>

#include "../../src/store/store_int.h"

/* ------------------------------------------------------------------ */
/* A scripted Redis: answers each command by its name.                  */

typedef struct fake {
    uv_loop_t *loop;
    uv_tcp_t server;
    int port;
    const char *auth;      /* AUTH's answer (RESP), or NULL: +OK */
    const char *noauth;    /* every command but AUTH gets this, or NULL */
    const char *role;      /* ROLE's answer, or NULL: master */
    const char *info;      /* INFO's answer, or NULL: role:master */
    int commands;          /* commands answered */
    int infos;             /* INFO commands seen */
} fake_t;

typedef struct peer {
    uv_tcp_t tcp;
    fake_t *f;
    char buf[65536];
    size_t len;
} peer_t;

static void peer_closed(uv_handle_t *h)
{
    free(h->data);
}

static void written(uv_write_t *w, int status)
{
    (void)status;
    free(w);
}

static void say(peer_t *p, const char *text)
{
    size_t n = strlen(text);
    uv_write_t *w = malloc(sizeof(*w) + n);
    char *copy = (char *)(w + 1);
    memcpy(copy, text, n);
    uv_buf_t b = uv_buf_init(copy, (unsigned)n);
    if (uv_write(w, (uv_stream_t *)&p->tcp, &b, 1, written) != 0)
        free(w);
}

static void answer(peer_t *p, const char *name, const char *arg1)
{
    fake_t *f = p->f;
    char tmp[256];
    f->commands++;
    if (strcasecmp(name, "AUTH") == 0) {
        say(p, f->auth ? f->auth : "+OK\r\n");
        return;
    }
    if (f->noauth != NULL) {
        say(p, f->noauth);
        return;
    }
    if (strcasecmp(name, "SENTINEL") == 0) {
        snprintf(tmp, sizeof(tmp), "*2\r\n$9\r\n127.0.0.1\r\n$%d\r\n%d\r\n",
                 snprintf(NULL, 0, "%d", f->port), f->port);
        say(p, tmp);
    } else if (strcasecmp(name, "ROLE") == 0) {
        say(p, f->role ? f->role : "*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n");
    } else if (strcasecmp(name, "INFO") == 0) {
        f->infos++;
        assert_non_null(arg1);
        assert_string_equal(arg1, "replication");
        const char *body = f->info ? f->info : "# Replication\r\nrole:master\r\n";
        snprintf(tmp, sizeof(tmp), "$%zu\r\n%s\r\n", strlen(body), body);
        say(p, tmp);
    } else if (strcasecmp(name, "PING") == 0) {
        say(p, "+PONG\r\n");
    } else {
        say(p, "+OK\r\n");
    }
}

/* Parses whole RESP commands (arrays of bulk strings) off the buffer. */
static void parse(peer_t *p)
{
    for (;;) {
        char *q = p->buf, *end = p->buf + p->len;
        char *nl = memchr(q, '\n', (size_t)(end - q));
        if (q >= end || *q != '*' || nl == NULL)
            return;
        int argc = atoi(q + 1);
        q = nl + 1;
        char args[2][64] = {"", ""};
        for (int i = 0; i < argc; i++) {
            nl = q < end ? memchr(q, '\n', (size_t)(end - q)) : NULL;
            if (nl == NULL || *q != '$')
                return;
            size_t n = (size_t)atol(q + 1);
            q = nl + 1;
            if ((size_t)(end - q) < n + 2)
                return;
            if (i < 2)
                snprintf(args[i], sizeof(args[i]), "%.*s", (int)(n < 63 ? n : 63), q);
            q += n + 2;
        }
        answer(p, args[0], argc > 1 ? args[1] : NULL);
        memmove(p->buf, q, (size_t)(end - q));
        p->len = (size_t)(end - q);
    }
}

static void peer_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    peer_t *p = h->data;
    (void)suggested;
    b->base = p->buf + p->len;
    b->len = sizeof(p->buf) - p->len;
}

static void peer_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    peer_t *p = st->data;
    (void)b;
    if (n < 0) {
        uv_close((uv_handle_t *)st, peer_closed);
        return;
    }
    p->len += (size_t)n;
    parse(p);
}

static void on_peer(uv_stream_t *server, int status)
{
    fake_t *f = server->data;
    assert_int_equal(status, 0);
    peer_t *p = calloc(1, sizeof(*p));
    p->f = f;
    uv_tcp_init(f->loop, &p->tcp);
    p->tcp.data = p;
    assert_int_equal(uv_accept(server, (uv_stream_t *)&p->tcp), 0);
    uv_read_start((uv_stream_t *)&p->tcp, peer_alloc, peer_read);
}

static void fake_start(fake_t *f, uv_loop_t *loop)
{
    f->loop = loop;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(loop, &f->server);
    f->server.data = f;
    assert_int_equal(uv_tcp_bind(&f->server, (const struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&f->server, 16, on_peer), 0);
    struct sockaddr_storage got;
    int len = sizeof(got);
    uv_tcp_getsockname(&f->server, (struct sockaddr *)&got, &len);
    f->port = ntohs(((struct sockaddr_in *)&got)->sin_port);
}

/* Closes the listeners (no callback) and the peers still open (freed). */
static void close_any(uv_handle_t *h, void *arg)
{
    fake_t *f = arg;
    if (uv_is_closing(h) || h->type != UV_TCP)
        return;
    uv_close(h, h->data == f ? NULL : peer_closed);
}

/* ------------------------------------------------------------------ */
/* Running one command against a store                                  */

typedef struct result {
    int done;
    int status;
    char detail[400];
    char reply[64];
} result_t;

static void got(int status, const char *detail, const xacct_store_reply_t *r, void *arg)
{
    result_t *res = arg;
    res->done = 1;
    res->status = status;
    snprintf(res->detail, sizeof(res->detail), "%s", detail ? detail : "");
    if (status == 0 && r->str != NULL)
        snprintf(res->reply, sizeof(res->reply), "%s", r->str);
}

static void run_until(uv_loop_t *loop, const int *flag, long max_ms)
{
    uint64_t end = uv_now(loop) + (uint64_t)max_ms;
    while (!*flag && uv_now(loop) < end) {
        uv_run(loop, UV_RUN_ONCE);
        uv_update_time(loop);
    }
}

static void finish(uv_loop_t *loop, xacct_store_t *s, fake_t *f)
{
    xacct_store_free(s);
    uv_run(loop, UV_RUN_NOWAIT);
    uv_walk(loop, close_any, f);
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(loop), 0);
}

static xacct_store_t *store_for(uv_loop_t *loop, const char *url, long timeout_ms,
                                const char *const *sentinels, size_t nsentinels)
{
    xacct_store_options_t o = {
        .url = url,
        .reconnect = 0,
        .connect_timeout_ms = timeout_ms,
        .command_timeout_ms = 2000,
        .sentinels = sentinels,
        .nsentinels = nsentinels,
    };
    xacct_store_t *s = NULL;
    char err[256];
    assert_int_equal(xacct_store_new(loop, &o, &s, err, sizeof(err)), 0);
    return s;
}

/* Sends PING and runs the loop until its answer has come (5 s at most). */
static void ping(uv_loop_t *loop, xacct_store_t *s, result_t *r)
{
    assert_int_equal(xacct_store_cmd(s, got, r, "PING", NULL), 0);
    run_until(loop, &r->done, 5000);
    assert_true(r->done);
}

/* A store whose URL names host at the fake's port (its lookup still to be
 * answered, see resolve_as). */
static xacct_store_t *store_at_fake(uv_loop_t *loop, fake_t *f, const char *host,
                                    long timeout_ms)
{
    uv_loop_init(loop);
    fake_start(f, loop);
    char url[128];
    snprintf(url, sizeof(url), "redis://%s:%d/0", host, f->port);
    return store_for(loop, url, timeout_ms, NULL, 0);
}

/* Replaces the lookup of the URL's name, started by xacct_store_new, with
 * the given answer, as if the resolver had said so. */
static void resolve_as(xacct_store_t *s, const char *const *addrs, size_t n)
{
    assert_int_equal(s->_state, ST_CONNECTING);
    assert_non_null(s->_lookup);
    xacct__store_lookup_abandon(s->_lookup);
    s->_lookup = NULL;
    xacct__store_addr_t list[4];
    for (size_t i = 0; i < n; i++)
        snprintf(list[i], sizeof(list[i]), "%s", addrs[i]);
    xacct__store_looked_up(0, list, n, NULL, s);
}

/* ------------------------------------------------------------------ */
/* Every address of a name                                              */

static void test_addr_list_order(void **state)
{
    (void)state;
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
    struct sockaddr_in v4 = {.sin_family = AF_INET};
    inet_pton(AF_INET6, "::1", &v6.sin6_addr);
    inet_pton(AF_INET, "127.0.0.1", &v4.sin_addr);
    struct addrinfo dup = {.ai_family = AF_INET6, .ai_addr = (struct sockaddr *)&v6};
    struct addrinfo second = {.ai_family = AF_INET, .ai_addr = (struct sockaddr *)&v4,
                              .ai_next = &dup};
    struct addrinfo first = {.ai_family = AF_INET6, .ai_addr = (struct sockaddr *)&v6,
                             .ai_next = &second};
    xacct__store_addr_t out[4];
    /* Every address once, IPv4 first (as documented), then IPv6. */
    assert_int_equal(xacct__store_addr_list(&first, out, 4), 2);
    assert_string_equal(out[0], "127.0.0.1");
    assert_string_equal(out[1], "::1");
    assert_int_equal(xacct__store_addr_list(&first, out, 1), 1);
    assert_string_equal(out[0], "127.0.0.1");
    assert_int_equal(xacct__store_addr_list(&dup, out, 4), 1);
    assert_string_equal(out[0], "::1");
    assert_int_equal(xacct__store_addr_list(NULL, out, 4), 0);
}

static void test_refused_first_address_then_second(void **state)
{
    (void)state;
    uv_loop_t loop;
    fake_t f = {0};
    xacct_store_t *s = store_at_fake(&loop, &f, "localhost", 2000);
    /* localhost as many hosts have it: ::1 first, where nothing listens. */
    const char *addrs[] = {"::1", "127.0.0.1"};
    resolve_as(s, addrs, 2);
    result_t r = {0};
    ping(&loop, s, &r);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.reply, "PONG");
    assert_int_equal(xacct_store_connections(s), 1);
    finish(&loop, s, &f);
}

static void never_accept(uv_stream_t *server, int status)
{
    (void)server;
    (void)status;
}

static void test_silent_first_address_gets_its_own_timeout(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    fake_t f = {0};
    fake_start(&f, &loop);
    /* 127.0.0.2 takes the connection and never says a word. */
    uv_tcp_t silent;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.2", f.port, &a);
    uv_tcp_init(&loop, &silent);
    silent.data = &f;
    assert_int_equal(uv_tcp_bind(&silent, (const struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&silent, 4, never_accept), 0);
    char url[128];
    snprintf(url, sizeof(url), "redis://redis.example:%d/0", f.port);
    xacct_store_t *s = store_for(&loop, url, 400, NULL, 0);
    const char *addrs[] = {"127.0.0.2", "127.0.0.1"};
    resolve_as(s, addrs, 2);
    result_t r = {0};
    uint64_t start = uv_now(&loop);
    ping(&loop, s, &r);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.reply, "PONG");
    /* The second address had a timeout of its own, not the rest of one. */
    assert_true(uv_now(&loop) - start >= 400);
    finish(&loop, s, &f);
}

static void test_every_address_fails(void **state)
{
    (void)state;
    uv_loop_t loop;
    fake_t f = {0};
    xacct_store_t *s = store_at_fake(&loop, &f, "localhost", 2000);
    const char *addrs[] = {"::1", "127.0.0.2"};
    uv_close((uv_handle_t *)&f.server, NULL); /* nothing listens anywhere */
    resolve_as(s, addrs, 2);
    result_t r = {0};
    ping(&loop, s, &r);
    assert_int_equal(r.status, XACCT_EDISCONNECTED);
    assert_non_null(strstr(r.detail, "Redis at localhost:"));
    finish(&loop, s, &f);
}

/* ------------------------------------------------------------------ */
/* Refused authentication                                               */

static void auth_case(const char *url_fmt, const char *auth, const char *noauth,
                      const char *server_words)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    fake_t f = {.auth = auth, .noauth = noauth};
    fake_start(&f, &loop);
    char url[128], expect[200];
    snprintf(url, sizeof(url), url_fmt, f.port);
    xacct_store_t *s = store_for(&loop, url, 2000, NULL, 0);
    result_t r = {0};
    ping(&loop, s, &r);
    assert_int_equal(r.status, XACCT_EDISCONNECTED);
    snprintf(expect, sizeof(expect),
             "authentication refused by redis at 127.0.0.1:%d (check the password/user in "
             "redis.url)",
             f.port);
    assert_non_null(strstr(r.detail, expect));
    assert_non_null(strstr(r.detail, server_words));
    assert_null(strstr(r.detail, "s3cret-pw"));
    const char *why = xacct_store_auth_refused(s);
    assert_non_null(why);
    assert_string_equal(why, expect);
    finish(&loop, s, &f);
}

static void test_wrong_password_named(void **state)
{
    (void)state;
    auth_case("redis://app:s3cret-pw@127.0.0.1:%d/3",
              "-WRONGPASS invalid username-password pair or user is disabled.\r\n", NULL,
              "WRONGPASS");
}

static void test_missing_password_named(void **state)
{
    (void)state;
    auth_case("redis://127.0.0.1:%d/0", NULL, "-NOAUTH Authentication required.\r\n", "NOAUTH");
}

static void test_password_server_does_not_want_named(void **state)
{
    (void)state;
    auth_case("redis://:s3cret-pw@127.0.0.1:%d/0",
              "-ERR AUTH <password> called without any password configured for the default "
              "user. Are you sure your configuration is correct?\r\n",
              NULL, "without any password");
}

static void test_unreachable_is_not_auth(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    fake_t f = {0};
    fake_start(&f, &loop);
    char url[128];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", f.port);
    uv_close((uv_handle_t *)&f.server, NULL);
    xacct_store_t *s = store_for(&loop, url, 2000, NULL, 0);
    result_t r = {0};
    ping(&loop, s, &r);
    assert_int_equal(r.status, XACCT_EDISCONNECTED);
    assert_null(xacct_store_auth_refused(s));
    finish(&loop, s, &f);
}

static void test_auth_reply_kinds(void **state)
{
    (void)state;
    assert_true(xacct__store_auth_reply("NOAUTH Authentication required."));
    assert_true(xacct__store_auth_reply("WRONGPASS invalid username-password pair or user is "
                                        "disabled."));
    assert_true(xacct__store_auth_reply("ERR invalid password"));
    assert_true(xacct__store_auth_reply("ERR Client sent AUTH, but no password is set"));
    assert_false(xacct__store_auth_reply("NOPERM this user has no permissions to run the "
                                         "'select' command"));
    assert_false(xacct__store_auth_reply("ERR DB index is out of range"));
    assert_false(xacct__store_auth_reply("READONLY You can't write against a read only replica."));
}

/* A store that asks the fake, as its one sentinel, where the master is (the
 * fake answers with itself), with a PING waiting for the connection. */
static xacct_store_t *behind_sentinel(uv_loop_t *loop, fake_t *f, result_t *r)
{
    uv_loop_init(loop);
    fake_start(f, loop);
    char sentinel[64];
    snprintf(sentinel, sizeof(sentinel), "127.0.0.1:%d", f->port);
    const char *sentinels[] = {sentinel}; /* copied by the store */
    xacct_store_t *s = store_for(loop, "redis://unused.invalid:1/0", 2000, sentinels, 1);
    assert_int_equal(xacct_store_cmd(s, got, r, "PING", NULL), 0);
    return s;
}

/* Runs the loop until the PING behind_sentinel sent is answered: with
 * want_up a PONG, else the connection given up with why in its detail. */
static void ping_outcome(uv_loop_t *loop, result_t *r, int want_up, const char *why)
{
    run_until(loop, &r->done, 5000);
    assert_true(r->done);
    if (want_up) {
        assert_int_equal(r->status, 0);
        assert_string_equal(r->reply, "PONG");
    } else {
        assert_int_equal(r->status, XACCT_EDISCONNECTED);
        assert_non_null(strstr(r->detail, why));
    }
}

/* ------------------------------------------------------------------ */
/* ROLE renamed away (rename-command ROLE "")                          */

static void role_case(const char *info, int want_up)
{
    uv_loop_t loop;
    fake_t f = {.role = "-ERR unknown command 'ROLE', with args beginning with: \r\n",
                .info = info};
    result_t r = {0};
    xacct_store_t *s = behind_sentinel(&loop, &f, &r);
    ping_outcome(&loop, &r, want_up, "not the master (INFO role: slave)");
    assert_int_equal(f.infos, 1);
    finish(&loop, s, &f);
}

static void test_role_renamed_master_by_info(void **state)
{
    (void)state;
    role_case("# Replication\r\nrole:master\r\nconnected_slaves:0\r\n", 1);
}

static void test_role_renamed_replica_by_info(void **state)
{
    (void)state;
    role_case("# Replication\r\nrole:slave\r\nmaster_host:10.0.0.9\r\n", 0);
}

static void test_info_field(void **state)
{
    (void)state;
    char v[16];
    const char *info = "# Replication\r\nmaster_role:x\r\nrole:slave\r\nmaster_host:h\r\n";
    assert_true(xacct__store_info_field(info, strlen(info), "role", v, sizeof(v)));
    assert_string_equal(v, "slave");
    /* The last line may lack its CRLF; a value that does not fit is no value. */
    const char *bare = "role:master";
    assert_true(xacct__store_info_field(bare, strlen(bare), "role", v, sizeof(v)));
    assert_string_equal(v, "master");
    assert_false(xacct__store_info_field(bare, strlen(bare), "role", v, 6));
    assert_false(xacct__store_info_field(info, strlen(info), "ole", v, sizeof(v)));
    assert_false(xacct__store_info_field("", 0, "role", v, sizeof(v)));
    assert_string_equal(v, "");
    /* Only len bytes count. */
    assert_false(xacct__store_info_field(bare, 4, "role", v, sizeof(v)));
}

/* ------------------------------------------------------------------ */
/* A failover announced while connecting (+switch-master)               */

static void moved_case(int moved_port, int want_up)
{
    uv_loop_t loop;
    fake_t f = {0};
    result_t r = {0};
    xacct_store_t *s = behind_sentinel(&loop, &f, &r);
    /* The sentinel's answer may predate the announcement: only the
     * announced address will do at the end of this attempt. */
    assert_int_equal(s->_state, ST_RESOLVING);
    xacct__store_master_moved(s, "127.0.0.1", moved_port ? moved_port : f.port, 0);
    ping_outcome(&loop, &r, want_up, "Sentinel moved master 'mymaster' to 127.0.0.1:");
    finish(&loop, s, &f);
}

static void test_moved_elsewhere_while_connecting(void **state)
{
    (void)state;
    moved_case(1, 0);
}

static void test_moved_to_the_address_being_tried(void **state)
{
    (void)state;
    moved_case(0, 1);
}

/* On a ready connection the announcement of another address drops it. */
static void test_moved_drops_ready_connection(void **state)
{
    (void)state;
    uv_loop_t loop;
    fake_t f = {0};
    result_t r = {0};
    xacct_store_t *s = behind_sentinel(&loop, &f, &r);
    run_until(&loop, &r.done, 5000);
    assert_int_equal(r.status, 0);
    assert_true(xacct_store_is_up(s));
    xacct__store_master_moved(s, "127.0.0.1", f.port, 0); /* where we are: kept */
    assert_true(xacct_store_is_up(s));
    /* Nothing is awaiting a reply: hiredis closes it at once. */
    xacct__store_master_moved(s, "10.0.0.9", 6379, 0);
    assert_false(xacct_store_is_up(s));
    assert_int_equal(s->_state, ST_DISCONNECTED);
    assert_non_null(strstr(s->_why, "Sentinel announced a failover to 10.0.0.9:6379"));
    finish(&loop, s, &f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_list_order),
        cmocka_unit_test(test_refused_first_address_then_second),
        cmocka_unit_test(test_silent_first_address_gets_its_own_timeout),
        cmocka_unit_test(test_every_address_fails),
        cmocka_unit_test(test_wrong_password_named),
        cmocka_unit_test(test_missing_password_named),
        cmocka_unit_test(test_password_server_does_not_want_named),
        cmocka_unit_test(test_unreachable_is_not_auth),
        cmocka_unit_test(test_auth_reply_kinds),
        cmocka_unit_test(test_moved_elsewhere_while_connecting),
        cmocka_unit_test(test_moved_to_the_address_being_tried),
        cmocka_unit_test(test_moved_drops_ready_connection),
        cmocka_unit_test(test_role_renamed_master_by_info),
        cmocka_unit_test(test_role_renamed_replica_by_info),
        cmocka_unit_test(test_info_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
