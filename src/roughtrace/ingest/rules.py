"""Validation rules, as a registry of small SQL predicates the engine runs over whole columns.

Every rule has a stable code, the column it reports on, a predicate that is TRUE for a record that
breaks it, and a message template in the trade's words (`{column}` placeholders show the value as
the file wrote it). Stage 1 rules look at one record alone; stage 2 rules look at other records of
the file or at the store (references, duplicates) and are registered per kind in `stage2.py`, their
SQL beside their messages. Each rule is one bit of a record's problem mask.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..domain import countries, kinds
from ..domain.kinds import Kind
from ..domain.money import CARAT_PLACES, USD_PLACES
from ..store.schema import SQL_TYPES

NUMBER = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)"
INTEGER = r"[+-]?[0-9]+"
ISO_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"


@dataclass(frozen=True)
class Notation:
    """How a file writes numbers and dates when it does not write them as the contract does (a
    mapping profile says): the decimal mark, the mark between thousands, and strptime formats
    for date columns. Values are read by these rules exactly, as text, never through a float."""

    decimal: str = "."
    thousands: str = ""
    date_formats: dict[str, str] = field(default_factory=dict)
    """Contract date column -> format such as `%d/%m/%Y`."""

    @property
    def plain_numbers(self) -> bool:
        return self.decimal == "." and not self.thousands

    def number_pattern(self, decimals: bool = True) -> str:
        """A regex (RE2) of a number well written in this notation: groups of three digits between
        thousands marks, or no mark at all; with `decimals`, a decimal part after the mark."""
        whole = "[0-9]+" if not self.thousands else f"[0-9]{{1,3}}({re.escape(self.thousands)}[0-9]{{3}})+|[0-9]+"
        if not decimals:
            return f"[+-]?({whole})"
        mark = re.escape(self.decimal)
        return f"[+-]?(({whole})({mark}[0-9]*)?|{mark}[0-9]+)"

    def contract_text(self, v: str) -> str:
        """SQL: the number text `v` written as the contract writes it (marks between thousands
        dropped, the decimal mark made '.'); meaningful where `v` meets `number_pattern`."""
        text = f"replace({v}, {q(self.thousands)}, '')" if self.thousands else v
        return f"replace({text}, {q(self.decimal)}, '.')" if self.decimal != "." else text

    def described(self) -> str:
        """The notation in words, for messages."""
        between = f", {self.thousands!r} between thousands" if self.thousands else ""
        return f"{self.decimal!r} as decimal point{between}, as the mapping profile says"


PLAIN = Notation()


@dataclass(frozen=True)
class Rule:
    code: str
    column: str
    bad: str
    """SQL, TRUE when the record breaks the rule (stage 1: over `v_<col>` texts and typed columns)."""
    message: str
    """Template: literal text with {column} placeholders for values as written."""
    stage: int = 1


CONTROL_CHARACTERS = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F]"
"""The control characters no value may hold (formats.md): all of U+0000-U+001F and U+007F but
tab, line feed and carriage return. Matched by the engine, so both stores reject alike."""


def q(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def message_sql(template: str) -> str:
    """Compile a message template into a SQL string expression over `v_<col>` columns."""
    parts = re.split(r"\{(\w+)\}", template)
    pieces = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            if part:
                pieces.append(q(part))
        else:
            pieces.append(f"coalesce(v_{part}, '')")
    return " || ".join(pieces) if pieces else "''"


# -- typed values ----------------------------------------------------------------------------------
def _decimal_places(column: kinds.Column) -> int:
    return CARAT_PLACES if column.type == kinds.CARATS else USD_PLACES


def _excess_decimals(places: int) -> str:
    """A regex matching a non-zero digit beyond `places` decimals (trailing zeros are fine)."""
    return r"\.[0-9]{" + str(places) + r"}0*[1-9]"


def typed_sql(column: kinds.Column, notation: Notation = PLAIN) -> str:
    """The typed value of a column from its trimmed text `v_<name>` (written in `notation`); NULL
    when it is not valid."""
    v = f"v_{column.name}"
    if column.type in (kinds.TEXT, kinds.PARTY):
        return v
    if column.type == kinds.ENUM:
        cases = " ".join(f"WHEN {q(value.upper())} THEN {q(value)}" for value in column.values)
        canonical = ", ".join(q(value) for value in column.values)
        return f"CASE WHEN {v} IN ({canonical}) THEN {v} ELSE CASE upper({v}) {cases} END END"
    if column.type == kinds.COUNTRY:
        return f"CASE WHEN upper({v}) IN ({_country_list()}) THEN upper({v}) END"
    if column.type == kinds.ORIGIN:
        return f"CASE WHEN lower({v}) = 'mixed' THEN 'mixed' WHEN upper({v}) IN ({_country_list()}) THEN upper({v}) END"
    if column.type == kinds.DATE:
        # the LIKE shape plus the cast (which accepts digits only) is the rule ISO_DATE states
        iso = f"CASE WHEN {v} LIKE '____-__-__' THEN TRY_CAST({v} AS DATE) END"
        written = notation.date_formats.get(column.name)
        return f"coalesce(TRY_CAST(try_strptime({v}, {q(written)}) AS DATE), {iso})" if written else iso
    if column.type in (kinds.CARATS, kinds.USD) and not notation.plain_numbers:
        exact = r"[0-9]+(\.[0-9]{0,P}0*)?|\.[0-9]{1,P}0*".replace("P", str(_decimal_places(column)))
        text = notation.contract_text(v)
        return (f"CASE WHEN regexp_full_match({v}, {q(notation.number_pattern())}) AND regexp_full_match(ltrim({text}, '+-'), {q(exact)}) "
                f"THEN TRY_CAST({text} AS {SQL_TYPES[column.type]}) END")
    if column.type == kinds.INTEGER and notation.thousands:
        return f"CASE WHEN regexp_full_match({v}, {q(notation.number_pattern(decimals=False))}) THEN TRY_CAST({notation.contract_text(v)} AS BIGINT) END"
    if column.type in (kinds.CARATS, kinds.USD):
        places = _decimal_places(column)
        # one regex: a plain decimal with at most `places` significant decimals (trailing zeros
        # allowed), then the exact cast (which only fails here on overflow). First, a cheaper test
        # that passes most well-written values: text that starts the cast value as the engine prints
        # it ('1.25' of '1.250', '3' of '3.000') is plain and exact; the rest meets the regex
        # (same verdicts, tested; a third of the typing's time on a carat column)
        exact = r"[+-]?([0-9]+(\.[0-9]{0,P}0*)?|\.[0-9]{1,P}0*)".replace("P", str(places))
        cast = f"TRY_CAST({v} AS {SQL_TYPES[column.type]})"
        return f"CASE WHEN starts_with(CAST({cast} AS VARCHAR), {v}) THEN {cast} WHEN regexp_full_match({v}, {q(exact)}) THEN {cast} END"
    if column.type == kinds.INTEGER:
        return f"CASE WHEN regexp_full_match({v}, {q(INTEGER)}) THEN TRY_CAST({v} AS BIGINT) END"
    raise ValueError(column.type)


_COUNTRY_LIST: str | None = None


def _country_list() -> str:
    global _COUNTRY_LIST
    if _COUNTRY_LIST is None:
        _COUNTRY_LIST = ", ".join(q(code) for code in sorted(countries.ALPHA2))
    return _COUNTRY_LIST


# -- stage 1: one record alone -----------------------------------------------------------------------
def column_rules(column: kinds.Column, max_text_length: int, notation: Notation = PLAIN) -> list[Rule]:
    """The rules every value of a column obeys, from its type in the contract, its values read in
    `notation`."""
    name, v, t = column.name, f"v_{column.name}", column.name
    rules: list[Rule] = []
    if column.required:
        rules.append(Rule("missing_value", name, f"{v} IS NULL", f"{name} is required but empty"))
    if column.type in (kinds.TEXT, kinds.PARTY):
        rules.append(Rule("too_long", name, f"length({v}) > {int(max_text_length)}",
                          f"{name} is longer than {max_text_length} characters"))
        rules.append(Rule("control_character", name, f"regexp_matches({v}, {q(CONTROL_CHARACTERS)})",
                          f"{name} holds a control character (such as NUL): only tabs and line breaks may stand inside a value"))
    elif column.type == kinds.ENUM:
        shown = ", ".join(column.values) if len(column.values) <= 12 else f"{column.values[0]} to {column.values[-2]}, {column.values[-1]}"
        rules.append(Rule("unknown_value", name, f"{v} IS NOT NULL AND {t} IS NULL",
                          f"'{{{name}}}' is not a known {name}: use one of {shown}"))
    elif column.type in (kinds.COUNTRY, kinds.ORIGIN):
        extra = " or mixed" if column.type == kinds.ORIGIN else ""
        rules.append(Rule("unknown_country", name, f"{v} IS NOT NULL AND {t} IS NULL",
                          f"'{{{name}}}' is not an ISO 3166-1 alpha-2 country code (such as BW, ZA, BE){extra}"))
    elif column.type == kinds.DATE:
        written = notation.date_formats.get(name)
        shown = f"{written} (the mapping profile's format) or YYYY-MM-DD" if written else "YYYY-MM-DD"
        rules.append(Rule("bad_date", name, f"{v} IS NOT NULL AND {t} IS NULL",
                          f"'{{{name}}}' is not a real date written {shown}"))
    elif column.type in (kinds.CARATS, kinds.USD) and not notation.plain_numbers:
        places = _decimal_places(column)
        unit = "carats" if column.type == kinds.CARATS else "US dollars"
        pattern, text = q(notation.number_pattern()), notation.contract_text(v)
        rules += [
            Rule("not_a_number", name, f"{v} IS NOT NULL AND NOT regexp_full_match({v}, {pattern})",
                 f"'{{{name}}}' is not a number of {unit} written with {notation.described()} (no exponent, NaN or infinity)"),
            Rule("too_many_decimals", name, f"regexp_full_match({v}, {pattern}) AND regexp_matches({text}, {q(_excess_decimals(places))})",
                 f"'{{{name}}}' has more than {places} decimals; {unit} are stored exactly and never rounded"),
            Rule("out_of_range", name,
                 f"regexp_full_match({v}, {pattern}) AND NOT regexp_matches({text}, {q(_excess_decimals(places))}) AND {t} IS NULL",
                 f"'{{{name}}}' is too large to be {unit}"),
            Rule("not_positive", name, f"{t} <= 0", f"{name} must be above 0, not {{{name}}}"),
        ]
    elif column.type in (kinds.CARATS, kinds.USD):
        places = _decimal_places(column)
        unit = "carats" if column.type == kinds.CARATS else "US dollars"
        rules += [
            Rule("not_a_number", name, f"{v} IS NOT NULL AND NOT regexp_full_match({v}, {q(NUMBER)})",
                 f"'{{{name}}}' is not a plain decimal number of {unit} (digits with '.' as decimal point; no exponent, NaN, infinity or thousands separator)"),
            Rule("too_many_decimals", name,
                 f"regexp_full_match({v}, {q(NUMBER)}) AND regexp_matches({v}, {q(_excess_decimals(places))})",
                 f"'{{{name}}}' has more than {places} decimals; {unit} are stored exactly and never rounded"),
            Rule("out_of_range", name,
                 f"regexp_full_match({v}, {q(NUMBER)}) AND NOT regexp_matches({v}, {q(_excess_decimals(places))}) AND {t} IS NULL",
                 f"'{{{name}}}' is too large to be {unit}"),
            Rule("not_positive", name, f"{t} <= 0", f"{name} must be above 0, not {{{name}}}"),
        ]
    elif column.type == kinds.INTEGER:
        rules += [
            Rule("not_an_integer", name, f"{v} IS NOT NULL AND {t} IS NULL", f"'{{{name}}}' is not a whole number"),
            Rule("not_positive", name, f"{t} <= 0", f"{name} must be above 0, not {{{name}}}"),
        ]
    return rules


RECORD_RULES: dict[str, list[Rule]] = {
    "parties": [
        Rule("category_required", "category", "role = 'sightholder' AND v_category IS NULL",
             "a sightholder needs a category: manufacturer, dealer or retailer"),
        Rule("category_not_allowed", "category", "role IS NOT NULL AND role <> 'sightholder' AND v_category IS NOT NULL",
             "category is only for sightholders; leave it empty for a {role}"),
    ],
    "rough_sales": [
        Rule("size_range", "size_max_ct", "size_max_ct < size_min_ct",
             "the largest stone ({size_max_ct} ct) is smaller than the smallest ({size_min_ct} ct)"),
        Rule("average_size", "carats",
             "size_max_ct >= size_min_ct AND stones > 0 AND (carats < stones * size_min_ct OR carats > stones * size_max_ct)",
             "{carats} ct in {stones} stones averages outside the box's size range {size_min_ct} to {size_max_ct} ct a stone"),
    ],
    "polished_outcomes": [
        Rule("larger_than_rough", "carat", "rough_carats IS NOT NULL AND carat > rough_carats",
             "the polished stone ({carat} ct) is heavier than the rough stone it came from ({rough_carats} ct)"),
    ],
    "rough_dispositions": [
        Rule("counterparty_required", "counterparty_id", "disposition = 'sold_rough' AND v_counterparty_id IS NULL",
             "rough sold as rough needs the counterparty_id of the buyer"),
    ],
    "kp_certificates": [
        Rule("same_country", "importing_country", "importing_country = exporting_country",
             "the importing country must differ from the exporting country ({exporting_country})"),
        Rule("certificate_prefix", "certificate_id",
             "exporting_country IS NOT NULL AND v_certificate_id IS NOT NULL AND NOT starts_with(upper(v_certificate_id), exporting_country)",
             "certificate number '{certificate_id}' must start with the exporting country's code ({exporting_country})"),
        Rule("expiry_not_after_issue", "expiry_date", "expiry_date <= issue_date",
             "the expiry date {expiry_date} must be after the issue date {issue_date}"),
    ],
}

# -- stage 2: the codes of identity, whose checks and messages live in `stage2.py` ---------------------
DUPLICATE_IN_FILE, ALREADY_STORED = "duplicate_id", "already_stored"


@dataclass(frozen=True)
class RuleBook:
    """Every rule of one kind, numbered: a rule's number is its bit in the problem mask."""

    kind: Kind
    rules: tuple[Rule, ...]
    notation: Notation = PLAIN

    def bit(self, code: str, column: str) -> int:
        for i, rule in enumerate(self.rules):
            if rule.code == code and rule.column == column:
                return i
        raise KeyError((code, column))

    def mask_sql(self, stage: int = 1) -> str:
        """The precise problem mask: one bit per broken rule (used for rejected records only)."""
        terms = [f"CASE WHEN coalesce({r.bad}, false) THEN {1 << i}::HUGEINT ELSE 0::HUGEINT END"
                 for i, r in enumerate(self.rules) if r.stage == stage]
        return " | ".join(terms) if terms else "0::HUGEINT"

    def any_broken_sql(self, max_text_length: int) -> str:
        """TRUE exactly when some stage-1 rule is broken, computed cheaply for every record: a
        typed value is NULL precisely when one of its column's type rules fails (or the value is
        missing), so the type rules need no regex of their own here; a text's characters are
        counted only when its bytes exceed the limit; one OR of every term, NULL read as FALSE.
        The precise codes are worked out for rejected records only."""
        terms: list[str] = []
        limit = int(max_text_length)
        for column in self.kind.columns:
            v, t = f"v_{column.name}", column.name
            if column.type in (kinds.TEXT, kinds.PARTY):
                if column.required:
                    terms.append(f"{v} IS NULL")
                terms.append(f"CASE WHEN strlen({v}) > {limit} THEN length({v}) > {limit} ELSE false END")
                terms.append(f"regexp_matches({v}, {q(CONTROL_CHARACTERS)})")
            else:
                terms.append(f"{t} IS NULL" if column.required else f"({v} IS NOT NULL AND {t} IS NULL)")
            if column.type in (kinds.CARATS, kinds.USD, kinds.INTEGER):
                terms.append(f"{t} <= 0")
        terms += [r.bad for r in RECORD_RULES.get(self.kind.name, [])]
        return "coalesce(" + " OR ".join(f"({term})" for term in terms) + ", false)"


def rule_book(kind: Kind, max_text_length: int, notation: Notation = PLAIN) -> RuleBook:
    """All rules of `kind`, stage 1 first, then references and identity; values read in `notation`."""
    rules: list[Rule] = []
    for column in kind.columns:
        rules += column_rules(column, max_text_length, notation)
    rules += RECORD_RULES.get(kind.name, [])
    from .stage2 import stage2_rules  # the checks are written over an import job, which needs the rule book

    rules += stage2_rules(kind)
    if len(rules) > 127:
        raise ValueError(f"{kind.name} has more rules than a problem mask holds")
    return RuleBook(kind, tuple(rules), notation)


def all_codes() -> dict[str, str]:
    """Every error code with one example message, for the docs and their test."""
    seen: dict[str, str] = {}
    for kind in kinds.KINDS.values():
        for rule in rule_book(kind, 1000).rules:
            seen.setdefault(rule.code, rule.message)
    return seen
