#!/usr/bin/python3
"""Throughput of fakeaws on one core: simple signed requests with keep-alive.

Starts fakeaws (one process, one event loop, so one core), signs one cheap
request (STS GetCallerIdentity, header-form SigV4 with the partner's keys),
and replays it with `wrk` (Debian package wrk) over keep-alive connections.
Every request is fully verified (canonical request, HMAC chain, signature
compare) and answered by the STS module. Prints each run and the median of
three, and exits 1 when the median is below --min (default 10000).

    /usr/bin/python3 bench.py [--seconds 5] [--connections 16] [--runs 3] [--https]
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fakeaws.testing import FakeAWS  # noqa: E402
from fakeaws import sigv4  # noqa: E402

BODY = b"Action=GetCallerIdentity&Version=2011-06-15"


def lua_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--min", type=float, default=10000)
    ap.add_argument("--https", action="store_true", help="measure the TLS listener instead of plain HTTP")
    a = ap.parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        print("bench: wrk not found (apt-get install wrk)", file=sys.stderr)
        return 2
    fa = FakeAWS.start(args=["--services", "sts"], python=sys.executable)
    tmp = tempfile.mkdtemp(prefix="fakeaws-bench-")
    try:
        base = fa.https_url if a.https else fa.http_url
        # sanity: the signed request is accepted, and a tampered one is not
        ok = fa.call("sts", "POST", "/", body=BODY, base=base,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        if ok.status != 200 or b"GetCallerIdentityResult" not in ok.body:
            print(f"bench: GetCallerIdentity failed: {ok}", file=sys.stderr)
            return 1
        h = sigv4.sign("POST", base + "/", {"Content-Type": "application/x-www-form-urlencoded"}, BODY,
                       fa.creds[0], fa.creds[1], fa.region, "sts")
        h.pop("Host", None)  # wrk sends its own Host (the same host:port)
        script = os.path.join(tmp, "req.lua")
        with open(script, "w") as f:
            f.write('wrk.method = "POST"\n')
            f.write(f"wrk.body = {lua_string(BODY.decode())}\n")
            for k, v in h.items():
                f.write(f"wrk.headers[{lua_string(k)}] = {lua_string(v)}\n")
        rates = []
        for i in range(a.runs):
            out = subprocess.run([wrk, "-t1", f"-c{a.connections}", f"-d{a.seconds}s", "-s", script, base + "/"],
                                 capture_output=True, text=True).stdout
            m = re.search(r"Requests/sec:\s*([0-9.]+)", out)
            errs = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
            if m is None:
                print(out, file=sys.stderr)
                return 1
            rate = float(m.group(1))
            if errs:
                print(f"run {i + 1}: {errs.group(1)} non-2xx answers — signature rejected?\n{out}", file=sys.stderr)
                return 1
            rates.append(rate)
            print(f"run {i + 1}: {rate:.0f} requests/s")
        med = statistics.median(rates)
        scheme = "https" if a.https else "http"
        print(f"median of {a.runs}: {med:.0f} signed requests/s ({scheme}, keep-alive, "
              f"{a.connections} connections, one fakeaws process)")
        return 0 if med >= a.min else 1
    finally:
        fa.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
