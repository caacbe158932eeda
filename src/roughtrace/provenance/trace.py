"""Tracing one polished stone back to its rough, by point lookups: the stone's claims (schema-4
index on the stone id), its box's record (`boxes`, schema 8) and, for a stone claimed more than
once, the claims of its boxes' conflicts (and the market's conflict graph only when the chain
leaves a conflict undecided).

Every link of the chain gets a status: `verified` (the store holds both ends and they agree),
`unverified` (an end is missing, so nothing can be said), `conflicting` (the ends disagree, or
another claim names the same stone).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..checks import facts as fact_queries
from ..checks.findings import Finding
from ..checks.rules import attribute_claims
from ..checks.verify import _settings
from ..errors import NotFound
from ..json_values import plain
from ..store.port import Store
from . import boxes

STATUSES: tuple[str, ...] = ("verified", "unverified", "conflicting")


@dataclass(frozen=True)
class Link:
    """One step of the chain from the polished stone back to the mine."""

    name: str
    subject: str
    status: str
    reason: str
    details: Mapping[str, Any] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"link": self.name, "subject": self.subject, "status": self.status, "reason": self.reason,
                "details": {k: plain(v) for k, v in self.details.items()},
                "findings": [f.as_dict() for f in self.findings]}


@dataclass(frozen=True)
class Provenance:
    """A polished stone's chain of custody as the store tells it."""

    stone_id: str
    lab: str
    stone: Mapping[str, Any]
    """The claim traced: the one the evidence supports when the stone is claimed more than once
    (duplicate_claims' attribution), else the first in content order (weight in carats, grades, date)."""
    claims: tuple[Mapping[str, Any], ...]
    """Every claim on the stone, the traced one first, then in content order; more than one is a
    conflict."""
    links: tuple[Link, ...]

    @property
    def status(self) -> str:
        """The weakest link's status."""
        statuses = {link.status for link in self.links}
        return next(s for s in ("conflicting", "unverified", "verified") if s in statuses or s == "verified")

    def as_dict(self) -> dict[str, Any]:
        return {"stone_id": self.stone_id, "lab": self.lab, "status": self.status,
                "stone": {k: plain(v) for k, v in self.stone.items()},
                "claims": [{k: plain(v) for k, v in c.items()} for c in self.claims],
                "links": [link.as_dict() for link in self.links]}


CLAIMS_SQL = """
SELECT stone_id, lab, sightholder_id, box_id, rough_stone_id, rough_carats, polished_date, shape, carat, color,
       clarity, cut, batch_id, source_row
FROM polished_outcomes WHERE stone_id = ?
"""
"""Every claim on the stone: one index lookup (ordered here, which costs less than a sort in the engine)."""


CONFLICTED_IN_MARKET = """conflicted AS (
  SELECT lab, stone_id
  FROM polished_outcomes
  WHERE lab <> 'none'
  GROUP BY lab, stone_id"""

CONFLICTED_IN_BOXES = """conflicted AS (
  SELECT lab, stone_id
  FROM polished_outcomes
  WHERE lab <> 'none' AND stone_id IN (SELECT stone_id FROM polished_outcomes WHERE box_id IN ({boxes}))
  GROUP BY lab, stone_id"""


def _conflicts_of_boxes_sql(boxes: int) -> str:
    """The `claims` facts (`checks.facts.CLAIMS`) of the conflicts on the stones claimed from `boxes`
    boxes: every claim of every box pair they are in, by index lookups (the boxes' stones, then
    those stones' claims) rather than a pass over the market."""
    assert CONFLICTED_IN_MARKET in fact_queries.CLAIMS.sql
    return fact_queries.CLAIMS.sql.replace(CONFLICTED_IN_MARKET,
                                           CONFLICTED_IN_BOXES.replace("{boxes}", ", ".join("?" * boxes)))


CONFLICT_GRAPH_SQL = """
WITH conflicted AS (
  SELECT lab, stone_id
  FROM polished_outcomes
  WHERE lab <> 'none'
  GROUP BY lab, stone_id
  HAVING COUNT(DISTINCT sightholder_id) > 1
)
SELECT DISTINCT a.sightholder_id AS holder_a, b.sightholder_id AS holder_b
FROM conflicted c
JOIN polished_outcomes a ON a.lab = c.lab AND a.stone_id = c.stone_id
JOIN polished_outcomes b ON b.lab = c.lab AND b.stone_id = c.stone_id AND a.sightholder_id < b.sightholder_id
"""
"""The market's conflict graph: the pairs of sightholders that claim a lab report in common."""


def trace(store: Store, stone_id: str, lab: str | None = None, settings: Mapping[str, Any] | None = None,
          with_findings: bool = True) -> Provenance:
    """The provenance of the polished stone `stone_id` (a lab report number, or the manufacturer's
    own id when `lab` is `none`). With several labs using the same number, give `lab`.
    `with_findings` adds the findings of the box-local checks (mass balance, size and timing) on the
    stone's box; the population checks (yield, fabrication) are in `roughtrace verify box`.
    Two index lookups: the stone's claims, then its box's record (`boxes`)."""
    settings = _settings(settings)
    lines = sorted(store.rows(CLAIMS_SQL, (stone_id,)), key=lambda r: (r["batch_id"], r["source_row"]))
    if lab is not None:
        lines = [r for r in lines if r["lab"].lower() == lab.lower()]
    if not lines:
        raise NotFound(f"no polished stone {stone_id}" + (f" from {lab}" if lab else "") + " is in the store",
                       code="stone_not_found")
    labs = sorted({r["lab"] for r in lines})
    if len(labs) > 1:
        raise NotFound(f"stone id {stone_id} is used by {', '.join(labs)}: say which lab with --lab",
                       code="stone_ambiguous")
    rows = sorted({(r["batch_id"], r["source_row"]): r for r in lines}.values(), key=_content_order)
    roles = _roles(store, rows, settings)
    stone = next((r for r in rows if roles[_claimant(r)][0] == "likely owner"), rows[0])
    rows = [stone] + [r for r in rows if r is not stone]
    record = boxes.record(store, stone["box_id"], settings)
    box = _sale(record.chain[0]) if record.chain else None
    certificate = [line for line in record.chain if line["hs_code"] is not None]
    box_findings = boxes.box_findings(store, record, settings) if with_findings else []
    links = (
        _lab_link(stone, rows, roles),
        _rough_stone_link(record, stone, settings, box_findings),
        _box_link(stone, box, box_findings),
        _sale_link(box),
        _origin_link(box, certificate),
        _certificate_link(box, certificate),
    )
    claims = tuple({**{k: r[k] for k in ("sightholder_id", "box_id", "polished_date", "carat", "batch_id", "source_row")},
                    "role": roles[_claimant(r)][0]} for r in rows)
    shown = {k: stone[k] for k in ("sightholder_id", "box_id", "rough_stone_id", "rough_carats", "polished_date",
                                   "shape", "carat", "color", "clarity", "cut")}
    return Provenance(stone["stone_id"], stone["lab"], shown, claims, links)


def _sale(line: Mapping[str, Any]) -> dict[str, Any]:
    """The box's sale from one line of its record's chain."""
    return {"box_id": line["sold_box_id"], "sight": line["sight"], "sale_date": line["sale_date"],
            "seller_id": line["seller_id"], "buyer_id": line["buyer_id"], "origin": line["origin"],
            "assortment": line["assortment"], "model": line["model"], "size_min_ct": line["size_min_ct"],
            "size_max_ct": line["size_max_ct"], "stones": line["rough_stones"], "carats": line["rough_carats_of_box"],
            "kp_certificate_id": line["kp_certificate_id"], "seller_name": line["seller_name"],
            "seller_role": line["seller_role"]}


def _content_order(row: Mapping[str, Any]) -> tuple:
    """Claims in an order their content sets (never the order they were stored in)."""
    return (row["sightholder_id"], row["box_id"], row["polished_date"], row["carat"], row["batch_id"], row["source_row"])


def _claimant(row: Mapping[str, Any]) -> tuple[str, str]:
    return (row["sightholder_id"], row["box_id"])


def _roles(store: Store, rows: list[dict[str, Any]], settings: Mapping[str, Any]) -> dict[tuple[str, str], tuple[str, str]]:
    """Each claimant's role in the stone's conflict as duplicate_claims weighs it (likely owner, likely
    copier, undecided, same sightholder) with the evidence that decided; all `only claim` when the
    stone has one claimant. The chain and the dates are weighed per pair of boxes, so the claims of
    the claimant boxes' conflicts are enough for them; the market's conflict graph is read only when
    a pair of the stone's is left for it to weigh (its chain does not decide)."""
    claimants = sorted({_claimant(r) for r in rows})
    if len(claimants) < 2 or rows[0]["lab"] == "none":
        return {c: ("only claim", "") for c in claimants}
    claimant_boxes = sorted({box for _, box in claimants})
    claims = store.query(_conflicts_of_boxes_sql(len(claimant_boxes)), tuple(claimant_boxes))
    key = f"{rows[0]['lab']} {rows[0]['stone_id']}"
    conflicts = attribute_claims(claims, settings, graph=[])
    if any(key in conflicts.stones[k] and conflicts.holder_a[k] != conflicts.holder_b[k]
           and conflicts.certainty[k].get("basis") != "chain" for k in range(len(conflicts.copier))):
        graph = [(r["holder_a"], r["holder_b"]) for r in store.rows(CONFLICT_GRAPH_SQL)]
        conflicts = attribute_claims(claims, settings, graph=graph)
    roles: dict[tuple[str, str], tuple[str, str]] = {c: ("undecided", "") for c in claimants}
    for k in range(len(conflicts.copier)):
        if key not in conflicts.stones[k]:
            continue
        a = (str(conflicts.holder_a[k]), str(conflicts.box_a[k]))
        b = (str(conflicts.holder_b[k]), str(conflicts.box_b[k]))
        side, why = conflicts.copier[k], conflicts.decided_by[k]
        if a[0] == b[0]:
            for c in (a, b):
                if roles[c][0] == "undecided":
                    roles[c] = ("same sightholder", "")
            continue
        if not side:
            continue
        copier, owner = (a, b) if side == "a" else (b, a)
        roles[copier] = ("likely copier", why)
        if roles[owner][0] != "likely copier":
            roles[owner] = ("likely owner", why)
    return roles


SEVERITY_OF_ROLE = {"likely copier": "high", "likely owner": "info", "undecided": "medium", "same sightholder": "medium"}


def _lab_link(stone: dict[str, Any], rows: list[dict[str, Any]], roles: Mapping[tuple[str, str], tuple[str, str]]) -> Link:
    subject = f"{stone['lab']} {stone['stone_id']}"
    if len({_claimant(r) for r in rows}) > 1:
        role, why = roles[_claimant(stone)]
        others = [f"{r['sightholder_id']} box {r['box_id']} ({roles[_claimant(r)][0]})" for r in rows[1:]]
        findings = tuple(
            Finding("duplicate_claims", SEVERITY_OF_ROLE[roles[_claimant(r)][0]], r["sightholder_id"],
                    f"box {r['box_id']}: lab report {subject} is also claimed by "
                    + ", ".join(f"{o['sightholder_id']} box {o['box_id']}" for o in rows if o is not r)
                    + f"; {roles[_claimant(r)][0]}" + (f" ({roles[_claimant(r)][1]})" if roles[_claimant(r)][1] else ""),
                    {"role": roles[_claimant(r)][0], "decided_by": roles[_claimant(r)][1],
                     "expected": "one lab report number names one stone, claimed from one box"}, r["box_id"])
            for r in rows if SEVERITY_OF_ROLE.get(roles[_claimant(r)][0], "info") != "info")
        traced = (f"traced: {stone['sightholder_id']} box {stone['box_id']}, the claim the evidence supports ({why})"
                  if role == "likely owner" else
                  f"traced: {stone['sightholder_id']} box {stone['box_id']}; the evidence does not decide which claim holds")
        return Link("lab report", subject, "conflicting",
                    f"claimed {len(rows)} times; {traced}; also by {', '.join(others)}",
                    {"claims": len(rows), "traced_claim_role": role}, findings)
    if stone["lab"] == "none":
        return Link("lab report", subject, "unverified", "the stone carries the manufacturer's own id, no lab report")
    return Link("lab report", subject, "verified", "one claim on this lab report number")


def _rough_stone_link(record: boxes.BoxRecord, stone: dict[str, Any], settings: Mapping[str, Any],
                      box_findings: list[Finding]) -> Link:
    rough_id = stone["rough_stone_id"]
    if rough_id is None or stone["rough_carats"] is None:
        return Link("rough stone", "not tracked", "unverified",
                    "the sightholder's tracking does not name the rough stone this was cut from")
    polished, polished_stones, rough = record.rough_stone(stone)
    max_yield = Decimal(settings["checks_max_yield"])
    details = {"rough_carats": rough, "polished_carats_from_it": polished, "polished_stones_from_it":
               polished_stones, "max_yield": max_yield}
    subject = f"rough stone {rough_id} ({rough} ct)"
    if polished > rough * max_yield:
        touching = tuple(f for f in box_findings if f.check == "mass_balance" and "rough stone" in f.message)
        return Link("rough stone", subject, "conflicting",
                    f"{polished} ct polished from a {rough} ct rough stone is more than {max_yield:.0%} of it",
                    details, touching)
    return Link("rough stone", subject, "verified",
                f"{polished} ct polished from a {rough} ct rough stone ({polished / rough:.0%})", details)


def _box_link(stone: dict[str, Any], box: dict[str, Any] | None, box_findings: list[Finding]) -> Link:
    subject = f"box {stone['box_id']}"
    if box is None:
        return Link("box", subject, "conflicting", "no box of that id was sold")
    problems = []
    if box["buyer_id"] != stone["sightholder_id"]:
        problems.append(f"the box was sold to {box['buyer_id']}, not {stone['sightholder_id']}")
    if stone["polished_date"] < box["sale_date"]:
        problems.append(f"polished {stone['polished_date']}, before the box was sold on {box['sale_date']}")
    if stone["carat"] > box["size_max_ct"]:
        problems.append(f"{stone['carat']} ct polished is larger than the box's largest rough ({box['size_max_ct']} ct)")
    touching = tuple(f for f in box_findings if f.severity != "low")
    problems.extend(f.message for f in touching if f.severity == "high" and f.message not in problems)
    details = {"assortment": box["assortment"], "model": box["model"], "rough_carats": box["carats"],
               "rough_stones": box["stones"], "size_max_ct": box["size_max_ct"], "sale_date": box["sale_date"]}
    if problems:
        return Link("box", subject, "conflicting", "; ".join(problems), details, touching)
    return Link("box", subject, "verified",
                f"bought by {box['buyer_id']} on {box['sale_date']}; the stone fits the box and the box's balance holds",
                details, touching)


def _sale_link(box: dict[str, Any] | None) -> Link:
    if box is None:
        return Link("sight and seller", "unknown", "unverified", "no sale to trace")
    subject = f"sight {box['sight']}, seller {box['seller_id']}"
    details = {"sight": box["sight"], "sale_date": box["sale_date"], "seller_id": box["seller_id"],
               "seller_name": box["seller_name"]}
    if box["seller_role"] is None:
        return Link("sight and seller", subject, "unverified", "the seller is not a known party", details)
    if box["seller_role"] != "producer":
        return Link("sight and seller", subject, "unverified",
                    f"the seller {box['seller_name']} is a {box['seller_role']}, not a producer", details)
    return Link("sight and seller", subject, "verified", f"sold by {box['seller_name']} at sight {box['sight']}",
                details)


def _origin_link(box: dict[str, Any] | None, certificate: list[dict[str, Any]]) -> Link:
    if box is None:
        return Link("origin", "unknown", "unverified", "no sale to trace")
    origin = box["origin"]
    if not certificate:
        return Link("origin", origin, "unverified", "declared on the sale; no KP certificate to confirm it")
    certified = certificate[0]["certificate_origin"]
    if certified == origin:
        return Link("origin", origin, "verified", f"the KP certificate states origin {certified}")
    if certified == "mixed":
        return Link("origin", origin, "unverified", "the KP certificate covers a mixed parcel (no single origin)")
    return Link("origin", origin, "conflicting", f"the sale says {origin}, the KP certificate says {certified}")


def _certificate_link(box: dict[str, Any] | None, certificate: list[dict[str, Any]]) -> Link:
    if box is None or not box["kp_certificate_id"]:
        return Link("KP certificate", "none", "unverified", "the sale names no KP certificate")
    subject = box["kp_certificate_id"]
    if not certificate:
        return Link("KP certificate", subject, "unverified", "the certificate named is not in the store")
    head = certificate[0]
    carats = sum((line["certificate_carats"] for line in certificate), Decimal(0))
    details = {"exporting_country": head["exporting_country"], "importing_country": head["importing_country"],
               "issue_date": head["issue_date"], "carats": carats,
               "value_usd": sum((line["certificate_value_usd"] for line in certificate), Decimal(0)),
               "hs_codes": [line["hs_code"] for line in certificate]}
    if carats < box["carats"]:
        return Link("KP certificate", subject, "conflicting",
                    f"the certificate covers {carats} ct, less than the box's {box['carats']} ct", details)
    return Link("KP certificate", subject, "verified",
                f"issued {head['issue_date']} by {head['issuing_authority']} for {carats} ct", details)
