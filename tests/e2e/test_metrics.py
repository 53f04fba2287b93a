"""The observability endpoint of a real xacctd on metrics.listen: /metrics in
Prometheus text format follows what the worker did (messages, requests,
safety checks, CloudFormation answers, AWS calls and their latency, Redis,
credentials), /healthz answers while the loop runs, /readyz reports Redis,
credentials and polling, and a port that cannot be bound stops the start."""
import signal
import socket
import subprocess
import os
import time
import unittest

from harness import BUILD, Env, SharedWorkerTest, until_close, wait_for


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


class MetricsTest(SharedWorkerTest):
    env_options = {"propagation_timeout": 20}
    worker_options = {"metrics": True}

    def metrics(self):
        status, headers, body = Env.scrape(self.worker)
        self.assertEqual(status, 200, body)
        return Env.parse_metrics(body)

    def test_endpoints(self):
        status, headers, body = Env.scrape(self.worker, "/metrics")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8")
        self.assertIn("# TYPE xacct_aws_request_duration_seconds histogram", body)
        self.assertIn("# TYPE xacct_messages_received_total counter", body)
        self.assertEqual(Env.scrape(self.worker, "/healthz")[:3:2], (200, "ok\n"))
        status, _, body = Env.scrape(self.worker, "/readyz")
        self.assertEqual(status, 200, body)
        self.assertEqual(body, "redis ok\ncredentials ok\npolling ok\n")
        self.assertEqual(Env.scrape(self.worker, "/nothing-here")[0], 404)
        status, headers, _ = Env.scrape(self.worker, "/metrics", method="POST")
        self.assertEqual(status, 405)
        self.assertIn("GET", headers.get("Allow", ""))
        status, _, body = Env.scrape(self.worker, "/metrics?name=x", method="HEAD")
        self.assertEqual((status, body), (200, ""))

    def test_ambiguous_framing_is_400_and_closes(self):
        # RFC 9112 3.2, 6.1 and 6.3, refused as the portal API refuses them:
        # a proxy in front may have framed the request otherwise, so nothing
        # after it on the connection is taken for a request (here a second
        # GET hidden in what a proxy would call the body).
        port = int(self.worker.metrics_url.rsplit(":", 1)[1])
        hidden = b"GET /healthz HTTP/1.1\r\nHost: m\r\n\r\n"
        cases = (
            (f"Content-Length: 0\r\nContent-Length: {len(hidden)}\r\n", hidden,
             "Content-Length"),
            (f"Content-Length: {len(hidden)}\r\nContent-Length: 0\r\n", hidden,
             "Content-Length"),
            ("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", b"0\r\n\r\n" + hidden,
             "Content-Length"),
            ("Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n",
             b"0\r\n\r\n" + hidden, "Transfer-Encoding"),
            ("Host: other\r\n", hidden, "Host"),
        )
        for head, body, says in cases:
            got = until_close(port, b"GET /metrics HTTP/1.1\r\nHost: m\r\n" + head.encode()
                              + b"\r\n" + body)
            self.assertEqual(got.count(b"HTTP/1.1 "), 1, (head, got))
            self.assertTrue(got.startswith(b"HTTP/1.1 400 "), (head, got[:200]))
            self.assertIn(says, got.partition(b"\r\n\r\n")[2].decode())
        # RFC 9112 3.2 and 5.1: an HTTP/1.1 request without Host, a field
        # name with whitespace before its colon; HTTP/1.0 needs no Host.
        for head, says in (("", "no Host"), ("Host: m\r\nX-Pad : 1\r\n", "token")):
            got = until_close(port, b"GET /metrics HTTP/1.1\r\n" + head.encode() + b"\r\n")
            self.assertEqual(got.count(b"HTTP/1.1 "), 1, (head, got))
            self.assertTrue(got.startswith(b"HTTP/1.1 400 "), (head, got[:200]))
            self.assertIn(says, got.partition(b"\r\n\r\n")[2].decode())
        got = until_close(port, b"GET /metrics HTTP/1.0\r\n\r\n")
        self.assertTrue(got.startswith(b"HTTP/1.1 200 "), got[:200])

    def test_counts_follow_the_work(self):
        env = self.env
        q = env.queue_url
        before = self.metrics()
        good, bad = "510000000001", "510000000002"
        ext = {a: env.seed_customer(a) for a in (good, bad)}
        s_good = env.create_stack(good, env.template(good, ext[good]))
        s_bad = env.create_stack(bad, env.template(bad, ext[bad], insecure=True))
        s_good = env.wait_stack(s_good["stack_id"])
        s_bad = env.wait_stack(s_bad["stack_id"])
        self.assertEqual(s_good["status"], "CREATE_COMPLETE", s_good.get("status_reason"))
        self.assertEqual(s_bad["status"], "ROLLBACK_COMPLETE")
        env.delete_stack(s_good["stack_id"])
        self.assertEqual(env.wait_stack(s_good["stack_id"])["status"], "DELETE_COMPLETE")
        env.wait_queue_empty()
        # Deletes of the queue batch are acknowledged a moment after the answer.
        wait_for(lambda: value(self.metrics(), "xacct_messages_acked_total", queue=q)
                 - value(before, "xacct_messages_acked_total", queue=q) >= 4, 20,
                 "four messages acknowledged")
        after = self.metrics()

        def delta(name, **labels):
            return value(after, name, **labels) - value(before, name, **labels)

        # Create (good), Create (bad), its rollback Delete, Delete (good).
        self.assertGreaterEqual(delta("xacct_messages_received_total", queue=q), 4)
        self.assertEqual(delta("xacct_messages_acked_total", queue=q), 4)
        self.assertEqual(delta("xacct_messages_dead_total", queue=q), 0)
        self.assertEqual(delta("xacct_requests_total", type="Create", outcome="success"), 1)
        self.assertEqual(delta("xacct_requests_total", type="Create", outcome="failed"), 1)
        self.assertEqual(delta("xacct_requests_total", type="Delete", outcome="success")
                         + delta("xacct_requests_total", type="Delete", outcome="ignored"), 2)
        self.assertEqual(delta("xacct_safety_checks_total", outcome="secure"), 1)
        self.assertEqual(delta("xacct_safety_checks_total", outcome="insecure"), 1)
        self.assertEqual(delta("xacct_cfn_answers_total", status="SUCCESS", result="delivered"), 3)
        self.assertEqual(delta("xacct_cfn_answers_total", status="FAILED", result="delivered"), 1)
        # AWS calls: SQS receives and deletes, STS for the checks, S3 for the
        # template clean-up, each with its latency.
        self.assertGreater(delta("xacct_aws_requests_total", service="sqs", status="200"), 0)
        self.assertGreaterEqual(delta("xacct_aws_requests_total", service="sts", status="200"), 1)
        n = value(after, "xacct_aws_request_duration_seconds_count", service="sts")
        self.assertGreater(n, 0)
        buckets = sorted(((float(dict(k[1])["le"]), v) for k, v in after.items()
                          if k[0] == "xacct_aws_request_duration_seconds_bucket"
                          and dict(k[1])["service"] == "sts"))
        self.assertEqual(buckets[-1], (float("inf"), n))
        self.assertEqual([v for _, v in buckets], sorted(v for _, v in buckets))
        self.assertGreater(value(after, "xacct_aws_request_duration_seconds_sum", service="sts"), 0)
        # Connections to the emulator (https): at least the first one with a
        # full handshake.
        self.assertGreaterEqual(value(after, "xacct_http_connections_total", tls="full"), 1)
        # States read at scrape time.
        self.assertEqual(value(after, "xacct_in_flight_messages"), 0)
        self.assertEqual(value(after, "xacct_max_in_flight_messages"), 64)
        self.assertEqual(value(after, "xacct_redis_up"), 1)
        self.assertEqual(value(after, "xacct_polling"), 1)
        self.assertEqual(value(after, "xacct_credentials_valid"), 1)
        # Static keys from the environment never expire.
        self.assertEqual(value(after, "xacct_credentials_expiry_timestamp_seconds"), 0)
        self.assertLess(abs(value(after, "xacct_process_start_time_seconds") - time.time()), 3600)
        self.assertTrue(any(k[0] == "xacct_build_info" for k in after))

    def test_dead_message_counted(self):
        q = self.env.queue_url
        before = value(self.metrics(), "xacct_messages_dead_total", queue=q)
        mid = self.env.send_raw("this is not an SNS envelope")
        self.env.wait_dead(mid)
        wait_for(lambda: value(self.metrics(), "xacct_messages_dead_total", queue=q) == before + 1,
                 20, "the dead message to be counted")

    def test_customers_gauge_odd_states(self):
        """xacct_customers shows a state this build does not know while
        customers are in it and drops its series when none are left; a state
        that is not UTF-8 (a hand-edited record) gets no series, since
        Prometheus would refuse the whole page over it."""
        env, p = self.env, self.env.PREFIX
        newer, broken = "530000000001", "530000000002"
        for acct in (newer, broken):
            env.seed_customer(acct)
        env.r.hset(f"{p}customer:{newer}", "state", "suspended_by_newer_worker")
        env.r.hset(f"{p}customer:{broken}", "state", b"\xffbad")
        try:
            # Counted every 30 s: Env.scrape decodes the page as UTF-8 and
            # parse_metrics reads every sample line.
            wait_for(lambda: value(self.metrics(), "xacct_customers",
                                   state="suspended_by_newer_worker") == 1, 45,
                     "the unknown state counted")
            status, _, body = Env.scrape(self.worker)
            self.assertEqual(status, 200)
            self.assertNotIn("bad\"", body)
            env.r.hset(f"{p}customer:{newer}", "state", "active")
            wait_for(lambda: not any(k[0] == "xacct_customers" and
                                     dict(k[1]).get("state") == "suspended_by_newer_worker"
                                     for k in self.metrics()), 45,
                     "the emptied unknown state's series to go")
        finally:
            for acct in (newer, broken):
                env.r.delete(f"{p}customer:{acct}")
                env.r.zrem(f"{p}customers", acct)


class ReadinessTest(unittest.TestCase):
    def setUp(self):
        self.env = Env(propagation_timeout=30, grace_seconds=5).start()

    def tearDown(self):
        self.env.stop()

    def ready(self, w):
        status, _, body = Env.scrape(w, "/readyz")
        return status, body

    def test_redis_away_and_back(self):
        env = self.env
        w = env.start_worker(metrics=True)
        wait_for(lambda: self.ready(w)[0] == 200, 20, "readiness")
        env.redis.stop()
        wait_for(lambda: self.ready(w)[0] == 503, 30, "not ready without Redis")
        status, body = self.ready(w)
        self.assertIn("redis not connected", body)
        self.assertIn("credentials ok", body)
        # Alive all the same.
        self.assertEqual(Env.scrape(w, "/healthz")[0], 200)
        m = Env.parse_metrics(Env.scrape(w)[2])
        self.assertEqual(value(m, "xacct_redis_up"), 0)
        self.assertGreaterEqual(value(m, "xacct_redis_errors_total"), 1)
        env.redis.start()
        wait_for(lambda: self.ready(w)[0] == 200, 60, "ready again once Redis is back")
        m = Env.parse_metrics(Env.scrape(w)[2])
        self.assertEqual(value(m, "xacct_redis_up"), 1)
        self.assertGreaterEqual(value(m, "xacct_redis_reconnects_total"), 1)
        self.assertEqual(env.stop_worker(w), 0, env.worker_log(w)[-3000:])

    def test_quiet_and_draining_are_not_ready(self):
        env, acct = self.env, "520000000001"
        w = env.start_worker(metrics=True)
        wait_for(lambda: self.ready(w)[0] == 200, 20, "readiness")
        # A check that waits for IAM propagation keeps one message in flight.
        ext = env.seed_customer(acct)
        env.ctl("POST", "/_fake/iam/config", {"propagation_seconds": 30})
        env.create_stack(acct, env.template(acct, ext), name="held")
        wait_for(lambda: value(Env.parse_metrics(Env.scrape(w)[2]),
                               "xacct_in_flight_messages") == 1, 30, "a message in flight")
        w.send_signal(signal.SIGTSTP)
        wait_for(lambda: self.ready(w)[0] == 503, 10, "quiet worker not ready")
        self.assertIn("polling quiet", self.ready(w)[1])
        self.assertEqual(value(Env.parse_metrics(Env.scrape(w)[2]), "xacct_polling"), 0)
        w.send_signal(signal.SIGTERM)
        wait_for(lambda: b"daemon.draining" in env.worker_log(w), 10, "the drain to begin")
        status, body = self.ready(w)
        self.assertEqual(status, 503)
        self.assertIn("polling shutting down", body)
        self.assertEqual(Env.scrape(w, "/healthz")[0], 200)
        self.assertEqual(w.wait(30), 0, env.worker_log(w)[-3000:])

    def test_port_in_use_stops_the_start(self):
        env = self.env
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            port = s.getsockname()[1]
            r = subprocess.run([os.path.join(BUILD, "xacctd"), "--config", env.config_path],
                               env=env.process_env({"XACCT_METRICS_LISTEN": f"127.0.0.1:{port}"}),
                               capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(f"metrics.listen 127.0.0.1:{port}".encode(), r.stderr)


if __name__ == "__main__":
    unittest.main()
