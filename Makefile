# roughtrace: the two commands README gives are `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup demo test test-duckdb lint bench bench-import bench-sim bench-prices bench-valuation bench-checks bench-ledger bench-quality clean

$(BIN)/roughtrace: requirements.lock pyproject.toml setup.py src/roughtrace/ledger/_sha256.c src/roughtrace/store/_pgcopy.c
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-build-isolation --no-deps -e .
	@touch $@

setup: $(BIN)/roughtrace

demo: setup
	$(BIN)/roughtrace demo

test: setup
	bash scripts/test.sh

lint: setup
	$(BIN)/ruff check src tests bench

bench: bench-import bench-sim bench-prices bench-valuation bench-checks bench-ledger bench-quality

bench-import: setup
	$(BIN)/python bench/bench_import.py

bench-sim: setup
	$(BIN)/python bench/bench_sim.py

bench-prices: setup
	$(BIN)/python bench/bench_prices.py

bench-valuation: setup
	$(BIN)/python bench/bench_valuation.py

bench-checks: setup
	$(BIN)/python bench/bench_checks.py

bench-ledger: setup
	$(BIN)/python bench/bench_ledger.py

bench-quality: setup
	$(BIN)/python bench/bench_quality.py

clean:
	rm -rf $(VENV) roughtrace.duckdb bench/out
