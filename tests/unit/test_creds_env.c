/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the credentials chain without a network: which link the
 * environment selects (order, partial keys, session token, web identity,
 * container URI rules, IMDS switches, no credential_process inside one
 * xacct started), the parsers the fetchers share (credentials JSON, STS XML,
 * ISO 8601 times, token files), the refresh and validity arithmetic, and
 * the provider's waiter contract for the environment and "nothing
 * configured" cases on a real loop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <cmocka.h>

#include "xacct/creds.h"
#include "creds_assert.h"

/* XACCT_STATIC internals. */
uint64_t xacct__creds_refresh_delay(int64_t now_ms, int64_t obtained_ms, int64_t expiry_ms,
                                    uint64_t margin_ms);
bool xacct__creds_usable(int64_t now_ms, int64_t obtained_ms, int64_t expiry_ms);
int xacct__creds_webid_parse(const char *body, size_t len, xacct__creds_set_t **out,
                             char *detail, size_t detail_len);

static const char *fake_getenv(const char *name, void *arg)
{
    const char *const *pairs = arg;
    for (size_t i = 0; pairs[i] != NULL; i += 2)
        if (strcmp(pairs[i], name) == 0)
            return pairs[i + 1];
    return NULL;
}

static int select_from(const char *const *env, xacct__creds_config_t *cfg, char *err,
                       size_t errlen)
{
    return xacct__creds_config_from_env(fake_getenv, (void *)env, NULL, 1700000000, cfg, err,
                                        errlen);
}

/* ------------------------------------------------------------ selection */

static void test_env_keys_first(void **state)
{
    (void)state;
    const char *const env[] = {
        "AWS_ACCESS_KEY_ID", "AKIAEXAMPLE",
        "AWS_SECRET_ACCESS_KEY", "secret/with+chars",
        "AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token",
        "AWS_ROLE_ARN", "arn:aws:iam::111111111111:role/r",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/x",
        NULL};
    xacct__creds_config_t cfg;
    char err[256];
    assert_int_equal(select_from(env, &cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg.source, XACCT_CREDS_SOURCE_ENV);
    assert_string_equal(cfg.keys->access_key_id, "AKIAEXAMPLE");
    assert_string_equal(cfg.keys->secret_access_key, "secret/with+chars");
    assert_null(cfg.keys->session_token);
    assert_int_equal(cfg.keys->expiry_ms, 0);
    xacct__creds_config_destroy(&cfg);
}

static void test_session_token(void **state)
{
    (void)state;
    const char *const env[] = {"AWS_ACCESS_KEY_ID", "ASIAEXAMPLE", "AWS_SECRET_ACCESS_KEY", "s",
                               "AWS_SESSION_TOKEN", "tok==", NULL};
    const char *const empty_token[] = {"AWS_ACCESS_KEY_ID", "AKIA", "AWS_SECRET_ACCESS_KEY", "s",
                                       "AWS_SESSION_TOKEN", "", NULL};
    xacct__creds_config_t cfg;
    assert_int_equal(select_from(env, &cfg, NULL, 0), 0);
    assert_string_equal(cfg.keys->session_token, "tok==");
    xacct__creds_config_destroy(&cfg);
    assert_int_equal(select_from(empty_token, &cfg, NULL, 0), 0);
    assert_null(cfg.keys->session_token);
    xacct__creds_config_destroy(&cfg);
}

/* A key or token with a space or control character would bend the headers
 * it goes into: refused at start, the variable named, the value not shown. */
static void test_unprintable_keys_rejected(void **state)
{
    (void)state;
    const char *const token[] = {"AWS_ACCESS_KEY_ID", "ASIAEXAMPLE", "AWS_SECRET_ACCESS_KEY", "s",
                                 "AWS_SESSION_TOKEN", "tok\r\nX-Injected: 1", NULL};
    const char *const key[] = {"AWS_ACCESS_KEY_ID", "AKIA EXAMPLE", "AWS_SECRET_ACCESS_KEY", "s",
                               NULL};
    const char *const secret[] = {"AWS_ACCESS_KEY_ID", "AKIA", "AWS_SECRET_ACCESS_KEY",
                                  "se\tcret", NULL};
    xacct__creds_config_t cfg;
    char err[256];
    assert_int_equal(select_from(token, &cfg, err, sizeof(err)), XACCT_ECONFIG);
    assert_non_null(strstr(err, "AWS_SESSION_TOKEN"));
    assert_null(strstr(err, "Injected"));
    xacct__creds_config_destroy(&cfg);
    assert_int_equal(select_from(key, &cfg, err, sizeof(err)), XACCT_ECONFIG);
    assert_non_null(strstr(err, "AWS_ACCESS_KEY_ID"));
    xacct__creds_config_destroy(&cfg);
    assert_int_equal(select_from(secret, &cfg, err, sizeof(err)), XACCT_ECONFIG);
    assert_non_null(strstr(err, "AWS_SECRET_ACCESS_KEY"));
    xacct__creds_config_destroy(&cfg);

    assert_true(xacct__creds_value_ok("ASIA/+=abc"));
    assert_false(xacct__creds_value_ok(""));
    assert_false(xacct__creds_value_ok(NULL));
    assert_false(xacct__creds_value_ok("a\x7f"));
    assert_false(xacct__creds_value_ok("caf\xc3\xa9"));
}

static void test_partial_keys_rejected(void **state)
{
    (void)state;
    const char *const no_secret[] = {"AWS_ACCESS_KEY_ID", "AKIA", "AWS_EC2_METADATA_DISABLED",
                                     "false", NULL};
    const char *const empty_secret[] = {"AWS_ACCESS_KEY_ID", "AKIA", "AWS_SECRET_ACCESS_KEY", "",
                                        NULL};
    const char *const no_id[] = {"AWS_SECRET_ACCESS_KEY", "s", NULL};
    xacct__creds_config_t cfg;
    char err[256];
    assert_int_equal(select_from(no_secret, &cfg, err, sizeof(err)), XACCT_ECONFIG);
    assert_non_null(strstr(err, "AWS_SECRET_ACCESS_KEY"));
    xacct__creds_config_destroy(&cfg);
    assert_int_equal(select_from(empty_secret, &cfg, err, sizeof(err)), XACCT_ECONFIG);
    xacct__creds_config_destroy(&cfg);
    assert_int_equal(select_from(no_id, &cfg, err, sizeof(err)), XACCT_ECONFIG);
    assert_non_null(strstr(err, "AWS_ACCESS_KEY_ID is not"));
    xacct__creds_config_destroy(&cfg);
}

static void test_web_identity(void **state)
{
    (void)state;
    const char *const env[] = {
        "AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token",
        "AWS_ROLE_ARN", "arn:aws:iam::111111111111:role/r",
        "AWS_REGION", "cn-north-1",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/x",
        NULL};
    xacct__creds_config_t cfg;
    assert_int_equal(select_from(env, &cfg, NULL, 0), 0);
    assert_int_equal(cfg.source, XACCT_CREDS_SOURCE_WEB_IDENTITY);
    assert_string_equal(cfg.token_file, "/var/run/token");
    assert_string_equal(cfg.role_arn, "arn:aws:iam::111111111111:role/r");
    assert_string_equal(cfg.session_name, "xacct-1700000000");
    assert_string_equal(cfg.url, "https://sts.cn-north-1.amazonaws.com.cn");
    xacct__creds_config_destroy(&cfg);

    const char *const named[] = {
        "AWS_WEB_IDENTITY_TOKEN_FILE", "/t", "AWS_ROLE_ARN", "arn:aws:iam::111111111111:role/r",
        "AWS_ROLE_SESSION_NAME", "worker@host-1", "AWS_ENDPOINT_URL_STS", "https://127.0.0.1:9/",
        NULL};
    assert_int_equal(select_from(named, &cfg, NULL, 0), 0);
    assert_string_equal(cfg.session_name, "worker@host-1");
    assert_string_equal(cfg.url, "https://127.0.0.1:9");
    xacct__creds_config_destroy(&cfg);

    /* Explicit region beats the environment; none at all means us-east-1. */
    const char *const bare[] = {"AWS_WEB_IDENTITY_TOKEN_FILE", "/t", "AWS_ROLE_ARN",
                                "arn:aws:iam::111111111111:role/r", NULL};
    assert_int_equal(select_from(bare, &cfg, NULL, 0), 0);
    assert_string_equal(cfg.url, "https://sts.us-east-1.amazonaws.com");
    xacct__creds_config_destroy(&cfg);
    assert_int_equal(xacct__creds_config_from_env(fake_getenv, (void *)env, "eu-west-2", 1, &cfg,
                                                  NULL, 0), 0);
    assert_string_equal(cfg.url, "https://sts.eu-west-2.amazonaws.com");
    xacct__creds_config_destroy(&cfg);

    const char *const bad_session[] = {
        "AWS_WEB_IDENTITY_TOKEN_FILE", "/t", "AWS_ROLE_ARN", "arn:aws:iam::111111111111:role/r",
        "AWS_ROLE_SESSION_NAME", "has space", NULL};
    assert_int_equal(select_from(bad_session, &cfg, NULL, 0), XACCT_ECONFIG);
    xacct__creds_config_destroy(&cfg);
    /* The role alone is not this link (the SDKs skip it): the chain goes on. */
    const char *const no_file[] = {"AWS_ROLE_ARN", "arn:aws:iam::111111111111:role/r", NULL};
    char err[256];
    assert_int_equal(select_from(no_file, &cfg, err, sizeof(err)), 0);
    assert_int_not_equal(cfg.source, XACCT_CREDS_SOURCE_WEB_IDENTITY);
    xacct__creds_config_destroy(&cfg);
    const char *const no_role[] = {"AWS_WEB_IDENTITY_TOKEN_FILE", "/t", NULL};
    assert_int_equal(select_from(no_role, &cfg, err, sizeof(err)), XACCT_ECONFIG);
    assert_non_null(strstr(err, "AWS_ROLE_ARN"));
    xacct__creds_config_destroy(&cfg);
}

static void test_container(void **state)
{
    (void)state;
    xacct__creds_config_t cfg;
    const char *const rel[] = {
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/creds",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN", "inline",
        NULL};
    assert_int_equal(select_from(rel, &cfg, NULL, 0), 0);
    assert_int_equal(cfg.source, XACCT_CREDS_SOURCE_CONTAINER);
    assert_string_equal(cfg.url, "http://169.254.170.2/v2/credentials/abc");
    assert_string_equal(cfg.token, "inline");
    assert_null(cfg.token_file);
    xacct__creds_config_destroy(&cfg);

    const char *const full[] = {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/creds",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN", "inline",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "/var/run/eks-token",
        NULL};
    assert_int_equal(select_from(full, &cfg, NULL, 0), 0);
    assert_string_equal(cfg.url, "http://127.0.0.1:9/creds");
    assert_null(cfg.token); /* the file wins */
    assert_string_equal(cfg.token_file, "/var/run/eks-token");
    xacct__creds_config_destroy(&cfg);

    const char *const remote_http[] = {"AWS_CONTAINER_CREDENTIALS_FULL_URI",
                                       "http://169.254.169.254.example.com/creds", NULL};
    char err[256];
    assert_int_equal(select_from(remote_http, &cfg, err, sizeof(err)), XACCT_ECONFIG);
    assert_non_null(strstr(err, "FULL_URI"));
    xacct__creds_config_destroy(&cfg);

    const char *const crlf[] = {"AWS_CONTAINER_CREDENTIALS_FULL_URI", "https://x.example/c",
                                "AWS_CONTAINER_AUTHORIZATION_TOKEN", "a\r\nX-Evil: 1", NULL};
    assert_int_equal(select_from(crlf, &cfg, NULL, 0), XACCT_ECONFIG);
    xacct__creds_config_destroy(&cfg);
}

static void test_container_uri_rules(void **state)
{
    (void)state;
    static const struct {
        const char *uri;
        bool ok;
    } rows[] = {
        {"https://creds.example.com/x", true},
        {"https://10.0.0.1/x", true},
        {"http://127.0.0.1:8080/creds", true},
        {"http://127.1.2.3/creds", true},
        {"http://localhost/creds", true},
        {"http://[::1]:80/creds", true},
        {"http://169.254.170.2/v2/creds", true},
        {"http://169.254.170.23/v1/credentials", true},
        {"http://[fd00:ec2::23]/v1/credentials", true},
        {"http://10.0.0.1/creds", false},
        {"http://creds.example.com/x", false},
        {"http://127.0.0.1.nip.io/x", false},
        {"http://128.0.0.1/x", false},
        {"ftp://127.0.0.1/x", false},
        {"file:///etc/passwd", false},
        {"not a url", false},
    };
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(rows); i++)
        if (xacct__creds_container_uri_allowed(rows[i].uri) != rows[i].ok)
            fail_msg("%s: expected %s", rows[i].uri, rows[i].ok ? "allowed" : "rejected");
}

static void test_imds_switches(void **state)
{
    (void)state;
    xacct__creds_config_t cfg;
    const char *const none[] = {NULL};
    assert_int_equal(select_from(none, &cfg, NULL, 0), 0);
    assert_int_equal(cfg.source, XACCT_CREDS_SOURCE_IMDS);
    assert_string_equal(cfg.url, "http://169.254.169.254");
    xacct__creds_config_destroy(&cfg);

    const char *const v6[] = {"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv6", NULL};
    assert_int_equal(select_from(v6, &cfg, NULL, 0), 0);
    assert_string_equal(cfg.url, "http://[fd00:ec2::254]");
    xacct__creds_config_destroy(&cfg);

    const char *const over[] = {"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1234/",
                                NULL};
    assert_int_equal(select_from(over, &cfg, NULL, 0), 0);
    assert_string_equal(cfg.url, "http://127.0.0.1:1234");
    xacct__creds_config_destroy(&cfg);

    const char *const off[] = {"AWS_EC2_METADATA_DISABLED", "TRUE",
                               "AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1", NULL};
    assert_int_equal(select_from(off, &cfg, NULL, 0), 0);
    assert_int_equal(cfg.source, XACCT_CREDS_SOURCE_NONE);
    xacct__creds_config_destroy(&cfg);

    const char *const bad[] = {"AWS_EC2_METADATA_SERVICE_ENDPOINT", "169.254.169.254", NULL};
    assert_int_equal(select_from(bad, &cfg, NULL, 0), XACCT_ECONFIG);
    xacct__creds_config_destroy(&cfg);

    /* A mode the SDKs do not know is an error, not a silent IPv4. */
    const char *const v4[] = {"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "ipv4", NULL};
    assert_int_equal(select_from(v4, &cfg, NULL, 0), 0);
    assert_string_equal(cfg.url, "http://169.254.169.254");
    xacct__creds_config_destroy(&cfg);
    char err[256];
    const char *const bad_mode[] = {"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv6only", NULL};
    assert_int_equal(select_from(bad_mode, &cfg, err, sizeof(err)), XACCT_ECONFIG);
    assert_non_null(strstr(err, "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"));
    xacct__creds_config_destroy(&cfg);
}

/* A throwaway AWS config file; the path is written into path. */
static void write_config(char *path, const char *text)
{
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void rewrite_config(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* metadata_service_timeout / _num_attempts and ec2_metadata_service_endpoint
 * (_mode) come from the environment, else the selected profile, and a bad
 * value stops the start naming the setting (SDKs and Tools reference guide,
 * "Amazon EC2 instance metadata", "IMDS credential provider"). */
static void test_imds_settings(void **state)
{
    (void)state;
    xacct__creds_config_t cfg;
    char err[256];
    char path[] = "/tmp/xacct-aws-config-XXXXXX";
    write_config(path, "[default]\nmetadata_service_timeout = 4\n"
                       "metadata_service_num_attempts = 3\n"
                       "ec2_metadata_service_endpoint_mode = IPv6\n");

    const char *const none[] = {NULL};
    assert_int_equal(select_from(none, &cfg, NULL, 0), 0);
    assert_int_equal(cfg.imds_timeout_ms, 0);
    assert_int_equal(cfg.imds_attempts, 0);
    xacct__creds_config_destroy(&cfg);

    const char *const profile[] = {"AWS_CONFIG_FILE", path, NULL};
    assert_int_equal(select_from(profile, &cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg.source, XACCT_CREDS_SOURCE_IMDS);
    assert_int_equal(cfg.imds_timeout_ms, 4000);
    assert_int_equal(cfg.imds_attempts, 3);
    assert_string_equal(cfg.url, "http://[fd00:ec2::254]");
    xacct__creds_config_destroy(&cfg);

    /* The environment wins over the profile. */
    const char *const env_wins[] = {"AWS_CONFIG_FILE", path,
                                    "AWS_METADATA_SERVICE_TIMEOUT", "1.5",
                                    "AWS_METADATA_SERVICE_NUM_ATTEMPTS", "2",
                                    "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv4", NULL};
    assert_int_equal(select_from(env_wins, &cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg.imds_timeout_ms, 1500);
    assert_int_equal(cfg.imds_attempts, 2);
    assert_string_equal(cfg.url, "http://169.254.169.254");
    xacct__creds_config_destroy(&cfg);

    /* The default profile is only implicitly selected: it may hold IMDS
     * settings and no credentials. Its endpoint; a timeout of 0 refused by
     * name. */
    rewrite_config(path, "[default]\nec2_metadata_service_endpoint = http://127.0.0.9:8080/\n"
                         "metadata_service_timeout = 0\n");
    assert_int_equal(select_from(profile, &cfg, err, sizeof(err)), XACCT_ECONFIG);
    assert_non_null(strstr(err, "profile default: metadata_service_timeout"));
    xacct__creds_config_destroy(&cfg);
    const char *const env_timeout[] = {"AWS_CONFIG_FILE", path,
                                       "AWS_METADATA_SERVICE_TIMEOUT", "2", NULL};
    assert_int_equal(select_from(env_timeout, &cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg.url, "http://127.0.0.9:8080");
    assert_int_equal(cfg.imds_timeout_ms, 2000);
    xacct__creds_config_destroy(&cfg);

    rewrite_config(path, "[default]\nmetadata_service_num_attempts = many\n");
    assert_int_equal(select_from(profile, &cfg, err, sizeof(err)), XACCT_ECONFIG);
    assert_non_null(strstr(err, "profile default: metadata_service_num_attempts"));
    xacct__creds_config_destroy(&cfg);
    rewrite_config(path, "[default]\nec2_metadata_service_endpoint_mode = IPv5\n");
    assert_int_equal(select_from(profile, &cfg, err, sizeof(err)), XACCT_ECONFIG);
    assert_non_null(strstr(err, "profile default: ec2_metadata_service_endpoint_mode"));
    xacct__creds_config_destroy(&cfg);

    static const char *const bad_values[] = {"0", "-1", "abc", "1e3", "", "2.", " 3", "99999999999"};
    for (size_t i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
        if (bad_values[i][0] == '\0')
            continue; /* empty is unset */
        const char *const t[] = {"AWS_METADATA_SERVICE_TIMEOUT", bad_values[i], NULL};
        assert_int_equal(select_from(t, &cfg, err, sizeof(err)), XACCT_ECONFIG);
        assert_non_null(strstr(err, "AWS_METADATA_SERVICE_TIMEOUT"));
        xacct__creds_config_destroy(&cfg);
        const char *const a[] = {"AWS_METADATA_SERVICE_NUM_ATTEMPTS", bad_values[i], NULL};
        assert_int_equal(select_from(a, &cfg, err, sizeof(err)), XACCT_ECONFIG);
        assert_non_null(strstr(err, "AWS_METADATA_SERVICE_NUM_ATTEMPTS"));
        xacct__creds_config_destroy(&cfg);
    }
    const char *const frac_attempts[] = {"AWS_METADATA_SERVICE_NUM_ATTEMPTS", "1.5", NULL};
    assert_int_equal(select_from(frac_attempts, &cfg, err, sizeof(err)), XACCT_ECONFIG);
    xacct__creds_config_destroy(&cfg);
    unlink(path);
}

/* A profile named in AWS_PROFILE only to pick a region or endpoints holds
 * no credentials: the chain goes on to the container, then the instance, as
 * in the SDKs' default chains. A profile that is nowhere still stops the
 * start, and so does one using a source xacct cannot read. */
static void test_named_profile_without_credentials(void **state)
{
    (void)state;
    xacct__creds_config_t cfg;
    char err[256];
    char path[] = "/tmp/xacct-aws-config-XXXXXX";
    write_config(path, "[profile prod]\nregion = eu-west-1\n"
                       "[profile sso]\nsso_session = corp\n");

    const char *const container[] = {"AWS_CONFIG_FILE", path, "AWS_PROFILE", "prod",
                                     "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                                     "http://127.0.0.1:9/creds", NULL};
    assert_int_equal(select_from(container, &cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg.source, XACCT_CREDS_SOURCE_CONTAINER);
    assert_string_equal(cfg.url, "http://127.0.0.1:9/creds");
    xacct__creds_config_destroy(&cfg);

    const char *const instance[] = {"AWS_CONFIG_FILE", path, "AWS_PROFILE", "prod", NULL};
    assert_int_equal(select_from(instance, &cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg.source, XACCT_CREDS_SOURCE_IMDS);
    xacct__creds_config_destroy(&cfg);

    const char *const missing[] = {"AWS_CONFIG_FILE", path, "AWS_PROFILE", "nowhere", NULL};
    assert_int_equal(select_from(missing, &cfg, err, sizeof(err)), XACCT_ECONFIG);
    assert_non_null(strstr(err, "profile nowhere"));
    xacct__creds_config_destroy(&cfg);

    const char *const sso[] = {"AWS_CONFIG_FILE", path, "AWS_PROFILE", "sso", NULL};
    assert_int_equal(select_from(sso, &cfg, err, sizeof(err)), XACCT_ECONFIG);
    assert_non_null(strstr(err, "sso_session"));
    xacct__creds_config_destroy(&cfg);
    unlink(path);
}

/* An xacct started by a credential_process that xacct ran (the marker in its
 * environment) does not run one itself: AWS_PROFILE naming a profile whose
 * credential_process is `xacct credentials` would otherwise start xacct
 * again without end. Only that link is refused; keys still serve. */
#define CUSTOMER "customer-210987654321"
#define MARKER XACCT__CREDS_PROCESS_MARKER, "1"
static void test_credential_process_inside_one(void **state)
{
    (void)state;
    xacct__creds_config_t cfg;
    char err[512];
    char path[] = "/tmp/xacct-aws-config-XXXXXX";
    static const char profiles[] =
        "[profile " CUSTOMER "]\n"
        "credential_process = xacct credentials 210987654321 --operator alice\n"
        "[profile partner]\naws_access_key_id = AKIAPARTNER\naws_secret_access_key = s\n";
    write_config(path, profiles);

    /* Without the marker the profile's process is the link. */
    const char *const outer[] = {"AWS_CONFIG_FILE", path, "AWS_PROFILE", CUSTOMER, NULL};
    assert_int_equal(select_from(outer, &cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg.source, XACCT_CREDS_SOURCE_PROCESS);
    assert_string_equal(cfg.process, "xacct credentials 210987654321 --operator alice");
    xacct__creds_config_destroy(&cfg);

    const char *const nested[] = {"AWS_CONFIG_FILE", path, "AWS_PROFILE", CUSTOMER, MARKER, NULL};
    assert_int_equal(select_from(nested, &cfg, err, sizeof(err)), XACCT_ECONFIG);
    assert_int_equal(cfg.source, XACCT_CREDS_SOURCE_NONE);
    assert_null(cfg.process);
    assert_non_null(strstr(err, "profile " CUSTOMER " (AWS_PROFILE) has a credential_process, "
                                "but this xacct already runs inside one"));
    assert_non_null(
        strstr(err, "use `aws --profile " CUSTOMER "` instead of exporting AWS_PROFILE"));
    assert_true(strlen(err) < sizeof(err) - 1);
    xacct__creds_config_destroy(&cfg);

    const char *const by_default[] = {"AWS_CONFIG_FILE", path,   "AWS_DEFAULT_PROFILE",
                                      CUSTOMER,          MARKER, NULL};
    assert_int_equal(select_from(by_default, &cfg, err, sizeof(err)), XACCT_ECONFIG);
    assert_non_null(strstr(err, "(AWS_DEFAULT_PROFILE)"));
    xacct__creds_config_destroy(&cfg);

    /* Under the marker, environment keys or a profile with keys still serve. */
    const char *const env_keys[] = {
        "AWS_CONFIG_FILE",   path,      "AWS_PROFILE",           CUSTOMER, MARKER,
        "AWS_ACCESS_KEY_ID", "AKIAENV", "AWS_SECRET_ACCESS_KEY", "s",      NULL};
    assert_int_equal(select_from(env_keys, &cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg.source, XACCT_CREDS_SOURCE_ENV);
    xacct__creds_config_destroy(&cfg);
    const char *const partner[] = {"AWS_CONFIG_FILE", path, "AWS_PROFILE", "partner", MARKER, NULL};
    assert_int_equal(select_from(partner, &cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg.source, XACCT_CREDS_SOURCE_PROFILE);
    assert_string_equal(cfg.keys->access_key_id, "AKIAPARTNER");
    xacct__creds_config_destroy(&cfg);

    /* The implicit default profile is refused the same way. */
    rewrite_config(path, "[default]\ncredential_process = xacct credentials 210987654321\n");
    const char *const implicit[] = {"AWS_CONFIG_FILE", path, MARKER, NULL};
    assert_int_equal(select_from(implicit, &cfg, err, sizeof(err)), XACCT_ECONFIG);
    assert_non_null(strstr(err, "profile default has a credential_process"));
    xacct__creds_config_destroy(&cfg);
    unlink(path);
}
#undef CUSTOMER
#undef MARKER

/* --------------------------------------------------------------- parsers */

static void test_parse_time(void **state)
{
    (void)state;
    int64_t ms = 0;
    assert_int_equal(xacct__creds_parse_time("2024-05-01T12:00:00Z", &ms), 0);
    assert_int_equal(ms, 1714564800000LL);
    assert_int_equal(xacct__creds_parse_time("2024-05-01T12:00:00.250Z", &ms), 0);
    assert_int_equal(ms, 1714564800250LL);
    assert_int_equal(xacct__creds_parse_time("2024-05-01T14:00:00+02:00", &ms), 0);
    assert_int_equal(ms, 1714564800000LL);
    assert_int_equal(xacct__creds_parse_time("2024-05-01T11:30:00-0030", &ms), 0);
    assert_int_equal(ms, 1714564800000LL);
    static const char *const bad[] = {
        "", "2024-05-01", "2024-05-01T12:00:00", "2024-13-01T12:00:00Z",
        "2024-05-01T12:00:00Zjunk", "2024-05-01 12:00:00Z", "2024-05-01T12:00:00.Z",
        "20x4-05-01T12:00:00Z", "2024-05-01T24:00:00Z",
    };
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(bad); i++)
        if (xacct__creds_parse_time(bad[i], &ms) != XACCT_EPARSE)
            fail_msg("accepted %s", bad[i]);
}

static void test_parse_json(void **state)
{
    (void)state;
    char detail[256];
    xacct__creds_set_t *set = NULL;
    const char *ok = "{\"Code\":\"Success\",\"LastUpdated\":\"2024-05-01T11:00:00Z\","
                     "\"Type\":\"AWS-HMAC\",\"AccessKeyId\":\"ASIAIMDS\","
                     "\"SecretAccessKey\":\"sec\",\"Token\":\"tok\","
                     "\"Expiration\":\"2024-05-01T12:00:00Z\"}";
    assert_int_equal(xacct__creds_parse_json(ok, strlen(ok), &set, detail, sizeof(detail)), 0);
    assert_string_equal(set->access_key_id, "ASIAIMDS");
    assert_string_equal(set->secret_access_key, "sec");
    assert_string_equal(set->session_token, "tok");
    assert_int_equal(set->expiry_ms, 1714564800000LL);
    xacct__creds_set_free(set);

    /* The container endpoint omits Code. */
    const char *container = "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\","
                            "\"Token\":\"T\",\"Expiration\":\"2030-01-01T00:00:00Z\","
                            "\"RoleArn\":\"arn:aws:iam::1:role/x\"}";
    assert_int_equal(xacct__creds_parse_json(container, strlen(container), &set, detail,
                                             sizeof(detail)), 0);
    xacct__creds_set_free(set);

    static const char *const bad[] = {
        "{\"Code\":\"Failure\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\"}",
        "{\"AccessKeyId\":\"A\"}",
        "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"\"}",
        "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Expiration\":\"soon\"}",
        /* an endpoint's keys without an expiry would never be refreshed */
        "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Token\":\"T\"}",
        "{\"AccessKeyId\":\"A\",\"AccessKeyId\":\"B\",\"SecretAccessKey\":\"S\"}",
        "[]",
        "{",
    };
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(bad); i++) {
        set = (xacct__creds_set_t *)1;
        if (xacct__creds_parse_json(bad[i], strlen(bad[i]), &set, detail, sizeof(detail)) !=
            XACCT_EPARSE)
            fail_msg("accepted %s", bad[i]);
        assert_null(set);
        /* The reason names no secret value. */
        assert_null(strstr(detail, "\"S\""));
    }
}

static void test_parse_sts_xml(void **state)
{
    (void)state;
    const char *ok =
        "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
        "  <AssumeRoleWithWebIdentityResult>\n"
        "    <SubjectFromWebIdentityToken>system:sa</SubjectFromWebIdentityToken>\n"
        "    <AssumedRoleUser><Arn>arn:aws:sts::1:assumed-role/r/s</Arn>"
        "<AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>\n"
        "    <Credentials>\n"
        "      <AccessKeyId>ASIAWEB</AccessKeyId>\n"
        "      <SecretAccessKey>a/b+c&amp;d</SecretAccessKey>\n"
        "      <SessionToken>tok</SessionToken>\n"
        "      <Expiration>2024-05-01T12:00:00Z</Expiration>\n"
        "    </Credentials>\n"
        "  </AssumeRoleWithWebIdentityResult>\n"
        "  <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>\n"
        "</AssumeRoleWithWebIdentityResponse>\n";
    char detail[256];
    xacct__creds_set_t *set = NULL;
    assert_int_equal(xacct__creds_webid_parse(ok, strlen(ok), &set, detail, sizeof(detail)), 0);
    assert_string_equal(set->access_key_id, "ASIAWEB");
    assert_string_equal(set->secret_access_key, "a/b+c&d");
    assert_string_equal(set->session_token, "tok");
    assert_int_equal(set->expiry_ms, 1714564800000LL);
    xacct__creds_set_free(set);

    /* Credentials outside the Result element are not taken. */
    const char *misplaced =
        "<R><Credentials><AccessKeyId>A</AccessKeyId><SecretAccessKey>S</SecretAccessKey>"
        "<SessionToken>T</SessionToken><Expiration>2024-05-01T12:00:00Z</Expiration>"
        "</Credentials></R>";
    assert_int_equal(xacct__creds_webid_parse(misplaced, strlen(misplaced), &set, detail,
                                              sizeof(detail)), XACCT_EPARSE);
    const char *truncated = "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>"
                            "<Credentials><AccessKeyId>A</AccessKeyId>";
    assert_int_equal(xacct__creds_webid_parse(truncated, strlen(truncated), &set, detail,
                                              sizeof(detail)), XACCT_EPARSE);
    assert_null(set);
}

static void test_token_file(void **state)
{
    (void)state;
    char path[] = "/tmp/xacct-token-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char content[] = "  eyJhbGciOi.token.sig\n";
    assert_int_equal(write(fd, content, sizeof(content) - 1), (ssize_t)(sizeof(content) - 1));
    close(fd);
    char *tok = NULL;
    assert_int_equal(xacct__creds_read_token_file(path, &tok), 0);
    assert_string_equal(tok, "eyJhbGciOi.token.sig");
    xacct_free_secret(tok);

    fd = open(path, O_WRONLY | O_TRUNC);
    assert_int_equal(write(fd, " \n", 2), 2);
    close(fd);
    assert_int_equal(xacct__creds_read_token_file(path, &tok), XACCT_EPARSE);
    assert_null(tok);

    fd = open(path, O_WRONLY | O_TRUNC);
    assert_int_equal(write(fd, "abc\0def\n", 8), 8);
    close(fd);
    assert_int_equal(xacct__creds_read_token_file(path, &tok), XACCT_EPARSE);
    assert_null(tok);

    fd = open(path, O_WRONLY | O_TRUNC);
    char big[17 * 1024];
    memset(big, 'a', sizeof(big));
    assert_int_equal(write(fd, big, sizeof(big)), (ssize_t)sizeof(big));
    close(fd);
    assert_int_equal(xacct__creds_read_token_file(path, &tok), XACCT_ETOOBIG);
    unlink(path);
    assert_int_equal(xacct__creds_read_token_file(path, &tok), XACCT_EIO);
}

/* ------------------------------------------------------ timing arithmetic */

static void test_refresh_delay(void **state)
{
    (void)state;
    const uint64_t five_min = 5 * 60 * 1000;
    /* One hour of life: refresh 5 minutes before expiry. */
    assert_int_equal(xacct__creds_refresh_delay(0, 0, 3600000, five_min), 3600000 - five_min);
    /* Later start: the delay counts from now. */
    assert_int_equal(xacct__creds_refresh_delay(1000000, 0, 3600000, five_min),
                     3600000 - five_min - 1000000);
    /* Six seconds of life: half of it, not the five minutes. */
    assert_int_equal(xacct__creds_refresh_delay(0, 0, 6000, five_min), 3000);
    /* Already past the refresh point, or born expired: now. */
    assert_int_equal(xacct__creds_refresh_delay(5000, 0, 6000, five_min), 0);
    assert_int_equal(xacct__creds_refresh_delay(0, 10, 5, five_min), 0);

    assert_true(xacct__creds_usable(0, 0, 0));               /* never expires */
    assert_true(xacct__creds_usable(0, 0, 3600000));
    assert_true(xacct__creds_usable(3600000 - 10001, 0, 3600000));
    assert_false(xacct__creds_usable(3600000 - 10000, 0, 3600000)); /* 10 s skew */
    assert_true(xacct__creds_usable(4000, 0, 6000));
    assert_false(xacct__creds_usable(4500, 0, 6000));        /* a quarter of 6 s */
    assert_false(xacct__creds_usable(7000, 0, 6000));
}

/* --------------------------------------------------- provider on a loop */

typedef struct wait_result {
    int calls;
    int status;
    char akid[64];
    char token[64];
    char detail[256];
    bool inside_wait;       /* set while xacct_creds_wait runs */
    bool fired_inside;      /* the callback came while inside_wait */
} wait_result_t;

static void on_wait(int status, const char *detail, const xacct_sigv4_credentials_t *creds,
                    void *arg)
{
    wait_result_t *r = arg;
    r->calls++;
    r->status = status;
    if (r->inside_wait)
        r->fired_inside = true;
    if (creds != NULL) {
        snprintf(r->akid, sizeof(r->akid), "%s", creds->access_key_id);
        snprintf(r->token, sizeof(r->token), "%s",
                 creds->session_token ? creds->session_token : "");
    }
    snprintf(r->detail, sizeof(r->detail), "%s", detail ? detail : "");
}

static void close_loop(uv_loop_t *loop)
{
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(loop), 0);
}

static void test_provider_env(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    const char *const env[] = {"AWS_ACCESS_KEY_ID", "AKIAENV", "AWS_SECRET_ACCESS_KEY", "s",
                               "AWS_SESSION_TOKEN", "tok", NULL};
    xacct_creds_options_t opts = {.getenv = fake_getenv, .getenv_arg = (void *)env};
    xacct_creds_t *c = NULL;
    assert_int_equal(xacct_creds_new(&loop, NULL, &opts, &c, NULL, 0), 0);
    assert_int_equal(xacct_creds_source(c), XACCT_CREDS_SOURCE_ENV);
    const xacct_sigv4_credentials_t *cur = xacct_creds_current(c);
    assert_non_null(cur);
    assert_string_equal(cur->access_key_id, "AKIAENV");
    assert_string_equal(cur->session_token, "tok");
    assert_secret_digest(cur);
    assert_int_equal(xacct_creds_expiry(c), 0);

    wait_result_t r = {0};
    r.inside_wait = true;
    assert_int_equal(xacct_creds_wait(c, on_wait, &r, NULL), 0);
    r.inside_wait = false;
    assert_int_equal(r.calls, 0);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(r.calls, 1);
    assert_false(r.fired_inside);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.akid, "AKIAENV");
    assert_string_equal(r.token, "tok");

    /* Keys the environment fixed cannot be fetched again: AWS refusing
     * them leaves them in place, and a retry would meet the same. */
    assert_false(xacct_creds_invalidate(c, "AKIAENV"));
    assert_non_null(xacct_creds_current(c));

    xacct_creds_free(c);
    close_loop(&loop);
}

static void test_provider_nothing_configured(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    const char *const env[] = {"AWS_EC2_METADATA_DISABLED", "true", NULL};
    xacct_creds_options_t opts = {.getenv = fake_getenv, .getenv_arg = (void *)env};
    xacct_creds_t *c = NULL;
    assert_int_equal(xacct_creds_new(&loop, NULL, &opts, &c, NULL, 0), 0);
    assert_int_equal(xacct_creds_source(c), XACCT_CREDS_SOURCE_NONE);
    assert_null(xacct_creds_current(c));
    assert_int_equal(xacct_creds_expiry(c), -1);

    wait_result_t r = {0}, cancelled = {0};
    xacct_creds_waiter_t *w = NULL;
    assert_int_equal(xacct_creds_wait(c, on_wait, &r, NULL), 0);
    assert_int_equal(xacct_creds_wait(c, on_wait, &cancelled, &w), 0);
    xacct_creds_wait_cancel(w);
    assert_int_equal(cancelled.calls, 1);
    assert_int_equal(cancelled.status, XACCT_ECANCELED);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.status, XACCT_ENOCREDS);
    assert_non_null(strstr(r.detail, "no credentials"));
    assert_int_equal(cancelled.calls, 1);

    /* Waiters still queued at free are cancelled, once, before it returns. */
    wait_result_t late = {0};
    assert_int_equal(xacct_creds_wait(c, on_wait, &late, NULL), 0);
    xacct_creds_free(c);
    assert_int_equal(late.calls, 1);
    assert_int_equal(late.status, XACCT_ECANCELED);
    close_loop(&loop);
    assert_int_equal(late.calls, 1);
}

static void test_provider_rejects_partial_keys(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    const char *const env[] = {"AWS_ACCESS_KEY_ID", "AKIA", NULL};
    xacct_creds_options_t opts = {.getenv = fake_getenv, .getenv_arg = (void *)env};
    xacct_creds_t *c = (xacct_creds_t *)1;
    char err[256] = "";
    assert_int_equal(xacct_creds_new(&loop, NULL, &opts, &c, err, sizeof(err)), XACCT_ECONFIG);
    assert_null(c);
    assert_non_null(strstr(err, "AWS_SECRET_ACCESS_KEY"));
    /* A remote link needs the HTTP client. */
    const char *const imds[] = {NULL};
    opts.getenv_arg = (void *)imds;
    assert_int_equal(xacct_creds_new(&loop, NULL, &opts, &c, NULL, 0), XACCT_EINVAL);
    close_loop(&loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env_keys_first),
        cmocka_unit_test(test_session_token),
        cmocka_unit_test(test_partial_keys_rejected),
        cmocka_unit_test(test_unprintable_keys_rejected),
        cmocka_unit_test(test_web_identity),
        cmocka_unit_test(test_container),
        cmocka_unit_test(test_container_uri_rules),
        cmocka_unit_test(test_imds_switches),
        cmocka_unit_test(test_imds_settings),
        cmocka_unit_test(test_named_profile_without_credentials),
        cmocka_unit_test(test_credential_process_inside_one),
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_parse_json),
        cmocka_unit_test(test_parse_sts_xml),
        cmocka_unit_test(test_token_file),
        cmocka_unit_test(test_refresh_delay),
        cmocka_unit_test(test_provider_env),
        cmocka_unit_test(test_provider_nothing_configured),
        cmocka_unit_test(test_provider_rejects_partial_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
