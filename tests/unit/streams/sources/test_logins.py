"""A session that logs in midway, as analytics.js sends it."""

from __future__ import annotations

import pytest

from streams.sources.logins import latest_login, logged_in_midway, shopper_traits

CONTEXT = {"sessionId": "s1"}


def steps() -> list[dict]:
    return [{"type": "page", "userId": "u7", "context": CONTEXT},
            {"type": "track", "event": "Product Added", "userId": "u7", "context": CONTEXT},
            {"type": "track", "event": "Checkout Started", "userId": "u7", "context": CONTEXT},
            {"type": "track", "event": "Order Completed", "userId": "u7", "context": CONTEXT}]


def test_anonymous_before_the_login_then_identify_with_traits_then_both_ids():
    out = logged_in_midway(steps(), "u7", "dev-1", 2)
    assert [(e["type"], e.get("userId"), e["anonymousId"]) for e in out] == [
        ("page", None, "dev-1"), ("track", None, "dev-1"), ("identify", "u7", "dev-1"),
        ("track", "u7", "dev-1"), ("track", "u7", "dev-1")]
    assert out[2]["traits"] == shopper_traits("u7") and out[2]["context"] == CONTEXT
    assert shopper_traits("u7")["email"] == "u7@example.com"
    assert shopper_traits("u7") == shopper_traits("u7") != shopper_traits("u8")


def test_the_login_comes_before_what_needs_an_account_and_may_close_the_session():
    assert latest_login(steps()) == 2
    browsing = steps()[:2]
    assert latest_login(browsing) == 2
    assert logged_in_midway(browsing, "u7", "dev-1", 2)[-1]["type"] == "identify"
    for at in (0, 3):
        with pytest.raises(ValueError, match="too early or too late"):
            logged_in_midway(steps(), "u7", "dev-1", at)
