/* SPDX-License-Identifier: MIT */
/*
 * Web identity: exchanges the OIDC token in AWS_WEB_IDENTITY_TOKEN_FILE (read
 * at each fetch, since it is rotated) for role credentials with an unsigned
 * STS AssumeRoleWithWebIdentity query-protocol POST (creds_sts.c). The XML
 * answer is read here with expat.
 */
#include <expat.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/buf.h"
#include "xacct/creds.h"
#include "xacct/query.h"
#include "xacct/xml_parser.h"

#define WEBID_MAX_BODY (256u * 1024u)
#define WEBID_MAX_FORM (64u * 1024u)
#define FIELD_MAX 8192u
#define WEBID_DEFAULT_TIMEOUT_MS 5000L

/* ---- the XML answer: .../AssumeRoleWithWebIdentityResult/Credentials/<Field> ---- */

enum field { F_NONE = -1, F_AKID, F_SECRET, F_TOKEN, F_EXPIRATION, F_COUNT };

typedef struct xml_state {
    XML_Parser parser;
    int depth;                      /* open elements */
    int creds_depth;                /* depth of the open <Credentials>, or 0 */
    bool in_result;                 /* inside AssumeRoleWithWebIdentityResult */
    int result_depth;
    enum field capturing;           /* field whose text is being collected */
    char *fields[F_COUNT];          /* collected values, owned (secrets wiped) */
    xacct_buf_t text;               /* text of the field being read, capped */
    bool too_big;                   /* a field exceeded FIELD_MAX */
} xml_state_t;

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    xml_state_t *st = ud;
    XACCT_UNUSED(attrs);
    st->depth++;
    st->capturing = F_NONE;
    if (st->depth > 16) {
        XML_StopParser(st->parser, XML_FALSE);
        return;
    }
    if (!st->in_result && strcmp(name, "AssumeRoleWithWebIdentityResult") == 0) {
        st->in_result = true;
        st->result_depth = st->depth;
    } else if (st->in_result && st->creds_depth == 0 && st->depth == st->result_depth + 1 &&
               strcmp(name, "Credentials") == 0) {
        st->creds_depth = st->depth;
    } else if (st->creds_depth != 0 && st->depth == st->creds_depth + 1) {
        static const char *const names[F_COUNT] = {"AccessKeyId", "SecretAccessKey",
                                                   "SessionToken", "Expiration"};
        for (int i = 0; i < F_COUNT; i++)
            if (strcmp(name, names[i]) == 0 && st->fields[i] == NULL)
                st->capturing = (enum field)i;
        xacct_buf_reset(&st->text);
    }
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    xml_state_t *st = ud;
    if (st->capturing == F_NONE || len <= 0)
        return;
    if (xacct_buf_append(&st->text, s, (size_t)len) != 0) {
        st->too_big = true;
        XML_StopParser(st->parser, XML_FALSE);
    }
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    xml_state_t *st = ud;
    XACCT_UNUSED(name);
    if (st->capturing != F_NONE) {
        st->fields[st->capturing] = xacct_strndup(st->text.data ? st->text.data : "",
                                                  st->text.len);
        OPENSSL_cleanse(st->text.data, st->text.len);
        xacct_buf_reset(&st->text);
        st->capturing = F_NONE;
    }
    if (st->depth == st->creds_depth)
        st->creds_depth = 0;
    if (st->in_result && st->depth == st->result_depth)
        st->in_result = false;
    st->depth--;
}

/* Parses the success document into *out. */
XACCT_STATIC int xacct__creds_webid_parse(const char *body, size_t len, xacct__creds_set_t **out,
                                          char *detail, size_t detail_len)
{
    int rc = XACCT_EPARSE;
    xml_state_t st;
    xacct__creds_set_t *set = NULL;

    *out = NULL;
    memset(&st, 0, sizeof(st));
    st.capturing = F_NONE;
    xacct_buf_init(&st.text, FIELD_MAX);
    st.parser = XML_ParserCreate(NULL);
    if (st.parser == NULL) {
        rc = XACCT_ENOMEM;
        goto out;
    }
    xacct_xml_parser_salt(st.parser);
    XML_SetUserData(st.parser, &st);
    XML_SetElementHandler(st.parser, on_start, on_end);
    XML_SetCharacterDataHandler(st.parser, on_text);
    if (len > INT32_MAX ||
        XML_Parse(st.parser, body, (int)len, XML_TRUE) != XML_STATUS_OK) {
        snprintf(detail, detail_len, "STS answer is not well-formed XML%s",
                 st.too_big ? " (field too long)" : "");
        goto out;
    }
    if (st.fields[F_AKID] == NULL || st.fields[F_SECRET] == NULL ||
        st.fields[F_TOKEN] == NULL || st.fields[F_EXPIRATION] == NULL ||
        st.fields[F_AKID][0] == '\0' || st.fields[F_SECRET][0] == '\0') {
        snprintf(detail, detail_len, "STS answer lacks Credentials fields");
        goto out;
    }
    set = xacct_calloc(1, sizeof(*set));
    if (xacct__creds_parse_time(st.fields[F_EXPIRATION], &set->expiry_ms) != 0) {
        snprintf(detail, detail_len, "STS Expiration is not an ISO 8601 time");
        goto out;
    }
    set->access_key_id = st.fields[F_AKID];
    set->secret_access_key = st.fields[F_SECRET];
    set->session_token = st.fields[F_TOKEN];
    st.fields[F_AKID] = st.fields[F_SECRET] = st.fields[F_TOKEN] = NULL;
    *out = set;
    set = NULL;
    rc = 0;
out:
    xacct__creds_set_free(set);
    for (int i = 0; i < F_COUNT; i++)
        xacct_free_secret(st.fields[i]);
    xacct_buf_destroy_secret(&st.text);
    if (st.parser != NULL)
        XML_ParserFree(st.parser);
    return rc;
}

int xacct__creds_webid_start(const xacct__creds_link_ctx_t *ctx, xacct__creds_fetch_cb cb,
                             void *arg, xacct__creds_fetch_t **out)
{
    int rc;
    char *token = NULL;
    char *url = NULL;
    xacct_buf_t form;

    *out = NULL;
    const xacct__creds_config_t *cfg = ctx != NULL ? ctx->cfg : NULL;
    if (cfg == NULL || ctx->http == NULL || cfg->url == NULL || cfg->role_arn == NULL ||
        cfg->session_name == NULL || cfg->token_file == NULL || cb == NULL)
        return XACCT_EINVAL;
    xacct_buf_init(&form, WEBID_MAX_FORM);
    if ((rc = xacct__creds_read_token_file(cfg->token_file, &token)) != 0)
        goto out;
    if ((rc = xacct__creds_sts_param(&form, "Action", "AssumeRoleWithWebIdentity")) != 0 ||
        (rc = xacct__creds_sts_param(&form, "Version", "2011-06-15")) != 0 ||
        (rc = xacct__creds_sts_param(&form, "RoleArn", cfg->role_arn)) != 0 ||
        (rc = xacct__creds_sts_param(&form, "RoleSessionName", cfg->session_name)) != 0 ||
        (rc = xacct__creds_sts_param(&form, "WebIdentityToken", token)) != 0)
        goto out;
    url = xacct_asprintf("%s/", cfg->url);
    const xacct_header_t hdrs[] = {
        {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
        {"Accept", "text/xml"},
    };
    xacct_http_request_t req = {
        .method = "POST",
        .url = url,
        .headers = hdrs,
        .nheaders = XACCT_ARRAY_SIZE(hdrs),
        .body = form.data,
        .body_len = form.len,
        .timeout_ms = ctx->fetch_timeout_ms > 0 ? ctx->fetch_timeout_ms : WEBID_DEFAULT_TIMEOUT_MS,
        .max_body = WEBID_MAX_BODY,
    };
    /* Unsigned: STS cannot refuse it for a signing time. */
    rc = xacct__creds_sts_post(ctx->http, &req, xacct__creds_webid_parse, NULL, cb, arg, out);
out:
    free(url);
    xacct_free_secret(token);
    xacct_buf_destroy_secret(&form);
    return rc;
}
