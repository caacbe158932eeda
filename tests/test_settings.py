"""Settings are a value: resolved from flags, the environment and the defaults when they are built."""

from __future__ import annotations

import pytest

from roughtrace.settings import SettingError, Settings


def test_the_environment_is_read_when_the_settings_are_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUGHTRACE_PRICE_MIN_TRADES", "7")
    monkeypatch.delenv("ROUGHTRACE_PRICE_PERIOD", raising=False)
    built = Settings()
    monkeypatch.setenv("ROUGHTRACE_PRICE_MIN_TRADES", "9")
    monkeypatch.setenv("ROUGHTRACE_PRICE_PERIOD", "year")
    assert built["price_min_trades"] == 7
    assert built["price_period"] == "month"
    assert built.as_dict()["price_min_trades"] == 7
    later = Settings()
    assert later["price_min_trades"] == 9
    assert later["price_period"] == "year"


def test_a_flag_beats_the_environment_and_the_environment_beats_the_default() -> None:
    environ = {"ROUGHTRACE_PRICE_MIN_TRADES": "7", "ROUGHTRACE_PRICE_PERIOD": "week"}
    settings = Settings({"price_min_trades": "3"}, environ=environ)
    assert settings["price_min_trades"] == 3
    assert settings["price_period"] == "week"
    assert Settings(environ={})["price_period"] == "month"


def test_a_bad_environment_value_stops_only_what_reads_it() -> None:
    settings = Settings(environ={"ROUGHTRACE_PRICE_MIN_TRADES": "many"})
    assert settings["price_period"] == "month"
    with pytest.raises(SettingError, match="price_min_trades takes a int"):
        settings["price_min_trades"]
