#!/usr/bin/env python3
"""Runs one test command with a throwaway redis-server on a free port.

Usage: with_env.py -- COMMAND [ARGS...]

Exports XACCT_TEST_REDIS_URL, XACCT_TEST_REDIS_PORT, XACCT_TEST_REDIS_PID and
XACCT_TEST_TMPDIR to the command, and stops everything it started by pid on
every exit path. Exits with the command's status.
"""
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
        return subprocess.call(cmd, env=env)
    finally:
        for p in reversed(started):
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
