/* SPDX-License-Identifier: MIT */
/*
 * What `xacctd --check-config` checks beyond the file itself (config.h):
 * everything the daemon's start would refuse that follows from the
 * configuration and the environment, without connecting, binding a port or
 * fetching credentials. The AWS settings (profile endpoints, FIPS/dual-stack,
 * the credentials chain), redis.url and its TLS files, the webhook secret and
 * the API tokens file are read with the same code the start uses.
 */
#ifndef XACCT_CONFIG_CHECK_H
#define XACCT_CONFIG_CHECK_H

#include <stddef.h>

#include "xacct/config.h"
#include "xacct/log.h"

/* Returns 0, or XACCT_ECONFIG with the first reason, naming the key or the
 * setting, in err. Warnings (a secret file every user may read) go to log. */
int xacct_config_check_start(const xacct_config_t *cfg, const xacct_log_t *log, char *err,
                             size_t errlen) XACCT_MUSTCHECK;

#endif
