/* SPDX-License-Identifier: MIT */
/*
 * Logging: one line per event on stderr (journald picks it up), in logfmt or
 * JSON. An event has a name and key/value fields; the level check happens in
 * the macro, so nothing is formatted when the level is off.
 *
 *   XACCT_LOG_INFO(log, "message.acked", "queue", q, "message_id", id, NULL);
 *
 * Fields are NULL-terminated (key, value) string pairs. Secrets never go in:
 * pass URLs through xacct_redact_url() first, and never log credentials,
 * signatures or external IDs.
 */
#ifndef XACCT_LOG_H
#define XACCT_LOG_H

#include <stdbool.h>
#include <stdio.h>

#include "xacct/common.h"

typedef enum xacct_log_level {
    XACCT_LOG_DEBUG = 0,
    XACCT_LOG_INFO = 1,
    XACCT_LOG_WARN = 2,
    XACCT_LOG_ERROR = 3,
} xacct_log_level_t;

typedef enum xacct_log_format {
    XACCT_LOG_LOGFMT = 0,
    XACCT_LOG_JSON = 1,
} xacct_log_format_t;

struct xacct_buf;

typedef struct xacct_log {
    xacct_log_level_t level;   /* events below this are dropped */
    xacct_log_format_t format; /* line format */
    FILE *out;                 /* sink; stderr unless a test redirects it */
    const char *prefix;        /* optional "component" field, borrowed */
    struct xacct_buf *batch;   /* lines not written yet (xacct_log_batch_start), or NULL */
} xacct_log_t;

/* Storage is the caller's; out defaults to stderr when NULL. */
void xacct_log_init(xacct_log_t *log, xacct_log_level_t level, xacct_log_format_t format,
                    FILE *out);

/*
 * Batching, for a process on an event loop: after xacct_log_batch_start,
 * debug and info lines collect in memory and go out together, whole lines
 * in one write, when the owner calls xacct_log_flush (xacctd does before
 * its loop waits, once a turn) or when XACCT_LOG_BATCH_MAX bytes are
 * waiting. A warn or error line is written at once, behind the lines
 * before it. xacct_log_batch_stop writes what is left and goes back to a
 * write per line.
 */
#define XACCT_LOG_BATCH_MAX (32u * 1024u)
void xacct_log_batch_start(xacct_log_t *log);
bool xacct_log_pending(const xacct_log_t *log); /* lines wait to be written */
void xacct_log_flush(const xacct_log_t *log);
void xacct_log_batch_stop(xacct_log_t *log);

/* Parses "debug"/"info"/"warn"/"error" and "logfmt"/"json" (case-insensitive;
 * "warning" is accepted for warn); -1 if unknown. */
int xacct_log_level_parse(const char *s);
int xacct_log_format_parse(const char *s);

/* The names above ("info", "json"); static strings, "unknown" if out of range. */
const char *xacct_log_level_name(xacct_log_level_t level);
const char *xacct_log_format_name(xacct_log_format_t format);

/* Limits that keep one event one bounded line: a value longer than
 * XACCT_LOG_VALUE_MAX bytes is cut (and marked with "..."); a line that would
 * exceed XACCT_LOG_LINE_MAX drops its remaining fields and says truncated. */
#define XACCT_LOG_VALUE_MAX 1024
#define XACCT_LOG_LINE_MAX 16384

/* Writes one line: ts=... level=... event=... key=value ... (values quoted and
 * escaped as the format requires). Keys and the event name are reduced to
 * [A-Za-z0-9_.-]; a field named ts, level, event or component is written as
 * _ts and so on, so a field cannot pose as the event's own. A NULL value is
 * written as empty (logfmt) or null (JSON). Use the macros below instead. */
void xacct__log_emit(const xacct_log_t *log, xacct_log_level_t level, const char *event, ...)
    __attribute__((sentinel));

#define XACCT_LOG_AT(log, lvl, event, ...)                                   \
    do {                                                                     \
        const xacct_log_t *xacct__l = (log);                                 \
        if (xacct__l != NULL && (lvl) >= xacct__l->level)                    \
            xacct__log_emit(xacct__l, (lvl), (event), __VA_ARGS__);          \
    } while (0)

#define XACCT_LOG_DEBUG(log, event, ...) XACCT_LOG_AT(log, XACCT_LOG_DEBUG, event, __VA_ARGS__)
#define XACCT_LOG_INFO(log, event, ...) XACCT_LOG_AT(log, XACCT_LOG_INFO, event, __VA_ARGS__)
#define XACCT_LOG_WARN(log, event, ...) XACCT_LOG_AT(log, XACCT_LOG_WARN, event, __VA_ARGS__)
#define XACCT_LOG_ERROR(log, event, ...) XACCT_LOG_AT(log, XACCT_LOG_ERROR, event, __VA_ARGS__)

/*
 * Redaction. xacct_redact_url writes "scheme://host[:port]/path?***" (the
 * query, which holds presigned credentials, replaced; no userinfo; a URL that
 * does not parse becomes "<unparseable-url>") into out, always
 * NUL-terminated. Returns out.
 */
char *xacct_redact_url(const char *url, char *out, size_t outlen);

/* Enough for any URL redacted into a log line. */
#define XACCT_REDACT_URL_MAX 2048

/* "***" for any non-empty secret, "" for an empty or NULL one. */
const char *xacct_redact_secret(const char *secret);

#ifdef XACCT_UNIT_TESTING
#include <stdarg.h>
#include <time.h>

#include "xacct/buf.h"
/* The line xacct__log_emit would write for the given time, appended to b
 * (newline included). Returns 0 or XACCT_ETOOBIG. */
int log_format_line(xacct_buf_t *b, const xacct_log_t *log, xacct_log_level_t level,
                    const struct timespec *ts, const char *event, va_list ap);
#endif

#endif
