"""The portal API (SPEC §7) over real sockets: a real xacctd with api.listen
set, a real redis-server and the emulator. Authentication, routing,
problem+json errors, reading, paging and events; an onboarding that failed
half-way finished by its retry; the OpenAPI document against the routes the
server answers."""
import hashlib
import http.client
import json
import os
import signal
import socket
import threading
import time
import unittest
import urllib.parse

from harness import Env, free_port, port_open, until_close, wait_for

TOKEN = "portal-token-" + "a" * 40
OTHER = "ops-token-" + "b" * 40


# SPEC §7: a customer in answers has exactly these, null when absent.
CUSTOMER_FIELDS = {
    "account_id", "state", "external_id", "pending_external_id", "region", "topic_arn",
    "role_arn", "stack_id", "launch_url", "template_url", "update_url", "template_version",
    "created_at", "updated_at", "verified_at", "last_error"}


def customers_in(doc):
    """The customer objects of an answer: the answer itself or its items."""
    if not isinstance(doc, dict):
        return []
    if "items" in doc:
        return [c for c in doc["items"] if "state" in c]
    return [doc] if "account_id" in doc and "state" in doc else []


def token_line(name, token):
    return f"{name}:{hashlib.sha256(token.encode()).hexdigest()}\n"


def portal_tokens(env):
    """An api.tokens_file in env's directory with the portal's token."""
    path = os.path.join(env.tmp, "api-tokens")
    with open(path, "w") as f:
        f.write(token_line("portal", TOKEN))
    return path


class ApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = env = Env().start()
        cls.tokens = os.path.join(env.tmp, "api-tokens")
        with open(cls.tokens, "w") as f:
            f.write("# portal tokens\n\n" + token_line("portal", TOKEN))
        cls.port = free_port()
        env.write_config(api__listen=f"127.0.0.1:{cls.port}", api__tokens_file=cls.tokens)
        cls.worker = env.start_worker()
        wait_for(lambda: cls._reachable(), 20, "the API to listen")

    @classmethod
    def tearDownClass(cls):
        env = cls.env
        try:
            log = env.worker_log(cls.worker)
            assert env.stop_worker(cls.worker) == 0, log[-3000:]
            assert TOKEN.encode() not in log and OTHER.encode() not in log
        finally:
            env.stop()

    @classmethod
    def _reachable(cls):
        try:
            cls.request("GET", "/v1/openapi.json", token=None)
            return True
        except OSError:
            return False

    @classmethod
    def request(cls, method, path, body=None, token=TOKEN, headers=None, raw=None):
        c = http.client.HTTPConnection("127.0.0.1", cls.port, timeout=30)
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        text = r.read()
        c.close()
        doc = json.loads(text) if text and r.getheader("Content-Type", "").endswith("json") else None
        if r.status < 300:
            for c in customers_in(doc):
                assert set(c) == CUSTOMER_FIELDS, (method, path, set(c) ^ CUSTOMER_FIELDS)
        return r.status, r, doc

    def assert_problem(self, status, r, doc, code):
        self.assertEqual(status, code, doc)
        self.assertEqual(r.getheader("Content-Type"), "application/problem+json")
        self.assertEqual(doc["status"], code)
        for k in ("type", "title", "detail"):
            self.assertIsInstance(doc[k], str)

    # ---- authentication and routing --------------------------------------
    def test_missing_or_wrong_token_is_401(self):
        for token in (None, "wrong", TOKEN + "x", TOKEN[:-1]):
            st, r, doc = self.request("GET", "/v1/customers", token=token)
            self.assert_problem(st, r, doc, 401)
            self.assertEqual(r.getheader("WWW-Authenticate"), "Bearer")
        st, r, doc = self.request("GET", "/v1/customers",
                                  headers={"Authorization": "Basic " + TOKEN}, token=None)
        self.assert_problem(st, r, doc, 401)
        # Two credentials, in either order: a proxy in front may have checked
        # the other one (RFC 9110 11.6.2: Authorization holds one).
        for first, second in ((TOKEN, "wrong"), ("wrong", TOKEN), (TOKEN, TOKEN)):
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            c.putrequest("GET", "/v1/customers")
            c.putheader("Authorization", f"Bearer {first}")
            c.putheader("authorization", f"Bearer {second}")
            c.endheaders()
            r = c.getresponse()
            doc = json.loads(r.read())
            c.close()
            self.assert_problem(r.status, r, doc, 401)
            self.assertEqual(r.getheader("WWW-Authenticate"), "Bearer")

    def test_unknown_route_and_wrong_method(self):
        st, r, doc = self.request("GET", "/v1/nothing-here")
        self.assert_problem(st, r, doc, 404)
        st, r, doc = self.request("PUT", "/v1/customers/123456789012")
        self.assert_problem(st, r, doc, 405)
        self.assertEqual(set(r.getheader("Allow").split(", ")), {"GET", "HEAD", "DELETE"})
        st, r, doc = self.request("GET", "/v1/customers/123456789012/rotate-external-id")
        self.assert_problem(st, r, doc, 405)
        self.assertEqual(r.getheader("Allow"), "POST")
        st, r, doc = self.request("PATCH", "/v1/customers")
        self.assert_problem(st, r, doc, 405)

    def test_head_is_get_without_the_body(self):
        # RFC 9110 9.3.2: HEAD answers as GET would, headers only; the same
        # authentication.
        acct = "400000000011"
        self.env.seed_customer(acct)
        for path, token in ((f"/v1/customers/{acct}", TOKEN), ("/v1/customers?limit=5", TOKEN),
                            (f"/v1/customers/{acct}/events", TOKEN),
                            ("/v1/openapi.json", None)):
            _, g, gdoc = self.request("GET", path, token=token)
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            c.request("HEAD", path,
                      headers={"Authorization": f"Bearer {token}"} if token else {})
            r = c.getresponse()
            self.assertEqual(r.read(), b"")
            c.close()
            self.assertEqual(r.status, 200, path)
            self.assertEqual(r.getheader("Content-Type"), g.getheader("Content-Type"), path)
            # The length of what GET sends.
            self.assertEqual(r.getheader("Content-Length"), g.getheader("Content-Length"), path)
        for path in (f"/v1/customers/{acct}", "/v1/customers"):
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            c.request("HEAD", path)
            r = c.getresponse()
            self.assertEqual(r.read(), b"")
            c.close()
            self.assertEqual(r.status, 401, path)
            self.assertEqual(r.getheader("WWW-Authenticate"), "Bearer")
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        c.request("HEAD", "/v1/customers/400000000999", headers={"Authorization": f"Bearer {TOKEN}"})
        r = c.getresponse()
        r.read()
        c.close()
        self.assertEqual(r.status, 404)
        # No GET there, no HEAD either; the 405 says what is allowed.
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        c.request("HEAD", f"/v1/customers/{acct}/rotate-external-id",
                  headers={"Authorization": f"Bearer {TOKEN}"})
        r = c.getresponse()
        r.read()
        c.close()
        self.assertEqual(r.status, 405)
        self.assertEqual(r.getheader("Allow"), "POST")
        # A 405 where GET is allowed lists HEAD too (RFC 9110 15.5.6).
        st, r, doc = self.request("PUT", "/v1/customers")
        self.assert_problem(st, r, doc, 405)
        self.assertEqual(set(r.getheader("Allow").split(", ")), {"GET", "HEAD", "POST"})
        st, r, doc = self.request("POST", "/v1/openapi.json", body={})
        self.assert_problem(st, r, doc, 405)
        self.assertEqual(set(r.getheader("Allow").split(", ")), {"GET", "HEAD"})

    def test_bad_account_id_is_422(self):
        for bad in ("12345", "12345678901a", "1234567890123", "1" * 16, "9" * 40):
            st, r, doc = self.request("GET", f"/v1/customers/{bad}")
            self.assert_problem(st, r, doc, 422)
            st, r, doc = self.request("GET", f"/v1/customers/{bad}/events")
            self.assert_problem(st, r, doc, 422)

    def test_body_over_16_kib_or_not_json_is_400(self):
        big = json.dumps({"account_id": "123456789012", "pad": "x" * 17000}).encode()
        st, r, doc = self.request("POST", "/v1/customers", raw=big)
        self.assert_problem(st, r, doc, 400)
        self.assertIn("16 KiB", doc["detail"])
        for raw in (b"{", b"[1]", b"", b'"123456789012"', b'{"account_id": "1", "account_id": "2"}'):
            st, r, doc = self.request("POST", "/v1/customers", raw=raw)
            self.assert_problem(st, r, doc, 400)

    def raw_exchange(self, head, body=b"", wait=5):
        """Sends head (the request line and headers, CRLF each, without the
        blank line), then body unless the server answered first; returns
        every status line received (100 Continue included) and the final
        answer's body."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=wait) as s:
            s.sendall(head.encode() + b"\r\n")
            got = b""
            statuses = []
            sent = False
            while True:
                end = got.find(b"\r\n\r\n")
                if end >= 0:
                    lines = got[:end].decode().split("\r\n")
                    statuses.append(lines[0])
                    code = int(lines[0].split()[1])
                    if code == 100:
                        got = got[end + 4:]
                        continue
                    length = 0
                    for line in lines[1:]:
                        k, _, v = line.partition(":")
                        if k.strip().lower() == "content-length":
                            length = int(v)
                    while len(got) < end + 4 + length:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        got += chunk
                    return statuses, got[end + 4:end + 4 + length]
                if statuses and not sent and body:
                    s.sendall(body)
                    sent = True
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    if not sent and body and not statuses:
                        # A client that sent Expect waits a while, then
                        # sends the body anyway (RFC 9110 10.1.1).
                        s.sendall(body)
                        sent = True
                        continue
                    raise
                if not chunk:
                    return statuses, b""
                got += chunk

    def test_a_refusal_the_headers_decide_needs_no_body(self):
        # RFC 9110 10.1.1: a server that will refuse the request from its
        # headers answers the final status instead of 100 Continue, and does
        # not read the body. A client without Expect is answered without
        # sending its (16 MiB) body either.
        h = "Host: api\r\nContent-Type: application/json\r\n"
        auth = f"Authorization: Bearer {TOKEN}\r\n"
        cases = (
            (h + auth + "Content-Length: 20000\r\nExpect: 100-continue\r\n", 400, "16 KiB"),
            (h + auth + "Content-Length: 16777216\r\n", 400, "16 KiB"),
            (h + "Content-Length: 40\r\nExpect: 100-continue\r\n", 401, "bearer"),
            (h + "Authorization: Bearer wrong\r\nContent-Length: 40\r\n"
             "Expect: 100-continue\r\n", 401, "bearer"),
            (h + "Content-Length: 20000\r\nExpect: 100-continue\r\n", 401, "bearer"),
        )
        for head, code, says in cases:
            statuses, body = self.raw_exchange("POST /v1/customers HTTP/1.1\r\n" + head,
                                               wait=3)
            self.assertEqual(len(statuses), 1, (head, statuses))
            self.assertTrue(statuses[0].startswith(f"HTTP/1.1 {code} "), (head, statuses))
            self.assertIn(says, json.loads(body)["detail"], head)
        statuses, body = self.raw_exchange(
            "POST /v1/nowhere HTTP/1.1\r\n" + h + auth
            + "Content-Length: 20000\r\nExpect: 100-continue\r\n", wait=3)
        self.assertEqual([s.split()[1] for s in statuses], ["404"])
        # A request the headers do not decide is invited to send its body.
        payload = json.dumps({"account_id": "12345"}).encode()
        statuses, body = self.raw_exchange(
            "POST /v1/customers HTTP/1.1\r\n" + h + auth
            + f"Content-Length: {len(payload)}\r\nExpect: 100-continue\r\n", payload)
        self.assertEqual([s.split()[1] for s in statuses], ["100", "422"])
        self.assertIn("12 digits", json.loads(body)["detail"])
        # A chunked body is still counted as it arrives.
        chunk = b"x" * 17000
        statuses, body = self.raw_exchange(
            "POST /v1/customers HTTP/1.1\r\n" + h + auth + "Transfer-Encoding: chunked\r\n",
            b"%x\r\n%s\r\n0\r\n\r\n" % (len(chunk), chunk))
        self.assertEqual([s.split()[1] for s in statuses], ["400"])

    def test_a_body_of_unknown_length_is_400_at_once(self):
        # RFC 9112 6.1: a Transfer-Encoding that does not end in chunked
        # (the only coding read here) leaves the body's length unknown: a
        # 400 at once, not a read until the client gives up.
        h = f"Host: api\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
        for te in ("gzip", "gzip, chunked", "identity"):
            statuses, body = self.raw_exchange(
                "POST /v1/customers HTTP/1.1\r\n" + h + f"Transfer-Encoding: {te}\r\n",
                b'{"account_id": "12345"}', wait=5)
            self.assertEqual([s.split()[1] for s in statuses], ["400"], te)
            self.assertIn("Transfer-Encoding", json.loads(body)["detail"])

    def test_ambiguous_framing_is_400_and_closes(self):
        # RFC 9112 3.2, 6.1 and 6.3: the framing is ambiguous; a proxy in front
        # may have read the other Content-Length, so what follows on the
        # connection must not be taken for a request (here a DELETE
        # smuggled in the body).
        env, acct = self.env, "400000000051"
        env.seed_customer(acct)
        smuggled = (f"DELETE /v1/customers/{acct} HTTP/1.1\r\nHost: api\r\n"
                    f"Authorization: Bearer {TOKEN}\r\nContent-Length: 0\r\n\r\n").encode()
        auth = f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
        cases = (
            (f"Host: api\r\n{auth}Content-Length: 0\r\nContent-Length: {len(smuggled)}\r\n",
             smuggled, "Content-Length"),
            (f"Host: api\r\n{auth}Content-Length: {len(smuggled)}\r\nContent-Length: 0\r\n",
             smuggled, "Content-Length"),
            (f"Host: api\r\nHost: other\r\n{auth}Content-Length: 0\r\n", smuggled, "Host"),
            # RFC 9112 3.2: no Host at all (answered in problem+json, once).
            (f"{auth}Content-Length: 0\r\n", smuggled, "no Host"),
            # RFC 9112 5.1: whitespace before the colon; a proxy may have
            # read no Content-Length (so the DELETE as a request of its own).
            (f"Host: api\r\n{auth}Content-Length : {len(smuggled)}\r\n", smuggled, "token"),
            # RFC 9112 6.1: both framings; a proxy may have used the other.
            (f"Host: api\r\n{auth}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
             b"0\r\n\r\n" + smuggled, "Content-Length"),
            # Read as "chunked, identity" by a proxy: not chunked last.
            (f"Host: api\r\n{auth}Transfer-Encoding: chunked\r\n"
             "Transfer-Encoding: identity\r\n", b"0\r\n\r\n" + smuggled, "Transfer-Encoding"),
        )
        for head, body, says in cases:
            got = until_close(self.port, b"POST /v1/customers HTTP/1.1\r\n" + head.encode()
                              + b"\r\n" + body)
            self.assertEqual(got.count(b"HTTP/1.1 "), 1, (head, got))
            self.assertTrue(got.startswith(b"HTTP/1.1 400 "), (head, got))
            self.assertIn(b"application/problem+json", got)
            self.assertIn(says, json.loads(got.partition(b"\r\n\r\n")[2])["detail"])
        self.assertEqual(env.customer(acct)["state"], "pending")

    def test_an_overlong_url_or_header_is_problem_json_and_closes(self):
        # SPEC §7: a URL over 8 KiB (as sent, query and escapes included) is
        # a 414, header fields over 16 KiB a 431, problem+json like every
        # other error rather than libmicrohttpd's own page; the connection is
        # closed after it.
        auth = f"Authorization: Bearer {TOKEN}\r\n"
        post = json.dumps({"account_id": "430000000009"}).encode()
        cases = (
            (f"GET /v1/customers?cursor={'c' * 9000} HTTP/1.1\r\nHost: api\r\n{auth}\r\n",
             414, "8 KiB"),
            # 9000 bytes sent, 3000 once decoded.
            (f"GET /v1/customers?cursor={'%41' * 3000} HTTP/1.1\r\nHost: api\r\n{auth}\r\n",
             414, "8 KiB"),
            (f"GET /v1/customers/{'1' * 9000} HTTP/1.1\r\nHost: api\r\n{auth}\r\n",
             414, "8 KiB"),
            (f"GET /v1/customers HTTP/1.1\r\nHost: api\r\n{auth}X-Pad: {'x' * 20000}\r\n\r\n",
             431, "16 KiB"),
            # Connections have the memory to read well past the limits.
            (f"GET /v1/customers HTTP/1.1\r\nHost: api\r\n{auth}X-Pad: {'x' * 40000}\r\n\r\n",
             431, "16 KiB"),
            ("GET /v1/openapi.json HTTP/1.1\r\nHost: api\r\n"
             + "".join(f"X-Pad-{i}: {'x' * 1000}\r\n" for i in range(20)) + "\r\n",
             431, "16 KiB"),
            # Refused on its headers: the body is never read.
            (f"POST /v1/customers HTTP/1.1\r\nHost: api\r\n{auth}X-Pad: {'x' * 20000}\r\n"
             f"Content-Type: application/json\r\nContent-Length: {len(post)}\r\n\r\n",
             431, "16 KiB"),
        )
        for head, code, says in cases:
            got = until_close(self.port, head.encode() + (post if head.startswith("POST") else b""))
            self.assertEqual(got.count(b"HTTP/1.1 "), 1, (head[:60], got[:300]))
            top, _, body = got.partition(b"\r\n\r\n")
            self.assertTrue(top.startswith(b"HTTP/1.1 %d " % code), (head[:60], top))
            self.assertIn(b"\r\ncontent-type: application/problem+json\r\n", top.lower() + b"\r\n")
            doc = json.loads(body)
            self.assertEqual(doc["status"], code)
            for k in ("type", "title", "detail"):
                self.assertIsInstance(doc[k], str)
            self.assertIn(says, doc["detail"])
        self.assertEqual(self.env.customer("430000000009"), {})
        # Just under the limits the request is served as usual.
        st, r, doc = self.request("GET", "/v1/customers?limit=1&cursor=" + "c" * 8000)
        self.assert_problem(st, r, doc, 422)
        self.assertIn("cursor", doc["detail"])
        st, r, doc = self.request("GET", "/v1/customers?limit=1",
                                  headers={f"X-Pad-{i}": "x" * 1000 for i in range(15)})
        self.assertEqual(st, 200, doc)

    def test_many_short_arguments_or_lines_within_the_limits_are_answered(self):
        # libmicrohttpd records every query argument and header line in the
        # connection's memory: as many as fit in 8 KiB of URL or 16 KiB of
        # header fields are read and answered like any other request, never
        # dropped without an answer or refused with its own HTML page.
        for acct in ("400000000061", "400000000062"):
            self.env.seed_customer(acct)
        st, r, doc = self.request("GET", "/v1/customers?limit=1&" + "&".join(["a"] * 4000))
        self.assertEqual(st, 200, doc)
        self.assertEqual(len(doc["items"]), 1)
        st, r, doc = self.request("GET", "/v1/customers?limit=1&" + "&".join(["limit=2"] * 1000))
        self.assert_problem(st, r, doc, 422)
        st, r, doc = self.request("GET", "/v1/customers?limit=1",
                                  headers={f"x{i}": "" for i in range(1700)})
        self.assertEqual(st, 200, doc)

    def test_escaped_slash_or_nul_never_reroutes(self):
        # MHD decodes the path before it is routed: an escaped "/" must not
        # split the account's segment into another route, nor an escaped
        # NUL cut off what follows (RFC 3986 2.2: an escaped delimiter is
        # data).
        env, acct = self.env, "400000000031"
        env.seed_customer(acct)
        for path in (f"/v1/customers/{acct}%2Fevents", f"/v1/customers/{acct}%2fevents",
                     f"/v1/customers/{acct}%00", f"/v1/customers/{acct}%00/events",
                     f"/v1/customers/{acct}%2F"):
            st, r, doc = self.request("GET", path)
            self.assertIn(st, (404, 422), path)
            self.assertEqual(r.getheader("Content-Type"), "application/problem+json", path)
        st, r, doc = self.request("DELETE", f"/v1/customers/{acct}%00junk")
        self.assert_problem(st, r, doc, 422)
        for q in ("limit=5%00junk", "state=pending%00junk", f"cursor=1%3A{acct}%00"):
            st, r, doc = self.request("GET", f"/v1/customers?{q}")
            self.assert_problem(st, r, doc, 422)
        self.assertEqual(env.customer(acct)["state"], "pending")
        # Other escapes are decoded as before.
        st, r, doc = self.request("GET", f"/v1/customers/{acct[:4]}%3{acct[4]}{acct[5:]}")
        self.assertEqual(st, 200, doc)
        st, r, doc = self.request("GET", "/v1/customers?limit=%35&state=p%65nding")
        self.assertEqual(st, 200, doc)

    def test_a_cancel_stands_when_it_cannot_be_read_back(self):
        # SPEC §7: an error means nothing changed. Redis refusing the read
        # that follows a committed cancel (HGETALL denied: a blip that does
        # not pass) must not turn it into a 503.
        env, acct = self.env, "400000000041"
        env.seed_customer(acct)
        env.r.execute_command("ACL", "SETUSER", "default", "-hgetall")
        try:
            st, r, doc = self.request("DELETE", f"/v1/customers/{acct}")
        finally:
            env.r.execute_command("ACL", "SETUSER", "default", "+hgetall")
        self.assertEqual(st, 200, doc)
        self.assertEqual((doc["account_id"], doc["state"]), (acct, "cancelled"))
        self.assertEqual(env.customer(acct)["state"], "cancelled")

        # A blip that passes: the read is tried again and the answer is the
        # record.
        acct = "400000000042"
        ext = env.seed_customer(acct)
        env.r.execute_command("ACL", "LOG", "RESET")
        env.r.execute_command("ACL", "SETUSER", "default", "-hgetall")
        answer = {}

        def delete():
            answer["r"] = self.request("DELETE", f"/v1/customers/{acct}")

        t = threading.Thread(target=delete)
        t.start()
        try:
            wait_for(lambda: env.r.execute_command("ACL", "LOG"), 20, "the read to be refused")
        finally:
            env.r.execute_command("ACL", "SETUSER", "default", "+hgetall")
            t.join(30)
        st, r, doc = answer["r"]
        self.assertEqual(st, 200, doc)
        self.assertEqual((doc["state"], doc["external_id"]), ("cancelled", ext))
        self.assertIsNotNone(doc["updated_at"])

    def test_bad_fields_are_422_and_change_nothing(self):
        env = self.env
        before = env.r.dbsize()
        for body in ({"account_id": "12345"}, {"account_id": 123456789012},
                     {"account_id": "430000000001", "region": "mars-north-1"},
                     {"account_id": "430000000001", "region": "eu-west-3"},
                     {"account_id": "430000000001", "color": "blue"}, {}):
            st, r, doc = self.request("POST", "/v1/customers", body=body)
            self.assert_problem(st, r, doc, 422)
        self.assertEqual(env.r.dbsize(), before)
        self.assertEqual(env.customer("430000000001"), {})

    def test_problems_stay_json_whatever_the_request_holds(self):
        # The detail names what was wrong, cut to a length: a cut inside a
        # multi-byte character must not leave an answer without its JSON.
        for key in ("k" * 63 + "\u00e9", "\u00e9" * 40, "k" * 62 + "\U0001f600"):
            st, r, doc = self.request("POST", "/v1/customers",
                                      body={"account_id": "430000000001", key: 1})
            self.assert_problem(st, r, doc, 422)
            self.assertIn("unknown field", doc["detail"])
        self.assertEqual(self.env.customer("430000000001"), {})

    def test_onboard_then_repeat_then_rotate(self):
        env, acct = self.env, "430000000002"
        st, r, doc = self.request("POST", "/v1/customers",
                                  body={"account_id": acct, "region": env.regions[0]})
        self.assertEqual(st, 201, doc)
        self.assertEqual(doc["account_id"], acct)
        self.assertEqual(doc["state"], "pending")
        # RFC 9110 15.3.2: the new resource is named by Location, not the
        # collection the POST went to.
        self.assertEqual(r.getheader("Location"), f"/v1/customers/{acct}")
        self.assertEqual(self.request("GET", r.getheader("Location"))[2]["external_id"],
                         doc["external_id"])
        ext = doc["external_id"]
        self.assertRegex(ext, r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        self.assertEqual(doc["topic_arn"], env.topics[env.regions[0]][0])
        rec = env.customer(acct)
        self.assertEqual(rec["state"], "pending")
        self.assertEqual(rec["external_id"], ext)
        self.assertEqual(env.r.get(f"{env.PREFIX}external-id:{ext}").decode(), acct)
        # The account may now publish to its topic (the emulator evaluates
        # the policy xacct wrote).
        self.assertIn(acct, json.dumps(env.topic_policy(doc["topic_arn"])))
        # The token's name is the audit actor.
        st, r, ev = self.request("GET", f"/v1/customers/{acct}/events")
        self.assertEqual(st, 200, ev)
        self.assertIn("portal", [e["actor"] for e in ev["items"]])

        # Repeating it for a pending customer returns the same record.
        st, r, again = self.request("POST", "/v1/customers", body={"account_id": acct})
        self.assertEqual(st, 200, again)
        self.assertEqual(again["external_id"], ext)
        self.assertIsNone(r.getheader("Location"))  # nothing was created

        st, r, rot = self.request("POST", f"/v1/customers/{acct}/rotate-external-id")
        self.assertEqual(st, 200, rot)
        self.assertNotEqual(rot["external_id"], ext)
        self.assertEqual(env.customer(acct)["external_id"], rot["external_id"])
        self.assertIsNone(env.r.get(f"{env.PREFIX}external-id:{ext}"))
        st, r, doc = self.request("POST", "/v1/customers/430000000999/rotate-external-id")
        self.assert_problem(st, r, doc, 404)

        # An active customer cannot be onboarded again: 409, nothing changes.
        env.r.hset(f"{env.PREFIX}customer:{acct}", "state", "active")
        st, r, doc = self.request("POST", "/v1/customers", body={"account_id": acct})
        self.assert_problem(st, r, doc, 409)
        self.assertEqual(env.customer(acct)["external_id"], rot["external_id"])

    def test_concurrent_posts_for_one_account_make_one_onboarding(self):
        env, acct = self.env, "430000000003"
        results = []

        def post():
            st, _, doc = self.request("POST", "/v1/customers", body={"account_id": acct})
            results.append((st, doc))
        threads = [threading.Thread(target=post) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(sorted(st for st, _ in results), [200, 200, 200, 201], results)
        ext = env.customer(acct)["external_id"]
        self.assertEqual({doc["external_id"] for _, doc in results}, {ext})
        # The IDs the later posts reserved were given up, not left to a lease.
        held = [k for k in env.r.scan_iter(env.PREFIX + "external-id:*")
                if env.r.get(k) == acct.encode()]
        self.assertEqual(held, [(env.PREFIX + "external-id:" + ext).encode()])
        self.assertEqual(env.r.pttl(held[0]), -1)
        onboarded = [e for e in self.request("GET", f"/v1/customers/{acct}/events")[2]["items"]
                     if e["type"] == "onboarded"]
        self.assertEqual(len(onboarded), 1)

    def test_workers_of_a_host_share_the_api_port(self):
        # xacctd@1, @2, ... read one configuration: the second worker listens
        # on the same api.listen, and the portal is served while either runs.
        second = self.env.start_worker()
        try:
            self.assertNotIn(b"cannot listen", self.env.worker_log(second))
            for _ in range(4):
                self.assertEqual(self.request("GET", "/v1/customers")[0], 200)
        finally:
            self.assertEqual(self.env.stop_worker(second), 0)
        self.assertEqual(self.request("GET", "/v1/customers")[0], 200)

    def test_tokens_are_reloaded_on_sighup(self):
        self.assertEqual(self.request("GET", "/v1/customers", token=OTHER)[0], 401)
        with open(self.tokens, "w") as f:
            f.write(token_line("ops", OTHER))
        try:
            self.worker.send_signal(signal.SIGHUP)
            wait_for(lambda: self.request("GET", "/v1/customers", token=OTHER)[0] == 200, 20,
                     "the new token to be accepted")
            self.assertEqual(self.request("GET", "/v1/customers", token=TOKEN)[0], 401)
            # A broken file keeps the tokens in force.
            with open(self.tokens, "w") as f:
                f.write("ops:not-a-hash\n")
            self.worker.send_signal(signal.SIGHUP)
            wait_for(lambda: b"api.tokens_reload_failed" in self.env.worker_log(self.worker),
                     20, "the refused reload to be logged")
            self.assertEqual(self.request("GET", "/v1/customers", token=OTHER)[0], 200)
            # An emptied file revokes every token.
            with open(self.tokens, "w") as f:
                f.write("# every token revoked\n")
            self.worker.send_signal(signal.SIGHUP)
            wait_for(lambda: self.request("GET", "/v1/customers", token=OTHER)[0] == 401, 20,
                     "the last token to be refused")
            self.assertIn(b"api.no_tokens", self.env.worker_log(self.worker))
        finally:
            with open(self.tokens, "w") as f:
                f.write(token_line("portal", TOKEN))
            self.worker.send_signal(signal.SIGHUP)
            wait_for(lambda: self.request("GET", "/v1/customers", token=TOKEN)[0] == 200, 20,
                     "the portal token to be accepted again")

    def test_tokens_are_reloaded_when_the_config_is_refused(self):
        # Revoking a token must not wait for an unrelated broken edit.
        with open(self.env.config_path) as f:
            config = f.read()
        try:
            with open(self.env.config_path, "w") as f:
                f.write(config + "\n[queue\n")
            with open(self.tokens, "w") as f:
                f.write(token_line("ops", OTHER))
            self.worker.send_signal(signal.SIGHUP)
            wait_for(lambda: b"config.reload_failed" in self.env.worker_log(self.worker),
                     20, "the refused configuration to be logged")
            wait_for(lambda: self.request("GET", "/v1/customers", token=OTHER)[0] == 200, 20,
                     "the new token to be accepted")
            self.assertEqual(self.request("GET", "/v1/customers", token=TOKEN)[0], 401)
        finally:
            with open(self.env.config_path, "w") as f:
                f.write(config)
            with open(self.tokens, "w") as f:
                f.write(token_line("portal", TOKEN))
            self.worker.send_signal(signal.SIGHUP)
            wait_for(lambda: self.request("GET", "/v1/customers", token=TOKEN)[0] == 200, 20,
                     "the portal token to be accepted again")

    # ---- reading -----------------------------------------------------------
    def test_get_customer(self):
        env, acct = self.env, "400000000001"
        ext = env.seed_customer(acct)
        st, r, doc = self.request("GET", f"/v1/customers/{acct}")
        self.assertEqual(st, 200, doc)
        self.assertEqual(r.getheader("Content-Type"), "application/json")
        self.assertEqual(doc["account_id"], acct)
        self.assertEqual(doc["state"], "pending")
        self.assertEqual(doc["external_id"], ext)
        self.assertEqual(doc["topic_arn"], env.topics[env.regions[0]][0])
        for k in ("pending_external_id", "region", "role_arn", "stack_id", "launch_url",
                  "template_url", "update_url", "template_version", "created_at", "updated_at",
                  "verified_at", "last_error"):
            self.assertIn(k, doc)
        self.assertIsNone(doc["role_arn"])
        self.assertRegex(doc["created_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        st, r, doc = self.request("GET", "/v1/customers/400000000999")
        self.assert_problem(st, r, doc, 404)

    def test_list_pages_through_every_customer_newest_first(self):
        env = self.env
        accts = [f"41000000{i:04d}" for i in range(25)]
        base = int(time.time() * 1000)
        for i, a in enumerate(accts):
            env.seed_customer(a)
            # Distinct update times, and two customers in the same millisecond.
            env.r.zadd(f"{env.PREFIX}customers", {a: base + 1000 + (i if i != 24 else 23)})
        seen, cursor, pages = [], None, 0
        while True:
            q = "/v1/customers?limit=10" + (f"&cursor={cursor}" if cursor else "")
            st, r, doc = self.request("GET", q)
            self.assertEqual(st, 200, doc)
            self.assertLessEqual(len(doc["items"]), 10)
            seen += [c["account_id"] for c in doc["items"]]
            pages += 1
            cursor = doc["next_cursor"]
            if cursor is None:
                break
            self.assertLess(pages, 20)
        ours = [a for a in seen if a in accts]
        self.assertEqual(len(ours), len(set(ours)))
        self.assertEqual(set(ours), set(accts))
        # Newest first: the zset order, ties by account descending.
        self.assertEqual(ours[:3], [accts[24], accts[23], accts[22]])
        self.assertEqual(ours[-1], accts[0])

        st, r, doc = self.request("GET", "/v1/customers?state=active&limit=5")
        self.assertEqual(st, 200, doc)
        self.assertTrue(all(c["state"] == "active" for c in doc["items"]))
        for bad in ("limit=0", "limit=1001", "limit=x", "state=sleepy", "cursor=abc",
                    "cursor=1:2", "limit=+5", "limit=%205", "limit=5%20", "limit=-0",
                    "limit=", "limit=0x10", "limit=5.0", "limit=99999999999999999999999",
                    "limit=1&limit=1001", "limit=5&limit=5", "state=active&state=pending",
                    "state=active&state", f"cursor={base}:{accts[0]}&cursor=1:{accts[1]}"):
            st, r, doc = self.request("GET", f"/v1/customers?{bad}")
            self.assert_problem(st, r, doc, 422)
            if "&" in bad:
                # Which of two values a proxy in front checked is unknown.
                self.assertIn("more than once", doc["detail"])

    def test_events_newest_first(self):
        env, acct = self.env, "400000000002"
        env.seed_customer(acct)
        for i in range(3):
            env.xacct("rotate-external-id", acct, "--json", check=True)
        st, r, doc = self.request("GET", f"/v1/customers/{acct}/events?limit=2")
        self.assertEqual(st, 200, doc)
        self.assertEqual(len(doc["items"]), 2)
        ids = [e["id"] for e in doc["items"]]
        self.assertEqual(ids, sorted(ids, key=lambda s: tuple(map(int, s.split("-"))),
                                     reverse=True))
        for e in doc["items"]:
            self.assertRegex(e["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$")
            self.assertIsInstance(e["type"], str)
        st, r, doc = self.request("GET", "/v1/customers/400000000998/events")
        self.assert_problem(st, r, doc, 404)
        for bad in ("+2", "%202", "2%20", "-1", "0", "1&limit=1000", "2&limit=2"):
            st, r, doc = self.request("GET", f"/v1/customers/{acct}/events?limit={bad}")
            self.assert_problem(st, r, doc, 422)
        st, r, doc = self.request("GET", f"/v1/customers/{acct}/events?limit=02")
        self.assertEqual(len(doc["items"]), 2)

    # ---- the OpenAPI document ------------------------------------------------
    def test_openapi_document_matches_the_routes(self):
        st, r, doc = self.request("GET", "/v1/openapi.json", token=None)
        self.assertEqual(st, 200)
        self.assertEqual(doc["openapi"], "3.1.0")
        with open(os.path.join(os.path.dirname(__file__), "..", "..", "docs",
                               "openapi.json")) as f:
            self.assertEqual(doc, json.load(f))
        # Every field of SPEC §7 is documented, and as always present.
        customer = doc["components"]["schemas"]["Customer"]
        self.assertEqual(set(customer["properties"]), CUSTOMER_FIELDS)
        self.assertEqual(set(customer["required"]), CUSTOMER_FIELDS)
        created = doc["paths"]["/v1/customers"]["post"]["responses"]["201"]
        self.assertTrue(created["headers"]["Location"]["required"])
        self.assertIn("detail", doc["components"]["schemas"]["Problem"]["required"])
        # The list's state filter takes exactly the states a customer has.
        (state,) = [p for p in doc["paths"]["/v1/customers"]["get"]["parameters"]
                    if p["name"] == "state"]
        self.assertEqual(state["schema"]["enum"], customer["properties"]["state"]["enum"])
        for value in state["schema"]["enum"]:
            st, r, body = self.request("GET", f"/v1/customers?state={value}&limit=1")
            self.assertEqual(st, 200, (value, body))
        st, r, body = self.request("GET", "/v1/customers?state=unknown")
        self.assert_problem(st, r, body, 422)
        documented = set()
        for path, item in doc["paths"].items():
            for method in item:
                if method in ("get", "post", "delete", "put", "patch"):
                    documented.add((method.upper(), path))
        # Every documented route is answered (not 404 for an unknown route,
        # not 405), with the path parameter filled in.
        for method, path in documented:
            p = path.replace("{account_id}", "400000000777")
            st, r, body = self.request(method, p, body={} if method == "POST" else None)
            self.assertNotEqual(st, 405, (method, path))
            if st == 404:
                self.assertNotEqual(body["detail"], "no such route", (method, path))
        # Every method the server allows on a documented path is documented:
        # the Allow header of a 405 lists exactly the documented methods, and
        # HEAD wherever GET is (RFC 9110 9.3.2).
        for path in doc["paths"]:
            p = path.replace("{account_id}", "400000000777")
            st, r, body = self.request("PUT", p)
            self.assertEqual(st, 405, path)
            allowed = set(r.getheader("Allow").split(", "))
            want = {m for m, q in documented if q == path}
            self.assertEqual(allowed, want | ({"HEAD"} if "GET" in want else set()), path)


class ApiRepeatTest(unittest.TestCase):
    """SPEC §7: repeating POST /v1/customers for a pending customer returns
    the same record (200) — unless it names another region than the one the
    pending onboarding has: a state conflict (409), nothing changed. Two
    regions with a partner topic each."""

    @classmethod
    def setUpClass(cls):
        cls.env = env = Env(regions=("us-east-1", "eu-west-1")).start()
        ApiTest.port = cls.port = free_port()
        env.write_config(api__listen=f"127.0.0.1:{cls.port}", api__tokens_file=portal_tokens(env))
        cls.worker = env.start_worker()
        wait_for(ApiTest._reachable, 20, "the API to listen")

    @classmethod
    def tearDownClass(cls):
        cls.env.stop_after(cls.worker)

    def setUp(self):
        ApiTest.port = self.port

    def snapshot(self, acct):
        env, p = self.env, self.env.PREFIX
        return (env.customer(acct), env.r.xlen(f"{p}events:{acct}"), env.r.xlen(f"{p}outbox"),
                {t: sorted(env.r.smembers(f"{p}topic:{t}")) for ts in env.topics.values()
                 for t in ts})

    def test_repeat_naming_another_region_is_409(self):
        env, acct = self.env, "460000000001"
        st, _, doc = ApiTest.request("POST", "/v1/customers",
                                     body={"account_id": acct, "region": "us-east-1"})
        self.assertEqual(st, 201, doc)
        ext = doc["external_id"]
        before = self.snapshot(acct)
        st, r, doc = ApiTest.request("POST", "/v1/customers",
                                     body={"account_id": acct, "region": "eu-west-1"})
        self.assertEqual(st, 409, doc)
        self.assertEqual(r.getheader("Content-Type"), "application/problem+json")
        self.assertEqual(doc["status"], 409)
        self.assertIn("us-east-1", doc["detail"])
        self.assertEqual(self.snapshot(acct), before)
        # The same region, or none: the same record.
        for body in ({"account_id": acct, "region": "us-east-1"}, {"account_id": acct},
                     {"account_id": acct, "region": None}):
            st, _, doc = ApiTest.request("POST", "/v1/customers", body=body)
            self.assertEqual(st, 200, (body, doc))
            self.assertEqual(doc["external_id"], ext)
            self.assertEqual(doc["region"], "us-east-1")
        self.assertEqual(env.customer(acct)["external_id"], ext)

    def test_repeat_in_other_states(self):
        env, acct = self.env, "460000000002"
        st, _, doc = ApiTest.request("POST", "/v1/customers",
                                     body={"account_id": acct, "region": "us-east-1"})
        self.assertEqual(st, 201, doc)
        key = f"{env.PREFIX}customer:{acct}"
        # A connected customer, or one leaving: 409, nothing changes.
        for state in ("active", "degraded", "offboarding"):
            env.r.hset(key, "state", state)
            before = self.snapshot(acct)
            for body in ({"account_id": acct}, {"account_id": acct, "region": "eu-west-1"}):
                st, r, doc = ApiTest.request("POST", "/v1/customers", body=body)
                self.assertEqual(st, 409, (state, doc))
                self.assertIn(state, doc["detail"])
                self.assertEqual(self.snapshot(acct), before)
        # A closed one is onboarded again: a new external ID, in the region asked.
        for state, region in (("offboarded", "eu-west-1"), ("rejected", "us-east-1"),
                              ("expired", "eu-west-1"), ("cancelled", "us-east-1")):
            env.r.hset(key, "state", state)
            old = env.customer(acct)["external_id"]
            st, _, doc = ApiTest.request("POST", "/v1/customers",
                                         body={"account_id": acct, "region": region})
            self.assertEqual(st, 201, (state, doc))
            self.assertEqual((doc["state"], doc["region"]), ("pending", region))
            self.assertNotEqual(doc["external_id"], old)
            self.assertEqual(doc["topic_arn"], env.topics[region][0])


class ApiPagingEndTest(unittest.TestCase):
    """SPEC §7: next_cursor is null at the end, also when the last page is
    exactly full, so a walk never ends with an empty page. Its own Redis:
    the walks count every customer there is."""

    def walk(self, query):
        pages, cursor = [], None
        while True:
            q = f"/v1/customers?{query}" + (f"&cursor={cursor}" if cursor else "")
            st, r, doc = ApiTest.request("GET", q)
            self.assertEqual(st, 200, doc)
            pages.append([c["account_id"] for c in doc["items"]])
            cursor = doc["next_cursor"]
            if cursor is None:
                return pages
            self.assertLess(len(pages), 50, query)

    def test_the_last_page_has_no_cursor(self):
        env = Env().start()
        try:
            ApiTest.port = port = free_port()
            env.write_config(api__listen=f"127.0.0.1:{port}", api__tokens_file=portal_tokens(env))
            worker = env.start_worker()
            wait_for(ApiTest._reachable, 20, "the API to listen")
            accts = [f"44000000{i:04d}" for i in range(7)]
            base = int(time.time() * 1000)
            for i, a in enumerate(accts):
                env.seed_customer(a)
                env.r.zadd(f"{env.PREFIX}customers", {a: base + i})
            # The oldest is active: the last entry a pending walk looks at.
            env.r.hset(f"{env.PREFIX}customer:{accts[0]}", "state", "active")
            newest = accts[::-1]
            for state, want in (("", newest), ("pending", newest[:-1]),
                                ("active", newest[-1:])):
                for limit in range(1, len(want) + 2):
                    pages = self.walk(f"state={state}&limit={limit}")
                    self.assertEqual(len(pages), -(-len(want) // limit), (state, limit, pages))
                    self.assertTrue(all(0 < len(p) <= limit for p in pages), (state, limit))
                    self.assertEqual(sum(pages, []), want, (state, limit))

            # A state rare among many: a page looks at no more than ten times
            # its limit, so it may hold fewer items than limit, even none,
            # with a cursor; only a null cursor ends the walk.
            for i in range(25):
                a = f"44000001{i:04d}"
                env.seed_customer(a)
                env.r.hset(f"{env.PREFIX}customer:{a}", "state", "offboarded")
            pages = self.walk("state=active&limit=1")
            self.assertEqual(sum(pages, []), [accts[0]])
            self.assertEqual(pages[-1], [accts[0]])  # found last: no empty page after it
            self.assertLessEqual(len(pages), 4)
            self.assertEqual(env.stop_worker(worker), 0, env.worker_log(worker)[-3000:])
        finally:
            env.stop()


class ApiAwsFailureTest(unittest.TestCase):
    """SPEC §7: nothing is half-done on an error. An onboarding or a rotation
    that AWS fails (the allow-list, the template's upload) answers 503 and
    leaves the customer as it was: no record, no event, no ID; a link
    handed out before still works."""

    BUCKET = "xacct-templates"

    def test_a_503_changes_nothing(self):
        env = Env().start()
        try:
            env.ctl("POST", "/_fake/s3/buckets", {"name": self.BUCKET})
            tokens = portal_tokens(env)
            ApiTest.port = port = free_port()
            env.write_config(api__listen=f"127.0.0.1:{port}", api__tokens_file=tokens,
                             cloudformation__template_bucket=self.BUCKET)
            worker = env.start_worker()
            wait_for(ApiTest._reachable, 20, "the API to listen")
            acct, region = "430000000077", env.regions[0]
            topic = env.topics[region][0]
            outbox = env.r.xlen(env.PREFIX + "outbox")

            for service in ("sns", "s3"):
                env.fa.set_faults(service, error_rate=1.0)
                try:
                    st, r, doc = ApiTest.request("POST", "/v1/customers",
                                                 body={"account_id": acct, "region": region})
                finally:
                    env.fa.clear_faults()
                self.assertEqual(st, 503, doc)
                self.assertTrue(r.getheader("Retry-After", "").isdigit())
                st, _, doc = ApiTest.request("GET", f"/v1/customers/{acct}")
                self.assertEqual(st, 404, (service, doc))
                self.assertEqual(env.r.xlen(env.PREFIX + "outbox"), outbox, service)
                self.assertEqual([k for k in env.r.scan_iter(env.PREFIX + "external-id:*")
                                  if env.r.get(k) == acct.encode()], [], service)
                self.assertFalse(env.r.sismember(env.PREFIX + "topic:" + topic, acct), service)
            # The upload failed after the topic's policy was written with the
            # account: the clean-up the release queued rewrites it (a worker
            # takes due clean-ups as it starts).
            self.assertIn(acct, json.dumps(env.topic_policy(topic)))
            self.assertEqual(env.stop_worker(worker), 0, env.worker_log(worker)[-3000:])
            worker = env.start_worker()
            wait_for(lambda: acct not in json.dumps(env.topic_policy(topic)), 30,
                     "the account to leave the topic policy")
            wait_for(lambda: env.r.zcard(env.PREFIX + "cleanup") == 0, 30,
                     "the clean-up to finish")
            wait_for(ApiTest._reachable, 20, "the API to listen")

            st, r, doc = ApiTest.request("POST", "/v1/customers",
                                         body={"account_id": acct, "region": region})
            self.assertEqual(st, 201, doc)  # a new onboarding, not a repeat
            ext, launch = doc["external_id"], doc["launch_url"]
            self.assertEqual(doc["topic_arn"], topic)
            self.assertIn(acct, json.dumps(env.topic_policy(topic)))
            key = urllib.parse.urlsplit(doc["template_url"]).path[len(self.BUCKET) + 2:]
            st, tpl = env.fa.control("GET", f"/_fake/s3/objects/{self.BUCKET}/{key}")
            self.assertEqual(st, 200, tpl)
            self.assertIn(ext, json.dumps(tpl))
            self.assertEqual(env.r.xlen(env.PREFIX + "outbox"), outbox + 1)

            # A rotation AWS fails keeps the ID, its template and its link.
            for service in ("sns", "s3"):
                env.fa.set_faults(service, error_rate=1.0)
                try:
                    st, r, doc = ApiTest.request("POST",
                                                 f"/v1/customers/{acct}/rotate-external-id")
                finally:
                    env.fa.clear_faults()
                self.assertEqual(st, 503, doc)
                rec = env.customer(acct)
                self.assertEqual(rec["external_id"], ext, service)
                self.assertNotIn("pending_external_id", rec)
                self.assertEqual(env.r.xlen(env.PREFIX + "outbox"), outbox + 1, service)
                self.assertEqual(len([k for k in env.r.scan_iter(env.PREFIX + "external-id:*")
                                      if env.r.get(k) == acct.encode()]), 1, service)
            st, _ = env.fa.control("GET", f"/_fake/s3/objects/{self.BUCKET}/{key}")
            self.assertEqual(st, 200)
            status, st = env.create_stack_from_link(acct, launch)
            self.assertEqual(status, 201, st)
            stack = env.wait_stack(st["stack_id"], timeout=120)
            self.assertEqual(stack["status"], "CREATE_COMPLETE", stack["status_reason"])
            self.assertEqual(env.customer(acct)["state"], "active")
            self.assertEqual(env.stop_worker(worker), 0, env.worker_log(worker)[-3000:])
        finally:
            env.stop()


class LockHolderKilledTest(unittest.TestCase):
    """The topic-policy lock of a region is taken with a ten-second lease,
    renewed while its holder works: a worker killed while it rewrites a
    policy stops the region's next onboarding for seconds, not a minute."""

    @staticmethod
    def post(port, account, region):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=90)
        c.request("POST", "/v1/customers",
                  body=json.dumps({"account_id": account, "region": region}),
                  headers={"Authorization": f"Bearer {TOKEN}",
                           "Content-Type": "application/json"})
        r = c.getresponse()
        doc = json.loads(r.read() or b"null")
        c.close()
        return r.status, doc

    def test_killed_holder_stops_the_region_for_seconds(self):
        env = Env().start()
        try:
            tokens = portal_tokens(env)
            env.write_config(api__tokens_file=tokens)
            ports = [free_port(), free_port()]
            w1, w2 = (env.start_worker(extra_env={"XACCT_API_LISTEN": f"127.0.0.1:{p}"})
                      for p in ports)
            region = env.regions[0]
            lock = f"{env.PREFIX}lock:topics:{region}"
            # Every SNS call takes 7 s: w1 holds the lock through
            # GetTopicAttributes and into SetTopicAttributes, 14 s in all.
            env.fa.set_faults("sns", latency_ms=7000)
            cut = []
            t = threading.Thread(target=lambda: cut.append(self._post_cut(ports[0], region)))
            t.start()
            token = wait_for(lambda: env.r.get(lock), 30, "w1 to take the lock")
            self.assertTrue(0 < env.r.pttl(lock) <= 10000, env.r.pttl(lock))
            time.sleep(11)  # past the first lease: renewed, by the same holder
            self.assertEqual(env.r.get(lock), token)
            w1.kill()
            w1.wait()
            t.join(60)
            self.assertEqual(cut, ["cut"])
            env.fa.clear_faults()

            started = time.monotonic()
            st, doc = self.post(ports[1], "440000000002", region)
            waited = time.monotonic() - started
            self.assertEqual(st, 201, doc)
            self.assertLess(waited, 30)  # the old lease was a minute
            # The onboarding w1 did not finish is finished by its retry.
            st, doc = self.post(ports[1], "440000000001", region)
            self.assertIn(st, (200, 201), doc)
            policy = json.dumps(env.topic_policy(env.topics[region][0]))
            self.assertIn("440000000001", policy)
            self.assertIn("440000000002", policy)
            self.assertIsNone(env.r.get(lock))
            self.assertEqual(env.stop_worker(w2), 0, env.worker_log(w2)[-3000:])
        finally:
            env.stop()

    def _post_cut(self, port, region):
        try:
            self.post(port, "440000000001", region)
            return "answered"
        except (OSError, http.client.HTTPException):
            return "cut"


class CallOutlivesTokensTest(unittest.TestCase):
    """A call still waiting for AWS when the token table is replaced (SIGHUP)
    or the API stops (SIGTERM) keeps its actor: it is answered and logged
    under the token's name, and the worker exits 0 (under ASan: nothing
    used after it was freed)."""

    def test_reload_and_stop_while_calls_wait(self):
        env = Env().start()
        try:
            port = free_port()
            env.write_config(api__listen=f"127.0.0.1:{port}", api__tokens_file=portal_tokens(env))
            w = env.start_worker()
            wait_for(lambda: port_open(port), 20, "the API to listen")
            region = env.regions[0]
            lock = f"{env.PREFIX}lock:topics:{region}"
            env.fa.set_faults("sns", latency_ms=2000)  # each onboarding waits 4 s on SNS
            answers = []

            def onboard(account):
                try:
                    answers.append(LockHolderKilledTest.post(port, account, region)[0])
                except (OSError, http.client.HTTPException):
                    answers.append("cut")

            t = threading.Thread(target=onboard, args=("450000000001",))
            t.start()
            wait_for(lambda: env.r.get(lock), 30, "the first onboarding under way")
            w.send_signal(signal.SIGHUP)
            t.join(60)
            self.assertEqual(answers, [201])
            self.assertIn(b"config.reloaded", env.worker_log(w))

            t = threading.Thread(target=onboard, args=("450000000002",))
            t.start()
            wait_for(lambda: env.r.get(lock), 30, "the second onboarding under way")
            w.send_signal(signal.SIGTERM)
            self.assertEqual(w.wait(60), 0, env.worker_log(w)[-3000:])
            t.join(60)
            log = env.worker_log(w)
            self.assertEqual(log.count(b"event=api.request"), log.count(b"actor=portal"))
            self.assertEqual(log.count(b"actor=portal"), 2, log[-3000:])
            # Cut short before its commit: no customer; the ID it reserved
            # is held only for the reservation's lease.
            self.assertEqual(env.customer("450000000002"), {})
            held = [k for k in env.r.scan_iter(env.PREFIX + "external-id:*")
                    if env.r.get(k) == b"450000000002"]
            self.assertEqual(len(held), 1)
            self.assertTrue(0 < env.r.pttl(held[0]) <= 15 * 60 * 1000, env.r.pttl(held[0]))
        finally:
            env.stop()


class ApiRedisDownTest(unittest.TestCase):
    """Redis unavailable: 503 with Retry-After, and the API recovers."""

    def test_redis_down_is_503_then_recovers(self):
        env = Env().start()
        try:
            tokens = portal_tokens(env)
            ApiTest.port = port = free_port()
            env.write_config(api__listen=f"127.0.0.1:{port}", api__tokens_file=tokens)
            worker = env.start_worker()
            wait_for(ApiTest._reachable, 20, "the API to listen")
            acct = "420000000001"
            env.seed_customer(acct)
            self.assertEqual(ApiTest.request("GET", f"/v1/customers/{acct}")[0], 200)
            env.redis.stop()
            st, r, doc = ApiTest.request("GET", f"/v1/customers/{acct}")
            self.assertEqual(st, 503, doc)
            self.assertEqual(r.getheader("Content-Type"), "application/problem+json")
            self.assertTrue(r.getheader("Retry-After", "").isdigit())
            env.redis.start()
            env.seed_customer(acct)
            wait_for(lambda: ApiTest.request("GET", f"/v1/customers/{acct}")[0] == 200, 60,
                     "the API to answer again once Redis is back")
            self.assertEqual(env.stop_worker(worker), 0, env.worker_log(worker)[-3000:])
        finally:
            env.stop()


if __name__ == "__main__":
    unittest.main()
