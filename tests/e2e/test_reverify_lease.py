"""A worker killed in the middle of a re-verification (SPEC §9.2). The
account it took from the shared `reverify` schedule is leased to it for two
minutes — longer than any check, so no other worker checks it meanwhile —
and not for a whole check.reverify_interval (an hour here): once the lease
runs out another worker takes the account and checks it, minutes after the
kill rather than an interval later."""
import datetime
import time
import unittest

from harness import Env, wait_for

ACCT = "330000000001"
LEASE_S = 120


def unix_s(rfc3339):
    return datetime.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


class KilledMidCheckTest(unittest.TestCase):
    def setUp(self):
        self.env = Env(propagation_timeout=20).start()
        self.env.write_config(check__reverify_interval="3600", check__reverify_rate="50")

    def tearDown(self):
        self.env.stop()

    def test_the_account_is_checked_again_when_its_lease_runs_out(self):
        env = self.env
        key = f"{env.PREFIX}reverify"
        role = f"arn:aws:iam::{ACCT}:role/XacctAccess"
        w1 = env.start_worker()
        ext = env.seed_customer(ACCT)
        s = env.wait_stack(env.create_stack(ACCT, env.template(ACCT, ext))["stack_id"])
        self.assertEqual(s["status"], "CREATE_COMPLETE", s.get("status_reason"))
        # Due an hour on; made due now, with its role deleted: the check is
        # denied and retries for ten seconds (a role may still be propagating).
        self.assertGreater(env.r.zscore(key, ACCT), (time.time() + 3000) * 1000)
        env.ctl("DELETE", f"/_fake/iam/roles/{ACCT}/XacctAccess")
        env.ctl("DELETE", "/_fake/sts/assume-role-counts")
        env.r.zadd(key, {ACCT: int(time.time() * 1000)})

        # w1 takes it: the score moves on by the lease, not by the interval.
        def taken():
            score = env.r.zscore(key, ACCT)
            return score if score is not None and score > (time.time() + 60) * 1000 else None
        lease_end = wait_for(taken, 60, "w1 to take the account") / 1000
        self.assertLess(lease_end, time.time() + LEASE_S + 5)
        wait_for(lambda: env.ctl("GET", "/_fake/sts/assume-role-counts")["roles"]
                 .get(role, {}).get("total", 0) > 0, 30, "w1's check to start")
        w1.kill()
        w1.wait()
        self.assertEqual(env.customer(ACCT)["state"], "active")  # nothing was recorded
        self.assertEqual(env.r.zscore(key, ACCT) / 1000, lease_end)  # still leased

        w2 = env.start_worker()
        c = wait_for(lambda: (lambda c: c if c.get("state") == "degraded" else None)(
            env.customer(ACCT)), LEASE_S + 90, "w2 to check the account")
        self.assertIn("can no longer be assumed with the external ID", c["last_error"])
        # Not while w1's lease held.
        self.assertGreaterEqual(unix_s(c["updated_at"]), lease_end)
        # Back on the schedule, about an interval on.
        self.assertGreater(env.r.zscore(key, ACCT), (time.time() + 3000) * 1000)
        self.assertEqual(env.stop_worker(w2), 0, env.worker_log(w2)[-3000:])


if __name__ == "__main__":
    unittest.main()
