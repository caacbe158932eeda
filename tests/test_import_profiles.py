"""Mapping profiles: a manufacturer's own column names and spellings, loaded unedited."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from conftest import write
from roughtrace.errors import FileRejected, UsageError
from roughtrace.ingest import import_file
from roughtrace.ingest.profile import load_profile
from roughtrace.store import Store
from test_import_support import imported, problems, stored

TRACKER_PROFILE = """
    [profile]
    name = "Surat tracker export"

    [columns]
    "Report No" = "stone_id"
    Wt = "carat"
    Colour = "color"
    Purity = "clarity"
    Make = "cut"
    Shape = "shape"
    "Polished On" = "polished_date"
    Box = "box_id"
    Client = "sightholder_id"

    [values.cut]
    Excellent = "EX"
    "Very Good" = "VG"

    [values.shape]
    RBC = "round"
    "Pear Modified Brilliant" = "pear"
    """

TRACKER_EXPORT = """
    Report No,lab,Client,Box,Polished On,Shape,Wt,Colour,Purity,Make
    2231456789,GIA,SH1,B1,2026-03-02,RBC,0.702,G,VS1,Excellent
    2231456790,GIA,SH1,B1,2026-03-02,rbc,1.010,H,SI1,very good
    2231456791,GIA,SH1,B1,2026-03-02,Pear Modified Brilliant,0.500,F,VVS2,
    2231456792,GIA,SH1,B1,2026-03-02,Trilliant,0.400,F,VVS2,Superb
    """


def test_a_tracker_export_loads_through_its_profile(market: Store, tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, "tracker.toml", TRACKER_PROFILE))
    result = imported(market, "polished_outcomes", write(tmp_path, "tracker.csv", TRACKER_EXPORT), profile=profile)
    assert problems(result) == {(4, "shape", "unknown_value"), (4, "cut", "unknown_value")}
    assert "Trilliant" in " ".join(p.message for p in result.errors)
    rows = stored(market, "polished_outcomes", "stone_id, shape, carat, cut")
    assert rows == [
        {"stone_id": "2231456789", "shape": "round", "carat": Decimal("0.702"), "cut": "EX"},
        {"stone_id": "2231456790", "shape": "round", "carat": Decimal("1.010"), "cut": "VG"},
        {"stone_id": "2231456791", "shape": "pear", "carat": Decimal("0.500"), "cut": None},
    ]
    assert not result.warnings


def test_without_the_profile_the_same_file_misses_columns(market: Store, tmp_path: Path) -> None:
    with pytest.raises(FileRejected) as caught:
        import_file(market, "polished_outcomes", write(tmp_path, "tracker.csv", TRACKER_EXPORT))
    assert {p.column for p in caught.value.problems} >= {"stone_id", "carat", "color", "clarity"}


def test_the_same_file_under_another_profile_is_not_the_same_import(market: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "tracker.csv", TRACKER_EXPORT)
    first = imported(market, "polished_outcomes", path, profile=load_profile(write(tmp_path, "a.toml", TRACKER_PROFILE)))
    again = imported(market, "polished_outcomes", path, profile=load_profile(write(tmp_path, "a.toml", TRACKER_PROFILE)))
    assert again.duplicate_of == first.batch_id
    widened = TRACKER_PROFILE + '    Trilliant = "other"\n'  # under [values.shape]
    other = imported(market, "polished_outcomes", path, profile=load_profile(write(tmp_path, "b.toml", widened)))
    assert other.duplicate_of is None
    assert (other.rows_unchanged, other.rows_rejected) == (3, 1)  # the trilliant now loads as `other`, Superb still fails


@pytest.mark.parametrize(("text", "fragment"), [
    ('[columns]\nWt = "weight"\n', "'weight'"),
    ('[values.carat]\nOne = "1.000"\n', "not a list of fixed values"),
    ('[values.colour]\nWhite = "D"\n', "'colour'"),
])
def test_a_profile_naming_an_unknown_column_is_a_usage_error(market: Store, tmp_path: Path, text: str, fragment: str) -> None:
    profile = load_profile(write(tmp_path, "bad.toml", text))
    with pytest.raises(UsageError) as caught:
        import_file(market, "polished_outcomes", write(tmp_path, "tracker.csv", TRACKER_EXPORT), profile=profile)
    assert caught.value.exit_code == 2
    assert caught.value.problems[0].code == "bad_profile"
    assert fragment in caught.value.problems[0].message
    assert market.query("SELECT count(*) AS n FROM polished_outcomes").column("n")[0].as_py() == 0


@pytest.mark.parametrize("text", ["[columns\nWt = carat\n", '[colums]\nWt = "carat"\n', "[columns]\nWt = 3\n"])
def test_a_malformed_profile_is_a_usage_error(tmp_path: Path, text: str) -> None:
    with pytest.raises(UsageError) as caught:
        load_profile(write(tmp_path, "bad.toml", text))
    assert caught.value.problems[0].code == "bad_profile"


def test_a_missing_profile_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        load_profile(tmp_path / "nowhere.toml")
    assert caught.value.problems[0].code == "profile_not_found"


def test_a_profile_that_maps_two_file_columns_onto_one_rejects_the_file(market: Store, tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, "p.toml", '[columns]\nWt = "carat"\n"Weight (ct)" = "carat"\n'))
    path = write(tmp_path, "two.csv", """
        stone_id,lab,sightholder_id,box_id,polished_date,shape,Wt,Weight (ct),color,clarity
        1,GIA,SH1,B1,2026-03-02,round,0.702,0.702,G,VS1
        """)
    with pytest.raises(FileRejected) as caught:
        import_file(market, "polished_outcomes", path, profile=profile)
    assert caught.value.problems[0].code == "duplicate_column"


def test_a_profile_declares_delimiter_and_encoding(market: Store, tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, "legacy.toml", """
        [profile]
        encoding = "cp1252"
        delimiter = ";"
        [columns]
        Naam = "name"
        Land = "country"
        """))
    path = tmp_path / "partijen.csv"
    path.write_bytes("party_id;Naam;role;category;Land\nTR7;Diamantbörse € Handel;trader;;be\n".encode("cp1252"))
    result = imported(market, "parties", path, profile=profile)
    assert result.rows_accepted == 1
    assert stored(market, "parties", "name, country", "WHERE party_id = 'TR7'") == [{"name": "Diamantbörse € Handel", "country": "BE"}]
