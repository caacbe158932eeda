"""Exact units: carats (3 decimals) and US dollars (2 decimals), always `Decimal`."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from ..errors import UsageError

CARAT_PLACES = 3
USD_PLACES = 2
CARAT_QUANTUM = Decimal(1).scaleb(-CARAT_PLACES)
USD_QUANTUM = Decimal(1).scaleb(-USD_PLACES)

# The precision the store gives every amount: DECIMAL(18, 3) carats, DECIMAL(18, 2) dollars.
CARAT_SQL_TYPE = f"DECIMAL(18,{CARAT_PLACES})"
USD_SQL_TYPE = f"DECIMAL(18,{USD_PLACES})"


class AmountError(UsageError):
    """A text or number that is not an exact amount of the unit asked for; `code` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)
        self.code = code


def _exact(value: object, places: int, unit: str) -> Decimal:
    if isinstance(value, float):
        raise AmountError("binary_float", f"{unit} must be given as an exact decimal, not a binary float")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise AmountError("not_a_number", f"{value!r} is not a number of {unit}") from None
    if not number.is_finite():
        raise AmountError("not_finite", f"{unit} cannot be NaN or infinity")
    exponent = number.normalize().as_tuple().exponent  # trailing zeros are not extra decimals
    if isinstance(exponent, int) and -exponent > places:
        raise AmountError("too_many_decimals", f"{unit} have at most {places} decimals: {value} would need rounding")
    return number.quantize(Decimal(1).scaleb(-places))


def carats(value: object) -> Decimal:
    """An exact weight in carats (1 ct = 0.2 g), at most 3 decimals; never rounded."""
    return _exact(value, CARAT_PLACES, "carats")


def usd(value: object) -> Decimal:
    """An exact amount of US dollars, at most 2 decimals; never rounded."""
    return _exact(value, USD_PLACES, "US dollars")


def round_usd(value: Decimal) -> Decimal:
    """A computed dollar figure rounded half-even to the cent, for reporting."""
    return value.quantize(USD_QUANTUM)


def grainers(weight: Decimal) -> Decimal:
    """Weight in grainers (1 grainer = 0.25 ct), the unit rough box sizes are written in."""
    return weight * 4
