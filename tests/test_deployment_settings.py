"""One set of settings for a deployment, versioned in its store: every client of the store judges
by it whatever its own environment says, each change is a version logged in the ledger, and every
decision and import entry names the version it was made under and who made it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import write
from roughtrace.app import Actor, Context, context_of
from roughtrace.app.deployment import change_setting, deployment_settings, setting_versions
from roughtrace.app.imports import import_file
from roughtrace.app.ledger import verify_ledger
from roughtrace.errors import NotAllowed
from roughtrace.settings import SettingError, Settings

PARTIES = """
    party_id,name,role,category,country
    {id},{name},sightholder,manufacturer,IN
    """


class Analyst:
    """What the command line hands a use case (`ctx.obj`): one analyst's own environment, the shared store."""

    def __init__(self, store: Any, environ: dict[str, str], name: str) -> None:
        self._store, self.settings, self.actor = store, Settings(environ=environ), Actor(name, "operator")

    def store(self) -> Any:
        return self._store


def _entry(receipt: dict[str, Any]) -> dict[str, Any]:
    return json.loads(receipt["entry"])


def test_two_analysts_on_one_store_get_the_same_verdicts(store: Any, tmp_path: Path) -> None:
    strict = Analyst(store, {"ROUGHTRACE_MAX_TEXT_LENGTH": "4"}, "ana")
    lenient = Analyst(store, {}, "ben")
    # before the store holds the setting, each judges by its own environment
    assert context_of(strict).settings["max_text_length"] == 4 and context_of(lenient).settings["max_text_length"] == 1000
    changed = change_setting(context_of(strict), "max_text_length", "8")
    assert changed.version == 1
    results = [import_file(context_of(analyst), "parties", write(tmp_path, f"{tag}.csv", PARTIES.format(id=tag, name=name)))
               for analyst, tag, name in ((strict, "SH1", "Cutter One"), (lenient, "SH2", "Cutter Two"))]
    assert [(r.rows_accepted, r.rows_rejected) for r in results] == [(0, 1), (0, 1)]  # both names longer than 8
    entries = [_entry(r.receipt) for r in results]
    assert [(e["settings_version"], e["actor"]) for e in entries] == [(1, "ana"), (1, "ben")]
    assert context_of(lenient).settings["max_text_length"] == 8 == context_of(strict).settings["max_text_length"]


def test_a_change_is_a_version_logged_in_the_ledger(store: Any) -> None:
    context = context_of(Analyst(store, {}, "ops"))
    first = change_setting(context, "checks_max_yield", "0.7")
    second = change_setting(context, "price_min_trades", "7")
    removed = change_setting(context, "checks_max_yield", None)
    assert [c.version for c in (first, second, removed)] == [1, 2, 3]
    assert deployment_settings(context_of(Analyst(store, {}, "x"))) == {"version": 3, "settings": {"price_min_trades": "7"}}
    history = setting_versions(context)
    assert [(h["version"], h["name"], h["value"], h["actor"]) for h in history] == [
        (1, "checks_max_yield", "0.7", "ops"), (2, "price_min_trades", "7", "ops"), (3, "checks_max_yield", None, "ops")]
    assert [h["entry_index"] for h in history] == [c.receipt["entry_index"] for c in (first, second, removed)]
    logged = _entry(second.receipt)
    assert logged["decision"] == "settings_change"
    assert logged["payload"] == {"version": 2, "name": "price_min_trades", "value": "7", "settings_version": 2, "actor": "ops"}
    assert verify_ledger(context_of(Analyst(store, {}, "auditor"))).ok


def test_a_decision_names_the_settings_version_it_was_made_under(market: Any) -> None:
    from roughtrace.app.verify import assess_sightholders

    before = assess_sightholders(context_of(Analyst(market, {}, "ana")))
    change_setting(context_of(Analyst(market, {}, "ops")), "checks_risk_high", "90")
    after = assess_sightholders(context_of(Analyst(market, {"ROUGHTRACE_CHECKS_RISK_HIGH": "50"}, "ben")))
    assert (_entry(before.receipt)["payload"]["settings_version"], _entry(before.receipt)["payload"]["actor"]) == (0, "ana")
    assert (_entry(after.receipt)["payload"]["settings_version"], _entry(after.receipt)["payload"]["actor"]) == (1, "ben")
    assert verify_ledger(context_of(Analyst(market, {}, "auditor"))).ok


def test_only_the_deployments_rules_are_stored_and_only_by_its_operator(store: Any) -> None:
    operator = context_of(Analyst(store, {}, "ops"))
    for machine in ("db", "import_memory_limit", "ledger_key_file", "service_readers"):
        with pytest.raises(SettingError, match="each machine's own"):
            change_setting(operator, machine, "1")
    with pytest.raises(SettingError, match="takes"):
        change_setting(operator, "price_min_trades", "many")
    with pytest.raises(NotAllowed):
        change_setting(Context(store, Settings(), Actor("a", "sightholder", party="SH1")), "price_min_trades", "3")
    assert setting_versions(operator) == []
