# roughtrace: the two commands README gives are `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
# The demo store's signing key, in the user's config folder (ledger/keys.py: sha256 of the store's absolute path)
DEMO_KEY = $${XDG_CONFIG_HOME:-$$HOME/.config}/roughtrace/ledger-key-$$(printf %s "$(CURDIR)/roughtrace.duckdb" | sha256sum | cut -c1-16).pem
BENCHES := bench-import bench-sim bench-prices bench-valuation bench-checks bench-ledger bench-startup bench-quality bench-faults bench-layers bench-intelligence bench-serve bench-web bench-scale

.PHONY: setup demo test lint typecheck lock bench $(BENCHES) clean

# requirements.lock: what roughtrace needs to run; requirements-dev.lock: that plus tests, linters, benchmarks
$(BIN)/roughtrace: requirements.lock requirements-dev.lock pyproject.toml setup.py src/roughtrace/ledger/_sha256.c src/roughtrace/store/_pgcopy.c
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.lock -r requirements-dev.lock
	$(BIN)/pip install -q --no-build-isolation --no-deps -e .
	@touch $@

setup: $(BIN)/roughtrace

demo: setup
	$(BIN)/roughtrace demo

test: setup
	bash scripts/test.sh

lint: setup
	$(BIN)/ruff check src tests bench

# mypy --strict over the files [tool.mypy] in pyproject.toml lists (the test suite runs it too: tests/test_types.py)
typecheck: setup
	$(BIN)/mypy

# Both locks again from pyproject.toml, by uv (each pin already in a lock is kept unless pyproject rules it out).
lock:
	$(PY) -m venv build/lock-tools
	build/lock-tools/bin/pip install -q uv==0.13.8
	build/lock-tools/bin/uv pip compile -q pyproject.toml --python-version 3.11 --custom-compile-command "make lock" \
	  -o requirements.lock
	echo "setuptools>=77" | build/lock-tools/bin/uv pip compile -q pyproject.toml - --python-version 3.11 \
	  --extra test --extra lint --extra bench --extra spark -c requirements.lock --custom-compile-command "make lock" -o requirements-dev.lock

bench: $(BENCHES)

# Benchmark stores live in bench/out; so do their signing keys.
$(BENCHES): export ROUGHTRACE_LEDGER_KEY_FILE = $(CURDIR)/bench/out/ledger-key.pem

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

bench-intelligence: setup
	$(BIN)/python bench/bench_intelligence.py

# The analytics on DuckDB and on a local Spark at 10M and 50M price records (SIZES=1M,10M for a quicker run)
bench-scale: setup
	$(BIN)/python bench/bench_scale.py $(if $(SIZES),--sizes $(SIZES))

bench-ledger: setup
	$(BIN)/python bench/bench_ledger.py

# The service under load on 127.0.0.1 over a PostgreSQL store (ROUGHTRACE_TEST_PG, else scripts/pg.sh);
# SIZE=small|medium for a quick run (default large: 10 M outcome rows)
bench-serve: setup
	$(BIN)/python bench/bench_serve.py --size $(or $(SIZE),large)

# The dashboard's page loads on 127.0.0.1 over a PostgreSQL store (ROUGHTRACE_TEST_PG, else scripts/pg.sh);
# SIZE=small|medium for a quick run (default large)
bench-web: setup
	$(BIN)/python bench/bench_web.py --size $(or $(SIZE),large)

# kill -9 during imports on both engines, peak memory on hostile files, and bench/bench_races.py when present
bench-faults: setup
	$(BIN)/python bench/bench_faults.py

bench-startup: setup
	$(BIN)/python bench/bench_startup.py

bench-quality: setup
	$(BIN)/python bench/bench_quality.py

# The import and the checks on this tree against the commit before the use-case layer, alternately
bench-layers: setup
	$(BIN)/python bench/bench_layers.py

# Racing imports into PostgreSQL (ROUGHTRACE_TEST_PG, else scripts/pg.sh starts one); bench-faults calls it too.
.PHONY: bench-races
bench-races: export ROUGHTRACE_LEDGER_KEY_FILE = $(CURDIR)/bench/out/ledger-key.pem
bench-races: setup
	$(BIN)/python bench/bench_races.py

# What the demo writes: the store (and its key), the market's files; then the environment.
clean:
	rm -f "$(DEMO_KEY)"
	rm -rf $(VENV) roughtrace.duckdb roughtrace.duckdb.wal roughtrace.duckdb.tmp roughtrace.duckdb.ledger-key.pem demo \
	  bench/out build dist
