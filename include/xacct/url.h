/* SPDX-License-Identifier: MIT */
/*
 * The one check every URL that arrives inside a message goes through before
 * xacct connects to it (ResponseURL, SigningCertURL, SubscribeURL): parsed
 * with libcurl's URL API, https only, no user information, host and port on
 * an operator's allow-list. This is what keeps those URLs from becoming a
 * way to make xacct call arbitrary hosts (SSRF).
 */
#ifndef XACCT_URL_H
#define XACCT_URL_H

#include <stddef.h>

#include "xacct/common.h"
#include "xacct/config.h"
#include "xacct/hostpat.h"

/*
 * Returns 0 when url is https, carries no user information and its host and
 * port are allowed by hosts (xacct_hostpat_allowed with flags, e.g.
 * XACCT_HOSTPAT_REGION for sns.cert_hosts). Otherwise XACCT_EPARSE
 * with the reason in err, naming list_name ("cloudformation.response_hosts")
 * for a host that is not allowed. host_out and path_out (either may be NULL)
 * receive heap copies the caller frees.
 */
int xacct_url_check_allowed(const char *url, const xacct_strlist_t *hosts, unsigned flags,
                            const char *list_name, char **host_out, char **path_out, char *err,
                            size_t errlen) XACCT_MUSTCHECK;

#endif
