#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A small forward proxy for the HTTP client's tests.

Usage: connect_proxy.py --log FILE [--auth USER:PASSWORD]

Listens on 127.0.0.1 on a free port, prints the port on one line of stdout,
and serves until its stdin is closed. Every request line it receives is
appended to the log file. With --auth, a request without the matching
"Proxy-Authorization: Basic ..." gets 407.

  CONNECT host:port   answered 200 and relayed both ways (a tunnel); port 9
                      (discard) is refused with 403
  GET http://...      (absolute form) answered by the proxy itself with JSON:
                      {"proxy": true, "line": request line, "headers": [[n, v]...]}
"""
import argparse
import base64
import json
import socket
import socketserver
import threading

from serve_until_stdin_closes import serve_until_stdin_closes


class Handler(socketserver.StreamRequestHandler):
    def _head(self):
        lines = []
        while True:
            line = self.rfile.readline(65536)
            if not line:
                return None
            if line in (b"\r\n", b"\n"):
                return lines
            lines.append(line.decode("latin-1").rstrip("\r\n"))

    def _reply(self, status, reason, body=b"", ctype=None):
        head = "HTTP/1.1 %d %s\r\nContent-Length: %d\r\n" % (status, reason, len(body))
        if ctype:
            head += "Content-Type: %s\r\n" % ctype
        self.wfile.write(head.encode() + b"\r\n" + body)
        self.wfile.flush()

    def handle(self):
        while True:
            head = self._head()
            if not head:
                return
            line, fields = head[0], head[1:]
            headers = [f.split(":", 1) for f in fields if ":" in f]
            headers = [[k.strip(), v.strip()] for k, v in headers]
            with self.server.log_lock:
                with open(self.server.log, "a") as f:
                    f.write(line + "\n")
            auth = next((v for k, v in headers if k.lower() == "proxy-authorization"), None)
            if self.server.auth and auth != self.server.auth:
                self._reply(407, "Proxy Authentication Required")
                continue
            method, target, _ = line.split(" ", 2)
            if method == "CONNECT":
                host, port = target.rsplit(":", 1)
                if port == "9":
                    self._reply(403, "Forbidden")
                    continue
                try:
                    up = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
                except OSError:
                    self._reply(502, "Bad Gateway")
                    continue
                self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self.wfile.flush()
                self._relay(up)
                return
            n = int(next((v for k, v in headers if k.lower() == "content-length"), "0"))
            if n:
                self.rfile.read(n)
            doc = {"proxy": True, "line": line, "headers": headers}
            self._reply(200, "OK", json.dumps(doc).encode(), "application/json")

    def _relay(self, up):
        down = self.connection

        def pump(src, dst):
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    dst.sendall(data)
            except OSError:
                pass
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        t = threading.Thread(target=pump, args=(up, down), daemon=True)
        t.start()
        pump(down, up)
        t.join(10)
        up.close()


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", required=True)
    ap.add_argument("--auth")
    args = ap.parse_args()
    srv = Server(("127.0.0.1", 0), Handler)
    srv.log = args.log
    srv.log_lock = threading.Lock()
    srv.auth = "Basic " + base64.b64encode(args.auth.encode()).decode() if args.auth else None
    serve_until_stdin_closes(srv)


if __name__ == "__main__":
    main()
