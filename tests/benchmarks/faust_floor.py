"""A Faust agent that only iterates the raw topic: the framework's own ceiling.

Run by bench_validation.py as a child process; prints ``rate <events/s>`` once it
has read ``--events`` events (timed from its first event) and exits.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import faust  # noqa: E402

from deploy.local.broker import free_port  # noqa: E402
from models.settings import load_settings  # noqa: E402
from streams.app import create_app  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--data-dir", required=True)
    args = parser.parse_args()
    settings = load_settings(app_id=f"floor-{uuid.uuid4().hex[:6]}", web_port=free_port(),
                             data_dir=Path(args.data_dir), processing_guarantee="at_least_once")
    app = create_app(settings, os.environ["KAFKA_BOOTSTRAP"])
    raw = app.topic(settings.topics.raw, key_serializer="raw", value_serializer="raw")
    seen = {"n": 0, "t0": 0.0}

    @app.agent(raw)
    async def iterate(stream: faust.StreamT) -> None:
        async for _event in stream.events():
            if seen["n"] == 0:
                seen["t0"] = time.perf_counter()
            seen["n"] += 1
            if seen["n"] == args.events:
                rate = (args.events - 1) / (time.perf_counter() - seen["t0"])
                print(f"rate {rate:.1f}", flush=True)
                os._exit(0)

    sys.argv = [sys.argv[0], "worker"]
    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
