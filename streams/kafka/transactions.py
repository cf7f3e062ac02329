"""How a stage's Kafka transaction calls ride out a broker that is away or restarting.

:class:`TransactionCalls` owns a stage's transactional producer and makes each call of a
transaction's life (``init_transactions``, producing, committing with the input offsets,
aborting) with its own retry policy, reporting a wait as the stage blocked. What to do
after an abort (rewind the input, reload state) is the loop's
(:class:`streams.kafka.transactional.TransactionalLoop`); this module knows nothing of
consumers beyond the group metadata it sends with the offsets.

The policy:

- ``init_transactions``: an error librdkafka calls retriable (the transaction coordinator
  not ready on a loaded or restarting broker) is retried for up to ``INIT_LIMIT_S``; a
  stop meanwhile is a stop, not a failure.
- commit: the offsets are retried into the open transaction for ``COMMIT_RETRY_S``, then
  the transaction is aborted and the interval redone; once ``commit_transaction`` was
  called only it is repeated (it resumes; anything else conflicts), up to the commit
  patience, then the stage fails. A stopping stage gets ``STOP_PATIENCE_S`` more at most:
  a worker stopping because another stage died must not wait minutes here; the open
  transaction is aborted by its successor's ``init_transactions``.
- abort: retried while the broker is away, up to the commit's deadline (the commit
  patience from now when called alone: partitions lost); a stopping stage does not wait.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition

from models.logs import RateLimitedLog
from streams.kafka.bounded import StageFailed, bounded
from streams.kafka.records import Record
from streams.monitoring.health import StageHealth

log = logging.getLogger(__name__)

COMMIT_RETRY_S = 15.0  # how long offsets are retried into an interval's transaction before it is redone
STOP_PATIENCE_S = 10.0  # how long a stopping stage still retries a commit
INIT_LIMIT_S = 300.0  # how long a retriable init_transactions failure is retried before the stage fails

__all__ = ["COMMIT_RETRY_S", "INIT_LIMIT_S", "STOP_PATIENCE_S", "TransactionCalls"]


class TransactionCalls:
    """A stage's transactional producer and the retry policy of each transaction call.
    ``stopping``: set when the stage is asked to stop (it shortens the waits)."""

    def __init__(self, producer: Producer, name: str, health: StageHealth,
                 stopping: threading.Event, commit_patience_s: float) -> None:
        self.producer, self.name, self.health = producer, name, health
        self.stopping, self.commit_patience_s = stopping, commit_patience_s
        self.log_limited = RateLimitedLog(log)

    def init(self) -> bool:
        """Fence older instances of this transactional id and resolve their transactions.
        False: the stage was stopped while it waited for the broker (a stop, not a failure)."""
        deadline = time.monotonic() + INIT_LIMIT_S
        while True:
            try:
                self.producer.init_transactions(60)
            except KafkaException as exc:
                error = exc.args[0] if exc.args else None
                if isinstance(error, KafkaError) and error.retriable() and self.stopping.is_set():
                    self.health.unblocked()
                    return False
                if (not isinstance(error, KafkaError) or not error.retriable()
                        or time.monotonic() >= deadline):
                    raise
                self.health.blocked(f"init_transactions: {error}")
                log.warning("%s: init_transactions failed, retrying: %s", self.name, error)
                time.sleep(1.0)
                continue
            self.health.unblocked()
            return True

    def begin(self) -> None:
        self.producer.begin_transaction()

    def produce(self, record: Record) -> None:
        while True:
            try:
                if record.partition is None:
                    self.producer.produce(record.topic, record.value, record.key)
                else:
                    self.producer.produce(record.topic, record.value, record.key,
                                          partition=record.partition)
                return
            except BufferError:  # the local queue is full: let deliveries drain
                self.producer.poll(0.05)

    def commit(self, offsets: list[TopicPartition], group_metadata: Callable[[], Any]) -> bool:
        """Send ``offsets`` into the open transaction and commit it. True: committed; False:
        the transaction was aborted (abortable error, or the offsets did not go through in
        ``COMMIT_RETRY_S``) and the caller redoes the interval from the committed offsets.
        Raises :class:`StageFailed` when the broker stays away past the patience."""
        patience = STOP_PATIENCE_S if self.stopping.is_set() else self.commit_patience_s
        started = time.monotonic()
        deadline, attempt = started + patience, 0
        stop_deadline: float | None = None
        offsets_sent, committing = not offsets, False
        while True:
            try:
                if not offsets_sent:
                    bounded(self.producer.send_offsets_to_transaction, offsets,
                            group_metadata(), 10.0)
                    offsets_sent = True
                committing = True
                bounded(self.producer.commit_transaction, 10.0)
                break
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                if error.txn_requires_abort():
                    log.warning("%s: transaction aborted (%s); rewinding to the committed offsets",
                                self.name, error)
                    self.abort(deadline)
                    return False
                if self.stopping.is_set():  # stopped while retrying: STOP_PATIENCE_S more at most
                    deadline = min(deadline, stop_deadline or time.monotonic() + STOP_PATIENCE_S)
                    stop_deadline = deadline
                if not error.retriable() or time.monotonic() >= deadline:
                    raise StageFailed(f"commit failed: {error}") from exc
                self.health.blocked(f"commit: {error}")
                if not committing and time.monotonic() - started >= COMMIT_RETRY_S:
                    log.warning("%s: commit did not go through in %.0f s (%s); aborting the "
                                "interval and redoing it", self.name, COMMIT_RETRY_S, error)
                    self.abort(deadline)
                    return False
                attempt += 1
                self.log_limited.warning("%s: commit failed, retrying: %s", self.name, error)
                time.sleep(min(0.2 * attempt, 2.0))
        self.health.unblocked()
        return True

    def abort(self, deadline: float | None = None) -> None:
        """Abort the open transaction, retried while the broker is away until ``deadline``
        (default: the commit patience from now)."""
        deadline = deadline or time.monotonic() + self.commit_patience_s
        while True:
            try:
                bounded(self.producer.abort_transaction, 10.0)
                break
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                # a stopping stage does not wait for the broker: its successor's
                # init_transactions aborts what is left open
                if not error.retriable() or time.monotonic() >= deadline or self.stopping.is_set():
                    raise StageFailed(f"abort failed: {error}") from exc
                self.health.blocked(f"abort: {error}")
                time.sleep(1.0)
        self.health.unblocked()
