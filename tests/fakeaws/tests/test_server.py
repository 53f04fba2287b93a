"""The HTTP server: keep-alive, pipelining, bad requests, bodies, routing,
TLS with the CA created at start, the PKI, and a clean stop."""
import http.client
import importlib.util
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import unittest
from urllib.parse import urlsplit

from fakeaws import pki
from fakeaws.testing import FakeAWS
from tests import FakeAWSCase


def read_response(f):
    """Reads one response from a socket file: (status, headers, body)."""
    line = f.readline()
    if not line:
        return None
    status = int(line.split()[1])
    headers = {}
    while True:
        h = f.readline().decode("latin-1").rstrip("\r\n")
        if not h:
            break
        k, _, v = h.partition(":")
        headers[k.strip().lower()] = v.strip()
    body = f.read(int(headers.get("content-length", "0")))
    return status, headers, body


class Server(FakeAWSCase):
    def sock(self):
        u = urlsplit(self.fa.http_url)
        s = socket.create_connection((u.hostname, u.port), timeout=10)
        self.addCleanup(s.close)
        return s, s.makefile("rb")

    def hostline(self):
        return ("Host: " + urlsplit(self.fa.http_url).netloc + "\r\n").encode()

    def test_keep_alive_serves_several_requests_on_one_connection(self):
        s, f = self.sock()
        for _ in range(3):
            s.sendall(b"GET /_fake/health HTTP/1.1\r\n" + self.hostline() + b"\r\n")
            st, h, body = read_response(f)
            self.assertEqual(st, 200)
            self.assertNotEqual(h.get("connection"), "close")
            self.assertTrue(json.loads(body)["ok"])

    def test_pipelined_requests_are_answered_in_order(self):
        s, f = self.sock()
        s.sendall(b"GET /_fake/health HTTP/1.1\r\n" + self.hostline() + b"\r\n"
                  b"GET /no/such/thing HTTP/1.1\r\n" + self.hostline() + b"\r\n"
                  b"GET /_fake/faults HTTP/1.1\r\n" + self.hostline() + b"\r\n")
        self.assertEqual([read_response(f)[0] for _ in range(3)], [200, 404, 200])

    def test_connection_close_and_http_1_0(self):
        s, f = self.sock()
        s.sendall(b"GET /_fake/health HTTP/1.1\r\n" + self.hostline() + b"Connection: close\r\n\r\n")
        st, h, _ = read_response(f)
        self.assertEqual((st, h.get("connection")), (200, "close"))
        self.assertEqual(f.read(), b"")  # closed by the server
        s, f = self.sock()
        s.sendall(b"GET /_fake/health HTTP/1.0\r\n\r\n")
        self.assertEqual(read_response(f)[0], 200)
        self.assertEqual(f.read(), b"")

    def test_bad_requests(self):
        cases = [
            (b"NONSENSE\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\n\r\n", 400),                       # no Host
            (b"POST /_fake/accounts HTTP/1.1\r\n" + self.hostline() + b"Content-Length: x1\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\n" + self.hostline() + b"X-Big: " + b"a" * 70000 + b"\r\n\r\n", 431),
            (b"GET / HTTP/1.1\r\n" + self.hostline() + b"Transfer-Encoding: gzip\r\n\r\n", 501),
            (b"GET http://example.com/ HTTP/1.1\r\n" + self.hostline() + b"\r\n", 400),
            (b"POST / HTTP/1.1\r\n" + self.hostline() + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        ]
        for raw, want in cases:
            with self.subTest(raw=raw[:40]):
                s, f = self.sock()
                s.sendall(raw)
                st, h, _ = read_response(f)
                self.assertEqual(st, want)
                self.assertEqual(h.get("connection"), "close")

    def test_chunked_body(self):
        s, f = self.sock()
        body = json.dumps({"account_id": "222233334444"}).encode()
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 7]), body[i:i + 7]) for i in range(0, len(body), 7))
        s.sendall(b"POST /_fake/accounts HTTP/1.1\r\n" + self.hostline() +
                  b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
        st, _, out = read_response(f)
        self.assertEqual(st, 200, out)
        self.assertEqual(json.loads(out)["account_id"], "222233334444")

    def test_expect_100_continue(self):
        s, f = self.sock()
        body = json.dumps({"account_id": "222233334445"}).encode()
        s.sendall(b"POST /_fake/accounts HTTP/1.1\r\n" + self.hostline() +
                  b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        self.assertEqual(f.readline(), b"HTTP/1.1 100 Continue\r\n")
        self.assertEqual(f.readline(), b"\r\n")
        s.sendall(body)
        self.assertEqual(read_response(f)[0], 200)

    def test_routing(self):
        fa = self.fa
        self.assertEqual(fa.request("GET", "/_fake/health", base=fa.http_url).status, 200)
        self.assertEqual(fa.request("GET", "/nothing/here", base=fa.http_url).status, 404)
        self.assertEqual(fa.request("GET", "/_fake/nosuchservice/x", base=fa.http_url).status, 404)
        r = fa.call("nosuchservice", "POST", "/", body=b"x")
        self.assertEqual((r.status, r.error_code()), (400, "UnknownService"))
        r = fa.request("POST", "/", b"Action=GetCallerIdentity", {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual((r.status, r.error_code()), (403, "MissingAuthenticationToken"))
        # signed requests reach the service named by the credential scope, on both listeners
        for base in (fa.https_url, fa.http_url):
            r = self.whoami(base=base)
            self.assertEqual(r.status, 200, r)
            self.assertIn(b"GetCallerIdentityResponse", r.body)
        recs = fa.records("request")
        self.assertTrue(any(e["service"] == "sts" for e in recs))
        # core endpoints are reachable unsigned
        self.assertEqual(fa.request("GET", "/latest/meta-data/", base=fa.http_url).status, 401)
        self.assertEqual(fa.request("GET", "/federation?Action=nope", base=fa.http_url).status, 400)

    def test_control_accounts(self):
        st, doc = self.fa.control("POST", "/_fake/accounts", {"account_id": "123"})
        self.assertEqual(st, 400)
        doc = self.fa.new_account("999988887777")
        r = self.whoami(creds=doc)
        self.assertEqual(r.status, 200, r)
        self.assertIn(b"arn:aws:iam::999988887777:user/fake", r.body)

    def test_tls_with_the_ca(self):
        u = urlsplit(self.fa.https_url)
        ctx = ssl.create_default_context(cafile=self.fa.ca_file)
        for host in ("127.0.0.1", "localhost"):
            with self.subTest(host=host):
                c = http.client.HTTPSConnection(host, u.port, context=ctx, timeout=10)
                c.request("GET", "/_fake/health")
                r = c.getresponse()
                self.assertEqual(r.status, 200)
                r.read()
                first = c.sock
                c.request("GET", "/_fake/health")  # kept alive over TLS
                r = c.getresponse()
                r.read()
                self.assertIs(c.sock, first)
                self.assertEqual(r.status, 200)
                c.close()
        # without the CA the certificate is not trusted
        c = http.client.HTTPSConnection("127.0.0.1", u.port, context=ssl.create_default_context(), timeout=10)
        with self.assertRaises(ssl.SSLCertVerificationError):
            c.request("GET", "/_fake/health")
        c.close()
        # a name the certificate does not carry
        ctx2 = ssl.create_default_context(cafile=self.fa.ca_file)
        raw = socket.create_connection(("127.0.0.1", u.port), timeout=10)
        with self.assertRaises(ssl.SSLCertVerificationError):
            ctx2.wrap_socket(raw, server_hostname="example.com")
        raw.close()


class Lifecycle(unittest.TestCase):
    def test_sigterm_and_sigint_stop_cleanly(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            fa = FakeAWS.start(python=sys.executable)
            try:
                self.assertEqual(fa.control("GET", "/_fake/health")[0], 200)
                fa.proc.send_signal(sig)
                self.assertEqual(fa.proc.wait(15), 0, fa.log())
            finally:
                fa.stop()

    def test_bad_arguments(self):
        for bad in (["--partner-account", "12"], ["--loop", "tokio"]):
            r = subprocess.run([sys.executable, "-m", "fakeaws", "--state-dir", "/tmp/x", "--ready-file", "/tmp/y",
                                *bad], capture_output=True,
                               cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
            self.assertEqual(r.returncode, 2, bad)

    @unittest.skipUnless(importlib.util.find_spec("uvloop"), "uvloop not installed (python3-uvloop)")
    def test_uvloop_serves_as_strictly(self):
        fa = FakeAWS.start(python=sys.executable, args=["--loop", "uvloop", "--services", "sts"])
        try:
            self.assertIn("(uvloop loop)", fa.log())
            body = b"Action=GetCallerIdentity&Version=2011-06-15"
            form = {"Content-Type": "application/x-www-form-urlencoded"}
            r = fa.call("sts", "POST", "/", body=body, headers=form)
            self.assertEqual(r.status, 200, r)
            r = fa.call("sts", "POST", "/", body=body, headers=form, creds=(fa.creds[0], "x" + fa.creds[1]))
            self.assertEqual((r.status, r.error_code()), (403, "SignatureDoesNotMatch"))
            fa.proc.send_signal(signal.SIGTERM)
            self.assertEqual(fa.proc.wait(15), 0, fa.log())
        finally:
            fa.stop()


class PKI(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.pki = pki.PKI(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def openssl(self, *args, input=None):
        return subprocess.run(["openssl", *args], capture_output=True, input=input)

    def test_certificates_chain_to_the_ca(self):
        r = self.openssl("verify", "-CAfile", self.pki.ca_file, self.pki.server_cert_file, self.pki.signing_cert_file)
        self.assertEqual(r.returncode, 0, r.stderr)
        text = self.openssl("x509", "-in", self.pki.server_cert_file, "-noout", "-ext", "subjectAltName").stdout
        self.assertIn(b"IP Address:127.0.0.1", text)
        self.assertIn(b"DNS:localhost", text)

    def test_signatures_verify_with_openssl(self):
        pub = os.path.join(self.tmp.name, "pub.pem")
        with open(pub, "wb") as f:
            f.write(self.openssl("x509", "-in", self.pki.signing_cert_file, "-pubkey", "-noout").stdout)
        data = os.path.join(self.tmp.name, "data")
        with open(data, "wb") as f:
            f.write(b"Message\nhello\nType\nNotification\n")
        for alg in ("sha1", "sha256"):
            sig = os.path.join(self.tmp.name, "sig-" + alg)
            with open(sig, "wb") as f:
                f.write(self.pki.sign(b"Message\nhello\nType\nNotification\n", alg))
            r = self.openssl("dgst", "-" + alg, "-verify", pub, "-signature", sig, data)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            with open(sig, "wb") as f:
                f.write(self.pki.sign(b"Message\nhello!\nType\nNotification\n", alg))
            self.assertNotEqual(self.openssl("dgst", "-" + alg, "-verify", pub, "-signature", sig, data).returncode, 0)

    def test_private_keys_parse_and_match(self):
        for key, cert in ((self.pki.server_key_file, self.pki.server_cert_file),
                          (self.pki.signing_key_file, self.pki.signing_cert_file)):
            r = self.openssl("rsa", "-in", key, "-check", "-noout")
            self.assertEqual(r.returncode, 0, r.stderr)
            a = self.openssl("rsa", "-in", key, "-pubout").stdout
            b = self.openssl("x509", "-in", cert, "-pubkey", "-noout").stdout
            self.assertEqual(a, b)
            self.assertEqual(os.stat(key).st_mode & 0o077, 0)


if __name__ == "__main__":
    unittest.main()
