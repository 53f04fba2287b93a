#!/usr/bin/env python3
"""Runs one test command with a throwaway redis-server on a free port.

Usage: with_env.py -- COMMAND [ARGS...]

Exports XACCT_TEST_REDIS_URL, XACCT_TEST_REDIS_PORT, XACCT_TEST_REDIS_PID and
XACCT_TEST_TMPDIR to the command. When tests/fakeaws/fakeaws/__main__.py exists
it also starts fakeaws and exports FAKEAWS_READY (its ready file), FAKEAWS_URL
(https), FAKEAWS_HTTP_URL, AWS_ENDPOINT_URL (https), AWS_CA_BUNDLE,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION and
AWS_EC2_METADATA_SERVICE_ENDPOINT (http). It stops everything it started by
pid on every exit path (also on SIGTERM/SIGINT/SIGHUP). Exits with the
command's status.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("redis-server exited early")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start listening")


def start_redis(tmp):
    port = free_port()
    exe = os.environ.get("XACCT_REDIS_SERVER") or shutil.which("redis-server") or "/usr/bin/redis-server"
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", tmp, "--logfile", os.path.join(tmp, "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc)
    return proc, port


FAKEAWS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fakeaws")


def start_fakeaws(tmp):
    """Starts fakeaws with its state in tmp; returns (proc, ready info, ready path)."""
    ready = os.path.join(tmp, "fakeaws-ready.json")
    python = os.environ.get("XACCT_PYTHON") or "/usr/bin/python3"
    env = dict(os.environ)
    env["PYTHONPATH"] = FAKEAWS_DIR + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    log = open(os.path.join(tmp, "fakeaws.log"), "wb")
    proc = subprocess.Popen(
        [python, "-m", "fakeaws", "--state-dir", os.path.join(tmp, "fakeaws"), "--ready-file", ready],
        cwd=FAKEAWS_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    deadline = time.monotonic() + 60
    while not os.path.exists(ready):
        if proc.poll() is not None:
            raise RuntimeError("fakeaws exited early; see " + os.path.join(tmp, "fakeaws.log"))
        if time.monotonic() > deadline:
            stop(proc)
            raise RuntimeError("fakeaws did not become ready")
        time.sleep(0.05)
    with open(ready) as f:
        info = json.load(f)
    keep = os.path.join(tmp, "fakeaws.json")  # fakeaws removes its ready file when it stops
    with open(keep, "w") as f:
        json.dump(info, f)
    return proc, info, keep


class _Signalled(Exception):
    pass


def _raise_signalled(signum, frame):
    raise _Signalled(signum)


def stop(proc):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main(argv):
    if "--" not in argv:
        print(__doc__, file=sys.stderr)
        return 2
    cmd = argv[argv.index("--") + 1:]
    tmp = tempfile.mkdtemp(prefix="xacct-test-")
    started = []
    child = None
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _raise_signalled)
    try:
        redis, port = start_redis(tmp)
        started.append(redis)
        env = dict(os.environ)
        env.update({
            "XACCT_TEST_REDIS_URL": f"redis://127.0.0.1:{port}/0",
            "XACCT_TEST_REDIS_PORT": str(port),
            "XACCT_TEST_REDIS_PID": str(redis.pid),
            "XACCT_TEST_TMPDIR": tmp,
        })
        if os.path.exists(os.path.join(FAKEAWS_DIR, "fakeaws", "__main__.py")):
            fake, info, ready = start_fakeaws(tmp)
            started.append(fake)
            env.update({
                "FAKEAWS_READY": ready,
                "FAKEAWS_URL": info["https_url"],
                "FAKEAWS_HTTP_URL": info["http_url"],
                "AWS_ENDPOINT_URL": info["https_url"],
                "AWS_CA_BUNDLE": info["ca_file"],
                "AWS_ACCESS_KEY_ID": info["access_key_id"],
                "AWS_SECRET_ACCESS_KEY": info["secret_access_key"],
                "AWS_REGION": info["region"],
                "AWS_EC2_METADATA_SERVICE_ENDPOINT": info["http_url"],
            })
            env.pop("AWS_SESSION_TOKEN", None)
            env.pop("AWS_PROFILE", None)
        child = subprocess.Popen(cmd, env=env)
        return child.wait()
    except _Signalled as e:
        if child is not None:
            stop(child)
        return 128 + e.args[0]
    finally:
        for p in reversed(started):
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
