/* SPDX-License-Identifier: MIT */
/*
 * The Query protocol's two ends for sns and sts: a request parameter
 * percent-encoded per RFC 3986, and expat set up once for the response parsers
 * (UTF-8, the caller's handlers, one parse of the whole body, the parser
 * freed on every path).
 */
#include "xacct/query.h"
#include "xacct/sigv4.h"

#include <limits.h>
#include <string.h>

/* Percent-encoded straight into the body with SigV4's encoder: the same
 * RFC 3986 unreserved set curl_easy_escape keeps, without its allocation
 * or a printf. On failure the body is left as it was. */
int xacct_query_param(xacct_buf_t *b, const char *key, const char *value)
{
    size_t len = b->len;
    int rc;
    if ((rc = xacct_buf_putc(b, '&')) != 0 || (rc = xacct_buf_puts(b, key)) != 0 ||
        (rc = xacct_buf_putc(b, '=')) != 0 ||
        (rc = xacct_sigv4_uri_encode(b, value, strlen(value), true)) != 0) {
        b->len = len;
        if (b->data != NULL)
            b->data[len] = '\0';
    }
    return rc;
}

static const xacct_header_t form_headers[] = {
    {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
};

xacct_aws_request_t xacct_query_request(const char *service, const char *region,
                                        const xacct_buf_t *body)
{
    return (xacct_aws_request_t){
        .service = service,
        .region = region,
        .method = "POST",
        .path = "/",
        .headers = form_headers,
        .nheaders = 1,
        .body = body->data,
        .body_len = body->len,
    };
}

const char *xacct_query_xml_name(const char *name)
{
    const char *c = strrchr(name, ':');
    return c ? c + 1 : name;
}

int xacct_query_xml_parse(const char *xml, size_t len, void *ud, XML_StartElementHandler on_start,
                          XML_EndElementHandler on_end, XML_CharacterDataHandler on_text)
{
    if (len > INT_MAX)
        return XACCT_EPARSE;
    XML_Parser p = xacct_xml_parser_get("UTF-8");
    if (p == NULL)
        return XACCT_ENOMEM;
    XML_SetUserData(p, ud);
    XML_SetElementHandler(p, on_start, on_end);
    XML_SetCharacterDataHandler(p, on_text);
    int ok = XML_Parse(p, xml, (int)len, 1) == XML_STATUS_OK;
    xacct_xml_parser_put(p, len);
    return ok ? 0 : XACCT_EPARSE;
}
