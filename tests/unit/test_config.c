/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/core/config.c, from tables: defaults, every kind of bad value
 * with its file:line and key in the message, environment overrides, required
 * keys, the reload check, the --check-config dump, the documented sample
 * config, the host pattern checks of its list keys and the masked redis.url
 * password.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "xacct/config.h"
#include "xacct/hostpat.h"

/* ---- an environment the test controls --------------------------------- */

typedef struct env_var {
    const char *name, *value;
} env_var_t;

#define MAX_ENV 8
typedef struct fake_env {
    env_var_t vars[MAX_ENV]; /* unused slots have name NULL */
} fake_env_t;

static const char *fake_getenv(const char *name, void *ud)
{
    const fake_env_t *env = ud;
    for (size_t i = 0; env != NULL && i < MAX_ENV && env->vars[i].name; i++)
        if (strcmp(env->vars[i].name, name) == 0)
            return env->vars[i].value;
    return NULL;
}

/* The minimum a full load needs. */
#define REQUIRED_INI                                                        \
    "[aws]\n"                                                               \
    "region = eu-west-1\n"                                                  \
    "partner_account_id = 111122223333\n"                                   \
    "[queue]\n"                                                             \
    "urls = https://sqs.eu-west-1.amazonaws.com/111122223333/xacct\n"       \
    "[sns]\n"                                                               \
    "topic_arns = arn:aws:sns:eu-west-1:111122223333:xacct-1\n"

static int load_text(const char *text, const fake_env_t *env, bool partial, xacct_config_t **cfg,
                     char *err, size_t errlen)
{
    return config_load_from(NULL, text, fake_getenv, (void *)env, partial, cfg, err, errlen);
}

static char *dump_to_string(const xacct_config_t *cfg)
{
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);
    assert_non_null(f);
    xacct_config_dump(cfg, f);
    fclose(f);
    return s;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* ---- defaults ---------------------------------------------------------- */

static void test_defaults(void **state)
{
    (void)state;
    xacct_config_t *cfg = NULL;
    char err[256];
    fake_env_t env = {{{NULL, NULL}}};

    assert_int_equal(load_text(NULL, &env, true, &cfg, err, sizeof(err)), 0);
    assert_non_null(cfg);
    assert_null(cfg->path);
    assert_string_equal(cfg->aws_region, "");
    assert_string_equal(cfg->aws_partner_account_id, "");
    assert_int_equal(cfg->queue_urls.n, 0);
    assert_int_equal(cfg->queue_wait_seconds, 20);
    assert_int_equal(cfg->queue_max_messages, 10);
    assert_int_equal(cfg->queue_visibility_timeout, 120);
    assert_int_equal(cfg->queue_max_in_flight, 64);
    assert_int_equal(cfg->queue_max_receives, 5);
    assert_int_equal(cfg->sns_topic_arns.n, 0);
    assert_true(cfg->sns_verify_signatures);
    assert_false(cfg->sns_raw_delivery);
    assert_int_equal(cfg->sns_cert_hosts.n, 2);
    assert_string_equal(cfg->sns_cert_hosts.items[0], "sns.*.amazonaws.com");
    assert_string_equal(cfg->sns_cert_hosts.items[1], "sns.*.amazonaws.com.cn");
    assert_null(cfg->sns_cert_hosts.items[2]);
    assert_int_equal(cfg->cfn_response_hosts.n, 4);
    assert_string_equal(cfg->cfn_response_hosts.items[0],
                        "cloudformation-custom-resource-response-*.s3*.amazonaws.com");
    assert_string_equal(cfg->cfn_response_hosts.items[1],
                        "cloudformation-custom-resource-response-*.s3.*.amazonaws.com");
    assert_string_equal(cfg->cfn_response_hosts.items[2],
                        "cloudformation-custom-resource-response-*.s3*.amazonaws.com.cn");
    assert_string_equal(cfg->cfn_response_hosts.items[3],
                        "cloudformation-custom-resource-response-*.s3.*.amazonaws.com.cn");
    assert_string_equal(cfg->cfn_stack_name, "xacct-onboarding");
    assert_string_equal(cfg->cfn_template_bucket, "");
    assert_string_equal(cfg->cfn_role_policy_file, "/etc/xacct/role-policy.json");
    assert_string_equal(cfg->cfn_template_dir, ".");
    assert_int_equal(cfg->cfn_service_timeout, 300);
    assert_int_equal(cfg->check_propagation_timeout, 120);
    assert_int_equal(cfg->check_reverify_interval, 86400);
    assert_int_equal(cfg->check_reverify_rate, 10);
    assert_int_equal(cfg->onboard_pending_ttl, 604800);
    assert_string_equal(cfg->console_federation_url, "https://signin.aws.amazon.com/federation");
    assert_string_equal(cfg->console_destination, "https://console.aws.amazon.com/");
    assert_string_equal(cfg->console_issuer, "xacct");
    assert_string_equal(cfg->redis_url, "redis://127.0.0.1:6379/0");
    assert_string_equal(cfg->redis_prefix, "xacct:");
    assert_string_equal(cfg->metrics_listen, "127.0.0.1:9464");
    assert_int_equal(cfg->log_level, XACCT_LOG_INFO);
    assert_int_equal(cfg->log_format, XACCT_LOG_LOGFMT);
    assert_int_equal(cfg->shutdown_grace_seconds, 30);
    assert_string_equal(cfg->events_webhook_url, "");
    assert_string_equal(cfg->events_webhook_secret_file, "/etc/xacct/webhook-secret");
    assert_int_equal(cfg->events_max_age, 259200);
    assert_int_equal(cfg->events_delivery_timeout, 10);
    assert_int_equal(cfg->events_claim_idle, 60);
    xacct_config_free(cfg);
    xacct_config_free(NULL);
}

/* The webhook URLs the config accepts: https anywhere, http to a loopback
 * address named as such. */
static void test_webhook_urls(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "https://hooks.example.com/xacct?token=abc",
        "http://127.0.0.1:8080/hook",
        "http://[::1]:8080/hook",
    };
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(ok); i++) {
        char ini[256], err[256];
        xacct_config_t *cfg = NULL;
        snprintf(ini, sizeof(ini), "[events]\nwebhook_url = %s\n", ok[i]);
        if (config_load_from(NULL, ini, NULL, NULL, true, &cfg, err, sizeof(err)) != 0)
            fail_msg("%s refused: %s", ok[i], err);
        assert_string_equal(cfg->events_webhook_url, ok[i]);
        xacct_config_free(cfg);
    }
}

static void test_values_from_file(void **state)
{
    (void)state;
    xacct_config_t *cfg = NULL;
    char err[256];
    const char *ini = REQUIRED_INI
        "; comments and blank lines are fine\n"
        "\n"
        "[queue]\n"
        "wait_seconds = 0\n"
        "max_messages=1\n"
        "[sns]\n"
        "topic_arns = arn:aws:sns:eu-west-1:111122223333:xacct-2 , "
        "arn:aws-cn:sns:cn-north-1:111122223333:x_3\n"
        "verify_signatures = No\n"
        "raw_delivery = ON\n"
        "cert_hosts =\n"
        "[LOG]\n"
        "Level = warning\n"
        "format = json\n"
        "[metrics]\n"
        "listen =\n"
        "[cloudformation]\n"
        "template_bucket = my.bucket-1\n"
        "response_hosts = [::1]:8443, 127.0.0.1:8443\n";

    assert_int_equal(load_text(ini, NULL, false, &cfg, err, sizeof(err)), 0);
    assert_string_equal(err, "");
    assert_string_equal(cfg->aws_region, "eu-west-1");
    assert_string_equal(cfg->aws_partner_account_id, "111122223333");
    assert_int_equal(cfg->queue_wait_seconds, 0);
    assert_int_equal(cfg->queue_max_messages, 1);
    /* a repeated list key adds to the list (first occurrence replaces the default) */
    assert_int_equal(cfg->sns_topic_arns.n, 3);
    assert_string_equal(cfg->sns_topic_arns.items[0], "arn:aws:sns:eu-west-1:111122223333:xacct-1");
    assert_string_equal(cfg->sns_topic_arns.items[1], "arn:aws:sns:eu-west-1:111122223333:xacct-2");
    assert_string_equal(cfg->sns_topic_arns.items[2], "arn:aws-cn:sns:cn-north-1:111122223333:x_3");
    assert_false(cfg->sns_verify_signatures);
    assert_true(cfg->sns_raw_delivery);
    assert_int_equal(cfg->sns_cert_hosts.n, 0);
    assert_int_equal(cfg->log_level, XACCT_LOG_WARN);
    assert_int_equal(cfg->log_format, XACCT_LOG_JSON);
    assert_string_equal(cfg->metrics_listen, "");
    assert_string_equal(cfg->cfn_template_bucket, "my.bucket-1");
    assert_int_equal(cfg->cfn_response_hosts.n, 2);
    assert_string_equal(cfg->cfn_response_hosts.items[0], "[::1]:8443");
    xacct_config_free(cfg);
}

/* ---- errors ------------------------------------------------------------ */

static const struct {
    const char *ini;
    const char *want; /* the whole message */
} error_cases[] = {
    {"[queue]\nwait_seconds = abc\n", "<string>:2: queue.wait_seconds: not an integer"},
    {"[queue]\nwait_seconds = 21\n", "<string>:2: queue.wait_seconds: must be between 0 and 20"},
    {"[queue]\n\nmax_messages = 0\n", "<string>:3: queue.max_messages: must be between 1 and 10"},
    {"[queue]\nvisibility_timeout = 99999999999999999999\n",
     "<string>:2: queue.visibility_timeout: not an integer"},
    {"[queue]\nmax_in_flight = 12x\n", "<string>:2: queue.max_in_flight: not an integer"},
    {"[queue]\nmax_receives =\n", "<string>:2: queue.max_receives: not an integer"},
    {"[check]\npropagation_timeout = -1\n",
     "<string>:2: check.propagation_timeout: must be between 1 and 3600"},
    {"[check]\nreverify_interval = -1\n",
     "<string>:2: check.reverify_interval: must be between 0 and 31536000"},
    {"[check]\nreverify_rate = 0\n",
     "<string>:2: check.reverify_rate: must be between 1 and 10000"},
    {"[onboard]\npending_ttl = -1\n",
     "<string>:2: onboard.pending_ttl: must be between 0 and 31536000"},
    {"[shutdown]\ngrace_seconds = 3601\n",
     "<string>:2: shutdown.grace_seconds: must be between 0 and 3600"},
    {"[sns]\nverify_signatures = maybe\n",
     "<string>:2: sns.verify_signatures: not a boolean (true/false, yes/no, on/off, 1/0)"},
    {"[sns]\nraw_delivery =\n",
     "<string>:2: sns.raw_delivery: not a boolean (true/false, yes/no, on/off, 1/0)"},
    {"[log]\nlevel = loud\n", "<string>:2: log.level: not a log level (debug, info, warn, error)"},
    {"[log]\nformat = xml\n", "<string>:2: log.format: not a log format (logfmt, json)"},
    {"[aws]\npartner_account_id = 12345\n", "<string>:2: aws.partner_account_id: must be 12 digits"},
    {"[aws]\npartner_account_id = 1111222233334\n",
     "<string>:2: aws.partner_account_id: must be 12 digits"},
    {"[aws]\nregion = us-east-1.evil.com\n",
     "<string>:2: aws.region: not a region name (lower-case letters, digits, '-')"},
    {"[queue]\nurls = ftp://example.com/q\n", "<string>:2: queue.urls: not an http(s) URL"},
    {"[queue]\nurls = https://a.example/q, , https://b.example/q\n",
     "<string>:2: queue.urls: empty item in list"},
    {"[queue]\nurls = https://a.example/q,\n", "<string>:2: queue.urls: empty item in list"},
    {"[sns]\ntopic_arns = arn:aws:sqs:eu-west-1:111122223333:q\n",
     "<string>:2: sns.topic_arns: not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"},
    {"[sns]\ntopic_arns = arn:aws:sns:eu-west-1:1111:t\n",
     "<string>:2: sns.topic_arns: not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"},
    {"[sns]\ncert_hosts = sns.*.amazonaws.com:0\n",
     "<string>:2: sns.cert_hosts: not a host pattern (host or host:port, IPv6 in brackets, at "
     "most one '*' per label)"},
    {"[sns]\ncert_hosts = ::1\n",
     "<string>:2: sns.cert_hosts: not a host pattern (host or host:port, IPv6 in brackets, at "
     "most one '*' per label)"},
    {"[sns]\ncert_hosts = sns-*-*.amazonaws.com\n",
     "<string>:2: sns.cert_hosts: not a host pattern (host or host:port, IPv6 in brackets, at "
     "most one '*' per label)"},
    {"[cloudformation]\nresponse_hosts = evil.com/x\n",
     "<string>:2: cloudformation.response_hosts: not a host pattern (host or host:port, IPv6 in "
     "brackets)"},
    {"[metrics]\nlisten = 9464\n", "<string>:2: metrics.listen: not host:port (or empty to disable)"},
    {"[cloudformation]\nstack_name = 1stack\n",
     "<string>:2: cloudformation.stack_name: not a stack name (a letter, then letters, digits, "
     "'-')"},
    {"[cloudformation]\ntemplate_bucket = Bad_Bucket\n",
     "<string>:2: cloudformation.template_bucket: not an S3 bucket name"},
    {"[console]\nfederation_url = signin.aws.amazon.com\n",
     "<string>:2: console.federation_url: not an https URL"},
    /* the Session JSON (the role's keys) travels in the federation URL */
    {"[console]\nfederation_url = http://signin.aws.amazon.com/federation\n",
     "<string>:2: console.federation_url: not an https URL"},
    {"[console]\ndestination = http://console.aws.amazon.com/\n",
     "<string>:2: console.destination: not an https URL"},
    {"[events]\nwebhook_url = http://example.com/hook\n",
     "<string>:2: events.webhook_url: must be https (http only to 127.0.0.1 or [::1], named as "
     "such)"},
    {"[events]\nwebhook_url = http://localhost:8080/hook\n",
     "<string>:2: events.webhook_url: must be https (http only to 127.0.0.1 or [::1], named as "
     "such)"},
    {"[events]\nwebhook_url = http://127.1:8080/hook\n",
     "<string>:2: events.webhook_url: must be https (http only to 127.0.0.1 or [::1], named as "
     "such)"},
    {"[events]\nwebhook_url = ftp://example.com/hook\n",
     "<string>:2: events.webhook_url: must be https (http only to 127.0.0.1 or [::1], named as "
     "such)"},
    {"[events]\nwebhook_url = https://user:pw@example.com/hook\n",
     "<string>:2: events.webhook_url: must not carry a user name or password"},
    {"[events]\nwebhook_url = example.com/hook\n",
     "<string>:2: events.webhook_url: not an http(s) URL"},
    {"[events]\nmax_age = 0\n", "<string>:2: events.max_age: must be between 1 and 31536000"},
    {"[events]\nclaim_idle = 2\n", "<string>:2: events.claim_idle: must be between 3 and 86400"},
    {"[queue]\nwait = 1\n", "<string>:2: queue.wait: unknown key"},
    {"[log]\nlevel = info\n[logging]\nlevel = info\n", "<string>:4: [logging]: unknown section"},
    {"level = info\n", "<string>:1: level: key outside any [section]"},
    {"[log]\nlevel = info\nformat = json\nlevel = debug\n",
     "<string>:4: log.level: set twice (first on line 2)"},
    {"[log]\nlevel info\n", "<string>:2: syntax error (expected [section] or key = value)"},
    {"[log\nlevel = info\n", "<string>:1: syntax error (expected [section] or key = value)"},
    /* the first error is reported, whichever kind */
    {"[log]\nlevel = nope\nbroken line\n",
     "<string>:2: log.level: not a log level (debug, info, warn, error)"},
    {"[log]\nbroken line\nlevel = nope\n",
     "<string>:2: syntax error (expected [section] or key = value)"},
    {"[queue]\nurls = https://example.com/"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
     "<string>:2: line longer than 197 characters (split a list over several lines that repeat "
     "the key)"},
};

static void test_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
        xacct_config_t *cfg = (xacct_config_t *)&cfg; /* must be reset */
        char err[256];
        int rc = load_text(error_cases[i].ini, NULL, true, &cfg, err, sizeof(err));
        if (rc != XACCT_ECONFIG || strcmp(err, error_cases[i].want) != 0)
            fail_msg("case %zu: rc=%d err=\"%s\" want \"%s\"", i, rc, err, error_cases[i].want);
        assert_null(cfg);
    }
}

/* The longest line inih takes whole is 197 characters (plus CR LF). */
static void test_line_length(void **state)
{
    (void)state;
    char ini[512];
    char err[256];
    xacct_config_t *cfg = NULL;
    static const char *const ends[] = {"\n", "\r\n", ""};

    /* The long comment is the last line, so it may end with nothing. */
    for (size_t e = 0; e < 3; e++) {
        memset(ini, 0, sizeof(ini));
        strcpy(ini, "[log]\nlevel = debug\n[cloudformation]\ntemplate_dir = ");
        memset(ini + strlen(ini), 'x', 197 - strlen("template_dir = "));
        strcat(ini, ends[e]);
        if (load_text(ini, NULL, true, &cfg, err, sizeof(err)) != 0)
            fail_msg("end %zu: %s", e, err);
        assert_int_equal(cfg->log_level, XACCT_LOG_DEBUG);
        assert_int_equal(strlen(cfg->cfn_template_dir), 197 - strlen("template_dir = "));
        xacct_config_free(cfg);
        cfg = NULL;

        memset(ini, 0, sizeof(ini));
        strcpy(ini, "[log]\nlevel = debug\n[cloudformation]\ntemplate_dir = ");
        memset(ini + strlen(ini), 'x', 198 - strlen("template_dir = "));
        strcat(ini, ends[e]);
        assert_int_equal(load_text(ini, NULL, true, &cfg, err, sizeof(err)), XACCT_ECONFIG);
        assert_non_null(strstr(err, "<string>:4: line longer than 197 characters"));
        assert_null(cfg);
    }
    /* No error buffer: still fails, nothing to write into. */
    assert_int_equal(load_text("[log]\nlevel = x\n", NULL, true, &cfg, NULL, 0), XACCT_ECONFIG);
    assert_null(cfg);
}

/* inih hands indented lines under a key to the same key again: a list grows,
 * anything else is set twice. */
static void test_continuation_lines(void **state)
{
    (void)state;
    xacct_config_t *cfg = NULL;
    char err[256];
    const char *ini = "[sns]\n"
                      "cert_hosts = a.example.com\n"
                      "    b.example.com, c.example.com\n"
                      "\tlocalhost:8443\n"
                      "cert_hosts = d.example.com,\te.example.com\n";
    assert_int_equal(load_text(ini, NULL, true, &cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg->sns_cert_hosts.n, 6);
    assert_string_equal(cfg->sns_cert_hosts.items[5], "e.example.com");
    assert_string_equal(cfg->sns_cert_hosts.items[2], "c.example.com");
    assert_string_equal(cfg->sns_cert_hosts.items[3], "localhost:8443");
    xacct_config_free(cfg);
    cfg = NULL;

    assert_int_equal(load_text("[log]\nlevel = info\n  debug\n", NULL, true, &cfg, err,
                               sizeof(err)),
                     XACCT_ECONFIG);
    assert_string_equal(err, "<string>:3: log.level: set twice (first on line 2)");
    assert_null(cfg);
}

static void test_errors_name_the_file(void **state)
{
    (void)state;
    char path[] = "/tmp/xacct-test-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "[queue]\nurls = https://sqs.example/q\n\n[log]\nformat = yaml\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);

    xacct_config_t *cfg = NULL;
    char err[512], want[512];
    assert_int_equal(xacct_config_load(path, &cfg, err, sizeof(err)), XACCT_ECONFIG);
    snprintf(want, sizeof(want), "%s:5: log.format: not a log format (logfmt, json)", path);
    assert_string_equal(err, want);
    assert_null(cfg);

    /* A good file: the snapshot remembers where it came from. */
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    text = "[queue]\nurls = https://sqs.example/q\n[log]\nformat = json\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(xacct_config_load_partial(path, &cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg->path, path);
    assert_int_equal(cfg->log_format, XACCT_LOG_JSON);
    xacct_config_free(cfg);
    cfg = NULL;

    unlink(path);
    assert_int_equal(xacct_config_load_partial(path, &cfg, err, sizeof(err)), XACCT_ECONFIG);
    snprintf(want, sizeof(want), "%s: No such file or directory", path);
    assert_string_equal(err, want);
    assert_null(cfg);
}

/* ---- environment ------------------------------------------------------- */

static void test_env_overrides(void **state)
{
    (void)state;
    xacct_config_t *cfg = NULL;
    char err[256];
    const char *ini = REQUIRED_INI "[queue]\nwait_seconds = 10\n[log]\nlevel = error\n";
    fake_env_t env = {{
        {"XACCT_QUEUE_WAIT_SECONDS", "5"},
        {"XACCT_LOG_LEVEL", "debug"},
        {"XACCT_SNS_TOPIC_ARNS",
         "arn:aws:sns:us-east-1:111122223333:a,arn:aws:sns:us-east-1:111122223333:b"},
        {"XACCT_CLOUDFORMATION_RESPONSE_HOSTS", "responses.example.com:8443"},
        {"XACCT_METRICS_LISTEN", ""},
        {"AWS_REGION", "us-west-2"}, /* the file's region wins */
        {"XACCT_SOMETHING_ELSE", "ignored"},
    }};
    assert_int_equal(load_text(ini, &env, false, &cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg->queue_wait_seconds, 5);
    assert_int_equal(cfg->log_level, XACCT_LOG_DEBUG);
    assert_int_equal(cfg->sns_topic_arns.n, 2); /* replaced, not appended */
    assert_string_equal(cfg->sns_topic_arns.items[1], "arn:aws:sns:us-east-1:111122223333:b");
    assert_int_equal(cfg->cfn_response_hosts.n, 1);
    assert_string_equal(cfg->metrics_listen, "");
    assert_string_equal(cfg->aws_region, "eu-west-1");
    xacct_config_free(cfg);

    /* XACCT_AWS_REGION beats the file. */
    fake_env_t env2 = {{{"XACCT_AWS_REGION", "ap-south-1"}, {"AWS_REGION", "us-west-2"}}};
    assert_int_equal(load_text(ini, &env2, false, &cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg->aws_region, "ap-south-1");
    xacct_config_free(cfg);
}

/* With no region in the file or the region variables, the AWS profile's
 * region (~/.aws/config) fills it in; AWS_DEFAULT_REGION still wins over it. */
static void test_region_from_aws_profile(void **state)
{
    (void)state;
    char dir[] = "/tmp/xacct-config-profile-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof(path), "%s/config", dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("[default]\nregion = us-west-1\n[profile ops]\nregion = sa-east-1\n", fp);
    fclose(fp);
    const char *ini = "[aws]\npartner_account_id = 111122223333\n";
    xacct_config_t *cfg = NULL;
    char err[256];
    fake_env_t env = {{{"AWS_CONFIG_FILE", path}, {"AWS_PROFILE", "ops"}}};
    assert_int_equal(load_text(ini, &env, true, &cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg->aws_region, "sa-east-1");
    xacct_config_free(cfg);

    fake_env_t env2 = {{{"AWS_CONFIG_FILE", path}, {"AWS_DEFAULT_REGION", "eu-north-1"}}};
    assert_int_equal(load_text(ini, &env2, true, &cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg->aws_region, "eu-north-1");
    xacct_config_free(cfg);

    fake_env_t env3 = {{{"AWS_CONFIG_FILE", path}}};
    assert_int_equal(load_text(ini, &env3, true, &cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg->aws_region, "us-west-1");
    xacct_config_free(cfg);
    unlink(path);
    rmdir(dir);
}

static void test_env_errors(void **state)
{
    (void)state;
    static const struct {
        env_var_t var;
        const char *want;
    } cases[] = {
        {{"XACCT_QUEUE_MAX_MESSAGES", "11"},
         "XACCT_QUEUE_MAX_MESSAGES: queue.max_messages: must be between 1 and 10"},
        {{"XACCT_SNS_VERIFY_SIGNATURES", "nah"},
         "XACCT_SNS_VERIFY_SIGNATURES: sns.verify_signatures: not a boolean (true/false, "
         "yes/no, on/off, 1/0)"},
        {{"XACCT_AWS_PARTNER_ACCOUNT_ID", "abc"},
         "XACCT_AWS_PARTNER_ACCOUNT_ID: aws.partner_account_id: must be 12 digits"},
        {{"XACCT_LOG_FORMAT", "text"}, "XACCT_LOG_FORMAT: log.format: not a log format (logfmt, json)"},
        {{"XACCT_SNS_CERT_HOSTS", "a.example,,b.example"},
         "XACCT_SNS_CERT_HOSTS: sns.cert_hosts: empty item in list"},
        {{"XACCT_CONSOLE_ISSUER", "xacct\nlog.level = debug"},
         "XACCT_CONSOLE_ISSUER: console.issuer: contains a control character"},
        {{"XACCT_QUEUE_URLS", "https://a.example/q,https://b.example/\tq"},
         "XACCT_QUEUE_URLS: queue.urls: contains a control character"},
        {{"AWS_DEFAULT_REGION", "EU WEST"},
         "AWS_DEFAULT_REGION: aws.region: not a region name (lower-case letters, digits, '-')"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fake_env_t env = {{cases[i].var}};
        xacct_config_t *cfg = NULL;
        char err[256];
        int rc = load_text(NULL, &env, true, &cfg, err, sizeof(err));
        if (rc != XACCT_ECONFIG || strcmp(err, cases[i].want) != 0)
            fail_msg("case %zu: rc=%d err=\"%s\" want \"%s\"", i, rc, err, cases[i].want);
        assert_null(cfg);
    }
}

/* ---- required keys ----------------------------------------------------- */

static void test_required(void **state)
{
    (void)state;
    static const struct {
        const char *ini;
        env_var_t var;
        const char *want; /* NULL: loads */
    } cases[] = {
        {REQUIRED_INI, {NULL, NULL}, NULL},
        {"[aws]\nregion = eu-west-1\n[queue]\nurls = https://q.example/q\n"
         "[sns]\ntopic_arns = arn:aws:sns:eu-west-1:111122223333:t\n",
         {NULL, NULL},
         "<string>: aws.partner_account_id: required (set it in the file or "
         "XACCT_AWS_PARTNER_ACCOUNT_ID)"},
        {"[aws]\nregion = eu-west-1\npartner_account_id = 111122223333\n"
         "[sns]\ntopic_arns = arn:aws:sns:eu-west-1:111122223333:t\n",
         {NULL, NULL},
         "<string>: queue.urls: required (set it in the file or XACCT_QUEUE_URLS)"},
        {"[aws]\nregion = eu-west-1\npartner_account_id = 111122223333\n"
         "[queue]\nurls = https://q.example/q\n[sns]\ntopic_arns =\n",
         {NULL, NULL},
         "<string>: sns.topic_arns: required (set it in the file or XACCT_SNS_TOPIC_ARNS)"},
        /* the account ID can come from the environment alone */
        {"[aws]\nregion = eu-west-1\n[queue]\nurls = https://q.example/q\n"
         "[sns]\ntopic_arns = arn:aws:sns:eu-west-1:111122223333:t\n",
         {"XACCT_AWS_PARTNER_ACCOUNT_ID", "444455556666"},
         NULL},
        /* the region from AWS_REGION or AWS_DEFAULT_REGION, or not at all */
        {"[aws]\npartner_account_id = 111122223333\n[queue]\nurls = https://q.example/q\n"
         "[sns]\ntopic_arns = arn:aws:sns:eu-west-1:111122223333:t\n",
         {"AWS_REGION", "us-east-2"},
         NULL},
        {"[aws]\npartner_account_id = 111122223333\n[queue]\nurls = https://q.example/q\n"
         "[sns]\ntopic_arns = arn:aws:sns:eu-west-1:111122223333:t\n",
         {"AWS_DEFAULT_REGION", "us-east-2"},
         NULL},
        {"[aws]\npartner_account_id = 111122223333\n[queue]\nurls = https://q.example/q\n"
         "[sns]\ntopic_arns = arn:aws:sns:eu-west-1:111122223333:t\n",
         {"AWS_REGION", ""},
         "<string>: aws.region: required (set it in the file, XACCT_AWS_REGION, AWS_REGION or "
         "AWS_DEFAULT_REGION)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fake_env_t env = {{cases[i].var}};
        xacct_config_t *cfg = NULL;
        char err[256];
        int rc = load_text(cases[i].ini, &env, false, &cfg, err, sizeof(err));
        if (cases[i].want == NULL) {
            if (rc != 0)
                fail_msg("case %zu: rc=%d err=\"%s\"", i, rc, err);
            assert_non_null(cfg);
            if (cases[i].var.name != NULL && strstr(cases[i].var.name, "REGION"))
                assert_string_equal(cfg->aws_region, cases[i].var.value);
            xacct_config_free(cfg);
        } else {
            if (rc != XACCT_ECONFIG || strcmp(err, cases[i].want) != 0)
                fail_msg("case %zu: rc=%d err=\"%s\" want \"%s\"", i, rc, err, cases[i].want);
            assert_null(cfg);
            /* partial load does not insist */
            rc = load_text(cases[i].ini, &env, true, &cfg, err, sizeof(err));
            assert_int_equal(rc, 0);
            xacct_config_free(cfg);
        }
    }
    /* With neither file nor environment, the message names no file. */
    xacct_config_t *cfg = NULL;
    char err[256];
    fake_env_t env = {{{"AWS_REGION", "eu-west-1"}}};
    assert_int_equal(config_load_from(NULL, NULL, fake_getenv, &env, false, &cfg, err, sizeof(err)),
                     XACCT_ECONFIG);
    assert_string_equal(err,
                        "aws.partner_account_id: required (set it in the file or "
                        "XACCT_AWS_PARTNER_ACCOUNT_ID)\n"
                        "queue.urls: required (set it in the file or XACCT_QUEUE_URLS)\n"
                        "sns.topic_arns: required (set it in the file or XACCT_SNS_TOPIC_ARNS)");
    assert_null(cfg);
}

/* Every missing required key in one error, a line each in the order of the
 * table, not the first alone: a fresh install learns them all at once. */
static void test_required_all_at_once(void **state)
{
    (void)state;
    static const char want[] =
        "<string>: aws.region: required (set it in the file, XACCT_AWS_REGION, AWS_REGION or "
        "AWS_DEFAULT_REGION)\n"
        "<string>: aws.partner_account_id: required (set it in the file or "
        "XACCT_AWS_PARTNER_ACCOUNT_ID)\n"
        "<string>: queue.urls: required (set it in the file or XACCT_QUEUE_URLS)\n"
        "<string>: sns.topic_arns: required (set it in the file or XACCT_SNS_TOPIC_ARNS)";
    fake_env_t env = {{{"AWS_REGION", ""}}};
    xacct_config_t *cfg = NULL;
    char err[1024];
    assert_int_equal(load_text("[log]\nlevel = debug\n", &env, false, &cfg, err, sizeof(err)),
                     XACCT_ECONFIG);
    assert_string_equal(err, want);
    assert_null(cfg);
    /* Two missing, the others set (one from the environment). */
    fake_env_t env2 = {{{"XACCT_SNS_TOPIC_ARNS", "arn:aws:sns:eu-west-1:111122223333:t"}}};
    assert_int_equal(load_text("[aws]\nregion = eu-west-1\n", &env2, false, &cfg, err, sizeof(err)),
                     XACCT_ECONFIG);
    assert_string_equal(err, "<string>: aws.partner_account_id: required (set it in the file or "
                             "XACCT_AWS_PARTNER_ACCOUNT_ID)\n"
                             "<string>: queue.urls: required (set it in the file or "
                             "XACCT_QUEUE_URLS)");
    assert_null(cfg);
    /* A buffer too small for them all holds as much as fits, terminated. */
    for (size_t len = 1; len <= sizeof(want); len++) {
        char small[sizeof(want)];
        memset(small, 'x', sizeof(small));
        assert_int_equal(load_text("", &env, false, &cfg, small, len), XACCT_ECONFIG);
        assert_null(cfg);
        assert_int_equal(strlen(small), len - 1);
        assert_memory_equal(small, want, len - 1);
    }
}

/* ---- reload ------------------------------------------------------------ */

static void test_reload(void **state)
{
    (void)state;
    static const struct {
        const char *extra; /* appended to REQUIRED_INI for the new snapshot */
        const char *want;  /* NULL: reload accepted */
    } cases[] = {
        {"", NULL},
        {"[log]\nlevel = debug\nformat = json\n", NULL},
        {"[queue]\nwait_seconds = 1\nvisibility_timeout = 300\nmax_in_flight = 8\n", NULL},
        {"[check]\npropagation_timeout = 600\n[shutdown]\ngrace_seconds = 5\n", NULL},
        {"[sns]\ntopic_arns = arn:aws:sns:eu-west-1:111122223333:xacct-2\n"
         "cert_hosts = sns.eu-west-1.amazonaws.com\n",
         NULL},
        {"[cloudformation]\nresponse_hosts = r.example.com\n", NULL},
        {"[redis]\nurl = redis://10.0.0.1:6379/0\n",
         "redis.url: cannot be changed by a reload (restart to apply)"},
        {"[redis]\nprefix = other:\n", "redis.prefix: cannot be changed by a reload (restart to apply)"},
        {"[metrics]\nlisten = 0.0.0.0:9464\n",
         "metrics.listen: cannot be changed by a reload (restart to apply)"},
        {"[queue]\nurls = https://sqs.eu-west-1.amazonaws.com/111122223333/other\n",
         "queue.urls: cannot be changed by a reload (restart to apply)"},
        {"[aws]\nregion = us-east-1\n", "aws.region: cannot be changed by a reload (restart to apply)"},
    };
    xacct_config_t *old = NULL;
    char err[256];
    assert_int_equal(load_text(REQUIRED_INI, NULL, false, &old, err, sizeof(err)), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        xacct_config_t *new_cfg = NULL;
        char ini[2048];
        /* region is set once; a case that changes it rewrites the first line */
        if (strncmp(cases[i].extra, "[aws]", 5) == 0) {
            const char *rest = strstr(REQUIRED_INI, "partner_account_id");
            snprintf(ini, sizeof(ini), "%s%s", cases[i].extra, rest);
        } else {
            snprintf(ini, sizeof(ini), "%s%s", REQUIRED_INI, cases[i].extra);
        }
        if (load_text(ini, NULL, false, &new_cfg, err, sizeof(err)) != 0)
            fail_msg("case %zu: load: %s", i, err);
        int rc = xacct_config_check_reload(old, new_cfg, err, sizeof(err));
        if (cases[i].want == NULL) {
            if (rc != 0)
                fail_msg("case %zu: rc=%d err=\"%s\"", i, rc, err);
        } else if (rc != XACCT_ECONFIG || strcmp(err, cases[i].want) != 0) {
            fail_msg("case %zu: rc=%d err=\"%s\" want \"%s\"", i, rc, err, cases[i].want);
        }
        xacct_config_free(new_cfg);
    }
    xacct_config_free(old);
}

/* ---- dump -------------------------------------------------------------- */

/* Turns "section.key = value" lines back into INI text. A list goes back as
 * one "key = item" line per item (a list key may repeat), so no line is
 * longer than inih reads. */
static char *dump_to_ini(const char *dump)
{
    char *out = NULL, last[64] = "";
    size_t n = 0;
    FILE *f = open_memstream(&out, &n);
    const char *p = dump;
    while (*p) {
        const char *nl = strchr(p, '\n'), *dot = strchr(p, '.'), *eq = strstr(p, " = ");
        assert_non_null(nl);
        assert_true(dot != NULL && dot < eq && eq < nl);
        if (strncmp(last, p, (size_t)(dot - p)) != 0 || last[dot - p] != '\0') {
            snprintf(last, sizeof(last), "%.*s", (int)(dot - p), p);
            fprintf(f, "[%s]\n", last);
        }
        const char *v = eq + 3, *sep;
        while ((sep = strstr(v, ", ")) != NULL && sep < nl) {
            fprintf(f, "%.*s = %.*s\n", (int)(eq - dot - 1), dot + 1, (int)(sep - v), v);
            v = sep + 2;
        }
        fprintf(f, "%.*s = %.*s\n", (int)(eq - dot - 1), dot + 1, (int)(nl - v), v);
        p = nl + 1;
    }
    fclose(f);
    return out;
}

static void test_dump(void **state)
{
    (void)state;
    xacct_config_t *cfg = NULL, *again = NULL;
    char err[256];
    const char *ini = REQUIRED_INI "[log]\nformat = json\n[sns]\nraw_delivery = yes\n";
    assert_int_equal(load_text(ini, NULL, false, &cfg, err, sizeof(err)), 0);
    char *d = dump_to_string(cfg);
    assert_int_equal(count_lines(d), 48); /* every key of SPEC §6 plus console/template_dir,
                                             the two HTTPS connection limits, receivers,
                                             redis.sentinel_password */
    assert_non_null(strstr(d, "onboard.pending_ttl = 604800\n"));
    assert_non_null(strstr(d, "queue.receivers = 1\n"));
    assert_non_null(strstr(d, "aws.max_host_connections = 64\n"));
    assert_non_null(strstr(d, "aws.max_connections = 256\n"));
    assert_non_null(strstr(d, "cloudformation.service_timeout = 300\n"));
    assert_non_null(strstr(d, "api.listen = \n"));
    assert_non_null(strstr(d, "api.tokens_file = /etc/xacct/api-tokens\n"));
    assert_non_null(strstr(d, "redis.master_name = mymaster\n"));
    assert_non_null(strstr(d, "redis.command_timeout = 5\n"));
    assert_non_null(strstr(d, "redis.sentinels = \n"));
    assert_non_null(strstr(d, "redis.sentinel_password = \n"));
    assert_non_null(strstr(d, "events.max_age = 259200\n"));
    assert_non_null(strstr(d, "aws.partner_account_id = 111122223333\n"));
    assert_non_null(strstr(d, "queue.wait_seconds = 20\n"));
    assert_non_null(strstr(d, "check.reverify_interval = 86400\ncheck.reverify_rate = 10\n"));
    assert_non_null(strstr(d, "sns.raw_delivery = true\n"));
    assert_non_null(strstr(d, "sns.cert_hosts = sns.*.amazonaws.com, sns.*.amazonaws.com.cn\n"));
    assert_non_null(strstr(d, "log.level = info\nlog.format = json\n"));
    assert_non_null(strstr(d, "cloudformation.template_bucket = \n"));
    assert_non_null(strstr(d, "console.issuer = xacct\n"));

    /* What --check-config prints loads back to the same snapshot. */
    char *back = dump_to_ini(d);
    if (load_text(back, NULL, false, &again, err, sizeof(err)) != 0)
        fail_msg("dump does not load back: %s\n%s", err, back);
    char *d2 = dump_to_string(again);
    assert_string_equal(d, d2);
    free(d2);
    free(back);
    free(d);
    xacct_config_free(again);
    xacct_config_free(cfg);
}

/* --check-config shows redis.url without its password. */
static void test_dump_masks_password(void **state)
{
    (void)state;
    static const struct {
        const char *url, *shown;
    } cases[] = {
        {"redis://app:s3cr%40t@redis.internal:6379/0", "redis://app:***@redis.internal:6379/0"},
        {"rediss://:pw@10.0.0.5:6380/2", "rediss://:***@10.0.0.5:6380/2"},
        {"redis://u:p@ss@h:1/0", "redis://u:***@h:1/0"},
        {"redis://app@redis.internal:6379/0", "redis://app@redis.internal:6379/0"},
        {"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
        {"redis://h:1/0?x=a:b@c", "redis://h:1/0?x=a:b@c"},
        /* an unencoded '#', '?' or '/' in the password: no URL, still a secret */
        {"redis://:pa#ss@h:1/0", "redis://***@h:1/0"},
        {"redis://u:pa?ss@h:1/0", "redis://***@h:1/0"},
        {"rediss://u:p/a@ss@h:1/0", "rediss://***@h:1/0"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        xacct_config_t *cfg = NULL;
        char err[256];
        fake_env_t env = {{{"XACCT_REDIS_URL", cases[i].url}}};
        assert_int_equal(load_text(NULL, &env, true, &cfg, err, sizeof(err)), 0);
        char *d = dump_to_string(cfg);
        char want[256];
        snprintf(want, sizeof(want), "redis.url = %s\n", cases[i].shown);
        if (strstr(d, want) == NULL)
            fail_msg("case %zu: want \"%s\" in\n%s", i, want, d);
        free(d);
        xacct_config_free(cfg);
    }
}

/* --check-config never shows redis.sentinel_password, only that it is set. */
static void test_dump_masks_sentinel_password(void **state)
{
    (void)state;
    xacct_config_t *cfg = NULL;
    char err[256];
    fake_env_t env = {{{"XACCT_REDIS_SENTINEL_PASSWORD", "s3ntinel-pw"}}};
    assert_int_equal(load_text(NULL, &env, true, &cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg->redis_sentinel_password, "s3ntinel-pw");
    char *d = dump_to_string(cfg);
    assert_non_null(strstr(d, "redis.sentinel_password = ***\n"));
    assert_null(strstr(d, "s3ntinel-pw"));
    free(d);
    xacct_config_free(cfg);
}

/* --check-config shows events.webhook_url without its path or query, where
 * receivers often take their token. */
static void test_dump_masks_webhook_path(void **state)
{
    (void)state;
    static const struct {
        const char *url, *shown;
    } cases[] = {
        {"https://hooks.example.com/services/T0/B0/XYZ", "https://hooks.example.com/***"},
        {"http://127.0.0.1:8080/hook?token=abc", "http://127.0.0.1:8080/***"},
        {"https://portal.example.com/", "https://portal.example.com/"},
        {"https://portal.example.com", "https://portal.example.com"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        xacct_config_t *cfg = NULL;
        char err[256];
        fake_env_t env = {{{"XACCT_EVENTS_WEBHOOK_URL", cases[i].url}}};
        if (load_text(NULL, &env, true, &cfg, err, sizeof(err)) != 0)
            fail_msg("case %zu: %s", i, err);
        char *d = dump_to_string(cfg);
        char want[256];
        snprintf(want, sizeof(want), "events.webhook_url = %s\n", cases[i].shown);
        if (strstr(d, want) == NULL)
            fail_msg("case %zu: want \"%s\" in\n%s", i, want, d);
        free(d);
        xacct_config_free(cfg);
    }
}

/* ---- the sample config ------------------------------------------------- */

static char *read_sample(void)
{
    const char *src = getenv("XACCT_SOURCE_DIR");
    char path[1024];
    assert_non_null(src);
    snprintf(path, sizeof(path), "%s/config/xacctd.conf", src);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    char *text = calloc(1, 1 << 16);
    size_t n = fread(text, 1, (1 << 16) - 1, f);
    fclose(f);
    assert_true(n > 0 && n < (1 << 16) - 1);
    return text;
}

static void test_sample_config(void **state)
{
    (void)state;
    xacct_config_t *defaults = NULL, *sample = NULL, *uncommented = NULL;
    char err[256];
    fake_env_t env = {{{NULL, NULL}}};
    char *text = read_sample();

    /* As shipped (everything commented out) it is the defaults. */
    assert_int_equal(load_text(NULL, &env, true, &defaults, err, sizeof(err)), 0);
    if (load_text(text, &env, true, &sample, err, sizeof(err)) != 0)
        fail_msg("sample: %s", err);
    char *dd = dump_to_string(defaults), *ds = dump_to_string(sample);
    assert_string_equal(dd, ds);

    /* Uncomment every ";key = value" line: each documented value is the real
     * default, and every key is documented exactly once (a long list on
     * consecutive lines that repeat the key). */
    char *u = calloc(1, strlen(text) + 1), *w = u;
    size_t keys_seen = 0;
    char last_key[64] = "";
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p);
        size_t name = strspn(p + 1, "abcdefghijklmnopqrstuvwxyz_");
        if (p[0] == ';' && name > 0 && strncmp(p + 1 + name, " =", 2) == 0) {
            memcpy(w, p + 1, len - 1);
            w += len - 1;
            if (name >= sizeof(last_key) || strncmp(last_key, p + 1, name) != 0 ||
                last_key[name] != '\0') {
                keys_seen++;
                snprintf(last_key, sizeof(last_key), "%.*s", (int)name, p + 1);
            }
        } else {
            memcpy(w, p, len);
            w += len;
            if (p[0] == '[')
                last_key[0] = '\0'; /* a new section: same name, another key */
        }
        p += len;
    }
    if (load_text(u, &env, true, &uncommented, err, sizeof(err)) != 0)
        fail_msg("uncommented sample: %s", err);
    char *du = dump_to_string(uncommented);
    assert_string_equal(dd, du);
    assert_int_equal(keys_seen, count_lines(dd));
    free(du);
    free(u);
    free(dd);
    free(ds);
    free(text);
    xacct_config_free(uncommented);
    xacct_config_free(sample);
    xacct_config_free(defaults);
}

/* ---- host patterns (matching itself: test_hostpat.c) ------------------ */

static void test_host_allowed(void **state)
{
    (void)state;
    xacct_config_t *cfg = NULL;
    char err[256];
    fake_env_t env = {{{"XACCT_SNS_CERT_HOSTS", "sns.*.amazonaws.com, 127.0.0.1:8443"}}};
    assert_int_equal(load_text(NULL, &env, true, &cfg, err, sizeof(err)), 0);
    const unsigned R = XACCT_HOSTPAT_REGION;
    assert_true(xacct_hostpat_allowed(&cfg->sns_cert_hosts, "sns.us-east-1.amazonaws.com", 443, R));
    assert_false(xacct_hostpat_allowed(&cfg->sns_cert_hosts, "sns.s3.amazonaws.com", 443, R));
    assert_true(xacct_hostpat_allowed(&cfg->sns_cert_hosts, "127.0.0.1", 8443, R));
    assert_false(xacct_hostpat_allowed(&cfg->sns_cert_hosts, "127.0.0.1", 443, R));
    assert_false(
        xacct_hostpat_allowed(&cfg->sns_cert_hosts, "sns.us-east-1.amazonaws.com.cn", 443, R));
    assert_true(xacct_hostpat_allowed(
        &cfg->cfn_response_hosts,
        "cloudformation-custom-resource-response-euwest1.s3.eu-west-1.amazonaws.com", 443, 0));
    assert_false(xacct_hostpat_allowed(&cfg->cfn_response_hosts, "169.254.169.254", 443, 0));
    xacct_config_free(cfg);
}

typedef struct strays {
    char names[8][128];
    size_t n;
} strays_t;

static void note_stray(const char *name, void *arg)
{
    strays_t *st = arg;
    assert_true(st->n < 8);
    snprintf(st->names[st->n++], sizeof(st->names[0]), "%s", name);
}

/* A variable under a known section's prefix that names no key is reported
 * (a typo the load would ignore); real keys, other XACCT_* variables and
 * lower-case or partial prefixes are not. */
static void test_env_strays(void **state)
{
    (void)state;
    char *envp[] = {
        "XACCT_QUEUE_MAX_IN_FLIGHT=7",  /* a key */
        "XACCT_QUEUE_MAX_INFLIGHT=7",   /* a typo */
        "XACCT_REDIS_URL=redis://x",    /* a key */
        "XACCT_REDIS_URI=redis://x",    /* a typo */
        "XACCT_CONFIG=/etc/xacct/x",    /* not a section */
        "XACCT_OPERATOR=alice",         /* not a section */
        "xacct_queue_urls=x",           /* not an override name */
        "XACCT_QUEUE=1",                /* no key part */
        "XACCT_QUEUEX_URLS=1",          /* another prefix */
        "XACCT_EVENTS_WEBHOOK_URLS",    /* no '=': a name all the same */
        "PATH=/usr/bin",
        NULL,
    };
    strays_t st = {0};
    assert_int_equal(xacct_config_env_strays(envp, note_stray, &st), 3);
    assert_int_equal(st.n, 3);
    assert_string_equal(st.names[0], "XACCT_QUEUE_MAX_INFLIGHT");
    assert_string_equal(st.names[1], "XACCT_REDIS_URI");
    assert_string_equal(st.names[2], "XACCT_EVENTS_WEBHOOK_URLS");
    assert_int_equal(xacct_config_env_strays(NULL, note_stray, &st), 0);

    /* Every key the dump names, as its override, is no stray. */
    xacct_config_t *cfg = NULL;
    char err[256];
    assert_int_equal(config_load_from(NULL, "", fake_getenv, NULL, true, &cfg, err, sizeof(err)), 0);
    char *dump = NULL;
    size_t dlen = 0;
    FILE *f = open_memstream(&dump, &dlen);
    xacct_config_dump(cfg, f);
    fclose(f);
    char *all[128];
    size_t n = 0;
    for (char *line = strtok(dump, "\n"); line != NULL && n < 127; line = strtok(NULL, "\n")) {
        char *sp = strchr(line, ' ');
        assert_non_null(sp);
        char *name = calloc(1, (size_t)(sp - line) + 7);
        memcpy(name, "XACCT_", 6);
        for (char *c = line; c < sp; c++)
            name[6 + (c - line)] = *c == '.' ? '_' : (char)toupper((unsigned char)*c);
        all[n++] = name;
    }
    all[n] = NULL;
    assert_true(n > 40);
    assert_int_equal(xacct_config_env_strays(all, NULL, NULL), 0);
    for (size_t i = 0; i < n; i++)
        free(all[i]);
    free(dump);
    xacct_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_webhook_urls),
        cmocka_unit_test(test_values_from_file),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_line_length),
        cmocka_unit_test(test_continuation_lines),
        cmocka_unit_test(test_errors_name_the_file),
        cmocka_unit_test(test_env_overrides),
        cmocka_unit_test(test_region_from_aws_profile),
        cmocka_unit_test(test_env_errors),
        cmocka_unit_test(test_env_strays),
        cmocka_unit_test(test_required),
        cmocka_unit_test(test_required_all_at_once),
        cmocka_unit_test(test_reload),
        cmocka_unit_test(test_dump),
        cmocka_unit_test(test_dump_masks_password),
        cmocka_unit_test(test_dump_masks_webhook_path),
        cmocka_unit_test(test_dump_masks_sentinel_password),
        cmocka_unit_test(test_sample_config),
        cmocka_unit_test(test_host_allowed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
