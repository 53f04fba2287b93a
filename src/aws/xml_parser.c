/* SPDX-License-Identifier: MIT */
/* One spare expat parser per thread (see xacct/xml_parser.h). */
#include "xacct/xml_parser.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdbool.h>

/* Documents up to this size leave their parser as the spare. */
#define SPARE_DOC_MAX (64 * 1024)

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t spare_key; /* a thread's spare XML_Parser */
static bool spare_key_ok;

static void spare_free(void *p)
{
    XML_ParserFree(p);
}

static void make_key(void)
{
    spare_key_ok = pthread_key_create(&spare_key, spare_free) == 0;
}

void xacct_xml_parser_salt(XML_Parser p)
{
    static _Thread_local unsigned long salt; /* one per thread: no race */
    if (salt == 0) {
        unsigned long s = 0;
        if (RAND_bytes((unsigned char *)&s, (int)sizeof(s)) != 1 || s == 0)
            return; /* 0 would mean "draw your own" to expat anyway */
        salt = s;
    }
    XML_SetHashSalt(p, salt);
}

XML_Parser xacct_xml_parser_get(const XML_Char *encoding)
{
    pthread_once(&once, make_key);
    XML_Parser p = spare_key_ok ? pthread_getspecific(spare_key) : NULL;
    if (p != NULL) {
        /* Taken out while in use, so a parse started from inside another's
         * handler gets a parser of its own. */
        (void)pthread_setspecific(spare_key, NULL);
        if (XML_ParserReset(p, encoding) != XML_TRUE) {
            XML_ParserFree(p);
            p = NULL;
        }
    }
    if (p == NULL)
        p = XML_ParserCreate(encoding);
    if (p != NULL)
        xacct_xml_parser_salt(p);
    return p;
}

void xacct_xml_parser_put(XML_Parser p, size_t doc_len)
{
    if (p == NULL)
        return;
    if (doc_len <= SPARE_DOC_MAX && spare_key_ok && pthread_getspecific(spare_key) == NULL &&
        pthread_setspecific(spare_key, p) == 0)
        return;
    XML_ParserFree(p);
}

#ifdef XACCT_UNIT_TESTING
XML_Parser xacct__xml_parser_spare(void)
{
    pthread_once(&once, make_key);
    return spare_key_ok ? pthread_getspecific(spare_key) : NULL;
}
#endif
