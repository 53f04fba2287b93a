"""How `xacct` fails: every usage error exits 2 naming the bad argument
(before touching Redis or AWS), --help works for every command, and an
unreachable Redis or AWS gives one clear line and exit 1, never a crash.
"""
import json
import os
import subprocess
import unittest

import cli_env
import harness

COMMANDS = ["onboard", "show", "list", "events", "template", "rotate-external-id", "check",
            "console", "jobs", "dead", "workers", "topics", "credentials", "outdated", "cancel",
            "outbox", "doctor"]


class UsageTest(unittest.TestCase):
    """No Redis, no AWS: the config points at closed ports, so a command
    that got past its argument checks would fail with exit 1, not 2."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = cli_env.tempfile.mkdtemp(prefix="xacct-usage-")
        cls.config = os.path.join(cls.tmp, "xacctd.conf")
        with open(cls.config, "w") as f:
            f.write("[aws]\nregion = us-east-1\npartner_account_id = 111111111111\n"
                    "[sns]\ntopic_arns = arn:aws:sns:us-east-1:111111111111:t\n"
                    "[redis]\nurl = redis://127.0.0.1:%d/0\n" % harness.free_port())
        cls.env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "XACCT_"))}
        cls.env.update({"XACCT_CONFIG": cls.config, "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
                        "AWS_SECRET_ACCESS_KEY": "secret", "AWS_REGION": "us-east-1",
                        "AWS_ENDPOINT_URL": "https://127.0.0.1:%d" % harness.free_port(),
                        "AWS_EC2_METADATA_DISABLED": "true"})

    @classmethod
    def tearDownClass(cls):
        cli_env.shutil.rmtree(cls.tmp, ignore_errors=True)

    def run_xacct(self, *args):
        return subprocess.run([cli_env.XACCT, *args], env=self.env, capture_output=True, text=True,
                              timeout=60)

    def assertUsage(self, args, names):
        r = self.run_xacct(*args)
        self.assertEqual(r.returncode, 2, (args, r.stdout, r.stderr))
        self.assertEqual(r.stdout, "", args)
        self.assertIn(names, r.stderr, args)
        self.assertNotIn("AddressSanitizer", r.stderr)

    def test_usage_errors_name_the_argument(self):
        cases = [
            (["nosuch"], "'nosuch'"),
            (["--bogus", "list"], "'--bogus'"),
            (["--config"], "'--config'"),
            (["onboard"], "usage: xacct onboard ACCOUNT"),
            (["onboard", "12345"], "'12345'"),
            (["onboard", "12345678901a"], "'12345678901a'"),
            (["onboard", "123456789012", "extra"], "'extra'"),
            (["onboard", "123456789012", "--region", "nowhere"], "'nowhere'"),
            (["onboard", "123456789012", "--region"], "'--region'"),
            (["onboard", "--frobnicate", "123456789012"], "'--frobnicate'"),
            (["show"], "usage: xacct show ACCOUNT"),
            (["show", "1"], "'1'"),
            (["list", "--state", "weird"], "'weird'"),
            (["list", "--limit", "0"], "'0'"),
            (["list", "--limit", "ten"], "'ten'"),
            (["list", "surplus"], "'surplus'"),
            (["events", "abc"], "'abc'"),
            (["events", "123456789012", "--limit", "-3"], "'-3'"),
            (["template", "1234567890123"], "'1234567890123'"),
            (["rotate-external-id"], "usage: xacct rotate-external-id ACCOUNT"),
            (["check", "123456789012", "--wait", "soon"], "'soon'"),
            (["console", "123456789012", "--duration", "10"], "'10'"),
            (["console", "123456789012", "--duration", "50000"], "'50000'"),
            (["console", "123456789012", "--destination", "http://example.com/"], "'http://example.com/'"),
            (["jobs", "frob"], "'frob'"),
            (["jobs", "done"], "usage: xacct jobs done ID"),
            (["jobs", "done", "not-an-id"], "'not-an-id'"),
            # 2^64: no stream entry ID, although only digits
            (["jobs", "done", "18446744073709551616-0"], "'18446744073709551616-0'"),
            (["outbox", "redeliver", "1-18446744073709551616"], "'1-18446744073709551616'"),
            (["jobs", "list", "x"], "'x'"),
            (["dead", "--limit", "100000000"], "'100000000'"),
            (["workers", "extra"], "'extra'"),
            (["topics", "--region", "us-east-1"], "'--region'"),
            (["credentials"], "usage: xacct credentials ACCOUNT"),
            (["credentials", "123456789012", "--duration", "899"], "'899'"),
            (["credentials", "123456789012", "--operator", "!"], "'!'"),
            (["credentials", "123456789012", "--reason", ""], "--reason"),
            (["console", "123456789012", "--operator", "x"], "'x'"),
            (["outdated", "extra"], "'extra'"),
            # a letter inside a cluster of short options, and long options
            # given a value they do not take
            (["show", "123456789012", "-xy"], "unknown option '-x'"),
            (["-xy", "list"], "unknown option '-x'"),
            (["list", "--json", "-qz"], "unknown option '-q'"),
            (["--json=1", "list"], "'--json=1'"),
            (["list", "--json=1"], "'--json=1'"),
            (["cancel"], "usage: xacct cancel ACCOUNT"),
            (["cancel", "12"], "'12'"),
            (["outbox", "redeliver", "x"], "'x'"),
            (["doctor", "extra"], "'extra'"),
        ]
        for args, names in cases:
            with self.subTest(args=args):
                self.assertUsage(args, names)

    def test_no_command(self):
        r = self.run_xacct()
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage: xacct", r.stderr)

    def test_help_for_every_command(self):
        r = self.run_xacct("--help")
        self.assertEqual(r.returncode, 0)
        for cmd in COMMANDS:
            self.assertIn(cmd, r.stdout)
            h = self.run_xacct(cmd, "--help")
            self.assertEqual(h.returncode, 0, (cmd, h.stderr))
            self.assertTrue(h.stdout.startswith("usage: xacct [--config PATH] %s" % cmd), h.stdout)
            self.assertIn("--json", h.stdout)
            self.assertEqual(h.stderr, "")

    def test_unreachable_redis_one_line(self):
        for args in (["show", "123456789012"], ["list"], ["events", "123456789012"],
                     ["template", "123456789012"], ["jobs"], ["jobs", "done", "1-0"], ["dead"],
                     ["workers"], ["onboard", "123456789012"], ["rotate-external-id", "123456789012"],
                     ["check", "123456789012"], ["console", "123456789012"], ["list", "--json"],
                     ["credentials", "123456789012", "--operator", "alice"], ["outdated"]):
            with self.subTest(args=args):
                r = self.run_xacct(*args)
                self.assertEqual(r.returncode, 1, (args, r.stderr))
                self.assertEqual(r.stdout, "")
                lines = r.stderr.splitlines()
                self.assertEqual(len(lines), 1, r.stderr)
                self.assertIn("cannot reach Redis at redis://127.0.0.1:", lines[0])

    def test_redis_password_is_not_printed(self):
        r = subprocess.run([cli_env.XACCT, "list"], capture_output=True, text=True, timeout=60,
                           env=dict(self.env, XACCT_REDIS_URL="redis://:hunter2@127.0.0.1:%d/0"
                                    % harness.free_port()))
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot reach Redis at redis://:***@127.0.0.1:", r.stderr)
        self.assertNotIn("hunter2", r.stderr)

    def test_short_global_options(self):
        # xacct(1) documents -c PATH and -V next to --config and --version.
        r = self.run_xacct("-V")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith("xacct "), r.stdout)
        r = self.run_xacct("-c", os.path.join(self.tmp, "absent.conf"), "list")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("absent.conf", r.stderr)
        self.assertUsage(["-c"], "'-c'")

    def test_missing_config_file(self):
        r = self.run_xacct("--config", os.path.join(self.tmp, "absent.conf"), "list")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(len(r.stderr.splitlines()), 1)
        self.assertIn("absent.conf", r.stderr)


class UnreachableAwsTest(unittest.TestCase):
    def setUp(self):
        self.env = cli_env.CliEnv.start(topics=[("us-east-1", "phone-home-1")])
        self.addCleanup(self.env.stop)

    def test_onboard_without_aws_one_line(self):
        closed = "https://127.0.0.1:%d" % harness.free_port()
        r = self.env.xacct("onboard", "123456789012", env=self.env.env(AWS_ENDPOINT_URL=closed))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stdout, "")
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn("cannot reach AWS", lines[0])
        # Nothing half-done (no record, no ID); a retry with AWS back onboards it.
        r = self.env.redis_client()
        self.assertFalse(r.exists("xacct:customer:123456789012"))
        self.assertNotIn(b"123456789012", [r.get(k) for k in r.scan_iter("xacct:external-id:*")])
        res = self.env.xacct("onboard", "123456789012", "--json")
        self.assertEqual(res.returncode, 0, res.stderr)
        topic = json.loads(res.stdout)["topic_arn"]
        keys = self.env.account_keys("123456789012")
        self.assertEqual(self.env.publish_as(keys, topic).status, 200)

    def test_topics_and_console_without_aws(self):
        self.assertEqual(self.env.xacct("onboard", "123456789012").returncode, 0)
        closed = "https://127.0.0.1:%d" % harness.free_port()
        for args in (["topics"], ["jobs", "done", "1-0"]):
            r = self.env.xacct(*args, env=self.env.env(AWS_ENDPOINT_URL=closed))
            if args[0] == "jobs":
                # No such job: Redis answers before AWS is needed.
                self.assertEqual(r.returncode, 1)
                self.assertIn("no open job", r.stderr)
                continue
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
            self.assertIn("cannot reach AWS", r.stderr)

    def test_no_credentials(self):
        e = self.env.env()
        del e["AWS_ACCESS_KEY_ID"]
        del e["AWS_SECRET_ACCESS_KEY"]
        r = self.env.xacct("onboard", "123456789012", env=e)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)


if __name__ == "__main__":
    unittest.main()
