"""The capacity model's arithmetic, worked out by hand, and the command around it."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import pytest

from models.errors import ShopstreamError
from streams.cli import capacity
from streams.cli.capacity import Figures, figures_from, plan, read_figures
from tests.benchmarks.report import Report

# a busiest process of 2.0 s and a child of 1.0 s for 10,000 raw events: 200 us and 300 us an
# event; 9,000 canonical (0.9); the contract validates 20,000 events/s on one core
FIGURES = Figures(worker_us_per_event=300.0, busiest_process_us_per_event=200.0,
                  canonical_share=0.9, contract_per_core=20_000.0)


def bench_json() -> dict:
    """The shape ``make bench --json`` writes: the table's rows, each run's details."""
    report = Report(context={"events": 10_000, "runs": {"6a": {
        "input": 10_000, "seconds": 4.0, "worker_cpu_s": [[2.0, 1.0]],
        "counters": {"events_in": 10_000.0, "canonical_out": 9_000.0}}}})
    report.add("1", "raw limit", 100_000.0, "ev/s", "1")
    report.add("2", "contract validation alone", 20_000.0, "ev/s", "1")
    report.add("6a", "whole worker", 2_500.0, "ev/s", "1")
    return {**report.context, "rows": [row.__dict__ for row in report.rows]}


def test_figures_come_from_runs_2_and_6a():
    assert figures_from(bench_json()) == FIGURES


def test_a_small_shop_needs_one_partition_set_and_few_processes():
    # a worker: 0.7 x 1e6 / 200 us = 3,500 events/s -> 2 workers; cores 7,000 x 300 us / 0.7
    # = 3.0; collectors 7,000 / (20,000 x 0.7) -> 1; rows 6,300/s, 525 a partition: each of
    # the 12 partitions flushes once a second, 3 inserts a batch -> 36
    assert plan(7_000, FIGURES) == capacity.Plan(
        rate=7_000, partitions=12, workers=2, worker_cores=3.0, collectors=1,
        clickhouse_rows_per_s=6_300, clickhouse_inserts_per_s=36)


def test_a_large_shop_gets_room_to_double_and_batches_by_size():
    # 100,000 / 3,500 -> 29 workers; room for 58 -> 60 partitions (multiples of 12);
    # rows 90,000/s, 1,500 a partition: with 1,000-row batches 1.5 a second -> 90 -> 270
    p = plan(100_000, FIGURES, batch_rows=1_000)
    assert (p.workers, p.partitions, p.collectors) == (29, 60, 8)
    assert p.worker_cores == 42.9
    assert (p.clickhouse_rows_per_s, p.clickhouse_inserts_per_s) == (90_000, 270)
    assert plan(100_000, FIGURES).clickhouse_inserts_per_s == 180  # by age: 60 a second


def test_a_lower_utilisation_needs_more_workers():
    assert plan(7_000, FIGURES, utilisation=0.35).workers == 4


@pytest.mark.parametrize("rate, utilisation", [(0, 0.7), (-5, 0.7), (100, 0), (100, 1.5)])
def test_nonsense_is_refused(rate, utilisation):
    with pytest.raises(ValueError):
        plan(rate, FIGURES, utilisation)


def test_figures_without_the_runs_name_the_command_that_measures_them(tmp_path):
    broken = bench_json()
    del broken["runs"]["6a"]
    with pytest.raises(ShopstreamError, match=r'make bench BENCH_ARGS="--json bench.json"'):
        figures_from(broken)
    with pytest.raises(ShopstreamError, match="no benchmark figures at"):
        read_figures(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("[1, 2")
    with pytest.raises(ShopstreamError, match="cannot read benchmark figures"):
        read_figures(tmp_path / "bad.json")


def run_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="shopstream")
    sub = parser.add_subparsers(dest="command", required=True)
    capacity.register(lambda name, text: sub.add_parser(name, help=text))
    args = parser.parse_args(argv)
    return args.func(args)


def test_the_command_prints_the_table_and_warns_on_too_few_partitions(tmp_path, capsys):
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps(bench_json()))
    assert run_command(["capacity", "--rate", "7000", "100000", "--bench", str(bench),
                        "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [row["workers"] for row in out] == [2, 29]
    assert out[0]["events/s"] == 7000 and out[1]["partitions"] == 60
    assert run_command(["capacity", "--rate", "100000", "--bench", str(bench),
                        "--partitions", "24"]) == 1
    assert "29 workers for 24 partitions: 5 would own no partition" in capsys.readouterr().err


def test_the_collectors_come_from_their_own_benchmark_when_given(tmp_path, capsys):
    # 40,000 events/s acknowledged by one collector process: 100,000 / (40,000 x 0.7) -> 4
    # (the contract's 20,000 on one core would give 8)
    measured = replace(FIGURES, collector_rate=40_000.0)
    assert plan(100_000, measured).collectors == 4
    assert plan(100_000, FIGURES).collectors == 8
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps(bench_json()))
    collector = tmp_path / "collector.json"
    collector.write_text(json.dumps({"collector_events_per_s": 40_000.0,
                                     "broker_events_per_s": 120_000.0}))
    assert read_figures(bench, collector) == measured
    assert run_command(["capacity", "--rate", "100000", "--bench", str(bench),
                        "--collector-bench", str(collector), "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)[0]["collectors"] == 4
    assert f"a collector process 40,000 events/s ({collector})" in captured.err
    run_command(["capacity", "--rate", "100000", "--bench", str(bench)])
    assert "estimated: contract validation on one core" in capsys.readouterr().err


def test_collector_figures_that_are_missing_or_wrong_name_the_command(tmp_path):
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps(bench_json()))
    hint = r'make bench-collector BENCH_ARGS="--json collector.json"'
    with pytest.raises(ShopstreamError, match="no benchmark figures at .*" + hint):
        read_figures(bench, tmp_path / "missing.json")
    wrong = tmp_path / "wrong.json"
    for content in ({"rows": []}, {"collector_events_per_s": 0}, [1]):
        wrong.write_text(json.dumps(content))
        with pytest.raises(ShopstreamError, match=hint):
            read_figures(bench, wrong)
