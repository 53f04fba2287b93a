# SPDX-License-Identifier: MIT
"""The Debian package: scripts/package builds it (lintian must find no
error), it unpacks into a throwaway root with dpkg -x (the machine's own
dpkg database is never touched), it holds the binaries, units, conffiles,
man pages, bash completion and the partner's CloudFormation templates
(/usr/share/doc/xacct/aws) where Debian wants them, and the packaged
xacctd accepts the packaged sample configuration with --check-config once the
required keys are given, and refuses it while they are missing."""
import gzip
import os
import shutil
import subprocess
import tempfile
import unittest

SRC = os.environ.get("XACCT_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("XACCT_BUILD_DIR") or os.path.join(SRC, "build", "dev")

REQUIRED = {
    "XACCT_AWS_REGION": "eu-west-1",
    "XACCT_AWS_PARTNER_ACCOUNT_ID": "111122223333",
    "XACCT_QUEUE_URLS": "https://sqs.eu-west-1.amazonaws.com/111122223333/xacct",
    "XACCT_SNS_TOPIC_ARNS": "arn:aws:sns:eu-west-1:111122223333:xacct-1",
}


class DebianPackage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="xacct-deb-test.")
        out = subprocess.run(
            [os.path.join(SRC, "scripts", "package"), "--lintian",
             "--build-dir", os.path.join(BUILD, "package-build"),
             "--out", os.path.join(cls.tmp, "dist")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=1500)
        if out.returncode != 0:
            raise AssertionError("scripts/package failed (%d):\n%s" % (out.returncode, out.stderr))
        cls.lintian = out.stderr
        cls.deb = out.stdout.strip().splitlines()[-1]
        cls.root = os.path.join(cls.tmp, "root")
        subprocess.run(["dpkg-deb", "-x", cls.deb, cls.root], check=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def field(self, name):
        return subprocess.run(["dpkg-deb", "-f", self.deb, name], check=True,
                              stdout=subprocess.PIPE, text=True).stdout.strip()

    def control_file(self, name):
        return subprocess.run(["dpkg-deb", "--info", self.deb, name], check=True,
                              stdout=subprocess.PIPE, text=True).stdout

    def test_lintian_reports_no_error(self):
        self.assertNotRegex(self.lintian, r"(?m)^E: ")

    def test_control_fields(self):
        self.assertEqual(self.field("Package"), "xacct")
        depends = self.field("Depends")
        for lib in ("libuv1", "libcurl4", "libssl3", "libhiredis0.14", "libjansson4",
                    "libinih1", "libmicrohttpd12", "libmsgpackc2", "libexpat1", "libyajl2"):
            self.assertIn(lib, depends)

    def test_runtime_dependencies(self):
        depends = [d.strip().split(" ")[0] for d in self.field("Depends").split(",")]
        # the system user the units run as; the trust store of every HTTPS call
        self.assertIn("adduser", depends)
        self.assertIn("ca-certificates", depends)

    def test_maintainer_scripts(self):
        """postinst creates the xacct system user and reloads systemd (and
        restarts running workers on upgrade, not waiting for them), prerm stops the workers on
        removal, postrm reloads systemd: each a POSIX shell script that
        `sh -n` accepts, executable, and idempotent where dpkg needs it."""
        ctl = os.path.join(self.tmp, "control")
        subprocess.run(["dpkg-deb", "-e", self.deb, ctl], check=True)
        for name in ("postinst", "prerm", "postrm"):
            path = os.path.join(ctl, name)
            self.assertTrue(os.path.isfile(path), name)
            self.assertEqual(os.stat(path).st_mode & 0o777, 0o755, name)
            self.assertEqual(subprocess.run(["sh", "-n", path]).returncode, 0, name)
        with open(os.path.join(ctl, "postinst")) as f:
            post = f.read()
        self.assertIn("adduser --system", post)
        self.assertIn("getent passwd xacct", post)
        self.assertIn("daemon-reload", post)
        # A restarted worker's start waits for Redis: dpkg must not.
        self.assertIn("systemctl --no-block try-restart", post)
        with open(os.path.join(ctl, "prerm")) as f:
            self.assertIn("systemctl stop", f.read())

    def test_configuration_is_conffiles(self):
        conffiles = self.control_file("conffiles").split()
        self.assertEqual(sorted(conffiles),
                         ["/etc/xacct/role-policy.json", "/etc/xacct/xacctd.conf"])

    def test_files_in_place(self):
        for path, mode in (("usr/sbin/xacctd", 0o755), ("usr/bin/xacct", 0o755),
                           ("lib/systemd/system/xacctd.service", 0o644),
                           ("lib/systemd/system/xacctd@.service", 0o644),
                           ("usr/share/bash-completion/completions/xacct", 0o644),
                           ("usr/share/bash-completion/completions/xacctd", 0o644),
                           ("usr/share/doc/xacct/copyright", 0o644),
                           ("usr/share/doc/xacct/changelog.gz", 0o644)):
            full = os.path.join(self.root, path)
            self.assertTrue(os.path.isfile(full), path)
            self.assertEqual(os.stat(full).st_mode & 0o777, mode, path)
        # The partner's AWS side, as in deploy/aws, byte for byte.
        aws = os.path.join(self.root, "usr/share/doc/xacct/aws")
        shipped = sorted(os.listdir(aws))
        self.assertEqual(shipped, sorted(os.listdir(os.path.join(SRC, "deploy", "aws"))))
        self.assertIn("partner-core.json", shipped)
        for name in shipped:
            full = os.path.join(aws, name)
            self.assertEqual(os.stat(full).st_mode & 0o777, 0o644, name)
            with open(full, "rb") as a, open(os.path.join(SRC, "deploy", "aws", name), "rb") as b:
                self.assertEqual(a.read(), b.read(), name)
        for page, head in (("man1/xacct.1.gz", ".TH XACCT 1"),
                           ("man8/xacctd.8.gz", ".TH XACCTD 8"),
                           ("man5/xacctd.conf.5.gz", ".TH XACCTD.CONF 5")):
            with gzip.open(os.path.join(self.root, "usr/share/man", page), "rt") as f:
                self.assertIn(head, f.read(), page)

    def test_units_run_the_packaged_binary(self):
        with open(os.path.join(self.root, "lib/systemd/system/xacctd.service")) as f:
            unit = f.read()
        self.assertIn("ExecStart=/usr/sbin/xacctd --config /etc/xacct/xacctd.conf", unit)

    def check_config(self, extra):
        env = {"PATH": "/usr/bin:/bin", "HOME": self.tmp}
        env.update(extra)
        return subprocess.run(
            [os.path.join(self.root, "usr/sbin/xacctd"), "--config",
             os.path.join(self.root, "etc/xacct/xacctd.conf"), "--check-config"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)

    def test_check_config_with_the_sample(self):
        ok = self.check_config(REQUIRED)
        self.assertEqual(ok.returncode, 0, ok.stderr)
        self.assertIn("111122223333", ok.stdout)
        self.assertIn("xacct-1", ok.stdout)

    def test_check_config_refuses_missing_keys(self):
        partial = dict(REQUIRED)
        del partial["XACCT_SNS_TOPIC_ARNS"]
        bad = self.check_config(partial)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("sns.topic_arns: required", bad.stderr)


class MaintainerScripts(unittest.TestCase):
    """deploy/debian/postinst run for real, as root, in a private mount
    namespace whose /etc and /var/lib/dpkg are overlays: the machine's own
    users, files and dpkg database are never touched."""

    CONF = "/etc/xacct/xacctd.conf"

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0 or shutil.which("unshare") is None:
            raise unittest.SkipTest("needs root and unshare")
        cls.postinst = os.path.join(SRC, "deploy", "debian", "postinst")

    def run_postinst(self, setup, *args):
        """Runs setup (shell) and then postinst with args; returns
        "owner:group mode" of the configuration afterwards."""
        tmp = tempfile.mkdtemp(prefix="xacct-postinst.")
        self.addCleanup(shutil.rmtree, tmp, True)
        mounts = []
        for i, d in enumerate(("/etc", "/var/lib/dpkg")):
            up, work = os.path.join(tmp, "u%d" % i), os.path.join(tmp, "w%d" % i)
            os.mkdir(up)
            os.mkdir(work)
            mounts.append("mount -t overlay overlay -o lowerdir=%s,upperdir=%s,workdir=%s %s"
                          % (d, up, work, d))
        script = " && ".join(mounts + [
            "mkdir -p /etc/xacct", "printf '[redis]\\n' >%s" % self.CONF, setup,
            "sh %s %s >/dev/null" % (self.postinst, " ".join("'%s'" % a for a in args)),
            "stat -c '%%U:%%G %%a' %s" % self.CONF])
        r = subprocess.run(["unshare", "--mount", "sh", "-ec", script], capture_output=True,
                           text=True, timeout=120)
        if r.returncode != 0 and "mount" in r.stderr:
            self.skipTest("no overlay mounts here: " + r.stderr.strip())
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.strip()

    def test_first_install_protects_the_configuration(self):
        got = self.run_postinst("chmod 0644 %s" % self.CONF, "configure", "")
        self.assertEqual(got, "root:xacct 640")

    def test_upgrade_protects_a_replaced_conffile(self):
        """dpkg puts a conffile the administrator had not changed back as
        the package ships it (0644 root:root) when a new version changes it;
        a Redis password written into it afterwards must not be world
        readable."""
        got = self.run_postinst("chown root:root %s && chmod 0644 %s" % (self.CONF, self.CONF),
                                "configure", "0.9.0")
        self.assertEqual(got, "root:xacct 640")

    def test_statoverride_is_respected(self):
        got = self.run_postinst(
            "chmod 0600 %s && dpkg-statoverride --add root root 0600 %s" % (self.CONF, self.CONF),
            "configure", "0.9.0")
        self.assertEqual(got, "root:root 600")


if __name__ == "__main__":
    unittest.main()
