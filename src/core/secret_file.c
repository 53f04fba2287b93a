/* SPDX-License-Identifier: MIT */
/*
 * Mode checks for files holding secrets (secret_file.h).
 */
#include "xacct/secret_file.h"

#include <stdio.h>
#include <sys/stat.h>

int xacct_secret_file_check(const xacct_log_t *log, const char *key, const char *path,
                            char *err, size_t errlen)
{
    struct stat st;
    if (path == NULL || path[0] == '\0' || stat(path, &st) != 0)
        return 0;
    char mode[8];
    snprintf(mode, sizeof(mode), "%04o", (unsigned)(st.st_mode & 07777));
    if (st.st_mode & S_IWOTH) {
        snprintf(err, errlen, "%s: %s is writable by every user (mode %s): make it 0640 "
                 "root:xacct", key, path, mode);
        return XACCT_ECONFIG;
    }
    if (st.st_mode & S_IROTH)
        XACCT_LOG_WARN(log, "secret_file.readable", "key", key, "path", path, "mode", mode,
                       "action", "make it 0640 root:xacct: every user of the host can read it",
                       NULL);
    return 0;
}
