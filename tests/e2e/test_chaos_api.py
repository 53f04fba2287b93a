"""Chaos for the portal API (SPEC §7): onboardings through `POST
/v1/customers` while the workers serving the API are killed, stopped and
reloaded every second or two (test_chaos.Chaos) and the emulator fails
about one SNS and S3 call in six. A portal of four threads onboards each
account, trying another worker on a dropped connection or a 503, as a
portal behind a load balancer would, then asks once more.

What must hold: every account was onboarded once — every answer for it
names the same external ID, which is the one indexed, and no other ID points
at the account; the repeated POST answers 200 with that ID; the account is
on its topic's allow-list in Redis and in the topic's policy, its template
is in the bucket with its ID, and the outbox holds exactly one
customer.onboarding for it (seq 1). Nothing is half-done: whatever a killed
worker left unfinished, the portal's next try finished, and the IDs it had
only reserved are on the reservations zset, which the workers release when
their leases end without touching the customers' own.

A worker killed while it holds its region's topic-policy lock holds up the
onboardings of that region until the lock's lease runs out (ten seconds;
it was a minute, when this test found it), so the portal gives an account
two minutes.
"""
import hashlib
import http.client
import json
import os
import queue
import random
import threading
import time
import unittest
import urllib.parse

from harness import Env, free_port, wait_for
from test_chaos import Chaos

TOKEN = "portal-token-" + "c" * 40
BUCKET = "xacct-templates"
ACCOUNTS = [f"8{i:02d}000000555" for i in range(30)]
# The latency keeps each onboarding in flight long enough to be cut short.
FAULTS = {"error_rate": 0.08, "throttle_rate": 0.05, "drop_rate": 0.03, "latency_ms": 40}


class Portal:
    """Onboards accounts through whichever workers are up, retrying what
    the API says is transient (503) and connections that failed."""

    def __init__(self, workers, region, seed):
        self.workers = workers
        self.region = region
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.answers = {}  # account -> [(status, document)]
        self.errors = []
        self.retried = {"connection": 0, "503": 0}

    def post(self, account):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with self.lock:
                ports = [w.api_port for w in list(self.workers) if w.poll() is None]
                port = self.rng.choice(ports) if ports else None
            if port is None:
                time.sleep(0.1)
                continue
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                c.request("POST", "/v1/customers",
                          body=json.dumps({"account_id": account, "region": self.region}),
                          headers={"Authorization": f"Bearer {TOKEN}",
                                   "Content-Type": "application/json"})
                r = c.getresponse()
                status, doc = r.status, json.loads(r.read() or b"null")
                c.close()
            except (OSError, http.client.HTTPException, ValueError):
                with self.lock:
                    self.retried["connection"] += 1
                time.sleep(0.1)  # refused, reset or cut short: another worker
                continue
            if status == 503:
                with self.lock:
                    self.retried["503"] += 1
                time.sleep(0.1)
                continue
            with self.lock:
                self.answers.setdefault(account, []).append((status, doc))
            return status, doc
        raise AssertionError(f"{account}: no answer but 503 or errors for 120 s")

    def run(self, todo):
        try:
            while True:
                try:
                    account = todo.get_nowait()
                except queue.Empty:
                    return
                first, _ = self.post(account)
                again, _ = self.post(account)
                if first not in (200, 201) or again != 200:
                    raise AssertionError(f"{account}: answered {first}, then {again}")
        except Exception as e:
            with self.lock:
                self.errors.append(e)


class ApiChaosTest(unittest.TestCase):
    def setUp(self):
        self.env = env = Env().start()
        env.ctl("POST", "/_fake/s3/buckets", {"name": BUCKET})
        tokens = os.path.join(env.tmp, "api-tokens")
        with open(tokens, "w") as f:
            f.write(f"portal:{hashlib.sha256(TOKEN.encode()).hexdigest()}\n")
        env.write_config(api__tokens_file=tokens, cloudformation__template_bucket=BUCKET)

    def tearDown(self):
        self.env.fa.clear_faults()
        self.env.stop()

    def start_worker(self, wait_ready=False):
        port = free_port()
        w = self.env.start_worker(extra_env={"XACCT_API_LISTEN": f"127.0.0.1:{port}"},
                                  wait_ready=wait_ready)
        w.api_port = port
        return w

    def test_every_account_onboarded_once(self):
        env = self.env
        region = env.regions[0]
        topic = env.topics[region][0]
        seed = int(os.environ.get("XACCT_CHAOS_SEED", "0")) or random.randrange(1, 10**6)
        note = f"(XACCT_CHAOS_SEED={seed} repeats this run's choices)"
        workers = [self.start_worker(wait_ready=True) for _ in range(3)]
        for svc in ("sns", "s3"):
            env.fa.set_faults(svc, **FAULTS)
        portal = Portal(workers, region, seed)
        todo = queue.Queue()
        for a in ACCOUNTS:
            todo.put(a)
        with Chaos(env, workers, seed, start=self.start_worker, every=(1.5, 3.0)) as chaos:
            threads = [threading.Thread(target=portal.run, args=(todo,)) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(600)
        self.assertIsNone(chaos.error, note)
        self.assertEqual(portal.errors, [], note)
        self.assertGreater(chaos.stops, 0, (chaos.done, note))
        note = f"{note} chaos {chaos.done}, portal retries {portal.retried}"
        env.fa.clear_faults()

        # An ID reserved by an onboarding cut short (a worker stopped before
        # its commit) is held for the reservation's lease only; the others
        # are the customers' own, for good.
        indexed, leased = {}, {}
        for key in env.r.scan_iter(f"{env.PREFIX}external-id:*"):
            ttl = env.r.pttl(key)
            ext = key.decode()[len(f"{env.PREFIX}external-id:"):]
            if ttl > 0:
                self.assertLessEqual(ttl, 15 * 60 * 1000, key)
                leased[ext] = env.r.get(key).decode()
                continue
            indexed.setdefault(env.r.get(key).decode(), []).append(ext)
        # Each such reservation is on the reservations zset, which the
        # workers release when its lease ends: here at once. What they take
        # down is the reservation's alone; the customers' own allow-list
        # entries, policy and templates are checked below.
        reservations = f"{env.PREFIX}reservations"
        entries = [m.decode() for m in env.r.zrange(reservations, 0, -1)]
        self.assertEqual({m.split("|")[1]: m.split("|")[0] for m in entries}, leased, note)
        if entries:
            for ext in leased:
                env.r.pexpire(f"{env.PREFIX}external-id:{ext}", 1)
            env.r.zadd(reservations, {m: 0 for m in entries})
            chaos.workers.append(self.start_worker(wait_ready=True))
            wait_for(lambda: env.r.zcard(reservations) == 0, 60, "the reservations released")
            wait_for(lambda: env.r.zcard(f"{env.PREFIX}cleanup") == 0, 60, "their clean-up")
            self.assertEqual([k for k in env.r.scan_iter(f"{env.PREFIX}external-id:*")
                              if k.decode()[len(f"{env.PREFIX}external-id:"):] in leased], [])
        policy = json.dumps(env.topic_policy(topic))
        onboarding = {}
        for _, f in env.r.xrange(f"{env.PREFIX}outbox"):
            e = json.loads(f[b"event"])
            onboarding.setdefault(e["account_id"], []).append((e["seq"], e["type"]))
        for a in ACCOUNTS:
            answers = portal.answers[a]
            ids = {doc["external_id"] for _, doc in answers}
            self.assertEqual(len(ids), 1, (a, answers, note))
            (ext,) = ids
            self.assertEqual(answers[-1][0], 200, (a, answers))
            c = env.customer(a)
            self.assertEqual((c["state"], c["external_id"], c["topic_arn"]),
                             ("pending", ext, topic), a)
            self.assertEqual(indexed.get(a), [ext], (a, note))
            self.assertTrue(env.r.sismember(f"{env.PREFIX}topic:{topic}", a), a)
            self.assertIn(a, policy)
            template_url = answers[-1][1]["template_url"]
            key = urllib.parse.urlsplit(template_url).path[len(BUCKET) + 2:]
            st, tpl = env.fa.control("GET", f"/_fake/s3/objects/{BUCKET}/{key}")
            self.assertEqual(st, 200, (a, tpl))
            self.assertIn(ext, json.dumps(tpl))
            self.assertEqual(onboarding.get(a), [(1, "customer.onboarding")], (a, note))

        chaos.assert_all_stop_cleanly(self)


if __name__ == "__main__":
    unittest.main()
