"""Two xacctd processes on one queue with 200 stacks: every stack completes,
every customer is recorded once, no request runs twice."""
import json
import unittest

from harness import Env


class TwoWorkersTest(unittest.TestCase):
    def test_two_workers_two_hundred_stacks(self):
        env = Env(propagation_timeout=30).start()
        try:
            accts = [f"8000000{i:05d}" for i in range(200)]
            ext = {a: env.seed_customer(a) for a in accts}
            w1, w2 = env.start_worker(), env.start_worker()
            ids = [env.create_stack(a, env.template(a, ext[a]), name=f"s{a}")["stack_id"]
                   for a in accts]
            stacks = [env.wait_stack(i, timeout=300) for i in ids]
            for a, s in zip(accts, stacks):
                self.assertEqual(s["status"], "CREATE_COMPLETE", f"{a}: {s.get('status_reason')}")
                self.assertEqual(env.customer(a)["state"], "active")
                # One audit event per account: nothing ran twice.
                self.assertEqual(len(env.r.xrange(f"{env.PREFIX}events:{a}")), 1)
            env.wait_queue_empty()
            # Both workers took part (the queue is shared, not partitioned).
            answered = [env.worker_log(w).count(b"request.answered") for w in (w1, w2)]
            self.assertEqual(sum(answered), 200)
            self.assertGreater(min(answered), 0, answered)
            calls = env.ctl("GET", "/_fake/sts/assume-role-calls")["calls"]
            self.assertEqual(len(calls), 600)  # with, without and with a wrong ID, once per stack
            for w in (w1, w2):
                self.assertEqual(env.stop_worker(w), 0, env.worker_log(w)[-2000:])
            self.assertEqual(len({json.loads(s["answers"][0]["body"])["RequestId"]
                                  for s in stacks}), 200)
        finally:
            env.stop()


if __name__ == "__main__":
    unittest.main()
