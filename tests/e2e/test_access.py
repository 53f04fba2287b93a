"""Attributed operator access end to end (SPEC §9.7) against redis-server and
fakeaws: `xacct credentials` consumed the way the AWS SDKs consume a
`credential_process` (a profile in a generated ~/.aws/config, the command
line split and run, its JSON read), the printed keys signing a real
GetCallerIdentity to the emulator's STS, which answers with the session
named after the operator; SourceIdentity as the emulator saw it; the audit
event; no key in xacct's output streams or in Redis; refusals (unknown
account, pending customer, unusable operator names, durations); `xacct
console` naming the operator the same way; the customer's profile exported
as AWS_PROFILE, refused by the xacct that xacct's own chain starts under
it.
"""
import configparser
import datetime
import json
import os
import pwd
import re
import shlex
import subprocess
import unittest
import urllib.parse

import cli_env

STS_NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"
ACCT = "123456789012"
STS_NAME = re.compile(r"^[A-Za-z0-9_+=,.@-]{2,64}$")


class CredentialProcessError(Exception):
    pass


def credential_process(config_path, profile, env):
    """What botocore's ProcessProvider does: read the profile's
    credential_process from the shared config file, split it like a shell
    would, run it, fail on a non-zero exit, and read the JSON (Version 1,
    AccessKeyId and SecretAccessKey required, SessionToken and an ISO 8601
    Expiration optional)."""
    cp = configparser.RawConfigParser()
    cp.read(config_path)
    section = "default" if profile == "default" else "profile " + profile
    argv = shlex.split(cp.get(section, "credential_process"))
    p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        e = CredentialProcessError(p.stderr.strip())
        e.returncode = p.returncode
        raise e
    doc = json.loads(p.stdout)
    if doc.get("Version") != 1:
        raise CredentialProcessError("Unsupported version: %r" % doc.get("Version"))
    for k in ("AccessKeyId", "SecretAccessKey"):
        if not doc.get(k):
            raise CredentialProcessError("missing " + k)
    exp = doc.get("Expiration")
    expires = None
    if exp is not None:
        expires = datetime.datetime.fromisoformat(exp.replace("Z", "+00:00"))
    return {"access_key": doc["AccessKeyId"], "secret_key": doc["SecretAccessKey"],
            "token": doc.get("SessionToken"), "expiry_time": expires}, p


class AccessTest(unittest.TestCase):
    def setUp(self):
        self.env = cli_env.CliEnv.start(topics=[("us-east-1", "phone-home-1")])
        self.addCleanup(self.env.stop)
        self.r = self.env.redis_client()
        self.addCleanup(self.r.close)
        self.outputs = []  # every stdout and stderr of xacct, to search for keys

    def xacct(self, *args, **kw):
        res = self.env.xacct(*args, **kw)
        self.outputs += [res.stdout, res.stderr]
        return res

    def active_customer(self, acct, trust=None, role_name="xacct-access"):
        """Onboarded, its role created from its template's trust policy (which
        allows sts:SetSourceIdentity under the ExternalId condition), and
        recorded active the way xacctd records a Create."""
        res = self.xacct("onboard", acct, "--json")
        self.assertEqual(res.returncode, 0, res.stderr)
        tpl = self.xacct("template", acct)
        self.assertEqual(tpl.returncode, 0, tpl.stderr)
        doc = json.loads(tpl.stdout)
        if trust is None:
            trust = doc["Resources"]["XacctRole"]["Properties"]["AssumeRolePolicyDocument"]
        else:
            trust = trust(json.loads(res.stdout)["external_id"])
        role = self.env.create_role(acct, role_name, trust)
        cli_env.activate(self.r, acct, role)
        return role

    def events(self, acct):
        res = self.xacct("events", acct, "--json")
        self.assertEqual(res.returncode, 0, res.stderr)
        return json.loads(res.stdout)

    def issued(self, access_key_id):
        st, doc = self.env.fa.control("GET", "/_fake/sts/issued-credentials?access_key_id=" +
                                      urllib.parse.quote(access_key_id))
        self.assertEqual(st, 200, doc)
        self.assertEqual(len(doc["credentials"]), 1, doc)
        return doc["credentials"][0]

    def caller_arn(self, creds):
        body = urllib.parse.urlencode({"Action": "GetCallerIdentity", "Version": "2011-06-15"})
        res = self.env.fa.call("sts", "POST", "/", body=body, creds=creds,
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(res.status, 200, res.text())
        return res.xml().find(STS_NS + "GetCallerIdentityResult/" + STS_NS + "Arn").text

    def redis_dump(self):
        """Every key and every value in Redis, as bytes."""
        out = []
        for k in self.r.scan_iter(count=1000):
            out.append(k)
            t = self.r.type(k)
            if t == b"string":
                out.append(self.r.get(k))
            elif t == b"hash":
                out += [x for kv in self.r.hgetall(k).items() for x in kv]
            elif t == b"zset":
                out += [m for m, _ in self.r.zrange(k, 0, -1, withscores=True)]
            elif t == b"set":
                out += list(self.r.smembers(k))
            elif t == b"stream":
                for _, fields in self.r.xrange(k):
                    out += [x for kv in fields.items() for x in kv]
            elif t == b"list":
                out += self.r.lrange(k, 0, -1)
        return b"\n".join(out)

    def assert_keys_nowhere(self, creds):
        dump = self.redis_dump()
        for secret in creds:
            self.assertNotIn(secret.encode(), dump)
            for text in self.outputs:
                self.assertNotIn(secret, text)

    def write_profile(self, *extra):
        home = os.path.join(self.env.tmp, "home")
        os.makedirs(os.path.join(home, ".aws"), exist_ok=True)
        path = os.path.join(home, ".aws", "config")
        cmd = " ".join(shlex.quote(a) for a in
                       [cli_env.XACCT, "--config", self.env.config, "credentials", ACCT, *extra])
        with open(path, "w") as f:
            f.write("[profile customer]\ncredential_process = %s\n" % cmd)
        return path

    def wrapped_profile(self, starts):
        """~/.aws/config with the README's customer profile, whose
        credential_process is a wrapper noting each start in `starts` before
        running xacct (and giving up after a few, so a loop cannot run away).
        Returns HOME and the config file."""
        home = os.path.join(self.env.tmp, "home")
        os.makedirs(os.path.join(home, ".aws"), exist_ok=True)
        wrapper = os.path.join(self.env.tmp, "xacct-wrapper")
        q = shlex.quote
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\necho $$ >> %s\n"
                    "if [ $(wc -l < %s) -gt 3 ]; then echo 'wrapper: once too often' >&2; exit 99; fi\n"
                    "exec %s --config %s \"$@\"\n"
                    % (q(starts), q(starts), q(cli_env.XACCT), q(self.env.config)))
        os.chmod(wrapper, 0o755)
        path = os.path.join(home, ".aws", "config")
        with open(path, "w") as f:
            f.write("[profile customer-%s]\ncredential_process = %s credentials %s "
                    "--operator alice --reason OPS-42\n" % (ACCT, q(wrapper), ACCT))
        return home, path

    # ------------------------------------------------------------------
    def test_credential_process_keys_name_the_operator(self):
        role = self.active_customer(ACCT)
        config = self.write_profile("--operator", "alice", "--reason", "ticket OPS-42: disk alarm")
        creds, proc = credential_process(config, "customer", self.env.env())
        self.outputs.append(proc.stderr)  # stdout holds the keys by design
        self.assertEqual(proc.stderr, "")
        keys = (creds["access_key"], creds["secret_key"], creds["token"])
        self.assertTrue(all(keys))
        # Expiration: ISO 8601, about the default hour ahead.
        left = creds["expiry_time"] - datetime.datetime.now(datetime.timezone.utc)
        self.assertTrue(datetime.timedelta(minutes=50) < left <= datetime.timedelta(hours=1, minutes=1),
                        left)

        # The keys work, and the session is alice's.
        arn = self.caller_arn(keys)
        self.assertEqual(arn, "arn:aws:sts::%s:assumed-role/xacct-access/alice" % ACCT)
        seen = self.issued(keys[0])
        self.assertEqual((seen["role_arn"], seen["session_name"], seen["source_identity"],
                          seen["duration"]), (role, "alice", "alice", 3600))

        # Audited with the operator and the reason, never a key.
        ev = [e for e in self.events(ACCT) if e["type"] == "credentials"]
        self.assertEqual(len(ev), 1, ev)
        self.assertEqual(ev[0]["actor"], "alice")
        self.assertIn("ticket OPS-42: disk alarm", ev[0]["reason"])
        self.assertEqual(ev[0]["outcome"], "ok")
        self.assert_keys_nowhere(keys)

        # --duration reaches STS; XACCT_OPERATOR names the operator without the flag.
        res = self.xacct("credentials", ACCT, "--duration", "900",
                         env=self.env.env(XACCT_OPERATOR="bob.smith@example.com"))
        self.assertEqual(res.returncode, 0, res.stderr)
        doc = json.loads(res.stdout)
        self.assertEqual(sorted(doc), ["AccessKeyId", "Expiration", "SecretAccessKey",
                                       "SessionToken", "Version"])
        seen = self.issued(doc["AccessKeyId"])
        self.assertEqual((seen["session_name"], seen["source_identity"], seen["duration"]),
                         ("bob.smith@example.com", "bob.smith@example.com", 900))
        self.outputs.remove(res.stdout)
        self.assert_keys_nowhere((doc["AccessKeyId"], doc["SecretAccessKey"], doc["SessionToken"]))

        # The flag wins over the variable.
        res = self.xacct("credentials", ACCT, "--operator", "carol",
                         env=self.env.env(XACCT_OPERATOR="bob"))
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(self.issued(json.loads(res.stdout)["AccessKeyId"])["session_name"], "carol")
        self.outputs.remove(res.stdout)

    def test_customer_profile_exported_as_aws_profile(self):
        """`export AWS_PROFILE=customer-…; aws s3 ls`: the AWS CLI runs xacct
        with AWS_PROFILE still set, and xacct's own chain (no keys in the
        environment) selects the same profile and runs xacct again. That
        xacct refuses at once, saying what to do instead; `aws --profile`
        works."""
        self.active_customer(ACCT)
        starts = os.path.join(self.env.tmp, "starts")
        home, config = self.wrapped_profile(starts)
        env = self.env.env(HOME=home, AWS_PROFILE="customer-" + ACCT)
        del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
        with self.assertRaises(CredentialProcessError) as cm:
            credential_process(config, "customer-" + ACCT, env)
        self.assertEqual(cm.exception.returncode, 1, cm.exception)
        msg = str(cm.exception)
        self.outputs.append(msg)
        self.assertIn("profile customer-%s (AWS_PROFILE) has a credential_process, but this "
                      "xacct already runs inside one that xacct started" % ACCT, msg)
        self.assertIn("use `aws --profile customer-%s` instead of exporting AWS_PROFILE" % ACCT,
                      msg)
        self.assertIn("credential_process exited with status 1", msg)
        self.assertNotIn("wrapper", msg)
        # The run the AWS CLI started, and the one xacct started: no more.
        with open(starts) as f:
            self.assertEqual(len(f.read().split()), 2)
        self.assertEqual([e for e in self.events(ACCT) if e["type"] == "credentials"], [])

        # `aws --profile customer-…` sets no AWS_PROFILE for xacct, which
        # then signs with the partner's keys.
        creds, proc = credential_process(config, "customer-" + ACCT, self.env.env(HOME=home))
        self.outputs.append(proc.stderr)
        self.assertEqual(self.issued(creds["access_key"])["session_name"], "alice")
        with open(starts) as f:
            self.assertEqual(len(f.read().split()), 3)

    def test_login_name_when_nothing_names_the_operator(self):
        self.active_customer(ACCT)
        res = self.xacct("credentials", ACCT)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.outputs.remove(res.stdout)
        seen = self.issued(json.loads(res.stdout)["AccessKeyId"])
        try:
            login = os.getlogin()
        except OSError:
            login = pwd.getpwuid(os.geteuid()).pw_name
        self.assertRegex(seen["session_name"], STS_NAME)
        if STS_NAME.match(login):
            self.assertEqual(seen["session_name"], login)
            self.assertEqual(seen["source_identity"], login)

    def test_operator_names_sts_would_refuse(self):
        self.active_customer(ACCT)
        # Sanitised to what STS takes, with a note saying so.
        res = self.xacct("credentials", ACCT, "--operator", "jean dupont/ops")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.outputs.remove(res.stdout)
        self.assertIn("jean-dupont-ops", res.stderr)
        self.assertEqual(self.issued(json.loads(res.stdout)["AccessKeyId"])["session_name"],
                         "jean-dupont-ops")
        long = "o" * 100
        res = self.xacct("credentials", ACCT, "--operator", long)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.outputs.remove(res.stdout)
        self.assertEqual(self.issued(json.loads(res.stdout)["AccessKeyId"])["session_name"], "o" * 64)

        # Nothing usable left: a usage error, and no call reaches STS.
        before = self.env.fa.control("GET", "/_fake/sts/assume-role-counts")[1]
        for bad in ("!", "é", "a", ""):
            with self.subTest(operator=bad):
                res = self.xacct("credentials", ACCT, "--operator", bad)
                self.assertEqual(res.returncode, 2, res.stderr)
                self.assertEqual(res.stdout, "")
                self.assertIn("operator", res.stderr)
        res = self.xacct("credentials", ACCT, env=self.env.env(XACCT_OPERATOR="::"))
        self.assertEqual(res.returncode, 2, res.stderr)
        self.assertIn("XACCT_OPERATOR", res.stderr)
        self.assertEqual(self.env.fa.control("GET", "/_fake/sts/assume-role-counts")[1], before)

    def test_refusals(self):
        # Unknown account: exit 1, nothing on stdout.
        res = self.xacct("credentials", "999999999999", "--operator", "alice")
        self.assertEqual(res.returncode, 1)
        self.assertEqual(res.stdout, "")
        self.assertIn("no customer 999999999999", res.stderr)
        # A pending customer has no verified role.
        self.assertEqual(self.xacct("onboard", "123456789013").returncode, 0)
        res = self.xacct("credentials", "123456789013", "--operator", "alice")
        self.assertEqual(res.returncode, 1)
        self.assertEqual(res.stdout, "")
        self.assertIn("pending", res.stderr)
        res = self.xacct("console", "123456789013", "--operator", "alice")
        self.assertEqual(res.returncode, 1)
        self.assertIn("pending", res.stderr)
        # Usage errors.
        self.active_customer(ACCT)
        for args in (("--duration", "899"), ("--duration", "43201"), ("--duration", "x"),
                     ("--reason", ""), ("--reason", "x" * 501)):
            with self.subTest(args=args):
                res = self.xacct("credentials", ACCT, "--operator", "alice", *args)
                self.assertEqual(res.returncode, 2, res.stderr)
                self.assertEqual(res.stdout, "")
        self.assertEqual(self.xacct("credentials", "12345").returncode, 2)
        # Above the role's maximum session (3600 by default): STS refuses.
        res = self.xacct("credentials", ACCT, "--operator", "alice", "--duration", "7200")
        self.assertEqual(res.returncode, 1)
        self.assertEqual(res.stdout, "")
        self.assertIn("MaxSessionDuration", res.stderr)
        # No access handed out, none audited.
        self.assertEqual([e for e in self.events(ACCT) if e["type"] == "credentials"], [])

    def test_role_from_an_older_template_without_set_source_identity(self):
        def old_trust(ext):
            return {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "sts:AssumeRole",
                "Principal": {"AWS": "arn:aws:iam::%s:root" % self.env.fa.partner_account},
                "Condition": {"StringEquals": {"sts:ExternalId": ext}}}]}
        self.active_customer(ACCT, trust=old_trust)
        res = self.xacct("credentials", ACCT, "--operator", "alice")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.outputs.remove(res.stdout)
        self.assertIn("sts:SetSourceIdentity", res.stderr)
        doc = json.loads(res.stdout)
        seen = self.issued(doc["AccessKeyId"])
        self.assertEqual((seen["session_name"], seen["source_identity"]), ("alice", None))
        ev = [e for e in self.events(ACCT) if e["type"] == "credentials"]
        self.assertIn("without SourceIdentity", ev[0]["reason"])

    def test_console_names_the_operator(self):
        role = self.active_customer(ACCT)
        res = self.xacct("console", ACCT, "--operator", "dave", "--reason", "look at the bill",
                         "--json")
        self.assertEqual(res.returncode, 0, res.stderr)
        out = json.loads(res.stdout)
        self.assertEqual(out["operator"], "dave")
        # The sign-in's role session, as STS issued it.
        calls = [c for c in self.env.fa.control("GET", "/_fake/sts/issued-credentials")[1]["credentials"]
                 if c["role_arn"] == role]
        self.assertEqual(len(calls), 1, calls)
        self.assertEqual((calls[0]["session_name"], calls[0]["source_identity"]), ("dave", "dave"))
        self.assertEqual(calls[0]["assumed_role_arn"],
                         "arn:aws:sts::%s:assumed-role/xacct-access/dave" % ACCT)
        ev = [e for e in self.events(ACCT) if e["type"] == "console"]
        self.assertEqual(len(ev), 1, ev)
        self.assertEqual(ev[0]["actor"], "dave")
        self.assertIn("look at the bill", ev[0]["reason"])
        self.outputs.remove(res.stdout)
        self.assertNotIn(out["login_url"].encode(), self.redis_dump())
        c = calls[0]
        self.assert_keys_nowhere((c["access_key_id"], c["secret_access_key"], c["session_token"]))

    def test_console_from_a_role_session(self):
        """xacct running on an instance role: its AssumeRole of the customer
        role is role chaining, where AWS refuses a console SessionDuration
        and caps the session at an hour; the sign-in still works."""
        role = self.active_customer(ACCT)
        env = self.env.env(AWS_EC2_METADATA_SERVICE_ENDPOINT=self.env.fa.http_url)
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_EC2_METADATA_DISABLED"):
            env.pop(k, None)
        res = self.xacct("console", ACCT, "--operator", "erin", "--duration", "7200", "--json",
                         env=env)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("one hour", res.stderr)
        out = json.loads(res.stdout)
        self.assertEqual(out["session_duration"], 3600)
        calls = [c for c in self.env.fa.control("GET", "/_fake/sts/issued-credentials")[1]["credentials"]
                 if c["role_arn"] == role]
        self.assertEqual(len(calls), 1, calls)
        self.assertEqual(calls[0]["duration"], 3600)
        st, login = self.env.fa.control("GET", "/_fake/records?kind=signin_token")
        self.assertEqual(st, 200, login)
        mine = [r for r in login["records"] if r.get("access_key_id") == calls[0]["access_key_id"]]
        self.assertEqual([r["ok"] for r in mine], [True], login)
        self.outputs.remove(res.stdout)
        # credential_process keys from the same role session: an hour, too.
        res = self.xacct("credentials", ACCT, "--operator", "erin", "--duration", "7200", env=env)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("one hour", res.stderr)
        keys = json.loads(res.stdout)
        self.assertEqual(self.issued(keys["AccessKeyId"])["duration"], 3600)


if __name__ == "__main__":
    unittest.main()
