#!/usr/bin/env bash
# The whole test suite, on DuckDB and on a real PostgreSQL started here on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV_BIN:-.venv/bin}
if [ -z "${ROUGHTRACE_TEST_PG:-}" ]; then
  ROUGHTRACE_TEST_PG=$(scripts/pg.sh start)
  export ROUGHTRACE_TEST_PG
fi
export ROUGHTRACE_REQUIRE_PG=1
"$BIN/python" -m pytest -n 2 -p no:cacheprovider "$@"
