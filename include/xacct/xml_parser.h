/* SPDX-License-Identifier: MIT */
/*
 * Expat parsers kept for the next document. Creating and freeing a parser
 * costs about as much as parsing the few hundred bytes of an AWS answer or
 * error (its tables, pools and buffer are allocated afresh each time), and a
 * message reads three of them; each thread keeps one spare parser and
 * resets it instead (XML_ParserReset keeps the allocations and clears every
 * handler, the user data and the hash salt, which is then set again).
 */
#ifndef XACCT_XML_PARSER_H
#define XACCT_XML_PARSER_H

#include <expat.h>
#include <stddef.h>

/* A parser ready for a new document in encoding (NULL: as the document
 * declares; UTF-8 without a declaration), salted with the thread's hash
 * salt: this thread's spare when it has one, else a new one. NULL when out
 * of memory. Give it back with xacct_xml_parser_put. */
XML_Parser xacct_xml_parser_get(const XML_Char *encoding);

/* Gives p back after a document of doc_len bytes: kept as the thread's spare
 * when there is none and the document was small (expat's buffer grows to the
 * largest document it has read and keeps that size), freed otherwise. */
void xacct_xml_parser_put(XML_Parser p, size_t doc_len);

/* Gives p its thread's hash salt, drawn once from RAND_bytes: expat would
 * otherwise read a fresh one from getrandom() for every parser. The salt is
 * what keeps hash flooding off expat's tables and is never shown; one per
 * thread and process keeps that. When RAND_bytes fails, p is left to draw
 * its own. */
void xacct_xml_parser_salt(XML_Parser p);

#ifdef XACCT_UNIT_TESTING
/* The thread's spare, left where it is (NULL when it has none). */
XML_Parser xacct__xml_parser_spare(void);
#endif

#endif
