"""IAM roles and STS over real sockets: external-ID trust policies,
propagation delay, parameter limits, web identity, response shapes.

Run: cd tests/fakeaws && python3 -m unittest -v tests.test_iam_sts
"""
import calendar
import json
import time
import unittest
import urllib.parse
import uuid

from fakeaws.testing import FakeAWS

STS_NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"
IAM_NS = "{https://iam.amazonaws.com/doc/2010-05-08/}"
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


def local(tag):
    return tag.rsplit("}", 1)[-1]


FA = None
CUSTOMER = None


def setUpModule():
    global FA, CUSTOMER
    FA = FakeAWS.start()
    CUSTOMER = FA.new_account("222200000000")


def tearDownModule():
    FA.stop()


class Base(unittest.TestCase):
    n = 0
    customer_id = "222200000000"

    @classmethod
    def setUpClass(cls):
        cls.fa = FA
        cls.partner = FA.partner_account
        cls.customer = CUSTOMER

    def tearDown(self):
        self.fa.control("POST", "/_fake/iam/config", {"propagation_seconds": 0})

    # ---------------------------------------------------------------- helpers
    def iam(self, params, creds=None, region="us-east-1"):
        p = dict(params, Version="2010-05-08")
        return self.fa.call("iam", "POST", "/", body=urllib.parse.urlencode(p), headers=FORM,
                            creds=creds or self.customer, region=region)

    def sts(self, params, creds=None):
        p = dict(params, Version="2011-06-15")
        return self.fa.call("sts", "POST", "/", body=urllib.parse.urlencode(p), headers=FORM,
                            creds=creds)

    def role_name(self):
        Base.n += 1
        return "xacct-test-%d-%s" % (Base.n, uuid.uuid4().hex[:6])

    def trust(self, external_id=None, principal=None):
        st = {"Effect": "Allow",
              "Principal": {"AWS": principal or "arn:aws:iam::%s:root" % self.partner},
              "Action": "sts:AssumeRole"}
        if external_id is not None:
            st["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
        return {"Version": "2012-10-17", "Statement": [st]}

    def create_role(self, trust, name=None, **extra):
        name = name or self.role_name()
        r = self.iam(dict({"Action": "CreateRole", "RoleName": name,
                           "AssumeRolePolicyDocument": json.dumps(trust)}, **extra))
        self.assertEqual(r.status, 200, r.text())
        return name, "arn:aws:iam::%s:role%s%s" % (self.customer_id, extra.get("Path", "/"), name)

    def assume(self, role_arn, external_id=None, session="xacct-check", creds=None, **extra):
        p = dict({"Action": "AssumeRole", "RoleArn": role_arn, "RoleSessionName": session}, **extra)
        if external_id is not None:
            p["ExternalId"] = external_id
        return self.sts(p, creds=creds)

    def assert_error(self, r, status, code, message_part=None):
        self.assertEqual(r.status, status, r.text())
        self.assertEqual(r.error_code(), code, r.text())
        if message_part is not None:
            self.assertIn(message_part, r.error_message())

    def last_call(self, role_arn):
        st, doc = self.fa.control("GET", "/_fake/sts/assume-role-calls")
        self.assertEqual(st, 200)
        calls = [c for c in doc["calls"] if c["role_arn"] == role_arn]
        self.assertTrue(calls, "no AssumeRole recorded for %s" % role_arn)
        return calls[-1]


class ExternalIdTest(Base):
    def test_role_requiring_external_id(self):
        ext = str(uuid.uuid4())
        _, arn = self.create_role(self.trust(ext))

        r = self.assume(arn)
        self.assert_error(r, 403, "AccessDenied")
        self.assertEqual(r.error_message(),
                         "User: arn:aws:iam::%s:user/fake is not authorized to perform: "
                         "sts:AssumeRole on resource: %s" % (self.partner, arn))
        c = self.last_call(arn)
        self.assertEqual((c["outcome"], c["external_id_present"], c["external_id_matched"]),
                         ("AccessDenied", False, False))

        r = self.assume(arn, "not-" + ext)
        self.assert_error(r, 403, "AccessDenied")
        c = self.last_call(arn)
        self.assertEqual((c["outcome"], c["external_id_present"], c["external_id_matched"]),
                         ("AccessDenied", True, False))

        r = self.assume(arn, ext)
        self.assertEqual(r.status, 200, r.text())
        c = self.last_call(arn)
        self.assertEqual((c["outcome"], c["external_id_present"], c["external_id_matched"]),
                         ("Allow", True, True))

    def test_role_without_condition_is_assumable_without_external_id(self):
        _, arn = self.create_role(self.trust())
        r = self.assume(arn)
        self.assertEqual(r.status, 200, r.text())
        c = self.last_call(arn)
        self.assertEqual((c["outcome"], c["external_id_present"], c["external_id_matched"]),
                         ("Allow", False, None))

    def test_other_account_is_denied_even_with_the_external_id(self):
        ext = str(uuid.uuid4())
        _, arn = self.create_role(self.trust(ext))
        mallory = self.fa.new_account("999900000000")
        r = self.assume(arn, ext, creds=mallory)
        self.assert_error(r, 403, "AccessDenied", "arn:aws:iam::999900000000:")

    def test_missing_role_looks_like_a_denial(self):
        r = self.assume("arn:aws:iam::%s:role/does-not-exist" % self.customer_id, "abc123")
        self.assert_error(r, 403, "AccessDenied", "is not authorized to perform: sts:AssumeRole")

    def test_role_path_must_match(self):
        name, arn = self.create_role(self.trust(), Path="/xacct/")
        self.assertEqual(self.assume(arn).status, 200)
        r = self.assume("arn:aws:iam::%s:role/%s" % (self.customer_id, name))
        self.assert_error(r, 403, "AccessDenied")

    def test_unsigned_assume_role_is_refused(self):
        body = urllib.parse.urlencode({"Action": "AssumeRole", "Version": "2011-06-15",
                                       "RoleArn": "arn:aws:iam::%s:role/x" % self.customer_id,
                                       "RoleSessionName": "s1"})
        r = self.fa.request("POST", "/", body.encode(), FORM)
        self.assertEqual(r.status, 403)
        self.assertEqual(r.error_code(), "MissingAuthenticationToken")


class ResponseShapeTest(Base):
    def test_assume_role_response_shape_and_credentials(self):
        ext = "ext-" + uuid.uuid4().hex
        name, arn = self.create_role(self.trust(ext))
        before = time.time()
        r = self.assume(arn, ext, session="onboard-1234", DurationSeconds="900")
        self.assertEqual(r.status, 200, r.text())
        self.assertTrue(r.headers["content-type"].startswith("text/xml"))
        root = r.xml()
        self.assertEqual(root.tag, STS_NS + "AssumeRoleResponse")
        self.assertEqual([local(e.tag) for e in root], ["AssumeRoleResult", "ResponseMetadata"])
        result = root.find(STS_NS + "AssumeRoleResult")
        self.assertEqual([local(e.tag) for e in result], ["AssumedRoleUser", "Credentials"])
        user = result.find(STS_NS + "AssumedRoleUser")
        self.assertEqual([local(e.tag) for e in user], ["AssumedRoleId", "Arn"])
        self.assertEqual(user.find(STS_NS + "Arn").text,
                         "arn:aws:sts::%s:assumed-role/%s/onboard-1234" % (self.customer_id, name))
        self.assertRegex(user.find(STS_NS + "AssumedRoleId").text, r"^AROA[A-Z0-9]{17}:onboard-1234$")
        creds = result.find(STS_NS + "Credentials")
        self.assertEqual([local(e.tag) for e in creds],
                         ["AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"])
        akid = creds.find(STS_NS + "AccessKeyId").text
        self.assertRegex(akid, r"^ASIA[A-Z0-9]{16}$")
        exp = creds.find(STS_NS + "Expiration").text
        self.assertRegex(exp, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        exp_epoch = calendar.timegm(time.strptime(exp, "%Y-%m-%dT%H:%M:%SZ"))
        self.assertAlmostEqual(exp_epoch, before + 900, delta=5)
        rid = root.find(STS_NS + "ResponseMetadata/" + STS_NS + "RequestId").text
        self.assertRegex(rid, r"^[0-9a-f-]{36}$")

        # The temporary credentials sign requests as the assumed role.
        tmp = (akid, creds.find(STS_NS + "SecretAccessKey").text,
               creds.find(STS_NS + "SessionToken").text)
        who = self.sts({"Action": "GetCallerIdentity"}, creds=tmp)
        self.assertEqual(who.status, 200, who.text())
        res = who.xml().find(STS_NS + "GetCallerIdentityResult")
        self.assertEqual(res.find(STS_NS + "Arn").text, user.find(STS_NS + "Arn").text)
        self.assertEqual(res.find(STS_NS + "Account").text, self.customer_id)
        self.assertEqual(res.find(STS_NS + "UserId").text, user.find(STS_NS + "AssumedRoleId").text)
        # ... and only with their session token.
        bad = self.sts({"Action": "GetCallerIdentity"}, creds=(tmp[0], tmp[1], None))
        self.assertEqual(bad.status, 403)

    def test_get_caller_identity_of_the_partner(self):
        r = self.sts({"Action": "GetCallerIdentity"})
        self.assertEqual(r.status, 200, r.text())
        res = r.xml().find(STS_NS + "GetCallerIdentityResult")
        self.assertEqual(res.find(STS_NS + "Account").text, self.partner)
        self.assertEqual([local(e.tag) for e in res], ["Arn", "UserId", "Account"])

    def test_role_chaining_is_limited_to_one_hour(self):
        _, first = self.create_role(self.trust())
        r = self.assume(first)
        self.assertEqual(r.status, 200, r.text())
        c = r.xml().find(STS_NS + "AssumeRoleResult/" + STS_NS + "Credentials")
        tmp = tuple(c.find(STS_NS + t).text for t in ("AccessKeyId", "SecretAccessKey", "SessionToken"))
        _, second = self.create_role(self.trust(principal="arn:aws:iam::%s:root" % self.customer_id),
                                     MaxSessionDuration="7200")
        r = self.assume(second, creds=tmp, DurationSeconds="7200")
        self.assert_error(r, 400, "ValidationError", "role chaining")
        r = self.assume(second, creds=tmp, DurationSeconds="3600")
        self.assertEqual(r.status, 200, r.text())

    def test_duration_above_role_maximum(self):
        _, arn = self.create_role(self.trust())
        r = self.assume(arn, DurationSeconds="3601")
        self.assert_error(r, 400, "ValidationError", "MaxSessionDuration")


class ParameterLimitsTest(Base):
    def setUp(self):
        if not hasattr(type(self), "arn"):
            _, type(self).arn = self.create_role(self.trust())

    def test_session_name(self):
        self.assertEqual(self.assume(self.arn, session="ab").status, 200)
        self.assertEqual(self.assume(self.arn, session="a" * 64).status, 200)
        self.assertEqual(self.assume(self.arn, session="a+=,.@-_9").status, 200)
        for bad, what in (("a", "greater than or equal to 2"), ("a" * 65, "less than or equal to 64"),
                          ("a b", "regular expression pattern"), ("a/b", "regular expression pattern")):
            with self.subTest(session=bad):
                r = self.assume(self.arn, session=bad)
                self.assert_error(r, 400, "ValidationError", what)
                self.assertIn("roleSessionName", r.error_message())

    def test_duration(self):
        self.assertEqual(self.assume(self.arn, DurationSeconds="900").status, 200)
        for bad, what in (("899", "greater than or equal to 900"),
                          ("43201", "less than or equal to 43200"), ("abc", "DurationSeconds")):
            with self.subTest(duration=bad):
                self.assert_error(self.assume(self.arn, DurationSeconds=bad), 400, "ValidationError", what)

    def test_external_id(self):
        self.assertEqual(self.assume(self.arn, "ab").status, 200)
        self.assertEqual(self.assume(self.arn, "a" * 1224).status, 200)
        self.assertEqual(self.assume(self.arn, "a+=,.@:/-_9").status, 200)
        for bad, what in (("a", "greater than or equal to 2"), ("a" * 1225, "less than or equal to 1224"),
                          ("ab!", "regular expression pattern"), ("a b", "regular expression pattern")):
            with self.subTest(external_id=bad[:20]):
                r = self.assume(self.arn, bad)
                self.assert_error(r, 400, "ValidationError", what)
                self.assertIn("externalId", r.error_message())

    def test_patterns_are_ascii_and_match_the_whole_value(self):
        # AWS's patterns are Java's: \w is [A-Za-z0-9_], and a value with a
        # trailing newline does not match (Python's $ would let it through).
        for field, bad in (("roleSessionName", "ab\n"), ("roleSessionName", "jos\u00e9"),
                           ("externalId", "abc\n"), ("externalId", "ab\u00e9"),
                           ("externalId", "\u0663\u0664")):
            with self.subTest(field=field, value=bad):
                if field == "roleSessionName":
                    r = self.assume(self.arn, session=bad)
                else:
                    r = self.assume(self.arn, bad)
                self.assert_error(r, 400, "ValidationError", "regular expression pattern")
                self.assertIn(field, r.error_message())
        for bad in (self.arn + "\n", self.arn.replace("role/", "role/\u00e9")):
            with self.subTest(role_arn=bad):
                self.assert_error(self.assume(bad), 400, "ValidationError", "is invalid")

    def test_duration_is_a_plain_integer(self):
        for bad in ("9_00", " 900", "900 ", "1e3", "0x400"):
            with self.subTest(duration=bad):
                self.assert_error(self.assume(self.arn, DurationSeconds=bad), 400,
                                  "ValidationError", "DurationSeconds")

    def test_missing_and_multiple_errors(self):
        r = self.sts({"Action": "AssumeRole", "RoleSessionName": "abc"})
        self.assert_error(r, 400, "ValidationError", "Value null at 'roleArn'")
        r = self.sts({"Action": "AssumeRole", "RoleArn": self.arn, "RoleSessionName": "a",
                      "ExternalId": "b"})
        self.assert_error(r, 400, "ValidationError", "2 validation errors detected")
        r = self.sts({"Action": "AssumeRole", "RoleArn": "arn:aws:iam::1:role/x",
                      "RoleSessionName": "abc"})
        self.assert_error(r, 400, "ValidationError", "arn:aws:iam::1:role/x")

    def test_version_and_action(self):
        body = urllib.parse.urlencode({"Action": "GetCallerIdentity", "Version": "2010-01-01"})
        r = self.fa.call("sts", "POST", "/", body=body, headers=FORM)
        self.assert_error(r, 400, "InvalidAction")
        r = self.sts({"Action": "AssumeRoot"})
        self.assert_error(r, 400, "InvalidAction")


class PropagationTest(Base):
    """IAM changes reach STS only after propagation_seconds. The window is
    wide (8 s) so a loaded machine still makes its first call inside it; its
    end is observed (the first call that sees the change), never slept to."""
    WINDOW = 8

    def until(self, pred, what, timeout=60):
        deadline = time.time() + timeout
        while not pred():
            if time.time() > deadline:
                self.fail(f"{what}: not after {timeout}s")
            time.sleep(0.2)
        return time.time()

    def test_new_role_is_not_assumable_until_propagated(self):
        self.fa.control("POST", "/_fake/iam/config", {"propagation_seconds": self.WINDOW})
        ext = str(uuid.uuid4())
        t0 = time.time()
        _, arn = self.create_role(self.trust(ext))
        r = self.assume(arn, ext)
        self.assertLess(time.time() - t0, self.WINDOW - 0.5, "the test machine is too slow for this check")
        self.assert_error(r, 403, "AccessDenied")
        self.assertFalse(self.last_call(arn)["role_visible"])
        # IAM itself already knows the role.
        g = self.iam({"Action": "GetRole", "RoleName": arn.rsplit("/", 1)[1]})
        self.assertEqual(g.status, 200)
        seen = self.until(lambda: self.assume(arn, ext).status == 200, "assumable")
        self.assertGreaterEqual(seen - t0, self.WINDOW)
        self.assertTrue(self.last_call(arn)["role_visible"])

    def test_trust_policy_change_propagates_late(self):
        name, arn = self.create_role(self.trust())          # no external id needed
        self.assertEqual(self.assume(arn).status, 200)
        self.fa.control("POST", "/_fake/iam/config", {"propagation_seconds": self.WINDOW})
        ext = str(uuid.uuid4())
        t0 = time.time()
        r = self.iam({"Action": "UpdateAssumeRolePolicy", "RoleName": name,
                      "PolicyDocument": json.dumps(self.trust(ext))})
        self.assertEqual(r.status, 200, r.text())
        # STS still sees the old, lenient trust policy ...
        self.assertEqual(self.assume(arn).status, 200)
        self.assertLess(time.time() - t0, self.WINDOW - 0.5, "the test machine is too slow for this check")
        # ... and then the new one.
        seen = self.until(lambda: self.assume(arn).status == 403, "the new trust policy")
        self.assertGreaterEqual(seen - t0, self.WINDOW)
        self.assert_error(self.assume(arn), 403, "AccessDenied")
        self.assertEqual(self.assume(arn, ext).status, 200)

    def test_deleted_role_stays_assumable_until_propagated(self):
        name, arn = self.create_role(self.trust())
        self.fa.control("POST", "/_fake/iam/config", {"propagation_seconds": self.WINDOW})
        t0 = time.time()
        self.assertEqual(self.iam({"Action": "DeleteRole", "RoleName": name}).status, 200)
        self.assertEqual(self.assume(arn).status, 200)
        self.assertLess(time.time() - t0, self.WINDOW - 0.5, "the test machine is too slow for this check")
        seen = self.until(lambda: self.assume(arn).status == 403, "the deletion")
        self.assertGreaterEqual(seen - t0, self.WINDOW)
        self.assert_error(self.assume(arn), 403, "AccessDenied")


class IamApiTest(Base):
    def test_get_role_returns_the_url_encoded_document(self):
        doc = self.trust("abc-123")
        name, arn = self.create_role(doc, Description="xacct access")
        r = self.iam({"Action": "GetRole", "RoleName": name})
        self.assertEqual(r.status, 200)
        role = r.xml().find(IAM_NS + "GetRoleResult/" + IAM_NS + "Role")
        self.assertEqual(role.find(IAM_NS + "Arn").text, arn)
        self.assertEqual(role.find(IAM_NS + "RoleName").text, name)
        self.assertRegex(role.find(IAM_NS + "RoleId").text, r"^AROA[A-Z0-9]{17}$")
        enc = role.find(IAM_NS + "AssumeRolePolicyDocument").text
        self.assertNotIn("{", enc)
        self.assertEqual(json.loads(urllib.parse.unquote(enc)), doc)

    def test_role_name_rules(self):
        for bad in ("a" * 65, "has space", "slash/name", ""):
            with self.subTest(name=bad):
                r = self.iam({"Action": "CreateRole", "RoleName": bad,
                              "AssumeRolePolicyDocument": json.dumps(self.trust())})
                self.assert_error(r, 400, "ValidationError")
        self.create_role(self.trust(), name="a" * 64)
        self.create_role(self.trust(), name="x+=,.@_-" + uuid.uuid4().hex[:8])

    def test_duplicate_names_differ_only_in_case(self):
        name = "Dup" + uuid.uuid4().hex[:8]
        self.create_role(self.trust(), name=name)
        r = self.iam({"Action": "CreateRole", "RoleName": name.lower(),
                      "AssumeRolePolicyDocument": json.dumps(self.trust())})
        self.assert_error(r, 409, "EntityAlreadyExists")

    def test_malformed_trust_policies(self):
        cases = [
            ("{not json", "invalid Json"),
            (json.dumps(dict(self.trust(), Statement=[dict(self.trust()["Statement"][0], Resource="*")])),
             "Has prohibited field Resource"),
            (json.dumps(self.trust(principal="arn:aws:iam::12:root")), "Invalid principal"),
            (json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": self.partner}, "Action": "s3:GetObject"}]}),
             "AssumeRole"),
        ]
        for doc, msg in cases:
            with self.subTest(msg=msg):
                r = self.iam({"Action": "CreateRole", "RoleName": self.role_name(),
                              "AssumeRolePolicyDocument": doc})
                self.assert_error(r, 400, "MalformedPolicyDocument", msg)
        r = self.iam({"Action": "CreateRole", "RoleName": self.role_name()})
        self.assert_error(r, 400, "ValidationError", "assumeRolePolicyDocument")

    def test_delete_role_with_inline_policy_conflicts(self):
        name, _ = self.create_role(self.trust())
        pol = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}]}
        r = self.iam({"Action": "PutRolePolicy", "RoleName": name, "PolicyName": "read",
                      "PolicyDocument": json.dumps(pol)})
        self.assertEqual(r.status, 200, r.text())
        self.assert_error(self.iam({"Action": "DeleteRole", "RoleName": name}), 409, "DeleteConflict")
        self.assertEqual(self.iam({"Action": "DeleteRolePolicy", "RoleName": name,
                                   "PolicyName": "read"}).status, 200)
        self.assert_error(self.iam({"Action": "DeleteRolePolicy", "RoleName": name,
                                    "PolicyName": "read"}), 404, "NoSuchEntity")
        self.assertEqual(self.iam({"Action": "DeleteRole", "RoleName": name}).status, 200)
        self.assert_error(self.iam({"Action": "GetRole", "RoleName": name}), 404, "NoSuchEntity",
                          "cannot be found")

    def test_roles_belong_to_the_caller_account(self):
        name, _ = self.create_role(self.trust())
        r = self.iam({"Action": "GetRole", "RoleName": name}, creds=self.fa.creds)
        self.assert_error(r, 404, "NoSuchEntity")

    def test_iam_is_signed_for_us_east_1(self):
        r = self.iam({"Action": "GetRole", "RoleName": "x"}, region="eu-west-1")
        self.assertEqual(r.status, 403)
        self.assertEqual(r.error_code(), "SignatureDoesNotMatch")


class TrustShapeTest(Base):
    """The three probes xacct makes (with the issued ID, without one, with a
    random wrong one) against the trust policies customers actually write:
    only StringEquals on the exact ID passes all three."""

    def shape(self, condition=None, extra_statements=()):
        st = {"Effect": "Allow",
              "Principal": {"AWS": "arn:aws:iam::%s:root" % self.partner},
              "Action": "sts:AssumeRole"}
        if condition is not None:
            st["Condition"] = condition
        return {"Version": "2012-10-17", "Statement": [st] + list(extra_statements)}

    def probes(self, trust, ext):
        _, arn = self.create_role(trust)
        return (self.assume(arn, ext).status, self.assume(arn).status,
                self.assume(arn, str(uuid.uuid4())).status)

    def test_probes_against_trust_shapes(self):
        ext = str(uuid.uuid4())
        cases = [
            ("StringEquals on the ID", {"StringEquals": {"sts:ExternalId": ext}},
             (200, 403, 403)),
            ("StringLike on the ID itself", {"StringLike": {"sts:ExternalId": ext}},
             (200, 403, 403)),
            ("StringLike '*'", {"StringLike": {"sts:ExternalId": "*"}}, (200, 403, 200)),
            ("StringLike with '?' wildcards", {"StringLike": {"sts:ExternalId": "?" * 36}},
             (200, 403, 200)),
            ("StringNotEquals an unrelated value",
             {"StringNotEquals": {"sts:ExternalId": "nobody"}}, (200, 200, 200)),
            ("StringNotLike a pattern nobody uses",
             {"StringNotLike": {"sts:ExternalId": "zz*"}}, (200, 200, 200)),
            ("Null false: any ID at all", {"Null": {"sts:ExternalId": "false"}},
             (200, 403, 200)),
            ("StringEqualsIfExists: the ID or none", {"StringEqualsIfExists":
                                                      {"sts:ExternalId": ext}},
             (200, 200, 403)),
            ("no condition", None, (200, 200, 200)),
        ]
        for name, cond, want in cases:
            with self.subTest(name):
                self.assertEqual(self.probes(self.shape(cond), ext), want, name)

    def test_deny_on_an_absent_id_still_trusts_any_present_one(self):
        ext = str(uuid.uuid4())
        deny = {"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::%s:root" % self.partner},
                "Action": "sts:AssumeRole",
                "Condition": {"Null": {"sts:ExternalId": "true"}}}
        self.assertEqual(self.probes(self.shape(None, [deny]), ext), (200, 403, 200))


class RoleControlTest(Base):
    """What a customer does in IAM after onboarding, through the control
    API, and the per-role AssumeRole counts."""

    def test_trust_policy_edited_through_control_api_propagates_late(self):
        ext = str(uuid.uuid4())
        name, arn = self.create_role(self.trust(ext))
        self.assertEqual(self.assume(arn, ext).status, 200)
        self.fa.control("POST", "/_fake/iam/config", {"propagation_seconds": 3})
        t0 = time.time()
        loose = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": self.partner}, "Action": "sts:AssumeRole",
            "Condition": {"StringLike": {"sts:ExternalId": "*"}}}]}
        st, doc = self.fa.control("PUT", "/_fake/iam/roles/%s/%s/trust-policy"
                                  % (self.customer_id, name), {"trust_policy": loose})
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["trust_policy"], loose)
        # IAM answers with the new document at once ...
        g = self.iam({"Action": "GetRole", "RoleName": name})
        self.assertIn(urllib.parse.quote("*", safe=""), g.text())
        # ... STS still applies the old one until it propagates.
        self.assert_error(self.assume(arn, "wrong-" + ext), 403, "AccessDenied")
        self.assertLess(time.time() - t0, 2.8, "the test machine is too slow for this check")
        time.sleep(max(0, t0 + 3.1 - time.time()))
        self.assertEqual(self.assume(arn, "wrong-" + ext).status, 200)

    def test_malformed_trust_policy_through_control_api(self):
        name, _ = self.create_role(self.trust())
        st, doc = self.fa.control("PUT", "/_fake/iam/roles/%s/%s/trust-policy"
                                  % (self.customer_id, name),
                                  {"trust_policy": {"Statement": [{"Effect": "Allow"}]}})
        self.assertEqual(st, 400, doc)
        self.assertEqual(doc["error"], "MalformedPolicyDocument")
        st, doc = self.fa.control("PUT", "/_fake/iam/roles/%s/nosuchrole/trust-policy"
                                  % self.customer_id, {"trust_policy": self.trust()})
        self.assertEqual(st, 404, doc)

    def test_role_deleted_through_control_api_propagates_late(self):
        ext = str(uuid.uuid4())
        name, arn = self.create_role(self.trust(ext))
        self.fa.control("POST", "/_fake/iam/config", {"propagation_seconds": 3})
        t0 = time.time()
        st, _ = self.fa.control("DELETE", "/_fake/iam/roles/%s/%s" % (self.customer_id, name))
        self.assertEqual(st, 204)
        self.assertEqual(self.assume(arn, ext).status, 200)
        self.assertLess(time.time() - t0, 2.8, "the test machine is too slow for this check")
        time.sleep(max(0, t0 + 3.1 - time.time()))
        self.assert_error(self.assume(arn, ext), 403, "AccessDenied")

    def test_assume_role_counts_per_role_and_external_id(self):
        ext = str(uuid.uuid4())
        _, arn = self.create_role(self.trust(ext))
        _, other = self.create_role(self.trust(ext))
        for _ in range(3):
            self.assertEqual(self.assume(arn, ext).status, 200)
        self.assertEqual(self.assume(arn).status, 403)
        self.assertEqual(self.assume(arn, "wrong-id").status, 403)
        self.assertEqual(self.assume(other, ext).status, 200)
        st, doc = self.fa.control("GET", "/_fake/sts/assume-role-counts?role_arn="
                                  + urllib.parse.quote(arn, safe=""))
        self.assertEqual(st, 200)
        self.assertEqual(list(doc["roles"]), [arn])
        self.assertEqual(doc["roles"][arn], {"total": 5, "allowed": 3, "without_external_id": 1,
                                             "external_ids": {ext: 3, "wrong-id": 1}})
        _, doc = self.fa.control("GET", "/_fake/sts/assume-role-counts")
        self.assertEqual(doc["roles"][other]["total"], 1)
        self.assertEqual(self.fa.control("DELETE", "/_fake/sts/assume-role-counts")[0], 200)
        _, doc = self.fa.control("GET", "/_fake/sts/assume-role-counts")
        self.assertEqual(doc["roles"], {})

    def test_issued_credentials_are_listed(self):
        ext = str(uuid.uuid4())
        _, arn = self.create_role(self.trust(ext))
        r = self.assume(arn, ext)
        self.assertEqual(r.status, 200)
        creds = r.xml().find(STS_NS + "AssumeRoleResult/" + STS_NS + "Credentials")
        akid = creds.find(STS_NS + "AccessKeyId").text
        secret = creds.find(STS_NS + "SecretAccessKey").text
        _, doc = self.fa.control("GET", "/_fake/sts/issued-credentials")
        mine = [c for c in doc["credentials"] if c["access_key_id"] == akid]
        self.assertEqual(len(mine), 1)
        self.assertEqual(mine[0]["secret_access_key"], secret)
        self.assertEqual(mine[0]["role_arn"], arn)


class SourceIdentityTest(Base):
    """SourceIdentity needs sts:SetSourceIdentity in the trust policy, under
    the policy's conditions, as in AWS."""

    def trust_with_source_identity(self, ext):
        t = self.trust(ext)
        t["Statement"][0]["Action"] = ["sts:AssumeRole", "sts:SetSourceIdentity"]
        return t

    def creds_of(self, r):
        c = r.xml().find(STS_NS + "AssumeRoleResult/" + STS_NS + "Credentials")
        return tuple(c.find(STS_NS + t).text for t in ("AccessKeyId", "SecretAccessKey", "SessionToken"))

    def test_allowed_source_identity_is_recorded_and_the_keys_work(self):
        ext = str(uuid.uuid4())
        name, arn = self.create_role(self.trust_with_source_identity(ext))
        r = self.assume(arn, ext, session="alice", SourceIdentity="alice", DurationSeconds="900")
        self.assertEqual(r.status, 200, r.text())
        res = r.xml().find(STS_NS + "AssumeRoleResult")
        self.assertEqual(res.find(STS_NS + "SourceIdentity").text, "alice")
        keys = self.creds_of(r)
        _, doc = self.fa.control("GET", "/_fake/sts/issued-credentials?access_key_id=" + keys[0])
        self.assertEqual(len(doc["credentials"]), 1)
        got = doc["credentials"][0]
        self.assertEqual((got["session_name"], got["source_identity"], got["duration"]),
                         ("alice", "alice", 900))
        self.assertEqual(got["assumed_role_arn"],
                         "arn:aws:sts::%s:assumed-role/%s/alice" % (self.customer_id, name))
        who = self.sts({"Action": "GetCallerIdentity"}, creds=keys)
        self.assertEqual(who.status, 200, who.text())
        self.assertEqual(who.xml().find(STS_NS + "GetCallerIdentityResult/" + STS_NS + "Arn").text,
                         got["assumed_role_arn"])

    def test_trust_policy_without_set_source_identity_denies(self):
        ext = str(uuid.uuid4())
        _, arn = self.create_role(self.trust(ext))
        self.assertEqual(self.assume(arn, ext).status, 200)
        r = self.assume(arn, ext, SourceIdentity="alice")
        self.assert_error(r, 403, "AccessDenied", "sts:SetSourceIdentity")

    def test_set_source_identity_follows_the_external_id_condition(self):
        ext = str(uuid.uuid4())
        t = self.trust(ext)
        # SetSourceIdentity allowed only under a condition the request misses.
        t["Statement"].append({"Effect": "Allow",
                               "Principal": {"AWS": "arn:aws:iam::%s:root" % self.partner},
                               "Action": "sts:SetSourceIdentity",
                               "Condition": {"StringEquals": {"sts:SourceIdentity": "bob"}}})
        _, arn = self.create_role(t)
        self.assert_error(self.assume(arn, ext, SourceIdentity="alice"), 403, "AccessDenied",
                          "sts:SetSourceIdentity")
        self.assertEqual(self.assume(arn, ext, SourceIdentity="bob").status, 200)

    def test_source_identity_limits(self):
        ext = str(uuid.uuid4())
        _, arn = self.create_role(self.trust_with_source_identity(ext))
        self.assertEqual(self.assume(arn, ext, SourceIdentity="a+=,.@-_9").status, 200)
        self.assertEqual(self.assume(arn, ext, SourceIdentity="a" * 64).status, 200)
        for bad, what in (("a", "greater than or equal to 2"), ("a" * 65, "less than or equal to 64"),
                          ("a b", "regular expression pattern"), ("aws:x", "aws:")):
            with self.subTest(source=bad):
                r = self.assume(arn, ext, SourceIdentity=bad)
                self.assert_error(r, 400, "ValidationError", what)

    def test_source_identity_pattern_is_ascii_and_whole(self):
        ext = str(uuid.uuid4())
        _, arn = self.create_role(self.trust_with_source_identity(ext))
        for bad in ("alice\n", "jos\u00e9"):
            with self.subTest(source=bad):
                r = self.assume(arn, ext, SourceIdentity=bad)
                self.assert_error(r, 400, "ValidationError", "regular expression pattern")
                self.assertIn("sourceIdentity", r.error_message())

    def test_chained_sessions_keep_the_source_identity(self):
        ext = str(uuid.uuid4())
        _, first = self.create_role(self.trust_with_source_identity(ext))
        keys = self.creds_of(self.assume(first, ext, SourceIdentity="alice"))
        t = self.trust(principal="arn:aws:iam::%s:root" % self.customer_id)
        t["Statement"][0]["Action"] = ["sts:AssumeRole", "sts:SetSourceIdentity"]
        _, second = self.create_role(t)
        self.assert_error(self.assume(second, creds=keys, SourceIdentity="mallory"), 403,
                          "AccessDenied", "source identity")
        # The next role must allow sts:SetSourceIdentity too.
        _, closed = self.create_role(self.trust(principal="arn:aws:iam::%s:root" % self.customer_id))
        self.assert_error(self.assume(closed, creds=keys), 403, "AccessDenied",
                          "sts:SetSourceIdentity")
        r = self.assume(second, creds=keys)
        self.assertEqual(r.status, 200, r.text())
        akid = self.creds_of(r)[0]
        _, doc = self.fa.control("GET", "/_fake/sts/issued-credentials?access_key_id=" + akid)
        self.assertEqual(doc["credentials"][0]["source_identity"], "alice")


class WebIdentityTest(Base):
    def web(self, params):
        p = dict({"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15"}, **params)
        # Unsigned, as the SDKs send it.
        return self.fa.request("POST", "/", urllib.parse.urlencode(p).encode(), FORM)

    def test_registered_token(self):
        st = {"Effect": "Allow",
              "Principal": {"Federated": "arn:aws:iam::%s:oidc-provider/oidc.example.com" % self.customer_id},
              "Action": "sts:AssumeRoleWithWebIdentity"}
        name, arn = self.create_role({"Version": "2012-10-17", "Statement": [st]})
        token = "eyJ" + uuid.uuid4().hex
        st, _ = self.fa.control("POST", "/_fake/sts/web-identity-tokens",
                                {"token": token, "role_arn": arn, "subject": "system:serviceaccount:x:y"})
        self.assertEqual(st, 200)
        r = self.web({"RoleArn": arn, "RoleSessionName": "pod-1", "WebIdentityToken": token})
        self.assertEqual(r.status, 200, r.text())
        res = r.xml().find(STS_NS + "AssumeRoleWithWebIdentityResult")
        self.assertEqual(res.find(STS_NS + "SubjectFromWebIdentityToken").text, "system:serviceaccount:x:y")
        akid = res.find(STS_NS + "Credentials/" + STS_NS + "AccessKeyId").text
        self.assertTrue(akid.startswith("ASIA"))
        self.assertEqual(res.find(STS_NS + "AssumedRoleUser/" + STS_NS + "Arn").text,
                         "arn:aws:sts::%s:assumed-role/%s/pod-1" % (self.customer_id, name))

        r = self.web({"RoleArn": arn, "RoleSessionName": "pod-1", "WebIdentityToken": "eyJunknown"})
        self.assert_error(r, 400, "InvalidIdentityToken")

        _, other = self.create_role(self.trust())
        r = self.web({"RoleArn": other, "RoleSessionName": "pod-1", "WebIdentityToken": token})
        self.assert_error(r, 403, "AccessDenied")

        r = self.web({"RoleArn": arn, "RoleSessionName": "pod-1"})
        self.assert_error(r, 400, "ValidationError", "webIdentityToken")
        r = self.web({"RoleArn": arn, "RoleSessionName": "p", "WebIdentityToken": token})
        self.assert_error(r, 400, "ValidationError", "roleSessionName")

    def test_expired_token(self):
        _, arn = self.create_role(self.trust())
        token = "eyJ" + uuid.uuid4().hex
        self.fa.control("POST", "/_fake/sts/web-identity-tokens",
                        {"token": token, "role_arn": arn, "expires_in": 0})
        r = self.web({"RoleArn": arn, "RoleSessionName": "pod-1", "WebIdentityToken": token})
        self.assert_error(r, 400, "ExpiredTokenException")


if __name__ == "__main__":
    unittest.main()
