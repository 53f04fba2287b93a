"""IAM: roles and their trust policies, with eventual consistency.

Query protocol, Version 2010-05-08, signed for region us-east-1, service iam.
Actions: CreateRole, GetRole, UpdateAssumeRolePolicy, DeleteRole,
PutRolePolicy, GetRolePolicy, DeleteRolePolicy, ListRolePolicies,
AttachRolePolicy, DetachRolePolicy (inline and managed policies are stored,
never enforced).

Eventual consistency: every change to a role (creation, trust policy update,
deletion) becomes visible to STS only `propagation_seconds` after it was
made (0 by default); until then STS keeps seeing the previous state, like
real IAM.  The IAM API itself answers from the current state.

Control API (/_fake/iam/...):
    POST   config        {"propagation_seconds": N}  -> current config
    GET    config
    GET    roles         every role (current state)
    POST   roles         {"account_id", "role_name", "trust_policy", "path"?}
    GET    roles/<account>/<name>
    PUT    roles/<account>/<name>/trust-policy   {"trust_policy": {...}}
    DELETE roles/<account>/<name>

A trust-policy change and a deletion through the control API are what a
customer does in the IAM console after onboarding (loosening the trust, or
removing the role); they propagate to STS with the same delay as creation.

Python interface (used by the CloudFormation simulator):
    create_role(account_id, name, trust_policy, path="/", description=None,
                max_session_duration=3600, policies=None,
                managed_policy_arns=None) -> role dict
    update_trust(account_id, name, trust_policy)
    put_role_policy(account_id, name, policy_name, document)
    delete_role(account_id, name, force=False)
    get_role(account_id, name) -> dict | None            (IAM's view)
    sts_view(account_id, name) -> dict | None             (what STS sees)
IamError(code, message, status) is raised by these on failure.
"""

import json
import re
import secrets
import string
import time
import urllib.parse

from . import core
from . import policy as policy_mod

NS = core.XMLNS["iam"]
VERSION = "2010-05-08"

# Java patterns: ASCII \w and \d, and no newline before the end ($ in Python).
_NAME_RE = re.compile(r"^[\w+=,.@-]+\Z", re.ASCII)
_POLICY_NAME_RE = re.compile(r"^[\w+=,.@-]+\Z", re.ASCII)
_PATH_RE = re.compile(r"^(/|/[\x21-\x7e]+/)\Z")
_MANAGED_ARN_RE = re.compile(r"^arn:aws:iam::(aws|\d{12}):policy/.+\Z", re.ASCII)
TRUST_POLICY_MAX = 2048       # default quota, characters without whitespace
INLINE_POLICY_MAX = 10240     # aggregate inline policy size per role
MANAGED_POLICIES_MAX = 10     # attached managed policies per role


class IamError(Exception):
    def __init__(self, code, message, status=400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def _role_id():
    alphabet = string.ascii_uppercase + string.digits
    return "AROA" + "".join(secrets.choice(alphabet) for _ in range(17))


def _validation(field, value, constraint):
    return IamError("ValidationError",
                    "1 validation error detected: Value '%s' at '%s' failed to "
                    "satisfy constraint: %s" % (value, field, constraint))


def _check_role_name(name, field="roleName"):
    if name is None or name == "":
        if name is None:
            raise IamError("ValidationError",
                           "1 validation error detected: Value null at '%s' "
                           "failed to satisfy constraint: Member must not be "
                           "null" % field)
        raise _validation(field, name, "Member must have length greater than "
                          "or equal to 1")
    if len(name) > 64:
        raise _validation(field, name, "Member must have length less than or "
                          "equal to 64")
    if not _NAME_RE.match(name):
        raise _validation(field, name, "Member must satisfy regular "
                          "expression pattern: [\\w+=,.@-]+")


def _minified_len(doc_text):
    return len(re.sub(r"\s+", "", doc_text))


def parse_trust_policy(text):
    """Validate a trust policy document (JSON text or dict); returns
    (dict, canonical JSON text).  Raises IamError MalformedPolicyDocument."""
    if isinstance(text, dict):
        text = json.dumps(text)
    if not isinstance(text, str) or text == "":
        raise IamError("ValidationError",
                       "1 validation error detected: Value null at "
                       "'assumeRolePolicyDocument' failed to satisfy "
                       "constraint: Member must not be null")
    if _minified_len(text) > TRUST_POLICY_MAX:
        raise IamError("LimitExceeded",
                       "Cannot exceed quota for ACLSizePerRole: %d"
                       % TRUST_POLICY_MAX, 409)
    try:
        doc = policy_mod.validate(text, "trust")
    except policy_mod.MalformedPolicy as e:
        raise IamError("MalformedPolicyDocument", str(e))
    statements = doc["Statement"]
    if not isinstance(statements, list):
        statements = [statements]
    for st in statements:
        actions = st.get("Action", st.get("NotAction"))
        for a in actions if isinstance(actions, list) else [actions]:
            if not (a == "*" or a.lower().startswith("sts:")):
                raise IamError("MalformedPolicyDocument",
                               "AssumeRole policy may only specify STS "
                               "AssumeRole actions.")
    return doc, text


def _role_arn(account_id, path, name):
    return "arn:aws:iam::%s:role%s%s" % (account_id, path, name)


class Service:
    name = "iam"

    def __init__(self, world):
        self.world = world
        self.propagation_seconds = 0.0
        # (account, lower(name)) -> role dict (current state)
        self.roles = {}
        # (account, lower(name)) -> [(visible_at, snapshot or None)], oldest first
        self._history = {}

    # ------------------------------------------------------------- state
    def _key(self, account_id, name):
        return (account_id, name.lower())

    def _snapshot(self, role):
        if role is None:
            return None
        return {
            "account_id": role["account_id"], "name": role["name"],
            "path": role["path"], "arn": role["arn"], "role_id": role["role_id"],
            "trust_policy": role["trust_policy"],
            "max_session_duration": role["max_session_duration"],
        }

    def _changed(self, key, role):
        """Record a new state of a role; STS sees it after the delay."""
        now = time.time()
        hist = self._history.setdefault(key, [])
        # Drop versions that every reader already sees past.
        while len(hist) > 1 and hist[1][0] <= now:
            hist.pop(0)
        hist.append((now + self.propagation_seconds, self._snapshot(role)))

    def sts_view(self, account_id, name):
        """The role as STS sees it now (None: not visible)."""
        hist = self._history.get(self._key(account_id, name))
        if not hist:
            return None
        now = time.time()
        seen = None
        for visible_at, snap in hist:
            if visible_at <= now:
                seen = snap
            else:
                break
        return seen

    def get_role(self, account_id, name):
        return self.roles.get(self._key(account_id, name))

    def find_role_by_arn(self, arn):
        m = re.match(r"^arn:aws:iam::(\d{12}):role(/.*/|/)([^/]+)\Z", arn or "", re.ASCII)
        if not m:
            return None
        role = self.get_role(m.group(1), m.group(3))
        if role and role["path"] == m.group(2):
            return role
        return None

    # --------------------------------------------------------- operations
    def create_role(self, account_id, name, trust_policy, path="/",
                    description=None, max_session_duration=3600,
                    policies=None, managed_policy_arns=None, tags=None):
        _check_role_name(name)
        if path is None or path == "":
            path = "/"
        if len(path) > 512 or not _PATH_RE.match(path):
            raise _validation("path", path, "Member must satisfy regular "
                              "expression pattern: (\\u002F)|(\\u002F[\\u0021-"
                              "\\u007E]+\\u002F)")
        if description is not None and len(description) > 1000:
            raise _validation("description", description, "Member must have "
                              "length less than or equal to 1000")
        try:
            msd = int(max_session_duration)
        except (TypeError, ValueError):
            raise _validation("maxSessionDuration", max_session_duration,
                              "Member must be a number")
        if msd < 3600 or msd > 43200:
            raise _validation("maxSessionDuration", msd, "Member must have "
                              "value %s" % ("greater than or equal to 3600"
                                            if msd < 3600 else
                                            "less than or equal to 43200"))
        doc, text = parse_trust_policy(trust_policy)
        key = self._key(account_id, name)
        if key in self.roles:
            raise IamError("EntityAlreadyExists",
                           "Role with name %s already exists." % name, 409)
        for arn in managed_policy_arns or []:
            if not isinstance(arn, str) or not _MANAGED_ARN_RE.match(arn):
                raise IamError("InvalidInput", "ARN %s is not valid." % arn)
        if managed_policy_arns and len(managed_policy_arns) > MANAGED_POLICIES_MAX:
            raise IamError("LimitExceeded", "Cannot exceed quota for "
                           "PoliciesPerRole: %d" % MANAGED_POLICIES_MAX, 409)
        role = {
            "account_id": account_id, "name": name, "path": path,
            "arn": _role_arn(account_id, path, name), "role_id": _role_id(),
            "trust_policy": doc, "trust_policy_text": text,
            "description": description, "max_session_duration": msd,
            "created": time.time(), "inline_policies": {},
            "managed_policy_arns": [], "tags": list(tags or []),
        }
        self.roles[key] = role
        self._changed(key, role)
        for pname, pdoc in (policies or {}).items():
            self.put_role_policy(account_id, name, pname, pdoc)
        for arn in managed_policy_arns or []:
            self.attach_role_policy(account_id, name, arn)
        self.world.record("iam.create_role", account_id=account_id,
                          role_name=name, arn=role["arn"])
        return role

    def _must(self, account_id, name):
        _check_role_name(name)
        role = self.get_role(account_id, name)
        if role is None:
            raise IamError("NoSuchEntity", "The role with name %s cannot be "
                           "found." % name, 404)
        return role

    def update_trust(self, account_id, name, trust_policy):
        role = self._must(account_id, name)
        doc, text = parse_trust_policy(trust_policy)
        role["trust_policy"] = doc
        role["trust_policy_text"] = text
        self._changed(self._key(account_id, name), role)
        self.world.record("iam.update_trust", account_id=account_id,
                          role_name=role["name"], arn=role["arn"])
        return role

    def put_role_policy(self, account_id, name, policy_name, document):
        role = self._must(account_id, name)
        if not policy_name:
            raise IamError("ValidationError", "1 validation error detected: "
                           "Value null at 'policyName' failed to satisfy "
                           "constraint: Member must not be null")
        if len(policy_name) > 128 or not _POLICY_NAME_RE.match(policy_name):
            raise _validation("policyName", policy_name, "Member must satisfy "
                              "regular expression pattern: [\\w+=,.@-]+")
        text = json.dumps(document) if isinstance(document, (dict, list)) else document
        if not isinstance(text, str) or not text:
            raise IamError("ValidationError", "1 validation error detected: "
                           "Value null at 'policyDocument' failed to satisfy "
                           "constraint: Member must not be null")
        try:
            parsed = json.loads(text)
        except ValueError:
            raise IamError("MalformedPolicyDocument",
                           "This policy contains invalid Json")
        if not isinstance(parsed, dict) or "Statement" not in parsed:
            raise IamError("MalformedPolicyDocument", "Syntax errors in policy.")
        sts = parsed["Statement"] if isinstance(parsed["Statement"], list) else [parsed["Statement"]]
        for st in sts:
            if not isinstance(st, dict) or st.get("Effect") not in ("Allow", "Deny"):
                raise IamError("MalformedPolicyDocument", "Syntax errors in policy.")
            if "Principal" in st or "NotPrincipal" in st:
                raise IamError("MalformedPolicyDocument",
                               "Policy document should not specify a principal.")
            if ("Action" in st) == ("NotAction" in st):
                raise IamError("MalformedPolicyDocument",
                               "Policy statement must contain actions.")
            if ("Resource" in st) == ("NotResource" in st):
                raise IamError("MalformedPolicyDocument",
                               "Policy statement must contain resources.")
        total = sum(_minified_len(t) for n, t in role["inline_policies"].items()
                    if n != policy_name) + _minified_len(text)
        if total > INLINE_POLICY_MAX:
            raise IamError("LimitExceeded", "Maximum policy size of %d bytes "
                           "exceeded for role %s" % (INLINE_POLICY_MAX,
                                                      role["name"]), 409)
        role["inline_policies"][policy_name] = text

    def delete_role_policy(self, account_id, name, policy_name):
        role = self._must(account_id, name)
        if policy_name not in role["inline_policies"]:
            raise IamError("NoSuchEntity", "The role policy with name %s "
                           "cannot be found." % policy_name, 404)
        del role["inline_policies"][policy_name]

    def attach_role_policy(self, account_id, name, arn):
        role = self._must(account_id, name)
        if not isinstance(arn, str) or not _MANAGED_ARN_RE.match(arn):
            raise IamError("InvalidInput", "ARN %s is not valid." % arn)
        if arn not in role["managed_policy_arns"]:
            if len(role["managed_policy_arns"]) >= MANAGED_POLICIES_MAX:
                raise IamError("LimitExceeded", "Cannot exceed quota for "
                               "PoliciesPerRole: %d" % MANAGED_POLICIES_MAX, 409)
            role["managed_policy_arns"].append(arn)

    def detach_role_policy(self, account_id, name, arn):
        role = self._must(account_id, name)
        if arn not in role["managed_policy_arns"]:
            raise IamError("NoSuchEntity", "Policy %s was not found." % arn, 404)
        role["managed_policy_arns"].remove(arn)

    def delete_role(self, account_id, name, force=False):
        """Delete a role.  Like IAM, a role with inline or attached policies
        cannot be deleted (DeleteConflict) unless force=True, which detaches
        and deletes them first, as CloudFormation does."""
        role = self._must(account_id, name)
        if role["inline_policies"] or role["managed_policy_arns"]:
            if not force:
                raise IamError("DeleteConflict", "Cannot delete entity, must "
                               "%s policies first." % (
                                   "delete" if role["inline_policies"]
                                   else "detach all"), 409)
            role["inline_policies"].clear()
            role["managed_policy_arns"].clear()
        key = self._key(account_id, name)
        del self.roles[key]
        self._changed(key, None)
        self.world.record("iam.delete_role", account_id=account_id,
                          role_name=role["name"], arn=role["arn"])

    # ---------------------------------------------------------- protocol
    def _role_xml(self, role):
        parts = [
            "<Path>%s</Path>" % core.xml_escape(role["path"]),
            "<AssumeRolePolicyDocument>%s</AssumeRolePolicyDocument>" %
            core.xml_escape(urllib.parse.quote(role["trust_policy_text"], safe="")),
            "<MaxSessionDuration>%d</MaxSessionDuration>" % role["max_session_duration"],
            "<RoleId>%s</RoleId>" % role["role_id"],
            "<RoleName>%s</RoleName>" % core.xml_escape(role["name"]),
        ]
        if role.get("description") is not None:
            parts.append("<Description>%s</Description>" %
                         core.xml_escape(role["description"]))
        parts.append("<Arn>%s</Arn>" % core.xml_escape(role["arn"]))
        parts.append("<CreateDate>%s</CreateDate>" % core.iso8601(role["created"]))
        return "<Role>%s</Role>" % "".join(parts)

    def _ok(self, action, result_xml=None):
        rid = core.new_request_id()
        res = ("<%sResult>%s</%sResult>" % (action, result_xml, action)
               if result_xml is not None else "")
        body = ('<%sResponse xmlns="%s">%s<ResponseMetadata><RequestId>%s'
                '</RequestId></ResponseMetadata></%sResponse>'
                % (action, NS, res, rid, action))
        return core.xml_response(body, headers={"x-amzn-RequestId": rid})

    def _err(self, code, message, status=400):
        return core.aws_query_error(code, message, status, sender=status < 500,
                                    xmlns=NS)

    async def handle(self, req):
        p = req.params()
        action = p.get("Action")
        if req.region != "us-east-1":
            return self._err("SignatureDoesNotMatch", "Credential should be "
                             "scoped to a valid region. ", 403)
        if not action:
            return self._err("MissingAction", "Missing Action")
        if p.get("Version") != VERSION:
            return self._err("InvalidAction", "Could not find operation %s "
                             "for version %s" % (action, p.get("Version") or "NONE"))
        acct = req.identity.account_id
        try:
            if action == "CreateRole":
                tags = []
                i = 1
                while "Tags.member.%d.Key" % i in p:
                    tags.append({"Key": p["Tags.member.%d.Key" % i],
                                 "Value": p.get("Tags.member.%d.Value" % i, "")})
                    i += 1
                if "AssumeRolePolicyDocument" not in p:
                    raise IamError("ValidationError", "1 validation error "
                                   "detected: Value null at "
                                   "'assumeRolePolicyDocument' failed to "
                                   "satisfy constraint: Member must not be null")
                role = self.create_role(
                    acct, p.get("RoleName"), p.get("AssumeRolePolicyDocument"),
                    path=p.get("Path", "/"), description=p.get("Description"),
                    max_session_duration=p.get("MaxSessionDuration", 3600),
                    tags=tags)
                return self._ok(action, self._role_xml(role))
            if action == "GetRole":
                role = self._must(acct, p.get("RoleName"))
                return self._ok(action, self._role_xml(role))
            if action == "UpdateAssumeRolePolicy":
                if "PolicyDocument" not in p:
                    raise IamError("ValidationError", "1 validation error "
                                   "detected: Value null at 'policyDocument' "
                                   "failed to satisfy constraint: Member must "
                                   "not be null")
                self.update_trust(acct, p.get("RoleName"), p["PolicyDocument"])
                return self._ok(action)
            if action == "DeleteRole":
                self.delete_role(acct, p.get("RoleName"))
                return self._ok(action)
            if action == "PutRolePolicy":
                self.put_role_policy(acct, p.get("RoleName"),
                                     p.get("PolicyName"), p.get("PolicyDocument"))
                return self._ok(action)
            if action == "GetRolePolicy":
                role = self._must(acct, p.get("RoleName"))
                name = p.get("PolicyName")
                if name not in role["inline_policies"]:
                    raise IamError("NoSuchEntity", "The role policy with name "
                                   "%s cannot be found." % name, 404)
                return self._ok(action, (
                    "<PolicyName>%s</PolicyName><RoleName>%s</RoleName>"
                    "<PolicyDocument>%s</PolicyDocument>" % (
                        core.xml_escape(name), core.xml_escape(role["name"]),
                        core.xml_escape(urllib.parse.quote(
                            role["inline_policies"][name], safe="")))))
            if action == "DeleteRolePolicy":
                self.delete_role_policy(acct, p.get("RoleName"), p.get("PolicyName"))
                return self._ok(action)
            if action == "ListRolePolicies":
                role = self._must(acct, p.get("RoleName"))
                names = "".join("<member>%s</member>" % core.xml_escape(n)
                                for n in sorted(role["inline_policies"]))
                return self._ok(action, "<PolicyNames>%s</PolicyNames>"
                                "<IsTruncated>false</IsTruncated>" % names)
            if action == "AttachRolePolicy":
                self.attach_role_policy(acct, p.get("RoleName"), p.get("PolicyArn"))
                return self._ok(action)
            if action == "DetachRolePolicy":
                self.detach_role_policy(acct, p.get("RoleName"), p.get("PolicyArn"))
                return self._ok(action)
        except IamError as e:
            return self._err(e.code, e.message, e.status)
        return self._err("InvalidAction", "Could not find operation %s for "
                         "version %s" % (action, VERSION))

    def accepts_unsigned(self, req):
        return False

    # ----------------------------------------------------------- control
    def role_json(self, role):
        return {
            "account_id": role["account_id"], "role_name": role["name"],
            "path": role["path"], "arn": role["arn"], "role_id": role["role_id"],
            "trust_policy": role["trust_policy"],
            "inline_policies": {k: json.loads(v) for k, v in role["inline_policies"].items()},
            "managed_policy_arns": list(role["managed_policy_arns"]),
            "max_session_duration": role["max_session_duration"],
            "description": role.get("description"),
            "sts_view": self.sts_view(role["account_id"], role["name"]) is not None,
        }

    async def control(self, req, subpath):
        parts = [urllib.parse.unquote(x) for x in subpath.strip("/").split("/") if x]
        try:
            if parts == ["config"]:
                if req.method == "POST":
                    body = req.json()
                    if "propagation_seconds" in body:
                        v = float(body["propagation_seconds"])
                        if v < 0:
                            raise ValueError("propagation_seconds must be >= 0")
                        self.propagation_seconds = v
                return core.json_response(
                    {"propagation_seconds": self.propagation_seconds},
                    content_type="application/json")
            if parts == ["roles"] and req.method == "GET":
                return core.json_response(
                    {"roles": [self.role_json(r) for r in self.roles.values()]},
                    content_type="application/json")
            if parts == ["roles"] and req.method == "POST":
                b = req.json()
                role = self.create_role(
                    b.get("account_id") or self.world.partner_account,
                    b.get("role_name"), b.get("trust_policy"),
                    path=b.get("path", "/"),
                    max_session_duration=b.get("max_session_duration", 3600))
                return core.json_response(self.role_json(role), 201,
                                          content_type="application/json")
            if len(parts) == 4 and parts[0] == "roles" and parts[3] == "trust-policy":
                if req.method != "PUT":
                    return core.json_response({"error": "MethodNotAllowed",
                                               "message": req.method}, 405,
                                              content_type="application/json")
                b = req.json()
                if not isinstance(b, dict) or "trust_policy" not in b:
                    raise ValueError("trust_policy is required")
                role = self.update_trust(parts[1], parts[2], b["trust_policy"])
                return core.json_response(self.role_json(role),
                                          content_type="application/json")
            if len(parts) == 3 and parts[0] == "roles":
                if req.method == "GET":
                    role = self._must(parts[1], parts[2])
                    return core.json_response(self.role_json(role),
                                              content_type="application/json")
                if req.method == "DELETE":
                    self.delete_role(parts[1], parts[2], force=True)
                    return core.Response(204)
        except IamError as e:
            return core.json_response({"error": e.code, "message": e.message},
                                      e.status, content_type="application/json")
        except ValueError as e:
            return core.json_response({"error": "BadRequest", "message": str(e)},
                                      400, content_type="application/json")
        return core.json_response({"error": "NotFound", "message": subpath},
                                  404, content_type="application/json")
