"""docs/verification.md documents every check and every setting of the "checks" area."""

from __future__ import annotations

from pathlib import Path

from roughtrace.checks.registry import CHECKS
from roughtrace.checks.settings import SETTINGS

DOC = (Path(__file__).resolve().parents[1] / "docs" / "verification.md").read_text()


def test_every_check_has_a_section_with_its_settings():
    for check in CHECKS:
        heading = f"### {check.name}:"
        assert heading in DOC, f"docs/verification.md has no section for {check.name}"
        section = DOC.split(heading, 1)[1].split("\n### ", 1)[0]
        for name in check.settings:
            assert name in section, f"the {check.name} section does not name its setting {name}"
        assert "**Answer.**" in section


def test_every_checks_setting_is_documented():
    missing = [s.name for s in SETTINGS if s.name not in DOC]
    assert not missing, f"undocumented settings: {missing}"
