"""The soak's input: simulated shop traffic in a deterministic send order, with a share of
events sent late, and what the contract says about each message (worked out offline)."""

from __future__ import annotations

import heapq
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from models.validation import Rules, validate_bytes
from streams.sources.simulator import SimConfig, simulate

# Late events are sent either a little late (never "late" for the live stage, whose allowed
# lateness the soak sets to LATENESS_S) or well past it (always late): never near the edge,
# where the worker's wall-clock idle advance could tip the verdict either way.
LATENESS_S = 120.0
SLIGHTLY_LATE_S = (1.0, 30.0)
VERY_LATE_S = (300.0, 900.0)


@dataclass
class Inputs:
    """Messages in send order; ``valid[i]`` and ``message_ids[i]`` are the contract's verdict."""

    keys: list[bytes | None] = field(default_factory=list)
    values: list[bytes] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)      # simulator's: valid, duplicate, malformed
    valid: list[bool] = field(default_factory=list)
    message_ids: list[str | None] = field(default_factory=list)
    slightly_late: int = 0
    very_late: int = 0

    def __len__(self) -> int:
        return len(self.values)

    @property
    def expected_ids(self) -> set[str]:
        """Distinct messageIds of the valid messages: what ClickHouse must hold, each once."""
        return {m for m in self.message_ids if m is not None}

    @property
    def invalid(self) -> list[int]:
        return [i for i, ok in enumerate(self.valid) if not ok]

    def summary(self) -> str:
        kinds = {k: self.kinds.count(k) for k in ("valid", "duplicate", "malformed")}
        return (f"{len(self):,} messages ({kinds['valid']:,} valid, {kinds['duplicate']:,} "
                f"duplicate resends, {kinds['malformed']:,} malformed by the simulator); "
                f"contract: {sum(self.valid):,} valid, {len(self.invalid):,} invalid, "
                f"{len(self.expected_ids):,} distinct valid messageIds; sent late: "
                f"{self.slightly_late:,} by {SLIGHTLY_LATE_S[0]:.0f}-{SLIGHTLY_LATE_S[1]:.0f} s, "
                f"{self.very_late:,} by {VERY_LATE_S[0]:.0f}-{VERY_LATE_S[1]:.0f} s of event time")


def build_inputs(events: int, seed: int, rate: float, malformed: float, duplicates: float,
                 late: float, rules: Rules, log: Callable[[str], None] = print) -> Inputs:
    """``events`` simulated events (plus the simulator's duplicate resends), a share ``late``
    of them moved later in the send order, each validated offline."""
    config = SimConfig(seed=seed, rate=rate, malformed=malformed, duplicates=duplicates,
                       start=datetime(2026, 1, 1, tzinfo=UTC))
    rng = random.Random(seed * 7919 + 1)
    out = Inputs()
    now = datetime.now(UTC)
    started = time.monotonic()
    shown = started
    # (send position, sequence) -> message: a moved message waits in the heap until its
    # position comes up, so memory is bounded by the largest displacement
    pending: list[tuple[float, int, bytes | None, bytes, str]] = []
    sequence = 0

    def emit(key: bytes | None, value: bytes, kind: str) -> None:
        nonlocal shown
        result = validate_bytes(value, rules, now)
        out.keys.append(key)
        out.values.append(value)
        out.kinds.append(kind)
        out.valid.append(result.ok)
        out.message_ids.append(result.event.messageId if result.ok and result.event else None)
        if time.monotonic() - shown > 10:
            shown = time.monotonic()
            log(f"  input: {len(out):,} messages built and validated "
                f"({time.monotonic() - started:.0f}s)")

    total = 0
    for event in simulate(config, events):
        position = float(total)
        total += 1
        if rng.random() < late:
            band = SLIGHTLY_LATE_S if rng.random() < 0.5 else VERY_LATE_S
            moved = position + rng.uniform(*band) * rate
            if moved < events:  # only where the stream goes on long enough to make it late
                position = moved
                if band is SLIGHTLY_LATE_S:
                    out.slightly_late += 1
                else:
                    out.very_late += 1
        key = event.key.encode() if event.key is not None else None
        heapq.heappush(pending, (position, sequence, key, event.to_bytes(), event.kind))
        sequence += 1
        while pending and pending[0][0] <= total - 1:
            _, _, k, v, kind = heapq.heappop(pending)
            emit(k, v, kind)
    while pending:
        _, _, k, v, kind = heapq.heappop(pending)
        emit(k, v, kind)
    return out
