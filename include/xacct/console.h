/* SPDX-License-Identifier: MIT */
/*
 * Federated console sign-in for a customer role (`xacct console`): AssumeRole
 * with the customer's external ID, exchange the temporary credentials for a
 * sign-in token at the federation endpoint (Action=getSigninToken, a GET with
 * the Session JSON), and build the Action=login URL that opens the console as
 * the role. The login URL is a bearer credential for the token's lifetime
 * (15 minutes): whoever opens it is signed in.
 */
#ifndef XACCT_CONSOLE_H
#define XACCT_CONSOLE_H

#include "xacct/aws.h"
#include "xacct/common.h"
#include "xacct/http.h"

#define XACCT_CONSOLE_DEFAULT_DURATION 3600 /* console session, seconds */

typedef struct xacct_console_params {
    const char *role_arn;       /* the customer role; required */
    const char *external_id;    /* required */
    const char *session_name;   /* NULL = "xacct-console" */
    const char *source_identity; /* SourceIdentity of the session; NULL = none */
    const char *region;         /* STS region; NULL = the client's */
    const char *federation_url; /* e.g. https://signin.aws.amazon.com/federation */
    const char *destination;    /* where the console lands; https */
    const char *issuer;         /* shown by the sign-in page; NULL = "xacct" */
    int session_duration_s;     /* console session, 900..43200; 0 = 3600. When the
                                   client's own credentials are a role session
                                   (xacct_aws_role_session) it is the role
                                   session's length instead, at most 3600 */
} xacct_console_params_t;

/*
 * Completion, exactly once, never from inside xacct_console_signin_url:
 * status 0 with login_url (a secret: borrowed for the callback and wiped right
 * after it returns), or the AssumeRole error (XACCT_EACCESSDENIED when the
 * role refuses, ...), or XACCT_EAWS / XACCT_EHTTP-class transport errors from
 * the federation endpoint (detail says which step failed; never a secret).
 */
typedef void (*xacct_console_cb)(int status, const char *detail, const char *login_url,
                                 void *arg);

/* Starts the exchange. Strings are copied (the external ID is wiped when the
 * exchange ends). aws and http are borrowed and must outlive it. Returns 0 or
 * XACCT_EINVAL (missing field, URL that is not http(s), duration out of
 * range), or xacct_sts_assume_role's errors; the callback then never fires. */
int xacct_console_signin_url(xacct_aws_t *aws, xacct_http_t *http,
                             const xacct_console_params_t *p, xacct_console_cb cb,
                             void *arg) XACCT_MUSTCHECK;

/* URL building, exposed for tests: base + "?" + the pairs, each value
 * percent-encoded (CURLU). names/values have n entries. *out is a heap
 * string. Returns 0 or XACCT_EINVAL (base is not an absolute http(s) URL). */
int xacct__console_url(const char *base, const char *const *names, const char *const *values,
                       size_t n, char **out) XACCT_MUSTCHECK;

#endif
