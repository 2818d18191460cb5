"""Standard Webhooks (https://www.standardwebhooks.com) verification, the scheme Acme signs
with, behaving exactly as the Go SDK's sdk/signature.StandardWebhooks so the same
fixtures pass: headers webhook-id, webhook-timestamp, webhook-signature; HMAC-SHA256 over
"id.timestamp.body" keyed with the base64-decoded part of a "whsec_" secret; a
space-separated list of "v1,<base64>" signatures (several during a secret rotation; other
versions ignored); the timestamp within 5 minutes, either way, of the time the HOST
received the delivery (RawWebhook.received_at), not our clock.
"""
import base64
import binascii
import hashlib
import hmac
import re

from .errors import BAD_SIGNATURE, MALFORMED_SIGNATURE, MISSING_SIGNATURE, STALE_TIMESTAMP, rejected

TOLERANCE_SECONDS = 5 * 60
SCHEME = "standard webhooks"
_B64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_DIGITS = re.compile(r"[0-9]{1,18}")


def parse_secret(secret):
    """The HMAC key of "whsec_<base64>" (or bare base64), padded or not, or None when the
    secret is unusable. Checks the alphabet strictly: a typo must not become another key."""
    enc = str(secret or "").strip()
    if enc.startswith("whsec_"):
        enc = enc[len("whsec_"):]
    if not _B64.fullmatch(enc) or len(enc.rstrip("=")) % 4 == 1:
        return None
    if "=" not in enc:
        enc += "=" * (-len(enc) % 4)
    try:
        key = base64.b64decode(enc, validate=True)
    except (binascii.Error, ValueError):
        return None
    return key or None


def header(headers, name):
    """The first value of a header (a list of adapter_pb2.Header; names compare
    case-insensitively), or ""."""
    want = name.lower()
    for h in headers:
        if h.name.lower() == want and len(h.values) > 0:
            return h.values[0]
    return ""


def _reject(why, detail, reason):
    # A message for the operator (never secret material) and the bounded reason the host counts.
    return rejected(f"{SCHEME}: {why}" + (f" {detail}" if detail else ""), reason=reason)


def _mac(key, msg_id, ts, body):
    return base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + bytes(body), hashlib.sha256).digest())


def verify(key, headers, body, now_seconds):
    """Raises a rejected PluginError unless the delivery is signed with key. now_seconds
    is the host's receive time in Unix seconds."""
    msg_id = header(headers, "webhook-id")
    ts = header(headers, "webhook-timestamp")
    sigs = header(headers, "webhook-signature")
    for name, value in (("webhook-id", msg_id), ("webhook-timestamp", ts), ("webhook-signature", sigs)):
        if value == "":
            raise _reject("missing header", name, MISSING_SIGNATURE)
    if not _DIGITS.fullmatch(ts):
        raise _reject("malformed header", "webhook-timestamp", MALFORMED_SIGNATURE)
    sent = int(ts)
    if now_seconds - sent > TOLERANCE_SECONDS:
        raise _reject("timestamp outside tolerance", "(too old)", STALE_TIMESTAMP)
    if sent - now_seconds > TOLERANCE_SECONDS:
        raise _reject("timestamp outside tolerance", "(in the future)", STALE_TIMESTAMP)
    want = _mac(key, msg_id, sent, body)
    for entry in sigs.split():
        version, comma, sig = entry.partition(",")
        # Constant time; the length of a valid signature is public anyway.
        if comma and version == "v1" and hmac.compare_digest(sig.encode(), want):
            return
    raise _reject("bad signature", "", BAD_SIGNATURE)


def sign(key, msg_id, timestamp_seconds, body):
    """The headers a sender attaches, as (name, value) pairs (for tests and fake senders)."""
    sig = _mac(key, msg_id, int(timestamp_seconds), body).decode()
    return [("Webhook-Id", msg_id), ("Webhook-Timestamp", str(int(timestamp_seconds))),
            ("Webhook-Signature", f"v1,{sig}")]
