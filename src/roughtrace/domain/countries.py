"""ISO 3166-1 alpha-2 country codes, from the maintained pycountry database."""

from __future__ import annotations

import pycountry

ALPHA2: frozenset[str] = frozenset(country.alpha_2 for country in pycountry.countries)
MIXED_ORIGIN = "mixed"


def is_alpha2(code: str) -> bool:
    """True for an assigned ISO 3166-1 alpha-2 code, any case ('gb' yes; 'UK', 'EU', 'XX' no)."""
    return code.strip().upper() in ALPHA2


def country_name(code: str) -> str:
    """The English short name of an alpha-2 code, e.g. 'BW' -> 'Botswana'."""
    country = pycountry.countries.get(alpha_2=code.strip().upper())
    if country is None:
        raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code")
    return country.name
