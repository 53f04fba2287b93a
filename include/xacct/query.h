/* SPDX-License-Identifier: MIT */
/*
 * What the AWS clients of the Query protocol (SNS, STS) share: form-encoded
 * request parameters, and expat run over the XML response — a whole
 * document in one XML_Parse with the caller's element and text handlers,
 * element names compared by their local part (AWS responses carry a default
 * namespace; a prefixed name compares by what follows the colon).
 */
#ifndef XACCT_QUERY_H
#define XACCT_QUERY_H

#include <expat.h>
#include <stddef.h>

#include "xacct/aws.h"
#include "xacct/buf.h"
#include "xacct/common.h"
#include "xacct/xml_parser.h"

/* Appends "&key=<value, percent-encoded>" to b. 0, XACCT_ENOMEM or the
 * buffer's XACCT_ETOOBIG. */
int xacct_query_param(xacct_buf_t *b, const char *key, const char *value) XACCT_MUSTCHECK;

/* The request of a Query call: POST of the form body to "/" of service in
 * region (borrowed, like the body; the caller adds limits and retries). */
xacct_aws_request_t xacct_query_request(const char *service, const char *region,
                                        const xacct_buf_t *body);

/* The part of an element name after its namespace prefix (borrowed from
 * name). */
const char *xacct_query_xml_name(const char *name);

/* Parses xml[0..len) with the handlers and ud as user data. 0, XACCT_EPARSE
 * (malformed, or longer than INT_MAX) or XACCT_ENOMEM. */
int xacct_query_xml_parse(const char *xml, size_t len, void *ud, XML_StartElementHandler on_start,
                          XML_EndElementHandler on_end,
                          XML_CharacterDataHandler on_text) XACCT_MUSTCHECK;

#endif
