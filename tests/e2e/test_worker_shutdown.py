"""xacctd end to end, SPEC §4 (cross-cutting): SIGTERM and SIGTSTP while a
ReceiveMessage is still on the wire. SQS keeps a long poll going after the
client hangs up, and what that poll returns stays invisible for the whole
visibility timeout (as AWS's SDKs document for a cancelled receive; the
emulator does the same: a receive it answers to a closed connection has
taken its messages all the same). So the worker waits for the answer of
every receive it sent and hands its messages back (visibility 0)."""
import json
import signal
import time
import unittest
import uuid

from harness import Env, wait_for

# Each ReceiveMessage is held this long by the emulator before it takes
# messages: the window in which the signals below arrive.
LATENCY_MS = 4000


class ReceiveInFlightTest(unittest.TestCase):
    def setUp(self):
        # The visibility timeout (60 s) is far beyond the bounds below: a
        # message left invisible cannot come back within them by itself.
        self.env = Env(visibility_timeout=60, grace_seconds=10).start()

    def tearDown(self):
        self.env.stop()

    def receive_on_the_wire(self, w):
        """Waits until the worker's next ReceiveMessage is held by the
        emulator (before it has taken anything)."""
        env = self.env
        env.ctl("POST", "/_fake/sqs/config", {"receive_latency_ms": LATENCY_MS})
        # A receive sent before the latency was set may still be answered:
        # wait for one that is held.
        time.sleep(1.5)
        wait_for(lambda: env.ctl("GET", "/_fake/sqs/receives")["in_progress"] > 0 or
                 w.poll() is not None, 20, "a ReceiveMessage in progress")
        self.assertIsNone(w.poll(), env.worker_log(w)[-3000:])

    def receives_answered(self):
        """Waits until the emulator has answered every ReceiveMessage (also
        those whose client hung up), so the queue shows what they took."""
        wait_for(lambda: self.env.ctl("GET", "/_fake/sqs/receives")["in_progress"] == 0,
                 LATENCY_MS / 1000 + 25, "the receives to be answered")

    def message(self):
        return self.env.send_raw(json.dumps({"Type": "Notification",
                                             "probe": str(uuid.uuid4())}))

    def test_sigterm_releases_what_a_receive_in_flight_returns(self):
        env = self.env
        w = env.start_worker()
        self.receive_on_the_wire(w)
        mid = self.message()
        w.send_signal(signal.SIGTERM)
        self.assertEqual(w.wait(60), 0, env.worker_log(w)[-3000:])
        self.receives_answered()
        log = env.worker_log(w)
        # The receive took the message; the worker handed it back at once.
        q = env.queue()
        self.assertEqual([(m["id"], m["visible"], m["receive_count"]) for m in q["messages"]],
                         [(mid, True, 1)], log[-3000:])
        self.assertIn(b"message.released", log)
        self.assertEqual(env.dead(), [])

    def test_second_sigterm_still_waits_for_the_receive_and_exits_0(self):
        env = self.env
        w = env.start_worker()
        self.receive_on_the_wire(w)
        mid = self.message()
        w.send_signal(signal.SIGTERM)
        wait_for(lambda: b"daemon.draining" in env.worker_log(w), 20, "the drain")
        w.send_signal(signal.SIGTERM)
        self.assertEqual(w.wait(60), 0, env.worker_log(w)[-3000:])
        self.receives_answered()
        q = env.queue()
        self.assertEqual([(m["id"], m["visible"], m["receive_count"]) for m in q["messages"]],
                         [(mid, True, 1)], env.worker_log(w)[-3000:])

    def test_sigtstp_hands_back_what_a_receive_in_flight_returns(self):
        env = self.env
        w = env.start_worker()
        self.receive_on_the_wire(w)
        mid = self.message()
        w.send_signal(signal.SIGTSTP)
        wait_for(lambda: b"daemon.quiet" in env.worker_log(w), 20, "the worker to go quiet")
        # Once the held receive has answered, the message is visible again
        # (well before its 60 s visibility timeout), not worked on.
        self.receives_answered()
        wait_for(lambda: [(m["id"], m["visible"]) for m in env.queue()["messages"]] ==
                 [(mid, True)], 10, "the message to be visible again")
        self.assertEqual([m["receive_count"] for m in env.queue()["messages"]], [1])
        self.assertEqual(env.dead(), [])
        # SIGCONT: fetched again and worked on (a bare notification goes to
        # the dead set).
        env.ctl("POST", "/_fake/sqs/config", {"receive_latency_ms": 0})
        w.send_signal(signal.SIGCONT)
        env.wait_dead(mid)
        self.assertEqual(env.stop_worker(w), 0, env.worker_log(w)[-3000:])


if __name__ == "__main__":
    unittest.main()
