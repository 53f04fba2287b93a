/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes the configuration file: inih's parse through xacct's line reader,
 * every value check (host patterns, URLs, ARNs, listen addresses), the
 * --check-config dump and the reload comparison.
 * Property: a configuration that loads compares equal to itself.
 */
#include "fuzz_util.h"
#include "xacct/config.h"

static const char *no_env(const char *name, void *ud)
{
    (void)name;
    (void)ud;
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    char err[512];
    for (int partial = 0; partial < 2; partial++) {
        xacct_config_t *cfg = NULL;
        if (config_load_from(NULL, text, no_env, NULL, partial != 0, &cfg, err, sizeof(err)) !=
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
