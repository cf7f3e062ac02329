"""Exchange rates as the live stage sees them: the compacted rates topic (written by
``shopstream fx load``) followed into a :class:`~models.currency.RateBook`, so a rate loaded
anywhere counts in ``/live`` within about a second, without a restart."""

from __future__ import annotations

import logging
import threading
from datetime import date
from decimal import Decimal

from models.currency import FxRate, InvalidRate, RateBook, reporting_currencies, reporting_currency
from models.errors import ShopstreamError
from models.settings import Settings
from streams.kafka.follower import TopicFollower
from streams.live.pulse import Converter

log = logging.getLogger(__name__)


class LiveRates:
    """Every rate of the rates topic once :meth:`follow` has started; answers conversions
    into a tenant's reporting currency (thread-safe: the follower writes, the views read)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        try:
            self.currencies = reporting_currencies(settings.reporting_currency,
                                                   settings.reporting_currencies)
        except ValueError as exc:
            raise ShopstreamError(str(exc)) from exc
        self.book = RateBook(base=settings.fx_base_currency)
        self._lock = threading.Lock()
        self._follower: TopicFollower | None = None

    def follow(self, bootstrap: str) -> LiveRates:
        """Start reading the rates topic from its beginning, then following it (a thread)."""
        self._follower = TopicFollower(bootstrap, self.settings.topics.fx_rates, self.apply,
                                       "exchange rates").start()
        return self

    def apply(self, key: bytes, value: bytes | None) -> None:
        """One record of the topic; a tombstone (key ``date|currency``) removes the rate."""
        try:
            if value is None:
                day, _, currency = key.decode().partition("|")
                with self._lock:
                    self.book.remove(date.fromisoformat(day), currency)
                return
            rate = FxRate.from_json(value)
        except (ValueError, KeyError, InvalidRate) as exc:
            log.warning("exchange rates: record %r unreadable, ignored: %s", key, exc)
            return
        with self._lock:
            self.book.add(rate)

    def reporting(self, tenant: str) -> str:
        return reporting_currency(self.currencies, tenant)

    def converter(self, tenant: str) -> Converter:
        """Amounts into ``tenant``'s reporting currency at the rates known now."""
        target = self.reporting(tenant)

        def to_reporting(amount: Decimal, currency: str, day: date) -> Decimal | None:
            with self._lock:
                return self.book.to_reporting(amount, currency, day, target)
        return to_reporting

    def stop(self) -> None:
        if self._follower is not None:
            self._follower.stop()
