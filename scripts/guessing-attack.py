#!/usr/bin/env python3
"""PIN guessing against a running pinbridge, as an attacker with unlimited caller IDs would.

    scripts/guessing-attack.py --url http://127.0.0.1:8080 --token ADMIN --secret EXOTEL \
        [--orders 50] [--pin-length 4] [--seconds 60] [--threads 8]

Creates `--orders` orders with random PINs of `--pin-length` digits on one virtual number,
then guesses PINs over Exotel's `check-pin` and `connect` applets, each guess from a caller ID
never used before (two in three a valid Indian mobile number, one in three garbage), as fast
as `--threads` connections allow, for `--seconds`. Prints how many guesses were made, how many
pinbridge took (answered as wrong, or bridged), how many it refused (the guessing budget), the
customer numbers found, and the same per hour. Only the standard library is used; the figures
in SECURITY.md come from this script.
"""

import argparse
import json
import random
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

VIRTUAL_NUMBER = "07314853246"


def post_order(url, token, order_id, customer, pin):
    body = json.dumps(
        {
            "order_id": order_id,
            "customer_number": customer,
            "pin": pin,
            "virtual_number": VIRTUAL_NUMBER,
            "expires_at": time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86400)
            ),
        }
    ).encode()
    req = urllib.request.Request(
        f"{url}/api/v1/orders",
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req) as r:
        assert r.status == 201, r.status


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def applet(url, secret, name, params):
    query = urllib.parse.urlencode(params)
    try:
        with OPENER.open(f"{url}/exotel/{secret}/{name}?{query}") as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--secret", required=True)
    p.add_argument("--orders", type=int, default=50)
    p.add_argument("--pin-length", type=int, default=4)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--threads", type=int, default=8)
    a = p.parse_args()

    space = 10**a.pin_length
    pins = random.sample(range(space), a.orders)
    run = secrets.token_hex(4)
    for i, pin in enumerate(pins):
        post_order(a.url, a.token, f"atk-{run}-{i}", f"+9198{i:08d}", f"{pin:0{a.pin_length}d}")

    lock = threading.Lock()
    counts = {"guesses": 0, "taken": 0, "refused": 0}
    found = set()
    deadline = time.monotonic() + a.seconds
    serial = iter(range(10**9))

    def guess_loop():
        while time.monotonic() < deadline:
            with lock:
                n = next(serial)
            caller = f"garbage-{run}-{n}" if n % 3 == 0 else f"09{random.randrange(10**9):09d}"
            params = {
                "CallSid": f"atk{run}{n:09d}",
                "CallFrom": caller,
                "CallTo": VIRTUAL_NUMBER,
                "digits": f'"{random.randrange(space):0{a.pin_length}d}"',
            }
            status, _ = applet(a.url, a.secret, "check-pin", params)
            outcome = "taken"
            if status == 200:
                del params["digits"]
                _, dialled = applet(a.url, a.secret, "connect", params)
                if dialled.strip():
                    found.add(dialled.strip())
                else:
                    # Dialled no one after a 200: the budget refused the PIN (or the
                    # call's attempts were used up, which a fresh CallSid never is).
                    outcome = "refused"
            with lock:
                counts["guesses"] += 1
                counts[outcome] += 1

    threads = [threading.Thread(target=guess_loop) for _ in range(a.threads)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    per_hour = 3600 / elapsed
    density = a.orders / space
    print(f"{a.orders} active PINs of {a.pin_length} digits: one guess in {1 / density:.0f} hits")
    print(f"{elapsed:.1f} s, {a.threads} connections")
    print(f"guesses made:      {counts['guesses']:>9} ({counts['guesses'] * per_hour:,.0f} an hour)")
    print(f"taken by pinbridge:{counts['taken']:>9}")
    print(f"refused (budget):  {counts['refused']:>9}")
    print(f"customers found:   {len(found):>9}")
    print(f"unthrottled, {counts['guesses']} guesses would find {counts['guesses'] * density:.1f}")


if __name__ == "__main__":
    main()
