/* SPDX-License-Identifier: MIT */
/*
 * The typed customer record (customers.h): state names and their enum, the
 * hash fields in display order, filling a record from a hash's fields, and
 * copying one into a single allocation that is wiped when freed because it
 * holds the external ID.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "xacct/customers.h"

static const char *const STATE_NAMES[] = {
    [XACCT_CUSTOMER_UNKNOWN] = "unknown",
    [XACCT_CUSTOMER_PENDING] = "pending",
    [XACCT_CUSTOMER_ACTIVE] = "active",
    [XACCT_CUSTOMER_REJECTED] = "rejected",
    [XACCT_CUSTOMER_OFFBOARDING] = "offboarding",
    [XACCT_CUSTOMER_OFFBOARDED] = "offboarded",
    [XACCT_CUSTOMER_DEGRADED] = "degraded",
    [XACCT_CUSTOMER_EXPIRED] = "expired",
    [XACCT_CUSTOMER_CANCELLED] = "cancelled",
};

const char *xacct_customer_state_name(xacct_customer_state_t st)
{
    if ((size_t)st >= XACCT_ARRAY_SIZE(STATE_NAMES))
        return STATE_NAMES[XACCT_CUSTOMER_UNKNOWN];
    return STATE_NAMES[st];
}

xacct_customer_state_t xacct_customer_state_from_name(const char *name)
{
    if (name == NULL)
        return XACCT_CUSTOMER_UNKNOWN;
    for (size_t i = 1; i < XACCT_ARRAY_SIZE(STATE_NAMES); i++)
        if (strcmp(STATE_NAMES[i], name) == 0)
            return (xacct_customer_state_t)i;
    return XACCT_CUSTOMER_UNKNOWN;
}

/* The string fields by hash name, in display order ("state" is also kept as
 * the enum). */
static const struct field {
    const char *name;
    size_t off;
    bool secret;
} FIELDS[XACCT_CUSTOMER_NFIELDS] = {
    {"account_id", offsetof(xacct_customer_t, account_id), false},
    {"external_id", offsetof(xacct_customer_t, external_id), true},
    {"state", offsetof(xacct_customer_t, state_text), false},
    {"role_arn", offsetof(xacct_customer_t, role_arn), false},
    {"stack_id", offsetof(xacct_customer_t, stack_id), false},
    {"region", offsetof(xacct_customer_t, region), false},
    {"topic_arn", offsetof(xacct_customer_t, topic_arn), false},
    {"physical_id", offsetof(xacct_customer_t, physical_id), false},
    {"created_at", offsetof(xacct_customer_t, created_at), false},
    {"updated_at", offsetof(xacct_customer_t, updated_at), false},
    {"last_request_id", offsetof(xacct_customer_t, last_request_id), false},
    {"last_error", offsetof(xacct_customer_t, last_error), false},
    {"pending_external_id", offsetof(xacct_customer_t, pending_external_id), true},
    {"template_version", offsetof(xacct_customer_t, template_version), false},
    {"verified_at", offsetof(xacct_customer_t, verified_at), false},
    {"seq", offsetof(xacct_customer_t, seq), false},
};

#define STATE_FIELD 2 /* FIELDS[STATE_FIELD] is "state" */

static const char **slot(xacct_customer_t *c, size_t i)
{
    return (const char **)((char *)c + FIELDS[i].off);
}

/* A field's string; "" for the state text of a record built in code. */
static const char *field_or_empty(const xacct_customer_t *c, size_t i)
{
    const char *v = *slot((xacct_customer_t *)c, i);
    return v != NULL ? v : "";
}

const char *xacct_customer_field_name(size_t i)
{
    return i < XACCT_CUSTOMER_NFIELDS ? FIELDS[i].name : NULL;
}

const char *xacct_customer_field_value(const xacct_customer_t *c, size_t i)
{
    if (i >= XACCT_CUSTOMER_NFIELDS)
        return NULL;
    const char *v = *slot((xacct_customer_t *)c, i);
    /* A record built in code names its state by the enum only. */
    if (i == STATE_FIELD && (v == NULL || v[0] == '\0'))
        return xacct_customer_state_name(c->state);
    return v;
}

bool xacct_customer_field_secret(size_t i)
{
    return i < XACCT_CUSTOMER_NFIELDS && FIELDS[i].secret;
}

const char *xacct_customer_field(const xacct_customer_t *c, const char *name)
{
    for (size_t i = 0; i < XACCT_CUSTOMER_NFIELDS; i++)
        if (strcmp(FIELDS[i].name, name) == 0)
            return xacct_customer_field_value(c, i);
    return NULL;
}

void xacct__customer_init(xacct_customer_t *c)
{
    c->state = XACCT_CUSTOMER_UNKNOWN;
    c->pending_since_ms = 0;
    for (size_t i = 0; i < XACCT_CUSTOMER_NFIELDS; i++)
        *slot(c, i) = "";
}

void xacct__customer_set_field(xacct_customer_t *c, const char *name, const char *value)
{
    if (value == NULL)
        value = "";
    for (size_t i = 0; i < XACCT_CUSTOMER_NFIELDS; i++) {
        if (strcmp(FIELDS[i].name, name) != 0)
            continue;
        if (i == STATE_FIELD)
            c->state = xacct_customer_state_from_name(value);
        *slot(c, i) = value;
        return;
    }
}

void xacct__customer_set_pending_since(xacct_customer_t *c, const char *score)
{
    /* A zset score is a double in Redis's text; Unix ms fit it exactly. */
    char *end = NULL;
    double v = score != NULL ? strtod(score, &end) : 0;
    c->pending_since_ms = end != NULL && end != score && *end == '\0' && v > 0 && v < 9e15
                              ? (int64_t)v
                              : 0;
}

/* The copy: the struct, then every string, in one block. Its size is kept
 * in front so that free can wipe it all. */
typedef struct block {
    size_t size;
    xacct_customer_t c;
} block_t;

xacct_customer_t *xacct_customer_dup(const xacct_customer_t *c)
{
    if (c == NULL)
        return NULL;
    size_t size = sizeof(block_t);
    for (size_t i = 0; i < XACCT_CUSTOMER_NFIELDS; i++)
        size += strlen(field_or_empty(c, i)) + 1;
    block_t *b = xacct_malloc(size);
    b->size = size;
    b->c.state = c->state;
    b->c.pending_since_ms = c->pending_since_ms;
    char *p = (char *)(b + 1);
    for (size_t i = 0; i < XACCT_CUSTOMER_NFIELDS; i++) {
        const char *v = field_or_empty(c, i);
        size_t n = strlen(v) + 1;
        memcpy(p, v, n);
        *slot(&b->c, i) = p;
        p += n;
    }
    return &b->c;
}

void xacct_customer_free(xacct_customer_t *c)
{
    if (c == NULL)
        return;
    block_t *b = xacct_container_of(c, block_t, c);
    OPENSSL_cleanse(b, b->size);
    free(b);
}
