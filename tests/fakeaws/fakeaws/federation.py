"""The federation sign-in endpoint (signin.aws.amazon.com/federation).

  GET /federation?Action=getSigninToken&SessionDuration=N&Session=<JSON>
      Session is {"sessionId": AKID, "sessionKey": SECRET, "sessionToken": TOKEN}
      of valid, unexpired temporary credentials → {"SigninToken": "..."}; else 400,
      also when SessionDuration is given for the credentials of a role assumed
      with another role's session (role chaining: "Invalid credentials parameter").
      SessionDuration is 900..43200 seconds; without it the console session
      lasts AWS's default, one hour.
  GET /federation?Action=login&Issuer=..&Destination=..&SigninToken=..
      → 302 to Destination when the token is valid (15 minutes); else 400.

The form-encoded POST variant is accepted too. Both steps are recorded
(kinds "signin_token", "console_login").
"""
import json
import secrets
import time

from . import core

PATH = "/federation"
TOKEN_LIFETIME = 900  # a sign-in token is valid for 15 minutes
DEFAULT_SESSION = 3600  # the console session without SessionDuration: an hour


def _bad(message, status=400):
    return core.Response(status, (message + "\n").encode(), {"Content-Type": "text/plain"})


class Federation:
    def __init__(self, world):
        self.world = world
        self.tokens = {}  # token -> dict

    def routes(self):
        return [(lambda req: req.path == PATH, "federation", self.handle)]

    async def handle(self, req):
        if req.method not in ("GET", "POST"):
            return _bad("Method not allowed", 405)
        p = req.params()
        action = p.get("Action")
        if action == "getSigninToken":
            return self._get_signin_token(p)
        if action == "login":
            return self._login(p)
        return _bad("Invalid Action")

    def _get_signin_token(self, p):
        dur = p.get("SessionDuration")
        if dur is not None:
            if not dur.isdigit() or not 900 <= int(dur) <= 43200:
                return _bad("SessionDuration must be between 900 and 43200 seconds")
            dur = int(dur)
        else:
            dur = DEFAULT_SESSION
        raw = p.get("Session")
        if raw is None:
            return _bad("Missing Session")
        try:
            sess = json.loads(raw)
            akid, key, tok = sess["sessionId"], sess["sessionKey"], sess["sessionToken"]
        except (ValueError, KeyError, TypeError):
            return _bad("Invalid Session")
        c = self.world.find_session(akid, key, tok)
        if c is None:
            self.world.record("signin_token", ok=False, access_key_id=str(akid))
            return _bad("Invalid or expired session credentials")
        if c.chained and p.get("SessionDuration") is not None:
            # AWS refuses a console session length for credentials of a role
            # assumed by another role's session (role chaining).
            self.world.record("signin_token", ok=False, access_key_id=c.access_key_id)
            return _bad("Invalid credentials parameter")
        token = secrets.token_urlsafe(96)
        now = time.time()
        self.tokens[token] = {"arn": c.arn, "account_id": c.account_id, "access_key_id": c.access_key_id,
                              "expires": now + TOKEN_LIFETIME, "session_duration": dur}
        self.world.record("signin_token", ok=True, access_key_id=c.access_key_id, arn=c.arn,
                          session_duration=dur)
        return core.Response(200, json.dumps({"SigninToken": token}).encode(),
                             {"Content-Type": "application/json"})

    def _login(self, p):
        token = p.get("SigninToken")
        dest = p.get("Destination")
        issuer = p.get("Issuer")
        t = self.tokens.get(token) if token else None
        if t is None or t["expires"] <= time.time():
            self.world.record("console_login", ok=False, destination=dest, issuer=issuer)
            return _bad("Invalid or expired SigninToken")
        if not dest or not dest.startswith("https://"):
            return _bad("Destination must be an https URL")
        self.world.record("console_login", ok=True, destination=dest, issuer=issuer, arn=t["arn"],
                          account_id=t["account_id"], session_duration=t["session_duration"])
        return core.Response(302, b"", {"Location": dest})
