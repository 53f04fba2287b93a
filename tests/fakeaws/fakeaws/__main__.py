"""python3 -m fakeaws --state-dir DIR --ready-file FILE [options]

Starts the emulator, writes the ready file (JSON) atomically once both
listeners accept connections, and runs until SIGTERM or SIGINT.
"""
import argparse
import asyncio
import importlib
import json
import os
import re
import signal
import sys

from . import SERVICE_MODULES, core, credentials, faults, federation, control, hosts, pki as pki_mod, server


def load_services(world, names=SERVICE_MODULES, log=None):
    """Imports fakeaws.<name> for each name and registers its Service.
    Modules that are not there are skipped; a module that fails to import
    for another reason is reported and skipped."""
    for name in names:
        try:
            mod = importlib.import_module(f"fakeaws.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"fakeaws.{name}":
                continue
            if log:
                log(f"fakeaws: service module {name} not loaded: {e!r}")
            continue
        except Exception as e:  # a broken module must not take the core down
            if log:
                log(f"fakeaws: service module {name} failed to import: {e!r}")
            continue
        cls = getattr(mod, "Service", None)
        if cls is None:
            continue
        svc = cls(world)
        world.services[svc.name] = svc


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="fakeaws", description="local AWS emulator")
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--http-port", type=int, default=0)
    ap.add_argument("--https-port", type=int, default=0)
    ap.add_argument("--aws-address", default=None,
                    help="also serve TLS on ADDRESS:443 for real AWS host names; 'auto' picks "
                         "a free 127.x.y.z (needs the right to bind port 443)")
    ap.add_argument("--idle-timeout", type=float, default=20.0,
                    help="seconds before an idle keep-alive connection is closed (0: never)")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--partner-account", default="111111111111")
    ap.add_argument("--services", default=",".join(SERVICE_MODULES),
                    help="comma-separated service modules to load (default: all present)")
    ap.add_argument("--loop", default=os.environ.get("FAKEAWS_LOOP") or "asyncio",
                    help="event loop: asyncio (default) or uvloop (Debian package python3-uvloop: "
                         "less CPU per request); the default comes from $FAKEAWS_LOOP when set")
    a = ap.parse_args(argv)
    if a.loop not in ("asyncio", "uvloop"):
        ap.error(f"--loop must be asyncio or uvloop, not {a.loop!r}")
    if not re.fullmatch(r"[0-9]{12}", a.partner_account):
        ap.error("--partner-account must be 12 digits")
    return a


def write_ready(path, info):
    tmp = f"{path}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


async def amain(a):
    log = lambda msg: print(msg, file=sys.stderr, flush=True)
    os.makedirs(a.state_dir, exist_ok=True)
    the_pki = pki_mod.PKI(os.path.join(a.state_dir, "pki"), dns_names=hosts.certificate_names())
    world = core.World(region=a.region, partner_account=a.partner_account, pki=the_pki)
    world.idle_timeout = a.idle_timeout
    world.loop = asyncio.get_running_loop()
    flt = faults.Faults(world)
    world.faults = flt
    creds = credentials.CredentialEndpoints(world)
    fed = federation.Federation(world)
    world.core["credentials"] = creds
    world.core["federation"] = fed
    names = [n for n in a.services.split(",") if n]
    load_services(world, names, log)
    ctl = control.Control(world, flt, creds)
    srv = server.Server(world, control=ctl, core_routes=creds.routes() + fed.routes(), faults=flt, log=log)
    await srv.start(a.host, a.http_port, a.https_port, the_pki.server_ssl_context(),
                    aws_address=a.aws_address)
    for svc in world.services.values():
        start = getattr(svc, "start", None)
        if start is not None:
            r = start()
            if asyncio.iscoroutine(r):
                await r

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log(f"fakeaws: listening on {world.https_url} and {world.http_url} ({a.loop} loop); "
        f"services: {', '.join(sorted(world.services)) or 'none'}")
    k = world.partner_keys
    write_ready(a.ready_file, {
        "pid": os.getpid(),
        "https_url": world.https_url,
        "http_url": world.http_url,
        "ca_file": the_pki.ca_file,
        "region": world.region,
        "partner_account": world.partner_account,
        "access_key_id": k.access_key_id,
        "secret_access_key": k.secret_access_key,
        "services": sorted(world.services),
        "signing_cert_file": the_pki.signing_cert_file,
        "aws_address": world.aws_address,
    })
    await stop.wait()
    for svc in world.services.values():
        fn = getattr(svc, "stop", None)
        if fn is not None:
            try:
                r = fn()
                if asyncio.iscoroutine(r):
                    await r
            except Exception as e:
                log(f"fakeaws: stopping {svc.name}: {e!r}")
    await srv.stop()
    try:
        os.unlink(a.ready_file)
    except OSError:
        pass
    return 0


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    if a.loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            print("fakeaws: --loop uvloop needs uvloop (apt-get install python3-uvloop)", file=sys.stderr)
            return 2
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return asyncio.run(amain(a))


if __name__ == "__main__":
    sys.exit(main())
