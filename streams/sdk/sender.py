"""A keyed sender to one topic through the project's :class:`~streams.sdk.tracker.Tracker`:
what the recommender publishes its top-N with (``shop.recommendations``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from recommender.publish import Send
from streams.sdk.tracker import Tracker


@contextmanager
def kafka_sender(bootstrap: str | None, topic: str) -> Iterator[Send | None]:
    """A keyed sender to ``topic`` (None without a broker); on leaving, every message is
    delivered or an error says how many were not."""
    if bootstrap is None:
        yield None
        return
    with Tracker(bootstrap, topic, producer_config={"compression.type": "zstd"}) as tracker:
        yield lambda key, value: tracker.send_raw(value, key.encode())
        left = tracker.flush(60)
        if left or tracker.failed:
            raise RuntimeError(f"{left + tracker.failed} message(s) not "
                               f"delivered to {topic}")


def recommendation_sender(bootstrap: str | None,
                          topic: str) -> Callable[[], AbstractContextManager[Send | None]]:
    """A sender factory for :class:`recommender.runner.JobRunner`."""
    return lambda: kafka_sender(bootstrap, topic)
