#!/usr/bin/env python3
"""The performance goals of xacctd, measured on one worker process against a
throwaway redis-server and fakeaws on loopback (run by scripts/bench):

  cpu   CPU per message: N Create requests of pending customers (secure
        roles, so the safety check passes) are published by the emulator's
        CloudFormation simulator (signed SNS envelope -> SQS) and left on the
        queue; then one xacctd with queue.max_in_flight = 256 is started and
        handles them all. Its utime + stime (/proc/<pid>/stat, every thread)
        over the batch, less its idle rate measured just after, divided by N.
        Start-up is left out: the worker's first receives are held back by
        an SQS latency fault until its CPU time has been read. Also reported:
        the same over the second half of the batch only (the connection
        pool is open by then), wall-clock throughput (fakeaws, one Python
        process, is the bottleneck there), peak RSS (VmHWM) and the
        connections to fakeaws left open. Then, on the same customers, a
        mixed batch on a fresh worker: N/2 Deletes of those stacks and N/2
        Creates of new customers (--no-mixed skips it).
  rss   RSS with 256 messages in flight: IAM propagation in the emulator is
        made longer than the run, so every safety check keeps retrying
        AssumeRole and every message stays in flight; VmRSS is sampled while
        the queue says 256 are in flight, until the worker's heartbeat
        (xacct:worker:<id>) has said so too.
  idle  Wake-ups when idle: an empty queue, queue.wait_seconds = 20; the
        change of voluntary + involuntary context switches summed over
        /proc/<pid>/task/*, then, in a second window (tracing adds switches
        of its own), every syscall under `strace -f -tt -T`: each return
        from a blocking call that slept is a wake-up, attributed to what woke
        it (a timer, or which socket) and what was done before the next
        sleep, with the intervals between such wake-ups.

Goals (the worker's issue): <= 0.2 ms CPU per message, <= 16 MB RSS with 256
in flight, no wake-ups when idle beyond the long polls (60 / wait_seconds per
minute and queue). The machine is shared and noisy: results are medians over
runs with min, max and the ratio to the goal; nothing fails on a number
unless --enforce-goals is given.

  curve, scale   throughput against slow AWS and cost as the customers grow:
        see scripts/bench_more.py.

--callgrind DIR runs every worker under callgrind and reports instructions
per message with their split by library (scripts/bench_prof.py): the numbers
to decide by on a shared machine, where CPU time is noise. --perf DIR samples
the worker natively during each CPU batch (scripts/bench_perf.py) and reports
the split by library and the share of its CPU spent inside libcurl.

    scripts/bench.py --build build/bench [--messages 2000] [--runs 5]
        [--idle-seconds 60] [--only cpu,rss,idle,curve,scale] [--no-mixed]
        [--quick] [--callgrind DIR] [--perf DIR] [--latency-ms 50]
        [--curve-in-flight 64,256,1024] [--curve-host-connections 256]
        [--scale-sizes 1000,10000,100000] [--json FILE] [--enforce-goals]
"""
import argparse
import json
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

import bench_more
import bench_perf
import bench_prof

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)

GOAL_CPU_MS = 0.2          # ms of CPU per message
GOAL_RSS_MB = 16.0         # MB resident with 256 messages in flight
IN_FLIGHT = 256            # queue.max_in_flight for every measurement
ACCOUNTS_PER_TOPIC = 600   # keeps each topic policy under SNS's 30 KB
CLK_TCK = os.sysconf("SC_CLK_TCK")

Env = None  # harness.Env, imported in main() once the build dir is known
PROFILE_ENV = None  # extra environment of a profiled worker


def use_container_credentials(env_class):
    """Every process an Env starts takes temporary credentials from the
    emulator's container endpoint instead of the partner's keys."""
    orig = env_class.process_env

    def process_env(self, extra=None):
        e = orig(self, extra)
        token = self.ctl("GET", "/_fake/credentials/config")["container_token"]
        e["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = self.fa.http_url + "/_creds/container"
        e["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = token
        e.pop("AWS_ACCESS_KEY_ID", None)
        e.pop("AWS_SECRET_ACCESS_KEY", None)
        return e
    env_class.process_env = process_env


# ---- /proc -------------------------------------------------------------------

def cpu_ticks(pid):
    """utime + stime of the whole process (every thread, living or not)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def cpu_user_sys(pid):
    """(utime, stime) of the whole process, ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


def status_kb(pid, *keys):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in keys:
                out[k] = int(v.split()[0])
    return out


def ctx_switches(pid):
    """(voluntary, involuntary, threads) summed over /proc/<pid>/task/*."""
    vol = invol = n = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        vol += int(line.split()[1])
                    elif line.startswith("nonvoluntary_ctxt_switches:"):
                        invol += int(line.split()[1])
            n += 1
        except FileNotFoundError:
            pass
    return vol, invol, n


def fd_targets(pid):
    """fd -> what it is: 'tcp 127.0.0.1:PORT' for sockets (the peer), or the
    link text (anon_inode:[eventfd], pipe:[...], ...)."""
    inodes = {}
    for proto in ("tcp", "tcp6"):
        try:
            with open(f"/proc/net/{proto}") as f:
                next(f)
                for line in f:
                    p = line.split()
                    rem, inode = p[2], p[9]
                    port = int(rem.rsplit(":", 1)[1], 16)
                    inodes[inode] = port
        except OSError:
            pass
    out = {}
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            m = re.match(r"socket:\[(\d+)\]", link)
            if m and m.group(1) in inodes:
                out[int(fd)] = ("tcp", inodes[m.group(1)])
            else:
                out[int(fd)] = ("other", link)
    except OSError:
        pass
    return out


# ---- helpers -------------------------------------------------------------------

T0 = time.monotonic()


def say(msg):
    print(f"[{time.monotonic() - T0:4.0f}s] {msg}", file=sys.stderr, flush=True)


def summary(xs, goal=None):
    xs = [x for x in xs if x is not None]
    if not xs:
        return {"median": None, "min": None, "max": None, "n": 0, "samples": []}
    m = statistics.median(xs)
    d = {"median": m, "min": min(xs), "max": max(xs), "n": len(xs), "samples": xs}
    if goal:
        d["goal"] = goal
        d["ratio"] = m / goal
    return d


def qstat(env):
    """The queue's counters without its messages (cheap at any depth)."""
    for q in env.ctl("GET", "/_fake/sqs/queues")["queues"]:
        if q["name"] == env.queue_name:
            return q
    raise AssertionError("queue vanished")


def wait_until(pred, timeout, what):
    """harness.wait_for, once main() has imported the harness."""
    return sys.modules["harness"].wait_for(pred, timeout, what)


def dump_logs(env):
    """The end of each worker's log, when a run fails."""
    for p in env.workers:
        try:
            tail = env.worker_log(p)[-1500:].decode("utf-8", "replace")
        except OSError:
            continue
        say(f"xacctd {p.pid} log (end):\n{tail}")


def alive(p):
    if p.poll() is not None:
        raise AssertionError(f"xacctd exited {p.returncode}")


def new_env(n_accounts, **kw):
    env = Env(topics_per_region=max(1, math.ceil(n_accounts / ACCOUNTS_PER_TOPIC)),
              visibility_timeout=120, **kw)
    env.start()
    # Roles are visible to STS at once (the bench is about xacctd, not about
    # waiting for IAM) and pre-loaded requests wait as long as they need.
    env.ctl("POST", "/_fake/iam/config", {"propagation_seconds": 0})
    env.ctl("POST", "/_fake/cfn/config", {"response_timeout": 3600})
    return env


def seed(env, accounts):
    """Pending customers exactly as Env.seed_customer writes them, spread over
    the topics; each topic's policy is written once (seed_customer would
    rewrite it per account). Returns {account: (external_id, topic)}."""
    topics = env.topics[env.regions[0]]
    allowed = {}
    env.allow_publish = lambda t, a: allowed.setdefault(t, []).append(a)
    out = {}
    try:
        for i, a in enumerate(accounts):
            t = topics[(i // ACCOUNTS_PER_TOPIC) % len(topics)]
            out[a] = (env.seed_customer(a, topic_arn=t), t)
    finally:
        del env.allow_publish
    for t, accts in allowed.items():
        env._allowed.setdefault(t, []).extend(accts[:-1])
        env.allow_publish(t, accts[-1])
    return out


def preload_creates(env, customers, expect_visible):
    """One stack per customer through the CloudFormation simulator: it creates
    the role and publishes the Create (signed SNS envelope -> SQS). Returns
    {account: stack_id} once every request is on the queue."""
    ids = {}
    for a, (ext, topic) in customers.items():
        ids[a] = env.create_stack(a, env.template(a, ext, topic_arn=topic))["stack_id"]
    wait_until(lambda: qstat(env)["visible"] >= expect_visible, 120 + len(customers) / 20,
               f"{expect_visible} requests on the queue")
    return ids


def start_held(env, in_flight_before=0):
    """Starts a worker whose first receives are held back (SQS latency) so its
    start-up CPU can be read before any message arrives. Returns (proc,
    start-up ticks, whether the read was clean)."""
    env.ctl("POST", "/_fake/faults", {"service": "sqs", "latency_ms": 3000})
    try:
        w = env.start_worker(extra_env=PROFILE_ENV, metrics=True)
        c0 = cpu_ticks(w.pid)
        clean = qstat(env)["in_flight"] <= in_flight_before
        bench_prof.zero(w.pid)
    finally:
        env.ctl("DELETE", "/_fake/faults?service=sqs")
    return w, c0, clean


def heartbeat(env, pid):
    import msgpack
    for key in env.r.scan_iter(f"{env.PREFIX}worker:*"):
        raw = env.r.get(key)
        if not raw:
            continue
        try:
            hb = msgpack.unpackb(raw, raw=False)
        except Exception:
            continue
        if isinstance(hb, dict) and hb.get("pid") == pid:
            return hb
    return None


# ---- 1. CPU per message ----------------------------------------------------------

def drain(env, w, n, deleted_before, timeout, in_flight_before=0):
    """Waits until n more messages were deleted, sampling the queue, VmRSS and
    the CPU time on the way. Returns the samples [(t, done, in flight, ticks,
    VmRSS kB)]."""
    samples = []
    deadline = time.monotonic() + timeout
    while True:
        alive(w)
        q = qstat(env)
        now = time.monotonic()
        done = q["deleted"] - deleted_before
        samples.append((now, done, q["in_flight"] - in_flight_before, cpu_ticks(w.pid),
                        status_kb(w.pid, "VmRSS")["VmRSS"]))
        if done >= n:
            return samples
        if now > deadline:
            raise AssertionError(f"only {done} of {n} messages handled after {timeout:.0f}s "
                                 f"(queue {q})")
        time.sleep(0.1)


def fakeaws_connections(env, pid):
    return sum(1 for kind, what in fd_targets(pid).values()
               if kind == "tcp" and what == env.https_port)


def tls_handshakes(env, w):
    """{"full": n, "resumed": n}: the worker's connections so far, by TLS
    handshake (xacct_http_connections_total)."""
    _, _, text = env.scrape(w)
    m = env.parse_metrics(text)
    return {kind: m.get(("xacct_http_connections_total", frozenset({("tls", kind)})), 0)
            for kind in ("full", "resumed")}


def measure_batch(env, w, c0, n, deleted_before, baseline_s, in_flight_before=0):
    t_c0 = time.monotonic()
    us0 = cpu_user_sys(w.pid)
    slow = 20 if bench_prof.OUT_DIR else 1  # callgrind runs the worker ~50x slower
    perf = bench_perf.start(w.pid, f"batch-{n}")
    try:
        samples = drain(env, w, n, deleted_before, slow * max(180, n / 5), in_flight_before)
    finally:
        native = bench_perf.stop(perf)
    prof = bench_prof.dump(w.pid, f"batch-{n}")
    t_end, _, _, c1, _ = samples[-1]
    us1 = cpu_user_sys(w.pid)
    t_first = next((s[0] for s in samples if s[1] > 0 or s[2] > 0), t_end)
    conns = fakeaws_connections(env, w.pid)
    handshakes = tls_handshakes(env, w)
    time.sleep(baseline_s)
    c2 = cpu_ticks(w.pid)
    idle_rate = (c2 - c1) / baseline_s                       # ticks per second
    busy = (c1 - c0) - idle_rate * (t_end - t_c0)
    # The second half of the batch: connections are open by then, so this is
    # the steady state without the set-up of the connection pool.
    half = next(s for s in samples if s[1] >= n // 2)
    steady = None
    if samples[-1][1] - half[1] >= n // 4:
        st = (c1 - half[3]) - idle_rate * (t_end - half[0])
        steady = st * 1000.0 / CLK_TCK / (samples[-1][1] - half[1])
    hwm = status_kb(w.pid, "VmHWM")["VmHWM"]
    return {
        "messages": n,
        "cpu_ticks": c1 - c0,
        "idle_ticks_per_s": idle_rate,
        "cpu_ms_total": busy * 1000.0 / CLK_TCK,
        "cpu_ms_per_msg": busy * 1000.0 / CLK_TCK / n,
        # user and kernel time over the batch (idle rate not taken off)
        "user_ms_per_msg": (us1[0] - us0[0]) * 1000.0 / CLK_TCK / n,
        "sys_ms_per_msg": (us1[1] - us0[1]) * 1000.0 / CLK_TCK / n,
        "cpu_ms_per_msg_second_half": steady,
        "wall_s": t_end - t_first,
        "msgs_per_s": n / (t_end - t_first) if t_end > t_first else None,
        "max_in_flight_seen": max(s[2] for s in samples),
        "fakeaws_connections_at_end": conns,
        "tls_full_handshakes": handshakes["full"],
        "tls_resumed_handshakes": handshakes["resumed"],
        "vm_hwm_kb": hwm,
        "profile": prof,
        "native_profile": native,
        "samples": [{"t": round(s[0] - t_c0, 3), "done": s[1], "in_flight": s[2],
                     "cpu_ticks": s[3] - c0, "vm_rss_kb": s[4]} for s in samples],
    }


def verify_creates(env, accounts):
    pipe = env.r.pipeline(transaction=False)
    for a in accounts:
        pipe.hget(f"{env.PREFIX}customer:{a}", "state")
    states = [s.decode() if s else None for s in pipe.execute()]
    active = sum(1 for s in states if s == "active")
    return active, len(env.dead())


def sqs_call(env, target, body):
    r = env.fa.call("sqs", "POST", "/", body=json.dumps(body).encode(), region=env.regions[0],
                    headers={"Content-Type": "application/x-amz-json-1.0",
                             "X-Amz-Target": f"AmazonSQS.{target}"})
    if r.status != 200:
        raise AssertionError(f"SQS {target}: {r.status} {r.text()}")
    return r.json()


def absorb_dangling_poll(env):
    """A stopped worker's long poll may still be waiting inside fakeaws; it
    would take the next messages and hide them for the visibility timeout.
    One throwaway message absorbs it (or, if nothing was waiting, is taken
    off the queue again here)."""
    q0 = qstat(env)
    env.send_raw("xacct bench: absorbs a stopped worker's long poll")
    time.sleep(0.5)
    if qstat(env)["visible"] > q0["visible"]:
        got = sqs_call(env, "ReceiveMessage", {"QueueUrl": env.queue_url,
                                               "MaxNumberOfMessages": 10, "WaitTimeSeconds": 0})
        for m in got.get("Messages", []):
            sqs_call(env, "DeleteMessage", {"QueueUrl": env.queue_url,
                                            "ReceiptHandle": m["ReceiptHandle"]})


def cpu_run(args, i, mixed=None, before=None, after=None):
    """before(env) runs once the test bed is up, after(env, worker) once the
    first batch is handled (scale: other customers, xacct list, API pages)."""
    n = args.messages
    mixed = args.mixed if mixed is None else mixed
    accounts = [f"7{i:02d}{k:09d}" for k in range(n)]
    extra = [f"6{i:02d}{k:09d}" for k in range(n // 2)] if mixed else []
    env = new_env(n + len(extra))
    try:
        if before is not None:
            before(env)
        t = time.monotonic()
        customers = seed(env, accounts + extra)
        env.write_config(queue__max_in_flight=str(IN_FLIGHT), queue__wait_seconds="20")
        first = {a: customers[a] for a in accounts}
        stacks = preload_creates(env, first, n)
        prep = time.monotonic() - t
        w, c0, clean = start_held(env)
        r = measure_batch(env, w, c0, n, 0, args.baseline_seconds)
        r["startup_cpu_ms"] = c0 * 1000.0 / CLK_TCK
        r["startup_read_clean"] = clean
        r["prepare_s"] = prep
        r["active"], r["dead"] = verify_creates(env, accounts)
        r["answers"] = len(env.answers())
        if after is not None:
            after(env, w)
        if not mixed:
            return r, None
        # Mixed: half the stacks deleted, as many new customers created, all
        # on the queue before a fresh worker starts.
        env.stop_worker(w)
        wait_until(lambda: all(not s["status"].endswith("_IN_PROGRESS")
                               for s in env.ctl("GET", "/_fake/cfn/stacks")["stacks"]),
                   120, "the stacks to settle")
        absorb_dangling_poll(env)
        q = qstat(env)
        for a in accounts[:len(extra)]:
            env.delete_stack(stacks[a])
        preload_creates(env, {a: customers[a] for a in extra}, 2 * len(extra))
        w2, c0, clean = start_held(env, q["in_flight"])
        m = measure_batch(env, w2, c0, 2 * len(extra), q["deleted"], args.baseline_seconds,
                          q["in_flight"])
        m["startup_read_clean"] = clean
        m["active"], m["dead"] = verify_creates(env, extra)
        m["expect_active"] = len(extra)
        pipe = env.r.pipeline(transaction=False)
        for a in accounts[:len(extra)]:
            pipe.hget(f"{env.PREFIX}customer:{a}", "state")
        m["deleted_states"] = {}
        for st in pipe.execute():
            k = st.decode() if st else "(gone)"
            m["deleted_states"][k] = m["deleted_states"].get(k, 0) + 1
        m["jobs"] = env.r.xlen(f"{env.PREFIX}jobs:offboard")
        return r, m
    except Exception:
        dump_logs(env)
        raise
    finally:
        env.stop()


# ---- 2. RSS with 256 in flight -------------------------------------------------------

def rss_run(args, i):
    n = IN_FLIGHT + 64
    accounts = [f"5{i:02d}{k:09d}" for k in range(n)]
    env = new_env(n, propagation_timeout=600)
    try:
        customers = seed(env, accounts)
        env.write_config(queue__max_in_flight=str(IN_FLIGHT), queue__wait_seconds="20")
        # Roles stay invisible to STS for the whole run: every safety check
        # keeps retrying AssumeRole, so every message stays in flight.
        env.ctl("POST", "/_fake/iam/config", {"propagation_seconds": 3600})
        preload_creates(env, customers, n)
        w = env.start_worker(extra_env=PROFILE_ENV)
        full_since = None
        hb_full = []
        samples = []
        last_hb = 0.0
        deadline = time.monotonic() + 90
        while True:
            alive(w)
            now = time.monotonic()
            q = qstat(env)
            st = status_kb(w.pid, "VmRSS", "VmHWM")
            hb = None
            if now - last_hb >= 1.0:
                last_hb = now
                hb = heartbeat(env, w.pid)
            full = q["in_flight"] >= IN_FLIGHT
            if full and full_since is None:
                full_since = now
            elif not full:
                full_since = None
                hb_full = []
            if full and hb is not None and hb.get("in_flight") == IN_FLIGHT:
                beat = {"in_flight": hb["in_flight"], "rss": hb.get("rss"),
                        "processed": hb.get("processed")}
                if not hb_full or hb_full[-1] != beat:
                    hb_full.append(beat)
            samples.append({"t": now, "in_flight": q["in_flight"], "vm_rss_kb": st["VmRSS"],
                            "vm_hwm_kb": st["VmHWM"], "full": full})
            if full_since is not None and now - full_since >= args.hold_seconds and hb_full:
                break
            if now > deadline:
                raise AssertionError(f"256 messages never stayed in flight for "
                                     f"{args.hold_seconds}s with a heartbeat (queue {q})")
            time.sleep(0.25)
        window = [s for s in samples if s["full"] and s["t"] >= full_since]
        hwm = status_kb(w.pid, "VmHWM")["VmHWM"]
        rss = [s["vm_rss_kb"] for s in window]
        conns = fakeaws_connections(env, w.pid)
        detail = bench_more.smaps_detail(w.pid)
        return {
            "memory_by_mapping_kb": {k: v["Rss"] for k, v in detail.items()},
            "memory_detail_kb": detail,
            "memory_split_kb": bench_more.memory_split(detail),
            "heap_after_trim_kb": bench_more.heap_after_trim(w.pid),
            "fakeaws_connections": conns,
            "held_s": window[-1]["t"] - window[0]["t"],
            "vm_rss_kb_samples": rss,
            "vm_rss_kb_median": statistics.median(rss),
            "vm_rss_kb_max": max(rss),
            "vm_hwm_kb": hwm,
            "heartbeats": hb_full,
            "assume_role_calls": len(env.ctl("GET", "/_fake/sts/assume-role-calls")["calls"]),
        }
    except Exception:
        dump_logs(env)
        raise
    finally:
        env.stop()


# ---- 3. idle wake-ups -------------------------------------------------------------------

LINE = re.compile(r"^(\d+)\s+(\d+):(\d+):(\d+\.\d+)\s+(.*)$")
CALL = re.compile(r"^([a-z_0-9]+)\(")
RESUMED = re.compile(r"^<\.\.\. ([a-z_0-9]+) resumed>")
RET = re.compile(r"\)\s+=\s+(-?\d+|\?)[^<]*(?:<(\d+\.\d+)>)?\s*$")
SLEEP_S = 0.0001  # a blocking syscall that took longer than this slept: its return is a wake-up
BLOCKING = {"epoll_wait", "epoll_pwait", "epoll_pwait2", "poll", "ppoll", "select", "pselect6",
            "futex", "nanosleep", "clock_nanosleep", "rt_sigtimedwait", "wait4", "accept4"}


def parse_strace(path):
    """`strace -f -tt -T` output -> [(tid, start, name, text, ret, duration)]
    for every completed syscall, in order (unfinished/resumed pairs joined)."""
    events = []
    pending = {}
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.match(line.rstrip("\n"))
            if not m:
                continue
            tid = int(m.group(1))
            t = int(m.group(2)) * 3600 + int(m.group(3)) * 60 + float(m.group(4))
            rest = m.group(5)
            r = RESUMED.match(rest)
            if r:
                t0, head = pending.pop(tid, (t, r.group(1) + "("))
                name, text = r.group(1), head + rest[r.end():]
                t = t0
            else:
                c = CALL.match(rest)
                if not c:
                    continue
                name = c.group(1)
                if rest.endswith("<unfinished ...>"):
                    pending[tid] = (t, rest[:-len("<unfinished ...>")])
                    continue
                text = rest
            ret = RET.search(text)
            if ret is None:        # detached mid-call
                continue
            rv = -1 if ret.group(1) == "?" else int(ret.group(1))
            events.append((tid, t, name, text, rv, float(ret.group(2) or 0)))
    return events


def periods(times):
    """Intervals between successive times, grouped to 0.5 s: {'5.0': count}."""
    out = {}
    for a, b in zip(times, times[1:]):
        k = f"{round((b - a) * 2) / 2:.1f}"
        out[k] = out.get(k, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def wakeups(events, fds, port_names):
    """Every return from a syscall that slept, with what woke it (a timer or
    which socket, for epoll_wait) and what the thread did before sleeping
    again: {label: [wake times]}."""
    def fd_name(fd):
        kind, what = fds.get(fd, ("other", f"fd {fd}"))
        if kind == "tcp":
            return port_names.get(what, f"tcp :{what}")
        return what
    by_tid = {}
    for e in events:
        by_tid.setdefault(e[0], []).append(e)
    out = {}
    for tid, evs in by_tid.items():
        i = 0
        while i < len(evs):
            tid_, t, name, text, ret, dur = evs[i]
            i += 1
            if dur < SLEEP_S or name not in BLOCKING:
                continue
            if name.startswith("epoll_wait") or name.startswith("epoll_pwait"):
                if ret == 0:
                    cause = "timer"
                elif ret > 0:
                    cause = " + ".join(sorted({fd_name(int(x)) for x in
                                               re.findall(r"u32=(\d+)", text)})) or "fd"
                else:
                    cause = "interrupted"
            else:
                cause = f"{name} (thread {tid})"
            # What it did until it slept again.
            did = []
            while i < len(evs) and (evs[i][5] < SLEEP_S or evs[i][2] not in BLOCKING):
                _, _, n2, tx2, _, _ = evs[i]
                i += 1
                if n2 == "openat":
                    m = re.search(r'"([^"]+)"', tx2)
                    w = f"opens {m.group(1) if m else '?'}"
                elif n2 in ("write", "sendto", "sendmsg", "writev"):
                    m = re.match(r"[a-z]+\((\d+)", tx2)
                    w = f"writes to {fd_name(int(m.group(1)))}" if m else n2
                elif n2 in ("poll", "connect"):
                    m = re.search(r"fd=(\d+)", tx2) or re.match(r"[a-z]+\((\d+)", tx2)
                    w = f"{n2} {fd_name(int(m.group(1)))}" if m else n2
                else:
                    continue
                if w not in did:
                    did.append(w)
            label = f"{cause} -> {', '.join(did) if did else 'nothing'}"
            out.setdefault(label, []).append(t + dur)
    return out


def idle_run(args):
    wait_s = args.idle_wait_seconds
    env = new_env(1)
    strace = None
    try:
        env.write_config(queue__max_in_flight=str(IN_FLIGHT), queue__wait_seconds=str(wait_s))
        w = env.start_worker(extra_env=PROFILE_ENV)
        time.sleep(2)                               # start-up settles
        res = {"wait_seconds": wait_s, "window_s": args.idle_seconds,
               "expected_polls_per_min": 60.0 / wait_s}
        # Window 1: context switches, no tracer attached (ptrace adds its own).
        v0, n0, th0 = ctx_switches(w.pid)
        c0 = cpu_ticks(w.pid)
        t0 = time.monotonic()
        time.sleep(args.idle_seconds)
        alive(w)
        v1, n1, th1 = ctx_switches(w.pid)
        c1 = cpu_ticks(w.pid)
        dt = time.monotonic() - t0
        res.update({
            "voluntary": v1 - v0, "involuntary": n1 - n0, "threads": [th0, th1],
            "switches_per_min": (v1 - v0 + n1 - n0) * 60.0 / dt,
            "cpu_ms": (c1 - c0) * 1000.0 / CLK_TCK,
        })
        res["strace"] = None
        if args.no_strace or not shutil.which("strace"):
            return res
        # Window 2: every syscall of every thread under strace; each return
        # from a syscall that slept is a wake-up.
        out = os.path.join(env.tmp, "idle.strace")
        strace = subprocess.Popen(["strace", "-f", "-tt", "-T", "-qq", "-o", out,
                                   "-p", str(w.pid)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(args.idle_seconds)
        fds = fd_targets(w.pid)
        strace.send_signal(signal.SIGINT)
        try:
            strace.wait(10)
        except subprocess.TimeoutExpired:
            strace.kill()
            strace.wait()
        strace = None
        alive(w)
        events = parse_strace(out)
        port_names = {env.redis.port: "redis", env.https_port: "fakeaws"}
        wk = wakeups(events, fds, port_names)
        counts = {}
        for e in events:
            counts[e[2]] = counts.get(e[2], 0) + 1
        span = args.idle_seconds
        total = sum(len(v) for v in wk.values())
        res["strace"] = {
            "syscalls": dict(sorted(counts.items(), key=lambda kv: -kv[1])),
            "epoll_wait_calls": sum(v for k, v in counts.items() if k.startswith("epoll_wait")
                                    or k.startswith("epoll_pwait")),
            "wakeups": total,
            "wakeups_per_min": total * 60.0 / span,
            "by_cause_per_min": {k: len(v) * 60.0 / span for k, v in wk.items()},
            "periods_s": {k: periods(v) for k, v in wk.items()},
            "wake_times": {k: [round(x, 6) for x in v] for k, v in wk.items()},
            "threads_seen": sorted({e[0] for e in events}),
        }
        return res
    except Exception:
        dump_logs(env)
        raise
    finally:
        if strace is not None and strace.poll() is None:
            strace.kill()
            strace.wait()
        env.stop()


# ---- report ------------------------------------------------------------------------------

def fmt(x, nd=3):
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def table(rows):
    w = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for j, r in enumerate(rows):
        lines.append("  ".join(str(c).ljust(w[i]) if i == 0 else str(c).rjust(w[i])
                               for i, c in enumerate(r)))
        if j == 0:
            lines.append("  ".join("-" * x for x in w))
    return "\n".join(lines)


def report(res):
    rows = [("measure", "median", "min", "max", "runs", "goal", "ratio")]

    def row(name, s, nd=3, goal="-"):
        rows.append((name, fmt(s["median"], nd), fmt(s["min"], nd), fmt(s["max"], nd), s["n"],
                     goal, fmt(s.get("ratio"), 2) if s.get("ratio") is not None else "-"))
    cpu = res.get("cpu")
    if cpu:
        n = res["config"]["messages"]
        row(f"CPU per message, {n} Creates (ms)", cpu["cpu_ms_per_msg"], 3, f"<= {GOAL_CPU_MS}")
        row("  same, second half of the batch (ms)", cpu["cpu_ms_per_msg_second_half"], 3,
            f"<= {GOAL_CPU_MS}")
        if cpu.get("mixed_cpu_ms_per_msg"):
            row(f"CPU per message, {n // 2} Deletes + {n // 2} Creates (ms)",
                cpu["mixed_cpu_ms_per_msg"], 3, f"<= {GOAL_CPU_MS}")
        row("throughput, wall (msg/s; fakeaws-bound)", cpu["msgs_per_s"], 0)
        row("start-up CPU (ms, not counted above)", cpu["startup_cpu_ms"], 0)
        row("peak RSS during the batch, VmHWM (MB)", cpu["vm_hwm_mb"], 1)
        row("connections to fakeaws after the batch", cpu["fakeaws_connections"], 0)
        if cpu.get("tls_full", {}).get("median"):  # builds without the metric: 0
            row("  TLS handshakes since start: full", cpu["tls_full"], 0)
            row("  TLS handshakes since start: resumed", cpu["tls_resumed"], 0)
    rss = res.get("rss")
    if rss:
        row("RSS with 256 in flight, VmRSS (MB)", rss["vm_rss_mb"], 1, f"<= {GOAL_RSS_MB:g}")
        row("  peak of those runs, VmHWM (MB)", rss["vm_hwm_mb"], 1)
        row("  connections to fakeaws meanwhile", rss["fakeaws_connections"], 0)
    idle = res.get("idle")
    if idle:
        exp = idle["expected_polls_per_min"]
        goal = f"{exp:g} (polls)"
        rows.append(("idle: context switches (/min, all threads)",
                     fmt(idle["switches_per_min"], 1), "-", "-", 1, goal,
                     fmt(idle["switches_per_min"] / exp, 2)))
        st = idle.get("strace")
        if st:
            rows.append(("idle: wake-ups under strace (/min)", fmt(st["wakeups_per_min"], 1),
                         "-", "-", 1, goal, fmt(st["wakeups_per_min"] / exp, 2)))
    print()
    print(table(rows))
    if cpu:
        for r in cpu["runs"]:
            for line in bench_prof.describe(r.get("profile"), r["messages"]):
                print(line)
            for line in bench_perf.describe(r.get("native_profile"), r["cpu_ms_per_msg"]):
                print(line)
    if idle:
        print(f"\nidle worker: queue.wait_seconds = {idle['wait_seconds']}, "
              f"{idle['window_s']:g} s per window, threads {idle['threads'][0]}"
              f"->{idle['threads'][1]}, {idle['voluntary']} voluntary + {idle['involuntary']} "
              f"involuntary switches, {idle['cpu_ms']:.0f} ms CPU")
        st = idle.get("strace")
        if st:
            print("  wake-ups: what woke it -> what it did; per minute; intervals (s) x count")
            for cause, rate in sorted(st["by_cause_per_min"].items(), key=lambda kv: -kv[1]):
                per = ", ".join(f"{k} x{v}" for k, v in list(st["periods_s"][cause].items())[:3])
                print(f"    {cause:<58} {rate:5.1f}/min   {per}")
            top = ", ".join(f"{k} {v}" for k, v in list(st["syscalls"].items())[:8])
            print(f"  syscalls in the strace window: {top}")
    notes = []
    if cpu and not all(r.get("startup_read_clean", True) for r in cpu["runs"]):
        notes.append("in some CPU runs a message arrived before start-up CPU was read")
    if cpu:
        bad = [r for r in cpu["runs"] + cpu.get("mixed_runs", [])
               if r["active"] != r.get("expect_active", r["messages"]) or r["dead"]]
        if bad:
            notes.append(f"{len(bad)} batch(es) left customers inactive or dead-lettered messages")
    for note in notes:
        print("note:", note)
    if rss:
        for line in bench_more.describe_memory(rss["runs"][-1]):
            print(line)
    bench_more.report(res)
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in res['machine']['loadavg'])}"
          f" ({res['machine']['cpus']} CPUs)")


# ---- main ----------------------------------------------------------------------------------

def main():
    global Env, PROFILE_ENV
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", required=True, help="the build tree with xacctd (no sanitizers)")
    ap.add_argument("--messages", type=int, default=2000, help="Create requests per CPU run")
    ap.add_argument("--runs", type=int, default=5, help="CPU runs (and RSS runs, see --rss-runs)")
    ap.add_argument("--rss-runs", type=int, default=None, help="RSS runs (default: --runs)")
    ap.add_argument("--hold-seconds", type=float, default=8,
                    help="how long 256 messages are held in flight per RSS run")
    ap.add_argument("--idle-seconds", type=float, default=60, help="length of each idle window")
    ap.add_argument("--idle-wait-seconds", type=int, default=20,
                    help="queue.wait_seconds when idle")
    ap.add_argument("--baseline-seconds", type=float, default=2,
                    help="idle time after each batch to measure the idle CPU rate")
    ap.add_argument("--only", default="cpu,rss,idle,curve,scale",
                    help="comma-separated: cpu, rss, idle, curve, scale")
    ap.add_argument("--latency-ms", type=float, default=50,
                    help="curve: delay of every AWS call in the emulator")
    ap.add_argument("--curve-in-flight", default="64,256,1024",
                    help="curve: the queue.max_in_flight values")
    ap.add_argument("--curve-host-connections", type=int, default=256,
                    help="curve: aws.max_host_connections of the worker (the default "
                         "64 caps a worker near 64 / (calls per message x latency) "
                         "against one host)")
    ap.add_argument("--curve-receivers", type=int, default=16,
                    help="curve: queue.receivers of the worker (1 for builds without it)")
    ap.add_argument("--curve-messages", type=int, default=3000,
                    help="curve: messages per point (at least 2 x in flight)")
    ap.add_argument("--scale-sizes", default="1000,10000,100000",
                    help="scale: customers already in Redis, one CPU batch each")
    ap.add_argument("--no-mixed", dest="mixed", action="store_false",
                    help="skip the mixed batch (N/2 Deletes + N/2 Creates) of each CPU run")
    ap.add_argument("--no-strace", action="store_true", help="skip the strace window")
    ap.add_argument("--quick", action="store_true",
                    help="a ~1 minute smoke run (300 messages, 1 CPU run, 1 RSS run, "
                         "15 s idle windows with wait_seconds 7)")
    ap.add_argument("--worker-env", metavar="NAME=VALUE", action="append", default=[],
                    help="extra environment of the measured worker (repeatable), "
                         "e.g. LD_PRELOAD=... to compare allocators")
    ap.add_argument("--credentials", choices=("static", "container"), default="static",
                    help="the workers' AWS credentials: the partner's long-term keys, or "
                         "temporary ones from the emulator's container endpoint, as on ECS "
                         "or EKS (every signed request then carries a session token)")
    ap.add_argument("--callgrind", metavar="DIR",
                    help="run each worker under callgrind (dumps in DIR) and report "
                         "instructions per message and their split by library; the CPU "
                         "and wall numbers of such a run are not comparable")
    ap.add_argument("--perf", metavar="DIR",
                    help="sample each CPU run's worker with perf (data in DIR) and report "
                         "where its CPU went natively: the split by library and the share "
                         "spent inside libcurl")
    ap.add_argument("--json", metavar="FILE", help="write every sample and summary as JSON")
    ap.add_argument("--enforce-goals", action="store_true",
                    help="exit 1 when a median misses its goal, or idle wake-ups exceed two per "
                         "long poll (off by default: timing is noisy on a shared machine)")
    args = ap.parse_args()
    if args.quick:
        args.messages, args.runs, args.rss_runs = 300, 1, 1
        args.hold_seconds, args.idle_seconds, args.idle_wait_seconds = 4, 15, 7
        args.baseline_seconds = 1
        args.curve_messages = min(args.curve_messages, 400)
    args.curve_in_flight = [int(x) for x in args.curve_in_flight.split(",") if x.strip()]
    args.scale_sizes = [int(x) for x in args.scale_sizes.split(",") if x.strip()]
    if args.rss_runs is None:
        args.rss_runs = args.runs
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    known = {"cpu", "rss", "idle", "curve", "scale"}
    if only - known:
        ap.error(f"--only: unknown {sorted(only - known)}")

    os.environ["XACCT_SOURCE_DIR"] = SOURCE
    os.environ["XACCT_BUILD_DIR"] = os.path.abspath(args.build)
    if not os.access(os.path.join(args.build, "xacctd"), os.X_OK):
        ap.error(f"no xacctd in {args.build}")
    sys.path.insert(0, os.path.join(SOURCE, "tests", "e2e"))
    import harness
    Env = harness.Env
    bench_more.attach(sys.modules[__name__])
    if args.callgrind:
        bench_prof.enable(Env, args.callgrind)
    if args.perf:
        bench_perf.enable(args.perf)
    if args.credentials == "container":
        use_container_credentials(Env)
    for kv in args.worker_env:
        name, sep, value = kv.partition("=")
        if not sep or not name:
            ap.error(f"--worker-env: expected NAME=VALUE, got {kv!r}")
        PROFILE_ENV = dict(PROFILE_ENV or {}, **{name: value})

    # SIGTERM / SIGHUP end the bench like Ctrl-C: every finally block runs,
    # so each Env stops what it started (workers included).
    def stop(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)

    res = {"config": {"messages": args.messages, "runs": args.runs, "rss_runs": args.rss_runs,
                      "hold_seconds": args.hold_seconds, "idle_seconds": args.idle_seconds,
                      "idle_wait_seconds": args.idle_wait_seconds, "max_in_flight": IN_FLIGHT,
                      "mixed": args.mixed, "quick": args.quick,
                      "build": os.path.abspath(args.build), "clk_tck": CLK_TCK},
           "goals": {"cpu_ms_per_msg": GOAL_CPU_MS, "rss_mb_256_in_flight": GOAL_RSS_MB,
                     "idle": "no wake-ups beyond the long polls"},
           "machine": {"cpus": os.cpu_count(), "kernel": platform.release(),
                       "loadavg_start": os.getloadavg()}}
    started = time.monotonic()
    try:
        if "cpu" in only:
            runs, mixed = [], []
            for i in range(args.runs):
                say(f"bench: CPU run {i + 1}/{args.runs}: {args.messages} Create requests")
                r, m = cpu_run(args, i)
                runs.append(r)
                say(f"  {r['cpu_ms_per_msg']:.3f} ms/msg (user {r['user_ms_per_msg']:.3f}, "
                    f"kernel {r['sys_ms_per_msg']:.3f}), {r['msgs_per_s']:.0f} msg/s, "
                    f"VmHWM {r['vm_hwm_kb'] / 1024:.1f} MB, {r['active']}/{r['messages']} active"
                    + (f"; mixed {m['cpu_ms_per_msg']:.3f} ms/msg" if m else ""))
                if m:
                    mixed.append(m)
            res["cpu"] = {
                "runs": runs,
                "cpu_ms_per_msg": summary([r["cpu_ms_per_msg"] for r in runs], GOAL_CPU_MS),
                "msgs_per_s": summary([r["msgs_per_s"] for r in runs]),
                "cpu_ms_per_msg_second_half": summary(
                    [r["cpu_ms_per_msg_second_half"] for r in runs], GOAL_CPU_MS),
                "startup_cpu_ms": summary([r["startup_cpu_ms"] for r in runs]),
                "fakeaws_connections": summary([r["fakeaws_connections_at_end"] for r in runs]),
                "tls_full": summary([r["tls_full_handshakes"] for r in runs]),
                "tls_resumed": summary([r["tls_resumed_handshakes"] for r in runs]),
                "vm_hwm_mb": summary([r["vm_hwm_kb"] / 1024 for r in runs]),
            }
            if mixed:
                res["cpu"]["mixed_runs"] = mixed
                res["cpu"]["mixed_cpu_ms_per_msg"] = summary(
                    [m["cpu_ms_per_msg"] for m in mixed], GOAL_CPU_MS)
        if "rss" in only:
            runs = []
            for i in range(args.rss_runs):
                say(f"bench: RSS run {i + 1}/{args.rss_runs}: {IN_FLIGHT} in flight")
                r = rss_run(args, i)
                runs.append(r)
                say(f"  VmRSS {r['vm_rss_kb_median'] / 1024:.2f} MB over {r['held_s']:.1f}s, "
                    f"VmHWM {r['vm_hwm_kb'] / 1024:.2f} MB")
            res["rss"] = {
                "runs": runs,
                "vm_rss_mb": summary([r["vm_rss_kb_median"] / 1024 for r in runs], GOAL_RSS_MB),
                "vm_hwm_mb": summary([r["vm_hwm_kb"] / 1024 for r in runs]),
                "fakeaws_connections": summary([r["fakeaws_connections"] for r in runs]),
            }
        if "idle" in only:
            say(f"bench: idle, 2 windows of {args.idle_seconds:g} s "
                f"(queue.wait_seconds = {args.idle_wait_seconds})")
            res["idle"] = idle_run(args)
        if "curve" in only:
            res["curve"] = bench_more.curve(args)
        if "scale" in only:
            res["scale"] = bench_more.scale(args)
    except KeyboardInterrupt:
        say("bench: interrupted")
        return 130
    except Exception as e:
        say(f"bench: failed: {e!r}")
        return 2
    res["machine"]["loadavg"] = os.getloadavg()
    res["elapsed_s"] = time.monotonic() - started
    report(res)
    print(f"elapsed {res['elapsed_s']:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
        print(f"raw samples: {args.json}")
    if args.enforce_goals:
        missed = []
        c = res.get("cpu", {}).get("cpu_ms_per_msg", {})
        if c.get("ratio") is not None and c["ratio"] > 1:
            missed.append("CPU per message")
        r = res.get("rss", {}).get("vm_rss_mb", {})
        if r.get("ratio") is not None and r["ratio"] > 1:
            missed.append("RSS with 256 in flight")
        st = (res.get("idle") or {}).get("strace")
        # A long poll may end in more than one wake-up (its answer, a curl
        # timer); more than two per poll is something else waking it.
        if st and st["wakeups_per_min"] > 2 * res["idle"]["expected_polls_per_min"]:
            missed.append("idle wake-ups")
        if missed:
            print("goals missed: " + ", ".join(missed))
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
