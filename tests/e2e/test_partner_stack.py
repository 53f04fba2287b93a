"""The partner's AWS side as code (deploy/aws/): the templates deployed into
the emulator's CloudFormation simulator, an xacctd configuration written
from their Outputs, and a whole onboarding through what they created
(customer stack -> the region's topic -> the queue -> xacctd -> answered).
Also: a topic the queue policy does not name gets nothing delivered, the
IAM managed policy covers every action xacct's credentials were seen
signing in the run, and it grants no action the code never calls."""
import json
import os
import re
import sys
import tempfile
import unittest
import urllib.parse

from harness import SOURCE, Env, Redis, wait_for

sys.path.insert(0, os.path.join(SOURCE, "tests", "fakeaws"))
from fakeaws import policy as policy_mod  # noqa: E402
from fakeaws.testing import FakeAWS  # noqa: E402
from harness import PYTHON  # noqa: E402

DEPLOY = os.path.join(SOURCE, "deploy", "aws")
CUSTOMER = "210987654321"
BUCKET = "xacct-templates-test"


def load(name):
    with open(os.path.join(DEPLOY, name)) as f:
        return json.load(f)


class PartnerEnv(Env):
    """Env whose queue, topics and bucket come from deploy/aws templates."""

    def start(self):
        import atexit
        import redis
        atexit.register(self.stop)
        self.tmp = tempfile.mkdtemp(prefix="xacct-e2e-")
        self.redis = Redis(self.tmp)
        self.redis.start()
        self.fa = FakeAWS.start(python=PYTHON, args=("--partner-account", self.PARTNER,
                                                     "--aws-address", "auto"))
        self.write_hosts()
        self.https_port = urllib.parse.urlsplit(self.fa.https_url).port
        self.ctl("POST", "/_fake/cfn/config", {"response_timeout": 120})
        self.core = self.deploy("xacct-partner", "partner-core.json", self.regions[0],
                                {"TemplateBucketName": BUCKET})
        out = self.outputs(self.core)
        self.queue_url, self.queue_arn = out["QueueUrl"], out["QueueArn"]
        self.queue_name = self.queue_arn.rsplit(":", 1)[1]
        self.bucket = out["TemplateBucket"]
        self.policy_arn = out["PolicyArn"]
        self.region_stacks = {}
        for region in self.regions:
            st = self.deploy("xacct-topic-1", "partner-region.json", region,
                             {"QueueArn": self.queue_arn})
            self.region_stacks[region] = st
            self.topics.setdefault(region, []).append(self.outputs(st)["TopicArn"])
        self.write_config(cloudformation__template_bucket=self.bucket)
        self.r = redis.Redis(host="127.0.0.1", port=self.redis.port)
        return self

    def deploy(self, name, template, region, params):
        st = self.ctl("POST", "/_fake/cfn/stacks", {
            "account_id": self.PARTNER, "region": region, "stack_name": name,
            "template": load(template), "parameters": params})
        doc = self.wait_stack(st["stack_id"])
        if doc["status"] != "CREATE_COMPLETE":
            raise AssertionError(f"{template}: {doc['status']} {doc['status_reason']} "
                                 f"{[e for e in doc['events'] if 'FAILED' in e['resource_status']]}")
        return doc

    @staticmethod
    def outputs(stack):
        return {k: v["value"] for k, v in stack["outputs"].items()}


class PartnerStackTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = PartnerEnv(regions=("us-east-1", "eu-west-1")).start()

    @classmethod
    def tearDownClass(cls):
        cls.env.stop()

    def test_created_resources(self):
        env = self.env
        q = env.queue()
        policy = json.loads(q["attributes"]["Policy"])
        st = policy["Statement"][0]
        self.assertEqual(st["Principal"], {"Service": "sns.amazonaws.com"})
        self.assertEqual(st["Resource"], env.queue_arn)
        self.assertEqual(st["Condition"]["ArnLike"]["aws:SourceArn"],
                         f"arn:aws:sns:*:{env.PARTNER}:xacct-phone-home-*")
        self.assertEqual(q["attributes"]["VisibilityTimeout"], "120")
        for region, arns in env.topics.items():
            t = env.ctl("GET", "/_fake/sns/topics/" + urllib.parse.quote(arns[0], safe=""))
            self.assertEqual(t["region"], region)
            self.assertEqual([s["endpoint"] for s in t["subscriptions"]], [env.queue_arn])
            self.assertFalse(t["subscriptions"][0]["raw"])
            # The topic starts with SNS's default policy: no account but its own.
            self.assertEqual([s["Sid"] for s in t["policy"]["Statement"]],
                             ["__default_statement_ID"])
        bucket = env.core["resources"]["TemplateBucket"]["properties"]
        self.assertEqual(bucket["PublicAccessBlockConfiguration"],
                         {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                          "IgnorePublicAcls": True, "RestrictPublicBuckets": True})
        self.assertEqual(bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
                         ["ServerSideEncryptionByDefault"]["SSEAlgorithm"], "AES256")
        self.assertEqual(env.policy_arn, f"arn:aws:iam::{env.PARTNER}:policy/xacct")

    def test_onboarding_through_the_deployed_side(self):
        """Both regions: the customer stack's request travels through the
        deployed topic and queue, xacctd answers, the stack completes."""
        env = self.env
        env.ctl("DELETE", "/_fake/records?kind=request")
        worker = env.start_worker()
        for i, region in enumerate(env.regions):
            acct = f"21098765432{i}"
            r = env.xacct("onboard", acct, "--region", region, "--json", check=True)
            link = json.loads(r.stdout)["launch_url"]
            self.assertIn(env.bucket, link)
            # The customer launches from the link: CloudFormation reads the
            # private bucket's template through the presigned templateURL.
            status, st = env.create_stack_from_link(acct, link)
            self.assertEqual(status, 201, st)
            doc = env.wait_stack(st["stack_id"], timeout=120)
            self.assertEqual(doc["status"], "CREATE_COMPLETE", doc["status_reason"])
            self.assertEqual(env.last_answer(doc)["Status"], "SUCCESS")
            wait_for(lambda: env.customer(acct).get("state") == "active", 30, "active")
            self.assertEqual(env.customer(acct)["topic_arn"], env.topics[region][0])
        env.stop_worker(worker)
        env.xacct("doctor")  # its calls count too (its verdict is test_doctor's)
        self.check_policy_covers_calls()

    def check_policy_covers_calls(self):
        """Every action xacct's keys signed in the run is allowed by the
        managed policy, on the resource it named."""
        env = self.env
        doc = env.core["resources"]["XacctPolicy"]["properties"]["PolicyDocument"]
        recs = env.ctl("GET", "/_fake/records?kind=request")["records"]
        seen = {r["action"] for r in recs
                if r.get("access_key") == env.fa.creds[0] and r.get("action")}
        self.assertTrue({"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                         "sns:GetTopicAttributes", "sns:SetTopicAttributes",
                         "sns:ListSubscriptionsByTopic", "s3:PutObject", "s3:DeleteObject",
                         "s3:GetObject",
                         "sts:AssumeRole", "sts:GetCallerIdentity"} <= seen, seen)
        for action in sorted(seen - {"sts:GetCallerIdentity"}):
            self.assertTrue(self.allowed(doc, action), f"{action} is not in the policy")

    @staticmethod
    def allowed(doc, action, resource=None):
        for st in doc["Statement"]:
            acts = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            if st["Effect"] == "Allow" and any(policy_mod.glob_match(a, action, True)
                                               for a in acts):
                if resource is None or policy_mod.glob_match(st["Resource"], resource):
                    return True
        return False

    def test_policy_resources(self):
        """The resources the policy names: the customer role of a real
        rendered template, the queue, the topics, the bucket prefix."""
        env = self.env
        doc = env.core["resources"]["XacctPolicy"]["properties"]["PolicyDocument"]
        role = f"arn:aws:iam::{CUSTOMER}:role/xacct-onboarding-XacctRole-ABCDEFGHIJ123"
        self.assertTrue(self.allowed(doc, "sts:AssumeRole", role))
        self.assertFalse(self.allowed(doc, "sts:AssumeRole",
                                      f"arn:aws:iam::{CUSTOMER}:role/Admin"))
        self.assertFalse(self.allowed(doc, "sts:TagSession", role))
        self.assertTrue(self.allowed(doc, "sqs:ReceiveMessage", env.queue_arn))
        self.assertTrue(self.allowed(doc, "sns:SetTopicAttributes", env.topics["eu-west-1"][0]))
        self.assertTrue(self.allowed(doc, "s3:PutObject",
                                     f"arn:aws:s3:::{env.bucket}/templates/1/x.json"))
        self.assertFalse(self.allowed(doc, "s3:PutObject", f"arn:aws:s3:::{env.bucket}/other"))
        self.assertTrue(self.allowed(doc, "s3:GetObject",
                                     f"arn:aws:s3:::{env.bucket}/templates/1/x.json"))
        self.assertFalse(self.allowed(doc, "s3:GetObject", f"arn:aws:s3:::{env.bucket}/other"))
        self.assertFalse(self.allowed(doc, "sqs:SendMessage", env.queue_arn))

    def test_policy_grants_only_what_the_code_calls(self):
        """Static: the operations named in src/ (SQS X-Amz-Target names,
        query Actions, the S3 client's calls -- a presigned GET counts: S3
        authorizes it as its signer's GetObject), mapped to IAM actions,
        equal the policy's actions (plus the SourceIdentity permission that
        AssumeRole with a SourceIdentity needs)."""
        ops = set()
        s3_ops = set()
        for root, _, files in os.walk(os.path.join(SOURCE, "src")):
            for fn in files:
                if not fn.endswith(".c"):
                    continue
                with open(os.path.join(root, fn)) as f:
                    text = f.read()
                # "ReceiveMessage" (sqs.c's targets, put_param values),
                # "AmazonSQS.GetQueueAttributes", "Action=AssumeRole&..."
                ops |= set(re.findall(r'(?:"|AmazonSQS\.|Action=)((?:Receive|Delete|Change|Get|'
                                      r'Set|List|Assume)[A-Za-z]+)(?:"|&)', text))
                if fn != "s3.c":
                    s3_ops |= set(re.findall(r'\bxacct_s3_(put|delete|presign_get)\(', text))
        catalog = {
            "ReceiveMessage": "sqs:ReceiveMessage", "DeleteMessageBatch": "sqs:DeleteMessage",
            "DeleteMessage": "sqs:DeleteMessage",
            "ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
            "ChangeMessageVisibility": "sqs:ChangeMessageVisibility",
            "GetQueueAttributes": "sqs:GetQueueAttributes",
            "GetTopicAttributes": "sns:GetTopicAttributes",
            "SetTopicAttributes": "sns:SetTopicAttributes",
            "ListSubscriptionsByTopic": "sns:ListSubscriptionsByTopic",
            "AssumeRole": "sts:AssumeRole",
        }
        s3_catalog = {"put": "s3:PutObject", "delete": "s3:DeleteObject",
                      "presign_get": "s3:GetObject"}
        self.assertEqual(s3_ops, set(s3_catalog))
        called = {catalog[o] for o in ops if o in catalog} | {s3_catalog[o] for o in s3_ops}
        doc = load("partner-core.json")["Resources"]["XacctPolicy"]["Properties"]["PolicyDocument"]
        granted = set()
        for st in doc["Statement"]:
            granted |= set(st["Action"])
        self.assertEqual(granted - {"sts:SetSourceIdentity"}, called)

    def test_queue_policy_keeps_other_topics_out(self):
        """A topic the queue policy does not name (another prefix): SNS
        accepts the publish, the queue never gets the message."""
        env = self.env
        region = env.regions[0]
        st = env.deploy("other-topic", "partner-region.json", region,
                        {"QueueArn": env.queue_arn, "TopicName": "someone-else-1"})
        other = env.outputs(st)["TopicArn"]
        good = env.topics[region][0]
        acct = "345678901234"
        env.allow_publish(other, acct)
        env.allow_publish(good, acct)
        env.ctl("POST", "/_fake/sqs/queues/" + env.queue_name + "/purge")
        since = max([r["seq"] for r in env.ctl("GET", "/_fake/records")["records"]] or [0])
        sent = env.queue()["sent"]
        env.publish_as(acct, other, json.dumps({"hello": "denied"}))
        denied = env.ctl("GET", f"/_fake/records?kind=sqs.delivery_denied&since={since}")["records"]
        self.assertEqual([(r["queue"], r["source_arn"]) for r in denied], [(env.queue_arn, other)])
        self.assertEqual(env.queue()["sent"], sent)
        env.publish_as(acct, good, json.dumps({"hello": "allowed"}))
        self.assertEqual(env.queue()["sent"], sent + 1)
        env.ctl("POST", "/_fake/sqs/queues/" + env.queue_name + "/purge")
        env.delete_stack(st["stack_id"])
        self.assertEqual(env.wait_stack(st["stack_id"])["status"], "DELETE_COMPLETE")


if __name__ == "__main__":
    unittest.main()
