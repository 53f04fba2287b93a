"""Credential endpoints: EC2 instance metadata (IMDSv2 only) and the
container credentials endpoint.

Both hand out temporary credentials of the partner account (an assumed role),
registered in the world so that requests signed with them verify until they
expire. Every issuance is recorded (kind "credentials_issued") so a test can
watch a client refresh.

Configuration (POST /_fake/credentials/config, JSON, every key optional):
  expiry_seconds   lifetime of issued credentials (default 3600)
  role_name        the instance/task role (default "xacct-partner")
  container_token  the Authorization value the container endpoint requires
  stale_seconds    > 0: hand out keys that expired that long ago (an
                   endpoint whose clock, or cache, is behind); default 0
  revoke_imds_tokens  true: every IMDSv2 session token issued so far stops
                   working (401), as after an instance stop and start
  expire_issued    true: every key pair handed out so far expires now (AWS
                   answers ExpiredToken while the holder, its clock behind,
                   still takes them as valid)
"""
import json
import secrets
import time

from . import core

IMDS_PREFIX = "/latest/"
CONTAINER_PATH = "/_creds/container"
MAX_TOKEN_TTL = 21600
INSTANCE_ID = "i-0fa4e5c0ffee12345"


def _text(status, text, headers=None):
    h = {"Content-Type": "text/plain"}
    if headers:
        h.update(headers)
    return core.Response(status, text.encode(), h)


class CredentialEndpoints:
    def __init__(self, world):
        self.world = world
        self.expiry_seconds = 3600
        self.stale_seconds = 0
        self.role_name = "xacct-partner"
        self.container_token = secrets.token_urlsafe(24)
        self.imds_tokens = {}  # token -> expiry (epoch)
        self.issued = []       # Credentials handed out here, for expire_issued

    # -- configuration -----------------------------------------------------
    def config(self):
        return {"expiry_seconds": self.expiry_seconds, "role_name": self.role_name,
                "container_token": self.container_token, "stale_seconds": self.stale_seconds}

    def configure(self, spec):
        if "expiry_seconds" in spec:
            v = int(spec["expiry_seconds"])
            if v < 1:
                raise ValueError("expiry_seconds must be >= 1")
            self.expiry_seconds = v
        if "role_name" in spec:
            v = str(spec["role_name"])
            if not v or "/" in v:
                raise ValueError("bad role_name")
            self.role_name = v
        if "container_token" in spec:
            self.container_token = str(spec["container_token"])
        if spec.get("revoke_imds_tokens"):
            self.imds_tokens = {}
        if "stale_seconds" in spec:
            v = int(spec["stale_seconds"])
            if v < 0:
                raise ValueError("stale_seconds must be >= 0")
            self.stale_seconds = v
        if spec.get("expire_issued"):
            # What AWS does to keys whose holder's clock runs behind: the
            # holder still takes them as valid, AWS answers ExpiredToken.
            now = time.time()
            for c in self.issued:
                c.expires = min(c.expires, now - 1)
        return self.config()

    # -- routing -----------------------------------------------------------
    def routes(self):
        return [
            (lambda req: req.path.startswith(IMDS_PREFIX), "imds", self.imds),
            (lambda req: req.path == CONTAINER_PATH, "container", self.container),
        ]

    def _issue(self, source, session):
        w = self.world
        acct = w.partner_account
        arn = f"arn:aws:sts::{acct}:assumed-role/{self.role_name}/{session}"
        c = w.issue_temporary(acct, arn,
                              -self.stale_seconds if self.stale_seconds else self.expiry_seconds)
        self.issued = [k for k in self.issued if not k.expired()] + [c]
        w.record("credentials_issued", source=source, access_key_id=c.access_key_id,
                 expiration=c.expiration_iso(), arn=arn)
        return c

    # -- IMDSv2 --------------------------------------------------------------
    async def imds(self, req):
        if "x-forwarded-for" in req.headers:
            return _text(403, "Forbidden")
        if req.path == "/latest/api/token":
            if req.method != "PUT":
                return _text(405, "Method Not Allowed", {"Allow": "PUT"})
            ttl = req.headers.get("x-aws-ec2-metadata-token-ttl-seconds")
            if ttl is None or not ttl.strip().isdigit() or not 1 <= int(ttl) <= MAX_TOKEN_TTL:
                return _text(400, "Bad Request")
            ttl = int(ttl)
            now = time.time()
            self.imds_tokens = {t: e for t, e in self.imds_tokens.items() if e > now}
            tok = "AQAEA" + secrets.token_urlsafe(40)
            self.imds_tokens[tok] = now + ttl
            self.world.record("imds_token", ttl=ttl)
            return _text(200, tok, {"X-aws-ec2-metadata-token-ttl-seconds": str(ttl)})
        if req.method not in ("GET", "HEAD"):
            return _text(405, "Method Not Allowed")
        tok = req.headers.get("x-aws-ec2-metadata-token")
        exp = self.imds_tokens.get(tok) if tok else None
        if exp is None or exp <= time.time():
            return _text(401, "Unauthorized")
        p = req.path
        base = "/latest/meta-data/iam/security-credentials/"
        if p == base or p == base[:-1]:
            return _text(200, self.role_name)
        if p.startswith(base):
            if p[len(base):].rstrip("/") != self.role_name:
                return _text(404, "Not Found")
            c = self._issue("imds", INSTANCE_ID)
            doc = {"Code": "Success", "LastUpdated": core.iso8601(time.time()), "Type": "AWS-HMAC",
                   "AccessKeyId": c.access_key_id, "SecretAccessKey": c.secret_access_key,
                   "Token": c.session_token, "Expiration": c.expiration_iso()}
            return core.Response(200, json.dumps(doc, indent=2), {"Content-Type": "text/plain"})
        if p == "/latest/meta-data/instance-id":
            return _text(200, INSTANCE_ID)
        if p == "/latest/meta-data/placement/region":
            return _text(200, self.world.region)
        if p == "/latest/dynamic/instance-identity/document":
            doc = {"accountId": self.world.partner_account, "region": self.world.region,
                   "instanceId": INSTANCE_ID, "availabilityZone": self.world.region + "a"}
            return core.Response(200, json.dumps(doc, indent=2), {"Content-Type": "text/plain"})
        return _text(404, "Not Found")

    # -- container credentials -------------------------------------------------
    async def container(self, req):
        if req.method != "GET":
            return core.json_response({"code": "InvalidRequest", "message": "Method not allowed"}, 405,
                                      content_type="application/json")
        auth = req.headers.get("authorization")
        if auth is None or not secrets.compare_digest(auth.encode(), self.container_token.encode()):
            return core.json_response({"code": "AccessDenied",
                                       "message": "Authorization header is missing or invalid"}, 401,
                                      content_type="application/json")
        c = self._issue("container", "task-" + secrets.token_hex(8))
        return core.json_response({"AccessKeyId": c.access_key_id, "SecretAccessKey": c.secret_access_key,
                                   "Token": c.session_token, "Expiration": c.expiration_iso(),
                                   "RoleArn": f"arn:aws:iam::{self.world.partner_account}:role/{self.role_name}"},
                                  content_type="application/json")
