"""Abandoned onboardings (SPEC §9.4) end to end: a real xacctd expires a
pending customer after onboard.pending_ttl, `xacct cancel` and
DELETE /v1/customers/{account_id} close one at once, and what that leaves
behind is checked where it lives: the Redis record, index and outbox, the
emulator's S3 bucket and the topic policy, evaluated by the emulator's own
SNS Publish authorization. A Create that arrives for a closed onboarding is
answered FAILED; a redelivered, already answered Create still deletes its
template. An onboarding killed half-way is released by the workers once its
reservation's lease has ended."""
import hashlib
import http.client
import json
import os
import subprocess
import unittest
import urllib.parse

from harness import BUILD, Env, free_port, wait_for

BUCKET = "xacct-templates"
REASON = "this onboarding link has expired; ask for a new one"
TOKEN = "portal-token-" + "c" * 40
SUBJECT = "AWS CloudFormation custom resource request"


def principals(policy):
    out = set()
    for st in policy.get("Statement", []):
        p = st.get("Principal", {})
        aws = p.get("AWS", []) if isinstance(p, dict) else []
        out.update([aws] if isinstance(aws, str) else aws)
    return out


class Base(unittest.TestCase):
    def setUp(self):
        self.env = env = Env().start()
        self.addCleanup(env.stop)
        env.ctl("POST", "/_fake/s3/buckets", {"name": BUCKET})
        env.write_config(cloudformation__template_bucket=BUCKET)
        self.topic = env.topics[env.regions[0]][0]

    # ---- what closing an onboarding leaves -----------------------------------
    def objects(self):
        return env_objects(self.env)

    def outbox(self, account):
        out = []
        for _, f in self.env.r.xrange(f"{self.env.PREFIX}outbox"):
            ev = json.loads(f[b"event"])
            if ev["account_id"] == account:
                out.append(ev)
        return out

    def expirations(self, worker, outcome):
        samples = self.env.parse_metrics(self.env.scrape(worker)[2])
        return samples.get(("xacct_expirations_total", frozenset({("outcome", outcome)})), 0)

    def types(self, account):
        return [e["type"] for e in self.outbox(account)]

    def publish_status(self, account):
        """SNS Publish to the partner topic signed with the account's own
        keys: the emulator evaluates the topic policy as SNS does."""
        keys = self.env.fa.new_account(account)
        body = urllib.parse.urlencode({"Action": "Publish", "Version": "2010-03-31",
                                       "TopicArn": self.topic, "Message": "probe"})
        r = self.env.fa.call("sns", "POST", "/", body=body.encode(),
                             creds=(keys["access_key_id"], keys["secret_access_key"], None),
                             region=self.env.regions[0],
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
        return r.status, r.text()

    def assert_closed(self, account, ext, state):
        env, p = self.env, self.env.PREFIX
        c = env.customer(account)
        self.assertEqual(c["state"], state)
        self.assertIsNone(env.r.get(f"{p}external-id:{ext}"))
        self.assertFalse(env.r.sismember(f"{p}topic:{self.topic}", account))
        self.assertIsNone(env.r.zscore(f"{p}pending", account))
        wait_for(lambda: not [k for k in self.objects() if account in k], 60,
                 "the template to be deleted")
        wait_for(lambda: f"arn:aws:iam::{account}:root" not in
                 principals(env.topic_policy(self.topic)), 60,
                 "the account to leave the topic policy")
        wait_for(lambda: env.r.zcard(f"{p}cleanup") == 0, 60, "the clean-up to finish")
        st, text = self.publish_status(account)
        self.assertEqual(st, 403, text)
        self.assertIn("AuthorizationError", text)
        # Exactly one lifecycle event for the transition, without the ID.
        evs = [e for e in self.outbox(account) if e["type"] == f"customer.{state}"]
        self.assertEqual(len(evs), 1, self.outbox(account))
        self.assertEqual(evs[0]["state"], state)
        self.assertNotIn(ext, json.dumps(evs[0]))


def env_objects(env):
    return [o["key"] if isinstance(o, dict) else o
            for o in env.ctl("GET", f"/_fake/s3/buckets/{BUCKET}")["objects"]]


class ExpiryTest(Base):
    def test_pending_onboarding_expires(self):
        env, acct = self.env, "310000000001"
        env.write_config(onboard__pending_ttl="3")
        # A statement of the partner's own in the topic policy must survive.
        policy = env.topic_policy(self.topic)
        policy["Statement"].append({"Sid": "partner-own", "Effect": "Allow",
                                    "Principal": {"AWS": "arn:aws:iam::222222222222:root"},
                                    "Action": "SNS:Subscribe", "Resource": self.topic})
        env.sns(env.regions[0], Action="SetTopicAttributes", TopicArn=self.topic,
                AttributeName="Policy", AttributeValue=json.dumps(policy))
        ext = env.onboard(acct)
        self.assertEqual(len([k for k in self.objects() if acct in k]), 1)
        self.assertIn(f"arn:aws:iam::{acct}:root", principals(env.topic_policy(self.topic)))
        self.assertIsNotNone(env.r.zscore(f"{env.PREFIX}pending", acct))

        w = env.start_worker(metrics=True)
        wait_for(lambda: env.customer(acct)["state"] == "expired", 60, "the expiry")
        self.assert_closed(acct, ext, "expired")
        # Counted: one onboarding expired, one clean-up done, none failed.
        wait_for(lambda: self.expirations(w, "cleaned") == 1, 30, "the clean-up to be counted")
        self.assertEqual(self.expirations(w, "expired"), 1)
        self.assertEqual(self.expirations(w, "cleanup_failed"), 0)
        kept = [s for s in env.topic_policy(self.topic)["Statement"]
                if s.get("Sid") == "partner-own"]
        self.assertEqual(len(kept), 1)
        self.assertEqual(self.types(acct), ["customer.onboarding", "customer.expired"])

        # The old link is dead: CloudFormation cannot phone home with it.
        s = env.wait_stack(env.create_stack(acct, env.template(acct, ext))["stack_id"])
        self.assertNotEqual(s["status"], "CREATE_COMPLETE")
        reasons = " ".join(str(e.get("resource_status_reason")) for e in s["events"])
        self.assertIn("not authorized to perform: SNS:Publish", reasons)
        self.assertFalse(s["requests"][0]["published"])

        log = env.worker_log(w)
        self.assertIn(b"expiry.expired", log)
        self.assertNotIn(ext.encode(), log)
        self.assertEqual(env.stop_worker(w), 0, log[-3000:])

        # Re-onboarding issues a new external ID and allows the account again
        # (no worker runs now: the TTL of seconds would expire it again).
        ext2 = env.onboard(acct)
        self.assertNotEqual(ext2, ext)
        self.assertEqual(env.customer(acct)["state"], "pending")
        self.assertEqual(env.r.get(f"{env.PREFIX}external-id:{ext2}"), acct.encode())
        self.assertIsNone(env.r.get(f"{env.PREFIX}external-id:{ext}"))
        self.assertIn(f"arn:aws:iam::{acct}:root", principals(env.topic_policy(self.topic)))

    def test_sigterm_during_a_clean_up(self):
        """SIGTERM while a clean-up waits on S3: a clean exit, the entry stays
        in the cleanup zset, and another worker finishes it once its lease
        has run out."""
        env, acct = self.env, "310000000005"
        env.write_config(onboard__pending_ttl="2")
        ext = env.onboard(acct)
        env.fa.set_faults("s3", latency_ms=20000)
        try:
            w1 = env.start_worker()
            wait_for(lambda: env.customer(acct)["state"] == "expired", 60, "the expiry")
            member = f"{acct}|{ext}|{self.topic}".encode()
            wait_for(lambda: (env.r.zscore(f"{env.PREFIX}cleanup", member) or 0)
                     > env.r.time()[0] * 1000 + 60000, 30, "the clean-up to be taken")
            self.assertEqual(env.stop_worker(w1), 0, env.worker_log(w1)[-3000:])
        finally:
            env.fa.clear_faults()
        self.assertIsNotNone(env.r.zscore(f"{env.PREFIX}cleanup", member))
        self.assertTrue([k for k in self.objects() if acct in k])
        # The lease runs out (five minutes; here at once).
        env.r.zadd(f"{env.PREFIX}cleanup", {member: 0})
        w2 = env.start_worker()
        self.assert_closed(acct, ext, "expired")
        self.assertEqual(env.stop_worker(w2), 0)

    def test_ttl_zero_never_expires(self):
        env, acct = self.env, "310000000002"
        env.write_config(onboard__pending_ttl="0")
        ext = env.onboard(acct)
        env.r.zadd(f"{env.PREFIX}pending", {acct: 1})  # onboarded long ago
        w = env.start_worker()
        wait_for(lambda: b"sqs.polling" in env.worker_log(w), 20, "polling")
        # The expirer's first sweep runs a second after the start; give it
        # several.
        import time
        time.sleep(4)
        self.assertEqual(env.customer(acct)["state"], "pending")
        self.assertEqual(env.r.get(f"{env.PREFIX}external-id:{ext}"), acct.encode())
        self.assertEqual(env.stop_worker(w), 0)

    def test_create_for_a_closed_onboarding_is_failed(self):
        """Creates published while the onboardings were open and received
        after they closed (one expired, one cancelled): FAILED with the
        Reason of SPEC §9.4, and nothing else changes."""
        env = self.env
        expired, cancelled = "310000000003", "310000000004"
        idle = env.ctl("POST", "/_fake/sqs/queues", {"name": "idle"})["url"]
        env.write_config(onboard__pending_ttl="3")
        stacks = {}
        for acct in (expired, cancelled):
            ext = env.onboard(acct)
            stacks[acct] = env.create_stack(acct, env.template(acct, ext))["stack_id"]
        wait_for(lambda: env.queue()["visible"] == 2, 30, "both Creates on the queue")
        r = env.xacct("cancel", cancelled)
        self.assertEqual(r.returncode, 0, r.stderr)
        # A worker that does not poll the main queue expires the other one.
        w1 = env.start_worker(extra_env={"XACCT_QUEUE_URLS": idle})
        wait_for(lambda: env.customer(expired)["state"] == "expired", 60, "the expiry")
        self.assertEqual(env.stop_worker(w1), 0)
        before = {a: env.customer(a) for a in stacks}
        events = {a: self.types(a) for a in stacks}

        w2 = env.start_worker()
        for acct, sid in stacks.items():
            s = env.wait_stack(sid)
            self.assertNotEqual(s["status"], "CREATE_COMPLETE")
            # The answer to the Create (the rollback's Delete may follow).
            create = next(r["request"] for r in s["requests"]
                          if r["request"]["RequestType"] == "Create")
            [ans] = [json.loads(a["body"]) for a in s["answers"]
                     if "body" in a and json.loads(a["body"]).get("RequestId") ==
                     create["RequestId"]]
            self.assertEqual(ans["Status"], "FAILED")
            self.assertEqual(ans["Reason"], REASON)
        env.wait_queue_empty()
        for acct in stacks:
            after = env.customer(acct)
            self.assertEqual(after["state"], before[acct]["state"])
            self.assertEqual(after.get("role_arn", ""), before[acct].get("role_arn", ""))
            self.assertEqual(self.types(acct), events[acct])
        self.assertEqual(env.stop_worker(w2), 0)


def token_line(name, token):
    return f"{name}:{hashlib.sha256(token.encode()).hexdigest()}\n"


class CancelTest(Base):
    def setUp(self):
        super().setUp()
        env = self.env
        tokens = os.path.join(env.tmp, "api-tokens")
        with open(tokens, "w") as f:
            f.write(token_line("portal", TOKEN))
        self.port = free_port()
        env.write_config(api__listen=f"127.0.0.1:{self.port}", api__tokens_file=tokens)
        self.worker = env.start_worker()
        wait_for(self._reachable, 20, "the API to listen")

    def tearDown(self):
        self.assertEqual(self.env.stop_worker(self.worker), 0,
                         self.env.worker_log(self.worker)[-3000:])

    def _reachable(self):
        try:
            self.request("GET", "/v1/openapi.json")
            return True
        except OSError:
            return False

    def request(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        h = {"Authorization": f"Bearer {TOKEN}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        text = r.read()
        c.close()
        return r.status, r, json.loads(text) if text else None

    def seed(self, acct, state):
        ext = self.env.seed_customer(acct)
        self.env.r.hset(f"{self.env.PREFIX}customer:{acct}", "state", state)
        return ext

    def test_cli_cancel_of_a_pending_onboarding(self):
        env, acct = self.env, "320000000001"
        ext = env.onboard(acct)
        r = env.xacct("cancel", acct, "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        self.assertEqual(out["state"], "cancelled")
        self.assertTrue(out["cleaned_up"])
        self.assertFalse(out["already_cancelled"])
        self.assert_closed(acct, ext, "cancelled")
        self.assertEqual(self.types(acct), ["customer.onboarding", "customer.cancelled"])
        self.assertNotIn(ext.encode(), r.stdout + r.stderr)
        # Again: nothing left to do, no second event.
        r = env.xacct("cancel", acct)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"already cancelled", r.stdout)
        self.assertEqual(self.types(acct), ["customer.onboarding", "customer.cancelled"])
        # Re-onboarding issues a new ID.
        ext2 = env.onboard(acct)
        self.assertNotEqual(ext2, ext)
        self.assertEqual(env.customer(acct)["state"], "pending")

    def test_an_onboarding_under_way_is_not_there_to_cancel(self):
        """While an onboarding writes its topic policy nothing of it is
        stored yet (SPEC §7: nothing half-done): a cancel finds no customer
        and no event has gone out; the onboarding then completes, pending,
        with its one event."""
        env, acct = self.env, "320000000005"
        env.ctl("POST", "/_fake/faults", {"service": "sns", "latency_ms": 1500})
        proc = subprocess.Popen(
            env.wrap([os.path.join(BUILD, "xacct"), "--config",
                      env.config_path, "onboard", acct, "--region", env.regions[0]]),
            env=env.process_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        # The region's policy lock is held while the policy is written (each
        # SNS call 1.5 s late).
        wait_for(lambda: env.r.get(f"{env.PREFIX}lock:topics:{env.regions[0]}"), 30,
                 "the onboarding writing its topic policy")
        self.assertEqual(env.customer(acct), {})
        self.assertEqual(self.outbox(acct), [])
        r = env.xacct("cancel", acct)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(f"no customer {acct}".encode(), r.stderr)
        out, err = proc.communicate(timeout=120)
        env.ctl("DELETE", "/_fake/faults")
        self.assertEqual(proc.returncode, 0, out + err)
        self.assertEqual(env.customer(acct)["state"], "pending")
        self.assertEqual([e["type"] for e in self.outbox(acct)], ["customer.onboarding"])
        self.assertIn(f"arn:aws:iam::{acct}:root", principals(env.topic_policy(self.topic)))

    def test_cli_refuses_every_other_state(self):
        env = self.env
        states = ["active", "rejected", "offboarding", "offboarded", "degraded", "expired"]
        for i, st in enumerate(states):
            acct = f"32000000010{i}"
            ext = self.seed(acct, st)
            r = env.xacct("cancel", acct)
            self.assertEqual(r.returncode, 1, (st, r.stderr))
            self.assertIn(f"customer {acct} is {st}; only a pending onboarding can be "
                          f"cancelled".encode(), r.stderr)
            self.assertEqual(env.customer(acct)["state"], st)
            self.assertEqual(env.r.get(f"{env.PREFIX}external-id:{ext}"), acct.encode())
            self.assertEqual(self.outbox(acct), [])
        r = env.xacct("cancel", "320000000999")
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"no customer 320000000999", r.stderr)
        self.assertEqual(env.xacct("cancel", "1234").returncode, 2)
        self.assertEqual(env.xacct("cancel").returncode, 2)
        self.assertEqual(env.r.zcard(f"{env.PREFIX}cleanup"), 0)

    def test_api_delete(self):
        env, acct = self.env, "320000000201"
        st, _, doc = self.request("POST", "/v1/customers", {"account_id": acct})
        self.assertEqual(st, 201, doc)
        ext = doc["external_id"]
        st, r, doc = self.request("DELETE", f"/v1/customers/{acct}")
        self.assertEqual(st, 200, doc)
        self.assertEqual(r.getheader("Content-Type"), "application/json")
        self.assertEqual(doc["state"], "cancelled")
        self.assertEqual(doc["account_id"], acct)
        self.assertIsNone(doc["launch_url"])
        self.assert_closed(acct, ext, "cancelled")
        # Cancelled is a state other than pending too (SPEC §7): 409, and
        # nothing changes.
        before = env.customer(acct)
        st, r, doc = self.request("DELETE", f"/v1/customers/{acct}")
        self.assertEqual(st, 409, doc)
        self.assertEqual(r.getheader("Content-Type"), "application/problem+json")
        self.assertEqual(doc["status"], 409)
        self.assertIn("cancelled", doc["detail"])
        self.assertEqual(env.customer(acct), before)
        self.assertEqual(self.types(acct), ["customer.onboarding", "customer.cancelled"])
        # Unknown: 404; another state: 409; bad id: 422.
        st, r, doc = self.request("DELETE", "/v1/customers/320000000299")
        self.assertEqual(st, 404, doc)
        self.assertEqual(r.getheader("Content-Type"), "application/problem+json")
        self.seed("320000000202", "active")
        st, r, doc = self.request("DELETE", "/v1/customers/320000000202")
        self.assertEqual(st, 409, doc)
        self.assertIn("active", doc["detail"])
        self.assertEqual(env.customer("320000000202")["state"], "active")
        st, _, doc = self.request("DELETE", "/v1/customers/12345")
        self.assertEqual(st, 422, doc)
        # The audit trail names the token's owner.
        st, _, doc = self.request("GET", f"/v1/customers/{acct}/events")
        self.assertEqual(st, 200)
        self.assertIn("portal", [e["actor"] for e in doc["items"] if e["type"] == "cancelled"])

    def test_onboarded_again_the_links_live_as_long_as_the_new_onboarding(self):
        """created_at is the record's creation and stays when a cancelled
        customer is onboarded again; its links are measured from the current
        onboarding's start, the pending zset that the expirer measures
        onboard.pending_ttl (a week here) from."""
        env, acct, ttl = self.env, "320000000401", 604800
        st, _, doc = self.request("POST", "/v1/customers", {"account_id": acct})
        self.assertEqual(st, 201, doc)
        st, _, doc = self.request("DELETE", f"/v1/customers/{acct}")
        self.assertEqual(st, 200, doc)
        old = "2020-01-01T00:00:00Z"
        env.r.hset(f"{env.PREFIX}customer:{acct}", "created_at", old)

        def expires(doc):
            self.assertIsNotNone(doc["launch_url"], doc)
            self.assertIsNotNone(doc["template_url"], doc)
            self.assertEqual(env.template_url_of(doc["launch_url"]), doc["template_url"])
            q = urllib.parse.parse_qs(urllib.parse.urlsplit(doc["template_url"]).query)
            return int(q["X-Amz-Expires"][0])

        st, _, doc = self.request("POST", "/v1/customers", {"account_id": acct})
        self.assertEqual(st, 201, doc)
        self.assertEqual((doc["state"], doc["created_at"]), ("pending", old))
        self.assertGreater(expires(doc), ttl - 60)
        st, _, doc = self.request("GET", f"/v1/customers/{acct}")
        self.assertEqual(st, 200, doc)
        self.assertGreater(expires(doc), ttl - 60)
        st, _, page = self.request("GET", "/v1/customers?state=pending&limit=1000")
        self.assertEqual(st, 200, page)
        [item] = [c for c in page["items"] if c["account_id"] == acct]
        self.assertGreater(expires(item), ttl - 60)
        # What is left is the pending zset's: a thousand seconds of the week.
        now_ms = env.r.time()[0] * 1000
        env.r.zadd(f"{env.PREFIX}pending", {acct: now_ms - (ttl - 1000) * 1000})
        for path in (f"/v1/customers/{acct}", "/v1/customers?state=pending&limit=1000"):
            st, _, doc = self.request("GET", path)
            self.assertEqual(st, 200, doc)
            if "items" in doc:
                [doc] = [c for c in doc["items"] if c["account_id"] == acct]
            self.assertTrue(900 < expires(doc) <= 1000, doc["template_url"])

    def test_aws_down_then_the_clean_up_is_finished(self):
        """The cancel is committed before AWS is asked to clean up, so AWS
        failing is not an error of the cancel (SPEC §7: an error answer
        means nothing changed): DELETE answers 200 and the CLI exits 0 with
        a warning, and the workers' backoff finishes the clean-up once AWS
        is back. A repeated DELETE meanwhile is a 409 that changes nothing."""
        env = self.env
        api_acct, cli_acct = "320000000301", "320000000302"
        api_ext, cli_ext = env.onboard(api_acct), env.onboard(cli_acct)
        env.fa.set_faults("sns", error_rate=1.0)
        try:
            st, r, doc = self.request("DELETE", f"/v1/customers/{api_acct}")
            self.assertEqual(st, 200, doc)
            self.assertEqual(doc["state"], "cancelled")
            self.assertIsNone(doc["launch_url"])
            r = env.xacct("cancel", cli_acct)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(b"clean-up of " + cli_acct.encode() + b"'s onboarding failed",
                          r.stderr)
            self.assertIn(b"xacctd deletes its template", r.stdout)
            # Still failing: the customer is cancelled, so a repeated DELETE
            # is refused and nothing new happens.
            st, _, doc = self.request("DELETE", f"/v1/customers/{api_acct}")
            self.assertEqual(st, 409, doc)
            self.assertIn("cancelled", doc["detail"])
            for acct in (api_acct, cli_acct):
                self.assertEqual(env.customer(acct)["state"], "cancelled")
            # Both clean-ups are still due (the policy cannot be read while
            # SNS fails; assert_closed waits for it to change below).
            self.assertEqual(env.r.zcard(f"{env.PREFIX}cleanup"), 2)
        finally:
            env.fa.clear_faults()
        self.assert_closed(api_acct, api_ext, "cancelled")
        self.assert_closed(cli_acct, cli_ext, "cancelled")
        self.assertEqual(self.types(api_acct), ["customer.onboarding", "customer.cancelled"])


class RedeliveredCreateTest(Base):
    """The chaos finding: a worker killed between answering a Create and
    deleting the template. The redelivered copy finds the claim finished,
    re-sends the stored answer and must still delete the template."""

    def test_redelivered_answered_create_deletes_the_template(self):
        env, acct = self.env, "330000000001"
        ext = env.onboard(acct)
        [key] = [k for k in self.objects() if acct in k]
        body = json.dumps(env.ctl("GET", f"/_fake/s3/objects/{BUCKET}/{key}")).encode()
        w = env.start_worker()
        s = env.wait_stack(env.create_stack(acct, env.template(acct, ext))["stack_id"])
        self.assertEqual(s["status"], "CREATE_COMPLETE", s.get("status_reason"))
        wait_for(lambda: key not in self.objects(), 30, "the template to be deleted")
        env.wait_queue_empty()

        # As if the first worker died before the deletion: the template is
        # back and the Create is delivered again.
        r = env.fa.call("s3", "PUT", f"/{BUCKET}/{urllib.parse.quote(key)}", body=body,
                        headers={"Content-Type": "application/json"})
        self.assertEqual(r.status, 200, r.text())
        self.assertIn(key, self.objects())
        req = s["requests"][0]["request"]
        env.sns(env.regions[0], Action="Publish", TopicArn=self.topic,
                Message=json.dumps(req), Subject=SUBJECT)
        wait_for(lambda: b"request.duplicate" in env.worker_log(w), 30, "the redelivery")
        wait_for(lambda: key not in self.objects(), 30, "the template to be deleted again")
        env.wait_queue_empty()
        self.assertEqual(env.customer(acct)["state"], "active")
        self.assertEqual(self.types(acct), ["customer.onboarding", "customer.connected"])
        self.assertEqual(env.stop_worker(w), 0)


class OnboardedAgainTest(Base):
    """A rejected customer's template stays in the bucket for a stack
    launched from it again; onboarding the customer again retires that ID,
    and the clean-up the onboarding queues deletes its template."""

    def test_a_rejected_customer_onboarded_again_loses_its_old_template(self):
        env, acct = self.env, "340000000001"
        ext = env.onboard(acct)
        [old] = [k for k in self.objects() if acct in k]
        w = env.start_worker()
        s = env.wait_stack(env.create_stack(acct, env.template(acct, ext, insecure=True))
                           ["stack_id"])
        self.assertEqual(s["status"], "ROLLBACK_COMPLETE")
        env.wait_queue_empty()
        self.assertEqual(env.customer(acct)["state"], "rejected")
        self.assertEqual(env.stop_worker(w), 0)
        self.assertIn(old, self.objects())

        ext2 = env.onboard(acct)
        self.assertNotEqual(ext2, ext)
        self.assertEqual(env.r.zcard(f"{env.PREFIX}cleanup"), 1)
        # A worker takes the due clean-up as it starts.
        w = env.start_worker()
        wait_for(lambda: old not in self.objects(), 60, "the retired template to be deleted")
        wait_for(lambda: env.r.zcard(f"{env.PREFIX}cleanup") == 0, 60, "the clean-up to finish")
        new = hashlib.sha256(b"xacct-template-key\n" + ext2.encode()).hexdigest()
        self.assertEqual([k for k in self.objects() if acct in k and new in k],
                         [k for k in self.objects() if acct in k])
        self.assertEqual(len([k for k in self.objects() if acct in k]), 1)
        # Still on its topic, and its new link works.
        self.assertIn(f"arn:aws:iam::{acct}:root", principals(env.topic_policy(self.topic)))
        # (The rolled-back stack stays until deleted, as in CloudFormation.)
        s = env.wait_stack(env.create_stack(acct, env.template(acct, ext2),
                                            name="xacct-onboarding-again")["stack_id"])
        self.assertEqual(s["status"], "CREATE_COMPLETE", s.get("status_reason"))
        self.assertEqual(env.customer(acct)["state"], "active")
        log = env.worker_log(w)
        self.assertNotIn(ext.encode(), log)
        self.assertEqual(env.stop_worker(w), 0, log[-3000:])


class KilledOnboardingTest(Base):
    """An `xacct onboard` killed after the account was allowed to publish
    and before the commit leaves no customer, only its reservation: once the
    reservation's lease has ended a worker releases it, so the account
    leaves the topic's set and policy and its template the bucket, and a
    committed onboarding beside it is left as it was."""

    def test_a_killed_onboarding_is_released_after_its_lease(self):
        env, p = self.env, self.env.PREFIX
        acct, other = "350000000001", "350000000002"
        other_ext = env.onboard(other)
        [other_key] = [k for k in self.objects() if other in k]
        # S3 slow: the CLI waits on the template upload, after the allow-list.
        env.fa.set_faults("s3", latency_ms=8000)
        try:
            proc = subprocess.Popen(
                env.wrap([os.path.join(BUILD, "xacct"), "--config", env.config_path,
                          "onboard", acct, "--region", env.regions[0]]),
                env=env.process_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self.addCleanup(lambda: proc.poll() is None and proc.kill())
            wait_for(lambda: env.r.sismember(f"{p}topic:{self.topic}", acct), 30,
                     "the account in the topic's set")
            self.assertIn(f"arn:aws:iam::{acct}:root", principals(env.topic_policy(self.topic)))
            proc.kill()
            proc.communicate(timeout=30)
        finally:
            env.fa.clear_faults()
        self.assertEqual(env.customer(acct), {})
        [member] = [m.decode() for m in env.r.zrange(f"{p}reservations", 0, -1)]
        account, ext, topic = member.split("|")
        self.assertEqual((account, topic), (acct, self.topic))
        self.assertEqual(env.r.get(f"{p}external-id:{ext}"), acct.encode())
        self.assertTrue(0 < env.r.pttl(f"{p}external-id:{ext}") <= 15 * 60 * 1000)
        # The upload may not have landed before the kill; as if it had.
        key = f"templates/{acct}/" + hashlib.sha256(b"xacct-template-key\n" +
                                                    ext.encode()).hexdigest() + ".json"
        if key not in self.objects():
            r = env.fa.call("s3", "PUT", f"/{BUCKET}/{key}", body=b"{}",
                            headers={"Content-Type": "application/json"})
            self.assertEqual(r.status, 200, r.text())
        self.assertIn(key, self.objects())

        # The lease ends (fifteen minutes; here at once) and a worker starts.
        env.r.pexpire(f"{p}external-id:{ext}", 1)
        env.r.zadd(f"{p}reservations", {member: 0})
        w = env.start_worker(metrics=True)
        wait_for(lambda: env.r.zcard(f"{p}reservations") == 0, 60, "the release")
        self.assertFalse(env.r.sismember(f"{p}topic:{self.topic}", acct))
        self.assertIsNone(env.r.get(f"{p}external-id:{ext}"))
        wait_for(lambda: key not in self.objects(), 60, "the template to be deleted")
        wait_for(lambda: f"arn:aws:iam::{acct}:root" not in
                 principals(env.topic_policy(self.topic)), 60,
                 "the account to leave the topic policy")
        wait_for(lambda: env.r.zcard(f"{p}cleanup") == 0, 60, "the clean-up to finish")
        st, text = self.publish_status(acct)
        self.assertEqual(st, 403, text)
        self.assertEqual(env.customer(acct), {})
        self.assertEqual(self.outbox(acct), [])
        self.assertEqual(self.expirations(w, "released"), 1)

        # The committed onboarding beside it: as it was.
        self.assertEqual(env.customer(other)["state"], "pending")
        self.assertEqual(env.r.get(f"{p}external-id:{other_ext}"), other.encode())
        self.assertEqual(env.r.pttl(f"{p}external-id:{other_ext}"), -1)
        self.assertTrue(env.r.sismember(f"{p}topic:{self.topic}", other))
        self.assertIn(f"arn:aws:iam::{other}:root", principals(env.topic_policy(self.topic)))
        self.assertIn(other_key, self.objects())
        self.assertEqual(self.publish_status(other)[0], 200)
        log = env.worker_log(w)
        self.assertIn(b"expiry.reservations_released", log)
        self.assertNotIn(ext.encode(), log)
        self.assertEqual(env.stop_worker(w), 0, log[-3000:])


if __name__ == "__main__":
    unittest.main()
