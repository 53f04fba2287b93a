"""Native CPU profile for scripts/bench.py: with --perf DIR, Linux perf samples
the worker while it handles each CPU run's batch (from the end of its
start-up to the last message deleted), with user-space call chains unwound
from DWARF, and the report gives where the worker's CPU went at full speed:
the share of each shared object (self: the object that was executing,
kernel included), the share spent inside calls into libcurl (samples with a
libcurl frame on their stack: libcurl itself and the OpenSSL, libc and
kernel work it does, the few callbacks it makes into xacctd included), and
the hottest symbols. Unlike callgrind's instruction counts this weighs each
instruction by what it costs on this machine (cache misses, system calls);
sampling makes it noisier, so read it over a few thousand messages. The
kernel's copy of each sample's stack adds a few percent to the CPU numbers
of a profiled run.
"""
import os
import re
import shutil
import signal
import subprocess

OUT_DIR = None  # set by enable()
FREQ_HZ = 997   # not a divisor of the kernel's tick, so samples do not beat with it


def enable(out_dir):
    """Turns profiling on; perf must be installed (Debian: linux-perf)."""
    global OUT_DIR
    if shutil.which("perf") is None:
        raise SystemExit("bench: --perf needs perf (apt-get install linux-perf)")
    OUT_DIR = os.path.abspath(out_dir)
    os.makedirs(OUT_DIR, exist_ok=True)


def start(pid, label):
    """Starts sampling pid; returns the handle for stop() or None."""
    if not OUT_DIR:
        return None
    path = os.path.join(OUT_DIR, f"perf.{pid}.{label}.data")
    p = subprocess.Popen(["perf", "record", "-q", "-F", str(FREQ_HZ),
                          "--call-graph", "dwarf,16384", "-p", str(pid), "-o", path],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return (p, path)


def stop(handle):
    """Stops sampling and reads the samples back; None when nothing came."""
    if handle is None:
        return None
    p, path = handle
    p.send_signal(signal.SIGINT)
    try:
        _, err = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        return None
    if not os.path.exists(path):
        print(f"bench: perf record wrote nothing: {err.decode(errors='replace').strip()}")
        return None
    return parse(path)


def short_object(name):
    """libcrypto.so.3 -> libcrypto; [kernel.kallsyms] -> kernel"""
    if name.startswith("[kernel"):
        return "kernel"
    m = re.match(r"(lib[A-Za-z0-9_+-]+?)(-[0-9.]+)?\.so", name)
    if m:
        return m.group(1)
    return name.strip("[]") or "?"


def report_rows(path, *args):
    """perf report's table as [(percent, rest of the line)]."""
    out = subprocess.run(["perf", "report", "-i", path, "--stdio", "-g", "none",
                          "--percent-limit", "0.3", *args],
                         capture_output=True, text=True, check=False).stdout
    rows = []
    for line in out.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = re.match(r"\s*([\d.]+)%\s+(.*)$", line)
        if m:
            rows.append((float(m.group(1)), m.group(2)))
    return rows


def parse(path):
    """{"file", "self_by_object": {name: %}, "under_libcurl": %,
    "top_symbols": [(%, object, symbol)]}"""
    by_object = {}
    for pct, rest in report_rows(path, "--no-children", "--sort", "dso"):
        k = short_object(rest.split()[0])
        by_object[k] = by_object.get(k, 0.0) + pct
    under = None
    # With --children the first column is the share of samples whose stack
    # holds the object anywhere.
    for pct, rest in report_rows(path, "--children", "--sort", "dso"):
        parts = rest.split()
        if len(parts) >= 2 and short_object(parts[1]) == "libcurl":
            under = pct
            break
    top = []
    for pct, rest in report_rows(path, "--no-children", "--sort", "dso,sym")[:15]:
        parts = rest.split(None, 2)
        obj = short_object(parts[0]) if parts else "?"
        sym = parts[2] if len(parts) > 2 else (parts[-1] if parts else "?")
        top.append((pct, obj, sym))
    return {"file": path,
            "self_by_object": dict(sorted(by_object.items(), key=lambda kv: -kv[1])),
            "under_libcurl": under, "top_symbols": top}


def describe(prof, cpu_ms_per_msg):
    """Lines for the report: the native split, and what it means per message."""
    if not prof:
        return []
    split = ", ".join(f"{k} {v:.1f}%" for k, v in prof["self_by_object"].items() if v >= 0.5)
    out = [f"native profile (perf, {os.path.basename(prof['file'])}):",
           f"  by library (self): {split}"]
    if prof["under_libcurl"] is not None:
        u = prof["under_libcurl"]
        line = f"  inside calls into libcurl (children): {u:.1f}%"
        if cpu_ms_per_msg:
            line += (f" = {u * cpu_ms_per_msg / 100:.3f} ms of the {cpu_ms_per_msg:.3f} ms "
                     f"a message; everything else {(100 - u) * cpu_ms_per_msg / 100:.3f} ms")
        out.append(line)
    out.append("  top symbols (self):")
    for pct, obj, sym in prof["top_symbols"][:12]:
        out.append(f"    {pct:5.1f}%  {sym}  [{obj}]")
    return out
