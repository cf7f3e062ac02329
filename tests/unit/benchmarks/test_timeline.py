"""``tests/benchmarks/runs.timeline``: what ``make bench --timeline`` prints per throughput run."""

from __future__ import annotations

from tests.benchmarks.runs import timeline


def test_one_line_a_second_from_the_release_with_each_stages_committed_records() -> None:
    names = {"app-validate": "validate", "app-clickhouse-sink": "sink"}
    samples = [
        (99.5, {"app-validate": {0: -1001}, "app-clickhouse-sink": {0: -1001}}),  # before
        (100.0, {"app-validate": {0: -1001, 1: -1001}, "app-clickhouse-sink": {0: -1001}}),
        (100.4, {"app-validate": {0: 500, 1: 700}, "app-clickhouse-sink": {0: -1001}}),
        (101.1, {"app-validate": {0: 6000, 1: 7000}, "app-clickhouse-sink": {0: 2500}}),
        (102.2, {"app-validate": {0: 6000, 1: 7000}, "app-clickhouse-sink": {0: 13000}}),
    ]
    assert timeline(samples, 100.0, names) == [
        "       0.0 s: validate 0  sink 0",  # no commit yet is none, not a negative count
        "       1.1 s: validate 13,000  sink 2,500",
        "       2.2 s: validate 13,000  sink 13,000",
    ]
