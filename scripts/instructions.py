#!/usr/bin/env python3
"""Instructions per webhook step: the server under callgrind, whole Exotel PIN calls one after
another, then as many `/healthz` requests.

The load benchmark (scripts/load.sh) measures time, which on a shared virtual machine swings by
a tenth from one run to the next: more than most single changes to the hot path are worth.
Instructions counted by valgrind's callgrind are the same from run to run for the same binary
and requests (to about 1 %: the writer's batches, and so its work a step, depend on timing),
whatever else the machine does. They do not count
the kernel's work (system calls, thread wake-ups, the page cache), so a change there shows only
in the load benchmark.

Usage: scripts/instructions.py [--calls N] [--server PATH] [--keep]
(the server defaults to target/profiling/pinbridge: `cargo build --profile profiling --bin pinbridge`)
Prints instructions per PIN step, per `/healthz` request, and their ratio. With --keep, the
callgrind files stay for `callgrind_annotate` (cg.out.1: the PIN calls, cg.out.2: /healthz).
Needs valgrind (`apt-get install valgrind`). Not part of the test suite.
"""

import argparse
import http.client
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET = "instructions-exotel-secret-0123456789"
# As in examples/load.rs: 20 virtual numbers, PINs of 8 digits.
NUMBERS = 20
ORDERS = 5000
WARM_UP_CALLS = 50


def order(i):
    """(virtual number, PIN, customer in E.164) of order i, as the load benchmark seeds them."""
    pin = ((i // NUMBERS) * 7919 + 12_345_678) % 100_000_000
    return f"0731485{i % NUMBERS:04}", f"{pin:08}", f"+919{i % 1_000_000_000:09}"


def exotel_query(sid, caller, number, digits=None, end=False):
    """Exotel's applet query (the seeds' shape), as examples/load.rs sends it."""
    pairs = [
        ("CallSid", sid), ("CallFrom", caller), ("CallTo", number), ("From", caller),
        ("To", number), ("Direction", "incoming"), ("Created", "Fri, 16 Jul 2021 18:24:05"),
        ("flow_id", "383431"), ("tenant_id", "53926"),
    ]
    if end:
        pairs += [("CallType", "completed"), ("DialCallStatus", "completed"),
                  ("DialCallDuration", "40")]
    else:
        pairs.append(("CallType", "call-attempt"))
    if digits is not None:
        pairs.append(("digits", f'"{digits}"'))
    return urllib.parse.urlencode(pairs)


class Client:
    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def get(self, path, status):
        self.conn.request("GET", path)
        answer = self.conn.getresponse()
        answer.read()
        if answer.status != status:
            sys.exit(f"{path.split('?')[0]} answered {answer.status}, expected {status}")

    def step(self, applet, query, status=200):
        self.get(f"/exotel/{SECRET}/{applet}?{query}", status)


def pin_call(client, rnd, n):
    """One whole PIN call (a wrong PIN first in every tenth); returns its steps."""
    number, pin, _ = order(rnd.randrange(ORDERS))
    sid = f"{rnd.getrandbits(128):032x}"
    caller = f"070{n:08}"
    q = lambda digits=None: exotel_query(sid, caller, number, digits)
    client.step("greeting", q())
    client.step("gather", q())
    steps = 5
    if n % 10 == 9:
        client.step("check-pin", q(f"{(int(pin) + 1) % 100_000_000:08}"), 302)
        client.step("gather", q())
        steps = 7
    client.step("check-pin", q(pin))
    client.step("connect", q(pin))
    client.step("call-end", exotel_query(sid, caller, number, end=True))
    return steps


def callgrind(command, pid):
    subprocess.run(["callgrind_control", command, str(pid)], check=True, capture_output=True)


def total(path):
    text = open(path).read()
    found = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
    if not found:
        sys.exit(f"no totals in {path}")
    return int(found.group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="PIN calls counted (200)")
    # The release build with symbols: callgrind_annotate names functions from them.
    parser.add_argument("--server", default=os.path.join(ROOT, "target/profiling/pinbridge"))
    parser.add_argument("--keep", action="store_true", help="keep the callgrind files")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is missing: apt-get install valgrind")
    if not os.path.exists(args.server):
        sys.exit(f"{args.server} is missing: cargo build --profile profiling --bin pinbridge")

    work = tempfile.mkdtemp(prefix="pinbridge-instructions-")
    csv = os.path.join(work, "orders.csv")
    with open(csv, "w") as out:
        out.write("order_id,customer_number,pin,virtual_number,expires_at\n")
        for i in range(ORDERS):
            number, pin, customer = order(i)
            out.write(f"LOAD-{i},0{customer[3:]},{pin},{number},2099-01-01T00:00:00Z\n")
    env = dict(
        os.environ,
        PINBRIDGE_DATABASE_URL=f"sqlite://{work}/instructions.db",
        PINBRIDGE_LISTEN="127.0.0.1:0",
        PINBRIDGE_ADMIN_TOKEN="instructions-admin-token-0123456789",
        PINBRIDGE_EXOTEL_SECRET=SECRET,
        PINBRIDGE_BRAND="Swift Couriers",
    )
    subprocess.run([args.server, "orders", "import", csv], env=env, check=True,
                   capture_output=True)
    log_path = os.path.join(work, "server.log")
    out_path = os.path.join(work, "cg.out")
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_path}",
             args.server, "serve"],
            env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        port = None
        for _ in range(1200):
            found = re.search(r"listening on port (\d+)", open(log_path).read())
            if found:
                port = int(found.group(1))
                break
            time.sleep(0.1)
        if port is None:
            sys.exit("the server did not start:\n" + open(log_path).read()[-2000:])
        client = Client(port)
        rnd = random.Random(7)
        for n in range(WARM_UP_CALLS):
            pin_call(client, rnd, n)
        time.sleep(1)  # the step records of the warm-up calls are written
        callgrind("-z", server.pid)
        steps = sum(pin_call(client, rnd, n)
                    for n in range(WARM_UP_CALLS, WARM_UP_CALLS + args.calls))
        time.sleep(0.5)
        callgrind("-d", server.pid)
        callgrind("-z", server.pid)
        for _ in range(steps):
            client.get("/healthz", 200)
        callgrind("-d", server.pid)
    finally:
        server.terminate()
        server.wait()
    pin, healthz = total(out_path + ".1"), total(out_path + ".2")
    print(f"PIN calls: {args.calls} ({steps} steps); /healthz: {steps} requests")
    print(f"instructions per PIN step:        {pin / steps:10,.0f}")
    print(f"instructions per /healthz request: {healthz / steps:10,.0f}")
    print(f"/healthz as a share of a PIN step: {healthz / pin:10.1%}")
    if args.keep:
        print(f"callgrind files: {out_path}.1 (PIN calls), {out_path}.2 (/healthz)")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
