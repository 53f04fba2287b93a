"""xacctd's command line and configuration handling: --check-config,
--version, usage errors, and SIGHUP reloads (a bad reload keeps the running
configuration)."""
import os
import re
import signal
import subprocess
import unittest

from harness import BUILD, Env, SharedEnvTest, wait_for

XACCTD = os.path.join(BUILD, "xacctd")


class CheckConfigTest(SharedEnvTest):
    def run_xacctd(self, *args, env=None):
        return subprocess.run([XACCTD, *args], capture_output=True, timeout=30,
                              env=env or self.env.process_env())

    def test_check_config_ok(self):
        r = self.run_xacctd("--config", self.env.config_path, "--check-config")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout.decode()
        self.assertIn("queue.max_in_flight = 64", out)
        self.assertIn(f"aws.partner_account_id = {Env.PARTNER}", out)
        self.assertIn("configuration ok", out)

    def test_check_config_names_file_line_and_key(self):
        bad = os.path.join(self.env.tmp, "bad.conf")
        with open(self.env.config_path) as f:
            lines = f.read().splitlines()
        n = next(i for i, l in enumerate(lines) if l.startswith("max_messages"))
        lines[n] = "max_messages = eleven"
        with open(bad, "w") as f:
            f.write("\n".join(lines) + "\n")
        r = self.run_xacctd("--config", bad, "--check-config")
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"{bad}:{n + 1}: queue.max_messages", r.stderr.decode())

    def test_check_config_names_every_missing_key(self):
        # A fresh install learns every required key from one run, each on a
        # line of its own that names the file, not one key a run.
        conf = os.path.join(self.env.tmp, "fresh.conf")
        with open(conf, "w") as f:
            f.write("[log]\nlevel = info\n")
        e = {k: v for k, v in self.env.process_env().items()
             if k not in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE")
             and not k.startswith("XACCT_")}
        e.update(HOME=self.env.tmp, AWS_CONFIG_FILE=os.path.join(self.env.tmp, "absent"))
        r = self.run_xacctd("--config", conf, "--check-config", env=e)
        self.assertEqual(r.returncode, 1, (r.stdout, r.stderr))
        self.assertNotIn(b"configuration ok", r.stdout)
        lines = r.stderr.decode().splitlines()
        keys = [("aws.region", "XACCT_AWS_REGION"),
                ("aws.partner_account_id", "XACCT_AWS_PARTNER_ACCOUNT_ID"),
                ("queue.urls", "XACCT_QUEUE_URLS"), ("sns.topic_arns", "XACCT_SNS_TOPIC_ARNS")]
        self.assertEqual(len(lines), len(keys), lines)
        for line, (key, var) in zip(lines, keys):
            self.assertTrue(line.startswith(f"xacctd: {conf}: {key}: required (set it in the file"),
                            line)
            self.assertIn(var, line)
        # The same keys stop the daemon's start, all named there too.
        p = subprocess.run([XACCTD, "--config", conf], capture_output=True, timeout=30, env=e)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stderr.decode().splitlines(), lines)

    def test_environment_override(self):
        e = self.env.process_env({"XACCT_QUEUE_MAX_IN_FLIGHT": "7"})
        r = self.run_xacctd("--config", self.env.config_path, "--check-config", env=e)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("queue.max_in_flight = 7", r.stdout.decode())

    def test_mistyped_override_is_named(self):
        # A variable under a section's prefix that names no key is ignored
        # by the load, so the operator is told: by --check-config on
        # standard error, and by the start in the log.
        e = self.env.process_env({"XACCT_QUEUE_MAX_INFLIGHT": "7"})
        r = self.run_xacctd("--config", self.env.config_path, "--check-config", env=e)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("queue.max_in_flight = 64", r.stdout.decode())
        self.assertIn("XACCT_QUEUE_MAX_INFLIGHT names no setting", r.stderr.decode())
        r = self.run_xacctd("--config", self.env.config_path, "--check-config")
        self.assertNotIn("XACCT_QUEUE_MAX_INFLIGHT", r.stderr.decode())
        w = self.env.start_worker({"XACCT_QUEUE_MAX_INFLIGHT": "7"})
        wait_for(lambda: b"config.unknown_env" in self.env.worker_log(w), 20,
                 "the warning in the log")
        line = next(l for l in self.env.worker_log(w).splitlines() if b"config.unknown_env" in l)
        self.assertIn(b"XACCT_QUEUE_MAX_INFLIGHT", line)
        self.assertEqual(self.env.stop_worker(w), 0)

    def test_check_config_hides_redis_password(self):
        e = self.env.process_env(
            {"XACCT_REDIS_URL": "redis://app:hunter2-secret@127.0.0.1:6379/0"})
        r = self.run_xacctd("--config", self.env.config_path, "--check-config", env=e)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout.decode() + r.stderr.decode()
        self.assertIn("redis.url = redis://app:***@127.0.0.1:6379/0", out)
        self.assertNotIn("hunter2-secret", out)

    def test_check_config_refuses_what_the_start_refuses(self):
        # ExecStartPre runs --check-config: what would stop the start must
        # fail it too, with exit 1 and the key named.
        absent = os.path.join(self.env.tmp, "absent")
        world = os.path.join(self.env.tmp, "world-writable-tokens")
        with open(world, "w") as f:
            f.write("")
        os.chmod(world, 0o666)
        cases = [
            ({"XACCT_REDIS_URL": "http://127.0.0.1:6379/0"}, "redis.url"),
            ({"XACCT_REDIS_URL": "redis://127.0.0.1:6379/zero"}, "redis.url"),
            ({"XACCT_REDIS_TLS_CA_FILE": "/etc/hostname"}, "rediss://"),
            ({"XACCT_REDIS_URL": "rediss://127.0.0.1:6379/0",
              "XACCT_REDIS_TLS_CA_FILE": absent}, "redis.tls_ca_file"),
            ({"XACCT_API_LISTEN": "127.0.0.1:9", "XACCT_API_TOKENS_FILE": absent},
             "api.tokens_file"),
            ({"XACCT_API_LISTEN": "127.0.0.1:9", "XACCT_API_TOKENS_FILE": world},
             "api.tokens_file"),
            ({"XACCT_API_LISTEN": "127.0.0.1:9", "XACCT_API_TOKENS_FILE": ""},
             "api.tokens_file: required"),
            ({"XACCT_EVENTS_WEBHOOK_URL": "https://hooks.example.com/x",
              "XACCT_EVENTS_WEBHOOK_SECRET_FILE": absent}, "events.webhook_secret_file"),
            ({"AWS_USE_FIPS_ENDPOINT": "true", "AWS_ENDPOINT_URL": ""},
             "AWS_USE_FIPS_ENDPOINT"),
        ]
        for extra, names in cases:
            with self.subTest(extra=extra):
                e = self.env.process_env(extra)
                if extra.get("AWS_ENDPOINT_URL") == "":
                    e = {k: v for k, v in e.items() if not k.startswith("AWS_ENDPOINT_URL")}
                r = self.run_xacctd("--config", self.env.config_path, "--check-config", env=e)
                self.assertEqual(r.returncode, 1, (r.stdout, r.stderr))
                self.assertIn(names, r.stderr.decode())
                self.assertNotIn(b"configuration ok", r.stdout)
                self.assertNotIn(b"AddressSanitizer", r.stderr)

    def test_usage_and_version(self):
        r = self.run_xacctd("--bogus")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--bogus", r.stderr.decode())
        r = self.run_xacctd("--version")
        self.assertEqual(r.returncode, 0)
        self.assertTrue(r.stdout.startswith(b"xacctd "))


class ReloadTest(unittest.TestCase):
    def test_sighup_reload(self):
        env = Env().start()
        try:
            w = env.start_worker()
            env.write_config(log__level="debug")
            w.send_signal(signal.SIGHUP)
            wait_for(lambda: b"config.reloaded" in env.worker_log(w), 20, "the reload")
            # A key that cannot change on reload: refused, old config kept.
            env.write_config(redis__url="redis://127.0.0.1:1/0")
            w.send_signal(signal.SIGHUP)
            wait_for(lambda: b"config.reload_failed" in env.worker_log(w), 20, "the refusal")
            self.assertIn(b"redis.url", env.worker_log(w).split(b"config.reload_failed")[1][:300])
            # Still working with the old configuration.
            acct = "900000000001"
            ext = env.seed_customer(acct)
            s = env.wait_stack(env.create_stack(acct, env.template(acct, ext))["stack_id"])
            self.assertEqual(s["status"], "CREATE_COMPLETE")
            # The heartbeat is in Redis while it runs.
            self.assertTrue(env.r.keys(f"{env.PREFIX}worker:*"))
            self.assertEqual(env.stop_worker(w), 0)
        finally:
            env.stop()


class NotifyTest(unittest.TestCase):
    @staticmethod
    def notify_socket(env):
        """A datagram socket standing in for systemd's $NOTIFY_SOCKET: the
        socket and its path."""
        import socket
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        path = os.path.join(env.tmp, "notify.sock")
        sock.bind(path)
        sock.settimeout(20)
        return sock, path

    def test_sd_notify_ready_watchdog_stopping(self):
        env = Env().start()
        sock, path = self.notify_socket(env)
        try:
            w = env.start_worker({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"},
                                 wait_ready=False)

            def next_msg():
                return sock.recv(4096).decode()
            msgs = [next_msg()]
            self.assertIn("READY=1", msgs[0])
            self.assertRegex(msgs[0], r"STATUS=polling; in_flight=\d+ processed=\d+")
            while not any("WATCHDOG=1" in m for m in msgs):
                msgs.append(next_msg())
            # A reload is announced with the monotonic time systemd matches it by.
            w.send_signal(signal.SIGHUP)
            while not any("RELOADING=1" in m for m in msgs):
                msgs.append(next_msg())
            reloading = next(m for m in msgs if "RELOADING=1" in m)
            self.assertRegex(reloading, r"MONOTONIC_USEC=\d+")
            msgs.append(next_msg())
            while "READY=1" not in msgs[-1]:
                msgs.append(next_msg())
            w.send_signal(signal.SIGTERM)
            while not any("STOPPING=1" in m for m in msgs):
                msgs.append(next_msg())
            # The stop may take the configured grace and then some: systemd
            # is told, whatever the unit's TimeoutStopSec says.
            stopping = next(m for m in msgs if "STOPPING=1" in m)
            extend = re.search(r"EXTEND_TIMEOUT_USEC=(\d+)", stopping)
            self.assertIsNotNone(extend, stopping)
            self.assertGreater(int(extend.group(1)), 30 * 1000000)
            self.assertEqual(w.wait(30), 0)
        finally:
            sock.close()
            env.stop()

    def test_sd_notify_start_waits_for_redis(self):
        # Redis away at start (SPEC 4: transient): READY=1 waits for it, but
        # systemd is told again and again that the start goes on
        # (EXTEND_TIMEOUT_USEC) and why, so TimeoutStartSec does not fail
        # the unit and restart it for as long as the outage lasts.
        env = Env().start()
        sock, path = self.notify_socket(env)
        try:
            env.redis.stop()
            port = env.redis.port
            url = f"redis://:hunter2-secret@127.0.0.1:{port}/0"
            w = env.start_worker({"NOTIFY_SOCKET": path, "XACCT_REDIS_URL": url},
                                 wait_ready=False)

            def next_msg():
                return sock.recv(4096).decode()
            waiting = []
            while len(waiting) < 3:
                m = next_msg()
                self.assertNotIn("READY=1", m)
                if "EXTEND_TIMEOUT_USEC" in m:
                    waiting.append(m)
            for m in waiting:
                extend = int(re.search(r"EXTEND_TIMEOUT_USEC=(\d+)", m).group(1))
                # Sent again every 10 s: one lost datagram costs nothing.
                self.assertGreaterEqual(extend, 30 * 1000000, m)
                self.assertIn("STATUS=waiting for Redis; last error: ", m)
                self.assertNotIn("hunter2", m)
            self.assertIn(f"127.0.0.1:{port}", waiting[-1])
            self.assertIn("refused", waiting[-1].lower())
            self.assertIsNone(w.poll())
            # Redis back: READY=1, and the status is the running one.
            env.redis.start(extra=("--requirepass", "hunter2-secret"))
            m = next_msg()
            while "READY=1" not in m:
                self.assertNotIn("hunter2", m)
                m = next_msg()
            self.assertRegex(m, r"STATUS=polling; in_flight=\d+ processed=\d+")
            self.assertNotIn(b"hunter2", env.worker_log(w))
            w.send_signal(signal.SIGTERM)
            self.assertEqual(w.wait(30), 0, env.worker_log(w)[-3000:])
        finally:
            sock.close()
            env.stop()


if __name__ == "__main__":
    unittest.main()
