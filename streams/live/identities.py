"""Who the shoppers of one partition are (pure): anonymous ids linked to user ids, and each
person's latest contact traits.

``shop.events`` is keyed by device (:func:`models.identity.device_key`), so a browser's
anonymous events and its ``identify`` call meet here. ``identify`` with both ids and
``alias`` (previousId -> userId) link an anonymous id to a user id (the latest link wins);
every later event of that anonymous id is resolved to the user (:meth:`Identities.resolve`),
and the triggers of the partition carry the user id and the contact traits
(:meth:`Identities.stamp`). Links are followed as far as they go
(:func:`models.identity.follow_links`: an anonymous id -> a user id -> the user id that one
was aliased to, at most ``MAX_LINK_HOPS`` links, never round a cycle), as ClickHouse does;
only the links made on this partition are known here. An event that carries only a userId
(a back end's) reaches the same person only when it lands on the same partition;
ClickHouse joins every id later.

Traits are the identify calls' contact traits (:data:`models.identity.CONTACT_TRAITS`),
merged per person (a later call's value replaces an earlier one, a trait not sent again is
kept). They are personal data in clear, kept only here (the live-state changelog) and in
ClickHouse's ``users`` table.

State keys: ``i|<tenant>|<anonymous id>`` -> user id; ``p|<tenant>|<user id>`` -> traits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from models.identity import ALIAS_CALL, IDENTIFY_CALL, contact_traits, follow_links, linked_ids
from models.triggers import Trigger
from streams.live.events import Effects, LiveEvent

LINKING_CALLS = frozenset({IDENTIFY_CALL, ALIAS_CALL})
NOTHING = Effects()  # what an event that links nothing gives (never changed: merged from)


@dataclass(frozen=True)
class Link:
    """A new link made by an event: ``anonymous_id`` is now ``user_id``."""

    tenant: str
    anonymous_id: str
    user_id: str


@dataclass
class Identities:
    links: dict[tuple[str, str], str] = field(default_factory=dict)
    traits: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    def restore(self, key: str, value: Any) -> None:
        kind, rest = key[0], key[2:]
        tenant, ident = rest.split("|", 1)
        if kind == "i":
            self.links[(tenant, ident)] = str(value)
        elif kind == "p":
            self.traits[(tenant, ident)] = {str(k): str(v) for k, v in dict(value).items()}

    def apply(self, ev: LiveEvent) -> tuple[Effects, list[Link]]:
        """Record what an identify or alias call says: the state to persist, and the links
        that are new (or changed), for the carts to take over."""
        user = ev.user_id
        if not user or (ev.traits is None and ev.name not in LINKING_CALLS):
            return NOTHING, []  # most events: neither a link nor traits
        effects, new = Effects(), list[Link]()
        for ident in linked_ids(ev.name, user, ev.anonymous_id, ev.previous_id):
            if self.links.get((ev.tenant, ident)) != user:
                self.links[(ev.tenant, ident)] = user
                effects.writes[f"i|{ev.tenant}|{ident}"] = user
                new.append(Link(ev.tenant, ident, user))
        sent = contact_traits(ev.traits)
        if sent:
            known = self.traits.get((ev.tenant, user), {})
            merged = {**known, **sent}
            if merged != known:
                self.traits[(ev.tenant, user)] = merged
                effects.writes[f"p|{ev.tenant}|{user}"] = merged
        return effects, new

    def user_of(self, tenant: str, anonymous_id: str | None) -> str | None:
        """The user id ``anonymous_id`` is linked to directly (one link), if any."""
        return self.links.get((tenant, anonymous_id)) if anonymous_id else None

    def person(self, tenant: str, key: str) -> str:
        """Where ``key`` (a user id or an anonymous id) leads through the links; ``key``
        itself when it is linked to nothing."""
        return follow_links(key, lambda ident: self.links.get((tenant, ident)))

    def resolve(self, ev: LiveEvent) -> LiveEvent:
        """``ev`` from its person: its key (userId, else anonymousId) followed through the
        links; a linked key's event gets the person as user id and key."""
        if not ev.user_key:
            return ev
        person = self.person(ev.tenant, ev.user_key)
        return ev if person == ev.user_key else ev._replace(user_id=person, user_key=person)

    def contact(self, tenant: str, user_id: str | None) -> dict[str, str]:
        return self.traits.get((tenant, user_id), {}) if user_id else {}

    def stamp(self, triggers: list[Trigger]) -> list[Trigger]:
        """The triggers with the shopper's user id (the person their user id, else their
        anonymous id, leads to, as the links stand when they fire) and latest contact traits."""
        out = []
        for trigger in triggers:
            user, key = trigger.user_id, trigger.user_id or trigger.anonymous_id
            if key and (person := self.person(trigger.tenant, key)) != key:
                user = person
            traits = self.contact(trigger.tenant, user)
            if user != trigger.user_id or traits != trigger.traits:
                trigger = trigger.model_copy(update={"user_id": user, "traits": traits})
            out.append(trigger)
        return out
