"""The systemd units: `systemd-analyze verify` is clean and
`systemd-analyze security --offline=true` rates them 2.0 or lower; the
directives the service contract relies on are present. systemd-analyze is
installed by scripts/setup (package systemd)."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import BUILD, SOURCE

UNITS = ("xacctd.service", "xacctd@.service")


class UnitsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="xacct-units-")
        self.analyze = shutil.which("systemd-analyze")
        self.assertIsNotNone(self.analyze, "systemd-analyze is missing: run scripts/setup")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def unit(self, name):
        """The unit with ExecStart pointing at the freshly built binary."""
        with open(os.path.join(SOURCE, "systemd", name)) as f:
            text = f.read()
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text.replace("/usr/sbin/xacctd", os.path.join(BUILD, "xacctd")))
        return text, path

    def test_verify_and_security(self):
        for name in UNITS:
            text, path = self.unit(name)
            r = subprocess.run([self.analyze, "verify", "--man=no", path], capture_output=True,
                               text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stderr.strip(), "", f"{name}: {r.stderr}")
            r = subprocess.run([self.analyze, "security", "--offline=true", path],
                               capture_output=True, text=True, timeout=60)
            m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout)
            self.assertIsNotNone(m, r.stdout[-500:] + r.stderr)
            self.assertLessEqual(float(m.group(1)), 2.0, f"{name} exposure {m.group(1)}")

    def test_contract_directives(self):
        for name in UNITS:
            text, _ = self.unit(name)
            for d in ("Type=notify", "Restart=on-failure", "NoNewPrivileges=yes",
                      "DynamicUser=yes", "ProtectSystem=strict", "ProtectHome=yes",
                      "PrivateTmp=yes", "MemoryDenyWriteExecute=yes", "CapabilityBoundingSet=\n",
                      "SystemCallFilter=@system-service", "UMask=0077", "ExecReload=/bin/kill -HUP",
                      # cloudformation.template_dir "." must be writable
                      "StateDirectory=xacct\n", "WorkingDirectory=%S/xacct\n",
                      # no core file holds the keys, tokens and IDs a crash leaves in memory
                      "LimitCORE=0\n"):
                self.assertIn(d, text, f"{name} lacks {d.strip()}")
            watchdog = int(re.search(r"^WatchdogSec=(\d+)s$", text, re.M).group(1))
            self.assertGreater(watchdog, 0)
            stop = int(re.search(r"^TimeoutStopSec=(\d+)s$", text, re.M).group(1))
            self.assertGreaterEqual(stop, 30, "TimeoutStopSec must cover shutdown.grace_seconds")


class InstallTest(unittest.TestCase):
    def test_install_keeps_existing_config(self):
        dest = tempfile.mkdtemp(prefix="xacct-install-")
        try:
            env = dict(os.environ, DESTDIR=dest)
            r = subprocess.run(["cmake", "--install", BUILD], env=env, capture_output=True,
                               text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
            found = {os.path.relpath(os.path.join(d, f), dest)
                     for d, _, files in os.walk(dest) for f in files}
            for want in ("etc/xacct/xacctd.conf", "etc/xacct/role-policy.json"):
                self.assertIn(want, found)
            for suffix in ("sbin/xacctd", "bin/xacct", "lib/systemd/system/xacctd.service",
                           "lib/systemd/system/xacctd@.service"):
                self.assertTrue(any(f.endswith(suffix) for f in found), f"{suffix} not installed")
            conf = os.path.join(dest, "etc/xacct/xacctd.conf")
            with open(conf, "a") as f:
                f.write("# edited by the operator\n")
            r = subprocess.run(["cmake", "--install", BUILD], env=env, capture_output=True,
                               text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(conf) as f:
                self.assertTrue(f.read().endswith("# edited by the operator\n"))
        finally:
            shutil.rmtree(dest, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
