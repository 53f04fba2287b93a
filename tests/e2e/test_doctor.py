"""`xacct doctor [--json]` against the emulator (the partner side deployed
from deploy/aws) and a real redis-server: a healthy setup passes, and each
failure made on purpose fails its own check with a fix, exit 1 (a warning
alone keeps exit 0)."""
import json
import os
import subprocess
import unittest

from harness import BUILD
from test_partner_stack import PartnerEnv


class DoctorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = PartnerEnv(regions=("us-east-1", "eu-west-1")).start()
        # The harness's Redis runs without persistence; a healthy one has AOF.
        cls.env.r.config_set("appendonly", "yes")

    @classmethod
    def tearDownClass(cls):
        cls.env.stop()

    def doctor(self, extra_env=None, text=False, drop=()):
        env = self.env
        argv = [os.path.join(BUILD, "xacct"), "--config", env.config_path, "doctor"]
        if not text:
            argv.append("--json")
        penv = env.process_env(extra_env)
        for k in drop:
            penv.pop(k, None)
        r = subprocess.run(env.wrap(argv), env=penv, capture_output=True, timeout=120)
        if text:
            return r.returncode, r.stdout.decode()
        try:
            doc = json.loads(r.stdout)
        except ValueError:
            raise AssertionError(f"not JSON (exit {r.returncode}): {r.stdout!r} {r.stderr!r}")
        return r.returncode, doc

    def rows(self, doc, name):
        return [c for c in doc["checks"] if c["name"] == name]

    def assert_only_failure(self, rc, doc, name, needle):
        failed = [c for c in doc["checks"] if c["status"] == "fail"]
        self.assertEqual(rc, 1, doc)
        self.assertFalse(doc["ok"])
        self.assertTrue(failed, doc)
        self.assertEqual({c["name"] for c in failed}, {name}, failed)
        self.assertTrue(any(needle in c["detail"] for c in failed), failed)
        for c in failed:
            self.assertTrue(c.get("fix"), c)

    def test_healthy_and_json_shape(self):
        rc, doc = self.doctor()
        self.assertEqual(rc, 0, doc)
        self.assertEqual(set(doc), {"ok", "checks"})
        self.assertIs(doc["ok"], True)
        names = [c["name"] for c in doc["checks"]]
        for want in ("config", "identity", "clock", "queue", "topic", "quota", "bucket",
                     "redis", "persist"):
            self.assertIn(want, names)
        for c in doc["checks"]:
            self.assertLessEqual(set(c), {"name", "status", "detail", "fix"})
            self.assertEqual(c["status"], "ok", c)
            self.assertIsInstance(c["detail"], str)
        self.assertEqual(len(self.rows(doc, "topic")), 2)
        self.assertIn(f"account {self.env.PARTNER}", self.rows(doc, "identity")[0]["detail"])
        self.assertIn("AOF on", self.rows(doc, "persist")[0]["detail"])
        rc, text = self.doctor(text=True)
        self.assertEqual(rc, 0, text)
        self.assertIn("All checks passed.", text)
        self.assertRegex(text, r"\[ok  \] identity")

    def test_bad_credentials(self):
        rc, doc = self.doctor({"AWS_SECRET_ACCESS_KEY": "x" * 40})
        self.assertEqual(rc, 1)
        ident = self.rows(doc, "identity")[0]
        self.assertEqual(ident["status"], "fail")
        self.assertIn("SignatureDoesNotMatch", ident["detail"])
        self.assertIn("credentials", ident["fix"])
        self.assertNotIn("\n", ident["detail"])
        # nothing else can work with them: the identity line says it once
        self.assertEqual(self.rows(doc, "queue"), [])
        self.assertEqual(self.rows(doc, "clock")[0]["status"], "ok")

    def test_no_credentials(self):
        rc, doc = self.doctor({"HOME": self.env.tmp,
                               "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
                               "AWS_CONFIG_FILE": "/nonexistent/config"},
                              drop=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"))
        self.assertEqual(rc, 1)
        ident = self.rows(doc, "identity")[0]
        self.assertEqual(ident["status"], "fail", ident)
        self.assertIn("credentials", ident["detail"].lower())
        self.assertIn("AWS_PROFILE", ident["fix"])
        self.assertEqual(self.rows(doc, "clock")[0]["status"], "warn")

    def test_clock_skew(self):
        env = self.env
        try:
            env.ctl("POST", "/_fake/server", {"clock_skew": -1200})
            rc, doc = self.doctor()
            clock = self.rows(doc, "clock")[0]
            self.assertEqual(rc, 1)
            self.assertEqual(clock["status"], "fail", clock)
            self.assertRegex(clock["detail"], r"local clock is (119\d|120\d) s ahead of AWS")
            self.assertIn("more than 15 minutes off", clock["fix"])
            # Ten minutes: inside the 15 AWS allows, a warning.
            env.ctl("POST", "/_fake/server", {"clock_skew": 600})
            rc, doc = self.doctor()
            clock = self.rows(doc, "clock")[0]
            self.assertEqual(clock["status"], "warn", clock)
            self.assertRegex(clock["detail"], r"(59\d|60\d) s behind AWS")
            self.assertEqual(rc, 0, doc)  # a warning alone does not fail
        finally:
            env.ctl("POST", "/_fake/server", {"clock_skew": 0})

    def test_queue_missing(self):
        env = self.env
        missing = env.queue_url.rsplit("/", 1)[0] + "/no-such-queue"
        rc, doc = self.doctor({"XACCT_QUEUE_URLS": f"{env.queue_url}, {missing}"})
        self.assert_only_failure(rc, doc, "queue", "no-such-queue")
        self.assertIn("QueueDoesNotExist", self.rows(doc, "queue")[1]["detail"])

    def test_topic_not_subscribed(self):
        env = self.env
        lone = env.create_topic("us-east-1", "xacct-phone-home-lonely")
        topics = ", ".join(a for arns in env.topics.values() for a in arns)
        rc, doc = self.doctor({"XACCT_SNS_TOPIC_ARNS": f"{topics}, {lone}"})
        self.assert_only_failure(rc, doc, "topic", "not subscribed")

    def test_subscription_not_confirmed(self):
        env = self.env
        env.ctl("POST", "/_fake/sns/confirmation-mode", {"mode": "confirm"})
        try:
            pending = env.create_topic("eu-west-1", "xacct-phone-home-pending")
            env.subscribe(pending, "eu-west-1")
        finally:
            env.ctl("POST", "/_fake/sns/confirmation-mode", {"mode": "immediate"})
        env.ctl("POST", "/_fake/sqs/queues/" + env.queue_name + "/purge")
        topics = ", ".join(a for arns in env.topics.values() for a in arns)
        rc, doc = self.doctor({"XACCT_SNS_TOPIC_ARNS": f"{topics}, {pending}"})
        self.assert_only_failure(rc, doc, "topic", "is not confirmed")

    def test_queue_policy_missing_the_topic(self):
        env = self.env
        other = env.create_topic("us-east-1", "someone-else-2")
        env.subscribe(other, "us-east-1")
        topics = ", ".join(a for arns in env.topics.values() for a in arns)
        rc, doc = self.doctor({"XACCT_SNS_TOPIC_ARNS": f"{topics}, {other}"})
        self.assert_only_failure(rc, doc, "topic", "does not let it send")

    def test_topic_policy_near_quota(self):
        """SNS itself refuses a policy over its quotas, so a live topic can
        only come near them: 95 statements is a warning (exit 0)."""
        env = self.env
        topic = env.create_topic("eu-west-1", "xacct-phone-home-full")
        env.subscribe(topic, "eu-west-1")
        policy = env.topic_policy(topic)
        policy["Statement"] += [{"Sid": f"xacct-publish-{i}", "Effect": "Allow",
                                 "Principal": {"AWS": f"arn:aws:iam::{100000000000 + i}:root"},
                                 "Action": "SNS:Publish", "Resource": topic} for i in range(94)]
        env.sns("eu-west-1", Action="SetTopicAttributes", TopicArn=topic, AttributeName="Policy",
                AttributeValue=json.dumps(policy))
        rc, doc = self.doctor({"XACCT_SNS_TOPIC_ARNS": topic})
        quota = self.rows(doc, "quota")[0]
        self.assertEqual(quota["status"], "warn", quota)
        self.assertIn("95 statements (max 100)", quota["detail"])
        self.assertIn("another topic", quota["fix"])
        self.assertEqual(rc, 0, doc)

    def test_bucket_missing(self):
        rc, doc = self.doctor({"XACCT_CLOUDFORMATION_TEMPLATE_BUCKET": "no-such-bucket-here"})
        self.assert_only_failure(rc, doc, "bucket", "no-such-bucket-here")
        self.assertIn("NoSuchBucket", self.rows(doc, "bucket")[0]["detail"])

    def test_bucket_probe_leaves_nothing(self):
        env = self.env
        rc, doc = self.doctor()
        self.assertEqual(rc, 0, doc)
        recs = env.ctl("GET", "/_fake/records?kind=s3.put_object")["records"]
        probes = [r["key"] for r in recs if "doctor-probe" in r["key"]]
        self.assertTrue(probes)
        dels = {r["key"] for r in env.ctl("GET", "/_fake/records?kind=s3.delete_object")["records"]
                if r["existed"]}
        self.assertLessEqual(set(probes), dels)
        # Read back as a customer would: unsigned, through a presigned link.
        gets = [r for r in env.ctl("GET", "/_fake/records?kind=request")["records"]
                if r.get("service") == "s3" and r.get("method") == "GET"
                and "doctor-probe" in r.get("path", "")]
        self.assertTrue(gets)
        self.assertIn("presigned", self.rows(doc, "bucket")[0]["detail"])

    def test_redis_persistence_off(self):
        env = self.env
        save = env.r.config_get("save")["save"]
        try:
            env.r.config_set("appendonly", "no")
            env.r.config_set("save", "")
            rc, doc = self.doctor()
            self.assert_only_failure(rc, doc, "persist", "neither AOF nor RDB")
            env.r.config_set("save", "3600 1")
            rc, doc = self.doctor()
            self.assertEqual(rc, 0, doc)
            self.assertIn("RDB snapshots (save 3600 1)", self.rows(doc, "persist")[0]["detail"])
        finally:
            env.r.config_set("save", save)
            env.r.config_set("appendonly", "yes")

    def test_redis_unreachable(self):
        from harness import free_port
        rc, doc = self.doctor({"XACCT_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
                               "XACCT_REDIS_COMMAND_TIMEOUT": "2"})
        self.assert_only_failure(rc, doc, "redis", "")
        self.assertIn("Redis", self.rows(doc, "redis")[0]["fix"])

    def test_bad_config(self):
        rc, doc = self.doctor({"XACCT_CLOUDFORMATION_ROLE_POLICY_FILE": "/nonexistent/policy.json",
                               "XACCT_EVENTS_WEBHOOK_URL": "https://hooks.example.com/x",
                               "XACCT_EVENTS_WEBHOOK_SECRET_FILE": "/nonexistent/secret"})
        self.assertEqual(rc, 1)
        bad = [c["detail"] for c in self.rows(doc, "config") if c["status"] == "fail"]
        self.assertEqual(len(bad), 2, doc)
        self.assertIn("/nonexistent/policy.json", bad[0])
        self.assertIn("events.webhook_secret_file", bad[1])

    def test_config_the_daemon_would_refuse(self):
        """A tokens file that is readable but does not parse passes a
        readability check; xacctd would still refuse to start with it."""
        path = os.path.join(self.env.tmp, "bad-tokens")
        with open(path, "w") as f:
            f.write("portal-without-a-hash\n")
        os.chmod(path, 0o600)
        rc, doc = self.doctor({"XACCT_API_LISTEN": "127.0.0.1:18080",
                               "XACCT_API_TOKENS_FILE": path})
        self.assert_only_failure(rc, doc, "config", "api.tokens_file")

    def test_config_that_does_not_load(self):
        """The doctor is what an operator runs on a broken setup: a
        configuration that does not load is its first check, with a fix,
        in the JSON shape like any other, not a bare error."""
        rc, doc = self.doctor({"XACCT_QUEUE_WAIT_SECONDS": "soon"})
        self.assert_only_failure(rc, doc, "config", "XACCT_QUEUE_WAIT_SECONDS")
        rc, text = self.doctor({"XACCT_QUEUE_WAIT_SECONDS": "soon"}, text=True)
        self.assertEqual(rc, 1)
        self.assertIn("[FAIL] config", text)

    def test_help_and_usage(self):
        env = self.env
        r = subprocess.run([os.path.join(BUILD, "xacct"), "--help"], capture_output=True,
                           env=env.process_env())
        self.assertIn(b"doctor", r.stdout)
        r = subprocess.run([os.path.join(BUILD, "xacct"), "doctor", "extra"], capture_output=True,
                           env=env.process_env())
        self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    unittest.main()
