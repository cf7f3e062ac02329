"""The delivery signature: Stripe's scheme, checked the way a receiver checks it."""

from __future__ import annotations

import hashlib
import hmac

from models.signatures import signature, verify

BODY = b'{"trigger_id":"t1","type":"winback"}'


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    expected = hmac.new(b"s3cret", b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert signature("s3cret", 1700000000, BODY) == f"t=1700000000,v1={expected}"


def test_verify_accepts_the_signature_within_the_tolerance_only():
    header = signature("s3cret", 1700000000, BODY)
    assert verify("s3cret", header, BODY, now=1700000100)
    assert not verify("s3cret", header, BODY, now=1700000000 + 301)  # a replay, too late
    assert not verify("other", header, BODY, now=1700000000)
    assert not verify("s3cret", header, BODY + b" ", now=1700000000)  # body changed


def test_verify_refuses_malformed_headers_and_takes_any_of_several_v1():
    good = signature("new-secret", 1700000000, BODY).split("v1=")[1]
    assert verify("new-secret", f"t=1700000000,v1=deadbeef,v1={good}", BODY, now=1700000000)
    for header in (None, "", "v1=abc", "t=abc,v1=abc", "t=1700000000"):
        assert not verify("new-secret", header, BODY, now=1700000000)
