#!/usr/bin/env python3
"""The newcomer's tour, run by scripts/demo: Redis and the local AWS emulator
on free ports, two xacctd workers on one queue, three customers onboarded,
their stacks launched through the emulator's CloudFormation simulator (one
with an insecure role that is rejected and rolled back), one updated, one
deleted; one customer onboarded through the portal API with curl, its role
loosened in IAM afterwards and the drift caught by re-verification; the
signed lifecycle events a webhook receiver got; then the customers, the
offboarding job and what the workers logged. Everything it starts is
stopped at the end."""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)


def say(text):
    print(f"\n== {text}", flush=True)


# The samples the excerpt shows, in this order.
EXCERPT = ("xacct_messages_received_total", "xacct_messages_acked_total",
           "xacct_messages_dead_total", "xacct_requests_total", "xacct_safety_checks_total",
           "xacct_cfn_answers_total", "xacct_aws_requests_total",
           "xacct_aws_request_duration_seconds_count", "xacct_http_connections_total")


def summed(env, workers):
    total = {}
    for w in workers:
        for key, v in env.parse_metrics(env.scrape(w)[2]).items():
            total[key] = total.get(key, 0) + v
    return total


def show_metrics(env, workers):
    from harness import wait_for
    env.wait_queue_empty()

    def settled():
        t = summed(env, workers)
        n = lambda name: sum(v for (k, _), v in t.items() if k == name)  # noqa: E731
        return n("xacct_in_flight_messages") == 0 and \
            n("xacct_messages_acked_total") + n("xacct_messages_dead_total") == \
            n("xacct_messages_received_total")
    wait_for(settled, 20, "every received message to be acknowledged")
    total = summed(env, workers)
    for name in EXCERPT:
        for (n, labels), v in sorted(total.items(), key=lambda kv: sorted(kv[0][1])):
            if n != name or dict(labels).get("queue"):
                if n == name:
                    print(f"   {n}{{queue=...}} {v:g}")
                continue
            shown = ",".join(f'{k}="{x}"' for k, x in sorted(labels))
            print(f"   {n}{{{shown}}} {v:g}" if shown else f"   {n} {v:g}")
    for w in workers:
        m = env.parse_metrics(env.scrape(w)[2])
        g = lambda name: int(m.get((name, frozenset()), 0))  # noqa: E731
        print(f"   pid {w.pid}: in flight {g('xacct_in_flight_messages')}, "
              f"redis up {g('xacct_redis_up')}, GET /readyz -> {env.scrape(w, '/readyz')[0]}")


class Receiver:
    """The portal's side of the webhook: a tiny HTTP server that checks each
    event's signature (the README's recipe) and keeps the events."""

    def __init__(self, secret):
        import hashlib
        import hmac
        import http.server
        import threading
        self.events, self.secret = [], secret
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                ts = self.headers.get("X-Xacct-Timestamp", "")
                want = "v1=" + hmac.new(outer.secret, ts.encode() + b"." + body,
                                        hashlib.sha256).hexdigest()
                ok = hmac.compare_digest(want, self.headers.get("X-Xacct-Signature", ""))
                if ok:
                    outer.events.append(json.loads(body))
                self.send_response(200 if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/xacct-events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def curl(*args):
    """Runs curl as a portal would; returns its output (the body)."""
    r = subprocess.run(["curl", "-sS", *args], capture_output=True, text=True, timeout=60)
    return r.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    args = ap.parse_args()
    os.environ["XACCT_SOURCE_DIR"] = SOURCE
    os.environ["XACCT_BUILD_DIR"] = os.path.abspath(args.build)
    sys.path.insert(0, os.path.join(SOURCE, "tests", "e2e"))
    from harness import Env, free_port, wait_for

    started = time.monotonic()
    env = Env(propagation_timeout=20)
    try:
        say("starting redis-server and the local AWS emulator (SQS, SNS, IAM, STS, S3, CloudFormation)")
        env.start()
        print(f"   redis {env.redis.url}   aws {env.fa.https_url}   queue {env.queue_url}")
        say("starting a webhook receiver (the portal's side) and two xacctd workers on the same queue")
        secret = b"demo-webhook-secret"
        receiver = Receiver(secret)
        with open(os.path.join(env.tmp, "webhook-secret"), "wb") as f:
            f.write(secret)
        token = "demo-portal-token"
        with open(os.path.join(env.tmp, "api-tokens"), "w") as f:
            f.write("portal:" + hashlib.sha256(token.encode()).hexdigest() + "\n")
        api = f"127.0.0.1:{free_port()}"
        env.write_config(events__webhook_url=receiver.url,
                         events__webhook_secret_file=os.path.join(env.tmp, "webhook-secret"),
                         check__reverify_interval="3", check__reverify_rate="50")
        workers = [env.start_worker(metrics=True, extra_env={
                       "XACCT_API_LISTEN": api,
                       "XACCT_API_TOKENS_FILE": os.path.join(env.tmp, "api-tokens")}),
                   env.start_worker(metrics=True)]
        for w in workers:
            print(f"   pid {w.pid}, metrics and health on {w.metrics_url}")
        print(f"   portal API on http://{api} (worker {workers[0].pid}); events to {receiver.url}")
        wait_for(lambda: curl(f"http://{api}/v1/openapi.json").startswith("{"), 20, "the API")

        customers = {"210000000001": "good", "210000000002": "insecure", "210000000003": "leaves"}
        cli = os.path.exists(os.path.join(args.build, "xacct"))
        say("onboarding three customers" + ("" if cli else " (records written directly: no xacct CLI in this build)"))
        ext = {}
        first = "210000000001"
        print(f"   curl -X POST http://{api}/v1/customers -H 'Authorization: Bearer ***' "
              f"-d '{{\"account_id\": \"{first}\"}}'")
        doc = json.loads(curl("-X", "POST", f"http://{api}/v1/customers",
                              "-H", f"Authorization: Bearer {token}",
                              "-H", "Content-Type: application/json",
                              "-d", json.dumps({"account_id": first})))
        ext[first] = doc["external_id"]
        print(f"   -> {doc['state']}, topic {doc['topic_arn']}, external ID ***")
        for acct in customers:
            if acct in ext:
                continue
            if cli:
                r = env.xacct("onboard", acct, "--json")
                if r.returncode == 0:
                    ext[acct] = json.loads(r.stdout)["external_id"]
                    print(f"   xacct onboard {acct}: pending, topic {json.loads(r.stdout).get('topic_arn', '?')}")
                    continue
            ext[acct] = env.seed_customer(acct)
            print(f"   {acct}: pending")

        say("customers launch their stacks (210000000002's role trusts the partner WITHOUT the external ID)")
        stacks = {}
        for acct, kind in customers.items():
            t = env.template(acct, ext[acct], insecure=(kind == "insecure"))
            stacks[acct] = env.create_stack(acct, t)["stack_id"]
        for acct, sid in stacks.items():
            s = env.wait_stack(sid)
            first = json.loads(s["answers"][0]["body"]) if s["answers"] else {}
            print(f"   {acct}: {s['status']:<18} answer {first.get('Status', '-')}"
                  + (f"  reason: {first['Reason']}" if first.get("Reason") else ""))

        say("210000000001 updates its stack to a new role")
        env.update_stack(stacks["210000000001"],
                         env.template("210000000001", ext["210000000001"], role_name="XacctAccessV2"))
        s = env.wait_stack(stacks["210000000001"])
        print(f"   {s['status']}; role now {env.customer('210000000001')['role_arn']}")

        say("210000000003 deletes its stack")
        env.delete_stack(stacks["210000000003"])
        s = env.wait_stack(stacks["210000000003"])
        print(f"   {s['status']}")

        say("xacct list" if cli else "customers in Redis")
        r = env.xacct("list") if cli else None
        if r is not None and r.returncode == 0:
            print(r.stdout.decode().rstrip())
        else:
            for acct in customers:
                c = env.customer(acct)
                print(f"   {acct}  {c['state']:<12} {c.get('role_arn', '')}")

        if cli:
            say("rotating 210000000001's external ID without downtime (xacct rotate-external-id)")
            r = env.xacct("rotate-external-id", "210000000001", "--json")
            out = json.loads(r.stdout or b"{}")
            where = out.get("update_url") or out.get("template_file") or "-"
            print(f"   exit {r.returncode}; the new template: {where.split('?')[0]}")
            new_id = env.customer("210000000001").get("pending_external_id")
            print("   pending external ID ***; the current one is still used")
            env.update_stack(stacks["210000000001"],
                             env.template("210000000001", new_id, role_name="XacctAccessV2"))
            s = env.wait_stack(stacks["210000000001"])
            c = env.customer("210000000001")
            swapped = c.get("external_id") == new_id and not c.get("pending_external_id")
            print(f"   the customer updated the stack: {s['status']}; new ID in use: {swapped}")
            ext["210000000001"] = new_id

        say("a fourth customer asks for a link through the portal, then the portal cancels it")
        late = "210000000004"
        curl("-X", "POST", f"http://{api}/v1/customers", "-H", f"Authorization: Bearer {token}",
             "-H", "Content-Type: application/json", "-d", json.dumps({"account_id": late}))
        print(f"   curl -X DELETE http://{api}/v1/customers/{late} -H 'Authorization: Bearer ***'")
        got = json.loads(curl("-X", "DELETE", f"http://{api}/v1/customers/{late}",
                              "-H", f"Authorization: Bearer {token}"))
        print(f"   -> {got.get('state')}; its external ID is unindexed and its account off the topic")

        say("210000000001 loosens its role's trust policy in IAM (any external ID): re-verification notices")
        t = env.template("210000000001", ext["210000000001"], role_name="XacctAccessV2")
        doc = t["Resources"]["XacctRole"]["Properties"]["AssumeRolePolicyDocument"]
        doc["Statement"][0]["Condition"] = {"StringLike": {"sts:ExternalId": "*"}}
        env.ctl("PUT", "/_fake/iam/roles/210000000001/XacctAccessV2/trust-policy",
                {"trust_policy": doc})
        c = wait_for(lambda: (lambda c: c if c.get("state") == "degraded" else None)(
            env.customer("210000000001")), 60, "the drift to be caught")
        print(f"   210000000001: {c['state']}; {c['last_error']}")
        got = json.loads(curl(f"http://{api}/v1/customers/210000000001",
                              "-H", f"Authorization: Bearer {token}"))
        print(f"   GET /v1/customers/210000000001 -> state {got['state']}, verified_at {got['verified_at']}")

        say("lifecycle events the webhook receiver got (signed, verified, in seq order per customer)")
        wait_for(lambda: {"customer.degraded", "customer.cancelled"}
                 <= {e["type"] for e in receiver.events}, 60, "the degraded and cancelled events")
        for e in sorted(receiver.events, key=lambda e: (e["account_id"], e["seq"])):
            print(f"   {e['account_id']} seq {e['seq']:<2} {e['type']:<22} state {e['state']}")
        receiver.stop()

        say("the offboarding job")
        for job in env.jobs_for("210000000003"):
            shown = dict(job, external_id="***")
            print("   " + json.dumps(shown, sort_keys=True))

        say("what the workers logged (one line per event)")
        for w in workers:
            for line in env.worker_log(w).decode().splitlines():
                if "request.answered" in line or "check.done" in line:
                    # Message and request ids left out to keep lines short.
                    kept = [f for f in line.split(" ")
                            if not f.startswith(("message_id=", "request_id=", "level="))]
                    print("   " + " ".join(kept))

        say("metrics of both workers, summed (GET /metrics, Prometheus text format)")
        show_metrics(env, workers)

        say("stopping the workers (SIGTERM: drain, exit 0)")
        for w in workers:
            print(f"   pid {w.pid} exited {env.stop_worker(w)}")
    finally:
        env.stop()
    left = children()
    print(f"\ndone in {time.monotonic() - started:.1f}s; "
          + (f"STILL RUNNING: {left}" if left else "nothing left running."))
    if left:
        sys.exit(1)


def children():
    """Processes whose parent is this one (none, once everything stopped)."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces, so split after ')'.
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[1]) == os.getpid():
            out.append(f"{pid} {stat.split('(', 1)[1].rsplit(')', 1)[0]}")
    return out


if __name__ == "__main__":
    main()
