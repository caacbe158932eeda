"""`intelligence report` and the producer's view: market intelligence returned to the sightholders who
contribute their outcome, under disclosure control, each report logged in the ledger."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from . import Context


def _logged(context: Context, kind: str, payload: dict[str, Any], lines: list[dict[str, Any]]) -> dict[str, Any]:
    from ..ledger.decisions import log_decision, summarised

    return log_decision(context.store, context.settings, kind, {**payload, **summarised(lines, "cells")})


def sightholder_report(context: Context, sightholder_id: str, period: str | None = None) -> Any:
    """One sightholder's report for `period` (its latest period with a purchase when None): its own
    figures beside the market's under disclosure control when it contributed, what it would need to
    send otherwise. The market is protected and audited first, over every release earlier reports
    made (`DisclosureRefused` when the audit fails); a contributor's report keeps the market it came
    from as one more release (`intelligence.record`), named in the ledger entry beside the report's
    cells, and the receipt is in the result (`intelligence.reports.IntelligenceReport`). `NotFound`
    when it bought nothing in the period."""
    from ..errors import NotFound
    from ..intelligence import cells, record
    from ..intelligence.reports import Market, report_for
    from ..intelligence.settings import rules
    from ..ledger.decisions import log_decision, summarised
    from .access import hidden, require, sees_all
    from .market_views import keep_as, kept

    require(context.actor, "intelligence reports")
    if not sees_all(context.actor) and sightholder_id != context.actor.party:
        raise hidden("intelligence report for sightholder", sightholder_id, "sightholder_not_found")
    period_kind = context.settings["intelligence_period"]

    def protected() -> tuple[Any, Any]:
        loaded = cells.load(context.store, context.settings)
        return loaded, Market.build(loaded, rules(context.settings), record.load(context.store, period_kind))

    releases = record.count(context.store, period_kind)  # the record only grows: its size names what was audited
    market_name = f"intelligence_market after {releases} releases"
    market_cells, market = kept(context, market_name, protected)
    if sightholder_id not in market_cells.sightholders:
        raise NotFound(f"sightholder {sightholder_id!r} bought no box in the store", code="sightholder_not_found")

    def made() -> tuple[Any, dict[str, Any], Any]:
        report = report_for(market, sightholder_id, period, context.settings["intelligence_contribution_share"])
        if not report.contributor:
            return report, summarised(report.cells(), "cells"), None
        own = record.releases_of(market)
        return report, summarised(report.cells(), "cells"), (own, record.release_id(own))

    report, logged_cells, own_release = kept(context, f"{market_name}: report {sightholder_id} {period}", made)
    release = None
    if own_release is not None:
        release, added = record.keep(context.store, own_release[0], period_kind, own_release[1])
        if added:  # the market is protected against its own release already: it stands for the grown record
            keep_as(context, f"intelligence_market after {releases + 1} releases", (market_cells, market))
    receipt = log_decision(context.store, context.settings, "intelligence_report", {
        "sightholder_id": report.sightholder_id, "period": report.period, "contributor": report.contributor,
        "market_figures": report.market_figures(), "rules": report.rules, "release_id": release, **logged_cells})
    return dataclasses.replace(report, receipt=receipt)


def producer_view(context: Context, period: str | None = None, producer_id: str | None = None) -> Any:
    """The producer's full, unsuppressed view of its own sales (every sale in the store, or those of
    `producer_id`): per segment and period, its buyers, boxes, carats and the figures over every
    buyer's reported outcome (`intelligence.reports.ProducerView`), logged in the ledger. A
    producer's account sees its own sales only, whatever `producer_id` it names."""
    from ..errors import NotFound
    from ..intelligence import cells
    from ..intelligence.reports import ProducerView, producer_rows
    from .access import hidden, require, sees_all

    require(context.actor, "the producer's view")
    if not sees_all(context.actor):
        if producer_id not in (None, context.actor.party):
            raise hidden("producer", producer_id, "producer_not_found")
        producer_id = context.actor.party

    facts = cells.market_facts(context.store, context.settings)
    if producer_id is not None:
        import pyarrow.compute as pc

        facts = facts.filter(pc.equal(facts.column("seller_id"), producer_id))
        if facts.num_rows == 0:
            raise NotFound(f"producer {producer_id!r} sold no box to a sightholder in the store", code="producer_not_found")
    market = cells.market_cells(facts, context.settings["intelligence_contribution_share"])
    if period is not None and period not in market.periods:
        raise NotFound(f"no box was sold in period {period}", code="period_not_found")
    rows = producer_rows(market, period)
    receipt = _logged(context, "intelligence_producer_view", {"producer_id": producer_id, "period": period,
                                                               "rows": len(rows)}, list(rows))
    return ProducerView(producer_id, period, rows, receipt)


def write_report(context: Context, report: Any, path: Path) -> str:
    """Write a report to `path`: HTML or PDF (by its extension, through `printable`) or JSON; returns
    the format written."""
    from ..errors import writing
    from ..intelligence.document import intelligence_document
    from ..json_values import dumps
    from ..printable import write
    from .verify import party_names

    if path.suffix.lower() == ".json":
        with writing(path):
            path.write_text(dumps(report.as_dict()) + "\n", encoding="utf-8")
        return "json"
    return write(intelligence_document(report, party_names(context).get(report.sightholder_id)), path)
