/* SPDX-License-Identifier: MIT */
/*
 * The operator's name for STS sessions: picked from the flag, the
 * environment or the login, then reduced to the characters STS accepts in
 * RoleSessionName and SourceIdentity. Replacing rather than refusing keeps
 * ordinary login names ("jean dupont", "ops\admin") usable while the name
 * stays recognisable in the customer's CloudTrail.
 */
#include "xacct/operator.h"

#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "xacct/utf8.h"

static bool allowed(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           strchr("_+=,.@-", ch) != NULL;
}

int xacct_operator_sanitize(const char *raw, char out[XACCT_OPERATOR_NAME_MAX + 1],
                            bool *changed)
{
    out[0] = '\0';
    if (changed != NULL)
        *changed = false;
    if (raw == NULL)
        return XACCT_EINVAL;
    size_t len = strlen(raw), n = 0;
    bool replaced = false, pending_dash = false;
    for (size_t i = 0; i < len && n < XACCT_OPERATOR_NAME_MAX;) {
        unsigned char ch = (unsigned char)raw[i];
        if (ch != '\0' && allowed(ch)) {
            if (pending_dash && n > 0) {
                if (n + 1 >= XACCT_OPERATOR_NAME_MAX)
                    break; /* never end a cut name on the replacement */
                out[n++] = '-';
            }
            pending_dash = false;
            out[n++] = (char)ch;
            i++;
            continue;
        }
        /* One replacement per run, whatever its length in bytes. */
        size_t cl = xacct_utf8_char_len(raw + i, len - i);
        i += cl > 0 ? cl : 1;
        pending_dash = true;
        replaced = true;
    }
    /* A leading run was dropped above (n == 0); a trailing one is never
     * written. Trailing dashes written as part of the name itself stay. */
    out[n] = '\0';
    bool differs = replaced || n != len;
    if (changed != NULL)
        *changed = differs;
    if (n < XACCT_OPERATOR_NAME_MIN) {
        out[0] = '\0';
        return XACCT_EINVAL;
    }
    return 0;
}

static const char *login_name(void)
{
    const char *name = getlogin();
    if (name != NULL && name[0] != '\0')
        return name;
    /* No controlling terminal (a credential_process child, cron): the
     * password entry of the user the command runs as. */
    struct passwd *pw = getpwuid(geteuid());
    return pw != NULL && pw->pw_name != NULL && pw->pw_name[0] != '\0' ? pw->pw_name : NULL;
}

int xacct_operator_resolve(const char *flag, const char *env_value,
                           char out[XACCT_OPERATOR_NAME_MAX + 1],
                           xacct_operator_source_t *source, const char **raw_out, bool *changed)
{
    out[0] = '\0';
    const char *raw;
    if (flag != NULL) {
        raw = flag;
        *source = XACCT_OPERATOR_FLAG;
    } else if (env_value != NULL && env_value[0] != '\0') {
        raw = env_value;
        *source = XACCT_OPERATOR_ENV;
    } else {
        raw = login_name();
        *source = XACCT_OPERATOR_LOGIN;
    }
    if (raw_out != NULL)
        *raw_out = raw;
    if (changed != NULL)
        *changed = false;
    if (raw == NULL)
        return XACCT_ENOTFOUND;
    return xacct_operator_sanitize(raw, out, changed);
}
