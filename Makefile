# shopstream: `make demo` runs the demo, `make test` runs the whole test suite.
# Both create .venv and install the project on first use; nothing else is needed
# beyond Python 3.11+, Java 17 and Maven (for the local Kafka broker).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
# test processes (pytest-xdist): most integration time is waiting on brokers and workers, so two
# processes halve the suite on 2 cores; each process runs its own broker. TEST_PROCESSES=0: one
TEST_PROCESSES ?= 2

.PHONY: demo test unit lint validate-deploy bench bench-collector bench-stage-cpu bench-recommender soak clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/shopstream demo $(DEMO_ARGS)

test: $(STAMP)
	$(MAKE) lint
	sh deploy/local/ensure-chromium.sh
	$(BIN)/python -m pytest -ra -n $(TEST_PROCESSES) --dist worksteal

unit: $(STAMP)
	$(BIN)/python -m pytest -ra tests/unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(MAKE) validate-deploy

# the Kubernetes manifests and docker-compose.yml against their schemas, offline (README, Deploying)
validate-deploy: $(STAMP)
	$(BIN)/python -m deploy.validate

# the stream benchmark: every stage against the raw Kafka limit, one table (README, Benchmarks)
bench: $(STAMP)
	$(BIN)/python tests/benchmarks/bench.py $(BENCH_ARGS)

# the HTTP collector: events/s and p99 request latency in batches of 100, against the broker's
# own produce rate in the same run (README, The HTTP collector)
bench-collector: $(STAMP)
	$(BIN)/python tests/benchmarks/bench_collector.py $(BENCH_ARGS)

# the validation stage's CPU per event in-process, alone and next to a busy core (README, Benchmarks)
bench-stage-cpu: $(STAMP)
	$(BIN)/python tests/benchmarks/bench_stage_cpu.py --neighbours $(BENCH_ARGS)

bench-recommender: $(STAMP)
	$(BIN)/python tests/benchmarks/bench_recommender.py --interactions 1000000

# exactly-once under repeated crashes: 1M events, 10 SIGKILLs, a broker restart, ClickHouse
# away 60 s (README, Tests: Soak); flags in SOAK_ARGS, e.g. SOAK_ARGS="--events 20000 --kills 3"
soak: $(STAMP)
	$(BIN)/python -m tests.soak.run $(SOAK_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
