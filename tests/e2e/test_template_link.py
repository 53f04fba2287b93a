"""The customer's side of a private template bucket, end to end: xacct
onboard uploads the template and prints a quick-create link whose
templateURL is presigned; the emulator's CloudFormation, acting as the
customer's account (no partner credentials), launches the stack from
exactly that URL, xacctd answers and the customer is connected. The same
URL tampered with, or after its expiry, is refused by S3; the plain object
URL is refused too (the bucket is private). With temporary credentials the
URL ends with their session, and it never outlives onboard.pending_ttl. The
presigned query never reaches a log."""
import json
import os
import re
import unittest
import urllib.parse

from harness import BUILD, Env, wait_for

BUCKET = "xacct-templates"
CUSTOMER = "210987650011"


def query_of(url):
    return urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)


class TemplateLinkTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = Env().start()
        cls.env.ctl("POST", "/_fake/s3/buckets", {"name": BUCKET})
        cls.env.write_config(cloudformation__template_bucket=BUCKET)

    @classmethod
    def tearDownClass(cls):
        cls.env.stop()

    def launch_raw(self, account, template_url):
        return self.env.fa.control("POST", "/_fake/cfn/stacks", {
            "account_id": account, "region": self.env.regions[0],
            "stack_name": "xacct-onboarding", "template_url": template_url})

    def test_launch_from_the_printed_link(self):
        env = self.env
        worker = env.start_worker()
        r = env.xacct("onboard", CUSTOMER, "--json", check=True)
        info = json.loads(r.stdout)
        link, url = info["launch_url"], info["template_url"]
        self.assertEqual(env.template_url_of(link), url)
        q = query_of(url)
        for p in ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                  "X-Amz-SignedHeaders", "X-Amz-Signature"):
            self.assertEqual(len(q.get(p, [])), 1, p)
        # Long-term keys and onboardings that do not expire: the week SigV4 allows.
        self.assertEqual(q["X-Amz-Expires"], ["604800"])
        self.assertEqual(q["X-Amz-SignedHeaders"], ["host"])
        self.assertNotIn("X-Amz-Security-Token", q)
        self.assertEqual(q["X-Amz-Credential"][0].split("/")[0], env.fa.creds[0])
        signature = q["X-Amz-Signature"][0]

        # The bucket is private: the object's plain URL is refused.
        plain = url.split("?", 1)[0]
        st, doc = self.launch_raw(CUSTOMER, plain)
        self.assertEqual((st, doc["s3_error"]["code"]), (400, "AccessDenied"), doc)

        # Tampered: another signature, or a longer life than was signed.
        flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
        for bad in (url.replace(signature, flipped),
                    url.replace("X-Amz-Expires=604800", "X-Amz-Expires=604799")):
            st, doc = self.launch_raw(CUSTOMER, bad)
            self.assertEqual((st, doc["s3_error"]["code"]), (400, "SignatureDoesNotMatch"), doc)

        # After its expiry (the emulator's clock a week and a minute ahead).
        env.ctl("POST", "/_fake/server", {"clock_skew": 604800 + 60})
        try:
            st, doc = self.launch_raw(CUSTOMER, url)
        finally:
            env.ctl("POST", "/_fake/server", {"clock_skew": 0})
        self.assertEqual(st, 400, doc)
        self.assertEqual(doc["s3_error"]["code"], "AccessDenied")
        self.assertEqual(doc["s3_error"]["message"], "Request has expired")
        self.assertFalse([s for s in env.ctl("GET", "/_fake/cfn/stacks")["stacks"]
                          if CUSTOMER in s["stack_id"]])

        # The customer launches from the link as printed.
        status, st = env.create_stack_from_link(CUSTOMER, link)
        self.assertEqual(status, 201, st)
        doc = env.wait_stack(st["stack_id"], timeout=120)
        self.assertEqual(doc["status"], "CREATE_COMPLETE", doc["status_reason"])
        self.assertEqual(env.last_answer(doc)["Status"], "SUCCESS")
        wait_for(lambda: env.customer(CUSTOMER).get("state") == "active", 30, "active")
        self.assertEqual(env.stop_worker(worker), 0)

        # No presigned query in any log: not xacctd's, not xacct's stderr.
        logs = {"xacctd": env.worker_log(worker).decode(), "xacct": r.stderr.decode()}
        for name, text in logs.items():
            self.assertNotIn(signature, text, name)
            self.assertNotIn("X-Amz-Signature", text, name)
            self.assertNotIn("X-Amz-Credential", text, name)
            self.assertNotIn(urllib.parse.quote(signature), text, name)
        # It is printed where the link is: the command's output.
        self.assertIn(signature, r.stdout.decode())
        human = env.xacct("show", CUSTOMER)
        self.assertNotIn(signature, human.stdout.decode() + human.stderr.decode())

    def test_pending_ttl_is_the_links_life(self):
        """A link lives as long as the onboarding (onboard.pending_ttl), and
        S3 refuses it after that."""
        env = self.env
        env.write_config(onboard__pending_ttl="900")
        try:
            r = env.xacct("onboard", "210987650013", "--json", check=True)
        finally:
            env.write_config(onboard__pending_ttl="604800")
        url = json.loads(r.stdout)["template_url"]
        self.assertEqual(query_of(url)["X-Amz-Expires"], ["900"])
        target = urllib.parse.urlsplit(url)
        target = target.path + "?" + target.query
        got = env.fa.request("GET", target)  # no credentials: as the customer
        self.assertEqual(got.status, 200, got.text())
        env.ctl("POST", "/_fake/server", {"clock_skew": 900 + 60})
        try:
            late = env.fa.request("GET", target)
        finally:
            env.ctl("POST", "/_fake/server", {"clock_skew": 0})
        self.assertEqual((late.status, late.error_code()), (403, "AccessDenied"))
        self.assertEqual(late.error_message(), "Request has expired")

    def test_temporary_credentials_cap_the_url(self):
        """Container credentials of an hour: the URL carries the session
        token and lives no longer than the session."""
        env = self.env
        env.ctl("POST", "/_fake/credentials/config", {"expiry_seconds": 3600})
        token = env.ctl("GET", "/_fake/credentials/config")["container_token"]
        extra = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": env.fa.http_url + "/_creds/container",
                 "AWS_CONTAINER_AUTHORIZATION_TOKEN": token}
        cmd = env.wrap([os.path.join(BUILD, "xacct"), "--config",
                        env.config_path, "onboard", "210987650012", "--json"])
        penv = env.process_env(extra)
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            penv.pop(k, None)
        import subprocess
        r = subprocess.run(cmd, env=penv, capture_output=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        url = json.loads(r.stdout)["template_url"]
        q = query_of(url)
        self.assertEqual(len(q["X-Amz-Security-Token"]), 1)
        expires = int(q["X-Amz-Expires"][0])
        self.assertLessEqual(expires, 3600)
        self.assertGreater(expires, 0)
        self.assertNotIn(q["X-Amz-Security-Token"][0], r.stderr.decode())
        # The session's URL works for the customer while the session lasts.
        st, doc = self.launch_raw("210987650012", url)
        self.assertEqual(st, 201, doc)
        self.assertRegex(doc["stack_id"], "^" + re.escape("arn:aws:cloudformation:"))


if __name__ == "__main__":
    unittest.main()
