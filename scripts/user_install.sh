#!/usr/bin/env bash
# Install roughtrace the way a user does: a wheel built from this checkout, installed into a fresh
# venv from its declared dependencies alone (no lock file), then `roughtrace demo` run there in an
# empty folder. A module the code imports but pyproject.toml does not declare fails here, and so
# does a signing key written into the working folder. Prints the venv's size.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PY" -m venv "$work/venv"
"$work/venv/bin/pip" install -q --upgrade pip
"$work/venv/bin/pip" wheel -q --no-deps -w "$work/dist" .
"$work/venv/bin/pip" install -q "$work"/dist/roughtrace-*.whl
mkdir "$work/run"
cd "$work/run"
if ! env -u ROUGHTRACE_DB XDG_CONFIG_HOME="$work/config" "$work/venv/bin/roughtrace" demo >"$work/demo.log" 2>&1; then
  tail -n 20 "$work/demo.log"
  echo "user install: \`roughtrace demo\` failed in a venv holding only what pyproject.toml declares" >&2
  exit 1
fi
if compgen -G "*.pem" >/dev/null; then
  echo "user install: the demo wrote a key file into the working folder: $(ls -- *.pem)" >&2
  exit 1
fi
echo "user install: wheel installed without the lock ($(du -sh "$work/venv" | cut -f1) venv, $("$work/venv/bin/pip" list --format=freeze 2>/dev/null | wc -l) packages); demo: $(tail -n 1 "$work/demo.log")"
