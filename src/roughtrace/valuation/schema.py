"""Valuation's tables (schema version 5): polished quotes used, box valuations, the rough price book.

Amounts are DECIMAL like every stored amount; ratios (yield, uplift) are DECIMAL(18,4).
"""

from __future__ import annotations

from ..domain.money import CARAT_SQL_TYPE as CT
from ..domain.money import USD_SQL_TYPE as USD
from ..store.schema import Migration

RATIO = "DECIMAL(18,4)"

POLISHED_QUOTES_DDL = f"""CREATE TABLE valuation_polished_quotes (
  shape_family VARCHAR NOT NULL,
  color VARCHAR NOT NULL,
  clarity VARCHAR NOT NULL,
  cut VARCHAR NOT NULL,
  carat_cents BIGINT NOT NULL,
  bracket VARCHAR NOT NULL,
  price_per_carat {USD} NOT NULL,
  cutting_cost_per_carat {USD} NOT NULL
)"""
"""The index price per polished carat the stones of the outcomes were valued at, at one reference
date: one row per shape family, colour, clarity, cut ('' when not graded) and weight truncated to the
hundredth of a carat (`carat_cents`) met in polished_outcomes, with the cost model's cutting cost."""

PRICE_MOVES_DDL = """CREATE TABLE valuation_price_moves (
  shape_family VARCHAR NOT NULL,
  bracket VARCHAR NOT NULL,
  color VARCHAR NOT NULL,
  clarity VARCHAR NOT NULL,
  month_key BIGINT NOT NULL,
  move DECIMAL(18,6) NOT NULL
)"""
"""How far each index cell's price moved from the reference date to a month (year x 100 + month) in
which stones of that cell were polished: price at the month / price at the reference date."""

BOX_VALUATIONS_DDL = f"""CREATE TABLE box_valuations (
  box_id VARCHAR NOT NULL,
  buyer_id VARCHAR NOT NULL,
  sight VARCHAR NOT NULL,
  sale_date DATE NOT NULL,
  period VARCHAR NOT NULL,
  origin VARCHAR NOT NULL,
  assortment VARCHAR NOT NULL,
  model VARCHAR NOT NULL,
  quality VARCHAR NOT NULL,
  hs_code VARCHAR NOT NULL,
  box_carats {CT} NOT NULL,
  polished_rough_carats {CT} NOT NULL,
  stones_polished BIGINT NOT NULL,
  polished_carats {CT} NOT NULL,
  polished_total_usd {USD} NOT NULL,
  cutting_costs_usd {USD} NOT NULL,
  rough_value_usd {USD} NOT NULL,
  rough_price_per_carat {USD} NOT NULL,
  paid_usd {USD} NOT NULL,
  paid_per_carat {USD} NOT NULL,
  uplift {RATIO},
  yield_ {RATIO},
  in_book BOOLEAN NOT NULL,
  excluded_reason VARCHAR,
  priced_as_of DATE,
  cost_model VARCHAR NOT NULL,
  built_at TIMESTAMP NOT NULL
)"""
"""Each box with a reported outcome, valued by price reverse engineering: `polished_rough_carats` are
the box's carats less the rough declared in rough_dispositions; `uplift` = reverse-engineered rough
price per carat / price paid per carat - 1; `priced_as_of` is NULL when each stone was priced as of its
polished date; `hs_code` is the KP class the box's rough ships under (valuation.hs.hs_class)."""

PRICE_BOOK_DDL = f"""CREATE TABLE rough_price_book (
  assortment VARCHAR NOT NULL,
  hs_code VARCHAR NOT NULL,
  origin VARCHAR NOT NULL,
  period VARCHAR NOT NULL,
  level VARCHAR NOT NULL,
  model VARCHAR,
  quality VARCHAR,
  boxes BIGINT NOT NULL,
  rough_carats {CT} NOT NULL,
  polished_carats {CT} NOT NULL,
  price_per_carat {USD} NOT NULL,
  mean_price_per_carat {USD} NOT NULL,
  p10_per_carat {USD} NOT NULL,
  p90_per_carat {USD} NOT NULL,
  paid_per_carat {USD},
  uplift_median {RATIO},
  yield_median {RATIO},
  yield_p10 {RATIO},
  yield_p90 {RATIO},
  median_box_carats {CT},
  price_se {RATIO},
  box_spread {RATIO},
  cost_model VARCHAR NOT NULL,
  built_at TIMESTAMP NOT NULL
)"""
"""The rough price book built from tracked boxes. One row per (assortment, origin, period) and per
broader grouping, where `*` stands for any: `level` names the grouping (pricebook.LEVELS). `hs_code`
is the KP class the assortment ships under (valuation.hs.hs_class). `price_per_carat` is the
median reverse-engineered rough price per carat over the group's boxes; p10/p90 the band;
`mean_price_per_carat` the carat-weighted mean; `box_spread` the robust spread of box prices (natural
log), `price_se` the standard error of `price_per_carat` (natural log). Entries of the level `assortment/period fitted` come
from the two-way fit of pricebook.fit_assortment_period instead (no paid figures)."""

CUTTER_LEVELS_DDL = """CREATE TABLE valuation_cutter_levels (
  sightholder_id VARCHAR NOT NULL,
  level DECIMAL(18,4) NOT NULL,
  boxes BIGINT NOT NULL,
  built_at TIMESTAMP NOT NULL
)"""
"""Each sightholder's cutter level from the price book's fit (natural log, 0 = the typical cutter):
how much more (or less) rough value per carat its reported outcomes show than the typical cutter's
for the same assortment and period. Skill and technology, or outcomes claiming too much."""

MIGRATION = Migration(
    version=5,
    description="valuation: polished quotes used, box valuations, rough price book, cutter levels",
    statements=(POLISHED_QUOTES_DDL, PRICE_MOVES_DDL, BOX_VALUATIONS_DDL, PRICE_BOOK_DDL, CUTTER_LEVELS_DDL),
    postgres_only=(
        "CREATE INDEX box_valuations_box ON box_valuations (box_id)",
        "CREATE INDEX rough_price_book_key ON rough_price_book (assortment, origin, period)",
        "CREATE INDEX valuation_polished_quotes_key ON valuation_polished_quotes "
        "(shape_family, color, clarity, cut, carat_cents)",
    ),
)

BOOK_BUILDS = Migration(
    version=16,
    description="PostgreSQL: the price book's newest build found by index",
    statements=(),
    postgres_only=("CREATE INDEX IF NOT EXISTS rough_price_book_built ON rough_price_book (built_at)",),
)
"""What a kept whole-market view depends on is read at each request (`app.market_views`), the
price book's newest build among it: by index rather than over every entry."""

MIGRATIONS: tuple[Migration, ...] = (MIGRATION, BOOK_BUILDS)
