/* SPDX-License-Identifier: MIT */
/*
 * Reads AWS error responses. The body decides the parser: a JSON object goes
 * to jansson, anything starting with '<' to expat; headers fill in what the
 * body lacks. Only the fields xacct acts on are kept, in fixed-size arrays, so
 * no caller has anything to free.
 */
#include "xacct/aws_error.h"

#include <expat.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xacct/query.h"
#include "xacct/utf8.h"
#include "xacct/xml_parser.h"

/* Copies at most cap-1 bytes of s (len bytes) into dst, trimmed of
 * surrounding whitespace, cut on a UTF-8 character boundary. */
static void copy_field(char *dst, size_t cap, const char *s, size_t len)
{
    while (len > 0 && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) {
        s++;
        len--;
    }
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r' ||
                       s[len - 1] == '\n'))
        len--;
    if (len >= cap)
        len = xacct_utf8_prefix(s, len, cap - 1); /* no character is split */
    memcpy(dst, s, len);
    dst[len] = '\0';
}

/* "aws.protocoltests#FooError:http://internal..." -> "FooError" */
static void copy_type_name(char *dst, size_t cap, const char *s)
{
    const char *hash = strrchr(s, '#');
    if (hash != NULL)
        s = hash + 1;
    size_t len = strcspn(s, ":");
    copy_field(dst, cap, s, len);
}

static const char *header(const xacct_header_t *h, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (h[i].name != NULL && strcasecmp(h[i].name, name) == 0)
            return h[i].value;
    return NULL;
}

static void parse_json(const char *body, size_t len, xacct_aws_error_t *out)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return;
    if (!json_is_object(root))
        goto out;
    static const char *const code_keys[] = {"__type", "code", "Code"};
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(code_keys) && out->code[0] == '\0'; i++) {
        const char *v = json_string_value(json_object_get(root, code_keys[i]));
        if (v != NULL)
            copy_type_name(out->code, sizeof(out->code), v);
    }
    static const char *const msg_keys[] = {"message", "Message", "errorMessage"};
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(msg_keys) && out->message[0] == '\0'; i++) {
        json_t *v = json_object_get(root, msg_keys[i]);
        if (json_is_string(v))
            copy_field(out->message, sizeof(out->message), json_string_value(v),
                       json_string_length(v));
    }
out:
    json_decref(root);
}

/* XML: element names are tracked on a small stack; the text of Code and
 * Message is taken only when their parent is Error (query protocol
 * ErrorResponse/Error, S3 Error, EC2 Response/Errors/Error), RequestId
 * (or RequestID) anywhere. The first occurrence wins. */
#define XML_MAX_DEPTH 32

enum xml_field { XF_NONE, XF_CODE, XF_MESSAGE, XF_REQUEST_ID };

typedef struct xml_state {
    xacct_aws_error_t *out;
    char names[XML_MAX_DEPTH][32];    /* open elements' names, truncated */
    int depth;                        /* open elements */
    enum xml_field capturing;         /* field whose text is being collected */
    char text[XACCT_AWS_ERROR_MESSAGE_MAX]; /* text collected so far, capped */
    size_t text_len;
    bool text_full;                   /* text was cut: ignore the rest */
    bool have_code, have_message, have_request_id;
    XML_Parser parser;
} xml_state_t;

static void XMLCALL xml_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    xml_state_t *st = ud;
    XACCT_UNUSED(attrs);
    if (st->depth >= XML_MAX_DEPTH) {
        XML_StopParser(st->parser, XML_FALSE);
        return;
    }
    size_t n = strnlen(name, sizeof(st->names[0]) - 1); /* truncated, as before */
    memcpy(st->names[st->depth], name, n);
    st->names[st->depth][n] = '\0';
    const char *parent = st->depth > 0 ? st->names[st->depth - 1] : "";
    st->depth++;
    st->capturing = XF_NONE;
    st->text_len = 0;
    st->text_full = false;
    if (strcmp(parent, "Error") == 0 && strcmp(name, "Code") == 0 && !st->have_code)
        st->capturing = XF_CODE;
    else if (strcmp(parent, "Error") == 0 && strcmp(name, "Message") == 0 && !st->have_message)
        st->capturing = XF_MESSAGE;
    else if ((strcmp(name, "RequestId") == 0 || strcmp(name, "RequestID") == 0) &&
             !st->have_request_id)
        st->capturing = XF_REQUEST_ID;
}

static void XMLCALL xml_text(void *ud, const XML_Char *s, int len)
{
    xml_state_t *st = ud;
    if (st->capturing == XF_NONE || len <= 0)
        return;
    if (st->text_full)
        return;
    size_t room = sizeof(st->text) - 1 - st->text_len;
    size_t n = (size_t)len;
    if (n > room) {
        /* Keep whole characters only, and nothing after the cut: expat
         * hands text over in pieces, and a later piece must not be glued on
         * where part of a character was dropped. */
        n = xacct_utf8_prefix(s, (size_t)len, room);
        st->text_full = true;
    }
    memcpy(st->text + st->text_len, s, n);
    st->text_len += n;
}

static void XMLCALL xml_end(void *ud, const XML_Char *name)
{
    xml_state_t *st = ud;
    XACCT_UNUSED(name);
    switch (st->capturing) {
    case XF_CODE:
        copy_field(st->out->code, sizeof(st->out->code), st->text, st->text_len);
        st->have_code = true;
        break;
    case XF_MESSAGE:
        copy_field(st->out->message, sizeof(st->out->message), st->text, st->text_len);
        st->have_message = true;
        break;
    case XF_REQUEST_ID:
        copy_field(st->out->request_id, sizeof(st->out->request_id), st->text, st->text_len);
        st->have_request_id = true;
        break;
    case XF_NONE:
        break;
    }
    st->capturing = XF_NONE;
    st->text_len = 0;
    st->text_full = false;
    if (st->depth > 0)
        st->depth--;
}

static void parse_xml(const char *body, size_t len, xacct_aws_error_t *out)
{
    if (len > INT32_MAX)
        return;
    xml_state_t *st = xacct_calloc(1, sizeof(*st));
    xacct_aws_error_t tmp = {0};
    st->out = &tmp;
    st->parser = xacct_xml_parser_get(NULL);
    if (st->parser == NULL)
        goto out;
    XML_SetUserData(st->parser, st);
    XML_SetElementHandler(st->parser, xml_start, xml_end);
    XML_SetCharacterDataHandler(st->parser, xml_text);
    /* A malformed document yields nothing: half a parse could pair a code
     * with the wrong message. */
    if (XML_Parse(st->parser, body, (int)len, XML_TRUE) != XML_STATUS_OK)
        goto out;
    memcpy(out->code, tmp.code, sizeof(out->code));
    memcpy(out->message, tmp.message, sizeof(out->message));
    if (out->request_id[0] == '\0')
        memcpy(out->request_id, tmp.request_id, sizeof(out->request_id));
out:
    xacct_xml_parser_put(st->parser, len);
    free(st);
}

/* AWS echoes part of the request in a few messages: SignatureDoesNotMatch
 * from the query and JSON services carries the canonical request (the value
 * of every signed header, the session token among them) and the string to
 * sign, IncompleteSignature the Authorization header (the signature). The
 * message is cut where the first echo begins, so no credential reaches a
 * log line, a detail or a CloudFormation Reason through it. */
static void cut_echoes(char *msg)
{
    static const char *const markers[] = {
        "The Canonical String", "The String-to-Sign", "CanonicalRequest",
        "Authorization=",       "Authorization header:", "Signature=",
        "x-amz-security-token", /* compared ignoring case */
    };
    size_t cut = strlen(msg);
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(markers); i++) {
        const char *m = strcasestr(msg, markers[i]);
        if (m != NULL && (size_t)(m - msg) < cut)
            cut = (size_t)(m - msg);
    }
    while (cut > 0 && strchr(" \t\r\n'", msg[cut - 1]) != NULL)
        cut--;
    msg[cut] = '\0';
}

int xacct_aws_error_parse_parts(long http_status, const xacct_header_t *headers,
                                size_t nheaders, const char *body, size_t len,
                                xacct_aws_error_t *out)
{
    memset(out, 0, sizeof(*out));
    out->http_status = http_status;

    const char *rid = header(headers, nheaders, "x-amzn-requestid");
    if (rid == NULL)
        rid = header(headers, nheaders, "x-amz-request-id");
    if (rid != NULL)
        copy_field(out->request_id, sizeof(out->request_id), rid, strlen(rid));

    /* x-amzn-query-error: "AWS.SimpleQueueService.NonExistentQueue;Sender" */
    const char *qe = header(headers, nheaders, "x-amzn-query-error");
    if (qe != NULL)
        copy_field(out->query_code, sizeof(out->query_code), qe, strcspn(qe, ";"));

    if (body != NULL && len > 0) {
        size_t i = 0;
        while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' ||
                           body[i] == '\n'))
            i++;
        if (i < len && body[i] == '{')
            parse_json(body, len, out);
        else if (i < len && body[i] == '<')
            parse_xml(body, len, out);
    }

    cut_echoes(out->message);

    if (out->code[0] == '\0') {
        const char *et = header(headers, nheaders, "x-amzn-errortype");
        if (et != NULL)
            copy_type_name(out->code, sizeof(out->code), et);
    }
    if (out->code[0] == '\0' && out->query_code[0] != '\0')
        memcpy(out->code, out->query_code, sizeof(out->code));
    return out->code[0] != '\0' ? 0 : XACCT_ENOTFOUND;
}

int xacct_aws_error_parse(const xacct_http_response_t *resp, xacct_aws_error_t *out)
{
    return xacct_aws_error_parse_parts(resp->status, resp->headers, resp->nheaders, resp->body,
                                       resp->body_len, out);
}

bool xacct_aws_error_is(const xacct_aws_error_t *err, const char *name)
{
    return strcmp(err->code, name) == 0 || strcmp(err->query_code, name) == 0;
}

static bool is_any(const xacct_aws_error_t *err, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (xacct_aws_error_is(err, names[i]))
            return true;
    return false;
}

bool xacct_aws_error_is_throttling(const xacct_aws_error_t *err)
{
    static const char *const names[] = {
        "Throttling", "ThrottlingException", "ThrottledException", "Throttled",
        "RequestThrottled", "RequestThrottledException", "SlowDown", "RequestLimitExceeded",
        "TooManyRequestsException", "ProvisionedThroughputExceededException",
        "TransactionInProgressException", "BandwidthLimitExceeded", "LimitExceededException",
        "EC2ThrottledException", "PriorRequestNotComplete",
        "AWS.SimpleQueueService.RequestThrottled",
        /* SQS on a queue encrypted with KMS: KMS throttled SQS's call. */
        "KmsThrottled", "KMS.ThrottlingException",
    };
    return is_any(err, names, XACCT_ARRAY_SIZE(names));
}

bool xacct_aws_error_is_transient(const xacct_aws_error_t *err)
{
    static const char *const names[] = {
        "RequestTimeout", "RequestTimeoutException", "InternalError",
        "InternalFailure", "ServiceUnavailable", "IDPCommunicationError",
    };
    /* The SDKs' general server errors: 501 (not implemented) or 505 (HTTP
     * version) come back the same however often they are asked. */
    switch (err->http_status) {
    case 500:
    case 502:
    case 503:
    case 504:
        return true;
    default:
        return is_any(err, names, XACCT_ARRAY_SIZE(names));
    }
}

bool xacct_aws_error_is_clock_skew(const xacct_aws_error_t *err)
{
    static const char *const names[] = {
        "RequestTimeTooSkewed",      "RequestExpired",        "RequestInTheFuture",
        "InvalidSignatureException", "SignatureDoesNotMatch", "AuthFailure",
    };
    return is_any(err, names, XACCT_ARRAY_SIZE(names));
}

bool xacct_aws_error_is_refusal(long http_status, const xacct_aws_error_t *err)
{
    if (http_status < 400 || http_status >= 500 || http_status == 408 || http_status == 429)
        return false;
    return err == NULL || !(xacct_aws_error_is_transient(err) || xacct_aws_error_is_throttling(err));
}

bool xacct_aws_error_is_access_denied(const xacct_aws_error_t *err)
{
    return xacct_aws_error_is(err, "AccessDenied") ||
           xacct_aws_error_is(err, "AccessDeniedException");
}
