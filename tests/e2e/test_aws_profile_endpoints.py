"""The AWS shared config file's endpoint settings reach the real clients
(SDKs and Tools reference guide, "Service-specific endpoints"): with no
AWS_ENDPOINT_URL in the environment, `xacct onboard` (SNS
GetTopicAttributes / SetTopicAttributes) goes to the profile's endpoint_url,
or to the service's endpoint_url in the `[services NAME]` section the
profile names, which wins over the profile's own endpoint_url; a URL with
credentials in it stops the command naming the setting, never the secret.
"""
import json
import os
import unittest

import cli_env


class ProfileEndpointsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = cli_env.CliEnv.start()

    @classmethod
    def tearDownClass(cls):
        cls.env.stop()

    def run_with_config(self, text, account):
        path = os.path.join(self.env.tmp, "aws-config-%s" % account)
        with open(path, "w") as f:
            f.write(text)
        e = self.env.env(AWS_CONFIG_FILE=path,
                         AWS_SHARED_CREDENTIALS_FILE=os.path.join(self.env.tmp, "none"))
        del e["AWS_ENDPOINT_URL"]
        return self.env.xacct("onboard", account, "--json", env=e)

    def test_profile_endpoint_url(self):
        r = self.run_with_config("[default]\nendpoint_url = %s\n" % self.env.fa.https_url,
                                 "410000000001")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["state"], "pending")

    def test_services_section_wins_over_profile_endpoint(self):
        text = ("[profile dev]\n"
                "endpoint_url = https://127.0.0.1:1\n"
                "services = dev-endpoints\n"
                "[services dev-endpoints]\n"
                "sns =\n"
                "  endpoint_url = %s\n" % self.env.fa.https_url)
        path = os.path.join(self.env.tmp, "aws-config-dev")
        with open(path, "w") as f:
            f.write(text)
        e = self.env.env(AWS_CONFIG_FILE=path, AWS_PROFILE="dev",
                         AWS_SHARED_CREDENTIALS_FILE=os.path.join(self.env.tmp, "none"))
        del e["AWS_ENDPOINT_URL"]
        r = self.env.xacct("onboard", "410000000002", "--json", env=e)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_credentials_in_profile_endpoint_refused(self):
        r = self.run_with_config("[default]\nendpoint_url = https://u:hunter2@127.0.0.1:1\n",
                                 "410000000003")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("endpoint_url", r.stderr)
        self.assertNotIn("hunter2", r.stderr)


if __name__ == "__main__":
    unittest.main()
