"""IMDSv2 and the container credentials endpoint."""
import calendar
import time
import unittest

from tests import FakeAWSCase

TTL = "X-aws-ec2-metadata-token-ttl-seconds"
CREDS = "/latest/meta-data/iam/security-credentials/"


def epoch(iso):
    return calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ"))


class IMDS(FakeAWSCase):
    def req(self, method, path, headers=None):
        return self.fa.request(method, path, headers=headers or {}, base=self.fa.http_url)

    def token(self, ttl="60"):
        r = self.req("PUT", "/latest/api/token", {TTL: ttl})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers[TTL.lower()], ttl)
        return r.text()

    def test_token_ttl_is_validated(self):
        for bad in ("0", "21601", "-1", "abc", ""):
            with self.subTest(ttl=bad):
                self.assertEqual(self.req("PUT", "/latest/api/token", {TTL: bad}).status, 400)
        self.assertEqual(self.req("PUT", "/latest/api/token").status, 400)
        self.token("1")
        self.token("21600")
        self.assertEqual(self.req("GET", "/latest/api/token", {TTL: "60"}).status, 405)

    def test_imdsv1_and_bad_tokens_are_refused(self):
        self.assertEqual(self.req("GET", CREDS).status, 401)
        self.assertEqual(self.req("GET", CREDS, {"X-aws-ec2-metadata-token": "forged"}).status, 401)
        tok = self.token("1")
        self.assertEqual(self.req("GET", CREDS, {"X-aws-ec2-metadata-token": tok}).status, 200)
        time.sleep(1.1)
        self.assertEqual(self.req("GET", CREDS, {"X-aws-ec2-metadata-token": tok}).status, 401)
        # a proxied request is refused like the real service does
        self.assertEqual(self.req("PUT", "/latest/api/token", {TTL: "60", "X-Forwarded-For": "1.2.3.4"}).status, 403)

    def test_credentials_document_and_use(self):
        h = {"X-aws-ec2-metadata-token": self.token()}
        role = self.req("GET", CREDS, h).text()
        self.assertEqual(role, "xacct-partner")
        self.assertEqual(self.req("GET", CREDS + "other-role", h).status, 404)
        before = len(self.fa.records("credentials_issued"))
        doc = self.req("GET", CREDS + role, h).json()
        self.assertEqual(doc["Code"], "Success")
        self.assertEqual(doc["Type"], "AWS-HMAC")
        self.assertTrue(doc["AccessKeyId"].startswith("ASIA"))
        for k in ("SecretAccessKey", "Token", "LastUpdated"):
            self.assertTrue(doc[k])
        self.assertAlmostEqual(epoch(doc["Expiration"]), time.time() + 3600, delta=5)
        r = self.whoami(creds=doc)
        self.assertEqual(r.status, 200, r)
        self.assertIn(b"arn:aws:sts::111111111111:assumed-role/xacct-partner/", r.body)
        recs = self.fa.records("credentials_issued")
        self.assertEqual(len(recs), before + 1)
        self.assertEqual(recs[-1]["access_key_id"], doc["AccessKeyId"])
        self.assertEqual(recs[-1]["source"], "imds")

    def test_expiry_is_configurable_and_refresh_is_recorded(self):
        st, cfg = self.fa.control("POST", "/_fake/credentials/config", {"expiry_seconds": 2})
        self.assertEqual((st, cfg["expiry_seconds"]), (200, 2))
        self.assertEqual(self.fa.control("POST", "/_fake/credentials/config", {"expiry_seconds": 0})[0], 400)
        try:
            first = self.imds_creds()
            self.assertAlmostEqual(epoch(first["Expiration"]), time.time() + 2, delta=2)
            self.assertEqual(self.whoami(creds=first).status, 200)
            time.sleep(2.2)
            self.assertEqual(self.whoami(creds=first).error_code(), "ExpiredToken")
            second = self.imds_creds()
            self.assertNotEqual(first["AccessKeyId"], second["AccessKeyId"])
            self.assertEqual(self.whoami(creds=second).status, 200)
            keys = [r["access_key_id"] for r in self.fa.records("credentials_issued")]
            self.assertEqual(keys[-2:], [first["AccessKeyId"], second["AccessKeyId"]])
        finally:
            self.fa.control("POST", "/_fake/credentials/config", {"expiry_seconds": 3600})

    def test_expire_issued_expires_what_was_handed_out(self):
        first = self.imds_creds()
        self.assertEqual(self.whoami(creds=first).status, 200)
        st, _ = self.fa.control("POST", "/_fake/credentials/config", {"expire_issued": True})
        self.assertEqual(st, 200)
        self.assertEqual(self.whoami(creds=first).error_code(), "ExpiredToken")
        second = self.imds_creds()
        self.assertEqual(self.whoami(creds=second).status, 200)

class Container(FakeAWSCase):
    def test_authorization_is_required(self):
        st, _ = self.fa.control("POST", "/_fake/credentials/config", {"container_token": "Bearer s3cret"})
        self.assertEqual(st, 200)
        base = self.fa.http_url
        self.assertEqual(self.fa.request("GET", "/_creds/container", base=base).status, 401)
        self.assertEqual(self.fa.request("GET", "/_creds/container", headers={"Authorization": "Bearer nope"},
                                         base=base).status, 401)
        r = self.fa.request("GET", "/_creds/container", headers={"Authorization": "Bearer s3cret"}, base=base)
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        self.assertEqual(set(doc) >= {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}, True)
        self.assertAlmostEqual(epoch(doc["Expiration"]), time.time() + 3600, delta=5)
        w = self.whoami(creds=doc)
        self.assertEqual(w.status, 200, w)
        self.assertIn(b":assumed-role/xacct-partner/", w.body)
        self.assertEqual(self.fa.records("credentials_issued")[-1]["source"], "container")


if __name__ == "__main__":
    unittest.main()
