"""Signed HTTP deliveries, defined once: what shopstream sends and how a receiver checks it.

The scheme is Stripe's: the header ``Shopstream-Signature: t=<unix seconds>,v1=<hex>``, where
``<hex>`` is the HMAC-SHA256, keyed with the endpoint's secret, of ``"<t>." + body`` (the
exact bytes of the request body). A receiver recomputes it over the raw body, compares in
constant time, and refuses a timestamp older than its tolerance (a replayed request).
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "Shopstream-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
DEFAULT_TOLERANCE_S = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str | None, body: bytes, now: float,
           tolerance_s: float = DEFAULT_TOLERANCE_S) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` and was made within ``tolerance_s``
    of ``now`` (unix seconds). Several ``v1`` values (a secret being rotated) may be given."""
    if not header:
        return False
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or not candidates or abs(now - timestamp) > tolerance_s:
        return False
    expected = signature(secret, timestamp, body).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)
