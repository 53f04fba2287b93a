"""queue.receivers: while the queue answers full batches a worker keeps up to
that many ReceiveMessage calls outstanding (README "Performance"); with the
default of 1 it never has more than one. Either way every stack completes
once and nothing runs twice."""
import json
import unittest

from harness import Env


def run(receivers):
    """Forty Creates queued before the worker starts, every receive answered
    300 ms late so receives overlap when the worker lets them; returns (the emulator's
    most concurrent receives, the finished stacks, env) — the caller stops
    env."""
    env = Env(propagation_timeout=30).start()
    accts = [f"8100000{i:05d}" for i in range(40)]
    ext = {a: env.seed_customer(a) for a in accts}
    ids = [env.create_stack(a, env.template(a, ext[a]), name=f"r{a}")["stack_id"]
           for a in accts]
    env.ctl("POST", "/_fake/sqs/config", {"receive_latency_ms": 300})
    env.write_config(queue__receivers=str(receivers), queue__max_messages="2",
                     queue__max_in_flight="64")
    w = env.start_worker()
    stacks = [env.wait_stack(i, timeout=300) for i in ids]
    env.ctl("POST", "/_fake/sqs/config", {"receive_latency_ms": 0})
    env.wait_queue_empty(timeout=120)
    most = env.ctl("GET", "/_fake/sqs/receives")["max_concurrent"]
    code = env.stop_worker(w)
    return most, stacks, code, env, accts


class ReceiversTest(unittest.TestCase):
    def check_all_once(self, env, accts, stacks, code):
        self.assertEqual(code, 0)
        for a, s in zip(accts, stacks):
            self.assertEqual(s["status"], "CREATE_COMPLETE", f"{a}: {s.get('status_reason')}")
            self.assertEqual(env.customer(a)["state"], "active")
            self.assertEqual(len(env.r.xrange(f"{env.PREFIX}events:{a}")), 1)
        self.assertEqual(len({json.loads(s["answers"][0]["body"])["RequestId"]
                              for s in stacks}), len(accts))
        self.assertEqual(env.r.xlen(f"{env.PREFIX}dead"), 0)

    def test_several_receives_outstanding(self):
        most, stacks, code, env, accts = run(4)
        try:
            self.check_all_once(env, accts, stacks, code)
            # Twenty batches of two: with room for 64 the worker asks again
            # before the slowed answer of its first receive is back.
            self.assertGreaterEqual(most, 2)
            self.assertLessEqual(most, 4)
        finally:
            env.stop()

    def test_one_receive_by_default(self):
        most, stacks, code, env, accts = run(1)
        try:
            self.check_all_once(env, accts, stacks, code)
            self.assertEqual(most, 1)
        finally:
            env.stop()


if __name__ == "__main__":
    unittest.main()
