"""xacctd end to end, the signals of SPEC §4 (cross-cutting) and STYLE:
SIGHUP proven by a new value taking effect, SIGTSTP proven by no
ReceiveMessage while quiet (counted by the emulator). SIGTERM's release is
proven in test_worker_resilience (the message is visible again at once)."""
import json
import signal
import time
import unittest
import uuid

from harness import Env, wait_for


def receive_calls(env):
    return len([r for r in env.fa.records("request")
                if r.get("target") == "AmazonSQS.ReceiveMessage"])


def stable(fn, quiet_for, timeout, what):
    """Waits until fn() has not changed for quiet_for seconds; returns it."""
    deadline = time.monotonic() + timeout
    last, since = fn(), time.monotonic()
    while True:
        time.sleep(0.2)
        v = fn()
        if v != last:
            last, since = v, time.monotonic()
        elif time.monotonic() - since >= quiet_for:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} still changing after {timeout}s")


class SignalsTest(unittest.TestCase):
    def setUp(self):
        self.env = Env().start()

    def tearDown(self):
        self.env.stop()

    def test_sighup_takes_a_new_topic_into_sns_topic_arns(self):
        env = self.env
        region = env.regions[0]
        late = env.create_topic(region, "added-on-reload")
        env.subscribe(late, region)   # delivers to the queue, not yet in the config
        w = env.start_worker()
        acct = "840000000001"
        ext = env.seed_customer(acct, topic_arn=late)

        # Before the reload: a request through that topic is refused.
        env.create_stack(acct, env.template(acct, ext, topic_arn=late), name="before-reload")
        wait_for(lambda: [d for d in env.dead() if "sns.topic_arns" in d["reason"]], 30,
                 "the request through the unknown topic in the dead set")

        env.topics[region].append(late)
        env.write_config()
        w.send_signal(signal.SIGHUP)
        wait_for(lambda: b"config.reloaded" in env.worker_log(w), 20, "the reload")
        s = env.wait_stack(env.create_stack(acct, env.template(acct, ext, topic_arn=late,
                                                            role_name="AfterReload"),
                                           name="after-reload")["stack_id"])
        self.assertEqual(s["status"], "CREATE_COMPLETE", s.get("status_reason"))
        self.assertEqual(env.customer(acct)["state"], "active")
        self.assertEqual(env.stop_worker(w), 0, env.worker_log(w)[-3000:])

    def quiet_worker(self):
        """A worker that polled, got SIGTSTP and went quiet, and the count of
        ReceiveMessage calls once the long polls in flight (queue.wait_seconds
        = 1) came back and no other followed."""
        env = self.env
        w = env.start_worker()
        wait_for(lambda: receive_calls(env) > 0, 20, "a first ReceiveMessage")
        w.send_signal(signal.SIGTSTP)
        wait_for(lambda: b"daemon.quiet" in env.worker_log(w), 20, "the worker to go quiet")
        return w, stable(lambda: receive_calls(env), 3, 60, "ReceiveMessage calls")

    def test_sigtstp_stops_receiving(self):
        env = self.env
        w, n = self.quiet_worker()
        # A message that arrives now stays on the queue, unreceived.
        mid = env.send_raw(json.dumps({"Type": "Notification", "probe": str(uuid.uuid4())}))
        for _ in range(5):  # 5 s: five long-poll periods
            time.sleep(1)
            self.assertEqual(receive_calls(env), n)
        q = env.queue()
        self.assertEqual([m["id"] for m in q["messages"] if m["visible"]], [mid])
        self.assertEqual([m["receive_count"] for m in q["messages"]], [0])
        self.assertEqual(env.stop_worker(w), 0, env.worker_log(w)[-3000:])
        self.assertEqual(receive_calls(env), n)

    def test_sigcont_brings_a_quiet_worker_back(self):
        """SIGTSTP is not forever: SIGCONT (the way back in job control)
        fetches again, and a request sent while the worker was quiet is
        answered then."""
        env = self.env
        w, n = self.quiet_worker()
        acct = "840000000002"
        ext = env.seed_customer(acct)
        stack = env.create_stack(acct, env.template(acct, ext), name="while-quiet")["stack_id"]
        time.sleep(2)
        self.assertEqual(receive_calls(env), n)
        self.assertEqual(env.customer(acct)["state"], "pending")
        w.send_signal(signal.SIGCONT)
        wait_for(lambda: b"daemon.resumed" in env.worker_log(w), 20, "the worker to resume")
        s = env.wait_stack(stack)
        self.assertEqual(s["status"], "CREATE_COMPLETE", s.get("status_reason"))
        self.assertEqual(env.customer(acct)["state"], "active")
        self.assertEqual(env.stop_worker(w), 0, env.worker_log(w)[-3000:])


if __name__ == "__main__":
    unittest.main()
