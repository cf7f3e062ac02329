"""Shoppers who log in midway (pure): a session as Segment's analytics.js (and ``/sdk.js``)
sends it when the shopper browses anonymously and then logs in.

Before the login the browser sends only its ``anonymousId``; the login is an ``identify``
call with both ids and the shopper's traits (email, name); every later call carries both
ids. Calls that need an account (a coupon, a checkout, a refund or cancellation) come after
the login. Used by the simulator (:mod:`streams.sources.simulator`).
"""

from __future__ import annotations

from typing import Any

from models.ecommerce import EventName
from models.funnel import IDENTIFY_CALL

FIRST_NAMES = ("Ana", "Bruno", "Chloe", "Daniel", "Emma", "Felix", "Grace", "Hugo", "Ines",
               "Jonas", "Kira", "Liam", "Maya", "Noah", "Olivia", "Pedro")
LAST_NAMES = ("Lima", "Meyer", "Dubois", "Smith", "Rossi", "Tanaka", "Silva", "Novak",
              "Jensen", "Kowalski", "Murphy")
# the calls a shopper makes logged in only
NEEDS_LOGIN = frozenset({EventName.COUPON_APPLIED, EventName.CHECKOUT_STARTED,
                         EventName.ORDER_REFUNDED, EventName.ORDER_CANCELLED})


def shopper_traits(user: str) -> dict[str, str]:
    """The traits a shopper's login sends: an email and a name, the same for a user id each
    time (``u000042`` -> ``u000042@example.com``)."""
    number = sum(ord(c) for c in user) * 7 + len(user)
    first, last = FIRST_NAMES[number % len(FIRST_NAMES)], LAST_NAMES[number % len(LAST_NAMES)]
    return {"email": f"{user}@example.com", "name": f"{first} {last}"}


def latest_login(steps: list[dict[str, Any]]) -> int:
    """The latest position a login may take in ``steps``: before the first call that needs
    an account, else after the last step."""
    return next((i for i, step in enumerate(steps) if step.get("event") in NEEDS_LOGIN),
                len(steps))


def logged_in_midway(steps: list[dict[str, Any]], user: str, anonymous_id: str,
                     at: int) -> list[dict[str, Any]]:
    """``steps`` (a logged-in shopper's, each with ``userId``) as a browser that logs in
    before step ``at`` sends them: anonymous before, an identify call, both ids after."""
    if not 1 <= at <= latest_login(steps):
        raise ValueError(f"a login at step {at} of {len(steps)} comes too early or too late")
    both = {"userId": user, "anonymousId": anonymous_id}
    out = [{**{k: v for k, v in step.items() if k != "userId"}, "anonymousId": anonymous_id}
           for step in steps[:at]]
    out.append({"type": IDENTIFY_CALL, **both, "traits": shopper_traits(user),
                "context": steps[min(at, len(steps) - 1)]["context"]})
    out.extend({**step, **both} for step in steps[at:])
    return out
