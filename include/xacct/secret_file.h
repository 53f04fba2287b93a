/* SPDX-License-Identifier: MIT */
/*
 * The files that hold secrets (api.tokens_file, events.webhook_secret_file,
 * redis.tls_key_file) are meant to be 0640 root:xacct (README). One that any
 * user of the host may write lets anyone plant a token or a key, so it is
 * refused; one that any user may read is used, with a warning, since
 * refusing it would take a running service down on reload.
 */
#ifndef XACCT_SECRET_FILE_H
#define XACCT_SECRET_FILE_H

#include <stddef.h>

#include "xacct/common.h"
#include "xacct/log.h"

/*
 * Looks at the mode of path (the file a symlink names), named by its
 * configuration key. Returns 0, after a warning on log (event
 * secret_file.readable) when users other than the owner and the group may
 * read it, or XACCT_ECONFIG with a reason in err when they may write it. A
 * file that cannot be looked at passes: reading it reports the error.
 */
int xacct_secret_file_check(const xacct_log_t *log, const char *key, const char *path,
                            char *err, size_t errlen) XACCT_MUSTCHECK;

#endif
