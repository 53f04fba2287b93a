/* SPDX-License-Identifier: MIT */
/*
 * The msgpack payloads xacct keeps in Redis (SPEC §5): offboarding jobs, audit
 * events and worker heartbeats, plus a generic msgpack-to-JSON dumper for the
 * CLI. Encoders write into a capped xacct_buf_t. Decoders are strict: the
 * input must be exactly one map no larger than XACCT_CODEC_MAX_INPUT, every
 * known key must have its type, required keys must be present, duplicate keys
 * are refused and unknown keys are ignored (so newer writers can add fields).
 * They return 0, XACCT_EPARSE or XACCT_ETOOBIG.
 *
 * Audit events never carry secrets: there is no external-ID field, and the
 * encoder does not accept one.
 */
#ifndef XACCT_CODEC_H
#define XACCT_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xacct/buf.h"
#include "xacct/common.h"

#define XACCT_CODEC_VERSION 1
#define XACCT_CODEC_MAX_INPUT (64u * 1024u) /* bytes per payload */
#define XACCT_CODEC_MAX_STRING (8u * 1024u) /* bytes per string field */

/*
 * Offboarding job: {v, account_id, role_arn, external_id, stack_id, region,
 * request_id, requested_at}. All keys required. Times are Unix milliseconds.
 * For encoding the strings are borrowed from the caller (NULL encodes as "");
 * a decoded job owns them: release with xacct_codec_job_destroy, which wipes
 * the external ID.
 */
typedef struct xacct_job {
    int64_t v;               /* XACCT_CODEC_VERSION when encoding */
    const char *account_id;  /* 12 digits */
    const char *role_arn;    /* the customer role to assume */
    const char *external_id; /* secret-ish: never log */
    const char *stack_id;    /* CloudFormation stack ARN */
    const char *region;      /* stack region */
    const char *request_id;  /* the Delete request that caused it */
    int64_t requested_at;    /* ms since the epoch */
} xacct_job_t;

/*
 * Audit event: {v, ts, type, request_id, stack_id, outcome, reason, actor}.
 * v, ts and type are required; the other strings may be NULL (encoded as nil,
 * decoded from nil or absence as NULL). type is one of onboarded, create,
 * update, delete, rejected, failed, offboarding, offboarded, rotated, check
 * (not enforced: new types may appear). actor is a worker id or "cli".
 */
typedef struct xacct_event {
    int64_t v;              /* XACCT_CODEC_VERSION when encoding */
    int64_t ts;             /* ms since the epoch */
    const char *type;       /* required */
    const char *request_id; /* CloudFormation RequestId, or NULL */
    const char *stack_id;   /* or NULL */
    const char *outcome;    /* e.g. SUCCESS, FAILED, ignored; or NULL */
    const char *reason;     /* human-readable; or NULL */
    const char *actor;      /* worker id or "cli"; or NULL */
} xacct_event_t;

/*
 * Worker heartbeat: {host, pid, version, started_at, concurrency, in_flight,
 * processed, failed, rss, quiet}. All keys required.
 */
typedef struct xacct_heartbeat {
    const char *host;    /* hostname */
    int64_t pid;
    const char *version; /* xacct version */
    int64_t started_at;  /* ms since the epoch */
    int64_t concurrency; /* queue.max_in_flight */
    int64_t in_flight;   /* messages being processed */
    int64_t processed;   /* total handled */
    int64_t failed;      /* total answered FAILED or dead-lettered */
    int64_t rss;         /* resident set size, bytes */
    bool quiet;          /* SIGTSTP: not fetching */
} xacct_heartbeat_t;

/* Encoders append to out (whose max caps the size); XACCT_ETOOBIG if it
 * does not fit, XACCT_EINVAL for a missing required string. */
int xacct_codec_job_encode(const xacct_job_t *job, xacct_buf_t *out) XACCT_MUSTCHECK;
int xacct_codec_event_encode(const xacct_event_t *ev, xacct_buf_t *out) XACCT_MUSTCHECK;
int xacct_codec_heartbeat_encode(const xacct_heartbeat_t *hb, xacct_buf_t *out) XACCT_MUSTCHECK;

/* Decoders fill *out (zeroed first, also on failure). On success the strings
 * are heap copies owned by *out; release them with the matching destroy. */
int xacct_codec_job_decode(const void *data, size_t len, xacct_job_t *out) XACCT_MUSTCHECK;
int xacct_codec_event_decode(const void *data, size_t len, xacct_event_t *out) XACCT_MUSTCHECK;
int xacct_codec_heartbeat_decode(const void *data, size_t len,
                                 xacct_heartbeat_t *out) XACCT_MUSTCHECK;
void xacct_codec_job_destroy(xacct_job_t *job);
void xacct_codec_event_destroy(xacct_event_t *ev);
void xacct_codec_heartbeat_destroy(xacct_heartbeat_t *hb);

/*
 * Generic msgpack -> JSON text (one value, XACCT_CODEC_MAX_INPUT at most,
 * nesting at most 32 deep). Strings that are not valid UTF-8, bin and ext
 * values become base64 strings ({"$bin": "..."} / {"$ext": n, "data": "..."});
 * non-string map keys are rendered as their JSON text; NaN and infinities
 * become null. Values of map keys named in redact (a NULL-terminated list, or
 * NULL) are replaced by "***". *out is a heap string the caller frees.
 */
#define XACCT_CODEC_JSON_PRETTY 1 /* indent by 2 */
int xacct_codec_to_json(const void *data, size_t len, const char *const *redact, int flags,
                        char **out) XACCT_MUSTCHECK;

#ifdef XACCT_UNIT_TESTING
/* True when no array or map in data announces more values than bytes are
 * left (checked before msgpack-c allocates for them). */
bool xacct__codec_counts_fit(const void *data, size_t len);
#endif

#endif
