"""STS: AssumeRole, AssumeRoleWithWebIdentity, GetCallerIdentity.

Query protocol, Version 2011-06-15, any region (regional endpoints).

AssumeRole reads the role as IAM's propagation lets STS see it (see iam.py):
a role created or changed less than `propagation_seconds` ago is still
missing / still has its old trust policy here.  The trust policy is evaluated
(policy.evaluate) for the caller with action sts:AssumeRole and the context
keys sts:ExternalId (only when the request carried an ExternalId),
aws:PrincipalAccount and aws:PrincipalArn.  A missing role and a denied
caller give the same 403 AccessDenied, as AWS does.

Every AssumeRole is recorded (world.record("sts.assume_role", ...)) with
role_arn, caller, external_id_present, external_id_matched (None when the
trust policy has no sts:ExternalId condition), role_visible, outcome
("Allow" or the error code) and duration; read them with
GET /_fake/sts/assume-role-calls (or GET /_fake/records?kind=sts.assume_role).
That list is a ring of the latest calls; for tests that count calls over
many roles and minutes, every AssumeRole (allowed or not) is also counted
per role ARN and per external ID:
    GET    /_fake/sts/assume-role-counts[?role_arn=ARN]
           {"roles": {ARN: {"total", "allowed", "without_external_id",
                            "external_ids": {ID: n}}}}
    DELETE /_fake/sts/assume-role-counts          (start counting afresh)
The credentials AssumeRole issued are listed, latest 10000, for tests that
search logs and stores for them and that check who a session names: each
with role_arn, access_key_id, secret_access_key, session_token,
session_name, source_identity (None when the request set none),
assumed_role_arn, duration and expiration (ISO 8601):
    GET    /_fake/sts/issued-credentials[?access_key_id=AKID]

SourceIdentity (AssumeRole) is validated as AWS does (2..64 characters of
[\w+=,.@-], never starting with "aws:") and needs the trust policy to allow
sts:SetSourceIdentity for the caller as well (the same conditions apply,
with sts:SourceIdentity in the context); otherwise AccessDenied.  A session
that carries a source identity passes it on to the roles it assumes (role
chaining), and a chained request may not name another one.
DurationSeconds is 900..43200 and at most the role's MaxSessionDuration
(default 3600); the issued credentials expire after it.

AssumeRoleWithWebIdentity is unsigned.  A token is valid only when it was
registered through the control API:
    POST /_fake/sts/web-identity-tokens
         {"token", "role_arn", "subject"?, "audience"?, "provider"?,
          "expires_in"? (seconds)}
and is used for the role it was registered for (any other role: AccessDenied);
the role must exist (as STS sees it).  An unknown token is
InvalidIdentityToken, an expired one ExpiredTokenException.
    GET  /_fake/sts/web-identity-calls
"""

import collections
import re
import time
import urllib.parse

from . import core
from . import policy as policy_mod

NS = core.XMLNS["sts"]
VERSION = "2011-06-15"

# AWS's patterns are Java regular expressions: \w and \d are ASCII there, and
# the whole value must match (Python's $ would also pass a trailing newline).
_SESSION_RE = re.compile(r"[\w+=,.@-]*", re.ASCII)
_SOURCE_IDENTITY_RE = re.compile(r"[\w+=,.@-]*", re.ASCII)
_EXTERNAL_ID_RE = re.compile(r"[\w+=,.@:/-]*", re.ASCII)
_ROLE_ARN_RE = re.compile(r"^arn:aws:iam::(\d{12}):role(/|/[\x21-\x7e]+/)([\w+=,.@-]{1,64})\Z",
                          re.ASCII)
_INTEGER_RE = re.compile(r"-?[0-9]+")


class StsError(Exception):
    def __init__(self, code, message, status=400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def _validation_errors(errors):
    n = len(errors)
    return StsError("ValidationError", "%d validation error%s detected: %s" % (
        n, "" if n == 1 else "s", "; ".join(errors)))


def _check_str(errors, field, value, lo, hi, pattern=None, pattern_text=None,
               required=True):
    if value is None:
        if required:
            errors.append("Value null at '%s' failed to satisfy constraint: "
                          "Member must not be null" % field)
        return
    if len(value) < lo:
        errors.append("Value '%s' at '%s' failed to satisfy constraint: Member "
                      "must have length greater than or equal to %d"
                      % (value, field, lo))
    elif len(value) > hi:
        errors.append("Value '%s' at '%s' failed to satisfy constraint: Member "
                      "must have length less than or equal to %d"
                      % (value, field, hi))
    elif pattern is not None and not pattern.fullmatch(value):
        errors.append("Value '%s' at '%s' failed to satisfy constraint: Member "
                      "must satisfy regular expression pattern: %s"
                      % (value, field, pattern_text))


def _check_duration(errors, value):
    if value is None:
        return None
    if not _INTEGER_RE.fullmatch(value):
        raise StsError("ValidationError", "Value '%s' for parameter "
                       "DurationSeconds is invalid. Must be a number." % value)
    d = int(value)
    if d < 900:
        errors.append("Value '%d' at 'durationSeconds' failed to satisfy "
                      "constraint: Member must have value greater than or "
                      "equal to 900" % d)
    elif d > 43200:
        errors.append("Value '%d' at 'durationSeconds' failed to satisfy "
                      "constraint: Member must have value less than or equal "
                      "to 43200" % d)
    return d


def expected_external_ids(trust_policy):
    """The values an Allow statement's sts:ExternalId condition accepts
    (StringEquals / StringLike), or None when no statement has one."""
    found = None
    sts = trust_policy.get("Statement", [])
    for st in sts if isinstance(sts, list) else [sts]:
        if not isinstance(st, dict) or st.get("Effect") != "Allow":
            continue
        for op, block in (st.get("Condition") or {}).items():
            if not isinstance(block, dict):
                continue
            for key, vals in block.items():
                if key.lower() == "sts:externalid" and \
                        op.split(":")[-1].replace("IfExists", "") in ("StringEquals", "StringLike"):
                    found = found or []
                    found.extend((op, v) for v in (vals if isinstance(vals, list) else [vals]))
    return found


class Service:
    name = "sts"

    def __init__(self, world):
        self.world = world
        self.web_tokens = {}   # token -> dict
        self.user_ids = {}     # access key id -> AssumedRoleId
        self.source_ids = {}   # access key id -> SourceIdentity of its session
        self.counts = {}       # role ARN -> {"total", "allowed", ...}
        self.issued = collections.deque(maxlen=10000)

    def _count(self, role_arn, external_id, allowed):
        c = self.counts.setdefault(role_arn, {"total": 0, "allowed": 0,
                                              "without_external_id": 0,
                                              "external_ids": {}})
        c["total"] += 1
        if allowed:
            c["allowed"] += 1
        if external_id is None:
            c["without_external_id"] += 1
        else:
            ids = c["external_ids"]
            ids[external_id] = ids.get(external_id, 0) + 1

    def _iam(self):
        return self.world.services["iam"]

    # ---------------------------------------------------------- protocol
    def _ok(self, action, result_xml):
        rid = core.new_request_id()
        body = ('<%sResponse xmlns="%s">\n  <%sResult>\n%s  </%sResult>\n'
                '  <ResponseMetadata>\n    <RequestId>%s</RequestId>\n'
                '  </ResponseMetadata>\n</%sResponse>\n'
                % (action, NS, action, result_xml, action, rid, action))
        return core.xml_response(body, headers={"x-amzn-RequestId": rid})

    def _err(self, code, message, status=400):
        return core.aws_query_error(code, message, status, sender=status < 500,
                                    xmlns=NS)

    def _check_version(self, p):
        action = p.get("Action")
        if not action:
            raise StsError("MissingAction", "Missing Action")
        if p.get("Version") != VERSION:
            raise StsError("InvalidAction", "Could not find operation %s for "
                           "version %s" % (action, p.get("Version") or "NONE"))
        return action

    def accepts_unsigned(self, req):
        if req.method not in ("POST", "GET"):
            return False
        try:
            p = req.params()
        except Exception:
            return False
        return p.get("Action") == "AssumeRoleWithWebIdentity"

    async def handle(self, req):
        p = req.params()
        try:
            action = self._check_version(p)
            if req.identity is None:
                if action == "AssumeRoleWithWebIdentity":
                    return self._web_identity(req, p)
                raise StsError("MissingAuthenticationToken",
                               "Request is missing Authentication Token", 403)
            if action == "AssumeRole":
                return self._assume_role(req, p)
            if action == "GetCallerIdentity":
                return self._caller_identity(req)
            if action == "AssumeRoleWithWebIdentity":
                return self._web_identity(req, p)
            raise StsError("InvalidAction", "Could not find operation %s for "
                           "version %s" % (action, VERSION))
        except StsError as e:
            return self._err(e.code, e.message, e.status)

    def _credentials_xml(self, c):
        return ("    <Credentials>\n"
                "      <AccessKeyId>%s</AccessKeyId>\n"
                "      <SecretAccessKey>%s</SecretAccessKey>\n"
                "      <SessionToken>%s</SessionToken>\n"
                "      <Expiration>%s</Expiration>\n"
                "    </Credentials>\n" % (
                    c.access_key_id, core.xml_escape(c.secret_access_key),
                    core.xml_escape(c.session_token), c.expiration_iso()))

    def _issue(self, role, session_name, duration):
        arn = "arn:aws:sts::%s:assumed-role/%s/%s" % (
            role["account_id"], role["name"], session_name)
        c = self.world.issue_temporary(role["account_id"], arn, duration)
        assumed_id = "%s:%s" % (role["role_id"], session_name)
        self.user_ids[c.access_key_id] = assumed_id
        user_xml = ("    <AssumedRoleUser>\n"
                    "      <AssumedRoleId>%s</AssumedRoleId>\n"
                    "      <Arn>%s</Arn>\n"
                    "    </AssumedRoleUser>\n" % (
                        core.xml_escape(assumed_id), core.xml_escape(arn)))
        return c, user_xml

    def _assume_role(self, req, p):
        errors = []
        role_arn = p.get("RoleArn")
        _check_str(errors, "roleArn", role_arn, 20, 2048)
        session = p.get("RoleSessionName")
        _check_str(errors, "roleSessionName", session, 2, 64, _SESSION_RE,
                   "[\\w+=,.@-]*")
        ext = p.get("ExternalId")
        _check_str(errors, "externalId", ext, 2, 1224, _EXTERNAL_ID_RE,
                   "[\\w+=,.@:\\/-]*", required=False)
        source = p.get("SourceIdentity")
        _check_str(errors, "sourceIdentity", source, 2, 64, _SOURCE_IDENTITY_RE,
                   "[\\w+=,.@-]*", required=False)
        duration = _check_duration(errors, p.get("DurationSeconds"))
        if errors:
            raise _validation_errors(errors)
        if source is not None and source.lower().startswith("aws:"):
            raise StsError("ValidationError", "SourceIdentity cannot begin with "
                           "the reserved prefix 'aws:'")
        m = _ROLE_ARN_RE.match(role_arn)
        if not m:
            raise StsError("ValidationError", "%s is invalid" % role_arn)
        try:
            return self._assume_role_checked(req, m, role_arn, session, ext,
                                             duration, source)
        except StsError:
            self._count(role_arn, ext, False)
            raise

    def _assume_role_checked(self, req, m, role_arn, session, ext, duration,
                             source=None):
        ident = req.identity
        # A source identity, once set, stays with every session chained
        # from it and cannot be replaced.
        inherited = self.source_ids.get(ident.access_key_id)
        rec = {"role_arn": role_arn, "caller": ident.arn,
               "caller_account": ident.account_id,
               "external_id_present": ext is not None,
               "external_id_matched": None, "role_visible": False,
               "session_name": session, "duration": duration,
               "source_identity": source}
        if inherited is not None and source is not None and source != inherited:
            self.world.record("sts.assume_role", outcome="AccessDenied", **rec)
            raise StsError("AccessDenied", "User: %s is not authorized to "
                           "perform: sts:SetSourceIdentity on resource: %s: the "
                           "session's source identity cannot be changed"
                           % (ident.arn, role_arn), 403)
        denied = StsError("AccessDenied", "User: %s is not authorized to "
                          "perform: sts:AssumeRole on resource: %s"
                          % (ident.arn, role_arn), 403)
        role = self._iam().sts_view(m.group(1), m.group(3))
        if role is None or role["path"] != m.group(2):
            self.world.record("sts.assume_role", outcome="AccessDenied", **rec)
            raise denied
        rec["role_visible"] = True
        trust = role["trust_policy"]
        expected = expected_external_ids(trust)
        if expected is not None:
            rec["external_id_matched"] = ext is not None and any(
                (policy_mod.glob_match(v, ext) if "StringLike" in op else v == ext)
                for op, v in expected)
        context = {}
        if ext is not None:
            context["sts:ExternalId"] = ext
        context["aws:PrincipalAccount"] = ident.account_id
        verdict = policy_mod.evaluate(
            trust, principal_account=ident.account_id, principal_arn=ident.arn,
            action="sts:AssumeRole", resource=role["arn"], context=context)
        if verdict != policy_mod.ALLOW:
            self.world.record("sts.assume_role", outcome="AccessDenied", **rec)
            raise denied
        if source is None:
            source = inherited
        if source is not None:
            # AWS evaluates sts:SetSourceIdentity as a second action of the
            # same request against the same trust policy, also when the
            # identity comes from the calling session (role chaining).
            context["sts:SourceIdentity"] = source
            verdict = policy_mod.evaluate(
                trust, principal_account=ident.account_id,
                principal_arn=ident.arn, action="sts:SetSourceIdentity",
                resource=role["arn"], context=context)
            if verdict != policy_mod.ALLOW:
                self.world.record("sts.assume_role", outcome="AccessDenied", **rec)
                raise StsError("AccessDenied", "User: %s is not authorized to "
                               "perform: sts:SetSourceIdentity on resource: %s"
                               % (ident.arn, role_arn), 403)
        if duration is None:
            duration = 3600
        chained = ident.temporary and ":assumed-role/" in ident.arn
        if chained and duration > 3600:
            self.world.record("sts.assume_role", outcome="ValidationError", **rec)
            raise StsError("ValidationError", "The requested DurationSeconds "
                           "exceeds the 1 hour session limit for roles "
                           "assumed by role chaining.")
        if duration > role["max_session_duration"]:
            self.world.record("sts.assume_role", outcome="ValidationError", **rec)
            raise StsError("ValidationError", "The requested DurationSeconds "
                           "exceeds the MaxSessionDuration set for this role.")
        c, user_xml = self._issue(role, session, duration)
        c.chained = chained
        if source is not None:
            self.source_ids[c.access_key_id] = source
            user_xml += "    <SourceIdentity>%s</SourceIdentity>\n" % core.xml_escape(source)
        self.world.record("sts.assume_role", outcome="Allow",
                          access_key_id=c.access_key_id, **rec)
        self._count(role_arn, ext, True)
        self.issued.append({"role_arn": role_arn,
                            "access_key_id": c.access_key_id,
                            "secret_access_key": c.secret_access_key,
                            "session_token": c.session_token,
                            "session_name": session,
                            "source_identity": source,
                            "assumed_role_arn": c.arn,
                            "duration": duration,
                            "expiration": c.expiration_iso()})
        return self._ok("AssumeRole", user_xml + self._credentials_xml(c))

    def _web_identity(self, req, p):
        errors = []
        role_arn = p.get("RoleArn")
        _check_str(errors, "roleArn", role_arn, 20, 2048)
        session = p.get("RoleSessionName")
        _check_str(errors, "roleSessionName", session, 2, 64, _SESSION_RE,
                   "[\\w+=,.@-]*")
        token = p.get("WebIdentityToken")
        if token is None:
            errors.append("Value null at 'webIdentityToken' failed to satisfy "
                          "constraint: Member must not be null")
        elif len(token) < 4:
            errors.append("Value '%s' at 'webIdentityToken' failed to satisfy "
                          "constraint: Member must have length greater than "
                          "or equal to 4" % token)
        elif len(token) > 20000:
            errors.append("Value at 'webIdentityToken' failed to satisfy "
                          "constraint: Member must have length less than or "
                          "equal to 20000")
        provider_id = p.get("ProviderId")
        _check_str(errors, "providerId", provider_id, 4, 2048, required=False)
        duration = _check_duration(errors, p.get("DurationSeconds"))
        if errors:
            raise _validation_errors(errors)
        if not _ROLE_ARN_RE.match(role_arn):
            raise StsError("ValidationError", "%s is invalid" % role_arn)
        rec = {"role_arn": role_arn, "session_name": session}
        t = self.web_tokens.get(token)
        if t is None:
            self.world.record("sts.web_identity", outcome="InvalidIdentityToken", **rec)
            raise StsError("InvalidIdentityToken", "The web identity token "
                           "that was passed could not be validated by AWS. "
                           "Get a new identity token from the identity "
                           "provider and then retry the request.")
        if t["expires"] is not None and time.time() >= t["expires"]:
            self.world.record("sts.web_identity", outcome="ExpiredTokenException", **rec)
            raise StsError("ExpiredTokenException", "Token expired: current "
                           "date/time %s must be before the expiration "
                           "date/time %s" % (core.iso8601(time.time()),
                                             core.iso8601(t["expires"])))
        m = _ROLE_ARN_RE.match(role_arn)
        role = self._iam().sts_view(m.group(1), m.group(3))
        if t["role_arn"] != role_arn or role is None or role["path"] != m.group(2):
            self.world.record("sts.web_identity", outcome="AccessDenied", **rec)
            raise StsError("AccessDenied", "Not authorized to perform "
                           "sts:AssumeRoleWithWebIdentity", 403)
        if duration is None:
            duration = 3600
        if duration > role["max_session_duration"]:
            raise StsError("ValidationError", "The requested DurationSeconds "
                           "exceeds the MaxSessionDuration set for this role.")
        c, user_xml = self._issue(role, session, duration)
        self.world.record("sts.web_identity", outcome="Allow",
                          access_key_id=c.access_key_id, **rec)
        result = ("    <SubjectFromWebIdentityToken>%s</SubjectFromWebIdentityToken>\n"
                  "    <Audience>%s</Audience>\n" % (
                      core.xml_escape(t["subject"]), core.xml_escape(t["audience"])))
        result += user_xml + self._credentials_xml(c)
        result += "    <Provider>%s</Provider>\n" % core.xml_escape(t["provider"])
        return self._ok("AssumeRoleWithWebIdentity", result)

    def _caller_identity(self, req):
        ident = req.identity
        uid = self.user_ids.get(ident.access_key_id)
        if uid is None:
            if ident.arn.endswith(":root"):
                uid = ident.account_id
            else:
                uid = "AIDA" + ident.access_key_id[4:].ljust(17, "X")[:17]
        result = ("    <Arn>%s</Arn>\n    <UserId>%s</UserId>\n"
                  "    <Account>%s</Account>\n" % (
                      core.xml_escape(ident.arn), core.xml_escape(uid),
                      ident.account_id))
        return self._ok("GetCallerIdentity", result)

    # ----------------------------------------------------------- control
    async def control(self, req, subpath):
        sub = subpath.strip("/")
        if sub == "web-identity-tokens" and req.method == "POST":
            try:
                b = req.json()
            except ValueError:
                b = None
            if not isinstance(b, dict) or not isinstance(b.get("token"), str) \
                    or not isinstance(b.get("role_arn"), str):
                return core.json_response(
                    {"error": "BadRequest",
                     "message": "token and role_arn are required"}, 400,
                    content_type="application/json")
            exp = b.get("expires_in")
            self.web_tokens[b["token"]] = {
                "role_arn": b["role_arn"],
                "subject": b.get("subject", "system:serviceaccount:default:xacct"),
                "audience": b.get("audience", "sts.amazonaws.com"),
                "provider": b.get("provider", "arn:aws:iam::%s:oidc-provider/"
                                  "oidc.example.com" % self.world.partner_account),
                "expires": time.time() + float(exp) if exp is not None else None,
            }
            return core.json_response({"ok": True}, content_type="application/json")
        if sub == "assume-role-calls" and req.method == "GET":
            return core.json_response(
                {"calls": self.world.records("sts.assume_role")},
                content_type="application/json")
        if sub == "assume-role-counts" and req.method == "GET":
            q = dict(urllib.parse.parse_qsl(req.query))
            roles = self.counts
            if "role_arn" in q:
                roles = {k: v for k, v in roles.items() if k == q["role_arn"]}
            return core.json_response({"roles": roles},
                                      content_type="application/json")
        if sub == "assume-role-counts" and req.method == "DELETE":
            self.counts = {}
            return core.json_response({"ok": True}, content_type="application/json")
        if sub == "issued-credentials" and req.method == "GET":
            q = dict(urllib.parse.parse_qsl(req.query))
            issued = [c for c in self.issued
                      if "access_key_id" not in q or c["access_key_id"] == q["access_key_id"]]
            return core.json_response({"credentials": issued},
                                      content_type="application/json")
        if sub == "web-identity-calls" and req.method == "GET":
            return core.json_response(
                {"calls": self.world.records("sts.web_identity")},
                content_type="application/json")
        return core.json_response({"error": "NotFound", "message": subpath},
                                  404, content_type="application/json")
