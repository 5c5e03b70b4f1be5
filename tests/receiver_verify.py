"""The receiver's signature check of docs/admin-api.md, "Event webhooks", run by the tests.

    PINBRIDGE_EVENTS_SECRET=... python3 tests/receiver_verify.py '<X-Pinbridge-Signature>' < body

Exits 0 and prints `valid` when the header signs the body read from stdin (raw bytes), else
exits 1 and prints `invalid`. Between the markers is the documented code, verbatim (a test
checks that the two do not drift apart).
"""

# --- docs/admin-api.md, "Event webhooks": begin ---
import hashlib
import hmac
import time


def verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """True when `header` (X-Pinbridge-Signature) signs `body` (the raw request
    body) with `secret` (PINBRIDGE_EVENTS_SECRET) at most `tolerance` seconds ago."""
    timestamp, signatures = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or abs(time.time() - timestamp) > tolerance:
        return False
    signed = str(timestamp).encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, s) for s in signatures)
# --- docs/admin-api.md, "Event webhooks": end ---


if __name__ == "__main__":
    import os
    import sys

    ok = verify(os.environ["PINBRIDGE_EVENTS_SECRET"], sys.argv[1], sys.stdin.buffer.read())
    print("valid" if ok else "invalid")
    sys.exit(0 if ok else 1)
