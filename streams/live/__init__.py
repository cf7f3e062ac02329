"""Live state kept by the worker: carts and their abandonment timers, trending products,
the session funnel, customer triggers and the live metrics.

Each module here is pure: it takes events (:class:`streams.live.events.LiveEvent`)
and the event-time "now", and returns :class:`streams.live.events.Effects`: the
state entries to persist (key -> JSON value, or ``None`` to delete) and the
triggers to emit. The agent (:mod:`streams.stages.live`) writes both in the
source partition's Kafka transaction, and on taking over a partition restores
every module from the committed changelog.
"""
