"""Lifecycle events delivered to a webhook over real sockets (SPEC §8).

A receiver of our own (http.server in a thread, on 127.0.0.1) checks every
POST's signature with the shared secret the way the README tells a partner
to, and answers from a script: 500s, a redirect, a 200 with a body larger
than xacctd keeps (delivered), hangs past the delivery timeout, then 200.
A 200 whose body never ends, a 200 whose connection closes before its body's
end, and a 200 sent before the request was read (the receiver's kernel then
resets the connection), are delivered at the first try; a receiver down for a while is one warning, not one a retry. Customers go through their lifecycle with real xacct and
xacctd processes against redis-server and the emulator. What must hold:
every event of the outbox arrives at least once, correctly signed, each
customer's with every seq from 1 up (receivers order them by seq: a retried
event may arrive after a later one); a worker killed with SIGKILL
in the middle of a delivery loses nothing (a second worker takes its events
over, even behind more pending entries of a live worker than one XAUTOCLAIM
looks at); events that keep failing past events.max_age land in outbox:dead
(and leave the outbox listing) and `xacct outbox redeliver` sends them
again; a bad webhook URL or secret file stops xacctd at start with a clear
message. The receiver verifies with the README's own Python recipe, and the
README's Node recipe is run (node) on real deliveries. A customer whose
events the receiver keeps refusing holds up no other customer's, and each of
its events is sent at least once before it is given up on.
"""
import hashlib
import hmac
import http.server
import base64
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import threading
import unittest

from harness import BUILD, SOURCE, Env, SharedEnvTest, wait_for

A = "210987654321"
B = "310987654321"
SECRET = b"whsec_e2e-secret-value"


def readme_block(lang, marker):
    """The README's code block in lang that contains marker."""
    with open(os.path.join(SOURCE, "README.md")) as f:
        text = f.read()
    for block in re.findall(r"```" + lang + r"\n(.*?)```", text, re.S):
        if marker in block:
            return block
    raise AssertionError(f"README has no {lang} block with {marker}")


_ns = {}
exec(readme_block("python", "def verify_xacct_signature"), _ns)
verify_xacct_signature = _ns["verify_xacct_signature"]


def node_verify(secret, ts, sig, body):
    """The README's Node recipe on one delivery: True or False."""
    script = readme_block("js", "function verifyXacctSignature") + """
const [secret, ts, sig, body] = process.argv.slice(1);
console.log(verifyXacctSignature(secret,
  {"x-xacct-timestamp": ts, "x-xacct-signature": sig}, Buffer.from(body, "base64")));
"""
    r = subprocess.run(["node", "-e", script, secret, ts, sig,
                        base64.b64encode(body).decode()],
                       capture_output=True, timeout=60, check=True)
    return r.stdout.strip() == b"true"


class Receiver:
    """A webhook receiver. plan: actions for the next requests in order
    ("500", "302", "hang", "big", "endless", "200"); after that, default."""

    def __init__(self, secret, tls=None):
        self.secret = secret
        self.tls = tls  # (cert file, key file): serve https
        self.lock = threading.Lock()
        self.requests = []   # every request, as received
        self.plan = []
        self.default = "200"
        self.refused = set()  # accounts whose events always get a 500
        self.release = threading.Event()  # ends every hang
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                action = receiver.record(self.path, self.headers, body)
                if action == "hang":
                    receiver.release.wait(60)
                    return  # no answer at all; the connection just closes
                if action == "endless":
                    # A 200 whose body never ends: xacctd keeps 64 KiB of it
                    # and stops reading; the event counts as delivered.
                    self.send_response(200)
                    self.send_header("Content-Length", str(10 ** 12))
                    self.end_headers()
                    try:
                        while not receiver.release.is_set():
                            self.wfile.write(b"x" * 65536)
                    except OSError:
                        pass
                    return
                if action == "302":
                    self.send_response(302)
                    self.send_header("Location", "/elsewhere")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                # "big": a 2xx whose answer is over the 64 KiB xacctd keeps;
                # the rest is dropped and the event counts as delivered.
                status = 200 if action == "big" else int(action)
                out = b"x" * 100000 if action == "big" else b"ok"
                self.send_response(status)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                try:
                    self.wfile.write(out)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a worker that gave up on a hanging request closed it

        self.server = Server(("127.0.0.1", 0), Handler)  # no window for another to take it
        self.port = self.server.server_address[1]
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self):
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/hook"

    def record(self, path, headers, body):
        """Records a request with the action it gets, and returns that."""
        with self.lock:
            if json.loads(body).get("account_id") in self.refused:
                action = "500"
            else:
                action = self.plan.pop(0) if self.plan else self.default
            self.requests.append({
                "path": path, "body": body, "action": action,
                "valid": verify_xacct_signature(self.secret, headers, body),
                "ts": headers.get("X-Xacct-Timestamp"),
                "signature": headers.get("X-Xacct-Signature"),
                "event_id": headers.get("X-Xacct-Event-Id"),
                "content_type": headers.get("Content-Type"),
                "event": json.loads(body)})
            return action

    def snapshot(self):
        with self.lock:
            return list(self.requests)

    def first_arrivals(self):
        """The first arrival of each event id, in arrival order."""
        seen, out = set(), []
        for r in self.snapshot():
            if r["event"]["id"] not in seen:
                seen.add(r["event"]["id"])
                out.append(r["event"])
        return out

    def stop(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def start_env(receiver, secret_file, **events):
    env = Env().start()
    with open(secret_file, "wb") as f:
        f.write(SECRET + b"\n")
    conf = {"events__webhook_url": receiver.url(), "events__webhook_secret_file": secret_file,
            "events__delivery_timeout": "3", "events__claim_idle": "4"}
    conf.update({f"events__{k}": v for k, v in events.items()})
    env.write_config(**conf)
    return env


def outbox_events(env):
    return [json.loads(f[b"event"]) for _, f in env.r.xrange(f"{env.PREFIX}outbox")]


def delivered_all(env, receiver):
    """True once every event in the outbox has arrived."""
    want = {e["id"] for e in outbox_events(env)}
    got = {r["event"]["id"] for r in receiver.snapshot()}
    return want and want <= got


def close_job(env, account):
    jobs = json.loads(env.xacct("jobs", "--json", check=True).stdout)
    job = next(j for j in jobs if j["account_id"] == account)
    env.xacct("jobs", "done", job["id"], check=True)


class DeliveryTest(unittest.TestCase):
    """One worker; the receiver fails in every way before it accepts."""

    def setUp(self):
        self.receiver = Receiver(SECRET)
        self.receiver.plan = ["500", "500", "302", "big", "500", "hang", "hang"]
        self.secret_file = os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                        f"xacct-e2e-secret-{os.getpid()}")
        self.env = start_env(self.receiver, self.secret_file)

    def tearDown(self):
        self.env.stop()
        self.receiver.stop()
        os.unlink(self.secret_file)

    def test_lifecycle_events_arrive_signed_once_each(self):
        env, rec = self.env, self.receiver
        worker = env.start_worker(metrics=True)
        ext_a = env.onboard(A)
        ext_b = env.onboard(B)
        s = env.wait_stack(env.create_stack(A, env.template(A, ext_a))["stack_id"])
        self.assertEqual(s["status"], "CREATE_COMPLETE", s.get("status_reason"))
        env.update_stack(s["stack_id"], env.template(A, ext_a, role_name="XacctAccess2"))
        self.assertEqual(env.wait_stack(s["stack_id"])["status"], "UPDATE_COMPLETE")
        env.delete_stack(s["stack_id"])
        self.assertEqual(env.wait_stack(s["stack_id"])["status"], "DELETE_COMPLETE")
        wait_for(lambda: env.customer(A).get("state") == "offboarding", 30, "offboarding")
        close_job(env, A)
        sb = env.wait_stack(env.create_stack(B, env.template(B, ext_b, insecure=True))["stack_id"])
        self.assertEqual(sb["status"], "ROLLBACK_COMPLETE")

        wait_for(lambda: delivered_all(env, rec), 180, "every event at the receiver")

        # Exactly the events of the transitions, one per change, seq 1..n.
        events = outbox_events(env)
        by_account = {}
        for e in events:
            by_account.setdefault(e["account_id"], []).append(e)
        self.assertEqual([(e["type"], e["seq"]) for e in by_account[A]],
                         [("customer.onboarding", 1), ("customer.connected", 2),
                          ("customer.updated", 3), ("customer.offboarding", 4),
                          ("customer.offboarded", 5)])
        self.assertEqual([(e["type"], e["seq"]) for e in by_account[B]],
                         [("customer.onboarding", 1), ("customer.rejected", 2)])
        self.assertIn("without", by_account[B][1]["reason"])

        # What arrived: each POST signed, JSON, the event id in its header;
        # what was sent is the event itself and never an external ID.
        reqs = rec.snapshot()
        self.assertTrue(all(r["valid"] for r in reqs), [r for r in reqs if not r["valid"]])
        self.assertTrue(all(r["content_type"] == "application/json" for r in reqs))
        self.assertTrue(all(r["event_id"] == r["event"]["id"] for r in reqs))
        self.assertTrue(all(r["path"] == "/hook" for r in reqs), "a redirect was followed")
        for r in reqs:
            self.assertNotIn(ext_a.encode(), r["body"])
            self.assertNotIn(ext_b.encode(), r["body"])
        self.assertGreater(len(reqs), len(events))  # the failures were retried
        # The signature is what the README says: its Node recipe agrees, and
        # an independent HMAC matches; a changed body or secret fails.
        r0 = reqs[0]
        self.assertTrue(node_verify(SECRET.decode(), r0["ts"], r0["signature"], r0["body"]))
        self.assertFalse(node_verify(SECRET.decode(), r0["ts"], r0["signature"],
                                     r0["body"] + b" "))
        self.assertFalse(node_verify("another-secret", r0["ts"], r0["signature"], r0["body"]))
        self.assertEqual(r0["signature"], "v1=" + hmac.new(
            SECRET, r0["ts"].encode() + b"." + r0["body"], hashlib.sha256).hexdigest())

        # Per customer, after de-duplication, every seq once: the receiver
        # orders by seq (a retried event may come after a later one).
        first = rec.first_arrivals()
        self.assertEqual(sorted(e["id"] for e in first), sorted(e["id"] for e in events))
        for acct in (A, B):
            seqs = sorted(e["seq"] for e in first if e["account_id"] == acct)
            self.assertEqual(seqs, list(range(1, len(by_account[acct]) + 1)))

        # The operator's view and the metrics agree.
        wait_for(lambda: all(row["status"] == "delivered" for row in json.loads(
            env.xacct("outbox", "--json", check=True).stdout)), 30, "acks")
        rows = json.loads(env.xacct("outbox", "list", "--json", check=True).stdout)
        self.assertEqual([row["event_id"] for row in rows], [e["id"] for e in events])

        def metrics():
            m = env.parse_metrics(env.scrape(worker)[2])
            get = lambda r: m.get(("xacct_webhook_deliveries_total",  # noqa: E731
                                   frozenset({("result", r)})), 0)
            return (get("delivered"), get("rejected"), get("error"),
                    m.get(("xacct_outbox_pending", frozenset()), -1))
        wait_for(lambda: metrics()[3] == 0, 30, "xacct_outbox_pending to reach 0")
        delivered, rejected, error, _ = metrics()
        self.assertGreaterEqual(delivered, len(events))
        self.assertGreaterEqual(rejected, 4)  # three 500s and the redirect
        self.assertGreaterEqual(error, 2)     # the two hangs
        # A 2xx is delivered whatever its body: the event answered with more
        # than xacctd keeps was not sent again.
        big = [i for i, r in enumerate(reqs) if r["action"] == "big"]
        self.assertEqual(len(big), 1)
        self.assertNotIn(reqs[big[0]]["event_id"], [r["event_id"] for r in reqs[big[0] + 1:]])
        log = env.worker_log(worker)
        self.assertNotIn(SECRET, log)
        self.assertIn(b"webhook.failed", log)

        # SIGHUP re-reads the secret: the next event is signed with the new one.
        with open(self.secret_file, "wb") as f:
            f.write(b"whsec_rotated\n")
        rec.secret = b"whsec_rotated"
        worker.send_signal(signal.SIGHUP)
        wait_for(lambda: b"webhook.secret_reloaded" in env.worker_log(worker), 20, "reload")
        env.onboard("410987654321")
        wait_for(lambda: delivered_all(env, rec), 60, "the event after the reload")
        self.assertTrue(rec.snapshot()[-1]["valid"])
        self.assertNotIn(b"whsec_rotated", env.worker_log(worker))
        self.assertEqual(env.stop_worker(worker), 0, env.worker_log(worker)[-3000:])


class EndlessAnswerTest(unittest.TestCase):
    """A receiver that answers 200 and then never stops sending a body."""

    def setUp(self):
        self.receiver = Receiver(SECRET)
        self.receiver.plan = ["endless"]
        self.secret_file = os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                        f"xacct-e2e-secret-e-{os.getpid()}")
        self.env = start_env(self.receiver, self.secret_file)

    def tearDown(self):
        self.env.stop()
        self.receiver.stop()
        os.unlink(self.secret_file)

    def test_a_2xx_with_an_endless_body_is_delivered_once(self):
        env, rec = self.env, self.receiver
        worker = env.start_worker()
        env.onboard(A)
        wait_for(lambda: env.r.xpending(f"{env.PREFIX}outbox", "webhook")["pending"] == 0
                 and b"webhook.delivered" in env.worker_log(worker), 30, "the ack")
        # Answered 2xx: delivered at the first try, not timed out and sent
        # again (the delivery timeout is 3 s).
        self.assertEqual([r["action"] for r in rec.snapshot()], ["endless"])
        self.assertNotIn(b"webhook.failed", env.worker_log(worker))
        self.assertEqual(env.stop_worker(worker), 0, env.worker_log(worker)[-3000:])


class OutageLogTest(unittest.TestCase):
    """A receiver down for a while: one warning for the outage, not one for
    every retry of every event, and one line when it is back."""

    def setUp(self):
        self.receiver = Receiver(SECRET)
        self.receiver.default = "503"
        self.secret_file = os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                        f"xacct-e2e-secret-o-{os.getpid()}")
        self.env = start_env(self.receiver, self.secret_file)

    def tearDown(self):
        self.env.stop()
        self.receiver.stop()
        os.unlink(self.secret_file)

    def test_one_warning_per_outage(self):
        env, rec = self.env, self.receiver
        worker = env.start_worker()
        env.onboard(A)
        env.onboard(B)
        wait_for(lambda: len(rec.snapshot()) >= 6, 60, "retries of both events")
        rec.default = "200"
        wait_for(lambda: env.r.xpending(f"{env.PREFIX}outbox", "webhook")["pending"] == 0,
                 60, "both events delivered")
        lines = env.worker_log(worker).splitlines()
        failed = [ln for ln in lines if b"event=webhook.failed" in ln]
        self.assertEqual(len(failed), 1, failed)
        self.assertIn(b"level=warn", failed[0])
        self.assertIn(b'reason="HTTP 503"', failed[0])
        recovered = [ln for ln in lines if b"event=webhook.recovered" in ln]
        self.assertEqual(len(recovered), 1, recovered)
        n = sum(1 for r in rec.snapshot() if r["action"] == "503")
        self.assertIn(f"failures={n}".encode(), recovered[0])
        self.assertEqual(env.stop_worker(worker), 0, env.worker_log(worker)[-3000:])


class RawReceiverTest(unittest.TestCase):
    """A receiver on a plain socket, for answers an HTTP server would not
    give: answer(conn) answers one connection and returns what to record."""

    SECRET_TAG = "r"

    def setUp(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.answered = []
        threading.Thread(target=self.serve, daemon=True).start()
        self.secret_file = os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                        f"xacct-e2e-secret-{self.SECRET_TAG}-{os.getpid()}")
        self.env = start_env(self, self.secret_file)

    def url(self):
        return f"http://127.0.0.1:{self.port}/hook"

    def serve(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                self.answered.append(self.answer(conn))

    def tearDown(self):
        self.env.stop()
        self.listener.close()
        os.unlink(self.secret_file)

    def deliver_one(self):
        """Onboards a customer: its one event is acknowledged; returns the
        worker's log."""
        env = self.env
        worker = env.start_worker()
        env.onboard(A)
        wait_for(lambda: env.r.xpending(f"{env.PREFIX}outbox", "webhook")["pending"] == 0
                 and self.answered, 30, "the ack")
        self.assertEqual(len(self.answered), 1)
        log = env.worker_log(worker)
        self.assertNotIn(b"webhook.failed", log)
        self.assertEqual(env.stop_worker(worker), 0, log[-3000:])
        return log


class EarlyAnswerTest(RawReceiverTest):
    """A receiver that answers 200 before reading the request, then closes:
    the unread request makes its kernel reset the connection right behind
    the answer. The answer is there to read, and counts."""

    SECRET_TAG = "a"

    def answer(self, conn):
        conn.recv(1, socket.MSG_PEEK)  # the request is there, unread
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                     b"Connection: close\r\n\r\nok")
        return conn.getpeername()

    def test_an_answer_before_the_reset_is_delivered(self):
        self.deliver_one()


def lifecycle_event(account, seq):
    return json.dumps({"id": f"evt_{int(account):020x}{seq:012x}", "type": "customer.updated",
                       "time": "2026-05-01T12:00:00.000Z", "account_id": account, "seq": seq,
                       "state": "active", "role_arn": None, "region": None, "stack_id": None,
                       "reason": None})


class FailingCustomerTest(unittest.TestCase):
    """A receiver that refuses every event of one customer: that customer's
    events hold up no one else's, and each of them is sent before it is
    given up on."""

    X = "510987654321"

    def setUp(self):
        self.receiver = Receiver(SECRET)
        self.receiver.refused.add(self.X)
        self.secret_file = os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                        f"xacct-e2e-secret-f-{os.getpid()}")

    def tearDown(self):
        self.env.stop()
        self.receiver.stop()
        os.unlink(self.secret_file)

    def append(self, account, seqs):
        pipe = self.env.r.pipeline(transaction=False)
        for seq in seqs:
            pipe.xadd(f"{self.env.PREFIX}outbox", {"event": lifecycle_event(account, seq)})
        pipe.execute()

    def test_a_refused_customer_does_not_hold_up_the_others(self):
        self.env = env = start_env(self.receiver, self.secret_file)
        rec = self.receiver
        # More of X's events than a worker holds, then one of A's.
        self.append(self.X, range(1, 65))
        self.append(A, [1])
        worker = env.start_worker()
        wait_for(lambda: any(r["event"]["account_id"] == A for r in rec.snapshot()), 20,
                 "A's event to be sent while X's keep failing")
        wait_for(lambda: env.r.xpending(f"{env.PREFIX}outbox", "webhook")["pending"] == 64, 10,
                 "A's event acknowledged")
        # X's events are tried a few at a time; the rest wait in Redis.
        tried = {r["event_id"] for r in rec.snapshot() if r["event"]["account_id"] == self.X}
        self.assertTrue(0 < len(tried) <= 4, tried)
        self.assertEqual(env.stop_worker(worker), 0, env.worker_log(worker)[-3000:])

    def test_an_event_is_sent_before_it_is_given_up_on(self):
        self.env = env = start_env(self.receiver, self.secret_file, max_age="6")
        rec = self.receiver
        self.append(self.X, range(1, 11))
        worker = env.start_worker()
        def all_dead():
            d = json.loads(env.xacct("outbox", "dead", "--json", check=True).stdout)
            return d if len(d) == 10 else None
        dead = wait_for(all_dead, 90, "all ten events in outbox:dead", interval=1)
        # Each one was POSTed (and refused) at least once before it was
        # buried, none because it waited for another of the customer's.
        self.assertEqual(sorted(d["seq"] for d in dead), list(range(1, 11)))
        self.assertTrue(all(d["attempts"] >= 1 and d["reason"] == "HTTP 500" for d in dead),
                        [(d["seq"], d["attempts"], d["reason"]) for d in dead])
        self.assertEqual({r["event"]["seq"] for r in rec.snapshot()}, set(range(1, 11)))
        self.assertEqual(env.r.xpending(f"{env.PREFIX}outbox", "webhook")["pending"], 0)
        self.assertEqual(env.stop_worker(worker), 0, env.worker_log(worker)[-3000:])


class ShortAnswerTest(RawReceiverTest):
    """A receiver that answers 200 OK with a Content-Length of 100, sends 2
    bytes of it and closes: the status was said, and counts."""

    SECRET_TAG = "s"

    def answer(self, conn):
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        head, body = data.split(b"\r\n\r\n", 1)
        length = int(re.search(rb"(?im)^content-length:\s*(\d+)", head).group(1))
        while len(body) < length:
            body += conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nok")
        return json.loads(body)["id"]

    def test_a_2xx_cut_short_is_delivered(self):
        log = self.deliver_one()
        self.assertIn(b"webhook.delivered", log)
        self.assertEqual(json.loads(self.env.xacct("outbox", "dead", "--json",
                                                   check=True).stdout), [])


class TakeoverTest(unittest.TestCase):
    """A worker killed mid-delivery: its events are taken over."""

    def setUp(self):
        self.receiver = Receiver(SECRET)
        self.receiver.default = "hang"
        self.secret_file = os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                        f"xacct-e2e-secret-k-{os.getpid()}")
        self.env = start_env(self.receiver, self.secret_file, delivery_timeout="30")

    def tearDown(self):
        self.env.stop()
        self.receiver.stop()
        os.unlink(self.secret_file)

    def test_sigkill_mid_delivery_loses_nothing(self):
        env, rec = self.env, self.receiver
        first = env.start_worker()
        for acct in (A, B, "410987654321"):
            env.onboard(acct)
        # The first worker has the events and is stuck in the POSTs.
        wait_for(lambda: len({r["event"]["id"] for r in rec.snapshot()}) == 3, 30,
                 "the first worker to be mid-delivery")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        pending = env.r.xpending(f"{env.PREFIX}outbox", "webhook")
        self.assertEqual(pending["pending"], 3)
        before = len(rec.snapshot())

        rec.default = "200"
        rec.release.set()
        second = env.start_worker()
        wait_for(lambda: env.r.xpending(f"{env.PREFIX}outbox", "webhook")["pending"] == 0, 90,
                 "the second worker to take over and deliver")
        after = rec.snapshot()[before:]
        self.assertEqual({r["event"]["id"] for r in after},
                         {e["id"] for e in outbox_events(env)})
        self.assertTrue(all(r["valid"] for r in after))
        self.assertIn(b"webhook.delivered", env.worker_log(second))
        self.assertEqual(env.stop_worker(second), 0, env.worker_log(second)[-3000:])


    def test_sigterm_mid_delivery_leaves_the_event_pending(self):
        env, rec = self.env, self.receiver
        worker = env.start_worker()
        env.onboard(A)
        wait_for(lambda: rec.snapshot(), 30, "the worker to be mid-delivery")
        # The open POST is cancelled; the event is neither acknowledged nor
        # lost: it stays pending for the next worker.
        self.assertEqual(env.stop_worker(worker), 0, env.worker_log(worker)[-3000:])
        self.assertEqual(env.r.xpending(f"{env.PREFIX}outbox", "webhook")["pending"], 1)
        self.assertNotIn(b"webhook.delivered", env.worker_log(worker))


class DeadTest(unittest.TestCase):
    """Past events.max_age an event goes to outbox:dead; redeliver sends it."""

    def setUp(self):
        self.receiver = Receiver(SECRET)
        self.receiver.default = "500"
        self.secret_file = os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                        f"xacct-e2e-secret-d-{os.getpid()}")
        self.env = start_env(self.receiver, self.secret_file, max_age="3")

    def tearDown(self):
        self.env.stop()
        self.receiver.stop()
        os.unlink(self.secret_file)

    def test_dead_then_redeliver(self):
        env, rec = self.env, self.receiver
        worker = env.start_worker(metrics=True)

        def deliveries(result):
            m = env.parse_metrics(env.scrape(worker)[2])
            return m.get(("xacct_webhook_deliveries_total", frozenset({("result", result)})), 0)
        env.onboard(A)
        dead = wait_for(lambda: json.loads(env.xacct("outbox", "dead", "--json",
                                                     check=True).stdout), 60, "outbox:dead")
        self.assertEqual(len(dead), 1)
        self.assertEqual(dead[0]["type"], "customer.onboarding")
        self.assertEqual(dead[0]["account_id"], A)
        self.assertEqual(dead[0]["reason"], "HTTP 500")
        self.assertGreaterEqual(dead[0]["attempts"], 1)
        self.assertEqual(env.r.xpending(f"{env.PREFIX}outbox", "webhook")["pending"], 0)
        # Given up on, it left the outbox: never listed as delivered.
        rows = json.loads(env.xacct("outbox", "list", "--json", check=True).stdout)
        self.assertEqual([r for r in rows if r["event_id"] == dead[0]["event_id"]], [])
        text = env.xacct("outbox", "dead", check=True).stdout.decode()
        self.assertIn("customer.onboarding", text)

        rec.default = "200"
        r = env.xacct("outbox", "redeliver", dead[0]["id"], "--json", check=True)
        self.assertEqual(json.loads(r.stdout)["id"], dead[0]["id"])
        wait_for(lambda: any(x["event"]["id"] == dead[0]["event_id"] and x["valid"]
                             for x in rec.snapshot()[-1:]), 30, "the redelivered event")
        wait_for(lambda: not json.loads(env.xacct("outbox", "dead", "--json",
                                                  check=True).stdout), 30,
                 "outbox:dead to be empty")
        # An entry that is not an event is not sent anywhere: straight to dead.
        env.r.xadd(f"{env.PREFIX}outbox", {"event": "not json"})
        junk = wait_for(lambda: json.loads(env.xacct("outbox", "dead", "--json",
                                                     check=True).stdout), 30, "junk in dead")
        self.assertEqual(junk[0]["reason"], "not a lifecycle event (malformed JSON)")
        self.assertEqual(junk[0]["attempts"], 0)
        # Said in the log like every event given up on, naming the entry.
        self.assertIn(f'outbox_id={junk[0]["outbox_id"]}'.encode(), env.worker_log(worker))
        self.assertFalse(any(x["body"] == b"not json" for x in rec.snapshot()))
        # Each event given up on counted once as dead (SPEC §8 metric).
        self.assertEqual(deliveries("dead"), 2)
        self.assertGreaterEqual(deliveries("rejected"), 1)  # the 500s before max_age
        self.assertGreaterEqual(deliveries("delivered"), 1)  # the redelivered one
        # Usage errors and a missing entry.
        self.assertEqual(env.xacct("outbox", "redeliver").returncode, 2)
        self.assertEqual(env.xacct("outbox", "redeliver", "nope").returncode, 2)
        self.assertEqual(env.xacct("outbox", "redeliver", dead[0]["id"]).returncode, 1)
        self.assertEqual(env.xacct("outbox", "sideways").returncode, 2)
        self.assertEqual(env.stop_worker(worker), 0, env.worker_log(worker)[-3000:])


class ReclaimTest(unittest.TestCase):
    """A silent worker's events behind more pending entries than one
    XAUTOCLAIM looks at (64 * 10), all held by a live worker."""

    LIVE = 1000

    def setUp(self):
        self.receiver = Receiver(SECRET)
        self.secret_file = os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                        f"xacct-e2e-secret-r-{os.getpid()}")
        self.env = start_env(self.receiver, self.secret_file)

    def tearDown(self):
        self.env.stop()
        self.receiver.stop()
        os.unlink(self.secret_file)

    def test_idle_events_deep_in_the_pending_list_are_taken_over(self):
        env, rec = self.env, self.receiver
        key = f"{env.PREFIX}outbox"

        def event(n):
            return json.dumps({"id": f"evt_{n:032x}", "type": "customer.onboarding",
                               "time": "2026-05-01T12:00:00.000Z", "account_id": f"{n:012d}",
                               "seq": 1, "state": "pending", "role_arn": None, "region": None,
                               "stack_id": None, "reason": None})

        env.r.xgroup_create(key, "webhook", id="0", mkstream=True)
        pipe = env.r.pipeline(transaction=False)
        for n in range(self.LIVE + 3):
            pipe.xadd(key, {"event": event(n)})
        pipe.execute()
        live = [i for i, _ in env.r.xreadgroup("webhook", "live", {key: ">"},
                                                 count=self.LIVE)[0][1]]
        env.r.xreadgroup("webhook", "silent", {key: ">"}, count=3)
        silent = {f"evt_{n:032x}" for n in range(self.LIVE, self.LIVE + 3)}

        stop = threading.Event()

        def touch():  # "live" keeps its entries from ever looking idle
            while not stop.wait(0.5):
                env.r.xclaim(key, "webhook", "live", 0, live, justid=True)

        toucher = threading.Thread(target=touch, daemon=True)
        toucher.start()
        try:
            worker = env.start_worker()
            wait_for(lambda: silent <= {r["event_id"] for r in rec.snapshot()}
                     and env.r.xpending(key, "webhook")["pending"] == self.LIVE, 60,
                     "the silent worker's events to be taken over and delivered")
        finally:
            stop.set()
            toucher.join(10)
        consumers = env.r.xpending(key, "webhook")["consumers"]
        self.assertEqual(consumers, [{"name": b"live", "pending": self.LIVE}])
        self.assertEqual({r["event_id"] for r in rec.snapshot()}, silent)
        self.assertEqual(env.stop_worker(worker), 0, env.worker_log(worker)[-3000:])


class TlsTest(unittest.TestCase):
    """An https receiver: its certificate is verified like every other."""

    def setUp(self):
        self.env = Env().start()
        tmp = self.env.tmp
        # Trusted: issued by the emulator's CA, which AWS_CA_BUNDLE adds.
        ca_dir = os.path.dirname(self.env.fa.ca_file)
        self.good = Receiver(SECRET, tls=(os.path.join(ca_dir, "server.pem"),
                                          os.path.join(ca_dir, "server.key")))
        # Untrusted: self-signed, for the right address all the same.
        cert, key = os.path.join(tmp, "self.pem"), os.path.join(tmp, "self.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
        self.bad = Receiver(SECRET, tls=(cert, key))
        self.secret_file = os.path.join(tmp, "webhook-secret")
        with open(self.secret_file, "wb") as f:
            f.write(SECRET)
        self.env.write_config(events__webhook_secret_file=self.secret_file,
                              events__delivery_timeout="3", events__claim_idle="4")

    def tearDown(self):
        self.env.stop()
        self.good.stop()
        self.bad.stop()

    def test_untrusted_certificate_is_refused_then_trusted_one_delivers(self):
        env = self.env
        w1 = env.start_worker({"XACCT_EVENTS_WEBHOOK_URL": self.bad.url()})
        env.onboard(A)
        wait_for(lambda: b"XACCT_ETLS" in env.worker_log(w1), 60, "a TLS failure")
        self.assertEqual(self.bad.snapshot(), [])  # nothing got past the handshake
        self.assertEqual(env.stop_worker(w1), 0, env.worker_log(w1)[-3000:])

        w2 = env.start_worker({"XACCT_EVENTS_WEBHOOK_URL": self.good.url()})
        wait_for(lambda: self.good.snapshot(), 60, "delivery over verified TLS")
        got = self.good.snapshot()[0]
        self.assertTrue(got["valid"])
        self.assertEqual(got["event"]["type"], "customer.onboarding")
        self.assertEqual(self.bad.snapshot(), [])
        self.assertEqual(env.stop_worker(w2), 0, env.worker_log(w2)[-3000:])

    def test_a_name_resolving_to_the_metadata_service_is_never_connected(self):
        # The receiver's DNS is someone else's: an https name that resolves
        # (or is rebound) to a link-local address is refused at connect time.
        env = self.env
        with open(env.hosts_path, "a") as f:
            f.write("169.254.169.254 hooks.rebound.example\n")
        w = env.start_worker({"XACCT_EVENTS_WEBHOOK_URL": "https://hooks.rebound.example/x"})
        env.onboard(A)
        wait_for(lambda: b"XACCT_EFORBIDDEN" in env.worker_log(w), 30,
                 "the link-local address to be refused")
        self.assertEqual(env.r.xpending(f"{env.PREFIX}outbox", "webhook")["pending"], 1)
        self.assertEqual(env.stop_worker(w), 0, env.worker_log(w)[-3000:])


class ConfigTest(SharedEnvTest):
    """A webhook xacctd cannot use stops it at start, saying why."""

    def test_plain_http_elsewhere_is_refused(self):
        for url in ("http://example.com/hook", "http://localhost:9/hook"):
            r = self.run_xacctd(XACCT_EVENTS_WEBHOOK_URL=url)
            self.assertEqual(r.returncode, 1)
            self.assertIn(b"events.webhook_url: must be https", r.stderr)

    def test_missing_secret_file(self):
        r = self.run_xacctd(XACCT_EVENTS_WEBHOOK_URL="https://hooks.example.com/x",
                            XACCT_EVENTS_WEBHOOK_SECRET_FILE="/nonexistent/secret")
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"events.webhook_secret_file: /nonexistent/secret: No such file or directory",
                      r.stderr)
        # --check-config says the same, before any start.
        c = subprocess.run([os.path.join(BUILD, "xacctd"), "--config", self.env.config_path,
                            "--check-config"],
                           env=self.env.process_env({
                               "XACCT_EVENTS_WEBHOOK_URL": "https://hooks.example.com/x",
                               "XACCT_EVENTS_WEBHOOK_SECRET_FILE": "/nonexistent/secret"}),
                           capture_output=True, timeout=60)
        self.assertEqual(c.returncode, 1)
        self.assertIn(b"events.webhook_secret_file: /nonexistent/secret: No such file or directory",
                      c.stderr)


if __name__ == "__main__":
    unittest.main()
