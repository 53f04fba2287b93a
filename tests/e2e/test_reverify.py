"""xacctd end to end, trust over time (SPEC §9.2): connected customers are
checked again about once per check.reverify_interval by whichever worker
takes them from the shared `reverify` schedule. A trust policy loosened or a
role deleted after activation makes the customer degraded with the reason;
fixing it makes it active again; STS being unavailable changes nothing; many
customers are shared by two workers at the configured pace; switched off and
on again by reloads, it schedules what was connected meanwhile."""
import copy
import json
import signal
import time
import unittest
import uuid

import msgpack_check
from harness import Env, SharedWorkerTest, wait_for

INTERVAL = 3  # seconds; drift must show within two intervals (plus a loaded machine's slack)
SLACK = 30


def role_doc(env, acct, ext, condition=None):
    t = env.template(acct, ext)
    doc = copy.deepcopy(t["Resources"]["XacctRole"]["Properties"]["AssumeRolePolicyDocument"])
    if condition is not None:
        doc["Statement"][0]["Condition"] = condition
    return doc


class DriftTest(SharedWorkerTest):
    env_options = {"propagation_timeout": 10}
    worker_options = {"metrics": True}

    @classmethod
    def prepare(cls):
        cls.env.write_config(check__reverify_interval=str(INTERVAL), check__reverify_rate="50")

    def connect(self, acct):
        env = self.env
        ext = env.seed_customer(acct)
        s = env.wait_stack(env.create_stack(acct, env.template(acct, ext))["stack_id"])
        self.assertEqual(s["status"], "CREATE_COMPLETE", s.get("status_reason"))
        c = env.customer(acct)
        self.assertEqual(c["state"], "active")
        self.assertTrue(c["verified_at"])
        # Activation put the account on the schedule, due about one interval on.
        due = env.r.zscore(f"{env.PREFIX}reverify", acct)
        self.assertIsNotNone(due)
        self.assertGreater(due, time.time() * 1000 - 1000 * INTERVAL)
        return s, ext

    def wait_state(self, acct, state, what):
        return wait_for(lambda: (lambda c: c if c.get("state") == state else None)(
            self.env.customer(acct)), 2 * INTERVAL + SLACK, what, interval=0.2)

    def events(self, acct):
        return [msgpack_check.decode_map(f[b"e"])
                for _, f in self.env.r.xrange(f"{self.env.PREFIX}events:{acct}")]

    def metric(self, name, **labels):
        _, _, text = self.env.scrape(self.worker)
        return self.env.parse_metrics(text).get((name, frozenset(labels.items())), 0)

    def test_loosened_trust_degrades_and_fixing_it_recovers(self):
        env, acct = self.env, "320000000001"
        _, ext = self.connect(acct)
        first_verified = env.customer(acct)["verified_at"]
        # Re-verified while nothing changed: verified_at moves on, still active.
        wait_for(lambda: env.customer(acct)["verified_at"] != first_verified,
                 2 * INTERVAL + SLACK, "a re-verification of the untouched role")
        self.assertEqual(env.customer(acct)["state"], "active")

        env.ctl("PUT", f"/_fake/iam/roles/{acct}/XacctAccess/trust-policy",
                {"trust_policy": role_doc(env, acct, ext,
                                          {"StringLike": {"sts:ExternalId": "*"}})})
        c = self.wait_state(acct, "degraded", "the loosened role to be noticed")
        self.assertIn("probe 'wrong'", c["last_error"])
        self.assertNotIn(ext, c["last_error"])
        degraded_at = c["updated_at"]

        # The customer puts the trust policy back: active again, error cleared.
        env.ctl("PUT", f"/_fake/iam/roles/{acct}/XacctAccess/trust-policy",
                {"trust_policy": role_doc(env, acct, ext)})
        c = self.wait_state(acct, "active", "the repaired role to be noticed")
        self.assertEqual(c["last_error"], "")
        self.assertGreater(c["verified_at"], degraded_at)
        kinds = [e.get("type") for e in self.events(acct)]
        self.assertIn("degraded", kinds)
        self.assertIn("recovered", kinds)
        self.assertLess(kinds.index("degraded"), kinds.index("recovered"))
        for e in self.events(acct):
            self.assertNotIn(ext, json.dumps(e))

        self.assertGreaterEqual(self.metric("xacct_reverifications_total", outcome="insecure"), 1)
        self.assertGreaterEqual(self.metric("xacct_reverifications_total", outcome="secure"), 2)

        # The operator's views of it.
        r = env.xacct("show", acct, "--json", check=True)
        shown = json.loads(r.stdout)
        self.assertEqual(shown["verified_at"], c["verified_at"])

    def test_deleted_role_degrades_and_shows_in_list(self):
        env, acct = self.env, "320000000002"
        self.connect(acct)
        env.ctl("DELETE", f"/_fake/iam/roles/{acct}/XacctAccess")
        c = self.wait_state(acct, "degraded", "the deleted role to be noticed")
        self.assertIn("can no longer be assumed with the external ID", c["last_error"])
        r = env.xacct("list", "--state", "degraded", "--json", check=True)
        listed = json.loads(r.stdout)
        items = listed if isinstance(listed, list) else listed.get("items", listed)
        self.assertIn(acct, [i["account_id"] for i in items])
        self.assertTrue(all(i["state"] == "degraded" for i in items))
        r = env.xacct("show", acct, check=True)
        self.assertIn(b"can no longer be assumed", r.stdout)
        # The gauge counts it (refreshed every 30 s).
        wait_for(lambda: self.metric("xacct_customers", state="degraded") >= 1, 60,
                 "the degraded customer in xacct_customers")

    def test_a_new_stack_reconnects_a_degraded_customer(self):
        """The first stack is gone (deleted, or rolled back after its answer
        never reached CloudFormation): the customer is degraded, and the same
        template launched again connects it through the new stack."""
        env, acct = self.env, "320000000005"
        first, ext = self.connect(acct)
        env.ctl("DELETE", f"/_fake/iam/roles/{acct}/XacctAccess")
        self.wait_state(acct, "degraded", "the deleted role to be noticed")
        s = env.wait_stack(env.create_stack(
            acct, env.template(acct, ext, role_name="XacctAccessAgain"),
            name="xacct-onboarding-again")["stack_id"])
        self.assertEqual(s["status"], "CREATE_COMPLETE", s.get("status_reason"))
        c = env.customer(acct)
        self.assertEqual(c["state"], "active")
        self.assertEqual(c["stack_id"], s["stack_id"])
        self.assertNotEqual(c["stack_id"], first["stack_id"])
        self.assertTrue(c["role_arn"].endswith(":role/XacctAccessAgain"), c["role_arn"])
        lifecycle = [json.loads(f[b"event"])["type"]
                     for _, f in env.r.xrange(f"{env.PREFIX}outbox")
                     if json.loads(f[b"event"])["account_id"] == acct]
        self.assertEqual(lifecycle[-2:], ["customer.degraded", "customer.connected"])

    def test_transient_sts_errors_change_nothing(self):
        env, acct = self.env, "320000000003"
        self.connect(acct)
        before = env.customer(acct)
        transient = self.metric("xacct_reverifications_total", outcome="transient")
        env.fa.set_faults("sts", error_rate=1.0)
        try:
            wait_for(lambda: self.metric("xacct_reverifications_total", outcome="transient")
                     > transient, 2 * INTERVAL + SLACK, "a re-verification that met STS errors")
            after = env.customer(acct)
            self.assertEqual(after["state"], "active")
            self.assertEqual(after["last_error"], before["last_error"])
        finally:
            env.fa.clear_faults()
        wait_for(lambda: env.customer(acct)["verified_at"] != before["verified_at"],
                 2 * INTERVAL + SLACK, "a re-verification once STS answers again")
        self.assertEqual(env.customer(acct)["state"], "active")

    def test_offboarding_leaves_the_schedule(self):
        env, acct = self.env, "320000000004"
        s, _ = self.connect(acct)
        env.delete_stack(s["stack_id"])
        self.assertEqual(env.wait_stack(s["stack_id"])["status"], "DELETE_COMPLETE")
        self.assertEqual(env.customer(acct)["state"], "offboarding")
        self.assertIsNone(env.r.zscore(f"{env.PREFIX}reverify", acct))


def seed_connected(env, n, first_account, due_spread_ms, scheduled=True):
    """n connected customers written straight into Redis (the layout the
    apply script writes on activation), each with a secure role in the
    emulator and a due time spread over due_spread_ms from now (scheduled
    False: not on the schedule, as if activated before re-verification
    existed). Returns {account: (role_arn, external_id)}."""
    out = {}
    now = int(time.time() * 1000)
    pipe = env.r.pipeline()
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for i in range(n):
        acct = str(first_account + i)
        ext = str(uuid.uuid4())
        role = env.ctl("POST", "/_fake/iam/roles", {
            "account_id": acct, "role_name": "XacctAccess",
            "trust_policy": role_doc(env, acct, ext)})["arn"]
        out[acct] = (role, ext)
        p = env.PREFIX
        pipe.hset(f"{p}customer:{acct}", mapping={
            "account_id": acct, "external_id": ext, "state": "active", "role_arn": role,
            "region": env.regions[0], "created_at": iso, "updated_at": iso,
            "verified_at": iso, "last_error": ""})
        pipe.set(f"{p}external-id:{ext}", acct)
        pipe.zadd(f"{p}customers", {acct: now})
        if scheduled:
            pipe.zadd(f"{p}reverify", {acct: now + (due_spread_ms * i) // max(n, 1)})
    pipe.execute()
    return out


class SharedScheduleTest(unittest.TestCase):
    """Two workers, one schedule: every customer is checked about once per
    interval, by one worker at a time."""
    N = 240
    INTERVAL = 8

    def test_two_workers_share_the_customers(self):
        env = Env().start()
        try:
            env.write_config(check__reverify_interval=str(self.INTERVAL),
                             check__reverify_rate="100")
            customers = seed_connected(env, self.N // 2, 330000000000, self.INTERVAL * 1000)
            # Half were connected before re-verification existed: the
            # workers put them on the schedule when they start.
            customers.update(seed_connected(env, self.N // 2, 331000000000, 0, scheduled=False))
            self.assertEqual(env.r.zcard(f"{env.PREFIX}reverify"), self.N // 2)
            workers = [env.start_worker(metrics=True), env.start_worker(metrics=True)]
            # Let the first pass settle, then count over three intervals.
            time.sleep(self.INTERVAL)
            env.ctl("DELETE", "/_fake/sts/assume-role-counts")
            time.sleep(3 * self.INTERVAL)
            counts = env.ctl("GET", "/_fake/sts/assume-role-counts")["roles"]
            checks = {a: counts.get(role, {}).get("external_ids", {}).get(ext, 0)
                      for a, (role, ext) in customers.items()}
            # About three each; generously bounded on both sides.
            self.assertTrue(all(1 <= n <= 7 for n in checks.values()),
                            sorted(checks.values()))
            mean = sum(checks.values()) / len(checks)
            self.assertGreater(mean, 1.5, mean)
            self.assertLess(mean, 4.5, mean)
            done = []
            for p in workers:
                text = env.scrape(p)[2]
                done.append(env.parse_metrics(text).get(
                    ("xacct_reverifications_total", frozenset({("outcome", "secure")})), 0))
            self.assertTrue(all(d > 0 for d in done), done)  # both workers took part
            for a in customers:
                self.assertEqual(env.customer(a)["state"], "active")
            self.assertEqual(env.r.zcard(f"{env.PREFIX}reverify"), self.N)
            for p in workers:
                log = env.worker_log(p)
                self.assertEqual(env.stop_worker(p), 0, log[-3000:])
        finally:
            env.stop()


class SwitchedOffTest(unittest.TestCase):
    """check.reverify_interval set to 0 by a reload and back again: a
    customer connected while it was off is put on the schedule once it is
    back on, without a restart."""

    def test_customers_connected_while_off_are_checked_once_it_is_on(self):
        env = Env(propagation_timeout=10).start()
        try:
            env.write_config(check__reverify_interval=str(INTERVAL), check__reverify_rate="50")
            worker = env.start_worker()
            wait_for(lambda: b"reverify.enrolled" in env.worker_log(worker), 30,
                     "the first walk over the customers")

            def reload(interval):
                before = env.worker_log(worker).count(b"config.reloaded")
                env.write_config(check__reverify_interval=str(interval))
                worker.send_signal(signal.SIGHUP)
                wait_for(lambda: env.worker_log(worker).count(b"config.reloaded") > before, 30,
                         "the reload")
            reload(0)
            acct = "320000000777"
            ext = env.seed_customer(acct)
            s = env.wait_stack(env.create_stack(acct, env.template(acct, ext))["stack_id"])
            self.assertEqual(s["status"], "CREATE_COMPLETE", s.get("status_reason"))
            verified = env.customer(acct)["verified_at"]
            self.assertIsNone(env.r.zscore(f"{env.PREFIX}reverify", acct))  # off: not scheduled

            reload(INTERVAL)
            wait_for(lambda: env.r.zscore(f"{env.PREFIX}reverify", acct) is not None,
                     SLACK, "the customer to be put on the schedule")
            wait_for(lambda: env.customer(acct)["verified_at"] != verified,
                     2 * INTERVAL + SLACK, "its re-verification")
            self.assertEqual(env.customer(acct)["state"], "active")
            log = env.worker_log(worker)
            self.assertEqual(env.stop_worker(worker), 0, log[-3000:])
        finally:
            env.stop()


class ShortenedIntervalTest(unittest.TestCase):
    """check.reverify_interval shortened by a reload (a day to a few
    seconds): a customer scheduled under the day is checked within the new
    interval, not a day later."""

    def test_customers_due_on_the_old_interval_are_brought_forward(self):
        env = Env(propagation_timeout=10).start()
        try:
            env.write_config(check__reverify_interval="86400", check__reverify_rate="50")
            worker = env.start_worker()
            wait_for(lambda: b"reverify.enrolled" in env.worker_log(worker), 30,
                     "the first walk over the customers")
            acct = "320000000888"
            ext = env.seed_customer(acct)
            s = env.wait_stack(env.create_stack(acct, env.template(acct, ext))["stack_id"])
            self.assertEqual(s["status"], "CREATE_COMPLETE", s.get("status_reason"))
            verified = env.customer(acct)["verified_at"]
            due = env.r.zscore(f"{env.PREFIX}reverify", acct)
            self.assertGreater(due, (time.time() + 0.8 * 86400) * 1000)  # a day out

            before = env.worker_log(worker).count(b"config.reloaded")
            env.write_config(check__reverify_interval=str(INTERVAL))
            worker.send_signal(signal.SIGHUP)
            wait_for(lambda: env.worker_log(worker).count(b"config.reloaded") > before, 30,
                     "the reload")
            wait_for(lambda: env.customer(acct)["verified_at"] != verified,
                     2 * INTERVAL + SLACK, "its re-verification on the new interval")
            self.assertEqual(env.customer(acct)["state"], "active")
            self.assertLess(env.r.zscore(f"{env.PREFIX}reverify", acct),
                            (time.time() + 10 * INTERVAL + 120) * 1000)
            log = env.worker_log(worker)
            self.assertEqual(env.stop_worker(worker), 0, log[-3000:])
        finally:
            env.stop()


class NoBurstTest(unittest.TestCase):
    """Thousands of customers due at once are worked off at
    check.reverify_rate, not all at once."""
    N = 400
    RATE = 20

    def test_due_customers_are_started_at_the_configured_rate(self):
        env = Env().start()
        try:
            env.write_config(check__reverify_interval="3600", check__reverify_rate=str(self.RATE))
            worker = env.start_worker(metrics=True)
            env.ctl("DELETE", "/_fake/sts/assume-role-counts")
            t0 = time.monotonic()
            customers = seed_connected(env, self.N, 340000000000, 0)  # all due now
            time.sleep(3)
            counts = env.ctl("GET", "/_fake/sts/assume-role-counts")["roles"]
            elapsed = time.monotonic() - t0
            started = len([r for r, _ in customers.values() if r in counts])
            # A slow machine only starts fewer; one bucket of a tenth of a second extra.
            self.assertLessEqual(started, self.RATE * elapsed + self.RATE / 10 + 1,
                                 (started, elapsed))
            self.assertGreater(started, 0)
            # And all of them are checked in the end.
            wait_for(lambda: len(env.ctl("GET", "/_fake/sts/assume-role-counts")["roles"])
                     >= self.N, self.N / self.RATE * 3 + 60, "every due customer checked")
            log = env.worker_log(worker)
            self.assertEqual(env.stop_worker(worker), 0, log[-3000:])
        finally:
            env.stop()


if __name__ == "__main__":
    unittest.main()
