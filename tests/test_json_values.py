"""One JSON encoder: exact decimals as their text, dates and times in ISO form, everywhere."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from roughtrace import json_values
from roughtrace.cli_errors import report
from roughtrace.errors import Problem

SOURCE = Path(json_values.__file__).parent


def test_values_keep_their_exact_text() -> None:
    body = {"usd": Decimal("9800.10"), "carats": [Decimal("0.500"), (Decimal("1E+2"),)],
            "sold": dt.date(2024, 1, 8), "built_at": dt.datetime(2024, 1, 8, 9, 30), "name": "Société Gérance"}
    assert json_values.plain(body) == {"usd": "9800.10", "carats": ["0.500", ["1E+2"]], "sold": "2024-01-08",
                                       "built_at": "2024-01-08T09:30:00", "name": "Société Gérance"}
    assert json_values.dumps(body) == json.dumps(json_values.plain(body), ensure_ascii=False)


def test_a_value_with_no_json_form_is_refused() -> None:
    with pytest.raises(TypeError, match="no JSON form for .*Path"):
        json_values.dumps({"file": Path("x.csv")})


def test_the_error_shape_writes_its_extras_as_results_do(capsys: pytest.CaptureFixture[str]) -> None:
    report([Problem("empty", "nothing")], True, as_of=dt.datetime(2024, 1, 8, 9, 30), total=Decimal("1.50"))
    assert json.loads(capsys.readouterr().out)["as_of"] == "2024-01-08T09:30:00"


def test_no_module_keeps_an_encoder_of_its_own() -> None:
    """Only json_values gives json.dumps a `default`: its plain form and its tagged form."""
    own = sorted(str(path.relative_to(SOURCE)) for path in SOURCE.rglob("*.py")
                 if re.search(r"json\.dumps?\([^)]*default=|JSONEncoder", path.read_text(encoding="utf-8")))
    assert own == ["json_values.py"]


def test_the_tagged_form_reads_back_the_same_values() -> None:
    from roughtrace.json_values import tagged_dumps, tagged_loads

    content = {"carats": Decimal("1.500"), "sold": dt.date(2024, 1, 31), "rows": [Decimal("0.001"), "1.500", None]}
    back = tagged_loads(tagged_dumps(content))
    assert back == content and isinstance(back["rows"][1], str) and str(back["carats"]) == "1.500"
