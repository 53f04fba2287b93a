"""The asyncio HTTP/1.1 server: keep-alive, pipelining-safe ordering,
Content-Length and chunked bodies, `Expect: 100-continue`, a TLS and a plain
listener (plus, with --aws-address, a TLS listener on port 443 of a loopback
address for real AWS host names), idle keep-alive connections closed after
world.idle_timeout seconds (as AWS endpoints close them), the Host header
checked against the endpoint (hosts.py), and the routing of requests to the
control API, the services and the core endpoints.

Routing:
  /_fake/...                    the control API (never signed)
  signed (header or presigned)  verified, the scope checked against the endpoint
                                (hosts.check_scope), then world.services[scope service].handle
  unsigned                      the first service whose accepts_unsigned(req) is true,
                                else the core endpoints (IMDS, container credentials,
                                federation), else 403 MissingAuthenticationToken for
                                what looks like an API call, 404 for the rest.
"""
import asyncio
import collections
import http
import random
import sys
import time
import traceback

from . import actions, core, hosts, sigv2, sigv4

MAX_HEAD = 64 * 1024
MAX_BODY = 32 * 1024 * 1024

_REASONS = {s.value: s.phrase for s in http.HTTPStatus}

# credential-scope service name -> world.services key, where they differ
SCOPE_ALIASES = {"cloudformation": "cfn"}


class BadRequest(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def _chunked_body(buf, start):
    """Decodes a complete chunked body starting at `start`: (body, end) or
    None when more bytes are needed. Raises BadRequest when malformed."""
    pos = start
    parts = []
    total = 0
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            if len(buf) - pos > 1024:
                raise BadRequest(400, "bad chunk size line")
            return None
        line = bytes(buf[pos:eol]).split(b";", 1)[0].strip()
        try:
            size = int(line, 16)
        except ValueError:
            raise BadRequest(400, "bad chunk size")
        if size < 0:
            raise BadRequest(400, "bad chunk size")
        pos = eol + 2
        if size == 0:
            # trailers until an empty line
            while True:
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    return None
                if eol == pos:
                    return b"".join(parts), eol + 2
                pos = eol + 2
        total += size
        if total > MAX_BODY:
            raise BadRequest(413, "body too large")
        if len(buf) < pos + size + 2:
            return None
        parts.append(bytes(buf[pos:pos + size]))
        if buf[pos + size:pos + size + 2] != b"\r\n":
            raise BadRequest(400, "bad chunk terminator")
        pos += size + 2


class HTTPProtocol(asyncio.Protocol):
    __slots__ = ("server", "scheme", "transport", "buf", "queue", "busy", "closing", "peer",
                 "sent_continue", "local", "idle", "idle_at")

    def __init__(self, server, scheme):
        self.server = server
        self.scheme = scheme
        self.transport = None
        self.buf = bytearray()
        self.queue = collections.deque()
        self.busy = False
        self.closing = False
        self.peer = None
        self.sent_continue = False
        self.local = None
        self.idle = None      # the connection's one idle timer (or None)
        self.idle_at = None   # loop time it is idle enough to close (None: not idle)

    def connection_made(self, transport):
        self.transport = transport
        self.peer = transport.get_extra_info("peername")
        self.local = transport.get_extra_info("sockname")
        self.server.connections.add(self)
        self._arm_idle()

    def connection_lost(self, exc):
        self.closing = True
        self.idle_at = None
        if self.idle is not None:
            self.idle.cancel()
            self.idle = None
        self.server.connections.discard(self)

    def _arm_idle(self):
        """Closes the connection when no request arrives for idle_timeout
        seconds, as AWS endpoints do: a client must expect a kept-alive
        connection to be gone when it reuses it. One timer per connection:
        a request only moves idle_at; the timer, when it fires early,
        waits for the rest."""
        t = self.server.world.idle_timeout
        if not t or t <= 0 or self.closing:
            self.idle_at = None
            return
        loop = self.server.loop
        self.idle_at = at = loop.time() + t
        if self.idle is not None and self.idle.when() > at:  # the timeout was lowered
            self.idle.cancel()
            self.idle = None
        if self.idle is None:
            self.idle = loop.call_at(at, self._idle_fired)

    def _disarm_idle(self):
        self.idle_at = None

    def _idle_fired(self):
        self.idle = None
        at = self.idle_at
        if at is None:
            return  # busy: re-armed when its requests are answered
        if self.server.loop.time() < at:
            self.idle = self.server.loop.call_at(at, self._idle_fired)
            return
        self._idle_close()

    def _idle_close(self):
        self.idle_at = None
        if not self.busy and not self.queue and not self.buf and not self.closing:
            self.closing = True
            self.server.world.record("idle_close", peer=str(self.peer))
            self.transport.close()

    def data_received(self, data):
        if self.closing:
            return
        self._disarm_idle()
        self.buf += data
        try:
            self._parse()
        except BadRequest as e:
            self._fatal(e.status, e.message)

    def _fatal(self, status, message):
        self.closing = True
        self.buf.clear()
        body = (message + "\n").encode()
        self.transport.write(b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                             b"Connection: close\r\n\r\n%s" % (status, _REASONS.get(status, "").encode(), len(body), body))
        self.transport.close()

    def _parse(self):
        buf = self.buf
        while buf and not self.closing:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEAD:
                    raise BadRequest(431, "request header fields too large")
                return
            if end > MAX_HEAD:
                raise BadRequest(431, "request header fields too large")
            lines = buf[:end].decode("latin-1").split("\r\n")
            first = lines[0]
            parts = first.split(" ")
            if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[0].isupper():
                raise BadRequest(400, "malformed request line")
            method, target, version = parts
            header_list = []
            for line in lines[1:]:
                if line[:1] in (" ", "\t"):
                    if not header_list:
                        raise BadRequest(400, "malformed header")
                    k, v = header_list[-1]
                    header_list[-1] = (k, v + " " + line.strip())
                    continue
                k, sep, v = line.partition(":")
                if not sep or not k or k != k.strip():
                    raise BadRequest(400, "malformed header")
                header_list.append((k, v.strip(" \t")))
            headers = {}
            for k, v in header_list:
                lk = k.lower()
                headers[lk] = headers[lk] + "," + v if lk in headers else v
            if "host" not in headers and version == "HTTP/1.1":
                raise BadRequest(400, "missing Host header")
            body_start = end + 4
            te = headers.get("transfer-encoding")
            chunked = te is not None
            if te is not None:
                if te.lower() != "chunked":
                    raise BadRequest(501, "unsupported transfer-encoding")
                if "content-length" in headers:
                    raise BadRequest(400, "both Content-Length and Transfer-Encoding")
                got = _chunked_body(buf, body_start)
                if got is None:
                    self._maybe_continue(headers, version)
                    return
                body, consumed = got
            else:
                cl = headers.get("content-length")
                if cl is None:
                    n = 0
                else:
                    if not cl.isdigit():
                        raise BadRequest(400, "bad Content-Length")
                    n = int(cl)
                    if n > MAX_BODY:
                        raise BadRequest(413, "body too large")
                if len(buf) < body_start + n:
                    self._maybe_continue(headers, version)
                    return
                body = bytes(buf[body_start:body_start + n])
                consumed = body_start + n
            del buf[:consumed]
            self.sent_continue = False
            if not target.startswith("/"):
                raise BadRequest(400, "request target must be an absolute path")
            path, _, query = target.partition("?")
            req = core.Request(method, path, query, headers, header_list, body, self.scheme, version,
                               self.peer, self.local, chunked)
            conn = headers.get("connection", "").lower()
            keep = ("close" not in conn) if version == "HTTP/1.1" else ("keep-alive" in conn)
            self.queue.append((req, keep))
            if not keep:
                self.closing = True
        if self.queue and not self.busy:
            self.busy = True
            self.server.loop.create_task(self._run())

    def _maybe_continue(self, headers, version):
        if (not self.sent_continue and version == "HTTP/1.1"
                and headers.get("expect", "").lower() == "100-continue"):
            self.sent_continue = True
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    async def _run(self):
        try:
            while self.queue:
                req, keep = self.queue.popleft()
                resp = await self.server.dispatch(req)
                if self.transport.is_closing():
                    return
                if resp.drop:
                    self.queue.clear()
                    self.closing = True
                    self.transport.abort()
                    return
                keep = keep and not resp.close
                self.transport.write(self.server.serialize(req, resp, keep))
                if not keep:
                    self.queue.clear()
                    self.closing = True
                    self.transport.close()
                    return
        finally:
            self.busy = False
            if not self.queue and not self.closing:
                self._arm_idle()


class Server:
    def __init__(self, world, control=None, core_routes=None, faults=None, log=None):
        self.world = world
        self.control = control          # async (req) -> Response, for /_fake/...
        self.core_routes = core_routes or []   # [(matches(req) -> bool, service name, async handler)]
        self.faults = faults
        self.loop = None
        self.servers = []
        self.connections = set()
        self.log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self._date = (0, b"")

    async def start(self, host, http_port, https_port, ssl_context=None, aws_address=None):
        self.loop = asyncio.get_running_loop()
        self.world.loop = self.loop
        s = await self.loop.create_server(lambda: HTTPProtocol(self, "http"), host, http_port,
                                          reuse_address=True, backlog=1024)
        self.servers.append(s)
        hp = s.sockets[0].getsockname()[1]
        self.world.http_url = f"http://{host}:{hp}"
        if ssl_context is not None:
            s2 = await self.loop.create_server(lambda: HTTPProtocol(self, "https"), host, https_port,
                                               ssl=ssl_context, reuse_address=True, backlog=1024)
            self.servers.append(s2)
            sp = s2.sockets[0].getsockname()[1]
            self.world.https_url = f"https://{host}:{sp}"
        if aws_address is not None and ssl_context is not None:
            await self._listen_aws(aws_address, ssl_context)

    async def _listen_aws(self, address, ssl_context):
        """TLS on port 443 of a loopback address, where the tests resolve
        real AWS host names (an /etc/hosts in a mount namespace). "auto"
        picks a free 127.x.y.z: the whole of 127/8 is loopback on Linux, so
        parallel test runs each get their own port 443 without a network
        namespace."""
        tries = [address] if address != "auto" else [
            "127.%d.%d.%d" % (random.randint(1, 254), random.randint(0, 255), random.randint(1, 254))
            for _ in range(64)]
        err = None
        for addr in tries:
            try:
                s = await self.loop.create_server(lambda: HTTPProtocol(self, "https"), addr, 443,
                                                  ssl=ssl_context, reuse_address=True, backlog=1024)
            except OSError as e:
                err = e
                continue
            self.servers.append(s)
            self.world.aws_address = addr
            return
        raise OSError(f"cannot listen on port 443 of {address}: {err}")

    async def stop(self):
        for s in self.servers:
            s.close()
        for c in list(self.connections):
            if c.transport is not None:
                c.transport.abort()
        for s in self.servers:
            try:
                await asyncio.wait_for(s.wait_closed(), 2)
            except (asyncio.TimeoutError, Exception):
                pass

    # -- responses ---------------------------------------------------------
    def _http_date(self):
        now = int(core.now(self.world))
        if self._date[0] != now:
            self._date = (now, time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now)).encode())
        return self._date[1]

    def serialize(self, req, resp, keep):
        status = resp.status
        out = [b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, "Unknown").encode())]
        hdrs = resp.headers
        for k, v in hdrs.items():
            out.append(f"{k}: {v}\r\n".encode("latin-1"))
        body = resp.body
        if "Content-Length" not in hdrs and "content-length" not in hdrs:
            out.append(b"Content-Length: %d\r\n" % len(body))
        out.append(b"Date: " + self._http_date() + b"\r\nServer: fakeaws\r\n")
        if not keep:
            out.append(b"Connection: close\r\n")
        out.append(b"\r\n")
        if req.method != "HEAD" and status not in (204, 304):
            out.append(body)
        return b"".join(out)

    # -- routing -----------------------------------------------------------
    async def dispatch(self, req):
        try:
            return await self._dispatch(req)
        except Exception as e:  # a bug in a handler: answer 500 and keep serving
            self.log(f"fakeaws: error handling {req.method} {req.path}: {e!r}\n{traceback.format_exc()}")
            return core.service_error(req.service or "", "InternalFailure" if req.is_json_protocol() else "InternalError",
                                      "We encountered an internal error. Please try again.", 500, req)

    async def _dispatch(self, req):
        world = self.world
        path = req.path
        if path.startswith("/_fake/") or path == "/_fake":
            if self.control is None:
                return core.Response(404, b"no control API\n")
            return await self.control(req)

        bad_host = hosts.check(req)
        if bad_host is not None:
            world.record("bad_host", host=req.headers.get("host"), local=str(req.local), path=path)
            return bad_host

        if sigv2.is_presigned(req) and not sigv4.is_signed(req):
            bucket = self._s3_bucket(req)
            try:
                sigv2.verify(req, world.lookup_access_key, bucket, now=core.now(world))
            except sigv4.SigV4Error as e:
                world.record("auth_failure", code=e.code, service="s3", method=req.method, path=path,
                             signature_version=2)
                return sigv4.error_response(e, req)
            world.record("request", service="s3", method=req.method, path=path, signature_version=2,
                         account=req.identity.account_id)
            return await self._call("s3", req, world.services["s3"].handle)

        if sigv4.is_signed(req):
            try:
                sigv4.verify(req, world.lookup_access_key, now=core.now(world))
                e = hosts.check_scope(req, world)
                if e is not None:
                    raise e
            except sigv4.SigV4Error as e:
                world.record("auth_failure", code=e.code, service=e.service, method=req.method, path=path)
                return sigv4.error_response(e, req)
            svc = world.services.get(req.service) or world.services.get(SCOPE_ALIASES.get(req.service, ""))
            if svc is None:
                return core.service_error(req.service, "UnknownService",
                                          f"fakeaws does not emulate the service '{req.service}'", 400, req)
            world.record("request", service=req.service, method=req.method, path=path,
                         target=req.headers.get("x-amz-target"), account=req.identity.account_id,
                         host=req.headers.get("host"), region=req.region,
                         action=actions.iam_action(req), access_key=req.identity.access_key_id)
            return await self._call(req.service, req, svc.handle)

        for svc in world.services.values():
            acc = getattr(svc, "accepts_unsigned", None)
            if acc is not None and acc(req):
                world.record("request", service=svc.name, method=req.method, path=path, unsigned=True)
                return await self._call(svc.name, req, svc.handle)

        for match, name, handler in self.core_routes:
            if match(req):
                world.record("request", service=name, method=req.method, path=path, unsigned=True)
                return await self._call(name, req, handler)

        if (path == "/" or "x-amz-target" in req.headers or req.query.startswith("Action=")
                or "&Action=" in req.query or req.method == "POST"):
            if req.is_json_protocol():
                return core.aws_json_error("com.amazon.coral.service#MissingAuthenticationTokenException",
                                           sigv4.MSG_MISSING_AUTH, 403, query_error="MissingAuthenticationToken")
            return core.aws_query_error("MissingAuthenticationToken", sigv4.MSG_MISSING_AUTH, 403)
        return core.Response(404, b'{"message":"Not Found"}', {"Content-Type": "application/json"})

    @staticmethod
    def _s3_bucket(req):
        """The bucket of a virtual-hosted S3 request (None: path-style)."""
        return req.aws_host.bucket if req.aws_host is not None else None

    async def _call(self, service, req, handler):
        faults = self.faults
        if faults is not None and faults.active:
            resp = await faults.apply(service, req)
            if resp is not None:
                return resp
        try:
            return await handler(req)
        except core.AccessDenied as e:
            return core.service_error(service, "AccessDenied", e.message, 403, req)
