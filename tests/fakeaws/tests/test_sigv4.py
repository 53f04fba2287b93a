"""SigV4 verification: the official suite in-process, then the strictness
cases over real sockets (wrong signature, unknown key, skew, presigned expiry,
session tokens, scope date, unsigned host, S3 payload hash)."""
import glob
import hashlib
import os
import time
import unittest
from urllib.parse import urlsplit

from fakeaws import core, sigv4
from tests import FORM, GET_CALLER_IDENTITY, FakeAWSCase

SUITE = os.path.join(os.environ.get("XACCT_TESTDATA", "/work/shared/testdata"), "sigv4")
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SUITE_NOW = sigv4.parse_amz_date("20150830T123600Z")


def parse_sreq(raw):
    """A .sreq file as a core.Request (obsolete line folding unfolded)."""
    head, _, body = raw.partition(b"\n\n")
    lines = head.split(b"\n")
    method, rest = lines[0].split(b" ", 1)
    target = rest.rsplit(b" ", 1)[0].decode("latin-1")
    path, _, query = target.partition("?")
    hl = []
    for line in lines[1:]:
        s = line.decode("latin-1")
        if s[:1] in (" ", "\t"):
            k, v = hl[-1]
            hl[-1] = (k, v + " " + s.strip())
            continue
        k, _, v = s.partition(":")
        hl.append((k, v.strip()))
    return method.decode(), path, query, hl, body


def load_cases():
    cases = []
    for sreq in sorted(glob.glob(os.path.join(SUITE, "**", "*.sreq"), recursive=True)):
        base = sreq[:-5]
        with open(sreq, "rb") as f:
            method, path, query, hl, body = parse_sreq(f.read())
        with open(base + ".authz") as f:
            authz = f.read().strip()
        with open(base + ".creq") as f:
            creq = f.read()
        cases.append((os.path.basename(base), method, path, query, hl, body, authz, creq))
    return cases


def build(method, path, query, hl, body):
    return core.Request(method, path, query, header_list=hl, body=body)


def lookup_for(hl):
    token = next((v for k, v in hl if k.lower() == "x-amz-security-token"), None)
    cred = core.Credentials("AKIDEXAMPLE", SECRET, "123456789012", "arn:aws:iam::123456789012:user/example",
                            session_token=token, expires=None)
    return lambda akid: cred if akid == "AKIDEXAMPLE" else None


def with_authz(hl, authz):
    """The request's headers with its Authorization set to the case's .authz
    (the suite's .sreq of two cases carries a stale signature; .authz, .sts
    and .creq agree with each other)."""
    return [(k, authz if k.lower() == "authorization" else v) for k, v in hl]


def flip(ch):
    """A different character of the same class (never whitespace)."""
    if ch in "0123456789abcdef" and ch != "f":
        return "0123456789abcdef"["0123456789abcdef".index(ch) + 1]
    if ch == "f":
        return "0"
    c = chr(ord(ch) ^ 1)
    return c if not c.isspace() and c != "," else chr(ord(ch) ^ 2)


class OfficialSuite(unittest.TestCase):
    def setUp(self):
        self.cases = load_cases()
        self.assertGreaterEqual(len(self.cases), 25, f"sigv4 suite not found under {SUITE}")

    def verify(self, method, path, query, hl, body):
        req = build(method, path, query, hl, body)
        return sigv4.verify(req, lookup_for(hl), now=SUITE_NOW), req

    def test_accepts_every_case_and_builds_its_canonical_request(self):
        for name, method, path, query, hl, body, authz, creq in self.cases:
            with self.subTest(case=name):
                hl = with_authz(hl, authz)
                c, req = self.verify(method, path, query, hl, body)
                self.assertEqual(c.access_key_id, "AKIDEXAMPLE")
                self.assertEqual((req.service, req.region), ("service", "us-east-1"))
                signed = authz.split("SignedHeaders=")[1].split(",")[0].split(";")
                mine = sigv4.canonical_request(method, path, query, hl, signed,
                                               hashlib.sha256(body).hexdigest(), "service")
                self.assertEqual(mine, creq)

    def test_sreq_signatures_match_authz_except_the_known_stale_ones(self):
        stale = sorted(name for name, m, p, q, hl, b, authz, c in self.cases
                       if dict((k.lower(), v) for k, v in hl)["authorization"] != authz)
        self.assertEqual(stale, ["post-vanilla-query-nonunreserved", "post-vanilla-query-space"])

    def assert_rejected(self, what, method, path, query, hl, body):
        with self.assertRaises(sigv4.SigV4Error, msg=what) as cm:
            self.verify(method, path, query, hl, body)
        self.assertIn(cm.exception.code, ("SignatureDoesNotMatch", "IncompleteSignature"), what)
        self.assertEqual(cm.exception.status, 403)

    def test_rejects_any_changed_byte_of_the_signature(self):
        for name, method, path, query, hl, body, authz, creq in self.cases:
            sig = authz.rsplit("Signature=", 1)[1]
            start = len(authz) - len(sig)
            for i in range(len(sig)):
                bad = authz[:start + i] + flip(sig[i]) + authz[start + i + 1:]
                self.assert_rejected(f"{name} signature[{i}]", method, path, query, with_authz(hl, bad), body)

    def test_rejects_any_changed_signed_header(self):
        for name, method, path, query, hl, body, authz, creq in self.cases:
            hl = with_authz(hl, authz)
            signed = authz.split("SignedHeaders=")[1].split(",")[0].split(";")
            for idx, (k, v) in enumerate(hl):
                if k.lower() not in signed:
                    continue
                for pos in sorted({0, len(v) // 2, len(v) - 1}):
                    if v[pos].isspace():
                        continue
                    nv = v[:pos] + flip(v[pos]) + v[pos + 1:]
                    bad = hl[:idx] + [(k, nv)] + hl[idx + 1:]
                    self.assert_rejected(f"{name} {k}[{pos}]", method, path, query, bad, body)
            # a signed header that disappears
            for n in signed:
                bad = [(k, v) for k, v in hl if k.lower() != n]
                self.assert_rejected(f"{name} without {n}", method, path, query, bad, body)

    def test_rejects_any_changed_body_byte(self):
        for name, method, path, query, hl, body, authz, creq in self.cases:
            hl = with_authz(hl, authz)
            self.assert_rejected(f"{name} body+", method, path, query, hl, body + b"x")
            for i in range(len(body)):
                bad = body[:i] + bytes([body[i] ^ 1]) + body[i + 1:]
                self.assert_rejected(f"{name} body[{i}]", method, path, query, hl, bad)

    def test_rejects_a_changed_path_or_query(self):
        for name, method, path, query, hl, body, authz, creq in self.cases:
            hl = with_authz(hl, authz)
            self.assert_rejected(f"{name} path", method, path + "x", query, hl, body)
            self.assert_rejected(f"{name} query", method, path, query + "&extra=1", hl, body)

    def test_rejects_outside_the_fifteen_minute_window(self):
        name, method, path, query, hl, body, authz, creq = self.cases[0]
        hl = with_authz(hl, authz)
        for now in (SUITE_NOW + 899, SUITE_NOW - 899):
            sigv4.verify(build(method, path, query, hl, body), lookup_for(hl), now=now)
        for now, message in (
                (SUITE_NOW + 901, "Signature expired: 20150830T123600Z is now earlier than "
                                  "20150830T123601Z (20150830T125101Z - 15 min.)"),
                (SUITE_NOW - 901, "Signature not yet current: 20150830T123600Z is still later than "
                                  "20150830T123559Z (20150830T122059Z + 15 min.)")):
            with self.assertRaises(sigv4.SigV4Error) as cm:
                sigv4.verify(build(method, path, query, hl, body), lookup_for(hl), now=now)
            self.assertEqual(cm.exception.code, "SignatureDoesNotMatch")
            self.assertEqual(cm.exception.message, message)


def custom_signed(fa, method, path, query, headers, body, signed, amz_date=None, creds=None,
                  service="sts", scope_date=None):
    """Headers for a request signed over exactly the `signed` header names."""
    akid, secret, token = creds or fa.creds
    amz_date = amz_date or sigv4.amz_now()
    h = dict(headers)
    h["Host"] = urlsplit(fa.https_url).netloc
    h["X-Amz-Date"] = amz_date
    if token:
        h["X-Amz-Security-Token"] = token
    hl = list(h.items())
    sd = scope_date or amz_date[:8]
    creq = sigv4.canonical_request(method, path, query, hl, signed, hashlib.sha256(body).hexdigest(), service)
    scope = f"{sd}/{fa.region}/{service}/aws4_request"
    sig = sigv4.signature(secret, sd, fa.region, service, sigv4.string_to_sign(amz_date, scope, creq))
    h["Authorization"] = f"AWS4-HMAC-SHA256 Credential={akid}/{scope}, SignedHeaders={';'.join(signed)}, Signature={sig}"
    return h


class OverSockets(FakeAWSCase):
    def assertError(self, r, status, code, message_prefix=None):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.error_code(), code, r)
        if message_prefix is not None:
            self.assertTrue(r.error_message().startswith(message_prefix), r.error_message())

    def test_good_signature_is_accepted(self):
        r = self.whoami()
        self.assertEqual(r.status, 200, r)
        self.assertIn(b"arn:aws:iam::111111111111:user/fake", r.body)

    def test_wrong_signature_is_rejected_with_aws_shape_and_text(self):
        h = sigv4.sign("POST", self.fa.https_url + "/", dict(FORM), GET_CALLER_IDENTITY,
                       self.fa.creds[0], self.fa.creds[1], self.fa.region, "sts")
        sig = h["Authorization"][-64:]
        h["Authorization"] = h["Authorization"][:-64] + flip(sig[0]) + sig[1:]
        r = self.fa.request("POST", "/", GET_CALLER_IDENTITY, h)
        self.assertError(r, 403, "SignatureDoesNotMatch", sigv4.MSG_SIGNATURE)
        root = r.xml()
        self.assertEqual(root.tag, "{https://sts.amazonaws.com/doc/2011-06-15/}ErrorResponse")
        ns = {"s": "https://sts.amazonaws.com/doc/2011-06-15/"}
        self.assertEqual(root.find("s:Error/s:Type", ns).text, "Sender")
        self.assertTrue(root.find("s:RequestId", ns).text)
        self.assertTrue(any(e["code"] == "SignatureDoesNotMatch" for e in self.fa.records("auth_failure")))

    def test_wrong_secret_is_rejected(self):
        r = self.whoami(creds=(self.fa.creds[0], "not-the-secret"))
        self.assertError(r, 403, "SignatureDoesNotMatch")

    def test_tampered_body_is_rejected(self):
        h = sigv4.sign("POST", self.fa.https_url + "/", dict(FORM), GET_CALLER_IDENTITY,
                       self.fa.creds[0], self.fa.creds[1], self.fa.region, "sts")
        r = self.fa.request("POST", "/", GET_CALLER_IDENTITY + b"&X=1", h)
        self.assertError(r, 403, "SignatureDoesNotMatch")

    def test_unknown_access_key(self):
        r = self.whoami(creds=("AKIAUNKNOWNUNKNOWN00", "x"))
        self.assertError(r, 403, "InvalidClientTokenId", "The security token included in the request is invalid.")

    def test_json_protocol_errors_have_the_json_shape(self):
        body = b'{"QueueNamePrefix":"x"}'
        hdr = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.ListQueues"}
        r = self.fa.call("sqs", "POST", "/", headers=hdr, body=body, creds=(self.fa.creds[0], "wrong"))
        self.assertEqual(r.status, 403, r)
        doc = r.json()
        self.assertEqual(doc["__type"], "com.amazon.coral.service#SignatureDoesNotMatch")
        self.assertTrue(doc["message"].startswith(sigv4.MSG_SIGNATURE))
        self.assertEqual(r.headers["x-amzn-query-error"], "SignatureDoesNotMatch;Sender")
        r = self.fa.request("POST", "/", body, hdr)
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.json()["__type"], "com.amazon.coral.service#MissingAuthenticationTokenException")
        self.assertEqual(r.headers["x-amzn-query-error"], "MissingAuthenticationToken;Sender")

    def test_missing_authentication(self):
        r = self.fa.request("POST", "/", GET_CALLER_IDENTITY, dict(FORM))
        self.assertError(r, 403, "MissingAuthenticationToken", "Missing Authentication Token")

    def test_clock_skew(self):
        """AWS takes signing times up to 15 minutes off its clock."""
        now = time.time()
        for off in (-840, 840):
            self.assertEqual(self.whoami(amz_date=sigv4.amz_now(now + off)).status, 200, off)
        r = self.whoami(amz_date=sigv4.amz_now(now - 960))
        self.assertError(r, 403, "SignatureDoesNotMatch", "Signature expired: ")
        self.assertTrue(r.error_message().endswith(" - 15 min.)"), r.error_message())
        r = self.whoami(amz_date=sigv4.amz_now(now + 960))
        self.assertError(r, 403, "SignatureDoesNotMatch", "Signature not yet current: ")
        self.assertTrue(r.error_message().endswith(" + 15 min.)"), r.error_message())

    def test_scope_date_must_match_x_amz_date(self):
        amz = sigv4.amz_now()
        other = sigv4.amz_now(time.time() - 86400)[:8]
        h = custom_signed(self.fa, "POST", "/", "", FORM, GET_CALLER_IDENTITY,
                          ["content-type", "host", "x-amz-date"], amz_date=amz, scope_date=other)
        r = self.fa.request("POST", "/", GET_CALLER_IDENTITY, h)
        self.assertError(r, 403, "SignatureDoesNotMatch", "Date in Credential scope does not match")

    def test_host_must_be_signed(self):
        h = custom_signed(self.fa, "POST", "/", "", FORM, GET_CALLER_IDENTITY, ["content-type", "x-amz-date"])
        r = self.fa.request("POST", "/", GET_CALLER_IDENTITY, h)
        self.assertError(r, 403, "IncompleteSignature")
        self.assertIn("'Host'", r.error_message())
        # the same request with host signed passes
        h = custom_signed(self.fa, "POST", "/", "", FORM, GET_CALLER_IDENTITY, ["content-type", "host", "x-amz-date"])
        self.assertEqual(self.fa.request("POST", "/", GET_CALLER_IDENTITY, h).status, 200)

    def test_incomplete_authorization_header(self):
        h = dict(FORM, Authorization="AWS4-HMAC-SHA256 Credential=AKIA/20150830/us-east-1/sts/aws4_request",
                 **{"X-Amz-Date": sigv4.amz_now()})
        r = self.fa.request("POST", "/", GET_CALLER_IDENTITY, h)
        self.assertError(r, 403, "IncompleteSignature")

    def test_presigned_url(self):
        q = "Action=GetCallerIdentity&Version=2011-06-15"
        u = urlsplit(self.fa.presign("sts", "GET", "/", query=q, expires=60))
        self.assertEqual(self.fa.request("GET", u.path + "?" + u.query).status, 200)
        # a changed byte of the signature
        bad = u.query[:-1] + flip(u.query[-1])
        self.assertEqual(self.fa.request("GET", u.path + "?" + bad).error_code(), "SignatureDoesNotMatch")
        # expired: signed 2 minutes ago, valid for 60 s
        u = urlsplit(self.fa.presign("sts", "GET", "/", query=q, expires=60,
                                     amz_date=sigv4.amz_now(time.time() - 120)))
        r = self.fa.request("GET", u.path + "?" + u.query)
        self.assertError(r, 403, "AccessDenied", "Request has expired")
        # more than a week
        u = urlsplit(self.fa.presign("sts", "GET", "/", query=q, expires=604801))
        self.assertEqual(self.fa.request("GET", u.path + "?" + u.query).error_code(),
                         "AuthorizationQueryParametersError")

    def test_session_tokens(self):
        c = self.imds_creds()
        r = self.whoami(creds=c)
        self.assertEqual(r.status, 200, r)
        self.assertIn(b":assumed-role/", r.body)
        # token signed or sent after signing: both accepted (as AWS does)
        self.assertEqual(self.whoami(creds=c, sign_token=False).status, 200)
        # temporary key without its token, with a wrong token
        self.assertError(self.whoami(creds=(c["AccessKeyId"], c["SecretAccessKey"])), 403, "InvalidClientTokenId")
        self.assertError(self.whoami(creds=(c["AccessKeyId"], c["SecretAccessKey"], c["Token"][:-2] + "AA")),
                         403, "InvalidClientTokenId")
        # a long-term key with a token
        self.assertError(self.whoami(creds=(self.fa.creds[0], self.fa.creds[1], c["Token"])),
                         403, "InvalidClientTokenId")

    def test_expired_session_token(self):
        st, _ = self.fa.control("POST", "/_fake/credentials/config", {"expiry_seconds": 1})
        self.assertEqual(st, 200)
        try:
            c = self.imds_creds()
            time.sleep(1.2)
            self.assertError(self.whoami(creds=c), 403, "ExpiredToken",
                             "The security token included in the request is expired")
        finally:
            self.fa.control("POST", "/_fake/credentials/config", {"expiry_seconds": 3600})

    def s3_request(self, body, sent_body=None, drop=None):
        h = sigv4.sign("PUT", self.fa.https_url + "/bucket/key.json", {}, body,
                       self.fa.creds[0], self.fa.creds[1], self.fa.region, "s3")
        if drop:
            h.pop(drop)
        return self.fa.request("PUT", "/bucket/key.json", body if sent_body is None else sent_body, h)

    def test_s3_content_sha256(self):
        r = self.s3_request(b"{}", sent_body=b"[]")
        self.assertError(r, 400, "XAmzContentSHA256Mismatch")
        self.assertEqual(r.xml().tag, "Error")
        # the header is required: without it the signature covers a hash the server cannot know
        h = custom_signed(self.fa, "PUT", "/bucket/key.json", "", {}, b"{}", ["host", "x-amz-date"], service="s3")
        r = self.fa.request("PUT", "/bucket/key.json", b"{}", h)
        self.assertError(r, 400, "InvalidRequest")
        # unknown key and wrong signature in S3's own words
        r = self.fa.call("s3", "GET", "/bucket/key.json", creds=("AKIAUNKNOWNUNKNOWN00", "x"))
        self.assertError(r, 403, "InvalidAccessKeyId")
        r = self.fa.call("s3", "GET", "/bucket/key.json", creds=(self.fa.creds[0], "x"))
        self.assertError(r, 403, "SignatureDoesNotMatch", sigv4.MSG_SIGNATURE_S3)


if __name__ == "__main__":
    unittest.main()
