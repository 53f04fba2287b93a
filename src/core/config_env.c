/* SPDX-License-Identifier: MIT */
/*
 * Variables that look like a setting's override but name none. The load
 * reads only the XACCT_<SECTION>_<KEY> names of the keys it knows, so a
 * mistyped one (XACCT_QUEUE_MAX_INFLIGHT) would be ignored without a word;
 * the start names it instead. Only names under a known section count:
 * other XACCT_* variables (XACCT_CONFIG, a deployment's own) are not ours
 * to judge.
 */
#include "xacct/config.h"
#include "config_keys.h"

#include <ctype.h>
#include <string.h>

/* Whether name (n bytes) starts with "XACCT_" + k's section + "_". */
static bool in_section(const char *name, size_t n, const xacct__config_key_t *k)
{
    size_t slen = strlen(k->section);
    if (n < 6 + slen + 1 || strncmp(name, "XACCT_", 6) != 0 || name[6 + slen] != '_')
        return false;
    for (size_t i = 0; i < slen; i++)
        if (name[6 + i] != (char)toupper((unsigned char)k->section[i]))
            return false;
    return true;
}

size_t xacct_config_env_strays(char *const *envp, xacct_config_stray_cb cb, void *arg)
{
    size_t strays = 0;
    char ename[128];
    for (size_t e = 0; envp != NULL && envp[e] != NULL; e++) {
        const char *eq = strchr(envp[e], '=');
        size_t n = eq != NULL ? (size_t)(eq - envp[e]) : strlen(envp[e]);
        bool section = false, key = false;
        for (size_t i = 0; i < xacct__config_nkeys && !key; i++) {
            if (!in_section(envp[e], n, &xacct__config_keys[i]))
                continue;
            section = true;
            xacct__config_env_name(&xacct__config_keys[i], ename, sizeof(ename));
            key = strlen(ename) == n && memcmp(ename, envp[e], n) == 0;
        }
        if (section && !key) {
            char name[128];
            if (n >= sizeof(name))
                n = sizeof(name) - 1;
            memcpy(name, envp[e], n);
            name[n] = '\0';
            strays++;
            if (cb != NULL)
                cb(name, arg);
        }
    }
    return strays;
}
