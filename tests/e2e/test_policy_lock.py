"""The topic-policy lock against a holder that loses Redis (SPEC §1: policy
writes are serialised across writers). `xacct onboard` A takes the region's
lock and reads the topic's accounts and policy; then its link to Redis goes
silent, its lease runs out and onboarding B takes the lock and adds its
account. When A's GetTopicAttributes finally answers, A must not write the
policy it rendered from what it read before: that would drop B. A fails,
having sent no SetTopicAttributes, and B may publish to its topic.
"""
import json
import os
import socket
import subprocess
import threading
import unittest

import cli_env
from harness import wait_for

ACCOUNT_A = "111122223333"
ACCOUNT_B = "444455556666"


class StallingRelay:
    """A TCP relay to a local port that can go silent, as a link to Redis
    does in a partition: once stalled, nothing it receives either way is
    passed on (it waits, unread by the other side) until close()."""

    def __init__(self, port):
        self.port_to = port
        self.flowing = threading.Event()
        self.flowing.set()
        self.socks = []
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.port = self.srv.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.srv.accept()
                u = socket.create_connection(("127.0.0.1", self.port_to))
            except OSError:
                return
            self.socks += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                self.flowing.wait()
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stall(self):
        self.flowing.clear()

    def close(self):
        self.srv.close()
        for s in self.socks:
            s.close()
        self.flowing.set()


class StaleHolderTest(unittest.TestCase):
    def setUp(self):
        self.env = cli_env.CliEnv.start()
        self.addCleanup(self.env.stop)

    def onboard_through(self, relay, account):
        """Starts `xacct onboard account` with its Redis behind relay."""
        env = self.env
        direct = env.config
        env.write_config(redis_url="redis://127.0.0.1:%d/0" % relay.port)
        env.config = direct + ".relayed"
        os.rename(direct, env.config)
        try:
            p = subprocess.Popen([cli_env.XACCT, "onboard", account, "--json"], env=env.env(),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        finally:
            env.config = direct
            env.write_config()
        self.addCleanup(lambda: (p.poll() is None and p.kill(), p.communicate()))
        return p

    def test_a_holder_past_its_lease_writes_nothing(self):
        env = self.env
        r = env.redis_client()
        topic = env.topics[0]
        lock = "xacct:lock:topics:" + env.fa.region
        relay = StallingRelay(env.redis.port)
        self.addCleanup(relay.close)

        # A's GetTopicAttributes answers after 20 s, twice the lease.
        env.fa.set_faults("sns", latency_ms=20000, count=1)
        a = self.onboard_through(relay, ACCOUNT_A)
        wait_for(lambda: [f for f in env.fa.records("fault") if f.get("fault") == "latency"], 30,
                 "A's GetTopicAttributes")
        token = r.get(lock)
        self.assertTrue(token is not None and token.startswith(b"%d-" % a.pid), token)
        relay.stall()
        wait_for(lambda: not r.exists(lock), 30, "A's lease to run out")
        lapsed = max(rec["seq"] for rec in env.fa.records())

        b = env.xacct("onboard", ACCOUNT_B, "--json")
        self.assertEqual(b.returncode, 0, b.stderr)
        self.assertIn(ACCOUNT_B, json.dumps(env.topic_policy(topic)))
        b_done = max(rec["seq"] for rec in env.fa.records())

        _, err = a.communicate(timeout=120)
        # Since the lapse, B's write only.
        sets = [rec["seq"] for rec in env.fa.records("request")
                if rec.get("action") == "sns:SetTopicAttributes" and rec["seq"] > lapsed]
        self.assertEqual(len(sets), 1, sets)
        self.assertLess(sets[0], b_done)
        policy = json.dumps(env.topic_policy(topic))
        self.assertIn(ACCOUNT_B, policy)
        self.assertNotIn(ACCOUNT_A, policy)
        res = env.publish_as(env.account_keys(ACCOUNT_B), topic)
        self.assertEqual(res.status, 200, res.text())
        self.assertNotEqual(a.returncode, 0)
        self.assertIn("the topic policy lock of region %s ran out while Redis was unreachable; "
                      "nothing was written to %s" % (env.fa.region, topic), err)


if __name__ == "__main__":
    unittest.main()
