"""The soak harness: exactly-once under repeated crashes (``make soak``).

Simulated traffic (with malformed, duplicate and late events) goes through one worker
that is SIGKILLed and restarted again and again, while the broker is restarted once and
ClickHouse is unavailable for a while; then ClickHouse, the dead letters and the
triggers are checked against what the input says they must be. See ``tests/soak/run.py``.
"""
