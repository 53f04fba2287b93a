#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A small threaded HTTP/1.1 keep-alive server for the HTTP client's tests.

Usage: http_test_server.py [--cert PEM --key PEM]

Listens on 127.0.0.1 on a free port (TLS when --cert/--key are given), prints
the port on one line of stdout, and serves until killed or until its stdin is
closed (so it never outlives the test that started it). Endpoints, for every
method:

  /echo, /echo/*  JSON: method, path, headers ([name, value] pairs in order),
                  body (text, when under 64 KiB), body_len, body_sha256, conn;
                  seq, the order in which requests began to be handled;
                  active, how many requests were being handled as this one
                  began (itself included); resumed, over TLS, whether the
                  connection resumed a session (null over plain HTTP)
  /delay?ms=N     waits N ms, then answers like /echo
  /bytes?n=N      N bytes of a known pattern (byte i = (i * 31 + 7) & 0xff);
                  &chunked=1 sends them chunked, without Content-Length
  /status?code=N  an empty response with that status; &length=N claims a
                  Content-Length of N all the same (as a 304 does for the
                  representation), &nolength=1 sends no Content-Length (a 204)
  /conn           JSON: conn, the id of the TCP connection this request came on,
                  and resumed as for /echo;
                  &idle_close_ms=N closes that connection N ms after answering
                  (a server dropping an idle kept-alive connection)
  /headers?n=N    N response headers x-h-<i>: <i>
  /interim        "100 Continue" and "103 Early Hints" first, then like /echo
  /close          like /conn, with "Connection: close", and closes
  /http10         an HTTP/1.0 answer with a Content-Length and no keep-alive
  /until_close?n=N  N pattern bytes with neither length nor chunks: the body
                  ends when the connection does
  /drop_next      like /conn; the next request on this connection is read
                  and the connection closed without an answer (the race of
                  a server closing a kept-alive connection as it is reused)
  /short?code=N&length=L&n=K  status N (200) claiming a Content-Length of L
                  (100), then K (2) pattern bytes, and the connection
                  closes: a body cut short; code=0 closes with no answer
"""
import argparse
import hashlib
import itertools
import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from serve_until_stdin_closes import serve_until_stdin_closes

_conn_ids = itertools.count(1)
_conn_lock = threading.Lock()
_req_seq = itertools.count(1)
_active = 0


def pattern(n):
    return bytes(((i * 31 + 7) & 0xFF) for i in range(256)) * (n // 256) + \
        bytes(((i * 31 + 7) & 0xFF) for i in range(n % 256))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "xacct-test"

    def setup(self):
        super().setup()
        with _conn_lock:
            self.conn_id = next(_conn_ids)

    def log_message(self, fmt, *args):
        pass

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status, body=b"", ctype="application/json", extra=()):
        self._uncount()
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Conn-Id", str(self.conn_id))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _echo(self, body):
        doc = {
            "method": self.command,
            "path": self.path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body_len": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "conn": self.conn_id,
            "seq": self.seq,
            "active": self.active,
            "resumed": self._resumed(),
        }
        if len(body) < 65536:
            doc["body"] = body.decode("latin-1")
        self._send(200, json.dumps(doc).encode(), extra=[("X-Echo", "Yes")])

    def _resumed(self):
        return getattr(self.connection, "session_reused", None)

    def _raw(self, data):
        self._uncount()
        self.wfile.write(data)
        self.wfile.flush()

    def _handle(self):
        global _active
        with _conn_lock:
            _active += 1
            self.seq = next(_req_seq)
            self.active = _active
            self.counted = True
        try:
            self._route()
        finally:
            self._uncount()

    def _uncount(self):
        # Before the answer goes out: the client may send its next request
        # the moment it has one, and that request must not count this one.
        global _active
        with _conn_lock:
            if getattr(self, "counted", False):
                _active -= 1
                self.counted = False

    def _route(self):
        url = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        body = self._body()
        if getattr(self, "drop", False):
            self.close_connection = True
            return
        if url.path == "/echo" or url.path.startswith("/echo/"):
            self._echo(body)
        elif url.path == "/delay":
            time.sleep(int(q.get("ms", "0")) / 1000.0)
            self._echo(body)
        elif url.path == "/bytes":
            data = pattern(int(q.get("n", "0")))
            if q.get("chunked") == "1":
                self._uncount()
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for off in range(0, len(data), 65536):
                    chunk = data[off:off + 65536]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")
            else:
                self._send(200, data, "application/octet-stream")
        elif url.path == "/status":
            code = int(q.get("code", "200"))
            if "length" in q or q.get("nolength") == "1":
                self._uncount()
                self.send_response(code)
                if "length" in q:
                    self.send_header("Content-Length", q["length"])
                self.send_header("X-Conn-Id", str(self.conn_id))
                self.end_headers()
            else:
                self._send(code, b"", None)
        elif url.path == "/conn":
            doc = {"conn": self.conn_id, "resumed": self._resumed()}
            self._send(200, json.dumps(doc).encode())
            if "idle_close_ms" in q:
                sock = self.connection
                threading.Timer(int(q["idle_close_ms"]) / 1000.0,
                                lambda: sock.shutdown(socket.SHUT_RDWR)).start()
        elif url.path == "/interim":
            self._raw(b"HTTP/1.1 100 Continue\r\n\r\n"
                      b"HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n")
            self._echo(body)
        elif url.path == "/close":
            self._send(200, json.dumps({"conn": self.conn_id}).encode(),
                       extra=[("Connection", "close")])
            self.close_connection = True
        elif url.path == "/http10":
            self._raw(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\nX-Conn-Id: %d\r\n\r\nok"
                      % self.conn_id)
            self.close_connection = True
        elif url.path == "/until_close":
            self._raw(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n"
                      + pattern(int(q.get("n", "0"))))
            self.close_connection = True
        elif url.path == "/drop_next":
            self._send(200, json.dumps({"conn": self.conn_id}).encode())
            self.drop = True
        elif url.path == "/short":
            code = int(q.get("code", "200"))
            if code:
                self._raw(b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n"
                          % (code, int(q.get("length", "100")))
                          + pattern(int(q.get("n", "2"))))
            self.close_connection = True
        elif url.path == "/headers":
            n = int(q.get("n", "0"))
            self._send(200, b"", None, [("X-H-%d" % i, str(i)) for i in range(n)])
        else:
            self._send(404, b"", None)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def handle_error(self, request, client_address):
        # Clients that time out, cancel or reject our certificate are what
        # the tests are about; their broken connections are not news.
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert")
    ap.add_argument("--key")
    args = ap.parse_args()

    srv = Server(("127.0.0.1", 0), Handler)
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        # Handshake in the handler thread, not in the accept loop.
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True,
                                     do_handshake_on_connect=False)
    serve_until_stdin_closes(srv)


if __name__ == "__main__":
    main()
