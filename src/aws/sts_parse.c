/* SPDX-License-Identifier: MIT */
/*
 * The AssumeRole (and AssumeRoleWithWebIdentity) response body read with
 * expat into the few fields xacct uses. A leaf: the STS client and the
 * credential providers both use it, and it calls neither.
 */
#include "xacct/sts_parse.h"

#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/buf.h"
#include "xacct/query.h"

enum { F_AKID, F_SECRET, F_TOKEN, F_EXPIRATION, F_ARN, F_COUNT };

struct xacct__sts_store {
    xacct_buf_t field[F_COUNT]; /* text of each wanted element */
    int depth;                  /* element depth */
    int capture;                /* field being captured, or -1 */
    bool in_credentials;        /* inside <Credentials> */
    bool in_assumed_user;       /* inside <AssumedRoleUser> */
    bool overflow;              /* a field exceeded its cap */
};

void xacct__sts_store_free(xacct__sts_store_t *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < F_COUNT; i++)
        xacct_buf_destroy_secret(&s->field[i]);
    OPENSSL_cleanse(s, sizeof(*s));
    free(s);
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    (void)attrs;
    xacct__sts_store_t *s = ud;
    const char *n = xacct_query_xml_name(name);
    s->depth++;
    s->capture = -1;
    if (strcmp(n, "Credentials") == 0)
        s->in_credentials = true;
    else if (strcmp(n, "AssumedRoleUser") == 0)
        s->in_assumed_user = true;
    else if (s->in_credentials && strcmp(n, "AccessKeyId") == 0)
        s->capture = F_AKID;
    else if (s->in_credentials && strcmp(n, "SecretAccessKey") == 0)
        s->capture = F_SECRET;
    else if (s->in_credentials && strcmp(n, "SessionToken") == 0)
        s->capture = F_TOKEN;
    else if (s->in_credentials && strcmp(n, "Expiration") == 0)
        s->capture = F_EXPIRATION;
    else if (s->in_assumed_user && strcmp(n, "Arn") == 0)
        s->capture = F_ARN;
    if (s->capture >= 0)
        xacct_buf_reset(&s->field[s->capture]);
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    xacct__sts_store_t *s = ud;
    const char *n = xacct_query_xml_name(name);
    s->depth--;
    s->capture = -1;
    if (strcmp(n, "Credentials") == 0)
        s->in_credentials = false;
    else if (strcmp(n, "AssumedRoleUser") == 0)
        s->in_assumed_user = false;
}

static void XMLCALL on_text(void *ud, const XML_Char *text, int len)
{
    xacct__sts_store_t *s = ud;
    if (s->capture >= 0 && xacct_buf_append(&s->field[s->capture], text, (size_t)len) != 0)
        s->overflow = true;
}

int xacct__sts_parse_assume(const char *xml, size_t len, xacct_sts_credentials_t *out,
                            xacct__sts_store_t **store)
{
    memset(out, 0, sizeof(*out));
    *store = NULL;
    xacct__sts_store_t *s = xacct_calloc(1, sizeof(*s));
    for (int i = 0; i < F_COUNT; i++)
        xacct_buf_init(&s->field[i], 8192);
    s->capture = -1;
    int rc = xacct_query_xml_parse(xml, len, s, on_start, on_end, on_text);
    if (rc == XACCT_ENOMEM) {
        xacct__sts_store_free(s);
        return rc;
    }
    int ok = rc == 0;
    for (int i = 0; i < F_COUNT; i++)
        if (s->field[i].len == 0 && i != F_ARN)
            ok = 0;
    if (!ok || s->overflow) {
        xacct__sts_store_free(s);
        return XACCT_EPARSE;
    }
    out->access_key_id = s->field[F_AKID].data;
    out->secret_access_key = s->field[F_SECRET].data;
    out->session_token = s->field[F_TOKEN].data;
    out->expiration = s->field[F_EXPIRATION].data;
    out->assumed_role_arn = s->field[F_ARN].data ? s->field[F_ARN].data : "";
    *store = s;
    return 0;
}
