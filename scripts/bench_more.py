"""The measurements scripts/bench.py adds to cpu/rss/idle (its --only names):

  curve  Throughput against slow AWS: every call the worker makes to the
         emulator (SQS, STS, S3, SNS) waits latency_ms (50) first, and one
         worker drains a pre-loaded batch with queue.max_in_flight = 64, 256
         and 1024 and aws.max_host_connections = 256 (--curve-host-
         connections: the emulator is one host, and a message makes about
         four calls, so 1,000 messages/s at 50 ms keeps ~200 connections
         busy). Reported per point: messages/s between 10 % and 90 % of
         the batch (ramp-up and tail left out), CPU per message there, the
         most connections open to the emulator at once, and its bound (in
         flight / time one message takes at that latency, Little's law) with
         the emulator's own CPU use: when it is near 100 % of a core, the
         emulator (one Python process) is what limits the point.
  scale  Cost as the work grows: the CPU batch run again with 1,000, 10,000
         and 100,000 other customers already in Redis (written by pipelining,
         500 commands a round trip): CPU per message and peak RSS of the
         worker, the peak RSS of `xacct list --limit 100000` (and --json)
         over all of them, which must not grow with them, and the portal
         API's GET /v1/customers paged through all of them (1,000 a page):
         the worker's resident memory before and after, its CPU per page.
"""
import hashlib
import http.client
import json
import os
import secrets
import socket
import statistics
import subprocess
import time

B = None  # the bench module (scripts/bench.py), set by attach()


def attach(bench):
    global B
    B = bench


# ---- background customers -------------------------------------------------------

def background_customers(env, n, state="active"):
    """n customers that take no part in a batch, in the layout of SPEC 5 (as
    harness.seed_customer writes them), written 500 commands a round trip."""
    if n <= 0:
        return 0.0
    t = time.monotonic()
    p = env.PREFIX
    topic = env.topics[env.regions[0]][0]
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    base_ms = int(time.time() * 1000) - n
    pipe = env.r.pipeline(transaction=False)
    for i in range(n):
        a = f"9{i:011d}"
        ext = f"00000000-0000-4000-8000-{i:012d}"
        pipe.hset(f"{p}customer:{a}", mapping={
            "account_id": a, "external_id": ext, "state": state, "topic_arn": topic,
            "region": env.regions[0], "created_at": now, "updated_at": now,
            "role_arn": f"arn:aws:iam::{a}:role/XacctAccess", "stack_id": "",
            "physical_id": f"xacct-{a}", "last_request_id": "", "last_error": ""})
        pipe.set(f"{p}external-id:{ext}", a)
        pipe.zadd(f"{p}customers", {a: base_ms + i})
        pipe.sadd(f"{p}topic:{topic}", a)
        if i % 125 == 124:
            pipe.execute()
    pipe.execute()
    return time.monotonic() - t


def list_max_rss(env, *args):
    """(peak RSS in kB, lines of output) of one `xacct list ...` run.

    The peak is GNU time's (%M), not the rusage os.wait4 would give: Python
    starts children with vfork, and exec records the peak of the address
    space it leaves, here the bench's own, in the child's maximum RSS. time
    forks the command from its own small process."""
    exe = os.path.join(os.environ["XACCT_BUILD_DIR"], "xacct")
    out = os.path.join(env.tmp, "list-maxrss.txt")
    p = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", out] +
                         env.wrap([exe, "--config", env.config_path, "list", *args]),
                         env=env.process_env(), stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    lines = 0
    for _ in p.stdout:
        lines += 1
    p.stdout.close()
    if p.wait() != 0:
        raise AssertionError(f"xacct list {args}: exit {p.returncode}")
    with open(out) as f:
        return int(f.read().split()[-1]), lines


# ---- 4. cost as the work grows -----------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api_pages(port, token, pid):
    """Pages GET /v1/customers through every customer, 1,000 a page, over one
    keep-alive connection; the worker's VmRSS before, at most meanwhile and
    after, and its CPU per page."""
    rss0 = B.status_kb(pid, "VmRSS")["VmRSS"]
    c0 = B.cpu_ticks(pid)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    rows, pages, cursor, peak = 0, 0, None, rss0
    while True:
        path = "/v1/customers?limit=1000" + (f"&cursor={cursor}" if cursor else "")
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise AssertionError(f"GET {path}: {r.status} {body[:300]!r}")
        doc = json.loads(body)
        rows += len(doc["items"])
        pages += 1
        peak = max(peak, B.status_kb(pid, "VmRSS")["VmRSS"])
        cursor = doc.get("next_cursor")
        if not cursor:
            break
    conn.close()
    return {"api_rows": rows, "api_pages": pages, "api_rss_before_kb": rss0,
            "api_rss_peak_kb": peak, "api_rss_after_kb": B.status_kb(pid, "VmRSS")["VmRSS"],
            "api_cpu_ms_per_page": (B.cpu_ticks(pid) - c0) * 1000.0 / B.CLK_TCK / pages}


def scale_run(args, size, i):
    """One CPU batch (no mixed part) with size other customers in Redis, then
    `xacct list` and the API's pages over all of them."""
    extra = {}
    token = secrets.token_urlsafe(24)
    port = free_port()

    def before(env):
        extra["seed_s"] = background_customers(env, size)
        tokens = os.path.join(env.tmp, "api-tokens")
        with open(tokens, "w") as f:
            f.write(f"bench:{hashlib.sha256(token.encode()).hexdigest()}\n")
        env.write_config(api__listen=f"127.0.0.1:{port}", api__tokens_file=tokens)

    def after(env, worker):
        rss, lines = list_max_rss(env, "--limit", "100000")
        jrss, _ = list_max_rss(env, "--json", "--limit", "100000")
        extra.update({"list_max_rss_kb": rss, "list_lines": lines, "list_json_max_rss_kb": jrss,
                      "redis_used_memory_mb": env.r.info("memory")["used_memory"] / 2**20})
        extra.update(api_pages(port, token, worker.pid))
    r, _ = B.cpu_run(args, 50 + i, mixed=False, before=before, after=after)
    r.update(extra)
    r["customers"] = size
    return r


def scale(args):
    out = []
    for k, size in enumerate(args.scale_sizes):
        B.say(f"bench: scale {k + 1}/{len(args.scale_sizes)}: {size} customers in Redis, "
              f"{args.messages} Creates")
        r = scale_run(args, size, k)
        B.say(f"  {r['cpu_ms_per_msg']:.3f} ms/msg, VmHWM {r['vm_hwm_kb'] / 1024:.1f} MB; "
              f"xacct list over {r['list_lines'] - 1} rows: max RSS "
              f"{r['list_max_rss_kb'] / 1024:.1f} MB (--json {r['list_json_max_rss_kb'] / 1024:.1f}); "
              f"API: {r['api_rows']} rows in {r['api_pages']} pages, worker VmRSS "
              f"{r['api_rss_before_kb'] / 1024:.1f} -> max {r['api_rss_peak_kb'] / 1024:.1f} MB")
        out.append({k2: v for k2, v in r.items() if k2 != "samples"})
    return out


# ---- 3. throughput against slow AWS --------------------------------------------------

def proc_ticks(pid):
    try:
        return B.cpu_ticks(pid)
    except (FileNotFoundError, ProcessLookupError):
        return 0


def curve_run(args, in_flight, latency_ms, i):
    n = max(args.curve_messages, (2 if not args.quick else 1) * in_flight + 200)
    accounts = [f"4{i:02d}{k:09d}" for k in range(n)]
    env = B.new_env(n)
    try:
        customers = B.seed(env, accounts)
        conf = {"queue__max_in_flight": str(in_flight), "queue__wait_seconds": "20"}
        if args.curve_receivers != 1:  # the default; older builds lack the key
            conf["queue__receivers"] = str(args.curve_receivers)
        if args.curve_host_connections != 64:  # the default; older builds lack the keys
            conf["aws__max_host_connections"] = str(args.curve_host_connections)
            conf["aws__max_connections"] = str(max(256, 4 * args.curve_host_connections))
        env.write_config(**conf)
        B.preload_creates(env, customers, n)
        env.ctl("POST", "/_fake/faults", {"service": "*", "latency_ms": latency_ms})
        fa_pid = env.fa.proc.pid
        w = env.start_worker(extra_env=B.PROFILE_ENV)
        samples = []
        deadline = time.monotonic() + max(240, n / 2)
        while True:
            B.alive(w)
            q = B.qstat(env)
            now = time.monotonic()
            samples.append((now, q["deleted"], q["in_flight"], B.cpu_ticks(w.pid),
                            proc_ticks(fa_pid), B.fakeaws_connections(env, w.pid)))
            if q["deleted"] >= n:
                break
            if now > deadline:
                raise AssertionError(f"only {q['deleted']} of {n} handled (queue {q})")
            time.sleep(0.2)
        lo = next(s for s in samples if s[1] >= n // 10)
        hi = next(s for s in samples if s[1] >= n * 9 // 10)
        dt = hi[0] - lo[0]
        done = hi[1] - lo[1]
        rate = done / dt if dt > 0 else None
        window = [s for s in samples if lo[0] <= s[0] <= hi[0]]
        held = statistics.median(s[2] for s in window) if window else None
        return {
            "in_flight": in_flight, "latency_ms": latency_ms, "messages": n,
            "max_host_connections": args.curve_host_connections,
            "receivers": args.curve_receivers,
            "msgs_per_s": rate,
            "cpu_ms_per_msg": (hi[3] - lo[3]) * 1000.0 / B.CLK_TCK / done if done else None,
            "median_in_flight": held,
            # Little's law: time one message spends in the worker at this rate.
            "s_per_msg_in_worker": held / rate if rate and held else None,
            "fakeaws_cpu_pct": (hi[4] - lo[4]) * 100.0 / B.CLK_TCK / dt if dt > 0 else None,
            "max_connections": max(s[5] for s in samples),
            "vm_hwm_kb": B.status_kb(w.pid, "VmHWM")["VmHWM"],
        }
    except Exception:
        B.dump_logs(env)
        raise
    finally:
        env.stop()


def curve(args):
    out = []
    for k, f in enumerate(args.curve_in_flight):
        B.say(f"bench: curve {k + 1}/{len(args.curve_in_flight)}: {f} in flight, every AWS call "
              f"{args.latency_ms} ms")
        r = curve_run(args, f, args.latency_ms, k)
        B.say(f"  {r['msgs_per_s']:.0f} msg/s, {r['max_connections']} connections, "
              f"fakeaws {r['fakeaws_cpu_pct']:.0f}% CPU")
        out.append(r)
    return out


# ---- report ---------------------------------------------------------------------------

def report(res):
    cv = res.get("curve")
    if cv:
        print(f"\nthroughput with every AWS call delayed {cv[0]['latency_ms']:g} ms "
              f"(goal >= 1000 msg/s), aws.max_host_connections = "
              f"{cv[0]['max_host_connections']}, queue.receivers = {cv[0]['receivers']}")
        rows = [("in flight", "msg/s", "CPU ms/msg", "in flight held", "s per msg",
                 "max conns", "fakeaws CPU %", "VmHWM MB")]
        for r in cv:
            rows.append((r["in_flight"], B.fmt(r["msgs_per_s"], 0), B.fmt(r["cpu_ms_per_msg"], 3),
                         B.fmt(r["median_in_flight"], 0), B.fmt(r["s_per_msg_in_worker"], 2),
                         r["max_connections"], B.fmt(r["fakeaws_cpu_pct"], 0),
                         B.fmt(r["vm_hwm_kb"] / 1024, 1)))
        print(B.table(rows))
    sc = res.get("scale")
    if sc:
        print("\ncost as the customers in Redis grow")
        rows = [("customers", "CPU ms/msg", "worker VmHWM MB", "list rows", "list max RSS MB",
                 "list --json MB", "API rows", "worker RSS paging MB", "API CPU ms/page",
                 "redis MB")]
        for r in sc:
            rows.append((r["customers"], B.fmt(r["cpu_ms_per_msg"], 3),
                         B.fmt(r["vm_hwm_kb"] / 1024, 1), r["list_lines"] - 1,
                         B.fmt(r["list_max_rss_kb"] / 1024, 1),
                         B.fmt(r["list_json_max_rss_kb"] / 1024, 1), r["api_rows"],
                         f"{r['api_rss_before_kb'] / 1024:.1f} -> {r['api_rss_peak_kb'] / 1024:.1f}",
                         B.fmt(r["api_cpu_ms_per_page"], 1),
                         B.fmt(r["redis_used_memory_mb"], 0)))
        print(B.table(rows))


# ---- where the memory goes ------------------------------------------------------------

def smaps_breakdown(pid, field="Rss"):
    """Resident kB by what it is: the heap (brk and anonymous maps: malloc),
    each shared object (code and data pages touched), stacks, the rest.
    field picks the smaps counter (Rss, Pss, Private_Dirty, Shared_Clean...)."""
    return {k: v.get(field, 0) for k, v in smaps_detail(pid).items() if v.get(field, 0)}


def smaps_detail(pid):
    """{name: {smaps counter: kB}} for the names of smaps_breakdown, sorted
    by Rss: Rss, Pss (shared pages divided among the processes mapping
    them), Private_Clean/Private_Dirty (this process's alone) and
    Shared_Clean/Shared_Dirty (page-cache pages other processes map too)."""
    fields = ("Rss", "Pss", "Private_Clean", "Private_Dirty", "Shared_Clean", "Shared_Dirty")
    out = {}
    name = None
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                head = line.split(None, 5)
                if len(head) >= 5 and "-" in head[0] and ":" in head[3]:
                    path = head[5].strip() if len(head) > 5 else ""
                    if path in ("", "[heap]"):
                        name = "heap (malloc)"
                    elif path.startswith("[stack"):
                        name = "stack"
                    elif path.startswith("["):
                        name = path
                    else:
                        from bench_prof import short_object
                        name = short_object(path)
                elif name is not None and line.split(":", 1)[0] in fields:
                    key, value = line.split(":", 1)
                    d = out.setdefault(name, {})
                    d[key] = d.get(key, 0) + int(value.split()[0])
    except OSError:
        return {}
    return dict(sorted(((k, v) for k, v in out.items() if v.get("Rss")),
                       key=lambda kv: -kv[1]["Rss"]))


def memory_split(detail):
    """Totals (kB) of what smaps_detail found: the heap (and stacks), the
    libraries' written pages (relocated data and globals: this process's
    own), their clean pages (code and read-only data, in the page cache,
    shared with any process mapping the same file; the binary's included)
    and the clean pages' proportional share (Pss, which moves with whatever
    else runs)."""
    t = {"rss": 0, "pss": 0, "heap": 0, "lib_dirty": 0, "lib_clean": 0, "lib_clean_pss": 0}
    for name, d in detail.items():
        dirty = d.get("Private_Dirty", 0) + d.get("Shared_Dirty", 0)
        clean = d.get("Private_Clean", 0) + d.get("Shared_Clean", 0)
        t["rss"] += d.get("Rss", 0)
        t["pss"] += d.get("Pss", 0)
        if name in ("heap (malloc)", "stack") or name.startswith("["):
            t["heap"] += dirty + clean
        else:
            t["lib_dirty"] += dirty
            t["lib_clean"] += clean
            t["lib_clean_pss"] += max(0, d.get("Pss", 0) - dirty)  # written pages are private
    return t


def describe_memory(run):
    bd = run.get("memory_by_mapping_kb")
    if not bd:
        return []
    tot = sum(bd.values())
    parts = ", ".join(f"{k} {v / 1024:.1f}" for k, v in list(bd.items())[:10])
    out = [f"  resident {tot / 1024:.1f} MB by mapping (MB): {parts}"]
    split = run.get("memory_split_kb")
    if split:
        out.append(f"  of which: heap and stacks {split['heap'] / 1024:.1f}, libraries' written "
                   f"pages (relocations, globals) {split['lib_dirty'] / 1024:.1f}, their clean "
                   f"pages (code, read-only data: page cache, shared) "
                   f"{split['lib_clean'] / 1024:.1f} (Pss {split['lib_clean_pss'] / 1024:.1f})")
    if run.get("heap_after_trim_kb") is not None:
        out.append(f"  heap after malloc_trim(0): {run['heap_after_trim_kb'] / 1024:.1f} MB "
                   f"(the rest of the heap was free memory glibc kept)")
    return out


def heap_after_trim(pid):
    """The heap's resident kB after malloc_trim(0) is called in the worker
    (through gdb, when installed): how much of it was free memory glibc
    kept, not memory in use. None without gdb."""
    import shutil
    if not shutil.which("gdb"):
        return None
    r = subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex", "call (int)malloc_trim(0)"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    if r.returncode != 0:
        return None
    return smaps_breakdown(pid).get("heap (malloc)")
