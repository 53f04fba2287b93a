"""Chaos: everything that goes wrong at once, and nothing lost or done twice.

Three xacctd workers share the queue while the emulator fails about one AWS
call in six (5xx, throttling, connections dropped without an answer, plus
latency), every second or two a worker is killed (SIGKILL) or stopped
(SIGTERM) and another started in its place, or reloaded (SIGHUP), Redis is
shut down and started again while the safety checks run,
and the webhook receiver refuses a fifth of the deliveries. Customers are
onboarded through the CLI, then their stacks are created, then a third are
updated (a new role), a third rotate their external ID and a third are
deleted; re-verifications run every couple of seconds throughout.

What must hold at the end: every stack reached its final status with only
SUCCESS answers; each customer is in the state its last request leaves it
in; exactly one offboarding job per deleted customer; per customer the
outbox holds exactly the lifecycle its requests make (onboarding,
connected, then updated, external_id_rotated or offboarding: never degraded
by a fault), seq 1, 2, 3; re-verification goes on under the chaos, and every connected
customer is re-verified, once the leases of accounts killed workers had taken
have run out; every event reached
the webhook, correctly signed; the queue is empty and nothing is dead; every
worker stopped with SIGTERM, during the run or after it, exits 0.

XACCT_CHAOS_SEED=N repeats a run's choices of signal and worker.
"""
import json
import os
import random
import signal
import threading
import time
import unittest

from harness import Env, wait_for
from test_webhook import SECRET, Receiver, delivered_all, outbox_events

ACCOUNTS = [f"9{i:02d}000000777" for i in range(20)]
FAULTS = {"error_rate": 0.08, "throttle_rate": 0.05, "drop_rate": 0.03, "latency_ms": 10}


class Chaos:
    """Every 1-2 s does one of these to a random worker: SIGKILL or SIGTERM,
    and starts another in its place; or SIGHUP (a reload: the worker goes
    on). Every other action is a stop, so any 4 s hold at least one. The
    workers stopped with SIGTERM are kept to check they exited 0. start:
    how a worker is started (not waiting for it to be ready); every: the
    range of seconds between two actions."""

    def __init__(self, env, workers, seed, start=None, every=(1.0, 2.0)):
        self.env = env
        self.workers = workers
        self.every = every
        self.start = start or (lambda: env.start_worker(wait_ready=False))
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.done = {"kill": 0, "term": 0, "hup": 0}
        self.terminated = []
        self.error = None
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        try:
            n = 0
            while not self.stop.wait(self.rng.uniform(*self.every)):
                n += 1
                what = self.rng.choice(("kill", "term") if n % 2 else ("kill", "term", "hup"))
                i = self.rng.randrange(len(self.workers))
                if what == "hup":
                    self.workers[i].send_signal(signal.SIGHUP)
                    self.done[what] += 1
                    continue
                victim = self.workers.pop(i)
                if what == "kill":
                    victim.send_signal(signal.SIGKILL)
                    victim.wait()
                else:
                    victim.send_signal(signal.SIGTERM)
                    self.terminated.append(victim)
                self.done[what] += 1
                self.workers.append(self.start())
        except Exception as e:  # reported by the test, not lost in a thread
            self.error = e

    def assert_all_stop_cleanly(self, test):
        """Every worker stopped with SIGTERM exited 0, and so do the ones
        still running when they are stopped now."""
        for w in self.terminated:
            test.assertEqual(w.wait(60), 0, self.env.worker_log(w)[-3000:])
        for w in self.workers:
            test.assertEqual(self.env.stop_worker(w, timeout=60), 0,
                             self.env.worker_log(w)[-3000:])

    @property
    def stops(self):
        return self.done["kill"] + self.done["term"]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(60)


def restart_redis(env):
    """SHUTDOWN SAVE, then the same server again: what was written up to the
    shutdown survives it, as with a Redis that persists (losing writes is not
    what this test is about)."""
    try:
        env.r.shutdown(save=True)
    except Exception:
        pass  # the connection closes as the server exits
    env.redis.proc.wait(10)
    time.sleep(1.5)
    env.redis.start()


class ChaosTest(unittest.TestCase):
    def setUp(self):
        self.receiver = Receiver(SECRET)
        rng = random.Random(20261206)
        self.receiver.plan = ["500" if rng.random() < 0.2 else "200" for _ in range(400)]
        self.env = Env(propagation_timeout=60, grace_seconds=3, visibility_timeout=10,
                       max_receives=50).start()
        self.secret_file = os.path.join(self.env.tmp, "webhook-secret")
        with open(self.secret_file, "wb") as f:
            f.write(SECRET + b"\n")
        # Re-verifications every ~2 s run all through the chaos as well.
        self.env.write_config(events__webhook_url=self.receiver.url(),
                              events__webhook_secret_file=self.secret_file,
                              events__delivery_timeout="3", events__claim_idle="4",
                              check__reverify_interval="2", check__reverify_rate="50")
        self.env.ctl("POST", "/_fake/server", {"idle_timeout": 2})

    def tearDown(self):
        self.env.fa.clear_faults()
        self.env.stop()
        self.receiver.stop()

    def reverified(self, roles):
        """The accounts whose role was assumed with its external ID since
        the STS counts were reset."""
        counts = self.env.ctl("GET", "/_fake/sts/assume-role-counts")["roles"]
        return [a for a, r in roles.items() if counts.get(r, {}).get("allowed", 0) > 0]

    def wait_all(self, ids, want):
        stacks = {}
        for a, sid in ids.items():
            stacks[a] = s = self.env.wait_stack(sid, timeout=300)
            self.assertEqual(s["status"], want, f"{a}: {s.get('status_reason')}")
            statuses = {json.loads(x["body"])["Status"] for x in s["answers"]}
            self.assertEqual(statuses, {"SUCCESS"}, f"{a}: {s['answers']}")
        return stacks

    def test_nothing_lost_nothing_twice(self):
        env = self.env
        seed = int(os.environ.get("XACCT_CHAOS_SEED", "0")) or random.randrange(1, 10**6)
        note = f"(XACCT_CHAOS_SEED={seed} repeats this run's choices)"
        ext = {a: env.onboard(a) for a in ACCOUNTS}
        # New roles take 4 s to become assumable: every check is still
        # retrying when the first worker is stopped (at most 2 s in).
        env.ctl("POST", "/_fake/iam/config", {"propagation_seconds": 4})
        workers = [env.start_worker() for _ in range(3)]
        for svc in ("sqs", "sts", "s3"):
            env.fa.set_faults(svc, **FAULTS)
        updated, rotated, deleted = ACCOUNTS[0::3], ACCOUNTS[1::3], ACCOUNTS[2::3]
        with Chaos(env, workers, seed) as chaos:
            created = {a: env.create_stack(a, env.template(a, ext[a]), name=f"chaos-{a}")
                       ["stack_id"] for a in ACCOUNTS}
            # Redis goes away while the checks are under way.
            wait_for(lambda: len(env.ctl("GET", "/_fake/sts/assume-role-calls")["calls"]) >= 20,
                     60, "the safety checks to start")
            restart_redis(env)
            self.wait_all(created, "CREATE_COMPLETE")
            stops_by_created = chaos.stops
            for a in updated:
                env.update_stack(created[a], env.template(a, ext[a], role_name="XacctAccess2"))
            for a in deleted:
                env.delete_stack(created[a])
            new_ext = {}
            for a in rotated:
                # Without a template bucket the customer gets the rotation's
                # template as text (`xacct template`: the pending ID's).
                env.xacct("rotate-external-id", a, check=True)
                new_ext[a] = env.customer(a)["pending_external_id"]
                tpl = json.loads(env.xacct("template", a, check=True).stdout)
                env.update_stack(created[a], tpl)
            self.wait_all({a: created[a] for a in updated + rotated}, "UPDATE_COMPLETE")
            self.wait_all({a: created[a] for a in deleted}, "DELETE_COMPLETE")
            stops_by_done = chaos.stops
            # Re-verification goes on in the chaos.
            env.ctl("DELETE", "/_fake/sts/assume-role-counts")
            roles = {a: env.customer(a)["role_arn"] for a in updated + rotated}
            wait_for(lambda: self.reverified(roles), 60, "a re-verification in the chaos")
        self.assertIsNone(chaos.error, note)
        # Workers went away while requests were being handled, in both phases.
        self.assertGreaterEqual(stops_by_created, 1, (chaos.done, note))
        self.assertGreater(stops_by_done, stops_by_created, (chaos.done, note))
        env.fa.clear_faults()

        for a in updated:
            c = env.customer(a)
            self.assertEqual((c["state"], c["role_arn"]),
                             ("active", f"arn:aws:iam::{a}:role/XacctAccess2"), a)
        for a in rotated:
            c = env.customer(a)
            self.assertEqual((c["state"], c["external_id"], c.get("pending_external_id")),
                             ("active", new_ext[a], None), a)
        for a in updated + rotated:
            self.assertIn("verified_at", env.customer(a), a)
        for a in deleted:
            self.assertEqual(env.customer(a)["state"], "offboarding", a)
        jobs = json.loads(env.xacct("jobs", "--json", check=True).stdout)
        self.assertEqual(sorted(j["account_id"] for j in jobs), sorted(deleted))
        env.wait_queue_empty(timeout=120)
        self.assertEqual(env.dead(), [])

        # Every connected customer is re-verified; an account a killed worker
        # had taken comes back when its lease (2 minutes here) runs out. None
        # of it, under faults or not, degrades anyone (the events below).
        wait_for(lambda: len(self.reverified(roles)) == len(roles), 180,
                 "every connected customer re-verified")

        wait_for(lambda: delivered_all(env, self.receiver), 180,
                 "every lifecycle event at the webhook")
        by_account = {}
        for e in outbox_events(env):
            by_account.setdefault(e["account_id"], []).append((e["seq"], e["type"]))
        for a in ACCOUNTS:
            last = {"updated": "customer.updated", "rotated": "customer.external_id_rotated",
                    "deleted": "customer.offboarding"}
            kind = next(k for k, v in (("updated", updated), ("rotated", rotated),
                                       ("deleted", deleted)) if a in v)
            self.assertEqual(by_account.get(a), [(1, "customer.onboarding"),
                                                 (2, "customer.connected"),
                                                 (3, last[kind])], (a, kind))
        got = self.receiver.snapshot()
        self.assertTrue(all(r["valid"] for r in got))
        self.assertTrue(any(r["action"] == "500" for r in got))

        chaos.assert_all_stop_cleanly(self)


if __name__ == "__main__":
    unittest.main()
