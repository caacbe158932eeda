"""The domain vocabulary: grades, size brackets, shapes, exact money, countries, KP numbers, HS codes."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roughtrace.domain import countries, grades, kinds, kp, money, rough, sizes


# -- grades ------------------------------------------------------------------------------------------
def test_colours_run_d_to_z_then_fancy() -> None:
    assert grades.COLOURS[0] == "D" and grades.COLOURS[22] == "Z" and grades.COLOURS[-1] == "fancy"
    assert len(grades.COLOURS) == 24
    assert grades.colour_rank("D") < grades.colour_rank("E") < grades.colour_rank("Z") < grades.colour_rank("fancy")


def test_clarities_are_ordered_flawless_first() -> None:
    assert grades.CLARITIES == ("FL", "IF", "VVS1", "VVS2", "VS1", "VS2", "SI1", "SI2", "I1", "I2", "I3")
    ranks = [grades.clarity_rank(c) for c in grades.CLARITIES]
    assert ranks == sorted(ranks) == list(range(11))


def test_cut_grades_best_first() -> None:
    assert grades.CUTS == ("EX", "VG", "G", "F", "P")


@given(st.sampled_from(grades.COLOURS[:-1]), st.sampled_from(grades.CLARITIES),
       st.sampled_from(grades.COLOURS[:-1]), st.sampled_from(grades.CLARITIES))
def test_better_or_equal_is_a_partial_order(colour_a: str, clarity_a: str, colour_b: str, clarity_b: str) -> None:
    assert grades.is_better_or_equal(colour_a, clarity_a, colour_a, clarity_a)
    both = grades.is_better_or_equal(colour_a, clarity_a, colour_b, clarity_b) and grades.is_better_or_equal(colour_b, clarity_b, colour_a, clarity_a)
    assert both == ((colour_a, clarity_a) == (colour_b, clarity_b))


def test_a_d_flawless_is_better_than_everything() -> None:
    assert all(grades.is_better_or_equal("D", "FL", c, q) for c in grades.COLOURS[:-1] for q in grades.CLARITIES)
    assert not grades.is_better_or_equal("E", "FL", "D", "I3")


@pytest.mark.parametrize("shape", grades.SHAPES)
def test_shape_family(shape: str) -> None:
    assert grades.shape_family(shape) == ("round" if shape == "round" else "fancy")


def test_an_unknown_shape_has_no_family() -> None:
    with pytest.raises(ValueError):
        grades.shape_family("RBC")


# -- size brackets -------------------------------------------------------------------------------------
BOUNDARIES = [
    ("0.01", "0.01-0.03"), ("0.039", "0.01-0.03"), ("0.04", "0.04-0.07"), ("0.079", "0.04-0.07"), ("0.08", "0.08-0.14"),
    ("0.149", "0.08-0.14"), ("0.15", "0.15-0.17"), ("0.179", "0.15-0.17"), ("0.18", "0.18-0.22"), ("0.229", "0.18-0.22"),
    ("0.23", "0.23-0.29"), ("0.299", "0.23-0.29"), ("0.30", "0.30-0.39"), ("0.399", "0.30-0.39"), ("0.40", "0.40-0.49"),
    ("0.499", "0.40-0.49"), ("0.50", "0.50-0.69"), ("0.699", "0.50-0.69"), ("0.70", "0.70-0.89"), ("0.899", "0.70-0.89"),
    ("0.90", "0.90-0.99"), ("0.999", "0.90-0.99"), ("1.00", "1.00-1.49"), ("1.499", "1.00-1.49"), ("1.50", "1.50-1.99"),
    ("1.999", "1.50-1.99"), ("2.00", "2.00-2.99"), ("2.999", "2.00-2.99"), ("3.00", "3.00-3.99"), ("3.999", "3.00-3.99"),
    ("4.00", "4.00-4.99"), ("4.999", "4.00-4.99"), ("5.00", "5.00-5.99"), ("5.999", "5.00-5.99"), ("6.00", "6.00-9.99"),
    ("9.999", "6.00-9.99"), ("10.00", "10.00-10.99"), ("10.999", "10.00-10.99"), ("11.00", "11.00+"), ("250.000", "11.00+"),
    ("0.001", "0.00-0.009"), ("0.009", "0.00-0.009"),
]


@pytest.mark.parametrize(("carat", "bracket"), BOUNDARIES)
def test_size_bracket_at_every_boundary(carat: str, bracket: str) -> None:
    assert sizes.size_bracket(Decimal(carat)) == bracket


def test_every_bracket_is_met_at_its_lower_bound_and_just_below_the_next() -> None:
    bounds = sizes.BRACKET_LOWER_BOUNDS
    for i, low in enumerate(bounds):
        assert sizes.size_bracket(low) == sizes.BRACKETS[i]
        if i + 1 < len(bounds):
            assert sizes.size_bracket(bounds[i + 1] - Decimal("0.001")) == sizes.BRACKETS[i]


@given(st.decimals(min_value=Decimal("0.001"), max_value=Decimal("500"), places=3))
def test_brackets_rise_with_weight(carat: Decimal) -> None:
    heavier = carat + Decimal("0.001")
    assert sizes.BRACKETS.index(sizes.size_bracket(heavier)) >= sizes.BRACKETS.index(sizes.size_bracket(carat))


@pytest.mark.parametrize("carat", ["0", "-0.5"])
def test_a_weight_must_be_above_zero(carat: str) -> None:
    with pytest.raises(ValueError):
        sizes.size_bracket(Decimal(carat))


def test_magic_weights_open_brackets() -> None:
    for weight in sizes.MAGIC_WEIGHTS:
        assert sizes.size_bracket(weight) != sizes.size_bracket(weight - Decimal("0.01"))


def test_grainers() -> None:
    assert sizes.grainer_range(3, 8) == (Decimal("0.75"), Decimal("2.00"))
    assert money.grainers(Decimal("0.25")) == 1


# -- money ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "value"), [("1.5", "1.500"), ("0.001", "0.001"), (" 2 ", "2.000"), (3, "3.000")])
def test_carats_are_exact(text: object, value: str) -> None:
    amount = money.carats(text)
    assert amount == Decimal(value) and str(amount) == value


@pytest.mark.parametrize(("text", "code"), [
    ("0.0005", "too_many_decimals"), ("1.2345", "too_many_decimals"), ("NaN", "not_finite"), ("Infinity", "not_finite"),
    ("abc", "not_a_number"), ("", "not_a_number"), (0.1, "binary_float"), (1.0, "binary_float"),
])
def test_carats_refuse_what_would_need_rounding_or_is_not_a_number(text: object, code: str) -> None:
    with pytest.raises(money.AmountError) as caught:
        money.carats(text)
    assert caught.value.code == code


@pytest.mark.parametrize(("constructor", "text", "value"), [(money.carats, "12.5000", "12.500"), (money.usd, "9800.000", "9800.00")])
def test_trailing_zeros_are_not_extra_decimals(constructor: object, text: str, value: str) -> None:
    assert str(constructor(text)) == value  # type: ignore[operator]


def test_dollars_are_exact_to_the_cent() -> None:
    assert str(money.usd("25000")) == "25000.00"
    assert str(money.usd(Decimal("0.10"))) == "0.10"
    for text in ("0.001", "1.005"):
        with pytest.raises(money.AmountError):
            money.usd(text)
    with pytest.raises(money.AmountError):
        money.usd(19.99)


@given(st.integers(min_value=0, max_value=10**15), st.integers(min_value=0, max_value=2))
def test_dollars_keep_every_cent(cents: int, places: int) -> None:
    text = str(Decimal(cents).scaleb(-places))
    assert money.usd(text) == Decimal(text)


def test_round_usd_rounds_half_even_for_reports_only() -> None:
    assert money.round_usd(Decimal("382.505")) == Decimal("382.50")
    assert money.round_usd(Decimal("382.515")) == Decimal("382.52")


# -- countries, KP certificates, HS codes --------------------------------------------------------------
@pytest.mark.parametrize("code", ["BW", "ZA", "BE", "IN", "AE", "GB", "gb", " ru "])
def test_iso_alpha2_codes(code: str) -> None:
    assert countries.is_alpha2(code)


@pytest.mark.parametrize("code", ["UK", "EU", "XX", "GBR", "", "B"])
def test_codes_that_are_not_iso_alpha2(code: str) -> None:
    assert not countries.is_alpha2(code)


def test_country_names_come_from_the_maintained_library() -> None:
    assert countries.country_name("bw") == "Botswana"
    assert len(countries.ALPHA2) >= 249
    with pytest.raises(ValueError):
        countries.country_name("UK")


@pytest.mark.parametrize(("number", "country", "valid"), [
    ("BW123456", "BW", True), ("bw123456", "BW", True), ("ZA 0001", "za", True), ("BW123456", "ZA", False),
    ("123456BW", "BW", False), ("UK0001", "UK", False), ("B123", "BW", False),
])
def test_kp_certificate_number_starts_with_the_exporting_country(number: str, country: str, valid: bool) -> None:
    assert kp.certificate_number_ok(number, country) is valid


def test_hs_codes_of_rough_diamonds() -> None:
    assert set(kp.HS_CODES) == {"7102.10", "7102.21", "7102.31"}
    assert (kp.HS_UNSORTED, kp.HS_INDUSTRIAL, kp.HS_GEM) == ("7102.10", "7102.21", "7102.31")
    assert kinds.KP_CERTIFICATES.column("hs_code").values == tuple(kp.HS_CODES)


def test_rough_vocabulary() -> None:
    assert rough.MODELS[:5] == ("stones", "shapes", "cleavages", "macles", "flats")
    assert set(rough.TYPICAL_YIELD) <= set(rough.MODELS)
    assert rough.box_yield(Decimal("4.5"), Decimal("10")) == Decimal("0.45")
    with pytest.raises(ValueError):
        rough.box_yield(Decimal("1"), Decimal("0"))


# -- the contract as data ----------------------------------------------------------------------------------
def test_every_kind_of_the_contract_is_described() -> None:
    assert list(kinds.KINDS) == ["parties", "rough_sales", "polished_outcomes", "rough_dispositions", "transactions",
                                 "kp_certificates", "parcel_contents"]
    assert kinds.POLISHED_OUTCOMES.column("color").values == grades.COLOURS
    assert kinds.POLISHED_OUTCOMES.column("clarity").values == grades.CLARITIES
    assert not kinds.POLISHED_OUTCOMES.column("cut").required
    assert kinds.ROUGH_SALES.column("carats").type == kinds.CARATS
    assert kinds.ROUGH_SALES.column("price_usd").type == kinds.USD
    for kind in kinds.KINDS.values():
        assert set(kind.key) <= set(kind.column_names)
