"""CloudFormation templates as the simulator reads them: the resource types
and pseudo parameters it knows, parsing and validating a template with its
parameters into the order the work is done in (parse_template), each
resource's dependencies, generated physical names, and the string form of
custom-resource properties."""

import json
import re
import secrets
import string

from . import cfn_resources as extra

ROLE = "AWS::IAM::Role"
CUSTOM = "AWS::CloudFormation::CustomResource"
_STACK_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
_LOGICAL_RE = re.compile(r"^[A-Za-z0-9]{1,255}$")
_CUSTOM_TYPE_RE = re.compile(r"^Custom::[A-Za-z0-9_@-]{1,52}$")
_SNS_ARN_RE = re.compile(r"^arn:aws[a-z-]*:sns:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_-]{1,256})$")
_ROLE_PROPS = {"RoleName", "Path", "AssumeRolePolicyDocument", "Policies",
               "ManagedPolicyArns", "MaxSessionDuration", "Description",
               "Tags", "PermissionsBoundary"}
PSEUDO = ("AWS::AccountId", "AWS::Region", "AWS::StackId", "AWS::StackName",
          "AWS::Partition", "AWS::URLSuffix", "AWS::NoValue",
          "AWS::NotificationARNs")


class TemplateError(Exception):
    """The template cannot be used (CreateStack's ValidationError)."""



_NOVALUE = object()


def _random_suffix(n=13):
    alphabet = string.ascii_uppercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(n))


def generated_name(stack_name, logical_id, limit=64):
    """CloudFormation's generated physical names: stack-logical-RANDOM,
    with the stack and logical parts shortened to fit `limit`."""
    suffix = _random_suffix()
    room = limit - len(suffix) - 2
    s, l = stack_name, logical_id
    while len(s) + len(l) > room:
        if len(s) >= len(l):
            s = s[:-1]
        else:
            l = l[:-1]
    return "%s-%s-%s" % (s, l, suffix)


def stringify(v):
    """Custom resource properties reach the provider with every scalar as a
    string, as CloudFormation sends them."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, dict):
        return {k: stringify(x) for k, x in v.items()}
    if isinstance(v, list):
        return [stringify(x) for x in v]
    return v


# ------------------------------------------------------------- templates

_SUB_RE = re.compile(r"\$\{([^}]*)\}")


def _refs(node, out):
    """Collect the logical ids / parameters a property tree references."""
    if isinstance(node, dict):
        if len(node) == 1:
            (k, v), = node.items()
            if k == "Ref" and isinstance(v, str):
                out.add(v)
                return
            if k == "Fn::GetAtt":
                if isinstance(v, list) and v and isinstance(v[0], str):
                    out.add(v[0])
                elif isinstance(v, str):
                    out.add(v.split(".", 1)[0])
                return
            if k == "Fn::Sub":
                s = v[0] if isinstance(v, list) and v else v
                local = set(v[1].keys()) if isinstance(v, list) and len(v) > 1 \
                    and isinstance(v[1], dict) else set()
                if isinstance(s, str):
                    for name in _SUB_RE.findall(s):
                        if name.startswith("!"):
                            continue
                        base = name.split(".", 1)[0]
                        if base not in local:
                            out.add(base)
                if isinstance(v, list) and len(v) > 1:
                    _refs(v[1], out)
                return
        for x in node.values():
            _refs(x, out)
    elif isinstance(node, list):
        for x in node:
            _refs(x, out)


def parse_template(template, parameters=None):
    """Validate a template; returns (template dict, resolved parameters,
    creation order of logical ids)."""
    if isinstance(template, (str, bytes)):
        try:
            template = json.loads(template)
        except ValueError as e:
            raise TemplateError("Template format error: JSON not well-formed. (%s)" % e)
    if not isinstance(template, dict):
        raise TemplateError("Template format error: JSON not well-formed.")
    allowed = {"AWSTemplateFormatVersion", "Description", "Metadata",
               "Parameters", "Mappings", "Conditions", "Resources", "Outputs",
               "Transform", "Rules"}
    for k in template:
        if k not in allowed:
            raise TemplateError("Template format error: Invalid template "
                                "property or properties [%s]" % k)
    # The Description section: a literal string of at most 1024 bytes.
    desc = template.get("Description")
    if desc is not None and not isinstance(desc, str):
        raise TemplateError("Template format error: Every Description member "
                            "must be a string.")
    if desc is not None and len(desc.encode("utf-8")) > 1024:
        raise TemplateError("Template format error: 'Description' length is "
                            "greater than 1024.")
    ver = template.get("AWSTemplateFormatVersion")
    if ver is not None and ver != "2010-09-09":
        raise TemplateError("Template format error: '%s' is not a valid "
                            "template version." % ver)
    if "Transform" in template or "Conditions" in template:
        raise TemplateError("fakeaws: Transform and Conditions are not "
                            "simulated")
    res = template.get("Resources")
    if not isinstance(res, dict) or not res:
        raise TemplateError("Template format error: At least one Resources "
                            "member must be defined.")
    params_def = template.get("Parameters") or {}
    params = {}
    given = dict(parameters or {})
    for name, d in params_def.items():
        if name in given:
            params[name] = str(given.pop(name))
        elif isinstance(d, dict) and "Default" in d:
            params[name] = str(d["Default"])
        else:
            raise TemplateError("Parameters: [%s] must have values" % name)
    if given:
        raise TemplateError("Parameters: [%s] do not exist in the template"
                            % ", ".join(sorted(given)))
    unknown_types = []
    deps = {}
    for lid, r in res.items():
        if not _LOGICAL_RE.match(lid):
            raise TemplateError("Template format error: Resource name %s is "
                                "non alphanumeric." % lid)
        if not isinstance(r, dict) or "Type" not in r:
            raise TemplateError("Template format error: [/Resources/%s] "
                                "Every Resources object must contain a Type "
                                "member." % lid)
        t = r["Type"]
        if not (t == ROLE or t == CUSTOM or t in extra.TYPES
                or (isinstance(t, str) and t.startswith("Custom::"))):
            unknown_types.append(str(t))
            continue
        if t.startswith("Custom::") and not _CUSTOM_TYPE_RE.match(t):
            raise TemplateError("Template format error: Unrecognized resource "
                                "types: [%s]" % t)
        for k in r:
            if k not in ("Type", "Properties", "DependsOn", "Metadata",
                         "DeletionPolicy", "UpdateReplacePolicy", "Condition",
                         "CreationPolicy", "UpdatePolicy", "Version"):
                raise TemplateError("Invalid template resource property '%s'" % k)
        if "Condition" in r:
            raise TemplateError("fakeaws: Conditions are not simulated")
        props = r.get("Properties", {})
        if not isinstance(props, dict):
            raise TemplateError("Template format error: [/Resources/%s/"
                                "Properties] must be an object" % lid)
        refs = set()
        _refs(props, refs)
        dep = r.get("DependsOn", [])
        dep = [dep] if isinstance(dep, str) else dep
        if not isinstance(dep, list) or not all(isinstance(x, str) for x in dep):
            raise TemplateError("Template format error: DependsOn must be a "
                                "string or list of strings")
        for d in dep:
            if d not in res:
                raise TemplateError("Template format error: Unresolved "
                                    "resource dependencies [%s] in the "
                                    "Resources block of the template" % d)
        unresolved = [x for x in refs if x not in res and x not in params
                      and x not in PSEUDO]
        if unresolved:
            raise TemplateError("Template format error: Unresolved resource "
                                "dependencies [%s] in the Resources block of "
                                "the template" % ", ".join(sorted(unresolved)))
        deps[lid] = {x for x in refs if x in res} | set(dep)
        if lid in deps[lid]:
            raise TemplateError("Circular dependency between resources: [%s]" % lid)
    if unknown_types:
        raise TemplateError("Template format error: Unrecognized resource "
                            "types: [%s]" % ", ".join(unknown_types))
    try:
        extra.check_template(template, _refs)
    except ValueError as e:
        raise TemplateError(str(e))
    order = []
    done = set()
    pending = list(res.keys())
    while pending:
        ready = [x for x in pending if deps[x] <= done]
        if not ready:
            raise TemplateError("Circular dependency between resources: [%s]"
                                % ", ".join(sorted(pending)))
        for x in ready:
            order.append(x)
            done.add(x)
            pending.remove(x)
    return template, params, order


def dependencies(template, order):
    """logical id -> the logical ids it depends on (explicit and implicit)."""
    res = template["Resources"]
    out = {}
    for lid in order:
        refs = set()
        _refs(res[lid].get("Properties", {}), refs)
        dep = res[lid].get("DependsOn", [])
        dep = [dep] if isinstance(dep, str) else dep
        out[lid] = {x for x in refs if x in res} | set(dep)
    return out
