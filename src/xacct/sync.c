/* SPDX-License-Identifier: MIT */
/*
 * Blocking forms of the library calls several commands share: each starts
 * the asynchronous call with a small result struct as its argument and runs
 * the loop until the callback has filled it in. Everything a callback hands
 * over is borrowed, so it is copied here (records into jansson objects whose
 * external ID is wiped on release).
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "xacct/customers.h"
#include "xacct/extid.h"

void cli_res_set(cli_res_t *r, int status, const char *detail)
{
    r->status = status;
    free(r->detail);
    r->detail = detail ? xacct_strdup(detail) : NULL;
    r->done = true;
}

void cli_res_clear(cli_res_t *r)
{
    free(r->detail);
    memset(r, 0, sizeof(*r));
}

/* ---- customer record ---------------------------------------------------- */

typedef struct get_op {
    cli_res_t *r;
    xacct_customer_t *customer;
} get_op_t;

static void get_done(int status, const char *detail, const xacct_customer_t *customer,
                     void *arg)
{
    get_op_t *op = arg;
    if (status == 0)
        op->customer = xacct_customer_dup(customer);
    cli_res_set(op->r, status, detail);
}

int cli_customer_get(cli_t *c, const char *account, xacct_customer_t **customer, cli_res_t *r)
{
    *customer = NULL;
    cli_res_clear(r);
    get_op_t op = {.r = r};
    int rc = xacct_customers_get(c->store, account, get_done, &op);
    if (rc != 0) {
        cli_res_set(r, rc, NULL);
        return rc;
    }
    cli_wait(c, &r->done);
    *customer = op.customer;
    return r->status;
}

int cli_load_customer(cli_t *c, const char *account, xacct_customer_t **customer)
{
    cli_res_t r = {0};
    int rc = 0;
    if (cli_customer_get(c, account, customer, &r) != 0)
        rc = r.status == XACCT_ENOTFOUND
                 ? cli_fail(c, "no customer %s", account)
                 : cli_fail_store(c, r.status, r.detail, "reading the customer");
    cli_res_clear(&r);
    return rc;
}

int cli_load_customer_role(cli_t *c, const char *account, xacct_customer_t **customer)
{
    int rc = cli_load_customer(c, account, customer);
    if (rc != 0)
        return rc;
    if ((*customer)->role_arn[0] == '\0')
        rc = cli_fail(c, "customer %s has no role yet (state %s)", account,
                      xacct_customer_state_name((*customer)->state));
    else
        rc = cli_aws(c);
    if (rc != 0) {
        xacct_customer_free(*customer);
        *customer = NULL;
    }
    return rc;
}

static void audit_done(int status, const char *detail, void *arg)
{
    cli_res_set(arg, status, detail);
}

void cli_audit(cli_t *c, const char *account, const char *type, const char *outcome,
               const char *reason)
{
    xacct_event_t ev = cli_event(type, outcome, reason);
    cli_res_t r = {0};
    int rc = xacct_customers_audit(c->store, account, &ev, audit_done, &r);
    if (rc == 0)
        cli_wait(c, &r.done);
    else
        cli_res_set(&r, rc, NULL);
    if (r.status != 0)
        fprintf(c->err, "xacct %s: warning: the audit event was not recorded: %s\n", c->command,
                r.detail ? r.detail : xacct_strerror(r.status));
    cli_res_clear(&r);
}



xacct_event_t cli_event(const char *type, const char *outcome, const char *reason)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (xacct_event_t){
        .v = XACCT_CODEC_VERSION,
        .ts = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
        .type = type,
        .outcome = outcome,
        .reason = reason,
        .actor = "cli",
    };
}

/* ---- locks -------------------------------------------------------------- */

typedef struct lock_op {
    cli_res_t *r;
    int acquired;
} lock_op_t;

static void lock_done(int status, const char *detail, int acquired, void *arg)
{
    lock_op_t *op = arg;
    op->acquired = acquired;
    cli_res_set(op->r, status, detail);
}

typedef struct sleeper {
    uv_timer_t timer;
    bool fired;
    bool closed;
} sleeper_t;

static void sleeper_fire(uv_timer_t *t)
{
    xacct_container_of(t, sleeper_t, timer)->fired = true;
}

static void sleeper_closed(uv_handle_t *h)
{
    xacct_container_of((uv_timer_t *)h, sleeper_t, timer)->closed = true;
}

/* Lets the loop run for ms (other callbacks may fire meanwhile). */
static void sleep_ms(cli_t *c, long ms)
{
    sleeper_t s = {0};
    uv_timer_init(&c->loop, &s.timer);
    uv_timer_start(&s.timer, sleeper_fire, (uint64_t)ms, 0);
    cli_wait(c, &s.fired);
    uv_close((uv_handle_t *)&s.timer, sleeper_closed);
    cli_wait(c, &s.closed);
}

int cli_lock(cli_t *c, const char *name, char token[64], long ttl_ms, long wait_ms, cli_res_t *r)
{
    char id[XACCT_EXTID_LEN + 1];
    cli_res_clear(r);
    int rc = xacct_extid_generate(id);
    if (rc != 0) {
        cli_res_set(r, rc, "cannot generate a lock token");
        return rc;
    }
    snprintf(token, 64, "cli-%d-%s", (int)getpid(), id);
    uint64_t deadline = uv_now(&c->loop) + (uint64_t)wait_ms;
    long pause = 20;
    for (;;) {
        lock_op_t op = {.r = r};
        cli_res_clear(r);
        rc = xacct_store_lock_acquire(c->store, name, token, ttl_ms, lock_done, &op);
        if (rc != 0) {
            cli_res_set(r, rc, NULL);
            return rc;
        }
        cli_wait(c, &r->done);
        if (r->status != 0)
            return r->status;
        if (op.acquired)
            return 0;
        uv_update_time(&c->loop);
        if (uv_now(&c->loop) >= deadline) {
            cli_res_set(r, XACCT_ETIMEOUT, "another xacct is holding the lock");
            return XACCT_ETIMEOUT;
        }
        sleep_ms(c, pause);
        pause = pause < 200 ? pause * 2 : 200;
    }
}

void cli_unlock(cli_t *c, const char *name, const char *token)
{
    cli_res_t r = {0};
    lock_op_t op = {.r = &r};
    /* A release that fails leaves the lease to expire on its own. */
    if (xacct_store_lock_release(c->store, name, token, lock_done, &op) == 0)
        cli_wait(c, &r.done);
    cli_res_clear(&r);
}

void cli_record_free(json_t *record)
{
    json_t *id = json_object_get(record, "external_id");
    if (json_is_string(id)) {
        /* jansson keeps the string's bytes in the value: wipe them. */
        char *p = (char *)json_string_value(id);
        OPENSSL_cleanse(p, json_string_length(id));
    }
    json_decref(record);
}
