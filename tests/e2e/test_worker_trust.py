"""xacctd end to end, the three probes of the safety check (SPEC §9.1): a
role is accepted only when AssumeRole works with the issued external ID and
is denied both without one and with a random wrong one. Each loosened trust
shape is rejected on Create with a Reason naming the probe that got in; the
credentials the probes obtain are found neither in the logs nor in Redis."""
import copy
import json
import os
import unittest
import urllib.parse

from harness import SharedWorkerTest


def with_condition(template, condition):
    """The harness's template with the role's trust condition replaced
    (None: no condition at all)."""
    t = copy.deepcopy(template)
    st = t["Resources"]["XacctRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    st.pop("Condition", None)
    if condition is not None:
        st["Condition"] = condition
    return t


class ThreeProbesTest(SharedWorkerTest):
    env_options = {"propagation_timeout": 10}

    @classmethod
    def prepare(cls):
        # Debug logging: the credential search below covers every line written.
        cls.env.write_config(log__level="debug")

    def counts(self, role_arn):
        doc = self.env.ctl("GET", "/_fake/sts/assume-role-counts?role_arn="
                           + urllib.parse.quote(role_arn, safe=""))
        return doc["roles"].get(role_arn)

    def rejected(self, acct, condition):
        env = self.env
        ext = env.seed_customer(acct)
        t = with_condition(env.template(acct, ext), condition(ext) if callable(condition)
                           else condition)
        s = env.wait_stack(env.create_stack(acct, t)["stack_id"])
        self.assertEqual(s["status"], "ROLLBACK_COMPLETE", s.get("status_reason"))
        first = json.loads(s["answers"][0]["body"])
        self.assertEqual(first["Status"], "FAILED")
        self.assertNotIn(ext, first["Reason"])
        c = env.customer(acct)
        self.assertEqual(c["state"], "rejected")
        self.assertEqual(c["last_error"], first["Reason"])
        return first["Reason"], ext

    def test_string_like_star_is_let_in_by_the_wrong_id_probe(self):
        reason, ext = self.rejected("310000000001", {"StringLike": {"sts:ExternalId": "*"}})
        self.assertIn("with a wrong external ID", reason)
        self.assertIn("probe 'wrong'", reason)
        self.assertNotIn("without", reason)
        role = "arn:aws:iam::310000000001:role/XacctAccess"
        n = self.counts(role)
        # The probes really ran: with the ID (allowed), without, with another ID.
        self.assertGreaterEqual(n["external_ids"].get(ext, 0), 1, n)
        self.assertGreaterEqual(n["without_external_id"], 1, n)
        self.assertGreaterEqual(len([i for i in n["external_ids"] if i != ext]), 1, n)

    def test_null_false_trick_is_let_in_by_the_wrong_id_probe(self):
        reason, _ = self.rejected("310000000002", {"Null": {"sts:ExternalId": "false"}})
        self.assertIn("probe 'wrong'", reason)
        self.assertNotIn("without", reason)

    def test_string_not_equals_trick_is_let_in_by_both_probes(self):
        reason, _ = self.rejected("310000000003",
                                  {"StringNotEquals": {"sts:ExternalId": "nobody-uses-this"}})
        self.assertIn("without the external ID and with a wrong one", reason)

    def test_if_exists_is_let_in_by_the_without_probe(self):
        reason, _ = self.rejected(
            "310000000004", lambda ext: {"StringEqualsIfExists": {"sts:ExternalId": ext}})
        self.assertIn("without the external ID (probe 'without'", reason)
        self.assertNotIn("wrong one", reason)

    def test_no_condition_is_let_in_by_both_probes(self):
        reason, _ = self.rejected("310000000005", None)
        self.assertIn("without the external ID", reason)
        self.assertIn("probes 'without' and 'wrong'", reason)

    def test_secure_role_passes_and_its_credentials_are_kept_nowhere(self):
        env, acct = self.env, "310000000010"
        ext = env.seed_customer(acct)
        s = env.wait_stack(env.create_stack(acct, env.template(acct, ext))["stack_id"])
        self.assertEqual(s["status"], "CREATE_COMPLETE", s.get("status_reason"))
        self.assertEqual(env.customer(acct)["state"], "active")
        role = f"arn:aws:iam::{acct}:role/XacctAccess"
        n = self.counts(role)
        self.assertEqual(n["allowed"], n["external_ids"][ext], n)
        self.assertEqual(n["without_external_id"], 1, n)
        wrong = {i: k for i, k in n["external_ids"].items() if i != ext}
        self.assertEqual(list(wrong.values()), [1], n)

        # `xacct check` runs the same three probes: loosen the trust policy
        # the way a customer would in the IAM console, and it says which.
        loose = copy.deepcopy(env.template(acct, ext)["Resources"]["XacctRole"]["Properties"]
                              ["AssumeRolePolicyDocument"])
        loose["Statement"][0]["Condition"] = {"StringLike": {"sts:ExternalId": "*"}}
        env.ctl("PUT", f"/_fake/iam/roles/{acct}/XacctAccess/trust-policy",
                {"trust_policy": loose})
        r = env.xacct("check", acct, "--json")
        self.assertEqual(r.returncode, 1, r.stderr)
        out = json.loads(r.stdout)
        self.assertEqual(out["result"], "insecure")
        self.assertIn("probe 'wrong'", out["detail"])

        issued = [c for c in env.ctl("GET", "/_fake/sts/issued-credentials")["credentials"]
                  if c["role_arn"].startswith("arn:aws:iam::3100000000")]
        self.assertGreaterEqual(len(issued), 7)  # every probe that got in, worker and CLI
        secrets = [v for c in issued for v in (c["access_key_id"], c["secret_access_key"],
                                               c["session_token"])]
        env.wait_queue_empty()
        log = env.worker_log(self.worker)
        self.assertIn(b"level=debug", log)
        env.r.config_set("rdbcompression", "no")
        env.r.save()
        rdb = env.r.config_get("dir")["dir"], env.r.config_get("dbfilename")["dbfilename"]
        with open(os.path.join(*rdb), "rb") as f:
            dump = f.read()
        self.assertIn(acct.encode(), dump)  # the dump is readable text where it matters
        for secret in secrets:
            self.assertNotIn(secret.encode(), log)
            self.assertNotIn(secret.encode(), r.stdout + r.stderr)
            self.assertNotIn(secret.encode(), dump)


if __name__ == "__main__":
    unittest.main()
