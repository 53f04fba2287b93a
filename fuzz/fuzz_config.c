/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes the configuration file: inih's parse through xacct's line reader,
 * every value check (host patterns, URLs, ARNs, listen addresses), the
 * --check-config dump and the reload comparison. After a NUL byte, the input
 * is the environment: "NAME=value" lines, of which only XACCT_* and the
 * region variables are seen (no HOME: no profile file is read).
 * Property: a configuration that loads compares equal to itself.
 */
#include "fuzz_util.h"
#include "xacct/config.h"

typedef struct fuzz_env {
    char *lines[64];
    size_t n;
} fuzz_env_t;

static const char *env_of(const char *name, void *ud)
{
    const fuzz_env_t *env = ud;
    if (strncmp(name, "XACCT_", 6) != 0 && strcmp(name, "AWS_REGION") != 0 &&
        strcmp(name, "AWS_DEFAULT_REGION") != 0)
        return NULL;
    size_t n = strlen(name);
    for (size_t i = 0; i < env->n; i++)
        if (strncmp(env->lines[i], name, n) == 0 && env->lines[i][n] == '=')
            return env->lines[i] + n + 1;
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    /* The config text ends at the first NUL; the environment follows it. */
    fuzz_env_t env = {.n = 0};
    size_t tlen = strlen(text);
    if (tlen < size)
        env.n = fuzz_split(text + tlen + 1, env.lines, 64);
    char err[512];
    for (int partial = 0; partial < 2; partial++) {
        xacct_config_t *cfg = NULL;
        if (config_load_from(NULL, text, env_of, &env, partial != 0, &cfg, err, sizeof(err)) !=
            0) {
            FUZZ_ASSERT(cfg == NULL && err[0] != '\0');
            continue;
        }
        FUZZ_ASSERT(xacct_config_check_reload(cfg, cfg, err, sizeof(err)) == 0);
        char *out = NULL;
        size_t outlen = 0;
        FILE *f = open_memstream(&out, &outlen);
        FUZZ_ASSERT(f != NULL);
        xacct_config_dump(cfg, f);
        fclose(f);
        free(out);
        xacct_config_free(cfg);
    }
    free(text);
    return 0;
}
