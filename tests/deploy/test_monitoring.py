# SPDX-License-Identifier: MIT
"""The monitoring files under deploy/: Debian's promtool accepts the alert
rules (`check rules`) and their unit tests pass (`test rules`: each alert
fires on its series and stays quiet otherwise); the alerts the operators
asked for exist; and every metric the rules and the Grafana dashboard query
is one xacctd exports (include/xacct/metrics.h) or one SPEC §8/§9 names for
the lifecycle events and re-verification."""
import json
import os
import re
import subprocess
import unittest

SRC = os.environ.get("XACCT_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
PROM = os.path.join(SRC, "deploy", "prometheus")
DASHBOARD = os.path.join(SRC, "deploy", "grafana", "xacct.json")

# SPEC §8 (xacct_webhook_deliveries_total, xacct_outbox_pending) and §9
# (xacct_reverifications_total): named by the contract, exported as those
# features land.
SPEC_METRICS = {"xacct_webhook_deliveries_total", "xacct_outbox_pending",
                "xacct_reverifications_total"}


def exported_metrics():
    with open(os.path.join(SRC, "include", "xacct", "metrics.h")) as f:
        text = f.read()
    names = set()
    for kind, name in re.findall(r'X\(\w+,\s*(COUNTER|GAUGE|HISTOGRAM),\s*"(xacct_\w+)"', text):
        names.add(name)
        if kind == "HISTOGRAM":
            names.update({name + "_bucket", name + "_sum", name + "_count"})
    return names


def metrics_in(expr):
    return set(re.findall(r"\bxacct_\w+", expr))


def promtool(*args):
    return subprocess.run(["promtool", *args], cwd=PROM, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300)


def rule_exprs():
    # promtool has no JSON output for rules; the file's `expr:` lines are one
    # line each by construction (checked here).
    with open(os.path.join(PROM, "xacct-alerts.yml")) as f:
        text = f.read()
    alerts = re.findall(r"(?m)^\s+- alert: (\w+)\n\s+expr: (.+)$", text)
    assert len(alerts) == text.count("- alert:"), "every alert has a one-line expr"
    return dict(alerts)


class Monitoring(unittest.TestCase):
    def test_promtool_checks_the_rules(self):
        out = promtool("check", "rules", "xacct-alerts.yml")
        self.assertEqual(out.returncode, 0, out.stdout)
        self.assertIn("SUCCESS", out.stdout)

    def test_promtool_rule_unit_tests(self):
        out = promtool("test", "rules", "xacct-alerts.test.yml")
        self.assertEqual(out.returncode, 0, out.stdout)
        self.assertIn("SUCCESS", out.stdout)

    def test_the_alerts_operators_need(self):
        alerts = rule_exprs()
        for name, metric in (("XacctWorkerDown", "up{"), ("XacctNoWorkers", "up{"),
                             ("XacctDeadMessages", "xacct_messages_dead_total"),
                             ("XacctAnswersFailing", "xacct_cfn_answers_total"),
                             ("XacctOutboxBacklog", "xacct_outbox_pending"),
                             ("XacctCustomersDegraded", "xacct_reverifications_total")):
            self.assertIn(name, alerts)
            self.assertIn(metric, alerts[name])

    def test_rules_use_known_metrics(self):
        known = exported_metrics() | SPEC_METRICS
        for name, expr in rule_exprs().items():
            unknown = metrics_in(expr) - known
            self.assertFalse(unknown, "%s queries %s" % (name, unknown))

    def test_dashboard(self):
        with open(DASHBOARD) as f:
            dash = json.load(f)
        self.assertEqual(dash["uid"], "xacct")
        known = exported_metrics() | SPEC_METRICS
        ids, used = set(), set()
        for panel in dash["panels"]:
            self.assertNotIn(panel["id"], ids)
            ids.add(panel["id"])
            pos = panel["gridPos"]
            self.assertLessEqual(pos["x"] + pos["w"], 24, panel["title"])
            self.assertTrue(panel["targets"], panel["title"])
            for t in panel["targets"]:
                m = metrics_in(t["expr"])
                self.assertTrue(m or re.search(r"\bup\{", t["expr"]),
                                "%s: %s" % (panel["title"], t["expr"]))
                self.assertFalse(m - known, "%s queries %s" % (panel["title"], m - known))
                self.assertIn('job="$job"', t["expr"])
                used |= m
        # Every exported family is on the dashboard somewhere, except the
        # process start time (in the versions' context) and the drop counter.
        families = {n for n in exported_metrics() if not n.endswith(("_sum", "_count"))}
        missing = families - used - {"xacct_process_start_time_seconds",
                                     "xacct_metrics_dropped_total",
                                     "xacct_aws_request_duration_seconds",
                                     "xacct_credentials_valid"}
        self.assertFalse(missing, "not on the dashboard: %s" % sorted(missing))


if __name__ == "__main__":
    unittest.main()
