/* SPDX-License-Identifier: MIT */
/*
 * The Query protocol's two ends for sns and sts: a request parameter encoded
 * with curl's escaping, and expat set up once for the response parsers
 * (UTF-8, the caller's handlers, one parse of the whole body, the parser
 * freed on every path).
 */
#include "xacct/query.h"

#include <curl/curl.h>
#include <limits.h>
#include <string.h>

int xacct_query_param(xacct_buf_t *b, const char *key, const char *value)
{
    char *enc = curl_easy_escape(NULL, value, 0);
    if (enc == NULL)
        return XACCT_ENOMEM;
    int rc = xacct_buf_printf(b, "&%s=%s", key, enc);
    curl_free(enc);
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
    XML_Parser p = XML_ParserCreate("UTF-8");
    if (p == NULL)
        return XACCT_ENOMEM;
    XML_SetUserData(p, ud);
    XML_SetElementHandler(p, on_start, on_end);
    XML_SetCharacterDataHandler(p, on_text);
    int ok = XML_Parse(p, xml, (int)len, 1) == XML_STATUS_OK;
    XML_ParserFree(p);
    return ok ? 0 : XACCT_EPARSE;
}
