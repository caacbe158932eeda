"""Schema version 2: the transaction price index, the asking-to-transaction gap and the quote model.

Dollar figures are DECIMAL(18,2) (USD per carat, rounded to the cent); model coefficients are
dimensionless log-price terms kept as DOUBLE PRECISION.
"""

from __future__ import annotations

from ..store.port import Store
from ..store.schema import Migration

_CELL = """  period_start DATE NOT NULL,
  shape_family VARCHAR NOT NULL,
  size_bracket VARCHAR NOT NULL,
  color VARCHAR NOT NULL,
  clarity VARCHAR NOT NULL"""

INDEX_CELLS_DDL = f"""CREATE TABLE price_index_cells (
{_CELL},
  n_trades BIGINT NOT NULL,
  n_outliers BIGINT NOT NULL,
  median_ppc DECIMAL(18,2) NOT NULL,
  q25_ppc DECIMAL(18,2) NOT NULL,
  q75_ppc DECIMAL(18,2) NOT NULL,
  monotone_ppc DECIMAL(18,2) NOT NULL,
  PRIMARY KEY (period_start, shape_family, size_bracket, color, clarity)
)"""
"""One row per cell and period: trades counted after the outlier rule, their median and quartiles of
price per carat (the raw figures) and the monotone view beside them (USD per carat)."""

ASKING_GAP_DDL = f"""CREATE TABLE price_asking_gap (
{_CELL},
  n_asking BIGINT NOT NULL,
  n_trades BIGINT NOT NULL,
  asking_median_ppc DECIMAL(18,2) NOT NULL,
  transaction_median_ppc DECIMAL(18,2),
  gap_pct DECIMAL(18,2),
  PRIMARY KEY (period_start, shape_family, size_bracket, color, clarity)
)"""
"""Asking prices per cell and period beside the transaction median: gap_pct = asking / transaction - 1,
in percent (NULL when the cell saw no transaction)."""

PERIODS_DDL = """CREATE TABLE price_periods (
  period_start DATE PRIMARY KEY,
  fingerprint VARCHAR NOT NULL,
  n_trades BIGINT NOT NULL,
  n_asking BIGINT NOT NULL,
  headline DECIMAL(18,2),
  built_at TIMESTAMP NOT NULL
)"""
"""Each built period, with the fingerprint of its input rows (what lets a build recompute only the
periods whose transactions changed) and the headline composite index (first period = 100)."""

MODEL_DDL = """CREATE TABLE price_model (
  key VARCHAR PRIMARY KEY,
  value VARCHAR NOT NULL
)"""
"""The fitted hedonic model as JSON documents (terms, coefficients, ranges) and build settings."""

MODEL_EFFECTS_DDL = """CREATE TABLE price_model_effects (
  level VARCHAR NOT NULL,
  period_start DATE,
  shape_family VARCHAR NOT NULL,
  size_bracket VARCHAR NOT NULL,
  color VARCHAR NOT NULL,
  clarity VARCHAR NOT NULL,
  cut VARCHAR,
  n_trades BIGINT NOT NULL,
  effect DOUBLE PRECISION NOT NULL,
  scale DOUBLE PRECISION NOT NULL
)"""
"""Cell effects on top of the model (log price per carat): level `cell` pooled over periods,
`cell_period` one period, `cell_cut` one cut grade; `scale` is the robust spread of the trades."""

MIGRATION = Migration(
    version=2,
    description="price index cells, asking gap, index periods, quote model",
    statements=(INDEX_CELLS_DDL, ASKING_GAP_DDL, PERIODS_DDL, MODEL_DDL, MODEL_EFFECTS_DDL),
)

TABLES: tuple[str, ...] = ("price_index_cells", "price_asking_gap", "price_periods", "price_model", "price_model_effects")


def ensure_schema(store: Store) -> None:
    """Apply this migration to a store whose migration list does not include it yet (until the
    lead wires it in, and for tests); does nothing when the tables exist."""
    try:
        store.query("SELECT count(*) AS n FROM price_periods")
        return
    except Exception:  # the table is missing: apply the migration below
        pass
    with store.transaction():
        for statement in MIGRATION.statements:
            store.execute(statement)
