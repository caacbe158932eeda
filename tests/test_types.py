"""The domain, the store's port and adapters, the settings and the composition root type-check under
`mypy --strict` (the files `[tool.mypy]` in pyproject.toml lists; `make typecheck` runs the same)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_strict_passes_on_the_core_and_the_ports() -> None:
    done = subprocess.run([sys.executable, "-m", "mypy", "--strict"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f"mypy --strict found problems:\n{done.stdout}{done.stderr}"
