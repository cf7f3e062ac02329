"""What the demo's console says about a shopper stitched across a login."""

from __future__ import annotations

from streams.cli.demo import stitched_line

ABANDONED = {"type": "cart_abandoned", "user_id": "u000069",
             "anonymous_id": "2cdb30a4-ef22-4be2-9ad4-22473911ddb1",
             "traits": {"email": "u000069@example.com", "name": "Daniel Murphy"}}


def test_the_newest_abandonment_of_a_shopper_who_logged_in_is_shown_with_the_email():
    older = {**ABANDONED, "user_id": "u000001", "traits": {"email": "u000001@example.com"}}
    assert stitched_line([ABANDONED, older]) == (
        "u000069 Daniel Murphy <u000069@example.com>, browsed as 2cdb30a4... before logging in")
    assert stitched_line([older]) == (
        "u000001 <u000001@example.com>, browsed as 2cdb30a4... before logging in")


def test_nothing_when_no_abandonment_names_an_anonymous_shopper_with_an_email():
    logged_in_only = {**ABANDONED, "anonymous_id": None}
    no_email = {**ABANDONED, "traits": {}}
    recovered = {**ABANDONED, "type": "cart_recovered"}
    assert stitched_line([logged_in_only, no_email, recovered]) is None
    assert stitched_line([]) is None
