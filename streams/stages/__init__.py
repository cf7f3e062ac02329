"""The stream stages the worker runs: validation (raw -> canonical | dead letters) and live
state (canonical -> triggers, trending, funnel). Each is a plain object that decides, plus a
thin runtime that does the Kafka I/O."""
