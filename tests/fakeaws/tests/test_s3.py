"""S3 objects and the presigned CloudFormation ResponseURL receiver, over
real sockets.

Run: cd tests/fakeaws && python3 -m unittest -v tests.test_s3
"""
import base64
import hashlib
import json
import time
import unittest
import uuid
from urllib.parse import urlsplit, quote

from fakeaws.testing import FakeAWS

FA = None


def setUpModule():
    global FA
    FA = FakeAWS.start()


def tearDownModule():
    FA.stop()


def target_of(url):
    u = urlsplit(url)
    return u.path + "?" + u.query


class ObjectsTest(unittest.TestCase):
    def setUp(self):
        self.fa = FA
        self.bucket = "xacct-templates-" + uuid.uuid4().hex[:8]
        r = self.s3("PUT", "/" + self.bucket)
        self.assertEqual(r.status, 200, r.text())

    def s3(self, method, path, body=b"", headers=None, creds=None, region=None):
        h = dict(headers or {})
        return self.fa.call("s3", method, path, body=body, headers=h, creds=creds, region=region)

    def test_put_get_head_delete(self):
        key = "/%s/templates/222200000000.json" % self.bucket
        body = json.dumps({"Resources": {}}).encode()
        r = self.s3("PUT", key, body, {"Content-Type": "application/json"})
        self.assertEqual(r.status, 200, r.text())
        self.assertEqual(r.headers["etag"], '"%s"' % hashlib.md5(body).hexdigest())

        r = self.s3("GET", key)
        self.assertEqual((r.status, r.body), (200, body))
        self.assertEqual(r.headers["content-type"], "application/json")

        r = self.s3("HEAD", key)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["content-length"], str(len(body)))

        r = self.s3("DELETE", key)
        self.assertEqual(r.status, 204)
        r = self.s3("GET", key)
        self.assertEqual(r.status, 404)
        self.assertEqual(r.error_code(), "NoSuchKey")
        self.assertIn("<Key>templates/222200000000.json</Key>", r.text())
        self.assertTrue(r.text().startswith("<?xml"))
        self.assertEqual(self.s3("HEAD", key).status, 404)
        # Deleting what is not there is still 204, like S3.
        self.assertEqual(self.s3("DELETE", key).status, 204)

    def test_unsigned_payload_and_content_md5(self):
        key = "/%s/a.txt" % self.bucket
        body = b"hello"
        from fakeaws import sigv4
        akid, secret, _ = self.fa.creds
        h = sigv4.sign("PUT", self.fa.https_url + key, {}, body, akid, secret, self.fa.region, "s3",
                       payload_hash="UNSIGNED-PAYLOAD")
        self.assertEqual(h["x-amz-content-sha256"], "UNSIGNED-PAYLOAD")
        r = self.fa.request("PUT", key, body, h)
        self.assertEqual(r.status, 200, r.text())
        bad_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
        r = self.s3("PUT", key, body, {"Content-MD5": bad_md5})
        self.assertEqual((r.status, r.error_code()), (400, "BadDigest"))

    def test_object_lock_wants_an_integrity_header(self):
        bucket = "xacct-locked-" + uuid.uuid4().hex[:8]
        r = self.s3("PUT", "/" + bucket, headers={"x-amz-bucket-object-lock-enabled": "true"})
        self.assertEqual(r.status, 200, r.text())
        key = "/%s/t.json" % bucket
        body = b"{}"
        r = self.s3("PUT", key, body)
        self.assertEqual((r.status, r.error_code()), (400, "InvalidRequest"))
        self.assertIn("Content-MD5 OR x-amz-checksum-", r.text())
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        self.assertEqual(self.s3("PUT", key, body, {"Content-MD5": md5}).status, 200)
        sha = base64.b64encode(hashlib.sha256(body).digest()).decode()
        self.assertEqual(self.s3("PUT", key, body, {"x-amz-checksum-sha256": sha}).status, 200)
        bad = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
        r = self.s3("PUT", key, body, {"x-amz-checksum-sha256": bad})
        self.assertEqual((r.status, r.error_code()), (400, "BadDigest"))
        # An ordinary bucket takes a PutObject without either.
        self.assertEqual(self.s3("PUT", "/%s/t.json" % self.bucket, body).status, 200)

    def test_payload_hash_must_match(self):
        from fakeaws import sigv4
        akid, secret, _ = self.fa.creds
        key = "/%s/b.txt" % self.bucket
        h = sigv4.sign("PUT", self.fa.https_url + key, {}, b"one", akid, secret, self.fa.region, "s3")
        r = self.fa.request("PUT", key, b"two", h)
        self.assertEqual((r.status, r.error_code()), (400, "XAmzContentSHA256Mismatch"))

    def test_errors(self):
        r = self.s3("GET", "/no-such-bucket-%s/k" % uuid.uuid4().hex[:8])
        self.assertEqual((r.status, r.error_code()), (404, "NoSuchBucket"))
        other = self.fa.new_account("444400000000")
        r = self.s3("GET", "/%s/k" % self.bucket, creds=other)
        self.assertEqual((r.status, r.error_code()), (403, "AccessDenied"))
        r = self.s3("PUT", "/%s/k" % self.bucket, b"x", creds=other)
        self.assertEqual((r.status, r.error_code()), (403, "AccessDenied"))
        r = self.s3("PUT", "/" + self.bucket)
        self.assertEqual((r.status, r.error_code()), (409, "BucketAlreadyOwnedByYou"))
        r = self.s3("PUT", "/" + self.bucket, creds=other)
        self.assertEqual((r.status, r.error_code()), (409, "BucketAlreadyExists"))
        r = self.s3("GET", "/%s/k" % self.bucket, region="eu-west-1")
        self.assertEqual((r.status, r.error_code()), (400, "AuthorizationHeaderMalformed"))
        r = self.fa.request("GET", "/%s/k" % self.bucket)   # anonymous
        self.assertEqual((r.status, r.error_code()), (403, "AccessDenied"))
        r = self.s3("PUT", "/Bad_Bucket")
        self.assertEqual((r.status, r.error_code()), (400, "InvalidBucketName"))


class ResponseUrlTest(unittest.TestCase):
    def setUp(self):
        self.fa = FA
        self.fa.control("DELETE", "/_fake/s3/responses")
        self.stack_id = ("arn:aws:cloudformation:%s:222200000000:stack/xacct-onboarding/%s"
                         % (self.fa.region, uuid.uuid4()))
        self.request_id = str(uuid.uuid4())

    def mint(self, **extra):
        st, doc = self.fa.control("POST", "/_fake/s3/response-urls", dict(
            {"stack_id": self.stack_id, "logical_id": "PhoneHome", "request_id": self.request_id},
            **extra))
        self.assertEqual(st, 200, doc)
        return doc["url"], doc["key"]

    def answer(self, status="SUCCESS", **extra):
        doc = {"Status": status, "PhysicalResourceId": "xacct-222200000000",
               "StackId": self.stack_id, "RequestId": self.request_id,
               "LogicalResourceId": "PhoneHome"}
        doc.update(extra)
        return json.dumps(doc).encode()

    def put(self, url, body, headers=None):
        return self.fa.request("PUT", target_of(url), body, headers or {})

    def responses(self):
        st, doc = self.fa.control("GET", "/_fake/s3/responses")
        self.assertEqual(st, 200)
        return doc["responses"]

    def test_url_shape(self):
        url, key = self.mint()
        u = urlsplit(url)
        self.assertEqual("%s://%s" % (u.scheme, u.netloc), self.fa.https_url)
        region = self.fa.region.replace("-", "")
        self.assertEqual(u.path, "/cloudformation-custom-resource-response-%s/%s%%7CPhoneHome%%7C%s"
                         % (region, quote(self.stack_id, safe="/"), self.request_id))
        self.assertIn("arn%3Aaws%3Acloudformation%3A", u.path)
        q = dict(p.split("=", 1) for p in u.query.split("&"))
        self.assertEqual(q["X-Amz-Algorithm"], "AWS4-HMAC-SHA256")
        self.assertEqual(q["X-Amz-SignedHeaders"], "host")
        self.assertEqual(q["X-Amz-Expires"], "7200")
        self.assertRegex(q["X-Amz-Signature"], r"^[0-9a-f]{64}$")
        self.assertEqual(key, "%s|PhoneHome|%s" % (self.stack_id, self.request_id))

    def test_accepts_the_right_put(self):
        url, key = self.mint(request_type="Create")
        r = self.put(url, self.answer(Data={"RoleArn": "arn:aws:iam::222200000000:role/x"}))
        self.assertEqual(r.status, 200, r.text())
        [rec] = self.responses()
        self.assertEqual(rec["key"], key)
        self.assertEqual(rec["status"], "SUCCESS")
        self.assertEqual(rec["physical_resource_id"], "xacct-222200000000")
        self.assertEqual(rec["data"], {"RoleArn": "arn:aws:iam::222200000000:role/x"})
        self.assertTrue(rec["valid"], rec["problems"])
        self.assertFalse(rec["too_large"])
        self.assertEqual(json.loads(rec["body"])["RequestId"], self.request_id)

    def test_empty_content_type_header_is_fine(self):
        url, _ = self.mint()
        r = self.put(url, self.answer(), {"Content-Type": ""})
        self.assertEqual(r.status, 200, r.text())
        self.assertEqual(len(self.responses()), 1)

    def test_rejects_a_content_type(self):
        url, _ = self.mint()
        for ctype in ("application/json", "application/x-www-form-urlencoded"):
            with self.subTest(ctype=ctype):
                r = self.put(url, self.answer(), {"Content-Type": ctype})
                self.assertEqual(r.status, 403)
                self.assertEqual(r.error_code(), "SignatureDoesNotMatch")
        self.assertEqual(self.responses(), [])

    def test_rejects_a_tampered_url(self):
        url, _ = self.mint()
        sig = url.rsplit("X-Amz-Signature=", 1)[1]
        flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
        r = self.put(url.replace(sig, flipped), self.answer())
        self.assertEqual((r.status, r.error_code()), (403, "SignatureDoesNotMatch"))
        # Another request id in the path: the signature no longer covers it.
        other = url.replace(self.request_id, str(uuid.uuid4()))
        r = self.put(other, self.answer())
        self.assertEqual((r.status, r.error_code()), (403, "SignatureDoesNotMatch"))
        # Without the signature at all.
        r = self.put(url.split("?", 1)[0], self.answer())
        self.assertEqual(r.status, 403)
        self.assertEqual(self.responses(), [])

    def test_expired_url(self):
        url, _ = self.mint(expires=1)
        time.sleep(2.1)
        r = self.put(url, self.answer())
        self.assertEqual(r.status, 403)
        self.assertEqual(r.error_code(), "AccessDenied")
        self.assertIn("expired", r.error_message())

    def test_second_put_overwrites(self):
        url, key = self.mint()
        self.assertEqual(self.put(url, self.answer("FAILED", Reason="first")).status, 200)
        self.assertEqual(self.put(url, self.answer("SUCCESS")).status, 200)
        recs = self.responses()
        self.assertEqual([r["status"] for r in recs], ["FAILED", "SUCCESS"])
        bucket = "cloudformation-custom-resource-response-" + self.fa.region.replace("-", "")
        st, body = self.fa.control("GET", "/_fake/s3/objects/%s/%s" % (bucket, quote(key, safe="")))
        self.assertEqual(st, 200)
        self.assertEqual(body["Status"], "SUCCESS")

    def test_oversized_and_invalid_answers_are_flagged(self):
        url, _ = self.mint()
        big = self.answer("FAILED", Reason="x" * 5000)
        self.assertGreater(len(big), 4096)
        self.assertEqual(self.put(url, big).status, 200)
        self.assertEqual(self.put(url, b"not json").status, 200)
        self.assertEqual(self.put(url, self.answer("OK")).status, 200)
        self.assertEqual(self.put(url, self.answer(RequestId="another")).status, 200)
        no_pid = json.loads(self.answer())
        del no_pid["PhysicalResourceId"]
        self.assertEqual(self.put(url, json.dumps(no_pid).encode()).status, 200)
        self.assertEqual(self.put(url, self.answer("FAILED")).status, 200)
        recs = self.responses()
        self.assertEqual(len(recs), 6)
        self.assertTrue(recs[0]["too_large"])
        self.assertEqual(recs[0]["size"], len(big))
        self.assertIn("Response object is too long.", recs[0]["problems"])
        for rec in recs:
            self.assertFalse(rec["valid"], rec)
        self.assertTrue(any("RequestId" in p for p in recs[3]["problems"]))
        self.assertTrue(any("PhysicalResourceId" in p for p in recs[4]["problems"]))
        self.assertTrue(any("Reason is required" in p for p in recs[5]["problems"]))

    def test_injected_failures(self):
        url, _ = self.mint()
        st, _ = self.fa.control("POST", "/_fake/s3/responses/faults", {"status": 503, "count": 2})
        self.assertEqual(st, 200)
        for _ in range(2):
            r = self.put(url, self.answer())
            self.assertEqual((r.status, r.error_code()), (503, "ServiceUnavailable"))
        self.assertEqual(self.responses(), [])
        self.assertEqual(self.put(url, self.answer()).status, 200)
        st, _ = self.fa.control("POST", "/_fake/s3/responses/faults", {"status": 403, "count": 1})
        r = self.put(url, self.answer())
        self.assertEqual((r.status, r.error_code()), (403, "AccessDenied"))
        self.assertEqual(len(self.responses()), 1)

    def test_only_the_response_urls_may_write_there(self):
        url, _ = self.mint()
        r = self.fa.call("s3", "PUT", urlsplit(url).path, body=self.answer())
        self.assertEqual((r.status, r.error_code()), (403, "AccessDenied"))
        self.assertEqual(self.responses(), [])


if __name__ == "__main__":
    unittest.main()
