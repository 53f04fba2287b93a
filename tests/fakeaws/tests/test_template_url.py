"""Presigned GetObject URLs of a private object, and CloudFormation stacks
launched from a TemplateURL by another account, over real sockets: S3's
answers (AccessDenied without auth, 200 with a valid presigned URL,
AccessDenied "Request has expired", SignatureDoesNotMatch,
InvalidAccessKeyId, AuthorizationQueryParametersError over a week), and the
simulator reading the template as the launching account, never as the
bucket owner.

Run: cd tests/fakeaws && python3 -m unittest -v tests.test_template_url
"""
import json
import time
import unittest
import uuid
from urllib.parse import urlsplit

from fakeaws import sigv4
from fakeaws.testing import FakeAWS

FA = None
CUSTOMER = "222200004444"


def setUpModule():
    global FA
    FA = FakeAWS.start()


def tearDownModule():
    FA.stop()


def target_of(url):
    u = urlsplit(url)
    return u.path + "?" + u.query


def role_template(name):
    return {"AWSTemplateFormatVersion": "2010-09-09",
            "Resources": {"R": {"Type": "AWS::IAM::Role", "Properties": {
                "RoleName": name,
                "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
                     "Action": "sts:AssumeRole"}]}}}}}


class _PrivateObject(unittest.TestCase):
    """A private bucket of the partner with one template in it."""

    def setUp(self):
        self.fa = FA
        self.bucket = "xacct-templates-" + uuid.uuid4().hex[:8]
        self.assertEqual(self.fa.call("s3", "PUT", "/" + self.bucket).status, 200)
        self.key = "/%s/templates/%s/%s.json" % (self.bucket, CUSTOMER, uuid.uuid4().hex)
        self.body = json.dumps(role_template("r-" + uuid.uuid4().hex[:8])).encode()
        r = self.fa.call("s3", "PUT", self.key, body=self.body,
                         headers={"Content-Type": "application/json"})
        self.assertEqual(r.status, 200, r.text())

    def presign(self, expires=3600, amz_date=None, creds=None):
        akid, secret, token = creds or self.fa.creds
        return sigv4.presign("GET", self.fa.https_url + self.key, akid, secret, self.fa.region,
                             "s3", expires=expires, session_token=token, amz_date=amz_date)

    def get(self, url):
        return self.fa.request("GET", target_of(url))


class PresignedGetTest(_PrivateObject):
    def test_private_object_needs_auth(self):
        r = self.fa.request("GET", self.key)
        self.assertEqual((r.status, r.error_code()), (403, "AccessDenied"))
        self.assertTrue(r.text().startswith("<?xml"))

    def test_valid_presigned_url(self):
        r = self.get(self.presign())
        self.assertEqual((r.status, r.body), (200, self.body))
        # The longest SigV4 allows is fine too.
        self.assertEqual(self.get(self.presign(expires=604800)).status, 200)

    def test_expired(self):
        past = sigv4.amz_now(time.time() - 3600)
        r = self.get(self.presign(expires=600, amz_date=past))
        self.assertEqual((r.status, r.error_code()), (403, "AccessDenied"))
        self.assertEqual(r.error_message(), "Request has expired")

    def test_tampered(self):
        url = self.presign()
        sig = url.rsplit("X-Amz-Signature=", 1)[1]
        flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
        r = self.get(url.replace(sig, flipped))
        self.assertEqual((r.status, r.error_code()), (403, "SignatureDoesNotMatch"))
        # A longer life than was signed.
        r = self.get(url.replace("X-Amz-Expires=3600", "X-Amz-Expires=7200"))
        self.assertEqual((r.status, r.error_code()), (403, "SignatureDoesNotMatch"))
        # Another object under the same signature.
        r = self.get(url.replace("/templates/", "/other/"))
        self.assertEqual((r.status, r.error_code()), (403, "SignatureDoesNotMatch"))

    def test_unknown_key(self):
        r = self.get(self.presign(creds=("AKIAUNKNOWN000000000", "secret", None)))
        self.assertEqual((r.status, r.error_code()), (403, "InvalidAccessKeyId"))

    def test_over_a_week(self):
        r = self.get(self.presign(expires=604801))
        self.assertEqual((r.status, r.error_code()), (400, "AuthorizationQueryParametersError"))

    def test_another_accounts_keys(self):
        other = self.fa.new_account(CUSTOMER)
        keys = (other["access_key_id"], other["secret_access_key"], None)
        r = self.get(self.presign(creds=keys))
        self.assertEqual((r.status, r.error_code()), (403, "AccessDenied"))


class StackFromTemplateUrlTest(_PrivateObject):
    """The simulator's CreateStack / UpdateStack with template_url."""

    def create(self, **body):
        name = "s-" + uuid.uuid4().hex[:8]
        return self.fa.control("POST", "/_fake/cfn/stacks",
                               dict({"account_id": CUSTOMER, "stack_name": name}, **body))

    def wait(self, stack_id):
        from urllib.parse import quote
        st, doc = self.fa.control("GET", "/_fake/cfn/stacks/%s?wait=30" % quote(stack_id, safe=""))
        self.assertEqual(st, 200, doc)
        return doc

    def test_presigned_url_launches(self):
        st, doc = self.create(template_url=self.presign())
        self.assertEqual(st, 201, doc)
        self.assertEqual(self.wait(doc["stack_id"])["status"], "CREATE_COMPLETE")
        # The fetch went out unsigned by the customer: the object's own
        # signature, the bucket owner's key.
        recs = [r for r in self.fa.records("request")
                if r.get("service") == "s3" and r.get("method") == "GET" and
                r.get("path") == self.key]
        self.assertEqual([r["account"] for r in recs], [self.fa.partner_account])

    def test_refusals_are_validation_errors(self):
        cases = [
            (self.fa.https_url + self.key, 403, "AccessDenied", "Access Denied"),
            (self.presign(expires=60, amz_date=sigv4.amz_now(time.time() - 600)), 403,
             "AccessDenied", "Request has expired"),
            (self.presign().replace("X-Amz-Expires=3600", "X-Amz-Expires=3601"), 403,
             "SignatureDoesNotMatch", None),
            (self.presign(expires=604801), 400, "AuthorizationQueryParametersError", None),
        ]
        for url, status, code, message in cases:
            with self.subTest(code=code, message=message):
                st, doc = self.create(template_url=url)
                self.assertEqual(st, 400, doc)
                self.assertEqual(doc["error"], "ValidationError")
                self.assertTrue(doc["message"].startswith("S3 error: "), doc)
                self.assertEqual((doc["s3_error"]["status"], doc["s3_error"]["code"]),
                                 (status, code))
                if message:
                    self.assertEqual(doc["s3_error"]["message"], message)

    def test_only_s3_urls(self):
        for url in ("https://example.com/t.json", "ftp://x/y", "",
                    self.fa.https_url + "/_fake/s3/objects" + self.key,
                    self.fa.https_url + "/" + self.bucket,
                    self.fa.https_url.replace("https://", "https://user:pw@") + self.key):
            with self.subTest(url=url):
                st, doc = self.create(template_url=url)
                self.assertEqual((st, doc["error"]), (400, "ValidationError"))
                self.assertEqual(doc["message"], "TemplateURL must be a supported URL.")
        st, doc = self.create(template_url=self.presign(), template=role_template("x"))
        self.assertEqual((st, doc["error"]), (400, "ValidationError"))

    def test_update_from_url(self):
        st, doc = self.create(template=role_template("u-" + uuid.uuid4().hex[:8]))
        self.assertEqual(st, 201, doc)
        sid = doc["stack_id"]
        self.assertEqual(self.wait(sid)["status"], "CREATE_COMPLETE")
        from urllib.parse import quote
        path = "/_fake/cfn/stacks/%s/update" % quote(sid, safe="")
        st, doc = self.fa.control("POST", path, {"template_url": self.fa.https_url + self.key})
        self.assertEqual((st, doc["s3_error"]["code"]), (400, "AccessDenied"))
        st, doc = self.fa.control("POST", path, {"template_url": self.presign()})
        self.assertEqual(st, 200, doc)
        self.assertEqual(self.wait(sid)["status"], "UPDATE_COMPLETE")


if __name__ == "__main__":
    unittest.main()
