/* SPDX-License-Identifier: MIT */
/*
 * Customer records and their bookkeeping (SPEC §5): customer:<account>
 * hashes, the customers zset (by last update), the external-id:<id> index,
 * the events:<account> audit streams, the topic:<arn> publish allow-list
 * sets, and the reservations zset:
 *
 *   reservations  zset: "<account>|<external_id>|<topic_arn>" -> Unix ms
 *                 the reservation's lease ends; the topic is '' until the
 *                 account is allowed on one (xacct_customers_reserve_id)
 *
 * Every write that SPEC requires to be atomic is one Lua script.
 * Implemented in src/store/customers_*.c, one file per part below: apply,
 * onboard (and rotate, reserve and release), lapsed (reservations whose
 * holder died), topics, read, audit.
 *
 * State machine (SPEC §5): pending -> active | rejected; active -> active
 * (Update only) | offboarding (Delete) | degraded (re-verification,
 * reverify.h); degraded -> active (Update, or re-verification) | offboarding;
 * rejected -> active; offboarding ->
 * offboarded (xacct_jobs_done); offboarded -> pending (re-onboard). Onboarding
 * also accepts rejected -> pending (a new external ID for a customer whose
 * stack was rejected).
 *
 * All strings passed in are copied; everything handed to callbacks is
 * borrowed for the duration of the callback. Times in hashes are RFC 3339 UTC
 * (xacct_store_iso8601); the customers zset scores are Unix milliseconds.
 */
#ifndef XACCT_CUSTOMERS_H
#define XACCT_CUSTOMERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xacct/codec.h"
#include "xacct/common.h"
#include "xacct/store.h"

#define XACCT_EVENTS_MAXLEN 1000 /* per account, approximate (MAXLEN ~) */

/* ---- the customer record ---------------------------------------------- */

/* A customer's state (SPEC §5, §9). UNKNOWN is a name this version does not
 * know (a newer writer); the store never returns a record without a state. */
typedef enum xacct_customer_state {
    XACCT_CUSTOMER_UNKNOWN = 0,
    XACCT_CUSTOMER_PENDING,     /* onboarded, no stack verified yet */
    XACCT_CUSTOMER_ACTIVE,      /* role verified, connected through a stack */
    XACCT_CUSTOMER_REJECTED,    /* the stack's role failed the safety check */
    XACCT_CUSTOMER_OFFBOARDING, /* the stack was deleted; the offboarding job runs */
    XACCT_CUSTOMER_OFFBOARDED,  /* the job finished */
    XACCT_CUSTOMER_DEGRADED,    /* re-verification found the role no longer safe */
    XACCT_CUSTOMER_EXPIRED,     /* onboarding never completed in time */
    XACCT_CUSTOMER_CANCELLED,   /* the partner withdrew the onboarding */
} xacct_customer_state_t;

/* "pending", "active", ... ("unknown" for UNKNOWN or out of range); static. */
const char *xacct_customer_state_name(xacct_customer_state_t st);
/* The state of a name; XACCT_CUSTOMER_UNKNOWN for NULL or an unknown name. */
xacct_customer_state_t xacct_customer_state_from_name(const char *name);

/* One customer:<account> hash, typed. Strings are never NULL ("" when the
 * field is absent). In a callback every string is borrowed for the callback;
 * a copy from xacct_customer_dup owns them (one block, freed together). */
typedef struct xacct_customer {
    xacct_customer_state_t state;
    const char *account_id;
    const char *external_id;     /* secret: never logged */
    const char *role_arn;        /* "" until a stack connected */
    const char *stack_id;        /*   " */
    const char *region;          /* the stack's (or, while pending, its topic's) */
    const char *topic_arn;       /* the topic the account may publish to */
    const char *physical_id;     /* "xacct-<account>" once active */
    const char *created_at;      /* RFC 3339 UTC */
    const char *updated_at;      /*   " */
    const char *last_request_id; /* the last CloudFormation request applied */
    const char *last_error;      /* the last FAILED reason, "" when none */
    const char *pending_external_id; /* secret: a rotation's new ID not yet in use */
    const char *template_version;    /* TemplateVersion of the customer's template */
    const char *verified_at;         /* RFC 3339 UTC of the last safety check passed */
    const char *seq;                 /* lifecycle events so far (outbox.h), decimal */
    const char *state_text; /* the state field as stored, which may name a state this
                               version does not know (state is then UNKNOWN); "" or NULL
                               when not read from a record */
    int64_t pending_since_ms; /* no hash field: while pending, when its current onboarding
                                 began (Unix ms, the pending zset of expiry.h); filled only by
                                 the reads that say so, else 0 (unknown) */
} xacct_customer_t;

/* The hash fields, in display order (SPEC §5's twelve first), for printing a
 * record field by field: names (static), the matching value of c (borrowed
 * from c; for "state" the value as stored, else the state's name), and which
 * hold a secret. */
#define XACCT_CUSTOMER_NFIELDS 16
#define XACCT_CUSTOMER_NCORE 12 /* always present; the others only once written */
const char *xacct_customer_field_name(size_t i);
const char *xacct_customer_field_value(const xacct_customer_t *c, size_t i);
bool xacct_customer_field_secret(size_t i);
/* The value of the field called name; NULL for a name that is no field. */
const char *xacct_customer_field(const xacct_customer_t *c, const char *name);

/* A heap copy in one allocation; free with xacct_customer_free, which wipes
 * the external ID. NULL gives NULL. */
xacct_customer_t *xacct_customer_dup(const xacct_customer_t *c);
void xacct_customer_free(xacct_customer_t *c);

/* For the store layer: sets the field called name of c to value (borrowed);
 * unknown names are ignored. */
void xacct__customer_set_field(xacct_customer_t *c, const char *name, const char *value);
/* Sets c->pending_since_ms from a pending zset score (a ZSCORE reply's text);
 * NULL, "" or no number leaves it 0. */
void xacct__customer_set_pending_since(xacct_customer_t *c, const char *score);
/* Every string of c "", state UNKNOWN, pending_since_ms 0. */
void xacct__customer_init(xacct_customer_t *c);

/* ---- applying a CloudFormation outcome (xacctd) ------------------------ */

typedef enum xacct_apply_result {
    XACCT_APPLY_APPLIED = 1, /* state changed; event (and job) appended; claim finished */
    XACCT_APPLY_DUPLICATE,   /* request_id equals the record's last_request_id: no change */
    XACCT_APPLY_AUDITED,     /* no transition: the event was appended and the claim
                                finished (audit-only call, or a Delete that does not
                                name the active record's physical id) */
} xacct_apply_result_t;

typedef struct xacct_customer_apply {
    const char *account_id;         /* required */
    const char *request_type;       /* "Create", "Update" or "Delete" */
    const char *request_id;         /* required; stored as last_request_id */
    const char *to_state;           /* "active", "rejected", "offboarding", or NULL
                                       for an audit-only call */
    const char *role_arn;           /* written on a transition when non-NULL */
    const char *stack_id;           /*   " */
    const char *region;             /*   " */
    const char *physical_id;        /*   " */
    const char *template_version;   /*   " ("" clears it) */
    const char *last_error;         /* written on a transition; NULL writes "" */
    const char *expect_physical_id; /* offboarding only: must equal the record's */
    const char *expect_external_id; /* a transition: the external ID (secret) the
                                       decision was proved with; refused
                                       (XACCT_ESTATE) when the record's is another
                                       one by now (re-issued meanwhile). NULL = any */
    const char *replace_stack_id;   /* to_state "active" from a Create while the
                                       customer is connected (active or degraded):
                                       the StackId it replaces, and replace_role_arn
                                       the role checked and found gone; refused
                                       (XACCT_ESTATE) unless the record still names
                                       both. NULL: a Create never moves a connected
                                       customer */
    const char *replace_role_arn;
    const xacct_event_t *event;     /* required: the audit event to append */
    const xacct_job_t *job;         /* required with to_state "offboarding" */
    const char *claim_owner;        /* non-NULL: finish request:<claim_stack_id>:
                                       <request_id> with answer in the same script */
    const char *claim_stack_id;     /* the StackId of the claim (required with owner) */
    const char *answer;             /* the JSON answer to store in the claim */
    long claim_ttl_s;               /* 0 = XACCT_CLAIMS_DONE_TTL_S */
    int64_t reverify_due_ms;        /* to_state "active": the account's first due time
                                       on the reverify schedule (0 = not scheduled) */
    const char *rotate_to;          /* to_state "active" from an Update that proved the
                                       pending external ID (secret): it becomes
                                       external_id, the old ID's index is deleted,
                                       pending_external_id removed and the lifecycle
                                       event is customer.external_id_rotated; refused
                                       (XACCT_ESTATE) unless it still is the record's
                                       pending_external_id. NULL = no rotation */
    int64_t now_ms;                 /* 0 = now */
} xacct_customer_apply_t;

/*
 * status 0 with a result and the state the record had before; or
 * XACCT_ENOTFOUND (no record: nothing written), XACCT_ESTATE (transition
 * refused, detail "from -> to": nothing written), XACCT_EEXISTS (claim_owner
 * given and the request's claim is held or was finished by another owner:
 * its lease ran out and another worker took it over; nothing written), or a
 * store error.
 */
typedef void (*xacct_customers_apply_cb)(int status, const char *detail,
                                         xacct_apply_result_t result, const char *prev_state,
                                         void *arg);

/* Applies it in one script: state check, hash fields, ZADD customers, XADD
 * events:<account> MAXLEN ~ 1000 e=<event>, for offboarding XADD
 * jobs:offboard job=<job> (creating the consumer group if needed), and the
 * claim's finish. Activation also writes verified_at and puts the account on
 * the reverify schedule; offboarding takes it off. XACCT_EINVAL for missing fields or another to_state. */
int xacct_customers_apply(xacct_store_t *s, const xacct_customer_apply_t *in,
                          xacct_customers_apply_cb cb, void *arg) XACCT_MUSTCHECK;

/* ---- onboarding and rotation (CLI) ------------------------------------ */

/* status 0; or XACCT_ESTATE (record is pending, active, degraded or offboarding;
 * detail names the state), XACCT_EEXISTS (external ID already taken: generate
 * a new one and retry), XACCT_ENOTFOUND (rotate: no record). prev_state is ""
 * for a new customer. */
typedef void (*xacct_customers_onboard_cb)(int status, const char *detail,
                                           const char *prev_state, void *arg);

/* Creates or re-opens a pending customer with external_id: SET NX on
 * external-id:<id>, unindexes the previous ID (and a rotation's pending ID
 * left behind), clears last_error and last_request_id, drops what described
 * a previous stack (role_arn, stack_id, physical_id, template_version,
 * verified_at), keeps created_at,
 * records region (NULL: leaves it; the lifecycle event carries it), ZADD,
 * audit event (type "onboarded" unless event says otherwise). event is
 * required (never holds the ID). */
int xacct_customers_onboard(xacct_store_t *s, const char *account_id, const char *external_id,
                            const char *region, const xacct_event_t *event,
                            xacct_customers_onboard_cb cb, void *arg) XACCT_MUSTCHECK;

/* Issues a new external ID (new index SET NX, audit event). An active or
 * degraded customer keeps its external_id and gets the new one as
 * pending_external_id (a previous pending ID is unindexed): the stack still
 * trusts the current ID until an Update proves the new one
 * (xacct_customer_apply_t.rotate_to). A pending or rejected customer, whose
 * ID no stack trusts yet, gets the new ID at once (old index deleted,
 * lifecycle event customer.external_id_rotated). XACCT_ESTATE in the other
 * states; prev_state tells the caller which of the two happened. */
int xacct_customers_rotate(xacct_store_t *s, const char *account_id,
                           const char *new_external_id, const xacct_event_t *event,
                           xacct_customers_onboard_cb cb, void *arg) XACCT_MUSTCHECK;

/* What a committing rotation expects the record to hold still: the IDs it
 * read and whether a stack was connected (a rotation prepared for one
 * record is not applied to another). */
typedef struct xacct_customers_expect {
    const char *external_id;         /* "" or NULL: none */
    const char *pending_external_id; /* "" or NULL: none */
    bool connected;                  /* active or degraded */
} xacct_customers_expect_t;

/* Reserves external_id for the account before anything else is written:
 * its index key is set NX with a lease of lease_ms and the reservation is
 * put on the reservations zset, due when the lease ends (nothing on the
 * record), so the AWS side (allow-list, template) can be put in place first
 * and the onboarding or rotation committed only once it is (SPEC §7:
 * nothing is half-done). A reservation neither committed nor released by
 * the end of its lease (its holder died) is released by the workers
 * (xacct_customers_release_lapsed). rotate: the record must be active,
 * degraded, pending or rejected (else XACCT_ENOTFOUND / XACCT_ESTATE);
 * otherwise it must be absent or closed (XACCT_ESTATE names the open
 * state). XACCT_EEXISTS: the ID is taken. prev_state is the record's state
 * ("" none). */
int xacct_customers_reserve_id(xacct_store_t *s, const char *account_id, const char *external_id,
                               bool rotate, long long lease_ms, xacct_customers_onboard_cb cb,
                               void *arg) XACCT_MUSTCHECK;

/* Gives a reserved ID up (an onboarding or rotation that failed before its
 * commit): it leaves the reservations zset, its index key is deleted unless
 * the record holds the ID after all, and the account leaves topic_arn's set
 * ("" none) unless its record is open on that topic. What AWS may still
 * hold for it goes to the cleanup zset (expiry.h), due now: the topic's
 * policy when the account left the set, and the ID's template when
 * template_left (its removal failed). */
typedef void (*xacct_customers_done_cb)(int status, const char *detail, void *arg);
int xacct_customers_release_id(xacct_store_t *s, const char *account_id, const char *external_id,
                               const char *topic_arn, bool template_left,
                               xacct_customers_done_cb cb, void *arg) XACCT_MUSTCHECK;

/* status 0 with the number of reservations released, the number of entries
 * looked at (== max: more may be due) and the earliest due time left (-1:
 * none); or a store error. */
typedef void (*xacct_customers_lapsed_cb)(int status, const char *detail, long long released,
                                          long long looked_at, int64_t next_due_ms, void *arg);

/* Releases, in one script, up to max reservations due at now_ms whose
 * holder neither committed nor released them (a process killed on the way):
 * each as xacct_customers_release_id with the topic its entry names and
 * template_left set (the template may have been uploaded). An entry whose
 * index key still has a lease (by Redis's clock) is looked at again when it
 * ends; one whose ID the record holds is only dropped. For the workers'
 * expirer: what it queues on the cleanup zset is due at once. */
int xacct_customers_release_lapsed(xacct_store_t *s, int64_t now_ms, size_t max,
                                   xacct_customers_lapsed_cb cb, void *arg) XACCT_MUSTCHECK;

/* xacct_customers_onboard of a reserved ID, recording the topic the account
 * was allowed on (topic_arn; it leaves a previous topic's set). The
 * reservation must still be on the reservations zset: one given up or
 * released by the workers (its lease over) is XACCT_EAGAIN, nothing changed.
 * Queued in the cleanup zset, due now: the previous topic's policy when the
 * account left its set, the topic's own when the account was no longer in
 * its set (a release of another reservation of the account took it out),
 * and a rejected customer's template of the ID the new one retires. */
int xacct_customers_onboard_commit(xacct_store_t *s, const char *account_id,
                                   const char *external_id, const char *region,
                                   const char *topic_arn, const xacct_event_t *event,
                                   xacct_customers_onboard_cb cb, void *arg) XACCT_MUSTCHECK;

/* xacct_customers_rotate of a reserved ID, with the topic and the
 * reservation as above (a topic left is queued for its policy; the
 * superseded template is the caller's to remove), applied only while the
 * record is as expect says (else XACCT_EAGAIN, nothing changed: read it
 * again and start over). */
int xacct_customers_rotate_commit(xacct_store_t *s, const char *account_id,
                                  const char *new_external_id, const char *topic_arn,
                                  const xacct_customers_expect_t *expect,
                                  const xacct_event_t *event, xacct_customers_onboard_cb cb,
                                  void *arg) XACCT_MUSTCHECK;

/* ---- publish allow-list bookkeeping ----------------------------------- */

/*
 * status 0 with the topic chosen and the number of accounts now in its set;
 * XACCT_ENOTFOUND (no record), XACCT_ETOOBIG (every candidate topic holds
 * max_per_topic accounts) or XACCT_ESTATE (below).
 */
typedef void (*xacct_customers_topic_cb)(int status, const char *detail, const char *topic_arn,
                                         long long count, void *arg);

/* Puts the account in the first candidate topic set that already holds it or
 * has room (fewer than max_per_topic members), moves it out of a previous
 * topic, and records topic_arn on the customer (and, while it is pending,
 * the topic's region as its region). Atomic. external_id is the ID being set
 * up (the record's external_id or pending_external_id): XACCT_ESTATE, and
 * nothing changes, when it is neither any more or the customer is cancelled,
 * expired, offboarding or offboarded — closed while its caller worked. An ID
 * reserved for the account (xacct_customers_reserve_id) puts it in the set
 * only, and names the topic on the reservation's entry: its commit records
 * the topic. */
int xacct_customers_topic_assign(xacct_store_t *s, const char *account_id,
                                 const char *external_id, const char *const *candidate_arns,
                                 size_t n, long long max_per_topic, xacct_customers_topic_cb cb,
                                 void *arg) XACCT_MUSTCHECK;

/* xacct_customers_topic_assign by the holder of the lock lock_name
 * (xacct_store_lock_acquire) with token, who has just written the topic's
 * policy: XACCT_EAGAIN, and nothing changes, when the lock is no longer
 * that token's. Its lease ran out and another writer may have rewritten the
 * policy from the set without the account; recorded now, the account would
 * be in the set but not in the policy. */
int xacct_customers_topic_assign_locked(xacct_store_t *s, const char *account_id,
                                        const char *external_id,
                                        const char *const *candidate_arns, size_t n,
                                        long long max_per_topic, const char *lock_name,
                                        const char *token, xacct_customers_topic_cb cb,
                                        void *arg) XACCT_MUSTCHECK;

/* Removes the account from its topic set and clears topic_arn; the callback
 * gets the topic it was removed from ("" if none) and that set's new size. */
int xacct_customers_topic_remove(xacct_store_t *s, const char *account_id,
                                 xacct_customers_topic_cb cb, void *arg) XACCT_MUSTCHECK;

/* SMEMBERS topic:<arn>: the accounts to write into the policy (sorted). */
typedef void (*xacct_customers_members_cb)(int status, const char *detail,
                                           const char *const *accounts, size_t n, void *arg);
int xacct_customers_topic_members(xacct_store_t *s, const char *topic_arn,
                                  xacct_customers_members_cb cb, void *arg) XACCT_MUSTCHECK;

/* Every topic set with its size (SCAN topic:*, at most 10000). */
typedef struct xacct_customers_topic_count {
    const char *topic_arn;
    long long count;
} xacct_customers_topic_count_t;
typedef void (*xacct_customers_topics_cb)(int status, const char *detail,
                                          const xacct_customers_topic_count_t *topics, size_t n,
                                          void *arg);
int xacct_customers_topics(xacct_store_t *s, xacct_customers_topics_cb cb,
                           void *arg) XACCT_MUSTCHECK;

/* ---- reads (xacctd and CLI) ------------------------------------------- */

/* One customer (HGETALL), typed; customer is borrowed for the callback (copy
 * it with xacct_customer_dup) and NULL unless status is 0. XACCT_ENOTFOUND
 * when there is no record (or a hash without a state). */
typedef void (*xacct_customers_get_cb)(int status, const char *detail,
                                       const xacct_customer_t *customer, void *arg);
int xacct_customers_get(xacct_store_t *s, const char *account_id, xacct_customers_get_cb cb,
                        void *arg) XACCT_MUSTCHECK;
/* The same, and for a pending customer pending_since_ms too, read with the
 * record in one script: what a pending customer's links are measured from
 * (its created_at is the record's first onboarding, not its current one). */
int xacct_customers_get_onboarding(xacct_store_t *s, const char *account_id,
                                   xacct_customers_get_cb cb, void *arg) XACCT_MUSTCHECK;

typedef struct xacct_customer_summary {
    const char *account_id;
    xacct_customer_state_t state;
    const char *region;
    const char *topic_arn;
    const char *updated_at;
    const char *last_error;
} xacct_customer_summary_t;
typedef void (*xacct_customers_list_cb)(int status, const char *detail,
                                        const xacct_customer_summary_t *items, size_t n,
                                        void *arg);
/* Customers, most recently updated first, optionally only those in state
 * (NULL = all), at most limit (0 = 1000, capped at 100000). */
int xacct_customers_list(xacct_store_t *s, const char *state, size_t limit,
                         xacct_customers_list_cb cb, void *arg) XACCT_MUSTCHECK;

/* Audit events of an account: stream id and the raw msgpack map (decode with
 * xacct_codec_event_decode or dump with xacct_codec_to_json). */
typedef struct xacct_customers_event_item {
    const char *id;   /* stream entry id */
    const void *data; /* msgpack payload */
    size_t len;
} xacct_customers_event_item_t;
typedef void (*xacct_customers_events_cb)(int status, const char *detail,
                                          const xacct_customers_event_item_t *items, size_t n,
                                          void *arg);
/* newest_first: XREVRANGE, else XRANGE; count 0 = 100. */
int xacct_customers_events(xacct_store_t *s, const char *account_id, size_t count,
                           int newest_first, xacct_customers_events_cb cb,
                           void *arg) XACCT_MUSTCHECK;

/* Appends an audit event without touching the record (e.g. an ownership
 * mismatch answered FAILED). Only when the customer exists: XACCT_ENOTFOUND
 * otherwise, so unknown accounts cannot grow streams. */
int xacct_customers_audit(xacct_store_t *s, const char *account_id, const xacct_event_t *event,
                          xacct_customers_done_cb cb, void *arg) XACCT_MUSTCHECK;

#endif
