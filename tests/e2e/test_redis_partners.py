"""xacctd and xacct against Redis the way partners run it (issue 14): over TLS
(rediss://) with an ACL user and a client certificate from a CA made with
openssl here, and behind Sentinel with a replica, where the master is killed
while stacks are being processed: the worker follows the new master, every
stack completes, nothing is answered FAILED and nothing is lost; and with a
master that refuses writes while it has no replica (min-replicas-to-write,
what keeps a partitioned old master from taking writes a failover would
lose): the worker waits for the replica, answers nothing meanwhile, and then
completes every stack; and a failover whose old master Sentinel cannot
demote (a partition) reaches the worker through its +switch-master
subscription, and its writes land on the new master. Also: a Redis name with several addresses is dialled
at each in turn, and a refused password is named as such (log, /readyz,
doctor) rather than as an outage."""
import json
import os
import shutil
import signal
import subprocess
import unittest
import urllib.parse

import redis

from harness import BUILD, REDIS_SERVER, SOURCE, Env, Redis, free_port, port_open, wait_for

SENTINEL = os.environ.get("XACCT_REDIS_SENTINEL") or shutil.which("redis-sentinel") \
    or "/usr/bin/redis-sentinel"


def make_pki(d):
    subprocess.run(["sh", os.path.join(SOURCE, "tests", "support", "make_test_ca.sh"), d],
                   check=True)
    return {name: os.path.join(d, name) for name in
            ("ca.crt", "client.crt", "client.key", "server.crt", "server.key")}


def start_replica(env, master):
    """A replica of master, synced."""
    replica = Redis(env.tmp, name="replica")
    replica.start(extra=["--replicaof", "127.0.0.1", str(master.port)])
    rr = redis.Redis(host="127.0.0.1", port=replica.port)
    wait_for(lambda: rr.info("replication").get("master_link_status") == "up", 20,
             "the replica to sync")
    return replica


def start_sentinel(env, master_port, failover=True):
    """One redis-sentinel monitoring 127.0.0.1:master_port as "xm" (with
    failover: down after 1 s, a failover within 10 s); (process, port)."""
    port = free_port()
    conf = os.path.join(env.tmp, "sentinel.conf")
    with open(conf, "w") as f:
        f.write(f"port {port}\nbind 127.0.0.1\ndir {env.tmp}\n"
                f"logfile {os.path.join(env.tmp, 'sentinel.log')}\n"
                f"sentinel monitor xm 127.0.0.1 {master_port} 1\n")
        if failover:
            f.write("sentinel down-after-milliseconds xm 1000\n"
                    "sentinel failover-timeout xm 10000\n")
    proc = subprocess.Popen([SENTINEL, conf], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_for(lambda: port_open(port), 10, "the sentinel")
    return proc, port


class TlsAclTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = env = Env().start()
        pki = make_pki(env.tmp)
        cls.tls_port = free_port()
        # The harness keeps its plain port for seeding and checks; xacctd and
        # xacct only know the TLS port.
        env.redis.stop()
        env.redis.start(extra=[
            "--tls-port", str(cls.tls_port), "--tls-cert-file", pki["server.crt"],
            "--tls-key-file", pki["server.key"], "--tls-ca-cert-file", pki["ca.crt"],
            "--tls-auth-clients", "yes",
            "--user", "xacctd", "on", ">s3cret-pw", "~xacct:*", "&*", "+@all"])
        env.r = redis.Redis(host="127.0.0.1", port=env.redis.port)
        env.write_config(
            redis__url=f"rediss://xacctd:s3cret-pw@localhost:{cls.tls_port}/0",
            redis__tls_ca_file=pki["ca.crt"], redis__tls_cert_file=pki["client.crt"],
            redis__tls_key_file=pki["client.key"])
        cls.worker = env.start_worker()

    @classmethod
    def tearDownClass(cls):
        cls.env.stop_after(cls.worker)

    def test_stack_processed_over_tls_as_acl_user(self):
        env, acct = self.env, "610000000001"
        ext = env.seed_customer(acct)
        s = env.wait_stack(env.create_stack(acct, env.template(acct, ext))["stack_id"])
        self.assertEqual(s["status"], "CREATE_COMPLETE", s.get("status_reason"))
        self.assertEqual(env.last_answer(s)["Status"], "SUCCESS")
        self.assertEqual(env.customer(acct)["state"], "active")
        # The worker is connected as the ACL user, and only the TLS port was
        # given to it.
        users = {c.get("user") for c in env.r.client_list()}
        self.assertIn("xacctd", users)
        # The CLI reads through the same settings.
        r = env.xacct("show", acct, "--json", check=True)
        self.assertEqual(json.loads(r.stdout)["state"], "active")

    def test_cli_refuses_untrusted_ca_and_wrong_password(self):
        env = self.env
        other = os.path.join(env.tmp, "other-ca.crt")
        for overrides, needle in (
                ({"XACCT_REDIS_TLS_CA_FILE": other}, b"certificate not accepted"),
                ({"XACCT_REDIS_URL": f"rediss://xacctd:wrong@localhost:{self.tls_port}/0"},
                 b"WRONGPASS")):
            r = subprocess.run([os.path.join(BUILD, "xacct"), "--config",
                                env.config_path, "list"], env=env.process_env(overrides),
                               capture_output=True, timeout=60)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn(needle, r.stderr)
            self.assertNotIn(b"s3cret-pw", r.stderr + r.stdout)


    def test_silent_first_address_is_passed_over(self):
        """localhost as ::1 first, where a connect is never answered (a full
        backlog drops the SYN): the next address gets its own timeout."""
        import socket
        env = self.env
        hosts = os.path.join(env.tmp, "hosts-v6-first")
        with open(env.hosts_path) as f:
            base = f.read()
        with open(hosts, "w") as f:
            f.write("::1 localhost\n" + base)
        silent = socket.socket(socket.AF_INET6)
        filler = socket.socket(socket.AF_INET6)
        try:
            silent.bind(("::1", self.tls_port))
            silent.listen(0)
            filler.connect(("::1", self.tls_port))
            argv = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                    'mount --bind "$0" /etc/hosts && exec "$@"', hosts,
                    os.path.join(BUILD, "xacct"), "--config", env.config_path, "list", "--json"]
            r = subprocess.run(argv, env=env.process_env(), capture_output=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            filler.close()
            silent.close()


class SentinelWorkerBase(unittest.TestCase):
    """A worker finding cls.master (with cls.replica) through one sentinel."""

    @classmethod
    def watch_through_sentinel(cls):
        env = cls.env
        cls.sentinel, cls.sentinel_port = start_sentinel(env, cls.master.port)
        cls.sr = redis.Redis(host="127.0.0.1", port=cls.sentinel_port)
        wait_for(lambda: _sentinel_knows_replica(cls.sr), 30, "the sentinel to see the replica")
        # The URL's host:port is never dialled with sentinels set.
        env.write_config(redis__url="redis://unused.invalid:1/0",
                         redis__sentinels=f"127.0.0.1:{cls.sentinel_port}",
                         redis__master_name="xm", redis__command_timeout="2")
        cls.worker = env.start_worker()

    @classmethod
    def tearDownClass(cls):
        try:
            assert cls.env.stop_worker(cls.worker) == 0, cls.env.worker_log(cls.worker)[-3000:]
        finally:
            if cls.sentinel.poll() is None:
                cls.sentinel.kill()
                cls.sentinel.wait()
            cls.replica.stop()
            cls.env.stop()


class SentinelFailoverTest(SentinelWorkerBase):
    @classmethod
    def setUpClass(cls):
        cls.env = env = Env(propagation_timeout=20).start()
        cls.master = env.redis
        cls.replica = start_replica(env, cls.master)
        cls.watch_through_sentinel()

    def test_worker_follows_new_master_mid_run(self):
        env = self.env
        accts = [f"62000000{i:04d}" for i in range(12)]
        exts = {a: env.seed_customer(a) for a in accts}
        # Seeded records must be on the replica before the master dies.
        env.r.wait(1, 5000)
        stacks = {}
        for a in accts[:4]:
            stacks[a] = env.create_stack(a, env.template(a, exts[a]))["stack_id"]
        wait_for(lambda: env.answers(), 60, "a first answer")
        for a in accts[4:8]:
            stacks[a] = env.create_stack(a, env.template(a, exts[a]))["stack_id"]
        # Mid-run: the master dies without a word.
        self.master.proc.send_signal(signal.SIGKILL)
        self.master.proc.wait()
        self.master.proc = None
        for a in accts[8:]:
            stacks[a] = env.create_stack(a, env.template(a, exts[a]))["stack_id"]

        # The harness reads the promoted replica from now on.
        env.r = redis.Redis(host="127.0.0.1", port=self.replica.port)
        wait_for(lambda: _is_master(env.r), 60,
                 "Sentinel to promote the replica")
        _assert_all_completed(self, env, stacks, accts, timeout=180)
        log = env.worker_log(self.worker)
        self.assertIn(b"redis.down", log)
        self.assertGreaterEqual(log.count(b"redis.up"), 2, log[-3000:])
        # The worker's heartbeat lands on the new master.
        wait_for(lambda: list(env.r.scan_iter(f"{env.PREFIX}worker:*")), 30,
                 "a heartbeat on the new master")
        # The CLI finds the new master through Sentinel too.
        r = env.xacct("show", accts[-1], "--json", check=True)
        self.assertEqual(json.loads(r.stdout)["state"], "active")


class PartitionedOldMasterTest(SentinelWorkerBase):
    """Sentinel fails over while it cannot demote the old master (a partition:
    here the old master has REPLICAOF/SLAVEOF renamed away, so Sentinel's
    SLAVEOF + CLIENT KILL never runs), which keeps taking writes and never
    drops the worker. The worker learns of the failover from its +switch-master
    subscription and moves to the new master; without it its writes would go
    to the old master and be lost when it rejoins as a replica."""

    @classmethod
    def setUpClass(cls):
        cls.env = env = Env(propagation_timeout=20).start()
        cls.master = env.redis
        cls.master.stop()
        cls.master.start(extra=["--rename-command", "REPLICAOF", "",
                                "--rename-command", "SLAVEOF", ""])
        env.r = redis.Redis(host="127.0.0.1", port=cls.master.port)
        cls.replica = start_replica(env, cls.master)
        cls.watch_through_sentinel()

    def failover(self):
        try:
            return self.sr.execute_command("SENTINEL", "FAILOVER", "xm")
        except redis.ResponseError as e:
            # Until the sentinel has the replica's own INFO.
            if "NOGOODSLAVE" in str(e):
                return False
            raise

    def test_worker_moves_to_new_master(self):
        env = self.env
        old = env.r
        acct = "640000000001"
        ext = env.seed_customer(acct)
        env.r.wait(1, 5000)
        # The worker is on the old master (its heartbeat is written there).
        wait_for(lambda: list(old.scan_iter(f"{env.PREFIX}worker:*")), 30,
                 "the worker's heartbeat")
        wait_for(lambda: b"redis.sentinel.watching" in env.worker_log(self.worker), 30,
                 "the worker to watch Sentinel")
        wait_for(self.failover, 30, "Sentinel to take the failover")
        new = redis.Redis(host="127.0.0.1", port=self.replica.port)
        wait_for(lambda: _is_master(new), 60,
                 "Sentinel to promote the replica")
        # Sentinel answers with the new address once the replica is promoted,
        # but announces +switch-master only when the failover ends.
        wait_for(lambda: b"redis.sentinel.switch" in env.worker_log(self.worker), 60,
                 "the worker to hear of the failover")
        # Sentinel could not demote the old master: it still takes writes.
        self.assertEqual(old.info("replication")["role"], "master")
        new.delete(*new.keys(f"{env.PREFIX}worker:*"))
        env.r = new
        s = env.wait_stack(env.create_stack(acct, env.template(acct, ext))["stack_id"],
                           timeout=90)
        self.assertEqual(s["status"], "CREATE_COMPLETE", s.get("status_reason"))
        # The record the worker wrote is on the new master, and so is its
        # heartbeat: its writes went there.
        self.assertEqual(env.customer(acct)["state"], "active",
                         env.worker_log(self.worker)[-3000:])
        wait_for(lambda: list(new.scan_iter(f"{env.PREFIX}worker:*")), 30,
                 "a heartbeat on the new master")
        log = env.worker_log(self.worker)
        self.assertIn(b"redis.sentinel.switch", log)
        self.assertNotIn(b"redis.sentinel.watch_down", log)


class MinReplicasTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = env = Env().start()
        cls.master = env.redis
        cls.master.stop()
        cls.master.start(extra=["--min-replicas-to-write", "1",
                                "--min-replicas-max-lag", "3"])
        env.r = redis.Redis(host="127.0.0.1", port=cls.master.port)
        cls.replica = Redis(env.tmp, name="replica")
        cls.start_replica()
        env.write_config(redis__command_timeout="2")
        cls.worker = env.start_worker()

    @classmethod
    def start_replica(cls):
        cls.replica.start(extra=["--replicaof", "127.0.0.1", str(cls.master.port)])
        wait_for(lambda: cls.env.r.info("replication").get("min_slaves_good_slaves") == 1, 30,
                 "the master to count its replica")

    @classmethod
    def tearDownClass(cls):
        try:
            assert cls.env.stop_worker(cls.worker) == 0, cls.env.worker_log(cls.worker)[-3000:]
        finally:
            cls.replica.stop()
            cls.env.stop()

    def test_writes_wait_for_a_replica(self):
        env = self.env
        accts = [f"63000000{i:04d}" for i in range(4)]
        exts = {a: env.seed_customer(a) for a in accts}
        first = env.wait_stack(env.create_stack(accts[0], env.template(accts[0],
                                                                        exts[accts[0]]))["stack_id"])
        self.assertEqual(first["status"], "CREATE_COMPLETE", first.get("status_reason"))

        # The replica goes: the master refuses every write.
        self.replica.stop()
        wait_for(lambda: self.env.r.info("replication").get("min_slaves_good_slaves") == 0, 30,
                 "the master to lose its replica")
        with self.assertRaises(redis.ResponseError):
            env.r.set(f"{env.PREFIX}probe", "1")
        stacks = {a: env.create_stack(a, env.template(a, exts[a]))["stack_id"]
                  for a in accts[1:]}
        # The worker reports Redis down (one line, not a warning a message)
        # and reconnects until writes are taken again.
        wait_for(lambda: any(b"event=redis.down" in ln and b"NOREPLICAS" in ln
                             for ln in env.worker_log(self.worker).splitlines()), 60,
                 "redis.down naming NOREPLICAS")
        # Nothing answered or recorded meanwhile.
        for a, sid in stacks.items():
            q = urllib.parse.quote(sid, safe="")
            self.assertEqual(env.ctl("GET", f"/_fake/cfn/stacks/{q}")["answers"], [], a)
            self.assertEqual(env.customer(a)["state"], "pending", a)

        self.start_replica()
        _assert_all_completed(self, env, stacks, accts, timeout=120)


def _assert_all_completed(tc, env, stacks, accts, timeout):
    """Every stack completed with only SUCCESS answers, the queue drained, every
    customer active and nothing in the dead set."""
    for a, sid in stacks.items():
        s = env.wait_stack(sid, timeout=timeout)
        tc.assertEqual(s["status"], "CREATE_COMPLETE", f"{a}: {s.get('status_reason')}")
        for answer in s["answers"]:
            tc.assertEqual(json.loads(answer["body"])["Status"], "SUCCESS", a)
    env.wait_queue_empty()
    for a in accts:
        tc.assertEqual(env.customer(a)["state"], "active", a)
    tc.assertEqual(env.dead(), [])


def _is_master(r):
    """Whether r's server says it is a master. Sentinel drops the clients of
    an instance it promotes (CLIENT KILL): a closed connection is a "not yet"."""
    try:
        return r.info("replication")["role"] == "master"
    except redis.ConnectionError:
        return False


def _sentinel_knows_replica(sr):
    try:
        m = sr.info("sentinel").get("master0", {})
        return m.get("status") == "ok" and int(m.get("slaves", 0)) >= 1
    except redis.RedisError:
        return False



class ManyAddressesTest(unittest.TestCase):
    """A name for Redis with several addresses (localhost as ::1 and
    127.0.0.1; a managed endpoint listing its nodes): each address is dialled
    in turn (IPv4 first) until one answers."""

    @classmethod
    def setUpClass(cls):
        cls.env = env = Env().start()
        # The processes under test see this hosts file.
        with open(env.hosts_path, "a") as f:
            f.write("::1 redis-dual.test\n127.0.0.1 redis-dual.test\n")

    @classmethod
    def tearDownClass(cls):
        cls.env.stop()

    def list_via(self, port):
        env = self.env
        r = subprocess.run(env.wrap([os.path.join(BUILD, "xacct"), "--config", env.config_path,
                                     "list", "--json"]),
                           env=env.process_env({"XACCT_REDIS_URL":
                                                f"redis://redis-dual.test:{port}/0"}),
                           capture_output=True, timeout=60)
        return r

    def test_redis_on_ipv4_only(self):
        # The harness's Redis listens on 127.0.0.1 only: ::1 would be refused.
        r = self.list_via(self.env.redis.port)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_redis_on_ipv6_only(self):
        # 127.0.0.1 is refused: the name's other address is tried.
        port = free_port()
        proc = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "::1", "--save", "",
                                 "--appendonly", "no", "--dir", self.env.tmp,
                                 "--dbfilename", "v6.rdb"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            def up():
                try:
                    import socket
                    with socket.create_connection(("::1", port), timeout=0.2):
                        return True
                except OSError:
                    return False
            wait_for(up, 10, "redis on ::1")
            r = self.list_via(port)
            self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            proc.terminate()
            proc.wait(10)


class AuthRefusedTest(unittest.TestCase):
    """Redis refuses the password in redis.url (or wants one it lacks): the
    log, /readyz and the doctor say so, naming host:port and never the
    password, instead of calling Redis unreachable."""
    PW = "right-pw-4417"
    WRONG = "wrong-pw-9931"

    @classmethod
    def setUpClass(cls):
        cls.env = env = Env().start()
        env.redis.stop()
        env.redis.start(extra=["--requirepass", cls.PW])
        env.r = redis.Redis(host="127.0.0.1", port=env.redis.port, password=cls.PW)

    @classmethod
    def tearDownClass(cls):
        cls.env.stop()

    def phrase(self):
        return (f"authentication refused by redis at 127.0.0.1:{self.env.redis.port} "
                "(check the password/user in redis.url)")

    def test_worker_log_and_readyz(self):
        env = self.env
        port = free_port()
        w = env.start_worker(wait_ready=False, extra_env={
            "XACCT_REDIS_URL": f"redis://:{self.WRONG}@127.0.0.1:{env.redis.port}/0",
            "XACCT_METRICS_LISTEN": f"127.0.0.1:{port}"})
        w.metrics_url = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: port_open(port) or w.poll() is not None, 20, "the metrics listener")
            wait_for(lambda: self.phrase() in Env.scrape(w, "/readyz")[2], 20,
                     "/readyz to name the refusal")
            status, _, body = Env.scrape(w, "/readyz")
            self.assertEqual(status, 503)
            self.assertIn(f"redis not connected: {self.phrase()}", body)
            self.assertNotIn(self.WRONG, body)
            log = env.worker_log(w)
            self.assertIn(self.phrase().encode(), log)
            self.assertIn(b"WRONGPASS", log)
            self.assertNotIn(self.WRONG.encode(), log)
        finally:
            self.assertEqual(env.stop_worker(w), 0, env.worker_log(w)[-3000:])

    def test_doctor(self):
        env = self.env
        for url in (f"redis://:{self.WRONG}@127.0.0.1:{env.redis.port}/0",
                    f"redis://127.0.0.1:{env.redis.port}/0"):
            r = subprocess.run(env.wrap([os.path.join(BUILD, "xacct"), "--config",
                                         env.config_path, "doctor", "--json"]),
                               env=env.process_env({"XACCT_REDIS_URL": url}),
                               capture_output=True, timeout=120)
            self.assertEqual(r.returncode, 1, r.stderr)
            doc = json.loads(r.stdout)
            rows = [c for c in doc["checks"] if c["name"] == "redis"]
            self.assertEqual(len(rows), 1, doc)
            self.assertEqual(rows[0]["status"], "fail")
            self.assertIn(self.phrase(), rows[0]["detail"])
            self.assertNotIn("cannot reach", rows[0]["detail"])
            self.assertIn("redis.url", rows[0]["fix"])
            self.assertNotIn(self.WRONG.encode(), r.stdout + r.stderr)

    def test_cli_error_line(self):
        env = self.env
        r = subprocess.run(env.wrap([os.path.join(BUILD, "xacct"), "--config", env.config_path,
                                     "list"]),
                           env=env.process_env({"XACCT_REDIS_URL": f"redis://:{self.WRONG}@"
                                                f"127.0.0.1:{env.redis.port}/0"}),
                           capture_output=True, timeout=120)
        self.assertNotEqual(r.returncode, 0)
        err = r.stderr.decode()
        self.assertIn("cannot log in to Redis at redis://:***@127.0.0.1:", err)
        self.assertIn(self.phrase(), err)
        self.assertNotIn("cannot reach", err)
        self.assertNotIn(self.WRONG, err)


class RoleRenamedTest(unittest.TestCase):
    """Behind Sentinel, a master with ROLE renamed away (rename-command ROLE
    "", common on managed Redis): the master check asks INFO replication
    instead, and the CLI and the worker work."""

    @classmethod
    def setUpClass(cls):
        cls.env = env = Env().start()
        env.redis.stop()
        env.redis.start(extra=["--rename-command", "ROLE", ""])
        cls.sentinel, cls.sentinel_port = start_sentinel(env, env.redis.port, failover=False)
        env.write_config(redis__url="redis://unused.invalid:1/0",
                         redis__sentinels=f"127.0.0.1:{cls.sentinel_port}",
                         redis__master_name="xm")

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.sentinel.poll() is None:
                cls.sentinel.kill()
                cls.sentinel.wait()
        finally:
            cls.env.stop()

    def test_cli_and_worker(self):
        env = self.env
        with self.assertRaises(redis.ResponseError):
            env.r.execute_command("ROLE")
        r = env.xacct("list", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        w = env.start_worker()
        try:
            wait_for(lambda: list(env.r.scan_iter(f"{env.PREFIX}worker:*")), 30,
                     "the worker's heartbeat")
            self.assertNotIn(b"not the master", env.worker_log(w))
        finally:
            self.assertEqual(env.stop_worker(w), 0, env.worker_log(w)[-3000:])


if __name__ == "__main__":
    unittest.main()
