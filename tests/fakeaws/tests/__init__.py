"""fakeaws's own tests. `FakeAWSCase` starts one emulator per test class."""
import sys
import unittest

from fakeaws.testing import FakeAWS

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
GET_CALLER_IDENTITY = b"Action=GetCallerIdentity&Version=2011-06-15"


class FakeAWSCase(unittest.TestCase):
    fa = None
    args = ()

    @classmethod
    def setUpClass(cls):
        cls.fa = FakeAWS.start(args=cls.args, python=sys.executable)

    @classmethod
    def tearDownClass(cls):
        if cls.fa is not None:
            cls.fa.stop()

    def tearDown(self):
        self.fa.clear_faults()

    def whoami(self, creds=None, **kw):
        return self.fa.call("sts", "POST", "/", body=GET_CALLER_IDENTITY, headers=dict(FORM), creds=creds, **kw)

    def imds_creds(self):
        tok = self.fa.request("PUT", "/latest/api/token", headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"},
                              base=self.fa.http_url)
        self.assertEqual(tok.status, 200, tok)
        h = {"X-aws-ec2-metadata-token": tok.text()}
        role = self.fa.request("GET", "/latest/meta-data/iam/security-credentials/", headers=h,
                               base=self.fa.http_url).text()
        r = self.fa.request("GET", "/latest/meta-data/iam/security-credentials/" + role, headers=h,
                            base=self.fa.http_url)
        self.assertEqual(r.status, 200, r)
        return r.json()
