"""The federation sign-in endpoint: getSigninToken and login."""
import json
import time
import unittest
from urllib.parse import quote

from tests import FakeAWSCase

DEST = "https://console.aws.amazon.com/"


class Federation(FakeAWSCase):
    def get(self, query):
        return self.fa.request("GET", "/federation?" + query, base=self.fa.https_url)

    def session(self, c):
        return quote(json.dumps({"sessionId": c["AccessKeyId"], "sessionKey": c["SecretAccessKey"],
                                 "sessionToken": c["Token"]}), safe="")

    def test_signin_token_and_login(self):
        c = self.imds_creds()
        r = self.get(f"Action=getSigninToken&SessionDuration=3600&Session={self.session(c)}")
        self.assertEqual(r.status, 200, r)
        token = r.json()["SigninToken"]
        self.assertGreater(len(token), 40)
        r = self.get(f"Action=login&Issuer=xacct&Destination={quote(DEST, safe='')}&SigninToken={quote(token)}")
        self.assertEqual(r.status, 302, r)
        self.assertEqual(r.headers["location"], DEST)
        login = self.fa.records("console_login")[-1]
        self.assertTrue(login["ok"])
        self.assertEqual(login["destination"], DEST)
        self.assertIn(":assumed-role/xacct-partner/", login["arn"])
        tok = self.fa.records("signin_token")[-1]
        self.assertEqual((tok["ok"], tok["session_duration"]), (True, 3600))

    def test_session_duration_defaults_to_an_hour(self):
        c = self.imds_creds()
        self.assertEqual(self.get(f"Action=getSigninToken&Session={self.session(c)}").status, 200)
        tok = self.fa.records("signin_token")[-1]
        self.assertEqual((tok["ok"], tok["session_duration"]), (True, 3600))

    def test_role_chaining_refuses_a_session_duration(self):
        """Keys of a role assumed with a role session's keys: the federation
        endpoint refuses SessionDuration, and gives its hour without it."""
        partner = self.fa.partner_account
        c = self.imds_creds()
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::%s:root" % partner},
            "Action": "sts:AssumeRole"}]}
        st, role = self.fa.control("POST", "/_fake/iam/roles", {"account_id": partner,
                                                                "role_name": "console-chain",
                                                                "trust_policy": trust})
        self.assertEqual(st, 201, role)
        body = ("Action=AssumeRole&Version=2011-06-15&RoleSessionName=console-chain&RoleArn="
                + quote(role["arn"], safe=""))
        r = self.fa.call("sts", "POST", "/", body=body, creds=c,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 200, r)
        ns = "{https://sts.amazonaws.com/doc/2011-06-15/}"
        creds = r.xml().find(ns + "AssumeRoleResult/" + ns + "Credentials")
        chained = {"AccessKeyId": creds.find(ns + "AccessKeyId").text,
                   "SecretAccessKey": creds.find(ns + "SecretAccessKey").text,
                   "Token": creds.find(ns + "SessionToken").text}
        r = self.get(f"Action=getSigninToken&SessionDuration=3600&Session={self.session(chained)}")
        self.assertEqual((r.status, r.text().strip()), (400, "Invalid credentials parameter"))
        r = self.get(f"Action=getSigninToken&Session={self.session(chained)}")
        self.assertEqual(r.status, 200, r)
        tok = self.fa.records("signin_token")[-1]
        self.assertEqual((tok["ok"], tok["session_duration"]), (True, 3600))

    def test_invalid_sessions_are_refused(self):
        c = self.imds_creds()
        key = c["SecretAccessKey"]
        wrong_key = dict(c, SecretAccessKey=("y" if key[0] == "x" else "x") + key[1:])
        wrong_token = dict(c, Token=c["Token"][:-4] + "AAAA")
        long_term = {"AccessKeyId": self.fa.creds[0], "SecretAccessKey": self.fa.creds[1], "Token": ""}
        for bad in (wrong_key, wrong_token, long_term):
            self.assertEqual(self.get(f"Action=getSigninToken&Session={self.session(bad)}").status, 400)
        self.assertEqual(self.get("Action=getSigninToken&Session=notjson").status, 400)
        self.assertEqual(self.get("Action=getSigninToken").status, 400)
        for dur in ("899", "43201", "x"):
            self.assertEqual(self.get(f"Action=getSigninToken&SessionDuration={dur}&Session={self.session(c)}").status,
                             400)
        self.assertFalse(self.fa.records("signin_token")[-1]["ok"])

    def test_expired_credentials_are_refused(self):
        self.fa.control("POST", "/_fake/credentials/config", {"expiry_seconds": 1})
        try:
            c = self.imds_creds()
            time.sleep(1.2)
            self.assertEqual(self.get(f"Action=getSigninToken&Session={self.session(c)}").status, 400)
        finally:
            self.fa.control("POST", "/_fake/credentials/config", {"expiry_seconds": 3600})

    def test_login_needs_a_valid_token(self):
        r = self.get(f"Action=login&Issuer=x&Destination={quote(DEST, safe='')}&SigninToken=forged")
        self.assertEqual(r.status, 400)
        self.assertFalse(self.fa.records("console_login")[-1]["ok"])
        self.assertEqual(self.get("Action=unknown").status, 400)


if __name__ == "__main__":
    unittest.main()
