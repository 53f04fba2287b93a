/* SPDX-License-Identifier: MIT */
/*
 * The Redis connection's commands as objects: each formatted once into RESP
 * (by hand: hiredis' redisFormatCommandArgv spends a sprintf on every
 * argument's length; and wiped when freed), kept in one of two queues (waiting for a
 * connection, whose oldest command's queue deadline a timer of its own
 * watches; written and waiting for a reply, oldest first, which is what
 * the reply deadline watches), finished by firing its callback exactly once;
 * and hiredis replies translated into xacct_store_reply_t. It calls nothing
 * else of the store.
 */
#include <hiredis/hiredis.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

#define MAX_REPLY_DEPTH 16

void xacct__store_cmd_free(store_cmd_t *c)
{
    if (c == NULL)
        return;
    if (c->wire != NULL) {
        OPENSSL_cleanse(c->wire, c->wire_len);
        free(c->wire);
    }
    free(c);
}

/* Fires the user callback once and frees the command. */
void xacct__store_cmd_finish(store_cmd_t *c, int status, const char *detail,
                             const xacct_store_reply_t *reply)
{
    xacct_store_t *s = c->store;
    xacct_store_reply_cb cb = c->cb;
    void *arg = c->arg;
    xacct__store_cmd_free(c);
    if (cb != NULL) {
        s->_depth++;
        cb(status, detail, reply, arg);
        s->_depth--;
    }
}

/* Appends c to the singly linked list head..tail of n commands. */
static void list_append(store_cmd_t **head, store_cmd_t **tail, size_t *n, store_cmd_t *c)
{
    c->next = NULL;
    if (*tail != NULL)
        (*tail)->next = c;
    else
        *head = c;
    *tail = c;
    (*n)++;
}

static void queue_timer_cb(uv_timer_t *t);

/* Commands are queued in the order of uv_now(), so the head's deadline is
 * the first one due. */
static void arm_queue_deadline(xacct_store_t *s)
{
    if (s->_queue_timeout_ms <= 0 || s->_closing || s->_qhead == NULL)
        return;
    uint64_t due = s->_qhead->queued_at + (uint64_t)s->_queue_timeout_ms;
    uint64_t now = uv_now(s->_loop);
    uv_timer_start(&s->_qtimer, queue_timer_cb, due > now ? due - now : 0, 0);
}

void xacct__store_queue_push(xacct_store_t *s, store_cmd_t *c)
{
    c->queued_at = uv_now(s->_loop);
    list_append(&s->_qhead, &s->_qtail, &s->_queued, c);
    if (s->_qhead == c)
        arm_queue_deadline(s);
}

store_cmd_t *xacct__store_queue_pop(xacct_store_t *s)
{
    store_cmd_t *c = s->_qhead;
    if (c == NULL)
        return NULL;
    s->_qhead = c->next;
    if (s->_qhead == NULL) {
        s->_qtail = NULL;
        uv_timer_stop(&s->_qtimer);
    }
    s->_queued--;
    c->next = NULL;
    return c;
}

/* Fails every queued command; callbacks may queue new ones, which are left. */
void xacct__store_queue_fail_all(xacct_store_t *s, int status, const char *detail)
{
    size_t n = s->_queued;
    while (n-- > 0) {
        store_cmd_t *c = xacct__store_queue_pop(s);
        if (c == NULL)
            break;
        xacct__store_cmd_finish(c, status, detail, NULL);
    }
}

/* The oldest queued command has waited the queue timeout: it fails now, as
 * do the others that have, while a connect attempt (which may have a longer
 * timeout of its own, or be backing off) goes on for the commands to come.
 * Callbacks may queue new commands, or free the store. */
static void queue_timer_cb(uv_timer_t *t)
{
    xacct_store_t *s = xacct_container_of(t, xacct_store_t, _qtimer);
    uint64_t now = uv_now(s->_loop);
    while (!s->_closing && s->_qhead != NULL &&
           now - s->_qhead->queued_at >= (uint64_t)s->_queue_timeout_ms) {
        store_cmd_t *c = xacct__store_queue_pop(s);
        xacct__store_cmd_finish(c, XACCT_ETIMEOUT, "Redis unreachable: command waited too long",
                                NULL);
    }
    arm_queue_deadline(s);
}

/* Written commands, oldest first: replies come in this order, and the
 * oldest one's age is what the reply deadline watches. */
void xacct__store_fifo_push(xacct_store_t *s, store_cmd_t *c)
{
    c->sent_at = uv_now(s->_loop);
    list_append(&s->_fhead, &s->_ftail, &s->_sent, c);
}

void xacct__store_fifo_remove(xacct_store_t *s, store_cmd_t *c)
{
    store_cmd_t *prev = NULL;
    for (store_cmd_t *p = s->_fhead; p != NULL; prev = p, p = p->next) {
        if (p != c)
            continue;
        if (prev != NULL)
            prev->next = c->next;
        else
            s->_fhead = c->next;
        if (s->_ftail == c)
            s->_ftail = prev;
        c->next = NULL;
        s->_sent--;
        return;
    }
}

void xacct__store_reply_free(xacct_store_reply_t *r)
{
    if (r->type == XACCT_STORE_REPLY_ARRAY && r->element != NULL) {
        for (size_t i = 0; i < r->elements; i++)
            xacct__store_reply_free((xacct_store_reply_t *)&r->element[i]);
        free((void *)r->element);
    }
}

/* Translates a hiredis reply; strings stay in hiredis' memory, which lives
 * until our callback returns. */
int xacct__store_reply_convert(const redisReply *in, xacct_store_reply_t *out, int depth)
{
    memset(out, 0, sizeof(*out));
    switch (in->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        out->type = in->type == REDIS_REPLY_STRING   ? XACCT_STORE_REPLY_STRING
                    : in->type == REDIS_REPLY_STATUS ? XACCT_STORE_REPLY_STATUS
                                                     : XACCT_STORE_REPLY_ERROR;
        out->str = in->str;
        out->len = (size_t)in->len;
        return 0;
    case REDIS_REPLY_INTEGER:
        out->type = XACCT_STORE_REPLY_INTEGER;
        out->integer = in->integer;
        return 0;
    case REDIS_REPLY_NIL:
        out->type = XACCT_STORE_REPLY_NIL;
        return 0;
    case REDIS_REPLY_ARRAY: {
        out->type = XACCT_STORE_REPLY_ARRAY;
        if (depth >= MAX_REPLY_DEPTH)
            return XACCT_ETOOBIG;
        if (in->elements == 0)
            return 0;
        xacct_store_reply_t *el = xacct_calloc(in->elements, sizeof(*el));
        out->element = el;
        out->elements = in->elements;
        for (size_t i = 0; i < in->elements; i++) {
            int rc = xacct__store_reply_convert(in->element[i], &el[i], depth + 1);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    default:
        return XACCT_EPARSE;
    }
}

/* Replies with which a server refuses a command it did not run, during or
 * after a failover: a replica (READONLY), a server still loading its data
 * (LOADING), a replica cut off from its master (MASTERDOWN), a master with
 * min-replicas-to-write that has lost its replicas (NOREPLICAS: checked
 * before a write command or a script's first write runs, so nothing of it
 * happened; it may be the old master on the wrong side of a partition, so
 * the next connection asks Sentinel again). */
int xacct__store_failover_reply(const char *e)
{
    if (strncmp(e, "READONLY ", 9) == 0 || strncmp(e, "LOADING ", 8) == 0 ||
        strncmp(e, "MASTERDOWN ", 11) == 0 || strncmp(e, "NOREPLICAS ", 11) == 0)
        return 1;
    /* Redis before 7 (6.2 is supported) wraps a replica's refusal of a
     * script's write: "ERR Error running script (call to f_<sha>):
     * @user_script:1: @user_script: 1: -READONLY You can't write...". A
     * replica takes no write at all, so nothing of the script ran either. */
    return strncmp(e, "ERR Error running script ", 25) == 0 &&
           strstr(e, ": -READONLY ") != NULL;
}

int xacct__store_auth_reply(const char *e)
{
    if (strncmp(e, "NOAUTH ", 7) == 0 || strncmp(e, "WRONGPASS ", 10) == 0)
        return 1;
    /* The plain ERR forms: Redis 6+ given a password it has no use for
     * ("ERR AUTH <password> called without any password configured for the
     * default user..."), and servers before 6 ("ERR invalid password",
     * "ERR Client sent AUTH, but no password is set"). */
    return strncmp(e, "ERR ", 4) == 0 &&
           (strstr(e, "invalid password") != NULL ||
            strstr(e, "without any password configured") != NULL ||
            strstr(e, "no password is set") != NULL);
}

int xacct__store_info_field(const char *info, size_t len, const char *field, char *out,
                            size_t outlen)
{
    size_t flen = strlen(field);
    const char *end = info + len;
    if (outlen > 0)
        out[0] = '\0';
    /* INFO is "# Section" headers and "field:value" lines, each ending in
     * CRLF: a field only counts at the start of a line. */
    for (const char *p = info; p < end;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *stop = eol != NULL ? eol : end;
        if (stop > p && stop[-1] == '\r')
            stop--;
        if ((size_t)(stop - p) > flen && memcmp(p, field, flen) == 0 && p[flen] == ':') {
            size_t vlen = (size_t)(stop - p) - flen - 1;
            if (vlen >= outlen)
                return 0;
            memcpy(out, p + flen + 1, vlen);
            out[vlen] = '\0';
            return 1;
        }
        if (eol == NULL)
            break;
        p = eol + 1;
    }
    return 0;
}

static size_t decimal_digits(size_t n)
{
    size_t d = 1;
    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

/* Writes tag, n in decimal and CRLF at p; returns the end. */
static char *put_header(char *p, char tag, size_t n)
{
    char digits[20];
    size_t k = 0;

    *p++ = tag;
    do {
        digits[k++] = (char)('0' + n % 10);
        n /= 10;
    } while (n > 0);
    while (k > 0)
        *p++ = digits[--k];
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

char *xacct__store_resp_format(const xacct_store_args_t *a, size_t *len)
{
    size_t total = 1 + decimal_digits((size_t)a->argc) + 2;
    for (int i = 0; i < a->argc; i++)
        total += 1 + decimal_digits(a->len[i]) + 2 + a->len[i] + 2;
    /* NUL-terminated, as hiredis' own are: redisAsyncFormattedCommand reads
     * the command with strchr to spot subscriptions. */
    char *wire = xacct_malloc(total + 1);
    char *p = put_header(wire, '*', (size_t)a->argc);
    for (int i = 0; i < a->argc; i++) {
        p = put_header(p, '$', a->len[i]);
        memcpy(p, a->v[i], a->len[i]);
        p += a->len[i];
        *p++ = '\r';
        *p++ = '\n';
    }
    *p = '\0';
    *len = total;
    return wire;
}

store_cmd_t *xacct__store_cmd_new(xacct_store_t *s, const xacct_store_args_t *a,
                                  xacct_store_reply_cb cb, void *arg)
{
    store_cmd_t *c = xacct_calloc(1, sizeof(*c));
    c->store = s;
    c->wire = xacct__store_resp_format(a, &c->wire_len);
    c->cb = cb;
    c->arg = arg;
    return c;
}
