"""The emulator's PKI, created at start: a CA, a server certificate for
127.0.0.1 / localhost and the AWS endpoint names (`*.s3.amazonaws.com`,
`*.us-east-1.amazonaws.com`, ... from hosts.certificate_names(), the shape of
AWS's own certificates), and an SNS signing certificate, both issued by the CA.

RSA keys are generated here (secrets + Miller-Rabin), so the emulator holds
n, e, d, p, q and signs SNS messages quickly with the CRT. Keys are written
as PKCS#1 PEM by a small DER encoder; the `openssl` command turns them into
X.509 certificates.
"""
import base64
import hashlib
import math
import os
import secrets
import subprocess

E = 65537

_SMALL_PRIMES = [p for p in range(3, 2000) if all(p % d for d in range(2, int(p ** 0.5) + 1))]
_SMALL_PRODUCT = math.prod(_SMALL_PRIMES)

# DER DigestInfo prefixes for EMSA-PKCS1-v1_5 (RFC 8017 section 9.2, note 1)
_DIGEST_INFO = {
    "sha1": bytes.fromhex("3021300906052b0e03021a05000414"),
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
}


def _miller_rabin(n, rounds=40):
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for _ in range(rounds):
        a = secrets.randbelow(n - 3) + 2
        x = pow(a, d, n)
        if x == 1 or x == n - 1:
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def random_prime(bits):
    while True:
        c = secrets.randbits(bits) | (3 << (bits - 2)) | 1  # top two bits: n has full length
        if math.gcd(c, _SMALL_PRODUCT) != 1:
            continue
        if not _miller_rabin(c, 1):
            continue
        if (c - 1) % E == 0:
            continue
        if _miller_rabin(c, 40):
            return c


class RSAKey:
    def __init__(self, bits=2048):
        while True:
            p = random_prime(bits // 2)
            q = random_prime(bits // 2)
            if p == q:
                continue
            n = p * q
            if n.bit_length() != bits:
                continue
            lam = math.lcm(p - 1, q - 1)
            if math.gcd(E, lam) != 1:
                continue
            break
        if p < q:
            p, q = q, p
        self.n, self.e, self.p, self.q = n, E, p, q
        self.d = pow(E, -1, lam)
        self.dp = self.d % (p - 1)
        self.dq = self.d % (q - 1)
        self.qinv = pow(q, -1, p)
        self.size = (n.bit_length() + 7) // 8

    def raw_sign(self, m):
        """m^d mod n with the CRT (Garner)."""
        m1 = pow(m, self.dp, self.p)
        m2 = pow(m, self.dq, self.q)
        h = self.qinv * (m1 - m2) % self.p
        return m2 + h * self.q

    def sign(self, data, alg="sha256"):
        """RSASSA-PKCS1-v1_5 signature of `data` with SHA-1 or SHA-256."""
        t = _DIGEST_INFO[alg] + hashlib.new(alg, data).digest()
        em = b"\x00\x01" + b"\xff" * (self.size - len(t) - 3) + b"\x00" + t
        s = self.raw_sign(int.from_bytes(em, "big"))
        if pow(s, self.e, self.n) != int.from_bytes(em, "big"):  # guard against a fault in the CRT
            raise RuntimeError("RSA signature self-check failed")
        return s.to_bytes(self.size, "big")

    def verify(self, data, sig, alg="sha256"):
        t = _DIGEST_INFO[alg] + hashlib.new(alg, data).digest()
        em = b"\x00\x01" + b"\xff" * (self.size - len(t) - 3) + b"\x00" + t
        return len(sig) == self.size and pow(int.from_bytes(sig, "big"), self.e, self.n) == int.from_bytes(em, "big")

    def pkcs1_der(self):
        return der_sequence(*(der_integer(v) for v in (
            0, self.n, self.e, self.d, self.p, self.q, self.dp, self.dq, self.qinv)))

    def pem(self):
        return pem("RSA PRIVATE KEY", self.pkcs1_der())


# -- a tiny DER encoder (only what PKCS#1 needs) ------------------------------

def der_length(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def der_integer(v):
    if v < 0:
        raise ValueError("negative INTEGER not needed here")
    b = v.to_bytes(v.bit_length() // 8 + 1, "big")  # leading 0x00 keeps it positive
    while len(b) > 1 and b[0] == 0 and b[1] < 0x80:
        b = b[1:]
    return b"\x02" + der_length(len(b)) + b


def der_sequence(*items):
    body = b"".join(items)
    return b"\x30" + der_length(len(body)) + body


def pem(label, der):
    b64 = base64.b64encode(der).decode()
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


# -- the PKI ----------------------------------------------------------------

def _write_private(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _openssl(*args, cwd=None):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args[:2])} failed: {r.stderr.strip()}")
    return r.stdout


class PKI:
    """Creates the CA and certificates in `directory`.

    Attributes: ca_file, server_cert_file, server_key_file,
    signing_cert_file, signing_cert_pem, signing_key (RSAKey)."""

    def __init__(self, directory, hosts=("127.0.0.1", "localhost"), bits=2048, days=30,
                 dns_names=()):
        os.makedirs(directory, exist_ok=True)
        self.dir = directory
        self.ca_key = RSAKey(bits)
        self.server_key = RSAKey(bits)
        self.signing_key = RSAKey(bits)
        j = lambda n: os.path.join(directory, n)
        self.ca_key_file = j("ca.key")
        self.ca_file = j("ca.pem")
        self.server_key_file = j("server.key")
        self.server_cert_file = j("server.pem")
        self.signing_key_file = j("sns-signing.key")
        self.signing_cert_file = j("sns-signing.pem")
        _write_private(self.ca_key_file, self.ca_key.pem())
        _write_private(self.server_key_file, self.server_key.pem())
        _write_private(self.signing_key_file, self.signing_key.pem())
        d = str(days)
        _openssl("req", "-x509", "-new", "-key", self.ca_key_file, "-sha256", "-days", d,
                 "-subj", "/O=fakeaws/CN=fakeaws test CA", "-set_serial", str(secrets.randbits(63)),
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                 "-addext", "subjectKeyIdentifier=hash",
                 "-out", self.ca_file)
        san = ",".join([("IP:" if h.replace(".", "").isdigit() or ":" in h else "DNS:") + h for h in hosts]
                       + ["DNS:" + n for n in dns_names])
        self._issue(self.server_key_file, self.server_cert_file, "/O=fakeaws/CN=" + hosts[-1], d, [
            f"subjectAltName={san}", "basicConstraints=critical,CA:FALSE",
            "keyUsage=critical,digitalSignature,keyEncipherment", "extendedKeyUsage=serverAuth"])
        self._issue(self.signing_key_file, self.signing_cert_file, "/O=fakeaws/CN=sns.amazonaws.com", d, [
            "subjectAltName=DNS:sns.amazonaws.com", "basicConstraints=critical,CA:FALSE",
            "keyUsage=critical,digitalSignature"])
        with open(self.signing_cert_file) as f:
            self.signing_cert_pem = f.read()
        with open(self.ca_file) as f:
            self.ca_pem = f.read()

    def _issue(self, key_file, cert_file, subj, days, exts):
        args = ["req", "-x509", "-new", "-key", key_file, "-sha256", "-days", days, "-subj", subj,
                "-CA", self.ca_file, "-CAkey", self.ca_key_file, "-set_serial", str(secrets.randbits(63)),
                "-addext", "subjectKeyIdentifier=hash", "-addext", "authorityKeyIdentifier=keyid:always"]
        for e in exts:
            args += ["-addext", e]
        _openssl(*args, "-out", cert_file)

    def sign(self, data: bytes, alg: str = "sha256") -> bytes:
        """RSASSA-PKCS1-v1_5 with the SNS signing key; alg is "sha1" or "sha256"."""
        return self.signing_key.sign(data, alg)

    def server_ssl_context(self):
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.server_cert_file, self.server_key_file)
        return ctx
