"""The PostgreSQL adapter's bulk paths: binary COPY stores what CSV would have stored, whatever the
values; a referenced table's rows reach the import engine the same whichever way they are found."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roughtrace.store import open_store, pg_binary
from roughtrace.store.duckdb import engine_connection
from roughtrace.store.postgres import PostgresStore, _csv, _made_ahead

COLUMNS = {
    "word": ("VARCHAR", pa.string()),
    "code": ("VARCHAR", pa.string()),
    "carats": ("DECIMAL(18,3)", pa.decimal128(18, 3)),
    "dollars": ("DECIMAL(18,2)", pa.decimal128(18, 2)),
    "fine": ("DECIMAL(12,7)", pa.decimal128(12, 7)),
    "tiny": ("DECIMAL(18,17)", pa.decimal128(18, 17)),  # 18 digits after the point: five digit groups
    "whole": ("DECIMAL(18,0)", pa.decimal128(18, 0)),
    "day": ("DATE", pa.date32()),
    "count": ("BIGINT", pa.int64()),
    "small": ("INTEGER", pa.int32()),
    "flag": ("BOOLEAN", pa.bool_()),
    "ratio": ("DOUBLE PRECISION", pa.float64()),
    "hash": ("BYTEA", pa.binary()),
}


def _decimal(precision: int, scale: int) -> st.SearchStrategy[Decimal]:
    bound = 10**precision - 1
    return st.integers(-bound, bound).map(lambda n: Decimal(n).scaleb(-scale))


VALUES = {
    "word": st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=12),
    "code": st.sampled_from(["GIA", "IGI", "HRD", "AGS"]),  # one width: laid out as a matrix
    "carats": _decimal(18, 3),
    "dollars": _decimal(18, 2),
    "fine": _decimal(12, 7),
    "tiny": _decimal(18, 17),
    "whole": _decimal(18, 0),
    "day": st.dates(datetime.date(1, 1, 1), datetime.date(9999, 12, 31)),
    "count": st.integers(-(2**63), 2**63 - 1),
    "small": st.integers(-(2**31), 2**31 - 1),
    "flag": st.booleans(),
    "ratio": st.floats(allow_nan=False, allow_infinity=False),
    "hash": st.binary(max_size=40),
}


@pytest.fixture
def pg(pg_url: str) -> Iterator[PostgresStore]:
    schema = "rt_" + uuid.uuid4().hex[:12]
    admin = open_store(pg_url)
    admin.execute(f"CREATE SCHEMA {schema}")
    store = open_store(f"{pg_url}{'&' if '?' in pg_url else '?'}options=-csearch_path%3D{schema}")
    try:
        for name in ("sent_binary", "sent_csv"):
            store.execute(f"CREATE TABLE {name} (n BIGINT, {', '.join(f'{c} {t}' for c, (t, _) in COLUMNS.items())})")
        yield store
    finally:
        store.close()
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


def _rows(draw: st.DrawFn) -> pa.Table:
    n = draw(st.integers(0, 30))
    columns = {"n": pa.array(range(n), pa.int64())}
    for name, (_, arrow_type) in COLUMNS.items():
        nulls = draw(st.sampled_from(["none", "some", "all"]))
        value = VALUES[name] if nulls == "none" else st.none() if nulls == "all" else st.none() | VALUES[name]
        columns[name] = pa.array(draw(st.lists(value, min_size=n, max_size=n)), arrow_type)
    return pa.table(columns)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])  # tables emptied per example
@given(st.data())
def test_binary_copy_stores_what_csv_stores(pg: PostgresStore, data: st.DataObject) -> None:
    rows = data.draw(st.composite(lambda draw: _rows(draw))())
    offset = data.draw(st.integers(0, rows.num_rows))
    rows = rows.slice(offset)  # Arrow slices start inside their buffers: offsets must be honoured
    pg.execute("TRUNCATE sent_binary, sent_csv")
    assert pg.append("sent_binary", rows) == rows.num_rows
    with pg.con.cursor() as cur, cur.copy(f"COPY sent_csv ({', '.join(rows.schema.names)}) FROM STDIN (FORMAT csv)") as copy:
        for batch in rows.to_batches():
            copy.write(_csv(batch))
    columns = ", ".join(f"{c}::text" for c in rows.schema.names)
    binary = pg.rows(f"SELECT {columns} FROM sent_binary ORDER BY n")
    csv = pg.rows(f"SELECT {columns} FROM sent_csv ORDER BY n")
    assert binary == csv
    back = pg.rows("SELECT carats, whole, day, word, hash FROM sent_binary ORDER BY n")
    assert [r["carats"] for r in back] == rows.column("carats").to_pylist()
    assert [r["day"] for r in back] == rows.column("day").to_pylist()
    assert [r["word"] for r in back] == rows.column("word").to_pylist()
    assert [None if r["hash"] is None else bytes(r["hash"]) for r in back] == rows.column("hash").to_pylist()


def test_a_column_without_a_binary_form_falls_back_to_csv(pg: PostgresStore) -> None:
    """Narrowing an integer, or a decimal wider than 18 digits, is never sent in binary form."""
    assert not pg_binary.encodable(pa.int64(), "integer")
    assert not pg_binary.encodable(pa.uint64(), "bigint")
    assert not pg_binary.encodable(pa.decimal128(30, 3), "numeric")
    assert not pg_binary.encodable(pa.string(), "numeric")
    assert pg_binary.encodable(pa.int32(), "bigint") and pg_binary.encodable(pa.null(), "date")
    rows = pa.table({"n": pa.array([1, 2], pa.int64()), "small": pa.array([7, None], pa.int64()),
                     "carats": pa.array([Decimal("1.250"), Decimal("-0.001")], pa.decimal128(30, 3))})
    assert pg.append("sent_binary", rows) == 2
    assert pg.rows("SELECT small, carats FROM sent_binary ORDER BY n") == [
        {"small": 7, "carats": Decimal("1.250")}, {"small": None, "carats": Decimal("-0.001")}]


def test_a_value_the_column_refuses_fails_the_copy_and_the_transaction(pg: PostgresStore) -> None:
    pg.execute("CREATE TABLE narrow (carats DECIMAL(5,3))")
    rows = pa.table({"carats": pa.array([Decimal("1.250"), Decimal("123.000")], pa.decimal128(18, 3))})
    with pytest.raises(Exception, match="numeric field overflow"), pg.transaction():  # noqa: B017
        pg.append("narrow", rows)
    assert pg.rows("SELECT count(*) AS n FROM narrow") == [{"n": 0}]


def test_blocks_made_ahead_arrive_in_order_and_errors_reach_the_consumer() -> None:
    assert list(_made_ahead(iter(range(50)))) == list(range(50))

    def failing() -> Iterator[int]:
        yield 1
        raise ValueError("the engine ran out of memory")

    with pytest.raises(ValueError, match="out of memory"):
        list(_made_ahead(failing()))
    made: list[int] = []

    def counted() -> Iterator[int]:
        for i in range(1000):
            made.append(i)
            yield i

    for _ in zip(range(3), _made_ahead(counted(), depth=2), strict=False):
        pass
    assert len(made) < 10  # a consumer that stops early stops the producer


@pytest.mark.parametrize("stored", [2, 5, 400])
def test_reference_fetches_the_rows_the_file_names_whichever_side_is_smaller(pg: PostgresStore, stored: int) -> None:
    """A table with no more rows than the file has keys is read whole; a bigger one is sent the
    file's keys. Either way the engine gets exactly the stored rows named."""
    pg.execute("CREATE TABLE sales (box_id VARCHAR, buyer_id VARCHAR, sale_date DATE)")
    pg.append("sales", pa.table({
        "box_id": [f"B{i}" for i in range(stored)],
        "buyer_id": [f"SH{i % 3}" if i % 4 else None for i in range(stored)],
        "sale_date": pa.array([datetime.date(2026, 1, 1 + i % 28) for i in range(stored)], pa.date32()),
    }))
    engine = engine_connection()
    try:
        engine.execute("CREATE TEMP TABLE staged AS SELECT * FROM (VALUES ('B1'), ('B1'), ('B3'), (NULL), ('X9'), ('')) AS t(box_id)")
        name = pg.reference(engine, "sales", {"box_id": "VARCHAR", "buyer_id": "VARCHAR", "sale_date": "DATE"}, ("box_id",), "staged")
        got = engine.sql(f"SELECT * FROM {name} ORDER BY box_id").fetchall()
    finally:
        engine.close()
    assert got == [("B1", "SH1", datetime.date(2026, 1, 2)), ("B3", "SH0", datetime.date(2026, 1, 4))][: 1 if stored == 2 else 2]


def _engine_with(rows: str) -> object:
    engine = engine_connection()
    engine.execute(f"CREATE TEMP TABLE staged AS SELECT * FROM (VALUES {rows}) AS t(box_id, carats)")
    return engine


def test_rows_written_behind_are_there_for_the_next_statement_and_commit_with_it(pg: PostgresStore) -> None:
    pg.execute("CREATE TABLE boxes (box_id VARCHAR, carats DECIMAL(18,3))")
    engine = _engine_with("('B1', 1.250::DECIMAL(18,3)), ('B2', 0.001)")
    try:
        with pg.transaction():
            pg.write_from(engine, "boxes", "SELECT * FROM staged")
            pg.execute("INSERT INTO boxes VALUES (?, ?)", ("B3", Decimal("2.000")))  # queued behind the rows
            engine.execute("CREATE TEMP TABLE meanwhile AS SELECT count(*) AS n FROM staged")  # the engine is free
            assert pg.rows("SELECT count(*) AS n FROM boxes") == [{"n": 3}]
            pg.write_from(engine, "boxes", "SELECT box_id || 'x' AS box_id, carats FROM staged")
        assert pg.rows("SELECT box_id, carats FROM boxes ORDER BY box_id") == [
            {"box_id": b, "carats": Decimal(c)} for b, c in
            [("B1", "1.250"), ("B1x", "1.250"), ("B2", "0.001"), ("B2x", "0.001"), ("B3", "2.000")]]
    finally:
        engine.close()


def test_a_write_behind_the_server_refuses_fails_the_transaction_and_stores_nothing(pg: PostgresStore) -> None:
    pg.execute("CREATE TABLE boxes (box_id VARCHAR, carats DECIMAL(5,3))")
    engine = _engine_with("('B1', 1.250::DECIMAL(18,3)), ('B2', 123.000)")
    try:
        with pytest.raises(Exception, match="numeric field overflow"), pg.transaction():  # noqa: B017
            pg.write_from(engine, "boxes", "SELECT * FROM staged")
            pg.execute("INSERT INTO boxes VALUES (?, ?)", ("B3", Decimal("2.000")))
            pg.rows("SELECT 1 AS one")  # where the refusal is raised, if not already
        assert pg.rows("SELECT count(*) AS n FROM boxes") == [{"n": 0}]
        with pytest.raises(RuntimeError), pg.transaction():  # the import fails on its own while rows are written
            pg.write_from(engine, "boxes", "SELECT box_id, 1.000::DECIMAL(18,3) AS carats FROM staged")
            raise RuntimeError("the engine ran out of memory")
        assert pg.rows("SELECT count(*) AS n FROM boxes") == [{"n": 0}]
        with pg.transaction():  # the connection is usable again
            pg.write_from(engine, "boxes", "SELECT box_id, 1.000::DECIMAL(18,3) AS carats FROM staged")
        assert pg.rows("SELECT count(*) AS n FROM boxes") == [{"n": 2}]
    finally:
        engine.close()


def _indexes(pg: PostgresStore, table: str) -> list[str]:
    return [r["d"] for r in pg.rows("SELECT pg_get_indexdef(indexrelid) AS d FROM pg_index "
                                    "WHERE indrelid = CAST(? AS regclass) ORDER BY 1", (table,))]


def test_a_bulk_write_rebuilds_the_tables_plain_indexes_after_its_rows(pg: PostgresStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from roughtrace.store import postgres

    monkeypatch.setattr(postgres, "BULK_ROWS", 2)
    pg.execute("CREATE TABLE boxes (box_id VARCHAR PRIMARY KEY, carats DECIMAL(18,3))")
    pg.execute("CREATE INDEX boxes_carats ON boxes (carats, box_id)")
    before = _indexes(pg, "boxes")
    engine = _engine_with("('B1', 1.250::DECIMAL(18,3)), ('B2', 0.001), ('B3', 2.000)")
    try:
        assert [name for name, _ in pg._indexes_to_rebuild("boxes", 3)] == [before[0].split()[2]]  # the key stays
        assert pg._indexes_to_rebuild("boxes", 1) == []  # under BULK_ROWS
        with pytest.raises(RuntimeError), pg.transaction():  # a bulk write that fails: the index is still there
            pg.write_from(engine, "boxes", "SELECT * FROM staged", rows=3)
            raise RuntimeError("the import stopped")
        assert _indexes(pg, "boxes") == before and pg.rows("SELECT count(*) AS n FROM boxes") == [{"n": 0}]
        with pg.transaction():
            pg.write_from(engine, "boxes", "SELECT * FROM staged", rows=3)
            assert pg.rows("SELECT count(*) AS n FROM boxes WHERE carats > 1") == [{"n": 2}]  # read behind the build
        assert _indexes(pg, "boxes") == before
        assert pg.rows("SELECT box_id FROM boxes ORDER BY carats") == [{"box_id": b} for b in ("B2", "B1", "B3")]
        assert pg._indexes_to_rebuild("boxes", 2) == []  # the table now holds more rows than the write brings
    finally:
        engine.close()


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_the_c_encoder_writes_the_bytes_the_numpy_one_does(data: st.DataObject) -> None:
    if pg_binary.native is None:
        pytest.skip("installed without a C compiler: only the numpy encoder is there")
    rows = data.draw(st.composite(lambda draw: _rows(draw))())
    rows = rows.slice(data.draw(st.integers(0, rows.num_rows)))
    types = ["bigint"] + [_PG_TYPES[c] for c in COLUMNS]
    for batch in rows.to_batches():
        assert pg_binary._native_spec(batch, types) is not None
        written = pg_binary.encode(batch, types).to_pybytes()
        native, pg_binary.native = pg_binary.native, None
        try:
            assert written == pg_binary.encode(batch, types).to_pybytes()
        finally:
            pg_binary.native = native


_PG_TYPES = {"word": "text", "code": "text", "carats": "numeric", "dollars": "numeric", "fine": "numeric", "tiny": "numeric",
             "whole": "numeric",
             "day": "date", "count": "bigint", "small": "integer", "flag": "boolean", "ratio": "double precision", "hash": "bytea"}


def test_an_empty_result_keeps_its_columns_types(pg: PostgresStore) -> None:
    """No row to infer a type from: each column takes the type the server declares, so an engine
    that reads the table (DuckDB) is not handed NULL-typed columns."""
    empty = pg.query(f"SELECT {', '.join(COLUMNS)}, SUM(carats) OVER () AS total FROM sent_csv")
    assert empty.num_rows == 0
    assert {f.name: f.type for f in empty.schema} == {**{c: t for c, (_, t) in COLUMNS.items()},
                                                      "total": pa.decimal128(38, 10)}
    nulls = pg.query("SELECT NULL::DATE AS day, MAX(carats) AS carats, COUNT(*) AS n FROM sent_csv")
    assert nulls.schema.field("day").type == pa.date32() and pa.types.is_decimal(nulls.schema.field("carats").type)
    assert engine_connection().sql("SELECT * FROM empty").fetchall() == []
