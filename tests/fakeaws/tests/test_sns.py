"""SNS in fakeaws, over real sockets: topic policies under SNS's quotas,
AddPermission / RemovePermission, who may publish, signed delivery to SQS
(checked with `openssl dgst -verify` against the served certificate), raw
delivery and subscription confirmation."""

import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import unittest
import urllib.parse
import uuid

from fakeaws import core, sns as sns_mod, sns_topic, sqs as sqs_mod
from fakeaws.testing import FakeAWS

JSON_CT = "application/x-amz-json-1.0"
FORM_CT = "application/x-www-form-urlencoded; charset=utf-8"
OTHER_ACCOUNT = "222222222222"
THIRD_ACCOUNT = "333333333333"
HERE = os.path.dirname(os.path.abspath(__file__))
TESTDATA = os.environ.get("XACCT_TESTDATA") or os.path.normpath(
    os.path.join(HERE, "..", "..", "..", "..", "shared", "testdata"))


def _name(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def canonical(msg):
    """The string SNS signs, built from the documented rules (written here
    independently of the emulator)."""
    if msg["Type"] == "Notification":
        keys = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
    else:
        keys = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token",
                "TopicArn", "Type")
    return "".join("%s\n%s\n" % (k, msg[k]) for k in keys
                   if msg.get(k) is not None).encode("utf-8")


def openssl_verify(msg, cert_pem):
    """True when `openssl dgst` verifies msg's Signature with cert_pem."""
    alg = {"1": "-sha1", "2": "-sha256"}[msg["SignatureVersion"]]
    with tempfile.TemporaryDirectory() as d:
        cert = os.path.join(d, "cert.pem")
        pub = os.path.join(d, "pub.pem")
        sig = os.path.join(d, "sig.bin")
        data = os.path.join(d, "data.bin")
        with open(cert, "wb") as f:
            f.write(cert_pem)
        with open(sig, "wb") as f:
            f.write(base64.b64decode(msg["Signature"]))
        with open(data, "wb") as f:
            f.write(canonical(msg))
        subprocess.run(["openssl", "x509", "-in", cert, "-pubkey", "-noout", "-out", pub],
                       check=True, capture_output=True)
        r = subprocess.run(["openssl", "dgst", alg, "-verify", pub, "-signature", sig, data],
                           capture_output=True, text=True)
        return r.returncode == 0 and "Verified OK" in r.stdout


def _local(tag):
    return tag.rsplit("}", 1)[-1]


def xml_find(root, name):
    for el in root.iter():
        if _local(el.tag) == name:
            return el.text
    return None


class SnsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fa = FakeAWS.start(python=sys.executable)
        cls.other = cls.fa.new_account(OTHER_ACCOUNT)
        cls.other_creds = (cls.other["access_key_id"], cls.other["secret_access_key"])

    @classmethod
    def tearDownClass(cls):
        cls.fa.stop()

    def tearDown(self):
        self.fa.control("POST", "/_fake/sns/confirmation-mode", {"mode": "immediate"})

    # -- helpers -----------------------------------------------------------

    def sns(self, action, creds=None, **params):
        params = dict(params, Action=action, Version="2010-03-31")
        return self.fa.call("sns", "POST", "/", headers={"Content-Type": FORM_CT},
                            body=urllib.parse.urlencode(params), creds=creds)

    def ok(self, action, **params):
        r = self.sns(action, **params)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(_local(r.xml().tag), action + "Response")
        return r.xml()

    def assert_error(self, r, status, code):
        self.assertEqual(r.status, status, r)
        self.assertEqual(_local(r.xml().tag), "ErrorResponse", r)
        self.assertEqual(r.error_code(), code, r)

    def sqs(self, op, body):
        r = self.fa.call("sqs", "POST", "/", body=json.dumps(body),
                         headers={"Content-Type": JSON_CT, "X-Amz-Target": "AmazonSQS." + op})
        self.assertEqual(r.status, 200, r)
        return r.json()

    def topic(self, **attrs):
        params = {"Name": _name("topic")}
        for i, (k, v) in enumerate(attrs.items(), 1):
            params["Attributes.entry.%d.key" % i] = k
            params["Attributes.entry.%d.value" % i] = v
        return xml_find(self.ok("CreateTopic", **params), "TopicArn")

    def queue(self):
        name = _name("q")
        arn = "arn:aws:sqs:%s:%s:%s" % (self.fa.region, self.fa.partner_account, name)
        # SNS delivers only where the queue's policy lets it (as on AWS).
        policy = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage", "Resource": arn,
            "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:%s:*"
                                      % self.fa.partner_account}}}]}
        url = self.sqs("CreateQueue", {"QueueName": name,
                                       "Attributes": {"Policy": json.dumps(policy)}})["QueueUrl"]
        return url, arn

    def subscribe(self, topic, queue_arn, raw=None):
        params = {"TopicArn": topic, "Protocol": "sqs", "Endpoint": queue_arn}
        if raw is not None:
            params["Attributes.entry.1.key"] = "RawMessageDelivery"
            params["Attributes.entry.1.value"] = raw
        return xml_find(self.ok("Subscribe", **params), "SubscriptionArn")

    def drain(self, url):
        out = []
        while True:
            msgs = self.sqs("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 10,
                                               "WaitTimeSeconds": 0}).get("Messages", [])
            if not msgs:
                return out
            for m in msgs:
                out.append(m["Body"])
                self.sqs("DeleteMessage", {"QueueUrl": url, "ReceiptHandle": m["ReceiptHandle"]})

    def policy(self, topic):
        attrs = self.ok("GetTopicAttributes", TopicArn=topic)
        entries = {}
        for e in attrs.iter():
            if _local(e.tag) == "entry":
                kv = {_local(c.tag): c.text for c in e}
                entries[kv["key"]] = kv.get("value")
        return json.loads(entries["Policy"]), entries

    def set_policy(self, topic, doc, **kw):
        text = doc if isinstance(doc, str) else json.dumps(doc)
        return self.sns("SetTopicAttributes", TopicArn=topic, AttributeName="Policy",
                        AttributeValue=text, **kw)

    def publish_statement(self, topic, accounts, sid="xacct-publish-1"):
        return {"Sid": sid, "Effect": "Allow", "Principal": {"AWS": accounts},
                "Action": "SNS:Publish", "Resource": topic}

    def fetch_cert(self, url):
        u = urllib.parse.urlsplit(url)
        self.assertEqual("%s://%s" % (u.scheme, u.netloc), self.fa.https_url)
        self.assertRegex(u.path, r"^/SimpleNotificationService-[0-9a-f]+\.pem$")
        r = self.fa.request("GET", u.path)   # unsigned, like SNS's own
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.body.startswith(b"-----BEGIN CERTIFICATE-----"))
        return r.body

    # -- policies ------------------------------------------------------------

    def test_default_policy_and_attributes(self):
        topic = self.topic()
        doc, attrs = self.policy(topic)
        self.assertEqual(attrs["Owner"], self.fa.partner_account)
        self.assertEqual(attrs["TopicArn"], topic)
        self.assertEqual(attrs["SignatureVersion"], "1")
        st = doc["Statement"][0]
        self.assertEqual(st["Condition"], {"StringEquals": {"AWS:SourceOwner": self.fa.partner_account}})
        self.assertIn("SNS:Publish", st["Action"])
        self.assertEqual(st["Resource"], topic)

    def test_policy_quotas(self):
        topic = self.topic()
        accounts = ["%012d" % (100000000000 + i) for i in range(201)]
        ok100 = {"Version": "2012-10-17", "Statement": [
            self.publish_statement(topic, accounts[i], "s%d" % i) for i in range(100)]}
        self.assertEqual(self.set_policy(topic, ok100).status, 200)
        too_many = dict(ok100, Statement=ok100["Statement"] + [
            self.publish_statement(topic, accounts[100], "s100")])
        self.assert_error(self.set_policy(topic, too_many), 400, "InvalidParameter")

        ok200 = {"Version": "2012-10-17", "Statement": [
            self.publish_statement(topic, accounts[:200])]}
        self.assertEqual(self.set_policy(topic, ok200).status, 200)
        self.assertEqual(len(self.policy(topic)[0]["Statement"][0]["Principal"]["AWS"]), 200)
        self.assert_error(self.set_policy(topic, {"Version": "2012-10-17", "Statement": [
            self.publish_statement(topic, accounts)]}), 400, "InvalidParameter")

        big = {"Version": "2012-10-17", "Statement": [
            self.publish_statement(topic, ["arn:aws:iam::%s:root" % a for a in accounts[:200]],
                                   "big%d" % i) for i in range(5)]}
        text = json.dumps(big)
        self.assertGreater(len(text), 30 * 1024)
        self.assert_error(self.set_policy(topic, text), 400, "InvalidParameter")
        under = dict(big, Statement=big["Statement"][:4])
        self.assertLess(len(json.dumps(under)), 30 * 1024)
        self.assertEqual(self.set_policy(topic, under).status, 200)
        self.assertEqual(self.set_policy(topic, ok200).status, 200)
        # none of the rejected documents replaced the last accepted one
        self.assertEqual(self.policy(topic)[0], ok200)

        for bad in ("not json", json.dumps({"Statement": ok200["Statement"]}),
                    json.dumps({"Version": "2012-10-17"}),
                    json.dumps({"Version": "2012-10-17", "Statement": [dict(
                        self.publish_statement(topic, accounts[0]), Action="sqs:SendMessage")]})):
            with self.subTest(bad=bad[:40]):
                self.assert_error(self.set_policy(topic, bad), 400, "InvalidParameter")

    def test_add_and_remove_permission(self):
        topic = self.topic()
        self.ok("AddPermission", TopicArn=topic, Label="cust-1",
                **{"AWSAccountId.member.1": OTHER_ACCOUNT,
                   "AWSAccountId.member.2": THIRD_ACCOUNT,
                   "ActionName.member.1": "Publish"})
        doc, _ = self.policy(topic)
        st = [s for s in doc["Statement"] if s.get("Sid") == "cust-1"]
        self.assertEqual(len(st), 1)
        self.assertEqual(st[0]["Effect"], "Allow")
        self.assertEqual(sorted(st[0]["Principal"]["AWS"]),
                         ["arn:aws:iam::%s:root" % OTHER_ACCOUNT,
                          "arn:aws:iam::%s:root" % THIRD_ACCOUNT])
        self.assertEqual(st[0]["Action"], "SNS:Publish")
        self.assertEqual(st[0]["Resource"], topic)
        self.assertTrue(any(s.get("Sid") == "__default_statement_ID" for s in doc["Statement"]))
        self.assert_error(self.sns("AddPermission", TopicArn=topic, Label="cust-1",
                                   **{"AWSAccountId.member.1": OTHER_ACCOUNT,
                                      "ActionName.member.1": "Publish"}),
                          400, "InvalidParameter")
        self.assert_error(self.sns("AddPermission", TopicArn=topic, Label="cust-2",
                                   **{"AWSAccountId.member.1": OTHER_ACCOUNT,
                                      "ActionName.member.1": "SendMessage"}),
                          400, "InvalidParameter")
        self.ok("RemovePermission", TopicArn=topic, Label="cust-1")
        doc, _ = self.policy(topic)
        self.assertFalse(any(s.get("Sid") == "cust-1" for s in doc["Statement"]))
        self.assertEqual(len(doc["Statement"]), 1)
        self.assert_error(self.sns("RemovePermission", TopicArn=topic, Label="cust-1"),
                          400, "InvalidParameter")

    # -- publishing ------------------------------------------------------------

    def test_publish_needs_a_policy_statement_for_the_account(self):
        topic = self.topic()
        url, qarn = self.queue()
        self.subscribe(topic, qarn)
        denied = self.sns("Publish", creds=self.other_creds, TopicArn=topic, Message="hi")
        self.assert_error(denied, 403, "AuthorizationError")
        self.assertEqual(self.drain(url), [])

        doc, _ = self.policy(topic)
        doc["Statement"].append(self.publish_statement(topic, [OTHER_ACCOUNT, THIRD_ACCOUNT]))
        self.assertEqual(self.set_policy(topic, doc).status, 200)
        r = self.sns("Publish", creds=self.other_creds, TopicArn=topic, Message="from other")
        self.assertEqual(r.status, 200, r)
        mid = xml_find(r.xml(), "MessageId")
        bodies = [json.loads(b) for b in self.drain(url)]
        self.assertEqual([(b["MessageId"], b["Message"]) for b in bodies], [(mid, "from other")])

        # the owner publishes under the default statement; an explicit Deny wins
        self.assertEqual(self.sns("Publish", TopicArn=topic, Message="own").status, 200)
        doc["Statement"].append({"Sid": "deny-all", "Effect": "Deny", "Principal": "*",
                                 "Action": "SNS:Publish", "Resource": topic})
        self.assertEqual(self.set_policy(topic, doc).status, 200)
        self.assert_error(self.sns("Publish", TopicArn=topic, Message="own"), 403,
                          "AuthorizationError")
        self.assertEqual([json.loads(b)["Message"] for b in self.drain(url)], ["own"])

        st, snap = self.fa.control("GET", "/_fake/sns/topics/" + urllib.parse.quote(topic, safe=""))
        self.assertEqual(st, 200, snap)
        self.assertEqual((snap["published"], snap["denied"]), (2, 2))

    def test_publish_parameter_rules(self):
        topic = self.topic()
        self.assert_error(self.sns("Publish", TopicArn=topic, Message=""), 400, "InvalidParameter")
        self.assert_error(self.sns("Publish", TopicArn=topic, Message="x" * 262145),
                          400, "InvalidParameter")
        self.assertEqual(self.sns("Publish", TopicArn=topic, Message="x" * 262144).status, 200)
        for subject in ("line\nbreak", "x" * 101, "caf\u00e9", " leading space"):
            with self.subTest(subject=subject):
                self.assert_error(self.sns("Publish", TopicArn=topic, Message="m", Subject=subject),
                                  400, "InvalidParameter")
        self.assert_error(self.sns("Publish", TopicArn=topic + "-missing", Message="m"),
                          404, "NotFound")

    def test_other_account_cannot_administer_topic(self):
        topic = self.topic()
        for action, params in (("GetTopicAttributes", {}),
                               ("SetTopicAttributes", {"AttributeName": "DisplayName",
                                                       "AttributeValue": "x"}),
                               ("AddPermission", {"Label": "mine",
                                                  "AWSAccountId.member.1": OTHER_ACCOUNT,
                                                  "ActionName.member.1": "Publish"})):
            with self.subTest(action=action):
                self.assert_error(self.sns(action, creds=self.other_creds, TopicArn=topic,
                                           **params), 403, "AuthorizationError")

    def _check_envelope(self, body, topic, version, subject):
        self.assertTrue(body.startswith('{\n  "Type" : "Notification",\n'), body[:80])
        msg = json.loads(body)
        expect = ["Type", "MessageId", "TopicArn"] + (["Subject"] if subject else []) + [
            "Message", "Timestamp", "SignatureVersion", "Signature", "SigningCertURL",
            "UnsubscribeURL"]
        self.assertEqual(list(msg), expect)
        self.assertEqual(msg["TopicArn"], topic)
        self.assertEqual(msg["SignatureVersion"], version)
        self.assertRegex(msg["Timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertTrue(msg["UnsubscribeURL"].startswith(
            self.fa.https_url + "/?Action=Unsubscribe&SubscriptionArn=" + topic + ":"))
        return msg

    def test_signed_envelope_verifies_with_openssl(self):
        for version in ("1", "2"):
            with self.subTest(SignatureVersion=version):
                topic = self.topic(SignatureVersion=version)
                url, qarn = self.queue()
                self.subscribe(topic, qarn)
                text = 'line one\r\nline "two" \u00e9\U0001F34C {"json": true}'
                self.ok("Publish", TopicArn=topic, Message=text, Subject="Hello there")
                self.ok("Publish", TopicArn=topic, Message="no subject")
                bodies = self.drain(url)
                self.assertEqual(len(bodies), 2)
                # non-ASCII travels as JSON escapes, beyond the BMP as a surrogate pair
                self.assertIn("\\u00e9\\ud83c\\udf4c", bodies[0])
                with_subject = self._check_envelope(bodies[0], topic, version, True)
                without = self._check_envelope(bodies[1], topic, version, False)
                self.assertEqual(with_subject["Message"], text)
                self.assertEqual(with_subject["Subject"], "Hello there")
                cert = self.fetch_cert(with_subject["SigningCertURL"])
                self.assertTrue(openssl_verify(with_subject, cert))
                self.assertTrue(openssl_verify(without, cert))
                # the check can fail: a changed field, or the other hash
                self.assertFalse(openssl_verify(dict(with_subject, Message=text + "!"), cert))
                self.assertFalse(openssl_verify(dict(without, Subject="added"), cert))
                other = {"1": "2", "2": "1"}[version]
                self.assertFalse(openssl_verify(dict(without, SignatureVersion=other), cert))
                # the served certificate is issued by the emulator's CA
                with tempfile.NamedTemporaryFile(suffix=".pem") as f:
                    f.write(cert)
                    f.flush()
                    r = subprocess.run(["openssl", "verify", "-CAfile", self.fa.ca_file, f.name],
                                       capture_output=True, text=True)
                    self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_canonical_string_matches_real_sns_vectors(self):
        # The helper above is what judges the emulator; check it on messages
        # AWS itself signed (SignatureVersion 1 and 2).
        sns_dir = os.path.join(TESTDATA, "sns")
        for name in ("notification-sv2-aws-php-2022-with-subject.json",
                     "notification-sv1-aws-php-2022-no-subject.json",
                     "subscriptionconfirmation-sv1-aws-sns-validator-2022.json"):
            with self.subTest(vector=name):
                with open(os.path.join(sns_dir, name), encoding="utf-8") as f:
                    msg = json.load(f)
                cert_name = msg["SigningCertURL"].rsplit("/", 1)[-1]
                with open(os.path.join(sns_dir, cert_name), "rb") as f:
                    cert = f.read()
                self.assertTrue(openssl_verify(msg, cert))
                self.assertFalse(openssl_verify(dict(msg, Message=msg["Message"] + " "), cert))

    def test_raw_message_delivery(self):
        topic = self.topic()
        raw_url, raw_arn = self.queue()
        env_url, env_arn = self.queue()
        self.subscribe(topic, raw_arn, raw="true")
        self.subscribe(topic, env_arn, raw="false")
        text = '{"RequestType":"Create","x":1}'
        self.ok("Publish", TopicArn=topic, Message=text, Subject="s")
        self.assertEqual(self.drain(raw_url), [text])
        env = self.drain(env_url)
        self.assertEqual(len(env), 1)
        self.assertEqual(json.loads(env[0])["Message"], text)
        self.assert_error(self.sns("Subscribe", TopicArn=topic, Protocol="sqs", Endpoint=raw_arn,
                                   **{"Attributes.entry.1.key": "RawMessageDelivery",
                                      "Attributes.entry.1.value": "yes"}),
                          400, "InvalidParameter")
        subs = self.ok("ListSubscriptionsByTopic", TopicArn=topic)
        endpoints = sorted(e.text for e in subs.iter() if _local(e.tag) == "Endpoint")
        self.assertEqual(endpoints, sorted([raw_arn, env_arn]))

    def test_subscription_confirmation(self):
        st, _ = self.fa.control("POST", "/_fake/sns/confirmation-mode", {"mode": "confirm"})
        self.assertEqual(st, 200)
        topic = self.topic(SignatureVersion="2")
        url, qarn = self.queue()
        self.assertEqual(self.subscribe(topic, qarn), "pending confirmation")
        bodies = self.drain(url)
        self.assertEqual(len(bodies), 1)
        conf = json.loads(bodies[0])
        self.assertEqual(conf["Type"], "SubscriptionConfirmation")
        self.assertEqual(conf["TopicArn"], topic)
        self.assertTrue(openssl_verify(conf, self.fetch_cert(conf["SigningCertURL"])))
        sub_url = urllib.parse.urlsplit(conf["SubscribeURL"])
        self.assertEqual("%s://%s" % (sub_url.scheme, sub_url.netloc), self.fa.https_url)
        q = urllib.parse.parse_qs(sub_url.query)
        self.assertEqual(q["Action"], ["ConfirmSubscription"])
        self.assertEqual(q["Token"], [conf["Token"]])

        # not delivered while pending
        self.ok("Publish", TopicArn=topic, Message="early")
        self.assertEqual(self.drain(url), [])
        bad = self.fa.request("GET", "/?Action=ConfirmSubscription&TopicArn=%s&Token=%s"
                              % (topic, "0" * len(conf["Token"])))
        self.assertEqual(bad.status, 400, bad)
        r = self.fa.request("GET", sub_url.path + "?" + sub_url.query)   # unsigned
        self.assertEqual(r.status, 200, r)
        sub_arn = xml_find(r.xml(), "SubscriptionArn")
        self.assertTrue(sub_arn.startswith(topic + ":"))
        self.ok("Publish", TopicArn=topic, Message="late")
        self.assertEqual([json.loads(b)["Message"] for b in self.drain(url)], ["late"])

        # the UnsubscribeURL works unsigned too, and stops delivery
        self.ok("Publish", TopicArn=topic, Message="one more")
        note = json.loads(self.drain(url)[0])
        u = urllib.parse.urlsplit(note["UnsubscribeURL"])
        r = self.fa.request("GET", u.path + "?" + u.query)
        self.assertEqual(r.status, 200, r)
        self.ok("Publish", TopicArn=topic, Message="after unsubscribe")
        self.assertEqual(self.drain(url), [])


class PublishAsTest(unittest.TestCase):
    """publish_as, the in-process entry the CloudFormation simulator uses."""

    def setUp(self):
        w = core.World(region="us-east-1", partner_account="111111111111")
        w.https_url, w.http_url = "https://127.0.0.1:1", "http://127.0.0.1:2"

        class Pki:
            signing_cert_pem = "-----BEGIN CERTIFICATE-----\n"

            def sign(self, data, alg):
                return hashlib.new(alg, data).digest()

        w.pki = Pki()
        self.sqs = w.services["sqs"] = sqs_mod.Service(w)
        self.sns = w.services["sns"] = sns_mod.Service(w)
        self.q = self.sqs.create_queue("us-east-1", "111111111111", "inbox", {
            "Policy": sqs_mod._own_topics_policy("us-east-1", "111111111111", "inbox")})
        self.t = self.sns.create_topic("us-east-1", "111111111111", "onboard")
        self.sub = sns_topic.Subscription(self.t, self.q.arn, "111111111111", False)
        self.sub.confirmed = True
        self.t.subscriptions.append(self.sub)

    def test_denied_without_statement_allowed_with_one(self):
        with self.assertRaises(core.AccessDenied):
            self.sns.publish_as(OTHER_ACCOUNT, self.t.arn, "{}", "AWS CloudFormation custom resource request")
        self.assertEqual(len(self.q.messages), 0)
        doc = json.loads(self.t.policy)
        doc["Statement"].append({"Sid": "xacct-publish-1", "Effect": "Allow",
                                 "Principal": {"AWS": [OTHER_ACCOUNT]},
                                 "Action": "SNS:Publish", "Resource": self.t.arn})
        self.sns._set_attr(self.t, "Policy", json.dumps(doc))
        mid = self.sns.publish_as(OTHER_ACCOUNT, self.t.arn, '{"RequestType":"Create"}',
                                  "AWS CloudFormation custom resource request")
        bodies = [json.loads(m.body) for m in self.q.messages.values()]
        self.assertEqual([(b["MessageId"], b["Message"], b["Subject"]) for b in bodies],
                         [(mid, '{"RequestType":"Create"}',
                           "AWS CloudFormation custom resource request")])
        with self.assertRaises(core.AccessDenied):
            self.sns.publish_as(THIRD_ACCOUNT, self.t.arn, "{}", None)
        with self.assertRaises(core.AccessDenied):
            self.sns.publish_as(OTHER_ACCOUNT, self.t.arn + "-missing", "{}", None)


if __name__ == "__main__":
    unittest.main()
