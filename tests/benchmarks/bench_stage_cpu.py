"""The validation stage's CPU per event in-process, without Kafka, and what a busy neighbour
on the other core does to it.

``ValidationProcessor.handle`` (the contract, the dedupe memory, the canonical JSON, the
stage's counting: everything the stage does per record but consume, produce and commit)
over simulated raw events, the dedupe memory's changelog taken every 2,000 records as at
a commit. Each round is a fresh stage over the same records, the caches (enrichment,
amounts) warmed by a first pass over other events and the garbage collector tuned as in a
stage process (``streams/stages/gc_tuning.py``); the least and the median of the rounds are
printed, in microseconds an event.

With ``--neighbours`` (two cores or more) it is measured three times, pinned to one core:
alone; while a copy of the same loop runs on another core; while a process that only
streams memory (decoding a 1 MiB JSON document over and over) runs there. The ratios say
how much of a stage's cost in a worker, next to a broker and other stages, is the machine's
shared caches and memory rather than its own code.

    python tests/benchmarks/bench_stage_cpu.py                 # about 20 s
    python tests/benchmarks/bench_stage_cpu.py --neighbours    # about a minute

To compare two versions of the code, run it in a checkout of each, alternately.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from models.enrichment import warm_up  # noqa: E402
from models.settings import load_settings  # noqa: E402
from streams.kafka.records import Consumed  # noqa: E402
from streams.stages.dedupe import DedupeMemory  # noqa: E402
from streams.stages.gc_tuning import settle_after_start_up  # noqa: E402
from streams.stages.validation import ValidationProcessor, ValidationStage, rules_from  # noqa: E402
from tests.benchmarks.traffic import raw_events  # noqa: E402

COMMIT_EVERY = 2_000  # records between two changelog flushes, as a commit of a busy stage


def records(n: int, seed: int) -> list[Consumed]:
    started_ms = int(time.time() * 1000)
    return [Consumed("raw", i % 12, i // 12, m.key, m.value, started_ms + i)
            for i, m in enumerate(raw_events(n, 1000.0, seed=seed))]


def one_round(batch: list[Consumed]) -> float:
    """Microseconds an event for one fresh stage over ``batch``."""
    rules = rules_from(load_settings())
    stage = ValidationStage(rules, "events", "dlq", "dedupe", DedupeMemory(window_ms=86_400_000),
                            duplicates_topic="duplicates")
    processor = ValidationProcessor(stage, lambda partition: {}, "raw")
    processor.assigned(list(range(12)))
    started = time.perf_counter()
    for index, record in enumerate(batch):
        processor.handle(record)
        if index % COMMIT_EVERY == COMMIT_EVERY - 1:
            processor.flush()
    return (time.perf_counter() - started) / len(batch) * 1e6


def measure(events: int, rounds: int) -> tuple[float, float]:
    warm_up(rules_from(load_settings()).geo_database)
    one_round(records(events, seed=7))  # caches and the interpreter's own warm-up
    batch = records(events, seed=42)
    settle_after_start_up()  # the garbage collector as a stage process has it
    times = [one_round(batch) for _ in range(rounds)]
    return min(times), statistics.median(times)


def _copy_forever(cpu: int, events: int, ready: multiprocessing.synchronize.Event) -> None:
    os.sched_setaffinity(0, {cpu})
    batch = records(events, seed=11)
    one_round(batch)
    ready.set()
    while True:
        one_round(batch)


def _stream_memory_forever(cpu: int, events: int, ready: multiprocessing.synchronize.Event) -> None:
    import orjson

    os.sched_setaffinity(0, {cpu})
    document = orjson.dumps({"values": list(range(100_000)), "texts": ["x" * 40] * 10_000})
    ready.set()
    while True:
        orjson.loads(document)


def with_neighbour(target: Callable[..., None], cpus: tuple[int, int], events: int,
                   rounds: int) -> tuple[float, float]:
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    neighbour = context.Process(target=target, args=(cpus[1], events, ready), daemon=True)
    neighbour.start()
    try:
        if not ready.wait(120):
            raise RuntimeError("the neighbour process did not start in 120 s")
        return measure(events, rounds)
    finally:
        neighbour.kill()
        neighbour.join()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--neighbours", action="store_true",
                        help="also measure it next to a copy of itself and next to a memory-bound "
                             "process, each pinned to another core")
    args = parser.parse_args(argv)
    if not args.neighbours:
        least, median = measure(args.events, args.rounds)
        print(f"validation stage handle, in-process: least {least:.2f} us an event, "
              f"median {median:.2f} ({args.rounds} rounds of {args.events:,} events)")
        return
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        raise SystemExit("--neighbours needs two cores this process may use")
    pinned = (cores[0], cores[1])
    os.sched_setaffinity(0, {pinned[0]})
    alone = measure(args.events, args.rounds)
    copy = with_neighbour(_copy_forever, pinned, args.events, args.rounds)
    memory = with_neighbour(_stream_memory_forever, pinned, args.events, args.rounds)
    print(f"validation stage handle, in-process, pinned to core {pinned[0]} "
          f"({args.rounds} rounds of {args.events:,} events; least / median, us an event)")
    for label, (least, median) in [("alone", alone), (f"a copy on core {pinned[1]}", copy),
                                   (f"a memory-bound process on core {pinned[1]}", memory)]:
        print(f"  {label:40s} {least:7.2f} / {median:7.2f}   {least / alone[0]:5.2f}x")


if __name__ == "__main__":
    main()
