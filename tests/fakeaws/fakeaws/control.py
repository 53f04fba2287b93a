"""The control API under /_fake/ (plain JSON, never signed).

  GET    /_fake/health                     {"ok": true, "services": [...], ...}
  GET    /_fake/faults                     the rules in force
  POST   /_fake/faults                     {"service": "sqs"|"*", "error_rate": .., "throttle_rate": ..,
                                            "latency_ms": .., "drop_rate": .., "count": .., "seed": ..,
                                            "throttle_code": (SQS) "RequestThrottled" ..}
  DELETE /_fake/faults[?service=S]         remove one rule, or all
  POST   /_fake/accounts                   {"account_id": "123456789012"} → new long-term keys
  GET    /_fake/records?kind=K[&since=SEQ] {"records": [...]} (every kind without `kind`)
  DELETE /_fake/records[?kind=K]           forget records
  GET    /_fake/credentials/config         the credential endpoints' configuration
  POST   /_fake/credentials/config         {"expiry_seconds": N, "role_name": .., "container_token": ..}
  ANY    /_fake/<service>/<subpath>        forwarded to world.services[service].control(req, subpath)
"""
import json
import os
import re
from urllib.parse import parse_qsl

from . import core

_ACCOUNT = re.compile(r"^[0-9]{12}$")


def _json(obj, status=200):
    return core.Response(status, json.dumps(obj, default=str).encode(), {"Content-Type": "application/json"})


def _error(status, message):
    return _json({"error": message}, status)


class Control:
    def __init__(self, world, faults, credentials=None):
        self.world = world
        self.faults = faults
        self.credentials = credentials

    def _body(self, req):
        if not req.body:
            return {}
        obj = json.loads(req.body.decode("utf-8"))
        if not isinstance(obj, dict):
            raise ValueError("expected a JSON object")
        return obj

    async def __call__(self, req):
        try:
            return await self._route(req)
        except (ValueError, TypeError, KeyError) as e:
            return _error(400, f"bad request: {e}")

    async def _route(self, req):
        w = self.world
        sub = req.path[len("/_fake/"):] if req.path.startswith("/_fake/") else ""
        q = dict(parse_qsl(req.query))
        m = req.method
        if sub == "health":
            return _json({"ok": True, "pid": os.getpid(), "services": sorted(w.services),
                          "region": w.region, "partner_account": w.partner_account})
        if sub == "faults":
            if m == "GET":
                return _json({"faults": self.faults.snapshot()})
            if m == "POST":
                spec = self._body(req)
                service = spec.get("service")
                if not isinstance(service, str) or not service:
                    raise ValueError("service is required (a name or \"*\")")
                rule = self.faults.set(service, spec)
                return _json({"service": service, "rule": rule})
            if m == "DELETE":
                self.faults.clear(q.get("service"))
                return _json({"faults": self.faults.snapshot()})
            return _error(405, "method not allowed")
        if sub == "accounts":
            if m != "POST":
                return _error(405, "method not allowed")
            acct = str(self._body(req).get("account_id", ""))
            if not _ACCOUNT.match(acct):
                raise ValueError("account_id must be 12 digits")
            c = w.new_long_term_keys(acct)
            w.record("account_keys", account_id=acct, access_key_id=c.access_key_id)
            return _json({"account_id": acct, "access_key_id": c.access_key_id,
                          "secret_access_key": c.secret_access_key, "arn": c.arn})
        if sub == "records":
            if m == "DELETE":
                w.clear_records(q.get("kind"))
                return _json({"ok": True})
            if m != "GET":
                return _error(405, "method not allowed")
            recs = w.records(q.get("kind"))
            if "since" in q:
                since = int(q["since"])
                recs = [r for r in recs if r["seq"] > since]
            return _json({"records": recs})
        if sub == "server":
            if m == "POST":
                spec = self._body(req)
                if "idle_timeout" in spec:
                    t = float(spec["idle_timeout"])
                    if t < 0:
                        raise ValueError("idle_timeout must be >= 0 (0: never)")
                    w.idle_timeout = t
                if "clock_skew" in spec:
                    w.clock_skew = float(spec["clock_skew"])
            elif m != "GET":
                return _error(405, "method not allowed")
            return _json({"idle_timeout": w.idle_timeout, "aws_address": w.aws_address,
                          "clock_skew": w.clock_skew})
        if sub == "credentials/config" and self.credentials is not None:
            if m == "GET":
                return _json(self.credentials.config())
            if m == "POST":
                return _json(self.credentials.configure(self._body(req)))
            return _error(405, "method not allowed")
        name, _, rest = sub.partition("/")
        svc = w.services.get(name)
        if svc is not None and hasattr(svc, "control"):
            return await svc.control(req, rest)
        return _error(404, f"no control route {req.path}")
