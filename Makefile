# shopstream: `make demo` runs the demo, `make test` runs the whole test suite.
# Both create .venv and install the project on first use; nothing else is needed
# beyond Python 3.11+, Java 17 and Maven (for the local Kafka broker).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo test unit lint bench-validation bench-sink bench-recommender bench-live clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/shopstream demo

test: $(STAMP)
	$(MAKE) lint
	sh deploy/local/ensure-chromium.sh
	$(BIN)/python -m pytest -ra

unit: $(STAMP)
	$(BIN)/python -m pytest -ra tests/unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench-validation: $(STAMP)
	$(BIN)/python tests/benchmarks/bench_validation.py --events 100000

bench-sink: $(STAMP)
	$(BIN)/python tests/benchmarks/bench_sink.py --events 200000

bench-recommender: $(STAMP)
	$(BIN)/python tests/benchmarks/bench_recommender.py --interactions 1000000

bench-live: $(STAMP)
	$(BIN)/python tests/benchmarks/bench_live.py --events 30000 --rate 100 --seconds 30

clean:
	rm -rf $(VENV) build *.egg-info
