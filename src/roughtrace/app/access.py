"""Who may see and send what: the rules every interface shares (the HTTP API now, the dashboard next).

The roles (`app.accounts.ROLES`):

- producer: the sales whose seller is its party, and everything reported on those boxes (outcomes,
  dispositions, findings, the risk of the sightholders who bought them); the certificates its
  boxes name; the price index, quotes and the price book.
- sightholder: the boxes it bought, its own outcomes, dispositions, findings and risk, the imports
  its party made and their quarantine; price quotes and the index. Nothing of another sightholder.
- kp_authority: the certificates its country exports or imports, and the price book their values
  are checked against.
- retailer: the provenance of a stone it names by lab and report number, in its public form only
  (`public_provenance`: grades, each link's status, origin, sight and certificate countries; no
  price, weight of rough, party or company name).
- admin, and the command line's operator: everything.

An object of a kind a role may see, but which this caller may not, is answered exactly as one that
does not exist (`NotFound` with the same code), so existence does not leak. A kind of object or an
action a role never has is `NotAllowed` (forbidden).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import NotAllowed, NotFound
from . import Actor

EVERYTHING = frozenset({"admin", "operator"})
"""Roles that see and send everything: the service's administrators and the command line."""

UPLOADS: dict[str, frozenset[str]] = {
    "producer": frozenset({"parties", "rough_sales", "kp_certificates", "parcel_contents", "transactions"}),
    "sightholder": frozenset({"polished_outcomes", "rough_dispositions"}),
}
"""The input kinds each role may send; admin sends every kind, the others none."""

OWN_COLUMNS: dict[tuple[str, str], str] = {
    ("sightholder", "polished_outcomes"): "sightholder_id",
    ("sightholder", "rough_dispositions"): "sightholder_id",
    ("producer", "rough_sales"): "seller_id",
}
"""For a role and a kind it sends, the column that must name its own party in every record: a
sightholder reports its own outcomes and dispositions, a producer its own sales."""

READERS: dict[str, frozenset[str]] = {
    "boxes": frozenset({"producer", "sightholder"}),
    "risk": frozenset({"producer", "sightholder"}),
    "imports": frozenset({"producer", "sightholder"}),
    "answers": frozenset({"sightholder"}),
    "certificates": frozenset({"producer", "sightholder", "kp_authority"}),
    "certificate_files": frozenset({"producer", "kp_authority"}),
    "provenance": frozenset({"producer", "sightholder", "retailer"}),
    "prices": frozenset({"producer", "sightholder"}),
    "pricebook": frozenset({"producer", "kp_authority"}),
    "intelligence reports": frozenset({"sightholder"}),
    "ledger entries": frozenset(),
    "the producer's view": frozenset({"producer"}),
}
"""The areas each role reaches at all (beyond admin); within one, the object rules below apply."""

PUBLIC_LINK_DETAILS: dict[str, tuple[str, ...]] = {
    "origin": (),
    "sight and seller": ("sight",),
    "KP certificate": ("exporting_country", "importing_country"),
}
"""The details of a provenance link a retailer sees; the links not named show their status only."""

PUBLIC_SUBJECTS = frozenset({"lab report", "origin", "KP certificate"})
"""Links whose subject (the report number, the origin country, the certificate number) is public:
a retailer holds the report, and a certificate's number and countries are on the paper that
travels with the goods."""

PUBLIC_STONE = ("shape", "carat", "color", "clarity", "cut", "polished_date")


def sees_all(actor: Actor) -> bool:
    return actor.role in EVERYTHING


def require(actor: Actor, area: str) -> None:
    """`NotAllowed` unless the actor's role reaches `area` at all."""
    if not sees_all(actor) and actor.role not in READERS[area]:
        raise NotAllowed(f"a {actor.role} account may not use {area.replace('_', ' ')}")


def require_upload(actor: Actor, kind: str) -> None:
    """`NotAllowed` unless the actor's role may send files of `kind`."""
    if not sees_all(actor) and kind not in UPLOADS.get(actor.role, frozenset()):
        allowed = sorted(UPLOADS.get(actor.role, frozenset()))
        raise NotAllowed(f"a {actor.role} account may not send {kind}" +
                         (f"; it sends {', '.join(allowed)}" if allowed else ""))


def box_visible(actor: Actor, seller_id: str | None, buyer_id: str | None) -> bool:
    """A box is its seller's and its buyer's to see."""
    if sees_all(actor):
        return True
    party = actor.party
    return party is not None and ((actor.role == "producer" and seller_id == party)
                                  or (actor.role == "sightholder" and buyer_id == party))


def certificate_visible(actor: Actor, exporting: Iterable[str | None], importing: Iterable[str | None],
                        sellers: Iterable[str | None], buyers: Iterable[str | None]) -> bool:
    """A certificate is a KP authority's when its country exports or imports under it, and a
    producer's or sightholder's when it covers one of their boxes (`sellers` and `buyers` of the
    boxes naming it)."""
    if sees_all(actor):
        return True
    if actor.role == "kp_authority":
        return actor.country is not None and actor.country in {*exporting, *importing}
    return any(box_visible(actor, s, b) for s, b in zip(sellers, buyers, strict=True))


def own_upload(actor: Actor, account_id: str, party_id: str | None) -> bool:
    """An import job (and its batch's quarantine) is its uploader's, and its party's other accounts'."""
    if sees_all(actor):
        return True
    return account_id == actor.account_id or (party_id is not None and party_id == actor.party)


def sightholder_visible(actor: Actor, sightholder_id: str, bought_from: Iterable[str]) -> bool:
    """A sightholder's risk and findings are its own to see, and a producer's it sold to."""
    if sees_all(actor):
        return True
    if actor.role == "sightholder":
        return sightholder_id == actor.party
    return actor.role == "producer" and actor.party in set(bought_from)


def hidden(what: str, identifier: str, code: str) -> NotFound:
    """The one answer for an object that is not there or not the caller's: the same words either way."""
    return NotFound(f"there is no {what} {identifier!r}", code=code)


def public_provenance(traced: dict[str, Any]) -> dict[str, Any]:
    """A stone's provenance as a retailer sees it: its grades, the chain's status, each link's
    status, and only the public parts of the links (`PUBLIC_LINK_DETAILS`, `PUBLIC_SUBJECTS`)."""
    links = []
    for link in traced["links"]:
        shown: dict[str, Any] = {"link": link["link"], "status": link["status"]}
        if link["link"] in PUBLIC_SUBJECTS:
            shown["subject"] = link["subject"]
        if link["link"] in PUBLIC_LINK_DETAILS:
            shown["details"] = {k: link["details"][k] for k in PUBLIC_LINK_DETAILS[link["link"]] if k in link["details"]}
        links.append(shown)
    return {"stone_id": traced["stone_id"], "lab": traced["lab"], "status": traced["status"],
            "stone": {k: traced["stone"].get(k) for k in PUBLIC_STONE}, "links": links}
