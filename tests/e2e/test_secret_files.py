"""Files holding secrets (api.tokens_file, events.webhook_secret_file,
redis.tls_key_file): one that every user of the host may write is refused
(anyone could plant a token or a key), at start and on SIGHUP; one that every
user may read is used, with a secret_file.readable warning."""
import hashlib
import os
import signal
import unittest

from harness import SharedEnvTest, free_port, wait_for


def write(path, text, mode):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


class SecretFilesTest(SharedEnvTest):
    def tokens(self, mode, name="api-tokens"):
        line = "portal:%s\n" % hashlib.sha256(b"t0ken").hexdigest()
        return write(os.path.join(self.env.tmp, name), line, mode)

    def test_world_writable_tokens_file_is_refused(self):
        path = self.tokens(0o666)
        r = self.run_xacctd(XACCT_API_LISTEN="127.0.0.1:%d" % free_port(),
                            XACCT_API_TOKENS_FILE=path)
        self.assertEqual(r.returncode, 1, r.stderr[-2000:])
        self.assertIn(b"api.tokens_file: " + path.encode() + b" is writable by every user",
                      r.stderr)

    def test_world_writable_webhook_secret_is_refused(self):
        path = write(os.path.join(self.env.tmp, "webhook-secret"), "s3cret\n", 0o646)
        r = self.run_xacctd(XACCT_EVENTS_WEBHOOK_URL="https://hooks.example.com/x",
                            XACCT_EVENTS_WEBHOOK_SECRET_FILE=path)
        self.assertEqual(r.returncode, 1, r.stderr[-2000:])
        self.assertIn(b"events.webhook_secret_file: " + path.encode(), r.stderr)
        self.assertIn(b"writable by every user", r.stderr)
        self.assertNotIn(b"s3cret", r.stderr)

    def test_world_writable_redis_key_is_refused(self):
        path = write(os.path.join(self.env.tmp, "redis.key"), "not a key\n", 0o666)
        r = self.run_xacctd(XACCT_REDIS_TLS_CERT_FILE=path, XACCT_REDIS_TLS_KEY_FILE=path)
        self.assertEqual(r.returncode, 1, r.stderr[-2000:])
        self.assertIn(b"redis.tls_key_file: " + path.encode() + b" is writable by every user",
                      r.stderr)

    def test_world_readable_files_are_used_with_a_warning(self):
        env = self.env
        tokens = self.tokens(0o644, "api-tokens-644")
        secret = write(os.path.join(env.tmp, "webhook-secret-644"), "s3cret\n", 0o644)
        w = env.start_worker({"XACCT_API_LISTEN": "127.0.0.1:%d" % free_port(),
                              "XACCT_API_TOKENS_FILE": tokens,
                              "XACCT_EVENTS_WEBHOOK_URL": "https://hooks.example.com/x",
                              "XACCT_EVENTS_WEBHOOK_SECRET_FILE": secret})
        log = env.worker_log(w)
        for key, path in (("api.tokens_file", tokens), ("events.webhook_secret_file", secret)):
            self.assertRegex(log, ("event=secret_file.readable key=%s path=%s mode=0644"
                                   % (key, path)).encode())
        # Made private, then opened to everyone for writing: the reload keeps
        # the tokens it had and says why.
        os.chmod(tokens, 0o640)
        os.chmod(secret, 0o640)
        os.chmod(tokens, 0o666)
        w.send_signal(signal.SIGHUP)
        wait_for(lambda: b"api.tokens_reload_failed" in env.worker_log(w), 20,
                 "the reload to refuse the tokens file")
        self.assertIn(b"is writable by every user", env.worker_log(w))
        self.assertEqual(env.stop_worker(w), 0, env.worker_log(w)[-3000:])
        self.assertNotIn(b"s3cret", env.worker_log(w))

    def test_private_files_give_no_warning(self):
        env = self.env
        tokens = self.tokens(0o640, "api-tokens-640")
        w = env.start_worker({"XACCT_API_LISTEN": "127.0.0.1:%d" % free_port(),
                              "XACCT_API_TOKENS_FILE": tokens})
        self.assertEqual(env.stop_worker(w), 0, env.worker_log(w)[-3000:])
        self.assertNotIn(b"secret_file.readable", env.worker_log(w))


if __name__ == "__main__":
    unittest.main()
