"""The operator commands end to end against redis-server and fakeaws:
rotate-external-id, check (secure and insecure roles in the emulator's IAM),
console (sign-in through the emulator's federation endpoint), jobs done
(offboarding removes the account from its topic policy), and the read
commands (show, list, events, jobs, dead, workers), which never print the
external ID unless asked to.
"""
import http.client
import json
import ssl
import time
import unittest
import urllib.parse

import cli_env

BUCKET = "xacct-templates"


class OpsTest(unittest.TestCase):
    def setUp(self):
        self.env = cli_env.CliEnv.start(topics=[("us-east-1", "phone-home-1")], bucket=BUCKET)
        self.addCleanup(self.env.stop)
        self.r = self.env.redis_client()
        self.addCleanup(self.r.close)

    def onboard(self, acct):
        res = self.env.xacct("onboard", acct, "--json")
        self.assertEqual(res.returncode, 0, res.stderr)
        return json.loads(res.stdout)

    def template(self, acct):
        res = self.env.xacct("template", acct)
        self.assertEqual(res.returncode, 0, res.stderr)
        return json.loads(res.stdout)

    def trust(self, acct):
        return self.template(acct)["Resources"]["XacctRole"]["Properties"]["AssumeRolePolicyDocument"]

    def active_customer(self, acct):
        """Onboarded, its stack's role created from the template, and recorded
        active the way xacctd records a Create."""
        info = self.onboard(acct)
        role = self.env.create_role(acct, "xacct-access", self.trust(acct))
        cli_env.activate(self.r, acct, role)
        return info, role

    def object_status(self, key):
        st, _ = self.env.fa.control("GET", "/_fake/s3/objects/%s/%s" % (BUCKET, key))
        return st

    def events(self, acct):
        res = self.env.xacct("events", acct, "--json")
        self.assertEqual(res.returncode, 0, res.stderr)
        return json.loads(res.stdout)

    # ------------------------------------------------------------------
    def test_rotate_external_id(self):
        acct = "123456789012"
        first = self.onboard(acct)
        old_key = urllib.parse.urlsplit(first["template_url"]).path[len(BUCKET) + 2:]
        self.assertEqual(self.object_status(old_key), 200)

        res = self.env.xacct("rotate-external-id", acct, "--json")
        self.assertEqual(res.returncode, 0, res.stderr)
        out = json.loads(res.stdout)
        self.assertNotIn("external_id", out)
        self.assertNotIn(first["external_id"], res.stdout)
        self.assertEqual(out["topic_arn"], first["topic_arn"])
        new_id = self.r.hget("xacct:customer:" + acct, "external_id").decode()
        self.assertNotEqual(new_id, first["external_id"])
        self.assertNotIn(new_id, res.stdout + res.stderr)
        self.assertIsNone(self.r.get("xacct:external-id:" + first["external_id"]))
        self.assertEqual(self.r.get("xacct:external-id:" + new_id).decode(), acct)

        # The new template carries the new ID; the old upload is gone.
        new_key = urllib.parse.urlsplit(out["template_url"]).path[len(BUCKET) + 2:]
        self.assertNotEqual(new_key, old_key)
        self.assertEqual(self.object_status(new_key), 200)
        self.assertEqual(self.object_status(old_key), 404)
        cond = self.trust(acct)["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"]
        self.assertEqual(cond, new_id)
        self.assertEqual(self.events(acct)[0]["type"], "rotated")

        table = self.env.xacct("rotate-external-id", acct)
        self.assertEqual(table.returncode, 0, table.stderr)
        self.assertIn("must launch its stack", table.stdout)

        # The account stayed allowed to publish to its topic.
        self.assertEqual(self.env.publish_as(self.env.account_keys(acct), first["topic_arn"]).status, 200)
        unknown = self.env.xacct("rotate-external-id", "210987654321")
        self.assertEqual(unknown.returncode, 1)
        self.assertIn("no customer 210987654321", unknown.stderr)

    def test_show_hides_the_external_id(self):
        acct = "123456789012"
        info = self.onboard(acct)
        res = self.env.xacct("show", acct, "--json")
        self.assertEqual(res.returncode, 0, res.stderr)
        rec = json.loads(res.stdout)
        self.assertEqual(rec["external_id"], "set")
        self.assertEqual(rec["state"], "pending")
        self.assertEqual(rec["topic_arn"], info["topic_arn"])
        for field in ("account_id", "external_id", "state", "role_arn", "stack_id", "region",
                      "topic_arn", "physical_id", "created_at", "updated_at", "last_request_id",
                      "last_error"):
            self.assertIn(field, rec)
        shown = self.env.xacct("show", acct, "--show-external-id", "--json")
        self.assertEqual(json.loads(shown.stdout)["external_id"], info["external_id"])
        for args in (["show", acct], ["list"], ["list", "--json"], ["events", acct],
                     ["events", acct, "--json"], ["topics"]):
            res = self.env.xacct(*args)
            self.assertEqual(res.returncode, 0, (args, res.stderr))
            self.assertNotIn(info["external_id"], res.stdout + res.stderr, args)
        missing = self.env.xacct("show", "210987654321")
        self.assertEqual(missing.returncode, 1)
        self.assertEqual(missing.stderr.strip(), "xacct show: no customer 210987654321")

    def test_show_has_every_field_of_the_record(self):
        # SPEC §6: show --json prints the record's fields by their Redis
        # names, the §8-§9 ones (seq, ...) too once they are written.
        acct = "123456789012"
        self.active_customer(acct)
        rec = json.loads(self.env.xacct("show", acct, "--show-external-id", "--json").stdout)
        stored = {k.decode(): v.decode()
                  for k, v in self.env.redis_client().hgetall("xacct:customer:" + acct).items()}
        self.assertIn("seq", stored)
        self.assertEqual({k: v for k, v in rec.items() if v != ""},
                         {k: v for k, v in stored.items() if v != ""})

    def test_show_prints_the_state_as_stored(self):
        # SPEC §6: show --json prints the record's fields; a state this
        # version does not know is shown as stored (by list too), not
        # replaced by a word of the CLI's own.
        acct = "123456789014"
        self.active_customer(acct)
        r = self.env.redis_client()
        r.hset("xacct:customer:" + acct, "state", "retired")
        res = self.env.xacct("show", acct, "--json")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(json.loads(res.stdout)["state"], "retired")
        table = self.env.xacct("show", acct).stdout
        self.assertIn("retired", table)
        rows = json.loads(self.env.xacct("list", "--json").stdout)
        self.assertEqual([row["state"] for row in rows if row["account_id"] == acct], ["retired"])

    def test_list_filters_by_state(self):
        self.onboard("123456789012")
        self.active_customer("123456789013")
        res = self.env.xacct("list", "--json")
        self.assertEqual(res.returncode, 0, res.stderr)
        rows = json.loads(res.stdout)
        self.assertEqual([r["account_id"] for r in rows], ["123456789013", "123456789012"])
        active = json.loads(self.env.xacct("list", "--state", "active", "--json").stdout)
        self.assertEqual([(r["account_id"], r["state"]) for r in active], [("123456789013", "active")])
        pending = json.loads(self.env.xacct("list", "--state", "pending", "--json").stdout)
        self.assertEqual([r["account_id"] for r in pending], ["123456789012"])
        self.assertEqual(json.loads(self.env.xacct("list", "--limit", "1", "--json").stdout)[0]["account_id"],
                         "123456789013")
        table = self.env.xacct("list").stdout.splitlines()
        self.assertTrue(table[0].startswith("ACCOUNT ID"))
        self.assertEqual(len(table), 3)

    def test_check_secure_and_insecure(self):
        acct = "123456789012"
        _, role = self.active_customer(acct)
        res = self.env.xacct("check", acct, "--json")
        self.assertEqual(res.returncode, 0, res.stderr)
        out = json.loads(res.stdout)
        self.assertEqual((out["result"], out["secure"], out["role_arn"]), ("secure", True, role))

        # A role whose trust policy forgets the external ID condition.
        open_trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRole",
            "Principal": {"AWS": "arn:aws:iam::%s:root" % self.env.fa.partner_account}}]}
        acct2 = "123456789013"
        self.onboard(acct2)
        cli_env.activate(self.r, acct2, self.env.create_role(acct2, "open", open_trust))
        res = self.env.xacct("check", acct2, "--json")
        self.assertEqual(res.returncode, 1)
        self.assertEqual(json.loads(res.stdout)["result"], "insecure")
        table = self.env.xacct("check", acct2)
        self.assertEqual(table.returncode, 1)
        self.assertIn("insecure", table.stdout)

        # A role that does not trust the partner at all.
        acct3 = "123456789014"
        self.onboard(acct3)
        other = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRole",
            "Principal": {"AWS": "arn:aws:iam::222222222222:root"}}]}
        cli_env.activate(self.r, acct3, self.env.create_role(acct3, "other", other))
        res = self.env.xacct("check", acct3, "--wait", "1", "--json")
        self.assertEqual(res.returncode, 1)
        self.assertEqual(json.loads(res.stdout)["result"], "not_assumable")

        self.assertEqual([e["outcome"] for e in self.events(acct2) if e["type"] == "check"],
                         ["insecure", "insecure"])
        pending = "123456789015"
        self.onboard(pending)
        res = self.env.xacct("check", pending)
        self.assertEqual(res.returncode, 1)
        self.assertIn("has no role yet", res.stderr)

    def test_check_ends_at_its_deadline_with_a_call_in_flight(self):
        # STS holds every answer for a minute: the check's deadline (--wait
        # 1 + 15 s) comes while an AssumeRole call is out, and the check
        # ends then, as transient, instead of when the call gives up.
        acct = "123456789012"
        self.active_customer(acct)
        self.env.fa.control("POST", "/_fake/faults", {"service": "sts", "latency_ms": 60000})
        self.addCleanup(self.env.fa.control, "DELETE", "/_fake/faults")
        t0 = time.monotonic()
        res = self.env.xacct("check", acct, "--wait", "1", "--json")
        elapsed = time.monotonic() - t0
        self.assertEqual(res.returncode, 1, res.stderr)
        out = json.loads(res.stdout)
        self.assertEqual(out["result"], "transient", out)
        self.assertIn("deadline reached with an AssumeRole call in flight", out["detail"])
        # At the deadline, 16 s in: well before STS's minute (bound generously).
        self.assertLess(elapsed, 45)

    def test_console_signin_url(self):
        acct = "123456789012"
        _, role = self.active_customer(acct)
        res = self.env.xacct("console", acct, "--duration", "7200")
        self.assertEqual(res.returncode, 0, res.stderr)
        lines = res.stdout.splitlines()
        self.assertEqual(len(lines), 1)
        url = lines[0]
        self.assertIn("warning", res.stderr)
        self.assertIn("15 minutes", res.stderr)
        self.assertNotIn(url, res.stderr)
        u = urllib.parse.urlsplit(url)
        q = urllib.parse.parse_qs(u.query)
        self.assertEqual(u.path, "/federation")
        self.assertEqual(q["Action"], ["login"])
        self.assertEqual(q["Destination"], ["https://console.aws.amazon.com/ec2/"])
        self.assertEqual(q["Issuer"], ["xacct"])

        # Opening it signs in as the role (the federation endpoint redirects).
        ctx = ssl.create_default_context(cafile=self.env.fa.ca_file)
        conn = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=30)
        conn.request("GET", u.path + "?" + u.query)
        resp = conn.getresponse()
        resp.read()
        conn.close()
        self.assertEqual(resp.status, 302)
        self.assertEqual(resp.getheader("Location"), "https://console.aws.amazon.com/ec2/")
        logins = [x for x in self.env.fa.records("console_login") if x.get("ok")]
        self.assertEqual(len(logins), 1)
        self.assertEqual(logins[0]["session_duration"], 7200)
        self.assertTrue(logins[0]["arn"].startswith("arn:aws:sts::%s:assumed-role/xacct-access/" % acct),
                        logins[0])

        dest = self.env.xacct("console", acct, "--destination", "https://console.aws.amazon.com/s3/", "--json")
        self.assertEqual(dest.returncode, 0, dest.stderr)
        out = json.loads(dest.stdout)
        self.assertEqual(out["role_arn"], role)
        self.assertEqual(urllib.parse.parse_qs(urllib.parse.urlsplit(out["login_url"]).query)["Destination"],
                         ["https://console.aws.amazon.com/s3/"])
        self.assertIn("console", [e["type"] for e in self.events(acct)])

        # A role that refuses the partner: one clear failure.
        acct2 = "123456789013"
        self.onboard(acct2)
        closed = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRole",
            "Principal": {"AWS": "arn:aws:iam::222222222222:root"}}]}
        cli_env.activate(self.r, acct2, self.env.create_role(acct2, "closed", closed))
        res = self.env.xacct("console", acct2)
        self.assertEqual(res.returncode, 1)
        self.assertEqual(res.stdout, "")
        self.assertEqual(len(res.stderr.splitlines()), 1, res.stderr)
        self.assertIn("AssumeRole", res.stderr)

    def test_jobs_done_offboards_and_revokes_publishing(self):
        acct = "123456789012"
        info, role = self.active_customer(acct)
        keys = self.env.account_keys(acct)
        self.assertEqual(self.env.publish_as(keys, info["topic_arn"]).status, 200)
        jid = cli_env.enqueue_offboarding(self.r, acct, role)

        res = self.env.xacct("jobs", "--json")
        self.assertEqual(res.returncode, 0, res.stderr)
        jobs = json.loads(res.stdout)
        self.assertEqual([(j["id"], j["account_id"], j["role_arn"]) for j in jobs], [(jid, acct, role)])
        self.assertNotIn(info["external_id"], res.stdout)
        listed = self.env.xacct("jobs", "list")
        self.assertEqual(listed.returncode, 0, listed.stderr)
        self.assertIn(jid, listed.stdout)

        res = self.env.xacct("jobs", "done", jid, "--json")
        self.assertEqual(res.returncode, 0, res.stderr)
        out = json.loads(res.stdout)
        self.assertEqual((out["account_id"], out["state"], out["removed_from_topic"]),
                         (acct, "offboarded", info["topic_arn"]))
        self.assertEqual(self.r.hget("xacct:customer:" + acct, "state"), b"offboarded")
        self.assertFalse(self.r.sismember("xacct:topic:" + info["topic_arn"], acct))
        self.assertEqual(json.loads(self.env.xacct("jobs", "--json").stdout), [])
        policy = self.env.topic_policy(info["topic_arn"])
        self.assertNotIn(acct, json.dumps(policy))
        self.assertEqual(policy["Statement"][0]["Sid"], "__default_statement_ID")
        denied = self.env.publish_as(keys, info["topic_arn"])
        self.assertEqual(denied.status, 403)

        again = self.env.xacct("jobs", "done", jid)
        self.assertEqual(again.returncode, 1)
        self.assertIn("no open job", again.stderr)

        # Offboarded customers can come back with a new external ID.
        back = self.onboard(acct)
        self.assertNotEqual(back["external_id"], info["external_id"])
        self.assertEqual(self.env.publish_as(keys, back["topic_arn"]).status, 200)

    def test_jobs_undecodable_entry_is_listed_and_closable(self):
        """A corrupt or foreign entry in jobs:offboard names no customer; it is
        listed as undecodable (also one without a job field) and `jobs done`
        closes it with a warning, touching nobody."""
        acct = "123456789012"
        _, role = self.active_customer(acct)
        good = cli_env.enqueue_offboarding(self.r, acct, role)
        bad = self.r.xadd("xacct:jobs:offboard", {"job": b"\xc1 not msgpack"}).decode()
        foreign = self.r.xadd("xacct:jobs:offboard", {"note": "added by hand"}).decode()

        res = self.env.xacct("jobs", "--json")
        self.assertEqual(res.returncode, 0, res.stderr)
        rows = {j["id"]: j for j in json.loads(res.stdout)}
        self.assertEqual(set(rows), {good, bad, foreign})
        self.assertEqual(rows[good]["account_id"], acct)
        self.assertNotIn("undecodable", rows[good])
        for jid in (bad, foreign):
            self.assertTrue(rows[jid]["undecodable"], rows[jid])
        table = self.env.xacct("jobs")
        self.assertEqual(table.returncode, 0, table.stderr)
        self.assertIn(foreign, table.stdout)

        for jid in (bad, foreign):
            res = self.env.xacct("jobs", "done", jid, "--json")
            self.assertEqual(res.returncode, 0, res.stderr)
            out = json.loads(res.stdout)
            self.assertTrue(out["undecodable"])
            self.assertEqual((out["account_id"], out["state"]), ("", "unchanged"))
            self.assertIn("warning", res.stderr)
            self.assertIn("undecodable", res.stderr)
        self.assertEqual([j["id"] for j in json.loads(self.env.xacct("jobs", "--json").stdout)],
                         [good])
        self.assertEqual(self.r.hget("xacct:customer:" + acct, "state"), b"offboarding")
        self.assertEqual(self.r.xpending("xacct:jobs:offboard", "offboarders")["pending"], 0)

    def test_jobs_list_shows_every_job(self):
        """More open jobs than one Redis page (and than the old cap of 1000):
        all are listed, oldest first, each with its consumer group view."""
        n = 2345
        self.r.eval("""
            pcall(redis.call, 'XGROUP', 'CREATE', KEYS[1], 'offboarders', '0', 'MKSTREAM')
            for i = 1, tonumber(ARGV[1]) do
              local acct = string.format('%012d', 100000000000 + i)
              redis.call('XADD', KEYS[1], '*', 'job', cmsgpack.pack({v = 1, account_id = acct,
                role_arn = 'arn:aws:iam::' .. acct .. ':role/r', external_id = 'x',
                stack_id = 's', region = 'us-east-1', request_id = 'r' .. i,
                requested_at = 1700000000000}))
            end
            return 1""", 1, "xacct:jobs:offboard", n)
        ids = [e[0].decode() for e in self.r.xrange("xacct:jobs:offboard")]
        # A partner's consumer holds the last few (pages 4 and 5).
        self.r.xgroup_setid("xacct:jobs:offboard", "offboarders", ids[-11])
        self.r.xreadgroup("offboarders", "partner-1", {"xacct:jobs:offboard": ">"})
        res = self.env.xacct("jobs", "--json")
        self.assertEqual(res.returncode, 0, res.stderr)
        jobs = json.loads(res.stdout)
        self.assertEqual([j["id"] for j in jobs], ids)
        self.assertEqual(jobs[-1]["account_id"], "%012d" % (100000000000 + n))
        self.assertEqual([j["consumer"] for j in jobs[-10:]], ["partner-1"] * 10)
        self.assertEqual([j["deliveries"] for j in jobs[-10:]], [1] * 10)
        self.assertIsNone(jobs[-11]["consumer"])
        table = self.env.xacct("jobs")
        self.assertEqual(table.returncode, 0, table.stderr)
        lines = table.stdout.splitlines()
        self.assertEqual(len(lines), n + 1)
        self.assertTrue(lines[-1].startswith(ids[-1]) and lines[-1].endswith("1"), lines[-1])

    def test_topics_reports_a_failing_topic_and_lists_the_rest(self):
        """One region's GetTopicAttributes failing (here: a configured topic
        that does not exist there) is reported on its row and on stderr; the
        other topics are still listed, and the command exits 1."""
        good = self.env.topics[0]
        missing = "arn:aws:sns:eu-west-1:%s:phone-home-gone" % self.env.fa.partner_account
        self.env.topics.insert(0, missing)
        self.env.write_config(bucket=BUCKET)
        res = self.env.xacct("topics", "--json")
        self.assertEqual(res.returncode, 1, res.stderr)
        rows = {row["topic_arn"]: row for row in json.loads(res.stdout)}
        self.assertEqual(set(rows), {missing, good})
        self.assertGreater(rows[good]["room"], 800)
        self.assertIsNone(rows[good]["error"])
        self.assertIn(missing, rows[missing]["error"])
        self.assertIsNone(rows[missing]["room"])
        self.assertEqual(len(res.stderr.splitlines()), 1, res.stderr)
        self.assertIn(missing, res.stderr)
        table = self.env.xacct("topics")
        self.assertEqual(table.returncode, 1, table.stderr)
        self.assertIn(good, table.stdout)
        self.assertIn("ERROR", table.stdout.splitlines()[0])

    def test_dead_and_workers(self):
        envelope = {"Type": "Notification", "MessageId": "m-1", "TopicArn": self.env.topics[0],
                    "Message": json.dumps({
                        "RequestType": "Create",
                        "ResponseURL": "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/"
                                       "k?X-Amz-Signature=deadbeef&X-Amz-Credential=AKIA",
                        "ResourceProperties": {"ExternalID": "0f0f0f0f-secret", "AccountID": "123456789012"}})}
        self.r.xadd("xacct:dead", {"body": json.dumps(envelope), "reason": "ownership mismatch",
                                   "receives": "6", "queue": "https://sqs/q", "message_id": "m-1",
                                   "at": "2024-05-01T12:00:00Z"})
        res = self.env.xacct("dead", "--json")
        self.assertEqual(res.returncode, 0, res.stderr)
        rows = json.loads(res.stdout)
        self.assertEqual(len(rows), 1)
        self.assertEqual((rows[0]["reason"], rows[0]["receives"], rows[0]["message_id"]),
                         ("ownership mismatch", 6, "m-1"))
        msg = rows[0]["body"]["Message"]
        self.assertEqual(msg["ResourceProperties"]["ExternalID"], "***")
        self.assertTrue(msg["ResponseURL"].endswith("?***"))
        self.assertNotIn("deadbeef", res.stdout)
        self.assertNotIn("0f0f0f0f-secret", res.stdout)
        table = self.env.xacct("dead")
        self.assertIn("ownership mismatch", table.stdout)

        cli_env.heartbeat(self.r, "host-a:4242")
        res = self.env.xacct("workers", "--json")
        self.assertEqual(res.returncode, 0, res.stderr)
        (w,) = json.loads(res.stdout)
        self.assertEqual((w["id"], w["host"], w["pid"], w["processed"], w["quiet"]),
                         ("host-a:4242", "host-a", 4242, 42, False))
        self.assertTrue(3_590_000 <= w["uptime_ms"] <= 3_700_000, w)
        self.assertTrue(0 < w["expires_in_ms"] <= 30_000, w)
        table = self.env.xacct("workers")
        self.assertIn("host-a:4242", table.stdout)
        self.assertIn("1h0m", table.stdout)


    def test_dead_redacts_malformed_bodies(self):
        """What reached the dead set is often malformed; its secrets are
        redacted all the same: a Message without a Type, a Message that is
        not a JSON object (shown by its length), a subscription Token."""
        request = {"RequestType": "Create",
                   "ResponseURL": "https://cloudformation-custom-resource-response-useast1"
                                  ".s3.amazonaws.com/k?X-Amz-Signature=deadbeef",
                   "ResourceProperties": {"ExternalID": "0f0f0f0f-secret"}}
        bodies = [
            {"Type": "Notification", "TopicArn": self.env.topics[0],
             "Message": json.dumps(request) + " trailing"},
            {"TopicArn": self.env.topics[0], "Message": json.dumps(request)},
            {"Type": "SubscriptionConfirmation", "Token": "tok-secret-123",
             "SubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription"
                             "&Token=tok-secret-123", "Message": "You have chosen to subscribe"},
        ]
        for b in bodies:
            self.r.xadd("xacct:dead", {"body": json.dumps(b), "reason": "r", "receives": "6",
                                       "queue": "q", "message_id": "m", "at": "2024"})
        res = self.env.xacct("dead", "--json")
        self.assertEqual(res.returncode, 0, res.stderr)
        for secret in ("deadbeef", "0f0f0f0f-secret", "tok-secret-123"):
            self.assertNotIn(secret, res.stdout)
        rows = {r["body"].get("Type"): r["body"] for r in json.loads(res.stdout)}
        self.assertEqual(rows["Notification"]["Message"],
                         "(%d bytes, not a JSON object)" % len(bodies[0]["Message"]))
        self.assertEqual(rows[None]["Message"]["ResourceProperties"]["ExternalID"], "***")
        self.assertEqual(rows["SubscriptionConfirmation"]["Token"], "***")

if __name__ == "__main__":
    unittest.main()
