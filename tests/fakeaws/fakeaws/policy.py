"""IAM policy evaluation for the emulator: role trust policies and SNS topic
policies (resource-based policies with a Principal element).

    evaluate(doc, principal_account=..., principal_arn=..., action=...,
             resource=..., context={...}) -> "Allow" | "Deny" | "ImplicitDeny"

follows the documented IAM rules for a single resource-based policy:

* an explicit Deny in any matching statement wins over every Allow;
* a statement matches when its principal (Principal / NotPrincipal), its
  action (Action / NotAction, wildcards, case-insensitive), its resource
  (Resource / NotResource, wildcards, case-sensitive) and every condition
  match;
* within one Condition block all operators and all keys must hold (AND);
  the values listed for one key are alternatives (OR), and for the negated
  operators none of them may match;
* a condition on a key absent from the request context is false, except that
  negated operators (StringNotEquals, ArnNotLike, ...) are then true, as the
  IAM documentation states; ...IfExists is true for an absent key; Null tests
  presence; ForAllValues is true for an absent key, ForAnyValue false.

Principals: "*" matches everyone; {"AWS": ...} takes "*", a 12-digit account
id or "arn:aws:iam::<acct>:root" (every principal of that account), or a
role / user ARN.  A role ARN also matches the sessions of that role
("arn:aws:sts::<acct>:assumed-role/<name>/<session>").  {"Service": ...}
and {"Federated": ...} match a principal_arn equal to the service principal
(e.g. "cloudformation.amazonaws.com") or provider string.

validate(doc, kind) checks a document the way IAM / SNS reject malformed ones
and raises MalformedPolicy with an IAM-like message.
"""

import datetime
import functools
import ipaddress
import json
import re

ALLOW = "Allow"
DENY = "Deny"
IMPLICIT_DENY = "ImplicitDeny"

_STATEMENT_KEYS = {"Sid", "Effect", "Principal", "NotPrincipal", "Action",
                   "NotAction", "Resource", "NotResource", "Condition"}
_ACCOUNT_RE = re.compile(r"^\d{12}$")
_ACTION_RE = re.compile(r"^[A-Za-z0-9-]+:[A-Za-z0-9*?]+$")
_PRINCIPAL_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:(iam|sts)::(\d{12}):([A-Za-z-]+)(/.*)?$")


class MalformedPolicy(ValueError):
    """A policy document IAM or SNS would refuse; str() is the message."""


# --------------------------------------------------------------- matching

def glob_match(pattern, value, ignore_case=False):
    """IAM wildcard match: '*' is any run of characters (also none), '?' one
    character; everything else literal.  Whole-string match."""
    if not isinstance(pattern, str) or not isinstance(value, str):
        return False
    return _glob_regex(pattern, ignore_case).match(value) is not None


@functools.lru_cache(maxsize=4096)
def _glob_regex(pattern, ignore_case):
    """The compiled regular expression of an IAM wildcard pattern."""
    rx = ["^"]
    for ch in pattern:
        if ch == "*":
            rx.append(".*")
        elif ch == "?":
            rx.append(".")
        else:
            rx.append(re.escape(ch))
    rx.append("$")
    return re.compile("".join(rx), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _as_list(v):
    if v is None:
        return []
    if isinstance(v, list):
        return v
    return [v]


def arn_match(pattern, arn):
    """ArnLike / ArnEquals: the six colon-separated parts are matched one by
    one, each with wildcards; an ARN with fewer parts never matches."""
    if not isinstance(pattern, str) or not isinstance(arn, str):
        return False
    if pattern == "*":
        return True
    pp = pattern.split(":", 5)
    ap = arn.split(":", 5)
    if len(pp) != 6 or len(ap) != 6:
        return False
    return all(glob_match(p, a) for p, a in zip(pp, ap))


def _role_of_session(principal_arn):
    """'arn:aws:sts::1:assumed-role/R/s' -> ('1', 'R'); else None."""
    m = re.match(r"^arn:aws[a-z-]*:sts::(\d{12}):assumed-role/([^/]+)/[^/]+$",
                 principal_arn or "")
    return (m.group(1), m.group(2)) if m else None


def _aws_principal_matches(value, principal_account, principal_arn):
    if not isinstance(value, str):
        return False
    if not (principal_arn or "").startswith("arn:"):
        # A service or federated principal is not an AWS principal.
        return False
    if value == "*":
        return True
    if _ACCOUNT_RE.match(value):
        return value == principal_account
    m = _PRINCIPAL_ARN_RE.match(value)
    if not m:
        return False
    svc, acct, kind, rest = m.group(1), m.group(2), m.group(3), m.group(4)
    if svc == "iam" and kind == "root" and not rest:
        return acct == principal_account
    if value == principal_arn:
        return True
    if svc == "iam" and kind == "role" and rest:
        sess = _role_of_session(principal_arn)
        role_name = rest.rsplit("/", 1)[-1]
        if sess and sess[0] == acct and sess[1] == role_name:
            return True
        # A role ARN given without its path still names the same role.
        m2 = _PRINCIPAL_ARN_RE.match(principal_arn)
        if m2 and m2.group(1) == "iam" and m2.group(3) == "role" \
                and m2.group(2) == acct and m2.group(4) \
                and m2.group(4).rsplit("/", 1)[-1] == role_name:
            return True
    return False


def principal_matches(principal, principal_account, principal_arn):
    """True when the Principal element names the caller."""
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    for kind, values in principal.items():
        for v in _as_list(values):
            if kind == "AWS":
                if _aws_principal_matches(v, principal_account, principal_arn):
                    return True
            elif kind in ("Service", "Federated"):
                if isinstance(v, str) and v == principal_arn:
                    return True
            # CanonicalUser never names a caller of these services.
    return False


def _action_matches(patterns, action):
    return any(glob_match(p, action, ignore_case=True)
               for p in _as_list(patterns))


def _resource_matches(patterns, resource):
    return any(glob_match(p, resource) for p in _as_list(patterns))


# ------------------------------------------------------------- conditions

def _str_eq(p, v):
    return isinstance(v, str) and p == v


def _str_eq_ic(p, v):
    return isinstance(v, str) and p.lower() == v.lower()


def _str_like(p, v):
    return glob_match(p, v)


def _num(x):
    if isinstance(x, bool):
        raise ValueError("bool")
    return float(x)


def _num_cmp(fn):
    def cmp(p, v):
        try:
            return fn(_num(v), _num(p))
        except (TypeError, ValueError):
            return False
    return cmp


def _date(x):
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return datetime.datetime.fromtimestamp(x, datetime.timezone.utc)
    if not isinstance(x, str):
        raise ValueError("not a date")
    if re.match(r"^\d+$", x):
        return datetime.datetime.fromtimestamp(int(x), datetime.timezone.utc)
    s = x.replace("Z", "+00:00")
    d = datetime.datetime.fromisoformat(s)
    if d.tzinfo is None:
        d = d.replace(tzinfo=datetime.timezone.utc)
    return d


def _date_cmp(fn):
    def cmp(p, v):
        try:
            return fn(_date(v), _date(p))
        except (TypeError, ValueError):
            return False
    return cmp


def _bool_eq(p, v):
    if isinstance(v, bool):
        v = "true" if v else "false"
    if isinstance(p, bool):
        p = "true" if p else "false"
    return isinstance(v, str) and isinstance(p, str) and p.lower() == v.lower()


def _ip(p, v):
    try:
        return ipaddress.ip_address(v) in ipaddress.ip_network(p, strict=False)
    except (TypeError, ValueError):
        return False


# operator -> (comparison(policy_value, context_value), negated)
_OPERATORS = {
    "StringEquals": (_str_eq, False),
    "StringNotEquals": (_str_eq, True),
    "StringEqualsIgnoreCase": (_str_eq_ic, False),
    "StringNotEqualsIgnoreCase": (_str_eq_ic, True),
    "StringLike": (_str_like, False),
    "StringNotLike": (_str_like, True),
    "NumericEquals": (_num_cmp(lambda a, b: a == b), False),
    "NumericNotEquals": (_num_cmp(lambda a, b: a == b), True),
    "NumericLessThan": (_num_cmp(lambda a, b: a < b), False),
    "NumericLessThanEquals": (_num_cmp(lambda a, b: a <= b), False),
    "NumericGreaterThan": (_num_cmp(lambda a, b: a > b), False),
    "NumericGreaterThanEquals": (_num_cmp(lambda a, b: a >= b), False),
    "DateEquals": (_date_cmp(lambda a, b: a == b), False),
    "DateNotEquals": (_date_cmp(lambda a, b: a == b), True),
    "DateLessThan": (_date_cmp(lambda a, b: a < b), False),
    "DateLessThanEquals": (_date_cmp(lambda a, b: a <= b), False),
    "DateGreaterThan": (_date_cmp(lambda a, b: a > b), False),
    "DateGreaterThanEquals": (_date_cmp(lambda a, b: a >= b), False),
    "Bool": (_bool_eq, False),
    "BinaryEquals": (_str_eq, False),
    "IpAddress": (_ip, False),
    "NotIpAddress": (_ip, True),
    "ArnEquals": (arn_match, False),
    "ArnNotEquals": (arn_match, True),
    "ArnLike": (arn_match, False),
    "ArnNotLike": (arn_match, True),
}


def _parse_operator(op):
    """'ForAnyValue:StringLikeIfExists' -> ('ForAnyValue', 'StringLike',
    True).  Raises MalformedPolicy for an unknown operator."""
    qualifier = None
    base = op
    if ":" in op:
        qualifier, base = op.split(":", 1)
        if qualifier not in ("ForAnyValue", "ForAllValues"):
            raise MalformedPolicy("Invalid Condition type : %s" % op)
    if_exists = False
    if base.endswith("IfExists") and base != "IfExists":
        if_exists = True
        base = base[:-len("IfExists")]
    if base == "Null":
        if if_exists or qualifier:
            raise MalformedPolicy("Invalid Condition type : %s" % op)
        return qualifier, base, False
    if base not in _OPERATORS:
        raise MalformedPolicy("Invalid Condition type : %s" % op)
    return qualifier, base, if_exists


def _scalar(v):
    """Policy and context values compare as strings, the way IAM reads
    JSON: true -> "true", 5 -> "5"."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    return v


def _lookup(context, key):
    """Condition keys are case-insensitive.  Returns (present, values)."""
    lk = key.lower()
    for k, v in context.items():
        if k.lower() == lk:
            if v is None:
                return False, []
            vals = v if isinstance(v, list) else [v]
            return True, vals
    return False, []


def _condition_holds(op, key, policy_values, context):
    qualifier, base, if_exists = _parse_operator(op)
    pvals = _as_list(policy_values)
    present, cvals = _lookup(context, key)
    if base == "Null":
        # "true": the key must be absent; "false": it must be present.
        want_absent = any(_bool_eq(p, "true") for p in pvals)
        want_present = any(_bool_eq(p, "false") for p in pvals)
        return (not present and want_absent) or (present and want_present)
    cmp, negated = _OPERATORS[base]
    if not present or not cvals:
        if if_exists:
            return True
        if qualifier == "ForAllValues":
            return True
        if qualifier == "ForAnyValue":
            return False
        return negated

    pvals = [_scalar(p) for p in pvals]
    cvals = [_scalar(c) for c in cvals]

    def one(cv):
        hit = any(cmp(p, cv) for p in pvals)
        return (not hit) if negated else hit

    if qualifier == "ForAllValues":
        return all(one(cv) for cv in cvals)
    if qualifier == "ForAnyValue":
        return any(one(cv) for cv in cvals)
    # Single-valued operator: positive operators need one context value to
    # match; negated ones need no context value to match.
    if negated:
        return all(one(cv) for cv in cvals)
    return any(one(cv) for cv in cvals)


def conditions_hold(condition, context):
    if condition is None:
        return True
    for op, block in condition.items():
        if not isinstance(block, dict):
            raise MalformedPolicy("Syntax errors in policy.")
        for key, values in block.items():
            if not _condition_holds(op, key, values, context):
                return False
    return True


# ------------------------------------------------------------- evaluation

def _statements(doc):
    if isinstance(doc, str):
        doc = json.loads(doc)
    st = doc.get("Statement") if isinstance(doc, dict) else None
    if st is None:
        return []
    return st if isinstance(st, list) else [st]


def statement_matches(st, *, principal_account, principal_arn, action,
                      resource, context):
    if "Principal" in st:
        if not principal_matches(st["Principal"], principal_account,
                                 principal_arn):
            return False
    elif "NotPrincipal" in st:
        if principal_matches(st["NotPrincipal"], principal_account,
                             principal_arn):
            return False
    else:
        return False  # resource policies always name a principal
    if "Action" in st:
        if not _action_matches(st["Action"], action):
            return False
    elif "NotAction" in st:
        if _action_matches(st["NotAction"], action):
            return False
    else:
        return False
    if "Resource" in st:
        if not _resource_matches(st["Resource"], resource):
            return False
    elif "NotResource" in st:
        if _resource_matches(st["NotResource"], resource):
            return False
    # Trust policies have no Resource: the role itself is the resource.
    return conditions_hold(st.get("Condition"), context or {})


def evaluate(policy_doc, *, principal_account, principal_arn, action,
             resource, context=None):
    """Evaluate one resource-based policy.  policy_doc is a dict or a JSON
    string.  Returns "Allow", "Deny" (explicit) or "ImplicitDeny"."""
    allowed = False
    context = dict(context or {})
    # Global keys IAM always puts into the request context.
    if principal_account and _lookup(context, "aws:PrincipalAccount")[0] is False:
        context["aws:PrincipalAccount"] = principal_account
    if principal_arn and _lookup(context, "aws:PrincipalArn")[0] is False \
            and principal_arn.startswith("arn:"):
        sess = _role_of_session(principal_arn)
        if sess:
            context["aws:PrincipalArn"] = "arn:aws:iam::%s:role/%s" % sess
        else:
            context["aws:PrincipalArn"] = principal_arn
    for st in _statements(policy_doc):
        if not isinstance(st, dict):
            continue
        if statement_matches(st, principal_account=principal_account,
                             principal_arn=principal_arn, action=action,
                             resource=resource, context=context):
            if st.get("Effect") == "Deny":
                return DENY
            if st.get("Effect") == "Allow":
                allowed = True
    return ALLOW if allowed else IMPLICIT_DENY


# ------------------------------------------------------------- validation

def _check_principal(p, kind):
    if p == "*":
        return
    if not isinstance(p, dict) or not p:
        raise MalformedPolicy("Invalid principal in policy")
    for k, vals in p.items():
        if k not in ("AWS", "Service", "Federated", "CanonicalUser"):
            raise MalformedPolicy('Invalid principal in policy: "%s"' % k)
        lst = _as_list(vals)
        if not lst:
            raise MalformedPolicy('Invalid principal in policy: "%s":[]' % k)
        for v in lst:
            if not isinstance(v, str) or not v:
                raise MalformedPolicy("Invalid principal in policy")
            if k == "AWS" and v != "*" and not _ACCOUNT_RE.match(v):
                m = _PRINCIPAL_ARN_RE.match(v)
                ok = m and (
                    (m.group(1) == "iam" and m.group(3) == "root" and not m.group(4))
                    or (m.group(1) == "iam" and m.group(3) in ("role", "user") and m.group(4) and len(m.group(4)) > 1)
                    or (m.group(1) == "sts" and m.group(3) == "assumed-role" and m.group(4)))
                if not ok:
                    raise MalformedPolicy(
                        'Invalid principal in policy: "AWS":"%s"' % v)
            if k == "Service" and not re.match(r"^[a-z0-9.-]+\.amazonaws\.com(\.cn)?$", v):
                raise MalformedPolicy(
                    'Invalid principal in policy: "SERVICE":"%s"' % v)


def validate(policy_doc, kind="trust"):
    """Raise MalformedPolicy unless policy_doc is a well-formed policy.
    kind "trust": role trust policy (Principal required, Resource
    prohibited); "resource": resource policy such as an SNS topic policy
    (Principal and Resource required).  Returns the parsed document."""
    if isinstance(policy_doc, (str, bytes)):
        try:
            policy_doc = json.loads(policy_doc)
        except ValueError:
            raise MalformedPolicy("This policy contains invalid Json")
    if not isinstance(policy_doc, dict):
        raise MalformedPolicy("This policy contains invalid Json")
    for k in policy_doc:
        if k not in ("Version", "Id", "Statement"):
            raise MalformedPolicy("Syntax errors in policy.")
    ver = policy_doc.get("Version")
    if ver is not None and ver not in ("2012-10-17", "2008-10-17"):
        raise MalformedPolicy("The policy must contain a valid version string")
    if "Statement" not in policy_doc:
        raise MalformedPolicy("Syntax errors in policy.")
    sts = policy_doc["Statement"]
    sts = sts if isinstance(sts, list) else [sts]
    if not sts:
        raise MalformedPolicy("Syntax errors in policy.")
    for st in sts:
        if not isinstance(st, dict):
            raise MalformedPolicy("Syntax errors in policy.")
        for k in st:
            if k not in _STATEMENT_KEYS:
                raise MalformedPolicy("Syntax errors in policy.")
        if st.get("Effect") not in ("Allow", "Deny"):
            raise MalformedPolicy("Syntax errors in policy.")
        if ("Action" in st) == ("NotAction" in st):
            raise MalformedPolicy("Policy statement must contain actions.")
        for a in _as_list(st.get("Action", st.get("NotAction"))):
            if not isinstance(a, str) or (a != "*" and not _ACTION_RE.match(a)):
                raise MalformedPolicy(
                    "Actions/Conditions must be prefaced by a vendor, e.g., "
                    "iam, sdb, ec2, etc.")
        if ("Principal" in st) and ("NotPrincipal" in st):
            raise MalformedPolicy("Syntax errors in policy.")
        if "Principal" not in st and "NotPrincipal" not in st:
            raise MalformedPolicy("Policy document should contain a principal.")
        _check_principal(st.get("Principal", st.get("NotPrincipal")), kind)
        if kind == "trust":
            if "Resource" in st or "NotResource" in st:
                raise MalformedPolicy(
                    "Has prohibited field %s" %
                    ("Resource" if "Resource" in st else "NotResource"))
        else:
            if ("Resource" in st) == ("NotResource" in st):
                raise MalformedPolicy("Policy statement must contain resources.")
            for r in _as_list(st.get("Resource", st.get("NotResource"))):
                if not isinstance(r, str) or not r:
                    raise MalformedPolicy("Syntax errors in policy.")
        cond = st.get("Condition")
        if cond is not None:
            if not isinstance(cond, dict):
                raise MalformedPolicy("Syntax errors in policy.")
            for op, block in cond.items():
                _parse_operator(op)
                if not isinstance(block, dict) or not block:
                    raise MalformedPolicy("Syntax errors in policy.")
                for key, vals in block.items():
                    if ":" not in key:
                        raise MalformedPolicy(
                            "Actions/Conditions must be prefaced by a vendor, "
                            "e.g., iam, sdb, ec2, etc.")
                    for v in _as_list(vals):
                        if isinstance(v, (dict, list)):
                            raise MalformedPolicy("Syntax errors in policy.")
    return policy_doc
