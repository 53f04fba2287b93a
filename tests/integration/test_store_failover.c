/* SPDX-License-Identifier: MIT */
/*
 * Failover against real processes: a command with no reply by
 * command_timeout_ms (the server is stopped with SIGSTOP) fails with
 * XACCT_ETIMEOUT and the connection is recycled; READONLY and MASTERDOWN
 * replies from a replica send the command round again until the replica is
 * promoted, and none of them reaches the caller; a master configured with
 * min-replicas-to-write that has no replica refuses writes (NOREPLICAS,
 * plain and from a script) until one attaches, and they are sent round
 * again meanwhile; and with Debian's
 * redis-sentinel watching a master and a replica, the store follows the new
 * master after the master is killed in the middle of a stream of writes; an
 * unknown master name is reported, an ACL user that may not run ROLE
 * still connects through Sentinel, and a stale sentinel that names a replica
 * does not keep the store (nor a fail-fast one) from the real master, and
 * one that takes connections and never answers holds it up for a command
 * timeout, not a connect timeout; a
 * failover whose old master Sentinel cannot demote (and so never drops the
 * store) reaches the store through its +switch-master subscription, which
 * logs in with the sentinels' password and survives silent sentinels.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store_helper.h"

typedef struct states {
    int ups, downs;
    int readonly, masterdown, noreplicas; /* down details that named these replies */
    char seen[512];           /* the last down detail */
    int watch_ups, watch_downs, switches; /* the Sentinel watch's news */
    char watch_seen[512];     /* its last detail */
} states_t;

static void watch_cb(xacct_store_watch_event_t ev, const char *detail, void *arg)
{
    states_t *st = arg;
    st->watch_ups += ev == XACCT_STORE_WATCH_UP;
    st->watch_downs += ev == XACCT_STORE_WATCH_DOWN;
    st->switches += ev == XACCT_STORE_WATCH_SWITCH;
    snprintf(st->watch_seen, sizeof(st->watch_seen), "%s", detail ? detail : "");
}

static void state_cb(int up, int status, const char *detail, void *arg)
{
    states_t *st = arg;
    (void)status;
    if (up) {
        st->ups++;
        return;
    }
    st->downs++;
    snprintf(st->seen, sizeof(st->seen), "%s", detail ? detail : "");
    st->readonly += strstr(st->seen, "READONLY") != NULL;
    st->masterdown += strstr(st->seen, "MASTERDOWN") != NULL;
    st->noreplicas += strstr(st->seen, "NOREPLICAS") != NULL;
}

static xacct_store_t *open_store(uv_loop_t *loop, const xacct_store_options_t *extra,
                                 states_t *st)
{
    xacct_store_options_t o = *extra;
    o.reconnect = 1;
    o.connect_timeout_ms = o.connect_timeout_ms ? o.connect_timeout_ms : 2000;
    o.backoff_base_ms = 20;
    o.backoff_max_ms = 200;
    o.on_state = st ? state_cb : NULL;
    o.state_arg = st;
    return th_store_open(loop, &o);
}

static void url_for(char *out, size_t n, int port)
{
    snprintf(out, n, "redis://127.0.0.1:%d/0", port);
}

/* Waits (up to 20 s) until INFO replication of the server at port contains
 * needle, asking through a fail-fast store. */
static void wait_info(uv_loop_t *loop, int port, const char *section, const char *needle)
{
    char url[64];
    url_for(url, sizeof(url), port);
    xacct_store_options_t o = {.url = url, .connect_timeout_ms = 2000};
    xacct_store_t *s = NULL;
    char err[128];
    assert_int_equal(xacct_store_new(loop, &o, &s, err, sizeof(err)), 0);
    th_result_t r;
    for (int i = 0; i < 200; i++) {
        if (th_run_cmd(loop, s, 5000, &r, "INFO", section, NULL) && r.status == 0 &&
            strstr(r.str, needle) != NULL)
            break;
        th_sleep_ms(100);
    }
    if (strstr(r.str, needle) == NULL)
        fail_msg("INFO %s of %d never showed %s: %d %s %s", section, port, needle, r.status,
                 r.detail, r.str);
    xacct_store_free(s);
}

/* A replica on rport of the master on mport (diskless load: it writes no
 * dump.rdb into the shared dir); serve_stale false refuses reads while its
 * link is down. */
static pid_t start_replica_of(int rport, int mport, bool serve_stale)
{
    char mportstr[16];
    snprintf(mportstr, sizeof(mportstr), "%d", mport);
    const char *rextra[] = {"--replicaof", "127.0.0.1", mportstr, "--repl-diskless-load",
                            "swapdb", "--replica-serve-stale-data", "no", NULL};
    if (serve_stale)
        rextra[5] = NULL; /* the list ends before the last option */
    return th_redis_start(rport, rextra);
}

/* A master on a free port and a replica of it, started and in sync. */
static void start_master_and_replica(uv_loop_t *loop, int *mport, pid_t *master, int *rport,
                                     pid_t *replica)
{
    *mport = th_free_port();
    *rport = th_free_port();
    *master = th_redis_start(*mport, NULL);
    *replica = start_replica_of(*rport, *mport, true);
    wait_info(loop, *rport, "replication", "master_link_status:up");
}

/* Submits SET key value without waiting; res collects the outcome. */
static void submit_set(xacct_store_t *s, const char *key, const char *value, th_result_t *res)
{
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_str(&a, "SET");
    xacct_store_args_str(&a, key);
    xacct_store_args_str(&a, value);
    memset(res, 0, sizeof(*res));
    assert_int_equal(xacct_store_submit(s, &a, th_collect_cb, res), 0);
    xacct_store_args_destroy(&a);
}

/* ------------------------------------------------------------------ */

static void test_command_timeout_recycles(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    int port = th_free_port();
    pid_t pid = th_redis_start(port, NULL);
    char url[64];
    url_for(url, sizeof(url), port);
    states_t st = {0};
    xacct_store_options_t o = {.url = url, .command_timeout_ms = 300};
    xacct_store_t *s = open_store(&loop, &o, &st);
    th_result_t r;
    assert_true(th_run_cmd(&loop, s, 5000, &r, "SET", "ft:k", "1", NULL));
    assert_int_equal(r.status, 0);

    kill(pid, SIGSTOP); /* alive, connected, silent */
    th_result_t a, b;
    xacct_store_args_t args;
    xacct_store_args_init(&args);
    xacct_store_args_str(&args, "INCR");
    xacct_store_args_str(&args, "ft:k");
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    assert_int_equal(xacct_store_submit(s, &args, th_collect_cb, &a), 0);
    assert_int_equal(xacct_store_submit(s, &args, th_collect_cb, &b), 0);
    xacct_store_args_destroy(&args);
    assert_true(th_run_until(&loop, &a.done, 10000));
    assert_true(th_run_until(&loop, &b.done, 10000));
    /* The late one times out; the one behind it shares its connection's fate. */
    assert_int_equal(a.status, XACCT_ETIMEOUT);
    assert_non_null(strstr(a.detail, "no reply within 300 ms"));
    assert_int_equal(b.status, XACCT_EDISCONNECTED);
    assert_int_equal(xacct_store_is_up(s), 0);
    assert_true(st.downs >= 1);

    kill(pid, SIGCONT);
    assert_true(th_run_cmd(&loop, s, 10000, &r, "GET", "ft:k", NULL));
    assert_int_equal(r.status, 0);
    assert_true(xacct_store_connections(s) >= 2);
    th_store_close(&loop, s);
    th_redis_stop(pid);
}

static void test_readonly_and_masterdown_wait_for_promotion(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    int mport = th_free_port(), rport = th_free_port();
    pid_t master = th_redis_start(mport, NULL);
    pid_t replica = start_replica_of(rport, mport, false);
    wait_info(&loop, rport, "replication", "master_link_status:up");

    char url[64];
    url_for(url, sizeof(url), rport);
    states_t st = {0};
    xacct_store_options_t o = {.url = url};
    xacct_store_t *s = open_store(&loop, &o, &st);

    /* A write to the replica: refused with READONLY, sent round again. */
    th_result_t w, g;
    xacct_store_args_t a;
    submit_set(s, "fo:k", "written", &w);
    assert_false(th_run_until(&loop, &w.done, 1500));
    assert_true(st.readonly > 0);

    /* The master dies: the replica answers with MASTERDOWN (even the
     * handshake's PING), and the store keeps trying. */
    kill(master, SIGKILL);
    waitpid(master, NULL, 0);
    xacct_store_args_init(&a);
    xacct_store_args_str(&a, "GET");
    xacct_store_args_str(&a, "fo:k");
    memset(&g, 0, sizeof(g));
    assert_int_equal(xacct_store_submit(s, &a, th_collect_cb, &g), 0);
    xacct_store_args_destroy(&a);
    for (int i = 0; i < 150 && st.masterdown == 0; i++)
        th_run_until(&loop, &g.done, 100);
    assert_true(st.masterdown > 0);
    assert_int_equal(g.done, 0);
    assert_int_equal(w.done, 0);

    /* Promotion (what a failover does), by the operator's tool since a
     * stale replica refuses our handshake: both complete. */
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "redis-cli -p %d REPLICAOF NO ONE >/dev/null", rport);
    assert_int_equal(system(cmd), 0);

    assert_true(th_run_until(&loop, &w.done, 15000));
    assert_true(th_run_until(&loop, &g.done, 15000));
    assert_int_equal(w.status, 0);
    assert_int_equal(g.status, 0);
    assert_string_equal(g.str, "written");
    assert_true(xacct_store_connections(s) >= 2);
    th_store_close(&loop, s);
    th_redis_stop(replica);
}

static const xacct_store_script_t read_then_write = {
    "read_then_write",
    "local v = redis.call('GET', KEYS[1]) or '0'\n"
    "return redis.call('SET', KEYS[1], v .. ARGV[1])\n",
};

static void test_noreplicas_waits_for_a_replica(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    int mport = th_free_port(), rport = th_free_port();
    const char *mextra[] = {"--min-replicas-to-write", "1", "--min-replicas-max-lag", "10", NULL};
    pid_t master = th_redis_start(mport, mextra);
    char url[64];
    url_for(url, sizeof(url), mport);
    states_t st = {0};
    xacct_store_options_t o = {.url = url};
    xacct_store_t *s = open_store(&loop, &o, &st);

    /* Reads are served; a write and a script's write are refused without
     * running and never reach the caller. */
    th_result_t r, w, e;
    assert_true(th_run_cmd(&loop, s, 5000, &r, "GET", "nr:k", NULL));
    assert_int_equal(r.status, 0);
    submit_set(s, "nr:k", "w", &w);
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_str(&a, "nr:s");
    xacct_store_args_str(&a, "x");
    memset(&e, 0, sizeof(e));
    assert_int_equal(xacct_store_eval(s, &read_then_write, 1, &a, th_collect_cb, &e), 0);
    xacct_store_args_destroy(&a);
    assert_false(th_run_until(&loop, &e.done, 1500));
    assert_int_equal(w.done, 0);
    assert_true(st.noreplicas > 0);

    /* A replica attaches: both complete, each exactly once. */
    pid_t replica = start_replica_of(rport, mport, true);
    assert_true(th_run_until(&loop, &w.done, 20000));
    assert_true(th_run_until(&loop, &e.done, 20000));
    assert_int_equal(w.status, 0);
    assert_int_equal(e.status, 0);
    assert_true(th_run_cmd(&loop, s, 5000, &r, "GET", "nr:s", NULL));
    assert_int_equal(r.status, 0);
    assert_string_equal(r.str, "0x");
    assert_true(th_run_cmd(&loop, s, 5000, &r, "GET", "nr:k", NULL));
    assert_string_equal(r.str, "w");
    th_store_close(&loop, s);
    th_redis_stop(replica);
    th_redis_stop(master);
}

/* ---- Sentinel --------------------------------------------------------- */

typedef struct writer {
    uv_loop_t *loop;
    xacct_store_t *s;
    int next;          /* the value the next INCR should return */
    int ok;            /* INCRs that succeeded */
    int retried;       /* transient failures retried */
    int bad;           /* other failures */
    int stop_at;       /* stop after this many successes */
    int done;          /* reached stop_at */
    char last_err[256];
} writer_t;

static void write_next(writer_t *w);

static void writer_cb(int status, const char *detail, const xacct_store_reply_t *r, void *arg)
{
    writer_t *w = arg;
    if (status == 0) {
        w->ok++;
        (void)r;
    } else if (status == XACCT_EDISCONNECTED || status == XACCT_ETIMEOUT) {
        /* What every caller in the pipeline does: try again. */
        w->retried++;
    } else {
        w->bad++;
        snprintf(w->last_err, sizeof(w->last_err), "%d %s", status, detail ? detail : "");
    }
    if (w->ok >= w->stop_at) {
        w->done = 1;
        return;
    }
    write_next(w);
}

static void write_next(writer_t *w)
{
    char key[32];
    snprintf(key, sizeof(key), "sf:%d", w->ok);
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_str(&a, "SET");
    xacct_store_args_str(&a, key);
    xacct_store_args_str(&a, "v");
    assert_int_equal(xacct_store_submit(w->s, &a, writer_cb, w), 0);
    xacct_store_args_destroy(&a);
}

static void test_sentinel_follows_new_master(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char dir[256];
    th_tmpdir(dir, "sentinel");
    int mport, rport, sport = th_free_port();
    pid_t master, replica;
    start_master_and_replica(&loop, &mport, &master, &rport, &replica);

    char conf[300];
    snprintf(conf, sizeof(conf), "%s/sentinel.conf", dir);
    FILE *fp = fopen(conf, "w");
    assert_non_null(fp);
    fprintf(fp,
            "port %d\nbind 127.0.0.1\ndaemonize no\nlogfile \"\"\ndir %s\n"
            "sentinel monitor xm 127.0.0.1 %d 1\n"
            "sentinel down-after-milliseconds xm 1000\n"
            "sentinel failover-timeout xm 10000\n",
            sport, dir, mport);
    fclose(fp);
    pid_t sentinel = th_sentinel_start(conf, sport);
    /* The sentinel learns of the replica from the master's INFO. */
    char replica_seen[64];
    snprintf(replica_seen, sizeof(replica_seen), "slaves=1");
    wait_info(&loop, sport, "sentinel", replica_seen);

    char sentinel_addr[32];
    snprintf(sentinel_addr, sizeof(sentinel_addr), "127.0.0.1:%d", sport);
    /* A dead sentinel first: the store moves on to the next one. */
    char dead_addr[32];
    snprintf(dead_addr, sizeof(dead_addr), "127.0.0.1:%d", th_free_port());
    const char *sentinels[] = {dead_addr, sentinel_addr};
    states_t st = {0};
    xacct_store_options_t o = {.url = "redis://ignored:1/0", .sentinels = sentinels,
                               .nsentinels = 2, .master_name = "xm",
                               .command_timeout_ms = 2000};
    xacct_store_t *s = open_store(&loop, &o, &st);
    th_result_t r;
    char want[32];
    assert_true(th_run_cmd(&loop, s, 10000, &r, "INFO", "server", NULL));
    assert_int_equal(r.status, 0);
    snprintf(want, sizeof(want), "tcp_port:%d", mport);
    assert_non_null(strstr(r.str, want));

    writer_t w = {.loop = &loop, .s = s, .stop_at = 30};
    write_next(&w);
    assert_true(th_run_until(&loop, &w.done, 20000));
    assert_int_equal(w.bad, 0);

    /* Kill the master mid-stream; the writes carry on once Sentinel has
     * promoted the replica. */
    w.stop_at = 60;
    w.done = 0;
    write_next(&w);
    kill(master, SIGKILL);
    waitpid(master, NULL, 0);
    if (!th_run_until(&loop, &w.done, 60000))
        fail_msg("writes did not resume: ok %d retried %d; store said %s", w.ok, w.retried,
                 st.seen);
    if (w.bad != 0)
        fail_msg("a write failed for good: %s", w.last_err);
    assert_int_equal(w.ok, 60);

    assert_true(th_run_cmd(&loop, s, 10000, &r, "INFO", "server", NULL));
    assert_int_equal(r.status, 0);
    snprintf(want, sizeof(want), "tcp_port:%d", rport);
    assert_non_null(strstr(r.str, want));
    assert_true(th_run_cmd(&loop, s, 10000, &r, "ROLE", NULL));
    assert_string_equal(r.str, "master");
    assert_true(xacct_store_connections(s) >= 2);
    th_store_close(&loop, s);
    th_redis_stop(sentinel);
    th_redis_stop(replica);
    th_rmtree(dir);
}

/* One sentinel in dir watching the master on mport as "xm", with the extra
 * configuration lines given after that (may be ""); its address goes in
 * addr. */
static pid_t start_one_sentinel(const char *dir, int mport, const char *extra, char *addr,
                                size_t addrlen)
{
    int sport = th_free_port();
    char conf[300];
    snprintf(conf, sizeof(conf), "%s/sentinel.conf", dir);
    FILE *fp = fopen(conf, "w");
    assert_non_null(fp);
    fprintf(fp, "port %d\nbind 127.0.0.1\nlogfile \"\"\ndir %s\n"
                "sentinel monitor xm 127.0.0.1 %d 1\n%s",
            sport, dir, mport, extra);
    fclose(fp);
    snprintf(addr, addrlen, "127.0.0.1:%d", sport);
    return th_sentinel_start(conf, sport);
}

/* A fail-fast store with options o whose first command (PING) cannot be
 * served: r holds what the caller hears. The store and loop are closed. */
static void expect_no_master(uv_loop_t *loop, const xacct_store_options_t *o, th_result_t *r)
{
    xacct_store_t *s = NULL;
    char err[128];
    assert_int_equal(xacct_store_new(loop, o, &s, err, sizeof(err)), 0);
    assert_true(th_run_cmd(loop, s, 10000, r, "PING", NULL));
    assert_int_equal(r->status, XACCT_EDISCONNECTED);
    th_store_close(loop, s);
}

static void test_sentinel_unknown_master_and_user_without_role(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char dir[256];
    th_tmpdir(dir, "sentinel");
    int mport = th_free_port();
    /* An application user without @admin (so without ROLE). */
    const char *mextra[] = {"--user", "app", "on", ">pw", "~*", "&*", "+@all", "-@admin", NULL};
    pid_t master = th_redis_start(mport, mextra);
    char addr[32];
    pid_t sentinel = start_one_sentinel(dir, mport, "", addr, sizeof(addr));
    const char *sentinels[] = {addr};
    /* Fail-fast: the caller hears what the sentinel said. */
    xacct_store_options_t o = {.url = "redis://ignored:1/0", .sentinels = sentinels,
                               .nsentinels = 1, .master_name = "not-monitored",
                               .connect_timeout_ms = 2000};
    th_result_t r;
    expect_no_master(&loop, &o, &r);
    assert_non_null(strstr(r.detail, "does not know master 'not-monitored'"));
    xacct_store_t *s = NULL;
    char err[128];

    /* The monitored name, as the user that may not run ROLE: connects. */
    uv_loop_init(&loop);
    o.url = "redis://app:pw@ignored:1/0";
    o.master_name = "xm";
    assert_int_equal(xacct_store_new(&loop, &o, &s, err, sizeof(err)), 0);
    assert_true(th_run_cmd(&loop, s, 10000, &r, "ACL", "WHOAMI", NULL));
    if (r.status != 0)
        fail_msg("%d %s", r.status, r.detail);
    assert_string_equal(r.str, "app");
    th_store_close(&loop, s);
    th_redis_stop(sentinel);
    th_redis_stop(master);
    th_rmtree(dir);
}

/* Sentinels with a password of their own (requirepass, as many deployments
 * set): asked without it they refuse; with redis.sentinel_password the store
 * finds the master, whose own credentials stay in the URL. */
static void test_sentinel_with_a_password(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char dir[256];
    th_tmpdir(dir, "sentinel");
    int mport = th_free_port();
    const char *mextra[] = {"--requirepass", "master-pw", NULL};
    pid_t master = th_redis_start(mport, mextra);
    char addr[32];
    pid_t sentinel = start_one_sentinel(
        dir, mport, "requirepass s3nt:pw@x\nsentinel auth-pass xm master-pw\n", addr,
        sizeof(addr));
    const char *sentinels[] = {addr};
    xacct_store_options_t o = {.url = "redis://:master-pw@ignored:1/0", .sentinels = sentinels,
                               .nsentinels = 1, .master_name = "xm",
                               .connect_timeout_ms = 2000};
    th_result_t r;
    expect_no_master(&loop, &o, &r); /* the sentinel answers NOAUTH */
    /* ... and the operator is told which setting is missing (the URL's
     * password is the master's, not the sentinels'). */
    assert_non_null(strstr(r.detail, "NOAUTH"));
    assert_non_null(strstr(r.detail, "redis.sentinel_password"));
    assert_null(strstr(r.detail, "redis.url"));
    xacct_store_t *s = NULL;
    char err[128];

    /* With the sentinels' password (characters a URL must escape). */
    uv_loop_init(&loop);
    o.sentinel_password = "s3nt:pw@x";
    assert_int_equal(xacct_store_new(&loop, &o, &s, err, sizeof(err)), 0);
    assert_true(th_run_cmd(&loop, s, 10000, &r, "INFO", "server", NULL));
    if (r.status != 0)
        fail_msg("%d %s", r.status, r.detail);
    char want[32];
    snprintf(want, sizeof(want), "tcp_port:%d", mport);
    assert_non_null(strstr(r.str, want));
    th_store_close(&loop, s);

    /* The worker's +switch-master subscription logs in with it too. */
    uv_loop_init(&loop);
    states_t st = {0};
    o.on_watch = watch_cb;
    s = open_store(&loop, &o, &st);
    assert_true(th_run_cmd(&loop, s, 10000, &r, "PING", NULL));
    assert_int_equal(r.status, 0);
    if (!th_run_until(&loop, &st.watch_ups, 10000))
        fail_msg("no subscription: %s", st.watch_seen);
    assert_int_equal(st.watch_downs, 0);
    th_store_close(&loop, s);
    th_redis_stop(sentinel);
    th_redis_stop(master);
    th_rmtree(dir);
}

/* Two sentinels, the first stale: it names a replica as the master (as a
 * sentinel cut off from the others, or restarted with an old configuration,
 * does). ROLE shows the address is no master, and the store asks the next
 * sentinel rather than the stale one over and over: the worker's store and a
 * fail-fast (CLI) one both end up on the real master. */
static void test_sentinel_skips_a_stale_sentinel(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char dir1[256], dir2[256];
    th_tmpdir(dir1, "sentinel");
    th_tmpdir(dir2, "sentinel");
    int mport, rport;
    pid_t master, replica;
    start_master_and_replica(&loop, &mport, &master, &rport, &replica);
    char stale[32], good[32];
    pid_t s1 = start_one_sentinel(dir1, rport, "", stale, sizeof(stale));
    pid_t s2 = start_one_sentinel(dir2, mport, "", good, sizeof(good));
    const char *sentinels[] = {stale, good};
    char want[32];
    snprintf(want, sizeof(want), "tcp_port:%d", mport);

    states_t st = {0};
    xacct_store_options_t o = {.url = "redis://ignored:1/0", .sentinels = sentinels,
                               .nsentinels = 2, .master_name = "xm"};
    xacct_store_t *s = open_store(&loop, &o, &st);
    th_result_t r;
    assert_true(th_run_cmd(&loop, s, 10000, &r, "SET", "ss:k", "v", NULL));
    if (r.status != 0)
        fail_msg("%d %s (store said %s)", r.status, r.detail, st.seen);
    assert_true(th_run_cmd(&loop, s, 10000, &r, "INFO", "server", NULL));
    assert_non_null(strstr(r.str, want));
    th_store_close(&loop, s);

    uv_loop_init(&loop);
    o.reconnect = 0;
    o.connect_timeout_ms = 2000;
    s = th_store_open(&loop, &o);
    assert_true(th_run_cmd(&loop, s, 10000, &r, "INFO", "server", NULL));
    if (r.status != 0)
        fail_msg("fail-fast: %d %s", r.status, r.detail);
    assert_non_null(strstr(r.str, want));
    th_store_close(&loop, s);

    th_redis_stop(s1);
    th_redis_stop(s2);
    th_redis_stop(replica);
    th_redis_stop(master);
    th_rmtree(dir1);
    th_rmtree(dir2);
}

/* A sentinel that takes connections and never answers is given up after
 * the command timeout, not the connect timeout: the store reaches the
 * master through the next sentinel, and a command issued at once is served
 * within its queue timeout. */
static void test_silent_sentinel_costs_a_command_timeout(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char dir[256];
    th_tmpdir(dir, "sentinel");
    int mport = th_free_port();
    pid_t master = th_redis_start(mport, NULL);
    char good[32];
    pid_t sentinel = start_one_sentinel(dir, mport, "", good, sizeof(good));
    int port = 0;
    int fd = th_silent_listener(8, NULL, &port);
    assert_true(fd >= 0);
    char silent[32];
    snprintf(silent, sizeof(silent), "127.0.0.1:%d", port);
    const char *sentinels[] = {silent, good};

    states_t st = {0};
    xacct_store_options_t o = {.url = "redis://ignored:1/0",
                               .sentinels = sentinels,
                               .nsentinels = 2,
                               .master_name = "xm",
                               .connect_timeout_ms = 10000,
                               .command_timeout_ms = 1000,
                               .queue_timeout_ms = 3000};
    uv_update_time(&loop);
    uint64_t t0 = uv_hrtime();
    xacct_store_t *s = open_store(&loop, &o, &st);
    th_result_t r;
    assert_true(th_run_cmd(&loop, s, 10000, &r, "PING", NULL));
    long ms = (long)((uv_hrtime() - t0) / 1000000);
    if (r.status != 0 || ms < 900 || ms >= 3000)
        fail_msg("%s after %ld ms: %s (store said %s)", xacct_errname(r.status), ms, r.detail,
                 st.seen);
    th_store_close(&loop, s);
    close(fd);
    th_redis_stop(sentinel);
    th_redis_stop(master);
    th_rmtree(dir);
}

/* Runs the loop until the store's server is the one on port (INFO server),
 * up to timeout_ms. */
static int store_on_port(uv_loop_t *loop, xacct_store_t *s, int port, long timeout_ms)
{
    char want[32];
    snprintf(want, sizeof(want), "tcp_port:%d", port);
    uint64_t end = uv_now(loop) + (uint64_t)timeout_ms;
    th_result_t r;
    while (uv_now(loop) < end) {
        if (th_run_cmd(loop, s, 5000, &r, "INFO", "server", NULL) && r.status == 0 &&
            strstr(r.str, want) != NULL)
            return 1;
        int never = 0;
        th_run_until(loop, &never, 100);
    }
    return 0;
}

/*
 * A failover whose old master Sentinel cannot demote (a partition; here its
 * REPLICAOF and SLAVEOF are renamed away, so neither SLAVEOF nor the CLIENT
 * KILL sent with it runs): the old master keeps the store's connection and
 * takes its writes. The store hears +switch-master on its subscription and
 * moves to the new master. Then both sentinels go silent (SIGSTOP): the
 * watch reports that once, the data connection never notices, and the
 * watch subscribes again when they are back.
 */
static void test_sentinel_switch_reaches_a_partitioned_store(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char dir1[256], dir2[256];
    th_tmpdir(dir1, "sentinel");
    th_tmpdir(dir2, "sentinel");
    int mport = th_free_port(), rport = th_free_port();
    const char *mextra[] = {"--rename-command", "REPLICAOF", "", "--rename-command", "SLAVEOF",
                            "", NULL};
    pid_t master = th_redis_start(mport, mextra);
    pid_t replica = start_replica_of(rport, mport, true);
    wait_info(&loop, rport, "replication", "master_link_status:up");
    char a1[32], a2[32];
    pid_t s1 = start_one_sentinel(dir1, mport, "", a1, sizeof(a1));
    pid_t s2 = start_one_sentinel(dir2, mport, "", a2, sizeof(a2));
    wait_info(&loop, atoi(strchr(a1, ':') + 1), "sentinel", "slaves=1");
    wait_info(&loop, atoi(strchr(a2, ':') + 1), "sentinel", "slaves=1");
    const char *sentinels[] = {a1, a2};

    states_t st = {0};
    xacct_store_options_t o = {.url = "redis://ignored:1/0", .sentinels = sentinels,
                               .nsentinels = 2, .master_name = "xm",
                               .command_timeout_ms = 1000, .on_watch = watch_cb};
    xacct_store_t *s = open_store(&loop, &o, &st);
    assert_true(store_on_port(&loop, s, mport, 10000));
    assert_true(th_run_until(&loop, &st.watch_ups, 10000));
    assert_non_null(strstr(st.watch_seen, a1));

    /* The failover, asked of the sentinel the store does not watch. */
    xacct_store_options_t so = {.url = NULL, .prefix = "", .connect_timeout_ms = 2000};
    char surl[64];
    snprintf(surl, sizeof(surl), "redis://%s", a2);
    so.url = surl;
    xacct_store_t *sc = th_store_open(&loop, &so);
    th_result_t r;
    for (int i = 0; i < 100; i++) {
        /* NOGOODSLAVE until the sentinel has the replica's own INFO. */
        assert_true(th_run_cmd(&loop, sc, 5000, &r, "SENTINEL", "FAILOVER", "xm", NULL));
        if (r.status == 0 || strstr(r.detail, "NOGOODSLAVE") == NULL)
            break;
        int never = 0;
        th_run_until(&loop, &never, 200);
    }
    if (r.status != 0)
        fail_msg("SENTINEL FAILOVER: %d %s", r.status, r.detail);
    xacct_store_free(sc);
    if (!store_on_port(&loop, s, rport, 30000))
        fail_msg("still on the old master; store said %s; watch said %s", st.seen,
                 st.watch_seen);
    assert_int_equal(st.switches, 1);
    assert_true(th_run_cmd(&loop, s, 5000, &r, "SET", "ps:k", "new", NULL));
    assert_int_equal(r.status, 0);
    /* The old master is still a master the sentinels could not touch. */
    char murl[64];
    url_for(murl, sizeof(murl), mport);
    xacct_store_options_t mo = {.url = murl, .connect_timeout_ms = 2000};
    xacct_store_t *ms = th_store_open(&loop, &mo);
    assert_true(th_run_cmd(&loop, ms, 5000, &r, "ROLE", NULL));
    assert_string_equal(r.str, "master");
    xacct_store_free(ms);

    /* Both sentinels silent: one report, the data path untouched. */
    int downs = st.downs, ups = st.watch_ups;
    kill(s1, SIGSTOP);
    kill(s2, SIGSTOP);
    assert_true(th_run_until(&loop, &st.watch_downs, 10000));
    int never = 0;
    th_run_until(&loop, &never, 4000);
    assert_int_equal(st.watch_downs, 1);
    assert_true(th_run_cmd(&loop, s, 5000, &r, "SET", "ps:k", "again", NULL));
    assert_int_equal(r.status, 0);
    assert_int_equal(st.downs, downs);
    kill(s1, SIGCONT);
    kill(s2, SIGCONT);
    int want_ups = ups + 1;
    uint64_t end = uv_now(&loop) + 20000;
    while (st.watch_ups < want_ups && uv_now(&loop) < end)
        th_run_until(&loop, &never, 100);
    if (st.watch_ups < want_ups)
        fail_msg("the watch did not come back: %s", st.watch_seen);
    assert_int_equal(st.watch_downs, 1);
    assert_int_equal(st.downs, downs);

    th_store_close(&loop, s);
    th_redis_stop(s1);
    th_redis_stop(s2);
    th_redis_stop(replica);
    th_redis_stop(master);
    th_rmtree(dir1);
    th_rmtree(dir2);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_command_timeout_recycles),
        cmocka_unit_test(test_readonly_and_masterdown_wait_for_promotion),
        cmocka_unit_test(test_noreplicas_waits_for_a_replica),
        cmocka_unit_test(test_sentinel_follows_new_master),
        cmocka_unit_test(test_sentinel_unknown_master_and_user_without_role),
        cmocka_unit_test(test_sentinel_with_a_password),
        cmocka_unit_test(test_sentinel_skips_a_stale_sentinel),
        cmocka_unit_test(test_silent_sentinel_costs_a_command_timeout),
        cmocka_unit_test(test_sentinel_switch_reaches_a_partitioned_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
