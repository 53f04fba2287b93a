"""Instruction counts for scripts/bench.py: with --callgrind DIR every xacctd
the bench starts runs under valgrind's callgrind, the counters are zeroed
when the worker's start-up is done (where the CPU measurement starts) and
dumped when its batch is handled; each dump is read back into instructions
per message and their split by shared object (xacctd itself, libcrypto,
libssl, libcurl, libc, jansson, ...). Instruction counts do not depend on
what else the machine is doing, so they decide between two versions of the
code where a shared machine's CPU time cannot; the wall-clock and CPU
numbers of a profiled run are meaningless (callgrind is ~50x slower).
"""
import glob
import os
import re
import subprocess

OUT_DIR = None  # set by enable()


def enable(env_class, out_dir):
    """Wraps every xacctd that env_class starts in callgrind, dumps to out_dir."""
    global OUT_DIR
    OUT_DIR = os.path.abspath(out_dir)
    os.makedirs(OUT_DIR, exist_ok=True)
    orig = env_class.wrap

    def wrap(self, argv):
        if argv and os.path.basename(argv[0]) == "xacctd":
            argv = ["valgrind", "--tool=callgrind", "--quiet",
                    f"--callgrind-out-file={OUT_DIR}/callgrind.out.%p",
                    "--dump-instr=no", "--collect-jumps=no", *argv]
        return orig(self, argv)
    env_class.wrap = wrap


def zero(pid):
    """Counters back to zero: what follows is what gets measured."""
    if OUT_DIR:
        subprocess.run(["callgrind_control", "-z", str(pid)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def dump(pid, label):
    """Dumps the counters since zero(); returns the parsed profile or None."""
    if not OUT_DIR:
        return None
    before = set(glob.glob(f"{OUT_DIR}/callgrind.out.{pid}*"))
    subprocess.run(["callgrind_control", "-d", label, str(pid)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    new = sorted(set(glob.glob(f"{OUT_DIR}/callgrind.out.{pid}*")) - before,
                 key=os.path.getmtime)
    if not new:
        return None
    return parse(new[-1])


def short_object(path):
    """/usr/lib/x86_64-linux-gnu/libcrypto.so.3 -> libcrypto"""
    base = os.path.basename(path)
    m = re.match(r"(lib[A-Za-z0-9_+-]+?)(-[0-9.]+)?\.so", base)
    if m:
        return m.group(1)
    if base.startswith("ld-linux"):
        return "ld.so"
    return base or "?"


def parse(path):
    """A callgrind dump -> {"file", "instructions", "by_object": {name: Ir},
    "top_functions": [(name, object, Ir)]} counting self cost only (each
    instruction once, in the object and function that executed it)."""
    names = {"ob": {}, "fn": {}}
    ob = fn = None
    skip_next = False
    by_ob, by_fn = {}, {}
    total = None
    ref = re.compile(r"^\((\d+)\)(?: (.*))?$")

    def name(kind, value):
        m = ref.match(value)
        if not m:
            return value
        if m.group(2) is not None:
            names[kind][m.group(1)] = m.group(2)
        return names[kind].get(m.group(1), value)
    with open(path, errors="replace") as f:
        for line in f:
            c = line[:1]
            if c.isdigit() or c in "+-*":
                if skip_next:          # a call's inclusive cost
                    skip_next = False
                    continue
                parts = line.split()
                if len(parts) < 2:
                    continue
                ir = int(parts[1])
                by_ob[ob] = by_ob.get(ob, 0) + ir
                key = (fn, ob)
                by_fn[key] = by_fn.get(key, 0) + ir
            elif line.startswith("ob="):
                ob = name("ob", line[3:].strip())
            elif line.startswith("fn="):
                fn = name("fn", line[3:].strip())
            elif line.startswith(("cob=", "cfn=", "cfi=", "cfl=")):
                k = "ob" if line.startswith("cob=") else ("fn" if line.startswith("cfn=") else None)
                if k:
                    name(k, line.split("=", 1)[1].strip())
            elif line.startswith("calls="):
                skip_next = True
            elif line.startswith(("summary:", "totals:")):
                total = int(line.split()[1])
    grouped = {}
    for o, ir in by_ob.items():
        k = short_object(o or "?")
        grouped[k] = grouped.get(k, 0) + ir
    top = sorted(((f or "?", short_object(o or "?"), ir) for (f, o), ir in by_fn.items()),
                 key=lambda x: -x[2])[:25]
    return {"file": path, "instructions": total if total is not None else sum(by_ob.values()),
            "by_object": dict(sorted(grouped.items(), key=lambda kv: -kv[1])),
            "top_functions": top}


def describe(prof, n):
    """Lines for the report: instructions per message and the split."""
    if not prof:
        return []
    tot = prof["instructions"]
    out = [f"instructions per message (callgrind): {tot / n:,.0f}"]
    split = ", ".join(f"{k} {100.0 * v / tot:.1f}%" for k, v in prof["by_object"].items()
                      if v / tot >= 0.005)
    out.append(f"  by library: {split}")
    out.append("  top functions (self):")
    for fn, ob, ir in prof["top_functions"][:15]:
        out.append(f"    {100.0 * ir / tot:5.1f}%  {ir / n:10,.0f}/msg  {fn}  [{ob}]")
    return out
