"""Fault injection per service, set through the control API.

For a service name (or "*" for every service without its own setting):
  error_rate     fraction of requests answered 500 InternalError /
                 503 ServiceUnavailable (alternating) in the service's shape
  throttle_rate  fraction answered 400 Throttling (query protocol),
                 ThrottlingException (JSON), 503 SlowDown (S3); SQS answers
                 in turn with each of its throttling errors (SQS_THROTTLES)
  throttle_code  optional, SQS: only that one of SQS_THROTTLES
  latency_ms     delay added before the request is handled
  drop_rate      fraction of connections closed without an answer
  count          optional: only the next `count` requests are faulted
  seed           optional: a deterministic random sequence

Service names are those of world.services plus the core endpoints "imds",
"container" and "federation".
"""
import asyncio
import random

from . import core

FIELDS = ("error_rate", "throttle_rate", "latency_ms", "drop_rate", "count", "throttle_code")

# SQS's throttling errors in its JSON protocol (status, __type, the query
# protocol's code in x-amzn-query-error, message): the protocol's generic
# one, RequestThrottled (403: the request rate of the queue or of the
# recipient is exceeded) and KmsThrottled (400, KMS.ThrottlingException: KMS
# throttled SQS's call for a queue encrypted with a KMS key), as SQS's API
# reference and service model have them.
SQS_THROTTLES = {
    "ThrottlingException": (400, "com.amazon.coral.availability#ThrottlingException", "Throttling",
                            "Rate exceeded"),
    "RequestThrottled": (403, "com.amazonaws.sqs#RequestThrottled", "RequestThrottled",
                         "The request was denied due to request throttling."),
    "KmsThrottled": (400, "com.amazonaws.sqs#KmsThrottled", "KMS.ThrottlingException",
                     "You have exceeded the rate at which you may call KMS. "
                     "Reduce the frequency of your calls."),
}
_SQS_THROTTLE_ORDER = tuple(SQS_THROTTLES)


class Faults:
    def __init__(self, world):
        self.world = world
        self.rules = {}          # service or "*" -> dict
        self.active = False
        self.rng = random.Random()
        self._n5xx = 0
        self._nthrottle = 0

    def set(self, service, spec):
        """Validates and installs a rule; raises ValueError on bad input."""
        rule = {}
        for k in ("error_rate", "throttle_rate", "drop_rate"):
            v = float(spec.get(k, 0) or 0)
            if not 0 <= v <= 1:
                raise ValueError(f"{k} must be between 0 and 1")
            rule[k] = v
        lat = float(spec.get("latency_ms", 0) or 0)
        if lat < 0:
            raise ValueError("latency_ms must be >= 0")
        rule["latency_ms"] = lat
        if spec.get("count") is not None:
            c = int(spec["count"])
            if c < 0:
                raise ValueError("count must be >= 0")
            rule["count"] = c
        code = spec.get("throttle_code")
        if code is not None:
            if code not in SQS_THROTTLES or service not in ("sqs", "*"):
                raise ValueError("throttle_code is SQS's: one of " + ", ".join(SQS_THROTTLES))
            rule["throttle_code"] = code
        if rule["error_rate"] + rule["throttle_rate"] + rule["drop_rate"] > 1:
            raise ValueError("error_rate + throttle_rate + drop_rate must not exceed 1")
        if "seed" in spec and spec["seed"] is not None:
            self.rng = random.Random(spec["seed"])
        self.rules[service] = rule
        self.active = True
        return rule

    def clear(self, service=None):
        if service is None:
            self.rules.clear()
        else:
            self.rules.pop(service, None)
        self.active = bool(self.rules)

    def snapshot(self):
        return {k: dict(v) for k, v in self.rules.items()}

    async def apply(self, service, req):
        """Returns a fault Response (or one with drop set), or None to go on."""
        rule = self.rules.get(service) or self.rules.get("*")
        if rule is None:
            return None
        if "count" in rule:
            if rule["count"] <= 0:
                return None
            rule["count"] -= 1
        if rule["latency_ms"]:
            self.world.record("fault", service=service, fault="latency", path=req.path,
                              latency_ms=rule["latency_ms"])
            await asyncio.sleep(rule["latency_ms"] / 1000.0)
        r = self.rng.random()
        if r < rule["drop_rate"]:
            self.world.record("fault", service=service, fault="drop", path=req.path)
            resp = core.Response(0)
            resp.drop = True
            return resp
        r -= rule["drop_rate"]
        if r < rule["error_rate"]:
            self._n5xx += 1
            if self._n5xx % 2:
                resp = core.service_error(service, "InternalError" if not req.is_json_protocol() else "InternalFailure",
                                          "We encountered an internal error. Please try again.", 500, req)
                fault = "error500"
            else:
                resp = core.service_error(service, "ServiceUnavailable",
                                          "Service is unable to handle request.", 503, req,
                                          json_type="com.amazonaws.sqs#ServiceUnavailable" if service == "sqs" else None)
                fault = "error503"
            self.world.record("fault", service=service, fault=fault, path=req.path)
            return resp
        r -= rule["error_rate"]
        if r < rule["throttle_rate"]:
            if service == "sqs" and req.is_json_protocol():
                code = rule.get("throttle_code")
                if code is None:
                    code = _SQS_THROTTLE_ORDER[self._nthrottle % len(_SQS_THROTTLE_ORDER)]
                    self._nthrottle += 1
                self.world.record("fault", service=service, fault="throttle", path=req.path, code=code)
                status, json_type, query_code, message = SQS_THROTTLES[code]
                return core.aws_json_error(json_type, message, status, query_error=query_code)
            self.world.record("fault", service=service, fault="throttle", path=req.path)
            if service == "s3":
                return core.s3_error("SlowDown", "Please reduce your request rate.", 503)
            if req.is_json_protocol():
                return core.aws_json_error("com.amazon.coral.availability#ThrottlingException",
                                           "Rate exceeded", 400, query_error="Throttling")
            return core.aws_query_error("Throttling", "Rate exceeded", 400, sender=True,
                                        xmlns=core.XMLNS.get(service, core.XMLNS["sts"]))
        return None
