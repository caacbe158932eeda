"""The interchange contract (docs/formats.md, version 1) as data.

Every input kind is a `Kind`: its columns with their types, which are required, and its identity.
The importer, the store schema, the simulator and the docs all read this one description.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import grades, kp, rough

# Column types. Amounts are exact decimals; enumerations are stored in their canonical spelling.
TEXT, DATE, CARATS, USD, INTEGER, ENUM, COUNTRY, ORIGIN, PARTY = (
    "text", "date", "carats", "usd", "integer", "enum", "country", "origin", "party",
)


@dataclass(frozen=True)
class Column:
    """One column of an input kind."""

    name: str
    type: str
    required: bool = True
    values: tuple[str, ...] = ()
    """Canonical spellings, for enumerations (matched case-insensitively on input)."""
    rule: str = ""
    """The rule in the trade's words, as the docs state it."""


@dataclass(frozen=True)
class Kind:
    """An input kind: a table of the store and a file format users send."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    """The columns that name one record; empty when a record is identified by its content."""
    description: str

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)


def _enum(name: str, values: tuple[str, ...], required: bool = True, rule: str = "") -> Column:
    return Column(name, ENUM, required, values, rule)


PARTIES = Kind(
    "parties",
    (
        Column("party_id", TEXT, rule="unique"),
        Column("name", TEXT),
        _enum("role", rough.ROLES),
        _enum("category", rough.SIGHTHOLDER_CATEGORIES, required=False,
              rule="required for sightholders, empty for other roles"),
        Column("country", COUNTRY),
        Column("address", TEXT, required=False),
    ),
    key=("party_id",),
    description="producers, sightholders, traders, retailers, labs and authorities",
)

ROUGH_SALES = Kind(
    "rough_sales",
    (
        Column("box_id", TEXT, rule="unique"),
        Column("sight", TEXT, rule="the sale event, e.g. 2026-03"),
        Column("sale_date", DATE),
        Column("seller_id", PARTY, rule="must exist"),
        Column("buyer_id", PARTY, rule="must exist"),
        Column("origin", ORIGIN),
        Column("assortment", TEXT, rule="the seller's category code"),
        _enum("model", rough.MODELS),
        Column("size_min_ct", CARATS, rule="smallest stone in the box, > 0"),
        Column("size_max_ct", CARATS, rule="largest stone, >= size_min_ct"),
        _enum("colour", rough.ROUGH_COLOURS),
        _enum("quality", rough.QUALITIES),
        Column("stones", INTEGER, rule="> 0"),
        Column("carats", CARATS, rule="> 0; carats / stones within [size_min_ct, size_max_ct]"),
        Column("price_usd", USD, rule="> 0"),
        Column("kp_certificate_id", TEXT, required=False),
    ),
    key=("box_id",),
    description="one row per box of rough sold at a sight",
)

POLISHED_OUTCOMES = Kind(
    "polished_outcomes",
    (
        Column("stone_id", TEXT, rule="a lab report number when lab is not none"),
        _enum("lab", grades.LABS),
        Column("sightholder_id", PARTY, rule="must have bought box_id"),
        Column("box_id", TEXT, rule="a rough_sales box"),
        Column("rough_stone_id", TEXT, required=False),
        Column("rough_carats", CARATS, required=False, rule="carat <= rough_carats"),
        Column("polished_date", DATE, rule="not before the box's sale_date"),
        _enum("shape", grades.SHAPES),
        Column("carat", CARATS, rule="> 0"),
        _enum("color", grades.COLOURS),
        _enum("clarity", grades.CLARITIES),
        _enum("cut", grades.CUTS, required=False),
    ),
    key=("lab", "stone_id", "sightholder_id", "box_id"),
    description="one row per polished stone cut from a box",
)

ROUGH_DISPOSITIONS = Kind(
    "rough_dispositions",
    (
        Column("sightholder_id", PARTY),
        Column("box_id", TEXT),
        _enum("disposition", rough.DISPOSITIONS),
        Column("carats", CARATS, rule="> 0"),
        Column("date", DATE),
        Column("counterparty_id", PARTY, required=False, rule="required for sold_rough"),
    ),
    key=(),
    description="rough from a box that was not (or not yet) polished",
)

TRANSACTIONS = Kind(
    "transactions",
    (
        Column("tx_id", TEXT, rule="unique"),
        Column("date", DATE),
        _enum("shape", grades.SHAPES),
        _enum("color", grades.COLOURS),
        _enum("clarity", grades.CLARITIES),
        _enum("cut", grades.CUTS, required=False),
        _enum("lab", grades.LABS, required=False),
        Column("carat", CARATS, rule="> 0"),
        Column("price_usd", USD, rule="total price of the stone, > 0"),
        _enum("price_type", rough.PRICE_TYPES, rule="asking rows are stored but never enter the price index"),
        Column("source", TEXT, required=False),
    ),
    key=("tx_id",),
    description="polished price records",
)

KP_CERTIFICATES = Kind(
    "kp_certificates",
    (
        Column("certificate_id", TEXT, rule="starts with the exporting country's alpha-2 code"),
        Column("exporting_country", COUNTRY),
        Column("importing_country", COUNTRY, rule="differs from exporting_country"),
        Column("origin", ORIGIN),
        Column("exporter_name", TEXT),
        Column("exporter_address", TEXT),
        Column("importer_name", TEXT),
        Column("importer_address", TEXT),
        Column("issuing_authority", TEXT),
        Column("issue_date", DATE),
        Column("expiry_date", DATE, rule="after issue_date"),
        Column("parcels", INTEGER, rule="> 0"),
        _enum("hs_code", tuple(kp.HS_CODES), rule="one line per code"),
        Column("carats", CARATS, rule="> 0"),
        Column("value_usd", USD, rule="> 0"),
    ),
    key=("certificate_id", "hs_code"),
    description="one row per HS-code line of a KP certificate",
)

PARCEL_CONTENTS = Kind(
    "parcel_contents",
    (
        Column("certificate_id", TEXT, rule="a known certificate"),
        _enum("hs_code", tuple(kp.HS_CODES), rule="a line of that certificate"),
        Column("assortment", TEXT),
        Column("carats", CARATS, rule="> 0; sums to at most the line's carats"),
    ),
    key=(),
    description="what a certificate's parcel holds, by assortment (optional)",
)

KINDS: dict[str, Kind] = {
    k.name: k
    for k in (PARTIES, ROUGH_SALES, POLISHED_OUTCOMES, ROUGH_DISPOSITIONS, TRANSACTIONS, KP_CERTIFICATES, PARCEL_CONTENTS)
}
"""Every input kind, in the order a store is best loaded (parties before the boxes that name them)."""

CERTIFICATE_LINE_COLUMNS = ("hs_code", "carats", "value_usd")
"""The kp_certificates columns that vary by line; every other column is a header field."""
